//! The read use-cases: metrics, reports, explain, the store's vital
//! signs. Each takes a store and the configuration and answers one
//! [`Question`]; the CLI prints the answer, the server serves it.

use flowmeter_analysis::explain::{explain as explain_records, Explained, Explanation};
use flowmeter_analysis::{compute, compute_grouped, digest, Grouped, Metrics};
use flowmeter_analysis::{working, GroupBy};
use flowmeter_config::{Calendar, Config, People};
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
    let compare = q.compare_window(window)?;
    if by.is_some() && compare.is_some() {
        return Err(AppError::Invalid(
            "`compare` works on one window, not with `by`".into(),
        ));
    }
    store.ensure_linked(&config.metrics)?;
    Ok(match by {
        None => {
            let mut m = compute(store, config, window, &filters)?;
            if let Some(other) = compare {
                let previous = compute(store, config, other, &filters)?;
                flowmeter_analysis::delta::compare(store, config, &mut m, &previous)?;
            }
            if q.working_hours {
                add_working_hours(store, config, &mut m)?;
            }
            MetricsAnswer::One(Box::new(m))
        }
        Some(by) => {
            let mut g = compute_grouped(store, config, window, &filters, by)?;
            if q.working_hours {
                for group in &mut g.groups {
                    let mut f = filters.clone();
                    let mut w = window;
                    match by {
                        GroupBy::Week => w = group.window.unwrap_or(window),
                        GroupBy::Team => f.team = Some(group.key.clone()),
                        GroupBy::Service => f.service = Some(group.key.clone()),
                        GroupBy::Repo => f.repo = Some(group.key.clone()),
                    }
                    let cal = calendar(config, f.team.as_deref())?;
                    group.metrics.cycle_time.working_hours =
                        Some(working::stages(store, config, &w, &f, cal)?);
                }
            }
            MetricsAnswer::Grouped(g)
        }
    })
}

/// The working calendar of `team` (its own, else the organisation's).
fn calendar<'a>(config: &'a Config, team: Option<&str>) -> Result<&'a Calendar, AppError> {
    config.calendar(team).ok_or_else(|| {
        AppError::Invalid(format!(
            "working hours need a calendar: add `[metrics.working_hours]`{} to flowmeter.toml (keys: timezone, days, start, end, holidays)",
            team.map(|t| format!(" or `[teams.{t}.working_hours]`")).unwrap_or_default()
        ))
    })
}

/// The value stream of `m` also in working hours.
fn add_working_hours(store: &mut Store, config: &Config, m: &mut Metrics) -> Result<(), AppError> {
    let cal = calendar(config, m.filters.team.as_deref())?;
    m.metrics.cycle_time.working_hours =
        Some(working::stages(store, config, &m.window, &m.filters, cal)?);
    Ok(())
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
    let people = config.report.people;
    Ok(match kind {
        ReportKind::Weekly => {
            let mut d = digest::weekly(store, config, window, &filters)?;
            if q.working_hours {
                add_working_hours(store, config, &mut d.current)?;
            }
            if people != People::All {
                d.longest_waits.iter_mut().for_each(|p| p.author = None);
            }
            pages::weekly(&d, format, chart_prefix, links)?
        }
        ReportKind::Team => {
            let mut d = digest::teams(store, config, window, &filters)?;
            if q.working_hours {
                for t in &mut d.teams {
                    add_working_hours(store, config, &mut t.current)?;
                }
            }
            if people == People::None {
                for t in &mut d.teams {
                    t.open_prs.iter_mut().for_each(|p| p.author = None);
                }
            }
            pages::team(&d, format, chart_prefix, links)?
        }
        ReportKind::Leadership => pages::leadership(
            &digest::leadership(store, config, window, &filters)?,
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
    Ok(digest::weekly(store, config, window, &q.filters())?)
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
    // The interval behind a report's verdict: against the window before,
    // unless asked otherwise.
    let compare = match q.compare_window(window)? {
        Some(other) => other,
        None => flowmeter_analysis::digest::before(window),
    };
    store.ensure_linked(&config.metrics)?;
    let mut e = explain_records(
        store,
        config,
        what,
        window,
        Some(compare),
        &q.filters(),
        q.limit.unwrap_or(20),
    )?;
    if config.report.people == People::None {
        if let Some(i) = e.columns.iter().position(|c| c == "author") {
            e.columns.remove(i);
            e.rows.iter_mut().for_each(|r| {
                r.remove(i);
            });
        }
    }
    Ok(e)
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
