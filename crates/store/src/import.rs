//! Transactional, idempotent upserts of interchange records by natural key.
//!
//! A batch is deduplicated (the last record of a key wins), appended to a
//! staging table, and only rows that are new or differ from the stored row
//! are written: re-importing the same data writes nothing.

use std::collections::HashMap;

use duckdb::types::{TimeUnit, Value};
use duckdb::{appender_params_from_iter, Connection};
use flowmeter_model::{Event, EventKind, Extra, Timestamp};

use crate::link::LinkSummary;
use crate::{Context, StoreError};

/// Rows written per record type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// What one import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    pub kinds: Vec<(EventKind, KindCounts)>,
    pub link: Option<LinkSummary>,
}

impl ImportSummary {
    pub fn changed(&self) -> bool {
        self.kinds
            .iter()
            .any(|(_, c)| c.inserted > 0 || c.updated > 0)
    }

    /// Adds the counts of a later chunk of the same import.
    pub fn merge(&mut self, other: ImportSummary) {
        for (kind, c) in other.kinds {
            match self.kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, t)) => {
                    t.inserted += c.inserted;
                    t.updated += c.updated;
                    t.unchanged += c.unchanged;
                }
                None => self.kinds.push((kind, c)),
            }
        }
        self.kinds.sort_by_key(|(k, _)| *k);
    }

    pub fn total(&self) -> KindCounts {
        self.kinds
            .iter()
            .fold(KindCounts::default(), |a, (_, c)| KindCounts {
                inserted: a.inserted + c.inserted,
                updated: a.updated + c.updated,
                unchanged: a.unchanged + c.unchanged,
            })
    }
}

pub(crate) fn table_of(kind: EventKind) -> (&'static str, &'static [&'static str]) {
    match kind {
        EventKind::Deployment => ("deployments", &["source", "id"]),
        EventKind::Commit => ("commits", &["repo", "sha"]),
        EventKind::PullRequest => ("pull_requests", &["repo", "number"]),
        EventKind::Review => ("reviews", &["repo", "pr", "id"]),
        EventKind::Incident => ("incidents", &["source", "id"]),
    }
}

/// The records of an import so far, staged per record type in temporary
/// tables inside the import's transaction. Every chunk is appended here and
/// the store is compared and written once, at [`Staging::merge`]: comparing
/// each chunk against the whole table made a large import quadratic.
#[derive(Debug, Default)]
pub(crate) struct Staging {
    /// Position of the next record: a later record of a key wins.
    seq: i64,
    staged: Vec<EventKind>,
}

fn stage_table(table: &str) -> String {
    format!("stage_{table}")
}

impl Staging {
    /// Appends one chunk to the staging tables.
    pub(crate) fn add(&mut self, conn: &Connection, events: Vec<Event>) -> Result<(), StoreError> {
        let t0 = std::time::Instant::now();
        let mut by_kind: HashMap<EventKind, Vec<Vec<Value>>> = HashMap::new();
        for event in events {
            let kind = event.kind();
            let mut row = to_row(event);
            row.push(Value::BigInt(self.seq));
            self.seq += 1;
            by_kind.entry(kind).or_default().push(row);
        }
        crate::timing::phase("rows", t0);
        for kind in EventKind::ALL {
            let Some(rows) = by_kind.remove(&kind) else {
                continue;
            };
            let (table, _) = table_of(kind);
            let stage = stage_table(table);
            if !self.staged.contains(&kind) {
                conn.execute_batch(&format!(
                    "DROP TABLE IF EXISTS {stage};
                     CREATE TEMP TABLE {stage} AS SELECT *, 0::BIGINT AS seq__ FROM {table} LIMIT 0;"
                ))
                .ctx("create staging table")?;
                self.staged.push(kind);
            }
            let t0 = std::time::Instant::now();
            append_all(conn, &stage, rows)?;
            crate::timing::phase(&format!("append {stage}"), t0);
        }
        Ok(())
    }

    /// Writes what is new or different, per record type, and drops the
    /// staging tables.
    pub(crate) fn merge(self, conn: &Connection) -> Result<ImportSummary, StoreError> {
        let mut summary = ImportSummary::default();
        for kind in EventKind::ALL {
            if self.staged.contains(&kind) {
                summary.kinds.push((kind, merge_kind(conn, kind)?));
            }
        }
        Ok(summary)
    }
}

fn merge_kind(conn: &Connection, kind: EventKind) -> Result<KindCounts, StoreError> {
    let t0 = std::time::Instant::now();
    let (table, key) = table_of(kind);
    let stage = stage_table(table);
    let latest = format!("latest_{table}");
    let changed = format!("changed_{table}");
    let keys = key.join(", ");
    // The newest record of each key (the last one read wins).
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {latest};
         CREATE TEMP TABLE {latest} AS
           SELECT * EXCLUDE (seq__) FROM {stage}
           QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY seq__ DESC) = 1;
         DROP TABLE {stage};"
    ))
    .ctx(&format!("deduplicate {table}"))?;
    let total: i64 = conn
        .query_row(&format!("SELECT count(*) FROM {latest}"), [], |r| r.get(0))
        .ctx("count staged records")?;
    let on = key
        .iter()
        .map(|k| format!("t.{k} = s.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let differs = columns(conn, table)?
        .iter()
        .map(|c| format!("s.\"{c}\" IS DISTINCT FROM t.\"{c}\""))
        .collect::<Vec<_>>()
        .join(" OR ");
    // New rows, and stored rows that differ: only these are written. (A
    // left join rather than EXCEPT, which lost rows past one row group.)
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {changed};
         CREATE TEMP TABLE {changed} AS
           SELECT s.*, t.{k0} IS NOT NULL AS existed__
           FROM {latest} s LEFT JOIN {table} t ON {on}
           WHERE t.{k0} IS NULL OR {differs};
         DROP TABLE {latest};",
        k0 = key[0]
    ))
    .ctx(&format!("compare {table}"))?;
    let (written, updated): (i64, i64) = conn
        .query_row(
            &format!("SELECT count(*), count(*) FILTER (WHERE existed__) FROM {changed}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ctx("count changes")?;
    if updated > 0 {
        conn.execute_batch(&format!(
            "DELETE FROM {table} t USING {changed} s WHERE {on};"
        ))
        .ctx(&format!("replace {table}"))?;
    }
    conn.execute_batch(&format!(
        "INSERT INTO {table} SELECT * EXCLUDE (existed__) FROM {changed}; DROP TABLE {changed};"
    ))
    .ctx(&format!("insert {table}"))?;
    crate::timing::phase(&format!("merge {table}"), t0);
    Ok(KindCounts {
        inserted: (written - updated) as u64,
        updated: updated as u64,
        unchanged: (total - written) as u64,
    })
}

fn ts(t: Option<Timestamp>) -> Value {
    match t {
        Some(t) => Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros()),
        None => Value::Null,
    }
}

fn text(s: Option<String>) -> Value {
    s.map(Value::Text).unwrap_or(Value::Null)
}

fn list(items: Option<Vec<String>>) -> Value {
    match items {
        Some(items) => Value::Text(serde_json::to_string(&items).expect("strings serialise")),
        None => Value::Null,
    }
}

fn extra(map: Extra) -> Value {
    if map.is_empty() {
        Value::Null
    } else {
        Value::Text(serde_json::Value::Object(map).to_string())
    }
}

fn int(i: Option<i64>) -> Value {
    i.map(Value::BigInt).unwrap_or(Value::Null)
}

/// The table row of one record, columns in schema order.
fn to_row(event: Event) -> Vec<Value> {
    match event {
        Event::Deployment(d) => vec![
            Value::Text(d.source),
            Value::Text(d.id),
            Value::Text(d.service),
            text(d.repo),
            Value::Text(d.environment),
            Value::Text(d.status.as_str().into()),
            ts(d.started_at),
            ts(d.finished_at),
            Value::Text(d.commit_sha),
            list(d.commits),
            Value::Text(d.kind.as_str().into()),
            text(d.actor),
            text(d.url),
            text(d.git_ref),
            list(Some(d.labels)),
            extra(d.extra),
        ],
        Event::Commit(c) => vec![
            Value::Text(c.source),
            Value::Text(c.repo),
            Value::Text(c.sha),
            list(c.parents),
            ts(Some(c.authored_at)),
            ts(c.committed_at),
            text(c.author),
            text(c.message),
            extra(c.extra),
        ],
        Event::PullRequest(p) => vec![
            Value::Text(p.source),
            Value::Text(p.repo),
            Value::BigInt(p.number),
            text(p.title),
            text(p.author),
            text(p.base),
            text(p.head),
            list(Some(p.labels)),
            ts(Some(p.created_at)),
            ts(p.ready_at),
            ts(p.merged_at),
            ts(p.closed_at),
            text(p.merge_commit_sha),
            list(p.commits),
            ts(p.first_commit_at),
            int(p.additions),
            int(p.deletions),
            extra(p.extra),
        ],
        Event::Review(r) => vec![
            Value::Text(r.source),
            Value::Text(r.repo),
            Value::BigInt(r.pr),
            Value::Text(r.id),
            Value::Text(r.author),
            Value::Text(r.state.as_str().into()),
            ts(Some(r.submitted_at)),
            extra(r.extra),
        ],
        Event::Incident(i) => vec![
            Value::Text(i.source),
            Value::Text(i.id),
            list(Some(i.services)),
            text(i.title),
            text(i.severity),
            text(i.url),
            ts(Some(i.created_at)),
            ts(i.acknowledged_at),
            ts(i.resolved_at),
            text(i.deployment_id),
            text(i.deployment_source),
            extra(i.extra),
        ],
    }
}

/// Rows per appender. One appender given more than a DuckDB row group
/// (122,880 rows) inside a transaction silently dropped them all, so each
/// appender takes less (pinned by tests/upsert.rs).
const APPEND_CHUNK: usize = 100_000;

/// Appends rows to a table through DuckDB's appender, in chunks.
pub(crate) fn append_all(
    conn: &Connection,
    table: &str,
    rows: impl IntoIterator<Item = Vec<Value>>,
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut app = conn.appender(table).ctx("open appender")?;
        for row in rows.by_ref().take(APPEND_CHUNK) {
            app.append_row(appender_params_from_iter(row))
                .ctx(&format!("append to {table}"))?;
        }
        app.flush().ctx(&format!("append to {table}"))?;
    }
    Ok(())
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid")
        .ctx("read table columns")?;
    let names = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .ctx("read table columns")?
        .collect::<Result<Vec<_>, _>>()
        .ctx("read table columns")?;
    Ok(names)
}

pub(crate) fn save_cursor(conn: &Connection, name: &str, cursor: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO sync_cursors VALUES (?, ?, now()::TIMESTAMP)",
        [name, cursor],
    )
    .ctx("save sync cursor")?;
    Ok(())
}

pub(crate) fn load_cursor(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT cursor FROM sync_cursors WHERE source_name = ?")
        .ctx("read sync cursor")?;
    let mut rows = stmt.query([name]).ctx("read sync cursor")?;
    match rows.next().ctx("read sync cursor")? {
        Some(row) => Ok(Some(row.get(0).ctx("read sync cursor")?)),
        None => Ok(None),
    }
}
