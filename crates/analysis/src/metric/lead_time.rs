//! Lead time for changes: from a change's first commit to its first
//! production deployment (`queries/metrics/lead_time.sql`).

use flowmeter_config::Profile;
use serde::Serialize;

use super::Cut::{AtMost, Under};
use super::{ladder, Change, Context, Hours, Key, Row, Test, Tier};

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/lead_time.sql");
/// Its SQL by the `devlake` and `four-keys` profiles.
pub(crate) const THEIR_SQL: [&str; 2] = [
    include_str!("../../../../queries/metrics/devlake/lead_time.sql"),
    include_str!("../../../../queries/metrics/four_keys/lead_time.sql"),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadTime {
    pub changes: u64,
    pub excluded: u64,
    pub p50_hours: Hours,
    pub p75_hours: Hours,
    pub p90_hours: Hours,
    pub mean_hours: Hours,
    pub tier: Tier,
    /// Extra, `devlake` only: `"pull_requests"`, as DevLake's lead time is
    /// one cycle time per deployed PR, not one per change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<&'static str>,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`crate::delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

pub(crate) fn of(row: &Row, cx: &Context) -> LeadTime {
    let p50 = row.f("p50_hours");
    LeadTime {
        changes: row.n("changes"),
        excluded: row.n("excluded"),
        p50_hours: p50,
        p75_hours: row.f("p75_hours"),
        p90_hours: row.f("p90_hours"),
        mean_hours: row.f("mean_hours"),
        tier: tier(cx.profile, p50),
        counts: (cx.profile == Profile::Devlake).then_some("pull_requests"),
        change: None,
    }
}

pub const KEY: Key = Key {
    key: "lead_time",
    name: "Lead time for changes",
    chart: "Lead time, median",
    unit: "hours",
    higher_is_better: false,
    test: Test::Median,
    frame_column: "lead_time_p50",
    value: |m| m.lead_time.p50_hours,
    known: |_| true,
    tier: |m| m.lead_time.tier,
    samples: |m| m.lead_time.changes,
    change: |m| m.lead_time.change.as_ref(),
    change_slot: |m| &mut m.lead_time.change,
};

/// The tier of the median (hours).
pub fn tier(profile: Profile, p50: Option<f64>) -> Tier {
    let h = p50?;
    Some(match profile {
        Profile::Flowmeter | Profile::Dora2023 => ladder(
            h,
            &[
                (Under(24.0), "elite"),
                (AtMost(168.0), "high"),
                (AtMost(720.0), "medium"),
            ],
        ),
        // 2024: less than a day / a week / a month; low is one to six months.
        // DevLake's 2023 benchmarks: < 1440, < 10080, < 43200 minutes.
        Profile::Dora2024 | Profile::Devlake => ladder(
            h,
            &[
                (Under(24.0), "elite"),
                (Under(168.0), "high"),
                (Under(720.0), "medium"),
            ],
        ),
        // Four Keys' buckets: One day, One week, One month (730 h), then
        // Six months and One year.
        Profile::FourKeys => ladder(
            h,
            &[
                (Under(24.0), "elite"),
                (Under(168.0), "high"),
                (Under(730.0), "medium"),
            ],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_a_week_depends_on_the_year() {
        assert_eq!(tier(Profile::Dora2023, Some(168.0)), Some("high"));
        assert_eq!(tier(Profile::Dora2024, Some(168.0)), Some("medium"));
        assert_eq!(tier(Profile::Devlake, Some(168.0)), Some("medium"));
        assert_eq!(tier(Profile::Devlake, Some(167.99)), Some("high"));
        // Four Keys' month is 730 hours.
        assert_eq!(tier(Profile::Devlake, Some(725.0)), Some("low"));
        assert_eq!(tier(Profile::FourKeys, Some(725.0)), Some("medium"));
    }
}
