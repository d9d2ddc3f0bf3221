//! A small merge compared in memory: the staged records of one type (held
//! as the Arrow batches they were appended from) against the stored rows of
//! their keys (read once, as Arrow), row by row in Rust; the rows that
//! differ go out by row id and their replacements in through the appender.
//!
//! It writes what [`crate::import`]'s SQL merge writes, with the same rules
//! (a key's stored row is replaced when any column `IS DISTINCT FROM` the
//! staged one; a staged record leaving out a [`KEPT_WHEN_ABSENT`] field
//! keeps the stored value), and notes what it touched the same way. It
//! takes the merges of a few thousand keys that came once each, outside
//! patch mode: the SQL merge's comparison table, the query noting what
//! changed and the `INSERT ... SELECT` from it cost a small import into
//! the 1M-event store about 30 ms over its five record types.

use std::collections::HashMap;
use std::sync::Arc;

use duckdb::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use duckdb::arrow::compute::{cast, concat_batches, interleave, take};
use duckdb::arrow::datatypes::{
    DataType, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::Value;
use duckdb::Connection;
use flowmeter_model::EventKind;

use crate::append::{append_batches, BLOCK_ROWS};
use crate::link::Touched;
use crate::records::{table_of, KindCounts, KEPT_WHEN_ABSENT};
use crate::{Context, StoreError};

/// One column's value in a natural key (keys are never null).
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyPart<'a> {
    Text(&'a str),
    Int(i64),
}

/// A column type this comparison reads: what the staging batches hold
/// (`crate::columns`) and what DuckDB hands back for the same columns.
fn known(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::Int64 => true,
        DataType::Timestamp(TimeUnit::Microsecond, None) => true,
        DataType::List(item) => item.data_type() == &DataType::Utf8,
        _ => false,
    }
}

/// Whether row `i` of `a` and row `j` of `b`, of one [`known`] type, hold
/// the same value; two nulls are the same (SQL's `IS NOT DISTINCT FROM`).
fn same(a: &dyn Array, i: usize, b: &dyn Array, j: usize) -> bool {
    match (a.is_null(i), b.is_null(j)) {
        (true, true) => return true,
        (false, false) => {}
        _ => return false,
    }
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i) == b.as_string::<i32>().value(j),
        DataType::Int64 => {
            a.as_primitive::<Int64Type>().value(i) == b.as_primitive::<Int64Type>().value(j)
        }
        DataType::Timestamp(..) => {
            (a.as_primitive::<TimestampMicrosecondType>()).value(i)
                == (b.as_primitive::<TimestampMicrosecondType>()).value(j)
        }
        DataType::List(_) => {
            let (x, y) = (a.as_list::<i32>().value(i), b.as_list::<i32>().value(j));
            x.len() == y.len() && (0..x.len()).all(|k| same(&x, k, &y, k))
        }
        _ => false,
    }
}

/// The key of row `i`: the values of the columns at `at`.
fn key_of<'a>(batch: &'a RecordBatch, at: &[usize], i: usize) -> Vec<KeyPart<'a>> {
    at.iter()
        .map(|&c| {
            let col = batch.column(c);
            match col.data_type() {
                DataType::Int64 => KeyPart::Int(col.as_primitive::<Int64Type>().value(i)),
                _ => KeyPart::Text(col.as_string::<i32>().value(i)),
            }
        })
        .collect()
}

fn arrow_error(table: &str) -> impl Fn(ArrowError) -> StoreError + '_ {
    move |e| StoreError::Db {
        context: format!("compare {table}: {e}"),
        source: duckdb::Error::AppendError,
    }
}

/// The staged records' keys as a relation (`(SELECT unnest(?::VARCHAR[])
/// AS repo, ...)`, the key columns zipped) and its parameters, one list
/// per key column: what the stored rows are looked up by, without a
/// staging table (creating and filling one cost a small import 1.7 ms a
/// record type).
pub(crate) fn staged_keys(kind: EventKind, staged: &[RecordBatch]) -> (String, Vec<Value>) {
    let (_, key) = table_of(kind);
    let mut columns = Vec::new();
    let mut lists = Vec::new();
    for k in key {
        let Some(c) = crate::columns::position(kind, k) else {
            continue;
        };
        let mut values = Vec::new();
        let mut sql_type = "VARCHAR";
        for b in staged {
            let col = b.column(c);
            match col.data_type() {
                DataType::Int64 => {
                    sql_type = "BIGINT";
                    let ints = col.as_primitive::<Int64Type>();
                    values.extend((0..ints.len()).map(|i| Value::BigInt(ints.value(i))));
                }
                _ => {
                    let texts = col.as_string::<i32>();
                    values.extend((0..texts.len()).map(|i| Value::Text(texts.value(i).into())));
                }
            }
        }
        columns.push(format!("unnest(?::{sql_type}[]) AS {k}"));
        lists.push(Value::List(values));
    }
    (format!("(SELECT {})", columns.join(", ")), lists)
}

/// Merges `staged` (batches of `kind`'s columns then `seq__`, each key
/// once) against the rows `stored_sql` reads with `params` (`rowid__`,
/// then the table's columns: the stored rows of the staged keys, and
/// maybe more).
/// `None` when the stored columns are not of the types this compares (the
/// SQL merge takes it then).
pub(crate) fn merge(
    conn: &Connection,
    kind: EventKind,
    staged: &[RecordBatch],
    stored_sql: &str,
    params: &[Value],
    touched: Option<&mut Touched>,
) -> Result<Option<KindCounts>, StoreError> {
    let (table, key) = table_of(kind);
    let what = format!("compare {table}");
    let Some(first) = staged.first() else {
        return Ok(Some(KindCounts::default()));
    };
    let fail = arrow_error(table);
    let s = concat_batches(&first.schema(), staged).map_err(&fail)?;
    let columns = s.num_columns() - 1; // without `seq__`
    let stored: Vec<RecordBatch> = {
        let mut stmt = conn.prepare(stored_sql).ctx(&what)?;
        let params = duckdb::params_from_iter(params.iter());
        stmt.query_arrow(params).ctx(&what)?.collect()
    };
    let t = match stored.first() {
        Some(b) => concat_batches(&b.schema(), &stored).map_err(&fail)?,
        None => RecordBatch::new_empty(stored_schema(&s)),
    };
    // `rowid__` then the same columns, of types read alike.
    let fits = t.num_columns() == columns + 1
        && t.column(0).data_type() == &DataType::Int64
        && (0..columns).all(|c| {
            let (a, b) = (s.column(c).data_type(), t.column(c + 1).data_type());
            known(a) && crate::columns::alike(a, b)
        });
    if !fits {
        return Ok(None);
    }
    let names: Vec<&str> = crate::columns::names(kind).collect();
    let key_at: Vec<usize> = (key.iter())
        .filter_map(|k| crate::columns::position(kind, k))
        .collect();
    let stored_key_at: Vec<usize> = key_at.iter().map(|c| c + 1).collect();
    let by_key: HashMap<Vec<KeyPart>, usize> = (0..t.num_rows())
        .map(|j| (key_of(&t, &stored_key_at, j), j))
        .collect();
    let kept: Vec<bool> = names.iter().map(|n| KEPT_WHEN_ABSENT.contains(n)).collect();
    // The staged rows to write, each with the stored row it replaces.
    let mut written: Vec<(usize, Option<usize>)> = Vec::new();
    for i in 0..s.num_rows() {
        let stored = by_key.get(&key_of(&s, &key_at, i)).copied();
        let differs = match stored {
            None => true,
            Some(j) => (0..columns).any(|c| {
                let (a, b) = (s.column(c), t.column(c + 1));
                // A kept field left out takes the stored value: no change.
                let left_out = kept[c] && a.is_null(i);
                !left_out && !same(a, i, b, j)
            }),
        };
        if differs {
            written.push((i, stored));
        }
    }
    let replaced: Vec<i64> = {
        let rowid = t.column(0).as_primitive::<Int64Type>();
        written
            .iter()
            .filter_map(|&(_, j)| j.map(|j| rowid.value(j)))
            .collect()
    };
    if let Some(touched) = touched.filter(|_| !written.is_empty()) {
        note(kind, &s, &t, &written, touched);
    }
    if !replaced.is_empty() {
        // As one list parameter: as literals, DuckDB took 4 ms to plan
        // the 577 of a small import's pull requests, against 1.4 ms.
        let ids = Value::List(replaced.iter().map(|&r| Value::BigInt(r)).collect());
        conn.execute(
            &format!("DELETE FROM {table} WHERE rowid IN (SELECT unnest(?::BIGINT[]))"),
            [ids],
        )
        .ctx(&format!("replace {table}"))?;
    }
    // A batch per DuckDB vector: the appender copies a list column's
    // values per vector it appends, from the whole batch.
    let fields = Arc::new(Schema::new(s.schema().fields()[..columns].to_vec()));
    let mut batches = Vec::new();
    for chunk in written.chunks(BLOCK_ROWS) {
        let take_staged = UInt32Array::from_iter_values(chunk.iter().map(|&(i, _)| i as u32));
        let out = (0..columns)
            .map(|c| -> Result<ArrayRef, ArrowError> {
                let a = s.column(c);
                // A kept field left out: the stored row's value.
                let from_stored = |&(i, j): &(usize, Option<usize>)| j.filter(|_| a.is_null(i));
                if !kept[c] || !chunk.iter().any(|w| from_stored(w).is_some()) {
                    return take(a, &take_staged, None);
                }
                let b = cast(t.column(c + 1), a.data_type())?;
                let picks: Vec<(usize, usize)> = (chunk.iter())
                    .map(|w| from_stored(w).map_or((0, w.0), |j| (1, j)))
                    .collect();
                interleave(&[a.as_ref(), b.as_ref()], &picks)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(&fail)?;
        batches.push(RecordBatch::try_new(fields.clone(), out).map_err(&fail)?);
    }
    if !batches.is_empty() {
        append_batches(conn, table, batches)?;
    }
    let (total, written_n, updated) = (s.num_rows(), written.len(), replaced.len());
    Ok(Some(KindCounts {
        inserted: (written_n - updated) as u64,
        updated: updated as u64,
        unchanged: (total - written_n) as u64,
    }))
}

/// The schema of stored rows when none came: `rowid__`, then the staged
/// columns.
fn stored_schema(staged: &RecordBatch) -> SchemaRef {
    let schema = staged.schema();
    let fields = schema.fields();
    let rowid = Arc::new(duckdb::arrow::datatypes::Field::new(
        "rowid__",
        DataType::Int64,
        false,
    ));
    let columns = fields[..fields.len() - 1].iter().cloned();
    Arc::new(Schema::new(
        std::iter::once(rowid).chain(columns).collect::<Vec<_>>(),
    ))
}

/// What the written records touch, as `import`'s `note_touched` reads it
/// from the SQL merge's comparison table: a repository's records, their
/// repository; a deployment, its service and id, and the service of the
/// stored version it replaces; an incident, its services, the deployment
/// it names and itself, and the services and deployment of the version it
/// replaces.
fn note(
    kind: EventKind,
    s: &RecordBatch,
    t: &RecordBatch,
    written: &[(usize, Option<usize>)],
    touched: &mut Touched,
) {
    let at = |name: &str| crate::columns::position(kind, name);
    // Column `name` of the staged rows, and of the stored ones.
    let text = |b: &RecordBatch, offset: usize, name: &str, i: usize| -> Option<String> {
        let col = b.column(at(name)? + offset);
        (!col.is_null(i)).then(|| col.as_string::<i32>().value(i).to_string())
    };
    let list = |b: &RecordBatch, offset: usize, name: &str, i: usize| -> Vec<String> {
        let Some(c) = at(name) else { return Vec::new() };
        let col = b.column(c + offset);
        if col.is_null(i) {
            return Vec::new();
        }
        let items = col.as_list::<i32>().value(i);
        let items = items.as_string::<i32>();
        (0..items.len())
            .filter(|&k| !items.is_null(k))
            .map(|k| items.value(k).to_string())
            .collect()
    };
    for &(i, j) in written {
        match kind {
            EventKind::Commit | EventKind::PullRequest | EventKind::Review => {
                touched.repos.extend(text(s, 0, "repo", i));
            }
            EventKind::Deployment => {
                touched.services.extend(text(s, 0, "service", i));
                touched.deployment_ids.extend(text(s, 0, "id", i));
                if let Some(j) = j {
                    touched.services.extend(text(t, 1, "service", j));
                }
            }
            EventKind::Incident => {
                touched.services.extend(list(s, 0, "services", i));
                touched.incident_ids.extend(text(s, 0, "deployment_id", i));
                if let (Some(source), Some(id)) = (text(s, 0, "source", i), text(s, 0, "id", i)) {
                    touched.incidents.insert((source, id));
                }
                if let Some(j) = j {
                    touched.services.extend(list(t, 1, "services", j));
                    touched.incident_ids.extend(text(t, 1, "deployment_id", j));
                }
            }
        }
    }
}
