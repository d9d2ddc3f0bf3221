//! Transactional, idempotent upserts of interchange records by natural key.
//!
//! A batch is deduplicated (the last record of a key wins), appended to a
//! staging table, and only rows that are new or differ from the stored row
//! are written: re-importing the same data writes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;
use flowmeter_model::{Event, EventKind};

use crate::append::append_batches;
#[cfg(test)]
use crate::append::BLOCK_ROWS;
use crate::chunk::RecordColumns;

use crate::link::{LinkSummary, RepoRows, Touched};
use crate::records::{table_of, KindCounts, KEPT_WHEN_ABSENT};
use crate::{Context, StoreError};

/// What one import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    pub kinds: Vec<(EventKind, KindCounts)>,
    /// Incidents removed: a source said they are no incidents any more.
    pub withdrawn: u64,
    /// What the link tables hold, after an import that relinked
    /// everything (a first import, a changed configuration); `None` when
    /// it relinked only what it touched, or nothing.
    pub link: Option<LinkSummary>,
    /// Where the commit spent its time (`flowmeter bench` prints it).
    #[serde(skip)]
    pub seconds: CommitSeconds,
}

/// Seconds spent in each step of [`crate::Import::commit`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitSeconds {
    /// Upserting the staged records into the event tables by natural key.
    pub merge: f64,
    /// Relinking what they touched.
    pub link: f64,
    /// The transaction's commit (DuckDB writes the data to disk).
    pub commit: f64,
}

impl ImportSummary {
    pub fn changed(&self) -> bool {
        self.withdrawn > 0
            || self
                .kinds
                .iter()
                .any(|(_, c)| c.inserted > 0 || c.updated > 0)
    }

    /// Adds the counts of a later chunk of the same import.
    pub fn merge(&mut self, other: ImportSummary) {
        self.withdrawn += other.withdrawn;
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

/// The records of an import so far, staged per record type in temporary
/// tables inside the import's transaction. Every chunk is appended here and
/// the store is compared and written once, at [`Staging::merge`]: comparing
/// each chunk against the whole table made a large import quadratic.
///
/// A record type of at most [`SMALL_MERGE_KEYS`] records (outside patch
/// mode) is held in memory instead, as its Arrow batches, and compared
/// there ([`crate::small_merge`]); it is staged only if its merge turns
/// out to need DuckDB (a key given twice).
///
/// A record type whose table is empty when its first records come (a first
/// import, a backfill) has nothing to compare with: its records go straight
/// into the table, and [`Staging::merge`] only drops the keys a later
/// record replaced. No staged copy is made, then copied again (1M events:
/// see the README's benchmark).
#[derive(Debug, Default)]
pub(crate) struct Staging {
    /// Position of the next record: a later record of a key wins.
    seq: i64,
    staged: Vec<EventKind>,
    /// Record types appended straight to their table (empty before).
    direct: Vec<EventKind>,
    /// Fields a record leaves out keep their stored values (webhook
    /// records carry less than the API's: no commit list, no parents).
    pub(crate) patch: bool,
    /// Of each record type, the hashes of the keys added so far: only a
    /// type with a hash seen twice (`repeated`) has records to drop, or to
    /// pick the newest of, at merge (a 10M-event import spent 1-2 s in
    /// DuckDB counting the distinct keys of its commits; a small import
    /// into a store spent 2-3 ms a type ranking keys that all came once).
    /// Not kept in patch mode, where a key's records are always combined,
    /// nor once a type has repeated or is `unchecked`; a type staged for comparison stops
    /// at [`Staging::STAGED_KEYS_HASHED`] keys and counts as repeated (a
    /// re-import of a large file into its store held a hash a record).
    seen: HashMap<EventKind, HashSet<u64, BuildHasherDefault<Hashed>>>,
    repeated: Vec<EventKind>,
    /// Types appended straight to their table whose key hashes would have
    /// passed [`Staging::keys_budget`]: their hashes are let go, their
    /// records are deduplicated at merge as a repeated type's, and each
    /// parallel insert checks its own rows' keys only
    /// ([`Staging::pending_keys`]): one that repeats a key inside goes
    /// through the appender in order. (Across inserts, the row ids keep
    /// the order the records came in.)
    unchecked: Vec<EventKind>,
    /// Of each unchecked type, the key hashes of its pending rows.
    pending_keys: HashMap<EventKind, Vec<u64>>,
    /// [`Staging::keys_budget`], read once per import.
    keys_budget: std::cell::OnceCell<u64>,
    /// [`crate::memory::pending_budget`], read once per import.
    pending_budget: std::cell::OnceCell<u64>,
    /// The record types whose tables were empty when the import began
    /// (read once, at its first chunk; not in patch mode).
    empty: Option<Vec<EventKind>>,
    /// Of each staged type keyed by repository, its repositories, up to
    /// one past [`RepoRows::MAX_NAMED`] (more is "many"): the merge looks
    /// up the stored rows of each when they are few.
    repos: HashMap<EventKind, BTreeSet<String>>,
    /// Rows appended so far, per record type.
    rows: HashMap<EventKind, usize>,
    /// DuckDB's optimistic writes are back on ([`Staging::EARLY_WRITE_ROWS`]).
    writes_early: bool,
    /// Of each type held in memory, not staged: its batches.
    held: HashMap<EventKind, Vec<RecordBatch>>,
    /// Of each type appended straight to its table, the batches not
    /// written yet ([`Staging::DIRECT_PARALLEL_ROWS`]).
    direct_pending: HashMap<EventKind, Vec<RecordBatch>>,
    /// Every merge compares in DuckDB (tests hold the in-memory merge to
    /// the SQL one).
    #[cfg(test)]
    pub(crate) in_duckdb: bool,
}

#[cfg(test)]
thread_local! {
    /// [`Staging::keys_budget`] in this test's thread.
    pub(crate) static KEYS_BUDGET: std::cell::Cell<u64> = const { std::cell::Cell::new(64 << 10) };
}

/// The hasher of a set of hashes: a value is its own hash.
#[derive(Debug, Default)]
struct Hashed(u64);

impl Hasher for Hashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The record types whose tables hold no row, in one query.
fn empty_tables(conn: &Connection) -> Result<Vec<EventKind>, StoreError> {
    let sql = EventKind::ALL
        .iter()
        .map(|k| format!("NOT EXISTS (SELECT 1 FROM {})", table_of(*k).0))
        .collect::<Vec<_>>()
        .join(", ");
    let empty: Vec<bool> = conn
        .query_row(&format!("SELECT {sql}"), [], |r| {
            (0..EventKind::ALL.len()).map(|i| r.get(i)).collect()
        })
        .ctx("look into the stored records")?;
    Ok(EventKind::ALL
        .into_iter()
        .zip(empty)
        .filter_map(|(k, e)| e.then_some(k))
        .collect())
}

fn stage_table(table: &str) -> String {
    format!("stage_{table}")
}

/// Appends `batches` of `kind` to its staging table, created first when
/// `create`.
fn stage_batches(
    conn: &Connection,
    kind: EventKind,
    batches: Vec<RecordBatch>,
    create: bool,
) -> Result<(), StoreError> {
    let stage = stage_table(table_of(kind).0);
    if create {
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE {stage} ({});",
            crate::columns::staging_definition(kind)
        ))
        .ctx("create staging table")?;
    }
    let t0 = std::time::Instant::now();
    append_batches(conn, &stage, batches)?;
    crate::timing::phase(&format!("append {stage}"), t0);
    Ok(())
}

impl Staging {
    /// DuckDB writes a table's appended rows to disk before the commit
    /// ("optimistic writes") once five of its row groups of 122,880 rows
    /// wait; until then it holds them in memory, and at the commit it
    /// compresses them on the committing thread alone. With optimistic
    /// writes off, the commit writes them to the WAL instead and the
    /// checkpoint that follows compresses them on every thread (a 1M-event
    /// import: the commit 1.4 s → 0.95 s). An import begins with them off
    /// and turns them on for good when a table reaches five row groups, or
    /// from the start for large input ([`Staging::LARGE_INPUT_BYTES`]):
    /// from there on they bound its memory, as before (the row groups
    /// appended while they were off wait for the commit, as they would
    /// have). Either way the commit finds them on, and writes every row
    /// group not written yet, or off with none written early: never a
    /// table part written early and part to go to the WAL.
    pub(crate) const EARLY_WRITE_ROWS: usize = 5 * 122_880;

    /// The statement that turns DuckDB's optimistic writes off for an
    /// import's transaction ([`Staging::EARLY_WRITE_ROWS`]); the import
    /// runs [`Staging::END_SQL`] when it ends, which also resets what a
    /// failed parallel insert could not ([`crate::parallel::RESET_SQL`]).
    pub(crate) const BEGIN_SQL: &'static str =
        "SET SESSION enable_optimistic_write = false; BEGIN TRANSACTION;";
    pub(crate) const END_SQL: &'static str =
        "RESET SESSION enable_optimistic_write; RESET SESSION preserve_insertion_order;";

    /// Input at least this large (about two million records as the
    /// synthetic organisation writes them) has DuckDB's optimistic writes on
    /// from the start: turned on only at [`Staging::EARLY_WRITE_ROWS`], the
    /// row groups appended before wait for the commit's one thread (a
    /// 10M-event import: 0.8 s more at the commit).
    pub(crate) const LARGE_INPUT_BYTES: u64 = 512 << 20;

    /// The import reads about `bytes` of input.
    pub(crate) fn expect_bytes(&mut self, conn: &Connection, bytes: u64) -> Result<(), StoreError> {
        if bytes >= Self::LARGE_INPUT_BYTES {
            self.write_early(conn)?;
        }
        Ok(())
    }

    /// Turns DuckDB's optimistic writes back on, for the rest of the import.
    fn write_early(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if !self.writes_early {
            conn.execute_batch(Self::END_SQL)
                .ctx("turn DuckDB's optimistic writes back on")?;
            self.writes_early = true;
        }
        Ok(())
    }

    /// Counts `rows` more for `kind`, before they are appended; turns
    /// DuckDB's optimistic writes back on when they reach
    /// [`Staging::EARLY_WRITE_ROWS`].
    fn count_appended(
        &mut self,
        conn: &Connection,
        kind: EventKind,
        rows: usize,
    ) -> Result<(), StoreError> {
        let n = self.rows.entry(kind).or_default();
        *n += rows;
        if *n >= Self::EARLY_WRITE_ROWS {
            self.write_early(conn)?;
        }
        Ok(())
    }

    /// Whether adding `more` keys of `kind` would take the key hashes held
    /// (of every type, staged or appended straight to its table) past
    /// [`Staging::keys_budget`] (counting a set's growth before it grows:
    /// hashbrown doubles its buckets, of 9 bytes each).
    fn keys_pass_budget(&self, kind: EventKind, more: usize) -> bool {
        let bytes = |len: usize, capacity: usize| -> u64 {
            let capacity = if len > capacity {
                len.max(capacity * 2)
            } else {
                capacity
            };
            // Buckets are a power of two, at most 7/8 full.
            ((capacity * 8 / 7).next_power_of_two() * 9) as u64
        };
        let total: u64 = (self.seen.iter())
            .map(|(k, set)| {
                let more = if *k == kind { more } else { 0 };
                bytes(set.len() + more, set.capacity())
            })
            .sum::<u64>()
            + if self.seen.contains_key(&kind) {
                0
            } else {
                bytes(more, 0)
            };
        total > *self.keys_budget.get_or_init(Self::keys_budget)
    }

    /// What the key hashes of a first import's types may hold: as much as
    /// a relink's model (a quarter of `FLOWMETER_MEMORY_LIMIT`, 64–256
    /// MiB). A 10M-event import holds about 160 MB of them.
    #[cfg(not(test))]
    fn keys_budget() -> u64 {
        crate::memory::model_budget()
    }
    /// Small in tests, for the unchecked types to meet the checked ones
    /// (a test may set its own: [`KEYS_BUDGET`]).
    #[cfg(test)]
    fn keys_budget() -> u64 {
        KEYS_BUDGET.with(std::cell::Cell::get)
    }

    /// Keys of a staged type hashed at most: past them, ranking the staged
    /// records at merge costs little beside the rest of the import.
    pub(crate) const STAGED_KEYS_HASHED: usize = 100_000;

    /// Appends one chunk to the staging tables, as Arrow columns.
    pub(crate) fn add(&mut self, conn: &Connection, events: Vec<Event>) -> Result<(), StoreError> {
        let t0 = std::time::Instant::now();
        let records = RecordColumns::of(events);
        crate::timing::phase("columns", t0);
        self.add_columns(conn, records)
    }

    /// Appends one chunk, already in Arrow columns, to the staging tables.
    pub(crate) fn add_columns(
        &mut self,
        conn: &Connection,
        records: RecordColumns,
    ) -> Result<(), StoreError> {
        if self.empty.is_none() && !self.patch {
            self.empty = Some(empty_tables(conn)?);
        }
        for (kind, part) in records.into_parts() {
            let rows = part.batches.iter().map(RecordBatch::num_rows).sum();
            self.count_appended(conn, kind, rows)?;
            if !self.staged.contains(&kind)
                && !self.direct.contains(&kind)
                && !self.patch
                && self.empty.as_ref().is_some_and(|e| e.contains(&kind))
            {
                self.direct.push(kind);
            }
            // Only a staged type's merge looks its repositories up (not
            // one appended straight to its empty table: a first import).
            if !self.direct.contains(&kind) && !part.repos.is_empty() {
                let repos = self.repos.entry(kind).or_default();
                for repo in part.repos {
                    if repos.len() > RepoRows::MAX_NAMED {
                        break;
                    }
                    repos.insert(repo);
                }
            }
            let batches = part.batches;
            let hashes = (!self.patch && !self.repeated.contains(&kind)).then_some(part.keys);
            if let Some(hashes) = hashes {
                let direct = self.direct.contains(&kind);
                if direct
                    && !self.unchecked.contains(&kind)
                    && self.keys_pass_budget(kind, hashes.len())
                {
                    // What waits had no key twice: written so, checked.
                    let t0 = std::time::Instant::now();
                    self.write_direct(conn, kind)?;
                    self.seen.remove(&kind);
                    self.unchecked.push(kind);
                    let (table, _) = table_of(kind);
                    crate::timing::phase(&format!("{table}: key hashes past their budget"), t0);
                }
                if self.unchecked.contains(&kind) {
                    self.pending_keys.entry(kind).or_default().extend(hashes);
                } else {
                    let seen = self.seen.entry(kind).or_default();
                    let mut repeats = false;
                    for h in hashes {
                        repeats |= !seen.insert(h);
                    }
                    if repeats || (!direct && seen.len() > Self::STAGED_KEYS_HASHED) {
                        self.seen.remove(&kind);
                        self.repeated.push(kind);
                    }
                }
            }
            if self.direct.contains(&kind) {
                // The table has no `seq__`: the append order numbers them.
                let pending = self.direct_pending.entry(kind).or_default();
                pending.extend(batches);
                let rows: usize = pending.iter().map(RecordBatch::num_rows).sum();
                if self.repeated.contains(&kind) || rows >= Self::DIRECT_PARALLEL_ROWS {
                    self.write_direct(conn, kind)?;
                } else if self.direct_pending_bytes()
                    >= *self
                        .pending_budget
                        .get_or_init(crate::memory::pending_budget)
                {
                    // What waits is bounded over all types, in bytes.
                    for kind in EventKind::ALL {
                        self.write_direct(conn, kind)?;
                    }
                }
                continue;
            }
            // Staged or held: numbered, so that a key's last record wins.
            let batches: Vec<RecordBatch> = (batches.into_iter())
                .map(|b| {
                    let first = self.seq;
                    self.seq += b.num_rows() as i64;
                    crate::columns::with_seq(b, first)
                })
                .collect();
            let few = self.rows.get(&kind).copied().unwrap_or(0) <= SMALL_MERGE_KEYS as usize;
            if few && !self.patch && !self.staged.contains(&kind) {
                self.held.entry(kind).or_default().extend(batches);
                continue;
            }
            // Past what is held: staged, with what was held so far.
            let mut all = self.held.remove(&kind).unwrap_or_default();
            all.extend(batches);
            stage_batches(conn, kind, all, !self.staged.contains(&kind))?;
            if !self.staged.contains(&kind) {
                self.staged.push(kind);
            }
        }
        Ok(())
    }

    /// Rows of a record type appended straight to its table that wait
    /// before they are written together, by one insert on all of DuckDB's
    /// threads (DuckDB's appender converts, compresses and writes on the
    /// importing thread alone). Four row groups: each thread writes whole
    /// ones (at a row group or two an insert, most rows were left for the
    /// commit's one thread: a 10M-event import 1.3 s longer).
    #[cfg(not(test))]
    pub(crate) const DIRECT_PARALLEL_ROWS: usize = 4 * 122_880;
    /// Small in tests, for the parallel inserts to meet the appender's.
    #[cfg(test)]
    pub(crate) const DIRECT_PARALLEL_ROWS: usize = 3 * BLOCK_ROWS;

    /// A type's waiting rows below which the appender writes them: a
    /// parallel insert costs a thread and two statements more.
    const DIRECT_PARALLEL_MIN: usize = Self::DIRECT_PARALLEL_ROWS / 8;

    /// The memory of the batches waiting to be written, of all the types
    /// appended straight to their tables. Past
    /// [`crate::memory::pending_budget`]
    /// all are written (a type with few waiting rows by the appender):
    /// large records (commits with long path lists) are bounded in bytes,
    /// not in rows.
    fn direct_pending_bytes(&self) -> u64 {
        (self.direct_pending.values().flatten())
            .map(|b| b.get_array_memory_size() as u64)
            .sum()
    }

    /// Writes the pending batches of `kind`, appended straight to its
    /// table. Their order matters only when a key came twice (the last one
    /// read wins: [`merge_direct`] keeps the highest row id), so such a
    /// type, or a few rows, goes through the appender in order; otherwise
    /// one parallel insert writes them in any order: no key among them came
    /// before (or, for an `unchecked` type, none repeats among them, and
    /// [`merge_direct`] keeps the last of a key across inserts), and each
    /// insert's rows follow the last one's.
    fn write_direct(&mut self, conn: &Connection, kind: EventKind) -> Result<(), StoreError> {
        let keys = self.pending_keys.remove(&kind);
        let Some(batches) = self.direct_pending.remove(&kind) else {
            return Ok(());
        };
        let (table, _) = table_of(kind);
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(());
        }
        // An unchecked type's rows repeat no key among themselves, or go
        // in order.
        let repeats_inside = |mut keys: Vec<u64>| {
            keys.sort_unstable();
            keys.windows(2).any(|w| w[0] == w[1])
        };
        if self.repeated.contains(&kind)
            || rows < Self::DIRECT_PARALLEL_MIN
            || keys.is_some_and(repeats_inside)
        {
            let t0 = std::time::Instant::now();
            append_batches(conn, table, batches)?;
            crate::timing::phase(&format!("append {table}"), t0);
            return Ok(());
        }
        let schema = batches[0].schema();
        crate::parallel::insert(conn, table, schema, move |sender| {
            sender.send_all(batches);
            Ok(())
        })
    }

    #[cfg(test)]
    fn in_duckdb(&self) -> bool {
        self.in_duckdb
    }

    #[cfg(not(test))]
    fn in_duckdb(&self) -> bool {
        false
    }

    /// Writes what is new or different, per record type, and drops the
    /// staging tables.
    pub(crate) fn merge(
        mut self,
        conn: &Connection,
        mut touched: Option<&mut Touched>,
    ) -> Result<ImportSummary, StoreError> {
        let mut summary = ImportSummary::default();
        for kind in EventKind::ALL {
            self.write_direct(conn, kind)?;
        }
        for kind in EventKind::ALL {
            if self.direct.contains(&kind) {
                summary.kinds.push((
                    kind,
                    merge_direct(
                        conn,
                        kind,
                        self.repeated.contains(&kind) || self.unchecked.contains(&kind),
                        touched.as_deref_mut(),
                    )?,
                ));
            } else if self.staged.contains(&kind) || self.held.contains_key(&kind) {
                let mut held = self.held.remove(&kind);
                if let Some(batches) = held.take_if(|_| self.in_duckdb()) {
                    stage_batches(conn, kind, batches, true)?;
                }
                summary.kinds.push((
                    kind,
                    merge_kind(
                        conn,
                        kind,
                        // The number of keys, when each came once: their
                        // hashes (none kept in patch mode or once repeated).
                        (!self.repeated.contains(&kind) && !self.patch)
                            .then(|| self.seen.get(&kind).map_or(0, |s| s.len() as u64)),
                        self.repos.remove(&kind),
                        held,
                        touched.as_deref_mut(),
                        self.patch,
                    )?,
                ));
            }
        }
        Ok(summary)
    }
}

/// What the new and updated records of `kind` (in `changed`, before the
/// store is written, so the replaced versions are still there) touch: the
/// services, repositories, deployment ids and incidents to relink. With
/// `replaced` (a relation of the stored rows they replace, or of their
/// [`replaced_columns`]), also what those stored versions named; `None`
/// when none is replaced. One query, each row tagged with the set it goes
/// to.
fn note_touched(
    conn: &Connection,
    kind: EventKind,
    changed: &str,
    replaced: Option<&str>,
    touched: &mut Touched,
) -> Result<(), StoreError> {
    // `UNION <select> FROM <the replaced rows> <where>`, or nothing.
    let and_replaced = |select: &str, filter: &str| match replaced {
        Some(rows) => format!("UNION {select} FROM {rows} t {filter}"),
        None => String::new(),
    };
    let sql = match kind {
        EventKind::Deployment => format!(
            "SELECT 'service', service, NULL::VARCHAR FROM {changed} {}
             UNION SELECT 'deployment', id, NULL::VARCHAR FROM {changed}",
            and_replaced("SELECT 'service', t.service, NULL::VARCHAR", "")
        ),
        EventKind::Commit | EventKind::PullRequest | EventKind::Review => {
            format!("SELECT DISTINCT 'repo', repo, NULL::VARCHAR FROM {changed}")
        }
        EventKind::Incident => format!(
            "SELECT 'service', unnest(services), NULL::VARCHAR FROM {changed} {}
             UNION SELECT 'named', deployment_id, NULL::VARCHAR FROM {changed}
               WHERE deployment_id IS NOT NULL {}
             UNION SELECT 'incident', source, id FROM {changed}",
            and_replaced("SELECT 'service', unnest(t.services), NULL::VARCHAR", ""),
            and_replaced(
                "SELECT 'named', t.deployment_id, NULL::VARCHAR",
                "WHERE t.deployment_id IS NOT NULL"
            )
        ),
    };
    let what = "read what changed";
    let mut stmt = conn.prepare(&sql).ctx(what)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .ctx(what)?;
    for row in rows {
        let (set, value, id) = row.ctx(what)?;
        match (set.as_str(), id) {
            ("service", _) => touched.services.insert(value),
            ("deployment", _) => touched.deployment_ids.insert(value),
            ("repo", _) => touched.repos.insert(value),
            ("named", _) => touched.incident_ids.insert(value),
            (_, Some(id)) => touched.incidents.insert((value, id)),
            (_, None) => false,
        };
    }
    Ok(())
}

/// The columns of a replaced row that [`note_touched`] reads: what the
/// stored version named, which its replacement may no longer name. A
/// merge's comparison table carries each as [`replaced_column`].
fn replaced_columns(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::Deployment => &["service"],
        EventKind::Incident => &["services", "deployment_id"],
        // Keyed by repository: the replacement names the same one.
        EventKind::Commit | EventKind::PullRequest | EventKind::Review => &[],
    }
}

/// The name under which a merge's comparison table carries the replaced
/// row's `column`.
fn replaced_column(column: &str) -> String {
    format!("\"replaced_{column}__\"")
}

/// Finishes a record type appended straight to its empty table: of the
/// records of one key (when a key hash was `repeated`, or the type's key
/// hashes were let go: `unchecked`), the last one
/// appended stays (the last one read wins), and every row is new.
fn merge_direct(
    conn: &Connection,
    kind: EventKind,
    repeated: bool,
    touched: Option<&mut Touched>,
) -> Result<KindCounts, StoreError> {
    let t0 = std::time::Instant::now();
    let (table, key) = table_of(kind);
    let keys = key.join(", ");
    if repeated {
        // The table was empty: its row ids are the order the records came.
        conn.execute_batch(&format!(
            "DELETE FROM {table} WHERE rowid IN (
               SELECT rowid FROM {table}
               QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY rowid DESC) > 1);"
        ))
        .ctx(&format!("keep the last record of each key of {table}"))?;
    }
    let total: i64 = conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .ctx("count stored records")?;
    if let Some(touched) = touched.filter(|_| total > 0) {
        // Every stored row is new: the table is its own list of changes.
        note_touched(conn, kind, table, None, touched)?;
    }
    crate::timing::phase(&format!("merge {table} (into an empty table)"), t0);
    Ok(KindCounts {
        inserted: total as u64,
        updated: 0,
        unchanged: 0,
    })
}

/// Keys of a merge past which it drops its staging and comparison tables
/// when done, not to hold their rows. Left, a small merge's tables cost
/// nothing until the next import's `CREATE OR REPLACE` (or the
/// connection's end), and dropping them cost a small import ten
/// statements (3,200 events into the 1M-event store, `flowmeter import`,
/// nine alternating runs in each order: 0.263 -> 0.259 s and 0.269 ->
/// 0.264 s).
const SMALL_MERGE_KEYS: i64 = 10_000;

/// Merges the staged records of `kind` into a table that held records:
/// the newest record of each key is written where it is new or differs
/// from the stored one. `keys_staged`: how many keys were staged, when each
/// came once (`None`: some key came more than once).
fn merge_kind(
    conn: &Connection,
    kind: EventKind,
    keys_staged: Option<u64>,
    staged_repos: Option<BTreeSet<String>>,
    held: Option<Vec<RecordBatch>>,
    mut touched: Option<&mut Touched>,
    patch: bool,
) -> Result<KindCounts, StoreError> {
    let t0 = std::time::Instant::now();
    let (table, key) = table_of(kind);
    let stage = stage_table(table);
    let changed = format!("changed_{table}");
    // Held in memory: compared there when each key came once; otherwise
    // staged now, for DuckDB.
    let held = match held {
        Some(batches) if keys_staged.is_some() => Some(batches),
        Some(batches) => {
            stage_batches(conn, kind, batches, true)?;
            None
        }
        None => None,
    };
    let keys = key.join(", ");
    let all_columns: Vec<&str> = crate::columns::names(kind).collect();
    // The newest record of each key (the last one read wins); in patch
    // mode each field is the newest one given (a field a later record
    // leaves out keeps an earlier record's value). When every key came
    // once, the staged records are the newest.
    let newest = if patch {
        let fields = all_columns
            .iter()
            .map(|c| {
                if key.contains(c) {
                    format!("\"{c}\"")
                } else {
                    format!("arg_max(\"{c}\", seq__) FILTER (WHERE \"{c}\" IS NOT NULL) AS \"{c}\"")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("MATERIALIZED (SELECT {fields} FROM {stage} GROUP BY {keys})")
    } else if keys_staged.is_none() {
        format!(
            "MATERIALIZED (SELECT * EXCLUDE (seq__) FROM {stage}
             QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY seq__ DESC) = 1)"
        )
    } else {
        format!("(SELECT * EXCLUDE (seq__) FROM {stage})")
    };
    let on = key
        .iter()
        .map(|k| format!("t.{k} = s.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let repos = match key[0] {
        "repo" => Some(RepoRows::named(
            staged_repos.unwrap_or_default(),
            "TRUE".into(),
        )),
        _ => None,
    };
    // The stored rows of the staged keys, as `stored` (the CTEs that
    // define it, and the relation).
    let (stored_ctes, stored) = match &repos {
        // A few repositories keyed by number or id: their rows, whole, by
        // one scan filtering by their names (DuckDB reads the other
        // columns only for the rows it keeps) and held (a small import
        // into the 1M-event store: pull requests 9.0 -> 7.1 ms, reviews
        // 7.5 -> 4.2 ms; into the 10M-event one 22 -> 15 ms, 15 -> 8.5
        // ms; DuckDB 2.0 from Python, medians of 9).
        Some(each @ RepoRows::Each(_)) if !key.contains(&"sha") => (
            format!("stored AS MATERIALIZED ({})", each.rows_with_id(table)),
            "stored".to_string(),
        ),
        // Otherwise found by their key columns alone, then read by row
        // id: only their rows, never the whole table (3,204 events into
        // the 10M-event store, fresh process: the five merges 0.40 ->
        // 0.21 s).
        _ => {
            let key_rows = match &repos {
                Some(repos) => repos.keys(table, key),
                None => format!("SELECT rowid AS rowid__, {keys} FROM {table}"),
            };
            // Commit SHAs are random: DuckDB pushes the staged ones into
            // the scan as a filter that no zone map prunes and that it
            // evaluates on every stored SHA, not only on the rows of the
            // staged repositories. Read first, the repositories' keys are
            // then joined on their own (500 staged commits of 2
            // repositories of the 1M-event store: 13.5 -> 5.1 ms in DuckDB
            // 2.0.1; read whole like the others', 17.6 -> 22.7 ms in the
            // 10M-event store). Other keys (numbers, ids in order) prune
            // well with the pushdown. Only the rows of a few repositories
            // are held; of many, the whole table's keys are streamed.
            let held = match &repos {
                Some(RepoRows::Each(_)) => "MATERIALIZED ",
                _ => "",
            };
            (
                format!(
                    "stored_keys AS {held}({key_rows}),
                     hits AS MATERIALIZED (
                       SELECT t.rowid__ FROM stored_keys t SEMI JOIN latest s ON {on})"
                ),
                format!(
                    "(SELECT rowid AS rowid__, * FROM {table}
                      WHERE rowid IN (SELECT rowid__ FROM hits))"
                ),
            )
        }
    };
    // In patch mode a record fills every field it leaves out from the
    // stored one; otherwise only the fields no source must erase for not
    // knowing them (`KEPT_WHEN_ABSENT`).
    let value = |c: &str| {
        if !key.contains(&c) && (patch || KEPT_WHEN_ABSENT.contains(&c)) {
            format!("coalesce(s.\"{c}\", t.\"{c}\")")
        } else {
            format!("s.\"{c}\"")
        }
    };
    // What a partial relink needs of a replaced row, beside its
    // replacement: carried in the compare, so noting what changed reads
    // no stored row again (a small import into the 1M-event store, one
    // run each: its deployments noted in 3.2 -> 2.6 ms, its incidents in
    // 5.0 -> 3.2 ms).
    let carried = replaced_columns(kind);
    let fields = (all_columns.iter())
        .map(|c| format!("{} AS \"{c}\"", value(c)))
        .chain((carried.iter()).map(|c| format!("t.\"{c}\" AS {}", replaced_column(c))))
        .collect::<Vec<_>>()
        .join(", ");
    let helpers = (carried.iter())
        .map(|c| format!(", {}", replaced_column(c)))
        .collect::<String>();
    let differs = (all_columns.iter())
        .map(|c| format!("{} IS DISTINCT FROM t.\"{c}\"", value(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let total = match keys_staged {
        Some(n) => n as i64,
        None => conn
            .query_row(
                &format!("SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {stage})"),
                [],
                |r| r.get(0),
            )
            .ctx(&format!("count the keys of {table}"))?,
    };
    // A few thousand keys, each once: compared in memory, against the
    // stored rows of their keys, read once (their keys given as lists);
    // staged for DuckDB when it hands those back in other column types
    // than this compares.
    if let Some(held) = held {
        let (latest, keys) = crate::small_merge::staged_keys(kind, &held);
        let stored_sql = format!("WITH latest AS {latest}, {stored_ctes} SELECT * FROM {stored}");
        let noted = touched.as_deref_mut();
        let merged = crate::small_merge::merge(conn, kind, &held, &stored_sql, &keys, noted)?;
        if let Some(counts) = merged {
            crate::timing::phase(&format!("merge {table} (in memory)"), t0);
            return Ok(counts);
        }
        stage_batches(conn, kind, held, true)?;
    }
    // The records to write (new, or differing from the stored one), with
    // the row id of the stored one each replaces: one statement (a small
    // import into the 1M-event store spent about 15 ms a type in the
    // seven it took before). A left join rather than EXCEPT, which lost
    // rows past one row group. It reports how many it holds.
    let written = conn
        .execute(
            &format!(
                "CREATE OR REPLACE TEMP TABLE {changed} AS
                   WITH latest AS {newest}, {stored_ctes}
                   SELECT {fields}, t.rowid__ AS replaces__
                   FROM latest s LEFT JOIN {stored} t ON {on}
                   WHERE t.rowid__ IS NULL OR {differs}"
            ),
            [],
        )
        .ctx(&format!("compare {table}"))? as i64;
    // Only a large merge drops its temporary tables ([`SMALL_MERGE_KEYS`]).
    let drop_temporary = total > SMALL_MERGE_KEYS;
    if drop_temporary {
        conn.execute_batch(&format!("DROP TABLE {stage};"))
            .ctx(&format!("compare {table}"))?;
    }
    let replaces = format!("SELECT replaces__ FROM {changed}");
    // What the written records touch (when a relink follows), then the
    // stored versions they replace go, counted by the delete, and they go
    // in. Of a type keyed by repository, the few repositories staged are
    // taken as touched, each, when any record was written (at worst an
    // unchanged one is relinked too): no query reads them back.
    let updated = if written > 0 {
        if let Some(touched) = touched {
            match &repos {
                Some(RepoRows::Each(staged)) => touched.repos.extend(staged.iter().cloned()),
                _ => {
                    let replaced = (!carried.is_empty()).then(|| {
                        let columns = (carried.iter())
                            .map(|c| format!("{} AS \"{c}\"", replaced_column(c)))
                            .collect::<Vec<_>>();
                        format!(
                            "(SELECT {} FROM {changed} WHERE replaces__ IS NOT NULL)",
                            columns.join(", ")
                        )
                    });
                    note_touched(conn, kind, &changed, replaced.as_deref(), touched)?;
                }
            }
        }
        let updated = conn
            .execute(
                &format!("DELETE FROM {table} WHERE rowid IN ({replaces})"),
                [],
            )
            .ctx(&format!("replace {table}"))?;
        conn.execute_batch(&format!(
            "INSERT INTO {table} SELECT * EXCLUDE (replaces__{helpers}) FROM {changed};"
        ))
        .ctx(&format!("replace {table}"))?;
        updated as i64
    } else {
        0
    };
    if drop_temporary {
        conn.execute_batch(&format!("DROP TABLE {changed};"))
            .ctx(&format!("replace {table}"))?;
    }
    crate::timing::phase(&format!("merge {table}"), t0);
    Ok(KindCounts {
        inserted: (written - updated) as u64,
        updated: updated as u64,
        unchanged: (total - written) as u64,
    })
}

/// Removes the incidents `pairs` (`(source, id)`), noting first, for a
/// partial relink, what the stored ones named (their services, the
/// deployment they name, themselves); the number removed.
pub(crate) fn withdraw(
    conn: &Connection,
    pairs: &[(String, String)],
    mut touched: Option<&mut Touched>,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    for chunk in pairs.chunks(1000) {
        let values = chunk
            .iter()
            .map(|(s, id)| format!("({}, {})", crate::sql_text(s), crate::sql_text(id)))
            .collect::<Vec<_>>()
            .join(", ");
        let gone = format!("(VALUES {values}) w(source, id)");
        if let Some(touched) = touched.as_deref_mut() {
            let stored = format!(
                "(SELECT i.* FROM incidents i JOIN {gone} ON i.source = w.source AND i.id = w.id)"
            );
            note_touched(conn, EventKind::Incident, &stored, None, touched)?;
        }
        removed += conn
            .execute(
                &format!(
                    "DELETE FROM incidents i USING {gone} WHERE i.source = w.source AND i.id = w.id"
                ),
                [],
            )
            .ctx("remove withdrawn incidents")? as u64;
    }
    Ok(removed)
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
