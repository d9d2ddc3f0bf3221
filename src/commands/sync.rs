//! `flowmeter sync`: pull events from the configured `[[sources]]`.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::cli::SyncArgs;
use crate::Env;

pub fn run(env: &Env, args: SyncArgs) -> Result<ExitCode> {
    let sources: Vec<_> = env
        .config
        .sources
        .iter()
        .filter(|s| {
            let name = s.get("name").or_else(|| s.get("type")).and_then(|v| v.as_str());
            args.source.as_deref().is_none_or(|want| name == Some(want))
        })
        .collect();
    if sources.is_empty() {
        bail!("no sources to sync: add a `[[sources]]` table to flowmeter.toml (see the README)");
    }
    bail!("sync is not wired to any connector yet")
}
