//! The DuckDB store: schema migrations, transactional idempotent upserts of
//! interchange records, sync cursors, and the materialised links that the
//! metric queries read.
//!
//! Data flow: [`Store::import`] stages a batch of [`Event`]s as Arrow columns
//! (bulk appends, list fields as `VARCHAR[]`), upserts them by natural key
//! (the newest import wins; an identical record is left alone), and
//! re-materialises the links (`link.rs`) of only the services and
//! repositories the changed records touch — all in one transaction, so a
//! refused or interrupted import leaves the store exactly as it was.
//! [`Store::relink_all`] rebuilds every link and gives the same tables.

mod append;
mod chunk;
mod columns;
mod import;
mod lake;
mod link;
mod link_parts;
mod memory;
mod parallel;
mod records;
mod schema;
mod scope;
mod small_merge;
pub mod timing;
#[cfg(test)]
mod upsert_tests;

use std::path::Path;

use duckdb::Connection;
use flowmeter_config::MetricsConfig;
use flowmeter_model::Event;

pub use chunk::RecordColumns;
pub use duckdb::arrow;
pub use duckdb::arrow::record_batch::RecordBatch;
pub use duckdb::types::{TimeUnit, Value};
pub use duckdb::{Result as DbResult, Row};
pub use import::{CommitSeconds, ImportSummary};
pub use lake::{LakeWritten, Partitions, Shard, ShardLinked, TableWritten};
pub use link::LinkSummary;
pub use memory::lines_per_chunk;
pub use records::KindCounts;
pub use schema::version as schema_version;
pub use scope::{Filters, GroupBy, Scoped, Table};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store `{path}`: {source}")]
    Open { path: String, source: duckdb::Error },
    #[error("the store `{path}` is in use by another process{holder}; send events to the running server's API (`POST /api/v1/events`) or stop it first")]
    Locked { path: String, holder: String },
    #[error("the store `{path}` has schema version {found}, newer than this flowmeter understands ({supported}); upgrade flowmeter")]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("unknown team `{team}` (teams in the config: {known})")]
    UnknownTeam { team: String, known: String },
    #[error("store: {context}: {source}")]
    Db {
        context: String,
        source: duckdb::Error,
    },
    /// DuckDB ran out of memory: past its limit (`FLOWMETER_MEMORY_LIMIT`,
    /// else 80 % of the machine's memory), or where it spills to disk
    /// (a full disk), or refused memory by the machine. Said in
    /// flowmeter's words: DuckDB's own advice names SQL settings a user of
    /// flowmeter cannot reach.
    #[error("store: {context}: DuckDB ran out of memory ({detail}); {advice}")]
    OutOfMemory {
        context: String,
        /// DuckDB's first line, without its "Out of Memory Error:".
        detail: String,
        /// What to change, naming the configured limit.
        advice: String,
    },
}

pub(crate) trait Context<T> {
    fn ctx(self, context: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, duckdb::Error> {
    fn ctx(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::from_duckdb(context, source))
    }
}

impl StoreError {
    /// A DuckDB error met doing `context`. Its first line decides: a
    /// statement's out-of-memory error names itself there; the appender's
    /// and a commit's say "Failed to append" or "Failed to commit" instead,
    /// and end with DuckDB's advice on memory (a merged error's later lines
    /// are other errors).
    pub(crate) fn from_duckdb(context: &str, source: duckdb::Error) -> StoreError {
        const NAMES: [&str; 3] = [
            "Out of Memory Error: ",
            "Failed to append: ",
            "Failed to commit: ",
        ];
        let text = source.to_string();
        let first = text.lines().next().unwrap_or_default();
        let memory = first.contains(NAMES[0])
            || (NAMES[1..].iter().any(|n| first.contains(n))
                && text.contains("(SET memory_limit="));
        if !memory {
            return StoreError::Db {
                context: context.to_string(),
                source,
            };
        }
        let detail = (NAMES.iter()).fold(first, |t, name| {
            t.rsplit_once(name).map_or(t, |(_, rest)| rest)
        });
        let detail = detail.trim().to_string();
        StoreError::OutOfMemory {
            context: context.to_string(),
            advice: memory::advice(&detail),
            detail,
        }
    }
}

/// What the stored records show, store-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Some incident record is stored.
    pub incidents: bool,
    /// Some production deployment is a rollback.
    pub rollbacks: bool,
    /// Some production deployment comes from a source other than a local
    /// git clone.
    pub beyond_git: bool,
    /// Some commit or pull request carries the paths it changed or their
    /// owners (what teams' `paths` and `owners` match).
    pub paths: bool,
    /// Some incident names its root-cause commit (what the `four-keys`
    /// profile fails deployments by).
    pub root_causes: bool,
}

/// DuckDB's settings at open: it never installs (downloads) an extension.
/// This build links the ones flowmeter uses, and with installing on,
/// DuckDB replaying a write-ahead log that holds the migrations (a store
/// whose first process was killed) tried to install its own linked
/// `core_functions` from the internet, and failed offline: the store could
/// not be opened again. With installing off it loads the linked one (and
/// fetches nothing a statement might ask for, mid-command).
fn offline() -> Result<duckdb::Config, StoreError> {
    duckdb::Config::default()
        .with("autoinstall_known_extensions", "false")
        .ctx("configure DuckDB")
}

/// An open flowmeter store.
pub struct Store {
    conn: Connection,
    path: String,
}

impl Store {
    /// Opens (creating if needed) a store file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let conn = Connection::open_with_flags(path, offline()?).map_err(|source| {
            if source.to_string().contains("Could not set lock") {
                StoreError::Locked {
                    holder: server_marker(path)
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default(),
                    path: shown.clone(),
                }
            } else {
                StoreError::Open {
                    path: shown.clone(),
                    source,
                }
            }
        })?;
        Store::init(conn, shown)
    }

    /// A throwaway store in memory (tests, benchmarks).
    pub fn in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory_with_flags(offline()?).map_err(|source| {
            StoreError::Open {
                path: ":memory:".into(),
                source,
            }
        })?;
        Store::init(conn, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Store, StoreError> {
        // DuckDB takes up to 80 % of the machine's memory by default; a
        // smaller limit makes it spill to disk instead (large imports).
        memory::apply(&conn)?;
        schema::migrate(&conn, &path)?;
        parallel::register(&conn)?;
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Upserts `events` and re-links, in one transaction.
    pub fn import(
        &mut self,
        events: Vec<Event>,
        config: &MetricsConfig,
    ) -> Result<ImportSummary, StoreError> {
        self.import_with_cursor(events, &[], None, config)
    }

    /// Like [`Store::import`], also removing the `withdrawn` incidents (ids
    /// of the cursor's source, see [`Import::withdraw_incidents`]) and
    /// saving a connector's cursor in the same transaction, so data and
    /// cursor land together or not at all.
    pub fn import_with_cursor(
        &mut self,
        events: Vec<Event>,
        withdrawn: &[String],
        cursor: Option<(&str, &str)>,
        config: &MetricsConfig,
    ) -> Result<ImportSummary, StoreError> {
        let mut import = self.begin_import()?;
        import.add(events)?;
        if let Some((source, _)) = cursor {
            import.withdraw_incidents(source, withdrawn);
        }
        import.commit(cursor, config)
    }

    /// Starts an import that takes events in chunks (so a large file need
    /// not be in memory at once) and lands as one transaction on
    /// [`Import::commit`]; dropping it uncommitted rolls everything back.
    pub fn begin_import(&mut self) -> Result<Import<'_>, StoreError> {
        self.conn
            .execute_batch(import::Staging::BEGIN_SQL)
            .ctx("begin transaction")?;
        Ok(Import {
            conn: &self.conn,
            staging: import::Staging::default(),
            withdrawn: Vec::new(),
            done: false,
            no_link: false,
        })
    }

    /// The saved cursor of a source, if it has synced before.
    pub fn cursor(&self, source_name: &str) -> Result<Option<String>, StoreError> {
        import::load_cursor(&self.conn, source_name)
    }

    /// The commit graph's gaps: parents of `source`'s commits (committed at
    /// or after `since`), and commits `source`'s deployments (finished at or
    /// after `since`) deployed, that have no commit record, as `(repo,
    /// sha)`. A sync fetches these so that a deployment's change walk does
    /// not stop at a parent it never saw, nor begin at a commit it never
    /// saw: a deployment from a branch other than the default one (a
    /// release or environment branch) deploys commits the commit listing,
    /// of the default branch, does not hold.
    pub fn commit_gaps(
        &self,
        source: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let since = since.naive_utc().to_string();
        let mut stmt = self
            .conn
            .prepare(
                r#"WITH p AS (
                     SELECT repo, unnest(parents) AS sha
                     FROM commits
                     WHERE source = ? AND parents IS NOT NULL
                       AND coalesce(committed_at, authored_at) >= ?::TIMESTAMP
                     UNION ALL
                     SELECT repo, commit_sha FROM deployments
                     WHERE source = ? AND repo IS NOT NULL AND commit_sha <> ''
                       AND coalesce(finished_at, started_at) >= ?::TIMESTAMP
                   )
                   SELECT DISTINCT p.repo, p.sha FROM p
                   WHERE NOT EXISTS (SELECT 1 FROM commits c WHERE c.repo = p.repo AND c.sha = p.sha)
                   ORDER BY 1, 2"#,
            )
            .ctx("find commit graph gaps")?;
        let rows = stmt
            .query_map([source, since.as_str(), source, since.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .ctx("find commit graph gaps")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx("find commit graph gaps")
    }

    /// Another handle on the same database for reading (and its own temporary
    /// views): a server's readers each hold one, so pages never wait on the
    /// writer (DuckDB isolates them with MVCC).
    pub fn reader(&self) -> Result<Store, StoreError> {
        Ok(Store {
            conn: self.conn.try_clone().ctx("open a reader")?,
            path: self.path.clone(),
        })
    }

    /// The finish time of the last production deployment, if any.
    pub fn last_deployment_at(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.deployment_at("max")
    }

    /// The finish time of the first production deployment, if any.
    pub fn first_deployment_at(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.deployment_at("min")
    }

    /// `min` or `max` of the production deployments' finish times.
    fn deployment_at(
        &self,
        bound: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let us: Option<i64> = self
            .conn
            .query_row(
                &format!("SELECT epoch_us({bound}(finished_at)) FROM link_deployments"),
                [],
                |r| r.get(0),
            )
            .ctx(&format!("read the {bound} deployment time"))?;
        Ok(us.and_then(chrono::DateTime::from_timestamp_micros))
    }

    /// What the stored records show the sources can see (see [`Seen`]);
    /// `git_sources` are the names of the local git clones' sources.
    pub fn seen(&self, git_sources: &[String]) -> Result<Seen, StoreError> {
        let beyond_git = match git_sources.is_empty() {
            true => "TRUE".to_string(),
            false => format!(
                "source NOT IN ({})",
                (git_sources.iter().map(|s| sql_text(s)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let (incidents, rollbacks, beyond_git, paths, root_causes) = self
            .conn
            .query_row(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM incidents),
                            EXISTS (SELECT 1 FROM link_deployments WHERE is_rollback),
                            EXISTS (SELECT 1 FROM link_deployments WHERE {beyond_git}),
                            EXISTS (SELECT 1 FROM commits WHERE files IS NOT NULL OR owners IS NOT NULL)
                            OR EXISTS (SELECT 1 FROM pull_requests
                                       WHERE files IS NOT NULL OR owners IS NOT NULL),
                            EXISTS (SELECT 1 FROM incidents WHERE root_cause IS NOT NULL)"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .ctx("read which sources are known")?;
        Ok(Seen {
            incidents,
            rollbacks,
            beyond_git,
            paths,
            root_causes,
        })
    }

    /// The groups of a breakdown by service (every service of a production
    /// deployment or an incident) or by repo (of a deployment or a pull
    /// request), sorted; none for the other breakdowns.
    pub fn group_keys(&self, by: GroupBy) -> Result<Vec<String>, StoreError> {
        let sql = match by {
            GroupBy::Service => {
                "SELECT service FROM link_deployments UNION SELECT service FROM link_incident_services ORDER BY 1"
            }
            GroupBy::Repo => {
                "SELECT repo FROM link_deployments WHERE repo IS NOT NULL UNION SELECT repo FROM link_prs ORDER BY 1"
            }
            GroupBy::Team | GroupBy::Week => return Ok(Vec::new()),
        };
        text_column(&self.conn, sql, "read group keys")
    }

    /// Records per type, in the interchange format's names.
    pub fn counts(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut out = Vec::new();
        for (kind, table) in [
            ("deployments", "deployments"),
            ("commits", "commits"),
            ("pull_requests", "pull_requests"),
            ("reviews", "reviews"),
            ("incidents", "incidents"),
        ] {
            let n: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .ctx("count records")?;
            out.push((kind, n.max(0) as u64));
        }
        Ok(out)
    }

    /// Every saved sync cursor: source, cursor JSON, when it was saved
    /// (RFC 3339, UTC).
    pub fn sync_states(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT source_name, cursor, strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ')
                 FROM sync_cursors ORDER BY 1",
            )
            .ctx("read sync cursors")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .ctx("read sync cursors")?;
        rows.collect::<Result<Vec<_>, _>>().ctx("read sync cursors")
    }

    /// Which of `ids` the webhook receiver `receiver` has stored before.
    pub fn delivered(
        &self,
        receiver: &str,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(1000) {
            let list = chunk
                .iter()
                .map(|i| sql_text(i))
                .collect::<Vec<_>>()
                .join(", ");
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT delivery_id FROM webhook_deliveries WHERE receiver = ? AND delivery_id IN ({list})"
                ))
                .ctx("read webhook deliveries")?;
            let rows = stmt
                .query_map([receiver], |r| r.get::<_, String>(0))
                .ctx("read webhook deliveries")?;
            for r in rows {
                out.insert(r.ctx("read webhook deliveries")?);
            }
        }
        Ok(out)
    }

    /// Every service with a deployment, by name.
    pub fn services(&self) -> Result<Vec<String>, StoreError> {
        text_column(
            &self.conn,
            "SELECT DISTINCT service FROM deployments ORDER BY 1",
            "read services",
        )
    }

    /// The environments of `source`'s deployments that the source itself
    /// marked as production (`"production_environment": true` in `extra`,
    /// GitHub's flag).
    pub fn environments_marked_production(&self, source: &str) -> Result<Vec<String>, StoreError> {
        // The bundled DuckDB has no JSON extension: read `extra` here.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT environment, extra FROM deployments
                 WHERE source = ? AND extra LIKE '%production_environment%'",
            )
            .ctx("read environments")?;
        let rows = stmt
            .query_map([source], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .ctx("read environments")?;
        let mut out = std::collections::BTreeSet::new();
        for row in rows {
            let (environment, extra) = row.ctx("read environments")?;
            let marked = extra
                .and_then(|e| serde_json::from_str::<serde_json::Value>(&e).ok())
                .is_some_and(|e| e["production_environment"] == serde_json::Value::Bool(true));
            if marked {
                out.insert(environment);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Which of `shas` the store has a commit record of, in `repo`.
    pub fn known_commits(
        &self,
        repo: &str,
        shas: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut out = std::collections::HashSet::new();
        for chunk in shas.chunks(1000) {
            let list = chunk
                .iter()
                .map(|s| sql_text(s))
                .collect::<Vec<_>>()
                .join(", ");
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT sha FROM commits WHERE repo = ? AND sha IN ({list})"
                ))
                .ctx("look up commits")?;
            let rows = stmt
                .query_map([repo], |r| r.get::<_, String>(0))
                .ctx("look up commits")?;
            for r in rows {
                out.insert(r.ctx("look up commits")?);
            }
        }
        Ok(out)
    }

    /// Re-materialises every link from scratch (`flowmeter relink`); gives
    /// the same tables as the incremental relinking of the imports.
    pub fn relink_all(&mut self, config: &MetricsConfig) -> Result<LinkSummary, StoreError> {
        self.in_transaction(|conn| {
            link::relink(conn, config, &link::Scope::All)?;
            link::summary(conn)
        })
    }

    /// The rows of every link table, sorted, as text: two stores with the
    /// same links give the same text (tests of incremental linking).
    pub fn link_tables_text(&self) -> Result<String, StoreError> {
        let mut out = String::new();
        for table in [
            "link_deployments",
            "link_changes",
            "link_incidents",
            "link_incident_services",
            "link_prs",
        ] {
            out.push_str(table);
            out.push('\n');
            self.rows_text(&format!("SELECT * FROM {table} ORDER BY ALL"), &mut out)?;
        }
        Ok(out)
    }

    /// Appends every row of `sql`, one line each, cells joined by `|`.
    pub(crate) fn rows_text(&self, sql: &str, out: &mut String) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(sql).ctx("read rows")?;
        let mut rows = stmt.query([]).ctx("read rows")?;
        while let Some(r) = rows.next().ctx("read rows")? {
            let n = r.as_ref().column_count();
            let cells: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get::<_, duckdb::types::Value>(i).ok()))
                .collect();
            out.push_str(&cells.join("|"));
            out.push('\n');
        }
        Ok(())
    }

    /// Re-materialises the links when the configuration they depend on changed.
    pub fn ensure_linked(&mut self, config: &MetricsConfig) -> Result<(), StoreError> {
        if link::is_stale(&self.conn, config)? {
            self.in_transaction(|conn| link::relink(conn, config, &link::Scope::All))?;
        }
        Ok(())
    }

    fn in_transaction<T>(
        &mut self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn
            .execute_batch("BEGIN TRANSACTION")
            .ctx("begin transaction")?;
        match work(&self.conn) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").ctx("commit")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                let _ = self.conn.execute_batch(parallel::RESET_SQL);
                // A failed statement aborts the transaction, and a relink's
                // lowered memory limit could not be given back in it.
                let _ = memory::apply(&self.conn);
                Err(e)
            }
        }
    }
}

/// A SQL string literal of `s` (quotes doubled). A NUL, which a literal
/// cannot hold (DuckDB refuses the statement), is spliced in as `chr(0)`:
/// the text is then an expression, in parentheses.
pub(crate) fn sql_text(s: &str) -> String {
    let literal = |part: &str| format!("'{}'", part.replace('\'', "''"));
    if !s.contains('\0') {
        return literal(s);
    }
    let parts: Vec<String> = s.split('\0').map(literal).collect();
    format!("({})", parts.join(" || chr(0) || "))
}

/// The file a server holding the store at `path` leaves next to it,
/// saying who holds it (`flowmeter serve at http://... (PID n)`).
pub fn server_marker_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".server");
    std::path::PathBuf::from(name)
}

fn server_marker(path: &Path) -> Option<String> {
    std::fs::read_to_string(server_marker_path(path))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `FLOWMETER_FULL_RELINK=1`: relink everything after every import (the
/// behaviour before incremental linking; a check and an escape hatch).
fn full_relink_forced() -> bool {
    std::env::var("FLOWMETER_FULL_RELINK").is_ok_and(|v| v == "1")
}

/// The text values of a one-column query, collected (a `Vec` in order, a
/// set); `what` names the reading in an error.
pub(crate) fn text_column<C: FromIterator<String>>(
    conn: &Connection,
    sql: &str,
    what: &str,
) -> Result<C, StoreError> {
    let mut stmt = conn.prepare(sql).ctx(what)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ctx(what)?;
    rows.collect::<Result<C, _>>().ctx(what)
}

/// An import in progress: one transaction, fed in chunks.
pub struct Import<'a> {
    conn: &'a Connection,
    staging: import::Staging,
    /// Incidents to remove at commit, as `(source, id)`.
    withdrawn: Vec<(String, String)>,
    done: bool,
    no_link: bool,
}

impl Import<'_> {
    /// Stages one chunk; a key repeated later (in this chunk or a later
    /// one) replaces the earlier record.
    pub fn add(&mut self, events: Vec<Event>) -> Result<(), StoreError> {
        self.staging.add(self.conn, events)
    }

    /// Adds records already in Arrow columns: what the parser threads of
    /// a file fill ([`RecordColumns`]).
    pub fn add_columns(&mut self, records: RecordColumns) -> Result<(), StoreError> {
        self.staging.add_columns(self.conn, records)
    }

    /// Says the import will read about `bytes` of input (the files'
    /// sizes): a large one has DuckDB write its rows to disk as they come
    /// from the start, as it does past a few hundred thousand rows anyway.
    pub fn expect_bytes(&mut self, bytes: u64) -> Result<(), StoreError> {
        self.staging.expect_bytes(self.conn, bytes)
    }

    /// From now on, a field a record leaves out (null) keeps the value the
    /// store has for that record, instead of being cleared: for sources
    /// that send partial records (webhooks).
    pub fn keep_missing_fields(&mut self) {
        self.staging.patch = true;
    }

    /// Leaves the links out of date instead of relinking at commit
    /// (`import --no-link`): the next command that reads them relinks the
    /// whole store first, and `lake export --shard` links only its shard.
    pub fn no_link(&mut self) {
        self.no_link = true;
    }

    /// Removes the incidents `ids` of `source` at commit: ones a source
    /// delivered that are no incidents any more (declined, merged into
    /// another, cancelled). What they named or were attributed to is
    /// relinked; an id the store does not hold is no error.
    pub fn withdraw_incidents(&mut self, source: &str, ids: &[String]) {
        (self.withdrawn).extend(ids.iter().map(|id| (source.to_string(), id.clone())));
    }

    /// Records webhook deliveries as stored (with this import's events).
    pub fn add_deliveries(&mut self, deliveries: &[(String, String)]) -> Result<(), StoreError> {
        for chunk in deliveries.chunks(1000) {
            let rows = chunk
                .iter()
                .map(|(r, id)| format!("({}, {}, now()::TIMESTAMP)", sql_text(r), sql_text(id)))
                .collect::<Vec<_>>()
                .join(", ");
            self.conn
                .execute_batch(&format!(
                    "INSERT OR IGNORE INTO webhook_deliveries VALUES {rows}"
                ))
                .ctx("record webhook deliveries")?;
        }
        Ok(())
    }

    /// Saves the cursor (if any), re-links when anything changed, commits.
    pub fn commit(
        mut self,
        cursor: Option<(&str, &str)>,
        config: &MetricsConfig,
    ) -> Result<ImportSummary, StoreError> {
        if let Some((name, cursor)) = cursor {
            import::save_cursor(self.conn, name, cursor)?;
        }
        // Only what the import touched is relinked; a changed configuration
        // (or `FLOWMETER_FULL_RELINK=1`) relinks everything, and then what
        // the import touched is not noted.
        let full = !self.no_link && (full_relink_forced() || link::needs_full(self.conn, config)?);
        let mut touched = link::Touched::default();
        let t0 = std::time::Instant::now();
        let noted = (!self.no_link && !full).then_some(&mut touched);
        let mut summary = std::mem::take(&mut self.staging).merge(self.conn, noted)?;
        if !self.withdrawn.is_empty() {
            let noted = (!self.no_link && !full).then_some(&mut touched);
            summary.withdrawn = import::withdraw(self.conn, &self.withdrawn, noted)?;
        }
        summary.seconds.merge = t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        if self.no_link {
            link::forget(self.conn)?;
        } else if full {
            link::relink(self.conn, config, &link::Scope::All)?;
            summary.link = Some(link::summary(self.conn)?);
        } else if !touched.is_empty() {
            link::relink(self.conn, config, &link::Scope::Part(touched))?;
        }
        timing::phase("link", t0);
        summary.seconds.link = t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        self.conn.execute_batch("COMMIT").ctx("commit")?;
        self.done = true;
        // The import has landed: failing to reset a speed setting is no
        // error of it.
        let _ = self.conn.execute_batch(import::Staging::END_SQL);
        timing::phase("commit", t0);
        summary.seconds.commit = t0.elapsed().as_secs_f64();
        Ok(summary)
    }
}

impl Drop for Import<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
            let _ = self.conn.execute_batch(import::Staging::END_SQL);
            // As in `in_transaction`: the relink's limit, given back.
            let _ = memory::apply(self.conn);
        }
    }
}
