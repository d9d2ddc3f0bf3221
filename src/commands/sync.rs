//! `flowmeter sync`: pull events from the configured `[[sources]]`.
//!
//! Each connector yields batches; each batch is stored with the connector's
//! cursor in one transaction (the same validation and upsert as `import`),
//! so an interrupted sync resumes where it stopped and a second sync with
//! nothing new upstream writes nothing. One failing source does not stop the
//! others; the exit code says that something failed.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{Duration, Utc};
use flowmeter_connector::{Connector, Cursor, SyncContext};
use flowmeter_store::{ImportSummary, Store};
use serde::de::DeserializeOwned;

use super::import::kinds_table;
use super::parse_date;
use crate::cli::SyncArgs;
use crate::Env;

/// A source's table from the config, as its connector's config struct.
fn source_config<T: DeserializeOwned>(table: &toml::Table, name: &str) -> Result<T> {
    let mut table = table.clone();
    table.remove("type");
    toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("config of source `{name}`"))
}

fn connector(table: &toml::Table, name: &str, known: &[String]) -> Result<Box<dyn Connector>> {
    let kind = table
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    Ok(match kind {
        "github" => Box::new(flowmeter_github::GitHubConnector::new(source_config(
            table, name,
        )?)?),
        "gitlab" => Box::new(flowmeter_gitlab::GitLabConnector::new(source_config(
            table, name,
        )?)?),
        "pagerduty" => Box::new(flowmeter_pagerduty::PagerDutyConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        "opsgenie" => Box::new(flowmeter_opsgenie::OpsgenieConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        "git" => Box::new(flowmeter_git::GitConnector::new(source_config(
            table, name,
        )?)?),
        "incidentio" => Box::new(flowmeter_incidentio::IncidentIoConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        "jsm" => Box::new(flowmeter_jsm::JsmConnector::new(
            source_config(table, name)?,
            known.to_vec(),
        )?),
        other => bail!(
            "source `{name}`: unknown type `{other}` (known: github, gitlab, git, pagerduty, opsgenie, incidentio, jsm)"
        ),
    })
}

pub fn run(env: &Env, args: SyncArgs) -> Result<ExitCode> {
    let sources: Vec<(String, &toml::Table)> = env
        .config
        .sources
        .iter()
        .map(|t| {
            let name = t
                .get("name")
                .or_else(|| t.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            (name, t)
        })
        .filter(|(name, _)| args.source.as_deref().is_none_or(|want| name == want))
        .collect();
    if sources.is_empty() {
        match &args.source {
            Some(s) => bail!("no source named `{s}` in the config"),
            None => bail!(
                "no sources to sync: add a `[[sources]]` table to flowmeter.toml (see the README)"
            ),
        }
    }
    let since = match &args.since {
        Some(s) => parse_date("--since", s)?,
        None => Utc::now() - Duration::days(90),
    };
    let ctx = SyncContext {
        since,
        full: args.full,
    };
    let mut store = Store::open(&env.db)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut failed = 0;
    for (name, table) in sources {
        match sync_one(env, &mut store, &runtime, &ctx, table, &name) {
            Ok(()) => {}
            Err(e) => {
                failed += 1;
                eprintln!("error: source `{name}`: {e:#} (data of earlier batches is kept)");
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Environments the source marked as production (GitHub's
/// `production_environment`) that the config does not count as production:
/// their deployments are stored but measured only once the user says so.
fn unmeasured_production_environments(env: &Env, store: &Store, name: &str) -> Result<Vec<String>> {
    Ok(store
        .environments_marked_production(name)?
        .into_iter()
        .filter(|e| !env.config.metrics.is_production(e))
        .collect())
}

fn sync_one(
    env: &Env,
    store: &mut Store,
    runtime: &tokio::runtime::Runtime,
    ctx: &SyncContext,
    table: &toml::Table,
    name: &str,
) -> Result<()> {
    // The services the store knows (read before each source, so incidents
    // synced after a Git host map to the services it just brought).
    let mut connector = connector(table, name, &store.services()?)?;
    let mut cursor: Option<Cursor> = if ctx.full {
        None
    } else {
        store
            .cursor(name)?
            .map(|c| serde_json::from_str(&c).map(Cursor))
            .transpose()
            .with_context(|| format!("the saved cursor of `{name}` is not JSON; run with --full"))?
    };
    let progress = if env.progress {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
                .expect("a valid progress template"),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    } else {
        None
    };
    let (mut records, mut batches, mut requests) = (0usize, 0, 0u64);
    let mut summary = ImportSummary::default();
    while let Some(batch) = runtime.block_on(connector.next_batch(ctx, cursor.as_ref()))? {
        batches += 1;
        records += batch.events.len();
        requests += batch.requests;
        for note in &batch.notes {
            match &progress {
                Some(bar) => bar.println(format!("note: {name}: {note}")),
                None => env.say(format!("note: {name}: {note}")),
            }
        }
        let cursor_json = batch.cursor.0.to_string();
        let stored = store.import_with_cursor(
            batch.events,
            Some((name, cursor_json.as_str())),
            &env.config.metrics,
        )?;
        let t = stored.total();
        let line = format!(
            "batch {batches}: {records} records so far, {requests} requests; this batch {} new, {} updated, {} unchanged",
            t.inserted, t.updated, t.unchanged
        );
        match &progress {
            Some(bar) => bar.set_message(line),
            None if env.verbose > 0 => env.say(format!("{name}: {line}")),
            None => {}
        }
        summary.merge(stored);
        cursor = Some(batch.cursor);
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    close_commit_graph(env, store, runtime, ctx, connector.as_mut(), name)?;
    let t = summary.total();
    env.say(format!(
        "synced `{name}`: {records} records in {batches} batches, {} new, {} updated, {} unchanged, {requests} requests{}",
        t.inserted,
        t.updated,
        t.unchanged,
        kinds_table(&summary)
    ));
    let unmeasured = unmeasured_production_environments(env, store, name)?;
    if !unmeasured.is_empty() {
        env.say(format!(
            "note: {name}: environments marked production upstream but not counted as production: {}; \
             add them to `production_environments` under [metrics] in flowmeter.toml to measure them",
            unmeasured
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// Commits fetched by SHA per sync at most (a runaway walk would otherwise
/// read a repository's whole history one request at a time).
const MAX_GRAPH_FETCHES: usize = 20_000;

/// Closes the commit graph of what `name` stored: every parent of one of
/// its commits (committed since the sync's start date) that the store
/// lacks is fetched by SHA, and so on down the branch, then stored in one
/// import. Listings filtered by date miss a branch's older commits that a
/// later merge brought; without them a deployment's change walk stops at
/// the merge. What cannot be fetched is reported.
fn close_commit_graph(
    env: &Env,
    store: &mut Store,
    runtime: &tokio::runtime::Runtime,
    ctx: &SyncContext,
    connector: &mut dyn Connector,
    name: &str,
) -> Result<()> {
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
            let Some(events) = runtime.block_on(connector.fetch_commits(&repo, &shas))? else {
                // The source cannot fetch single commits: nothing to close.
                return Ok(());
            };
            let mut parents = Vec::new();
            for e in &events {
                if let flowmeter_model::Event::Commit(c) = e {
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
                    flowmeter_model::Event::Commit(c) if c.repo == repo => Some(c.sha.as_str()),
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
        store.import_with_cursor(fetched, None, &env.config.metrics)?;
    }
    let left = store.commit_gaps(name, ctx.since)?;
    env.say(format!(
        "{name}: closed the commit graph: fetched {count} parent commits the listing missed{}",
        if left.is_empty() {
            String::new()
        } else {
            format!(
                "; {} could not be fetched (their deployments' change walks stop there, see coverage)",
                left.len()
            )
        }
    ));
    Ok(())
}
