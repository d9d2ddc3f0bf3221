//! Deployment frequency: successful production deployments per week, deploy
//! days, and the tier of the deployment rhythm
//! (`queries/metrics/deployment_frequency.sql`).

use flowmeter_config::Profile;
use serde::Serialize;

use super::{Change, Context, Hours, Key, Row, Test, Tier};

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/deployment_frequency.sql");

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentFrequency {
    pub deployments: u64,
    pub per_week: f64,
    pub deploy_days: u64,
    pub median_deploy_days_per_week: Hours,
    pub tier: Tier,
    /// Extra: full ISO weeks in the window, and their median deployment count.
    pub full_weeks: u64,
    pub median_deployments_per_week: Hours,
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
    DeploymentFrequency {
        deployments,
        per_week,
        deploy_days: row.n("deploy_days"),
        median_deploy_days_per_week: median_days,
        tier: tier(cx.profile, median_days, median_deps, per_week, per_30_days),
        full_weeks,
        median_deployments_per_week: median_deps,
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

/// The tier. `median_days`/`median_deps`: medians over the full ISO weeks
/// of deploy days and deployments; `per_week`, `per_30_days`: window
/// averages. No full week: no tier.
pub fn tier(
    profile: Profile,
    median_days: Option<f64>,
    median_deps: Option<f64>,
    per_week: f64,
    per_30_days: f64,
) -> Tier {
    let (days, deps) = median_days.zip(median_deps)?;
    Some(match profile {
        // Four Keys: deploy days, then deployments per week, then a month.
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
        // 2 deploy days and 4 deployments a week: Four Keys says high.
        let t = |p| tier(p, Some(2.0), Some(4.0), 4.0, 17.0);
        assert_eq!(t(Profile::Flowmeter), Some("high"));
        assert_eq!(t(Profile::Dora2023), Some("high"));
        // 3 deploy days but 10 a week: elite either way.
        assert_eq!(
            tier(Profile::Dora2024, Some(3.0), Some(10.0), 10.0, 43.0),
            Some("elite")
        );
        assert_eq!(tier(Profile::Flowmeter, None, None, 1.0, 4.0), None);
    }
}
