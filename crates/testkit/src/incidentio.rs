//! Mock of the incident.io API (v2 incidents and the catalog/settings
//! endpoints a connector reads alongside), built from incident.io's own API
//! reference:
//!
//! - <https://api-docs.incident.io/tag/Incidents-V2> and
//!   <https://docs.incident.io/api-reference/incidents-v2/list> (List/Show,
//!   `page_size` ≤ 250 + `after` cursor, `pagination_meta{after, page_size,
//!   total_record_count}`, deepObject filters `status`, `status_category`,
//!   `created_at`, `updated_at`, `severity`, `incident_type`, `custom_field`,
//!   `mode`, `filter_mode`, `sort_by`)
//! - the reference's introduction (auth `Authorization: Bearer <key>`, the 401
//!   and 429 bodies, `Retry-After`, `X-RateLimit-*`), and the models
//!   `IncidentV2`, `IncidentStatusV2` (categories triage, declined, merged,
//!   canceled, live, learning, closed, paused), `IncidentTimestampWithValueV2`,
//!   `CustomFieldEntryV2`, `EmbeddedCatalogEntryV2`, `SeverityV2`,
//!   `CatalogListEntriesResultV3`, as published in incident.io's generated SDK
//!   <https://github.com/incident-io/sdk-rust> (`openapi.json`, `src/models`).
//!
//! Served endpoints (all `GET`, all need the bearer key): `/v2/incidents`,
//! `/v2/incidents/{id}` (id or the number of `INC-<n>`), `/v1/incident_statuses`,
//! `/v1/severities`, `/v2/incident_timestamps`, `/v2/custom_fields`,
//! `/v3/catalog_entries?catalog_type_id=…`.
//! The sources are the vendors' own docs, OpenAPI specs and SDKs, cited below.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::http::{Req, Resp};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// An incident status; `category` ∈ triage, declined, merged, canceled,
/// live ("Active" in the app), learning ("Post-incident"), closed, paused.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentStatus {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub rank: i64,
}

/// A severity; a higher rank is more severe.
#[derive(Debug, Clone, PartialEq)]
pub struct Severity {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rank: i64,
}

/// An organisation's incident timestamp definition ("Reported at",
/// "Resolved at", …).
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentTimestamp {
    pub id: String,
    pub name: String,
    pub rank: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomFieldOption {
    pub id: String,
    pub value: String,
    pub sort_key: i64,
}

/// A custom field definition; `field_type` ∈ single_select, multi_select,
/// text, link, numeric. Catalog-backed fields carry `catalog_type_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomField {
    pub id: String,
    pub name: String,
    pub description: String,
    pub field_type: String,
    pub catalog_type_id: Option<String>,
    pub options: Vec<CustomFieldOption>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogType {
    pub id: String,
    pub name: String,
    pub type_name: String,
    pub description: String,
}

/// A catalog entry, e.g. a service named by an "Affected services" field.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    pub id: String,
    pub catalog_type_id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub aliases: Vec<String>,
}

/// One value of a custom field entry.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Id of a [`CatalogEntry`] (`value_catalog_entry`).
    CatalogEntry(String),
    /// Id of a [`CustomFieldOption`] of the field (`value_option`).
    Option(String),
    Text(String),
    Link(String),
    Numeric(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomFieldEntry {
    pub custom_field_id: String,
    pub values: Vec<FieldValue>,
}

/// An incident.io incident (`IncidentV2`).
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: String,
    /// `INC-<n>`.
    pub reference: String,
    /// The title.
    pub name: String,
    pub summary: Option<String>,
    /// Id of an [`IncidentStatus`].
    pub status_id: String,
    /// Id of a [`Severity`].
    pub severity_id: Option<String>,
    /// `(id, name)` of the incident type.
    pub incident_type: Option<(String, String)>,
    /// standard, retrospective, test or tutorial.
    pub mode: String,
    pub visibility: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `(incident timestamp id, value)`; unset timestamps are served without a value.
    pub timestamp_values: Vec<(String, DateTime<Utc>)>,
    pub custom_field_entries: Vec<CustomFieldEntry>,
    pub permalink: Option<String>,
}

impl Incident {
    /// A standard, public incident `INC-<number>` in `status_id`, created and
    /// updated at `created_at`.
    pub fn new(
        id: &str,
        number: u64,
        name: &str,
        status_id: &str,
        created_at: DateTime<Utc>,
    ) -> Self {
        Incident {
            id: id.to_string(),
            reference: format!("INC-{}", number),
            name: name.to_string(),
            summary: None,
            status_id: status_id.to_string(),
            severity_id: None,
            incident_type: None,
            mode: "standard".to_string(),
            visibility: "public".to_string(),
            created_at,
            updated_at: created_at,
            timestamp_values: Vec::new(),
            custom_field_entries: Vec::new(),
            permalink: Some(format!("https://app.incident.io/mock/incidents/{}", number)),
        }
    }

    /// Sets (or replaces) the value of an incident timestamp.
    pub fn set_timestamp(&mut self, timestamp_id: &str, at: DateTime<Utc>) {
        self.timestamp_values.retain(|(id, _)| id != timestamp_id);
        self.timestamp_values.push((timestamp_id.to_string(), at));
    }

    pub fn timestamp(&self, timestamp_id: &str) -> Option<DateTime<Utc>> {
        self.timestamp_values
            .iter()
            .find(|(id, _)| id == timestamp_id)
            .map(|(_, t)| *t)
    }

    /// Sets (or replaces) the values of a custom field.
    pub fn set_field(&mut self, custom_field_id: &str, values: Vec<FieldValue>) {
        self.custom_field_entries
            .retain(|e| e.custom_field_id != custom_field_id);
        self.custom_field_entries.push(CustomFieldEntry {
            custom_field_id: custom_field_id.to_string(),
            values,
        });
    }
}

/// Ids used by [`State::example`].
pub mod ids {
    pub const STATUS_TRIAGE: &str = "01HSTATUS00000000000TRIAGE";
    pub const STATUS_DECLINED: &str = "01HSTATUS0000000000DECLINE";
    pub const STATUS_MERGED: &str = "01HSTATUS00000000000MERGED";
    pub const STATUS_CANCELED: &str = "01HSTATUS0000000000CANCELD";
    pub const STATUS_INVESTIGATING: &str = "01HSTATUS0000000000INVESTG";
    pub const STATUS_FIXING: &str = "01HSTATUS00000000000FIXING";
    pub const STATUS_PAUSED: &str = "01HSTATUS00000000000PAUSED";
    pub const STATUS_POST_INCIDENT: &str = "01HSTATUS000000000POSTINCD";
    pub const STATUS_CLOSED: &str = "01HSTATUS00000000000CLOSED";
    pub const SEV_MINOR: &str = "01HSEVERITY0000000000MINOR";
    pub const SEV_MAJOR: &str = "01HSEVERITY0000000000MAJOR";
    pub const SEV_CRITICAL: &str = "01HSEVERITY000000CRITICAL";
    pub const TS_REPORTED: &str = "01HTIMESTAMP00000REPORTED";
    pub const TS_ACCEPTED: &str = "01HTIMESTAMP00000ACCEPTED";
    pub const TS_IMPACT_STARTED: &str = "01HTIMESTAMP0000IMPACTSTR";
    pub const TS_RESOLVED: &str = "01HTIMESTAMP00000RESOLVED";
    pub const TS_CLOSED: &str = "01HTIMESTAMP0000000CLOSED";
    pub const FIELD_AFFECTED_SERVICES: &str = "01HFIELD00000AFFECTEDSVCS";
    pub const FIELD_DEPLOYMENT_ID: &str = "01HFIELD0000DEPLOYMENTID";
    pub const FIELD_ENVIRONMENT: &str = "01HFIELD00000ENVIRONMENT";
    pub const OPTION_PRODUCTION: &str = "01HOPTION00000PRODUCTION";
    pub const OPTION_STAGING: &str = "01HOPTION0000000STAGING";
    pub const CATALOG_TYPE_SERVICE: &str = "01HCATTYPE0000000SERVICE";
    pub const SERVICE_CHECKOUT: &str = "01HSERVICE000000CHECKOUT";
    pub const SERVICE_SEARCH: &str = "01HSERVICE00000000SEARCH";
    pub const SERVICE_PAYMENTS: &str = "01HSERVICE000000PAYMENTS";
}

/// Everything the mock serves. Change it between two syncs with
/// [`IncidentIoMock::with_state`].
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Expected in `Authorization: Bearer <api_key>`.
    pub api_key: String,
    pub statuses: Vec<IncidentStatus>,
    pub severities: Vec<Severity>,
    pub timestamps: Vec<IncidentTimestamp>,
    pub custom_fields: Vec<CustomField>,
    pub catalog_types: Vec<CatalogType>,
    pub catalog_entries: Vec<CatalogEntry>,
    pub incidents: Vec<Incident>,
    /// Served as `created_at`/`updated_at` of configuration objects.
    pub configured_at: DateTime<Utc>,
}

impl State {
    /// No configuration and no incidents.
    pub fn new(api_key: &str) -> Self {
        State {
            api_key: api_key.to_string(),
            statuses: Vec::new(),
            severities: Vec::new(),
            timestamps: Vec::new(),
            custom_fields: Vec::new(),
            catalog_types: Vec::new(),
            catalog_entries: Vec::new(),
            incidents: Vec::new(),
            configured_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        }
    }

    /// One status per category, three severities, five timestamps, an
    /// "Affected services" catalog field (Service: checkout, search, payments),
    /// a "Deployment ID" text field, an "Environment" option field, and one
    /// incident per status (see [`ids`]):
    ///
    /// - INC-1 closed, Major: reported `base`, accepted +5 min, resolved +40 min,
    ///   closed +2 days; checkout; deployment `deploy-42`; production.
    /// - INC-2 live (Investigating), Critical, created +2 h; search + payments.
    /// - INC-3 declined (+3 h), INC-4 learning (resolved +5 h 30), INC-5 merged,
    ///   INC-6 canceled, INC-7 paused, INC-8 triage, INC-9 closed **test** incident.
    pub fn example(api_key: &str, base: DateTime<Utc>) -> Self {
        use ids::*;
        let mut s = State::new(api_key);
        let status = |id: &str, name: &str, category: &str, rank: i64| IncidentStatus {
            id: id.to_string(),
            name: name.to_string(),
            description: format!("{} incidents", name),
            category: category.to_string(),
            rank,
        };
        s.statuses = vec![
            status(STATUS_TRIAGE, "Triage", "triage", 0),
            status(STATUS_DECLINED, "Declined", "declined", 0),
            status(STATUS_MERGED, "Merged", "merged", 0),
            status(STATUS_CANCELED, "Canceled", "canceled", 0),
            status(STATUS_INVESTIGATING, "Investigating", "live", 1),
            status(STATUS_FIXING, "Fixing", "live", 2),
            status(STATUS_PAUSED, "Paused", "paused", 3),
            status(STATUS_POST_INCIDENT, "Post-incident", "learning", 4),
            status(STATUS_CLOSED, "Closed", "closed", 5),
        ];
        let sev = |id: &str, name: &str, rank: i64| Severity {
            id: id.to_string(),
            name: name.to_string(),
            description: format!("{} impact", name),
            rank,
        };
        s.severities = vec![
            sev(SEV_MINOR, "Minor", 1),
            sev(SEV_MAJOR, "Major", 2),
            sev(SEV_CRITICAL, "Critical", 3),
        ];
        let tsd = |id: &str, name: &str, rank: i64| IncidentTimestamp {
            id: id.to_string(),
            name: name.to_string(),
            rank,
        };
        s.timestamps = vec![
            tsd(TS_REPORTED, "Reported at", 1),
            tsd(TS_ACCEPTED, "Accepted at", 2),
            tsd(TS_IMPACT_STARTED, "Impact started", 3),
            tsd(TS_RESOLVED, "Resolved at", 4),
            tsd(TS_CLOSED, "Closed at", 5),
        ];
        s.catalog_types = vec![CatalogType {
            id: CATALOG_TYPE_SERVICE.to_string(),
            name: "Service".to_string(),
            type_name: "Custom[\"Service\"]".to_string(),
            description: "Services we run".to_string(),
        }];
        let entry = |id: &str, name: &str| CatalogEntry {
            id: id.to_string(),
            catalog_type_id: CATALOG_TYPE_SERVICE.to_string(),
            name: name.to_string(),
            external_id: Some(format!("svc-{}", name)),
            aliases: vec![name.to_string()],
        };
        s.catalog_entries = vec![
            entry(SERVICE_CHECKOUT, "checkout"),
            entry(SERVICE_SEARCH, "search"),
            entry(SERVICE_PAYMENTS, "payments"),
        ];
        s.custom_fields = vec![
            CustomField {
                id: FIELD_AFFECTED_SERVICES.to_string(),
                name: "Affected services".to_string(),
                description: "Services impacted by this incident".to_string(),
                field_type: "multi_select".to_string(),
                catalog_type_id: Some(CATALOG_TYPE_SERVICE.to_string()),
                options: Vec::new(),
            },
            CustomField {
                id: FIELD_DEPLOYMENT_ID.to_string(),
                name: "Deployment ID".to_string(),
                description: "Deployment that caused the incident".to_string(),
                field_type: "text".to_string(),
                catalog_type_id: None,
                options: Vec::new(),
            },
            CustomField {
                id: FIELD_ENVIRONMENT.to_string(),
                name: "Environment".to_string(),
                description: "Where it happened".to_string(),
                field_type: "single_select".to_string(),
                catalog_type_id: None,
                options: vec![
                    CustomFieldOption {
                        id: OPTION_PRODUCTION.to_string(),
                        value: "Production".to_string(),
                        sort_key: 10,
                    },
                    CustomFieldOption {
                        id: OPTION_STAGING.to_string(),
                        value: "Staging".to_string(),
                        sort_key: 20,
                    },
                ],
            },
        ];

        let id = |n: u64| format!("01HINC{:020}", n);
        let mut one = Incident::new(
            &id(1),
            1,
            "Checkout errors after deploy",
            STATUS_CLOSED,
            base,
        );
        one.severity_id = Some(SEV_MAJOR.to_string());
        one.summary = Some("5xx on /checkout".to_string());
        one.set_timestamp(TS_REPORTED, base);
        one.set_timestamp(TS_IMPACT_STARTED, base - Duration::minutes(3));
        one.set_timestamp(TS_ACCEPTED, base + Duration::minutes(5));
        one.set_timestamp(TS_RESOLVED, base + Duration::minutes(40));
        one.set_timestamp(TS_CLOSED, base + Duration::days(2));
        one.updated_at = base + Duration::days(2);
        one.set_field(
            FIELD_AFFECTED_SERVICES,
            vec![FieldValue::CatalogEntry(SERVICE_CHECKOUT.to_string())],
        );
        one.set_field(
            FIELD_DEPLOYMENT_ID,
            vec![FieldValue::Text("deploy-42".to_string())],
        );
        one.set_field(
            FIELD_ENVIRONMENT,
            vec![FieldValue::Option(OPTION_PRODUCTION.to_string())],
        );

        let mut two = Incident::new(
            &id(2),
            2,
            "Search is slow",
            STATUS_INVESTIGATING,
            base + Duration::hours(2),
        );
        two.severity_id = Some(SEV_CRITICAL.to_string());
        two.set_timestamp(TS_REPORTED, base + Duration::hours(2));
        two.set_timestamp(
            TS_ACCEPTED,
            base + Duration::hours(2) + Duration::minutes(2),
        );
        two.set_field(
            FIELD_AFFECTED_SERVICES,
            vec![
                FieldValue::CatalogEntry(SERVICE_SEARCH.to_string()),
                FieldValue::CatalogEntry(SERVICE_PAYMENTS.to_string()),
            ],
        );

        let simple = |n: u64, name: &str, status: &str, at: DateTime<Utc>| {
            let mut i = Incident::new(&id(n), n, name, status, at);
            i.severity_id = Some(SEV_MINOR.to_string());
            i.set_timestamp(TS_REPORTED, at);
            i
        };
        let three = simple(3, "False alarm", STATUS_DECLINED, base + Duration::hours(3));
        let mut four = simple(
            4,
            "Payments retries",
            STATUS_POST_INCIDENT,
            base + Duration::hours(4),
        );
        four.set_timestamp(
            TS_RESOLVED,
            base + Duration::hours(5) + Duration::minutes(30),
        );
        four.updated_at = base + Duration::hours(5) + Duration::minutes(30);
        let five = simple(
            5,
            "Duplicate of INC-2",
            STATUS_MERGED,
            base + Duration::hours(5),
        );
        let six = simple(
            6,
            "Opened by mistake",
            STATUS_CANCELED,
            base + Duration::hours(6),
        );
        let seven = simple(
            7,
            "Waiting on vendor",
            STATUS_PAUSED,
            base + Duration::hours(7),
        );
        let eight = simple(8, "Something odd", STATUS_TRIAGE, base + Duration::hours(8));
        let mut nine = simple(9, "Game day", STATUS_CLOSED, base + Duration::hours(9));
        nine.mode = "test".to_string();
        s.incidents = vec![one, two, three, four, five, six, seven, eight, nine];
        s
    }
}

// ---------------------------------------------------------------------------
// Requests, responses, faults
// ---------------------------------------------------------------------------

/// A failure to serve instead of the next request(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The documented 429: `Retry-After: <retry_after_secs>`, `X-RateLimit-*`
    /// and the `too_many_requests` body.
    RateLimited { retry_after_secs: u64 },
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

/// A running incident.io mock: one catch-all wiremock mock answering from a
/// shared, mutable [`State`].
pub struct IncidentIoMock {
    server: MockServer,
    shared: Arc<Mutex<Shared>>,
}

impl IncidentIoMock {
    pub async fn start(state: State) -> Self {
        let server = MockServer::start().await;
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
        IncidentIoMock { server, shared }
    }

    /// Base URL to configure the connector with (`http://127.0.0.1:<port>`).
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

const RATE_LIMIT: &str = "1200, 1200;window=60";

/// The response to a fault; `now` dates the rate-limit reset.
pub fn fault_response(fault: Fault, req: &Req, now: DateTime<Utc>) -> Resp {
    let rid = request_id(req);
    match fault {
        Fault::RateLimited { retry_after_secs } => {
            let retry_at = now + Duration::seconds(retry_after_secs as i64);
            Resp {
                status: 429,
                headers: vec![
                    ("X-RateLimit-Limit".to_string(), RATE_LIMIT.to_string()),
                    ("X-RateLimit-Remaining".to_string(), "0".to_string()),
                    ("X-RateLimit-Used".to_string(), "1200".to_string()),
                    (
                        "X-RateLimit-Reset".to_string(),
                        (now + Duration::seconds(60)).timestamp().to_string(),
                    ),
                    ("Retry-After".to_string(), retry_after_secs.to_string()),
                ],
                body: json!({
                    "type": "too_many_requests",
                    "status": 429,
                    "request_id": rid,
                    "rate_limit": {
                        "name": "api_key_name",
                        "limit": 1200,
                        "remaining": 0,
                        "retry_after": retry_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    },
                    "errors": [{
                        "code": "too_many_requests",
                        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
                    }],
                }),
            }
        }
        Fault::ServerError => error(
            500,
            "internal_error",
            "internal_error",
            "Something went wrong",
            &rid,
        ),
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
    let token = req
        .header_value("authorization")
        .map(str::trim)
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match token {
        None => {
            return error(
                401,
                "authentication_error",
                "missing_authorization_material",
                "No authorization material provided in request",
                &rid,
            )
        }
        Some(t) if t.trim() != state.api_key => {
            return error(
                401,
                "authentication_error",
                "invalid_authorization_material",
                "The API key provided is not valid",
                &rid,
            )
        }
        Some(_) => {}
    }
    if req.method != "GET" {
        return error(
            405,
            "method_not_allowed",
            "method_not_allowed",
            "Method not allowed",
            &rid,
        );
    }
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["v2", "incidents"] => list_incidents(state, req, &rid),
        ["v2", "incidents", id] => {
            let found = state
                .incidents
                .iter()
                .find(|i| i.id == *id || i.reference.strip_prefix("INC-") == Some(*id));
            match found {
                Some(i) => ok(json!({"incident": incident_json(state, i)})),
                None => error(
                    404,
                    "not_found",
                    "not_found",
                    &format!("Incident {} not found", id),
                    &rid,
                ),
            }
        }
        ["v1", "incident_statuses"] => {
            let v: Vec<Value> = state
                .statuses
                .iter()
                .map(|s| status_json(state, s))
                .collect();
            ok(json!({"incident_statuses": v}))
        }
        ["v1", "severities"] => {
            let v: Vec<Value> = state
                .severities
                .iter()
                .map(|s| severity_json(state, s))
                .collect();
            ok(json!({"severities": v}))
        }
        ["v2", "incident_timestamps"] => {
            let mut t: Vec<&IncidentTimestamp> = state.timestamps.iter().collect();
            t.sort_by_key(|t| t.rank);
            let v: Vec<Value> = t.iter().map(|t| timestamp_def_json(t)).collect();
            ok(json!({"incident_timestamps": v}))
        }
        ["v2", "custom_fields"] => {
            let v: Vec<Value> = state
                .custom_fields
                .iter()
                .map(|f| custom_field_json(state, f))
                .collect();
            ok(json!({"custom_fields": v}))
        }
        ["v3", "catalog_entries"] => list_catalog_entries(state, req, &rid),
        _ => error(
            404,
            "not_found",
            "not_found",
            "No route for this path",
            &rid,
        ),
    }
}

fn ok(body: Value) -> Resp {
    Resp {
        status: 200,
        headers: vec![
            ("X-RateLimit-Limit".to_string(), RATE_LIMIT.to_string()),
            ("X-RateLimit-Remaining".to_string(), "1199".to_string()),
            ("X-RateLimit-Used".to_string(), "1".to_string()),
        ],
        body,
    }
}

fn error(status: u16, kind: &str, code: &str, message: &str, rid: &str) -> Resp {
    Resp {
        status,
        headers: Vec::new(),
        body: json!({
            "type": kind,
            "status": status,
            "request_id": rid,
            "errors": [{"code": code, "message": message}],
        }),
    }
}

fn invalid(message: &str, rid: &str) -> Resp {
    error(422, "validation_error", "invalid_value", message, rid)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn status_json(state: &State, s: &IncidentStatus) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "category": s.category,
        "rank": s.rank,
        "created_at": ts(state.configured_at),
        "updated_at": ts(state.configured_at),
    })
}

fn severity_json(state: &State, s: &Severity) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "rank": s.rank,
        "created_at": ts(state.configured_at),
        "updated_at": ts(state.configured_at),
    })
}

fn timestamp_def_json(t: &IncidentTimestamp) -> Value {
    json!({"id": t.id, "name": t.name, "rank": t.rank})
}

fn option_json(field_id: &str, o: &CustomFieldOption) -> Value {
    json!({"custom_field_id": field_id, "id": o.id, "sort_key": o.sort_key, "value": o.value})
}

fn custom_field_info_json(f: &CustomField) -> Value {
    let options: Vec<Value> = f.options.iter().map(|o| option_json(&f.id, o)).collect();
    json!({
        "id": f.id,
        "name": f.name,
        "description": f.description,
        "field_type": f.field_type,
        "options": options,
    })
}

fn custom_field_json(state: &State, f: &CustomField) -> Value {
    let mut v = custom_field_info_json(f);
    if let Some(o) = v.as_object_mut() {
        if let Some(ct) = &f.catalog_type_id {
            o.insert("catalog_type_id".to_string(), json!(ct));
        }
        o.insert("created_at".to_string(), json!(ts(state.configured_at)));
        o.insert("updated_at".to_string(), json!(ts(state.configured_at)));
    }
    v
}

fn catalog_entry_embedded_json(e: &CatalogEntry) -> Value {
    let mut v = json!({"id": e.id, "name": e.name, "aliases": e.aliases});
    if let (Some(x), Some(o)) = (&e.external_id, v.as_object_mut()) {
        o.insert("external_id".to_string(), json!(x));
    }
    v
}

fn field_value_json(state: &State, field: Option<&CustomField>, value: &FieldValue) -> Value {
    match value {
        FieldValue::CatalogEntry(id) => match state.catalog_entries.iter().find(|e| e.id == *id) {
            Some(e) => json!({"value_catalog_entry": catalog_entry_embedded_json(e)}),
            None => json!({"value_catalog_entry": {"id": id, "name": id, "aliases": []}}),
        },
        FieldValue::Option(id) => {
            let opt = field.and_then(|f| f.options.iter().find(|o| o.id == *id).map(|o| (f, o)));
            match opt {
                Some((f, o)) => json!({"value_option": option_json(&f.id, o)}),
                None => {
                    json!({"value_option": {"custom_field_id": "", "id": id, "sort_key": 0, "value": id}})
                }
            }
        }
        FieldValue::Text(t) => json!({"value_text": t}),
        FieldValue::Link(l) => json!({"value_link": l}),
        FieldValue::Numeric(n) => json!({"value_numeric": n}),
    }
}

/// `IncidentV2` as served by List and Show.
pub fn incident_json(state: &State, inc: &Incident) -> Value {
    let status = state
        .statuses
        .iter()
        .find(|s| s.id == inc.status_id)
        .map(|s| status_json(state, s))
        .unwrap_or_else(|| {
            json!({"id": inc.status_id, "name": inc.status_id, "description": "", "category": "live", "rank": 0,
                   "created_at": ts(state.configured_at), "updated_at": ts(state.configured_at)})
        });
    let mut defs: Vec<&IncidentTimestamp> = state.timestamps.iter().collect();
    defs.sort_by_key(|t| t.rank);
    let timestamps: Vec<Value> = defs
        .iter()
        .map(|d| {
            let mut v = json!({"incident_timestamp": timestamp_def_json(d)});
            if let (Some(t), Some(o)) = (inc.timestamp(&d.id), v.as_object_mut()) {
                o.insert("value".to_string(), json!({"value": ts(t)}));
            }
            v
        })
        .collect();
    let entries: Vec<Value> = inc
        .custom_field_entries
        .iter()
        .map(|e| {
            let field = state
                .custom_fields
                .iter()
                .find(|f| f.id == e.custom_field_id);
            let info = match field {
                Some(f) => custom_field_info_json(f),
                None => {
                    json!({"id": e.custom_field_id, "name": e.custom_field_id, "description": "",
                               "field_type": "text", "options": []})
                }
            };
            let values: Vec<Value> = e
                .values
                .iter()
                .map(|v| field_value_json(state, field, v))
                .collect();
            json!({"custom_field": info, "values": values})
        })
        .collect();
    let mut v = json!({
        "id": inc.id,
        "reference": inc.reference,
        "name": inc.name,
        "created_at": ts(inc.created_at),
        "updated_at": ts(inc.updated_at),
        "last_activity_at": ts(inc.updated_at),
        "creator": {"api_key": {"id": "01HAPIKEY000000000000MOCK", "name": "flowmeter mock"}},
        "custom_field_entries": entries,
        "incident_role_assignments": [],
        "incident_status": status,
        "incident_timestamp_values": timestamps,
        "mode": inc.mode,
        "visibility": inc.visibility,
        "slack_channel_id": "",
        "slack_team_id": "",
        "team_ids": [],
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(s) = &inc.summary {
            o.insert("summary".to_string(), json!(s));
        }
        if let Some(p) = &inc.permalink {
            o.insert("permalink".to_string(), json!(p));
        }
        if let Some(sev) = inc
            .severity_id
            .as_ref()
            .and_then(|id| state.severities.iter().find(|s| s.id == *id))
        {
            o.insert("severity".to_string(), severity_json(state, sev));
        }
        if let Some((id, name)) = &inc.incident_type {
            o.insert(
                "incident_type".to_string(),
                json!({"id": id, "name": name, "description": "", "is_default": false,
                       "private_incidents_only": false, "create_in_triage": "optional",
                       "created_at": ts(state.configured_at), "updated_at": ts(state.configured_at)}),
            );
        }
    }
    v
}

// ---------------------------------------------------------------------------
// List incidents: filters and cursor paging
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    name: String,
    sub: Option<String>,
    op: String,
    values: Vec<String>,
}

/// Splits `custom_field[ABC][one_of]` into `("custom_field", Some("ABC"), "one_of")`.
fn split_deep_key(key: &str) -> Option<(String, Option<String>, String)> {
    let open = key.find('[')?;
    let name = &key[..open];
    let parts: Vec<&str> = key[open..]
        .split('[')
        .filter(|p| !p.is_empty())
        .map(|p| p.trim_end_matches(']'))
        .collect();
    match parts.as_slice() {
        [op] => Some((name.to_string(), None, op.to_string())),
        [sub, op] => Some((name.to_string(), Some(sub.to_string()), op.to_string())),
        _ => None,
    }
}

fn parse_instant(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|n| n.and_utc())
}

/// Upper bound of a `date_range` end: a date means the whole day.
fn range_end(v: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some((t.with_timezone(&Utc), true));
    }
    let d = parse_instant(v)?;
    Some((d + Duration::days(1), false))
}

fn check_time(t: DateTime<Utc>, op: &str, v: &str) -> Result<bool, String> {
    let bad = || format!("Invalid date value {}", v);
    match op {
        "gte" => Ok(t >= parse_instant(v).ok_or_else(bad)?),
        "lte" => Ok(t <= parse_instant(v).ok_or_else(bad)?),
        "date_range" => {
            let (a, b) = v.split_once('~').ok_or_else(bad)?;
            let from = parse_instant(a).ok_or_else(bad)?;
            let (to, inclusive) = range_end(b).ok_or_else(bad)?;
            Ok(t >= from && if inclusive { t <= to } else { t < to })
        }
        _ => Err(format!("Unsupported operator {} for a date filter", op)),
    }
}

fn eval_filter(state: &State, inc: &Incident, f: &Filter) -> Result<bool, String> {
    let in_values = |x: &str| f.values.iter().any(|v| v == x);
    let member = |present: bool| -> Result<bool, String> {
        match f.op.as_str() {
            "one_of" => Ok(present),
            "not_in" => Ok(!present),
            op => Err(format!("Unsupported operator {} for {}", op, f.name)),
        }
    };
    match f.name.as_str() {
        "status" => member(in_values(&inc.status_id)),
        "status_category" => {
            let cat = state
                .statuses
                .iter()
                .find(|s| s.id == inc.status_id)
                .map(|s| s.category.as_str())
                .unwrap_or("");
            member(in_values(cat))
        }
        "created_at" | "updated_at" => {
            let t = if f.name == "created_at" {
                inc.created_at
            } else {
                inc.updated_at
            };
            for v in &f.values {
                if !check_time(t, &f.op, v)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        "severity" => match f.op.as_str() {
            "one_of" | "not_in" => {
                member(inc.severity_id.as_deref().map(in_values).unwrap_or(false))
            }
            "gte" | "lte" => {
                let mut result = true;
                for v in &f.values {
                    let rank = state
                        .severities
                        .iter()
                        .find(|s| s.id == *v)
                        .map(|s| s.rank)
                        .ok_or_else(|| format!("Unknown severity {}", v))?;
                    let own = inc
                        .severity_id
                        .as_ref()
                        .and_then(|id| state.severities.iter().find(|s| s.id == *id))
                        .map(|s| s.rank);
                    result &= match own {
                        Some(r) if f.op == "gte" => r >= rank,
                        Some(r) => r <= rank,
                        None => false,
                    };
                }
                Ok(result)
            }
            op => Err(format!("Unsupported operator {} for severity", op)),
        },
        "incident_type" => member(
            inc.incident_type
                .as_ref()
                .map(|(id, _)| in_values(id))
                .unwrap_or(false),
        ),
        "custom_field" => {
            let field_id = f.sub.as_deref().unwrap_or("");
            let present = inc
                .custom_field_entries
                .iter()
                .filter(|e| e.custom_field_id == field_id)
                .flat_map(|e| e.values.iter())
                .any(|v| match v {
                    FieldValue::CatalogEntry(x)
                    | FieldValue::Option(x)
                    | FieldValue::Text(x)
                    | FieldValue::Link(x)
                    | FieldValue::Numeric(x) => in_values(x),
                });
            member(present)
        }
        other => Err(format!("mock: unsupported filter {}", other)),
    }
}

fn list_incidents(state: &State, req: &Req, rid: &str) -> Resp {
    let page_size = match req.param("page_size") {
        None | Some("") => 25,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=250).contains(&n) => n,
            _ => return invalid("page_size must be between 1 and 250", rid),
        },
    };
    let oldest_first = match req.param("sort_by") {
        None | Some("") | Some("created_at_newest_first") => false,
        Some("created_at_oldest_first") => true,
        Some(other) => return invalid(&format!("Unsupported sort_by {}", other), rid),
    };
    let any_mode = match req.param("filter_mode") {
        None | Some("") | Some("all") => false,
        Some("any") => true,
        Some(other) => return invalid(&format!("Unsupported filter_mode {}", other), rid),
    };
    let mut filters: Vec<Filter> = Vec::new();
    let mut modes: Vec<String> = Vec::new();
    for (k, v) in &req.query {
        match k.as_str() {
            "page_size" | "after" | "sort_by" | "filter_mode" => continue,
            _ => {}
        }
        let (name, sub, op) = match split_deep_key(k) {
            Some(x) => x,
            None => return invalid(&format!("mock: unsupported parameter {}", k), rid),
        };
        if name == "mode" {
            if op != "one_of" {
                return invalid("mode only supports one_of", rid);
            }
            modes.push(v.clone());
            continue;
        }
        match filters
            .iter_mut()
            .find(|f| f.name == name && f.sub == sub && f.op == op)
        {
            Some(f) => f.values.push(v.clone()),
            None => filters.push(Filter {
                name,
                sub,
                op,
                values: vec![v.clone()],
            }),
        }
    }
    if modes.is_empty() {
        modes = vec!["standard".to_string(), "retrospective".to_string()];
    }
    let mut matched: Vec<&Incident> = Vec::new();
    for inc in &state.incidents {
        if !modes.contains(&inc.mode) {
            continue;
        }
        let mut results = Vec::with_capacity(filters.len());
        for f in &filters {
            match eval_filter(state, inc, f) {
                Ok(b) => results.push(b),
                Err(msg) => return invalid(&msg, rid),
            }
        }
        let keep = if results.is_empty() {
            true
        } else if any_mode {
            results.iter().any(|b| *b)
        } else {
            results.iter().all(|b| *b)
        };
        if keep {
            matched.push(inc);
        }
    }
    let key = |i: &Incident| (i.created_at, i.id.clone());
    matched.sort_by(|a, b| {
        let o = key(a).cmp(&key(b));
        if oldest_first {
            o
        } else {
            o.reverse()
        }
    });
    let total = matched.len();
    let rest: Vec<&Incident> = match req.param("after") {
        None | Some("") => matched.clone(),
        Some(after) => match state.incidents.iter().find(|i| i.id == after) {
            Some(cursor) => {
                let ck = key(cursor);
                matched
                    .iter()
                    .copied()
                    .filter(|i| {
                        if oldest_first {
                            key(i) > ck
                        } else {
                            key(i) < ck
                        }
                    })
                    .collect()
            }
            None => return invalid(&format!("Unknown after cursor {}", after), rid),
        },
    };
    let page: Vec<&Incident> = rest.iter().take(page_size).copied().collect();
    let mut meta = Map::new();
    if rest.len() > page.len() {
        if let Some(last) = page.last() {
            meta.insert("after".to_string(), json!(last.id));
        }
    }
    meta.insert("page_size".to_string(), json!(page_size));
    meta.insert("total_record_count".to_string(), json!(total));
    let incidents: Vec<Value> = page.iter().map(|i| incident_json(state, i)).collect();
    ok(json!({"incidents": incidents, "pagination_meta": Value::Object(meta)}))
}

fn list_catalog_entries(state: &State, req: &Req, rid: &str) -> Resp {
    let type_id = match req.param("catalog_type_id") {
        Some(t) if !t.is_empty() => t,
        _ => return invalid("catalog_type_id is required", rid),
    };
    let ty = match state.catalog_types.iter().find(|t| t.id == type_id) {
        Some(t) => t,
        None => return error(404, "not_found", "not_found", "Catalog type not found", rid),
    };
    let page_size = match req.param("page_size") {
        None | Some("") => 25,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=250).contains(&n) => n,
            _ => return invalid("page_size must be between 1 and 250", rid),
        },
    };
    let all: Vec<&CatalogEntry> = state
        .catalog_entries
        .iter()
        .filter(|e| e.catalog_type_id == type_id)
        .collect();
    let start = match req.param("after") {
        None | Some("") => 0,
        Some(a) => match all.iter().position(|e| e.id == a) {
            Some(p) => p + 1,
            None => return invalid(&format!("Unknown after cursor {}", a), rid),
        },
    };
    let page: Vec<&CatalogEntry> = all.iter().skip(start).take(page_size).copied().collect();
    let mut meta = Map::new();
    if start + page.len() < all.len() {
        if let Some(last) = page.last() {
            meta.insert("after".to_string(), json!(last.id));
        }
    }
    meta.insert("page_size".to_string(), json!(page_size));
    meta.insert("total_record_count".to_string(), json!(all.len()));
    let entries: Vec<Value> = page
        .iter()
        .map(|e| {
            let mut v = json!({
                "id": e.id,
                "catalog_type_id": e.catalog_type_id,
                "name": e.name,
                "aliases": e.aliases,
                "attribute_values": {},
                "rank": 0,
                "created_at": ts(state.configured_at),
                "updated_at": ts(state.configured_at),
            });
            if let (Some(x), Some(o)) = (&e.external_id, v.as_object_mut()) {
                o.insert("external_id".to_string(), json!(x));
            }
            v
        })
        .collect();
    ok(json!({
        "catalog_entries": entries,
        "catalog_type": {
            "id": ty.id,
            "name": ty.name,
            "type_name": ty.type_name,
            "description": ty.description,
            "created_at": ts(state.configured_at),
            "updated_at": ts(state.configured_at),
        },
        "pagination_meta": Value::Object(meta),
    }))
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn request_id(req: &Req) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(&req.method);
    feed(&req.path);
    for (k, v) in &req.query {
        feed(k);
        feed(v);
    }
    let h2 = h.rotate_left(23) ^ 0x9e37_79b9_7f4a_7c15;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h & 0xfff,
        (h2 >> 40) & 0xfff,
        h2 & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::ids::*;
    use super::*;
    use chrono::TimeZone;

    const KEY: &str = "inc_test_key";

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap()
    }

    fn state() -> State {
        State::example(KEY, base())
    }

    fn get(state: &State, path: &str) -> Resp {
        handle(
            state,
            &Req::get(path).header("Authorization", &format!("Bearer {}", KEY)),
        )
    }

    fn refs(r: &Resp) -> Vec<String> {
        r.body["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["reference"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn auth_errors_follow_the_documented_envelope() {
        let s = state();
        let r = handle(&s, &Req::get("/v2/incidents"));
        assert_eq!(r.status, 401);
        assert_eq!(r.body["type"], "authentication_error");
        assert_eq!(r.body["status"], 401);
        assert_eq!(
            r.body["errors"][0]["code"],
            "missing_authorization_material"
        );
        assert!(r.body["request_id"].is_string());
        let r = handle(
            &s,
            &Req::get("/v2/incidents").header("Authorization", "Bearer nope"),
        );
        assert_eq!(r.status, 401);
        let r = handle(
            &s,
            &Req::get("/v2/incidents").header("Authorization", &format!("GenieKey {}", KEY)),
        );
        assert_eq!(r.status, 401);
        let r = get(&s, "/v2/incidents");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("X-RateLimit-Limit"), Some(RATE_LIMIT));
    }

    #[test]
    fn cursor_paging_with_after_and_total_record_count() {
        let s = state();
        let r = get(&s, "/v2/incidents?page_size=3");
        assert_eq!(
            refs(&r),
            vec!["INC-8", "INC-7", "INC-6"],
            "newest first, test mode excluded"
        );
        assert_eq!(r.body["pagination_meta"]["page_size"], 3);
        assert_eq!(r.body["pagination_meta"]["total_record_count"], 8);
        let mut all = refs(&r);
        let mut after = r.body["pagination_meta"]["after"]
            .as_str()
            .map(str::to_string);
        while let Some(a) = after {
            let r = get(&s, &format!("/v2/incidents?page_size=3&after={}", a));
            assert_eq!(r.status, 200);
            all.extend(refs(&r));
            after = r.body["pagination_meta"]["after"]
                .as_str()
                .map(str::to_string);
        }
        assert_eq!(
            all,
            vec!["INC-8", "INC-7", "INC-6", "INC-5", "INC-4", "INC-3", "INC-2", "INC-1"]
        );
        let r = get(
            &s,
            "/v2/incidents?page_size=5&sort_by=created_at_oldest_first",
        );
        assert_eq!(refs(&r), vec!["INC-1", "INC-2", "INC-3", "INC-4", "INC-5"]);
        assert_eq!(get(&s, "/v2/incidents?page_size=251").status, 422);
        assert_eq!(get(&s, "/v2/incidents?page_size=0").status, 422);
        assert_eq!(get(&s, "/v2/incidents?after=unknown").status, 422);
    }

    #[test]
    fn status_category_and_created_at_filters() {
        let s = state();
        let r = get(&s, "/v2/incidents?status_category[one_of]=live");
        assert_eq!(refs(&r), vec!["INC-2"]);
        let r = get(
            &s,
            "/v2/incidents?status_category%5Bone_of%5D=closed&status_category%5Bone_of%5D=learning",
        );
        assert_eq!(refs(&r), vec!["INC-4", "INC-1"]);
        let r = get(
            &s,
            "/v2/incidents?status_category[not_in]=declined&status_category[not_in]=merged&status_category[not_in]=canceled&status_category[not_in]=triage",
        );
        assert_eq!(refs(&r), vec!["INC-7", "INC-4", "INC-2", "INC-1"]);
        let r = get(&s, "/v2/incidents?created_at[gte]=2024-03-01T14:00:00Z");
        assert_eq!(refs(&r), vec!["INC-8", "INC-7", "INC-6", "INC-5"]);
        let r = get(&s, "/v2/incidents?created_at[lte]=2024-03-01T10:00:00Z");
        assert_eq!(refs(&r), vec!["INC-1"]);
        let r = get(
            &s,
            "/v2/incidents?created_at[date_range]=2024-03-01~2024-03-01",
        );
        assert_eq!(r.body["pagination_meta"]["total_record_count"], 8);
        let r = get(&s, "/v2/incidents?updated_at[gte]=2024-03-02");
        assert_eq!(refs(&r), vec!["INC-1"]);
        let r = get(
            &s,
            &format!("/v2/incidents?status[one_of]={}", STATUS_CLOSED),
        );
        assert_eq!(refs(&r), vec!["INC-1"]);
        let r = get(&s, "/v2/incidents?mode[one_of]=test");
        assert_eq!(refs(&r), vec!["INC-9"]);
        let r = get(&s, &format!("/v2/incidents?severity[gte]={}", SEV_MAJOR));
        assert_eq!(refs(&r), vec!["INC-2", "INC-1"]);
        let r = get(
            &s,
            &format!(
                "/v2/incidents?custom_field[{}][one_of]={}",
                FIELD_AFFECTED_SERVICES, SERVICE_SEARCH
            ),
        );
        assert_eq!(refs(&r), vec!["INC-2"]);
        let r = get(
            &s,
            &format!(
                "/v2/incidents?filter_mode=any&status_category[one_of]=live&status[one_of]={}",
                STATUS_CLOSED
            ),
        );
        assert_eq!(refs(&r), vec!["INC-2", "INC-1"]);
        assert_eq!(
            get(&s, "/v2/incidents?created_at[gte]=yesterday").status,
            422
        );
        assert_eq!(get(&s, "/v2/incidents?priority[one_of]=x").status, 422);
        assert_eq!(get(&s, "/v2/incidents?foo=bar").status, 422);
    }

    #[test]
    fn incident_shape_carries_status_category_timestamps_severity_and_services() {
        let s = state();
        let r = get(&s, "/v2/incidents?status_category[one_of]=closed");
        let inc = &r.body["incidents"][0];
        assert_eq!(inc["reference"], "INC-1");
        assert_eq!(inc["name"], "Checkout errors after deploy");
        assert_eq!(inc["incident_status"]["category"], "closed");
        assert_eq!(inc["incident_status"]["name"], "Closed");
        assert_eq!(inc["severity"]["name"], "Major");
        assert_eq!(inc["severity"]["rank"], 2);
        assert_eq!(inc["created_at"], "2024-03-01T09:00:00Z");
        assert_eq!(inc["mode"], "standard");
        assert!(inc["permalink"].as_str().unwrap().ends_with("/incidents/1"));
        let tsv = inc["incident_timestamp_values"].as_array().unwrap();
        let value_of = |name: &str| {
            tsv.iter()
                .find(|t| t["incident_timestamp"]["name"] == name)
                .and_then(|t| t.get("value"))
                .map(|v| v["value"].clone())
        };
        assert_eq!(value_of("Resolved at"), Some(json!("2024-03-01T09:40:00Z")));
        assert_eq!(value_of("Reported at"), Some(json!("2024-03-01T09:00:00Z")));
        assert_eq!(value_of("Accepted at"), Some(json!("2024-03-01T09:05:00Z")));
        let entries = inc["custom_field_entries"].as_array().unwrap();
        let services = entries
            .iter()
            .find(|e| e["custom_field"]["name"] == "Affected services")
            .unwrap();
        assert_eq!(services["custom_field"]["field_type"], "multi_select");
        assert_eq!(
            services["values"][0]["value_catalog_entry"]["name"],
            "checkout"
        );
        assert_eq!(
            services["values"][0]["value_catalog_entry"]["id"],
            SERVICE_CHECKOUT
        );
        let deploy = entries
            .iter()
            .find(|e| e["custom_field"]["name"] == "Deployment ID")
            .unwrap();
        assert_eq!(deploy["values"][0]["value_text"], "deploy-42");
        let env = entries
            .iter()
            .find(|e| e["custom_field"]["name"] == "Environment")
            .unwrap();
        assert_eq!(env["values"][0]["value_option"]["value"], "Production");

        // An open incident has no "Resolved at" value.
        let live = get(&s, "/v2/incidents/2");
        assert_eq!(live.body["incident"]["incident_status"]["category"], "live");
        let tsv = live.body["incident"]["incident_timestamp_values"]
            .as_array()
            .unwrap();
        let resolved = tsv
            .iter()
            .find(|t| t["incident_timestamp"]["name"] == "Resolved at")
            .unwrap();
        assert!(resolved.get("value").is_none());
        let names: Vec<&str> = live.body["incident"]["custom_field_entries"][0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["value_catalog_entry"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["search", "payments"]);
        let by_id = get(&s, &format!("/v2/incidents/{}", s.incidents[1].id));
        assert_eq!(by_id.body, live.body);
        assert_eq!(get(&s, "/v2/incidents/999").status, 404);
    }

    #[test]
    fn settings_and_catalog_endpoints() {
        let s = state();
        let r = get(&s, "/v1/incident_statuses");
        let cats: Vec<&str> = r.body["incident_statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["category"].as_str().unwrap())
            .collect();
        for c in [
            "triage", "declined", "merged", "canceled", "live", "learning", "closed", "paused",
        ] {
            assert!(cats.contains(&c), "{}", c);
        }
        assert_eq!(
            get(&s, "/v1/severities").body["severities"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            get(&s, "/v2/incident_timestamps").body["incident_timestamps"][3]["name"],
            "Resolved at"
        );
        let f = get(&s, "/v2/custom_fields");
        assert_eq!(
            f.body["custom_fields"][0]["catalog_type_id"],
            CATALOG_TYPE_SERVICE
        );
        let c = get(
            &s,
            &format!(
                "/v3/catalog_entries?catalog_type_id={}&page_size=2",
                CATALOG_TYPE_SERVICE
            ),
        );
        assert_eq!(c.body["catalog_entries"].as_array().unwrap().len(), 2);
        assert_eq!(c.body["catalog_type"]["name"], "Service");
        let after = c.body["pagination_meta"]["after"]
            .as_str()
            .unwrap()
            .to_string();
        let c2 = get(
            &s,
            &format!(
                "/v3/catalog_entries?catalog_type_id={}&page_size=2&after={}",
                CATALOG_TYPE_SERVICE, after
            ),
        );
        assert_eq!(c2.body["catalog_entries"][0]["name"], "payments");
        assert!(c2.body["pagination_meta"].get("after").is_none());
        assert_eq!(get(&s, "/v3/catalog_entries").status, 422);
    }

    #[test]
    fn rate_limit_fault_is_documented_429() {
        let now = base();
        let r = fault_response(
            Fault::RateLimited {
                retry_after_secs: 2,
            },
            &Req::get("/v2/incidents"),
            now,
        );
        assert_eq!(r.status, 429);
        assert_eq!(r.header("Retry-After"), Some("2"));
        assert_eq!(r.header("X-RateLimit-Remaining"), Some("0"));
        assert_eq!(
            r.header("X-RateLimit-Reset"),
            Some((now.timestamp() + 60).to_string().as_str())
        );
        assert_eq!(r.body["type"], "too_many_requests");
        assert_eq!(r.body["rate_limit"]["retry_after"], "2024-03-01T09:00:02Z");
        assert_eq!(r.body["errors"][0]["code"], "too_many_requests");
        assert_eq!(
            fault_response(Fault::ServerError, &Req::get("/"), now).status,
            500
        );
        assert_eq!(
            fault_response(Fault::BadGateway, &Req::get("/"), now).status,
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
        let mock = IncidentIoMock::start(state()).await;
        let uri = mock.uri();
        let auth = format!("Bearer {}", KEY);
        let path = "/v2/incidents?status_category%5Bone_of%5D=live";
        let (u, a) = (uri.clone(), auth.clone());
        let (status, body) = tokio::task::spawn_blocking(move || raw_get(&u, path, &a))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"reference\":\"INC-2\""));
        assert!(!body.contains("\"reference\":\"INC-1\""));

        // Between two syncs INC-2 gets resolved.
        mock.with_state(|s| {
            let inc = s
                .incidents
                .iter_mut()
                .find(|i| i.reference == "INC-2")
                .unwrap();
            inc.status_id = STATUS_CLOSED.to_string();
            inc.set_timestamp(TS_RESOLVED, base() + Duration::hours(3));
        });
        mock.inject(
            Fault::RateLimited {
                retry_after_secs: 0,
            },
            1,
        );
        let (u, a) = (uri.clone(), auth.clone());
        let (status, body) = tokio::task::spawn_blocking(move || raw_get(&u, path, &a))
            .await
            .unwrap();
        assert_eq!(status, 429);
        assert!(body.contains("too_many_requests"));
        let (u, a) = (uri.clone(), auth.clone());
        let (status, body) = tokio::task::spawn_blocking(move || raw_get(&u, path, &a))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert!(!body.contains("\"reference\":\"INC-2\""));
        assert_eq!(mock.request_count(), 3);
        assert_eq!(mock.requests()[1].status, 429);
    }
}
