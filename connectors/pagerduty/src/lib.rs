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
//! The shared [`flowmeter_connector::incident`] driver does the syncing
//! (creation-time windows with an hour's overlap, open incidents re-fetched
//! with `GET /incidents/{id}`, acknowledgement times kept, unchanged
//! incidents not emitted again, one batch per page). PagerDuty's
//! `since`/`until` allow at most six months per query, so a backfill walks
//! in windows of 30 days. Incidents are listed oldest first
//! (`sort_by=created_at:asc`); classic pagination (`limit`/`offset`/`more`)
//! ends at offset 10,000 ("Offset+limit exceeds maximum allowed value of
//! 10000"), so a window with more incidents goes on from the creation time
//! of the last one read, at offset 0.

use std::time::Duration;

use chrono::{DateTime, Utc};
use flowmeter_connector::incident::prelude::*;

/// Days per `since`/`until` window (PagerDuty allows at most six months).
const WINDOW_DAYS: i64 = 30;
/// Page size (PagerDuty's maximum is 100).
const PAGE_LIMIT: u64 = 100;
/// The largest `offset + limit` PagerDuty's classic pagination accepts.
const MAX_OFFSET: u64 = 10_000;

flowmeter_connector::source_config! {
    /// `[[sources]]` entry with `type = "pagerduty"`.
    pub struct PagerDutyConfig {
        kind: "pagerduty",
        api_url: "https://api.pagerduty.com",
            "`https://api.eu.pagerduty.com` for the EU service region.",
        token_env: "PAGERDUTY_TOKEN", "a read-only REST API key",
        service_map: "PagerDuty",
    }
}

flowmeter_connector::tool_config!(PagerDutyConfig);

/// PagerDuty's incident API, driven by the shared incident sync.
pub struct PagerDuty {
    tool: Tool,
}

/// Reads PagerDuty incidents; see the crate docs.
pub type PagerDutyConnector = IncidentConnector<PagerDuty>;

impl IncidentTool for PagerDuty {
    type Config = PagerDutyConfig;
    const TOOL: &'static str = "PagerDuty";
    const ACCEPT: &'static str = "application/vnd.pagerduty+json;version=2";

    fn authorization(token: &str) -> String {
        format!("Token token={token}")
    }

    fn build(_config: PagerDutyConfig, tool: Tool) -> Result<Self, ConnectorError> {
        Ok(PagerDuty { tool })
    }
}

#[async_trait::async_trait]
impl IncidentApi for PagerDuty {
    fn tool(&self) -> &Tool {
        &self.tool
    }

    fn max_window(&self) -> Option<chrono::Duration> {
        Some(chrono::Duration::days(WINDOW_DAYS))
    }

    /// `GET /incidents?since&until&sort_by=created_at:asc&limit&offset`
    /// (`more` says whether a next page exists), paged by [`OffsetPage`]
    /// up to [`MAX_OFFSET`].
    async fn list(&mut self, span: Span, page: Option<&str>) -> Result<Listed, ConnectorError> {
        let at = OffsetPage::of(span, page);
        let query = vec![
            ("since", rfc3339(at.from)),
            ("until", rfc3339(span.until)),
            ("sort_by", "created_at:asc".to_string()),
            ("limit", PAGE_LIMIT.to_string()),
            ("offset", at.offset.to_string()),
            ("time_zone", "UTC".to_string()),
            ("include[]", "first_trigger_log_entries".to_string()),
        ];
        let page: Value = self.tool.http.get_json("/incidents", &query).await?;
        let incidents = page
            .get("incidents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let more = page.get("more").and_then(Value::as_bool).unwrap_or(false);
        let last = incidents.last().and_then(|i| ts(&i["created_at"]));
        let next = (at.next(more, incidents.len(), last, PAGE_LIMIT, MAX_OFFSET))
            .map_err(|m| self.tool.api_error("GET /incidents", m))?;
        Ok((incidents, next))
    }

    async fn fetch(&mut self, id: &str) -> Result<Option<Value>, ConnectorError> {
        let path = format!("/incidents/{id}");
        // As the list asks: without it the trigger log entry is a bare
        // reference, and a re-read incident lost its `deployment_id`.
        let query = [("include[]", "first_trigger_log_entries".to_string())];
        let found: Option<Value> = self.tool.http.get_json_if_found(&path, &query).await?;
        Ok(found.and_then(|body| body.get("incident").cloned()))
    }

    async fn map(&mut self, raw: &Value, notes: &mut Vec<String>) -> Mapped {
        if let Some(into) = merged_into(raw) {
            return Ok(Err(format!(
                "merged into incident `{into}`; not an incident of its own"
            )));
        }
        Ok(self.map_incident(raw).map(|(incident, note)| {
            notes.extend(note);
            incident
        }))
    }

    fn is_withdrawn(&self, raw: &Value) -> bool {
        merged_into(raw).is_some()
    }
}

/// The incident a merged one went into: merging resolves the incidents
/// merged away with `resolve_reason` `{"type": "merge_resolve_reason",
/// "incident": {...}}` (the only reason PagerDuty gives). Its outage is
/// the other incident's; counted too, it would restore twice.
fn merged_into(raw: &Value) -> Option<String> {
    let reason = &raw["resolve_reason"];
    (reason["type"].as_str() == Some("merge_resolve_reason")).then(|| {
        let into = &reason["incident"];
        (into["id"].as_str().or_else(|| into["summary"].as_str()))
            .unwrap_or("another")
            .to_string()
    })
}

impl PagerDuty {
    fn map_incident(&mut self, raw: &Value) -> Result<(Incident, Option<String>), String> {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let id = s(raw, "id").ok_or("no `id`")?;
        let created_at = ts(&raw["created_at"]).ok_or("no valid `created_at`")?;
        let status = s(raw, "status");
        let resolved_at = ts(&raw["resolved_at"]).or_else(|| {
            if status.as_deref() == Some("resolved") {
                ts(&raw["last_status_change_at"])
            } else {
                None
            }
        });
        let acknowledged_at = raw
            .get("acknowledgements")
            .and_then(Value::as_array)
            .and_then(|acks| acks.iter().filter_map(|a| ts(&a["at"])).min());
        let severity = raw
            .get("priority")
            .and_then(|p| s(p, "summary").or_else(|| s(p, "name")))
            .or_else(|| s(raw, "urgency"));
        let service = raw.get("service").unwrap_or(&Value::Null);
        let service_id = s(service, "id");
        let service_name = s(service, "summary").or_else(|| s(service, "name"));
        let (service, note) = self
            .tool
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
                source: self.tool.name.clone(),
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
                root_cause: None,
                extra,
            },
            note,
        ))
    }
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
