//! The read use-cases: metrics, reports, explain, the store's vital
//! signs. Each takes a store and the configuration and answers one
//! [`Question`]; the CLI prints the answer, the server serves it.

use flowmeter_analysis::explain::{explain as explain_records, Explained, Explanation};
use flowmeter_analysis::{compute, compute_grouped, digest, Grouped, Metrics};
use flowmeter_config::Config;
use flowmeter_report::pages::{self, Links, PageFormat, Rendered};
use flowmeter_store::Store;
use serde::Serialize;

use crate::query::Question;
use crate::AppError;

/// The answer of `metrics`: one set, or one per group (`by`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum MetricsAnswer {
    One(Box<Metrics>),
    Grouped(Grouped),
}

/// Every metric for the question's window and scope (METRICS.md's JSON).
pub fn metrics(
    store: &mut Store,
    config: &Config,
    q: &Question,
) -> Result<MetricsAnswer, AppError> {
    let window = q.metrics_window()?;
    let filters = q.filters();
    let by = q.group_by()?;
    store.ensure_linked(&config.metrics)?;
    let conn = store.conn();
    Ok(match by {
        None => MetricsAnswer::One(Box::new(compute(conn, config, window, &filters)?)),
        Some(by) => MetricsAnswer::Grouped(compute_grouped(conn, config, window, &filters, by)?),
    })
}

/// The three pages people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Weekly,
    Team,
    Leadership,
}

impl ReportKind {
    pub const ALL: [ReportKind; 3] = [ReportKind::Weekly, ReportKind::Team, ReportKind::Leadership];

    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Weekly => "weekly",
            ReportKind::Team => "team",
            ReportKind::Leadership => "leadership",
        }
    }

    pub fn parse(s: &str) -> Option<ReportKind> {
        ReportKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Renders a report for the question's window (a report window: the last
/// complete week by default) and scope.
pub fn report(
    store: &mut Store,
    config: &Config,
    kind: ReportKind,
    q: &Question,
    format: PageFormat,
    chart_prefix: Option<&str>,
    links: Option<&Links>,
) -> Result<Rendered, AppError> {
    if kind == ReportKind::Team && config.teams.is_empty() {
        return Err(AppError::Invalid(
            "the team view needs teams: add `[teams.NAME]` tables with `services` and `repos` to flowmeter.toml".into(),
        ));
    }
    let window = q.report_window()?;
    let filters = q.filters();
    store.ensure_linked(&config.metrics)?;
    let conn = store.conn();
    Ok(match kind {
        ReportKind::Weekly => pages::weekly(
            &digest::weekly(conn, config, window, &filters)?,
            format,
            chart_prefix,
            links,
        )?,
        ReportKind::Team => pages::team(
            &digest::teams(conn, config, window, &filters)?,
            format,
            chart_prefix,
            links,
        )?,
        ReportKind::Leadership => pages::leadership(
            &digest::leadership(conn, config, window, &filters)?,
            format,
            chart_prefix,
            links,
        )?,
    })
}

/// The weekly digest itself (for chat posts).
pub fn weekly_digest(
    store: &mut Store,
    config: &Config,
    q: &Question,
) -> Result<digest::WeeklyDigest, AppError> {
    let window = q.report_window()?;
    store.ensure_linked(&config.metrics)?;
    Ok(digest::weekly(store.conn(), config, window, &q.filters())?)
}

/// The names `explain` takes, in the CLI's and the URL's spelling.
pub const EXPLAINED: [(&str, Explained); 11] = [
    ("deployment-frequency", Explained::DeploymentFrequency),
    ("lead-time", Explained::LeadTime),
    ("change-failure-rate", Explained::ChangeFailureRate),
    ("recovery-time", Explained::RecoveryTime),
    ("time-to-restore", Explained::TimeToRestore),
    ("rework-rate", Explained::ReworkRate),
    ("cycle-time", Explained::CycleTime),
    ("coding", Explained::Coding),
    ("pickup", Explained::Pickup),
    ("review", Explained::Review),
    ("deploy", Explained::Deploy),
];

/// `lead-time` → [`Explained::LeadTime`].
pub fn explained(name: &str) -> Result<Explained, AppError> {
    EXPLAINED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, e)| *e)
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "no metric `{name}` to explain (known: {})",
                EXPLAINED.map(|(n, _)| n).join(", ")
            ))
        })
}

/// The records behind one number, for the question's window (a report
/// window, like the CLI's `explain`) and scope.
pub fn explain(
    store: &mut Store,
    config: &Config,
    what: Explained,
    q: &Question,
) -> Result<Explanation, AppError> {
    let window = q.report_window()?;
    store.ensure_linked(&config.metrics)?;
    Ok(explain_records(
        store.conn(),
        config,
        what,
        window,
        &q.filters(),
        q.limit.unwrap_or(20),
    )?)
}

/// The JSON of an explanation: the number, and its records as objects.
pub fn explain_json(e: &Explanation) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = e
        .rows
        .iter()
        .map(|r| {
            serde_json::Value::Object(e.columns.iter().cloned().zip(r.iter().cloned()).collect())
        })
        .collect();
    serde_json::json!({
        "metric": e.metric,
        "metrics": e.metrics,
        "total": e.total,
        "records": rows,
    })
}
