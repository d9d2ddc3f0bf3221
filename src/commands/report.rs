//! `flowmeter report`: the weekly delivery report, the team view and the
//! leadership page, as HTML, Markdown or text.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use flowmeter_analysis::{digest, Filters, Window};
use flowmeter_config::Config;
use flowmeter_report::pages::{self, PageFormat, Rendered};
use flowmeter_store::Store;

use super::{filters_of, window_from};
use crate::cli::{PeriodArgs, ReportArgs, ReportFormat, ReportKind};
use crate::Env;

/// The period: `--week`, or `--since/--until`, or the last complete ISO week.
pub fn window_of(args: &PeriodArgs) -> Result<Window> {
    if let Some(week) = &args.week {
        return Ok(Window::iso_week(week)?);
    }
    if args.since.is_none() && args.until.is_none() {
        return Ok(Window::last_complete_week(Utc::now()));
    }
    window_from(args.since.as_deref(), args.until.as_deref(), 7)
}

fn kind_name(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Weekly => "weekly",
        ReportKind::Team => "team",
        ReportKind::Leadership => "leadership",
    }
}

/// Computes and renders one report; shared with `demo`.
pub fn render(
    store: &mut Store,
    config: &Config,
    kind: ReportKind,
    window: Window,
    filters: &Filters,
    format: ReportFormat,
    chart_prefix: Option<&str>,
) -> Result<Rendered> {
    store.ensure_linked(&config.metrics)?;
    let conn = store.conn();
    let format = match format {
        ReportFormat::Html => PageFormat::Html,
        ReportFormat::Md => PageFormat::Markdown,
        ReportFormat::Text => PageFormat::Text,
    };
    let rendered = match kind {
        ReportKind::Weekly => pages::weekly(
            &digest::weekly(conn, config, window, filters).context("computing the report")?,
            format,
            chart_prefix,
        )?,
        ReportKind::Team => pages::team(
            &digest::teams(conn, config, window, filters).context("computing the report")?,
            format,
            chart_prefix,
        )?,
        ReportKind::Leadership => pages::leadership(
            &digest::leadership(conn, config, window, filters).context("computing the report")?,
            format,
            chart_prefix,
        )?,
    };
    Ok(rendered)
}

/// Writes the page and, for Markdown, its charts next to it (`STEM-NAME.svg`).
pub fn write(out: &Path, rendered: &Rendered) -> Result<()> {
    std::fs::write(out, &rendered.page)
        .with_context(|| format!("cannot write `{}`", out.display()))?;
    let dir = out.parent().unwrap_or(Path::new(""));
    for (name, svg) in &rendered.charts {
        let path = dir.join(chart_file(out, name));
        std::fs::write(&path, svg).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

fn stem(out: &Path) -> String {
    out.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into())
}

fn chart_file(out: &Path, name: &str) -> String {
    format!("{}-{name}.svg", stem(out))
}

pub fn run(env: &Env, args: ReportArgs) -> Result<ExitCode> {
    if args.kind == ReportKind::Team && env.config.teams.is_empty() {
        anyhow::bail!(
            "the team view needs teams: add `[teams.NAME]` tables with `services` and `repos` to flowmeter.toml"
        );
    }
    let window = window_of(&args.period)?;
    let filters = filters_of(&args.period.filters);
    let out: Option<PathBuf> = match (&args.out, args.format) {
        (Some(p), _) => Some(p.clone()),
        (None, ReportFormat::Html) => Some(PathBuf::from(format!(
            "flowmeter-report-{}-{}.html",
            kind_name(args.kind),
            digest::label(&window).replace(' ', "")
        ))),
        (None, _) => None,
    };
    let prefix = out
        .as_deref()
        .filter(|_| args.format == ReportFormat::Md)
        .map(stem);
    let mut store = Store::open(&env.db)?;
    let rendered = render(
        &mut store,
        &env.config,
        args.kind,
        window,
        &filters,
        args.format,
        prefix.as_deref(),
    )?;
    match out {
        Some(path) => {
            write(&path, &rendered)?;
            env.say(format!(
                "wrote the {} report for {} to `{}`{}",
                kind_name(args.kind),
                digest::label(&window),
                path.display(),
                if rendered.charts.is_empty() {
                    String::new()
                } else {
                    format!(" and {} charts next to it", rendered.charts.len())
                }
            ));
        }
        None => print!("{}", rendered.page),
    }
    Ok(ExitCode::SUCCESS)
}
