//! `flowmeter export`: the linked facts of a window and its weekly series
//! as Parquet, CSV or JSON Lines files, for warehouses and spreadsheets.
//! DuckDB writes Parquet and CSV itself (`COPY ... TO`); JSON Lines are
//! written here (the bundled DuckDB has no JSON extension).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use flowmeter_analysis::explain::rows;
use flowmeter_analysis::{compute, compute_grouped, GroupBy, Window};
use flowmeter_report::flat;
use flowmeter_store::Store;

use super::filters_of;
use super::metrics::window_of;
use crate::cli::{ExportArgs, ExportFormat};
use crate::Env;

const FACTS: [(&str, &str); 4] = [
    (
        "deployments",
        include_str!("../../queries/export/deployments.sql"),
    ),
    ("changes", include_str!("../../queries/export/changes.sql")),
    (
        "pull_requests",
        include_str!("../../queries/export/pull_requests.sql"),
    ),
    (
        "incidents",
        include_str!("../../queries/export/incidents.sql"),
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

fn copy(store: &Store, query: &str, path: &Path, format: &str) -> Result<()> {
    let sql = format!(
        "COPY ({query}) TO {} (FORMAT {format})",
        quoted(&path.display().to_string())
    );
    store
        .conn()
        .execute_batch(&sql)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn write_json_lines(
    path: &Path,
    columns: &[String],
    data: Vec<Vec<serde_json::Value>>,
) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for row in data {
        let object: serde_json::Map<String, serde_json::Value> =
            columns.iter().cloned().zip(row).collect();
        serde_json::to_writer(&mut out, &object)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

pub fn run(env: &Env, args: ExportArgs) -> Result<ExitCode> {
    let window = window_of(&args.window)?;
    let filters = filters_of(&args.window.filters);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let mut store = Store::open(&env.db)?;
    store.ensure_linked(&env.config.metrics)?;
    let ext = match args.format {
        ExportFormat::Parquet => "parquet",
        ExportFormat::Csv => "csv",
        ExportFormat::Json => "jsonl",
    };
    // The weekly series first; `compute` then leaves the scope views of the
    // filters in place for the fact queries.
    let weekly = compute_grouped(store.conn(), &env.config, window, &filters, GroupBy::Week)
        .context("computing the weekly series")?;
    compute(store.conn(), &env.config, window, &filters).context("computing metrics")?;
    let mut written = Vec::new();
    for (name, sql) in FACTS {
        let path = args.out.join(format!("{name}.{ext}"));
        let count = match args.format {
            ExportFormat::Json => {
                let (columns, data) = rows(store.conn(), name, sql, &window)?;
                let n = data.len();
                write_json_lines(&path, &columns, data)?;
                n
            }
            _ => {
                let query = bound(sql, &window);
                copy(&store, &query, &path, ext)?;
                store
                    .conn()
                    .query_row(&format!("SELECT count(*) FROM ({query})"), [], |r| {
                        r.get::<_, i64>(0)
                    })? as usize
            }
        };
        written.push((path, count));
    }
    let path = args.out.join(format!("weekly.{ext}"));
    match args.format {
        ExportFormat::Csv => std::fs::write(&path, flat::grouped_csv(&weekly))
            .with_context(|| format!("cannot write `{}`", path.display()))?,
        ExportFormat::Parquet => {
            let tmp = tempfile::Builder::new().suffix(".csv").tempfile()?;
            std::fs::write(tmp.path(), flat::grouped_csv(&weekly))?;
            let query = format!(
                "SELECT * FROM read_csv({}, header = true)",
                quoted(&tmp.path().display().to_string())
            );
            copy(&store, &query, &path, "parquet")?;
        }
        ExportFormat::Json => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create `{}`", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            for g in &weekly.groups {
                serde_json::to_writer(&mut out, g)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
    }
    written.push((path, weekly.groups.len()));
    for (path, n) in &written {
        env.say(format!("wrote {n:>7} rows to `{}`", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}
