//! Mock of the Opsgenie Incident API, incident logs, Incident Timeline API and
//! Service API, built from Opsgenie's own documentation:
//!
//! - <https://docs.opsgenie.com/docs/incident-api> (list/get incidents, logs)
//! - <https://docs.opsgenie.com/docs/incident-timeline-api> (timeline entries)
//! - <https://docs.opsgenie.com/docs/api-rate-limiting> and
//!   <https://docs.opsgenie.com/docs/response> (429, headers, error envelope)
//! - the vendor's OpenAPI spec <https://github.com/opsgenie/opsgenie-oas>
//!   (`paths/incident.yaml`: `query`, `offset`, `limit` ≤ 100, `sort`, `order`;
//!   `X-RateLimit-State`, `X-RateLimit-Reason`, `X-RateLimit-Period-In-Sec`) and
//!   the official Go SDK <https://github.com/opsgenie/opsgenie-go-sdk-v2>
//!   (`incident/result.go`: log entries `{log, type, owner, createdAt, offset}`).
//!
//! The case the mock exists for: a list item has **no `impactEndDate`**, the
//! incident was resolved at time R (a timeline entry `IncidentResolved` and a
//! log entry say so), closed a day later and given a note later still, so
//! `updatedAt` is far after R. See [`Incident::resolved_without_impact_end`].
//!
//! Served endpoints (all `GET`, all need `Authorization: GenieKey <key>`):
//! `/v1/incidents`, `/v1/incidents/{id}`, `/v1/incidents/{id}/logs`,
//! `/v1/incidents/{id}/notes`, `/v2/incident-timelines/{id}/entries`,
//! `/v1/services`, `/v1/services/{id}`.
//! The sources are the vendors' own docs, OpenAPI specs and SDKs, cited below.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::http::{Req, Resp};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// An Opsgenie service (`/v1/services`); incidents name services by id in
/// `impactedServices`.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub description: String,
    pub team_id: String,
    pub tags: Vec<String>,
}

impl Service {
    pub fn new(id: &str, name: &str) -> Self {
        Service {
            id: id.to_string(),
            name: name.to_string(),
            description: String::new(),
            team_id: String::new(),
            tags: Vec::new(),
        }
    }
}

/// A note added to an incident. Shows up as a timeline entry
/// (`group: "custom"`, `type: "CustomUserEntry"`), in `/notes` and in `/logs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub author: String,
    pub text: String,
}

/// One incident log entry (`GET /v1/incidents/{id}/logs`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub log: String,
    /// `type` in the API, e.g. `"system"` or `"note"`.
    pub log_type: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
}

/// One incident timeline entry (`GET /v2/incident-timelines/{id}/entries`).
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub id: String,
    pub group: String,
    /// `type` in the API, e.g. `"IncidentResolved"`.
    pub entry_type: String,
    pub event_time: DateTime<Utc>,
    pub hidden: bool,
    pub actor_name: String,
    pub actor_type: String,
    /// `title.content`.
    pub title: String,
    /// `description.content`, if any.
    pub description: Option<String>,
}

/// An Opsgenie incident. Fields that are not API fields (`acknowledged_at`,
/// `resolved_at`, `closed_at`, `notes`) are rendered as timeline and log
/// entries, which is where Opsgenie reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: String,
    pub tiny_id: String,
    /// The title (`message`, ≤ 130 chars in Opsgenie).
    pub message: String,
    pub description: String,
    /// `open`, `resolved` or `closed`.
    pub status: String,
    /// `P1` … `P5`.
    pub priority: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub impact_start: Option<DateTime<Utc>>,
    pub impact_detect: Option<DateTime<Utc>>,
    /// `impactEndDate`; omitted from the JSON when `None` (the realistic case).
    pub impact_end: Option<DateTime<Utc>>,
    /// Time a responder alert was acknowledged (timeline `ResponderAlertAcked`).
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Timeline `IncidentResolved` + a log entry.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Timeline `IncidentClosed` + a log entry.
    pub closed_at: Option<DateTime<Utc>>,
    pub owner: String,
    pub owner_team: String,
    /// `(type, id)` pairs, type ∈ team, user, escalation, schedule.
    pub responders: Vec<(String, String)>,
    /// Ids of [`Service`]s (`impactedServices`).
    pub impacted_service_ids: Vec<String>,
    /// `extraProperties`, e.g. `deployment_id`.
    pub extra_properties: BTreeMap<String, String>,
    pub actions: Vec<String>,
    pub notes: Vec<Note>,
    /// Log entries served in addition to the synthesized ones.
    pub extra_logs: Vec<LogEntry>,
    /// Timeline entries served in addition to the synthesized ones.
    pub extra_timeline: Vec<TimelineEntry>,
}

impl Incident {
    /// An open P3 incident with impact starting at `created_at`.
    pub fn new(id: &str, tiny_id: &str, message: &str, created_at: DateTime<Utc>) -> Self {
        Incident {
            id: id.to_string(),
            tiny_id: tiny_id.to_string(),
            message: message.to_string(),
            description: String::new(),
            status: "open".to_string(),
            priority: "P3".to_string(),
            tags: Vec::new(),
            created_at,
            updated_at: created_at,
            impact_start: Some(created_at),
            impact_detect: None,
            impact_end: None,
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            owner: "oncall@example.com".to_string(),
            owner_team: String::new(),
            responders: Vec::new(),
            impacted_service_ids: Vec::new(),
            extra_properties: BTreeMap::new(),
            actions: Vec::new(),
            notes: Vec::new(),
            extra_logs: Vec::new(),
            extra_timeline: Vec::new(),
        }
    }

    /// The realistic case: acknowledged 5 minutes after creation, resolved at
    /// `resolved_at` (timeline + log only — **no `impactEndDate`**), closed one
    /// day after that, and a note ("postmortem published") two days after the
    /// close, which is what `updatedAt` shows.
    pub fn resolved_without_impact_end(
        id: &str,
        tiny_id: &str,
        message: &str,
        created_at: DateTime<Utc>,
        resolved_at: DateTime<Utc>,
    ) -> Self {
        let closed = resolved_at + Duration::days(1);
        let noted = closed + Duration::days(2);
        let mut inc = Incident::new(id, tiny_id, message, created_at);
        inc.status = "closed".to_string();
        let ack = created_at + Duration::minutes(5);
        inc.acknowledged_at = if ack < resolved_at { Some(ack) } else { None };
        inc.resolved_at = Some(resolved_at);
        inc.closed_at = Some(closed);
        inc.notes.push(Note {
            at: noted,
            author: "oncall@example.com".to_string(),
            text: "Postmortem is published".to_string(),
        });
        inc.updated_at = noted;
        inc
    }

    /// All log entries, oldest first: synthesized from the lifecycle fields
    /// and notes, plus [`Incident::extra_logs`].
    pub fn logs(&self) -> Vec<LogEntry> {
        let mut out = vec![LogEntry {
            log: "Incident created".to_string(),
            log_type: "system".to_string(),
            owner: self.owner.clone(),
            created_at: self.created_at,
        }];
        if let Some(t) = self.acknowledged_at {
            out.push(LogEntry {
                log: "Responder alert acknowledged".to_string(),
                log_type: "system".to_string(),
                owner: self.owner.clone(),
                created_at: t,
            });
        }
        if let Some(t) = self.resolved_at {
            out.push(LogEntry {
                log: "Incident resolved".to_string(),
                log_type: "system".to_string(),
                owner: self.owner.clone(),
                created_at: t,
            });
        }
        if let Some(t) = self.closed_at {
            out.push(LogEntry {
                log: "Incident closed".to_string(),
                log_type: "system".to_string(),
                owner: self.owner.clone(),
                created_at: t,
            });
        }
        for n in &self.notes {
            out.push(LogEntry {
                log: n.text.clone(),
                log_type: "note".to_string(),
                owner: n.author.clone(),
                created_at: n.at,
            });
        }
        out.extend(self.extra_logs.iter().cloned());
        out.sort_by_key(|e| e.created_at);
        out
    }

    /// All timeline entries, oldest first: synthesized from the lifecycle
    /// fields and notes, plus [`Incident::extra_timeline`].
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        let entry = |group: &str,
                     ty: &str,
                     at: DateTime<Utc>,
                     actor: &str,
                     actor_type: &str,
                     title: &str| {
            TimelineEntry {
                id: format!(
                    "{}_{}",
                    ty,
                    pseudo_uuid(&format!("{}/{}/{}", self.id, ty, at.timestamp_millis()))
                ),
                group: group.to_string(),
                entry_type: ty.to_string(),
                event_time: at,
                hidden: false,
                actor_name: actor.to_string(),
                actor_type: actor_type.to_string(),
                title: title.to_string(),
                description: None,
            }
        };
        let mut out = vec![entry(
            "incident",
            "IncidentOpened",
            self.created_at,
            &self.owner,
            "user",
            "Incident opened",
        )];
        if let Some(t) = self.acknowledged_at {
            out.push(entry(
                "responderAlert",
                "ResponderAlertAcked",
                t,
                "API",
                "api",
                "Responder alert acked",
            ));
        }
        if let Some(t) = self.resolved_at {
            out.push(entry(
                "incident",
                "IncidentResolved",
                t,
                &self.owner,
                "user",
                "Incident resolved",
            ));
        }
        if let Some(t) = self.closed_at {
            out.push(entry(
                "incident",
                "IncidentClosed",
                t,
                &self.owner,
                "user",
                "Incident closed",
            ));
        }
        for n in &self.notes {
            let mut e = entry(
                "custom",
                "CustomUserEntry",
                n.at,
                &n.author,
                "user",
                &n.text,
            );
            e.description = Some(n.text.clone());
            out.push(e);
        }
        out.extend(self.extra_timeline.iter().cloned());
        out.sort_by_key(|e| e.event_time);
        out
    }
}

/// Everything the mock serves. Change it between two syncs with
/// [`OpsgenieMock::with_state`].
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Expected in `Authorization: GenieKey <api_key>`.
    pub api_key: String,
    /// Base of the absolute `paging.*` and `links.api` URLs. [`OpsgenieMock::start`]
    /// sets it to the mock's URI.
    pub base_url: String,
    /// Base of `links.web`.
    pub web_url: String,
    pub incidents: Vec<Incident>,
    pub services: Vec<Service>,
}

impl State {
    pub fn new(api_key: &str) -> Self {
        State {
            api_key: api_key.to_string(),
            base_url: "https://api.opsgenie.com".to_string(),
            web_url: "https://mock.app.opsgenie.com".to_string(),
            incidents: Vec::new(),
            services: Vec::new(),
        }
    }

    /// Two services and three incidents: the realistic resolved-then-closed
    /// one (`inc-resolved`, resolved at `base + 40min`, impacting `checkout`,
    /// `deployment_id = deploy-42`), an open P1 (`inc-open`) and a resolved
    /// one that does carry `impactEndDate` (`inc-with-end`).
    pub fn example(api_key: &str, base: DateTime<Utc>) -> Self {
        let mut s = State::new(api_key);
        s.services.push(Service::new("svc-checkout", "checkout"));
        s.services.push(Service::new("svc-search", "search"));
        let mut a = Incident::resolved_without_impact_end(
            "inc-resolved",
            "1",
            "Checkout errors after deploy",
            base,
            base + Duration::minutes(40),
        );
        a.priority = "P2".to_string();
        a.impacted_service_ids.push("svc-checkout".to_string());
        a.extra_properties
            .insert("deployment_id".to_string(), "deploy-42".to_string());
        let mut b = Incident::new("inc-open", "2", "Search latency", base + Duration::hours(2));
        b.priority = "P1".to_string();
        b.impacted_service_ids.push("svc-search".to_string());
        let mut c = Incident::new(
            "inc-with-end",
            "3",
            "Search down",
            base + Duration::hours(3),
        );
        c.status = "resolved".to_string();
        c.resolved_at = Some(base + Duration::hours(4));
        c.impact_end = Some(base + Duration::hours(4));
        c.updated_at = base + Duration::hours(4);
        c.impacted_service_ids.push("svc-search".to_string());
        s.incidents = vec![a, b, c];
        s
    }
}

// ---------------------------------------------------------------------------
// Requests, responses, faults
// ---------------------------------------------------------------------------

impl Req {
    /// A `GET` of an absolute URL such as `paging.next`; scheme and host are dropped.
    pub fn get_url(url: &str) -> Self {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let path_and_query = match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        };
        Req::get(path_and_query)
    }
}

/// A failure to serve instead of the next request(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `X-RateLimit-State: THROTTLED`, `X-RateLimit-Reason` and
    /// `X-RateLimit-Period-In-Sec: <period_secs>`. Opsgenie documents no
    /// `Retry-After`, so none is sent.
    RateLimited { period_secs: u64 },
    /// 500 with the standard error envelope.
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
            Some(f) => fault_response(f, &req),
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

/// A running Opsgenie mock: one catch-all wiremock mock answering from a
/// shared, mutable [`State`].
pub struct OpsgenieMock {
    server: MockServer,
    shared: Arc<Mutex<Shared>>,
}

impl OpsgenieMock {
    /// Starts the server; `state.base_url` is replaced by the server's URI.
    pub async fn start(mut state: State) -> Self {
        let server = MockServer::start().await;
        state.base_url = server.uri();
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
        OpsgenieMock { server, shared }
    }

    /// Base URL to configure the connector with (`http://127.0.0.1:<port>`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Reads or changes the served state, e.g. between two syncs.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.lock().state)
    }

    /// Answers the next `times` requests with `fault` (queued after faults
    /// already injected).
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

const TOOK: f64 = 0.004;

/// The response to a fault, independent of state.
pub fn fault_response(fault: Fault, req: &Req) -> Resp {
    let rid = request_id(req);
    match fault {
        Fault::RateLimited { period_secs } => {
            let mut r = error(429, "You are making too many requests! To avoid errors, we recommend you limit requests.", &rid);
            r.headers
                .push(("X-RateLimit-State".to_string(), "THROTTLED".to_string()));
            r.headers
                .push(("X-RateLimit-Reason".to_string(), "INCIDENT".to_string()));
            r.headers.push((
                "X-RateLimit-Period-In-Sec".to_string(),
                period_secs.to_string(),
            ));
            r
        }
        Fault::ServerError => error(500, "Internal Server Error", &rid),
        Fault::BadGateway => Resp {
            status: 502,
            headers: Vec::new(),
            body: json!({"message": "Bad Gateway"}),
        },
    }
}

/// Answers one request from `state`: auth, routing, filters and paging.
pub fn handle(state: &State, req: &Req) -> Resp {
    let rid = request_id(req);
    let expected = format!("GenieKey {}", state.api_key);
    if req.header_value("authorization").map(str::trim) != Some(expected.as_str()) {
        return error(401, "Could not authenticate", &rid);
    }
    if req.method != "GET" {
        return error(405, "Method not allowed", &rid);
    }
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["v1", "incidents"] => list_incidents(state, req, &rid),
        ["v1", "incidents", id] => match find_incident(state, req, id) {
            Some(inc) => ok(
                json!({"data": incident_json(state, inc, true), "took": TOOK, "requestId": rid}),
                &rid,
            ),
            None => not_found_incident(id, &rid),
        },
        ["v1", "incidents", id, "logs"] => match find_incident(state, req, id) {
            Some(inc) => list_logs(state, req, inc, false, &rid),
            None => not_found_incident(id, &rid),
        },
        ["v1", "incidents", id, "notes"] => match find_incident(state, req, id) {
            Some(inc) => list_logs(state, req, inc, true, &rid),
            None => not_found_incident(id, &rid),
        },
        ["v2", "incident-timelines", id, "entries"] => {
            match state.incidents.iter().find(|i| i.id == *id) {
                Some(inc) => list_timeline(req, inc, &rid),
                None => not_found_incident(id, &rid),
            }
        }
        ["v1", "services"] => list_services(state, req, &rid),
        ["v1", "services", id] => match state.services.iter().find(|s| s.id == *id) {
            Some(s) => ok(
                json!({"data": service_json(state, s), "took": TOOK, "requestId": rid}),
                &rid,
            ),
            None => error(404, &format!("Service with id [{}] not found", id), &rid),
        },
        _ => error(404, "No handler found for path", &rid),
    }
}

fn ok(body: Value, rid: &str) -> Resp {
    Resp {
        status: 200,
        headers: std_headers(rid),
        body,
    }
}

fn error(status: u16, message: &str, rid: &str) -> Resp {
    Resp {
        status,
        headers: std_headers(rid),
        body: json!({"message": message, "took": 0.0, "requestId": rid}),
    }
}

fn std_headers(rid: &str) -> Vec<(String, String)> {
    vec![
        ("X-Request-ID".to_string(), rid.to_string()),
        ("X-Response-Time".to_string(), TOOK.to_string()),
    ]
}

fn not_found_incident(id: &str, rid: &str) -> Resp {
    error(
        404,
        &format!("Incident with id [{}] does not exist", id),
        rid,
    )
}

fn find_incident<'a>(state: &'a State, req: &Req, id: &str) -> Option<&'a Incident> {
    match req.param("identifierType").unwrap_or("id") {
        "tiny" => state.incidents.iter().find(|i| i.tiny_id == id),
        _ => state.incidents.iter().find(|i| i.id == id),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn incident_json(state: &State, inc: &Incident, full: bool) -> Value {
    let responders: Vec<Value> = inc
        .responders
        .iter()
        .map(|(ty, id)| json!({"type": ty, "id": id}))
        .collect();
    let extra: Map<String, Value> = inc
        .extra_properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut v = json!({
        "id": inc.id,
        "tinyId": inc.tiny_id,
        "message": inc.message,
        "status": inc.status,
        "tags": inc.tags,
        "createdAt": ts(inc.created_at),
        "updatedAt": ts(inc.updated_at),
        "priority": inc.priority,
        "ownerTeam": inc.owner_team,
        "responders": responders,
        "impactedServices": inc.impacted_service_ids,
        "extraProperties": Value::Object(extra),
        "links": {
            "web": format!("{}/incident/detail/{}", state.web_url, inc.id),
            "api": format!("{}/v1/incidents/{}", state.base_url, inc.id),
        },
        "actions": inc.actions,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(t) = inc.impact_start {
            o.insert("impactStartDate".to_string(), json!(ts(t)));
        }
        if let Some(t) = inc.impact_detect {
            o.insert("impactDetectDate".to_string(), json!(ts(t)));
        }
        if let Some(t) = inc.impact_end {
            o.insert("impactEndDate".to_string(), json!(ts(t)));
        }
        if full {
            o.insert("description".to_string(), json!(inc.description));
        }
    }
    v
}

fn service_json(state: &State, s: &Service) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "teamId": s.team_id,
        "tags": s.tags,
        "isExternal": false,
        "links": {
            "web": format!("{}/service/{}/status", state.web_url, s.id),
            "api": format!("{}/v1/services/{}", state.base_url, s.id),
        },
    })
}

fn parse_usize(req: &Req, name: &str, default: usize) -> Result<usize, String> {
    match req.param(name) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("{} must be a non-negative integer", name)),
    }
}

fn list_incidents(state: &State, req: &Req, rid: &str) -> Resp {
    let query = req.param("query").unwrap_or("");
    let terms = match parse_search(query) {
        Ok(t) => t,
        Err(msg) => return error(422, &msg, rid),
    };
    let offset = match parse_usize(req, "offset", 0) {
        Ok(v) => v,
        Err(msg) => return error(422, &msg, rid),
    };
    let limit = match parse_usize(req, "limit", 20) {
        Ok(v) if (1..=100).contains(&v) => v,
        Ok(_) => return error(422, "limit must be between 1 and 100", rid),
        Err(msg) => return error(422, &msg, rid),
    };
    let sort = req.param("sort").unwrap_or("createdAt");
    if ![
        "createdAt",
        "tinyId",
        "message",
        "status",
        "isSeen",
        "owner",
    ]
    .contains(&sort)
    {
        return error(422, &format!("Invalid sort field [{}]", sort), rid);
    }
    let order = req.param("order").unwrap_or("desc");
    if order != "asc" && order != "desc" {
        return error(422, &format!("Invalid order [{}]", order), rid);
    }
    let mut matched: Vec<&Incident> = state
        .incidents
        .iter()
        .filter(|i| terms.iter().all(|t| t.matches(i)))
        .collect();
    matched.sort_by(|a, b| {
        let ord = match sort {
            "tinyId" => a
                .tiny_id
                .parse::<u64>()
                .unwrap_or(0)
                .cmp(&b.tiny_id.parse::<u64>().unwrap_or(0)),
            "message" => a.message.cmp(&b.message),
            "status" => a.status.cmp(&b.status),
            "owner" => a.owner.cmp(&b.owner),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.id.cmp(&b.id));
        if order == "desc" {
            ord.reverse()
        } else {
            ord
        }
    });
    let total = matched.len();
    let data: Vec<Value> = matched
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| incident_json(state, i, false))
        .collect();
    let link = |off: usize| {
        format!(
            "{}/v1/incidents?query={}&offset={}&limit={}&sort={}&order={}",
            state.base_url,
            percent_encode(query),
            off,
            limit,
            sort,
            order
        )
    };
    let mut paging = Map::new();
    if offset + limit < total {
        paging.insert("next".to_string(), json!(link(offset + limit)));
    }
    if offset > 0 {
        paging.insert(
            "prev".to_string(),
            json!(link(offset.saturating_sub(limit))),
        );
    }
    paging.insert("first".to_string(), json!(link(0)));
    let last = if total == 0 {
        0
    } else {
        ((total - 1) / limit) * limit
    };
    paging.insert("last".to_string(), json!(link(last)));
    ok(
        json!({
            "totalCount": total,
            "data": data,
            "paging": Value::Object(paging),
            "took": TOOK,
            "requestId": rid,
        }),
        rid,
    )
}

/// Offset token of the `i`-th entry (0-based, in oldest-first order) created at `t`:
/// `<millis>_<nanos>` like Opsgenie's, unique per entry.
fn log_token(t: DateTime<Utc>, i: usize) -> String {
    let ms = t.timestamp_millis();
    format!(
        "{}_{}",
        ms,
        ms.saturating_mul(1_000_000).saturating_add(i as i64)
    )
}

fn token_key(token: &str) -> Option<i64> {
    token
        .split_once('_')
        .and_then(|(_, n)| n.parse::<i64>().ok())
}

/// Logs (`notes == false`) or notes of one incident, with Opsgenie's
/// offset-token paging (`offset`, `direction`, `limit`, `order`).
fn list_logs(state: &State, req: &Req, inc: &Incident, notes: bool, rid: &str) -> Resp {
    let limit = match parse_usize(req, "limit", 20) {
        Ok(v) if (1..=100).contains(&v) => v,
        Ok(_) => return error(422, "limit must be between 1 and 100", rid),
        Err(msg) => return error(422, &msg, rid),
    };
    let order = req.param("order").unwrap_or("desc");
    if order != "asc" && order != "desc" {
        return error(422, &format!("Invalid order [{}]", order), rid);
    }
    let direction = req.param("direction").unwrap_or("next");
    if direction != "next" && direction != "prev" {
        return error(422, &format!("Invalid direction [{}]", direction), rid);
    }
    let after = match req.param("offset") {
        None | Some("") => None,
        Some(t) => match token_key(t) {
            Some(k) => Some(k),
            None => return error(422, &format!("Invalid offset [{}]", t), rid),
        },
    };
    let mut entries: Vec<(String, i64, LogEntry)> = inc
        .logs()
        .into_iter()
        .filter(|e| !notes || e.log_type == "note")
        .enumerate()
        .map(|(i, e)| {
            let tok = log_token(e.created_at, i);
            let key = token_key(&tok).unwrap_or(0);
            (tok, key, e)
        })
        .collect();
    if order == "desc" {
        entries.reverse();
    }
    // "next" walks on in the requested order, "prev" walks back.
    let forward = |k: i64, a: i64| if order == "desc" { k < a } else { k > a };
    let selected: Vec<&(String, i64, LogEntry)> = match (after, direction) {
        (None, _) => entries.iter().collect(),
        (Some(a), "next") => entries.iter().filter(|(_, k, _)| forward(*k, a)).collect(),
        (Some(a), _) => entries
            .iter()
            .filter(|(_, k, _)| *k != a && !forward(*k, a))
            .collect(),
    };
    let page: Vec<&(String, i64, LogEntry)> = if direction == "prev" && after.is_some() {
        let start = selected.len().saturating_sub(limit);
        selected[start..].to_vec()
    } else {
        selected.iter().take(limit).copied().collect()
    };
    let data: Vec<Value> = page
        .iter()
        .map(|(tok, _, e)| {
            if notes {
                json!({"note": e.log, "owner": e.owner, "createdAt": ts(e.created_at), "offset": tok})
            } else {
                json!({"log": e.log, "type": e.log_type, "owner": e.owner, "createdAt": ts(e.created_at), "offset": tok})
            }
        })
        .collect();
    let kind = if notes { "notes" } else { "logs" };
    let link = |tok: Option<&str>, dir: &str| {
        let mut s = format!(
            "{}/v1/incidents/{}/{}?identifierType=id&limit={}&order={}&direction={}",
            state.base_url, inc.id, kind, limit, order, dir
        );
        if let Some(t) = tok {
            s.push_str("&offset=");
            s.push_str(&percent_encode(t));
        }
        s
    };
    let mut paging = Map::new();
    if let Some(last) = page.last() {
        let more = entries.iter().any(|(_, k, _)| forward(*k, last.1));
        if more {
            paging.insert(
                "next".to_string(),
                json!(link(Some(last.0.as_str()), "next")),
            );
        }
    }
    if let Some(first) = page.first() {
        let before = entries.iter().any(|(_, k, _)| forward(first.1, *k));
        if before {
            paging.insert(
                "prev".to_string(),
                json!(link(Some(first.0.as_str()), "prev")),
            );
        }
    }
    paging.insert("first".to_string(), json!(link(None, "next")));
    ok(
        json!({"data": data, "paging": Value::Object(paging), "took": TOOK, "requestId": rid}),
        rid,
    )
}

/// Timeline entries, newest first by default; `group` filters (comma
/// separated), `discardHidden`, `order`, `limit`, `offset` = `nextOffset`.
fn list_timeline(req: &Req, inc: &Incident, rid: &str) -> Resp {
    let limit = match parse_usize(req, "limit", 20) {
        Ok(v) if (1..=100).contains(&v) => v,
        Ok(_) => return error(422, "limit must be between 1 and 100", rid),
        Err(msg) => return error(422, &msg, rid),
    };
    let order = req.param("order").unwrap_or("desc");
    if order != "asc" && order != "desc" {
        return error(422, &format!("Invalid order [{}]", order), rid);
    }
    let groups: Vec<&str> = req
        .param("group")
        .map(|g| {
            g.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let discard_hidden = req.param("discardHidden") == Some("true");
    let mut entries: Vec<(String, i64, TimelineEntry)> = inc
        .timeline()
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let tok = log_token(e.event_time, i);
            let key = token_key(&tok).unwrap_or(0);
            (tok, key, e)
        })
        .filter(|(_, _, e)| groups.is_empty() || groups.contains(&e.group.as_str()))
        .filter(|(_, _, e)| !(discard_hidden && e.hidden))
        .collect();
    if order == "desc" {
        entries.reverse();
    }
    let after = match req.param("offset") {
        None | Some("") => None,
        Some(t) => match token_key(t) {
            Some(k) => Some(k),
            None => return error(422, &format!("Invalid offset [{}]", t), rid),
        },
    };
    let forward = |k: i64, a: i64| if order == "desc" { k < a } else { k > a };
    let rest: Vec<&(String, i64, TimelineEntry)> = match after {
        None => entries.iter().collect(),
        Some(a) => entries.iter().filter(|(_, k, _)| forward(*k, a)).collect(),
    };
    let page: Vec<&(String, i64, TimelineEntry)> = rest.iter().take(limit).copied().collect();
    let items: Vec<Value> = page
        .iter()
        .map(|(_, _, e)| {
            let mut v = json!({
                "id": e.id,
                "group": e.group,
                "type": e.entry_type,
                "eventTime": ts(e.event_time),
                "hidden": e.hidden,
                "actor": {"name": e.actor_name, "type": e.actor_type},
                "title": {"type": "plain_text", "content": e.title},
            });
            if let (Some(d), Some(o)) = (&e.description, v.as_object_mut()) {
                o.insert(
                    "description".to_string(),
                    json!({"type": "plain_text", "content": d}),
                );
            }
            v
        })
        .collect();
    let mut data = Map::new();
    data.insert("entries".to_string(), Value::Array(items));
    if rest.len() > page.len() {
        if let Some(last) = page.last() {
            data.insert("nextOffset".to_string(), json!(last.0));
        }
    }
    ok(
        json!({"data": Value::Object(data), "took": TOOK, "requestId": rid}),
        rid,
    )
}

fn list_services(state: &State, req: &Req, rid: &str) -> Resp {
    let offset = match parse_usize(req, "offset", 0) {
        Ok(v) => v,
        Err(msg) => return error(422, &msg, rid),
    };
    let limit = match parse_usize(req, "limit", 20) {
        Ok(v) if (1..=100).contains(&v) => v,
        Ok(_) => return error(422, "limit must be between 1 and 100", rid),
        Err(msg) => return error(422, &msg, rid),
    };
    let total = state.services.len();
    let data: Vec<Value> = state
        .services
        .iter()
        .skip(offset)
        .take(limit)
        .map(|s| service_json(state, s))
        .collect();
    let mut paging = Map::new();
    if offset + limit < total {
        paging.insert(
            "next".to_string(),
            json!(format!(
                "{}/v1/services?offset={}&limit={}",
                state.base_url,
                offset + limit,
                limit
            )),
        );
    }
    paging.insert(
        "first".to_string(),
        json!(format!(
            "{}/v1/services?offset=0&limit={}",
            state.base_url, limit
        )),
    );
    ok(
        json!({"totalCount": total, "data": data, "paging": Value::Object(paging), "took": TOOK, "requestId": rid}),
        rid,
    )
}

// ---------------------------------------------------------------------------
// Search query: `field op value` terms joined by AND
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Time {
        field: String,
        op: String,
        millis: i64,
    },
    Eq {
        field: String,
        value: String,
    },
}

impl Term {
    fn matches(&self, inc: &Incident) -> bool {
        match self {
            Term::Time { field, op, millis } => {
                let t = if field == "updatedAt" {
                    inc.updated_at
                } else {
                    inc.created_at
                };
                let v = t.timestamp_millis();
                match op.as_str() {
                    ">" => v > *millis,
                    ">=" => v >= *millis,
                    "<" => v < *millis,
                    "<=" => v <= *millis,
                    _ => v == *millis,
                }
            }
            Term::Eq { field, value } => match field.as_str() {
                "status" => inc.status.eq_ignore_ascii_case(value),
                "priority" => inc.priority.eq_ignore_ascii_case(value),
                "tinyId" => inc.tiny_id == *value,
                "id" => inc.id == *value,
                "tag" | "tags" => inc.tags.iter().any(|t| t == value),
                "owner" => inc.owner == *value,
                _ => false,
            },
        }
    }
}

/// Parses the subset of Opsgenie's search syntax a connector uses:
/// `createdAt > 1704067200000 AND status: closed`. Times are epoch millis
/// (or `dd-MM-yyyy`, midnight UTC). Anything else is rejected with 422 so a
/// connector relying on unsupported syntax fails loudly.
fn parse_search(query: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let words: Vec<&str> = query.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("not") {
            return Err(format!("mock: unsupported search operator [{}]", w));
        }
        if w.eq_ignore_ascii_case("and") {
            terms.push(std::mem::take(&mut current));
        } else {
            current.push_str(w);
        }
        if i + 1 == words.len() {
            terms.push(std::mem::take(&mut current));
        }
    }
    let mut out = Vec::new();
    for t in terms {
        if t.is_empty() {
            return Err(format!("Invalid query [{}]", query));
        }
        let pos = t
            .find(['<', '>', '=', ':'])
            .ok_or_else(|| format!("Invalid query term [{}]", t))?;
        let field = &t[..pos];
        let rest = &t[pos..];
        let (op, value) = if rest.starts_with(">=") || rest.starts_with("<=") {
            (&rest[..2], &rest[2..])
        } else {
            (&rest[..1], &rest[1..])
        };
        let op = if op == ":" { "=" } else { op };
        match field {
            "createdAt" | "updatedAt" => {
                let millis = parse_search_time(value)
                    .ok_or_else(|| format!("Invalid time value [{}]", value))?;
                out.push(Term::Time {
                    field: field.to_string(),
                    op: op.to_string(),
                    millis,
                });
            }
            "status" | "priority" | "tinyId" | "id" | "tag" | "tags" | "owner" if op == "=" => {
                out.push(Term::Eq {
                    field: field.to_string(),
                    value: value.to_string(),
                });
            }
            _ => return Err(format!("mock: unsupported search term [{}]", t)),
        }
    }
    Ok(out)
}

fn parse_search_time(value: &str) -> Option<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return Some(ms);
    }
    let d = NaiveDate::parse_from_str(value, "%d-%m-%Y").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
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

/// A stable, UUID-shaped id derived from `seed` (FNV-1a).
fn pseudo_uuid(seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let h2 = h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h & 0xfff,
        (h2 >> 40) & 0xfff,
        h2 & 0xffff_ffff_ffff
    )
}

fn request_id(req: &Req) -> String {
    let mut seed = format!("{} {}", req.method, req.path);
    for (k, v) in &req.query {
        seed.push('&');
        seed.push_str(k);
        seed.push('=');
        seed.push_str(v);
    }
    pseudo_uuid(&seed)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const KEY: &str = "test-key";

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 5, 7, 0, 0).unwrap()
    }

    fn get(state: &State, path: &str) -> Resp {
        handle(
            state,
            &Req::get(path).header("Authorization", &format!("GenieKey {}", KEY)),
        )
    }

    fn many(n: usize) -> State {
        let mut s = State::new(KEY);
        for i in 0..n {
            s.incidents.push(Incident::new(
                &format!("inc-{}", i),
                &(i + 1).to_string(),
                &format!("incident {}", i),
                base() + Duration::hours(i as i64),
            ));
        }
        s
    }

    #[test]
    fn auth_is_required_and_checked() {
        let s = State::example(KEY, base());
        let r = handle(&s, &Req::get("/v1/incidents?query="));
        assert_eq!(r.status, 401);
        assert_eq!(r.body["message"], "Could not authenticate");
        assert!(r.body["requestId"].is_string());
        assert!(r.header("X-Request-ID").is_some());
        let r = handle(
            &s,
            &Req::get("/v1/incidents").header("Authorization", "GenieKey wrong"),
        );
        assert_eq!(r.status, 401);
        let r = handle(
            &s,
            &Req::get("/v1/incidents").header("Authorization", &format!("Bearer {}", KEY)),
        );
        assert_eq!(r.status, 401);
        assert_eq!(get(&s, "/v1/incidents").status, 200);
    }

    #[test]
    fn offset_paging_with_next_links_and_total_count() {
        let s = many(5);
        let r = get(&s, "/v1/incidents?query=&limit=2&order=asc");
        assert_eq!(r.status, 200);
        assert_eq!(r.body["totalCount"], 5);
        let ids: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["inc-0", "inc-1"]);
        let next = r.body["paging"]["next"].as_str().unwrap().to_string();
        assert!(next.starts_with("https://api.opsgenie.com/v1/incidents?"));
        assert!(next.contains("offset=2") && next.contains("limit=2"));
        assert!(r.body["paging"].get("prev").is_none());
        assert!(r.body["took"].is_number());

        let mut all = Vec::new();
        let mut url =
            Some("https://api.opsgenie.com/v1/incidents?query=&limit=2&order=asc".to_string());
        let mut pages = 0;
        while let Some(u) = url {
            let r = handle(
                &s,
                &Req::get_url(&u).header("Authorization", &format!("GenieKey {}", KEY)),
            );
            for d in r.body["data"].as_array().unwrap() {
                all.push(d["id"].as_str().unwrap().to_string());
            }
            url = r.body["paging"]["next"].as_str().map(str::to_string);
            pages += 1;
        }
        assert_eq!(pages, 3);
        assert_eq!(all, vec!["inc-0", "inc-1", "inc-2", "inc-3", "inc-4"]);
    }

    #[test]
    fn default_order_is_created_desc_and_limit_is_bounded() {
        let s = many(3);
        let r = get(&s, "/v1/incidents?query=");
        assert_eq!(r.body["data"][0]["id"], "inc-2");
        assert_eq!(get(&s, "/v1/incidents?limit=101").status, 422);
        assert_eq!(get(&s, "/v1/incidents?limit=0").status, 422);
        assert_eq!(get(&s, "/v1/incidents?sort=updatedAt").status, 422);
        assert_eq!(get(&s, "/v1/incidents?order=up").status, 422);
    }

    #[test]
    fn created_at_query_in_epoch_millis_and_status_terms() {
        let s = many(5);
        let cutoff = (base() + Duration::hours(2)).timestamp_millis();
        let q = percent_encode(&format!("createdAt >= {} AND status: open", cutoff));
        let r = get(&s, &format!("/v1/incidents?query={}&order=asc", q));
        assert_eq!(r.status, 200);
        assert_eq!(r.body["totalCount"], 3);
        assert_eq!(r.body["data"][0]["id"], "inc-2");
        let q = percent_encode(&format!("createdAt>{}", cutoff));
        assert_eq!(
            get(&s, &format!("/v1/incidents?query={}", q)).body["totalCount"],
            2
        );
        assert_eq!(
            get(&s, "/v1/incidents?query=status%3Aclosed").body["totalCount"],
            0
        );
        assert_eq!(
            get(&s, "/v1/incidents?query=createdAt%3E05-01-2024").body["totalCount"],
            5
        );
        assert_eq!(get(&s, "/v1/incidents?query=message%3Afoo").status, 422);
        assert_eq!(
            get(
                &s,
                "/v1/incidents?query=status%3Aopen%20OR%20status%3Aclosed"
            )
            .status,
            422
        );
    }

    #[test]
    fn resolved_incident_without_impact_end_is_resolved_in_timeline_and_logs() {
        let s = State::example(KEY, base());
        let resolved = base() + Duration::minutes(40);
        let r = get(&s, "/v1/incidents?query=status%3Aclosed");
        assert_eq!(r.body["totalCount"], 1);
        let item = &r.body["data"][0];
        assert_eq!(item["id"], "inc-resolved");
        assert_eq!(item["status"], "closed");
        assert!(
            item.get("impactEndDate").is_none(),
            "the realistic case has no impactEndDate"
        );
        assert_eq!(item["impactStartDate"], ts(base()));
        assert_eq!(item["impactedServices"][0], "svc-checkout");
        assert_eq!(item["extraProperties"]["deployment_id"], "deploy-42");
        assert!(item["links"]["web"]
            .as_str()
            .unwrap()
            .ends_with("/incident/detail/inc-resolved"));
        let updated = DateTime::parse_from_rfc3339(item["updatedAt"].as_str().unwrap()).unwrap();
        assert!(updated.with_timezone(&Utc) - resolved >= Duration::days(3));

        // Timeline: newest first by default; IncidentResolved carries R.
        let t = get(&s, "/v2/incident-timelines/inc-resolved/entries");
        assert_eq!(t.status, 200);
        let entries = t.body["data"]["entries"].as_array().unwrap();
        assert_eq!(entries[0]["type"], "CustomUserEntry");
        let res: Vec<&Value> = entries
            .iter()
            .filter(|e| e["type"] == "IncidentResolved")
            .collect();
        assert_eq!(res.len(), 1);
        assert_eq!(res[0]["group"], "incident");
        assert_eq!(res[0]["eventTime"], ts(resolved));
        assert_eq!(res[0]["title"]["content"], "Incident resolved");
        assert!(entries
            .iter()
            .any(|e| e["type"] == "IncidentClosed"
                && e["eventTime"] == ts(resolved + Duration::days(1))));
        assert!(entries.iter().any(|e| e["type"] == "ResponderAlertAcked"
            && e["eventTime"] == ts(base() + Duration::minutes(5))));
        let only_incident = get(
            &s,
            "/v2/incident-timelines/inc-resolved/entries?group=incident&order=asc",
        );
        let kinds: Vec<&str> = only_incident.body["data"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            vec!["IncidentOpened", "IncidentResolved", "IncidentClosed"]
        );

        // Logs: the resolve action at R, paged two at a time, oldest first.
        let mut seen = Vec::new();
        let mut url = Some(format!(
            "{}/v1/incidents/inc-resolved/logs?order=asc&limit=2",
            s.base_url
        ));
        while let Some(u) = url {
            let r = handle(
                &s,
                &Req::get_url(&u).header("Authorization", &format!("GenieKey {}", KEY)),
            );
            assert_eq!(r.status, 200);
            for d in r.body["data"].as_array().unwrap() {
                assert!(d["offset"].is_string());
                seen.push((
                    d["log"].as_str().unwrap().to_string(),
                    d["createdAt"].as_str().unwrap().to_string(),
                ));
            }
            url = r.body["paging"]["next"].as_str().map(str::to_string);
        }
        assert_eq!(seen.len(), 5);
        assert!(seen.contains(&("Incident resolved".to_string(), ts(resolved))));
        assert_eq!(seen.last().unwrap().0, "Postmortem is published");
        // The same by tiny id, newest first.
        let r = get(&s, "/v1/incidents/1/logs?identifierType=tiny");
        assert_eq!(r.body["data"][0]["log"], "Postmortem is published");
        let notes = get(&s, "/v1/incidents/inc-resolved/notes");
        assert_eq!(notes.body["data"][0]["note"], "Postmortem is published");
    }

    #[test]
    fn timeline_paging_with_next_offset() {
        let s = State::example(KEY, base());
        let r = get(
            &s,
            "/v2/incident-timelines/inc-resolved/entries?limit=2&order=asc",
        );
        let first: Vec<String> = r.body["data"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(first, vec!["IncidentOpened", "ResponderAlertAcked"]);
        let next = r.body["data"]["nextOffset"].as_str().unwrap();
        let r = get(
            &s,
            &format!(
                "/v2/incident-timelines/inc-resolved/entries?limit=10&order=asc&offset={}",
                percent_encode(next)
            ),
        );
        let rest: Vec<&str> = r.body["data"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            rest,
            vec!["IncidentResolved", "IncidentClosed", "CustomUserEntry"]
        );
        assert!(r.body["data"].get("nextOffset").is_none());
    }

    #[test]
    fn get_incident_and_services() {
        let s = State::example(KEY, base());
        let r = get(&s, "/v1/incidents/inc-with-end");
        assert_eq!(
            r.body["data"]["impactEndDate"],
            ts(base() + Duration::hours(4))
        );
        assert!(r.body["data"]["description"].is_string());
        assert_eq!(
            get(&s, "/v1/incidents/3?identifierType=tiny").body["data"]["id"],
            "inc-with-end"
        );
        assert_eq!(get(&s, "/v1/incidents/nope").status, 404);
        let r = get(&s, "/v1/services/svc-checkout");
        assert_eq!(r.body["data"]["name"], "checkout");
        let r = get(&s, "/v1/services?limit=1");
        assert_eq!(r.body["totalCount"], 2);
        assert!(r.body["paging"]["next"]
            .as_str()
            .unwrap()
            .contains("offset=1"));
    }

    #[test]
    fn faults_carry_documented_headers() {
        let r = fault_response(
            Fault::RateLimited { period_secs: 60 },
            &Req::get("/v1/incidents"),
        );
        assert_eq!(r.status, 429);
        assert_eq!(r.header("x-ratelimit-state"), Some("THROTTLED"));
        assert_eq!(r.header("X-RateLimit-Period-In-Sec"), Some("60"));
        assert!(r.header("Retry-After").is_none());
        assert_eq!(
            fault_response(Fault::ServerError, &Req::get("/")).status,
            500
        );
        assert_eq!(
            fault_response(Fault::BadGateway, &Req::get("/")).status,
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
        let mock = OpsgenieMock::start(State::example(KEY, base())).await;
        let uri = mock.uri();
        let auth = format!("GenieKey {}", KEY);
        let (u, a) = (uri.clone(), auth.clone());
        let (status, body) =
            tokio::task::spawn_blocking(move || raw_get(&u, "/v1/incidents?query=", &a))
                .await
                .unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"totalCount\":3"));
        assert!(body.contains(&format!("{}/v1/incidents/inc-open", uri)));

        mock.with_state(|s| {
            let extra = Incident::new("inc-new", "4", "New one", base() + Duration::days(1));
            s.incidents.push(extra);
        });
        mock.inject(Fault::RateLimited { period_secs: 1 }, 1);
        let (u, a) = (uri.clone(), auth.clone());
        let (status, _) =
            tokio::task::spawn_blocking(move || raw_get(&u, "/v1/incidents?query=", &a))
                .await
                .unwrap();
        assert_eq!(status, 429);
        let (u, a) = (uri.clone(), auth.clone());
        let (status, body) =
            tokio::task::spawn_blocking(move || raw_get(&u, "/v1/incidents?query=", &a))
                .await
                .unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"totalCount\":4"));
        assert_eq!(mock.request_count(), 3);
        let log = mock.requests();
        assert_eq!(log[1].fault, Some(Fault::RateLimited { period_secs: 1 }));
        assert_eq!(log[1].status, 429);
        assert_eq!(log[0].authorization.as_deref(), Some(auth.as_str()));
    }
}
