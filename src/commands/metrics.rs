//! `flowmeter metrics`: the DORA keys and the value stream for a window.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_analysis::{compute, compute_grouped, Filters, GroupBy, Window};
use flowmeter_report::{flat, text};
use flowmeter_store::Store;

use super::{filters_of, window_from};
use crate::cli::{By, Format, MetricsArgs, WindowArgs};
use crate::Env;

pub fn window_of(args: &WindowArgs) -> Result<Window> {
    window_from(args.since.as_deref(), args.until.as_deref(), 28)
}

pub fn run(env: &Env, args: MetricsArgs) -> Result<ExitCode> {
    let window = window_of(&args.window)?;
    let mut store = Store::open(&env.db)?;
    print(
        &mut store,
        env,
        window,
        &filters_of(&args.window.filters),
        args.by,
        args.format,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Computes and prints; shared with `demo`.
pub fn print(
    store: &mut Store,
    env: &Env,
    window: Window,
    filters: &Filters,
    by: Option<By>,
    format: Format,
) -> Result<()> {
    store.ensure_linked(&env.config.metrics)?;
    let conn = store.conn();
    match by {
        None => {
            let m = compute(conn, &env.config, window, filters).context("computing metrics")?;
            match format {
                Format::Text => print!("{}", text::metrics_text(&m)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&m)?),
                Format::Csv => print!("{}", flat::metrics_csv(&m)),
            }
        }
        Some(by) => {
            let by = match by {
                By::Service => GroupBy::Service,
                By::Team => GroupBy::Team,
                By::Repo => GroupBy::Repo,
                By::Week => GroupBy::Week,
            };
            let g = compute_grouped(conn, &env.config, window, filters, by)
                .context("computing metrics")?;
            match format {
                Format::Text => print!("{}", text::grouped_text(&g)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&g)?),
                Format::Csv => print!("{}", flat::grouped_csv(&g)),
            }
        }
    }
    Ok(())
}
