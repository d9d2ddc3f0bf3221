//! `flowmeter relink`: every link table rebuilt from the whole store.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_store::Store;

use crate::Env;

pub fn run(env: &Env) -> Result<ExitCode> {
    let mut store = Store::open(&env.db)?;
    let t0 = std::time::Instant::now();
    let s = store
        .relink_all(&env.config.metrics)
        .context("relink failed; the links are as they were")?;
    env.say(format!(
        "relinked `{}` in {:.2} s: {} deployments, {} changes ({} with a pull request), {} of {} incidents attributed, {} rollbacks, {} failed deployments",
        store.path(),
        t0.elapsed().as_secs_f64(),
        s.deployments,
        s.changes,
        s.changes_with_pr,
        s.incidents_attributed,
        s.incidents,
        s.rollbacks,
        s.failed_deployments
    ));
    Ok(ExitCode::SUCCESS)
}
