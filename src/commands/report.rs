//! `flowmeter report`: the weekly delivery report, the team view and the
//! leadership page, as HTML, Markdown or text.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_analysis::digest;
use flowmeter_app::post::{self, Channel};
use flowmeter_app::read::{self, ReportKind};
use flowmeter_report::pages::{PageFormat, Rendered};
use flowmeter_store::Store;

use super::period_question;
use crate::cli::{PostTo, ReportArgs, ReportFormat};
use crate::Env;

fn kind_of(kind: crate::cli::ReportKind) -> ReportKind {
    match kind {
        crate::cli::ReportKind::Weekly => ReportKind::Weekly,
        crate::cli::ReportKind::Team => ReportKind::Team,
        crate::cli::ReportKind::Leadership => ReportKind::Leadership,
    }
}

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
    let mut q = period_question(&args.period);
    q.working_hours = args.working_hours;
    let kind = kind_of(args.kind);
    if kind == ReportKind::Team && env.config.teams.is_empty() {
        anyhow::bail!(
            "the team view needs teams: add `[teams.NAME]` tables with `services` and `repos` to flowmeter.toml"
        );
    }
    let window = q.report_window()?;
    if let Some(to) = args.post {
        return post_digest(env, &args, to);
    }
    let out: Option<PathBuf> = match (&args.out, args.format) {
        (Some(p), _) => Some(p.clone()),
        (None, ReportFormat::Html) => Some(PathBuf::from(format!(
            "flowmeter-report-{}-{}.html",
            kind.name(),
            digest::label(&window).replace(' ', "")
        ))),
        (None, _) => None,
    };
    let prefix = out
        .as_deref()
        .filter(|_| args.format == ReportFormat::Md)
        .map(stem);
    let format = match args.format {
        ReportFormat::Html => PageFormat::Html,
        ReportFormat::Md => PageFormat::Markdown,
        ReportFormat::Text => PageFormat::Text,
    };
    let mut config = env.config.clone();
    if args.no_people {
        config.report.people = flowmeter_config::People::None;
    }
    let mut store = Store::open(&env.db)?;
    let rendered = read::report(
        &mut store,
        &config,
        kind,
        &q,
        format,
        prefix.as_deref(),
        None,
    )
    .context("computing the report")?;
    match out {
        Some(path) => {
            write(&path, &rendered)?;
            env.say(format!(
                "wrote the {} report for {} to `{}`{}",
                kind.name(),
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

/// `--post slack|teams`: the weekly digest as a chat message, sent to the
/// incoming-webhook URL in the environment.
fn post_digest(env: &Env, args: &ReportArgs, to: PostTo) -> Result<ExitCode> {
    anyhow::ensure!(
        args.kind == crate::cli::ReportKind::Weekly,
        "`--post` sends the weekly digest; leave out `--kind` (or use `--kind weekly`)"
    );
    let channel = match to {
        PostTo::Slack => Channel::Slack,
        PostTo::Teams => Channel::Teams,
    };
    let url = post::webhook_url(channel, args.post_url_env.as_deref())?;
    let q = period_question(&args.period);
    let mut store = Store::open(&env.db)?;
    let d = read::weekly_digest(&mut store, &env.config, &q).context("computing the digest")?;
    let link = args
        .dashboard_url
        .as_deref()
        .map(|base| post::dashboard_link(base, &d));
    let message = channel.message(&d, link.as_deref());
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(post::post(&post::client()?, &url, &message))?;
    env.say(format!(
        "posted the weekly digest of {} to {}",
        d.week,
        channel.name()
    ));
    Ok(ExitCode::SUCCESS)
}
