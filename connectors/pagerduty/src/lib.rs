//! PagerDuty connector: incidents from the PagerDuty REST API v2.
//!
//! # What it reads
//!
//! `GET /incidents` (`since`/`until`, `limit`/`offset`/`more` paging,
//! `time_zone=UTC`, `include[]=first_trigger_log_entries`) and
//! `GET /incidents/{id}`, with `Authorization: Token token=<token>` and
//! `Accept: application/vnd.pagerduty+json;version=2`. The token comes from
//! the environment variable named by `token_env` (default `PAGERDUTY_TOKEN`);
//! a read-only API key is enough.
//!
//! # How incidents map to EVENTS.md
//!
//! | incident field | PagerDuty field |
//! |---|---|
//! | id | `id` |
//! | title | `title` |
//! | created_at | `created_at` |
//! | acknowledged_at | earliest `acknowledgements[].at`; PagerDuty empties that list once an incident is resolved, so the time seen while it was open is kept in the cursor and reused |
//! | resolved_at | `resolved_at` (the Incident object has it; `null` while open); for an incident with `status: resolved` and no `resolved_at`, `last_status_change_at` |
//! | severity | `priority.summary` (e.g. `P1`) when a priority is set, else `urgency` (`high`/`low`) |
//! | service | `service` through `service_map` (by service id, then by name), else a known flowmeter service with the same name (any case), else the PagerDuty service name, reported as "unmapped PagerDuty service `X`" |
//! | url | `html_url` |
//! | deployment_id | `body.details.deployment_id`, else `first_trigger_log_entry.channel.details.deployment_id` (the `custom_details` of the Events API v2 event that triggered it, sent e.g. as `"custom_details": {"deployment_id": "..."}`) |
//! | extra | `incident_number`, `status`, `urgency`, `pagerduty_service_id` |
//!
//! # Incremental sync
//!
//! PagerDuty's `since`/`until` filter on the *creation* time of incidents and
//! allow at most six months per query, so a backfill walks from the sync's
//! start date to now in windows of 30 days. The cursor keeps the time the
//! last complete sync started; the next sync lists from that time minus one
//! hour (late-indexed incidents) to now. Incidents created earlier but still
//! open at the last sync would be missed by a creation-time filter, so the
//! cursor also keeps the ids of open incidents and the next sync re-fetches
//! each with `GET /incidents/{id}` first, upserting them once resolved.
//! A fingerprint of every recently emitted incident is kept too, so an
//! incident that is fetched again unchanged is not emitted again: a sync
//! with nothing new upstream writes nothing.
//!
//! Every page is one [`SyncBatch`] whose cursor records the position
//! (window and offset), so an interrupted sync resumes where it stopped.
//! PagerDuty's classic pagination stops at offset 10,000: a 30-day window
//! with more incidents than that is not fully read.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowmeter_connector::http::{token_from_env, HttpClient, HttpConfig};
use flowmeter_connector::incident::{fingerprint, ServiceMapper};
use flowmeter_connector::{Connector, ConnectorError, Cursor, SyncBatch, SyncContext};
use flowmeter_model::{Event, Extra, Incident};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Days per `since`/`until` window (PagerDuty allows at most six months).
const WINDOW_DAYS: i64 = 30;
/// Re-list incidents created this long before the last sync started.
const OVERLAP_MINUTES: i64 = 60;
/// Page size (PagerDuty's maximum is 100).
const PAGE_LIMIT: u64 = 100;
/// Open incidents re-fetched per batch.
const OPEN_PER_BATCH: usize = 25;
const CURSOR_VERSION: u32 = 1;

/// `[[sources]]` entry with `type = "pagerduty"`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PagerDutyConfig {
    /// Source name stored with every incident; default `pagerduty`.
    #[serde(default)]
    pub name: Option<String>,
    /// REST API base URL; `https://api.eu.pagerduty.com` for the EU service
    /// region.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Environment variable holding the API token (never put the token
    /// itself in the configuration file).
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// PagerDuty service id or name -> flowmeter service name. Services not
    /// listed keep their PagerDuty name (matched case-insensitively against
    /// the services flowmeter already knows) and are listed in the coverage
    /// report.
    #[serde(default)]
    pub service_map: BTreeMap<String, String>,
}

fn default_api_url() -> String {
    "https://api.pagerduty.com".into()
}

fn default_token_env() -> String {
    "PAGERDUTY_TOKEN".into()
}

impl Default for PagerDutyConfig {
    fn default() -> Self {
        PagerDutyConfig {
            name: None,
            api_url: default_api_url(),
            token_env: default_token_env(),
            service_map: BTreeMap::new(),
        }
    }
}

impl PagerDutyConfig {
    pub fn source_name(&self) -> &str {
        self.name.as_deref().unwrap_or("pagerduty")
    }
}

/// Reads PagerDuty incidents; see the crate docs.
pub struct PagerDutyConnector {
    name: String,
    http: HttpClient,
    mapper: ServiceMapper,
    /// This instance has returned its first batch.
    started: bool,
    done: bool,
}

impl PagerDutyConnector {
    /// `known_services`: the flowmeter services already known (from other
    /// sources), matched by name when `service_map` has no entry. The token
    /// is read from the environment variable `config.token_env`.
    pub fn new(
        config: PagerDutyConfig,
        known_services: Vec<String>,
    ) -> Result<Self, ConnectorError> {
        let (token, _) = token_from_env(&[config.token_env.as_str()])
            .map_err(|e| e.with_source(config.source_name()))?;
        Self::with_token(config, known_services, &token, |h| h)
    }

    /// Like [`PagerDutyConnector::new`] with the token given directly and a
    /// hook to adjust the HTTP settings (tests shorten the retry delay).
    pub fn with_token(
        config: PagerDutyConfig,
        known_services: Vec<String>,
        token: &str,
        customize: impl FnOnce(HttpConfig) -> HttpConfig,
    ) -> Result<Self, ConnectorError> {
        let name = config.source_name().to_string();
        let http = HttpConfig::new(name.clone(), config.api_url.clone())
            .auth(
                "authorization",
                &format!("Token token={token}"),
                config.token_env.clone(),
            )?
            .header("accept", "application/vnd.pagerduty+json;version=2");
        let http = HttpClient::new(customize(http))?;
        Ok(PagerDutyConnector {
            mapper: ServiceMapper::new("PagerDuty", config.service_map.clone(), known_services),
            name,
            http,
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
    /// Incidents open at the last complete sync -> acknowledgement time seen.
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
    window_start: DateTime<Utc>,
    offset: u64,
    /// Previously open incidents still to re-fetch.
    pending_open: Vec<String>,
    /// Incidents found open during this run.
    open: BTreeMap<String, Option<DateTime<Utc>>>,
}

#[async_trait::async_trait]
impl Connector for PagerDutyConnector {
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
                    window_start: from.min(started),
                    offset: 0,
                    pending_open: state.open.keys().cloned().collect(),
                    open: BTreeMap::new(),
                }
            }
        };

        if !run.pending_open.is_empty() {
            let n = run.pending_open.len().min(OPEN_PER_BATCH);
            let ids: Vec<String> = run.pending_open.drain(..n).collect();
            for id in ids {
                let path = format!("/incidents/{id}");
                match self.http.get_json::<Value>(&path, &[]).await {
                    Ok(body) => {
                        let raw = body.get("incident").cloned().unwrap_or(Value::Null);
                        self.take(&raw, &mut state, &mut run, &mut batch);
                    }
                    // Deleted or no longer visible: stop tracking it.
                    Err(ConnectorError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        } else if run.window_start < run.started {
            let window_end =
                (run.window_start + chrono::Duration::days(WINDOW_DAYS)).min(run.started);
            let query = vec![
                ("since", rfc3339(run.window_start)),
                ("until", rfc3339(window_end)),
                ("limit", PAGE_LIMIT.to_string()),
                ("offset", run.offset.to_string()),
                ("time_zone", "UTC".to_string()),
                ("include[]", "first_trigger_log_entries".to_string()),
            ];
            let page: Value = self.http.get_json("/incidents", &query).await?;
            let incidents = page
                .get("incidents")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for raw in &incidents {
                self.take(raw, &mut state, &mut run, &mut batch);
            }
            let more = page.get("more").and_then(Value::as_bool).unwrap_or(false);
            if more && !incidents.is_empty() {
                run.offset += incidents.len() as u64;
            } else {
                run.window_start = window_end;
                run.offset = 0;
            }
        }

        if run.pending_open.is_empty() && run.window_start >= run.started {
            // The run is complete.
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

impl PagerDutyConnector {
    /// Maps one incident and adds it to the batch unless it was already
    /// delivered unchanged.
    fn take(&mut self, raw: &Value, state: &mut State, run: &mut Run, batch: &mut SyncBatch) {
        let Some(id) = raw.get("id").and_then(Value::as_str) else {
            batch
                .notes
                .push("PagerDuty returned an incident without `id`; skipped".into());
            return;
        };
        let known_ack = run
            .open
            .get(id)
            .copied()
            .flatten()
            .or_else(|| state.open.get(id).copied().flatten());
        let (incident, note) = match self.map_incident(raw, known_ack) {
            Ok(x) => x,
            Err(why) => {
                batch
                    .notes
                    .push(format!("PagerDuty incident `{id}` skipped: {why}"));
                return;
            }
        };
        if let Some(n) = note {
            batch.notes.push(n);
        }
        if incident.resolved_at.is_none() {
            run.open.insert(id.to_string(), incident.acknowledged_at);
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

    fn map_incident(
        &mut self,
        raw: &Value,
        known_ack: Option<DateTime<Utc>>,
    ) -> Result<(Incident, Option<String>), String> {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let id = s(raw, "id").ok_or("no `id`")?;
        let created_at = ts(raw.get("created_at")).ok_or("no valid `created_at`")?;
        let status = s(raw, "status");
        let resolved_at = ts(raw.get("resolved_at")).or_else(|| {
            if status.as_deref() == Some("resolved") {
                ts(raw.get("last_status_change_at"))
            } else {
                None
            }
        });
        let acknowledged_at = raw
            .get("acknowledgements")
            .and_then(Value::as_array)
            .and_then(|acks| acks.iter().filter_map(|a| ts(a.get("at"))).min())
            .or(known_ack);
        let severity = raw
            .get("priority")
            .and_then(|p| s(p, "summary").or_else(|| s(p, "name")))
            .or_else(|| s(raw, "urgency"));
        let service = raw.get("service").unwrap_or(&Value::Null);
        let service_id = s(service, "id");
        let service_name = s(service, "summary").or_else(|| s(service, "name"));
        let (service, note) = self
            .mapper
            .map(service_id.as_deref(), service_name.as_deref());
        let deployment_id = [
            raw.pointer("/body/details/deployment_id"),
            raw.pointer("/first_trigger_log_entry/channel/details/deployment_id"),
        ]
        .into_iter()
        .flatten()
        .find_map(id_text);

        let mut extra = Extra::new();
        if let Some(n) = raw.get("incident_number").filter(|v| !v.is_null()) {
            extra.insert("incident_number".into(), n.clone());
        }
        for (k, v) in [
            ("status", status),
            ("urgency", s(raw, "urgency")),
            ("pagerduty_service_id", service_id),
        ] {
            if let Some(v) = v {
                extra.insert(k.into(), Value::String(v));
            }
        }
        Ok((
            Incident {
                source: self.name.clone(),
                id,
                services: vec![service],
                title: s(raw, "title").filter(|t| !t.is_empty()),
                severity: severity.filter(|t| !t.is_empty()),
                url: s(raw, "html_url").filter(|t| !t.is_empty()),
                created_at,
                acknowledged_at,
                resolved_at,
                deployment_id,
                deployment_source: None,
                extra,
            },
            note,
        ))
    }
}

fn ts(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The retry delay tests use.
#[doc(hidden)]
pub const TEST_RETRY_DELAY: Duration = Duration::from_millis(2);
