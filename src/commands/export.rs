//! `flowmeter export`: the linked facts of a window and its weekly series
//! as files (the use-case is `flowmeter_app::export`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_app::export::{export, ExportFormat};
use flowmeter_store::Store;

use super::window_question;
use crate::cli::ExportArgs;
use crate::Env;

pub fn run(env: &Env, args: ExportArgs) -> Result<ExitCode> {
    let q = window_question(&args.window);
    let format = match args.format {
        crate::cli::ExportFormat::Parquet => ExportFormat::Parquet,
        crate::cli::ExportFormat::Csv => ExportFormat::Csv,
        crate::cli::ExportFormat::Json => ExportFormat::Json,
    };
    q.metrics_window()?;
    let mut store = Store::open(&env.db)?;
    let written = export(&mut store, &env.config, &q, format, &args.out).context("exporting")?;
    for (path, n) in &written {
        env.say(format!("wrote {n:>7} rows to `{}`", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}
