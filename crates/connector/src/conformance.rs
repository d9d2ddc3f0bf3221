//! The conformance harness every connector's tests run.
//!
//! Given a factory that builds a fresh connector (pointed at a mock server),
//! [`check`] syncs to completion several times and verifies the contract of
//! [`crate::Connector`]:
//!
//! 1. every event, serialised to JSON the way an export would write it
//!    (`extra` flattened into the record), passes
//!    [`flowmeter_model::event_from_json`] and comes back identical, and
//!    carries the connector's name as `source`;
//! 2. two full syncs produce the same natural keys (EVENTS.md), so ids are
//!    stable;
//! 3. a second sync starting from the final cursor of the first returns no
//!    events (nothing changed upstream, so nothing is written);
//! 4. an interrupted sync (stopped after its first batch, resumed by a new
//!    connector from that batch's cursor) yields the same keys as an
//!    uninterrupted one.
//!
//! Failures are returned as one message listing what is wrong.

use std::collections::BTreeSet;

use flowmeter_model::{event_from_json, Event};
use serde_json::Value;

use crate::{Connector, Cursor, SyncBatch, SyncContext};

/// Stop a runaway connector (one that never returns `None`).
const MAX_BATCHES: usize = 10_000;

/// What the harness saw, for further assertions in a test.
#[derive(Debug, Default)]
pub struct Report {
    /// Events of the first full sync, in order.
    pub events: Vec<Event>,
    /// Batches of the first full sync.
    pub batches: usize,
    /// Requests the first full sync reported.
    pub requests: u64,
    /// Notes of the first full sync.
    pub notes: Vec<String>,
    /// Final cursor of the first full sync.
    pub cursor: Option<Cursor>,
}

/// All batches of one sync, run until the connector says it is up to date.
pub async fn run_to_completion(
    connector: &mut dyn Connector,
    ctx: &SyncContext,
    cursor: Option<Cursor>,
) -> Result<Vec<SyncBatch>, String> {
    let mut cursor = cursor;
    let mut batches = Vec::new();
    loop {
        if batches.len() >= MAX_BATCHES {
            return Err(format!(
                "{}: more than {MAX_BATCHES} batches; the sync never finishes",
                connector.name()
            ));
        }
        match connector.next_batch(ctx, cursor.as_ref()).await {
            Ok(Some(batch)) => {
                cursor = Some(batch.cursor.clone());
                batches.push(batch);
            }
            Ok(None) => return Ok(batches),
            Err(e) => return Err(format!("sync failed: {e}")),
        }
    }
}

/// A sync the API answered with 401 must fail with an `Unauthorized` error
/// that names the source, the variable holding the secret and the call, and
/// never shows the secret (in the message or the debug form).
pub fn check_unauthorized(
    err: &crate::ConnectorError,
    source: &str,
    var: &str,
    call: &str,
    secret: &str,
) -> Result<(), String> {
    let msg = err.to_string();
    if !matches!(err, crate::ConnectorError::Unauthorized { .. }) {
        return Err(format!("not an unauthorized error: {msg}"));
    }
    if !(msg.starts_with(&format!("{source}:")) && msg.contains(var) && msg.contains(call)) {
        return Err(format!(
            "`{source}`, `{var}` and `{call}` not all named: {msg}"
        ));
    }
    if msg.contains(secret) || format!("{err:?}").contains(secret) {
        return Err("the secret shows in the error".into());
    }
    Ok(())
}

/// The incidents the batches carry, in order.
pub fn incidents(batches: &[SyncBatch]) -> Vec<flowmeter_model::Incident> {
    of_kind(batches, |e| match e {
        Event::Incident(i) => Some(i),
        _ => None,
    })
}

/// The deployments the batches carry, in order.
pub fn deployments(batches: &[SyncBatch]) -> Vec<flowmeter_model::Deployment> {
    of_kind(batches, |e| match e {
        Event::Deployment(d) => Some(d),
        _ => None,
    })
}

fn of_kind<T: Clone>(batches: &[SyncBatch], pick: impl Fn(&Event) -> Option<&T>) -> Vec<T> {
    let events = batches.iter().flat_map(|b| b.events.iter());
    events.filter_map(pick).cloned().collect()
}

/// The natural key of a record (EVENTS.md), as text.
pub fn natural_key(e: &Event) -> String {
    match e {
        Event::Deployment(d) => format!("deployment|{}|{}", d.source, d.id),
        Event::Commit(c) => format!("commit|{}|{}", c.repo, c.sha),
        Event::PullRequest(p) => format!("pull_request|{}|{}", p.repo, p.number),
        Event::Review(r) => format!("review|{}|{}|{}", r.repo, r.pr, r.id),
        Event::Incident(i) => format!("incident|{}|{}", i.source, i.id),
    }
}

fn event_source(e: &Event) -> &str {
    match e {
        Event::Deployment(d) => &d.source,
        Event::Commit(c) => &c.source,
        Event::PullRequest(p) => &p.source,
        Event::Review(r) => &r.source,
        Event::Incident(i) => &i.source,
    }
}

/// The event as an interchange JSON object: `extra` flattened into the
/// record (a known field wins over an `extra` entry of the same name).
pub fn to_interchange_json(e: &Event) -> Value {
    let mut v = serde_json::to_value(e).expect("events serialise");
    if let Value::Object(map) = &mut v {
        if let Some(Value::Object(extra)) = map.remove("extra") {
            for (k, val) in extra {
                map.entry(k).or_insert(val);
            }
        }
    }
    v
}

/// Checks one event: its interchange JSON parses back to the same event.
pub fn check_event(e: &Event, source_name: &str) -> Result<(), String> {
    let json = to_interchange_json(e);
    let key = natural_key(e);
    let parsed = event_from_json(json.clone())
        .map_err(|err| format!("{key}: not a valid EVENTS.md record: {err} (json: {json})"))?;
    if &parsed != e {
        return Err(format!(
            "{key}: does not round-trip through EVENTS.md JSON:\n  emitted {e:?}\n  parsed  {parsed:?}"
        ));
    }
    if event_source(e) != source_name {
        return Err(format!(
            "{key}: source is `{}`, expected the connector name `{source_name}`",
            event_source(e)
        ));
    }
    Ok(())
}

fn keys(batches: &[SyncBatch]) -> BTreeSet<String> {
    batches
        .iter()
        .flat_map(|b| b.events.iter())
        .map(natural_key)
        .collect()
}

fn diff(a: &BTreeSet<String>, b: &BTreeSet<String>) -> String {
    let only_a: Vec<_> = a.difference(b).take(5).collect();
    let only_b: Vec<_> = b.difference(a).take(5).collect();
    format!("only in the first: {only_a:?}; only in the second: {only_b:?}")
}

/// Runs every check against connectors built by `factory` (each sync gets a
/// fresh connector, as a new `flowmeter sync` process would). The upstream
/// (mock) must not change while this runs.
pub async fn check<F, C>(mut factory: F, ctx: &SyncContext) -> Result<Report, String>
where
    F: FnMut() -> C,
    C: Connector,
{
    let mut problems = Vec::new();

    // 1. A full sync; every event valid.
    let mut conn = factory();
    let name = conn.name().to_string();
    let first = run_to_completion(&mut conn, ctx, None).await?;
    if first.is_empty() {
        problems.push("the first sync returned no batch at all".to_string());
    }
    for e in first.iter().flat_map(|b| b.events.iter()) {
        if let Err(p) = check_event(e, &name) {
            problems.push(p);
        }
    }
    let first_keys = keys(&first);
    let final_cursor = first.last().map(|b| b.cursor.clone());

    // 2. A second full sync: same keys.
    let second = run_to_completion(&mut factory(), ctx, None).await?;
    let second_keys = keys(&second);
    if first_keys != second_keys {
        problems.push(format!(
            "two full syncs produced different keys (ids are not stable): {}",
            diff(&first_keys, &second_keys)
        ));
    }

    // 3. An incremental sync from the final cursor: nothing new.
    if let Some(cursor) = &final_cursor {
        let again = run_to_completion(&mut factory(), ctx, Some(cursor.clone())).await?;
        let repeated: Vec<String> = again
            .iter()
            .flat_map(|b| b.events.iter())
            .map(natural_key)
            .collect();
        if !repeated.is_empty() {
            problems.push(format!(
                "a sync from the final cursor returned {} event(s) although nothing changed upstream: {:?}",
                repeated.len(),
                repeated.iter().take(5).collect::<Vec<_>>()
            ));
        }
    }

    // 4. Interrupted after the first batch, resumed by a new connector.
    let mut conn = factory();
    match conn.next_batch(ctx, None).await {
        Ok(Some(batch)) => {
            let resumed =
                run_to_completion(&mut factory(), ctx, Some(batch.cursor.clone())).await?;
            let mut union = keys(std::slice::from_ref(&batch));
            union.extend(keys(&resumed));
            if union != first_keys {
                problems.push(format!(
                    "an interrupted and resumed sync produced different keys: {}",
                    diff(&first_keys, &union)
                ));
            }
        }
        Ok(None) => problems.push("a fresh sync returned no batch".into()),
        Err(e) => problems.push(format!("sync failed: {e}")),
    }

    if !problems.is_empty() {
        return Err(format!(
            "{name}: {} conformance problem(s):\n- {}",
            problems.len(),
            problems.join("\n- ")
        ));
    }
    Ok(Report {
        events: first.iter().flat_map(|b| b.events.clone()).collect(),
        batches: first.len(),
        requests: first.iter().map(|b| b.requests).sum(),
        notes: first.iter().flat_map(|b| b.notes.clone()).collect(),
        cursor: final_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Next;
    use chrono::{TimeZone, Utc};
    use flowmeter_model::Incident;
    use serde_json::json;

    /// Two batches of incidents, then up to date; the cursor is the index.
    struct Fake {
        done: bool,
        unstable: bool,
    }

    fn incident(id: &str) -> Event {
        let mut extra = serde_json::Map::new();
        extra.insert("number".into(), json!(7));
        Event::Incident(Incident {
            source: "fake".into(),
            id: id.into(),
            services: vec!["api".into()],
            title: Some("t".into()),
            severity: None,
            url: None,
            created_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            acknowledged_at: None,
            resolved_at: None,
            deployment_id: None,
            deployment_source: None,
            root_cause: None,
            extra,
        })
    }

    #[async_trait::async_trait]
    impl Connector for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        async fn next_batch(&mut self, _ctx: &SyncContext, cursor: Option<&Cursor>) -> Next {
            if self.done {
                return Ok(None);
            }
            let at = cursor.and_then(|c| c.0["at"].as_u64()).unwrap_or(0);
            let id = if self.unstable {
                format!("x{}", rand_id())
            } else {
                format!("i{at}")
            };
            if at >= 2 {
                self.done = true;
                return Ok(Some(SyncBatch {
                    cursor: Cursor(json!({"at": at})),
                    ..Default::default()
                }));
            }
            Ok(Some(SyncBatch {
                events: vec![incident(&id)],
                cursor: Cursor(json!({"at": at + 1})),
                requests: 1,
                notes: vec![],
                withdrawn: Vec::new(),
            }))
        }
    }

    fn rand_id() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    fn ctx() -> SyncContext {
        SyncContext {
            since: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            full: false,
        }
    }

    #[tokio::test]
    async fn a_well_behaved_connector_passes() {
        let r = check(
            || Fake {
                done: false,
                unstable: false,
            },
            &ctx(),
        )
        .await
        .unwrap();
        assert_eq!(r.events.len(), 2);
    }

    #[tokio::test]
    async fn unstable_ids_fail() {
        let err = check(
            || Fake {
                done: false,
                unstable: true,
            },
            &ctx(),
        )
        .await
        .unwrap_err();
        assert!(err.contains("not stable"), "{err}");
    }

    #[test]
    fn extra_is_flattened_for_round_trip() {
        let e = incident("a");
        let v = to_interchange_json(&e);
        assert_eq!(v["number"], 7);
        assert!(v.get("extra").is_none());
        check_event(&e, "fake").unwrap();
    }
}
