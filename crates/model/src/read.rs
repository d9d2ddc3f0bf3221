//! Readers for JSON Lines and CSV files in the interchange format.
//!
//! Both return every valid record with its line number and every invalid
//! line as a [`LineError`]; whether one bad line refuses the whole file
//! (`--strict`) or is only reported (`--skip-invalid`) is the caller's call.

use std::io::Read;

use serde_json::{Map, Value};

use crate::parse::{event_from_json, event_from_text, FieldError};
use crate::record::{Event, EventKind};

/// An invalid line: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {error}")]
pub struct LineError {
    pub file: String,
    pub line: u64,
    pub error: FieldError,
}

/// Where the parser threads put the records they read, each thread its own,
/// in line order: a vector of records, or (the store's) Arrow columns
/// filled as the lines are parsed, so that a record lives only between
/// its line and its columns.
pub trait Sink: Send + Sized {
    /// An empty sink with room for about `records` records.
    fn with_room(records: usize) -> Self;
    /// Adds a record after the ones added before.
    fn push(&mut self, event: Event);
    /// Adds `later`'s records after this one's.
    fn append(&mut self, later: Self);
    /// How many records it holds.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sink for Vec<Event> {
    fn with_room(records: usize) -> Self {
        Vec::with_capacity(records)
    }

    fn push(&mut self, event: Event) {
        Vec::push(self, event);
    }

    fn append(&mut self, later: Self) {
        if self.is_empty() {
            *self = later;
        } else {
            self.extend(later);
        }
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// The records of one file (or chunk of lines), valid and invalid.
#[derive(Debug, Default)]
pub struct ReadOutcome<S = Vec<Event>> {
    pub events: S,
    pub errors: Vec<LineError>,
}

/// Reads JSON Lines: one record per line; blank lines are skipped.
pub fn read_jsonl(reader: impl Read, file: &str) -> std::io::Result<ReadOutcome> {
    let mut out: ReadOutcome = ReadOutcome::default();
    for chunk in JsonlChunks::new(reader, file, usize::MAX) {
        let chunk = chunk?;
        out.events.extend(chunk.events);
        out.errors.extend(chunk.errors);
    }
    Ok(out)
}

/// JSON Lines read a chunk of lines at a time, each chunk parsed on all
/// cores: large files stream through in bounded memory.
///
/// A chunk's lines are read into one buffer kept from chunk to chunk, not a
/// `String` each, and the parser threads fill vectors sized for their
/// lines (see [`parse_lines`]): grown a record at a time, the records of
/// every chunk were copied twice into pages the kernel zeroed anew
/// (`clear_page_erms`, 8 % of a 10M-event import's CPU samples). The buffer is filled a block at a time
/// straight from the reader, its line ends found in each block (a
/// `BufReader`'s line by line copy was 2 % of a 10M-event import's CPU);
/// the part of a line that the block ends in waits at the front of the
/// buffer for the next chunk.
pub struct JsonlChunks<R, S = Vec<Event>> {
    reader: R,
    file: String,
    chunk_lines: usize,
    line: u64,
    /// The reader has nothing more.
    eof: bool,
    /// A read failed: nothing more is read.
    failed: bool,
    /// The chunk's bytes, line after line, then what was read past its last
    /// line.
    buf: Vec<u8>,
    /// Where each of the chunk's lines ends in `buf`.
    ends: Vec<usize>,
    sink: std::marker::PhantomData<fn() -> S>,
}

/// Bytes read at a time.
const BLOCK_BYTES: u64 = 1 << 20;

impl<R: Read> JsonlChunks<R> {
    /// Chunks of `chunk_lines` lines, their records in vectors.
    pub fn new(reader: R, file: &str, chunk_lines: usize) -> Self {
        Self::into_sinks(reader, file, chunk_lines)
    }
}

impl<R: Read, S: Sink> JsonlChunks<R, S> {
    /// Chunks of `chunk_lines` lines, their records put into sinks of type
    /// `S` by the parser threads.
    pub fn into_sinks(reader: R, file: &str, chunk_lines: usize) -> Self {
        JsonlChunks {
            reader,
            file: file.to_string(),
            chunk_lines: chunk_lines.max(1),
            line: 0,
            eof: false,
            failed: false,
            buf: Vec::new(),
            ends: Vec::new(),
            sink: std::marker::PhantomData,
        }
    }

    /// Reads lines into `buf` until the chunk has its lines or the reader
    /// ends (a last line without a line end counts).
    fn fill(&mut self) -> std::io::Result<()> {
        let mut scanned = 0;
        loop {
            while self.ends.len() < self.chunk_lines {
                match memchr::memchr(b'\n', &self.buf[scanned..]) {
                    Some(i) => {
                        scanned += i + 1;
                        self.ends.push(scanned);
                    }
                    None => {
                        scanned = self.buf.len();
                        break;
                    }
                }
            }
            if self.ends.len() == self.chunk_lines {
                return Ok(());
            }
            if self.eof {
                let last = self.ends.last().copied().unwrap_or(0);
                if last < self.buf.len() {
                    self.ends.push(self.buf.len());
                }
                return Ok(());
            }
            let read = (&mut self.reader)
                .take(BLOCK_BYTES)
                .read_to_end(&mut self.buf)?;
            self.eof = read == 0;
        }
    }
}

impl<R: Read, S: Sink> Iterator for JsonlChunks<R, S> {
    type Item = std::io::Result<ReadOutcome<S>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // What the last chunk read past its lines comes first.
        let done = self.ends.last().copied().unwrap_or(0);
        self.buf.drain(..done);
        self.ends.clear();
        if let Err(e) = self.fill() {
            self.failed = true;
            return Some(Err(e));
        }
        if self.ends.is_empty() {
            return None;
        }
        let first_line = self.line + 1;
        self.line += self.ends.len() as u64;
        Some(Ok(parse_lines(
            &self.buf, &self.ends, &self.file, first_line,
        )))
    }
}

/// What one parser thread made of its lines: the records, and each invalid
/// line's number and error.
type Parsed<S> = (S, Vec<(u64, FieldError)>);

/// What one line or row holds: nothing (a blank line), a record, or an
/// invalid line's number and error.
type Read1 = Option<Result<Event, (u64, FieldError)>>;

/// Reads items `0..n` (lines, rows) with `read` on all cores, keeping
/// order: each thread puts its part's records into a sink of its own, and
/// the parts are appended in order. This thread's sink, the first part's,
/// has room for every record (records are a few hundred bytes; moving
/// every part's into a new vector was 2.6 % of a 10M-event import's CPU).
fn read_on_all_cores<S: Sink>(
    n: usize,
    file: &str,
    read: impl Fn(usize) -> Read1 + Sync,
) -> ReadOutcome<S> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(n.div_ceil(10_000).max(1));
    let per = n.div_ceil(threads).max(1);
    let read = &read;
    let read_part = |from: usize, to: usize, room: usize| -> Parsed<S> {
        let mut events = S::with_room(room);
        let mut errors = Vec::new();
        for i in from..to {
            match read(i) {
                Some(Ok(e)) => events.push(e),
                Some(Err(e)) => errors.push(e),
                None => {}
            }
        }
        (events, errors)
    };
    let parts: Vec<Parsed<S>> = std::thread::scope(|scope| {
        let others: Vec<_> = (per..n)
            .step_by(per)
            .map(|from| {
                let to = (from + per).min(n);
                scope.spawn(move || read_part(from, to, to - from))
            })
            .collect();
        let mut parts = vec![read_part(0, per.min(n), n)];
        parts.extend(
            others
                .into_iter()
                .map(|h| h.join().expect("a parser thread panicked")),
        );
        parts
    });
    let mut parts = parts.into_iter();
    let (mut events, mut errors) = parts
        .next()
        .unwrap_or_else(|| (S::with_room(0), Vec::new()));
    for (more, more_errors) in parts {
        events.append(more);
        errors.extend(more_errors);
    }
    let errors = (errors.into_iter())
        .map(|(line, error)| LineError {
            file: file.to_string(),
            line,
            error,
        })
        .collect();
    ReadOutcome { events, errors }
}

/// An error of a whole line (not of one of its fields).
fn line_error(message: String) -> FieldError {
    FieldError {
        label: None,
        field: None,
        message,
    }
}

/// Parses the lines of `buf` (each ending at its offset in `ends`,
/// numbered from `first_line`) on all cores, keeping order.
fn parse_lines<S: Sink>(buf: &[u8], ends: &[usize], file: &str, first_line: u64) -> ReadOutcome<S> {
    read_on_all_cores(ends.len(), file, |i| {
        let start = if i == 0 { 0 } else { ends[i - 1] };
        let n = first_line + i as u64;
        let Ok(text) = std::str::from_utf8(&buf[start..ends[i]]) else {
            return Some(Err((n, line_error("the line is not valid UTF-8".into()))));
        };
        // A file's first line may begin with a byte order mark (what
        // some Windows tools write): it is not part of the record.
        let text = match n {
            1 => text.strip_prefix('\u{feff}').unwrap_or(text),
            _ => text,
        };
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(event_from_text(text).map_err(|e| (n, e)))
    })
}

/// Columns whose cells hold `;`-separated lists.
const LIST_COLUMNS: &[&str] = &[
    "commits", "parents", "labels", "services", "files", "owners",
];
/// Columns whose cells hold integers.
const INT_COLUMNS: &[&str] = &["number", "pr", "additions", "deletions"];

/// A CSV file of one record type read a chunk of rows at a time, each
/// chunk's rows made into records on all cores (as [`JsonlChunks`]): large
/// files stream through in bounded memory. A header row of EVENTS.md field
/// names, then one record per row; empty cells are absent fields. The type
/// comes from a `type` column, else from `kind` (usually the file name).
/// The header is read first, and refused with the file's first line; a
/// row that is not CSV is an invalid line, and a failed read ends the
/// chunks with its error (an import is then refused whole).
pub struct CsvChunks<R, S = Vec<Event>> {
    csv: csv::Reader<R>,
    headers: csv::StringRecord,
    kind: Option<EventKind>,
    file: String,
    chunk_rows: usize,
    /// The reader has nothing more.
    done: bool,
    sink: std::marker::PhantomData<fn() -> S>,
}

impl<R: Read, S: Sink> CsvChunks<R, S> {
    /// Chunks of `chunk_rows` rows of `file` (named so in errors); `kind`
    /// is the record type when the file has no `type` column.
    pub fn new(
        reader: R,
        file: &str,
        kind: Option<EventKind>,
        chunk_rows: usize,
    ) -> Result<Self, LineError> {
        let mut csv = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(reader);
        let header_error = |message: String| LineError {
            file: file.to_string(),
            line: 1,
            error: line_error(message),
        };
        let headers = csv
            .headers()
            .map_err(|e| header_error(format!("cannot read the CSV header: {e}")))?
            .clone();
        if kind.is_none() && !headers.iter().any(|h| h == "type") {
            return Err(header_error(
                "cannot tell the record type: add a `type` column, name the file after the type (e.g. `deployments.csv`), or pass `--type`".into(),
            ));
        }
        Ok(CsvChunks {
            csv,
            headers,
            kind,
            file: file.to_string(),
            chunk_rows: chunk_rows.max(1),
            done: false,
            sink: std::marker::PhantomData,
        })
    }
}

/// The record of one CSV row under `headers`; `kind` when the file has no
/// `type` column.
fn csv_record(
    headers: &csv::StringRecord,
    kind: Option<EventKind>,
    row: &csv::StringRecord,
) -> Result<Event, FieldError> {
    {
        let mut map = Map::new();
        if let Some(k) = kind {
            map.insert("type".into(), Value::String(k.as_str().into()));
        }
        for (name, cell) in headers.iter().zip(row.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = if LIST_COLUMNS.contains(&name) {
                Value::Array(
                    cell.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.into()))
                        .collect(),
                )
            } else if INT_COLUMNS.contains(&name) {
                cell.trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(cell.into()))
            } else {
                Value::String(cell.into())
            };
            map.insert(name.to_string(), value);
        }
        event_from_json(Value::Object(map))
    }
}

impl<R: Read, S: Sink> Iterator for CsvChunks<R, S> {
    type Item = std::io::Result<ReadOutcome<S>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // The rows, each with its line: read on this thread (the CSV
        // grammar is sequential), made into records on all cores.
        let mut rows: Vec<(u64, Result<csv::StringRecord, FieldError>)> = Vec::new();
        while rows.len() < self.chunk_rows {
            let mut row = csv::StringRecord::new();
            match self.csv.read_record(&mut row) {
                Ok(true) => {
                    let line = row.position().map(|p| p.line()).unwrap_or(0);
                    rows.push((line, Ok(row)));
                }
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) if e.is_io_error() => {
                    self.done = true;
                    return match e.into_kind() {
                        csv::ErrorKind::Io(e) => Some(Err(e)),
                        other => Some(Err(std::io::Error::other(format!("{other:?}")))),
                    };
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    rows.push((line, Err(line_error(format!("malformed CSV row: {e}")))));
                }
            }
        }
        if rows.is_empty() {
            return None;
        }
        let (headers, kind) = (&self.headers, self.kind);
        Some(Ok(read_on_all_cores(rows.len(), &self.file, |i| {
            let (line, row) = &rows[i];
            Some(match row {
                Ok(row) => csv_record(headers, kind, row).map_err(|e| (*line, e)),
                Err(e) => Err((*line, e.clone())),
            })
        })))
    }
}

/// Guesses the record type of a CSV file from its name (`deployments.csv`,
/// `pull_requests.csv`, `acme-incidents.csv` ...).
pub fn kind_from_file_name(name: &str) -> Option<EventKind> {
    let stem = std::path::Path::new(name)
        .file_stem()?
        .to_string_lossy()
        .to_ascii_lowercase()
        .replace('-', "_");
    // pull_request before the others: "pull_request" contains none of them,
    // but check the longest names first all the same.
    [
        EventKind::PullRequest,
        EventKind::Deployment,
        EventKind::Incident,
        EventKind::Review,
        EventKind::Commit,
    ]
    .into_iter()
    .find(|k| stem.contains(k.as_str()) || (*k == EventKind::PullRequest && stem.contains("prs")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_reports_line_numbers_and_keeps_good_lines() {
        let data = "{\"type\":\"commit\",\"repo\":\"r\",\"sha\":\"a\",\"authored_at\":\"2026-01-01T00:00:00Z\"}\n\n{\"type\":\"commit\",\"repo\":\"r\"}\nnot json\n";
        let out = read_jsonl(data.as_bytes(), "f.jsonl").unwrap();
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.errors.len(), 2);
        assert_eq!(out.errors[0].line, 3);
        assert_eq!(
            out.errors[0].to_string(),
            "f.jsonl:3: commit: field `sha` is required"
        );
        assert!(out.errors[1]
            .to_string()
            .starts_with("f.jsonl:4: not valid JSON"));
    }

    /// A byte order mark opening a file is skipped; anywhere else it is
    /// what it is (not JSON).
    #[test]
    fn jsonl_skips_a_byte_order_mark_before_the_first_line_only() {
        let line = "{\"type\":\"commit\",\"repo\":\"r\",\"sha\":\"a\",\"authored_at\":\"2026-01-01T00:00:00Z\"}";
        let data = format!("\u{feff}{line}\n\u{feff}{line}\n");
        let out = read_jsonl(data.as_bytes(), "f.jsonl").unwrap();
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.errors.len(), 1);
        assert!(out.errors[0]
            .to_string()
            .starts_with("f.jsonl:2: not valid JSON"));
        // The same with a line a chunk: the second line opens a chunk.
        let chunks: Vec<ReadOutcome> = JsonlChunks::new(data.as_bytes(), "f.jsonl", 1)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(errors_of(&chunks).len(), 1);
        assert!(errors_of(&chunks)[0].starts_with("f.jsonl:2: not valid JSON"));
    }

    /// Each chunk's commits' shas.
    fn shas_of(chunks: &[ReadOutcome]) -> Vec<Vec<String>> {
        (chunks.iter())
            .map(|c| {
                (c.events.iter())
                    .map(|e| match e {
                        Event::Commit(c) => c.sha.clone(),
                        other => panic!("not a commit: {other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    /// Every chunk's errors, as printed.
    fn errors_of(chunks: &[ReadOutcome]) -> Vec<String> {
        (chunks.iter())
            .flat_map(|c| &c.errors)
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn jsonl_chunks_keep_line_numbers_and_order_across_chunks_and_threads() {
        // 25,003 lines in chunks of 20,000 (the second chunk parsed on one
        // thread, the first on up to two), a bad line in each, the last
        // line without its newline, and a line that is not UTF-8.
        let good = |i: usize| {
            format!("{{\"type\":\"commit\",\"repo\":\"r\",\"sha\":\"s{i}\",\"authored_at\":\"2026-01-01T00:00:00Z\"}}\r\n")
        };
        let mut data = Vec::new();
        for i in 0..25_003 {
            match i {
                10_001 | 24_000 => data.extend_from_slice(b"{\"type\":\"commit\"}\n"),
                15_000 => data.extend_from_slice(b"{\"type\":\"commit\",\"repo\":\"\xff\"}\n"),
                _ => data.extend_from_slice(good(i).as_bytes()),
            }
        }
        data.truncate(data.len() - 2);
        let chunks: Vec<ReadOutcome> = JsonlChunks::new(&data[..], "f.jsonl", 20_000)
            .map(|c| c.unwrap())
            .collect();
        assert_eq!(chunks.len(), 2);
        let shas: Vec<String> = shas_of(&chunks).concat();
        let expected: Vec<String> = (0..25_003)
            .filter(|i| ![10_001, 15_000, 24_000].contains(i))
            .map(|i| format!("s{i}"))
            .collect();
        assert_eq!(shas, expected);
        let errors = errors_of(&chunks);
        assert_eq!(errors.len(), 3);
        assert!(errors[0].starts_with("f.jsonl:10002: "), "{errors:?}");
        assert_eq!(errors[1], "f.jsonl:15001: the line is not valid UTF-8");
        assert!(errors[2].starts_with("f.jsonl:24001: "), "{errors:?}");
    }

    /// A whole CSV file's records and errors, in one chunk.
    fn csv_whole(data: &[u8], file: &str, kind: Option<EventKind>) -> ReadOutcome {
        let mut chunks = CsvChunks::new(data, file, kind, usize::MAX).unwrap();
        let out = chunks.next().unwrap().unwrap();
        assert!(chunks.next().is_none());
        out
    }

    #[test]
    fn csv_chunks_stop_at_a_failed_read() {
        let data = b"repo,sha,authored_at\nr,a,2026-01-01T00:00:00Z\nr,b,2026-01-01T00:00:00Z\n";
        let reader = Trickle {
            data,
            fail_at_end: true,
        };
        let chunks: Vec<std::io::Result<ReadOutcome>> =
            CsvChunks::new(reader, "c.csv", Some(EventKind::Commit), 1)
                .unwrap()
                .collect();
        assert_eq!(chunks.len(), 3, "two rows, then the error");
        let err = chunks[2].as_ref().unwrap_err();
        assert_eq!(err.to_string(), "disk gone");
    }

    #[test]
    fn csv_chunks_keep_line_numbers_and_order_across_chunks_and_threads() {
        // 25,003 rows in chunks of 20,000 (the first made into records on
        // up to two threads), a row of the wrong width, a record with a
        // field missing, and a quoted cell across two lines.
        let mut data = String::from("repo,sha,authored_at,message\n");
        let mut line = 1;
        let mut expected_lines = Vec::new();
        for i in 0..25_003 {
            line += 1;
            match i {
                10_001 => data.push_str("r,s,2026-01-01T00:00:00Z,m,extra\n"),
                24_000 => data.push_str("r,,2026-01-01T00:00:00Z,m\n"),
                12_000 => {
                    data.push_str(&format!("r,s{i},2026-01-01T00:00:00Z,\"two\nlines\"\n"));
                    line += 1;
                }
                _ => data.push_str(&format!("r,s{i},2026-01-01T00:00:00Z,m\n")),
            }
            if [10_001, 24_000].contains(&i) {
                expected_lines.push(line);
            }
        }
        let chunks: Vec<ReadOutcome> =
            CsvChunks::new(data.as_bytes(), "c.csv", Some(EventKind::Commit), 20_000)
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
        assert_eq!(chunks.len(), 2);
        let shas: Vec<String> = shas_of(&chunks).concat();
        let expected: Vec<String> = (0..25_003)
            .filter(|i| ![10_001, 24_000].contains(i))
            .map(|i| format!("s{i}"))
            .collect();
        assert_eq!(shas, expected);
        let errors = errors_of(&chunks);
        assert_eq!(errors.len(), 2, "{errors:?}");
        // The row after the quoted cell is counted from the line it is on.
        assert!(
            errors[0].starts_with(&format!("c.csv:{}: malformed CSV row", expected_lines[0])),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with(&format!("c.csv:{}: ", expected_lines[1])),
            "{errors:?}"
        );
        assert!(errors[1].contains("`sha`"), "{errors:?}");
    }

    /// A reader that gives a few bytes a read, then fails if told to: lines
    /// split across reads and chunks keep their numbers, blank lines count,
    /// and a failed read ends the chunks with its error (an import is then
    /// refused whole).
    struct Trickle<'a> {
        data: &'a [u8],
        fail_at_end: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.data.is_empty() && self.fail_at_end {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = self.data.len().min(out.len()).min(7);
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn jsonl_chunks_split_across_reads_and_stop_at_a_failed_read() {
        let line = |sha: &str| {
            format!("{{\"type\":\"commit\",\"repo\":\"r\",\"sha\":\"{sha}\",\"authored_at\":\"2026-01-01T00:00:00Z\"}}")
        };
        let text = format!(
            "{}\n\n{}\n{{\"type\":\"nope\"}}\n{}",
            line("a"),
            line("b"),
            line("c")
        );
        let read = |fail_at_end| {
            let reader = Trickle {
                data: text.as_bytes(),
                fail_at_end,
            };
            JsonlChunks::new(reader, "t.jsonl", 2).collect::<Vec<_>>()
        };
        let chunks = read(false);
        assert_eq!(chunks.len(), 3);
        let chunks: Vec<ReadOutcome> = chunks.into_iter().map(|c| c.unwrap()).collect();
        let shas = shas_of(&chunks);
        assert_eq!(
            shas,
            [
                vec!["a".to_string()],
                vec!["b".to_string()],
                vec!["c".to_string()]
            ]
        );
        let errors = errors_of(&chunks);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("t.jsonl:4: "), "{errors:?}");
        // A block is read whole: the failure comes before its lines.
        let failed = read(true);
        assert_eq!(failed.len(), 1, "the error, then nothing");
        let err = failed[0].as_ref().unwrap_err();
        assert_eq!(err.to_string(), "disk gone");
    }

    #[test]
    fn csv_splits_lists_and_parses_integers() {
        let data =
            "repo,number,created_at,labels,commits\nacme/web,7,2026-01-01T00:00:00Z,bug;ui,a;b\n";
        let kind = kind_from_file_name("pull_requests.csv");
        assert_eq!(kind, Some(EventKind::PullRequest));
        let out = csv_whole(data.as_bytes(), "pull_requests.csv", kind);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let Event::PullRequest(pr) = &out.events[0] else {
            panic!()
        };
        assert_eq!(pr.number, 7);
        assert_eq!(pr.labels, vec!["bug", "ui"]);
        assert_eq!(
            pr.commits.as_deref(),
            Some(&["a".to_string(), "b".to_string()][..])
        );
    }

    #[test]
    fn csv_errors_name_the_line() {
        let data = "id,service,environment,status,commit_sha\nd1,web,production,success,abc\n";
        let out = csv_whole(
            data.as_bytes(),
            "deployments.csv",
            Some(EventKind::Deployment),
        );
        assert_eq!(
            out.errors[0].to_string(),
            "deployments.csv:2: deployment `d1`: field `finished_at` is required when status is `success`"
        );
    }
}
