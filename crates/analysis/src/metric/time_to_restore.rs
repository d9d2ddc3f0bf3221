//! Time to restore (classic MTTR): from an incident's creation to its
//! resolution (`queries/metrics/time_to_restore.sql`). No tier.

use serde::Serialize;

use super::{Change, Context, Hours, Key, Row, Test, INCIDENT_SOURCE_HINT};
use crate::Missing;

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/time_to_restore.sql");
/// Its SQL by the `devlake` and `four-keys` profiles.
pub(crate) const THEIR_SQL: [&str; 2] = [
    include_str!("../../../../queries/metrics/devlake/time_to_restore.sql"),
    include_str!("../../../../queries/metrics/four_keys/time_to_restore.sql"),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeToRestore {
    /// Null (with `resolved`) when no incident source is tracked.
    pub incidents: Option<u64>,
    pub resolved: Option<u64>,
    pub p50_hours: Hours,
    pub p90_hours: Hours,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`crate::delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

pub(crate) fn of(row: &Row, cx: &Context) -> TimeToRestore {
    let tracked = |n: u64| cx.known.tracks_incidents(cx.profile).then_some(n);
    TimeToRestore {
        incidents: tracked(row.n("incidents")),
        resolved: tracked(row.n("resolved")),
        p50_hours: row.f("p50_hours"),
        p90_hours: row.f("p90_hours"),
        change: None,
    }
}

/// What an untracked time to restore lacks.
pub(crate) fn missing(m: &TimeToRestore) -> Option<Missing> {
    m.incidents.is_none().then(|| Missing {
        metric: "time_to_restore",
        reason: "no incident source: time to restore is unknown".into(),
        supplied_by: INCIDENT_SOURCE_HINT,
    })
}

pub const KEY: Key = Key {
    key: "time_to_restore",
    name: "Time to restore (MTTR)",
    chart: "Time to restore (MTTR), median",
    unit: "hours",
    higher_is_better: false,
    test: Test::Median,
    frame_column: "time_to_restore_p50",
    value: |m| m.time_to_restore.p50_hours,
    known: |m| m.time_to_restore.incidents.is_some(),
    tier: |_| None,
    samples: |m| m.time_to_restore.resolved.unwrap_or(0),
    change: |m| m.time_to_restore.change.as_ref(),
    change_slot: |m| &mut m.time_to_restore.change,
};
