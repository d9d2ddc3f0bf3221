//! Reading event files and bodies (EVENTS.md: JSON Lines or CSV) into
//! validated records, and storing them: the import use-case behind
//! `flowmeter import`, `POST /api/v1/events` and the webhook receivers.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use flowmeter_model::{
    kind_from_file_name, CsvChunks, EventKind, JsonlChunks, LineError, ReadOutcome, Sink,
};
use flowmeter_store::{Import, ImportSummary, RecordColumns};

use crate::AppError;

/// How many invalid lines are kept for the message; the rest are counted.
pub const SHOWN_ERRORS: usize = 20;

/// The chunks of one file being read.
type Chunks = Box<dyn Iterator<Item = Result<ReadOutcome<RecordColumns>, AppError>> + Send>;

/// The records of one file (or stdin for `-`), chunk by chunk, by
/// extension, in Arrow columns; `kind` is the record type of a CSV file
/// whose name does not say it.
pub fn read_chunks(path: &Path, kind: Option<EventKind>) -> Result<Chunks, AppError> {
    let stdin = path == Path::new("-");
    let name = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let reader: Box<dyn Read + Send> = if stdin {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| AppError::Io(format!("cannot open `{name}`"), e))?)
    };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    // Lines (rows) parsed and stored per step: bounds memory on large files
    // (two steps are alive at once, one read ahead). At 100,000 rather
    // than 200,000 a 1M-event import peaked about 0.25 GiB lower while
    // parsing, in the same time; fewer under a low `FLOWMETER_MEMORY_LIMIT`.
    let lines = flowmeter_store::lines_per_chunk();
    let chunks: Box<dyn Iterator<Item = std::io::Result<ReadOutcome<RecordColumns>>> + Send> =
        match ext.as_str() {
            "csv" => {
                let kind = kind.or_else(|| kind_from_file_name(&name));
                Box::new(
                    CsvChunks::new(reader, &name, kind, lines).map_err(|e| {
                        AppError::Invalid(format!("cannot read `{name}`: {e}"))
                    })?,
                )
            }
            "jsonl" | "ndjson" | "json" | "" => {
                Box::new(JsonlChunks::into_sinks(reader, &name, lines))
            }
            other => {
                return Err(AppError::Invalid(format!(
                    "cannot import `{name}`: unknown file type `.{other}` (use .jsonl, .ndjson or .csv)"
                )))
            }
        };
    Ok(Box::new(chunks.map(move |c| {
        c.map_err(|e| AppError::Io(format!("cannot read `{name}`"), e))
    })))
}

/// What reading found, besides the records stored.
#[derive(Debug, Default)]
pub struct Streamed {
    pub records: usize,
    /// The first [`SHOWN_ERRORS`] invalid lines.
    pub invalid: Vec<LineError>,
    pub invalid_count: usize,
}

impl Streamed {
    fn take(&mut self, errors: Vec<LineError>) {
        self.invalid_count += errors.len();
        let room = SHOWN_ERRORS.saturating_sub(self.invalid.len());
        self.invalid.extend(errors.into_iter().take(room));
    }
}

/// Streams files into an import. With `skip_invalid` false nothing more is
/// stored after the first invalid line (the caller then drops the import,
/// which rolls it back).
pub fn stream_files(
    import: &mut Import<'_>,
    files: &[PathBuf],
    kind: Option<EventKind>,
    skip_invalid: bool,
) -> Result<Streamed, AppError> {
    let mut s = Streamed::default();
    // What cannot be measured (stdin) counts as small.
    let bytes = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    import.expect_bytes(bytes)?;
    for path in files {
        for chunk in ahead(read_chunks(path, kind)?) {
            let chunk = chunk?;
            s.take(chunk.errors);
            if skip_invalid || s.invalid_count == 0 {
                s.records += chunk.events.len();
                import.add_columns(chunk.events)?;
            }
        }
    }
    Ok(s)
}

/// The chunks of `chunks`, each read and parsed on another thread while
/// the one before is stored, and handed over only when that one is done:
/// two chunks are alive at once. (With one more waiting in the channel, a
/// 10M-event import peaked 40–80 MB higher in the same time.) Dropping
/// the iterator stops the reading.
fn ahead<T: Send + 'static>(chunks: Box<dyn Iterator<Item = T> + Send>) -> Ahead<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(0);
    let reader = std::thread::spawn(move || {
        for chunk in chunks {
            if tx.send(chunk).is_err() {
                break;
            }
        }
    });
    Ahead {
        rx,
        reader: Some(reader),
    }
}

/// See [`ahead`].
struct Ahead<T> {
    rx: std::sync::mpsc::Receiver<T>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl<T> Iterator for Ahead<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if let Ok(chunk) = self.rx.recv() {
            return Some(chunk);
        }
        // The reader is done, or it panicked: a file must never look
        // shorter than it is, so its panic goes on here.
        if let Some(Err(panic)) = self.reader.take().map(|r| r.join()) {
            std::panic::resume_unwind(panic);
        }
        None
    }
}

/// A request body of JSON Lines, validated as an import validates a file
/// (`name` stands for the file in errors).
pub fn parse_body(body: &[u8], name: &str) -> Result<(ReadOutcome, Streamed), AppError> {
    let mut out: ReadOutcome = ReadOutcome::default();
    let mut s = Streamed::default();
    for chunk in JsonlChunks::new(body, name, usize::MAX) {
        let chunk = chunk.map_err(|e| AppError::Io(format!("cannot read `{name}`"), e))?;
        out.events.extend(chunk.events);
        s.take(chunk.errors);
    }
    s.records = out.events.len();
    Ok((out, s))
}

/// One line per record type: new, updated, unchanged.
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

/// The import summary: records read, and per type what was written.
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
