//! What became of a deployment: failed (an incident on it, or rolled back),
//! still failing (an open incident), recovered when, and rework.

use crate::incidents::Incident;
use crate::Micros;

/// A deployment's outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub failed: bool,
    /// Failed, and one of its incidents is still open.
    pub open: bool,
    /// When it recovered: its incidents' last resolution, else its
    /// rollback's finish; `None` while open or when it never failed.
    pub recovered_at: Option<Micros>,
}

/// The outcome of a deployment with `incidents` attributed to it, rolled
/// back (first) by a deployment finished at `rolled_back_at`.
pub fn of(incidents: &[&Incident], rolled_back_at: Option<Micros>) -> Outcome {
    let failed = !incidents.is_empty() || rolled_back_at.is_some();
    let open = incidents.iter().any(|i| i.resolved_at.is_none());
    let recovered_at = if !failed || open {
        None
    } else if !incidents.is_empty() {
        incidents.iter().filter_map(|i| i.resolved_at).max()
    } else {
        rolled_back_at
    };
    Outcome {
        failed,
        open: failed && open,
        recovered_at,
    }
}

/// Whether a deployment is rework: a rollback, a hotfix, or one whose
/// changes (at least one) all belong to a pull request labelled rework.
pub fn is_rework(
    rollback: bool,
    kind: &str,
    change_is_rework: impl IntoIterator<Item = bool>,
) -> bool {
    if rollback || kind == "hotfix" {
        return true;
    }
    let mut changes = change_is_rework.into_iter().peekable();
    changes.peek().is_some() && changes.all(|r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(resolved_at: Option<Micros>) -> Incident {
        Incident {
            resolved_at,
            ..Default::default()
        }
    }

    #[test]
    fn a_deployment_recovers_when_its_last_incident_is_resolved() {
        let (a, b, open) = (incident(Some(5)), incident(Some(9)), incident(None));
        assert_eq!(of(&[], None), Outcome::default());
        let o = of(&[&a, &b], Some(3));
        assert_eq!((o.failed, o.open, o.recovered_at), (true, false, Some(9)));
        let o = of(&[&a, &open], None);
        assert_eq!((o.failed, o.open, o.recovered_at), (true, true, None));
        // Rolled back without an incident: recovered by the rollback.
        assert_eq!(of(&[], Some(3)).recovered_at, Some(3));
    }

    #[test]
    fn rework_is_a_rollback_a_hotfix_or_only_rework_changes() {
        assert!(is_rework(true, "deploy", [false; 0]));
        assert!(is_rework(false, "hotfix", [false]));
        assert!(is_rework(false, "deploy", [true, true]));
        assert!(!is_rework(false, "deploy", [true, false]));
        assert!(!is_rework(false, "deploy", [false; 0]));
    }
}
