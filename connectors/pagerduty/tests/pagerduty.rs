//! PagerDuty connector against a local mock of the REST API v2. Payloads are
//! shaped like the examples of the official OpenAPI description
//! (PagerDuty/api-schema, `GET /incidents` and `GET /incidents/{id}`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use flowmeter_connector::conformance::{self, incidents, run_to_completion};
use flowmeter_connector::{Connector, Cursor, SyncContext};
use flowmeter_model::Event;
use flowmeter_pagerduty::{PagerDutyConfig, PagerDutyConnector, TEST_RETRY_DELAY};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "pd-secret-token-value-123";

type Store = Arc<Mutex<Vec<Value>>>;

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An incident as `GET /incidents` returns it (documented example shape).
fn incident(id: &str, number: u64, created: DateTime<Utc>, service: (&str, &str)) -> Value {
    json!({
        "id": id,
        "type": "incident",
        "summary": format!("[#{number}] The server is on fire."),
        "self": format!("https://api.pagerduty.com/incidents/{id}"),
        "html_url": format!("https://subdomain.pagerduty.com/incidents/{id}"),
        "incident_number": number,
        "title": "The server is on fire.",
        "created_at": rfc(created),
        "updated_at": rfc(created),
        "status": "triggered",
        "incident_key": "baf7cf21b1da41b4b0221008339ff357",
        "service": {
            "id": service.0,
            "type": "service_reference",
            "summary": service.1,
            "self": format!("https://api.pagerduty.com/services/{}", service.0),
            "html_url": format!("https://subdomain.pagerduty.com/service-directory/{}", service.0)
        },
        "assignments": [],
        "assigned_via": "escalation_policy",
        "last_status_change_at": rfc(created),
        "resolved_at": null,
        "first_trigger_log_entry": {
            "id": "Q02JTSNZWHSEKV",
            "type": "trigger_log_entry",
            "summary": "Triggered through the API",
            "created_at": rfc(created),
            "channel": {"type": "api", "summary": "The server is on fire.", "details": {}}
        },
        "alert_counts": {"all": 1, "triggered": 1, "resolved": 0},
        "is_mergeable": true,
        "incident_type": {"name": "incident_default"},
        "escalation_policy": {
            "id": "PT20YPA",
            "type": "escalation_policy_reference",
            "summary": "Another Escalation Policy",
            "self": "https://api.pagerduty.com/escalation_policies/PT20YPA",
            "html_url": "https://subdomain.pagerduty.com/escalation_policies/PT20YPA"
        },
        "teams": [],
        "pending_actions": [],
        "acknowledgements": [],
        "alert_grouping": null,
        "last_status_change_by": null,
        "priority": null,
        "resolve_reason": null,
        "incidents_responders": [],
        "responder_requests": [],
        "urgency": "high"
    })
}

fn resolve(inc: &mut Value, at: DateTime<Utc>) {
    inc["status"] = json!("resolved");
    inc["resolved_at"] = json!(rfc(at));
    inc["last_status_change_at"] = json!(rfc(at));
    inc["updated_at"] = json!(rfc(at));
    inc["acknowledgements"] = json!([]);
}

fn query(req: &Request) -> BTreeMap<String, String> {
    req.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An incident as the API returns it for `req`: its first trigger log
/// entry is a bare reference unless `include[]=first_trigger_log_entries`
/// asks for the entry (both endpoints take that include).
fn as_requested(req: &Request, incident: &Value) -> Value {
    let included = req
        .url
        .query_pairs()
        .any(|(k, v)| k == "include[]" && v == "first_trigger_log_entries");
    let mut out = incident.clone();
    if !included {
        let entry = &incident["first_trigger_log_entry"];
        out["first_trigger_log_entry"] = json!({
            "id": entry["id"],
            "type": "trigger_log_entry_reference",
            "summary": entry["summary"],
            "self": format!("https://api.pagerduty.com/log_entries/{}", entry["id"].as_str().unwrap_or("")),
            "html_url": null
        });
    }
    out
}

/// Mounts `GET /incidents` (filtering by creation time like PagerDuty,
/// paging with limit/offset/more) and `GET /incidents/{id}`.
async fn mount_api(server: &MockServer, store: &Store) {
    let s = store.clone();
    Mock::given(method("GET"))
        .and(path("/incidents"))
        .and(header(
            "authorization",
            format!("Token token={TOKEN}").as_str(),
        ))
        .and(header("accept", "application/vnd.pagerduty+json;version=2"))
        .respond_with(move |req: &Request| {
            let q = query(req);
            assert_eq!(q.get("time_zone").map(String::as_str), Some("UTC"));
            let since = DateTime::parse_from_rfc3339(&q["since"]).unwrap();
            let until = DateTime::parse_from_rfc3339(&q["until"]).unwrap();
            assert!(
                until - since <= Duration::days(180),
                "range over six months"
            );
            let limit: usize = q["limit"].parse().unwrap();
            let offset: usize = q["offset"].parse().unwrap();
            // PagerDuty's classic pagination ends at offset 10,000.
            if offset + limit > 10_000 {
                return ResponseTemplate::new(400).set_body_json(json!({"error": {
                    "message": "Invalid Input Provided", "code": 2001,
                    "errors": ["Offset+limit exceeds maximum allowed value of 10000. Please try to refine your search to reduce the result set, like adding a date range."]
                }}));
            }
            let created = |i: &Value| {
                DateTime::parse_from_rfc3339(i["created_at"].as_str().unwrap()).unwrap()
            };
            let store = s.lock().unwrap();
            let mut all: Vec<(DateTime<chrono::FixedOffset>, &Value)> = store
                .iter()
                .map(|i| (created(i), i))
                .filter(|(c, _)| *c >= since && *c < until)
                .collect();
            match q.get("sort_by").map(String::as_str) {
                Some("created_at:asc" | "created_at") => all.sort_by_key(|(c, _)| *c),
                Some("created_at:desc") => all.sort_by_key(|(c, _)| std::cmp::Reverse(*c)),
                _ => {}
            }
            let all: Vec<&Value> = all.into_iter().map(|(_, i)| i).collect();
            let page: Vec<Value> = (all.iter().skip(offset).take(limit))
                .map(|i| as_requested(req, i))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "incidents": page,
                "limit": limit,
                "offset": offset,
                "more": offset + limit < all.len(),
                "total": null
            }))
        })
        .mount(server)
        .await;
    let s = store.clone();
    Mock::given(method("GET"))
        .and(path_regex(r"^/incidents/[A-Z0-9]+$"))
        .respond_with(move |req: &Request| {
            let id = req.url.path().rsplit('/').next().unwrap().to_string();
            match s.lock().unwrap().iter().find(|i| i["id"] == id.as_str()) {
                Some(i) => ResponseTemplate::new(200)
                    .set_body_json(json!({"incident": as_requested(req, i)})),
                None => ResponseTemplate::new(404)
                    .set_body_json(json!({"error": {"message": "Not Found", "code": 2100}})),
            }
        })
        .mount(server)
        .await;
}

fn config(server: &MockServer) -> PagerDutyConfig {
    PagerDutyConfig {
        api_url: server.uri(),
        token_env: "FLOWMETER_TEST_PD_TOKEN".into(),
        service_map: BTreeMap::from([
            ("PIJ90N7".to_string(), "mail".to_string()),
            ("Checkout API".to_string(), "checkout".to_string()),
        ]),
        ..Default::default()
    }
}

fn connector(server: &MockServer) -> PagerDutyConnector {
    PagerDutyConnector::with_token(config(server), vec!["Payments".into()], TOKEN, |h| {
        h.base_delay(TEST_RETRY_DELAY)
    })
    .unwrap()
}

fn ctx() -> SyncContext {
    SyncContext::since(Utc::now() - Duration::days(45))
}

fn many(n: u64) -> Store {
    many_apart(n, Duration::hours(1))
}

/// `n` incidents `PX0000`, `PX0001`, ... created `apart` from each other
/// (newest first, the first two `apart`s ago), every other one resolved.
fn many_apart(n: u64, apart: Duration) -> Store {
    let now = Utc::now();
    Arc::new(Mutex::new(
        (0..n)
            .map(|i| {
                let mut inc = incident(
                    &format!("PX{i:04}"),
                    1000 + i,
                    now - apart * (2 + i as i32),
                    ("PIJ90N7", "My Mail Service"),
                );
                if i % 2 == 0 {
                    resolve(&mut inc, now - apart * (1 + i as i32));
                }
                inc
            })
            .collect(),
    ))
}

#[tokio::test]
async fn pages_through_several_pages_and_windows() {
    let server = MockServer::start().await;
    // 230 incidents over ~10 days: three pages in one 30-day window, plus a
    // second window (the sync starts 45 days back).
    let store = many(230);
    mount_api(&server, &store).await;
    let mut c = connector(&server);
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let incs = incidents(&batches);
    assert_eq!(incs.len(), 230);
    let ids: std::collections::BTreeSet<_> = incs.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids.len(), 230);
    // window 1 (empty page) + window 2 (3 pages)
    assert_eq!(c.requests(), 4);
    assert_eq!(batches.iter().map(|b| b.requests).sum::<u64>(), 4);
    let resolved = incs.iter().find(|i| i.id == "PX0000").unwrap();
    assert!(resolved.resolved_at.is_some());
    assert_eq!(resolved.services, vec!["mail"]);
    assert_eq!(resolved.source, "pagerduty");
    assert_eq!(resolved.severity.as_deref(), Some("high"));
    assert_eq!(
        resolved.url.as_deref(),
        Some("https://subdomain.pagerduty.com/incidents/PX0000")
    );
    assert_eq!(resolved.extra["incident_number"], 1000);
    assert!(incs
        .iter()
        .find(|i| i.id == "PX0001")
        .unwrap()
        .resolved_at
        .is_none());
}

#[tokio::test]
async fn a_window_of_more_than_10000_incidents_is_read_whole() {
    // 10,050 incidents a minute apart: one 30-day window, past the 10,000
    // offset PagerDuty's pagination allows.
    let store = many_apart(10_050, Duration::minutes(1));
    let server = MockServer::start().await;
    mount_api(&server, &store).await;
    let batches = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    let ids: std::collections::BTreeSet<String> =
        incidents(&batches).into_iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 10_050);
}

#[tokio::test]
async fn maps_priority_acknowledgement_and_deployment_id() {
    let server = MockServer::start().await;
    let now = Utc::now();
    let mut inc = incident(
        "PT4KHLK",
        1234,
        now - Duration::hours(5),
        ("PSVC1", "checkout api"),
    );
    inc["status"] = json!("acknowledged");
    inc["priority"] = json!({"id": "P53ZZH5", "type": "priority_reference", "summary": "P2", "self": "https://api.pagerduty.com/priorities/P53ZZH5"});
    inc["acknowledgements"] = json!([
        {"at": rfc(now - Duration::hours(3)), "acknowledger": {"id": "PXPGF42", "type": "user_reference", "summary": "Earline Greenholt"}},
        {"at": rfc(now - Duration::hours(4)), "acknowledger": {"id": "PXPGF43", "type": "user_reference", "summary": "Other"}}
    ]);
    inc["first_trigger_log_entry"]["channel"]["details"] = json!({"deployment_id": "deploy-42"});
    let store: Store = Arc::new(Mutex::new(vec![inc]));
    mount_api(&server, &store).await;
    let batches = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    let i = &incidents(&batches)[0];
    assert_eq!(i.severity.as_deref(), Some("P2"));
    // Service name matched case-insensitively against service_map keys? No:
    // service_map keys are exact; "checkout api" is not "Checkout API".
    assert_eq!(i.services, vec!["checkout api"]);
    assert_eq!(
        i.acknowledged_at.unwrap().timestamp(),
        (now - Duration::hours(4)).timestamp()
    );
    assert_eq!(i.deployment_id.as_deref(), Some("deploy-42"));
    assert_eq!(i.extra["status"], "acknowledged");
}

#[tokio::test]
async fn incident_resolved_between_syncs_is_upserted() {
    let server = MockServer::start().await;
    let now = Utc::now();
    // Created three days ago: older than the overlap, so only the open-id
    // tracking in the cursor can find its resolution.
    let mut inc = incident(
        "POPEN01",
        77,
        now - Duration::days(3),
        ("PIJ90N7", "My Mail Service"),
    );
    inc["status"] = json!("acknowledged");
    inc["acknowledgements"] = json!([{"at": rfc(now - Duration::days(3) + Duration::minutes(5)), "acknowledger": {"id": "PXPGF42", "type": "user_reference"}}]);
    inc["first_trigger_log_entry"]["channel"]["details"] = json!({"deployment_id": "deploy-7"});
    let store: Store = Arc::new(Mutex::new(vec![
        inc,
        incident(
            "PDONE01",
            78,
            now - Duration::days(3),
            ("PIJ90N7", "My Mail Service"),
        ),
    ]));
    resolve(&mut store.lock().unwrap()[1], now - Duration::days(2));
    mount_api(&server, &store).await;

    let first = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    let incs = incidents(&first);
    assert_eq!(incs.len(), 2);
    let open = incs.iter().find(|i| i.id == "POPEN01").unwrap();
    assert!(open.resolved_at.is_none());
    assert_eq!(open.deployment_id.as_deref(), Some("deploy-7"));
    let acked = open.acknowledged_at.unwrap();
    let cursor = first.last().unwrap().cursor.clone();

    // Nothing changed: the next sync writes nothing.
    let again = run_to_completion(&mut connector(&server), &ctx(), Some(cursor.clone()))
        .await
        .unwrap();
    assert!(incidents(&again).is_empty());

    // Resolved upstream (PagerDuty then empties `acknowledgements`).
    let resolved_at = now - Duration::minutes(10);
    resolve(&mut store.lock().unwrap()[0], resolved_at);
    let second = run_to_completion(&mut connector(&server), &ctx(), Some(cursor))
        .await
        .unwrap();
    let incs = incidents(&second);
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0].id, "POPEN01");
    assert_eq!(
        incs[0].resolved_at.unwrap().timestamp(),
        resolved_at.timestamp()
    );
    assert_eq!(
        incs[0].acknowledged_at,
        Some(acked),
        "ack time kept from the cursor"
    );
    assert_eq!(
        incs[0].deployment_id.as_deref(),
        Some("deploy-7"),
        "the re-read incident still names its deployment"
    );

    // And a third sync has nothing to do and no open incident left.
    let cursor = second.last().unwrap().cursor.clone();
    assert_eq!(cursor.0["open"], json!({}));
    let third = run_to_completion(&mut connector(&server), &ctx(), Some(cursor))
        .await
        .unwrap();
    assert!(incidents(&third).is_empty());
}

#[tokio::test]
async fn retries_after_429_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(path("/incidents"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let store = many(3);
    mount_api(&server, &store).await;
    let c = &mut connector(&server);
    let ctx = SyncContext {
        since: Utc::now() - Duration::days(5),
        full: false,
    };
    let started = std::time::Instant::now();
    let batches = run_to_completion(c, &ctx, None).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(950));
    assert_eq!(incidents(&batches).len(), 3);
    assert_eq!(c.requests(), 2);
}

#[tokio::test]
async fn retries_after_500() {
    let server = MockServer::start().await;
    Mock::given(path("/incidents"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    let store = many(3);
    mount_api(&server, &store).await;
    let c = &mut connector(&server);
    let ctx = SyncContext {
        since: Utc::now() - Duration::days(5),
        full: false,
    };
    let batches = run_to_completion(c, &ctx, None).await.unwrap();
    assert_eq!(incidents(&batches).len(), 3);
    assert_eq!(c.requests(), 3);
}

#[tokio::test]
async fn unauthorized_names_the_env_var_and_hides_the_token() {
    let server = MockServer::start().await;
    Mock::given(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"message": "Unauthorized", "code": 2006}})),
        )
        .mount(&server)
        .await;
    let mut c = connector(&server);
    let err = c.next_batch(&ctx(), None).await.unwrap_err();
    let var = "FLOWMETER_TEST_PD_TOKEN";
    conformance::check_unauthorized(&err, "pagerduty", var, "GET /incidents", TOKEN).unwrap();
}

#[tokio::test]
async fn unmapped_services_are_reported_in_notes() {
    let server = MockServer::start().await;
    let now = Utc::now();
    let store: Store = Arc::new(Mutex::new(vec![
        incident(
            "PA1",
            1,
            now - Duration::hours(9),
            ("PIJ90N7", "My Mail Service"),
        ),
        incident("PA2", 2, now - Duration::hours(8), ("PZZ1", "Checkout API")),
        incident("PA3", 3, now - Duration::hours(7), ("PZZ2", "PAYMENTS")),
        incident(
            "PA4",
            4,
            now - Duration::hours(6),
            ("PZZ3", "Legacy Billing"),
        ),
        incident(
            "PA5",
            5,
            now - Duration::hours(5),
            ("PZZ3", "Legacy Billing"),
        ),
    ]));
    mount_api(&server, &store).await;
    let report = conformance::check(|| connector(&server), &ctx())
        .await
        .unwrap();
    let services: Vec<_> = report
        .events
        .iter()
        .map(|e| match e {
            Event::Incident(i) => i.services[0].clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        services,
        [
            "mail",
            "checkout",
            "Payments",
            "Legacy Billing",
            "Legacy Billing"
        ]
    );
    assert_eq!(
        report.notes,
        ["unmapped PagerDuty service `Legacy Billing`"]
    );
}

#[tokio::test]
async fn passes_the_conformance_harness() {
    let server = MockServer::start().await;
    let store = many(150);
    mount_api(&server, &store).await;
    let report = conformance::check(|| connector(&server), &ctx())
        .await
        .unwrap();
    assert_eq!(report.events.len(), 150);
    assert!(report.batches >= 3);
}

#[tokio::test]
async fn full_sync_ignores_the_cursor() {
    let server = MockServer::start().await;
    let store = many(4);
    mount_api(&server, &store).await;
    let first = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    let cursor: Cursor = first.last().unwrap().cursor.clone();
    let full = SyncContext {
        full: true,
        ..ctx()
    };
    let again = run_to_completion(&mut connector(&server), &full, Some(cursor))
        .await
        .unwrap();
    assert_eq!(incidents(&again).len(), 4);
}

/// `resolve_reason` as PagerDuty sets it on the incidents merged into
/// `into` ("The reason the incident was resolved. The only reason
/// currently supported is merge.").
fn merge_into(inc: &mut Value, into: &str, at: DateTime<Utc>) {
    resolve(inc, at);
    inc["resolve_reason"] = json!({
        "type": "merge_resolve_reason",
        "incident": {
            "id": into,
            "type": "incident_reference",
            "summary": "[#80] The server is on fire.",
            "self": format!("https://api.pagerduty.com/incidents/{into}"),
            "html_url": format!("https://subdomain.pagerduty.com/incidents/{into}")
        }
    });
}

fn withdrawn(batches: &[flowmeter_connector::SyncBatch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.withdrawn.clone()).collect()
}

/// An incident merged into another is no outage of its own: withdrawn
/// when listed merged, and when an open one is merged between syncs. An
/// open incident that is gone when re-read (deleted) is withdrawn too:
/// its last copy would stay open for good.
#[tokio::test]
async fn merged_and_deleted_incidents_are_withdrawn() {
    let server = MockServer::start().await;
    let now = Utc::now();
    let svc = ("PIJ90N7", "My Mail Service");
    let mut merged = incident("PMRG01", 79, now - Duration::hours(2), svc);
    merge_into(&mut merged, "PKEEP01", now - Duration::hours(1));
    let store: Store = Arc::new(Mutex::new(vec![
        incident("PKEEP01", 80, now - Duration::days(3), svc),
        incident("PGONE01", 81, now - Duration::days(3), svc),
        incident("PLATE01", 82, now - Duration::days(3), svc),
        merged,
    ]));
    mount_api(&server, &store).await;

    let first = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    let mut ids: Vec<String> = incidents(&first).into_iter().map(|i| i.id).collect();
    ids.sort();
    assert_eq!(ids, ["PGONE01", "PKEEP01", "PLATE01"]);
    assert_eq!(withdrawn(&first), ["PMRG01"]);
    let cursor = first.last().unwrap().cursor.clone();

    // Between syncs: one open incident is deleted, another merged.
    {
        let mut s = store.lock().unwrap();
        s.retain(|i| i["id"] != "PGONE01");
        let late = s.iter_mut().find(|i| i["id"] == "PLATE01").unwrap();
        merge_into(late, "PKEEP01", now - Duration::minutes(5));
    }
    let second = run_to_completion(&mut connector(&server), &ctx(), Some(cursor))
        .await
        .unwrap();
    assert!(incidents(&second).is_empty(), "{:?}", incidents(&second));
    let mut gone = withdrawn(&second);
    gone.sort();
    assert_eq!(gone, ["PGONE01", "PLATE01"], "the merged one is said once");
    let cursor = second.last().unwrap().cursor.clone();
    assert_eq!(cursor.0["open"], json!({"PKEEP01": null}));
}

/// A sync that re-reads the open incidents and then fails to list (a
/// wrong URL answers 404 to everything) withdraws none of them: an
/// incident gone when re-read is withdrawn only when the run completes.
#[tokio::test]
async fn a_failing_sync_withdraws_no_open_incident() {
    let server = MockServer::start().await;
    let now = Utc::now();
    let svc = ("PIJ90N7", "My Mail Service");
    let store: Store = Arc::new(Mutex::new(vec![incident(
        "POPEN02",
        90,
        now - Duration::days(3),
        svc,
    )]));
    mount_api(&server, &store).await;
    let first = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    let cursor = first.last().unwrap().cursor.clone();
    // The same sync against a server that knows no path.
    let wrong = MockServer::start().await;
    let mut c = connector(&wrong);
    let (mut withdrawn, mut batches) = (Vec::new(), 0);
    let mut at = Some(cursor);
    let failed = loop {
        match c.next_batch(&ctx(), at.as_ref()).await {
            Ok(Some(batch)) => {
                batches += 1;
                withdrawn.extend(batch.withdrawn);
                at = Some(batch.cursor);
            }
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(
        failed && batches > 0,
        "the re-read went through, the listing failed"
    );
    assert!(withdrawn.is_empty(), "{withdrawn:?}");
}
