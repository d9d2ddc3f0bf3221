//! Coverage (an extra object): how much of a window's numbers rest on
//! linked data (`queries/metrics/coverage.sql`), the services no team
//! claims, and the percentiles that rest on too few samples.

use serde::Serialize;

use super::cycle_time::CycleTime;
use super::lead_time::LeadTime;
use super::recovery_time::RecoveryTime;
use super::time_to_restore::TimeToRestore;
use super::Row;

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/coverage.sql");

/// Percentiles resting on fewer samples than this (and at least one) are
/// listed in [`Coverage::thin_samples`].
const THIN: u64 = 5;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coverage {
    pub changes: u64,
    pub changes_with_pr: u64,
    pub changes_without_start: u64,
    pub prs_merged_not_deployed: u64,
    /// Merged PRs without any review record.
    pub prs_without_reviews: u64,
    pub incidents: u64,
    pub incidents_attributed: u64,
    /// Incidents whose services have no production deployment (unmapped).
    pub incidents_unmapped: u64,
    /// Services deployed in the window that no team of the config claims
    /// (empty when the config has no teams).
    pub services_without_team: Vec<String>,
    /// Percentiles resting on fewer than 5 samples.
    pub thin_samples: Vec<String>,
}

/// The coverage of `row`; the metrics with percentiles give the thin
/// samples.
pub(crate) fn of(
    row: &Row,
    lead_time: &LeadTime,
    recovery_time: &RecoveryTime,
    time_to_restore: &TimeToRestore,
    cycle_time: &CycleTime,
    services_without_team: Vec<String>,
) -> Coverage {
    let mut thin = Vec::new();
    let mut check = |name: &str, n: u64| {
        if n > 0 && n < THIN {
            thin.push(format!("{name} ({n} samples)"));
        }
    };
    check("lead_time", lead_time.changes);
    check("recovery_time", recovery_time.recovered.unwrap_or(0));
    check("time_to_restore", time_to_restore.resolved.unwrap_or(0));
    check("cycle_time", cycle_time.cycles);
    for (name, s) in cycle_time.stages.iter() {
        check(&format!("cycle_time.stages.{name}"), s.samples);
    }
    Coverage {
        changes: row.n("changes"),
        changes_with_pr: row.n("changes_with_pr"),
        changes_without_start: row.n("changes_without_start"),
        prs_merged_not_deployed: row.n("prs_merged_not_deployed"),
        prs_without_reviews: row.n("prs_without_reviews"),
        incidents: row.n("incidents"),
        incidents_attributed: row.n("incidents_attributed"),
        incidents_unmapped: row.n("incidents_unmapped"),
        services_without_team,
        thin_samples: thin,
    }
}
