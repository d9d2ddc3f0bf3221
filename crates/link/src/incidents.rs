//! Incident attribution: the deployment an incident is blamed on.
//!
//! An incident naming a `deployment_id` is that deployment's (preferring
//! one of the incident's own source, then the first source by name; the
//! incident's `deployment_source` narrows the candidates). Otherwise, for
//! each service it names, the latest production deployment of that service
//! finished at or before it, when within the attribution window.

use std::collections::HashMap;
use std::ops::Range;

use crate::deployments::Deployment;
use crate::Micros;

/// An incident, as stored.
#[derive(Debug, Clone, Default)]
pub struct Incident {
    pub source: String,
    pub id: String,
    pub services: Vec<String>,
    pub created_at: Micros,
    pub resolved_at: Option<Micros>,
    pub deployment_id: Option<String>,
    pub deployment_source: Option<String>,
}

/// How an incident was attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// By its `deployment_id`.
    Explicit,
    /// By service and time.
    Window,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Explicit => "explicit",
            How::Window => "window",
        }
    }
}

/// One incident blamed on one deployment (indices into the slices given to
/// [`attribute`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribution {
    pub incident: usize,
    pub deployment: usize,
    pub how: How,
}

/// The deployments that may answer to an incident's `deployment_id`.
pub struct Candidates<'a> {
    /// Deployment index by id (folded rollouts' ids included).
    by_id: foldhash::HashMap<&'a str, Vec<usize>>,
    /// In a partial relink: the sources of other services' production
    /// deployments of that id (not ours to link, but they may win).
    foreign: &'a HashMap<String, Vec<String>>,
}

impl<'a> Candidates<'a> {
    pub fn new(
        deployments: &'a [Deployment],
        aliases: &'a [(String, usize)],
        foreign: &'a HashMap<String, Vec<String>>,
    ) -> Self {
        let mut by_id: foldhash::HashMap<&str, Vec<usize>> = Default::default();
        for (i, d) in deployments.iter().enumerate() {
            by_id.entry(d.id.as_str()).or_default().push(i);
        }
        for (id, i) in aliases {
            by_id.entry(id.as_str()).or_default().push(*i);
        }
        Candidates { by_id, foreign }
    }
}

/// Every attribution of `incidents` to `deployments` (ordered, with each
/// service's range in `services`), within `window_us` of a deployment.
pub fn attribute(
    incidents: &[Incident],
    deployments: &[Deployment],
    services: &HashMap<String, Range<usize>>,
    candidates: &Candidates,
    window_us: Micros,
) -> Vec<Attribution> {
    let mut out = Vec::new();
    for (k, inc) in incidents.iter().enumerate() {
        if let Some(dep_id) = &inc.deployment_id {
            if let Some(i) = explicit(inc, dep_id, deployments, candidates) {
                out.push(Attribution {
                    incident: k,
                    deployment: i,
                    how: How::Explicit,
                });
            }
            continue;
        }
        for service in &inc.services {
            let Some(range) = services.get(service) else {
                continue;
            };
            let ours = &deployments[range.clone()];
            // The latest deployment finished at or before the incident.
            let upto = ours.partition_point(|d| d.finished_at <= inc.created_at);
            if upto == 0 {
                continue;
            }
            if inc.created_at - ours[upto - 1].finished_at <= window_us {
                out.push(Attribution {
                    incident: k,
                    deployment: range.start + upto - 1,
                    how: How::Window,
                });
            }
        }
    }
    out
}

/// The deployment `inc` names by id: of those with the id (and its
/// `deployment_source`, when given), one of its own source first, then by
/// source name; `None` when none is, or when the winner is another
/// service's (a partial relink's foreign candidate).
fn explicit(
    inc: &Incident,
    dep_id: &str,
    deployments: &[Deployment],
    candidates: &Candidates,
) -> Option<usize> {
    let ours = (candidates.by_id.get(dep_id).into_iter().flatten())
        .map(|&i| (&*deployments[i].source, Some(i)));
    let foreign =
        (candidates.foreign.get(dep_id).into_iter().flatten()).map(|s| (s.as_str(), None));
    let mut cands: Vec<(&str, Option<usize>)> = ours
        .chain(foreign)
        .filter(|(source, _)| {
            inc.deployment_source
                .as_deref()
                .is_none_or(|s| s == *source)
        })
        .collect();
    cands.sort_by_key(|(source, _)| (*source != inc.source, source.to_string()));
    cands.first().and_then(|&(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployments::tests::deployment;

    const H: Micros = 3_600_000_000;

    fn incident(services: &[&str], at: Micros) -> Incident {
        Incident {
            source: "pagerduty".into(),
            id: "i".into(),
            services: services.iter().map(|s| s.to_string()).collect(),
            created_at: at,
            ..Default::default()
        }
    }

    #[test]
    fn an_incident_lands_on_the_latest_deployment_within_the_window() {
        let deployments = [
            deployment("1", "api", H, "a"),
            deployment("2", "api", 3 * H, "b"),
            deployment("3", "web", 2 * H, "c"),
        ];
        let services = HashMap::from([("api".to_string(), 0..2), ("web".to_string(), 2..3)]);
        let foreign = HashMap::new();
        let cands = Candidates::new(&deployments, &[], &foreign);
        let incidents = [
            incident(&["api", "web"], 4 * H),
            incident(&["api"], 30 * H),
            incident(&["api"], H / 2),
        ];
        let found = attribute(&incidents, &deployments, &services, &cands, 24 * H);
        let pairs: Vec<_> = found.iter().map(|a| (a.incident, a.deployment)).collect();
        // Both services' latest; too late for the window; before any.
        assert_eq!(pairs, [(0, 1), (0, 2)]);
        assert!(found.iter().all(|a| a.how == How::Window));
    }

    #[test]
    fn an_explicit_id_prefers_the_incidents_own_source() {
        let mut theirs = deployment("d", "api", H, "a");
        theirs.source = "argo".into();
        let mut ours = deployment("d", "web", H, "b");
        ours.source = "pagerduty".into();
        let deployments = [theirs, ours];
        let services = HashMap::new();
        let foreign = HashMap::new();
        let cands = Candidates::new(&deployments, &[], &foreign);
        let mut inc = incident(&[], 2 * H);
        inc.deployment_id = Some("d".into());
        let found = attribute(&[inc.clone()], &deployments, &services, &cands, H);
        assert_eq!((found[0].deployment, found[0].how), (1, How::Explicit));
        // `deployment_source` narrows; an unknown id attributes nothing.
        inc.deployment_source = Some("argo".into());
        let found = attribute(&[inc.clone()], &deployments, &services, &cands, H);
        assert_eq!(found[0].deployment, 0);
        inc.deployment_id = Some("nope".into());
        assert!(attribute(&[inc], &deployments, &services, &cands, H).is_empty());
    }

    #[test]
    fn another_services_deployment_of_the_id_may_win() {
        let mut argo = deployment("d", "api", H, "a");
        argo.source = "argo".into();
        let deployments = [argo];
        let foreign = HashMap::from([("d".to_string(), vec!["pagerduty".to_string()])]);
        let cands = Candidates::new(&deployments, &[], &foreign);
        let mut inc = incident(&[], 2 * H);
        inc.deployment_id = Some("d".into());
        assert!(attribute(&[inc], &deployments, &HashMap::new(), &cands, H).is_empty());
    }
}
