//! Linking, exactly as METRICS.md ("Linking") defines it, materialised into
//! the `link_*` tables once per import so every metric query reads facts
//! instead of recomputing them.
//!
//! - the changes of each deployment: explicit `commits`, else a walk of the
//!   commit graph from `commit_sha` that stops at anything an earlier
//!   deployment of the same service reached, else the deployed commit alone;
//!   a commit counts once per service;
//! - the pull request of each commit, and each PR's first commit time;
//! - incident → deployment attribution (explicit id, else the window);
//! - rollbacks, what they undid, failure and recovery of each deployment;
//! - the value-stream stages of each pull request.
//!
//! The graph walk is done here in Rust rather than as a recursive SQL query:
//! per service it visits each commit once, where a recursive CTE would
//! re-walk the history of every deployment.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};

use duckdb::types::{TimeUnit, Value};
use duckdb::Connection;
use flowmeter_config::{DeployedWhen, MetricsConfig};

use crate::append::append_all;
use crate::graph::Graph;
use crate::lake::Shard;
use crate::{Context, StoreError};

const FINGERPRINT_KEY: &str = "link_fingerprint";
const HOUR_US: f64 = 3_600_000_000.0;

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

/// Whether nothing is linked yet (a new store: link everything at once).
pub(crate) fn is_empty(conn: &Connection) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM link_deployments) AND NOT EXISTS (SELECT 1 FROM link_prs)",
        [],
        |r| r.get(0),
    )
    .ctx("read links")
}

type Micros = i64;

struct Deployment {
    source: String,
    id: String,
    service: String,
    environment: String,
    repo: Option<String>,
    finished_at: Micros,
    commit_sha: String,
    commits: Option<Vec<String>>,
    kind: String,
}

struct PullRequest {
    repo: String,
    number: i64,
    title: Option<String>,
    author: Option<String>,
    labels: Vec<String>,
    created_at: Micros,
    ready_at: Option<Micros>,
    merged_at: Option<Micros>,
    merge_commit_sha: Option<String>,
    commits: Vec<String>,
    first_commit_at: Option<Micros>,
    /// False when the source cannot know when the PR was opened or
    /// reviewed (recovered from git history): see `005_stage_knowledge.sql`.
    stages_known: bool,
}

struct Incident {
    source: String,
    id: String,
    services: Vec<String>,
    created_at: Micros,
    resolved_at: Option<Micros>,
    deployment_id: Option<String>,
    deployment_source: Option<String>,
}

/// A change: one commit brought to production for one service (its repo
/// and sha borrowed from the loaded deployments and commits).
struct Change<'a> {
    deployment: usize,
    repo: Option<&'a str>,
    sha: &'a str,
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

fn hours(from: Micros, to: Micros) -> f64 {
    (to - from) as f64 / HOUR_US
}

fn ts(t: Option<Micros>) -> Value {
    t.map(|t| Value::Timestamp(TimeUnit::Microsecond, t))
        .unwrap_or(Value::Null)
}

fn text(s: Option<&str>) -> Value {
    s.map(|s| Value::Text(s.to_string())).unwrap_or(Value::Null)
}

fn float(f: Option<f64>) -> Value {
    f.map(Value::Double).unwrap_or(Value::Null)
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
    let mut stmt = conn.prepare(sql).ctx("shard scope")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .ctx("shard scope")?;
    rows.collect::<Result<_, _>>().ctx("shard scope")
}

/// What a shard must relink so that its own rows of the lake (deployment
/// side by service, pull-request side by repository, incidents by their
/// first service, as [`Shard::holds`] splits them) come out as a full link
/// makes them: its services; its repositories (with every service deploying
/// from them, which [`prepare_scope`] adds); its incidents, with every
/// service they name and every deployment id they name.
fn shard_scope(conn: &Connection, shard: Shard) -> Result<Touched, StoreError> {
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
    Ok(Touched {
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
pub(crate) fn link_shard(
    conn: &Connection,
    config: &MetricsConfig,
    shard: Shard,
) -> Result<ShardLinked, StoreError> {
    conn.execute_batch(
        "DELETE FROM link_deployments; DELETE FROM link_changes; DELETE FROM link_incidents;
         DELETE FROM link_incident_services; DELETE FROM link_prs;",
    )
    .ctx("clear links")?;
    let touched = shard_scope(conn, shard)?;
    relink(conn, config, &Scope::Part(touched))?;
    conn.query_row(
        &format!(
            "SELECT (SELECT count(DISTINCT service) FROM link_scope_services),
                    (SELECT count(DISTINCT service) FROM deployments),
                    (SELECT count(DISTINCT repo) FROM link_scope_repos),
                    (SELECT count(*) FROM {ALL_REPOS} WHERE repo IS NOT NULL)"
        ),
        [],
        |r| {
            Ok(ShardLinked {
                services: r.get(0)?,
                services_total: r.get(1)?,
                repos: r.get(2)?,
                repos_total: r.get(3)?,
            })
        },
    )
    .ctx("shard scope")
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
/// services' changes were in, are added by [`relink`].)
fn prepare_scope(conn: &Connection, t: &Touched) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE OR REPLACE TEMP TABLE link_scope_services (service VARCHAR);
         CREATE OR REPLACE TEMP TABLE link_scope_repos (repo VARCHAR);
         CREATE OR REPLACE TEMP TABLE link_scope_ids (id VARCHAR);
         CREATE OR REPLACE TEMP TABLE link_scope_incident_ids (id VARCHAR);
         CREATE OR REPLACE TEMP TABLE link_scope_incidents (source VARCHAR, id VARCHAR);",
    )
    .ctx("link scope")?;
    let one = |v: &String| vec![Value::Text(v.clone())];
    append_all(conn, "link_scope_services", t.services.iter().map(one))?;
    append_all(conn, "link_scope_repos", t.repos.iter().map(one))?;
    append_all(conn, "link_scope_ids", t.deployment_ids.iter().map(one))?;
    append_all(
        conn,
        "link_scope_incident_ids",
        t.incident_ids.iter().map(one),
    )?;
    append_all(
        conn,
        "link_scope_incidents",
        t.incidents
            .iter()
            .map(|(s, i)| vec![Value::Text(s.clone()), Value::Text(i.clone())]),
    )?;
    // The touched repositories' commits, one scan each when they are few.
    let commits = RepoRows::listed(
        conn,
        "link_scope_repos",
        "repo IN (SELECT repo FROM link_scope_repos)".into(),
    )?
    .relation("commits", "c");
    conn.execute_batch(&format!(
        "INSERT INTO link_scope_services
           SELECT service FROM deployments WHERE repo IN (SELECT repo FROM link_scope_repos)
           UNION SELECT service FROM deployments
             WHERE repo IS NULL AND commit_sha IN (SELECT sha FROM {commits})
           UNION SELECT service FROM deployments WHERE id IN (SELECT id FROM link_scope_incident_ids)
           UNION SELECT service FROM deployments
             WHERE id IN (SELECT id FROM link_scope_ids)
               AND id IN (SELECT deployment_id FROM incidents WHERE deployment_id IS NOT NULL)
           EXCEPT SELECT service FROM link_scope_services;"
    ))
    .ctx("link scope")?;
    Ok(())
}

/// A `WHERE` condition limiting `col` to the scope table `table` (nothing
/// for a full relink).
fn within(scope: &Scope, col: &str, table: &str, column: &str) -> String {
    match scope {
        Scope::All => "TRUE".to_string(),
        Scope::Part(_) => format!("{col} IN (SELECT {column} FROM {table})"),
    }
}

/// How a statement reads a table's rows of a few repositories (those of
/// the link's scope, those of an import's staged records).
pub(crate) enum RepoRows {
    /// The rows where a condition holds: every row (a full relink, an
    /// import of many repositories), or a semi join on `link_scope_repos`.
    Within(String),
    /// One scan filtered by `repo = '...'` per repository: DuckDB then
    /// reads the other columns (parents, labels, commit lists) only for the
    /// rows kept. An `IN` filter is only a hint to its scan, which read
    /// every column of every row: a small import into a 10M-event store
    /// spent 0.84 s loading 8,600 commits of 2 repos.
    Each(Vec<String>),
}

impl RepoRows {
    /// Each scan reads the table's whole `repo` column: past this many
    /// repositories one semi join is cheaper.
    const MAX_SCANS: usize = 8;

    fn of(conn: &Connection, scope: &Scope) -> Result<RepoRows, StoreError> {
        let within = within(scope, "repo", "link_scope_repos", "repo");
        if let Scope::All = scope {
            return Ok(RepoRows::Within(within));
        }
        Self::listed(conn, "link_scope_repos", within)
    }

    /// The repositories of `table`'s `repo` column, one scan each when
    /// they are few, else the rows where `otherwise` holds.
    pub(crate) fn listed(
        conn: &Connection,
        table: &str,
        otherwise: String,
    ) -> Result<RepoRows, StoreError> {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT DISTINCT repo FROM {table} WHERE repo IS NOT NULL LIMIT {}",
                Self::MAX_SCANS + 1
            ))
            .ctx("read the repositories to compare")?;
        let repos = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .ctx("read the repositories to compare")?
            .collect::<Result<Vec<_>, _>>()
            .ctx("read the repositories to compare")?;
        Ok(if repos.len() > Self::MAX_SCANS {
            RepoRows::Within(otherwise)
        } else {
            RepoRows::Each(repos)
        })
    }

    /// `table`'s rows (it has a `repo` column), as a relation named `table`.
    fn from(&self, table: &str) -> String {
        self.relation(table, table)
    }

    /// `table`'s rows (it has a `repo` column), as a relation named `alias`.
    pub(crate) fn relation(&self, table: &str, alias: &str) -> String {
        let rows = match self {
            RepoRows::Within(within) => format!("SELECT * FROM {table} WHERE {within}"),
            RepoRows::Each(repos) if repos.is_empty() => {
                format!("SELECT * FROM {table} WHERE FALSE")
            }
            RepoRows::Each(repos) => repos
                .iter()
                .map(|r| format!("SELECT * FROM {table} WHERE repo = {}", crate::sql_text(r)))
                .collect::<Vec<_>>()
                .join(" UNION ALL "),
        };
        format!("({rows}) AS {alias}")
    }
}

/// Folds each rollout of one commit of a service to several production
/// environments (consecutive in the service's order, each environment once)
/// into its first deployment, finished when the rollout first reached
/// production (`First`) or when it reached its last environment
/// (`Everywhere`). Returns the kept deployments and, for each folded one,
/// its id and the index of the deployment that stands for it.
fn dedupe_regions(
    deployments: Vec<Deployment>,
    when: DeployedWhen,
) -> (Vec<Deployment>, Vec<(String, usize)>) {
    let mut kept: Vec<Deployment> = Vec::with_capacity(deployments.len());
    let mut aliases = Vec::new();
    let mut environments: Vec<String> = Vec::new();
    for d in deployments {
        if let Some(last) = kept.last_mut() {
            let same_rollout = last.service == d.service
                && last.commit_sha == d.commit_sha
                && d.kind != "rollback"
                && !environments.contains(&d.environment);
            if same_rollout {
                if when == DeployedWhen::Everywhere {
                    last.finished_at = d.finished_at;
                }
                environments.push(d.environment);
                aliases.push((d.id, kept.len() - 1));
                continue;
            }
        }
        environments = vec![d.environment.clone()];
        kept.push(d);
    }
    (kept, aliases)
}

pub(crate) fn relink(
    conn: &Connection,
    config: &MetricsConfig,
    scope: &Scope,
) -> Result<LinkSummary, StoreError> {
    let t0 = std::time::Instant::now();
    let tl = t0;
    if let Scope::Part(t) = scope {
        prepare_scope(conn, t)?;
    }
    // --- load ---------------------------------------------------------------
    crate::timing::phase("link: load scope", tl);
    let tl = std::time::Instant::now();
    let mut deployments: Vec<Deployment> = Vec::new();
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT source, id, service, repo, environment, epoch_us(finished_at), commit_sha, commits, kind
                 FROM deployments WHERE status = 'success' AND finished_at IS NOT NULL AND {}",
                within(scope, "service", "link_scope_services", "service")
            ))
            .ctx("load deployments")?;
        let mut rows = stmt.query([]).ctx("load deployments")?;
        while let Some(r) = rows.next().ctx("load deployments")? {
            let service: String = r.get(2).ctx("load deployments")?;
            let environment: String = r.get(4).ctx("load deployments")?;
            if !config.is_production(&service, &environment) {
                continue;
            }
            deployments.push(Deployment {
                source: r.get(0).ctx("load deployments")?,
                id: r.get(1).ctx("load deployments")?,
                service,
                environment,
                repo: r.get(3).ctx("load deployments")?,
                finished_at: r.get(5).ctx("load deployments")?,
                commit_sha: r.get(6).ctx("load deployments")?,
                commits: list(r.get(7).ctx("load deployments")?),
                kind: r.get(8).ctx("load deployments")?,
            });
        }
    }
    // --- order deployments per service --------------------------------------
    // Ties in finished_at are broken by source and id, so the order (and so
    // every number) is deterministic.
    deployments.sort_by(|a, b| {
        (&a.service, a.finished_at, &a.source, &a.id).cmp(&(
            &b.service,
            b.finished_at,
            &b.source,
            &b.id,
        ))
    });
    // One release rolled out to several production environments (regions)
    // is one deployment with `dedupe_regions`; the others' ids alias it.
    crate::timing::phase("link: load deployments", tl);
    let tl = std::time::Instant::now();
    let mut aliases: Vec<(String, usize)> = Vec::new();
    if config.dedupe_regions {
        (deployments, aliases) = dedupe_regions(deployments, config.deployed_when);
    }
    // A deployment without a repo is matched to the repository whose commit
    // records contain its commit (the first by name if several do).
    let mut repo_of_sha: HashMap<String, String> = HashMap::new();
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT c.sha, min(c.repo) FROM commits c
                 WHERE c.sha IN (SELECT commit_sha FROM deployments WHERE repo IS NULL AND {})
                 GROUP BY c.sha",
                within(scope, "service", "link_scope_services", "service")
            ))
            .ctx("match repo-less deployments")?;
        let mut rows = stmt.query([]).ctx("match repo-less deployments")?;
        while let Some(r) = rows.next().ctx("match repo-less deployments")? {
            repo_of_sha.insert(
                r.get(0).ctx("match repo-less deployments")?,
                r.get(1).ctx("match repo-less deployments")?,
            );
        }
    }
    let resolved_repo: Vec<Option<String>> = deployments
        .iter()
        .map(|d| {
            d.repo
                .clone()
                .or_else(|| repo_of_sha.get(&d.commit_sha).cloned())
        })
        .collect();
    crate::timing::phase("link: load repos", tl);
    let tl = std::time::Instant::now();
    if let Scope::Part(_) = scope {
        // The repositories walked now, and those the relinked services'
        // changes were in until now: their pull requests' deploy stage may
        // move either way.
        let walked: BTreeSet<&String> = resolved_repo.iter().flatten().collect();
        append_all(
            conn,
            "link_scope_repos",
            walked.into_iter().map(|r| vec![Value::Text(r.clone())]),
        )?;
        conn.execute_batch(
            "INSERT INTO link_scope_repos
               SELECT DISTINCT repo FROM link_changes
               WHERE repo IS NOT NULL AND service IN (SELECT service FROM link_scope_services);",
        )
        .ctx("link scope")?;
    }
    let repo_rows = RepoRows::of(conn, scope)?;
    // repo -> sha -> commit
    crate::timing::phase("link: load repos of relinked services", tl);
    let tl = std::time::Instant::now();
    // repo -> its commit graph, built a repository at a time (the rows come
    // ordered by repo), so only one repository's rows are held as strings.
    let mut commits: HashMap<String, Graph> = HashMap::new();
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT repo, sha, parents, epoch_us(authored_at) FROM {} ORDER BY repo",
                repo_rows.from("commits")
            ))
            .ctx("load commits")?;
        let mut rows = stmt.query([]).ctx("load commits")?;
        let mut repo_rows: (String, Vec<(String, Vec<String>, Micros)>) = Default::default();
        let mut done = |(repo, rows): (String, Vec<_>)| {
            if !rows.is_empty() {
                commits.insert(repo, Graph::build(rows));
            }
        };
        while let Some(r) = rows.next().ctx("load commits")? {
            let repo: String = r.get(0).ctx("load commits")?;
            if repo != repo_rows.0 {
                done(std::mem::replace(&mut repo_rows, (repo, Vec::new())));
            }
            repo_rows.1.push((
                r.get(1).ctx("load commits")?,
                list(r.get(2).ctx("load commits")?).unwrap_or_default(),
                r.get(3).ctx("load commits")?,
            ));
        }
        done(repo_rows);
    }
    crate::timing::phase("link: load commits", tl);
    let tl = std::time::Instant::now();
    let mut prs: Vec<PullRequest> = Vec::new();
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT repo, number, title, author, labels, epoch_us(created_at), epoch_us(ready_at),
                        epoch_us(merged_at), merge_commit_sha, commits, epoch_us(first_commit_at),
                        NOT coalesce(contains(extra, '\"reviews_known\":false')
                                     OR contains(extra, '\"recovered_from\":'), false)
                 FROM {}",
                repo_rows.from("pull_requests")
            ))
            .ctx("load pull requests")?;
        let mut rows = stmt.query([]).ctx("load pull requests")?;
        while let Some(r) = rows.next().ctx("load pull requests")? {
            prs.push(PullRequest {
                repo: r.get(0).ctx("load pull requests")?,
                number: r.get(1).ctx("load pull requests")?,
                title: r.get(2).ctx("load pull requests")?,
                author: r.get(3).ctx("load pull requests")?,
                labels: list(r.get(4).ctx("load pull requests")?).unwrap_or_default(),
                created_at: r.get(5).ctx("load pull requests")?,
                ready_at: r.get(6).ctx("load pull requests")?,
                merged_at: r.get(7).ctx("load pull requests")?,
                merge_commit_sha: r.get(8).ctx("load pull requests")?,
                commits: list(r.get(9).ctx("load pull requests")?).unwrap_or_default(),
                first_commit_at: r.get(10).ctx("load pull requests")?,
                stages_known: r.get(11).ctx("load pull requests")?,
            });
        }
    }
    // (repo, pr) -> submitted_at of reviews, with their authors
    crate::timing::phase("link: load pull requests", tl);
    let tl = std::time::Instant::now();
    // repo -> pr -> (author, submitted_at) of its reviews
    let mut reviews: HashMap<String, HashMap<i64, Vec<(String, Micros)>>> = HashMap::new();
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT repo, pr, author, epoch_us(submitted_at) FROM {}",
                repo_rows.from("reviews")
            ))
            .ctx("load reviews")?;
        let mut rows = stmt.query([]).ctx("load reviews")?;
        while let Some(r) = rows.next().ctx("load reviews")? {
            let repo: String = r.get(0).ctx("load reviews")?;
            reviews
                .entry(repo)
                .or_default()
                .entry(r.get(1).ctx("load reviews")?)
                .or_default()
                .push((r.get(2).ctx("load reviews")?, r.get(3).ctx("load reviews")?));
        }
    }
    crate::timing::phase("link: load reviews", tl);
    let tl = std::time::Instant::now();
    let mut incidents: Vec<Incident> = Vec::new();
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT source, id, services, epoch_us(created_at), epoch_us(resolved_at), deployment_id, deployment_source
                 FROM incidents WHERE {}",
                match scope {
                    Scope::All => "TRUE".to_string(),
                    // Those that can be attributed to a deployment of the
                    // services relinked: by a service, or by an id.
                    Scope::Part(_) => "list_has_any(services, (SELECT list(service) FROM link_scope_services))
                         OR deployment_id IN (SELECT id FROM deployments WHERE service IN (SELECT service FROM link_scope_services))"
                        .to_string(),
                }
            ))
            .ctx("load incidents")?;
        let mut rows = stmt.query([]).ctx("load incidents")?;
        while let Some(r) = rows.next().ctx("load incidents")? {
            incidents.push(Incident {
                source: r.get(0).ctx("load incidents")?,
                id: r.get(1).ctx("load incidents")?,
                services: list(r.get(2).ctx("load incidents")?).unwrap_or_default(),
                created_at: r.get(3).ctx("load incidents")?,
                resolved_at: r.get(4).ctx("load incidents")?,
                deployment_id: r.get(5).ctx("load incidents")?,
                deployment_source: r.get(6).ctx("load incidents")?,
            });
        }
    }

    // In a partial relink: production deployments of other services whose
    // id an incident names (explicit attribution prefers by source, and may
    // prefer one of theirs).
    crate::timing::phase("link: load incidents", tl);
    let tl = std::time::Instant::now();
    let mut foreign_by_id: HashMap<String, Vec<String>> = HashMap::new();
    if let Scope::Part(_) = scope {
        let mut stmt = conn
            .prepare(
                "SELECT id, source, environment, service FROM deployments
                 WHERE status = 'success' AND finished_at IS NOT NULL
                   AND service NOT IN (SELECT service FROM link_scope_services)
                   AND id IN (SELECT deployment_id FROM incidents WHERE deployment_id IS NOT NULL)",
            )
            .ctx("load attribution candidates")?;
        let mut rows = stmt.query([]).ctx("load attribution candidates")?;
        while let Some(r) = rows.next().ctx("load attribution candidates")? {
            let environment: String = r.get(2).ctx("load attribution candidates")?;
            let service: String = r.get(3).ctx("load attribution candidates")?;
            if config.is_production(&service, &environment) {
                foreign_by_id
                    .entry(r.get(0).ctx("load attribution candidates")?)
                    .or_default()
                    .push(r.get(1).ctx("load attribution candidates")?);
            }
        }
    }

    crate::timing::phase("link: load attribution candidates", tl);
    crate::timing::phase("link: load", t0);
    let t0 = std::time::Instant::now();
    let n = deployments.len();
    let mut by_service: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        by_service.entry(d.service.as_str()).or_default().push(i);
    }
    // --- rollbacks, changes --------------------------------------------------
    let mut seq = vec![0usize; n];
    let mut is_rollback = vec![false; n];
    let mut rolled_back_by: Vec<Option<usize>> = vec![None; n];
    let mut changes: Vec<Change> = Vec::new();
    let mut changes_of: Vec<Vec<usize>> = vec![Vec::new(); n];
    let empty = Graph::default();
    for idxs in by_service.values() {
        let mut last_pos: HashMap<&str, usize> = HashMap::new();
        let mut sha_count: HashMap<&str, usize> = HashMap::new();
        // ancestor-closed set of everything earlier deployments reached, per repo
        let mut reached: HashMap<Option<&str>, HashSet<&str>> = HashMap::new();
        // (repo, sha) already counted as a change of this service
        let mut counted: HashSet<(Option<&str>, &str)> = HashSet::new();
        for (pos, &i) in idxs.iter().enumerate() {
            seq[i] = pos;
            let d = &deployments[i];
            let sha = d.commit_sha.as_str();
            // Rollback: kind, or redeploying the revision of an earlier
            // deployment that is not the immediately preceding one.
            let earlier_same = sha_count.get(sha).copied().unwrap_or(0);
            let prev_same = pos > 0 && deployments[idxs[pos - 1]].commit_sha == d.commit_sha;
            let redeploys_older = earlier_same > usize::from(prev_same);
            if d.kind == "rollback" || redeploys_older {
                is_rollback[i] = true;
                let undone: Vec<usize> = match last_pos.get(sha) {
                    Some(&j) => idxs[j + 1..pos].to_vec(),
                    None if pos > 0 => vec![idxs[pos - 1]],
                    None => vec![],
                };
                for u in undone {
                    rolled_back_by[u].get_or_insert(i);
                }
            }
            // Changes.
            let repo = resolved_repo[i].as_deref();
            let graph = repo.and_then(|r| commits.get(r)).unwrap_or(&empty);
            let seen = reached.entry(repo).or_default();
            let mut walked = Vec::new();
            let mut stack = vec![sha];
            while let Some(s) = stack.pop() {
                if !seen.insert(s) {
                    continue;
                }
                if let Some(parents) = graph.parents(s) {
                    stack.extend(parents.filter(|p| !seen.contains(p)));
                }
                walked.push(s);
            }
            let candidates = match &d.commits {
                Some(explicit) => explicit.iter().map(String::as_str).collect(),
                None => walked,
            };
            for c in candidates {
                if counted.insert((repo, c)) {
                    changes_of[i].push(changes.len());
                    changes.push(Change {
                        deployment: i,
                        repo,
                        sha: c,
                    });
                }
            }
            *sha_count.entry(sha).or_default() += 1;
            last_pos.insert(sha, pos);
        }
    }

    // --- pull requests of commits, first commit times ------------------------
    let first_commit: Vec<Option<Micros>> = prs
        .iter()
        .map(|p| {
            let graph = commits.get(&p.repo);
            p.commits
                .iter()
                .filter(|s| Some(*s) != p.merge_commit_sha.as_ref())
                .filter_map(|s| graph.and_then(|g| g.authored_at(s)))
                .chain(p.first_commit_at)
                .min()
        })
        .collect();
    // (repo, sha) -> the first pull request holding the commit; the rare
    // others (a cherry-pick, a reopened PR) in `more_prs_of_commit`. One
    // index per commit, not a Vec each (10M-event relink: peak RSS 5.81 ->
    // 5.52 GB, 41 -> 34 s).
    let mut pr_of_commit: HashMap<(&str, &str), u32> = HashMap::new();
    let mut more_prs_of_commit: HashMap<(&str, &str), Vec<u32>> = HashMap::new();
    for (k, p) in prs.iter().enumerate() {
        let k = k as u32;
        for sha in p.merge_commit_sha.iter().chain(p.commits.iter()) {
            let key = (p.repo.as_str(), sha.as_str());
            match pr_of_commit.entry(key) {
                Entry::Vacant(e) => {
                    e.insert(k);
                }
                Entry::Occupied(e) if *e.get() == k => {}
                Entry::Occupied(_) => {
                    let more = more_prs_of_commit.entry(key).or_default();
                    if !more.contains(&k) {
                        more.push(k);
                    }
                }
            }
        }
    }
    // The pull requests holding a change's commit, in PR order.
    let pr_list = |c: &Change| -> Vec<usize> {
        let Some(key) = c.repo.map(|r| (r, c.sha)) else {
            return Vec::new();
        };
        let more = more_prs_of_commit.get(&key).into_iter().flatten();
        (pr_of_commit.get(&key).into_iter().chain(more))
            .map(|&k| k as usize)
            .collect()
    };

    // --- incidents -----------------------------------------------------------
    let window_us = (config.attribution_window_hours * HOUR_US).round() as i64;
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        by_id.entry(d.id.as_str()).or_default().push(i);
    }
    for (id, i) in &aliases {
        by_id.entry(id.as_str()).or_default().push(*i);
    }
    let mut incidents_of: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut attributions: Vec<(usize, usize, &str)> = Vec::new();
    for (k, inc) in incidents.iter().enumerate() {
        if let Some(dep_id) = &inc.deployment_id {
            // Candidates: ours (Some(index)) and, in a partial relink, those
            // of other services with the same id (None: not ours to link).
            let mut cands: Vec<(&str, Option<usize>)> = by_id
                .get(dep_id.as_str())
                .into_iter()
                .flatten()
                .map(|&i| (deployments[i].source.as_str(), Some(i)))
                .chain(
                    foreign_by_id
                        .get(dep_id.as_str())
                        .into_iter()
                        .flatten()
                        .map(|s| (s.as_str(), None)),
                )
                .filter(|(source, _)| {
                    inc.deployment_source
                        .as_deref()
                        .is_none_or(|s| s == *source)
                })
                .collect();
            cands.sort_by_key(|(source, _)| (*source != inc.source, source.to_string()));
            if let Some(&(_, Some(i))) = cands.first() {
                attributions.push((k, i, "explicit"));
            }
            continue;
        }
        for service in &inc.services {
            let Some(idxs) = by_service.get(service.as_str()) else {
                continue;
            };
            // latest deployment finished at or before the incident
            let upto = idxs.partition_point(|&i| deployments[i].finished_at <= inc.created_at);
            if upto == 0 {
                continue;
            }
            let i = idxs[upto - 1];
            if inc.created_at - deployments[i].finished_at <= window_us {
                attributions.push((k, i, "window"));
            }
        }
    }
    for &(k, i, _) in &attributions {
        incidents_of[i].push(k);
    }

    // --- failure, recovery, rework -------------------------------------------
    crate::timing::phase("link: compute", t0);
    let t0 = std::time::Instant::now();
    conn.execute_batch(match scope {
        Scope::All => {
            "DELETE FROM link_deployments; DELETE FROM link_changes; DELETE FROM link_incidents;
             DELETE FROM link_incident_services; DELETE FROM link_prs;"
        }
        Scope::Part(_) => {
            "DELETE FROM link_incidents l USING link_deployments d
               WHERE d.source = l.deployment_source AND d.id = l.deployment_id
                 AND d.service IN (SELECT service FROM link_scope_services);
             DELETE FROM link_changes WHERE service IN (SELECT service FROM link_scope_services);
             DELETE FROM link_deployments WHERE service IN (SELECT service FROM link_scope_services);
             DELETE FROM link_incident_services i USING link_scope_incidents s
               WHERE i.incident_source = s.source AND i.incident_id = s.id;
             DELETE FROM link_prs WHERE repo IN (SELECT repo FROM link_scope_repos);"
        }
    })
    .ctx("clear links")?;
    {
        let rows = deployments.iter().enumerate().map(|(i, d)| {
            let incs = &incidents_of[i];
            let failed = !incs.is_empty() || rolled_back_by[i].is_some();
            let open = incs.iter().any(|&k| incidents[k].resolved_at.is_none());
            let recovered_at = if !failed || open {
                None
            } else if !incs.is_empty() {
                incs.iter().filter_map(|&k| incidents[k].resolved_at).max()
            } else {
                rolled_back_by[i].map(|r| deployments[r].finished_at)
            };
            let chs = &changes_of[i];
            let all_rework_prs = !chs.is_empty()
                && chs.iter().all(|&c| {
                    pr_list(&changes[c])
                        .iter()
                        .any(|&p| prs[p].labels.iter().any(|l| config.is_rework_label(l)))
                });
            let rework = is_rollback[i] || d.kind == "hotfix" || all_rework_prs;
            vec![
                Value::Text(d.source.clone()),
                Value::Text(d.id.clone()),
                Value::Text(d.service.clone()),
                text(d.repo.as_deref()),
                Value::Text(d.commit_sha.clone()),
                ts(Some(d.finished_at)),
                Value::Text(d.kind.clone()),
                Value::BigInt(seq[i] as i64),
                Value::Boolean(is_rollback[i]),
                text(rolled_back_by[i].map(|r| deployments[r].id.as_str())),
                Value::BigInt(incs.len() as i64),
                Value::Boolean(failed),
                Value::Boolean(failed && open),
                ts(recovered_at),
                Value::BigInt(chs.len() as i64),
                Value::Boolean(rework),
            ]
        });
        append_all(conn, "link_deployments", rows)?;
    }
    {
        let rows = changes.iter().map(|c| {
            let d = &deployments[c.deployment];
            let prs_here = pr_list(c);
            let best_pr = prs_here
                .iter()
                .copied()
                .filter(|&p| first_commit[p].is_some())
                .min_by_key(|&p| (first_commit[p], prs[p].number));
            let start = match best_pr {
                Some(p) => first_commit[p],
                None => c
                    .repo
                    .and_then(|r| commits.get(r))
                    .and_then(|g| g.authored_at(c.sha)),
            };
            let pr_number = best_pr.or(prs_here.first().copied()).map(|p| prs[p].number);
            vec![
                Value::Text(d.service.clone()),
                text(c.repo),
                Value::Text(c.sha.to_string()),
                Value::Text(d.source.clone()),
                Value::Text(d.id.clone()),
                ts(Some(d.finished_at)),
                ts(start),
                pr_number.map(Value::BigInt).unwrap_or(Value::Null),
            ]
        });
        append_all(conn, "link_changes", rows)?;
    }
    {
        let rows = attributions.iter().map(|&(k, i, how)| {
            vec![
                Value::Text(incidents[k].source.clone()),
                Value::Text(incidents[k].id.clone()),
                Value::Text(deployments[i].source.clone()),
                Value::Text(deployments[i].id.clone()),
                Value::Text(how.to_string()),
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
    }
    crate::timing::phase("link: write deployments, changes, incidents", t0);
    let t0 = std::time::Instant::now();
    // First deployment (any service) of each commit (repo -> sha -> time),
    // for the deploy stage: from the changes of every service, not only
    // those relinked. A full link has them all in memory (1M events: 0.7 s
    // less than reading them back); a partial one reads the stored ones.
    let mut first_deployed: HashMap<Cow<'_, str>, HashMap<Cow<'_, str>, Micros>> = HashMap::new();
    if matches!(scope, Scope::All) {
        for c in &changes {
            let Some(repo) = c.repo else { continue };
            let at = deployments[c.deployment].finished_at;
            let first = first_deployed.entry(Cow::Borrowed(repo)).or_default();
            let t = first.entry(Cow::Borrowed(c.sha)).or_insert(at);
            *t = (*t).min(at);
        }
    } else {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT repo, sha, epoch_us(min(deployed_at)) FROM {}
                 WHERE repo IS NOT NULL GROUP BY repo, sha",
                repo_rows.from("link_changes")
            ))
            .ctx("first deployments")?;
        let mut rows = stmt.query([]).ctx("first deployments")?;
        while let Some(r) = rows.next().ctx("first deployments")? {
            let repo: String = r.get(0).ctx("first deployments")?;
            first_deployed.entry(Cow::Owned(repo)).or_default().insert(
                Cow::Owned(r.get(1).ctx("first deployments")?),
                r.get(2).ctx("first deployments")?,
            );
        }
    }
    crate::timing::phase("link: first deployments", t0);
    let t0 = std::time::Instant::now();
    {
        let rows = prs.iter().enumerate().map(|(k, p)| {
            let ready = p.ready_at.unwrap_or(p.created_at);
            let fc = first_commit[k];
            let reviews_of = reviews.get(&p.repo).and_then(|r| r.get(&p.number));
            let first_review = reviews_of.and_then(|rs| {
                rs.iter()
                    .filter(|(author, _)| p.author.as_deref() != Some(author.as_str()))
                    .filter(|(_, at)| p.merged_at.is_none_or(|m| *at <= m))
                    .map(|(_, at)| *at)
                    .min()
            });
            let deployed_at = p
                .merge_commit_sha
                .iter()
                .chain(p.commits.iter())
                .filter_map(|s| {
                    first_deployed
                        .get(p.repo.as_str())?
                        .get(s.as_str())
                        .copied()
                })
                .min();
            let (coding, pickup, review, deploy, cycle) = match p.merged_at {
                None => (None, None, None, None, None),
                Some(merged) => {
                    let reviewed = first_review.unwrap_or(merged);
                    // What the source cannot know stays NULL, never 0.
                    let known = p.stages_known;
                    (
                        fc.filter(|_| known).map(|f| hours(f, ready).max(0.0)),
                        known.then(|| hours(ready, reviewed).max(0.0)),
                        known.then(|| hours(reviewed, merged).max(0.0)),
                        deployed_at.map(|d| hours(merged, d).max(0.0)),
                        deployed_at.zip(fc).map(|(d, f)| hours(f, d)),
                    )
                }
            };
            vec![
                Value::Text(p.repo.clone()),
                Value::BigInt(p.number),
                text(p.title.as_deref()),
                text(p.author.as_deref()),
                ts(Some(p.created_at)),
                ts(p.merged_at),
                ts(fc),
                ts(Some(ready)),
                ts(first_review),
                ts(deployed_at.filter(|_| p.merged_at.is_some())),
                float(coding),
                float(pickup),
                float(review),
                float(deploy),
                float(cycle),
                Value::Boolean(p.stages_known),
                Value::BigInt(reviews_of.map_or(0, |rs| rs.len() as i64)),
            ]
        });
        append_all(conn, "link_prs", rows)?;
    }
    crate::timing::phase("link: write pull requests", t0);
    conn.execute(
        "INSERT OR REPLACE INTO store_meta VALUES (?, ?)",
        [FINGERPRINT_KEY, config.fingerprint().as_str()],
    )
    .ctx("save link fingerprint")?;
    summary(conn)
}

/// What the link tables hold now (after a full or a partial relink).
fn summary(conn: &Connection) -> Result<LinkSummary, StoreError> {
    conn.query_row(
        "SELECT
            (SELECT count(*) FROM link_deployments),
            (SELECT count(*) FROM link_changes),
            (SELECT count(pr_number) FROM link_changes),
            (SELECT count(*) FROM link_changes WHERE start_at IS NULL),
            (SELECT count(*) FROM incidents),
            (SELECT count(*) FROM (SELECT DISTINCT incident_source, incident_id FROM link_incidents)),
            (SELECT count(*) FROM link_deployments WHERE is_rollback),
            (SELECT count(*) FROM link_deployments WHERE failed)",
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
