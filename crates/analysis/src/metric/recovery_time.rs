//! Failed deployment recovery time: from a failed deployment to the
//! resolution of what failed it (`queries/metrics/recovery_time.sql`).

use flowmeter_config::Profile;
use serde::Serialize;

use super::Cut::Under;
use super::{ladder, Change, Context, Hours, Key, Row, Test, Tier};
use crate::Missing;

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/recovery_time.sql");
/// Its SQL by the `devlake` and `four-keys` profiles.
pub(crate) const THEIR_SQL: [&str; 2] = [
    include_str!("../../../../queries/metrics/devlake/recovery_time.sql"),
    include_str!("../../../../queries/metrics/four_keys/recovery_time.sql"),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecoveryTime {
    /// Null (with `recovered` and `open`) when failures cannot be seen.
    pub failed_deployments: Option<u64>,
    pub recovered: Option<u64>,
    pub open: Option<u64>,
    pub p50_hours: Hours,
    pub p90_hours: Hours,
    pub tier: Tier,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`crate::delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

pub(crate) fn of(row: &Row, cx: &Context) -> RecoveryTime {
    let p50 = row.f("p50_hours");
    // Four Keys has no failed deployment recovery time.
    let seen = |n: u64| {
        let defined = cx.profile != Profile::FourKeys;
        cx.known.basis(cx.profile).filter(|_| defined).map(|_| n)
    };
    RecoveryTime {
        failed_deployments: seen(row.n("failed_deployments")),
        recovered: seen(row.n("recovered")),
        open: seen(row.n("open")),
        p50_hours: p50,
        p90_hours: row.f("p90_hours"),
        tier: tier(cx.profile, p50),
        change: None,
    }
}

/// What an undefined recovery time lacks: the `four-keys` profile has none.
pub(crate) fn missing(profile: Profile) -> Option<Missing> {
    (profile == Profile::FourKeys).then(|| Missing {
        metric: "recovery_time",
        reason: "Four Keys defines no failed deployment recovery time; its fourth key is time to restore (`time_to_restore`)".into(),
        supplied_by: "another profile (`[metrics] profile`)",
    })
}

pub const KEY: Key = Key {
    key: "recovery_time",
    name: "Failed deployment recovery time",
    chart: "Failed deployment recovery, median",
    unit: "hours",
    higher_is_better: false,
    test: Test::Median,
    frame_column: "recovery_p50",
    value: |m| m.recovery_time.p50_hours,
    known: |m| m.recovery_time.failed_deployments.is_some(),
    tier: |m| m.recovery_time.tier,
    samples: |m| m.recovery_time.recovered.unwrap_or(0),
    change: |m| m.recovery_time.change.as_ref(),
    change_slot: |m| &mut m.recovery_time.change,
};

/// The tier of the median (hours). The same cut-offs in every profile:
/// 2024's high and medium clusters both recover within a day (high here),
/// its low within a week to a month, and a day to a week, which no 2024
/// cluster covers, stays medium; DevLake's benchmarks are these too
/// (< 60, < 1440, < 10080 minutes).
pub fn tier(_profile: Profile, p50: Option<f64>) -> Tier {
    let h = p50?;
    Some(ladder(
        h,
        &[
            (Under(1.0), "elite"),
            (Under(24.0), "high"),
            (Under(168.0), "medium"),
        ],
    ))
}
