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
//! | resolved_at | for `status` `resolved` or `closed`: `impactEndDate`, else the `eventTime` of the latest `IncidentResolved` entry of the incident's timeline (`GET /v2/incident-timelines/{id}/entries`), else the time of the log entry that resolved it (`GET /v1/incidents/{id}/logs`); never `updatedAt` (a close or a note moves it); absent while `open`, and absent with a note when none of them says |
//! | acknowledged_at | not set: Opsgenie incidents carry no acknowledgement time (that lives on their alerts) |
//! | severity | `priority` (`P1` … `P5`) |
//! | services | every id in `impactedServices`, named through `GET /v1/services`, then mapped through `service_map` (by id, then by name), else a known flowmeter service with the same name (any case), else the Opsgenie name, reported as "unmapped Opsgenie service `X`"; an incident with no impacted service gets `unknown` and a note |
//! | url | `links.web` |
//! | deployment_id | `extraProperties.deployment_id` |
//! | extra | `tiny_id`, `status`, `tags` |
//!
//! # Incremental sync
//!
//! The shared [`flowmeter_connector::incident`] driver does the syncing:
//! incidents created since the last sync (minus an hour) oldest first, open
//! ones re-fetched until they resolve, unchanged ones not emitted again, one
//! batch per page, resumable.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowmeter_connector::incident::prelude::*;

/// Page size (Opsgenie's maximum is 100).
const PAGE_LIMIT: u64 = 100;
/// The largest `offset + limit` Opsgenie accepts (not documented for
/// incidents; its alert API documents it and incidents answer the same).
const MAX_OFFSET: u64 = 20_000;

flowmeter_connector::source_config! {
    /// `[[sources]]` entry with `type = "opsgenie"`.
    pub struct OpsgenieConfig {
        kind: "opsgenie",
        api_url: "https://api.opsgenie.com", "`https://api.eu.opsgenie.com` for EU accounts.",
        token_env: "OPSGENIE_TOKEN", "an API key of an API integration with read access",
        service_map: "Opsgenie",
    }
}

/// The EU instance's API URL.
pub const EU_API_URL: &str = "https://api.eu.opsgenie.com";

flowmeter_connector::tool_config!(OpsgenieConfig);

/// Opsgenie's Incident API, driven by the shared incident sync.
pub struct Opsgenie {
    tool: Tool,
    /// Opsgenie service id -> name, fetched once per connector.
    services: Option<BTreeMap<String, String>>,
}

/// Reads Opsgenie incidents; see the crate docs.
pub type OpsgenieConnector = IncidentConnector<Opsgenie>;

impl IncidentTool for Opsgenie {
    type Config = OpsgenieConfig;
    const TOOL: &'static str = "Opsgenie";

    fn authorization(token: &str) -> String {
        format!("GenieKey {token}")
    }

    fn build(_config: OpsgenieConfig, tool: Tool) -> Result<Self, ConnectorError> {
        Ok(Opsgenie {
            tool,
            services: None,
        })
    }
}

#[async_trait::async_trait]
impl IncidentApi for Opsgenie {
    fn tool(&self) -> &Tool {
        &self.tool
    }

    async fn prepare(&mut self) -> Result<(), ConnectorError> {
        if self.services.is_none() {
            self.services = Some(self.fetch_services().await?);
        }
        Ok(())
    }

    /// `GET /v1/incidents?query=createdAt>…&sort=createdAt&order=asc` with
    /// `offset`/`limit` paging (`paging.next` says whether more exist), by
    /// [`OffsetPage`]: Opsgenie refuses an `offset + limit` past 20,000, so
    /// a backfill past that many goes on from the last incident's
    /// `createdAt` (the paging Opsgenie's support suggests).
    async fn list(&mut self, span: Span, page: Option<&str>) -> Result<Listed, ConnectorError> {
        let at = OffsetPage::of(span, page);
        let query = vec![
            (
                "query",
                format!("createdAt>{}", at.from.timestamp_millis() - 1),
            ),
            ("offset", at.offset.to_string()),
            ("limit", PAGE_LIMIT.to_string()),
            ("sort", "createdAt".to_string()),
            ("order", "asc".to_string()),
        ];
        let page: Value = self.tool.http.get_json("/v1/incidents", &query).await?;
        let incidents = page
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has_next = page
            .pointer("/paging/next")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let more = has_next && incidents.len() as u64 >= PAGE_LIMIT;
        let last = incidents.last().and_then(|i| ts(&i["createdAt"]));
        let next = (at.next(more, incidents.len(), last, PAGE_LIMIT, MAX_OFFSET))
            .map_err(|m| self.tool.api_error("GET /v1/incidents", m))?;
        Ok((incidents, next))
    }

    async fn fetch(&mut self, id: &str) -> Result<Option<Value>, ConnectorError> {
        let path = format!("/v1/incidents/{id}");
        let query = [("identifierType", "id".to_string())];
        let found: Option<Value> = self.tool.http.get_json_if_found(&path, &query).await?;
        Ok(found.and_then(|body| body.get("data").cloned()))
    }

    async fn map(&mut self, raw: &Value, notes: &mut Vec<String>) -> Mapped {
        let resolved = self.resolution(raw).await?;
        Ok(self.map_incident(raw, resolved, notes))
    }
}

impl Opsgenie {
    async fn fetch_services(&self) -> Result<BTreeMap<String, String>, ConnectorError> {
        let mut out = BTreeMap::new();
        let mut offset = 0u64;
        loop {
            let query = [
                ("offset", offset.to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ];
            let page: Value = self.tool.http.get_json("/v1/services", &query).await?;
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

    /// When a resolved or closed incident was resolved. Opsgenie's list
    /// items carry `impactEndDate` only when someone set the impact end;
    /// otherwise the resolution is read from the incident's timeline (the
    /// `IncidentResolved` entry, `GET /v2/incident-timelines/{id}/entries`),
    /// else from its log (`GET /v1/incidents/{id}/logs`, the entry that
    /// resolved it). `updatedAt` is NOT a resolution time (a close a day
    /// later or a note moves it) and is never used. `None`: open, or no
    /// resolution found (the incident is then stored without one and a note
    /// says so).
    async fn resolution(&self, raw: &Value) -> Result<Option<DateTime<Utc>>, ConnectorError> {
        let status = raw.get("status").and_then(Value::as_str).unwrap_or("");
        if !matches!(status, "resolved" | "closed") {
            return Ok(None);
        }
        if let Some(t) = ts(&raw["impactEndDate"]) {
            return Ok(Some(t));
        }
        let Some(id) = raw.get("id").and_then(Value::as_str) else {
            return Ok(None);
        };
        if let Some(t) = self.resolution_in_timeline(id).await? {
            return Ok(Some(t));
        }
        self.resolution_in_log(id).await
    }

    /// The latest `IncidentResolved` entry of the incident's timeline.
    async fn resolution_in_timeline(
        &self,
        id: &str,
    ) -> Result<Option<DateTime<Utc>>, ConnectorError> {
        let path = format!("/v2/incident-timelines/{id}/entries");
        let mut entries = Vec::new();
        let mut offset: Option<String> = None;
        for _ in 0..100 {
            let mut query = vec![
                ("limit", PAGE_LIMIT.to_string()),
                ("order", "asc".to_string()),
            ];
            if let Some(o) = &offset {
                query.push(("offset", o.clone()));
            }
            let page: Value = match self.tool.http.get_json(&path, &query).await {
                Ok(p) => p,
                // No timeline for this incident (or plan): try the log.
                Err(ConnectorError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let data = page
                .pointer("/data/entries")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = data.len();
            entries.extend(data);
            offset = page
                .pointer("/data/nextOffset")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if offset.is_none() || n == 0 {
                break;
            }
        }
        Ok(entries
            .iter()
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("IncidentResolved"))
            .filter_map(|e| ts(&e["eventTime"]))
            .max())
    }

    /// The entry of the incident's log that resolved it.
    async fn resolution_in_log(&self, id: &str) -> Result<Option<DateTime<Utc>>, ConnectorError> {
        let mut entries = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..100 {
            let page: Value = match &next {
                Some(url) => self.tool.http.get_json(url, &[]).await?,
                None => {
                    match self
                        .tool
                        .http
                        .get_json(
                            &format!("/v1/incidents/{id}/logs"),
                            &[
                                ("identifierType", "id".to_string()),
                                ("order", "asc".to_string()),
                                ("direction", "next".to_string()),
                                ("limit", PAGE_LIMIT.to_string()),
                            ],
                        )
                        .await
                    {
                        Ok(p) => p,
                        Err(ConnectorError::NotFound { .. }) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
            };
            let data = page
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = data.len();
            entries.extend(data);
            next = page
                .pointer("/paging/next")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if next.is_none() || n == 0 {
                break;
            }
        }
        Ok(resolved_in_log(&entries))
    }

    fn map_incident(
        &mut self,
        raw: &Value,
        resolved: Option<DateTime<Utc>>,
        notes: &mut Vec<String>,
    ) -> Result<Incident, String> {
        let s = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let id = s(raw, "id").ok_or("no `id`")?;
        let created_at = ts(&raw["createdAt"]).ok_or("no valid `createdAt`")?;
        let status = s(raw, "status");
        let resolved_at = match status.as_deref() {
            Some("resolved") | Some("closed") => {
                let r = ts(&raw["impactEndDate"]).or(resolved);
                if r.is_none() {
                    notes.push(format!(
                        "Opsgenie incident `{}` is {} but neither `impactEndDate` nor its log gives the resolution time; stored without one (not counted in time to restore)",
                        s(raw, "tinyId").unwrap_or_else(|| id.clone()),
                        status.as_deref().unwrap_or("")
                    ));
                }
                r
            }
            _ => None,
        };
        let names = self.services.clone().unwrap_or_default();
        let impacted = raw.get("impactedServices").and_then(Value::as_array);
        let services = self.tool.mapper.map_all(
            (impacted.into_iter().flatten().filter_map(Value::as_str))
                .map(|sid| (Some(sid), names.get(sid).map(String::as_str))),
            notes,
            || {
                format!(
                    "Opsgenie incident `{}` names no impacted service",
                    s(raw, "tinyId").unwrap_or_else(|| id.clone())
                )
            },
        );
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
            source: self.tool.name.clone(),
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
            root_cause: None,
            extra,
        })
    }
}

/// The time of the first log entry that resolved the incident
/// (`Incident resolved ...`, or a status change to resolved), oldest
/// first. Entries that reopen it reset the search.
pub fn resolved_in_log(entries: &[Value]) -> Option<DateTime<Utc>> {
    let mut dated: Vec<(DateTime<Utc>, String)> = entries
        .iter()
        .filter_map(|e| {
            let at = ts(&e["createdAt"])?;
            let text = e
                .get("log")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase();
            Some((at, text))
        })
        .collect();
    dated.sort_by_key(|(at, _)| *at);
    let mut resolved = None;
    for (at, text) in dated {
        if text.contains("reopen") || text.contains("re-open") {
            resolved = None;
        } else if resolved.is_none()
            && (text.contains("resolved") || text.contains("status changed to resolved"))
            && !text.contains("unresolved")
        {
            resolved = Some(at);
        }
    }
    resolved
}

/// The retry delay tests use.
#[doc(hidden)]
pub const TEST_RETRY_DELAY: Duration = Duration::from_millis(2);
