//! incident.io connector: incidents from the incident.io API v2.
//!
//! # What it reads
//!
//! `GET /v2/incidents` (`page_size`, `after` cursor paging with
//! `pagination_meta.after`, filtered with `updated_at[gte]=YYYY-MM-DD`: incidents edited since, not only created) and
//! `GET /v2/incidents/{id}`, with `Authorization: Bearer <key>`. The key
//! comes from the environment variable named by `token_env` (default
//! `INCIDENT_IO_API_KEY`); a read-only API key ("View data, like public
//! incidents and organisation settings") is enough.
//!
//! # How incidents map to EVENTS.md
//!
//! | incident field | incident.io field |
//! |---|---|
//! | id | `id` (`reference`, e.g. `INC-123`, is kept in `extra`) |
//! | title | `name` |
//! | created_at | `created_at` |
//! | resolved_at | the incident timestamp named by `resolved_timestamp` (default `Resolved at`, any case) in `incident_timestamp_values`; an incident whose `incident_status.category` is `closed` or `learning` (post-incident) but has no such timestamp is stored without one, with a note — never guessed from `updated_at` |
//! | acknowledged_at | the timestamp named by `acknowledged_timestamp` (default `Accepted at`), if the organisation records it |
//! | severity | `severity.name` |
//! | services | the values of the custom field named by `services_field` (default `Affected services`): catalog entries by name, options by value, or text; through `service_map`, else a known flowmeter service of the same name (any case), else the incident.io name, reported as unmapped; no value: `unknown`, with a note |
//! | deployment_id | the text of the custom field named by `deployment_field` (default `Deployment ID`) |
//! | url | `permalink` |
//!
//! Incidents in `test` or `tutorial` mode, and those whose status category
//! is `declined`, `merged` or `canceled` (not incidents after all), are
//! skipped with a note. Syncing (windows, open incidents, cursor) is the
//! shared [`flowmeter_connector::incident`] driver's.

use chrono::{DateTime, Utc};
use flowmeter_connector::incident::prelude::*;

/// Incidents per page (incident.io allows up to 250).
const PAGE_SIZE: u32 = 250;

flowmeter_connector::source_config! {
    /// `[[sources]]` entry with `type = "incidentio"`.
    ///
    /// ```toml
    /// [[sources]]
    /// type = "incidentio"
    /// token_env = "INCIDENT_IO_API_KEY"
    /// services_field = "Affected services"
    /// [sources.service_map]
    /// "Payments API" = "payments"
    /// ```
    pub struct IncidentIoConfig {
        kind: "incidentio",
        api_url: "https://api.incident.io", "",
        token_env: "INCIDENT_IO_API_KEY", "an API key with read access to incidents",
        service_map: "incident.io",
        /// The custom field that names the affected services (a catalog-backed
        /// or select field; matched by name, any case).
        pub services_field: String = "Affected services".into(),
        /// The custom field holding the id of the deployment that caused the
        /// incident (a text field), if your organisation records it.
        pub deployment_field: String = "Deployment ID".into(),
        /// The incident timestamp that marks resolution (by name, any case).
        pub resolved_timestamp: String = "Resolved at".into(),
        /// The incident timestamp that marks acknowledgement (by name).
        pub acknowledged_timestamp: String = "Accepted at".into(),
    }
}

flowmeter_connector::tool_config!(IncidentIoConfig);

/// The incident.io API, driven by the shared incident sync.
pub struct IncidentIo {
    config: IncidentIoConfig,
    tool: Tool,
}

/// Reads incident.io incidents; see the crate docs.
pub type IncidentIoConnector = IncidentConnector<IncidentIo>;

impl IncidentTool for IncidentIo {
    type Config = IncidentIoConfig;
    const TOOL: &'static str = "incident.io";

    fn authorization(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn build(config: IncidentIoConfig, tool: Tool) -> Result<Self, ConnectorError> {
        Ok(IncidentIo { tool, config })
    }
}

/// The value of the incident timestamp named `name` (any case).
fn timestamp(raw: &Value, name: &str) -> Option<DateTime<Utc>> {
    raw["incident_timestamp_values"]
        .as_array()?
        .iter()
        .find(|t| {
            t["incident_timestamp"]["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|t| ts(&t["value"]["value"]))
}

/// The values of the custom field named `name` (any case), as text:
/// catalog entries by name, options by value, else text, link or number.
fn field_values(raw: &Value, name: &str) -> Vec<(Option<String>, String)> {
    let Some(entries) = raw["custom_field_entries"].as_array() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|e| {
            e["custom_field"]["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .flat_map(|e| e["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| {
            if let Some(name) = text(&v["value_catalog_entry"]["name"]) {
                return Some((text(&v["value_catalog_entry"]["id"]), name));
            }
            if let Some(opt) = text(&v["value_option"]["value"]) {
                return Some((text(&v["value_option"]["id"]), opt));
            }
            text(&v["value_text"])
                .or_else(|| text(&v["value_link"]))
                .or_else(|| v["value_numeric"].as_str().map(str::to_string))
                .map(|t| (None, t))
        })
        .collect()
}

#[async_trait::async_trait]
impl IncidentApi for IncidentIo {
    fn tool(&self) -> &Tool {
        &self.tool
    }

    /// `GET /v2/incidents?page_size&updated_at[gte]=DATE[&after=ID]`: the
    /// incidents *updated* since, so one edited after it resolved (a
    /// corrected timestamp, a deployment named in the review) is read
    /// again. Every incident created since was updated since. The filter
    /// takes a date: incidents of that whole day come back and the driver
    /// drops those it already delivered unchanged.
    async fn list(&mut self, span: Span, page: Option<&str>) -> Result<Listed, ConnectorError> {
        let mut query = vec![
            ("page_size", PAGE_SIZE.to_string()),
            ("updated_at[gte]", span.from.format("%Y-%m-%d").to_string()),
        ];
        if let Some(after) = page {
            query.push(("after", after.to_string()));
        }
        let body: Value = self.tool.http.get_json("/v2/incidents", &query).await?;
        let items = body["incidents"].as_array().cloned().unwrap_or_default();
        let next = text(&body["pagination_meta"]["after"]);
        Ok((items, next))
    }

    async fn fetch(&mut self, id: &str) -> Result<Option<Value>, ConnectorError> {
        let path = format!(
            "/v2/incidents/{}",
            flowmeter_connector::fields::percent_encode(id)
        );
        let found: Option<Value> = self.tool.http.get_json_if_found(&path, &[]).await?;
        Ok(found
            .map(|body| body["incident"].clone())
            .filter(Value::is_object))
    }

    async fn map(&mut self, raw: &Value, notes: &mut Vec<String>) -> Mapped {
        Ok(self.map_incident(raw, notes))
    }

    fn is_withdrawn(&self, raw: &Value) -> bool {
        NOT_INCIDENTS.contains(&status_category(raw))
    }
}

/// Status categories of incidents that were no incidents after all.
const NOT_INCIDENTS: [&str; 3] = ["declined", "merged", "canceled"];

/// `incident_status.category` (`live`, `closed`, `declined`, ...).
fn status_category(raw: &Value) -> &str {
    raw["incident_status"]["category"].as_str().unwrap_or("")
}

impl IncidentIo {
    fn map_incident(&mut self, raw: &Value, notes: &mut Vec<String>) -> Result<Incident, String> {
        let id = text(&raw["id"]).ok_or("no `id`")?;
        let reference = text(&raw["reference"]).unwrap_or_else(|| id.clone());
        let mode = raw["mode"].as_str().unwrap_or("standard");
        if matches!(mode, "test" | "tutorial") {
            return Err(format!("`{reference}` is a {mode} incident"));
        }
        let category = status_category(raw);
        if NOT_INCIDENTS.contains(&category) {
            return Err(format!("`{reference}` was {category}; not an incident"));
        }
        let created_at = ts(&raw["created_at"]).ok_or("no valid `created_at`")?;
        let mut resolved_at = timestamp(raw, &self.config.resolved_timestamp);
        let finished = matches!(category, "closed" | "learning");
        if !finished && !category.is_empty() {
            // Still live, in triage or paused: reopened after a resolution.
            resolved_at = None;
        }
        if finished && resolved_at.is_none() {
            notes.push(format!(
                "incident.io incident `{reference}` is {category} but has no `{}` timestamp; stored without a resolution time (not counted in time to restore)",
                self.config.resolved_timestamp
            ));
        }
        let named = field_values(raw, &self.config.services_field);
        let services = self.tool.mapper.map_all(
            named
                .iter()
                .map(|(id, v)| (id.as_deref(), Some(v.as_str()))),
            notes,
            || {
                format!(
                    "incident.io incident `{reference}` has no `{}`",
                    self.config.services_field
                )
            },
        );
        let deployment_id = field_values(raw, &self.config.deployment_field)
            .into_iter()
            .map(|(_, v)| v.trim().to_string())
            .find(|v| !v.is_empty());
        let mut extra = Extra::new();
        extra.insert("reference".into(), Value::String(reference));
        if !category.is_empty() {
            extra.insert(
                "status_category".into(),
                Value::String(category.to_string()),
            );
        }
        Ok(Incident {
            source: self.tool.name.clone(),
            id,
            services,
            title: text(&raw["name"]),
            severity: text(&raw["severity"]["name"]),
            url: text(&raw["permalink"]),
            created_at,
            acknowledged_at: timestamp(raw, &self.config.acknowledged_timestamp),
            resolved_at,
            deployment_id,
            deployment_source: None,
            root_cause: None,
            extra,
        })
    }
}
