//! `flowmeter metrics`: the DORA keys and the value stream for a window.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_app::read::{self, MetricsAnswer};
use flowmeter_app::Question;
use flowmeter_report::{flat, text};
use flowmeter_store::Store;

use super::window_question;
use crate::cli::{By, Format, MetricsArgs};
use crate::Env;

pub fn run(env: &Env, args: MetricsArgs) -> Result<ExitCode> {
    let mut q = window_question(&args.window);
    q.by = args.by.map(|b| by_name(b).to_string());
    q.compare = args.compare.clone();
    q.working_hours = args.working_hours;
    // Bad flags are refused before the store is opened (or created).
    q.metrics_window()?;
    let mut store = Store::open(&env.db)?;
    print(&mut store, env, &q, args.format)?;
    Ok(ExitCode::SUCCESS)
}

fn by_name(by: By) -> &'static str {
    match by {
        By::Service => "service",
        By::Team => "team",
        By::Repo => "repo",
        By::Week => "week",
    }
}

/// Computes and prints; shared with `demo`.
pub fn print(store: &mut Store, env: &Env, q: &Question, format: Format) -> Result<()> {
    let answer = read::metrics(store, &env.config, q).context("computing metrics")?;
    match (format, &answer) {
        (Format::Json, a) => println!("{}", serde_json::to_string_pretty(a)?),
        (Format::Text, MetricsAnswer::One(m)) => print!("{}", text::metrics_text(m)),
        (Format::Csv, MetricsAnswer::One(m)) => print!("{}", flat::metrics_csv(m)),
        (Format::Text, MetricsAnswer::Grouped(g)) => print!("{}", text::grouped_text(g)),
        (Format::Csv, MetricsAnswer::Grouped(g)) => print!("{}", flat::grouped_csv(g)),
    }
    Ok(())
}
