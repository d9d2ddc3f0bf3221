//! `flowmeter import FILE...`: read, validate, upsert in one transaction.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_app::ingest::{stream_files, summary_text};
use flowmeter_model::EventKind;
use flowmeter_store::Store;

use crate::cli::{FileType, ImportArgs};
use crate::Env;

/// What `import` and `sync` say after storing with `--no-link`.
pub const NO_LINK_NOTE: &str =
    "links left for later (--no-link): the next command that reads them \
     relinks everything first; `lake export --shard I/N` links only its shard";

pub fn kind_of(t: FileType) -> EventKind {
    match t {
        FileType::Deployment => EventKind::Deployment,
        FileType::Commit => EventKind::Commit,
        FileType::PullRequest => EventKind::PullRequest,
        FileType::Review => EventKind::Review,
        FileType::Incident => EventKind::Incident,
    }
}

pub fn run(env: &Env, args: ImportArgs) -> Result<ExitCode> {
    let mut store = Store::open(&env.db)?;
    let mut import = store.begin_import()?;
    if args.no_link {
        import.no_link();
    }
    let streamed = stream_files(
        &mut import,
        &args.files,
        args.file_type.map(kind_of),
        args.skip_invalid,
    )
    .context("import failed; the store is unchanged")?;
    let verdict = if args.skip_invalid {
        "skipped"
    } else {
        "error"
    };
    for e in &streamed.invalid {
        eprintln!("{verdict}: {e}");
    }
    if streamed.invalid_count > streamed.invalid.len() {
        eprintln!(
            "... and {} more invalid lines",
            streamed.invalid_count - streamed.invalid.len()
        );
    }
    if streamed.invalid_count > 0 && !args.skip_invalid {
        drop(import); // rolls back
        eprintln!(
            "error: {} invalid line(s); nothing was imported (fix them, or pass `--skip-invalid` to import the valid lines)",
            streamed.invalid_count
        );
        return Ok(ExitCode::from(2));
    }
    let summary = import
        .commit(None, &env.config.metrics)
        .context("import failed; the store is unchanged")?;
    env.say(summary_text(
        streamed.records,
        streamed.invalid_count,
        &summary,
        &env.db.display().to_string(),
    ));
    if args.no_link {
        env.say(NO_LINK_NOTE);
    }
    Ok(ExitCode::SUCCESS)
}
