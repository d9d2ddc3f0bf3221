//! The Jira Service Management connector against `flowmeter_testkit::jsm`,
//! a mock of Jira's search API and JSM's incident work items built from
//! Atlassian's documentation. No network.

use chrono::{Duration, Utc};
use flowmeter_connector::conformance::{self, incidents, run_to_completion};
use flowmeter_connector::{Connector, ConnectorError, Cursor, SyncBatch, SyncContext};
use flowmeter_jsm::{JsmConfig, JsmConnector};
use flowmeter_testkit::jsm::{Fault, JsmMock, State};

const EMAIL: &str = "flowmeter@example.com";
const TOKEN: &str = "ATATT3xFfGF0-jsm-test-token";

fn connector(mock: &JsmMock, token: &str) -> JsmConnector {
    let config = JsmConfig {
        site_url: mock.uri(),
        project: "ITSM".into(),
        services_field: "customfield_10003".into(),
        deployment_field: Some("customfield_10050".into()),
        service_map: [(
            "b9f5c2a4-6d7e-4f1a-9c3b-1a2b3c4d5e6f".to_string(),
            "checkout".to_string(),
        )]
        .into(),
        ..Default::default()
    };
    JsmConnector::with_credentials(config, vec![], EMAIL, token, |h| {
        h.base_delay(std::time::Duration::from_millis(2))
    })
    .unwrap()
}

fn ctx() -> SyncContext {
    SyncContext::since(Utc::now() - Duration::days(30))
}

/// A sync to its end from `cursor` (none: the first); its batches.
async fn sync(mock: &JsmMock, cursor: Option<Cursor>) -> Vec<SyncBatch> {
    run_to_completion(&mut connector(mock, TOKEN), &ctx(), cursor)
        .await
        .unwrap()
}

#[tokio::test]
async fn maps_work_items_of_type_incident() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = JsmMock::start(State::example(EMAIL, TOKEN, base)).await;
    let batches = sync(&mock, None).await;
    let incs = incidents(&batches);
    assert_eq!(incs.len(), 3, "{incs:?}");
    let one = incs.iter().find(|i| i.id == "ITSM-1").unwrap();
    assert_eq!(
        one.resolved_at,
        Some(base + Duration::minutes(40)),
        "resolutiondate, not updated"
    );
    assert_eq!(one.services, vec!["checkout"], "mapped by service id");
    assert_eq!(one.severity.as_deref(), Some("High"));
    assert_eq!(one.deployment_id.as_deref(), Some("deploy-42"));
    assert!(one.url.as_deref().unwrap().ends_with("/browse/ITSM-1"));
    let two = incs.iter().find(|i| i.id == "ITSM-2").unwrap();
    assert_eq!(two.resolved_at, None, "in progress");
    for e in batches.iter().flat_map(|b| b.events.iter()) {
        conformance::check_event(e, "jsm").unwrap();
    }
}

#[tokio::test]
async fn an_open_incident_resolved_later_is_updated() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = JsmMock::start(State::example(EMAIL, TOKEN, base)).await;
    let first = sync(&mock, None).await;
    let cursor = first.last().unwrap().cursor.clone();
    let resolved = whole_seconds(Utc::now() - Duration::hours(2));
    mock.with_state(|s| {
        s.incidents
            .iter_mut()
            .find(|i| i.key == "ITSM-2")
            .unwrap()
            .resolve(resolved)
    });
    let second = sync(&mock, Some(cursor)).await;
    let incs = incidents(&second);
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0].id, "ITSM-2");
    assert_eq!(incs[0].resolved_at, Some(resolved));
}

#[tokio::test]
async fn an_incident_edited_after_it_resolved_is_read_again() {
    // ITSM-3 resolved days ago; the review names the deployment later.
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = JsmMock::start(State::example(EMAIL, TOKEN, base)).await;
    let first = sync(&mock, None).await;
    let cursor = first.last().unwrap().cursor.clone();
    mock.with_state(|s| {
        let three = s.incidents.iter_mut().find(|i| i.key == "ITSM-3").unwrap();
        three.custom_fields.insert(
            "customfield_10050".to_string(),
            serde_json::json!("deploy-77"),
        );
        three.updated = whole_seconds(Utc::now());
    });
    let second = sync(&mock, Some(cursor)).await;
    let incs = incidents(&second);
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0].id, "ITSM-3");
    assert_eq!(incs[0].deployment_id.as_deref(), Some("deploy-77"));
}

#[tokio::test]
async fn errors_name_the_variable_and_rate_limits_are_waited_out() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = JsmMock::start(State::example(EMAIL, TOKEN, base)).await;
    mock.inject(
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    let ok = sync(&mock, None).await;
    assert_eq!(incidents(&ok).len(), 3);
    let err = connector(&mock, "wrong")
        .next_batch(&ctx(), None)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("JSM_API_TOKEN"), "{err}");
}

#[tokio::test]
async fn passes_the_conformance_harness() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = JsmMock::start(State::example(EMAIL, TOKEN, base)).await;
    let report = conformance::check(|| connector(&mock, TOKEN), &ctx())
        .await
        .unwrap();
    assert_eq!(report.events.len(), 3);
}

/// A time without fractions of a second (APIs send whole seconds or millis).
fn whole_seconds(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

/// A work item reopened by a workflow that leaves its resolution (and its
/// resolution date) set is open again: no restore time from the old date.
#[tokio::test]
async fn a_reopened_incident_that_keeps_its_resolution_is_open() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = JsmMock::start(State::example(EMAIL, TOKEN, base)).await;
    let first = sync(&mock, None).await;
    let resolved = incidents(&first)
        .into_iter()
        .find(|i| i.id == "ITSM-1")
        .unwrap();
    assert!(resolved.resolved_at.is_some());
    let cursor = first.last().unwrap().cursor.clone();
    mock.with_state(|s| {
        let one = s.incidents.iter_mut().find(|i| i.key == "ITSM-1").unwrap();
        one.status_id = "3".to_string();
        one.status_name = "In Progress".to_string();
        one.status_category = flowmeter_testkit::jsm::StatusCategory::InProgress;
        one.updated = Utc::now();
        assert!(one.resolution_date.is_some(), "kept by the workflow");
    });
    let second = sync(&mock, Some(cursor)).await;
    let reopened = incidents(&second)
        .into_iter()
        .find(|i| i.id == "ITSM-1")
        .unwrap();
    assert_eq!(reopened.resolved_at, None);
}

/// A workflow that moves a work item to Done without setting a resolution
/// leaves `resolutiondate` empty: it was resolved when its status moved to
/// Done (`statuscategorychangedate`), not left open for good.
#[tokio::test]
async fn an_incident_done_without_a_resolution_resolves_when_it_moved_to_done() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = JsmMock::start(State::example(EMAIL, TOKEN, base)).await;
    let done = whole_seconds(Utc::now() - Duration::hours(5));
    mock.with_state(|s| {
        let two = s.incidents.iter_mut().find(|i| i.key == "ITSM-2").unwrap();
        two.resolve(done);
        two.resolution_date = None;
        two.resolution = None;
    });
    let batches = sync(&mock, None).await;
    let two = incidents(&batches)
        .into_iter()
        .find(|i| i.id == "ITSM-2")
        .unwrap();
    assert_eq!(two.resolved_at, Some(done));
    let notes: Vec<&String> = batches.iter().flat_map(|b| b.notes.iter()).collect();
    assert!(notes.iter().all(|n| !n.contains("ITSM-2")), "{notes:?}");
}
