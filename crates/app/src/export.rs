//! Export: the linked facts of a window and its weekly series as Parquet,
//! CSV or JSON Lines files, for warehouses and spreadsheets. DuckDB writes
//! Parquet and CSV itself (`COPY ... TO`); JSON Lines are written here (the
//! bundled DuckDB has no JSON extension).

use std::io::Write;
use std::path::{Path, PathBuf};

use flowmeter_analysis::explain::rows;
use flowmeter_analysis::{compute_grouped, GroupBy, Window};
use flowmeter_config::Config;
use flowmeter_report::flat;
use flowmeter_store::{Scoped, Store};

use crate::{AppError, Question};

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Parquet,
    Csv,
    Json,
}

impl ExportFormat {
    /// The file extension.
    pub fn ext(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "parquet",
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "jsonl",
        }
    }
}

/// The tables an export writes, in order.
pub const TABLES: [&str; 5] = [
    "deployments",
    "changes",
    "pull_requests",
    "incidents",
    "weekly",
];

const FACTS: [(&str, &str); 4] = [
    (
        "deployments",
        include_str!("../../../queries/export/deployments.sql"),
    ),
    (
        "changes",
        include_str!("../../../queries/export/changes.sql"),
    ),
    (
        "pull_requests",
        include_str!("../../../queries/export/pull_requests.sql"),
    ),
    (
        "incidents",
        include_str!("../../../queries/export/incidents.sql"),
    ),
];

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The query with the window's bounds in place of `$1`/`$2` (COPY takes no
/// parameters); the bounds are timestamps flowmeter formatted itself.
fn bound(sql: &str, window: &Window) -> String {
    sql.replace("$1", &quoted(&window.since.naive_utc().to_string()))
        .replace("$2", &quoted(&window.until.naive_utc().to_string()))
        .trim()
        .trim_end_matches(';')
        .to_string()
}

fn copy(scope: &Scoped<'_>, query: &str, path: &Path, format: &str) -> Result<usize, AppError> {
    scope
        .copy_to(query, path, format)
        .map(|n| n as usize)
        .map_err(|e| AppError::Other(format!("cannot write `{}`: {e}", path.display())))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AppError + '_ {
    move |e| AppError::Io(format!("cannot write `{}`", path.display()), e)
}

fn write_json_lines(
    path: &Path,
    columns: &[String],
    data: Vec<Vec<serde_json::Value>>,
) -> Result<(), AppError> {
    let file = std::fs::File::create(path).map_err(io(path))?;
    let mut out = std::io::BufWriter::new(file);
    for row in data {
        let object: serde_json::Map<String, serde_json::Value> =
            columns.iter().cloned().zip(row).collect();
        serde_json::to_writer(&mut out, &object).map_err(|e| io(path)(e.into()))?;
        out.write_all(b"\n").map_err(io(path))?;
    }
    out.flush().map_err(io(path))?;
    Ok(())
}

/// Writes every table of [`TABLES`] for the question's window and scope
/// into `dir` (created if missing); returns each file and its row count.
pub fn export(
    store: &mut Store,
    config: &Config,
    q: &Question,
    format: ExportFormat,
    dir: &Path,
) -> Result<Vec<(PathBuf, usize)>, AppError> {
    let window = q.metrics_window()?;
    let filters = q.filters();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    store.ensure_linked(&config.metrics)?;
    let ext = format.ext();
    let weekly = compute_grouped(store, config, window, &filters, GroupBy::Week)?;
    let scope = store.scoped(config, &filters)?;
    let mut written = Vec::new();
    for (name, sql) in FACTS {
        let path = dir.join(format!("{name}.{ext}"));
        let count = match format {
            ExportFormat::Json => {
                let (columns, data) = rows(&scope, name, sql, &window)?;
                let n = data.len();
                write_json_lines(&path, &columns, data)?;
                n
            }
            _ => copy(&scope, &bound(sql, &window), &path, ext)?,
        };
        written.push((path, count));
    }
    let path = dir.join(format!("weekly.{ext}"));
    match format {
        ExportFormat::Csv => {
            std::fs::write(&path, flat::grouped_csv(&weekly)).map_err(io(&path))?
        }
        ExportFormat::Parquet => {
            let tmp = dir.join(".weekly.csv");
            std::fs::write(&tmp, flat::grouped_csv(&weekly)).map_err(io(&tmp))?;
            let query = format!(
                "SELECT * FROM read_csv({}, header = true)",
                quoted(&tmp.display().to_string())
            );
            let done = copy(&scope, &query, &path, "parquet").map(|_| ());
            let _ = std::fs::remove_file(&tmp);
            done?;
        }
        ExportFormat::Json => {
            let file = std::fs::File::create(&path).map_err(io(&path))?;
            let mut out = std::io::BufWriter::new(file);
            for g in &weekly.groups {
                serde_json::to_writer(&mut out, g).map_err(|e| io(&path)(e.into()))?;
                out.write_all(b"\n").map_err(io(&path))?;
            }
            out.flush().map_err(io(&path))?;
        }
    }
    written.push((path, weekly.groups.len()));
    Ok(written)
}
