//! `flowmeter demo`: the bundled demo organisation, imported and measured.
//!
//! The sample data is embedded in the binary, so the demo works from any
//! directory and after `cargo install`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Duration;
use flowmeter_analysis::Window;
use flowmeter_app::read::{self, ReportKind};
use flowmeter_app::{demo, ingest, Question};
use flowmeter_report::pages::PageFormat;
use flowmeter_store::Store;

use super::metrics::print;
use crate::cli::{DemoArgs, Format};
use crate::Env;

/// The question for a window, with no scope.
fn over(w: Window) -> Question {
    Question {
        since: Some(w.since.to_rfc3339()),
        until: Some(w.until.to_rfc3339()),
        flags: true,
        ..Question::default()
    }
}

pub fn run(env: &Env, args: DemoArgs) -> Result<ExitCode> {
    let env = Env {
        db: env.db.clone(),
        db_given: env.db_given,
        config: demo::config()?,
        quiet: env.quiet,
        verbose: env.verbose,
        progress: env.progress,
    };
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let db = if env.db_given {
        env.db.clone()
    } else {
        tmp.path().join("demo.duckdb")
    };
    let mut store = Store::open(&db)?;
    let (n, summary) = demo::load(&mut store, &env.config)?;
    env.say(ingest::summary_text(
        n,
        0,
        &summary,
        &db.display().to_string(),
    ));

    let window = demo::last_four_weeks(&store)?;
    env.say("");
    print(&mut store, &env, &over(window), args.format)?;
    if args.format == Format::Text {
        println!();
        let mut by_team = over(window);
        by_team.by = Some("team".into());
        print(&mut store, &env, &by_team, Format::Text)?;
    }
    // End with the weekly report of the data's last week, as a file to open.
    let week = Window::new(window.until - Duration::days(7), window.until)?;
    let report = {
        let name = format!(
            "flowmeter-report-weekly-{}.html",
            flowmeter_analysis::digest::label(&week)
        );
        match db.parent().filter(|_| env.db_given) {
            Some(dir) => dir.join(name),
            None => std::path::PathBuf::from(name),
        }
    };
    let rendered = read::report(
        &mut store,
        &env.config,
        ReportKind::Weekly,
        &over(week),
        PageFormat::Html,
        None,
        None,
    )?;
    super::report::write(&report, &rendered)?;
    let since = window.since.format("%Y-%m-%d");
    let until = window.until.format("%Y-%m-%d");
    let week_since = week.since.format("%Y-%m-%d");
    let db_hint = if env.db_given {
        format!("--db {}", db.display())
    } else {
        "--db demo.duckdb".to_string()
    };
    env.say(format!(
        "\nWrote the weekly delivery report of {} to `{}`: open it in a browser.",
        week.week_label(),
        report.display()
    ));
    env.say(format!(
        "\nTry next:\n  \
         flowmeter demo {db_hint}                    # keep the demo store\n  \
         flowmeter metrics {db_hint} --config sample-data/flowmeter.toml --since {since} --until {until} --by week\n  \
         flowmeter metrics {db_hint} --config sample-data/flowmeter.toml --since {since} --until {until} --team payments --format json\n  \
         flowmeter metrics {db_hint} --config sample-data/flowmeter.toml --since {week_since} --until {until} --compare previous   # is a change real?\n  \
         flowmeter explain lead-time {db_hint} --config sample-data/flowmeter.toml --week {week}   # the records and the interval\n  \
         flowmeter report {db_hint} --config sample-data/flowmeter.toml --week {week} --kind team --format text\n  \
         flowmeter report {db_hint} --config sample-data/flowmeter.toml --week {week} --kind leadership\n  \
         flowmeter serve --demo                      # the same organisation as a live dashboard and API\n  \
         flowmeter import your-events.jsonl          # your own data (EVENTS.md format)",
        week = week.week_label()
    ));
    Ok(ExitCode::SUCCESS)
}
