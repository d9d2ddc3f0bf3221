//! `flowmeter sync`: pull events from the configured `[[sources]]` (the
//! use-case is `flowmeter_app::sync`; this prints its progress). One
//! failing source does not stop the others; the exit code says that
//! something failed.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_app::sync::{self, Direct, Progress};
use flowmeter_connector::SyncContext;
use flowmeter_store::Store;

use crate::cli::SyncArgs;
use crate::Env;

pub fn run(env: &Env, args: SyncArgs) -> Result<ExitCode> {
    let sources = sync::sources(&env.config, args.source.as_deref())?;
    let mut store = Store::open(&env.db)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut failed = 0;
    for source in &sources {
        let ctx = SyncContext {
            since: source.since(args.since.as_deref())?,
            full: args.full,
        };
        let bar = env.progress.then(|| spinner(&source.name));
        let mut on_progress = |p: Progress| match (p, &bar) {
            (Progress::Note(n), Some(bar)) => bar.println(format!("note: {n}")),
            (Progress::Note(n), None) => env.say(format!("note: {n}")),
            (Progress::Batch(line), Some(bar)) => bar.set_message(line.to_string()),
            (Progress::Batch(line), None) if env.verbose > 0 => {
                env.say(format!("{}: {line}", source.name))
            }
            (Progress::Batch(_), None) => {}
        };
        let mut direct = Direct {
            store: &mut store,
            config: &env.config,
            no_link: args.no_link,
        };
        let result = runtime.block_on(sync::sync_source(
            &mut direct,
            &env.config,
            &ctx,
            source,
            &mut on_progress,
        ));
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match result {
            Ok(done) => {
                env.say(done.text(&source.name));
                for a in &done.advice {
                    env.say(format!("note: {a}"));
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!(
                    "error: source `{}`: {e} (data of earlier batches is kept)",
                    source.name
                );
            }
        }
    }
    if args.no_link {
        env.say(super::import::NO_LINK_NOTE);
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn spinner(name: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
            .expect("a valid progress template"),
    );
    bar.set_prefix(name.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
