//! Deployment frequency: successful production deployments per week, deploy
//! days, and the tier of the deployment rhythm
//! (`queries/metrics/deployment_frequency.sql`).

use flowmeter_config::Profile;
use serde::Serialize;

use super::{Change, Context, Hours, Key, Row, Test, Tier};

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/deployment_frequency.sql");
/// Its SQL by the `devlake` and `four-keys` profiles.
pub(crate) const THEIR_SQL: [&str; 2] = [
    include_str!("../../../../queries/metrics/devlake/deployment_frequency.sql"),
    include_str!("../../../../queries/metrics/four_keys/deployment_frequency.sql"),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentFrequency {
    pub deployments: u64,
    pub per_week: f64,
    pub deploy_days: u64,
    pub median_deploy_days_per_week: Hours,
    pub tier: Tier,
    /// Extra: full ISO weeks in the window, and their median deployment
    /// count (`devlake`, `four-keys`: the calendar weeks those tools count,
    /// partial ones included, and their medians).
    pub full_weeks: u64,
    pub median_deployments_per_week: Hours,
    /// Extra, `devlake` only: the lower median of deploy days per calendar
    /// month, which its medium tier reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_deploy_days_per_month: Option<f64>,
    /// Extra, `four-keys` only: the medians its Weekly and Monthly buckets
    /// read, over the (Sunday) weeks: of whether a week had a deployment
    /// (0 or 1), and of the deployed weeks of the week's month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_week_deployed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_deployed_weeks_per_month: Option<f64>,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`crate::delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

pub(crate) fn of(row: &Row, cx: &Context) -> DeploymentFrequency {
    let deployments = row.n("deployments");
    let full_weeks = row.n("full_weeks");
    let per_week = deployments as f64 / (cx.window.days() / 7.0);
    let per_30_days = deployments as f64 / (cx.window.days() / 30.0);
    let median_days = (full_weeks > 0).then(|| row.f("median_deploy_days_per_week").unwrap_or(0.0));
    let median_deps = (full_weeks > 0).then(|| row.f("median_deployments_per_week").unwrap_or(0.0));
    let median_month_days = row.maybe("median_deploy_days_per_month");
    let median_week_deployed = row.maybe("median_week_deployed");
    let median_month_weeks = row.maybe("median_deployed_weeks_per_month");
    let rhythm = Rhythm {
        median_days,
        median_deps,
        median_week_deployed,
        median_month: median_month_days.or(median_month_weeks),
        per_week,
        per_30_days,
    };
    DeploymentFrequency {
        deployments,
        per_week,
        deploy_days: row.n("deploy_days"),
        median_deploy_days_per_week: median_days,
        tier: tier(cx.profile, &rhythm),
        full_weeks,
        median_deployments_per_week: median_deps,
        median_deploy_days_per_month: median_month_days,
        median_week_deployed,
        median_deployed_weeks_per_month: median_month_weeks,
        change: None,
    }
}

pub const KEY: Key = Key {
    key: "deployment_frequency",
    name: "Deployment frequency",
    chart: "Deployments per week",
    unit: "per_week",
    higher_is_better: true,
    test: Test::Counts,
    frame_column: "per_week",
    value: |m| Some(m.deployment_frequency.per_week),
    known: |_| true,
    tier: |m| m.deployment_frequency.tier,
    samples: |m| m.deployment_frequency.deployments,
    change: |m| m.deployment_frequency.change.as_ref(),
    change_slot: |m| &mut m.deployment_frequency.change,
};

/// What a deployment-frequency tier reads.
pub struct Rhythm {
    /// Medians over the full ISO weeks (`devlake`: its Monday calendar
    /// weeks; `four-keys`: Sunday weeks; both with partial ones) of deploy
    /// days and deployments; none without a week.
    pub median_days: Option<f64>,
    pub median_deps: Option<f64>,
    /// `four-keys`: the median over weeks of whether one had a deployment.
    pub median_week_deployed: Option<f64>,
    /// The month median a medium tier reads: `devlake`, of deploy days per
    /// calendar month; `four-keys`, of deployed weeks per month.
    pub median_month: Option<f64>,
    /// Window averages.
    pub per_week: f64,
    pub per_30_days: f64,
}

/// The tier of a rhythm. No full week: no tier.
pub fn tier(profile: Profile, rhythm: &Rhythm) -> Tier {
    let (days, deps) = rhythm.median_days.zip(rhythm.median_deps)?;
    let (per_week, per_30_days) = (rhythm.per_week, rhythm.per_30_days);
    Some(match profile {
        // METRICS.md (after Four Keys' idea): deploy days, then deployments
        // per week, then a month.
        Profile::Flowmeter => {
            if days >= 3.0 {
                "elite"
            } else if deps >= 1.0 {
                "high"
            } else if per_30_days >= 1.0 {
                "medium"
            } else {
                "low"
            }
        }
        // DevLake 2023: deploy days per week (lower median) >= 5, >= 1,
        // then deploy days per month >= 1.
        Profile::Devlake => {
            if days >= 5.0 {
                "elite"
            } else if days >= 1.0 {
                "high"
            } else if rhythm.median_month.unwrap_or(0.0) >= 1.0 {
                "medium"
            } else {
                "low"
            }
        }
        // Four Keys: Daily, Weekly, Monthly, Yearly.
        Profile::FourKeys => {
            if days >= 3.0 {
                "elite"
            } else if rhythm.median_week_deployed.unwrap_or(0.0) >= 1.0 {
                "high"
            } else if rhythm.median_month.unwrap_or(0.0) >= 1.0 {
                "medium"
            } else {
                "low"
            }
        }
        // DORA: on demand (several a day) / daily to weekly / weekly to
        // monthly / less often. "On demand" is read as at least one a day.
        Profile::Dora2023 | Profile::Dora2024 => {
            if per_week >= 7.0 {
                "elite"
            } else if per_week >= 1.0 {
                "high"
            } else if per_30_days >= 1.0 {
                "medium"
            } else {
                "low"
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_per_profile() {
        let rhythm =
            |days: Option<f64>, deps: Option<f64>, month: Option<f64>, per_week: f64| Rhythm {
                median_days: days,
                median_deps: deps,
                median_week_deployed: None,
                median_month: month,
                per_week,
                per_30_days: per_week * 30.0 / 7.0,
            };
        // 2 deploy days and 4 deployments a week: Four Keys says high.
        let t = |p| tier(p, &rhythm(Some(2.0), Some(4.0), None, 4.0));
        assert_eq!(t(Profile::Flowmeter), Some("high"));
        assert_eq!(t(Profile::Dora2023), Some("high"));
        // 3 deploy days but 10 a week: elite by DORA, high by DevLake
        // (elite needs 5 deploy days a week).
        let busy = rhythm(Some(3.0), Some(10.0), Some(12.0), 10.0);
        assert_eq!(tier(Profile::Dora2024, &busy), Some("elite"));
        assert_eq!(tier(Profile::Devlake, &busy), Some("high"));
        // Most weeks without a deploy day, but one a month: DevLake's medium.
        let monthly = rhythm(Some(0.0), Some(0.0), Some(1.0), 0.3);
        assert_eq!(tier(Profile::Devlake, &monthly), Some("medium"));
        assert_eq!(
            tier(Profile::Flowmeter, &rhythm(None, None, None, 1.0)),
            None
        );
        // Four Keys: most weeks had a deployment, on fewer than 3 days.
        let weekly = Rhythm {
            median_week_deployed: Some(1.0),
            ..rhythm(Some(2.0), Some(2.0), Some(4.0), 2.0)
        };
        assert_eq!(tier(Profile::FourKeys, &weekly), Some("high"));
        let monthly = Rhythm {
            median_week_deployed: Some(0.0),
            ..rhythm(Some(0.0), Some(0.0), Some(1.5), 0.4)
        };
        assert_eq!(tier(Profile::FourKeys, &monthly), Some("medium"));
    }
}
