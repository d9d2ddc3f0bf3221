//! Versioned schema migrations: each file of `queries/schema/` is one version,
//! applied in order, once; the version lives in DuckDB's own `user_version`-like
//! table `schema_version`.

use duckdb::Connection;

use crate::{Context, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../queries/schema/001_events.sql")),
    (2, include_str!("../../../queries/schema/002_links.sql")),
    (3, include_str!("../../../queries/schema/003_lists.sql")),
    (
        4,
        include_str!("../../../queries/schema/004_deliveries.sql"),
    ),
    (
        5,
        include_str!("../../../queries/schema/005_stage_knowledge.sql"),
    ),
    (
        6,
        include_str!("../../../queries/schema/006_review_counts.sql"),
    ),
    (
        7,
        include_str!("../../../queries/schema/007_code_owners.sql"),
    ),
    (
        8,
        include_str!("../../../queries/schema/008_root_cause.sql"),
    ),
];

/// The schema version this flowmeter writes.
pub fn version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

pub(crate) fn migrate(conn: &Connection, path: &str) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .ctx("create schema_version")?;
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .ctx("read schema version")?;
    let supported = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > supported {
        return Err(StoreError::TooNew {
            path: path.to_string(),
            found: current,
            supported,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let batch = format!(
            "BEGIN TRANSACTION; {sql}\nINSERT INTO schema_version VALUES ({version}); COMMIT;"
        );
        if let Err(e) = conn.execute_batch(&batch) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::from_duckdb(
                &format!("migrate to schema version {version}"),
                e,
            ));
        }
    }
    // Written into the file at once: a store's schema never waits in
    // DuckDB's write-ahead log for a replay (which, while DuckDB could
    // install extensions, failed offline: `offline` in lib.rs).
    if current < supported {
        conn.execute_batch("CHECKPOINT")
            .ctx("write the migrated schema into the store")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A new store's schema is in its file once it is open, not in DuckDB's
    /// write-ahead log; and DuckDB installs no extension (a log holding the
    /// migrations, replayed while it could, asked to download DuckDB's own
    /// linked functions: a store whose first process was killed could not
    /// be opened again offline).
    #[test]
    fn a_new_store_holds_its_schema_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.duckdb");
        let store = crate::Store::open(&path).unwrap();
        let wal = dir.path().join("new.duckdb.wal");
        let logged = std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert_eq!(logged, 0, "{} bytes in the log", logged);
        // Nor would DuckDB download anything it missed.
        let fetches: bool = (store.conn)
            .query_row(
                "SELECT current_setting('autoinstall_known_extensions')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!fetches);
        drop(store);
    }
}
