//! `flowmeter lake export DIR`: the store as a Parquet lake (the use-case
//! is `flowmeter_app::lake`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_store::{Shard, Store};

use crate::cli::LakeExportArgs;
use crate::Env;

pub fn export(env: &Env, args: LakeExportArgs) -> Result<ExitCode> {
    let shard = match &args.shard {
        None => Shard::ALL,
        Some(s) => Shard::parse(s).with_context(|| {
            format!("`--shard {s}` is not a shard like `2/8` (index from 0, below the count)")
        })?,
    };
    let mut store = Store::open(&env.db)?;
    let written = flowmeter_app::lake::export(
        &mut store,
        &env.config,
        &args.dir,
        shard,
        args.from_month.as_deref(),
    )
    .context("exporting the lake")?;
    for t in &written.tables {
        let rows: u64 = t.partitions.iter().map(|(_, n)| n).sum();
        env.say(format!(
            "{:<24} {rows:>9} rows in {} partitions",
            t.table,
            t.partitions.len()
        ));
    }
    if let Some(l) = written.linked {
        env.say(format!(
            "linked this shard only: {} of {} services, {} of {} repositories \
             (the store's links are unchanged; other commands link everything)",
            l.services, l.services_total, l.repos, l.repos_total
        ));
    }
    env.say(format!(
        "wrote shard {}/{} of the lake `{}` (manifest.json updated)",
        shard.index,
        shard.count,
        args.dir.display()
    ));
    Ok(ExitCode::SUCCESS)
}
