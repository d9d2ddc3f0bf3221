//! Readers for JSON Lines and CSV files in the interchange format.
//!
//! Both return every valid record with its line number and every invalid
//! line as a [`LineError`]; whether one bad line refuses the whole file
//! (`--strict`) or is only reported (`--skip-invalid`) is the caller's call.

use std::io::BufRead;

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

/// The records of one file, valid and invalid.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub events: Vec<Event>,
    pub errors: Vec<LineError>,
}

impl ReadOutcome {
    fn push(&mut self, file: &str, line: u64, result: Result<Event, FieldError>) {
        match result {
            Ok(e) => self.events.push(e),
            Err(error) => self.errors.push(LineError {
                file: file.to_string(),
                line,
                error,
            }),
        }
    }
}

/// Reads JSON Lines: one record per line; blank lines are skipped.
pub fn read_jsonl(reader: impl BufRead, file: &str) -> std::io::Result<ReadOutcome> {
    let mut out = ReadOutcome::default();
    for chunk in JsonlChunks::new(reader, file, usize::MAX) {
        let chunk = chunk?;
        out.events.extend(chunk.events);
        out.errors.extend(chunk.errors);
    }
    Ok(out)
}

/// JSON Lines read a chunk of lines at a time, each chunk parsed on all
/// cores: large files stream through in bounded memory.
pub struct JsonlChunks<R> {
    reader: R,
    file: String,
    chunk_lines: usize,
    line: u64,
    done: bool,
}

impl<R: BufRead> JsonlChunks<R> {
    pub fn new(reader: R, file: &str, chunk_lines: usize) -> Self {
        JsonlChunks {
            reader,
            file: file.to_string(),
            chunk_lines: chunk_lines.max(1),
            line: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for JsonlChunks<R> {
    type Item = std::io::Result<ReadOutcome>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let first_line = self.line + 1;
        let mut lines = Vec::new();
        while lines.len() < self.chunk_lines {
            let mut buf = String::new();
            match self.reader.read_line(&mut buf) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {
                    self.line += 1;
                    lines.push(buf);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        if lines.is_empty() {
            return None;
        }
        Some(Ok(parse_lines(&lines, &self.file, first_line)))
    }
}

/// Parses lines (numbered from `first_line`) on all cores, keeping order.
fn parse_lines(lines: &[String], file: &str, first_line: u64) -> ReadOutcome {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(lines.len().div_ceil(10_000).max(1));
    let per = lines.len().div_ceil(threads);
    let parts: Vec<Vec<(u64, Result<Event, FieldError>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per)
            .enumerate()
            .map(|(k, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .filter(|(_, l)| !l.trim().is_empty())
                        .map(|(i, l)| {
                            let n = first_line + (k * per + i) as u64;
                            (n, event_from_text(l.trim()))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a parser thread panicked"))
            .collect()
    });
    let mut out = ReadOutcome::default();
    for (line, result) in parts.into_iter().flatten() {
        out.push(file, line, result);
    }
    out
}

/// Columns whose cells hold `;`-separated lists.
const LIST_COLUMNS: &[&str] = &[
    "commits", "parents", "labels", "services", "files", "owners",
];
/// Columns whose cells hold integers.
const INT_COLUMNS: &[&str] = &["number", "pr", "additions", "deletions"];

/// Reads one CSV file of one record type: a header row of EVENTS.md field
/// names, then one record per row; empty cells are absent fields. The type
/// comes from a `type` column, else from `kind` (usually the file name).
pub fn read_csv(
    reader: impl std::io::Read,
    file: &str,
    kind: Option<EventKind>,
) -> Result<ReadOutcome, LineError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let header_error = |message: String| LineError {
        file: file.to_string(),
        line: 1,
        error: FieldError {
            label: None,
            field: None,
            message,
        },
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
    let mut out = ReadOutcome::default();
    for row in csv.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                out.push(
                    file,
                    line,
                    Err(FieldError {
                        label: None,
                        field: None,
                        message: format!("malformed CSV row: {e}"),
                    }),
                );
                continue;
            }
        };
        let line = row.position().map(|p| p.line()).unwrap_or(0);
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
        out.push(file, line, event_from_json(Value::Object(map)));
    }
    Ok(out)
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

    #[test]
    fn csv_splits_lists_and_parses_integers() {
        let data =
            "repo,number,created_at,labels,commits\nacme/web,7,2026-01-01T00:00:00Z,bug;ui,a;b\n";
        let kind = kind_from_file_name("pull_requests.csv");
        assert_eq!(kind, Some(EventKind::PullRequest));
        let out = read_csv(data.as_bytes(), "pull_requests.csv", kind).unwrap();
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
        let out = read_csv(
            data.as_bytes(),
            "deployments.csv",
            Some(EventKind::Deployment),
        )
        .unwrap();
        assert_eq!(
            out.errors[0].to_string(),
            "deployments.csv:2: deployment `d1`: field `finished_at` is required when status is `success`"
        );
    }
}
