//! Jira Service Management connector: incidents from JSM operations, the
//! successor of Opsgenie (whose API stops on 2027-04-05).
//!
//! In Jira Service Management an incident is a work item of the type
//! "Incident" in a service project (Opsgenie incidents migrate to such work
//! items); its alerts live in the operations API. This connector reads the
//! incidents themselves.
//!
//! # What it reads
//!
//! `GET /rest/api/3/search/jql` (the enhanced search: `jql`, `fields`,
//! `maxResults`, `nextPageToken` paging until `isLast`) with
//! `project = KEY AND issuetype = "Incident" AND updated >= "DATE" ORDER BY created` (and
//! `key = "KEY-1"` to re-check an open incident); custom fields
//! named in the configuration are found by name through
//! `GET /rest/api/3/field`. Authentication is HTTP Basic with an Atlassian
//! account's e-mail (`email_env`, default `JSM_EMAIL`) and an API token
//! (`token_env`, default `JSM_API_TOKEN`); the account needs the "Browse
//! projects" permission on the service project.
//!
//! # How incidents map to EVENTS.md
//!
//! | incident field | Jira field |
//! |---|---|
//! | id | `key` (e.g. `ITSM-42`; the numeric `id` is kept in `extra`) |
//! | title | `fields.summary` |
//! | created_at | `fields.created` |
//! | resolved_at | `fields.resolutiondate` while the status category is `done` (a work item reopened by a workflow that keeps its resolution is open); a work item done without one was resolved when its status moved to Done (`fields.statuscategorychangedate`) |
//! | severity | `fields.priority.name` |
//! | services | the "Affected services" field (`services_field`, a field name or `customfield_NNNNN`): each service by its name; through `service_map`, else a known flowmeter service of the same name (any case), else the JSM name, reported as unmapped; none: `unknown`, with a note |
//! | deployment_id | the field named by `deployment_field` (text), if set |
//! | url | `SITE/browse/KEY` |
//!
//! Syncing (windows, open incidents, cursor) is the shared
//! [`flowmeter_connector::incident`] driver's.

use chrono::Duration;
use flowmeter_connector::http::{token_from_env, HttpClient, HttpConfig};
use flowmeter_connector::incident::prelude::*;
use flowmeter_connector::{Connector, Cursor, Next, SyncContext};

/// Work items per search page (Jira's enhanced search allows up to 100
/// with fields).
const PAGE_SIZE: u32 = 100;

flowmeter_connector::source_config! {
    /// `[[sources]]` entry with `type = "jsm"`.
    ///
    /// ```toml
    /// [[sources]]
    /// type = "jsm"
    /// site_url = "https://acme.atlassian.net"
    /// project = "ITSM"
    /// [sources.service_map]
    /// "Payments API" = "payments"
    /// ```
    pub struct JsmConfig {
        kind: "jsm",
        token_env: "JSM_API_TOKEN", "the Atlassian account's API token",
        service_map: "JSM",
        /// The Jira site, e.g. `https://acme.atlassian.net` (required).
        pub site_url: String = String::new(),
        /// The service project's key, e.g. `ITSM` (required).
        pub project: String = String::new(),
        /// The work item type of incidents (default `Incident`).
        pub issue_type: String = "Incident".into(),
        /// Environment variable holding the Atlassian account's e-mail
        /// (default `JSM_EMAIL`).
        pub email_env: String = "JSM_EMAIL".into(),
        /// The field naming the affected services: its name (default
        /// `Affected services`) or id (`customfield_10041`).
        pub services_field: String = "Affected services".into(),
        /// The field holding the id of the deployment that caused the incident
        /// (name or id), if your project has one.
        pub deployment_field: Option<String> = None,
    }
}

/// Jira Service Management's REST API, driven by the shared incident sync.
pub struct Jsm {
    config: JsmConfig,
    tool: Tool,
    /// Field ids of `services_field` and `deployment_field`, once resolved.
    fields: Option<(Option<String>, Option<String>)>,
}

/// Reads Jira Service Management incidents; see the crate docs.
pub struct JsmConnector(IncidentConnector<Jsm>);

impl JsmConnector {
    /// Reads the e-mail and API token from the environment variables the
    /// config names.
    pub fn new(config: JsmConfig, known_services: Vec<String>) -> Result<Self, ConnectorError> {
        let name = config.source_name().to_string();
        let (email, _) =
            token_from_env(&[config.email_env.as_str()]).map_err(|e| e.with_source(&name))?;
        let (token, _) =
            token_from_env(&[config.token_env.as_str()]).map_err(|e| e.with_source(&name))?;
        Self::with_credentials(config, known_services, &email, &token, |h| h)
    }

    /// Like [`JsmConnector::new`] with the credentials given directly and a
    /// hook to adjust the HTTP settings (tests shorten the retry delay).
    pub fn with_credentials(
        config: JsmConfig,
        known_services: Vec<String>,
        email: &str,
        token: &str,
        customize: impl FnOnce(HttpConfig) -> HttpConfig,
    ) -> Result<Self, ConnectorError> {
        let name = config.source_name().to_string();
        config.check_kind()?;
        let problem = if config.site_url.is_empty() {
            Some(
                "set `site_url`, the Jira site's address, like `https://acme.atlassian.net`".into(),
            )
        } else if !config.site_url.starts_with("http") {
            Some(format!(
                "`site_url = \"{}\"` must be the site's address, like `https://acme.atlassian.net`",
                config.site_url
            ))
        } else if config.project.is_empty() {
            Some("set `project`, the service project's key, like `ITSM`".to_string())
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(config.invalid(message));
        }
        let http = HttpConfig::new(name.clone(), config.site_url.clone())
            .basic_auth(email, token, config.token_env.clone())?
            .header("accept", "application/json")
            .retry(config.retry());
        let tool = Tool {
            http: HttpClient::new(customize(http))?,
            mapper: ServiceMapper::new("JSM", config.service_map.clone(), known_services),
            name,
        };
        Ok(JsmConnector(IncidentConnector::from_api(Jsm {
            config,
            tool,
            fields: None,
        })))
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        self.0.requests()
    }
}

#[async_trait::async_trait]
impl Connector for JsmConnector {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn next_batch(&mut self, ctx: &SyncContext, cursor: Option<&Cursor>) -> Next {
        self.0.next_batch(ctx, cursor).await
    }
}

/// JQL string literal.
fn jql_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The names in a service field's value: a list of strings or of objects
/// with a `name` (or `value`), or one such value.
fn service_names(v: &Value) -> Vec<(Option<String>, String)> {
    let one = |x: &Value| -> Option<(Option<String>, String)> {
        if let Some(s) = text(x) {
            return Some((None, s));
        }
        let sid = id(&x["id"]).or_else(|| id(&x["serviceId"]));
        // Jira's field may carry only the service's id: map it by id
        // (`service_map`), or keep the id, reported as unmapped.
        let name = text(&x["name"])
            .or_else(|| text(&x["value"]))
            .or_else(|| text(&x["serviceName"]))
            .or_else(|| sid.clone())?;
        Some((sid, name))
    };
    match v {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        Value::Null => Vec::new(),
        other => one(other).into_iter().collect(),
    }
}

impl Jsm {
    /// The field ids of the configured fields (names resolved through
    /// `GET /rest/api/3/field`).
    async fn field_ids(&mut self) -> Result<(Option<String>, Option<String>), ConnectorError> {
        if let Some(f) = &self.fields {
            return Ok(f.clone());
        }
        let wanted = [
            Some(self.config.services_field.clone()),
            self.config.deployment_field.clone(),
        ];
        let needs_lookup = wanted
            .iter()
            .flatten()
            .any(|w| !w.starts_with("customfield_"));
        let all: Vec<Value> = if needs_lookup {
            self.tool.http.get_json("/rest/api/3/field", &[]).await?
        } else {
            Vec::new()
        };
        let resolve = |w: &Option<String>| -> Option<String> {
            let w = w.as_ref()?;
            if w.starts_with("customfield_") {
                return Some(w.clone());
            }
            all.iter()
                .find(|f| {
                    f["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(w))
                })
                .and_then(|f| text(&f["id"]))
        };
        let ids = (resolve(&wanted[0]), resolve(&wanted[1]));
        self.fields = Some(ids.clone());
        Ok(ids)
    }

    fn field_list(&self) -> String {
        let mut f = vec![
            "summary".to_string(),
            "created".into(),
            "resolutiondate".into(),
            "statuscategorychangedate".into(),
            "priority".into(),
            "status".into(),
        ];
        if let Some((s, d)) = &self.fields {
            f.extend(s.iter().cloned());
            f.extend(d.iter().cloned());
        }
        f.join(",")
    }

    fn map_incident(&mut self, raw: &Value, notes: &mut Vec<String>) -> Result<Incident, String> {
        let key = text(&raw["key"]).ok_or("no `key`")?;
        let f = &raw["fields"];
        let created_at = ts(&f["created"]).ok_or("no valid `fields.created`")?;
        let category = f["status"]["statusCategory"]["key"].as_str();
        let done = category == Some("done");
        // A work item reopened by a workflow that leaves its resolution set
        // is open again: its old resolution date is no restore.
        let resolved_at = ts(&f["resolutiondate"]).filter(|_| category.is_none_or(|c| c == "done"));
        // Done without a resolution (a workflow that sets none): it was
        // resolved when its status moved to Done, which Jira records.
        let moved_to_done = ts(&f["statuscategorychangedate"]).filter(|_| done);
        let resolved_at = resolved_at.or(moved_to_done);
        if done && resolved_at.is_none() {
            notes.push(format!(
                "JSM incident `{key}` is done but has no `resolutiondate` nor `statuscategorychangedate`; stored without a resolution time (not counted in time to restore)"
            ));
        }
        let (services_id, deployment_id_field) = self.fields.clone().unwrap_or_default();
        let named = (services_id.as_ref())
            .map(|fid| service_names(&f[fid.as_str()]))
            .unwrap_or_default();
        let services = self.tool.mapper.map_all(
            named
                .iter()
                .map(|(id, n)| (id.as_deref(), Some(n.as_str()))),
            notes,
            || {
                format!(
                    "JSM incident `{key}` names no affected service (`{}`)",
                    self.config.services_field
                )
            },
        );
        let deployment_id = deployment_id_field
            .as_ref()
            .and_then(|fid| service_names(&f[fid.as_str()]).into_iter().next())
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let mut extra = Extra::new();
        if let Some(n) = id(&raw["id"]) {
            extra.insert("jira_id".into(), Value::String(n));
        }
        if let Some(st) = text(&f["status"]["name"]) {
            extra.insert("status".into(), Value::String(st));
        }
        Ok(Incident {
            source: self.tool.name.clone(),
            url: Some(format!(
                "{}/browse/{key}",
                self.config.site_url.trim_end_matches('/')
            )),
            id: key,
            services,
            title: text(&f["summary"]),
            severity: text(&f["priority"]["name"]),
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

#[async_trait::async_trait]
impl IncidentApi for Jsm {
    fn tool(&self) -> &Tool {
        &self.tool
    }

    async fn prepare(&mut self) -> Result<(), ConnectorError> {
        self.field_ids().await?;
        Ok(())
    }

    /// The JQL search of work items *updated* since: one edited after it
    /// resolved (a deployment named in the review, a corrected resolution,
    /// a reopening) is read again, and every item created since was
    /// updated since. Ordered by creation, which an edit does not move (an
    /// item edited mid-pass would jump to the end of an order by update
    /// and shift the pages after it). JQL compares dates in the account's
    /// time zone: the filter starts a day early and the driver drops what
    /// it already delivered unchanged.
    async fn list(&mut self, span: Span, page: Option<&str>) -> Result<Listed, ConnectorError> {
        let jql = format!(
            "project = {} AND issuetype = {} AND updated >= \"{}\" ORDER BY created ASC, key ASC",
            jql_quote(&self.config.project),
            jql_quote(&self.config.issue_type),
            (span.from - Duration::days(1)).format("%Y-%m-%d")
        );
        let mut query = vec![
            ("jql", jql),
            ("fields", self.field_list()),
            ("maxResults", PAGE_SIZE.to_string()),
        ];
        if let Some(token) = page {
            query.push(("nextPageToken", token.to_string()));
        }
        let body: Value = self
            .tool
            .http
            .get_json("/rest/api/3/search/jql", &query)
            .await?;
        let items = body["issues"].as_array().cloned().unwrap_or_default();
        let next = text(&body["nextPageToken"]).filter(|_| body["isLast"].as_bool() != Some(true));
        Ok((items, next))
    }

    /// One work item by key, through the same search (`key = "ITSM-2"`).
    async fn fetch(&mut self, key: &str) -> Result<Option<Value>, ConnectorError> {
        let query = vec![
            ("jql", format!("key = {}", jql_quote(key))),
            ("fields", self.field_list()),
            ("maxResults", "1".to_string()),
        ];
        match self
            .tool
            .http
            .get_json::<Value>("/rest/api/3/search/jql", &query)
            .await
        {
            Ok(body) => Ok(body["issues"].as_array().and_then(|a| a.first()).cloned()),
            Err(ConnectorError::NotFound { .. }) => Ok(None),
            // Jira answers 400 for a key that no longer exists.
            Err(ConnectorError::Api { message, .. }) if message.contains("HTTP 400") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn id_of(&self, raw: &Value) -> Option<String> {
        text(&raw["key"])
    }

    async fn map(&mut self, raw: &Value, notes: &mut Vec<String>) -> Mapped {
        Ok(self.map_incident(raw, notes))
    }
}
