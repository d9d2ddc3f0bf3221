//! Opsgenie connector: incidents from the Opsgenie Incident API.
//!
//! **Opsgenie is being retired.** Atlassian stopped selling Opsgenie on
//! June 4, 2025 and ends its support on April 5, 2027 (the REST API keeps
//! working until then); its incident management moves to Jira Service
//! Management and Compass. This connector serves existing Opsgenie accounts
//! and their history until then.
//!
//! # What it reads
//!
//! `GET /v1/services` (service ids to names), `GET /v1/incidents` with
//! `query=createdAt>…` (epoch milliseconds), `sort=createdAt`, `order=asc`,
//! `offset`/`limit` paging, and `GET /v1/incidents/{id}?identifierType=id`,
//! with `Authorization: GenieKey <key>`. The key comes from the environment
//! variable named by `token_env` (default `OPSGENIE_TOKEN`); an API
//! integration key with read access is enough. The Incident API is only
//! available on Opsgenie's Standard and Enterprise plans. EU accounts set
//! `api_url = "https://api.eu.opsgenie.com"`.
//!
//! # How incidents map to EVENTS.md
//!
//! | incident field | Opsgenie field |
//! |---|---|
//! | id | `id` |
//! | title | `message` |
//! | created_at | `createdAt` |
//! | resolved_at | for `status` `resolved` or `closed`: `impactEndDate`, else (no impact end recorded) `updatedAt`; absent while `open` |
//! | acknowledged_at | not set: Opsgenie incidents carry no acknowledgement time (that lives on their alerts) |
//! | severity | `priority` (`P1` … `P5`) |
//! | services | every id in `impactedServices`, named through `GET /v1/services`, then mapped through `service_map` (by id, then by name), else a known flowmeter service with the same name (any case), else the Opsgenie name, reported as "unmapped Opsgenie service `X`"; an incident with no impacted service gets `unknown` and a note |
//! | url | `links.web` |
//! | deployment_id | `extraProperties.deployment_id` |
//! | extra | `tiny_id`, `status`, `tags` |
//!
//! # Incremental sync
//!
//! The cursor keeps the time the last complete sync started; the next sync
//! lists incidents created from that time minus one hour, oldest first.
//! Incidents created earlier and still open are tracked by id in the cursor
//! and re-fetched one by one, so a later resolution is upserted. A
//! fingerprint of recently emitted incidents prevents emitting an unchanged
//! incident again. Every page is one batch whose cursor records the offset,
//! so an interrupted sync resumes where it stopped.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowmeter_connector::http::{token_from_env, HttpClient, HttpConfig};
use flowmeter_connector::incident::{fingerprint, ServiceMapper};
use flowmeter_connector::{Connector, ConnectorError, Cursor, SyncBatch, SyncContext};
use flowmeter_model::{Event, Extra, Incident};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Re-list incidents created this long before the last sync started.
const OVERLAP_MINUTES: i64 = 60;
/// Page size (Opsgenie's maximum is 100).
const PAGE_LIMIT: u64 = 100;
/// Open incidents re-fetched per batch.
const OPEN_PER_BATCH: usize = 25;
const CURSOR_VERSION: u32 = 1;

/// `[[sources]]` entry with `type = "opsgenie"`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct OpsgenieConfig {
    /// Source name stored with every incident; default `opsgenie`.
    #[serde(default)]
    pub name: Option<String>,
    /// REST API base URL; `https://api.eu.opsgenie.com` for EU accounts.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Environment variable holding the API key (never put the key itself
    /// in the configuration file).
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Opsgenie service id or name -> flowmeter service name. Services not
    /// listed keep their Opsgenie name (matched case-insensitively against
    /// the services flowmeter already knows) and are listed in the coverage
    /// report.
    #[serde(default)]
    pub service_map: BTreeMap<String, String>,
}

/// The EU instance's API URL.
pub const EU_API_URL: &str = "https://api.eu.opsgenie.com";

fn default_api_url() -> String {
    "https://api.opsgenie.com".into()
}

fn default_token_env() -> String {
    "OPSGENIE_TOKEN".into()
}

impl Default for OpsgenieConfig {
    fn default() -> Self {
        OpsgenieConfig {
            name: None,
            api_url: default_api_url(),
            token_env: default_token_env(),
            service_map: BTreeMap::new(),
        }
    }
}

impl OpsgenieConfig {
    pub fn source_name(&self) -> &str {
        self.name.as_deref().unwrap_or("opsgenie")
    }
}

/// Reads Opsgenie incidents; see the crate docs.
pub struct OpsgenieConnector {
    name: String,
    http: HttpClient,
    mapper: ServiceMapper,
    /// Opsgenie service id -> name, fetched once per connector.
    services: Option<BTreeMap<String, String>>,
    started: bool,
    done: bool,
}

impl OpsgenieConnector {
    /// `known_services`: the flowmeter services already known (from other
    /// sources), matched by name when `service_map` has no entry. The key is
    /// read from the environment variable `config.token_env`.
    pub fn new(
        config: OpsgenieConfig,
        known_services: Vec<String>,
    ) -> Result<Self, ConnectorError> {
        let (token, _) = token_from_env(&[config.token_env.as_str()])
            .map_err(|e| e.with_source(config.source_name()))?;
        Self::with_token(config, known_services, &token, |h| h)
    }

    /// Like [`OpsgenieConnector::new`] with the key given directly and a
    /// hook to adjust the HTTP settings (tests shorten the retry delay).
    pub fn with_token(
        config: OpsgenieConfig,
        known_services: Vec<String>,
        token: &str,
        customize: impl FnOnce(HttpConfig) -> HttpConfig,
    ) -> Result<Self, ConnectorError> {
        let name = config.source_name().to_string();
        let http = HttpConfig::new(name.clone(), config.api_url.clone())
            .auth(
                "authorization",
                &format!("GenieKey {token}"),
                config.token_env.clone(),
            )?
            .header("accept", "application/json");
        let http = HttpClient::new(customize(http))?;
        Ok(OpsgenieConnector {
            mapper: ServiceMapper::new("Opsgenie", config.service_map.clone(), known_services),
            name,
            http,
            services: None,
            started: false,
            done: false,
        })
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        self.http.requests()
    }
}

/// The cursor: where the last complete sync got to, and the sync in progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    v: u32,
    /// Start time of the last complete sync.
    synced_until: Option<DateTime<Utc>>,
    /// Incidents open at the last complete sync (the value is unused).
    open: BTreeMap<String, Option<DateTime<Utc>>>,
    /// Recently emitted incidents: id -> fingerprint and creation time.
    seen: BTreeMap<String, Seen>,
    run: Option<Run>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    fp: String,
    created: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Run {
    started: DateTime<Utc>,
    /// List incidents created at or after this time.
    from: DateTime<Utc>,
    offset: u64,
    /// The listing is complete.
    listed: bool,
    /// Previously open incidents still to re-fetch.
    pending_open: Vec<String>,
    /// Incidents found open during this run.
    open: BTreeMap<String, Option<DateTime<Utc>>>,
}

#[async_trait::async_trait]
impl Connector for OpsgenieConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_batch(
        &mut self,
        ctx: &SyncContext,
        cursor: Option<&Cursor>,
    ) -> Result<Option<SyncBatch>, ConnectorError> {
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
        let before = self.http.requests();
        self.mapper.reset_reported();
        let mut batch = SyncBatch::default();
        if self.services.is_none() {
            self.services = Some(self.fetch_services().await?);
        }

        let mut run = match state.run.take() {
            Some(r) => r,
            None => {
                let started = Utc::now();
                let from = match state.synced_until {
                    Some(t) => t - chrono::Duration::minutes(OVERLAP_MINUTES),
                    None => ctx.since,
                };
                Run {
                    started,
                    from: from.min(started),
                    offset: 0,
                    listed: false,
                    pending_open: state.open.keys().cloned().collect(),
                    open: BTreeMap::new(),
                }
            }
        };

        if !run.pending_open.is_empty() {
            let n = run.pending_open.len().min(OPEN_PER_BATCH);
            let ids: Vec<String> = run.pending_open.drain(..n).collect();
            for id in ids {
                let path = format!("/v1/incidents/{id}");
                let query = [("identifierType", "id".to_string())];
                match self.http.get_json::<Value>(&path, &query).await {
                    Ok(body) => {
                        let raw = body.get("data").cloned().unwrap_or(Value::Null);
                        self.take(&raw, &mut state, &mut run, &mut batch);
                    }
                    Err(ConnectorError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        } else if !run.listed {
            let query = vec![
                (
                    "query",
                    format!("createdAt>{}", run.from.timestamp_millis() - 1),
                ),
                ("offset", run.offset.to_string()),
                ("limit", PAGE_LIMIT.to_string()),
                ("sort", "createdAt".to_string()),
                ("order", "asc".to_string()),
            ];
            let page: Value = self.http.get_json("/v1/incidents", &query).await?;
            let incidents = page
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for raw in &incidents {
                self.take(raw, &mut state, &mut run, &mut batch);
            }
            let has_next = page
                .pointer("/paging/next")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if has_next && incidents.len() as u64 >= PAGE_LIMIT {
                run.offset += incidents.len() as u64;
            } else {
                run.listed = true;
            }
        }

        if run.pending_open.is_empty() && run.listed {
            let synced = run.started;
            let keep_from = synced - chrono::Duration::minutes(OVERLAP_MINUTES + 24 * 60);
            state
                .seen
                .retain(|id, s| s.created >= keep_from || run.open.contains_key(id));
            state.open = run.open;
            state.synced_until = Some(synced);
            state.run = None;
            self.done = true;
        } else {
            state.run = Some(run);
        }
        state.v = CURSOR_VERSION;
        batch.cursor = Cursor(serde_json::to_value(&state).expect("cursor serialises"));
        batch.requests = self.http.requests() - before;
        Ok(Some(batch))
    }
}

impl OpsgenieConnector {
    async fn fetch_services(&self) -> Result<BTreeMap<String, String>, ConnectorError> {
        let mut out = BTreeMap::new();
        let mut offset = 0u64;
        loop {
            let query = [
                ("offset", offset.to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ];
            let page: Value = self.http.get_json("/v1/services", &query).await?;
            let data = page
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for s in &data {
                if let (Some(id), Some(name)) = (
                    s.get("id").and_then(Value::as_str),
                    s.get("name").and_then(Value::as_str),
                ) {
                    out.insert(id.to_string(), name.to_string());
                }
            }
            let has_next = page
                .pointer("/paging/next")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !has_next || (data.len() as u64) < PAGE_LIMIT {
                return Ok(out);
            }
            offset += data.len() as u64;
        }
    }

    /// Maps one incident and adds it to the batch unless it was already
    /// delivered unchanged.
    fn take(&mut self, raw: &Value, state: &mut State, run: &mut Run, batch: &mut SyncBatch) {
        let Some(id) = raw.get("id").and_then(Value::as_str) else {
            batch
                .notes
                .push("Opsgenie returned an incident without `id`; skipped".into());
            return;
        };
        let incident = match self.map_incident(raw, &mut batch.notes) {
            Ok(x) => x,
            Err(why) => {
                batch
                    .notes
                    .push(format!("Opsgenie incident `{id}` skipped: {why}"));
                return;
            }
        };
        if incident.resolved_at.is_none() {
            run.open.insert(id.to_string(), None);
        } else {
            run.open.remove(id);
        }
        let created = incident.created_at;
        let event = Event::Incident(incident);
        let fp = fingerprint(&event);
        if state.seen.get(id).map(|s| &s.fp) == Some(&fp) {
            return;
        }
        state.seen.insert(id.to_string(), Seen { fp, created });
        batch.events.push(event);
    }

    fn map_incident(&mut self, raw: &Value, notes: &mut Vec<String>) -> Result<Incident, String> {
        let s = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let id = s(raw, "id").ok_or("no `id`")?;
        let created_at = ts(raw.get("createdAt")).ok_or("no valid `createdAt`")?;
        let status = s(raw, "status");
        let resolved_at = match status.as_deref() {
            Some("resolved") | Some("closed") => {
                ts(raw.get("impactEndDate")).or_else(|| ts(raw.get("updatedAt")))
            }
            _ => None,
        };
        let names = self.services.clone().unwrap_or_default();
        let mut services = Vec::new();
        for sid in raw
            .get("impactedServices")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let (svc, note) = self
                .mapper
                .map(Some(sid), names.get(sid).map(String::as_str));
            notes.extend(note);
            if !services.contains(&svc) {
                services.push(svc);
            }
        }
        if services.is_empty() {
            services.push("unknown".to_string());
            notes.push(format!(
                "Opsgenie incident `{}` names no impacted service; stored as service `unknown`",
                s(raw, "tinyId").unwrap_or_else(|| id.clone())
            ));
        }
        let deployment_id = raw
            .pointer("/extraProperties/deployment_id")
            .and_then(|v| match v {
                Value::String(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        let mut extra = Extra::new();
        if let Some(t) = s(raw, "tinyId") {
            extra.insert("tiny_id".into(), Value::String(t));
        }
        if let Some(st) = &status {
            extra.insert("status".into(), Value::String(st.clone()));
        }
        if let Some(tags) = raw
            .get("tags")
            .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
        {
            extra.insert("tags".into(), tags.clone());
        }
        Ok(Incident {
            source: self.name.clone(),
            id,
            services,
            title: s(raw, "message"),
            severity: s(raw, "priority"),
            url: raw
                .pointer("/links/web")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            created_at,
            acknowledged_at: None,
            resolved_at,
            deployment_id,
            deployment_source: None,
            extra,
        })
    }
}

fn ts(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The retry delay tests use.
#[doc(hidden)]
pub const TEST_RETRY_DELAY: Duration = Duration::from_millis(2);
