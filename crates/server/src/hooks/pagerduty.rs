//! PagerDuty webhooks (v3): the `X-PagerDuty-Signature` check and the
//! mapping of `incident.*` events to incident records.
//!
//! Records have the ids and field conventions of the PagerDuty connector
//! (`flowmeter-pagerduty`): the id is PagerDuty's incident id, the severity
//! the priority (else the urgency), the service PagerDuty's service through
//! `service_map` (by id, then name), else a known flowmeter service of the
//! same name (any case), else the PagerDuty name.
//!
//! A v3 payload has no acknowledgement or resolution times: they are the
//! `occurred_at` of the `incident.acknowledged` and `incident.resolved`
//! events.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{join_notes, verify_hmac_sha256, HookError, Mapped, Payload, Record};

/// The header that carries one or more `v1=<hex>` signatures,
/// comma-separated (several while a secret is being rotated).
pub const SIGNATURE_HEADER: &str = "X-PagerDuty-Signature";

/// Checks `X-PagerDuty-Signature` against the raw body: the delivery
/// passes when any `v1=` signature is the HMAC-SHA256 of the body under
/// `secret`.
///
/// Fails with [`HookError::Signature`] when no secret is configured, the
/// header is missing or has no `v1=` entry, or no signature matches.
pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), HookError> {
    let header = super::signature_header(secret, header, SIGNATURE_HEADER, "PagerDuty")?;
    let mut signatures = header
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("v1="))
        .peekable();
    if signatures.peek().is_none() {
        return Err(HookError::Signature(format!(
            "the `{SIGNATURE_HEADER}` header has no `v1=` signature"
        )));
    }
    if signatures.any(|sig| verify_hmac_sha256(secret.as_bytes(), body, sig)) {
        Ok(())
    } else {
        Err(HookError::Signature(format!(
            "no `{SIGNATURE_HEADER}` signature matches the body (is the secret the subscription's?)"
        )))
    }
}

/// Maps one delivery with no `service_map` and no known services: the
/// service is PagerDuty's service name. See [`map_with`].
pub fn map(body: &Value, source: &str) -> Result<Mapped, HookError> {
    map_with(body, source, &BTreeMap::new(), &[])
}

/// Maps one delivery; `source` is the source name records are stored under
/// (the PagerDuty source's `name`, default `pagerduty`), `service_map` the
/// source's `service_map` (PagerDuty service id or name → flowmeter
/// service), `known_services` the services flowmeter already knows.
///
/// `incident.*` events whose data is an incident map to one record; other
/// events (`pagey.ping`, `service.*`, incident notes) to none and a note.
pub fn map_with(
    body: &Value,
    source: &str,
    service_map: &BTreeMap<String, String>,
    known_services: &[String],
) -> Result<Mapped, HookError> {
    let p = Payload(body);
    let event_type = p.req_text("event.event_type")?;
    if event_type == "pagey.ping" {
        return Ok(Mapped::ignored("ping"));
    }
    if !event_type.starts_with("incident.")
        || p.text("event.data.type").as_deref() != Some("incident")
    {
        return Ok(Mapped::ignored(format!("event `{event_type}` is not used")));
    }
    let id = p.req_text("event.data.id")?;
    let occurred_at = p.req_time("event.occurred_at")?;
    let status = p.text("event.data.status");
    let (acknowledged_at, resolved_at) = match event_type.as_str() {
        "incident.acknowledged" => (Some(occurred_at), None),
        "incident.resolved" => (None, Some(p.time("event.data.resolved_at")?.unwrap_or(occurred_at))),
        _ if status.as_deref() == Some("resolved") => {
            return Ok(Mapped::ignored(format!(
                "incident {id}: `{event_type}` of a resolved incident does not say when it was resolved; the record is left to the sync"
            )))
        }
        _ => (None, None),
    };
    let created_at = match p.time("event.data.created_at")? {
        Some(t) => t,
        None if event_type == "incident.triggered" => occurred_at,
        None => {
            return Ok(Mapped::ignored(format!(
            "incident {id}: `{event_type}` carries no `created_at`; the record is left to the sync"
        )))
        }
    };
    let (service, unmapped) = service(&p, service_map, known_services);
    let mut notes: Vec<String> = unmapped.into_iter().collect();
    if !matches!(
        event_type.as_str(),
        "incident.triggered" | "incident.acknowledged"
    ) {
        notes.push(format!(
            "incident {id}: a PagerDuty webhook carries only this event's time; an earlier acknowledgement time comes with the next sync"
        ));
    }
    let r = Record::new("incident", source)
        .set("id", id)
        .set("service", service)
        .opt("title", p.text("event.data.title"))
        .opt("severity", severity(&p))
        .opt("url", p.text("event.data.html_url"))
        .time("created_at", created_at)
        .opt_time("acknowledged_at", acknowledged_at)
        .opt_time("resolved_at", resolved_at)
        .opt("deployment_id", deployment_id(&p))
        .opt(
            "incident_number",
            [
                p.at("event.data.number"),
                p.at("event.data.incident_number"),
            ]
            .into_iter()
            .find(|v| !v.is_null())
            .cloned(),
        )
        .opt("status", status)
        .opt("urgency", p.text("event.data.urgency"))
        .opt("pagerduty_service_id", p.text("event.data.service.id"));
    Ok(Mapped::records(vec![r.build()], join_notes(notes)))
}

/// The flowmeter service of the incident's PagerDuty service, and a note
/// when it is not mapped (the connector's `ServiceMapper` rules).
fn service(
    p: &Payload,
    service_map: &BTreeMap<String, String>,
    known_services: &[String],
) -> (String, Option<String>) {
    let id = p.text("event.data.service.id");
    let name = p
        .text("event.data.service.summary")
        .or_else(|| p.text("event.data.service.name"));
    for key in [id.as_deref(), name.as_deref()].into_iter().flatten() {
        if let Some(s) = service_map.get(key) {
            return (s.clone(), None);
        }
    }
    if let Some(n) = &name {
        let lower = n.to_lowercase();
        if let Some(k) = known_services.iter().find(|k| k.to_lowercase() == lower) {
            return (k.clone(), None);
        }
    }
    let upstream = name.or(id).unwrap_or_else(|| "unknown".to_string());
    let note = format!("unmapped PagerDuty service `{upstream}`");
    (upstream, Some(note))
}

/// The priority (`P1`), else the urgency (`high`).
fn severity(p: &Payload) -> Option<String> {
    p.text("event.data.priority.summary")
        .or_else(|| p.text("event.data.priority.name"))
        .or_else(|| p.text("event.data.urgency"))
}

/// The `deployment_id` in the incident's details, where the connector
/// reads it.
fn deployment_id(p: &Payload) -> Option<String> {
    [
        "event.data.body.details.deployment_id",
        "event.data.first_trigger_log_entry.channel.details.deployment_id",
    ]
    .into_iter()
    .find_map(|path| p.id(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmeter_model::{event_from_json, Event, Incident};
    use serde_json::json;

    const TRIGGERED: &str =
        include_str!("../../../../tests/fixtures/webhooks/pagerduty/incident.triggered.json");
    const ACKNOWLEDGED: &str =
        include_str!("../../../../tests/fixtures/webhooks/pagerduty/incident.acknowledged.json");
    const RESOLVED: &str =
        include_str!("../../../../tests/fixtures/webhooks/pagerduty/incident.resolved.json");
    const VENDOR_BODY: &[u8] = include_bytes!(
        "../../../../tests/fixtures/webhooks/pagerduty/signature-vector.go-pagerduty.json"
    );
    const VENDOR_SECRET: &str = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
    const SECRET_1: &str = "flowmeter-test-secret-NOT-A-REAL-KEY-0001";
    const SECRET_2: &str = "flowmeter-test-secret-NOT-A-REAL-KEY-0002";
    const SIG_1: &str = "v1=b0dfd0170462f1dbb73e2c2a7b32307a395216bb6f7a09a30bc7162f12ea00d0";
    const SIG_2: &str = "v1=05c41030690502f24f95b6849e5dab62ad0200c6ee7f3c92d6a29c3d22c30c0b";

    fn incident(text: &str) -> (Mapped, Incident) {
        let body: Value = serde_json::from_str(text).expect("fixture is JSON");
        let m = map(&body, "pagerduty").expect("maps");
        assert_eq!(m.events.len(), 1, "{m:?}");
        let Event::Incident(i) = event_from_json(m.events[0].clone()).expect("a valid record")
        else {
            panic!("{m:?}")
        };
        (m, i)
    }

    #[test]
    fn vendor_signature_vector() {
        let good = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
        let bad = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";
        assert_eq!(verify(VENDOR_SECRET, VENDOR_BODY, Some(good)), Ok(()));
        assert_eq!(
            verify(VENDOR_SECRET, VENDOR_BODY, Some(bad))
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn own_vectors_and_rotation() {
        let body = TRIGGERED.as_bytes();
        assert_eq!(verify(SECRET_1, body, Some(SIG_1)), Ok(()));
        assert_eq!(verify(SECRET_2, body, Some(SIG_2)), Ok(()));
        assert!(verify(SECRET_2, body, Some(SIG_1)).is_err());
        let rotation = format!("{SIG_1},{SIG_2}");
        assert_eq!(verify(SECRET_1, body, Some(&rotation)), Ok(()));
        assert_eq!(verify(SECRET_2, body, Some(&rotation)), Ok(()));
        let spaced = format!("{SIG_1}, {SIG_2}");
        assert_eq!(verify(SECRET_2, body, Some(&spaced)), Ok(()));
    }

    #[test]
    fn tampered_body_and_bad_headers_fail() {
        let tampered = TRIGGERED.replacen("\"P1\"", "\"P2\"", 1);
        assert_ne!(tampered, TRIGGERED);
        assert!(verify(SECRET_1, tampered.as_bytes(), Some(SIG_1)).is_err());
        let body = TRIGGERED.as_bytes();
        assert!(verify(SECRET_1, body, None).is_err());
        assert!(verify(SECRET_1, body, Some("")).is_err());
        // The hex without its `v1=` is no signature.
        assert!(verify(SECRET_1, body, Some(&SIG_1[3..])).is_err());
        assert!(verify(SECRET_1, body, Some("v1=zz")).is_err());
        assert!(verify("", body, Some(SIG_1)).is_err());
    }

    #[test]
    fn triggered_incident() {
        let (m, i) = incident(TRIGGERED);
        assert_eq!(i.source, "pagerduty");
        assert_eq!(i.id, "PGR0VU2");
        assert_eq!(i.services, vec!["API Service"]);
        assert_eq!(i.title.as_deref(), Some("A little bump in the road"));
        assert_eq!(i.severity.as_deref(), Some("P1"));
        assert_eq!(
            i.url.as_deref(),
            Some("https://acme.pagerduty.com/incidents/PGR0VU2")
        );
        assert_eq!(i.created_at.to_rfc3339(), "2020-04-09T15:16:27+00:00");
        assert_eq!(i.acknowledged_at, None);
        assert_eq!(i.resolved_at, None);
        assert_eq!(i.deployment_id, None);
        assert_eq!(i.extra.get("incident_number"), Some(&json!(2)));
        assert_eq!(i.extra.get("status"), Some(&json!("triggered")));
        assert_eq!(i.extra.get("urgency"), Some(&json!("high")));
        assert_eq!(i.extra.get("pagerduty_service_id"), Some(&json!("PF9KMXH")));
        assert!(m
            .note
            .unwrap()
            .contains("unmapped PagerDuty service `API Service`"));
    }

    #[test]
    fn acknowledged_and_resolved_times_are_the_event_times() {
        let (_, i) = incident(ACKNOWLEDGED);
        assert_eq!(i.id, "PGR0VU2");
        assert_eq!(
            i.acknowledged_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2020-04-09T15:21:03.932+00:00")
        );
        assert_eq!(i.resolved_at, None);

        let (m, i) = incident(RESOLVED);
        assert_eq!(
            i.resolved_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2020-04-09T16:02:45.118+00:00")
        );
        assert_eq!(i.extra.get("status"), Some(&json!("resolved")));
        assert!(m.note.unwrap().contains("acknowledgement"));
    }

    #[test]
    fn service_map_and_known_services() {
        let body: Value = serde_json::from_str(TRIGGERED).expect("JSON");
        let by_id = BTreeMap::from([("PF9KMXH".to_string(), "api".to_string())]);
        let m = map_with(&body, "pd", &by_id, &[]).expect("maps");
        assert_eq!(m.events[0]["service"], "api");
        assert_eq!(m.events[0]["source"], "pd");
        assert_eq!(m.note, None);

        let known = vec!["api service".to_string()];
        let m = map_with(&body, "pd", &BTreeMap::new(), &known).expect("maps");
        assert_eq!(m.events[0]["service"], "api service");
    }

    #[test]
    fn deployment_id_from_details() {
        let mut body: Value = serde_json::from_str(TRIGGERED).expect("JSON");
        body["event"]["data"]["body"] = json!({"details": {"deployment_id": " 145988746 "}});
        let m = map(&body, "pagerduty").expect("maps");
        let Event::Incident(i) = event_from_json(m.events[0].clone()).expect("valid") else {
            panic!()
        };
        assert_eq!(i.deployment_id.as_deref(), Some("145988746"));
    }

    #[test]
    fn event_without_created_at_is_left_to_the_sync() {
        // The vendor vector's body: `incident.priority_updated`, no `created_at`.
        let body: Value = serde_json::from_slice(VENDOR_BODY).expect("JSON");
        let m = map(&body, "pagerduty").expect("maps");
        assert!(m.events.is_empty());
        assert!(m.note.unwrap().contains("created_at"));
    }

    #[test]
    fn other_events() {
        let m = map(&json!({"event": {"event_type": "pagey.ping"}}), "pagerduty").expect("maps");
        assert_eq!(m, Mapped::ignored("ping"));
        let m = map(
            &json!({"event": {"event_type": "service.updated", "data": {"type": "service"}}}),
            "pagerduty",
        )
        .expect("maps");
        assert!(m.events.is_empty());
        assert_eq!(
            m.note.as_deref(),
            Some("event `service.updated` is not used")
        );
        let err = map(&json!({"event": {}}), "pagerduty").unwrap_err();
        assert_eq!(
            err,
            HookError::Malformed {
                field: "event.event_type".into(),
                problem: "is missing".into()
            }
        );
    }
}
