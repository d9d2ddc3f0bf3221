//! Change failure rate: the share of production deployments that failed (an
//! incident attributed to them, or a rollback undid them; the `devlake` and
//! `four-keys` profiles count those tools' way)
//! (`queries/metrics/change_failure_rate.sql`).

use flowmeter_config::Profile;
use serde::Serialize;

use super::Cut::{AtMost, Under};
use super::{ladder, ratio, Change, Context, Key, Row, Test, Tier, INCIDENT_SOURCE_HINT};
use crate::Missing;

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/change_failure_rate.sql");
/// Its SQL by the `devlake` and `four-keys` profiles.
pub(crate) const THEIR_SQL: [&str; 2] = [
    include_str!("../../../../queries/metrics/devlake/change_failure_rate.sql"),
    include_str!("../../../../queries/metrics/four_keys/change_failure_rate.sql"),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChangeFailureRate {
    pub deployments: u64,
    /// Null when no source could tell a failure (see [`Basis`]).
    pub failed: Option<u64>,
    pub rate: Option<f64>,
    pub tier: Tier,
    /// Extra: what failures were seen through; null when nothing could
    /// show one (no incident source, no rollback ever seen).
    pub basis: Option<Basis>,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`crate::delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

/// What a change failure can be seen through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// An incident source is tracked, and rollbacks are detected.
    IncidentsAndRollbacks,
    /// No incident source: only rollbacks show failures, so the rate is a
    /// floor.
    RollbacksOnly,
    /// Incidents only: the `devlake` profile, where a rollback is not a
    /// failure and the rate is N/A until some incident is stored.
    Incidents,
    /// Incidents' root-cause commits: the `four-keys` profile, where a
    /// deployment fails only by shipping one.
    RootCauses,
}

pub(crate) fn of(row: &Row, cx: &Context) -> ChangeFailureRate {
    let basis = cx.known.basis(cx.profile);
    let failed = basis.map(|_| row.n("failed"));
    let rate = failed.and_then(|f| ratio(f, row.n("deployments")));
    ChangeFailureRate {
        deployments: row.n("deployments"),
        failed,
        basis,
        rate,
        tier: tier(cx.profile, rate),
        change: None,
    }
}

/// What an unknown or partial rate lacks.
pub(crate) fn missing(m: &ChangeFailureRate, profile: Profile) -> Option<Missing> {
    let reason = match m.basis {
        Some(Basis::IncidentsAndRollbacks | Basis::Incidents | Basis::RootCauses) => return None,
        None if profile == Profile::FourKeys => {
            return Some(Missing {
                metric: "change_failure_rate",
                reason: "no incident names its root-cause commit: Four Keys' rules fail a deployment only by the root cause it shipped, so the rate is unknown".into(),
                supplied_by: "`root cause: SHA` in the text of a GitHub or GitLab incident issue (as Four Keys reads it), or `root_cause` on `incident` records in an import",
            })
        }
        None if profile == Profile::Devlake => {
            "no incident stored: DevLake's rules count only incidents as failures, so the rate and recovery time are unknown (DevLake shows N/A)"
        }
        Some(Basis::RollbacksOnly) => {
            "no incident source: only rollbacks show failures, so the rate is a floor"
        }
        None => {
            "no incident source and no rollback seen: a failed deployment cannot be told from a good one, so the rate and recovery time are unknown"
        }
    };
    Some(Missing {
        metric: "change_failure_rate",
        reason: reason.into(),
        supplied_by: INCIDENT_SOURCE_HINT,
    })
}

pub const KEY: Key = Key {
    key: "change_failure_rate",
    name: "Change failure rate",
    chart: "Change failure rate",
    unit: "ratio",
    higher_is_better: false,
    // Four Keys' rate counts rows, not failed deployments (it can pass
    // 100 %): not a proportion, so no interval for it.
    test: Test::Rate(|m| {
        let cfr = &m.change_failure_rate;
        let proportion = cfr.basis != Some(Basis::RootCauses);
        cfr.failed
            .filter(|_| proportion)
            .map(|f| (f, cfr.deployments))
    }),
    frame_column: "change_failure_rate",
    value: |m| m.change_failure_rate.rate,
    known: |m| m.change_failure_rate.basis.is_some(),
    tier: |m| m.change_failure_rate.tier,
    samples: |m| m.change_failure_rate.deployments,
    change: |m| m.change_failure_rate.change.as_ref(),
    change_slot: |m| &mut m.change_failure_rate.change,
};

/// The tier of the rate (a ratio).
pub fn tier(profile: Profile, rate: Option<f64>) -> Tier {
    let r = rate?;
    Some(match profile {
        // DevLake's 2023 benchmarks are the same: (0,5%] (5,10%] (10,15%].
        Profile::Flowmeter | Profile::Dora2023 | Profile::Devlake => ladder(
            r,
            &[
                (AtMost(0.05), "elite"),
                (AtMost(0.10), "high"),
                (AtMost(0.15), "medium"),
            ],
        ),
        // Four Keys' buckets: 0-15 % (the 2019 table's elite, high and
        // medium), 16-45 %, 46-60 % (and above); no "high" of its own.
        Profile::FourKeys => ladder(r, &[(AtMost(0.15), "elite"), (Under(0.46), "medium")]),
        // 2024's clusters are not ordered on this key (elite 5 %, medium
        // 10 %, high 20 %, low 40 %): the nearest cluster centre.
        Profile::Dora2024 => ladder(
            r,
            &[
                (AtMost(0.075), "elite"),
                (AtMost(0.15), "medium"),
                (AtMost(0.30), "high"),
            ],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2024_tiers_are_not_the_2023_ones() {
        // 12 %: medium in 2023 (<= 15 %), medium in 2024 (nearest 10 %);
        // 20 %: low in 2023, high in 2024 (the inverted cluster).
        assert_eq!(tier(Profile::Dora2023, Some(0.12)), Some("medium"));
        assert_eq!(tier(Profile::Dora2024, Some(0.12)), Some("medium"));
        assert_eq!(tier(Profile::Dora2023, Some(0.20)), Some("low"));
        assert_eq!(tier(Profile::Dora2024, Some(0.20)), Some("high"));
        assert_eq!(tier(Profile::Dora2024, Some(0.45)), Some("low"));
        assert_eq!(tier(Profile::Flowmeter, None), None);
    }
}
