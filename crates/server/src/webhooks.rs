//! The webhook receivers' HTTP side: check the receiver is enabled, verify
//! the delivery with its secret, map the payload to EVENTS.md records
//! ([`crate::hooks`]), validate them exactly as an import would, and queue
//! them for the writer. A delivery that fails verification gets 401 and
//! stores nothing; a delivery id seen before gets 200 and changes nothing.

use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flowmeter_model::{event_from_json, Event};
use serde_json::{json, Value};
use sha2::Digest;

use crate::hooks::{self, HookError, Mapped};
use crate::state::State;
use crate::writer::{Delivery, NotQueued};
use std::sync::atomic::Ordering;

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn disabled(name: &str, var: &str) -> Response {
    answer(
        StatusCode::NOT_FOUND,
        json!({ "error": format!("the {name} webhook receiver is disabled: set `{var}` where the server runs to enable it") }),
    )
}

fn refused(s: &State, e: HookError) -> Response {
    s.counters.rejected.fetch_add(1, Ordering::Relaxed);
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    answer(status, json!({ "error": e.to_string() }))
}

/// A payload flowmeter cannot map. GitLab disables a hook after four 4xx
/// answers in a row and PagerDuty a subscription after three, so to them
/// the refusal is said in a 200 (and in the server's log), not a 4xx.
fn unmappable(s: &State, receiver: &str, e: HookError) -> Response {
    s.counters.rejected.fetch_add(1, Ordering::Relaxed);
    flowmeter_connector::report::info(format!("error: {receiver} delivery not stored: {e}"));
    answer(
        StatusCode::OK,
        json!({ "stored": 0, "error": e.to_string() }),
    )
}

fn parse(body: &[u8]) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": format!("the body is not JSON: {e}") }),
        ))
    })
}

/// Validates the mapped records, drops repeats, queues the rest.
fn receive(
    s: &State,
    receiver: &'static str,
    delivery: Option<&str>,
    body: &[u8],
    mapped: Mapped,
) -> Response {
    // GitLab and PagerDuty switch a hook off after a few 4xx answers.
    let lenient = receiver != "github";
    // Without a delivery id the body's hash stands in for one.
    let id = match delivery.filter(|d| !d.trim().is_empty()) {
        Some(d) => d.trim().to_string(),
        None => format!("sha256:{}", hex::encode(sha2::Sha256::digest(body))),
    };
    let mut events: Vec<Event> = Vec::with_capacity(mapped.events.len());
    for record in mapped.events {
        match event_from_json(record) {
            Ok(e) => events.push(e),
            Err(e) => {
                s.counters.rejected.fetch_add(1, Ordering::Relaxed);
                let error = format!(
                    "delivery {id}: the payload does not make a valid record: {e}; nothing was stored"
                );
                if lenient {
                    flowmeter_connector::report::info(format!("error: {receiver} {error}"));
                    return answer(StatusCode::OK, json!({ "stored": 0, "error": error }));
                }
                return answer(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": error }));
            }
        }
    }
    if events.is_empty() && mapped.withdrawn.is_empty() {
        return answer(
            StatusCode::OK,
            json!({ "stored": 0, "note": mapped.note.unwrap_or_else(|| "nothing to store".into()) }),
        );
    }
    let n = events.len() + mapped.withdrawn.len();
    match s.writes.deliver(Delivery {
        receiver,
        id: id.clone(),
        events,
        withdrawn: mapped.withdrawn,
    }) {
        Ok(()) => {
            s.counters.deliveries.fetch_add(1, Ordering::Relaxed);
            answer(
                StatusCode::ACCEPTED,
                json!({ "queued": n, "delivery": id, "note": mapped.note }),
            )
        }
        Err(NotQueued::Duplicate) => {
            s.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            answer(StatusCode::OK, json!({ "duplicate": true, "delivery": id }))
        }
        Err(NotQueued::Full) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "the write queue is full; retry in a few seconds" }),
        ),
        Err(NotQueued::Closed) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "the server is shutting down; nothing was stored" }),
        ),
    }
}

/// `POST /webhooks/github`.
pub async fn github(St(s): St<State>, h: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &s.settings.github_secret else {
        return disabled("GitHub", &s.config.serve.github_secret_env);
    };
    if let Err(e) = hooks::github::verify(secret.expose(), &body, header(&h, "x-hub-signature-256"))
    {
        return refused(&s, e);
    }
    let value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let event = header(&h, "x-github-event").unwrap_or_default();
    match hooks::github::map(
        event,
        &value,
        &s.settings.github_source,
        &s.settings.incident_labels,
    ) {
        Ok(m) => receive(&s, "github", header(&h, "x-github-delivery"), &body, m),
        Err(e) => refused(&s, e),
    }
}

/// `POST /webhooks/gitlab`.
pub async fn gitlab(St(s): St<State>, h: HeaderMap, body: Bytes) -> Response {
    let Some(token) = &s.settings.gitlab_token else {
        return disabled("GitLab", &s.config.serve.gitlab_token_env);
    };
    if let Err(e) = hooks::gitlab::verify(token.expose(), header(&h, "x-gitlab-token")) {
        return refused(&s, e);
    }
    let value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    // GitLab names a delivery by `Idempotency-Key` (same on retries), older
    // versions by `X-Gitlab-Event-UUID`.
    let delivery = header(&h, "idempotency-key").or_else(|| header(&h, "x-gitlab-event-uuid"));
    match hooks::gitlab::map(&value, &s.settings.gitlab_source) {
        Ok(m) => receive(&s, "gitlab", delivery, &body, m),
        Err(e) => unmappable(&s, "GitLab", e),
    }
}

/// `POST /webhooks/pagerduty`.
pub async fn pagerduty(St(s): St<State>, h: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &s.settings.pagerduty_secret else {
        return disabled("PagerDuty", &s.config.serve.pagerduty_secret_env);
    };
    if let Err(e) =
        hooks::pagerduty::verify(secret.expose(), &body, header(&h, "x-pagerduty-signature"))
    {
        return refused(&s, e);
    }
    let value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    // The event's own id names the delivery (the same on retries).
    let delivery = value
        .pointer("/event/id")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| header(&h, "x-webhook-id").map(str::to_string));
    // Services are mapped as the PagerDuty sync maps them: `service_map`,
    // then the services the store knows.
    let known = s
        .readers
        .with(|store| Ok(store.services()?))
        .await
        .unwrap_or_default();
    let mapped = hooks::pagerduty::map_with(
        &value,
        &s.settings.pagerduty_source,
        &s.settings.pagerduty_service_map,
        &known,
    );
    match mapped {
        Ok(m) => receive(&s, "pagerduty", delivery.as_deref(), &body, m),
        Err(e) => unmappable(&s, "PagerDuty", e),
    }
}
