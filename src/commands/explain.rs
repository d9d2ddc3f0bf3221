//! `flowmeter explain METRIC`: the records behind a number.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::ValueEnum;
use flowmeter_app::read;
use flowmeter_report::explain::explain_text;
use flowmeter_store::Store;

use super::period_question;
use crate::cli::{ExplainArgs, ExplainFormat};
use crate::Env;

pub fn run(env: &Env, args: ExplainArgs) -> Result<ExitCode> {
    let mut q = period_question(&args.period);
    q.limit = Some(args.limit);
    q.compare = args.compare.clone();
    let name = args
        .metric
        .to_possible_value()
        .expect("every metric has a name");
    let what = read::explained(name.get_name())?;
    q.report_window()?;
    let mut store = Store::open(&env.db)?;
    let e = read::explain(&mut store, &env.config, what, &q).context("explaining the metric")?;
    match args.format {
        ExplainFormat::Text => print!("{}", explain_text(&e)),
        ExplainFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&read::explain_json(&e))?)
        }
    }
    Ok(ExitCode::SUCCESS)
}
