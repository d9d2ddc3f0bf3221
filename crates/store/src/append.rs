//! Bulk appends: record batches through DuckDB's appender, and rows of
//! values turned into record batches typed by their table's columns (the
//! import's staged records, the link's materialised rows).

use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;

use crate::{Context, StoreError};

/// Rows per appender. One appender given more than a DuckDB row group
/// (122,880 rows) inside a transaction silently dropped them all, so each
/// appender takes less (pinned by tests/upsert.rs).
const APPEND_CHUNK: usize = 100_000;

/// Rows per Arrow record batch: one DuckDB vector.
pub(crate) const BLOCK_ROWS: usize = 2048;

/// Record batches going into one table through DuckDB's appender, at most
/// [`APPEND_CHUNK`] rows per appender.
struct Appending<'c> {
    conn: &'c Connection,
    table: &'c str,
    app: Option<duckdb::Appender<'c>>,
    in_app: usize,
}

impl<'c> Appending<'c> {
    fn new(conn: &'c Connection, table: &'c str) -> Self {
        Appending {
            conn,
            table,
            app: None,
            in_app: 0,
        }
    }

    fn push(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        let rows = batch.num_rows();
        if self.app.is_none() || self.in_app + rows > APPEND_CHUNK {
            self.flush()?;
            self.app = Some(self.conn.appender(self.table).ctx("open appender")?);
        }
        if let Some(a) = self.app.as_mut() {
            a.append_record_batch(batch)
                .ctx(&format!("append to {}", self.table))?;
        }
        self.in_app += rows;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(mut a) = self.app.take() {
            a.flush().ctx(&format!("append to {}", self.table))?;
        }
        self.in_app = 0;
        Ok(())
    }
}

/// Appends record batches through DuckDB's appender.
pub(crate) fn append_batches(
    conn: &Connection,
    table: &str,
    batches: Vec<RecordBatch>,
) -> Result<(), StoreError> {
    let mut appending = Appending::new(conn, table);
    for batch in batches {
        appending.push(batch)?;
    }
    appending.flush()
}

/// One value of a row [`append_all`] writes, borrowed from where the
/// caller keeps it (a row is an array of cells: no `String` is copied and
/// no `Vec` made per row before the Arrow columns; writing the 4.3M changes
/// of a 10M-event store made both for every row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Text(&'a str),
    /// Microseconds since the epoch (a `TIMESTAMP`).
    Ts(i64),
    Int(i64),
    Bool(bool),
    Float(f64),
}

impl<'a> Cell<'a> {
    pub(crate) fn text(s: Option<&'a str>) -> Cell<'a> {
        s.map_or(Cell::Null, Cell::Text)
    }

    pub(crate) fn ts(t: Option<i64>) -> Cell<'a> {
        t.map_or(Cell::Null, Cell::Ts)
    }

    pub(crate) fn int(i: Option<i64>) -> Cell<'a> {
        i.map_or(Cell::Null, Cell::Int)
    }

    pub(crate) fn float(f: Option<f64>) -> Cell<'a> {
        f.map_or(Cell::Null, Cell::Float)
    }
}

/// Rows past which [`append_all`] inserts through [`crate::parallel`]: the
/// appender writes on one thread, and a parallel insert costs a thread and
/// two statements more (a small import's link writes stay below).
const PARALLEL_ROWS: usize = 32 * BLOCK_ROWS;

/// Appends rows of cells to a table, in bulk: the rows become Arrow
/// record batches (one DuckDB vector each) typed by the table's columns
/// (`VARCHAR`, `TIMESTAMP`, `BIGINT`, `BOOLEAN`, `DOUBLE`), each appended
/// as soon as it is full: a lazy `rows` is never held whole. Past
/// [`PARALLEL_ROWS`] they are built on another thread and inserted on all
/// of DuckDB's, in no set order.
pub(crate) fn append_all<'a, R, I>(
    conn: &Connection,
    table: &str,
    rows: I,
) -> Result<(), StoreError>
where
    R: AsRef<[Cell<'a>]> + Send,
    I: IntoIterator<Item = R>,
    I::IntoIter: Send,
{
    let t0 = std::time::Instant::now();
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        // Nothing to write (a small import's empty link scope lists).
        return Ok(());
    }
    let types = column_types(conn, table)?;
    let schema = arrow_schema(&types);
    // The rows as record batches, a block at a time, built when asked for.
    let mut batches = {
        let schema = schema.clone();
        std::iter::from_fn(move || {
            let block: Vec<R> = rows.by_ref().take(BLOCK_ROWS).collect();
            (!block.is_empty()).then(|| cells_batch(table, &schema, &types, &block))
        })
        .peekable()
    };
    let first = (batches.by_ref())
        .take(PARALLEL_ROWS / BLOCK_ROWS)
        .collect::<Result<Vec<_>, _>>()?;
    if batches.peek().is_none() {
        append_batches(conn, table, first)?;
        crate::timing::phase(&format!("append {table}"), t0);
        return Ok(());
    }
    crate::parallel::insert(conn, table, schema, move |sender| {
        if sender.send_all(first) {
            for batch in batches {
                if !sender.send(batch?) {
                    break;
                }
            }
        }
        Ok(())
    })
}

/// The Arrow schema of a table's columns ([`column_types`]).
fn arrow_schema(types: &[(String, String)]) -> duckdb::arrow::datatypes::SchemaRef {
    use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    std::sync::Arc::new(Schema::new(
        types
            .iter()
            .map(|(name, t)| {
                let dt = match t.as_str() {
                    "VARCHAR" => DataType::Utf8,
                    "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, None),
                    "BIGINT" => DataType::Int64,
                    "BOOLEAN" => DataType::Boolean,
                    _ => DataType::Float64,
                };
                Field::new(name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// One record batch of `table` from a block of rows of cells.
fn cells_batch<'a, R: AsRef<[Cell<'a>]>>(
    table: &str,
    schema: &duckdb::arrow::datatypes::SchemaRef,
    types: &[(String, String)],
    block: &[R],
) -> Result<RecordBatch, StoreError> {
    use duckdb::arrow::array::{
        ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
        TimestampMicrosecondBuilder,
    };
    use std::sync::Arc;

    let bad = |t: &str| StoreError::Db {
        context: format!("append to {table}: a value does not fit its {t} column"),
        source: duckdb::Error::AppendError,
    };
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(types.len());
    for (i, (_, t)) in types.iter().enumerate() {
        let cells = block.iter().map(|r| r.as_ref().get(i).copied());
        // One typed builder per column: a value of another type (or
        // a type this does not know) is an error naming the column type.
        macro_rules! column {
            ($builder:expr, $value:pat => $append:expr) => {{
                let mut b = $builder;
                for v in cells {
                    match v {
                        Some($value) => b.append_value($append),
                        Some(Cell::Null) => b.append_null(),
                        _ => return Err(bad(t)),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        let array = match t.as_str() {
            "VARCHAR" => column!(StringBuilder::new(), Cell::Text(s) => s),
            "TIMESTAMP" => column!(TimestampMicrosecondBuilder::new(), Cell::Ts(us) => us),
            "BIGINT" => column!(Int64Builder::new(), Cell::Int(x) => x),
            "BOOLEAN" => column!(BooleanBuilder::new(), Cell::Bool(x) => x),
            "DOUBLE" => column!(Float64Builder::new(), Cell::Float(x) => x),
            other => return Err(bad(other)),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|_| bad("record batch"))
}

/// The columns of a table and their DuckDB types, in order. Read once
/// per table and process: every store is brought to one schema when it
/// opens, and the temporary tables appended to are always created with
/// the same columns (a small import spent a tenth of its time, 11 catalog
/// reads, asking again).
fn column_types(
    conn: &Connection,
    table: &str,
) -> Result<std::sync::Arc<[(String, String)]>, StoreError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Types = Arc<[(String, String)]>;
    static KNOWN: OnceLock<Mutex<HashMap<String, Types>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    let cached = known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(table)
        .cloned();
    if let Some(types) = cached {
        return Ok(types);
    }
    let mut stmt = conn
        .prepare("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
        .ctx("read table columns")?;
    let rows = stmt
        .query_map([table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .ctx("read table columns")?;
    let types: Types = rows
        .collect::<Result<Vec<_>, _>>()
        .ctx("read table columns")?
        .into();
    known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(table.to_string(), types.clone());
    Ok(types)
}
