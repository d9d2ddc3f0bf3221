//! What every incident-tool connector (PagerDuty, Opsgenie, incident.io,
//! Jira Service Management) shares: the sync itself
//! ([`IncidentConnector`], driving an [`IncidentApi`] that only knows its
//! API's requests and mapping), mapping upstream service names onto
//! flowmeter services ([`ServiceMapper`]), and change fingerprints that let
//! a sync skip an incident it already delivered unchanged (so a sync with
//! nothing new writes nothing).
//!
//! # How an incident sync runs
//!
//! Incident tools filter their lists by *creation* time (PagerDuty,
//! Opsgenie) or by *update* time (incident.io, Jira: then an incident
//! edited after it resolved, say a deployment named in its review, is
//! listed again). The cursor keeps the time the last complete sync
//! started; the next sync lists incidents created (or updated) from that
//! time minus an hour (late-indexed incidents) to now, in windows no longer
//! than the API allows ([`IncidentApi::max_window`]). Incidents created
//! earlier and still open at the last sync would be missed by a
//! creation-time filter, so the cursor also keeps the ids of open
//! incidents and the next sync re-fetches each one first, upserting it
//! once resolved. An acknowledgement time seen while an incident was open is
//! kept (some tools forget it once the incident resolves). Every page is one
//! [`SyncBatch`] whose cursor records the position, so an interrupted sync
//! resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use flowmeter_model::{Event, Incident};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{HttpClient, HttpConfig};
use crate::{Connector, ConnectorError, Cursor, Next, SyncBatch, SyncContext};

/// Re-list incidents created (or updated) this long before the last sync
/// started.
const OVERLAP_MINUTES: i64 = 60;
/// Open incidents re-fetched per batch.
const OPEN_PER_BATCH: usize = 25;
/// Version of the cursor JSON.
const CURSOR_VERSION: u32 = 2;

/// What an incident tool's mapping uses, in one line:
/// `use flowmeter_connector::incident::prelude::*;`.
pub mod prelude {
    pub use super::{
        IncidentApi, IncidentConnector, IncidentTool, Listed, Mapped, OffsetPage, ServiceMapper,
        Span, Tool,
    };
    pub use crate::fields::{id, text, ts};
    pub use crate::ConnectorError;
    pub use flowmeter_model::{Extra, Incident};
    pub use serde_json::Value;
}

/// One incident tool's API: how to list, re-fetch and map its incidents.
/// Everything else (windows, paging position, open incidents, the cursor,
/// deduplication) is [`IncidentConnector`]'s.
#[async_trait::async_trait]
pub trait IncidentApi: Send {
    /// The source name, HTTP client and service mapping the API works with.
    fn tool(&self) -> &Tool;
    /// The source name records and the cursor are stored under.
    fn name(&self) -> &str {
        &self.tool().name
    }
    /// HTTP requests sent so far.
    fn requests(&self) -> u64 {
        self.tool().http.requests()
    }
    /// The longest creation-time window one listing may cover (PagerDuty
    /// allows six months; its connector asks for 30 days).
    fn max_window(&self) -> Option<Duration> {
        None
    }
    /// Called before each batch (e.g. load service names once).
    async fn prepare(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
    /// One page of the incidents created (or, where the API filters so,
    /// updated) in `span`, and the token of the
    /// next page (`None` on the last one). `page` is the token the previous
    /// call returned, `None` for the first page.
    async fn list(&mut self, span: Span, page: Option<&str>) -> Result<Listed, ConnectorError>;
    /// One incident by id (`None` when it is gone).
    async fn fetch(&mut self, id: &str) -> Result<Option<Value>, ConnectorError>;
    /// The id of a raw incident (default: its `id` field).
    fn id_of(&self, raw: &Value) -> Option<String> {
        crate::fields::id(&raw["id"])
    }
    /// Whether a raw incident says it is no incident any more (incident.io's
    /// declined, merged and cancelled ones): it is withdrawn (see
    /// [`SyncBatch::withdrawn`]), and the store removes it if it holds it,
    /// however long ago it was delivered. An incident that only fails to
    /// map (a field missing) is not: the stored copy stays.
    fn is_withdrawn(&self, _raw: &Value) -> bool {
        false
    }
    /// Maps a raw incident; may ask the API more (Opsgenie's timeline).
    /// `Ok(Err(why))` skips it with a note; notes about unmapped services
    /// etc. go to `notes` (the driver keeps one of each per batch).
    async fn map(&mut self, raw: &Value, notes: &mut Vec<String>) -> Mapped;
}

/// The creation-time window one listing covers: `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// One page of raw incidents and the next page's token.
pub type Listed = (Vec<Value>, Option<String>);

/// Where a listing paged by offset, oldest first, has got to, for APIs
/// whose offsets end at a cap (PagerDuty's 10,000, Opsgenie's 20,000):
/// past it the window goes on from the creation time of the last incident
/// read, at offset 0 (those of that very instant come again; the driver
/// drops what it already delivered). The page token is `OFFSET@MILLIS`
/// (a bare number, an older token, is an offset from the window's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPage {
    pub offset: u64,
    /// The creation time the listing asks from.
    pub from: DateTime<Utc>,
}

impl OffsetPage {
    /// The page `token` names within `span` (none: the window's first).
    pub fn of(span: Span, token: Option<&str>) -> OffsetPage {
        let (offset, from) = match token.map(|t| t.split_once('@').unwrap_or((t, ""))) {
            Some((offset, from)) => (
                offset.parse().unwrap_or(0),
                from.parse()
                    .ok()
                    .and_then(DateTime::<Utc>::from_timestamp_millis)
                    .unwrap_or(span.from),
            ),
            None => (0, span.from),
        };
        OffsetPage { offset, from }
    }

    /// The token of the page after one of `read` incidents, the last of
    /// them created at `last`; `None` when the API said there is no more.
    /// An error when more than the cap share one creation time.
    pub fn next(
        &self,
        more: bool,
        read: usize,
        last: Option<DateTime<Utc>>,
        limit: u64,
        cap: u64,
    ) -> Result<Option<String>, String> {
        if !more || read == 0 {
            return Ok(None);
        }
        let next = self.offset + read as u64;
        if next + limit <= cap {
            return Ok(Some(format!("{next}@{}", self.from.timestamp_millis())));
        }
        match last.filter(|t| *t > self.from) {
            Some(t) => Ok(Some(format!("0@{}", t.timestamp_millis()))),
            None => Err(format!(
                "more than {cap} incidents created at {}: the API's offsets cannot page past them",
                self.from.to_rfc3339()
            )),
        }
    }
}

/// A mapped incident, a reason to skip it, or a failed request.
pub type Mapped = Result<Result<Incident, String>, ConnectorError>;

/// The cursor: where the last complete sync got to, and the sync in progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    v: u32,
    /// Start time of the last complete sync.
    synced_until: Option<DateTime<Utc>>,
    /// Incidents open at the last complete sync -> acknowledgement time seen.
    open: BTreeMap<String, Option<DateTime<Utc>>>,
    /// Recently emitted incidents: id -> fingerprint, and the start of the
    /// sync that last took it.
    seen: BTreeMap<String, Seen>,
    run: Option<Run>,
}

/// The fingerprint of a seen entry for an incident withdrawn (no
/// incident's fingerprint is this word).
const WITHDRAWN: &str = "withdrawn";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    fp: String,
    /// When the sync that last took it started: what a later sync may
    /// list again (its overlap) was taken since. (Cursors of earlier
    /// versions kept the creation time, which only ends the entry sooner.)
    #[serde(alias = "created")]
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Run {
    started: DateTime<Utc>,
    /// Start of the creation-time window being listed.
    window_start: DateTime<Utc>,
    /// The next page of that window (`None`: its first page).
    page: Option<String>,
    /// Previously open incidents still to re-fetch.
    pending_open: Vec<String>,
    /// Incidents found open during this run.
    open: BTreeMap<String, Option<DateTime<Utc>>>,
    /// Previously open incidents the source no longer had when re-fetched:
    /// withdrawn when the run completes, so a sync that then fails to list
    /// (a wrong URL answers 404 to everything) withdraws none.
    #[serde(default)]
    gone: Vec<String>,
}

/// A [`Connector`] for any incident tool, driving its [`IncidentApi`].
pub struct IncidentConnector<A> {
    api: A,
    /// This instance has returned its first batch.
    started: bool,
    done: bool,
}

/// What the kit sets up for every incident tool's API: the source name,
/// the HTTP client (auth, retries, rate limits) and the service mapping.
#[derive(Debug)]
pub struct Tool {
    /// The source name records and the cursor are stored under.
    pub name: String,
    pub http: HttpClient,
    pub mapper: ServiceMapper,
}

impl Tool {
    /// An error of the API call `call` (`GET /incidents`), under this
    /// source's name.
    pub fn api_error(&self, call: &str, message: String) -> ConnectorError {
        ConnectorError::Api {
            source_name: self.name.clone(),
            call: call.to_string(),
            message,
        }
    }
}

/// The settings every incident tool's `[[sources]]` table has; declare the
/// table with [`source_config!`](crate::source_config) and implement this
/// with [`tool_config!`](crate::tool_config).
pub trait ToolConfig {
    /// The source name the config gives, or the tool's default.
    fn source_name(&self) -> &str;
    /// The API's base URL.
    fn api_url(&self) -> &str;
    /// The environment variable that holds the tool's secret.
    fn token_env(&self) -> &str;
    /// Upstream service id or name -> flowmeter service.
    fn service_map(&self) -> &BTreeMap<String, String>;
    /// The retry settings for the tool's HTTP client.
    fn retry(&self) -> crate::source::Retry;
    /// `type`, when the table carries it, names this tool.
    fn check_kind(&self) -> Result<(), ConnectorError>;
}

/// Implements [`ToolConfig`] for a config struct declared by
/// [`source_config!`](crate::source_config) with an `api_url` and a
/// `service_map`.
#[macro_export]
macro_rules! tool_config {
    ($config:ty) => {
        impl $crate::incident::ToolConfig for $config {
            fn source_name(&self) -> &str {
                <$config>::source_name(self)
            }
            fn api_url(&self) -> &str {
                &self.api_url
            }
            fn token_env(&self) -> &str {
                &self.token_env
            }
            fn service_map(&self) -> &::std::collections::BTreeMap<String, String> {
                &self.service_map
            }
            fn retry(&self) -> $crate::source::Retry {
                <$config>::retry(self)
            }
            fn check_kind(&self) -> Result<(), $crate::ConnectorError> {
                <$config>::check_kind(self)
            }
        }
    };
}

/// An incident tool built from its `[[sources]]` table: what lets
/// `IncidentConnector::<Tool>::new(config, known_services)` read the token
/// from the environment and set up the tool's API client.
pub trait IncidentTool: IncidentApi + Sized {
    /// The tool's `[[sources]]` table.
    type Config: ToolConfig;
    /// The tool's name in notes about unmapped services (e.g. `Opsgenie`).
    const TOOL: &'static str;
    /// The media type its API answers in.
    const ACCEPT: &'static str = "application/json";
    /// The `Authorization` header for the secret (e.g. `Bearer {token}`).
    fn authorization(token: &str) -> String;
    /// The API from its config and the [`Tool`] the kit set up for it.
    fn build(config: Self::Config, tool: Tool) -> Result<Self, ConnectorError>;
}

impl<A: IncidentTool> IncidentConnector<A> {
    /// Reads the tool's secret from the environment variable its config
    /// names and builds the connector.
    pub fn new(config: A::Config, known_services: Vec<String>) -> Result<Self, ConnectorError> {
        let (token, _) = crate::http::token_from_env(&[config.token_env()])
            .map_err(|e| e.with_source(config.source_name()))?;
        Self::with_token(config, known_services, &token, |h| h)
    }

    /// Like [`IncidentConnector::new`] with the secret given directly and a
    /// hook to adjust the HTTP settings (tests shorten the retry delay).
    pub fn with_token(
        config: A::Config,
        known_services: Vec<String>,
        token: &str,
        customize: impl FnOnce(HttpConfig) -> HttpConfig,
    ) -> Result<Self, ConnectorError> {
        let name = config.source_name().to_string();
        config.check_kind()?;
        let http = HttpConfig::new(name.clone(), config.api_url())
            .auth(
                "authorization",
                &A::authorization(token),
                config.token_env(),
            )?
            .header("accept", A::ACCEPT)
            .retry(config.retry());
        let tool = Tool {
            http: HttpClient::new(customize(http))?,
            mapper: ServiceMapper::new(A::TOOL, config.service_map().clone(), known_services),
            name,
        };
        Ok(Self::from_api(A::build(config, tool)?))
    }
}

impl<A: IncidentApi> IncidentConnector<A> {
    pub fn from_api(api: A) -> Self {
        IncidentConnector {
            api,
            started: false,
            done: false,
        }
    }

    pub fn api(&self) -> &A {
        &self.api
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        self.api.requests()
    }

    /// Maps one incident and adds it to the batch unless it was already
    /// delivered unchanged.
    async fn take(
        &mut self,
        raw: &Value,
        state: &mut State,
        run: &mut Run,
        batch: &mut SyncBatch,
    ) -> Result<(), ConnectorError> {
        let Some(id) = self.api.id_of(raw) else {
            batch.notes.push(format!(
                "{} returned an incident without an id; skipped",
                self.api.name()
            ));
            return Ok(());
        };
        let mut incident = match self.api.map(raw, &mut batch.notes).await? {
            Ok(i) => i,
            Err(why) => {
                // No incident any more (declined, merged into another): the
                // store lets go of it, however long ago it was delivered
                // (a no-op for one it never held). Said once: a seen entry
                // marks it until it is listed no more.
                if self.api.is_withdrawn(raw) {
                    withdraw(id, &why, state, run, batch);
                } else {
                    batch.notes.push(format!("incident `{id}` skipped: {why}"));
                }
                return Ok(());
            }
        };
        if incident.acknowledged_at.is_none() {
            incident.acknowledged_at = run
                .open
                .get(&id)
                .copied()
                .flatten()
                .or_else(|| state.open.get(&id).copied().flatten());
        }
        if incident.resolved_at.is_none() {
            run.open.insert(id.clone(), incident.acknowledged_at);
        } else {
            run.open.remove(&id);
        }
        let event = Event::Incident(incident);
        let fp = fingerprint(&event);
        let at = run.started;
        if let Some(seen) = state.seen.get_mut(&id).filter(|s| s.fp == fp) {
            seen.at = at;
            return Ok(());
        }
        state.seen.insert(id, Seen { fp, at });
        batch.events.push(event);
        Ok(())
    }
}

/// Withdraws incident `id` (see [`SyncBatch::withdrawn`]): the store lets
/// go of it, however long ago it was delivered (a no-op for one it never
/// held). Said once: a seen entry marks it until it is listed no more.
fn withdraw(id: String, why: &str, state: &mut State, run: &mut Run, batch: &mut SyncBatch) {
    let at = run.started;
    let said = state.seen.get_mut(&id).filter(|s| s.fp == WITHDRAWN);
    if let Some(seen) = said {
        seen.at = at;
        return;
    }
    // Delivered as far as the sync knows: open, or seen.
    let tracked = state.seen.remove(&id).is_some()
        | state.open.remove(&id).is_some()
        | run.open.remove(&id).is_some();
    let said = if tracked { "withdrawn" } else { "skipped" };
    (batch.notes).push(format!("incident `{id}` {said}: {why}"));
    let fp = WITHDRAWN.to_string();
    state.seen.insert(id.clone(), Seen { fp, at });
    batch.withdrawn.push(id);
}

#[async_trait::async_trait]
impl<A: IncidentApi> Connector for IncidentConnector<A> {
    fn name(&self) -> &str {
        self.api.name()
    }

    async fn next_batch(&mut self, ctx: &SyncContext, cursor: Option<&Cursor>) -> Next {
        if self.done {
            return Ok(None);
        }
        // `--full`: the first call ignores the stored cursor; later calls get
        // the cursors of this sync's own batches.
        let ignore_cursor = ctx.full && !self.started;
        self.started = true;
        let mut state = match cursor {
            Some(c) if !ignore_cursor && !c.0.is_null() => {
                serde_json::from_value::<State>(c.0.clone())
                    .ok()
                    .filter(|s| s.v == CURSOR_VERSION)
                    .unwrap_or_default()
            }
            _ => State::default(),
        };
        let before = self.api.requests();
        self.api.prepare().await?;
        let mut batch = SyncBatch::default();
        let mut run = match state.run.take() {
            Some(r) => r,
            None => {
                let started = Utc::now();
                let from = match state.synced_until {
                    Some(t) => t - Duration::minutes(OVERLAP_MINUTES),
                    None => ctx.since,
                };
                Run {
                    started,
                    window_start: from.min(started),
                    page: None,
                    pending_open: state.open.keys().cloned().collect(),
                    open: BTreeMap::new(),
                    gone: Vec::new(),
                }
            }
        };

        if !run.pending_open.is_empty() {
            let n = run.pending_open.len().min(OPEN_PER_BATCH);
            let ids: Vec<String> = run.pending_open.drain(..n).collect();
            for id in ids {
                match self.api.fetch(&id).await? {
                    Some(raw) => self.take(&raw, &mut state, &mut run, &mut batch).await?,
                    // Gone (deleted, or no longer visible to this token):
                    // the store lets go of its last, open copy, which
                    // would stay open (and its deployment unrecovered)
                    // for good; once this run's listing has succeeded.
                    None => run.gone.push(id),
                }
            }
        } else if run.window_start < run.started {
            let window_end = match self.api.max_window() {
                Some(w) => (run.window_start + w).min(run.started),
                None => run.started,
            };
            let span = Span {
                from: run.window_start,
                until: window_end,
            };
            let (items, next) = self.api.list(span, run.page.as_deref()).await?;
            for raw in &items {
                self.take(raw, &mut state, &mut run, &mut batch).await?;
            }
            match next {
                Some(p) if !items.is_empty() => run.page = Some(p),
                _ => {
                    run.window_start = window_end;
                    run.page = None;
                }
            }
        }

        if run.pending_open.is_empty() && run.window_start >= run.started {
            // The run is complete.
            for id in std::mem::take(&mut run.gone) {
                // Listed again since (the source is not consistent): kept.
                let listed = |s: &Seen| s.at >= run.started && s.fp != WITHDRAWN;
                if run.open.contains_key(&id) || state.seen.get(&id).is_some_and(listed) {
                    continue;
                }
                let why = "the source no longer has it";
                withdraw(id, why, &mut state, &mut run, &mut batch);
            }
            let synced = run.started;
            let keep_from = synced - Duration::minutes(OVERLAP_MINUTES + 24 * 60);
            state
                .seen
                .retain(|id, s| s.at >= keep_from || run.open.contains_key(id));
            state.open = run.open;
            state.synced_until = Some(synced);
            state.run = None;
            self.done = true;
        } else {
            state.run = Some(run);
        }
        state.v = CURSOR_VERSION;
        let mut noted = BTreeSet::new();
        batch.notes.retain(|note| noted.insert(note.clone()));
        batch.cursor = Cursor(serde_json::to_value(&state).unwrap_or(Value::Null));
        batch.requests = self.api.requests() - before;
        Ok(Some(batch))
    }
}

/// Maps an upstream service (id and/or name) to a flowmeter service name.
///
/// Order: `service_map` by id, then by name; then a known flowmeter service
/// whose name equals the upstream name ignoring case; else the upstream name
/// itself (or id), with the note "unmapped <tool> service `X`".
#[derive(Debug, Clone, Default)]
pub struct ServiceMapper {
    map: BTreeMap<String, String>,
    /// lower-cased known name -> known name
    known: BTreeMap<String, String>,
    tool: String,
}

impl ServiceMapper {
    pub fn new(tool: &str, map: BTreeMap<String, String>, known: Vec<String>) -> Self {
        ServiceMapper {
            map,
            known: known.into_iter().map(|k| (k.to_lowercase(), k)).collect(),
            tool: tool.to_string(),
        }
    }

    /// The flowmeter service, and a note when the name is unmapped.
    pub fn map(&self, id: Option<&str>, name: Option<&str>) -> (String, Option<String>) {
        for key in [id, name].into_iter().flatten() {
            if let Some(s) = self.map.get(key) {
                return (s.clone(), None);
            }
        }
        if let Some(n) = name {
            if let Some(k) = self.known.get(&n.to_lowercase()) {
                return (k.clone(), None);
            }
        }
        let upstream = name.or(id).unwrap_or("unknown").to_string();
        let note = format!("unmapped {} service `{upstream}`", self.tool);
        (upstream, Some(note))
    }

    /// The flowmeter services of every upstream service an incident names
    /// (each once, in order), their notes added to `notes`; when it names
    /// none, `unknown` with the note `none()` ("... names no service").
    pub fn map_all<'a>(
        &self,
        named: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
        notes: &mut Vec<String>,
        none: impl FnOnce() -> String,
    ) -> Vec<String> {
        let mut services: Vec<String> = Vec::new();
        for (id, name) in named {
            let (svc, note) = self.map(id, name);
            notes.extend(note);
            if !services.contains(&svc) {
                services.push(svc);
            }
        }
        if services.is_empty() {
            services.push("unknown".to_string());
            notes.push(format!("{}; stored as service `unknown`", none()));
        }
        services
    }
}

/// The root-cause commit an incident's text names, where Four Keys reads
/// it (`root cause: ([[:alnum:]]*)` over the issue, case-sensitive): the
/// letters and digits after the first `root cause: `, when they are a
/// commit sha (7 to 40 hex digits, lower-cased); none otherwise (`root
/// cause: unknown` names no commit).
pub fn root_cause(text: &str) -> Option<String> {
    let (_, after) = text.split_once("root cause: ")?;
    let word: String = after
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let sha = (7..=40).contains(&word.len()) && word.chars().all(|c| c.is_ascii_hexdigit());
    sha.then(|| word.to_ascii_lowercase())
}

/// A stable fingerprint of an event's content (FNV-1a over its JSON).
pub fn fingerprint(e: &Event) -> String {
    let json = serde_json::to_string(e).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in json.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn offset_pages_go_on_from_the_last_creation_time_at_the_cap() {
        let t = |m: i64| DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000 + m).unwrap();
        let span = Span {
            from: t(0),
            until: t(1_000_000),
        };
        let first = OffsetPage::of(span, None);
        assert_eq!(
            first,
            OffsetPage {
                offset: 0,
                from: t(0)
            }
        );
        let tok = first
            .next(true, 100, Some(t(5)), 100, 300)
            .unwrap()
            .unwrap();
        let second = OffsetPage::of(span, Some(&tok));
        assert_eq!(
            second,
            OffsetPage {
                offset: 100,
                from: t(0)
            }
        );
        // 200 + 100 would pass the cap of 250: from the last one's time.
        let tok = second
            .next(true, 100, Some(t(9)), 100, 250)
            .unwrap()
            .unwrap();
        assert_eq!(
            OffsetPage::of(span, Some(&tok)),
            OffsetPage {
                offset: 0,
                from: t(9)
            }
        );
        assert_eq!(second.next(false, 100, Some(t(9)), 100, 250), Ok(None));
        // All at one instant: no way on, said so.
        let stuck = OffsetPage {
            offset: 200,
            from: t(9),
        };
        assert!(stuck.next(true, 100, Some(t(9)), 100, 250).is_err());
        // A bare offset (an older cursor) counts from the window's start.
        assert_eq!(
            OffsetPage::of(span, Some("300")),
            OffsetPage {
                offset: 300,
                from: t(0)
            }
        );
    }

    use super::*;

    #[test]
    fn a_root_cause_is_read_as_four_keys_reads_it() {
        let body = "Checkout failed.\n\nroot cause: 3f2a9c1b7e, reverted";
        assert_eq!(root_cause(body).as_deref(), Some("3f2a9c1b7e"));
        // Case-sensitive, one space, letters and digits only.
        assert_eq!(root_cause("Root cause: 3f2a"), None);
        assert_eq!(root_cause("root cause:3f2a"), None);
        assert_eq!(root_cause("root cause: "), None);
        assert_eq!(root_cause("root cause: #12"), None);
        // A sha, not a word: short ones count, lower-cased.
        assert_eq!(root_cause("root cause: unknown"), None);
        assert_eq!(
            root_cause("root cause: 3F2A9C1").as_deref(),
            Some("3f2a9c1")
        );
        assert_eq!(root_cause("root cause: 3f2a9c"), None);
    }

    #[test]
    fn maps_by_id_then_name_then_known_then_reports() {
        let m = ServiceMapper::new(
            "PagerDuty",
            BTreeMap::from([
                ("PID1".to_string(), "checkout".to_string()),
                ("Web App".to_string(), "web".to_string()),
            ]),
            vec!["Payments".into()],
        );
        assert_eq!(m.map(Some("PID1"), Some("x")).0, "checkout");
        assert_eq!(m.map(Some("P2"), Some("Web App")).0, "web");
        assert_eq!(m.map(Some("P3"), Some("payments")).0, "Payments");
        let (s, note) = m.map(Some("P4"), Some("Legacy"));
        assert_eq!(s, "Legacy");
        assert_eq!(note.unwrap(), "unmapped PagerDuty service `Legacy`");
    }
}
