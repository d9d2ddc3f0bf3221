//! Mock of Jira Service Management "operations": the JSM Ops REST API
//! (alerts, the relocated Opsgenie surface), the JSM Incident REST API, and
//! the Jira platform search that lists incidents, built from Atlassian's own
//! documentation:
//!
//! - <https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v2/api-group-alerts/>
//!   (`GET /jsm/ops/api/{cloudId}/v1/alerts?offset&size&sort&order&query&from&to`,
//!   offset + size < 20 000, Basic auth `email:api_token`)
//! - <https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v2/api-group-policies/>
//!   (the ops paging envelope `{"values": [...], "links": {"next": "/v1/…?offset=1&size=1"}}`)
//! - <https://developer.atlassian.com/cloud/incidents/rest/intro/> and
//!   <https://developer.atlassian.com/cloud/incidents/rest/api-group-incident/>
//!   (`GET /jsm/incidents/cloudId/{cloudId}/v1/incident/{issueID}` → IncidentDTO with
//!   `priority`, `status.statusCategory`, `majorIncident`, `responders`,
//!   `affectedServices{fieldId, value}`), …/api-group-responder-alerts/
//! - <https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/>
//!   (`GET /rest/api/3/search/jql` with `jql`, `fields`, `maxResults`,
//!   `nextPageToken` → `{issues, nextPageToken, isLast}`)
//! - <https://developer.atlassian.com/cloud/jira/platform/rate-limiting/>
//!   (429 "may be accompanied by `Retry-After` and `X-RateLimit-Reset`").
//!
//! In JSM an *incident* is a Jira work item of type "Incident" in a service
//! project: created = `fields.created`, resolved = `fields.resolutiondate`,
//! priority = `fields.priority`, affected services = the "Affected services"
//! custom field. *Alerts* (ops) carry `acknowledged`, `priority` P1–P5 and
//! `status` open/closed.
//!
//! Served endpoints (all `GET`, all need `Authorization: Basic base64(email:token)`):
//! `/rest/api/3/search/jql` (also under `/ex/jira/{cloudId}`),
//! `/jsm/incidents/cloudId/{cloudId}/v1/incident/{issueID}[/responder-alerts]`,
//! `/jsm/ops/api/{cloudId}/v1/alerts`, `/jsm/ops/api/{cloudId}/v1/alerts/{id}`,
//! `/rest/atlassian-connect/1/service-registry?serviceIds=…` (service names).
//! The sources are the vendors' own docs, OpenAPI specs and SDKs, cited below.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::http::base64_encode;
pub use crate::http::{Req, Resp};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// A service that incidents name in "Affected services".
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub tier: i64,
}

/// Jira's three status categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCategory {
    ToDo,
    InProgress,
    Done,
}

impl StatusCategory {
    pub fn id(self) -> i64 {
        match self {
            StatusCategory::ToDo => 2,
            StatusCategory::InProgress => 4,
            StatusCategory::Done => 3,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            StatusCategory::ToDo => "new",
            StatusCategory::InProgress => "indeterminate",
            StatusCategory::Done => "done",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            StatusCategory::ToDo => "To Do",
            StatusCategory::InProgress => "In Progress",
            StatusCategory::Done => "Done",
        }
    }
    fn color(self) -> &'static str {
        match self {
            StatusCategory::ToDo => "blue-gray",
            StatusCategory::InProgress => "yellow",
            StatusCategory::Done => "green",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Priority {
    pub id: String,
    pub name: String,
}

impl Priority {
    pub fn new(id: &str, name: &str) -> Self {
        Priority {
            id: id.to_string(),
            name: name.to_string(),
        }
    }
}

/// A JSM incident: a Jira work item of type "Incident".
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Numeric issue id (`id`, and `{issueID}` of the Incident API).
    pub issue_id: u64,
    /// `ITSM-1`.
    pub key: String,
    /// The title.
    pub summary: String,
    pub status_id: String,
    pub status_name: String,
    pub status_category: StatusCategory,
    pub priority: Option<Priority>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// `fields.resolutiondate`; `None` until resolved.
    pub resolution_date: Option<DateTime<Utc>>,
    /// `fields.statuscategorychangedate`: when the status last moved to
    /// another category (To Do, In Progress, Done); its creation before.
    pub status_category_changed: DateTime<Utc>,
    /// `fields.resolution.name`, e.g. "Done".
    pub resolution: Option<String>,
    /// Ids of [`Service`]s in the "Affected services" field.
    pub affected_service_ids: Vec<String>,
    pub major: bool,
    pub reporter_name: String,
    /// Other fields by id, e.g. `customfield_10050` → `"deploy-42"` (a deployment id).
    pub custom_fields: BTreeMap<String, Value>,
    /// Ids of [`Alert`]s linked as responder alerts.
    pub linked_alert_ids: Vec<String>,
}

impl Incident {
    /// An open ("Open", To Do) incident without priority.
    pub fn new(issue_id: u64, key: &str, summary: &str, created: DateTime<Utc>) -> Self {
        Incident {
            issue_id,
            key: key.to_string(),
            summary: summary.to_string(),
            status_id: "1".to_string(),
            status_name: "Open".to_string(),
            status_category: StatusCategory::ToDo,
            priority: None,
            created,
            updated: created,
            resolution_date: None,
            status_category_changed: created,
            resolution: None,
            affected_service_ids: Vec::new(),
            major: false,
            reporter_name: "Mia Krystof".to_string(),
            custom_fields: BTreeMap::new(),
            linked_alert_ids: Vec::new(),
        }
    }

    /// Moves the incident to "Resolved" (Done) at `at`.
    pub fn resolve(&mut self, at: DateTime<Utc>) {
        self.status_id = "5".to_string();
        self.status_name = "Resolved".to_string();
        self.status_category = StatusCategory::Done;
        self.status_category_changed = at;
        self.resolution_date = Some(at);
        self.resolution = Some("Done".to_string());
        if self.updated < at {
            self.updated = at;
        }
    }
}

/// A JSM Ops alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub tiny_id: String,
    pub alias: String,
    pub message: String,
    /// `open` or `closed`.
    pub status: String,
    pub acknowledged: bool,
    pub is_seen: bool,
    /// `P1` … `P5`.
    pub priority: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_occurred_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub tags: Vec<String>,
    pub extra_properties: BTreeMap<String, String>,
    pub source: String,
    pub owner: String,
    /// `(type, id)`.
    pub responders: Vec<(String, String)>,
    pub count: u64,
    pub snoozed: bool,
}

impl Alert {
    /// An open, unacknowledged P3 alert.
    pub fn new(id: &str, tiny_id: &str, message: &str, created_at: DateTime<Utc>) -> Self {
        Alert {
            id: id.to_string(),
            tiny_id: tiny_id.to_string(),
            alias: format!("alias-{}", tiny_id),
            message: message.to_string(),
            status: "open".to_string(),
            acknowledged: false,
            is_seen: false,
            priority: "P3".to_string(),
            created_at,
            updated_at: created_at,
            last_occurred_at: created_at,
            acknowledged_at: None,
            closed_at: None,
            tags: Vec::new(),
            extra_properties: BTreeMap::new(),
            source: "monitoring".to_string(),
            owner: String::new(),
            responders: Vec::new(),
            count: 1,
            snoozed: false,
        }
    }
}

/// Everything the mock serves. Change it between two syncs with
/// [`JsmMock::with_state`].
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Basic auth user.
    pub email: String,
    /// Basic auth password (an Atlassian API token).
    pub api_token: String,
    pub cloud_id: String,
    /// Base of `self` links and `/browse/` links. [`JsmMock::start`] sets it
    /// to the mock's URI.
    pub site_url: String,
    pub project_id: String,
    pub project_key: String,
    pub project_name: String,
    /// Issue type of every incident (JQL `issuetype = Incident`).
    pub issue_type_name: String,
    /// Field id of "Affected services".
    pub affected_services_field: String,
    /// Field id of "Major incident".
    pub major_incident_field: String,
    pub responders_field: String,
    pub participants_field: String,
    pub services: Vec<Service>,
    pub incidents: Vec<Incident>,
    pub alerts: Vec<Alert>,
}

impl State {
    pub fn new(email: &str, api_token: &str) -> Self {
        State {
            email: email.to_string(),
            api_token: api_token.to_string(),
            cloud_id: "35273b54-3f06-40d2-880f-dd28cf8daafa".to_string(),
            site_url: "https://mock.atlassian.net".to_string(),
            project_id: "10000".to_string(),
            project_key: "ITSM".to_string(),
            project_name: "IT Service Management".to_string(),
            issue_type_name: "Incident".to_string(),
            affected_services_field: "customfield_10003".to_string(),
            major_incident_field: "customfield_10001".to_string(),
            responders_field: "customfield_10002".to_string(),
            participants_field: "customfield_10000".to_string(),
            services: Vec::new(),
            incidents: Vec::new(),
            alerts: Vec::new(),
        }
    }

    /// Services checkout and search; incidents ITSM-1 (resolved at
    /// `base + 40min`, updated three days later, High, major, checkout,
    /// `customfield_10050 = deploy-42`, linked to alert `alert-1`), ITSM-2
    /// (in progress, Highest, search) and ITSM-3 (resolved at `base + 5h`);
    /// alerts `alert-1` (P1, acked `base + 3min`, closed `base + 45min`),
    /// `alert-2` (P2, open) and `alert-3` (P3, open).
    pub fn example(email: &str, api_token: &str, base: DateTime<Utc>) -> Self {
        let mut s = State::new(email, api_token);
        s.services = vec![
            Service {
                id: "b9f5c2a4-6d7e-4f1a-9c3b-1a2b3c4d5e6f".to_string(),
                name: "checkout".to_string(),
                tier: 1,
            },
            Service {
                id: "c0a6d3b5-7e8f-4a2b-8d4c-2b3c4d5e6f70".to_string(),
                name: "search".to_string(),
                tier: 2,
            },
        ];
        let mut one = Incident::new(10001, "ITSM-1", "Checkout errors after deploy", base);
        one.priority = Some(Priority::new("2", "High"));
        one.resolve(base + Duration::minutes(40));
        one.updated = base + Duration::days(3);
        one.affected_service_ids.push(s.services[0].id.clone());
        one.major = true;
        one.custom_fields
            .insert("customfield_10050".to_string(), json!("deploy-42"));
        one.linked_alert_ids.push("alert-1".to_string());
        let mut two = Incident::new(10002, "ITSM-2", "Search latency", base + Duration::hours(2));
        two.priority = Some(Priority::new("1", "Highest"));
        two.status_id = "3".to_string();
        two.status_name = "Work in progress".to_string();
        two.status_category = StatusCategory::InProgress;
        two.affected_service_ids.push(s.services[1].id.clone());
        let mut three = Incident::new(
            10003,
            "ITSM-3",
            "Payments retries",
            base + Duration::hours(4),
        );
        three.priority = Some(Priority::new("3", "Medium"));
        three.resolve(base + Duration::hours(5));
        s.incidents = vec![one, two, three];

        let mut a1 = Alert::new(
            "alert-1",
            "1",
            "5xx rate above 5% on checkout",
            base - Duration::minutes(2),
        );
        a1.priority = "P1".to_string();
        a1.acknowledged = true;
        a1.is_seen = true;
        a1.acknowledged_at = Some(base + Duration::minutes(3));
        a1.closed_at = Some(base + Duration::minutes(45));
        a1.status = "closed".to_string();
        a1.updated_at = base + Duration::minutes(45);
        a1.tags.push("checkout".to_string());
        a1.extra_properties
            .insert("deployment_id".to_string(), "deploy-42".to_string());
        let mut a2 = Alert::new(
            "alert-2",
            "2",
            "p95 latency high on search",
            base + Duration::hours(2),
        );
        a2.priority = "P2".to_string();
        a2.tags.push("search".to_string());
        let a3 = Alert::new(
            "alert-3",
            "3",
            "Disk 80% on db-1",
            base + Duration::hours(5),
        );
        s.alerts = vec![a1, a2, a3];
        s
    }
}

// ---------------------------------------------------------------------------
// Requests, responses, faults
// ---------------------------------------------------------------------------

impl Req {
    /// A `GET` with the given query parameters (not encoded).
    pub fn get_with(path: &str, params: &[(&str, &str)]) -> Self {
        Req {
            method: "GET".to_string(),
            path: path.to_string(),
            query: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: Vec::new(),
        }
    }

    /// Adds `Authorization: Basic base64(email:token)`.
    pub fn basic_auth(self, email: &str, token: &str) -> Self {
        let value = format!(
            "Basic {}",
            base64_encode(format!("{}:{}", email, token).as_bytes())
        );
        self.header("Authorization", &value)
    }
}

/// A failure to serve instead of the next request(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: <retry_after_secs>` and `X-RateLimit-Reset`.
    RateLimited { retry_after_secs: u64 },
    /// 500.
    ServerError,
    /// 502 as a proxy in front of the API would send it.
    BadGateway,
}

/// One request the mock received.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub status: u16,
    pub fault: Option<Fault>,
}

// ---------------------------------------------------------------------------
// The mock server
// ---------------------------------------------------------------------------

struct Shared {
    state: State,
    faults: VecDeque<Fault>,
    log: Vec<LoggedRequest>,
}

struct Responder {
    shared: Arc<Mutex<Shared>>,
}

impl Respond for Responder {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let req = Req::from_wiremock(request);
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let fault = shared.faults.pop_front();
        let resp = match fault {
            Some(f) => fault_response(f, &req, Utc::now()),
            None => handle(&shared.state, &req),
        };
        shared.log.push(LoggedRequest {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            authorization: req.header_value("authorization").map(str::to_string),
            status: resp.status,
            fault,
        });
        to_template(resp)
    }
}

fn to_template(resp: Resp) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(resp.status);
    for (k, v) in &resp.headers {
        t = t.insert_header(k.as_str(), v.as_str());
    }
    t.set_body_json(&resp.body)
}

/// A running JSM mock: one catch-all wiremock mock answering from a shared,
/// mutable [`State`]. Serves the Jira site and `api.atlassian.com` paths on
/// one base URL.
pub struct JsmMock {
    server: MockServer,
    shared: Arc<Mutex<Shared>>,
}

impl JsmMock {
    /// Starts the server; `state.site_url` is replaced by the server's URI.
    pub async fn start(mut state: State) -> Self {
        let server = MockServer::start().await;
        state.site_url = server.uri();
        let shared = Arc::new(Mutex::new(Shared {
            state,
            faults: VecDeque::new(),
            log: Vec::new(),
        }));
        Mock::given(any())
            .respond_with(Responder {
                shared: Arc::clone(&shared),
            })
            .mount(&server)
            .await;
        JsmMock { server, shared }
    }

    /// Base URL to configure the connector with (`http://127.0.0.1:<port>`),
    /// for both the Jira site and `https://api.atlassian.com`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Reads or changes the served state, e.g. between two syncs.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.lock().state)
    }

    /// Answers the next `times` requests with `fault`.
    pub fn inject(&self, fault: Fault, times: usize) {
        let mut shared = self.lock();
        for _ in 0..times {
            shared.faults.push_back(fault);
        }
    }

    /// Number of requests received, faulted ones included.
    pub fn request_count(&self) -> usize {
        self.lock().log.len()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------
// The pure handler
// ---------------------------------------------------------------------------

/// Jira platform paths answer with Jira's error collection, `api.atlassian.com`
/// product paths (`/jsm/…`) with `{code, message}`.
fn is_jira_path(path: &str) -> bool {
    !path.starts_with("/jsm/")
}

fn error(path: &str, status: u16, message: &str) -> Resp {
    let body = if is_jira_path(path) {
        json!({"errorMessages": [message], "errors": {}})
    } else {
        json!({"code": status, "message": message})
    };
    Resp {
        status,
        headers: Vec::new(),
        body,
    }
}

fn ok(body: Value) -> Resp {
    Resp {
        status: 200,
        headers: Vec::new(),
        body,
    }
}

/// The response to a fault; `now` dates `X-RateLimit-Reset`.
pub fn fault_response(fault: Fault, req: &Req, now: DateTime<Utc>) -> Resp {
    match fault {
        Fault::RateLimited { retry_after_secs } => {
            let mut r = error(&req.path, 429, "Rate limit exceeded");
            let reset = now + Duration::seconds(retry_after_secs as i64);
            r.headers
                .push(("Retry-After".to_string(), retry_after_secs.to_string()));
            r.headers.push((
                "X-RateLimit-Reset".to_string(),
                reset.to_rfc3339_opts(SecondsFormat::Secs, true),
            ));
            r
        }
        Fault::ServerError => error(&req.path, 500, "Internal server error"),
        Fault::BadGateway => Resp {
            status: 502,
            headers: Vec::new(),
            body: json!({"message": "Bad Gateway"}),
        },
    }
}

fn authorized(state: &State, req: &Req) -> bool {
    let expected = base64_encode(format!("{}:{}", state.email, state.api_token).as_bytes());
    match req.header_value("authorization").map(str::trim) {
        Some(v) => match v.split_once(' ') {
            Some((scheme, cred)) => scheme.eq_ignore_ascii_case("basic") && cred.trim() == expected,
            None => false,
        },
        None => false,
    }
}

/// Answers one request from `state`: auth, routing, JQL, filters and paging.
pub fn handle(state: &State, req: &Req) -> Resp {
    if !authorized(state, req) {
        let msg = if is_jira_path(&req.path) {
            "Client must be authenticated to access this resource."
        } else {
            "Unauthorized"
        };
        return error(&req.path, 401, msg);
    }
    if req.method != "GET" {
        return error(&req.path, 405, "Method not allowed");
    }
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let cloud = state.cloud_id.as_str();
    match segs.as_slice() {
        ["rest", "api", "3", "search", "jql"] => search(state, req),
        ["ex", "jira", c, "rest", "api", "3", "search", "jql"] if *c == cloud => search(state, req),
        ["rest", "atlassian-connect", "1", "service-registry"] => service_registry(state, req),
        ["jsm", "incidents", "cloudId", c, "v1", "incident", id] if *c == cloud => {
            match find_incident(state, id) {
                Some(inc) => ok(incident_dto(state, inc)),
                None => error(&req.path, 404, "Incident not found"),
            }
        }
        ["jsm", "incidents", "cloudId", c, "v1", "incident", id, "responder-alerts"]
            if *c == cloud =>
        {
            match find_incident(state, id) {
                Some(inc) => {
                    let alerts: Vec<Value> = inc
                        .linked_alert_ids
                        .iter()
                        .filter_map(|aid| state.alerts.iter().find(|a| a.id == *aid))
                        .map(|a| {
                            json!({
                                "id": a.id,
                                "link": format!("{}/jira/ops/alerts/{}", state.site_url, a.id),
                                "message": a.message,
                                "status": a.status,
                            })
                        })
                        .collect();
                    ok(json!({"responderAlerts": alerts}))
                }
                None => error(&req.path, 404, "Incident not found"),
            }
        }
        ["jsm", "ops", "api", c, "v1", "alerts"] if *c == cloud => list_alerts(state, req),
        ["jsm", "ops", "api", c, "v1", "alerts", id] if *c == cloud => {
            match state.alerts.iter().find(|a| a.id == *id) {
                Some(a) => ok(alert_json(a, true)),
                None => error(&req.path, 404, "Alert not found"),
            }
        }
        _ => error(&req.path, 404, "Not found"),
    }
}

fn find_incident<'a>(state: &'a State, id: &str) -> Option<&'a Incident> {
    state
        .incidents
        .iter()
        .find(|i| i.issue_id.to_string() == id || i.key == id)
}

/// Jira's timestamp format, e.g. `2024-01-05T07:06:47.958+0000`.
fn jira_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

fn ops_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status_json(state: &State, inc: &Incident) -> Value {
    let c = inc.status_category;
    json!({
        "self": format!("{}/rest/api/3/status/{}", state.site_url, inc.status_id),
        "description": "",
        "iconUrl": format!("{}/images/icons/status_generic.gif", state.site_url),
        "name": inc.status_name,
        "id": inc.status_id,
        "statusCategory": {
            "self": format!("{}/rest/api/3/statuscategory/{}", state.site_url, c.id()),
            "id": c.id(),
            "key": c.key(),
            "colorName": c.color(),
            "name": c.name(),
        },
    })
}

/// All fields of one incident as Jira returns them (`fields` object).
fn all_fields(state: &State, inc: &Incident) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("summary".to_string(), json!(inc.summary));
    f.insert("status".to_string(), status_json(state, inc));
    f.insert(
        "priority".to_string(),
        match &inc.priority {
            Some(p) => json!({
                "self": format!("{}/rest/api/3/priority/{}", state.site_url, p.id),
                "iconUrl": format!("{}/images/icons/priorities/{}.svg", state.site_url, p.name.to_lowercase()),
                "name": p.name,
                "id": p.id,
            }),
            None => Value::Null,
        },
    );
    f.insert("created".to_string(), json!(jira_ts(inc.created)));
    f.insert("updated".to_string(), json!(jira_ts(inc.updated)));
    f.insert(
        "statuscategorychangedate".to_string(),
        json!(jira_ts(inc.status_category_changed)),
    );
    f.insert(
        "resolutiondate".to_string(),
        inc.resolution_date
            .map(|t| json!(jira_ts(t)))
            .unwrap_or(Value::Null),
    );
    f.insert(
        "resolution".to_string(),
        match &inc.resolution {
            Some(r) => json!({
                "self": format!("{}/rest/api/3/resolution/10000", state.site_url),
                "id": "10000",
                "description": "Work has been completed on this issue.",
                "name": r,
            }),
            None => Value::Null,
        },
    );
    f.insert(
        "issuetype".to_string(),
        json!({
            "self": format!("{}/rest/api/3/issuetype/10004", state.site_url),
            "id": "10004",
            "description": "For system outages or incidents.",
            "name": state.issue_type_name,
            "subtask": false,
        }),
    );
    f.insert(
        "project".to_string(),
        json!({
            "self": format!("{}/rest/api/3/project/{}", state.site_url, state.project_id),
            "id": state.project_id,
            "key": state.project_key,
            "name": state.project_name,
            "projectTypeKey": "service_desk",
        }),
    );
    f.insert(
        "reporter".to_string(),
        json!({"displayName": inc.reporter_name, "accountType": "atlassian", "active": true}),
    );
    let services: Vec<Value> = inc
        .affected_service_ids
        .iter()
        .map(|id| json!({"id": id}))
        .collect();
    f.insert(
        state.affected_services_field.clone(),
        Value::Array(services),
    );
    f.insert(
        state.major_incident_field.clone(),
        if inc.major {
            json!("MAJOR_INCIDENT")
        } else {
            Value::Null
        },
    );
    for (k, v) in &inc.custom_fields {
        f.insert(k.clone(), v.clone());
    }
    f
}

fn issue_json(state: &State, inc: &Incident, fields: &Option<Vec<String>>) -> Value {
    let mut v = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": inc.issue_id.to_string(),
        "self": format!("{}/rest/api/3/issue/{}", state.site_url, inc.issue_id),
        "key": inc.key,
    });
    let wanted = match fields {
        None => return json!({"id": inc.issue_id.to_string()}),
        Some(w) => w,
    };
    let all = all_fields(state, inc);
    let everything = wanted.iter().any(|w| w == "*all" || w == "*navigable");
    let selected: Map<String, Value> = all
        .into_iter()
        .filter(|(k, _)| everything || wanted.iter().any(|w| w == k))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("fields".to_string(), Value::Object(selected));
    }
    v
}

/// IncidentDTO of the JSM Incident API.
fn incident_dto(state: &State, inc: &Incident) -> Value {
    let c = inc.status_category;
    let services: Vec<Value> = inc
        .affected_service_ids
        .iter()
        .map(|id| {
            let name = state
                .services
                .iter()
                .find(|s| s.id == *id)
                .map(|s| s.name.clone());
            json!({"id": id, "name": name})
        })
        .collect();
    json!({
        "summary": inc.summary,
        "reporter": {
            "accountId": "99:27935d01-92a7-4687-8272-a9b8d3b2ae2e",
            "accountType": "ATLASSIAN_ACCOUNT",
            "displayName": inc.reporter_name,
        },
        "priority": inc.priority.as_ref().map(|p| json!({"name": p.name, "id": p.id})),
        "status": {
            "id": inc.status_id,
            "name": inc.status_name,
            "statusCategory": {"id": c.id(), "key": c.key(), "name": c.name()},
        },
        "participants": {"fieldId": state.participants_field, "value": []},
        "majorIncident": {
            "fieldId": state.major_incident_field,
            "value": if inc.major { json!("MAJOR_INCIDENT") } else { Value::Null },
        },
        "responders": {"fieldId": state.responders_field, "value": []},
        "affectedServices": {"fieldId": state.affected_services_field, "value": services},
    })
}

fn service_registry(state: &State, req: &Req) -> Resp {
    let ids: Vec<&str> = req
        .query
        .iter()
        .filter(|(k, _)| k == "serviceIds")
        .flat_map(|(_, v)| v.split(','))
        .collect();
    if ids.is_empty() {
        return error(&req.path, 400, "serviceIds is required");
    }
    let out: Vec<Value> = state
        .services
        .iter()
        .filter(|s| ids.contains(&s.id.as_str()))
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "description": "",
                "organizationId": "mock-org",
                "revision": "1",
                "serviceTier": {"id": format!("tier-{}", s.tier), "level": s.tier, "name": format!("Tier {}", s.tier),
                                "nameKey": format!("service-registry.tier{}.name", s.tier), "description": ""},
            })
        })
        .collect();
    ok(Value::Array(out))
}

// ---------------------------------------------------------------------------
// Jira search: a small JQL subset
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(jql: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = jql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("Unterminated string in the JQL query".to_string()),
                    Some('\\') => {
                        if let Some(n) = chars.get(i + 1) {
                            s.push(*n);
                        }
                        i += 2;
                    }
                    Some(q) if *q == c => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        s.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if "=!<>~".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if two == "!=" || two == ">=" || two == "<=" || two == "!~" {
                out.push(Tok::Op(two));
                i += 2;
            } else if c == '!' {
                return Err("Unexpected '!' in the JQL query".to_string());
            } else {
                out.push(Tok::Op(c.to_string()));
                i += 1;
            }
        } else {
            let mut s = String::new();
            while i < chars.len() && !chars[i].is_whitespace() && !"()=,!<>~\"'".contains(chars[i])
            {
                s.push(chars[i]);
                i += 1;
            }
            out.push(Tok::Word(s));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Cmp {
        field: String,
        op: String,
        value: String,
    },
    In {
        field: String,
        negated: bool,
        values: Vec<String>,
    },
    Empty {
        field: String,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Jql {
    conds: Vec<Cond>,
    order: Vec<(String, bool)>,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

fn value_of(t: Option<&Tok>) -> Option<String> {
    match t {
        Some(Tok::Word(w)) | Some(Tok::Str(w)) => Some(w.clone()),
        _ => None,
    }
}

/// Parses `cond AND cond … [ORDER BY field [ASC|DESC], …]`. `OR`, `NOT`
/// and functions are rejected with 400 so unsupported queries fail loudly.
fn parse_jql(jql: &str) -> Result<Jql, String> {
    let toks = tokenize(jql)?;
    let mut i = 0;
    let mut conds = Vec::new();
    let mut order = Vec::new();
    while i < toks.len() {
        if is_kw(toks.get(i), "order") && is_kw(toks.get(i + 1), "by") {
            i += 2;
            loop {
                let field = value_of(toks.get(i)).ok_or("Expected a field after ORDER BY")?;
                i += 1;
                let mut asc = true;
                if is_kw(toks.get(i), "asc") {
                    i += 1;
                } else if is_kw(toks.get(i), "desc") {
                    asc = false;
                    i += 1;
                }
                order.push((field.to_lowercase(), asc));
                if toks.get(i) == Some(&Tok::Comma) {
                    i += 1;
                } else {
                    break;
                }
            }
            if i < toks.len() {
                return Err("Unexpected input after ORDER BY".to_string());
            }
            break;
        }
        if !conds.is_empty() {
            if is_kw(toks.get(i), "and") {
                i += 1;
            } else {
                return Err(format!(
                    "mock: unsupported JQL near token {:?} (only AND is supported)",
                    toks.get(i)
                ));
            }
        }
        let field = match toks.get(i) {
            Some(Tok::Word(w)) if !w.eq_ignore_ascii_case("not") => w.to_lowercase(),
            Some(Tok::Str(w)) => w.to_lowercase(),
            other => return Err(format!("mock: unsupported JQL near token {:?}", other)),
        };
        i += 1;
        if is_kw(toks.get(i), "is") {
            i += 1;
            let negated = is_kw(toks.get(i), "not");
            if negated {
                i += 1;
            }
            if !(is_kw(toks.get(i), "empty") || is_kw(toks.get(i), "null")) {
                return Err("Expected EMPTY after IS".to_string());
            }
            i += 1;
            conds.push(Cond::Empty { field, negated });
            continue;
        }
        let negated_in = is_kw(toks.get(i), "not") && is_kw(toks.get(i + 1), "in");
        if negated_in || is_kw(toks.get(i), "in") {
            i += if negated_in { 2 } else { 1 };
            if toks.get(i) != Some(&Tok::LParen) {
                return Err("Expected '(' after IN".to_string());
            }
            i += 1;
            let mut values = Vec::new();
            loop {
                let v = value_of(toks.get(i)).ok_or("Expected a value in the IN list")?;
                values.push(v);
                i += 1;
                match toks.get(i) {
                    Some(Tok::Comma) => i += 1,
                    Some(Tok::RParen) => {
                        i += 1;
                        break;
                    }
                    _ => return Err("Expected ',' or ')' in the IN list".to_string()),
                }
            }
            conds.push(Cond::In {
                field,
                negated: negated_in,
                values,
            });
            continue;
        }
        let op = match toks.get(i) {
            Some(Tok::Op(o)) if o != "~" && o != "!~" => o.clone(),
            other => return Err(format!("mock: unsupported JQL operator {:?}", other)),
        };
        i += 1;
        let value = value_of(toks.get(i)).ok_or("Expected a value")?;
        if toks.get(i + 1) == Some(&Tok::LParen) {
            return Err(format!(
                "mock: JQL functions such as {}() are not supported",
                value
            ));
        }
        i += 1;
        conds.push(Cond::Cmp { field, op, value });
    }
    Ok(Jql { conds, order })
}

/// Absolute JQL dates, read as UTC: `yyyy-MM-dd`, `yyyy/MM/dd`, optionally
/// followed by ` HH:mm`.
fn parse_jql_date(v: &str) -> Option<DateTime<Utc>> {
    for f in ["%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(v, f) {
            return Some(n.and_utc());
        }
    }
    for f in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(v, f) {
            return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
        }
    }
    None
}

fn text_values(state: &State, inc: &Incident, field: &str) -> Result<Vec<String>, String> {
    Ok(match field {
        "project" => vec![
            state.project_key.clone(),
            state.project_id.clone(),
            state.project_name.clone(),
        ],
        "issuetype" | "type" => vec![state.issue_type_name.clone()],
        "status" => vec![inc.status_name.clone(), inc.status_id.clone()],
        "statuscategory" => vec![
            inc.status_category.name().to_string(),
            inc.status_category.key().to_string(),
            inc.status_category.id().to_string(),
        ],
        "priority" => inc
            .priority
            .as_ref()
            .map(|p| vec![p.name.clone(), p.id.clone()])
            .unwrap_or_default(),
        "key" | "issuekey" => vec![inc.key.clone()],
        "id" => vec![inc.issue_id.to_string()],
        other => {
            return Err(format!(
                "Field '{}' does not exist or you do not have permission to view it.",
                other
            ))
        }
    })
}

fn date_field(inc: &Incident, field: &str) -> Option<Option<DateTime<Utc>>> {
    match field {
        "created" | "createddate" => Some(Some(inc.created)),
        "updated" | "updateddate" => Some(Some(inc.updated)),
        "resolved" | "resolutiondate" => Some(inc.resolution_date),
        _ => None,
    }
}

fn cond_matches(state: &State, inc: &Incident, cond: &Cond) -> Result<bool, String> {
    match cond {
        Cond::Empty { field, negated } => {
            let empty = match date_field(inc, field) {
                Some(d) => d.is_none(),
                None => match field.as_str() {
                    "resolution" => inc.resolution.is_none(),
                    f => text_values(state, inc, f)?.is_empty(),
                },
            };
            Ok(empty != *negated)
        }
        Cond::In {
            field,
            negated,
            values,
        } => {
            let own = text_values(state, inc, field)?;
            let hit = values
                .iter()
                .any(|v| own.iter().any(|o| o.eq_ignore_ascii_case(v)));
            Ok(hit != *negated)
        }
        Cond::Cmp { field, op, value } => {
            if let Some(d) = date_field(inc, field) {
                let when = parse_jql_date(value).ok_or_else(|| {
                    format!(
                        "Date value '{}' for field '{}' is invalid (mock: absolute dates only)",
                        value, field
                    )
                })?;
                let t = match d {
                    Some(t) => t,
                    None => return Ok(op == "!="),
                };
                return Ok(match op.as_str() {
                    ">" => t > when,
                    ">=" => t >= when,
                    "<" => t < when,
                    "<=" => t <= when,
                    "!=" => t != when,
                    _ => t == when,
                });
            }
            if field == "resolution" {
                let hit = inc
                    .resolution
                    .as_deref()
                    .map(|r| r.eq_ignore_ascii_case(value))
                    .unwrap_or(false);
                return Ok(if op == "!=" { !hit } else { hit });
            }
            let own = text_values(state, inc, field)?;
            let hit = own.iter().any(|o| o.eq_ignore_ascii_case(value));
            match op.as_str() {
                "=" => Ok(hit),
                "!=" => Ok(!hit),
                o => Err(format!(
                    "The operator '{}' is not supported by the '{}' field.",
                    o, field
                )),
            }
        }
    }
}

fn search(state: &State, req: &Req) -> Resp {
    let jql = req.param("jql").unwrap_or("");
    let parsed = match parse_jql(jql) {
        Ok(p) => p,
        Err(msg) => return error(&req.path, 400, &msg),
    };
    if parsed.conds.is_empty() {
        return error(
            &req.path,
            400,
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        );
    }
    let max_results = match req.param("maxResults") {
        None | Some("") => 50,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(5000),
            _ => return error(&req.path, 400, "maxResults must be a positive integer"),
        },
    };
    let offset = match req.param("nextPageToken") {
        None | Some("") => 0,
        Some(t) => match t
            .strip_prefix("mock-page-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return error(&req.path, 400, "Invalid nextPageToken"),
        },
    };
    let fields: Option<Vec<String>> = {
        let list: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k == "fields")
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && !s.starts_with('-'))
            .collect();
        if list.is_empty() {
            None
        } else {
            Some(list)
        }
    };
    let mut matched: Vec<&Incident> = Vec::new();
    for inc in &state.incidents {
        let mut keep = true;
        for c in &parsed.conds {
            match cond_matches(state, inc, c) {
                Ok(true) => {}
                Ok(false) => {
                    keep = false;
                    break;
                }
                Err(msg) => return error(&req.path, 400, &msg),
            }
        }
        if keep {
            matched.push(inc);
        }
    }
    let order: Vec<(String, bool)> = if parsed.order.is_empty() {
        vec![("created".to_string(), false)]
    } else {
        parsed.order.clone()
    };
    for (field, _) in &order {
        if ![
            "created",
            "updated",
            "resolved",
            "resolutiondate",
            "key",
            "id",
            "issuekey",
        ]
        .contains(&field.as_str())
        {
            return error(&req.path, 400, &format!("mock: cannot ORDER BY {}", field));
        }
    }
    matched.sort_by(|a, b| {
        let mut o = std::cmp::Ordering::Equal;
        for (field, asc) in &order {
            let c = match field.as_str() {
                "created" => a.created.cmp(&b.created),
                "updated" => a.updated.cmp(&b.updated),
                "resolved" | "resolutiondate" => a.resolution_date.cmp(&b.resolution_date),
                _ => a.issue_id.cmp(&b.issue_id),
            };
            let c = if *asc { c } else { c.reverse() };
            if c != std::cmp::Ordering::Equal {
                o = c;
                break;
            }
        }
        o.then_with(|| a.issue_id.cmp(&b.issue_id))
    });
    let page: Vec<Value> = matched
        .iter()
        .skip(offset)
        .take(max_results)
        .map(|i| issue_json(state, i, &fields))
        .collect();
    let is_last = offset + max_results >= matched.len();
    let mut body = Map::new();
    body.insert("issues".to_string(), Value::Array(page));
    if !is_last {
        body.insert(
            "nextPageToken".to_string(),
            json!(format!("mock-page-{}", offset + max_results)),
        );
    }
    body.insert("isLast".to_string(), json!(is_last));
    ok(Value::Object(body))
}

// ---------------------------------------------------------------------------
// Ops alerts
// ---------------------------------------------------------------------------

fn alert_json(a: &Alert, full: bool) -> Value {
    let responders: Vec<Value> = a
        .responders
        .iter()
        .map(|(ty, id)| json!({"type": ty, "id": id}))
        .collect();
    let mut v = json!({
        "id": a.id,
        "tinyId": a.tiny_id,
        "alias": a.alias,
        "createdAt": ops_ts(a.created_at),
        "updatedAt": ops_ts(a.updated_at),
        "message": a.message,
        "status": a.status,
        "acknowledged": a.acknowledged,
        "isSeen": a.is_seen,
        "tags": a.tags,
        "snoozed": a.snoozed,
        "count": a.count,
        "lastOccurredAt": ops_ts(a.last_occurred_at),
        "source": a.source,
        "owner": a.owner,
        "priority": a.priority,
        "responders": responders,
        "integrationType": "API",
        "integrationName": "Default API",
    });
    if let Some(o) = v.as_object_mut() {
        let mut report = Map::new();
        if let Some(t) = a.acknowledged_at {
            report.insert(
                "ackTime".to_string(),
                json!((t - a.created_at).num_milliseconds()),
            );
            report.insert("acknowledgedBy".to_string(), json!(a.owner));
        }
        if let Some(t) = a.closed_at {
            report.insert(
                "closeTime".to_string(),
                json!((t - a.created_at).num_milliseconds()),
            );
            report.insert("closedBy".to_string(), json!(a.owner));
        }
        if !report.is_empty() {
            o.insert("report".to_string(), Value::Object(report));
        }
        if full {
            let extra: Map<String, Value> = a
                .extra_properties
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            o.insert("extraProperties".to_string(), Value::Object(extra));
            o.insert("description".to_string(), json!(""));
        }
    }
    v
}

#[derive(Debug, Clone, PartialEq)]
enum AlertTerm {
    Time { op: String, millis: i64 },
    Eq { field: String, value: String },
}

/// `field:value` terms joined by AND, plus `createdAt` comparisons in epoch
/// millis; anything else is rejected with 400.
fn parse_alert_query(q: &str) -> Result<Vec<AlertTerm>, String> {
    let mut out = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    for w in q.split_whitespace() {
        if w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("not") {
            return Err(format!("mock: unsupported query operator {}", w));
        }
        if w.eq_ignore_ascii_case("and") {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push_str(w);
        }
    }
    if !cur.is_empty() || !parts.is_empty() {
        parts.push(cur);
    }
    for p in parts {
        if p.is_empty() {
            return Err(format!("Invalid query {}", q));
        }
        if let Some(rest) = p.strip_prefix("createdAt") {
            let (op, val) = if rest.starts_with(">=") || rest.starts_with("<=") {
                (&rest[..2], &rest[2..])
            } else if rest.starts_with('>') || rest.starts_with('<') || rest.starts_with(':') {
                (&rest[..1], &rest[1..])
            } else {
                return Err(format!("Invalid query term {}", p));
            };
            let millis = val
                .parse::<i64>()
                .map_err(|_| format!("Invalid time {}", val))?;
            out.push(AlertTerm::Time {
                op: if op == ":" {
                    "=".to_string()
                } else {
                    op.to_string()
                },
                millis,
            });
            continue;
        }
        let (field, value) = p
            .split_once(':')
            .ok_or_else(|| format!("Invalid query term {}", p))?;
        match field {
            "status" | "priority" | "acknowledged" | "tag" | "tags" | "tinyId" | "alias"
            | "owner" => {
                out.push(AlertTerm::Eq {
                    field: field.to_string(),
                    value: value.trim_matches('"').to_string(),
                });
            }
            other => return Err(format!("mock: unsupported query field {}", other)),
        }
    }
    Ok(out)
}

fn alert_matches(a: &Alert, t: &AlertTerm) -> bool {
    match t {
        AlertTerm::Time { op, millis } => {
            let v = a.created_at.timestamp_millis();
            match op.as_str() {
                ">" => v > *millis,
                ">=" => v >= *millis,
                "<" => v < *millis,
                "<=" => v <= *millis,
                _ => v == *millis,
            }
        }
        AlertTerm::Eq { field, value } => match field.as_str() {
            "status" => a.status.eq_ignore_ascii_case(value),
            "priority" => a.priority.eq_ignore_ascii_case(value),
            "acknowledged" => a.acknowledged.to_string() == value.to_lowercase(),
            "tag" | "tags" => a.tags.iter().any(|x| x == value),
            "tinyId" => a.tiny_id == *value,
            "alias" => a.alias == *value,
            "owner" => a.owner == *value,
            _ => false,
        },
    }
}

fn list_alerts(state: &State, req: &Req) -> Resp {
    let num = |name: &str, default: i64| -> Result<i64, String> {
        match req.param(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| format!("{} must be an integer", name)),
        }
    };
    let (offset, size, from, to) = match (
        num("offset", 0),
        num("size", 20),
        num("from", i64::MIN),
        num("to", i64::MAX),
    ) {
        (Ok(o), Ok(s), Ok(f), Ok(t)) => (o, s, f, t),
        (Err(m), _, _, _) | (_, Err(m), _, _) | (_, _, Err(m), _) | (_, _, _, Err(m)) => {
            return error(&req.path, 400, &m)
        }
    };
    if offset < 0 || !(1..=100).contains(&size) {
        return error(
            &req.path,
            400,
            "offset must be >= 0 and size between 1 and 100",
        );
    }
    if offset + size >= 20_000 {
        return error(&req.path, 400, "More than 20000 alerts cannot be retrieved. Sum of offset and size should be lower than 20K.");
    }
    let sort = req.param("sort").unwrap_or("createdAt");
    if ![
        "createdAt",
        "updatedAt",
        "tinyId",
        "message",
        "status",
        "priority",
        "lastOccurredAt",
    ]
    .contains(&sort)
    {
        return error(&req.path, 400, &format!("Invalid sort field {}", sort));
    }
    let order = req.param("order").unwrap_or("desc");
    if order != "asc" && order != "desc" {
        return error(&req.path, 400, &format!("Invalid order {}", order));
    }
    let query = req.param("query").unwrap_or("");
    let terms = match parse_alert_query(query) {
        Ok(t) => t,
        Err(m) => return error(&req.path, 400, &m),
    };
    let mut matched: Vec<&Alert> = state
        .alerts
        .iter()
        .filter(|a| {
            let ms = a.created_at.timestamp_millis();
            ms >= from && ms <= to && terms.iter().all(|t| alert_matches(a, t))
        })
        .collect();
    matched.sort_by(|a, b| {
        let o = match sort {
            "updatedAt" => a.updated_at.cmp(&b.updated_at),
            "lastOccurredAt" => a.last_occurred_at.cmp(&b.last_occurred_at),
            "tinyId" => a
                .tiny_id
                .parse::<u64>()
                .unwrap_or(0)
                .cmp(&b.tiny_id.parse::<u64>().unwrap_or(0)),
            "message" => a.message.cmp(&b.message),
            "status" => a.status.cmp(&b.status),
            "priority" => a.priority.cmp(&b.priority),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.id.cmp(&b.id));
        if order == "desc" {
            o.reverse()
        } else {
            o
        }
    });
    let (offset, size) = (offset as usize, size as usize);
    let values: Vec<Value> = matched
        .iter()
        .skip(offset)
        .take(size)
        .map(|a| alert_json(a, false))
        .collect();
    let mut links = Map::new();
    if offset + size < matched.len() {
        let mut next = format!(
            "/v1/alerts?offset={}&size={}&sort={}&order={}",
            offset + size,
            size,
            sort,
            order
        );
        if !query.is_empty() {
            next.push_str("&query=");
            next.push_str(&percent_encode(query));
        }
        if let Some(f) = req.param("from") {
            next.push_str(&format!("&from={}", f));
        }
        if let Some(t) = req.param("to") {
            next.push_str(&format!("&to={}", t));
        }
        links.insert("next".to_string(), json!(next));
    }
    ok(json!({"values": values, "links": Value::Object(links)}))
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const EMAIL: &str = "bot@example.com";
    const TOKEN: &str = "ATATT-test-token";
    const CLOUD: &str = "35273b54-3f06-40d2-880f-dd28cf8daafa";
    const SEARCH: &str = "/rest/api/3/search/jql";

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 5, 7, 0, 0).unwrap()
    }

    fn state() -> State {
        State::example(EMAIL, TOKEN, base())
    }

    fn call(state: &State, req: Req) -> Resp {
        handle(state, &req.basic_auth(EMAIL, TOKEN))
    }

    fn keys(r: &Resp) -> Vec<String> {
        r.body["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn basic_auth_with_email_and_api_token() {
        let s = state();
        let jql = [("jql", "project = ITSM")];
        let r = handle(&s, &Req::get_with(SEARCH, &jql));
        assert_eq!(r.status, 401);
        assert_eq!(
            r.body["errorMessages"][0],
            "Client must be authenticated to access this resource."
        );
        let r = handle(&s, &Req::get_with(SEARCH, &jql).basic_auth(EMAIL, "wrong"));
        assert_eq!(r.status, 401);
        let r = handle(
            &s,
            &Req::get_with(SEARCH, &jql).header("Authorization", &format!("Bearer {}", TOKEN)),
        );
        assert_eq!(r.status, 401);
        let r = handle(&s, &Req::get(&format!("/jsm/ops/api/{}/v1/alerts", CLOUD)));
        assert_eq!(r.status, 401);
        assert_eq!(r.body["code"], 401);
        assert_eq!(call(&s, Req::get_with(SEARCH, &jql)).status, 200);
    }

    #[test]
    fn jql_search_pages_with_next_page_token() {
        let s = state();
        let params = [
            ("jql", "project = ITSM AND issuetype = Incident AND created >= \"2024-01-05\" ORDER BY created ASC"),
            ("fields", "summary,created,resolutiondate,priority,status,customfield_10003,customfield_10050"),
            ("maxResults", "2"),
        ];
        let r = call(&s, Req::get_with(SEARCH, &params));
        assert_eq!(r.status, 200);
        assert_eq!(keys(&r), vec!["ITSM-1", "ITSM-2"]);
        assert_eq!(r.body["isLast"], false);
        let token = r.body["nextPageToken"].as_str().unwrap().to_string();
        let issue = &r.body["issues"][0];
        assert_eq!(issue["id"], "10001");
        assert_eq!(issue["fields"]["created"], "2024-01-05T07:00:00.000+0000");
        assert_eq!(
            issue["fields"]["resolutiondate"],
            "2024-01-05T07:40:00.000+0000"
        );
        assert_eq!(issue["fields"]["priority"]["name"], "High");
        assert_eq!(issue["fields"]["status"]["statusCategory"]["key"], "done");
        assert_eq!(issue["fields"]["customfield_10050"], "deploy-42");
        assert_eq!(
            issue["fields"]["customfield_10003"][0]["id"],
            s.services[0].id.as_str()
        );
        assert!(
            issue["fields"].get("updated").is_none(),
            "only requested fields are returned"
        );
        assert_eq!(r.body["issues"][1]["fields"]["resolutiondate"], Value::Null);

        let mut more = params.to_vec();
        more.push(("nextPageToken", token.as_str()));
        let r = call(&s, Req::get_with(SEARCH, &more));
        assert_eq!(keys(&r), vec!["ITSM-3"]);
        assert_eq!(r.body["isLast"], true);
        assert!(r.body.get("nextPageToken").is_none());
        let bad = [("jql", "project = ITSM"), ("nextPageToken", "garbage")];
        assert_eq!(call(&s, Req::get_with(SEARCH, &bad)).status, 400);
    }

    #[test]
    fn jql_filters_on_dates_status_category_and_lists() {
        let s = state();
        let q = |jql: &str| {
            let r = call(
                &s,
                Req::get_with(SEARCH, &[("jql", jql), ("fields", "*all")]),
            );
            assert_eq!(r.status, 200, "{} -> {}", jql, r.body);
            keys(&r)
        };
        assert_eq!(
            q("project = ITSM AND resolved >= \"2024-01-05 08:00\""),
            vec!["ITSM-3"]
        );
        assert_eq!(q("project = ITSM AND resolved is EMPTY"), vec!["ITSM-2"]);
        assert_eq!(
            q("project = ITSM AND statusCategory = Done ORDER BY resolved DESC"),
            vec!["ITSM-3", "ITSM-1"]
        );
        assert_eq!(
            q("project = ITSM AND statusCategory != Done"),
            vec!["ITSM-2"]
        );
        assert_eq!(
            q("project = ITSM AND priority in (Highest, High) ORDER BY key ASC"),
            vec!["ITSM-1", "ITSM-2"]
        );
        assert_eq!(q("project = ITSM AND updated > 2024/01/06"), vec!["ITSM-1"]);
        assert_eq!(q("project = OTHER"), Vec::<String>::new());
        assert_eq!(q("issuetype = Incident ORDER BY created DESC").len(), 3);
        let r = call(&s, Req::get_with(SEARCH, &[("jql", "project = ITSM")]));
        assert_eq!(
            r.body["issues"][0],
            json!({"id": "10003"}),
            "without fields only ids come back"
        );
        for bad in [
            "ORDER BY created",
            "project = ITSM OR project = X",
            "created >= -1d",
            "assignee = currentUser()",
            "labels = x",
        ] {
            let r = call(&s, Req::get_with(SEARCH, &[("jql", bad)]));
            assert_eq!(r.status, 400, "{}", bad);
            assert!(r.body["errorMessages"][0].is_string());
        }
        let ex = format!("/ex/jira/{}/rest/api/3/search/jql", CLOUD);
        assert_eq!(
            call(&s, Req::get_with(&ex, &[("jql", "project = ITSM")])).status,
            200
        );
    }

    #[test]
    fn incident_dto_and_responder_alerts() {
        let s = state();
        let r = call(
            &s,
            Req::get(&format!(
                "/jsm/incidents/cloudId/{}/v1/incident/10001",
                CLOUD
            )),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body["summary"], "Checkout errors after deploy");
        assert_eq!(r.body["priority"], json!({"name": "High", "id": "2"}));
        assert_eq!(r.body["status"]["statusCategory"]["key"], "done");
        assert_eq!(r.body["majorIncident"]["fieldId"], "customfield_10001");
        assert_eq!(r.body["majorIncident"]["value"], "MAJOR_INCIDENT");
        assert_eq!(r.body["affectedServices"]["fieldId"], "customfield_10003");
        assert_eq!(r.body["affectedServices"]["value"][0]["name"], "checkout");
        let r = call(
            &s,
            Req::get(&format!(
                "/jsm/incidents/cloudId/{}/v1/incident/10001/responder-alerts",
                CLOUD
            )),
        );
        assert_eq!(r.body["responderAlerts"][0]["id"], "alert-1");
        assert_eq!(r.body["responderAlerts"][0]["status"], "closed");
        assert_eq!(
            call(
                &s,
                Req::get(&format!("/jsm/incidents/cloudId/{}/v1/incident/99", CLOUD))
            )
            .status,
            404
        );
        assert_eq!(
            call(
                &s,
                Req::get("/jsm/incidents/cloudId/other/v1/incident/10001")
            )
            .status,
            404
        );
        let names = call(
            &s,
            Req::get_with(
                "/rest/atlassian-connect/1/service-registry",
                &[("serviceIds", s.services[1].id.as_str())],
            ),
        );
        assert_eq!(names.body[0]["name"], "search");
    }

    #[test]
    fn alerts_page_with_offset_size_and_links_next() {
        let s = state();
        let path = format!("/jsm/ops/api/{}/v1/alerts", CLOUD);
        let r = call(&s, Req::get_with(&path, &[("size", "2"), ("order", "asc")]));
        assert_eq!(r.status, 200);
        let ids: Vec<&str> = r.body["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["alert-1", "alert-2"]);
        let next = r.body["links"]["next"].as_str().unwrap();
        assert!(next.starts_with("/v1/alerts?offset=2&size=2"));
        let first = &r.body["values"][0];
        assert_eq!(first["priority"], "P1");
        assert_eq!(first["acknowledged"], true);
        assert_eq!(first["createdAt"], "2024-01-05T06:58:00.000Z");
        assert_eq!(first["report"]["ackTime"], 5 * 60 * 1000);
        assert_eq!(first["report"]["closeTime"], 47 * 60 * 1000);
        let r2 = call(&s, Req::get(&format!("/jsm/ops/api/{}{}", CLOUD, next)));
        assert_eq!(r2.body["values"][0]["id"], "alert-3");
        assert!(r2.body["links"].get("next").is_none());
        let open = call(
            &s,
            Req::get_with(&path, &[("query", "status:open AND priority:P2")]),
        );
        assert_eq!(open.body["values"].as_array().unwrap().len(), 1);
        let from = (base() + Duration::hours(1)).timestamp_millis().to_string();
        let later = call(&s, Req::get_with(&path, &[("from", from.as_str())]));
        assert_eq!(later.body["values"].as_array().unwrap().len(), 2);
        assert_eq!(
            call(
                &s,
                Req::get_with(&path, &[("offset", "19990"), ("size", "20")])
            )
            .status,
            400
        );
        assert_eq!(
            call(&s, Req::get_with(&path, &[("query", "message:x")])).status,
            400
        );
        let one = call(&s, Req::get(&format!("{}/alert-1", path)));
        assert_eq!(one.body["extraProperties"]["deployment_id"], "deploy-42");
    }

    #[test]
    fn rate_limit_fault_has_retry_after() {
        let now = base();
        let r = fault_response(
            Fault::RateLimited {
                retry_after_secs: 5,
            },
            &Req::get(SEARCH),
            now,
        );
        assert_eq!(r.status, 429);
        assert_eq!(r.header("Retry-After"), Some("5"));
        assert_eq!(r.header("X-RateLimit-Reset"), Some("2024-01-05T07:00:05Z"));
        assert!(r.body["errorMessages"].is_array());
        let r = fault_response(
            Fault::RateLimited {
                retry_after_secs: 5,
            },
            &Req::get("/jsm/ops/api/x/v1/alerts"),
            now,
        );
        assert_eq!(r.body["code"], 429);
        assert_eq!(
            fault_response(Fault::ServerError, &Req::get(SEARCH), now).status,
            500
        );
        assert_eq!(
            fault_response(Fault::BadGateway, &Req::get(SEARCH), now).status,
            502
        );
    }

    fn raw_get(uri: &str, path: &str, auth: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let addr = uri.trim_start_matches("http://").to_string();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "GET {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            path, addr, auth
        )
        .unwrap();
        let mut buf = String::new();
        stream.read_to_string(&mut buf).unwrap();
        let status = buf.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn served_over_http_with_state_changes_and_faults() {
        let mock = JsmMock::start(state()).await;
        let uri = mock.uri();
        let auth = format!(
            "Basic {}",
            base64_encode(format!("{}:{}", EMAIL, TOKEN).as_bytes())
        );
        let path = format!(
            "{}?jql={}&fields=resolutiondate",
            SEARCH,
            percent_encode("project = ITSM AND resolved is EMPTY")
        );
        let (u, a, p) = (uri.clone(), auth.clone(), path.clone());
        let (status, body) = tokio::task::spawn_blocking(move || raw_get(&u, &p, &a))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"key\":\"ITSM-2\""));
        assert!(body.contains(&format!("{}/rest/api/3/issue/10002", uri)));

        // Between two syncs ITSM-2 gets resolved.
        mock.with_state(|s| {
            let inc = s.incidents.iter_mut().find(|i| i.key == "ITSM-2").unwrap();
            inc.resolve(base() + Duration::hours(6));
        });
        mock.inject(Fault::ServerError, 1);
        let (u, a, p) = (uri.clone(), auth.clone(), path.clone());
        let (status, _) = tokio::task::spawn_blocking(move || raw_get(&u, &p, &a))
            .await
            .unwrap();
        assert_eq!(status, 500);
        let (u, a, p) = (uri.clone(), auth.clone(), path.clone());
        let (status, body) = tokio::task::spawn_blocking(move || raw_get(&u, &p, &a))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert!(!body.contains("ITSM-2"));
        assert_eq!(mock.request_count(), 3);
        assert_eq!(mock.requests()[1].fault, Some(Fault::ServerError));
    }
}
