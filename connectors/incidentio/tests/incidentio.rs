//! The incident.io connector against `flowmeter_testkit::incidentio`, a mock
//! of the API v2 built from incident.io's documentation. No network.

use chrono::{Duration, Utc};
use flowmeter_connector::conformance::{self, incidents, run_to_completion};
use flowmeter_connector::{Connector, ConnectorError, Cursor, SyncBatch, SyncContext};
use flowmeter_incidentio::{IncidentIoConfig, IncidentIoConnector};
use flowmeter_testkit::incidentio::{ids, Fault, Incident, IncidentIoMock, State};

const KEY: &str = "inc-io-test-key-s3cr3t";

fn connector(mock: &IncidentIoMock, key: &str) -> IncidentIoConnector {
    let config = IncidentIoConfig {
        api_url: mock.uri(),
        ..IncidentIoConfig::default()
    };
    IncidentIoConnector::with_token(config, vec!["Checkout".into()], key, |h| {
        h.base_delay(std::time::Duration::from_millis(2))
    })
    .unwrap()
}

fn ctx() -> SyncContext {
    SyncContext::since(Utc::now() - Duration::days(30))
}

/// Edits the mock's incident `reference` (updated now, unless `edit` says
/// otherwise), as a responder would between two syncs.
fn edit(mock: &IncidentIoMock, reference: &str, edit: impl FnOnce(&mut Incident)) {
    mock.with_state(|s| {
        let i = (s.incidents.iter_mut())
            .find(|i| i.reference == reference)
            .unwrap();
        i.updated_at = whole_seconds(Utc::now());
        edit(i);
    });
}

/// A sync to its end from `cursor` (none: the first); its batches.
async fn sync(mock: &IncidentIoMock, cursor: Option<Cursor>) -> Vec<SyncBatch> {
    run_to_completion(&mut connector(mock, KEY), &ctx(), cursor)
        .await
        .unwrap()
}

#[tokio::test]
async fn maps_times_services_severity_and_skips_non_incidents() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = IncidentIoMock::start(State::example(KEY, base)).await;
    let batches = sync(&mock, None).await;
    let incs = incidents(&batches);
    let by_ref = |r: &str| {
        incs.iter()
            .find(|i| i.extra["reference"] == r)
            .unwrap_or_else(|| panic!("{r} missing from {incs:?}"))
    };
    let one = by_ref("INC-1");
    assert_eq!(
        one.resolved_at,
        Some(base + Duration::minutes(40)),
        "the Resolved at timestamp, not closed/updated"
    );
    assert_eq!(one.acknowledged_at, Some(base + Duration::minutes(5)));
    assert_eq!(
        one.services,
        vec!["Checkout"],
        "matched to a known service by name"
    );
    assert_eq!(one.deployment_id.as_deref(), Some("deploy-42"));
    assert_eq!(one.severity.as_deref(), Some("Major"));
    let two = by_ref("INC-2");
    assert_eq!(two.resolved_at, None, "live");
    assert_eq!(two.services, vec!["search", "payments"]);
    assert_eq!(
        by_ref("INC-4").resolved_at,
        Some(base + Duration::hours(5) + Duration::minutes(30)),
        "post-incident (learning) is resolved"
    );
    for r in ["INC-3", "INC-5", "INC-6", "INC-9"] {
        assert!(
            incs.iter().all(|i| i.extra["reference"] != r),
            "{r} is declined, merged, canceled or a test"
        );
    }
    for e in batches.iter().flat_map(|b| b.events.iter()) {
        conformance::check_event(e, "incidentio").unwrap();
    }
}

#[tokio::test]
async fn an_open_incident_resolved_later_is_updated_and_nothing_else_is_sent_again() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = IncidentIoMock::start(State::example(KEY, base)).await;
    let first = sync(&mock, None).await;
    let cursor = first.last().unwrap().cursor.clone();
    let idle = sync(&mock, Some(cursor.clone())).await;
    assert!(incidents(&idle).is_empty(), "nothing changed upstream");

    let resolved = whole_seconds(Utc::now() - Duration::hours(1));
    edit(&mock, "INC-2", |two| {
        two.status_id = ids::STATUS_CLOSED.to_string();
        two.set_timestamp(ids::TS_RESOLVED, resolved);
        two.updated_at = resolved;
    });
    let second = sync(&mock, Some(cursor)).await;
    let incs = incidents(&second);
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0].extra["reference"], "INC-2");
    assert_eq!(incs[0].resolved_at, Some(resolved));
}

#[tokio::test]
async fn an_incident_edited_after_it_resolved_is_read_again() {
    // INC-1 was created three days ago and resolved then; a responder
    // corrects its "Resolved at" during the post-incident review.
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = IncidentIoMock::start(State::example(KEY, base)).await;
    let first = sync(&mock, None).await;
    let cursor = first.last().unwrap().cursor.clone();
    let corrected = base + Duration::minutes(25);
    edit(&mock, "INC-1", |one| {
        one.set_timestamp(ids::TS_RESOLVED, corrected)
    });
    let second = sync(&mock, Some(cursor)).await;
    let incs = incidents(&second);
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0].extra["reference"], "INC-1");
    assert_eq!(incs[0].resolved_at, Some(corrected));
}

#[tokio::test]
async fn a_live_incident_merged_into_another_is_withdrawn() {
    // INC-2 is live at the first sync; then it is merged into another (a
    // duplicate): not an incident any more, so the store must let it go.
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = IncidentIoMock::start(State::example(KEY, base)).await;
    let first = sync(&mock, None).await;
    let two = incidents(&first)
        .into_iter()
        .find(|i| i.extra["reference"] == "INC-2")
        .unwrap();
    assert_eq!(two.resolved_at, None, "live");
    let cursor = first.last().unwrap().cursor.clone();
    edit(&mock, "INC-2", |two| {
        two.status_id = ids::STATUS_MERGED.to_string()
    });
    let second = sync(&mock, Some(cursor)).await;
    assert!(incidents(&second).iter().all(|i| i.id != two.id));
    let withdrawn: Vec<&String> = second.iter().flat_map(|b| &b.withdrawn).collect();
    assert_eq!(withdrawn, [&two.id]);
    // Withdrawn once: the next sync says nothing of it.
    let third = sync(&mock, Some(second.last().unwrap().cursor.clone())).await;
    assert!(third.iter().all(|b| b.withdrawn.is_empty()));
}

#[tokio::test]
async fn an_incident_declined_long_after_it_resolved_is_withdrawn() {
    // INC-1 resolved three days ago; the sync no longer tracks it (its
    // entries expire a day after it was last listed). Declined in a late
    // review, it is listed again by its update time and withdrawn.
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = IncidentIoMock::start(State::example(KEY, base)).await;
    let first = sync(&mock, None).await;
    let one = incidents(&first)
        .into_iter()
        .find(|i| i.extra["reference"] == "INC-1")
        .unwrap();
    let mut cursor = first.last().unwrap().cursor.clone();
    cursor.0["seen"] = serde_json::json!({});
    cursor.0["open"] = serde_json::json!({});
    edit(&mock, "INC-1", |one| {
        one.status_id = ids::STATUS_DECLINED.to_string();
        one.updated_at = Utc::now();
    });
    let second = sync(&mock, Some(cursor)).await;
    let withdrawn: Vec<&String> = second.iter().flat_map(|b| &b.withdrawn).collect();
    assert_eq!(withdrawn, [&one.id]);
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_a_bad_key_names_its_variable() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = IncidentIoMock::start(State::example(KEY, base)).await;
    mock.inject(
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    let batches = sync(&mock, None).await;
    assert!(!incidents(&batches).is_empty());

    let mut bad = connector(&mock, "wrong-key");
    let err = bad.next_batch(&ctx(), None).await.map(|_| ());
    assert!(
        matches!(err, Err(ConnectorError::Unauthorized { .. })),
        "{err:?}"
    );
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.contains("INCIDENT_IO_API_KEY") && !msg.contains("wrong-key"),
        "{msg}"
    );
}

#[tokio::test]
async fn passes_the_conformance_harness() {
    let base = whole_seconds(Utc::now() - Duration::days(3));
    let mock = IncidentIoMock::start(State::example(KEY, base)).await;
    let report = conformance::check(|| connector(&mock, KEY), &ctx())
        .await
        .unwrap();
    assert_eq!(report.events.len(), 5, "INC-1, 2, 4, 7, 8");
}

/// A time without fractions of a second (APIs send whole seconds or millis).
fn whole_seconds(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}
