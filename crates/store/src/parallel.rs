//! Large appends as one `INSERT … SELECT` that DuckDB runs on all its
//! threads.
//!
//! DuckDB's appender converts, compresses and writes what it is given on
//! the calling thread alone: the 4.3M changes a 10M-event import links took
//! 4.7 s there while the machine's other core waited. Here a producer
//! thread builds the record batches and sends them down a bounded channel;
//! a table function, `flowmeter_batches(token)`, hands them to whichever of
//! DuckDB's threads asks, each of which converts its batches and writes its
//! own row groups. The rows land in no set order (the insert runs with
//! `preserve_insertion_order` off for its session), so this is for appends
//! whose order nothing reads: a table of links, or records whose keys are
//! each given once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use duckdb::arrow::datatypes::{DataType, SchemaRef};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{
    record_batch_to_duckdb_data_chunk, to_duckdb_logical_type_for_field, BindInfo, InitInfo,
    TableFunctionInfo, VTab,
};
use duckdb::Connection;

use crate::{Context, StoreError};

/// The table function's name.
const FUNCTION: &str = "flowmeter_batches";

/// Batches in flight between the producer and DuckDB's threads: enough to
/// keep both busy, few enough to bound memory.
const IN_FLIGHT: usize = 8;

/// Resets what [`insert`] sets for its session. An insert that fails
/// leaves its transaction aborted, where no `RESET` runs: whoever rolls
/// the transaction back runs this after (otherwise the session's later
/// appends, which DuckDB runs as inserts too, would lose their order).
pub(crate) const RESET_SQL: &str = "RESET SESSION preserve_insertion_order;";

/// Rows per batch handed to DuckDB: one vector of this build of DuckDB.
fn vector_rows() -> usize {
    // SAFETY: a constant of the linked library, no state.
    (unsafe { duckdb::ffi::duckdb_vector_size() } as usize).max(1)
}

/// The batches of one insert, as the table function finds them.
struct Feed {
    schema: SchemaRef,
    batches: Mutex<Receiver<RecordBatch>>,
}

/// The inserts under way, by token: table functions are registered with
/// the database, not with a statement, so a statement names its feed.
static FEEDS: LazyLock<Mutex<HashMap<i64, Arc<Feed>>>> = LazyLock::new(Default::default);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

fn feeds() -> std::sync::MutexGuard<'static, HashMap<i64, Arc<Feed>>> {
    FEEDS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `flowmeter_batches(token)`: the batches sent to the feed `token`.
struct Batches;

impl VTab for Batches {
    type BindData = Arc<Feed>;
    type InitData = ();

    fn bind(bind: &BindInfo) -> Result<Self::BindData, Box<dyn std::error::Error>> {
        let token = bind.get_parameter(0).to_int64();
        let feed = feeds()
            .get(&token)
            .cloned()
            .ok_or_else(|| format!("{FUNCTION}: no insert under way as {token}"))?;
        for field in feed.schema.fields() {
            bind.add_result_column(field.name(), to_duckdb_logical_type_for_field(field)?);
        }
        Ok(feed)
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, Box<dyn std::error::Error>> {
        // As many threads as DuckDB has: it takes the smaller.
        init.set_max_threads(u16::MAX as _);
        Ok(())
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        // The lock is held only to take the next batch; its conversion runs
        // alongside the other threads'.
        let feed = func.get_bind_data();
        let next = feed
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        match next {
            Ok(batch) => convert_into(&batch, &feed.schema, output)?,
            // The producer is done: so is the scan.
            Err(_) => output.set_len(0),
        }
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)])
    }
}

/// Converts `batch` for DuckDB and hands it over in `output`.
///
/// Not written into `output` itself: DuckDB gives a table function an
/// output chunk whose strings go to memory its buffer manager counts, and
/// past `FLOWMETER_MEMORY_LIMIT` writing one throws a C++ exception, which
/// DuckDB's C API lets through this Rust callback, where it aborts the
/// process ("Rust cannot catch foreign exceptions": one 1M-event import in
/// six with `FLOWMETER_MEMORY_LIMIT=64MB`). The batch is written into a
/// chunk of its own (`duckdb_create_data_chunk`: the ordinary allocator,
/// which the limit does not count and which does not throw at it), and
/// `output` references that chunk's vectors, which allocates nothing. Past
/// the limit, DuckDB then fails where it copies the rows into the table,
/// inside its own code: the insert returns an error and the import rolls
/// back.
///
/// The batch must have the column types the output was bound with
/// (`schema`): referenced, a vector of another type would be read as the
/// bound one.
fn convert_into(
    batch: &RecordBatch,
    schema: &SchemaRef,
    output: &mut DataChunkHandle,
) -> Result<(), Box<dyn std::error::Error>> {
    let (sent, bound) = (batch.schema(), schema);
    let fits = sent.fields().len() == bound.fields().len()
        && (sent.fields().iter().zip(bound.fields().iter()))
            .all(|(a, b)| crate::columns::alike(a.data_type(), b.data_type()));
    if !fits {
        let types = |s: &SchemaRef| -> Vec<DataType> {
            s.fields().iter().map(|f| f.data_type().clone()).collect()
        };
        return Err(format!(
            "{FUNCTION}: a batch of columns {:?} where {:?} were bound",
            types(&sent),
            types(bound)
        )
        .into());
    }
    let types = (schema.fields().iter())
        .map(|f| to_duckdb_logical_type_for_field(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut own = DataChunkHandle::new(&types);
    if own.get_ptr().is_null() {
        return Err(format!("{FUNCTION}: DuckDB made no chunk of the batch's types").into());
    }
    record_batch_to_duckdb_data_chunk(batch, &mut own)?;
    for column in 0..own.num_columns() as u64 {
        // SAFETY: both chunks are alive and have this column, of the same
        // type (the output's columns are the schema's, from `bind`); the
        // output shares the vector's buffers, so they outlive `own`.
        unsafe {
            duckdb::ffi::duckdb_vector_reference_vector(
                duckdb::ffi::duckdb_data_chunk_get_vector(output.get_ptr(), column),
                duckdb::ffi::duckdb_data_chunk_get_vector(own.get_ptr(), column),
            );
        }
    }
    output.set_len(own.len());
    Ok(())
}

/// Makes `flowmeter_batches` known to the database of `conn` (once per
/// database; again replaces it).
pub(crate) fn register(conn: &Connection) -> Result<(), StoreError> {
    conn.register_table_function::<Batches>(FUNCTION)
        .ctx("register the parallel insert")
}

/// Where a producer sends its batches; `false` once the insert wants no
/// more (it failed): the producer stops.
pub(crate) struct Sender<'s> {
    tx: std::sync::mpsc::SyncSender<RecordBatch>,
    stop: &'s AtomicBool,
}

impl Sender<'_> {
    /// Sends `batch`, cut into vectors; `false` when the insert wants no more.
    pub(crate) fn send(&mut self, batch: RecordBatch) -> bool {
        let vector = vector_rows();
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = vector.min(batch.num_rows() - offset);
            let part = batch.slice(offset, len);
            if self.stop.load(Ordering::Relaxed) || self.tx.send(part).is_err() {
                return false;
            }
            offset += len;
        }
        true
    }

    /// Sends each of `batches` in turn ([`Sender::send`]); `false` when the
    /// insert wants no more.
    pub(crate) fn send_all(&mut self, batches: Vec<RecordBatch>) -> bool {
        batches.into_iter().all(|batch| self.send(batch))
    }
}

/// The end of an insert, on every path: its feed is let go, and a
/// producer still sending (the insert failed) stops at its next send, one
/// blocked on a full channel let go by reading what is left.
struct Ends<'f> {
    token: i64,
    feed: &'f Feed,
    stop: &'f AtomicBool,
}

impl Drop for Ends<'_> {
    fn drop(&mut self) {
        feeds().remove(&self.token);
        self.stop.store(true, Ordering::Relaxed);
        let rx = self
            .feed
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while rx.recv().is_ok() {}
    }
}

/// Inserts into `table` (whose columns are `schema`'s, by name) every batch
/// `produce` sends, with one `INSERT` DuckDB runs on all its threads while
/// `produce` runs on another. The rows land in no set order. An error of
/// either the insert or `produce` is returned, the insert's first; the
/// caller's transaction then holds part of the rows, and is rolled back.
pub(crate) fn insert<P>(
    conn: &Connection,
    table: &str,
    schema: SchemaRef,
    produce: P,
) -> Result<(), StoreError>
where
    P: FnOnce(&mut Sender<'_>) -> Result<(), StoreError> + Send,
{
    let t0 = std::time::Instant::now();
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed) as i64;
    let columns = schema
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name().replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ");
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let feed = Arc::new(Feed {
        schema,
        batches: Mutex::new(rx),
    });
    feeds().insert(token, feed.clone());
    let stop = AtomicBool::new(false);
    let (inserted, produced) = std::thread::scope(|scope| {
        let mut sender = Sender { tx, stop: &stop };
        let producer = scope.spawn(move || produce(&mut sender));
        let inserted = {
            // Lets the producer go however this ends, a panic included.
            let _ends = Ends {
                token,
                feed: &feed,
                stop: &stop,
            };
            let inserted = conn
                .execute_batch("SET SESSION preserve_insertion_order = false;")
                .and_then(|_| {
                    conn.execute(
                        &format!(
                            "INSERT INTO {table} ({columns}) SELECT * FROM {FUNCTION}({token})"
                        ),
                        [],
                    )
                });
            inserted.and(conn.execute_batch(RESET_SQL))
        };
        let produced = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (inserted, produced)
    });
    inserted.ctx(&format!("insert into {table}"))?;
    produced?;
    crate::timing::phase(&format!("insert {table} (parallel)"), t0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::append::{append_all, Cell};
    use duckdb::arrow::array::Int64Array;
    use duckdb::arrow::datatypes::{DataType, Field, Schema};

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        conn
    }

    /// Runs `sql` (which creates a table of one `k BIGINT` column) and
    /// gives the schema of [`numbers`].
    fn numbers_table(conn: &Connection, sql: &str) -> SchemaRef {
        conn.execute_batch(sql).unwrap();
        numbers(0, 1).schema()
    }

    fn numbers(from: i64, n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    #[test]
    fn rows_past_the_threshold_are_each_written_once() {
        let conn = conn();
        conn.execute_batch(
            "CREATE TABLE parallel_rows (k BIGINT, s VARCHAR, t TIMESTAMP, ok BOOLEAN, x DOUBLE)",
        )
        .unwrap();
        let n = 200_003usize;
        let names: Vec<String> = (0..n).map(|i| format!("name {i}")).collect();
        let rows = (0..n).map(|i| {
            [
                Cell::Int(i as i64),
                if i % 10 == 0 {
                    Cell::Null
                } else {
                    Cell::Text(&names[i])
                },
                Cell::Ts(i as i64 * 1_000_000),
                Cell::Bool(i % 2 == 0),
                Cell::Float(i as f64 / 2.0),
            ]
        });
        append_all(&conn, "parallel_rows", rows).unwrap();
        let got: (i64, i64, i64, i64, i64, i64) = conn
            .query_row(
                "SELECT count(*), count(DISTINCT k), max(k), count(s),
                        count(*) FILTER (WHERE s <> 'name ' || k
                          OR epoch_us(t) <> k * 1000000 OR ok <> (k % 2 = 0) OR x <> k / 2),
                        sum(k)::BIGINT
                 FROM parallel_rows",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        let n = n as i64;
        assert_eq!(got, (n, n, n - 1, n - (n + 9) / 10, 0, n * (n - 1) / 2));
    }

    /// Past DuckDB's memory limit, an insert of strings is an error, never
    /// an abort: DuckDB's exception once came through the table function.
    #[test]
    fn an_insert_past_the_memory_limit_fails_and_the_process_lives() {
        use duckdb::arrow::array::StringArray;
        let conn = conn();
        conn.execute_batch(
            "CREATE TABLE parallel_tight (k BIGINT, s VARCHAR);
             SET temp_directory = ''; SET memory_limit = '4MB';",
        )
        .unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        // Rows of 100 kB: one batch's strings alone pass the limit, so
        // DuckDB cannot hold them where it once converted them.
        let batch = |from: i64| {
            let rows = from..from + 64;
            let s = StringArray::from_iter_values(
                rows.clone().map(|i| format!("{i}{}", "x".repeat(100_000))),
            );
            let k = Int64Array::from_iter_values(rows);
            RecordBatch::try_new(schema.clone(), vec![Arc::new(k), Arc::new(s)]).unwrap()
        };
        for _ in 0..3 {
            let err = insert(&conn, "parallel_tight", schema.clone(), |sender| {
                for i in 0..20 {
                    if !sender.send(batch(i * 64)) {
                        break;
                    }
                }
                Ok(())
            })
            .unwrap_err();
            assert!(matches!(err, StoreError::OutOfMemory { .. }), "{err}");
        }
    }

    /// Lists and strings reach the table as sent, NULLs included, from
    /// the chunks DuckDB's threads take by reference.
    #[test]
    fn lists_and_strings_arrive_whole() {
        use duckdb::arrow::array::{ListBuilder, StringArray, StringBuilder};
        let conn = conn();
        conn.execute_batch("CREATE TABLE parallel_lists (k BIGINT, s VARCHAR, l VARCHAR[])")
            .unwrap();
        let item = Field::new("item", DataType::Utf8, true);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("l", DataType::List(Arc::new(item)), true),
        ]));
        // Row k: `s` is "text k" (NULL when k % 7 = 0); `l` holds k % 4
        // items "k-0", ... (NULL when k % 5 = 0, an item NULL when k % 11 = 0).
        let batch = |from: i64, n: i64| {
            let rows = from..from + n;
            let s = StringArray::from_iter(
                rows.clone()
                    .map(|k| (k % 7 != 0).then(|| format!("text {k}"))),
            );
            let mut l = ListBuilder::new(StringBuilder::new());
            for k in rows.clone() {
                if k % 5 == 0 {
                    l.append(false);
                    continue;
                }
                for i in 0..k % 4 {
                    match k % 11 == 0 && i == 0 {
                        true => l.values().append_null(),
                        false => l.values().append_value(format!("{k}-{i}")),
                    }
                }
                l.append(true);
            }
            let k = Int64Array::from_iter_values(rows);
            let columns: Vec<duckdb::arrow::array::ArrayRef> =
                vec![Arc::new(k), Arc::new(s), Arc::new(l.finish())];
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        };
        insert(&conn, "parallel_lists", schema.clone(), |sender| {
            for i in 0..40 {
                sender.send(batch(i * 2048, 2048));
            }
            Ok(())
        })
        .unwrap();
        let wrong: i64 = conn
            .query_row(
                "SELECT count(*) FROM parallel_lists
                 WHERE s IS DISTINCT FROM CASE WHEN k % 7 <> 0 THEN 'text ' || k END
                    OR l IS DISTINCT FROM CASE WHEN k % 5 <> 0 THEN
                         list_transform(range(k % 4), lambda i: CASE WHEN k % 11 = 0 AND i = 0
                           THEN NULL ELSE k || '-' || i END) END",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let rows: (i64, i64) = conn
            .query_row(
                "SELECT count(*), count(DISTINCT k) FROM parallel_lists",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((rows, wrong), ((40 * 2048, 40 * 2048), 0));
    }

    /// A batch whose columns are not the bound ones fails the insert (its
    /// vectors would be read as the bound types).
    #[test]
    fn a_batch_of_other_columns_fails_the_insert() {
        use duckdb::arrow::array::StringArray;
        let conn = conn();
        let schema = numbers_table(&conn, "CREATE TABLE parallel_other (k BIGINT)");
        let texts = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        let other = RecordBatch::try_new(texts, vec![Arc::new(StringArray::from(vec!["x"]))]);
        let err = insert(&conn, "parallel_other", schema, |sender| {
            sender.send(other.unwrap());
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("were bound"), "{err}");
    }

    #[test]
    fn batches_longer_than_a_vector_are_cut() {
        let conn = conn();
        let schema = numbers_table(&conn, "CREATE TABLE parallel_long (k BIGINT)");
        insert(&conn, "parallel_long", schema, |sender| {
            assert!(sender.send(numbers(0, 5_000)));
            assert!(sender.send(numbers(5_000, 1)));
            Ok(())
        })
        .unwrap();
        let got: (i64, i64) = conn
            .query_row(
                "SELECT count(DISTINCT k), max(k) FROM parallel_long",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(got, (5_001, 5_000));
    }

    #[test]
    fn a_failing_producer_fails_the_insert() {
        let conn = conn();
        let schema = numbers_table(&conn, "CREATE TABLE parallel_failing (k BIGINT)");
        let err = insert(&conn, "parallel_failing", schema, |sender| {
            for i in 0..5 {
                sender.send(numbers(i * 2048, 2048));
            }
            Err(StoreError::Db {
                context: "the producer's own error".into(),
                source: duckdb::Error::AppendError,
            })
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("the producer's own error"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_insert_leaves_the_session_ordered_once_rolled_back() {
        // A failed statement aborts the transaction, where the insert's own
        // reset cannot run: the rollback's end of an import runs it.
        let conn = conn();
        let schema = numbers_table(
            &conn,
            "CREATE TABLE parallel_rolled (k BIGINT CHECK (k < 5000)); BEGIN TRANSACTION;",
        );
        insert(&conn, "parallel_rolled", schema, |sender| {
            for i in 0..10 {
                sender.send(numbers(i * 2048, 2048));
            }
            Ok(())
        })
        .unwrap_err();
        conn.execute_batch("ROLLBACK").unwrap();
        conn.execute_batch(crate::import::Staging::END_SQL).unwrap();
        let ordered: bool = conn
            .query_row(
                "SELECT current_setting('preserve_insertion_order')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(ordered);
    }

    #[test]
    fn a_failing_insert_stops_the_producer() {
        let conn = conn();
        let schema = numbers_table(
            &conn,
            "CREATE TABLE parallel_refused (k BIGINT CHECK (k < 5000))",
        );
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let err = insert(&conn, "parallel_refused", schema, |sender| {
            for i in 0..100_000 {
                if !sender.send(numbers(i * 2048, 2048)) {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("insert into parallel_refused"),
            "{err}"
        );
        assert!(sent.load(Ordering::Relaxed) < 100, "{sent:?} batches sent");
    }
}
