//! `flowmeter demo`: the bundled demo organisation, imported and measured.
//!
//! The sample data is embedded in the binary, so the demo works from any
//! directory and after `cargo install`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Duration;
use flowmeter_analysis::{week_start, Filters, Window};
use flowmeter_config::Config;
use flowmeter_model::read_jsonl;
use flowmeter_store::Store;

use super::import::summary_text;
use super::metrics::print;
use crate::cli::{By, DemoArgs, Format, ReportFormat, ReportKind};
use crate::Env;

const EVENTS: &str = include_str!("../../sample-data/events.jsonl");
const CONFIG: &str = include_str!("../../sample-data/flowmeter.toml");

pub fn run(env: &Env, args: DemoArgs) -> Result<ExitCode> {
    let config = Config::parse(CONFIG, "sample-data/flowmeter.toml")?;
    let env = Env {
        db: env.db.clone(),
        db_given: env.db_given,
        config,
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
    let parsed = read_jsonl(EVENTS.as_bytes(), "sample-data/events.jsonl")?;
    anyhow::ensure!(
        parsed.errors.is_empty(),
        "the bundled sample data is invalid: {}",
        parsed.errors[0]
    );
    let mut store = Store::open(&db)?;
    let n = parsed.events.len();
    let summary = store.import(parsed.events, &env.config.metrics)?;
    env.say(summary_text(n, 0, &summary, &db.display().to_string()));

    // The last four full ISO weeks of the data.
    let last: Option<i64> = store
        .conn()
        .query_row(
            "SELECT epoch_us(max(finished_at)) FROM link_deployments",
            [],
            |r| r.get(0),
        )
        .context("reading the demo data's time span")?;
    let last =
        chrono::DateTime::from_timestamp_micros(last.context("the demo data has no deployments")?)
            .context("timestamp out of range")?;
    let until = week_start(last) + Duration::days(7);
    let window = Window::new(until - Duration::days(28), until)?;
    env.say("");
    print(
        &mut store,
        &env,
        window,
        &Filters::default(),
        None,
        args.format,
    )?;
    if args.format == Format::Text {
        println!();
        print(
            &mut store,
            &env,
            window,
            &Filters::default(),
            Some(By::Team),
            Format::Text,
        )?;
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
    let rendered = super::report::render(
        &mut store,
        &env.config,
        ReportKind::Weekly,
        week,
        &Filters::default(),
        ReportFormat::Html,
        None,
    )?;
    super::report::write(&report, &rendered)?;
    let since = window.since.format("%Y-%m-%d");
    let until = window.until.format("%Y-%m-%d");
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
         flowmeter report {db_hint} --config sample-data/flowmeter.toml --week {week} --kind team --format text\n  \
         flowmeter report {db_hint} --config sample-data/flowmeter.toml --week {week} --kind leadership\n  \
         flowmeter import your-events.jsonl          # your own data (EVENTS.md format)",
        week = week.week_label()
    ));
    Ok(ExitCode::SUCCESS)
}
