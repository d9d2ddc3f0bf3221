//! Linking into the store: loads the records a relink needs (all, or
//! those of the services and repositories an import touched), links them
//! with `flowmeter_link`'s rules (METRICS.md "Linking", each a pure
//! function with its own tests), and writes the `link_*` tables every
//! metric query reads, so no query recomputes them.

use std::collections::{BTreeSet, HashMap};

use duckdb::arrow::array::{Array, AsArray, BooleanArray, Int64Array, ListArray, StringArray};
use duckdb::arrow::datatypes::Int64Type;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::Value;
use duckdb::Connection;
use flowmeter_config::MetricsConfig;
use flowmeter_link::commits::{RepoId, Repos};
use flowmeter_link::deployments::{self, Deployment, Ordered};
use flowmeter_link::graph::Graph;
use flowmeter_link::incidents::Incident;
use flowmeter_link::pull_requests::{FirstDeployed, PullRequestRecord, PullRequests};
use flowmeter_link::{Changes, DeploymentLinks};

use crate::append::{append_all, Cell};
use crate::link_parts::{self, Repositories};
use crate::{Context, StoreError};

const FINGERPRINT_KEY: &str = "link_fingerprint";

/// Counts of what linking found, for the import summary and coverage.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LinkSummary {
    pub deployments: u64,
    pub changes: u64,
    pub changes_with_pr: u64,
    pub changes_without_start: u64,
    pub incidents: u64,
    pub incidents_attributed: u64,
    pub rollbacks: u64,
    pub failed_deployments: u64,
}

/// Whether the links were made under another configuration (or never):
/// its fingerprint is not the one stored.
pub(crate) fn is_stale(conn: &Connection, config: &MetricsConfig) -> Result<bool, StoreError> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT max(value) FROM store_meta WHERE key = ?",
            [FINGERPRINT_KEY],
            |r| r.get(0),
        )
        .ctx("read link fingerprint")?;
    Ok(stored.as_deref() != Some(config.fingerprint().as_str()))
}

/// Whether an import must relink everything: the links are out of date
/// (see [`is_stale`]) or there are none yet (a new store: link everything
/// at once). One query.
pub(crate) fn needs_full(conn: &Connection, config: &MetricsConfig) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT (SELECT max(value) FROM store_meta WHERE key = ?) IS DISTINCT FROM ?
             OR (NOT EXISTS (SELECT 1 FROM link_deployments)
                 AND NOT EXISTS (SELECT 1 FROM link_prs))",
        [FINGERPRINT_KEY, config.fingerprint().as_str()],
        |r| r.get(0),
    )
    .ctx("read links")
}

/// A `VARCHAR[]` cell: `None` for NULL.
fn list(v: Value) -> Option<Vec<String>> {
    match v {
        Value::List(items) | Value::Array(items) => Some(
            items
                .into_iter()
                .filter_map(|i| match i {
                    Value::Text(t) => Some(t),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// What to relink: everything, or only what an import touched.
#[derive(Debug, Clone, Default)]
pub(crate) struct Touched {
    /// Services whose deployments (or their changes, incidents) changed.
    pub services: BTreeSet<String>,
    /// Repositories whose commits, pull requests or reviews changed.
    pub repos: BTreeSet<String>,
    /// Ids of changed deployments (they may compete for an incident's
    /// explicit `deployment_id`).
    pub deployment_ids: BTreeSet<String>,
    /// Deployment ids that changed incidents name (before and after).
    pub incident_ids: BTreeSet<String>,
    /// Changed incidents, as (source, id).
    pub incidents: BTreeSet<(String, String)>,
}

impl Touched {
    pub(crate) fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.repos.is_empty()
            && self.deployment_ids.is_empty()
            && self.incident_ids.is_empty()
            && self.incidents.is_empty()
    }
}

/// Leaves the links for later (an import with `--no-link`): the next
/// command that reads them relinks everything first, as after a change of
/// configuration; `lake export --shard` links only its shard.
pub(crate) fn forget(conn: &Connection) -> Result<(), StoreError> {
    conn.execute("DELETE FROM store_meta WHERE key = ?", [FINGERPRINT_KEY])
        .ctx("mark the links out of date")?;
    Ok(())
}

/// Empties every link table (before a relink of only some services whose
/// result stands for the whole, as a lake shard's).
pub(crate) fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(CLEAR_ALL).ctx("clear links")
}

const CLEAR_ALL: &str =
    "DELETE FROM link_deployments; DELETE FROM link_changes; DELETE FROM link_incidents;
     DELETE FROM link_incident_services; DELETE FROM link_prs;";

/// The services and repositories the last partial relink walked.
pub(crate) fn scope_size(conn: &Connection) -> Result<(u64, u64), StoreError> {
    conn.query_row(
        "SELECT (SELECT count(DISTINCT service) FROM link_scope_services),
                (SELECT count(DISTINCT repo) FROM link_scope_repos)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ctx("link scope")
}

/// Whether a relink covers every service or a part.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    All,
    Part(Touched),
}

/// Fills the temporary `link_scope_*` tables the partial loads join on:
/// the services to relink — the touched ones; those deploying from a
/// touched repository (or, without a repo, a commit of one); those with a
/// deployment of an id a changed incident names, or of a changed
/// deployment's id that some incident names — the touched repositories, the
/// touched incidents. (The repositories walked, and those the relinked
/// services' changes were in, are added by [`relink_within`].)
fn prepare_scope(conn: &Connection, t: &Touched) -> Result<(), StoreError> {
    let tables = [
        ScopeRows::single("link_scope_services", &["service"], &t.services),
        ScopeRows::single("link_scope_repos", &["repo"], &t.repos),
        ScopeRows::single("link_scope_ids", &["id"], &t.deployment_ids),
        ScopeRows::single("link_scope_incident_ids", &["id"], &t.incident_ids),
        ScopeRows::new(
            "link_scope_incidents",
            &["source", "id"],
            (t.incidents.iter())
                .map(|(s, i)| vec![s.as_str(), i.as_str()])
                .collect(),
        ),
    ];
    conn.execute_batch(&tables.iter().map(ScopeRows::create).collect::<String>())
        .ctx("link scope")?;
    for table in &tables {
        table.append(conn)?;
    }
    // Deployments without a repo belong to a touched repository by their
    // commit: the touched repositories' commits, named in the statement
    // when they are few (read only when some deployment has no repo).
    let repo_less: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM deployments WHERE repo IS NULL)",
            [],
            |r| r.get(0),
        )
        .ctx("link scope")?;
    let by_commit = if repo_less {
        // `link_scope_repos` holds the touched repositories alone so far.
        let commits = RepoRows::named(
            t.repos.iter().cloned(),
            "repo IN (SELECT repo FROM link_scope_repos)".into(),
        )
        .relation("commits", "c");
        format!(
            "UNION SELECT service FROM deployments
               WHERE repo IS NULL AND commit_sha IN (SELECT sha FROM {commits})"
        )
    } else {
        String::new()
    };
    // The touched repositories are named in the statement when they are
    // few ([`one_of`]; deployments of two repositories in the 10M-event
    // store, 5.1 -> 1.6 ms). Ids are not: a list is compared with every
    // row's id, which has no dictionary to compare once (180 ids, 84 ms),
    // where the semi join's keys skip row groups.
    conn.execute_batch(&format!(
        "INSERT INTO link_scope_services
           SELECT service FROM deployments WHERE {repos}
           {by_commit}
           UNION SELECT service FROM deployments WHERE id IN (SELECT id FROM link_scope_incident_ids)
           UNION SELECT service FROM deployments
             WHERE id IN (SELECT id FROM link_scope_ids)
               AND id IN (SELECT deployment_id FROM incidents WHERE deployment_id IS NOT NULL)
           EXCEPT SELECT service FROM link_scope_services;",
        repos = one_of_or_in("repo", &t.repos, "SELECT repo FROM link_scope_repos"),
    ))
    .ctx("link scope")?;
    Ok(())
}

/// Rows a scope table takes as SQL literals, in the statement that creates
/// or fills it; more go through the appender. A small import's scope
/// tables took fifteen statements (create, read the columns, append):
/// about 7 ms of its 0.16 s into the 1M-event store.
const LITERAL_ROWS: usize = 1_000;

/// The rows of one temporary `link_scope_*` table (`VARCHAR` columns).
struct ScopeRows<'a> {
    table: &'static str,
    columns: &'static [&'static str],
    rows: Vec<Vec<&'a str>>,
}

impl<'a> ScopeRows<'a> {
    fn new(table: &'static str, columns: &'static [&'static str], rows: Vec<Vec<&'a str>>) -> Self {
        ScopeRows {
            table,
            columns,
            rows,
        }
    }

    /// The rows of a table of one column (`column`: its name alone).
    fn single(
        table: &'static str,
        column: &'static [&'static str; 1],
        values: impl IntoIterator<Item = &'a String>,
    ) -> Self {
        let rows = values.into_iter().map(|v| vec![v.as_str()]).collect();
        ScopeRows::new(table, column, rows)
    }

    /// Whether the rows go in as literals: few.
    fn literal(&self) -> bool {
        self.rows.len() <= LITERAL_ROWS
    }

    /// `VALUES (...), ...` of the rows.
    fn values(&self) -> String {
        let rows = self.rows.iter().map(|r| {
            let cells = r.iter().map(|v| crate::sql_text(v)).collect::<Vec<_>>();
            format!("({})", cells.join(", "))
        });
        format!("VALUES {}", rows.collect::<Vec<_>>().join(", "))
    }

    /// The statement (re)creating the table, holding the rows when they
    /// are [`ScopeRows::literal`] (else [`ScopeRows::append`] adds them).
    fn create(&self) -> String {
        let (table, columns) = (self.table, self.columns.join(", "));
        if self.literal() && !self.rows.is_empty() {
            format!(
                "CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM ({}) v({columns});\n",
                self.values()
            )
        } else {
            let typed = (self.columns.iter())
                .map(|c| format!("{c} VARCHAR"))
                .collect::<Vec<_>>();
            format!(
                "CREATE OR REPLACE TEMP TABLE {table} ({});\n",
                typed.join(", ")
            )
        }
    }

    /// Appends the rows that [`ScopeRows::create`] left out.
    fn append(&self, conn: &Connection) -> Result<(), StoreError> {
        if self.literal() {
            return Ok(());
        }
        let cells = (self.rows.iter()).map(|r| r.iter().map(|v| Cell::Text(v)).collect::<Vec<_>>());
        append_all(conn, self.table, cells)
    }

    /// Adds the rows to the table, which exists.
    fn add(&self, conn: &Connection) -> Result<(), StoreError> {
        if self.rows.is_empty() {
            Ok(())
        } else if self.literal() {
            conn.execute_batch(&format!("INSERT INTO {} {};", self.table, self.values()))
                .ctx("link scope")
        } else {
            self.append(conn)
        }
    }
}

/// How a relink's statements keep the rows of the services it relinks.
enum Services {
    /// Every service (a full relink).
    All,
    /// A few, named ([`one_of`]): DuckDB skips row groups by them and
    /// filters the column in its scan, reading the other columns only for
    /// the rows kept. A semi join on the scope table reads them for every
    /// row and filters after; written `service = '...' OR ...`, the names
    /// only skipped row groups, and that was already faster (a small
    /// import into the 1M-event store, DuckDB 2.0 from Python, medians of
    /// 15: its deployments loaded in 6.3 -> 5.0 ms, the stored changes'
    /// repositories read in 2.9 -> 1.5 ms, its old changes and
    /// deployments deleted in 1.8 -> 1.0 and 1.3 -> 0.8 ms).
    Named(Vec<String>),
    /// Many: those of `link_scope_services`.
    Many,
}

impl Services {
    /// The most services named ([`RepoRows::MAX_NAMED`]).
    const MAX_NAMED: usize = RepoRows::MAX_NAMED;

    /// The services `scope` relinks, once [`prepare_scope`] has filled
    /// `link_scope_services`.
    fn of(conn: &Connection, scope: &Scope) -> Result<Services, StoreError> {
        if let Scope::All = scope {
            return Ok(Services::All);
        }
        let named: Vec<String> = crate::text_column(
            conn,
            &format!(
                "SELECT DISTINCT service FROM link_scope_services ORDER BY service LIMIT {}",
                Self::MAX_NAMED + 1
            ),
            "link scope",
        )?;
        Ok(if named.len() > Self::MAX_NAMED {
            Services::Many
        } else {
            Services::Named(named)
        })
    }

    /// A `WHERE` condition keeping the rows whose `col` is one of these
    /// services.
    fn filter(&self, col: &str) -> String {
        match self {
            Services::All => "TRUE".to_string(),
            Services::Named(named) if named.is_empty() => "FALSE".to_string(),
            Services::Named(named) => one_of(col, named),
            Services::Many => format!("{col} IN (SELECT service FROM link_scope_services)"),
        }
    }
}

/// A `WHERE` condition keeping the rows whose `col` is one of `values`
/// (none: `FALSE`), written for DuckDB 2.0's scan to use twice. A bare
/// `col IN ('a', 'b')` (or `col = 'a' OR col = 'b'`, which it turns into
/// one) is handed to the scan only as a hint for skipping row groups, and
/// filtered after the scan has read every other column of every row it
/// kept; `(col IN (...)) IS TRUE` (the same rows: `WHERE` drops NULL as it
/// drops FALSE) is evaluated by the scan itself, which then reads the
/// other columns only for the rows kept, but skips no row group. Both
/// together do both. On the 10M-event store (DuckDB 2.0 from Python,
/// medians of 7), the bare list, `IS TRUE` alone and both: two services'
/// deployments 9.1, 2.6 and 2.0 ms; deleting their changes (stored by
/// service, so row groups are skipped) 1.0, 4.3 and 0.86 ms; eight
/// services' deployments 11.2, 4.1 and 3.9 ms; four repositories' commits
/// 231, 29.6 and 28.3 ms. Negated, it keeps a row whose `col` is NULL
/// (`NOT (NULL AND FALSE)`), where `NOT col IN (...)` drops it: negate it
/// only on a column that is never NULL.
pub(crate) fn one_of<S: AsRef<str>>(col: &str, values: impl IntoIterator<Item = S>) -> String {
    let values: Vec<String> = (values.into_iter())
        .map(|v| crate::sql_text(v.as_ref()))
        .collect();
    if values.is_empty() {
        return "FALSE".to_string();
    }
    let list = values.join(", ");
    format!("({col} IN ({list}) AND ({col} IN ({list})) IS TRUE)")
}

/// A `WHERE` condition keeping the rows whose `col` is one of `values`:
/// named ([`one_of`]) when they are few ([`RepoRows::MAX_NAMED`]), else
/// a semi join on `select`, a query of the same values.
fn one_of_or_in(col: &str, values: &BTreeSet<String>, select: &str) -> String {
    if values.len() <= RepoRows::MAX_NAMED {
        one_of(col, values)
    } else {
        format!("{col} IN ({select})")
    }
}

/// How a statement reads a table's rows of a few repositories (those of
/// the link's scope, those of an import's staged records).
pub(crate) enum RepoRows {
    /// The rows where a condition holds: every row (a full relink, an
    /// import of many repositories), or a semi join on `link_scope_repos`.
    Within(String),
    /// The rows of these repositories, filtered inside the scan
    /// ([`one_of`]): DuckDB then reads the other columns (parents, labels,
    /// commit lists) only for the rows kept. A scan that read every
    /// column of every row made a small import into a 10M-event store
    /// spend 0.84 s loading 8,600 commits of 2 repos.
    Each(Vec<String>),
}

impl RepoRows {
    /// Past this many names, a semi join on a table of them rather than
    /// a list written into the statement ([`one_of`]). Where DuckDB keeps
    /// the column as a dictionary (names repeat), it compares the list with
    /// the dictionary, and the list is the faster up to about 200: the
    /// commit shas of 9, 32, 100 and 208 repositories of the 1M-event
    /// store, 1.8, 3.3, 7.7 and 15.6 ms against 13.8, 13.8, 14.3 and 14.8
    /// ms (DuckDB 2.0 from Python, medians of 11). Where it compares every
    /// row (values that do not repeat: 180 deployment ids of the 10M-event
    /// store, 84 ms against 11 ms) a long list costs more: a bound well
    /// below what a dictionary allows.
    pub(crate) const MAX_NAMED: usize = 16;

    /// `repos`, named in the statement when they are few, else the rows
    /// where `otherwise` holds.
    pub(crate) fn named(repos: impl IntoIterator<Item = String>, otherwise: String) -> RepoRows {
        let repos: Vec<String> = repos.into_iter().collect();
        if repos.len() > Self::MAX_NAMED {
            RepoRows::Within(otherwise)
        } else {
            RepoRows::Each(repos)
        }
    }

    /// How a load of these rows comes: the few of named repositories, or
    /// many.
    fn rows(&self) -> Rows {
        Rows::of(matches!(self, RepoRows::Each(_)))
    }

    /// `table`'s rows (it has a `repo` column), as a relation named `table`.
    fn from(&self, table: &str) -> String {
        self.relation(table, table)
    }

    /// `table`'s rows (it has a `repo` column), as a relation named `alias`.
    pub(crate) fn relation(&self, table: &str, alias: &str) -> String {
        format!("({}) AS {alias}", self.select(table, "*"))
    }

    /// The row id (as `rowid__`) and `key` columns of `table`'s rows: a
    /// query reading nothing else.
    pub(crate) fn keys(&self, table: &str, key: &[&str]) -> String {
        self.select(table, &format!("rowid AS rowid__, {}", key.join(", ")))
    }

    /// The row id (as `rowid__`) and every column of `table`'s rows.
    pub(crate) fn rows_with_id(&self, table: &str) -> String {
        self.select(table, "rowid AS rowid__, *")
    }

    /// The `WHERE` condition keeping a table's rows of these repositories.
    fn condition(&self) -> String {
        match self {
            RepoRows::Within(within) => within.clone(),
            RepoRows::Each(repos) => one_of("repo", repos),
        }
    }

    /// `SELECT columns` of `table`'s rows.
    fn select(&self, table: &str, columns: &str) -> String {
        format!("SELECT {columns} FROM {table} WHERE {}", self.condition())
    }
}

/// Relinks `scope`: loads the records it needs, links them with
/// `flowmeter_link`'s rules, and writes the `link_*` tables. What they
/// hold then is [`summary`]'s to count, for those who show it: a partial
/// relink (an import, a webhook) does not read them again (a small import
/// into the 10M-event store: 17 ms).
pub(crate) fn relink(
    conn: &Connection,
    config: &MetricsConfig,
    scope: &Scope,
) -> Result<(), StoreError> {
    relink_within(conn, config, scope, None).map(|_| ())
}

/// [`relink`], its model of commits and pull requests held to `budget`
/// bytes when given, else to a share of `FLOWMETER_MEMORY_LIMIT`
/// ([`crate::memory::model_budget`]): past it, a full relink links the
/// repositories in parts ([`link_parts`]), and a partial one gives way to
/// a full one. Returns the number of parts.
pub(crate) fn relink_within(
    conn: &Connection,
    config: &MetricsConfig,
    scope: &Scope,
    budget: Option<u64>,
) -> Result<usize, StoreError> {
    let budget = budget.unwrap_or_else(crate::memory::model_budget);
    let t0 = std::time::Instant::now();
    match relink_once(conn, config, scope, budget)? {
        Some(parts) => Ok(parts),
        // A partial relink whose commits and pull requests passed the
        // budget (an import that changed most of a large store) gives way
        // to a full one, in parts, before it wrote anything; its model is
        // let go first. Both give the same links.
        None => {
            crate::timing::phase("link: the partial relink passed its budget", t0);
            relink_once(conn, config, &Scope::All, budget)
                .map(|parts| parts.expect("a full relink links in parts within any budget"))
        }
    }
}

/// [`relink_within`] once: `None` when a partial relink's commits and
/// pull requests pass the budget (it has then cleared the scope's links
/// and written none).
fn relink_once(
    conn: &Connection,
    config: &MetricsConfig,
    scope: &Scope,
    budget: u64,
) -> Result<Option<usize>, StoreError> {
    let t0 = std::time::Instant::now();
    // A full relink's model stands beside DuckDB's memory: DuckDB gets a
    // quarter of its limit meanwhile (a 10M-event import with
    // FLOWMETER_MEMORY_LIMIT=1GB peaked at 1,840–1,960 MiB, DuckDB's memory
    // at its limit beside the model; lowered, 1,590 MiB, the link no
    // slower), and the model of commits and pull requests as much, in
    // parts past it (the link's peak 1,530 → 1,050 MiB, in 3 parts).
    let _memory = match scope {
        Scope::All => Some(crate::memory::Lowered::new(conn)?),
        Scope::Part(_) => None,
    };
    if let Scope::Part(t) = scope {
        prepare_scope(conn, t)?;
    }
    let services = Services::of(conn, scope)?;
    crate::timing::phase("link: load scope", t0);
    let tl = std::time::Instant::now();
    let ordered = deployments::order(load_deployments(conn, config, &services)?, config);
    crate::timing::phase("link: load deployments", tl);
    let tl = std::time::Instant::now();
    let mut repos = Repos::default();
    // Only deployments without a repo look theirs up by commit.
    let repo_of_sha = if ordered.deployments.iter().any(|d| d.repo.is_none()) {
        repo_of_sha(conn, &services)?
    } else {
        HashMap::new()
    };
    let repo_of = flowmeter_link::resolve_repos(&ordered.deployments, &repo_of_sha, &mut repos);
    let mut others_changes = false;
    let repo_rows = match scope {
        Scope::All => RepoRows::Within("TRUE".into()),
        Scope::Part(t) => {
            // The repositories walked now, and those the relinked services'
            // changes were in until now: their pull requests' deploy stage
            // may move either way. Gathered here beside the touched ones
            // (already in `link_scope_repos`), so the loads know them
            // without reading the table back.
            let mut added: BTreeSet<String> = crate::text_column(
                conn,
                &format!(
                    "SELECT DISTINCT repo FROM link_changes WHERE repo IS NOT NULL AND {}",
                    services.filter("service")
                ),
                "link scope",
            )?;
            added.extend(
                repo_of
                    .iter()
                    .filter_map(|&r| repos.name(r))
                    .map(str::to_string),
            );
            added.retain(|r| !t.repos.contains(r));
            // Every service deploying from a touched repository is in the
            // scope (`prepare_scope`), and a change is in the repository
            // its deployment walks: past the touched ones, other services'
            // stored changes may share a repository with the scope's.
            others_changes = !added.is_empty();
            ScopeRows::single("link_scope_repos", &["repo"], &added).add(conn)?;
            let otherwise = "repo IN (SELECT repo FROM link_scope_repos)".into();
            RepoRows::named(t.repos.iter().chain(&added).cloned(), otherwise)
        }
    };
    crate::timing::phase("link: load repos", tl);
    let scope_repos = repo_rows.condition();
    let tl = std::time::Instant::now();
    let incidents = load_incidents(conn, &services)?;
    let foreign = attribution_candidates(conn, config, &services, &incidents)?;
    crate::timing::phase("link: load incidents", tl);
    let tl = std::time::Instant::now();
    let links = flowmeter_link::link_deployments(&ordered, &incidents, &foreign, config);
    crate::timing::phase("link: rollbacks and incidents", tl);
    let tl = std::time::Instant::now();
    let parts = match scope {
        Scope::All => {
            let planned = link_parts::plan(conn, &ordered, &repo_of, &repos, budget)?;
            planned.into_iter().map(Part::of).collect()
        }
        Scope::Part(_) => vec![Part {
            rows: repo_rows,
            named: None,
            services: ordered.services.values().cloned().collect(),
            others_changes,
        }],
    };
    crate::timing::phase(&format!("link: plan ({} parts)", parts.len()), tl);
    let tl = std::time::Instant::now();
    // The scope's attributions by `EXISTS` rather than `DELETE ... USING`
    // (a small import into the 1M-event store: 4.4 -> 3.3 ms, DuckDB 2.0
    // from Python, medians of 15).
    let clear = match scope {
        Scope::All => CLEAR_ALL.to_string(),
        Scope::Part(_) => format!(
            "DELETE FROM link_incidents l WHERE EXISTS (
               SELECT 1 FROM link_deployments d
               WHERE d.source = l.deployment_source AND d.id = l.deployment_id AND {deployed});
             DELETE FROM link_changes WHERE {in_scope};
             DELETE FROM link_deployments WHERE {in_scope};
             DELETE FROM link_incident_services i USING link_scope_incidents s
               WHERE i.incident_source = s.source AND i.incident_id = s.id;
             DELETE FROM link_prs WHERE {scope_repos};",
            deployed = services.filter("d.service"),
            in_scope = services.filter("service"),
        ),
    };
    conn.execute_batch(&clear).ctx("clear links")?;
    crate::timing::phase("link: clear the old links", tl);
    let deployments = &ordered.deployments;
    let mut found = Found {
        changes: vec![0; deployments.len()],
        rework: vec![false; deployments.len()],
    };
    let n_parts = parts.len();
    // A full relink's parts are within the budget (where they can be); a
    // partial one, in one part, stops at it.
    let mut held = Held {
        left: match scope {
            Scope::All => u64::MAX,
            Scope::Part(_) => budget,
        },
    };
    let linked = Linked {
        conn,
        config,
        ordered: &ordered,
        links: &links,
        repo_of: &repo_of,
    };
    for part in parts {
        if !linked.part(part, &mut repos, &mut found, &mut held)? {
            return Ok(None);
        }
    }
    let t0 = std::time::Instant::now();
    let rows = deployments.iter().enumerate().map(|(i, d)| {
        let outcome = links.outcome(i, deployments, &incidents);
        [
            Cell::Text(&d.source),
            Cell::Text(&d.id),
            Cell::Text(&d.service),
            Cell::text(d.repo.as_deref()),
            Cell::Text(&d.commit_sha),
            Cell::ts(Some(d.finished_at)),
            Cell::Text(&d.kind),
            Cell::Int(links.seq[i] as i64),
            Cell::Bool(links.is_rollback[i]),
            Cell::text(links.rolled_back_by[i].map(|r| deployments[r].id.as_str())),
            Cell::Int(links.incidents_of(i).count() as i64),
            Cell::Bool(outcome.failed),
            Cell::Bool(outcome.open),
            Cell::ts(outcome.recovered_at),
            Cell::Int(found.changes[i] as i64),
            Cell::Bool(found.rework[i]),
        ]
    });
    append_all(conn, "link_deployments", rows)?;
    let rows = links.attributions.iter().map(|a| {
        let (inc, d) = (&incidents[a.incident], &deployments[a.deployment]);
        [
            Cell::Text(&inc.source),
            Cell::Text(&inc.id),
            Cell::Text(&d.source),
            Cell::Text(&d.id),
            Cell::Text(a.how.as_str()),
        ]
    });
    append_all(conn, "link_incidents", rows)?;
    conn.execute_batch(&format!(
        "INSERT INTO link_incident_services
           SELECT source, id, unnest(services) FROM incidents i WHERE {};",
        match scope {
            Scope::All => "TRUE",
            Scope::Part(_) => {
                "EXISTS (SELECT 1 FROM link_scope_incidents s WHERE s.source = i.source AND s.id = i.id)"
            }
        }
    ))
    .ctx("link incident services")?;
    crate::timing::phase("link: write deployments and incidents", t0);
    // A partial relink runs only where the links are of this configuration
    // already (an import into linked data; a lake shard's, rolled back):
    // the fingerprint stays as it is.
    if let Scope::All = scope {
        conn.execute(
            "INSERT OR REPLACE INTO store_meta VALUES (?, ?)",
            [FINGERPRINT_KEY, config.fingerprint().as_str()],
        )
        .ctx("save link fingerprint")?;
    }
    Ok(Some(n_parts))
}

/// One part of a relink, as its loads read it: the rows of its
/// repositories, and the services deploying from them.
struct Part {
    rows: RepoRows,
    /// The repositories to put in the temporary table [`PART_REPOS`]
    /// before the rows are read (`rows` joins on it), when they are not a
    /// range of names.
    named: Option<Vec<String>>,
    services: Vec<std::ops::Range<usize>>,
    /// Whether other services' stored changes may be in its repositories
    /// (a partial relink's, past the touched repositories): the first
    /// deployment of each commit is then read from the stored changes,
    /// else it is in the changes linked now.
    others_changes: bool,
}

/// The temporary table a part's repositories are named in, when they are
/// not a range of names.
const PART_REPOS: &str = "link_part_repos";

impl Part {
    /// How a part that [`link_parts::plan`] made is read.
    fn of(planned: link_parts::Part) -> Part {
        let (rows, named) = match planned.repos {
            Repositories::Every => ("TRUE".to_string(), None),
            Repositories::Range { first, last } => (
                format!(
                    "repo BETWEEN {} AND {}",
                    crate::sql_text(&first),
                    crate::sql_text(&last)
                ),
                None,
            ),
            Repositories::Named(names) => (
                format!("repo IN (SELECT repo FROM {PART_REPOS})"),
                Some(names),
            ),
        };
        Part {
            rows: RepoRows::Within(rows),
            named,
            services: planned.services,
            others_changes: false,
        }
    }
}

/// What a relink's deployments need of their changes, gathered part by
/// part: how many each brought, and whether it is rework.
struct Found {
    changes: Vec<u32>,
    rework: Vec<bool>,
}

/// What every part of a relink shares: the ordered deployments, their
/// rollbacks and incidents, and each one's repository.
struct Linked<'a> {
    conn: &'a Connection,
    config: &'a MetricsConfig,
    ordered: &'a Ordered,
    links: &'a DeploymentLinks,
    repo_of: &'a [RepoId],
}

impl Linked<'_> {
    /// Links one part: loads its repositories' commits and pull requests,
    /// walks its services' changes and writes them, then the pull requests
    /// with their stages; each deployment's count of changes and rework go
    /// to `found`. Its commits and pull requests are let go at the end.
    fn part(
        &self,
        part: Part,
        repos: &mut Repos,
        found: &mut Found,
        held: &mut Held,
    ) -> Result<bool, StoreError> {
        let Linked { conn, config, .. } = *self;
        let t0 = std::time::Instant::now();
        if let Some(named) = &part.named {
            let names = ScopeRows::single(PART_REPOS, &["repo"], named);
            conn.execute_batch(&names.create()).ctx("link part")?;
            names.append(conn)?;
        }
        let loaded = load_commits(conn, &part.rows, repos, held)?;
        crate::timing::phase("link: load commits", t0);
        if !loaded {
            return Ok(false);
        }
        let t0 = std::time::Instant::now();
        let Some(mut prs) = load_pull_requests(conn, config, &part.rows, repos, held)? else {
            return Ok(false);
        };
        crate::timing::phase("link: load pull requests and reviews", t0);
        let t0 = std::time::Instant::now();
        let deployments = &self.ordered.deployments;
        let services = part.services.iter().cloned();
        let changes = Changes::of_services(self.ordered, services, self.repo_of, repos);
        for i in part.services.iter().flat_map(|r| r.clone()) {
            found.changes[i] = changes.changes_of(i).len() as u32;
            found.rework[i] = changes.is_rework(i, self.links, deployments, &prs);
        }
        crate::timing::phase("link: changes", t0);
        let t0 = std::time::Instant::now();
        let rows = changes.iter().map(|(i, c)| {
            let d = &deployments[i];
            let (start, pr) = prs.start_of(c, repos);
            [
                Cell::Text(&d.service),
                Cell::text(repos.name(c.repo)),
                Cell::Text(repos.sha(c)),
                Cell::Text(&d.source),
                Cell::Text(&d.id),
                Cell::ts(Some(d.finished_at)),
                Cell::ts(start),
                Cell::int(pr),
            ]
        });
        append_all(conn, "link_changes", rows)?;
        crate::timing::phase("link: write changes", t0);
        let t0 = std::time::Instant::now();
        // First deployment (any service) of each commit, for the deploy
        // stage: from the changes of every service, not only those
        // relinked. A full link has in memory those of every service
        // deploying from the part's repositories, which are all there are
        // (1M events: 0.7 s less than reading them back), and so has a
        // partial one that walked only the touched repositories (a small
        // import into a 1M-event store: 13 ms less); one that walked others
        // reads the stored ones, its own just written.
        let first_deployed = if part.others_changes {
            stored_first_deployed(conn, &part.rows, repos)?
        } else {
            changes.first_deployed(deployments)
        };
        // Writing the pull requests needs their stages and the
        // repositories' names only: the graphs go first.
        drop(changes);
        repos.forget_commits();
        prs.forget_lookups();
        crate::timing::phase("link: first deployments", t0);
        let t0 = std::time::Instant::now();
        let rows = prs.list.iter().map(|p| {
            let s = prs.stages(p, &first_deployed);
            [
                Cell::text(repos.name(p.repo)),
                Cell::Int(p.number),
                Cell::text(p.title.as_deref()),
                Cell::text(prs.author(p)),
                Cell::ts(Some(p.created_at)),
                Cell::ts(p.merged_at),
                Cell::ts(p.first_commit_at),
                Cell::ts(Some(s.ready_at)),
                Cell::ts(p.first_review_at),
                Cell::ts(s.deployed_at),
                Cell::float(s.coding),
                Cell::float(s.pickup),
                Cell::float(s.review),
                Cell::float(s.deploy),
                Cell::float(s.cycle),
                Cell::Bool(p.stages_known),
                Cell::Int(p.reviews as i64),
            ]
        });
        append_all(conn, "link_prs", rows)?;
        crate::timing::phase("link: write pull requests", t0);
        Ok(true)
    }
}

/// What a relink's model of commits and pull requests may still take, in
/// bytes (all it needs for a full relink, whose parts are sized
/// beforehand: `u64::MAX`).
struct Held {
    left: u64,
}

impl Held {
    /// Takes `bytes` more; false once past the budget.
    fn take(&mut self, bytes: u64) -> bool {
        self.left
            .checked_sub(bytes)
            .map(|l| self.left = l)
            .is_some()
    }
}

/// The successful production deployments of the scope's services.
fn load_deployments(
    conn: &Connection,
    config: &MetricsConfig,
    services: &Services,
) -> Result<Vec<Deployment>, StoreError> {
    let sql = format!(
        "SELECT source, id, service, repo, environment, epoch_us(finished_at), commit_sha, commits, kind
         FROM deployments WHERE status = 'success' AND finished_at IS NOT NULL AND {}",
        services.filter("service")
    );
    let mut out = Vec::new();
    let mut names = deployments::Names::default();
    let few = Rows::of(!matches!(services, Services::All));
    each_batch(conn, &sql, "load deployments", few, |b| {
        let (source, id, service) = (b.required(0)?, b.required(1)?, b.required(2)?);
        let (repo, environment, at) = (b.text(3)?, b.required(4)?, b.int(5)?);
        let (commit, commits, kind) = (b.required(6)?, b.list(7)?, b.required(8)?);
        for i in 0..b.len() {
            let (service, environment) = (service.value(i), environment.value(i));
            if !config.is_production(service, environment) {
                continue;
            }
            out.push(Deployment {
                source: names.get(source.value(i)),
                id: id.value(i).to_string(),
                service: names.get(service),
                environment: names.get(environment),
                repo: text_at(repo, i).map(|r| names.get(r)),
                finished_at: at.value(i),
                commit_sha: commit.value(i).to_string(),
                commits: (commits.items(i)).map(|c| c.map(str::to_string).collect()),
                kind: names.get(kind.value(i)),
            });
        }
        Ok(())
    })?;
    Ok(out)
}

/// For the scope's deployments without a repo: the repository whose commit
/// records hold their commit (the first by name if several do).
fn repo_of_sha(
    conn: &Connection,
    services: &Services,
) -> Result<HashMap<String, String>, StoreError> {
    let what = "match repo-less deployments";
    let mut stmt = conn
        .prepare(&format!(
            "SELECT c.sha, min(c.repo) FROM commits c
             WHERE c.sha IN (SELECT commit_sha FROM deployments WHERE repo IS NULL AND {})
             GROUP BY c.sha",
            services.filter("service")
        ))
        .ctx(what)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .ctx(what)?;
    rows.collect::<Result<_, _>>().ctx(what)
}

/// Each repository's commit graph. The rows are read unsorted; each
/// repository's are copied, as read, into a compact buffer of its own
/// ([`RepoCommits`]; for a full relink on a second thread while DuckDB
/// reads on), and the graphs are built on all cores, each buffer let go as
/// its graph is built. (Sorted by repo in DuckDB, the sort's rows and the
/// graphs were held together at the end of the load, where a 10M-event
/// import peaked; unsorted, loading its commits takes 1.7 s where it took
/// 2.3–2.6 s.)
fn load_commits(
    conn: &Connection,
    rows: &RepoRows,
    repos: &mut Repos,
    held: &mut Held,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT repo, sha, parents, epoch_us(authored_at) FROM {}",
        rows.from("commits"),
    );
    let mut index: foldhash::HashMap<String, usize> = Default::default();
    let mut each: Vec<(String, RepoCommits)> = Vec::new();
    let mut over = false;
    each_batch_beside(conn, &sql, "load commits", rows.rows(), |b| {
        // Past the budget, the rest is read and let go.
        if over || !held.take(b.len() as u64 * link_parts::COMMIT_BYTES) {
            (over, each, index) = (true, Vec::new(), Default::default());
            return Ok(());
        }
        let (repo, sha, parents, at) = (b.text(0)?, b.text(1)?, b.list(2)?, b.int(3)?);
        for i in 0..b.len() {
            let name = repo.value(i);
            let k = match index.get(name) {
                Some(&k) => k,
                None => {
                    index.insert(name.to_string(), each.len());
                    each.push((name.to_string(), RepoCommits::default()));
                    each.len() - 1
                }
            };
            let (name, commits) = &mut each[k];
            let parents = parents.items(i).into_iter().flatten();
            commits
                .push(sha.value(i), parents, at.value(i))
                .map_err(|too_much| StoreError::Db {
                    context: format!("load commits of `{name}`: {too_much}"),
                    source: duckdb::Error::AppendError,
                })?;
        }
        Ok(())
    })?;
    drop(index);
    if over {
        return Ok(false);
    }
    // In name order, as the rows came when sorted: repositories are
    // numbered in the order their graphs are given.
    each.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, graph) in build_graphs(each) {
        repos.set_graph(&name, graph);
    }
    Ok(true)
}

/// One repository's commit rows as read, back to back: each row's sha,
/// then its parents, in one string. What a full relink holds of a
/// repository until its graph is built: 90–100 bytes a commit, where
/// Arrow's rows cost about twice that.
#[derive(Default)]
struct RepoCommits {
    text: String,
    /// Where each sha or parent ends in `text`.
    ends: Vec<u32>,
    /// Each row's number of parents.
    parents: Vec<u32>,
    authored: Vec<i64>,
}

impl RepoCommits {
    fn push<'a>(
        &mut self,
        sha: &str,
        parents: impl Iterator<Item = &'a str>,
        authored: i64,
    ) -> Result<(), &'static str> {
        let mut add = |s: &str| {
            self.text.push_str(s);
            u32::try_from(self.text.len())
                .map(|end| self.ends.push(end))
                .map_err(|_| "more than 4 GiB of shas in one repository")
        };
        add(sha)?;
        let mut n = 0;
        for p in parents {
            add(p)?;
            n += 1;
        }
        self.parents.push(n);
        self.authored.push(authored);
        Ok(())
    }

    /// The rows, borrowed: sha, parents, authored at.
    fn rows(&self) -> Vec<(&str, Vec<&str>, i64)> {
        let mut out = Vec::with_capacity(self.parents.len());
        let mut strings = self.ends.iter().scan(0usize, |start, &end| {
            let s = &self.text[*start..end as usize];
            *start = end as usize;
            Some(s)
        });
        for (&n, &at) in self.parents.iter().zip(&self.authored) {
            let sha = strings.next().expect("a sha for every row");
            let parents = strings.by_ref().take(n as usize).collect();
            out.push((sha, parents, at));
        }
        out
    }
}

/// The graphs of `each` repository's rows, in its order, built on all
/// cores; each repository's rows are let go once its graph is built.
fn build_graphs(each: Vec<(String, RepoCommits)>) -> Vec<(String, Graph)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let work = std::sync::Mutex::new(each.into_iter().enumerate());
    let mut built: Vec<(usize, String, Graph)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let next = work.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some((k, (name, commits))) = next else {
                            return out;
                        };
                        let graph = Graph::build(commits.rows());
                        drop(commits);
                        out.push((k, name, graph));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    built.sort_unstable_by_key(|(k, _, _)| *k);
    built.into_iter().map(|(_, name, g)| (name, g)).collect()
}

/// The scope's pull requests, with their reviews folded in.
fn load_pull_requests(
    conn: &Connection,
    config: &MetricsConfig,
    rows: &RepoRows,
    repos: &mut Repos,
    held: &mut Held,
) -> Result<Option<PullRequests>, StoreError> {
    let mut prs = PullRequests::default();
    let sql = format!(
        "SELECT repo, number, title, author, labels, epoch_us(created_at), epoch_us(ready_at),
                epoch_us(merged_at), merge_commit_sha, commits, epoch_us(first_commit_at),
                NOT coalesce(contains(extra, '\"reviews_known\":false')
                             OR contains(extra, '\"recovered_from\":'), false)
         FROM {}",
        rows.from("pull_requests")
    );
    let few = rows.rows();
    let mut over = false;
    each_batch_beside(conn, &sql, "load pull requests", few, |b| {
        // Past the budget, the rest is read and let go.
        if over || !held.take(b.len() as u64 * link_parts::PULL_REQUEST_BYTES) {
            (over, prs) = (true, PullRequests::default());
            return Ok(());
        }
        let (repo, number, title, author) = (b.text(0)?, b.int(1)?, b.text(2)?, b.text(3)?);
        let (labels, created, ready, merged) = (b.list(4)?, b.int(5)?, b.int(6)?, b.int(7)?);
        let (merge, commits, first, known) = (b.text(8)?, b.list(9)?, b.int(10)?, b.boolean(11)?);
        // One record a batch, its lists refilled row by row (a vector
        // each, two a pull request, were a third of this thread's time).
        let mut record = PullRequestRecord::default();
        for i in 0..b.len() {
            record.labels.clear();
            record.labels.extend(labels.items(i).into_iter().flatten());
            record.commits.clear();
            record
                .commits
                .extend(commits.items(i).into_iter().flatten());
            record.repo = repo.value(i);
            record.number = number.value(i);
            record.title = text_at(title, i);
            record.author = text_at(author, i);
            record.created_at = created.value(i);
            record.ready_at = int_at(ready, i);
            record.merged_at = int_at(merged, i);
            record.merge_commit_sha = text_at(merge, i);
            record.first_commit_at = int_at(first, i);
            record.stages_known = known.value(i);
            prs.add(&record, repos, config);
        }
        Ok(())
    })?;
    if over {
        return Ok(None);
    }
    let sql = format!(
        "SELECT repo, pr, author, epoch_us(submitted_at) FROM {}",
        rows.from("reviews")
    );
    each_batch_beside(conn, &sql, "load reviews", few, |b| {
        let (repo, pr, author, at) = (b.text(0)?, b.int(1)?, b.text(2)?, b.int(3)?);
        for i in 0..b.len() {
            let author = text_at(author, i).unwrap_or_default();
            prs.add_review(repos, repo.value(i), pr.value(i), author, at.value(i));
        }
        Ok(())
    })?;
    Ok(Some(prs))
}

/// The incidents the scope's deployments may be blamed for: by a service,
/// or by an id.
fn load_incidents(conn: &Connection, services: &Services) -> Result<Vec<Incident>, StoreError> {
    let what = "load incidents";
    let mut stmt = conn
        .prepare(&format!(
            "SELECT source, id, services, epoch_us(created_at), epoch_us(resolved_at), deployment_id, deployment_source
             FROM incidents WHERE {}",
            match services {
                Services::All => "TRUE".to_string(),
                _ => format!(
                    "list_has_any(services, (SELECT list(service) FROM link_scope_services))
                     OR deployment_id IN (SELECT id FROM deployments WHERE {})",
                    services.filter("service")
                ),
            }
        ))
        .ctx(what)?;
    let mut rows = stmt.query([]).ctx(what)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().ctx(what)? {
        out.push(Incident {
            source: r.get(0).ctx(what)?,
            id: r.get(1).ctx(what)?,
            services: list(r.get(2).ctx(what)?).unwrap_or_default(),
            created_at: r.get(3).ctx(what)?,
            resolved_at: r.get(4).ctx(what)?,
            deployment_id: r.get(5).ctx(what)?,
            deployment_source: r.get(6).ctx(what)?,
        });
    }
    Ok(out)
}

/// In a partial relink: the sources, by id, of other services' production
/// deployments that one of `incidents` (the scope's) names (explicit
/// attribution prefers by source, and may prefer one of theirs). Only the
/// ids the scope's incidents name are read: every incident's named
/// deployment was 16k rows at 10M events, for the few a small import needs.
fn attribution_candidates(
    conn: &Connection,
    config: &MetricsConfig,
    services: &Services,
    incidents: &[Incident],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut foreign: HashMap<String, Vec<String>> = HashMap::new();
    let named: BTreeSet<&str> = incidents
        .iter()
        .filter_map(|i| i.deployment_id.as_deref())
        .collect();
    if matches!(services, Services::All) || named.is_empty() {
        return Ok(foreign);
    }
    // Beside the other `link_scope_*` tables: however many ids, one semi join.
    let ids = ScopeRows::new(
        "link_scope_named_ids",
        &["id"],
        named.iter().map(|v| vec![*v]).collect(),
    );
    conn.execute_batch(&ids.create()).ctx("link scope")?;
    ids.append(conn)?;
    let what = "load attribution candidates";
    let mut stmt = conn
        .prepare(&format!(
            // `service` is never NULL: negating the filter is safe.
            "SELECT id, source, environment, service FROM deployments
             WHERE status = 'success' AND finished_at IS NOT NULL
               AND NOT {}
               AND id IN (SELECT id FROM link_scope_named_ids)",
            services.filter("service")
        ))
        .ctx(what)?;
    let mut rows = stmt.query([]).ctx(what)?;
    while let Some(r) = rows.next().ctx(what)? {
        let environment: String = r.get(2).ctx(what)?;
        let service: String = r.get(3).ctx(what)?;
        if config.is_production(&service, &environment) {
            foreign
                .entry(r.get(0).ctx(what)?)
                .or_default()
                .push(r.get(1).ctx(what)?);
        }
    }
    Ok(foreign)
}

/// When each commit of the scope's repositories first reached production,
/// from the stored changes of every service.
fn stored_first_deployed(
    conn: &Connection,
    rows: &RepoRows,
    repos: &mut Repos,
) -> Result<FirstDeployed, StoreError> {
    let sql = format!(
        "SELECT repo, sha, epoch_us(min(deployed_at)) FROM {}
         WHERE repo IS NOT NULL GROUP BY repo, sha",
        rows.from("link_changes")
    );
    let mut first = FirstDeployed::default();
    let few = rows.rows();
    each_batch(conn, &sql, "first deployments", few, |b| {
        let (repo, sha, at) = (b.required(0)?, b.required(1)?, b.int(2)?);
        for i in 0..b.len() {
            let Some(at) = int_at(at, i) else { continue };
            let repo = repos.repo(Some(repo.value(i)));
            first.add(repos.commit(repo, sha.value(i)), at);
        }
        Ok(())
    })?;
    Ok(first)
}

/// What the link tables hold now (after a full or a partial relink).
pub(crate) fn summary(conn: &Connection) -> Result<LinkSummary, StoreError> {
    conn.query_row(
        // One scan of each table (10M events: 20 -> 9 ms, warm).
        "SELECT d.n, c.n, c.with_pr, c.without_start, i.n, a.n, d.rollbacks, d.failed
         FROM (SELECT count(*) AS n, count(*) FILTER (is_rollback) AS rollbacks,
                      count(*) FILTER (failed) AS failed FROM link_deployments) d,
              (SELECT count(*) AS n, count(pr_number) AS with_pr,
                      count(*) - count(start_at) AS without_start FROM link_changes) c,
              (SELECT count(*) AS n FROM incidents) i,
              (SELECT count(DISTINCT (incident_source, incident_id)) AS n FROM link_incidents) a",
        [],
        |r| {
            let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
            Ok(LinkSummary {
                deployments: n(0)?,
                changes: n(1)?,
                changes_with_pr: n(2)?,
                changes_without_start: n(3)?,
                incidents: n(4)?,
                incidents_attributed: n(5)?,
                rollbacks: n(6)?,
                failed_deployments: n(7)?,
            })
        },
    )
    .ctx("link summary")
}

// --- reading rows as Arrow columns ----------------------------------------

/// How a load's rows come: all of them (a full relink), or the few of a
/// partial one's scope.
#[derive(Clone, Copy, PartialEq)]
enum Rows {
    Many,
    Few,
}

impl Rows {
    fn of(few: bool) -> Rows {
        if few {
            Rows::Few
        } else {
            Rows::Many
        }
    }
}

/// Runs `sql` and hands each Arrow batch of its rows to `each`: the link
/// reads millions of rows, a column at a time, without a value per cell.
/// [`Rows::Few`] are gathered by DuckDB before the first is handed out: a
/// streamed result is computed a vector at a time as it is read, and its
/// filtered scans of the big tables lost the second thread (a small import
/// into the 10M-event store: its loads 15–20 ms slower, streamed).
fn each_batch(
    conn: &Connection,
    sql: &str,
    what: &str,
    rows: Rows,
    mut each: impl FnMut(&Batch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let sql = match rows {
        Rows::Many => sql.to_string(),
        Rows::Few => format!("WITH rows__ AS MATERIALIZED ({sql}) SELECT * FROM rows__"),
    };
    batches(conn, &sql, what, |batch| {
        each(&Batch {
            batch: &batch,
            what,
        })
    })
}

/// Runs `sql` and hands each Arrow batch of its rows, as it comes, to
/// `each`: streamed, a vector at a time, so the client never holds the
/// whole result (a materialised one held all of a 10M-event store's
/// commits).
fn batches(
    conn: &Connection,
    sql: &str,
    what: &str,
    mut each: impl FnMut(RecordBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(sql).ctx(what)?;
    for batch in stmt.stream_arrow([]).ctx(what)? {
        each(batch.ctx(what)?)?;
    }
    Ok(())
}

/// [`each_batch`] with `each` on a second thread, while DuckDB produces
/// the next batches on this one, for [`Rows::Many`]: a full relink's pull
/// requests and reviews, whose linking took as long as their reading (a
/// relink of the 10M-event store: loading them 2.98–3.17 s → 2.44–2.50 s).
/// At most two batches wait between the two.
fn each_batch_beside(
    conn: &Connection,
    sql: &str,
    what: &str,
    rows: Rows,
    mut each: impl FnMut(&Batch) -> Result<(), StoreError> + Send,
) -> Result<(), StoreError> {
    if rows == Rows::Few {
        return each_batch(conn, sql, what, rows, each);
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let worker = scope.spawn(move || {
            for batch in rx {
                each(&Batch {
                    batch: &batch,
                    what,
                })?;
            }
            Ok(())
        });
        // A send fails only when the worker has stopped, on an error or a
        // panic that its join below gives: the reading stops there too.
        let read = batches(conn, sql, what, |batch| {
            tx.send(batch).map_err(|_| StoreError::Db {
                context: format!("{what}: stopped"),
                source: duckdb::Error::AppendError,
            })
        });
        drop(tx);
        let linked: Result<(), StoreError> = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        linked.and(read)
    })
}

/// One batch of rows, by column; a column of another type than the query
/// gives is an error, never a panic.
struct Batch<'b> {
    batch: &'b RecordBatch,
    what: &'b str,
}

/// A `VARCHAR[]` column: its lists and their items.
struct Lists<'b> {
    lists: &'b ListArray,
    items: &'b StringArray,
}

impl<'b> Lists<'b> {
    /// The items of row `i`'s list; `None` for NULL (a NULL item is left out).
    fn items(&self, i: usize) -> Option<impl Iterator<Item = &'b str> + 'b> {
        if self.lists.is_null(i) {
            return None;
        }
        let offsets = self.lists.value_offsets();
        let items = self.items;
        let range = offsets[i] as usize..offsets[i + 1] as usize;
        Some(
            range
                .filter(move |&j| items.is_valid(j))
                .map(move |j| items.value(j)),
        )
    }
}

impl<'b> Batch<'b> {
    fn len(&self) -> usize {
        self.batch.num_rows()
    }

    fn shape(&self, col: usize) -> StoreError {
        StoreError::Db {
            context: format!(
                "{}: column {col} is {}, not what the query reads",
                self.what,
                self.batch.column(col).data_type()
            ),
            source: duckdb::Error::InvalidColumnIndex(col),
        }
    }

    fn text(&self, col: usize) -> Result<&'b StringArray, StoreError> {
        (self.batch.column(col).as_string_opt::<i32>()).ok_or_else(|| self.shape(col))
    }

    /// A text column that holds no NULL (a field every record has).
    fn required(&self, col: usize) -> Result<&'b StringArray, StoreError> {
        let a = self.text(col)?;
        if a.null_count() > 0 {
            return Err(StoreError::Db {
                context: format!(
                    "{}: column {col} is NULL in a stored record that must have it",
                    self.what
                ),
                source: duckdb::Error::InvalidColumnIndex(col),
            });
        }
        Ok(a)
    }

    fn int(&self, col: usize) -> Result<&'b Int64Array, StoreError> {
        (self.batch.column(col).as_primitive_opt::<Int64Type>()).ok_or_else(|| self.shape(col))
    }

    fn boolean(&self, col: usize) -> Result<&'b BooleanArray, StoreError> {
        (self.batch.column(col).as_boolean_opt()).ok_or_else(|| self.shape(col))
    }

    fn list(&self, col: usize) -> Result<Lists<'b>, StoreError> {
        let lists = (self.batch.column(col).as_list_opt::<i32>()).ok_or_else(|| self.shape(col))?;
        let items = (lists.values().as_string_opt::<i32>()).ok_or_else(|| self.shape(col))?;
        Ok(Lists { lists, items })
    }
}

fn text_at(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

fn int_at(a: &Int64Array, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}
