//! What the reports show, computed once: the weekly delivery report, the
//! team view and the leadership page each get one digest, built from the
//! same [`compute`]/[`crate::compute_grouped`] results as `flowmeter metrics`
//! (the trend and the two compared windows in one pass, [`compute_series`])
//! plus the records a reader needs to act (incidents, rollbacks, the PRs
//! that waited longest, open PRs). Renderers take a digest and never query the
//! store, so every format shows the same numbers.

use chrono::{DateTime, Duration, Utc};
use flowmeter_config::Config;
use flowmeter_store::{Row, Scoped, Store, Value};
use serde::Serialize;

use crate::metric::KEYS;
use crate::series::{comparison_frame, floats};
use crate::{
    compute, compute_series, compute_series_by_team, week_start, AnalysisError, Filters, Grouped,
    MetricSet, Metrics, Window,
};

mod sql {
    pub const INCIDENTS: &str = include_str!("../../../queries/report/incidents.sql");
    pub const DEPLOYMENTS: &str = include_str!("../../../queries/report/deployments.sql");
    pub const WAITS: &str = include_str!("../../../queries/report/waits.sql");
    pub const OPEN_PRS: &str = include_str!("../../../queries/report/open_prs.sql");
}

/// Weeks in the trend charts of the weekly report and the team view.
pub const TREND_WEEKS: i64 = 12;
/// Weeks in a leadership "quarter": the 13 ISO weeks ending with the report week.
pub const QUARTER_WEEKS: i64 = 13;

/// One headline key of a report, with what it is compared against.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Headline {
    /// Stable id (`lead_time`), also the JSON name of the metric.
    pub key: &'static str,
    pub name: &'static str,
    /// `hours`, `ratio` or `per_week`.
    pub unit: &'static str,
    /// Whether a rise is good news (deployments) or bad (lead time).
    pub higher_is_better: bool,
    pub value: Option<f64>,
    pub tier: Option<&'static str>,
    /// How many records the value rests on.
    pub samples: u64,
    pub previous: Option<f64>,
    /// Mean of the weekly values of the 4 weeks before the report week
    /// (weeks without data left out).
    pub baseline: Option<f64>,
    /// The change from `previous` and whether it is real (noise-aware).
    pub change: Option<crate::delta::Change>,
}

fn headlines(current: &MetricSet, previous: &MetricSet, baseline: &[Option<f64>]) -> Vec<Headline> {
    KEYS.iter()
        .zip(baseline)
        .map(|(k, baseline)| Headline {
            key: k.key,
            name: k.name,
            unit: k.unit,
            higher_is_better: k.higher_is_better,
            value: (k.value)(current),
            tier: (k.tier)(current),
            samples: (k.samples)(current),
            previous: (k.value)(previous),
            baseline: *baseline,
            change: (k.change)(current).cloned(),
        })
        .collect()
}

/// An incident opened in the window, and the deployment it was blamed on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentNote {
    pub source: String,
    pub id: String,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub services: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub restore_hours: Option<f64>,
    /// The attributed deployment's id, service and finish time, and how
    /// (`explicit` or `window`).
    pub deployment_id: Option<String>,
    pub deployment_service: Option<String>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub attributed_how: Option<String>,
}

/// A rollback, hotfix or failed deployment of the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentNote {
    pub source: String,
    pub id: String,
    pub service: String,
    pub repo: Option<String>,
    pub commit_sha: String,
    pub finished_at: DateTime<Utc>,
    pub kind: String,
    pub is_rollback: bool,
    pub failed: bool,
    pub open: bool,
    pub rolled_back_by: Option<String>,
    pub incidents: u64,
    pub recovery_hours: Option<f64>,
    pub changes: u64,
    pub rework: bool,
}

/// A merged PR and how long it waited (pickup + deploy queue).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrWait {
    pub repo: String,
    pub number: i64,
    pub title: Option<String>,
    pub author: Option<String>,
    pub coding_hours: Option<f64>,
    pub pickup_hours: Option<f64>,
    pub review_hours: Option<f64>,
    pub deploy_hours: Option<f64>,
    pub waiting_hours: f64,
}

/// A PR open at the end of the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenPr {
    pub repo: String,
    pub number: i64,
    pub title: Option<String>,
    pub author: Option<String>,
    pub age_hours: f64,
}

/// `flowmeter report --kind weekly`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WeeklyDigest {
    pub week: String,
    pub current: Metrics,
    pub previous: Metrics,
    pub headlines: Vec<Headline>,
    /// The 12 ISO weeks ending with the report week.
    pub series: Grouped,
    pub incidents: Vec<IncidentNote>,
    pub deployments: Vec<DeploymentNote>,
    pub longest_waits: Vec<PrWait>,
    pub open_prs: Vec<OpenPr>,
}

/// One team of `flowmeter report --kind team`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TeamView {
    pub team: String,
    pub current: Metrics,
    pub series: Grouped,
    pub open_prs: Vec<OpenPr>,
}

/// `flowmeter report --kind team`: each team against the organisation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TeamDigest {
    pub week: String,
    pub org: Metrics,
    pub teams: Vec<TeamView>,
}

/// One row of the leadership page: a team (or the organisation) over a
/// quarter and the quarter before, with its weekly trend.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarterView {
    pub name: String,
    pub quarter: Metrics,
    pub previous_quarter: Metrics,
    pub series: Grouped,
}

/// `flowmeter report --kind leadership`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadershipDigest {
    pub week: String,
    pub org: QuarterView,
    pub teams: Vec<QuarterView>,
}

/// The `n` ISO weeks ending with the week that holds the end of `window`.
fn weeks_ending_with(window: Window, n: i64) -> Window {
    let end = week_start(window.until - Duration::microseconds(1)) + Duration::days(7);
    Window {
        since: end - Duration::days(7 * n),
        until: end,
    }
}

/// The window of the same length just before `window` (the previous week).
pub fn before(window: Window) -> Window {
    Window {
        since: window.since - (window.until - window.since),
        until: window.since,
    }
}

/// `2026-W07` for an ISO week, else `2026-02-01 to 2026-02-28`.
pub fn label(window: &Window) -> String {
    if window.since == week_start(window.since) && window.until - window.since == Duration::days(7)
    {
        window.week_label()
    } else {
        format!(
            "{} to {}",
            window.since.format("%Y-%m-%d"),
            (window.until - Duration::microseconds(1)).format("%Y-%m-%d")
        )
    }
}

/// The weekly delivery report of `week` (an ISO week, or any window: it is
/// then compared with the window of the same length before it).
pub fn weekly(
    store: &mut Store,
    config: &Config,
    week: Window,
    filters: &Filters,
) -> Result<WeeklyDigest, AnalysisError> {
    // The trend, the window of the same length just before (the previous
    // week) and the week itself, in one pass.
    let (series, [previous, mut current]) = series_and(
        store,
        config,
        weeks_ending_with(week, TREND_WEEKS),
        [before(week), week],
        filters,
    )?;
    crate::delta::compare(store, config, &mut current, &previous)?;
    let baseline = four_week_baseline(&series)?;
    let scope = store.scoped(config, filters)?;
    Ok(WeeklyDigest {
        week: label(&week),
        headlines: headlines(&current.metrics, &previous.metrics, &baseline),
        incidents: incidents(&scope, &week)?,
        deployments: deployments(&scope, &week)?,
        longest_waits: waits(&scope, &week)?,
        open_prs: open_prs(&scope, &week)?,
        current,
        previous,
        series,
    })
}

/// The mean of each headline key over the 4 weeks before the last week of
/// `series` (polars: the weekly frame, sliced and averaged).
fn four_week_baseline(series: &Grouped) -> Result<Vec<Option<f64>>, AnalysisError> {
    let frame = comparison_frame(series)?;
    let n = frame.height() as i64;
    if n < 2 {
        return Ok(vec![None; KEYS.len()]);
    }
    let before = frame.slice((n - 5).max(0), (n - 1).min(4) as usize);
    KEYS.iter()
        .map(|k| {
            let values = floats(&before, k.frame_column)?;
            let present: Vec<f64> = values.into_iter().flatten().collect();
            Ok((!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64))
        })
        .collect()
}

/// The team view of `week`: every team of the config (or the one in
/// `filters.team`) against the organisation (the other filters apply to both).
pub fn teams(
    store: &mut Store,
    config: &Config,
    week: Window,
    filters: &Filters,
) -> Result<TeamDigest, AnalysisError> {
    let org_filters = Filters {
        team: None,
        ..filters.clone()
    };
    let org = compute(store, config, week, &org_filters)?;
    let names = team_names(config, filters)?;
    let trend = weeks_ending_with(week, TREND_WEEKS);
    let all = compute_series_by_team(
        store,
        config,
        trend,
        &[before(week), week],
        &org_filters,
        &names,
    )?;
    let mut teams = Vec::new();
    for (name, (series, metrics)) in names.into_iter().zip(all) {
        let [previous, mut current]: [Metrics; 2] = metrics.try_into().expect("one set per window");
        crate::delta::compare(store, config, &mut current, &previous)?;
        let t0 = std::time::Instant::now();
        let open_prs = open_prs(&store.scoped(config, &current.filters)?, &week)?;
        flowmeter_store::timing::phase("digest: open pull requests", t0);
        teams.push(TeamView {
            team: name,
            open_prs,
            current,
            series,
        });
    }
    Ok(TeamDigest {
        week: label(&week),
        org,
        teams,
    })
}

/// The leadership page: the quarter (13 ISO weeks) ending with `week`, and
/// the quarter before, org-wide and per team.
pub fn leadership(
    store: &mut Store,
    config: &Config,
    week: Window,
    filters: &Filters,
) -> Result<LeadershipDigest, AnalysisError> {
    let quarter = weeks_ending_with(week, QUARTER_WEEKS);
    let previous = Window {
        since: quarter.since - Duration::days(7 * QUARTER_WEEKS),
        until: quarter.since,
    };
    let view = |store: &mut Store, name: String, (series, metrics): (Grouped, Vec<Metrics>)| {
        let [mut previous_quarter, mut this]: [Metrics; 2] =
            metrics.try_into().expect("one set per window");
        if !crate::delta::has_history(store, &previous)? {
            // Before the store's data: no tier to compare with (0
            // deployments there would read as "low").
            previous_quarter.metrics.deployment_frequency.tier = None;
            previous_quarter.metrics.missing.push(crate::Missing {
                metric: "deployment_frequency",
                reason:
                    "the quarter before ends before the store's first deployment: it has no data"
                        .into(),
                supplied_by: "a sync or import reaching back that far (`since` of the source)",
            });
        }
        crate::delta::compare(store, config, &mut this, &previous_quarter)?;
        Ok::<_, AnalysisError>(QuarterView {
            name,
            series,
            previous_quarter,
            quarter: this,
        })
    };
    let org_filters = Filters {
        team: None,
        ..filters.clone()
    };
    let windows = [previous, quarter];
    let org = compute_series(store, config, quarter, &windows, &org_filters)?;
    let org = view(store, "organisation".to_string(), org)?;
    let names = team_names(config, filters)?;
    let all = compute_series_by_team(store, config, quarter, &windows, &org_filters, &names)?;
    let teams = names
        .into_iter()
        .zip(all)
        .map(|(name, sets)| view(store, name, sets))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LeadershipDigest {
        week: label(&week),
        org,
        teams,
    })
}

/// The weekly series of `series` and the metrics of two windows, in one
/// pass ([`compute_series`]).
fn series_and(
    store: &mut Store,
    config: &Config,
    series: Window,
    windows: [Window; 2],
    filters: &Filters,
) -> Result<(Grouped, [Metrics; 2]), AnalysisError> {
    let (grouped, metrics) = compute_series(store, config, series, &windows, filters)?;
    let two: [Metrics; 2] = metrics
        .try_into()
        .expect("compute_series gives one set per window");
    Ok((grouped, two))
}

fn team_names(config: &Config, filters: &Filters) -> Result<Vec<String>, AnalysisError> {
    match &filters.team {
        Some(t) => crate::team(config, t).map(|_| vec![t.clone()]),
        None => Ok(config.teams.keys().cloned().collect()),
    }
}

// ---------------------------------------------------------------- listings

fn time(us: Option<i64>) -> Option<DateTime<Utc>> {
    us.and_then(DateTime::from_timestamp_micros)
}

fn hours_between(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<f64> {
    to.map(|t| (t - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 3_600e6)
}

/// Runs one listing query of `queries/report/` over the window, mapping rows.
fn listing<T>(
    scope: &Scoped<'_>,
    name: &str,
    sql: &str,
    window: &Window,
    map: impl FnMut(&Row<'_>) -> flowmeter_store::DbResult<T>,
) -> Result<Vec<T>, AnalysisError> {
    Ok(scope.map(name, sql, &window.bounds(), map)?)
}

fn incidents(scope: &Scoped<'_>, window: &Window) -> Result<Vec<IncidentNote>, AnalysisError> {
    listing(scope, "report incidents", sql::INCIDENTS, window, |r| {
        let created_at = time(r.get(5)?).unwrap_or_default();
        let resolved_at = time(r.get(6)?);
        let services: Value = r.get(4)?;
        Ok(IncidentNote {
            source: r.get(0)?,
            id: r.get(1)?,
            title: r.get(2)?,
            severity: r.get(3)?,
            services: match services {
                Value::List(items) => items
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Text(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
            created_at,
            resolved_at,
            restore_hours: hours_between(created_at, resolved_at),
            deployment_id: r.get(7)?,
            attributed_how: r.get(8)?,
            deployment_service: r.get(9)?,
            deployed_at: time(r.get(10)?),
        })
    })
}

fn deployments(scope: &Scoped<'_>, window: &Window) -> Result<Vec<DeploymentNote>, AnalysisError> {
    listing(scope, "report deployments", sql::DEPLOYMENTS, window, |r| {
        let finished_at = time(r.get(5)?).unwrap_or_default();
        Ok(DeploymentNote {
            source: r.get(0)?,
            id: r.get(1)?,
            service: r.get(2)?,
            repo: r.get(3)?,
            commit_sha: r.get(4)?,
            finished_at,
            kind: r.get(6)?,
            is_rollback: r.get(7)?,
            failed: r.get(8)?,
            open: r.get(9)?,
            rolled_back_by: r.get(10)?,
            incidents: r.get::<_, i64>(11)? as u64,
            recovery_hours: hours_between(finished_at, time(r.get(12)?)),
            changes: r.get::<_, i64>(13)? as u64,
            rework: r.get(14)?,
        })
    })
}

fn waits(scope: &Scoped<'_>, window: &Window) -> Result<Vec<PrWait>, AnalysisError> {
    listing(scope, "report waits", sql::WAITS, window, |r| {
        Ok(PrWait {
            repo: r.get(0)?,
            number: r.get(1)?,
            title: r.get(2)?,
            author: crate::people::display(r.get(3)?),
            coding_hours: r.get(4)?,
            pickup_hours: r.get(5)?,
            review_hours: r.get(6)?,
            deploy_hours: r.get(7)?,
            waiting_hours: r.get(8)?,
        })
    })
}

fn open_prs(scope: &Scoped<'_>, window: &Window) -> Result<Vec<OpenPr>, AnalysisError> {
    listing(scope, "report open PRs", sql::OPEN_PRS, window, |r| {
        Ok(OpenPr {
            repo: r.get(0)?,
            number: r.get(1)?,
            title: r.get(2)?,
            author: crate::people::display(r.get(3)?),
            age_hours: r.get(4)?,
        })
    })
}
