//! The DuckDB store: schema migrations, transactional idempotent upserts of
//! interchange records, sync cursors, and the materialised links that the
//! metric queries read.
//!
//! Data flow: [`Store::import`] stages a batch of [`Event`]s, upserts them by
//! natural key (the newest import wins; an identical record is left alone),
//! and re-materialises the links (`link.rs`) — all in one transaction, so a
//! refused or interrupted import leaves the store exactly as it was.

mod import;
mod link;
mod schema;
mod timing;

use std::path::Path;

use duckdb::Connection;
use flowmeter_config::MetricsConfig;
use flowmeter_model::Event;

pub use duckdb;
pub use import::{ImportSummary, KindCounts};
pub use link::LinkSummary;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store `{path}`: {source}")]
    Open { path: String, source: duckdb::Error },
    #[error("the store `{path}` has schema version {found}, newer than this flowmeter understands ({supported}); upgrade flowmeter")]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("store: {context}: {source}")]
    Db {
        context: String,
        source: duckdb::Error,
    },
}

pub(crate) trait Context<T> {
    fn ctx(self, context: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, duckdb::Error> {
    fn ctx(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Db {
            context: context.to_string(),
            source,
        })
    }
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
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: shown.clone(),
            source,
        })?;
        Store::init(conn, shown)
    }

    /// A throwaway store in memory (tests, benchmarks).
    pub fn in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Store::init(conn, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Store, StoreError> {
        // DuckDB takes up to 80 % of the machine's memory by default; a
        // smaller limit makes it spill to disk instead (large imports).
        if let Ok(limit) = std::env::var("FLOWMETER_MEMORY_LIMIT") {
            conn.execute_batch(&format!(
                "SET memory_limit = '{}'",
                limit.replace('\'', "''")
            ))
            .ctx(&format!("FLOWMETER_MEMORY_LIMIT=`{limit}`"))?;
        }
        schema::migrate(&conn, &path)?;
        Ok(Store { conn, path })
    }

    /// The connection, for read-only queries (the analysis layer).
    pub fn conn(&self) -> &Connection {
        &self.conn
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
        self.import_with_cursor(events, None, config)
    }

    /// Like [`Store::import`], also saving a connector's cursor in the same
    /// transaction, so data and cursor land together or not at all.
    pub fn import_with_cursor(
        &mut self,
        events: Vec<Event>,
        cursor: Option<(&str, &str)>,
        config: &MetricsConfig,
    ) -> Result<ImportSummary, StoreError> {
        let mut import = self.begin_import()?;
        import.add(events)?;
        import.commit(cursor, config)
    }

    /// Starts an import that takes events in chunks (so a large file need
    /// not be in memory at once) and lands as one transaction on
    /// [`Import::commit`]; dropping it uncommitted rolls everything back.
    pub fn begin_import(&mut self) -> Result<Import<'_>, StoreError> {
        self.conn
            .execute_batch("BEGIN TRANSACTION")
            .ctx("begin transaction")?;
        Ok(Import {
            conn: &self.conn,
            staging: import::Staging::default(),
            done: false,
        })
    }

    /// The saved cursor of a source, if it has synced before.
    pub fn cursor(&self, source_name: &str) -> Result<Option<String>, StoreError> {
        import::load_cursor(&self.conn, source_name)
    }

    /// Re-materialises the links when the configuration they depend on changed.
    pub fn ensure_linked(&mut self, config: &MetricsConfig) -> Result<(), StoreError> {
        if link::is_stale(&self.conn, config)? {
            self.in_transaction(|conn| link::relink(conn, config).map(|_| ()))?;
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
                Err(e)
            }
        }
    }
}

/// An import in progress: one transaction, fed in chunks.
pub struct Import<'a> {
    conn: &'a Connection,
    staging: import::Staging,
    done: bool,
}

impl Import<'_> {
    /// Stages one chunk; a key repeated later (in this chunk or a later
    /// one) replaces the earlier record.
    pub fn add(&mut self, events: Vec<Event>) -> Result<(), StoreError> {
        self.staging.add(self.conn, events)
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
        let mut summary = std::mem::take(&mut self.staging).merge(self.conn)?;
        if summary.changed() || link::is_stale(self.conn, config)? {
            summary.link = Some(link::relink(self.conn, config)?);
        }
        self.conn.execute_batch("COMMIT").ctx("commit")?;
        self.done = true;
        Ok(summary)
    }
}

impl Drop for Import<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
