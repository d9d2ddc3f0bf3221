//! `flowmeter explain METRIC`: the records behind one number.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_analysis::explain::{explain, Explained};
use flowmeter_report::explain::explain_text;
use flowmeter_store::Store;

use super::filters_of;
use super::report::window_of;
use crate::cli::{ExplainArgs, ExplainFormat, ExplainMetric};
use crate::Env;

fn explained(m: ExplainMetric) -> Explained {
    match m {
        ExplainMetric::DeploymentFrequency => Explained::DeploymentFrequency,
        ExplainMetric::LeadTime => Explained::LeadTime,
        ExplainMetric::ChangeFailureRate => Explained::ChangeFailureRate,
        ExplainMetric::RecoveryTime => Explained::RecoveryTime,
        ExplainMetric::TimeToRestore => Explained::TimeToRestore,
        ExplainMetric::ReworkRate => Explained::ReworkRate,
        ExplainMetric::CycleTime => Explained::CycleTime,
        ExplainMetric::Coding => Explained::Coding,
        ExplainMetric::Pickup => Explained::Pickup,
        ExplainMetric::Review => Explained::Review,
        ExplainMetric::Deploy => Explained::Deploy,
    }
}

pub fn run(env: &Env, args: ExplainArgs) -> Result<ExitCode> {
    let window = window_of(&args.period)?;
    let mut store = Store::open(&env.db)?;
    store.ensure_linked(&env.config.metrics)?;
    let e = explain(
        store.conn(),
        &env.config,
        explained(args.metric),
        window,
        &filters_of(&args.period.filters),
        args.limit,
    )
    .context("explaining the metric")?;
    match args.format {
        ExplainFormat::Text => print!("{}", explain_text(&e)),
        ExplainFormat::Json => {
            // Rows as objects keyed by column, for jq and notebooks.
            let rows: Vec<serde_json::Value> = e
                .rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        e.columns.iter().cloned().zip(r.iter().cloned()).collect(),
                    )
                })
                .collect();
            let out = serde_json::json!({
                "metric": e.metric,
                "metrics": e.metrics,
                "total": e.total,
                "records": rows,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
