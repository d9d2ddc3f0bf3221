//! `flowmeter import FILE...`: read, validate, upsert in one transaction.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use flowmeter_model::{
    kind_from_file_name, read_csv, EventKind, JsonlChunks, LineError, ReadOutcome,
};
use flowmeter_store::{Import, ImportSummary, Store};

use crate::cli::{FileType, ImportArgs};
use crate::Env;

/// How many invalid lines are printed before the rest are only counted.
const SHOWN_ERRORS: usize = 20;

/// Lines parsed and stored per step: bounds memory on large files.
const CHUNK_LINES: usize = 200_000;

/// The records of one file (or stdin for `-`), chunk by chunk, by extension.
pub fn read_chunks(
    path: &Path,
    file_type: Option<FileType>,
) -> Result<Box<dyn Iterator<Item = Result<ReadOutcome>>>> {
    let name = if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).with_context(|| format!("cannot open `{name}`"))?)
    };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => {
            let kind = file_type
                .map(kind_of)
                .or_else(|| kind_from_file_name(&name));
            let out = read_csv(reader, &name, kind)?;
            Ok(Box::new(std::iter::once(Ok(out))))
        }
        "jsonl" | "ndjson" | "json" | "" => {
            let chunks = JsonlChunks::new(
                BufReader::with_capacity(1 << 20, reader),
                &name,
                CHUNK_LINES,
            );
            Ok(Box::new(chunks.map(move |c| {
                c.with_context(|| format!("cannot read `{name}`"))
            })))
        }
        other => bail!(
            "cannot import `{name}`: unknown file type `.{other}` (use .jsonl, .ndjson or .csv)"
        ),
    }
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

/// What reading the files found, besides the records stored.
#[derive(Default)]
pub struct Streamed {
    pub records: usize,
    pub invalid: Vec<LineError>,
    pub invalid_count: usize,
}

/// Streams files into an import. Invalid lines are collected (the first
/// few kept for the message); with `skip_invalid` false, nothing more is
/// stored after the first one (the caller then rolls the import back).
pub fn stream_files(
    import: &mut Import<'_>,
    files: &[std::path::PathBuf],
    file_type: Option<FileType>,
    skip_invalid: bool,
) -> Result<Streamed> {
    let mut s = Streamed::default();
    for path in files {
        for chunk in read_chunks(path, file_type)? {
            let chunk = chunk?;
            s.invalid_count += chunk.errors.len();
            let room = SHOWN_ERRORS.saturating_sub(s.invalid.len());
            s.invalid.extend(chunk.errors.into_iter().take(room));
            if skip_invalid || s.invalid_count == 0 {
                s.records += chunk.events.len();
                import.add(chunk.events)?;
            }
        }
    }
    Ok(s)
}

pub fn run(env: &Env, args: ImportArgs) -> Result<ExitCode> {
    let mut store = Store::open(&env.db)?;
    let mut import = store.begin_import()?;
    let streamed = stream_files(&mut import, &args.files, args.file_type, args.skip_invalid)?;
    for e in &streamed.invalid {
        eprintln!(
            "{}: {e}",
            if args.skip_invalid {
                "skipped"
            } else {
                "error"
            }
        );
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
    out.push_str(&kinds_table(s));
    out
}

/// One line per record type: new, updated, unchanged (shared with `sync`).
pub fn kinds_table(s: &ImportSummary) -> String {
    let mut out = String::new();
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
