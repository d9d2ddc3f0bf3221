//! The lake: the store's records and links as Hive-partitioned Parquet
//! (`DIR/<table>/month=YYYY-MM/<shard file>.parquet`), for engines that
//! scale past one machine (Spark, Trino, DuckDB over object storage). The
//! metric SQL of `queries/metrics/` runs over these tables unchanged but for
//! a small dialect layer (scripts/spark-check).
//!
//! Each table is partitioned by the month of one timestamp (`none` when it
//! is null), so an export from a month on rewrites only those partitions.
//! A shard (`i/n`) writes only its rows: deployment-side tables by a hash of
//! the service, pull-request-side tables by a hash of the repository,
//! incidents by their first service; its files are named after it
//! (`shard-i-of-n_k.parquet`), so shards written by different machines sit
//! side by side and their union is the whole lake. On a store whose links
//! are out of date, a shard links only what its rows need
//! ([`Store::export_lake`]), so the machines split the link too.

use std::collections::BTreeSet;
use std::path::Path;

use duckdb::Connection;
use flowmeter_config::MetricsConfig;

use crate::link;
use crate::{sql_text, Context, Store, StoreError};

/// A part of the lake: rows whose key hashes to `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// `"2/8"` (the third of eight, counting from 0).
    pub fn parse(s: &str) -> Option<Shard> {
        let (i, n) = s.split_once('/')?;
        let (index, count) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    fn file_prefix(&self) -> String {
        format!("shard-{}-of-{}_", self.index, self.count)
    }

    /// A SQL condition: the row whose shard key is `key` is this shard's
    /// (a null key hashes as the empty string).
    pub(crate) fn holds(&self, key: &str) -> String {
        format!(
            "hash(coalesce({key}, '')) % {} = {}",
            self.count, self.index
        )
    }
}

/// One lake table: its rows (with `month__` and `shard_key__`) as a query.
struct LakeTable {
    name: &'static str,
    /// The timestamp whose month partitions the table.
    month_of: &'static str,
    select: &'static str,
}

const TABLES: [LakeTable; 10] = [
    LakeTable {
        name: "deployments",
        month_of: "coalesce(finished_at, started_at)",
        select: "SELECT *, coalesce(finished_at, started_at) AS ts__, service AS shard_key__ FROM deployments",
    },
    LakeTable {
        name: "commits",
        month_of: "authored_at",
        select: "SELECT *, authored_at AS ts__, repo AS shard_key__ FROM commits",
    },
    LakeTable {
        name: "pull_requests",
        month_of: "created_at",
        select: "SELECT *, created_at AS ts__, repo AS shard_key__ FROM pull_requests",
    },
    LakeTable {
        name: "reviews",
        month_of: "submitted_at",
        select: "SELECT *, submitted_at AS ts__, repo AS shard_key__ FROM reviews",
    },
    LakeTable {
        name: "incidents",
        month_of: "created_at",
        select: "SELECT *, created_at AS ts__, services[1] AS shard_key__ FROM incidents",
    },
    LakeTable {
        name: "link_deployments",
        month_of: "finished_at",
        select: "SELECT *, finished_at AS ts__, service AS shard_key__ FROM link_deployments",
    },
    LakeTable {
        name: "link_changes",
        month_of: "deployed_at",
        select: "SELECT *, deployed_at AS ts__, service AS shard_key__ FROM link_changes",
    },
    LakeTable {
        name: "link_incidents",
        month_of: "the incident's created_at",
        select: "SELECT l.*, i.created_at AS ts__, i.services[1] AS shard_key__ FROM link_incidents l
                 LEFT JOIN incidents i ON i.source = l.incident_source AND i.id = l.incident_id",
    },
    LakeTable {
        name: "link_incident_services",
        month_of: "the incident's created_at",
        select: "SELECT l.*, i.created_at AS ts__, i.services[1] AS shard_key__ FROM link_incident_services l
                 LEFT JOIN incidents i ON i.source = l.incident_source AND i.id = l.incident_id",
    },
    LakeTable {
        name: "link_prs",
        month_of: "coalesce(merged_at, created_at)",
        select: "SELECT *, coalesce(merged_at, created_at) AS ts__, repo AS shard_key__ FROM link_prs",
    },
];

/// Rows per partition (`2026-10` or `none`), by month.
pub type Partitions = Vec<(String, u64)>;

/// One table of an export.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableWritten {
    pub table: String,
    /// The timestamp whose month partitions it.
    pub month_of: String,
    pub partitions: Partitions,
}

/// What an export wrote (this shard's rows).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LakeWritten {
    pub tables: Vec<TableWritten>,
    /// When the store's links were out of date and the export linked only
    /// its shard (not kept: the store's links are left as they were).
    pub linked: Option<ShardLinked>,
}

/// How much of the store a shard linked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShardLinked {
    /// Services walked (the shard's own and those its rows depend on).
    pub services: u64,
    /// Services in the store.
    pub services_total: u64,
    /// Repositories whose pull requests were linked.
    pub repos: u64,
    /// Repositories in the store.
    pub repos_total: u64,
}

/// Every repository the records name (a relation with one `repo` column).
const ALL_REPOS: &str = "(SELECT repo FROM deployments UNION SELECT repo FROM commits
   UNION SELECT repo FROM pull_requests UNION SELECT repo FROM reviews)";

/// The values of one column of a query, as a set.
fn column_set(conn: &Connection, sql: &str) -> Result<BTreeSet<String>, StoreError> {
    crate::text_column(conn, sql, "shard scope")
}

/// What a shard must relink so that its own rows of the lake (deployment
/// side by service, pull-request side by repository, incidents by their
/// first service, as [`Shard::holds`] splits them) come out as a full link
/// makes them: its services; its repositories (with every service deploying
/// from them, which the link's scope adds); its incidents, with every
/// service they name and every deployment id they name.
fn shard_scope(conn: &Connection, shard: Shard) -> Result<link::Touched, StoreError> {
    let incidents = shard.holds("services[1]");
    let pairs = {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT source, id FROM incidents WHERE {incidents}"
            ))
            .ctx("shard scope")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("shard scope")?;
        rows.collect::<Result<_, _>>().ctx("shard scope")?
    };
    Ok(link::Touched {
        services: column_set(
            conn,
            &format!(
                "SELECT service FROM deployments WHERE {}
                 UNION SELECT unnest(services) FROM incidents WHERE {incidents}",
                shard.holds("service")
            ),
        )?,
        repos: column_set(
            conn,
            &format!(
                "SELECT repo FROM {ALL_REPOS} WHERE repo IS NOT NULL AND {}",
                shard.holds("repo")
            ),
        )?,
        deployment_ids: BTreeSet::new(),
        incident_ids: column_set(
            conn,
            &format!(
                "SELECT deployment_id FROM incidents
                 WHERE deployment_id IS NOT NULL AND {incidents}"
            ),
        )?,
        incidents: pairs,
    })
}

/// Links only what `shard`'s rows of the lake need, in place of the links
/// the store holds (the caller's transaction is rolled back afterwards, so
/// the store keeps its own): a machine owning one shard of `n` walks its
/// own services and those deploying from its repositories, about `2/n` of
/// the commit graph when service and repository names hash apart.
fn link_shard(
    conn: &Connection,
    config: &MetricsConfig,
    shard: Shard,
) -> Result<ShardLinked, StoreError> {
    link::clear(conn)?;
    let touched = shard_scope(conn, shard)?;
    link::relink(conn, config, &link::Scope::Part(touched))?;
    let (services, repos) = link::scope_size(conn)?;
    let (services_total, repos_total) = conn
        .query_row(
            &format!(
                "SELECT (SELECT count(DISTINCT service) FROM deployments),
                        (SELECT count(*) FROM {ALL_REPOS} WHERE repo IS NOT NULL)"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ctx("shard scope")?;
    Ok(ShardLinked {
        services,
        services_total,
        repos,
        repos_total,
    })
}

/// An I/O error of the lake (`what`: at `path`), as the store words it.
fn io_error<'a>(what: &'a str, path: &'a Path) -> impl Fn(std::io::Error, &str) -> StoreError + 'a {
    move |source, doing| StoreError::Io {
        context: format!("{what} `{}`: cannot {doing}", path.display()),
        source,
    }
}

/// In the lake at `dir`, replaces this shard's files of `table` in the
/// partitions an export writes (from `from_month` on, else all) with the
/// files staged for them under `staging`: the earlier ones are deleted,
/// then the staged ones moved in (renamed, on the same filesystem).
fn replace_shard_files(
    dir: &Path,
    staging: &Path,
    table: &str,
    shard: Shard,
    from_month: Option<&str>,
) -> Result<(), (std::io::Error, &'static str)> {
    let staged: Vec<std::fs::DirEntry> = std::fs::read_dir(staging.join(table))
        .and_then(|parts| parts.collect())
        .map_err(|e| (e, "list staged partitions"))?;
    let table_dir = dir.join(table);
    std::fs::create_dir_all(&table_dir).map_err(|e| (e, "create a table directory"))?;
    for part in std::fs::read_dir(&table_dir).map_err(|e| (e, "list partitions"))? {
        let part = part.map_err(|e| (e, "list partitions"))?.path();
        let month = part
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("month="))
            .unwrap_or_default()
            .to_string();
        if from_month.is_some_and(|m| month.as_str() < m && month != "none") {
            continue;
        }
        for f in std::fs::read_dir(&part).map_err(|e| (e, "list files"))? {
            let f = f.map_err(|e| (e, "list files"))?.path();
            let mine = f
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&shard.file_prefix()));
            if mine {
                std::fs::remove_file(&f).map_err(|e| (e, "replace a file"))?;
            }
        }
    }
    for part in staged {
        let into = table_dir.join(part.file_name());
        std::fs::create_dir_all(&into).map_err(|e| (e, "create a partition"))?;
        for f in std::fs::read_dir(part.path()).map_err(|e| (e, "list staged files"))? {
            let f = f.map_err(|e| (e, "list staged files"))?;
            std::fs::rename(f.path(), into.join(f.file_name()))
                .map_err(|e| (e, "move a staged file into the lake"))?;
        }
    }
    Ok(())
}

impl Store {
    /// Writes the lake into `dir` (this shard's files; from `from_month`
    /// (`YYYY-MM`) on, else all). The shard's earlier files of the
    /// partitions written are replaced; other shards' files are untouched.
    ///
    /// The links are the store's when they are up to date. Otherwise (an
    /// import with `--no-link`, a changed configuration) the whole store
    /// is relinked and kept, or, for one shard of several, only what that
    /// shard's rows need is linked, in a transaction rolled back after the
    /// export: machines that each own a shard split the link between them.
    pub fn export_lake(
        &mut self,
        config: &MetricsConfig,
        dir: &Path,
        shard: Shard,
        from_month: Option<&str>,
    ) -> Result<LakeWritten, StoreError> {
        if shard == Shard::ALL || !link::is_stale(&self.conn, config)? {
            self.ensure_linked(config)?;
            return self.write_lake(dir, shard, from_month);
        }
        self.conn
            .execute_batch("BEGIN TRANSACTION")
            .ctx("begin transaction")?;
        let written = link_shard(&self.conn, config, shard).and_then(|linked| {
            let mut written = self.write_lake(dir, shard, from_month)?;
            written.linked = Some(linked);
            Ok(written)
        });
        let rolled_back = self.conn.execute_batch("ROLLBACK").ctx("roll back");
        let written = written?;
        rolled_back?;
        Ok(written)
    }

    /// Writes every table's new files into a staging directory beside the
    /// tables, then, once all are written, replaces this shard's earlier
    /// files of the partitions written with them: an export that fails
    /// (out of memory, a full disk) leaves the lake as it was, where it
    /// once left the tables before the failure rewritten and the failing
    /// table's files of this shard deleted.
    fn write_lake(
        &self,
        dir: &Path,
        shard: Shard,
        from_month: Option<&str>,
    ) -> Result<LakeWritten, StoreError> {
        let io = io_error("lake", dir);
        // One per shard: machines that each own a shard share the lake.
        let name = format!(".staging-{}", shard.file_prefix());
        let staging = dir.join(&name);
        std::fs::create_dir_all(dir).map_err(|e| io(e, "create the lake directory"))?;
        // One export of a shard at a time: a second would clear the first's
        // staging directory under it. The lock goes with the process.
        let lock_path = dir.join(format!("{name}lock"));
        let lock = std::fs::File::create(&lock_path).map_err(|e| io(e, "create its lock file"))?;
        if let Err(e) = lock.try_lock() {
            let why = match e {
                std::fs::TryLockError::WouldBlock => std::io::Error::other(format!(
                    "another export of shard {}/{} is writing this lake",
                    shard.index, shard.count
                )),
                std::fs::TryLockError::Error(e) => e,
            };
            return Err(io(why, "lock its shard"));
        }
        if staging.exists() {
            // What an export that was killed left.
            std::fs::remove_dir_all(&staging).map_err(|e| io(e, "clear the staging directory"))?;
        }
        let written = match self.stage_lake(&staging, shard, from_month) {
            Ok(written) => written,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        for t in &TABLES {
            // Past here a failure keeps what is staged: the lake's files of
            // the tables before are replaced, and the staged ones may be the
            // only copy of this export's rows.
            replace_shard_files(dir, &staging, t.name, shard, from_month).map_err(
                |(e, what)| {
                    io(
                        e,
                        &format!(
                            "{what} (the files not moved in yet are in `{}`; export again)",
                            staging.display()
                        ),
                    )
                },
            )?;
        }
        // Moved in: what is left is empty directories, which the next
        // export clears if this fails.
        let _ = std::fs::remove_dir_all(&staging);
        Ok(written)
    }

    /// Writes this shard's files of every table (from `from_month` on,
    /// else all) under `staging`, as the lake lays them out.
    fn stage_lake(
        &self,
        staging: &Path,
        shard: Shard,
        from_month: Option<&str>,
    ) -> Result<LakeWritten, StoreError> {
        let mut written = LakeWritten::default();
        let io = io_error("lake staging", staging);
        for t in &TABLES {
            let table_dir = staging.join(t.name);
            std::fs::create_dir_all(&table_dir).map_err(|e| io(e, "create a table directory"))?;
            let mut filter = shard.holds("shard_key__");
            if let Some(m) = from_month {
                filter.push_str(&format!(" AND (month IS NULL OR month >= {})", sql_text(m)));
            }
            let rows = format!(
                "SELECT * EXCLUDE (ts__, shard_key__, month), coalesce(month, 'none') AS month
                 FROM (SELECT *, strftime(ts__, '%Y-%m') AS month FROM ({select}))
                 WHERE {filter}",
                select = t.select
            );
            let n: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM ({rows})"), [], |r| r.get(0))
                .ctx(&format!("count {}", t.name))?;
            if n == 0 {
                // No rows: one empty file keeps the table's schema readable.
                let none = table_dir.join("month=none");
                std::fs::create_dir_all(&none).map_err(|e| io(e, "create a partition"))?;
                let file = none.join(format!("{}0.parquet", shard.file_prefix()));
                self.conn
                    .execute_batch(&format!(
                        "COPY (SELECT * EXCLUDE (month) FROM ({rows}) LIMIT 0) TO {} (FORMAT parquet)",
                        sql_text(&file.display().to_string())
                    ))
                    .ctx(&format!("write the lake table {}", t.name))?;
            } else {
                self.conn
                    .execute_batch(&format!(
                        "COPY ({rows}) TO {} (FORMAT parquet, PARTITION_BY (month), OVERWRITE_OR_IGNORE true, FILENAME_PATTERN {})",
                        sql_text(&table_dir.display().to_string()),
                        sql_text(&format!("{}{{i}}", shard.file_prefix()))
                    ))
                    .ctx(&format!("write the lake table {}", t.name))?;
            }
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT month, count(*) FROM ({rows}) GROUP BY 1 ORDER BY 1"
                ))
                .ctx(&format!("count {}", t.name))?;
            let parts = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })
                .ctx(&format!("count {}", t.name))?
                .collect::<Result<Vec<_>, _>>()
                .ctx(&format!("count {}", t.name))?;
            written.tables.push(TableWritten {
                table: t.name.to_string(),
                month_of: t.month_of.to_string(),
                partitions: parts,
            });
        }
        Ok(written)
    }

    /// Rows per partition of every table of the lake at `dir` (all shards).
    pub fn lake_partitions(&self, dir: &Path) -> Result<Vec<(String, Partitions)>, StoreError> {
        let mut out = Vec::new();
        for t in &TABLES {
            let glob = dir.join(t.name).join("*").join("*.parquet");
            let has_files = std::fs::read_dir(dir.join(t.name))
                .map(|d| {
                    d.flatten().any(|p| {
                        std::fs::read_dir(p.path())
                            .map(|mut f| f.next().is_some())
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false);
            if !has_files {
                out.push((t.name.to_string(), Vec::new()));
                continue;
            }
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT month, count(*) FROM read_parquet({}, hive_partitioning = true) GROUP BY 1 ORDER BY 1",
                    sql_text(&glob.display().to_string())
                ))
                .ctx("read the lake")?;
            let parts = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })
                .ctx("read the lake")?
                .collect::<Result<Vec<_>, _>>()
                .ctx("read the lake")?;
            out.push((t.name.to_string(), parts));
        }
        Ok(out)
    }

    /// The month column of each lake table.
    pub fn lake_months() -> Vec<(&'static str, &'static str)> {
        TABLES.iter().map(|t| (t.name, t.month_of)).collect()
    }

    /// Every row of every table of the lake at `dir` (all shards), sorted,
    /// as text: two lakes with the same rows give the same text.
    pub fn lake_text(&self, dir: &Path) -> Result<String, StoreError> {
        let mut out = String::new();
        for t in &TABLES {
            let glob = dir.join(t.name).join("*").join("*.parquet");
            out.push_str(t.name);
            out.push('\n');
            self.rows_text(
                &format!(
                    "SELECT * FROM read_parquet({}, hive_partitioning = true) ORDER BY ALL",
                    sql_text(&glob.display().to_string())
                ),
                &mut out,
            )?;
        }
        Ok(out)
    }
}
