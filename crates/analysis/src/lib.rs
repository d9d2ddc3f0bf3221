//! The analysis layer: the DORA keys and the value stream of METRICS.md,
//! computed by the SQL in `queries/metrics/` over the store's materialised
//! links, for one window and one set of filters, or per group
//! (`--by service|team|repo|week`).
//!
//! [`Metrics`] serialises to the public JSON shape of `flowmeter metrics`;
//! every renderer draws from it (or from a [`Grouped`] of them), never from
//! the store, so all formats show the same numbers. [`series`] turns groups
//! into polars frames for trends and comparisons.

mod arrow;
pub mod delta;
pub mod digest;
pub mod explain;
pub mod people;
mod scope;
pub mod series;
pub mod tiers;
pub mod working;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use duckdb::Connection;
use flowmeter_config::Config;
use serde::Serialize;

pub use series::comparison_frame;

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("unknown team `{team}` (teams in the config: {known})")]
    UnknownTeam { team: String, known: String },
    #[error("the window is empty: `--since` {since} is not before `--until` {until}")]
    EmptyWindow { since: String, until: String },
    #[error("query `{query}` failed: {source}")]
    Query {
        query: String,
        source: duckdb::Error,
    },
    #[error("series: {0}")]
    Series(String),
    #[error("`{0}` is not an ISO week: write it like `2026-W07`")]
    BadWeek(String),
}

/// `name`'s team in the config, or the error that lists the config's teams.
pub(crate) fn team<'a>(
    config: &'a Config,
    name: &str,
) -> Result<&'a flowmeter_config::Team, AnalysisError> {
    config
        .teams
        .get(name)
        .ok_or_else(|| AnalysisError::UnknownTeam {
            team: name.to_string(),
            known: config.teams.keys().cloned().collect::<Vec<_>>().join(", "),
        })
}

/// `[since, until)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    #[serde(serialize_with = "ser_ts")]
    pub since: DateTime<Utc>,
    #[serde(serialize_with = "ser_ts")]
    pub until: DateTime<Utc>,
}

fn ser_ts<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

impl Window {
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Window, AnalysisError> {
        if since >= until {
            return Err(AnalysisError::EmptyWindow {
                since: since.to_rfc3339(),
                until: until.to_rfc3339(),
            });
        }
        Ok(Window { since, until })
    }

    /// The default window: the 28 days before the start of `today` (UTC).
    pub fn last_28_days(now: DateTime<Utc>) -> Window {
        let today = start_of_day(now);
        Window {
            since: today - Duration::days(28),
            until: today,
        }
    }

    /// The ISO week `label` (`2026-W07`): Monday 00:00 UTC to the next Monday.
    pub fn iso_week(label: &str) -> Result<Window, AnalysisError> {
        let bad = || AnalysisError::BadWeek(label.to_string());
        let (year, week) = label.split_once("-W").ok_or_else(bad)?;
        let (year, week): (i32, u32) = (
            year.parse().map_err(|_| bad())?,
            week.parse().map_err(|_| bad())?,
        );
        let monday =
            chrono::NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon).ok_or_else(bad)?;
        let since = Utc.from_utc_datetime(&monday.and_hms_opt(0, 0, 0).expect("midnight exists"));
        Ok(Window {
            since,
            until: since + Duration::days(7),
        })
    }

    /// The last ISO week that ended before `now`.
    pub fn last_complete_week(now: DateTime<Utc>) -> Window {
        let until = week_start(now);
        Window {
            since: until - Duration::days(7),
            until,
        }
    }

    /// The `YYYY-Www` label of the ISO week the window starts in.
    pub fn week_label(&self) -> String {
        let iso = self.since.iso_week();
        format!("{}-W{:02}", iso.year(), iso.week())
    }

    pub fn days(&self) -> f64 {
        (self.until - self.since)
            .num_microseconds()
            .unwrap_or(i64::MAX) as f64
            / 86_400e6
    }

    /// The ISO weeks that overlap the window, each clipped to it, with their
    /// `YYYY-Www` label.
    pub fn weeks(&self) -> Vec<(String, Window)> {
        let mut out = Vec::new();
        let mut start = week_start(self.since);
        while start < self.until {
            let end = start + Duration::days(7);
            let week = Window {
                since: start.max(self.since),
                until: end.min(self.until),
            };
            out.push((week.week_label(), week));
            start = end;
        }
        out
    }
}

pub fn start_of_day(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(
        &t.date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists"),
    )
}

/// Monday 00:00 UTC of the ISO week containing `t`.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    start_of_day(t) - Duration::days(t.weekday().num_days_from_monday() as i64)
}

/// `--service`, `--team`, `--repo`; all given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    pub service: Option<String>,
    pub team: Option<String>,
    pub repo: Option<String>,
}

type Hours = Option<f64>;
type Tier = Option<&'static str>;

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
    /// window and whether it is real (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadTime {
    pub changes: u64,
    pub excluded: u64,
    pub p50_hours: Hours,
    pub p75_hours: Hours,
    pub p90_hours: Hours,
    pub mean_hours: Hours,
    pub tier: Tier,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
}

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
    /// window and whether it is real (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
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
}

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
    /// window and whether it is real (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeToRestore {
    /// Null (with `resolved`) when no incident source is tracked.
    pub incidents: Option<u64>,
    pub resolved: Option<u64>,
    pub p50_hours: Hours,
    pub p90_hours: Hours,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReworkRate {
    pub deployments: u64,
    pub rework: u64,
    pub rate: Option<f64>,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50_hours: Hours,
    pub p75_hours: Hours,
    pub p90_hours: Hours,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stage {
    pub p50_hours: Hours,
    pub p75_hours: Hours,
    pub p90_hours: Hours,
    pub share: Option<f64>,
    /// Extra: how many merged PRs the percentiles rest on.
    pub samples: u64,
    /// Extra, with `--compare` and in reports: the change of the median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stages {
    pub coding: Stage,
    pub pickup: Stage,
    pub review: Stage,
    pub deploy: Stage,
}

/// The value-stream stages of a pull request, in flow order.
pub const STAGES: [&str; 4] = ["coding", "pickup", "review", "deploy"];

impl Stages {
    pub fn iter(&self) -> [(&'static str, &Stage); 4] {
        let [coding, pickup, review, deploy] = STAGES;
        [
            (coding, &self.coding),
            (pickup, &self.pickup),
            (review, &self.review),
            (deploy, &self.deploy),
        ]
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CycleTime {
    pub prs: u64,
    pub deployed: u64,
    pub flow_efficiency: Option<f64>,
    pub bottleneck: Option<&'static str>,
    pub cycle: Percentiles,
    pub stages: Stages,
    /// Extra: merged PRs with a cycle (deployed, with a first commit time).
    pub cycles: u64,
    /// Extra, with `--working-hours`: the stages and the cycle counted in
    /// the working hours of a calendar (wall-clock stays the contract).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<working::WorkingStages>,
    /// Extra: merged PRs whose source cannot know when they were opened or
    /// reviewed (recovered from git history): their coding, pickup and
    /// review stages are null, and shares, bottleneck and flow efficiency
    /// leave them out.
    pub stages_unknown: u64,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<delta::Change>,
}

/// A number the sources cannot supply, and which source would.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Missing {
    /// The metric (or `metric.field`) that is null or partial because of it.
    pub metric: &'static str,
    /// What is missing, in a sentence.
    pub reason: String,
    /// Which source would supply it.
    pub supplied_by: &'static str,
}

/// How much of the window's numbers rest on linked data (extra field).
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

/// The metric objects of one window and scope.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricSet {
    pub deployment_frequency: DeploymentFrequency,
    pub lead_time: LeadTime,
    pub change_failure_rate: ChangeFailureRate,
    pub recovery_time: RecoveryTime,
    pub time_to_restore: TimeToRestore,
    pub rework_rate: ReworkRate,
    pub cycle_time: CycleTime,
    pub coverage: Coverage,
    /// Extra: what the sources cannot know, so a null is never read as 0.
    pub missing: Vec<Missing>,
    /// Extra: whose thresholds the tiers follow (`[metrics] profile`).
    pub tier_source: &'static str,
}

/// `flowmeter metrics --format json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub version: u32,
    pub window: Window,
    pub filters: Filters,
    /// Extra, with `--compare`: the window every `change` is against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<Window>,
    #[serde(flatten)]
    pub metrics: MetricSet,
}

/// One group of `--by`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    pub key: String,
    /// For `--by week`: the part of the window this group covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    #[serde(flatten)]
    pub metrics: MetricSet,
}

/// `flowmeter metrics --by ...`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Grouped {
    pub version: u32,
    pub window: Window,
    pub filters: Filters,
    pub by: GroupBy,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Service,
    Team,
    Repo,
    Week,
}

/// The metric SQL, loaded at build time; each statement in its own file.
mod sql {
    pub const DEPLOYMENT_FREQUENCY: &str =
        include_str!("../../../queries/metrics/deployment_frequency.sql");
    pub const LEAD_TIME: &str = include_str!("../../../queries/metrics/lead_time.sql");
    pub const CHANGE_FAILURE_RATE: &str =
        include_str!("../../../queries/metrics/change_failure_rate.sql");
    pub const RECOVERY_TIME: &str = include_str!("../../../queries/metrics/recovery_time.sql");
    pub const TIME_TO_RESTORE: &str = include_str!("../../../queries/metrics/time_to_restore.sql");
    pub const REWORK_RATE: &str = include_str!("../../../queries/metrics/rework_rate.sql");
    pub const CYCLE_TIME: &str = include_str!("../../../queries/metrics/cycle_time.sql");
    pub const COVERAGE: &str = include_str!("../../../queries/metrics/coverage.sql");
    pub const SERVICES_WITHOUT_TEAM: &str =
        include_str!("../../../queries/metrics/services_without_team.sql");
}

/// A numeric row of one metric query, by column name.
struct Row {
    names: Vec<String>,
    values: Vec<Option<f64>>,
}

impl Row {
    fn f(&self, name: &str) -> Option<f64> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("query has no column `{name}`"));
        self.values[i]
    }
    fn n(&self, name: &str) -> u64 {
        self.f(name).unwrap_or(0.0) as u64
    }
}

/// Fills the `metric_windows` table every metric query groups by: one row
/// (bucket, since, until, grp) per cell, in order; `grp` is the group whose
/// scope rows the cell counts ('' when not grouped).
fn set_windows(conn: &Connection, cells: &[(&str, &Window)]) -> Result<(), AnalysisError> {
    let rows: Vec<String> = cells
        .iter()
        .enumerate()
        .map(|(i, (grp, w))| {
            format!(
                "({i}, CAST('{}' AS TIMESTAMP), CAST('{}' AS TIMESTAMP), {})",
                w.since.naive_utc(),
                w.until.naive_utc(),
                scope::quote(grp)
            )
        })
        .collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE metric_windows (bucket INTEGER, since TIMESTAMP, until TIMESTAMP, grp VARCHAR);
         INSERT INTO metric_windows VALUES {};",
        rows.join(", ")
    ))
    .map_err(|source| AnalysisError::Query {
        query: "metric windows".into(),
        source,
    })
}

/// `$1` and `$2` of the metric queries: the earliest start and the latest
/// end of `windows` (empty strings for none).
fn span(windows: &[Window]) -> [String; 2] {
    let since = windows.iter().map(|w| w.since).min();
    let until = windows.iter().map(|w| w.until).max();
    [since, until].map(|t| t.map(|t| t.naive_utc().to_string()).unwrap_or_default())
}

/// Runs one metric query over the `cells` windows [`set_windows`] stored:
/// one row per cell, in order. `$1` and `$2`, where a query uses them, are
/// `bounds`: the earliest start and the latest end.
fn run(
    conn: &Connection,
    name: &str,
    sql: &str,
    bounds: &[String; 2],
    cells: usize,
) -> Result<Vec<Row>, AnalysisError> {
    let err = |source| AnalysisError::Query {
        query: name.to_string(),
        source,
    };
    if cells == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(sql).map_err(err)?;
    let mut rows = stmt
        .query(duckdb::params_from_iter(&bounds[..stmt.parameter_count()]))
        .map_err(err)?;
    let mut out = Vec::with_capacity(cells);
    while let Some(row) = rows.next().map_err(err)? {
        let names = column_names(row.as_ref());
        let mut values = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            let v: duckdb::types::Value = row.get(i).map_err(err)?;
            values.push(match v {
                duckdb::types::Value::Null => None,
                duckdb::types::Value::BigInt(x) => Some(x as f64),
                duckdb::types::Value::HugeInt(x) => Some(x as f64),
                duckdb::types::Value::Int(x) => Some(x as f64),
                duckdb::types::Value::UBigInt(x) => Some(x as f64),
                duckdb::types::Value::Double(x) => Some(x),
                duckdb::types::Value::Float(x) => Some(x as f64),
                duckdb::types::Value::Decimal(d) => d.to_string().parse().ok(),
                other => panic!("query `{name}` column {i}: unexpected value {other:?}"),
            });
        }
        out.push(Row { names, values });
    }
    assert_eq!(out.len(), cells, "query `{name}` returns one row per cell");
    Ok(out)
}

/// The column names of a prepared (and executed) statement.
pub(crate) fn column_names(stmt: &duckdb::Statement<'_>) -> Vec<String> {
    (0..stmt.column_count())
        .map(|i| {
            stmt.column_name(i)
                .map(|s| s.to_string())
                .unwrap_or_default()
        })
        .collect()
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// What every computation does first: learns what the store's sources can
/// know, and makes the scope views of `filters`.
fn prepare(conn: &Connection, config: &Config, filters: &Filters) -> Result<Known, AnalysisError> {
    let t0 = std::time::Instant::now();
    let known = Known::of(conn, config)?;
    flowmeter_store::timing::phase("metrics: known sources", t0);
    let t0 = std::time::Instant::now();
    scope::apply(conn, config, filters)?;
    flowmeter_store::timing::phase("metrics: scope", t0);
    Ok(known)
}

/// [`prepare`] for a grouped computation: the scope rows carry their
/// group (`by`).
fn prepare_grouped(
    conn: &Connection,
    config: &Config,
    filters: &Filters,
    by: GroupBy,
    teams: Option<&[String]>,
) -> Result<Known, AnalysisError> {
    let known = Known::of(conn, config)?;
    let t0 = std::time::Instant::now();
    scope::apply_grouped(conn, config, filters, Some(by), teams)?;
    flowmeter_store::timing::phase("metrics: scope", t0);
    Ok(known)
}

/// Computes every metric for one window and one scope.
pub fn compute(
    conn: &Connection,
    config: &Config,
    window: Window,
    filters: &Filters,
) -> Result<Metrics, AnalysisError> {
    let known = prepare(conn, config, filters)?;
    Ok(Metrics {
        version: 1,
        window,
        filters: filters.clone(),
        compared_with: None,
        metrics: one_metric_set(conn, config, &window, known)?,
    })
}

/// Computes every metric per group; each group is the metrics of the window
/// restricted to that service, team, repo or ISO week (clipped to the window).
pub fn compute_grouped(
    conn: &Connection,
    config: &Config,
    window: Window,
    filters: &Filters,
    by: GroupBy,
) -> Result<Grouped, AnalysisError> {
    if by == GroupBy::Week {
        return Ok(compute_series(conn, config, window, &[], filters)?.0);
    }
    // One pass for all groups: every scope row carries its group, and
    // every query counts each (group, window) cell.
    let known = prepare_grouped(conn, config, filters, by, None)?;
    let keys = group_keys(conn, config, by)?;
    let sets = match keys.is_empty() {
        // No service, repo or team at all: nothing to compute.
        true => Vec::new(),
        false => metric_sets(conn, config, std::slice::from_ref(&window), &keys, known)?,
    };
    let groups = keys
        .into_iter()
        .zip(sets)
        .map(|(key, metrics)| Group {
            key,
            window: None,
            metrics,
        })
        .collect();
    Ok(Grouped {
        version: 1,
        window,
        filters: filters.clone(),
        by,
        groups,
    })
}

/// The weekly series of `series` (as [`compute_grouped`] by week gives it)
/// and the metrics of each of `windows` (as [`compute`] gives them), in one
/// pass: every metric query runs once, grouped by window.
pub fn compute_series(
    conn: &Connection,
    config: &Config,
    series: Window,
    windows: &[Window],
    filters: &Filters,
) -> Result<(Grouped, Vec<Metrics>), AnalysisError> {
    let known = prepare(conn, config, filters)?;
    let mut out = series_sets(
        conn,
        config,
        series,
        windows,
        &[(filters.clone(), "")],
        known,
    )?;
    Ok(out.remove(0))
}

/// [`compute_series`] for each of the teams `teams` (each with `filters`
/// and `--team` its name), in one pass for all of them: every metric query
/// runs once, grouped by team and window.
pub fn compute_series_by_team(
    conn: &Connection,
    config: &Config,
    series: Window,
    windows: &[Window],
    filters: &Filters,
    teams: &[String],
) -> Result<Vec<(Grouped, Vec<Metrics>)>, AnalysisError> {
    for name in teams {
        team(config, name)?;
    }
    if teams.is_empty() {
        return Ok(Vec::new());
    }
    let known = prepare_grouped(conn, config, filters, GroupBy::Team, Some(teams))?;
    let each: Vec<(Filters, &str)> = teams
        .iter()
        .map(|t| {
            let f = Filters {
                team: Some(t.clone()),
                ..filters.clone()
            };
            (f, t.as_str())
        })
        .collect();
    series_sets(conn, config, series, windows, &each, known)
}

/// The weekly series and the windows' metrics of each group (its filters,
/// and its key in the scope rows' `grp`), from one pass.
fn series_sets(
    conn: &Connection,
    config: &Config,
    series: Window,
    windows: &[Window],
    groups: &[(Filters, &str)],
    known: Known,
) -> Result<Vec<(Grouped, Vec<Metrics>)>, AnalysisError> {
    let (keys, weeks): (Vec<String>, Vec<Window>) = series.weeks().into_iter().unzip();
    let all: Vec<Window> = weeks.iter().chain(windows).copied().collect();
    let grps: Vec<String> = groups.iter().map(|(_, g)| g.to_string()).collect();
    let mut sets = metric_sets(conn, config, &all, &grps, known)?.into_iter();
    let mut out = Vec::with_capacity(groups.len());
    for (filters, _) in groups {
        let mut mine: Vec<MetricSet> = sets.by_ref().take(all.len()).collect();
        let rest = mine.split_off(weeks.len());
        let groups = keys
            .iter()
            .zip(&weeks)
            .zip(mine)
            .map(|((key, w), metrics)| Group {
                key: key.clone(),
                window: Some(*w),
                metrics,
            })
            .collect();
        let grouped = Grouped {
            version: 1,
            window: series,
            filters: filters.clone(),
            by: GroupBy::Week,
            groups,
        };
        let metrics = windows
            .iter()
            .zip(rest)
            .map(|(w, metrics)| Metrics {
                version: 1,
                window: *w,
                filters: filters.clone(),
                compared_with: None,
                metrics,
            })
            .collect();
        out.push((grouped, metrics));
    }
    Ok(out)
}

/// Every service (of a production deployment or an incident), every team
/// of the config, every repo (of a deployment or a pull request).
fn group_keys(
    conn: &Connection,
    config: &Config,
    by: GroupBy,
) -> Result<Vec<String>, AnalysisError> {
    let sql = match by {
        GroupBy::Team => return Ok(config.teams.keys().cloned().collect()),
        GroupBy::Service => {
            "SELECT service FROM link_deployments UNION SELECT service FROM link_incident_services ORDER BY 1"
        }
        GroupBy::Repo => {
            "SELECT repo FROM link_deployments WHERE repo IS NOT NULL UNION SELECT repo FROM link_prs ORDER BY 1"
        }
        GroupBy::Week => unreachable!(),
    };
    let err = |source| AnalysisError::Query {
        query: "group keys".into(),
        source,
    };
    let mut stmt = conn.prepare(sql).map_err(err)?;
    let keys = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(keys)
}

/// Fills `team_claims` (service, repo, since, until): every team's
/// services and repos, a dated member's with its period.
fn set_team_claims(conn: &Connection, config: &Config) -> Result<(), AnalysisError> {
    let at = |t: Option<DateTime<Utc>>| match t {
        Some(t) => format!(
            "CAST({} AS TIMESTAMP)",
            scope::quote(&t.naive_utc().to_string())
        ),
        None => "NULL".to_string(),
    };
    let mut rows = Vec::new();
    for team in config.teams.values() {
        for part in team.parts() {
            let text = |v: Option<&String>| v.map_or("NULL".to_string(), |v| scope::quote(v));
            let claims = (part.services.iter().map(|s| (Some(s), None)))
                .chain(part.repos.iter().map(|r| (None, Some(r))));
            for (service, repo) in claims {
                rows.push(format!(
                    "({}, {}, {}, {})",
                    text(service),
                    text(repo),
                    at(part.since),
                    at(part.until)
                ));
            }
        }
    }
    let mut sql = "CREATE OR REPLACE TEMP TABLE team_claims (service VARCHAR, repo VARCHAR, since TIMESTAMP, until TIMESTAMP);".to_string();
    if !rows.is_empty() {
        sql.push_str(&format!(
            " INSERT INTO team_claims VALUES {};",
            rows.join(", ")
        ));
    }
    conn.execute_batch(&sql)
        .map_err(|source| AnalysisError::Query {
            query: "team claims".into(),
            source,
        })
}

/// Per window, the services with a deployment in it (in scope) that no
/// team claims (`queries/metrics/services_without_team.sql`); none when
/// the config has no teams.
fn services_without_team(
    conn: &Connection,
    config: &Config,
    bounds: &[String; 2],
    cells: usize,
) -> Result<Vec<Vec<String>>, AnalysisError> {
    let mut out = vec![Vec::new(); cells];
    if config.teams.is_empty() {
        return Ok(out);
    }
    set_team_claims(conn, config)?;
    let err = |source| AnalysisError::Query {
        query: "services_without_team".into(),
        source,
    };
    let mut stmt = conn.prepare(sql::SERVICES_WITHOUT_TEAM).map_err(err)?;
    let rows = stmt
        .query_map(duckdb::params_from_iter(bounds), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(err)?;
    for row in rows {
        let (bucket, service) = row.map_err(err)?;
        if let Some(list) = usize::try_from(bucket).ok().and_then(|b| out.get_mut(b)) {
            list.push(service);
        }
    }
    Ok(out)
}

/// The incident tools whose sync, even an empty one, shows that incidents
/// are tracked. GitHub and GitLab issues count once one is stored.
const INCIDENT_TOOLS: [&str; 4] = ["pagerduty", "opsgenie", "incidentio", "jsm"];

/// What the store's sources can see at all, store-wide: a team without
/// incidents in a store that tracks them has none, while a store whose
/// deployments all come from a local git clone, with no incident source,
/// cannot tell.
#[derive(Debug, Clone, Copy)]
struct Known {
    /// Some incident record is stored, an incident tool has synced, or a
    /// deployment comes from a source other than a local git clone.
    incidents: bool,
    /// Some rollback was seen (so the deployment source shows them).
    rollbacks: bool,
}

impl Known {
    fn of(conn: &Connection, config: &Config) -> Result<Known, AnalysisError> {
        let err = |source| AnalysisError::Query {
            query: "known sources".into(),
            source,
        };
        // Deployments from a local git clone (tags, branches) are the only
        // ones that come without any way to learn of incidents; any other
        // source (an import, a CI/CD tool, a Git host) is taken at its word,
        // as METRICS.md does: no incident there means none happened.
        let git_sources: Vec<String> = config
            .sources
            .iter()
            .filter(|t| t.get("type").and_then(|v| v.as_str()) == Some("git"))
            .map(|t| {
                t.get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("git")
                    .to_string()
            })
            .chain(["git".to_string()])
            .collect();
        let (any_incident, rollbacks, beyond_git): (bool, bool, bool) = conn
            .query_row(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM incidents),
                            EXISTS (SELECT 1 FROM link_deployments WHERE is_rollback),
                            EXISTS (SELECT 1 FROM link_deployments WHERE source NOT IN ({}))",
                    git_sources
                        .iter()
                        .map(|s| format!("'{}'", s.replace('\'', "''")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(err)?;
        let mut stmt = conn
            .prepare("SELECT source_name FROM sync_cursors")
            .map_err(err)?;
        let synced = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let tool_synced = config.sources.iter().any(|t| {
            let kind = t.get("type").and_then(|v| v.as_str()).unwrap_or_default();
            let name = t.get("name").and_then(|v| v.as_str()).unwrap_or(kind);
            INCIDENT_TOOLS.contains(&kind) && synced.iter().any(|s| s == name)
        });
        Ok(Known {
            incidents: any_incident || tool_synced || beyond_git,
            rollbacks,
        })
    }

    fn basis(self) -> Option<Basis> {
        if self.incidents {
            Some(Basis::IncidentsAndRollbacks)
        } else if self.rollbacks {
            Some(Basis::RollbacksOnly)
        } else {
            None
        }
    }
}

/// Where incidents come from, for the `missing` notes.
const INCIDENT_SOURCE_HINT: &str = "an incident source: a `[[sources]]` of type pagerduty, opsgenie, incidentio or jsm, GitHub/GitLab issues labelled `incident`, the PagerDuty webhook, or `incident` records in an import";

/// The metric queries, in the order [`metric_set`] reads their rows.
const METRIC_QUERIES: [(&str, &str); 8] = [
    ("deployment_frequency", sql::DEPLOYMENT_FREQUENCY),
    ("lead_time", sql::LEAD_TIME),
    ("change_failure_rate", sql::CHANGE_FAILURE_RATE),
    ("recovery_time", sql::RECOVERY_TIME),
    ("time_to_restore", sql::TIME_TO_RESTORE),
    ("rework_rate", sql::REWORK_RATE),
    ("cycle_time", sql::CYCLE_TIME),
    ("coverage", sql::COVERAGE),
];

fn one_metric_set(
    conn: &Connection,
    config: &Config,
    window: &Window,
    known: Known,
) -> Result<MetricSet, AnalysisError> {
    let mut sets = metric_sets(conn, config, std::slice::from_ref(window), &[], known)?;
    Ok(sets.remove(0))
}

/// The metric sets of several windows in one pass: each query runs once,
/// grouped by window. With `groups` (the scope views carry them, see
/// [`scope::apply_grouped`]), the sets of every group's windows, group by
/// group.
fn metric_sets(
    conn: &Connection,
    config: &Config,
    windows: &[Window],
    groups: &[String],
    known: Known,
) -> Result<Vec<MetricSet>, AnalysisError> {
    let cells: Vec<(&str, &Window)> = if groups.is_empty() {
        windows.iter().map(|w| ("", w)).collect()
    } else {
        groups
            .iter()
            .flat_map(|g| windows.iter().map(move |w| (g.as_str(), w)))
            .collect()
    };
    set_windows(conn, &cells)?;
    let bounds = span(windows);
    let mut per_query = METRIC_QUERIES
        .iter()
        .map(|(name, sql)| {
            let t0 = std::time::Instant::now();
            let rows = run(conn, name, sql, &bounds, cells.len()).map(Vec::into_iter);
            flowmeter_store::timing::phase(&format!("metrics: {name}"), t0);
            rows
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut without_team = services_without_team(conn, config, &bounds, cells.len())?.into_iter();
    let mut sets = Vec::with_capacity(cells.len());
    for (_, window) in &cells {
        let mut rows = per_query
            .iter_mut()
            .map(|rows| rows.next().expect("one row per cell"));
        let mut next = || rows.next().expect("one row per query");
        let q = QueryRows {
            df: next(),
            lt: next(),
            cfr: next(),
            rt: next(),
            ttr: next(),
            rw: next(),
            ct: next(),
            cov: next(),
        };
        let unclaimed = without_team.next().unwrap_or_default();
        sets.push(metric_set(config, window, known, q, unclaimed));
    }
    Ok(sets)
}

/// One window's row of each metric query.
struct QueryRows {
    df: Row,
    lt: Row,
    cfr: Row,
    rt: Row,
    ttr: Row,
    rw: Row,
    ct: Row,
    cov: Row,
}

/// One window's metric set from its query rows.
fn metric_set(
    config: &Config,
    window: &Window,
    known: Known,
    q: QueryRows,
    services_without_team: Vec<String>,
) -> MetricSet {
    let QueryRows {
        df,
        lt,
        cfr,
        rt,
        ttr,
        rw,
        ct,
        cov,
    } = q;
    let profile = config.metrics.profile;
    let deployments = df.n("deployments");
    let full_weeks = df.n("full_weeks");
    let per_week = deployments as f64 / (window.days() / 7.0);
    let per_30_days = deployments as f64 / (window.days() / 30.0);
    let median_days = (full_weeks > 0).then(|| df.f("median_deploy_days_per_week").unwrap_or(0.0));
    let median_deps = (full_weeks > 0).then(|| df.f("median_deployments_per_week").unwrap_or(0.0));
    let deployment_frequency = DeploymentFrequency {
        deployments,
        per_week,
        deploy_days: df.n("deploy_days"),
        median_deploy_days_per_week: median_days,
        tier: tiers::deployment_frequency(profile, median_days, median_deps, per_week, per_30_days),
        full_weeks,
        median_deployments_per_week: median_deps,
        change: None,
    };

    let lead_p50 = lt.f("p50_hours");
    let lead_time = LeadTime {
        changes: lt.n("changes"),
        excluded: lt.n("excluded"),
        p50_hours: lead_p50,
        p75_hours: lt.f("p75_hours"),
        p90_hours: lt.f("p90_hours"),
        mean_hours: lt.f("mean_hours"),
        tier: tiers::lead_time(profile, lead_p50),
        change: None,
    };

    let basis = known.basis();
    let cfr_failed = basis.map(|_| cfr.n("failed"));
    let cfr_rate = cfr_failed.and_then(|f| ratio(f, cfr.n("deployments")));
    let change_failure_rate = ChangeFailureRate {
        deployments: cfr.n("deployments"),
        failed: cfr_failed,
        basis,
        rate: cfr_rate,
        tier: tiers::change_failure_rate(profile, cfr_rate),
        change: None,
    };

    let rt_p50 = rt.f("p50_hours");
    let seen = |n: u64| basis.map(|_| n);
    let recovery_time = RecoveryTime {
        failed_deployments: seen(rt.n("failed_deployments")),
        recovered: seen(rt.n("recovered")),
        open: seen(rt.n("open")),
        p50_hours: rt_p50,
        p90_hours: rt.f("p90_hours"),
        tier: tiers::recovery_time(profile, rt_p50),
        change: None,
    };

    let tracked = |n: u64| known.incidents.then_some(n);
    let time_to_restore = TimeToRestore {
        incidents: tracked(ttr.n("incidents")),
        resolved: tracked(ttr.n("resolved")),
        p50_hours: ttr.f("p50_hours"),
        p90_hours: ttr.f("p90_hours"),
        change: None,
    };

    let rework_rate = ReworkRate {
        deployments: rw.n("deployments"),
        rework: rw.n("rework"),
        rate: ratio(rw.n("rework"), rw.n("deployments")),
        change: None,
    };

    let sums: Vec<f64> = STAGES
        .iter()
        .map(|s| ct.f(&format!("{s}_sum")).unwrap_or(0.0))
        .collect();
    let total: f64 = sums.iter().sum();
    let stage = |name: &str, sum: f64| Stage {
        p50_hours: ct.f(&format!("{name}_p50")),
        p75_hours: ct.f(&format!("{name}_p75")),
        p90_hours: ct.f(&format!("{name}_p90")),
        share: (total > 0.0).then(|| sum / total),
        samples: ct.n(&format!("{name}_n")),
        change: None,
    };
    let stages = Stages {
        coding: stage(STAGES[0], sums[0]),
        pickup: stage(STAGES[1], sums[1]),
        review: stage(STAGES[2], sums[2]),
        deploy: stage(STAGES[3], sums[3]),
    };
    // Ties go to the earlier stage, in flow order.
    let bottleneck = (total > 0.0).then(|| {
        let mut best = 0;
        for i in 1..4 {
            if sums[i] > sums[best] {
                best = i;
            }
        }
        STAGES[best]
    });
    let cycle_sum = ct.f("cycle_sum");
    let cycle_time = CycleTime {
        prs: ct.n("prs"),
        deployed: ct.n("deployed"),
        flow_efficiency: match (ct.f("flow_numerator"), cycle_sum) {
            (Some(num), Some(den)) if den != 0.0 => Some(num / den),
            _ => None,
        },
        bottleneck,
        cycle: Percentiles {
            p50_hours: ct.f("cycle_p50"),
            p75_hours: ct.f("cycle_p75"),
            p90_hours: ct.f("cycle_p90"),
        },
        stages,
        cycles: ct.n("cycles"),
        stages_unknown: ct.n("stages_unknown"),
        working_hours: None,
        change: None,
    };

    let mut thin = Vec::new();
    let mut check = |name: &str, n: u64| {
        if n > 0 && n < 5 {
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
    let coverage = Coverage {
        changes: cov.n("changes"),
        changes_with_pr: cov.n("changes_with_pr"),
        changes_without_start: cov.n("changes_without_start"),
        prs_merged_not_deployed: cov.n("prs_merged_not_deployed"),
        prs_without_reviews: cov.n("prs_without_reviews"),
        incidents: cov.n("incidents"),
        incidents_attributed: cov.n("incidents_attributed"),
        incidents_unmapped: cov.n("incidents_unmapped"),
        services_without_team,
        thin_samples: thin,
    };

    let mut missing = Vec::new();
    match basis {
        None => missing.push(Missing {
            metric: "change_failure_rate",
            reason: "no incident source and no rollback seen: a failed deployment cannot be told from a good one, so the rate and recovery time are unknown".into(),
            supplied_by: INCIDENT_SOURCE_HINT,
        }),
        Some(Basis::RollbacksOnly) => missing.push(Missing {
            metric: "change_failure_rate",
            reason: "no incident source: only rollbacks show failures, so the rate is a floor".into(),
            supplied_by: INCIDENT_SOURCE_HINT,
        }),
        Some(Basis::IncidentsAndRollbacks) => {}
    }
    if !known.incidents {
        missing.push(Missing {
            metric: "time_to_restore",
            reason: "no incident source: time to restore is unknown".into(),
            supplied_by: INCIDENT_SOURCE_HINT,
        });
    }
    if cycle_time.stages_unknown > 0 {
        missing.push(Missing {
            metric: "cycle_time.stages",
            reason: format!(
                "{} of {} merged pull requests were recovered from git history, which does not know when they were opened or reviewed: their coding, pickup and review stages are unknown and left out of shares, bottleneck and flow efficiency",
                cycle_time.stages_unknown, cycle_time.prs
            ),
            supplied_by: "a Git host source (`[[sources]]` of type github or gitlab) for the same repository",
        });
    }

    MetricSet {
        tier_source: tiers::source(profile),
        missing,
        deployment_frequency,
        lead_time,
        change_failure_rate,
        recovery_time,
        time_to_restore,
        rework_rate,
        cycle_time,
        coverage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn iso_week_labels_round_trip() {
        let w = Window::iso_week("2026-W01").unwrap();
        // ISO week 1 of 2026 starts on Monday 29 December 2025.
        assert_eq!(w.since, t("2025-12-29T00:00:00Z"));
        assert_eq!(w.until, t("2026-01-05T00:00:00Z"));
        assert_eq!(w.week_label(), "2026-W01");
        assert!(matches!(
            Window::iso_week("2026-W54"),
            Err(AnalysisError::BadWeek(_))
        ));
        assert!(Window::iso_week("2026-07").is_err());
    }

    #[test]
    fn last_complete_week_ends_on_the_monday_before_now() {
        let w = Window::last_complete_week(t("2026-11-25T13:00:00Z"));
        assert_eq!(w.since, t("2026-11-16T00:00:00Z"));
        assert_eq!(w.until, t("2026-11-23T00:00:00Z"));
    }
}
