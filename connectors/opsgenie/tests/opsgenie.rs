//! Opsgenie connector against a local mock of the Incident API. Payloads are
//! shaped like documented Opsgenie responses (`data`, `paging`, `took`,
//! `requestId`; incidents with `impactedServices` ids, `links`,
//! `impactStartDate`/`impactEndDate`, `extraProperties`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use flowmeter_connector::conformance::{self, incidents, run_to_completion};
use flowmeter_connector::{Connector, SyncContext};
use flowmeter_opsgenie::{OpsgenieConfig, OpsgenieConnector, TEST_RETRY_DELAY};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "og-secret-key-eb243592-faa2";
const SVC_CHECKOUT: &str = "daa0d66f-ad35-4396-b30d-70f0314c697a";
const SVC_SEARCH: &str = "59591948-d418-4bb9-af16-170d6b232b7d";
const SVC_LEGACY: &str = "11111111-2222-4333-8444-555555555555";

type Store = Arc<Mutex<Vec<Value>>>;

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn incident(id: &str, tiny: u64, created: DateTime<Utc>, services: &[&str]) -> Value {
    json!({
        "id": id,
        "description": "summary",
        "impactedServices": services,
        "tinyId": tiny.to_string(),
        "message": format!("Incident {tiny}"),
        "status": "open",
        "tags": ["prod"],
        "createdAt": rfc(created),
        "updatedAt": rfc(created),
        "priority": "P3",
        "ownerTeam": "",
        "responders": [{"type": "team", "id": "63374eee-0b03-42d4-bb8c-50d1fa64827c"}],
        "extraProperties": {},
        "links": {
            "web": format!("https://acme.app.opsgenie.com/incident/detail/{id}"),
            "api": format!("https://api.opsgenie.com/v1/incidents/{id}")
        },
        "impactStartDate": rfc(created),
        "actions": []
    })
}

fn resolve(inc: &mut Value, at: DateTime<Utc>) {
    inc["status"] = json!("resolved");
    inc["impactEndDate"] = json!(rfc(at));
    inc["updatedAt"] = json!(rfc(at + Duration::minutes(3)));
}

fn query(req: &Request) -> BTreeMap<String, String> {
    req.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn envelope(data: Value, next: Option<String>) -> Value {
    let mut v =
        json!({"data": data, "took": 0.02, "requestId": "37daec35-2d65-4612-b568-711068e806a4"});
    if let Some(n) = next {
        v["paging"] = json!({"next": n, "first": "https://api.opsgenie.com/v1/incidents?offset=0"});
    }
    v
}

async fn mount_api(server: &MockServer, store: &Store) {
    Mock::given(method("GET"))
        .and(path("/v1/services"))
        .and(header("authorization", format!("GenieKey {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(
            json!([
                {"id": SVC_CHECKOUT, "name": "Checkout Service", "description": "", "teamId": "63374eee-0b03-42d4-bb8c-50d1fa64827c", "tags": [], "links": {"web": "https://acme.app.opsgenie.com/service/x/status", "api": "https://api.opsgenie.com/v1/services/x"}, "isExternal": false},
                {"id": SVC_SEARCH, "name": "search", "description": "", "teamId": "63374eee-0b03-42d4-bb8c-50d1fa64827c", "tags": [], "links": {"web": "", "api": ""}, "isExternal": false},
                {"id": SVC_LEGACY, "name": "Legacy Billing", "description": "", "teamId": "63374eee-0b03-42d4-bb8c-50d1fa64827c", "tags": [], "links": {"web": "", "api": ""}, "isExternal": false}
            ]),
            None,
        )))
        .mount(server)
        .await;
    let s = store.clone();
    Mock::given(method("GET"))
        .and(path("/v1/incidents"))
        .and(header(
            "authorization",
            format!("GenieKey {TOKEN}").as_str(),
        ))
        .respond_with(move |req: &Request| {
            let q = query(req);
            assert_eq!(q["sort"], "createdAt");
            assert_eq!(q["order"], "asc");
            let after: i64 = q["query"]
                .strip_prefix("createdAt>")
                .unwrap()
                .parse()
                .unwrap();
            let limit: usize = q["limit"].parse().unwrap();
            let offset: usize = q["offset"].parse().unwrap();
            let mut all: Vec<Value> = s
                .lock()
                .unwrap()
                .iter()
                .filter(|i| {
                    DateTime::parse_from_rfc3339(i["createdAt"].as_str().unwrap())
                        .unwrap()
                        .timestamp_millis()
                        > after
                })
                .cloned()
                .collect();
            all.sort_by_key(|i| i["createdAt"].as_str().unwrap().to_string());
            let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
            let next = (offset + limit < all.len()).then(|| {
                format!(
                    "https://api.opsgenie.com/v1/incidents?offset={}&limit={limit}",
                    offset + limit
                )
            });
            ResponseTemplate::new(200).set_body_json(envelope(json!(page), next))
        })
        .mount(server)
        .await;
    let s = store.clone();
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/incidents/[0-9a-f-]+$"))
        .respond_with(move |req: &Request| {
            assert_eq!(
                query(req).get("identifierType").map(String::as_str),
                Some("id")
            );
            let id = req.url.path().rsplit('/').next().unwrap().to_string();
            match s.lock().unwrap().iter().find(|i| i["id"] == id.as_str()) {
                Some(i) => ResponseTemplate::new(200).set_body_json(envelope(i.clone(), None)),
                None => ResponseTemplate::new(404).set_body_json(
                    json!({"message": "Could not find incident", "took": 0.01, "requestId": "x"}),
                ),
            }
        })
        .mount(server)
        .await;
}

fn connector(server: &MockServer) -> OpsgenieConnector {
    let cfg = OpsgenieConfig {
        api_url: server.uri(),
        token_env: "FLOWMETER_TEST_OG_TOKEN".into(),
        service_map: BTreeMap::from([("Checkout Service".to_string(), "checkout".to_string())]),
        ..Default::default()
    };
    OpsgenieConnector::with_token(cfg, vec!["Search".into()], TOKEN, |h| {
        h.base_delay(TEST_RETRY_DELAY)
    })
    .unwrap()
}

fn ctx() -> SyncContext {
    SyncContext::since(Utc::now() - Duration::days(30))
}

fn uuid(i: u64) -> String {
    format!("4a0c5e6d-b239-4cd9-a7e8-{i:012x}")
}

fn many(n: u64) -> Store {
    let now = Utc::now();
    Arc::new(Mutex::new(
        (0..n)
            .map(|i| {
                let mut inc = incident(
                    &uuid(i),
                    i + 1,
                    now - Duration::hours(2 + i as i64),
                    &[SVC_CHECKOUT],
                );
                if i % 2 == 0 {
                    resolve(&mut inc, now - Duration::hours(1 + i as i64));
                }
                inc
            })
            .collect(),
    ))
}

#[tokio::test]
async fn pages_through_several_pages() {
    let server = MockServer::start().await;
    let store = many(230);
    mount_api(&server, &store).await;
    let mut c = connector(&server);
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let incs = incidents(&batches);
    assert_eq!(incs.len(), 230);
    // services + 3 incident pages
    assert_eq!(c.requests(), 4);
    let first = incs.iter().find(|i| i.id == uuid(0)).unwrap();
    assert_eq!(first.services, vec!["checkout"]);
    assert_eq!(first.severity.as_deref(), Some("P3"));
    assert_eq!(first.title.as_deref(), Some("Incident 1"));
    assert_eq!(first.source, "opsgenie");
    assert!(first.resolved_at.is_some());
    assert_eq!(first.extra["tiny_id"], "1");
    assert_eq!(
        first.url.as_deref(),
        Some(format!("https://acme.app.opsgenie.com/incident/detail/{}", uuid(0)).as_str())
    );
    assert!(incs
        .iter()
        .find(|i| i.id == uuid(1))
        .unwrap()
        .resolved_at
        .is_none());
}

#[tokio::test]
async fn maps_resolution_services_and_deployment_id() {
    let server = MockServer::start().await;
    let now = Utc::now();
    let mut a = incident(
        &uuid(1),
        1,
        now - Duration::hours(5),
        &[SVC_CHECKOUT, SVC_SEARCH],
    );
    a["extraProperties"] = json!({"deployment_id": "deploy-7", "team": "core"});
    resolve(&mut a, now - Duration::hours(4));
    // Regression: resolved 2h30 after creation, closed a day later and
    // noted since: `updatedAt` is the note, not the resolution. The list
    // item has no `impactEndDate`; the timeline's `IncidentResolved` says.
    let resolved = now - Duration::hours(30);
    let mut b = incident(&uuid(2), 2, now - Duration::hours(33), &[SVC_SEARCH]);
    b["status"] = json!("closed");
    b["updatedAt"] = json!(rfc(now - Duration::hours(2)));
    // Closed, no impact end, and neither timeline nor log says when it was
    // resolved: no resolution time rather than a guess.
    let mut c = incident(&uuid(3), 3, now - Duration::hours(3), &[SVC_SEARCH]);
    c["status"] = json!("resolved");
    c["updatedAt"] = json!(rfc(now - Duration::hours(1)));
    Mock::given(method("GET"))
        .and(path(format!("/v2/incident-timelines/{}/entries", uuid(2))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"entries": [
                {"id": "IncidentCreated_1", "group": "incident", "type": "IncidentCreated",
                 "eventTime": rfc(now - Duration::hours(33)), "hidden": false,
                 "actor": {"name": "Jane", "type": "user"},
                 "title": {"type": "plain_text", "content": "Incident created"}},
                {"id": "IncidentResolved_7b69927f", "group": "incident", "type": "IncidentResolved",
                 "eventTime": rfc(resolved), "hidden": false,
                 "actor": {"name": "Jane", "type": "user"},
                 "title": {"type": "plain_text", "content": "Incident resolved"}},
                {"id": "IncidentClosed_1", "group": "incident", "type": "IncidentClosed",
                 "eventTime": rfc(now - Duration::hours(6)), "hidden": false,
                 "actor": {"name": "Jane", "type": "user"},
                 "title": {"type": "plain_text", "content": "Incident closed"}},
                {"id": "CustomUserEntry_1", "group": "custom", "type": "CustomUserEntry",
                 "eventTime": rfc(now - Duration::hours(2)), "hidden": false,
                 "actor": {"name": "Jane", "type": "user"},
                 "title": {"type": "plain_text", "content": "Postmortem scheduled"}}
            ]},
            "took": 0.01, "requestId": "9ae63dd7-ed00-4c81-86f0-c4ffd33142c9"
        })))
        .mount(&server)
        .await;
    let store: Store = Arc::new(Mutex::new(vec![a, b, c]));
    mount_api(&server, &store).await;
    let batches = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    let incs = incidents(&batches);
    let inc = |id: &str| incs.iter().find(|i| i.id == id).unwrap();
    assert_eq!(inc(&uuid(1)).services, vec!["checkout", "Search"]);
    assert_eq!(inc(&uuid(1)).deployment_id.as_deref(), Some("deploy-7"));
    assert_eq!(
        inc(&uuid(1)).resolved_at.unwrap().timestamp(),
        (now - Duration::hours(4)).timestamp()
    );
    assert_eq!(
        inc(&uuid(2)).resolved_at.unwrap().timestamp(),
        resolved.timestamp(),
        "the timeline's resolution, not updatedAt"
    );
    assert_eq!(
        inc(&uuid(3)).resolved_at,
        None,
        "never guessed from updatedAt"
    );
    let notes: Vec<String> = batches.iter().flat_map(|b| b.notes.clone()).collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("resolution time"), "{notes:?}");
}

#[tokio::test]
async fn incident_resolved_between_syncs_is_upserted() {
    let server = MockServer::start().await;
    let now = Utc::now();
    let store: Store = Arc::new(Mutex::new(vec![
        incident(&uuid(1), 1, now - Duration::days(3), &[SVC_CHECKOUT]),
        incident(
            &uuid(2),
            2,
            now - Duration::days(3) + Duration::hours(1),
            &[SVC_CHECKOUT],
        ),
    ]));
    resolve(&mut store.lock().unwrap()[1], now - Duration::days(2));
    mount_api(&server, &store).await;
    let first = run_to_completion(&mut connector(&server), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(incidents(&first).len(), 2);
    let cursor = first.last().unwrap().cursor.clone();

    let idle = run_to_completion(&mut connector(&server), &ctx(), Some(cursor.clone()))
        .await
        .unwrap();
    assert!(incidents(&idle).is_empty());

    let at = now - Duration::minutes(5);
    resolve(&mut store.lock().unwrap()[0], at);
    let second = run_to_completion(&mut connector(&server), &ctx(), Some(cursor))
        .await
        .unwrap();
    let incs = incidents(&second);
    assert_eq!(incs.len(), 1);
    assert_eq!(incs[0].id, uuid(1));
    assert_eq!(
        incs[0].resolved_at.unwrap().timestamp_millis(),
        at.timestamp_millis()
    );
    assert_eq!(second.last().unwrap().cursor.0["open"], json!({}));
}

#[tokio::test]
async fn retries_after_429_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/incidents"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_api(&server, &many(3)).await;
    let c = &mut connector(&server);
    let t = std::time::Instant::now();
    let batches = run_to_completion(c, &ctx(), None).await.unwrap();
    assert!(t.elapsed() >= std::time::Duration::from_millis(950));
    assert_eq!(incidents(&batches).len(), 3);
    assert_eq!(c.requests(), 3);
}

#[tokio::test]
async fn retries_after_500() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/incidents"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_api(&server, &many(3)).await;
    let c = &mut connector(&server);
    let batches = run_to_completion(c, &ctx(), None).await.unwrap();
    assert_eq!(incidents(&batches).len(), 3);
    assert_eq!(c.requests(), 3);
}

#[tokio::test]
async fn unauthorized_names_the_env_var_and_hides_the_key() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/services"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"message": "Could not authenticate", "took": 0.0, "requestId": "x"}),
        ))
        .mount(&server)
        .await;
    let err = connector(&server)
        .next_batch(&ctx(), None)
        .await
        .unwrap_err();
    let var = "FLOWMETER_TEST_OG_TOKEN";
    conformance::check_unauthorized(&err, "opsgenie", var, "GET /v1/services", TOKEN).unwrap();
}

#[tokio::test]
async fn unmapped_services_are_reported_and_conformance_passes() {
    let server = MockServer::start().await;
    let now = Utc::now();
    let store: Store = Arc::new(Mutex::new(vec![
        incident(&uuid(1), 1, now - Duration::hours(9), &[SVC_LEGACY]),
        incident(
            &uuid(2),
            2,
            now - Duration::hours(8),
            &[SVC_LEGACY, SVC_CHECKOUT],
        ),
        incident(&uuid(3), 3, now - Duration::hours(7), &[]),
    ]));
    mount_api(&server, &store).await;
    let report = conformance::check(|| connector(&server), &ctx())
        .await
        .unwrap();
    assert_eq!(report.events.len(), 3);
    assert_eq!(
        report.notes,
        [
            "unmapped Opsgenie service `Legacy Billing`".to_string(),
            "Opsgenie incident `3` names no impacted service; stored as service `unknown`"
                .to_string()
        ]
    );
}

#[tokio::test]
async fn passes_the_conformance_harness() {
    let server = MockServer::start().await;
    mount_api(&server, &many(150)).await;
    let report = conformance::check(|| connector(&server), &ctx())
        .await
        .unwrap();
    assert_eq!(report.events.len(), 150);
}

#[test]
fn config_defaults_and_eu_url() {
    let cfg: OpsgenieConfig = serde_json::from_value(json!({"service_map": {"a": "b"}})).unwrap();
    assert_eq!(cfg.api_url, "https://api.opsgenie.com");
    assert_eq!(cfg.token_env, "OPSGENIE_TOKEN");
    assert_eq!(cfg.source_name(), "opsgenie");
    assert_eq!(
        flowmeter_opsgenie::EU_API_URL,
        "https://api.eu.opsgenie.com"
    );
}

/// Against `flowmeter_testkit::opsgenie`, a mock built from Opsgenie's
/// documentation: the realistic incident resolved at R without
/// `impactEndDate`, closed a day later and noted two days after that
/// (`updatedAt` = the note). Before the fix its resolution was `updatedAt`,
/// three days late.
#[tokio::test]
async fn resolution_comes_from_the_timeline_not_updated_at() {
    use flowmeter_testkit::opsgenie::{OpsgenieMock, State as OgState};
    let base = whole_seconds(Utc::now() - Duration::days(5));
    let mock = OpsgenieMock::start(OgState::example(TOKEN, base)).await;
    let cfg = OpsgenieConfig {
        api_url: mock.uri(),
        token_env: "FLOWMETER_TEST_OG_TOKEN".into(),
        ..OpsgenieConfig::default()
    };
    let mut c =
        OpsgenieConnector::with_token(cfg, vec![], TOKEN, |h| h.base_delay(TEST_RETRY_DELAY))
            .unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let incs = incidents(&batches);
    let resolved = incs.iter().find(|i| i.id == "inc-resolved").unwrap();
    assert_eq!(resolved.resolved_at, Some(base + Duration::minutes(40)));
    assert_eq!(resolved.deployment_id.as_deref(), Some("deploy-42"));
    let with_end = incs.iter().find(|i| i.id == "inc-with-end").unwrap();
    assert_eq!(with_end.resolved_at, Some(base + Duration::hours(4)));
    assert_eq!(
        incs.iter()
            .find(|i| i.id == "inc-open")
            .unwrap()
            .resolved_at,
        None
    );
}

/// A time without fractions of a second (APIs send whole seconds or millis).
fn whole_seconds(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}
