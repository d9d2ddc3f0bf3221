//! `flowmeter import FILE...`: read, validate, upsert in one transaction.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use flowmeter_model::{kind_from_file_name, read_csv, read_jsonl, Event, EventKind, LineError};
use flowmeter_store::{ImportSummary, Store};

use crate::cli::{FileType, ImportArgs};
use crate::Env;

/// How many invalid lines are printed before the rest are only counted.
const SHOWN_ERRORS: usize = 20;

/// Reads one file (or stdin for `-`), by its extension.
pub fn read_file(path: &Path, file_type: Option<FileType>) -> Result<(Vec<Event>, Vec<LineError>)> {
    let name = if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(path).with_context(|| format!("cannot open `{name}`"))?)
    };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let out = match ext.as_str() {
        "csv" => {
            let kind = file_type
                .map(kind_of)
                .or_else(|| kind_from_file_name(&name));
            read_csv(reader, &name, kind)?
        }
        "jsonl" | "ndjson" | "json" | "" => {
            read_jsonl(BufReader::with_capacity(1 << 20, reader), &name)
                .with_context(|| format!("cannot read `{name}`"))?
        }
        other => bail!(
            "cannot import `{name}`: unknown file type `.{other}` (use .jsonl, .ndjson or .csv)"
        ),
    };
    Ok((out.events, out.errors))
}

fn kind_of(t: FileType) -> EventKind {
    match t {
        FileType::Deployment => EventKind::Deployment,
        FileType::Commit => EventKind::Commit,
        FileType::PullRequest => EventKind::PullRequest,
        FileType::Review => EventKind::Review,
        FileType::Incident => EventKind::Incident,
    }
}

pub fn run(env: &Env, args: ImportArgs) -> Result<ExitCode> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for path in &args.files {
        let (mut e, mut bad) = read_file(path, args.file_type)?;
        events.append(&mut e);
        errors.append(&mut bad);
    }
    if !errors.is_empty() {
        for e in errors.iter().take(SHOWN_ERRORS) {
            eprintln!(
                "{}: {e}",
                if args.skip_invalid {
                    "skipped"
                } else {
                    "error"
                }
            );
        }
        if errors.len() > SHOWN_ERRORS {
            eprintln!("... and {} more invalid lines", errors.len() - SHOWN_ERRORS);
        }
        if !args.skip_invalid {
            eprintln!(
                "error: {} invalid line(s); nothing was imported (fix them, or pass `--skip-invalid` to import the valid lines)",
                errors.len()
            );
            return Ok(ExitCode::from(2));
        }
    }
    let mut store = Store::open(&env.db)?;
    let n = events.len();
    let summary = store
        .import(events, &env.config.metrics)
        .context("import failed; the store is unchanged")?;
    env.say(summary_text(
        n,
        errors.len(),
        &summary,
        &env.db.display().to_string(),
    ));
    Ok(ExitCode::SUCCESS)
}

/// The import summary on stderr: records read, and per type what was written.
pub fn summary_text(read: usize, skipped: usize, s: &ImportSummary, db: &str) -> String {
    let t = s.total();
    let mut out = format!(
        "imported {read} records into `{db}`: {} new, {} updated, {} unchanged",
        t.inserted, t.updated, t.unchanged
    );
    if skipped > 0 {
        out.push_str(&format!(", {skipped} invalid lines skipped"));
    }
    for (kind, c) in &s.kinds {
        out.push_str(&format!(
            "\n  {:<13} {:>8} new {:>8} updated {:>8} unchanged",
            kind.as_str(),
            c.inserted,
            c.updated,
            c.unchanged
        ));
    }
    out
}
