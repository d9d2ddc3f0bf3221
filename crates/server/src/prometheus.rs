//! `GET /metrics`: the DORA keys per team and per service over the last 28
//! days as Prometheus gauges (so Grafana charts them), and the server's own
//! counters. A key without data has no sample (never a made-up zero). The
//! gauges are recomputed only after the store changed.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use axum::extract::State as St;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use flowmeter_analysis::metric::KEYS;
use flowmeter_app::read::{self, MetricsAnswer};
use flowmeter_app::Question;

use crate::state::State;

/// The gauges' text and the store generation it was computed at.
static CACHE: Mutex<Option<(usize, String)>> = Mutex::new(None);

/// Prometheus label values escape `\`, `"` and newlines.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn gauges(s: &State) -> Result<String, flowmeter_app::AppError> {
    let generation = s.writes.generation();
    if let Some((g, text)) = CACHE.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        if *g == generation {
            return Ok(text.clone());
        }
    }
    // Metric name → its samples (a metric's samples must be together).
    let mut metrics: std::collections::BTreeMap<String, (String, Vec<String>)> = Default::default();
    for by in ["team", "service"] {
        if by == "team" && s.config.teams.is_empty() {
            continue;
        }
        let config = s.config.clone();
        let q = Question {
            by: Some(by.to_string()),
            ..s.gauge_window.clone()
        };
        let answer = s
            .readers
            .with(move |store| read::metrics(store, &config, &q))
            .await?;
        let MetricsAnswer::Grouped(g) = answer else {
            continue;
        };
        for group in &g.groups {
            for k in KEYS {
                let Some(v) = (k.value)(&group.metrics) else {
                    continue;
                };
                let name = format!("flowmeter_{}_{}", k.key, k.unit);
                let entry = metrics
                    .entry(name)
                    .or_insert_with(|| (k.key.to_string(), Vec::new()));
                entry
                    .1
                    .push(format!("{by}=\"{}\"}} {v}", label(&group.key)));
            }
        }
    }
    let mut text = String::new();
    for (name, (key, samples)) in &metrics {
        let _ = writeln!(
            text,
            "# HELP {name} {key} over the last 28 days (METRICS.md), per team or service\n# TYPE {name} gauge"
        );
        for sample in samples {
            let _ = writeln!(text, "{name}{{{sample}");
        }
    }
    *CACHE.lock().unwrap_or_else(|p| p.into_inner()) = Some((generation, text.clone()));
    Ok(text)
}

pub async fn metrics(St(s): St<State>) -> Response {
    let mut text = match gauges(&s).await {
        Ok(t) => t,
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("# error: {e}\n")).into_response()
        }
    };
    let c = &s.counters;
    for (name, help, v) in [
        (
            "flowmeter_http_requests_total",
            "Dashboard and API requests answered.",
            c.requests.load(Ordering::Relaxed),
        ),
        (
            "flowmeter_webhook_deliveries_total",
            "Webhook deliveries queued for storing.",
            c.deliveries.load(Ordering::Relaxed),
        ),
        (
            "flowmeter_webhook_duplicates_total",
            "Webhook deliveries recognised as repeats.",
            c.duplicates.load(Ordering::Relaxed),
        ),
        (
            "flowmeter_webhook_rejected_total",
            "Webhook deliveries refused (signature or payload).",
            c.rejected.load(Ordering::Relaxed),
        ),
        (
            "flowmeter_ingested_records_total",
            "Records stored through POST /api/v1/events.",
            c.ingested.load(Ordering::Relaxed),
        ),
    ] {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(
        text,
        "# HELP flowmeter_write_queue Webhook deliveries accepted and not yet stored.\n# TYPE flowmeter_write_queue gauge\nflowmeter_write_queue {}",
        s.writes.queued()
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
