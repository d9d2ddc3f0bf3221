//! Performance tiers, by definition profile (`[metrics] profile`).
//!
//! DORA's tables describe survey clusters, not thresholds; each profile
//! turns one year's clusters into cut-offs, and every tier says which
//! profile it comes from (`tier_source`). DORA's 2025 report dropped the
//! four tiers for team profiles, so no profile is newer than 2024.

use flowmeter_config::Profile;

type Tier = Option<&'static str>;

/// What a tier of `profile` rests on, in words (the JSON's `tier_source`).
pub fn source(profile: Profile) -> &'static str {
    match profile {
        Profile::Flowmeter => {
            "flowmeter (METRICS.md): DORA 2023 clusters for lead time, change failure rate and recovery time; Four Keys rule for deployment frequency"
        }
        Profile::Dora2023 => "DORA 2023 (Accelerate State of DevOps 2023) clusters",
        Profile::Dora2024 => {
            "DORA 2024 (Accelerate State of DevOps 2024) clusters; change failure rate by nearest cluster (high 20 %, medium 10 %)"
        }
    }
}

/// Deployment frequency. `median_days`/`median_deps`: medians over the
/// full ISO weeks of deploy days and deployments; `per_week`, `per_30_days`:
/// window averages. No full week: no tier.
pub fn deployment_frequency(
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

/// Lead time for changes, on the median (hours).
pub fn lead_time(profile: Profile, p50: Option<f64>) -> Tier {
    let h = p50?;
    Some(match profile {
        Profile::Flowmeter | Profile::Dora2023 => {
            if h < 24.0 {
                "elite"
            } else if h <= 168.0 {
                "high"
            } else if h <= 720.0 {
                "medium"
            } else {
                "low"
            }
        }
        // 2024: less than a day / a week / a month; low is one to six months.
        Profile::Dora2024 => {
            if h < 24.0 {
                "elite"
            } else if h < 168.0 {
                "high"
            } else if h < 720.0 {
                "medium"
            } else {
                "low"
            }
        }
    })
}

/// Change failure rate (a ratio).
pub fn change_failure_rate(profile: Profile, rate: Option<f64>) -> Tier {
    let r = rate?;
    Some(match profile {
        Profile::Flowmeter | Profile::Dora2023 => {
            if r <= 0.05 {
                "elite"
            } else if r <= 0.10 {
                "high"
            } else if r <= 0.15 {
                "medium"
            } else {
                "low"
            }
        }
        // 2024's clusters are not ordered on this key (elite 5 %, medium
        // 10 %, high 20 %, low 40 %): the nearest cluster centre.
        Profile::Dora2024 => {
            if r <= 0.075 {
                "elite"
            } else if r <= 0.15 {
                "medium"
            } else if r <= 0.30 {
                "high"
            } else {
                "low"
            }
        }
    })
}

/// Failed deployment recovery time, on the median (hours). The same cut-offs
/// in every profile: 2024's high and medium clusters both recover within a
/// day (high here), its low within a week to a month, and a day to a week,
/// which no 2024 cluster covers, stays medium.
pub fn recovery_time(_profile: Profile, p50: Option<f64>) -> Tier {
    let h = p50?;
    Some(if h < 1.0 {
        "elite"
    } else if h < 24.0 {
        "high"
    } else if h < 168.0 {
        "medium"
    } else {
        "low"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2024_change_failure_tiers_are_not_the_2023_ones() {
        // 12 %: medium in 2023 (<= 15 %), medium in 2024 (nearest 10 %);
        // 20 %: low in 2023, high in 2024 (the inverted cluster).
        assert_eq!(
            change_failure_rate(Profile::Dora2023, Some(0.12)),
            Some("medium")
        );
        assert_eq!(
            change_failure_rate(Profile::Dora2024, Some(0.12)),
            Some("medium")
        );
        assert_eq!(
            change_failure_rate(Profile::Dora2023, Some(0.20)),
            Some("low")
        );
        assert_eq!(
            change_failure_rate(Profile::Dora2024, Some(0.20)),
            Some("high")
        );
        assert_eq!(
            change_failure_rate(Profile::Dora2024, Some(0.45)),
            Some("low")
        );
        assert_eq!(change_failure_rate(Profile::Flowmeter, None), None);
    }

    #[test]
    fn lead_time_of_exactly_a_week_depends_on_the_year() {
        assert_eq!(lead_time(Profile::Dora2023, Some(168.0)), Some("high"));
        assert_eq!(lead_time(Profile::Dora2024, Some(168.0)), Some("medium"));
    }

    #[test]
    fn deployment_frequency_per_profile() {
        // 2 deploy days and 4 deployments a week: Four Keys says high.
        let t = |p| deployment_frequency(p, Some(2.0), Some(4.0), 4.0, 17.0);
        assert_eq!(t(Profile::Flowmeter), Some("high"));
        assert_eq!(t(Profile::Dora2023), Some("high"));
        // 3 deploy days but 10 a week: elite either way.
        assert_eq!(
            deployment_frequency(Profile::Dora2024, Some(3.0), Some(10.0), 10.0, 43.0),
            Some("elite")
        );
        assert_eq!(
            deployment_frequency(Profile::Flowmeter, None, None, 1.0, 4.0),
            None
        );
    }
}
