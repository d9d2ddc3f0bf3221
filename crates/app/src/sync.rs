//! Pulling the configured `[[sources]]` through their connectors.
//!
//! Each connector yields batches; each batch is stored with the connector's
//! cursor in one transaction (the same validation and upsert as an import),
//! so an interrupted sync resumes where it stopped and a second sync with
//! nothing new upstream writes nothing. After the batches the commit graph
//! is closed (parents a date-filtered listing missed are fetched by SHA).
//!
//! A sync reads and writes the store through [`SyncStore`]: the CLI passes
//! the store itself, the server a handle whose writes go through its one
//! writer, so a scheduled sync and webhooks never write at the same time.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use flowmeter_config::Config;
use flowmeter_connector::{Connector, Cursor, SyncContext};
use flowmeter_model::Event;
use flowmeter_store::{ImportSummary, Store};
use serde::de::DeserializeOwned;

use crate::AppError;

/// Keys of a `[[sources]]` table that belong to flowmeter, not to the
/// connector: `type`, the server's schedule (`interval`), and where a
/// first sync starts (`since`).
const APP_KEYS: [&str; 3] = ["type", "interval", "since"];

/// How far back a first sync reaches unless told otherwise.
pub const DEFAULT_HISTORY_DAYS: i64 = 90;

/// The store as a sync sees it.
pub trait SyncStore {
    fn cursor(&mut self, source: &str) -> Result<Option<String>, AppError>;
    fn services(&mut self) -> Result<Vec<String>, AppError>;
    /// Stores a batch, removes the incidents it withdrew (ids of the
    /// cursor's source) and saves the source's cursor, in one transaction.
    fn import(
        &mut self,
        events: Vec<Event>,
        withdrawn: &[String],
        cursor: Option<(&str, &str)>,
    ) -> Result<ImportSummary, AppError>;
    fn commit_gaps(
        &mut self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, AppError>;
    fn known_commits(&mut self, repo: &str, shas: &[String]) -> Result<HashSet<String>, AppError>;
    fn environments_marked_production(&mut self, source: &str) -> Result<Vec<String>, AppError>;
}

/// The store itself, with the config its imports link by.
pub struct Direct<'a> {
    pub store: &'a mut Store,
    pub config: &'a Config,
    /// Leave the links for later (`sync --no-link`).
    pub no_link: bool,
}

impl SyncStore for Direct<'_> {
    fn cursor(&mut self, source: &str) -> Result<Option<String>, AppError> {
        Ok(self.store.cursor(source)?)
    }
    fn services(&mut self) -> Result<Vec<String>, AppError> {
        Ok(self.store.services()?)
    }
    fn import(
        &mut self,
        events: Vec<Event>,
        withdrawn: &[String],
        cursor: Option<(&str, &str)>,
    ) -> Result<ImportSummary, AppError> {
        let mut import = self.store.begin_import()?;
        if self.no_link {
            import.no_link();
        }
        import.add(events)?;
        if let Some((source, _)) = cursor {
            import.withdraw_incidents(source, withdrawn);
        }
        Ok(import.commit(cursor, &self.config.metrics)?)
    }
    fn commit_gaps(
        &mut self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, AppError> {
        Ok(self.store.commit_gaps(source, since)?)
    }
    fn known_commits(&mut self, repo: &str, shas: &[String]) -> Result<HashSet<String>, AppError> {
        Ok(self.store.known_commits(repo, shas)?)
    }
    fn environments_marked_production(&mut self, source: &str) -> Result<Vec<String>, AppError> {
        Ok(self.store.environments_marked_production(source)?)
    }
}

/// One `[[sources]]` entry: its name (`name`, else its `type`) and table.
pub struct Source<'a> {
    pub name: String,
    pub table: &'a toml::Table,
}

impl Source<'_> {
    /// `interval = "15m"`: how often the server syncs this source.
    pub fn interval(&self) -> Result<Option<std::time::Duration>, AppError> {
        match self.table.get("interval") {
            None => Ok(None),
            Some(toml::Value::String(s)) => parse_interval(s).map(Some).ok_or_else(|| {
                AppError::Invalid(format!(
                    "source `{}`: `interval = \"{s}\"` is not a duration like \"90s\", \"15m\", \"2h\" or \"1d\" (at least 1m)",
                    self.name
                ))
            }),
            Some(_) => Err(AppError::Invalid(format!(
                "source `{}`: `interval` is a string like \"15m\"",
                self.name
            ))),
        }
    }
}

impl Source<'_> {
    /// Where this source's sync starts: `given` (the `--since` flag), else
    /// the table's `since = "2026-01-01"`, else 90 days ago.
    pub fn since(&self, given: Option<&str>) -> Result<DateTime<Utc>, AppError> {
        if let Some(g) = given {
            return crate::query::parse_date("--since", g);
        }
        match self.table.get("since") {
            Some(toml::Value::String(s)) => {
                crate::query::parse_date(&format!("`since` of source `{}`", self.name), s)
            }
            Some(toml::Value::Datetime(d)) => crate::query::parse_date(
                &format!("`since` of source `{}`", self.name),
                &d.to_string(),
            ),
            Some(_) => Err(AppError::Invalid(format!(
                "source `{}`: `since` is a date like \"2026-01-01\"",
                self.name
            ))),
            None => Ok(Utc::now() - chrono::Duration::days(DEFAULT_HISTORY_DAYS)),
        }
    }
}

/// `"90s"`, `"15m"`, `"2h"`, `"1d"`; at least a minute.
pub fn parse_interval(s: &str) -> Option<std::time::Duration> {
    parse_duration(s).filter(|d| d.as_secs() >= 60)
}

/// A duration like `"90s"`, `"15m"`, `"2h"` or `"1d"` (whole units).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].trim().parse().ok()?;
    let secs = match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        _ => None,
    }?;
    Some(std::time::Duration::from_secs(secs))
}

/// The configured sources, or only the one named `only`.
pub fn sources<'a>(config: &'a Config, only: Option<&str>) -> Result<Vec<Source<'a>>, AppError> {
    let all: Vec<Source> = config
        .sources
        .iter()
        .map(|t| Source {
            name: t
                .get("name")
                .or_else(|| t.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            table: t,
        })
        .filter(|s| only.is_none_or(|want| s.name == want))
        .collect();
    if all.is_empty() {
        return Err(AppError::Invalid(match only {
            Some(s) => format!("no source named `{s}` in the config"),
            None => {
                "no sources to sync: add a `[[sources]]` table to flowmeter.toml (see the README)"
                    .into()
            }
        }));
    }
    Ok(all)
}

/// A source's table from the config, as its connector's config struct.
fn source_config<T: DeserializeOwned>(table: &toml::Table, name: &str) -> Result<T, AppError> {
    let mut table = table.clone();
    for key in APP_KEYS {
        table.remove(key);
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e| AppError::Invalid(format!("config of source `{name}`: {e}")))
}

/// The connector of a source; `known` are the services the store knows
/// (incident tools map their services onto them).
pub fn connector(source: &Source, known: &[String]) -> Result<Box<dyn Connector>, AppError> {
    let (table, name) = (source.table, source.name.as_str());
    let kind = table
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    Ok(match kind {
        "github" => Box::new(flowmeter_github::GitHubConnector::new(source_config(table, name)?)?),
        "gitlab" => Box::new(flowmeter_gitlab::GitLabConnector::new(source_config(table, name)?)?),
        "pagerduty" => Box::new(flowmeter_pagerduty::PagerDutyConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        "opsgenie" => Box::new(flowmeter_opsgenie::OpsgenieConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        "git" => Box::new(flowmeter_git::GitConnector::new(source_config(table, name)?)?),
        "incidentio" => Box::new(flowmeter_incidentio::IncidentIoConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        "jsm" => Box::new(flowmeter_jsm::JsmConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        other => {
            return Err(AppError::Invalid(format!(
                "source `{name}`: unknown type `{other}` (known: github, gitlab, git, pagerduty, opsgenie, incidentio, jsm)"
            )))
        }
    })
}

/// What a sync tells while it runs.
pub enum Progress<'a> {
    /// Something the user should read (a gap, an unmeasured environment).
    Note(&'a str),
    /// How far it is (one line, replaced by the next).
    Batch(&'a str),
}

/// What one source's sync did.
#[derive(Debug, Default)]
pub struct Synced {
    pub records: usize,
    pub batches: usize,
    pub requests: u64,
    pub summary: ImportSummary,
    /// What to tell after the summary (environments not measured).
    pub advice: Vec<String>,
}

impl Synced {
    pub fn text(&self, name: &str) -> String {
        let t = self.summary.total();
        format!(
            "synced `{name}`: {} records in {} batches, {} new, {} updated, {} unchanged{}, {} requests{}",
            self.records,
            self.batches,
            t.inserted,
            t.updated,
            t.unchanged,
            match self.summary.withdrawn {
                0 => String::new(),
                n => format!(", {n} incidents withdrawn"),
            },
            self.requests,
            crate::ingest::kinds_table(&self.summary)
        )
    }
}

/// Syncs one source: its batches, then its commit graph.
pub async fn sync_source(
    store: &mut dyn SyncStore,
    config: &Config,
    ctx: &SyncContext,
    source: &Source<'_>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Synced, AppError> {
    let name = source.name.as_str();
    // The services the store knows, read before each source, so incidents
    // synced after a Git host map to the services it just brought.
    let mut connector = connector(source, &store.services()?)?;
    let mut cursor: Option<Cursor> = if ctx.full {
        None
    } else {
        store
            .cursor(name)?
            .map(|c| serde_json::from_str(&c).map(Cursor))
            .transpose()
            .map_err(|_| {
                AppError::Invalid(format!(
                    "the saved cursor of `{name}` is not JSON; run with --full"
                ))
            })?
    };
    let mut done = Synced::default();
    while let Some(batch) = connector.next_batch(ctx, cursor.as_ref()).await? {
        done.batches += 1;
        done.records += batch.events.len();
        done.requests += batch.requests;
        for note in &batch.notes {
            progress(Progress::Note(&format!("{name}: {note}")));
        }
        let cursor_json = batch.cursor.0.to_string();
        let stored = store.import(
            batch.events,
            &batch.withdrawn,
            Some((name, cursor_json.as_str())),
        )?;
        let t = stored.total();
        progress(Progress::Batch(&format!(
            "batch {}: {} records so far, {} requests; this batch {} new, {} updated, {} unchanged",
            done.batches, done.records, done.requests, t.inserted, t.updated, t.unchanged
        )));
        done.summary.merge(stored);
        cursor = Some(batch.cursor);
    }
    close_commit_graph(store, ctx, connector.as_mut(), name, progress).await?;
    let unmeasured: Vec<String> = store
        .environments_marked_production(name)?
        .into_iter()
        .filter(|e| !config.metrics.is_production_anywhere(e))
        .collect();
    if !unmeasured.is_empty() {
        done.advice.push(format!(
            "{name}: environments marked production upstream but not counted as production: {}; \
             add them to `production_environments` under [metrics] in flowmeter.toml to measure them",
            unmeasured
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(done)
}

/// Commits fetched by SHA per sync at most (a runaway walk would otherwise
/// read a repository's whole history one request at a time).
const MAX_GRAPH_FETCHES: usize = 20_000;

/// Closes the commit graph of what `name` stored: every parent of one of
/// its commits (committed since the sync's start date), and every commit
/// one of its deployments deployed, that the store lacks is fetched by
/// SHA, and so on down the branch, then stored in one import. Listings
/// filtered by date miss a branch's older commits that a later merge
/// brought, and commit listings of the default branch miss what a release
/// branch deployed; without them a deployment's change walk stops at the
/// merge, or is its one commit. What cannot be fetched is reported.
async fn close_commit_graph(
    store: &mut dyn SyncStore,
    ctx: &SyncContext,
    connector: &mut dyn Connector,
    name: &str,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), AppError> {
    let gaps = store.commit_gaps(name, ctx.since)?;
    if gaps.is_empty() {
        return Ok(());
    }
    let mut pending: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (repo, sha) in gaps {
        pending.entry(repo).or_default().push(sha);
    }
    let mut asked: HashSet<(String, String)> = HashSet::new();
    let mut fetched = Vec::new();
    while !pending.is_empty() && asked.len() < MAX_GRAPH_FETCHES {
        let mut next: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (repo, shas) in std::mem::take(&mut pending) {
            let room = MAX_GRAPH_FETCHES.saturating_sub(asked.len());
            let shas: Vec<String> = shas
                .into_iter()
                .filter(|s| !asked.contains(&(repo.clone(), s.clone())))
                .take(room)
                .collect();
            if shas.is_empty() {
                continue;
            }
            asked.extend(shas.iter().map(|s| (repo.clone(), s.clone())));
            let Some(events) = connector.fetch_commits(&repo, &shas).await? else {
                // The source cannot fetch single commits: nothing to close.
                return Ok(());
            };
            let mut parents = Vec::new();
            for e in &events {
                if let Event::Commit(c) = e {
                    if c.committed_at.unwrap_or(c.authored_at) >= ctx.since {
                        parents.extend(c.parents.iter().flatten().cloned());
                    }
                }
            }
            fetched.extend(events);
            parents.sort();
            parents.dedup();
            let fetched_here: HashSet<&str> = fetched
                .iter()
                .filter_map(|e| match e {
                    Event::Commit(c) if c.repo == repo => Some(c.sha.as_str()),
                    _ => None,
                })
                .collect();
            let parents: Vec<String> = parents
                .into_iter()
                .filter(|p| !fetched_here.contains(p.as_str()))
                .filter(|p| !asked.contains(&(repo.clone(), p.clone())))
                .collect();
            let known = store.known_commits(&repo, &parents)?;
            let missing: Vec<String> = parents.into_iter().filter(|p| !known.contains(p)).collect();
            if !missing.is_empty() {
                next.entry(repo).or_default().extend(missing);
            }
        }
        pending = next;
    }
    let count = fetched.len();
    if count > 0 {
        store.import(fetched, &[], None)?;
    }
    let left = store.commit_gaps(name, ctx.since)?;
    progress(Progress::Note(&format!(
        "{name}: closed the commit graph: fetched {count} commits the listing missed (parents, deployed commits){}",
        if left.is_empty() {
            String::new()
        } else {
            format!(
                "; {} could not be fetched (their deployments' change walks stop there, see coverage)",
                left.len()
            )
        }
    )));
    Ok(())
}
