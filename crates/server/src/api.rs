//! `/api/v1`: the numbers as JSON (exactly `flowmeter metrics --format
//! json` for the same parameters), explain, coverage, export downloads,
//! and ingest of EVENTS.md records.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as St};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flowmeter_app::export::{export, ExportFormat, TABLES};
use flowmeter_app::read::{self, MetricsAnswer};
use flowmeter_app::{ingest, AppError, Question};
use serde_json::{json, Value};

use crate::state::State;

/// An API error: a status and `{"error": "..."}`.
pub struct ApiError(pub StatusCode, pub Value);

impl ApiError {
    pub fn new(status: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError(status, json!({ "error": msg.into() }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let status = match &e {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            e if e.is_user_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e.body_text())
    }
}

type ApiResult = Result<Response, ApiError>;

/// The question of a query string, or a 400 naming what is wrong.
pub fn question(q: Result<Query<Question>, QueryRejection>) -> Result<Question, ApiError> {
    Ok(q?.0)
}

pub async fn metrics(St(s): St<State>, q: Result<Query<Question>, QueryRejection>) -> ApiResult {
    let q = question(q)?;
    let config = s.config.clone();
    let answer: MetricsAnswer = s
        .readers
        .with(move |store| read::metrics(store, &config, &q))
        .await?;
    Ok(Json(answer).into_response())
}

pub async fn explain(
    St(s): St<State>,
    Path(metric): Path<String>,
    q: Result<Query<Question>, QueryRejection>,
) -> ApiResult {
    let q = question(q)?;
    let what = read::explained(&metric)?;
    let config = s.config.clone();
    let e = s
        .readers
        .with(move |store| read::explain(store, &config, what, &q))
        .await?;
    Ok(Json(read::explain_json(&e)).into_response())
}

pub async fn coverage(St(s): St<State>, q: Result<Query<Question>, QueryRejection>) -> ApiResult {
    let q = question(q)?;
    if q.by.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "coverage takes no `by`",
        ));
    }
    let config = s.config.clone();
    let answer = s
        .readers
        .with(move |store| read::metrics(store, &config, &q))
        .await?;
    let MetricsAnswer::One(m) = answer else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected grouping",
        ));
    };
    Ok(Json(json!({
        "window": m.window,
        "filters": m.filters,
        "coverage": m.metrics.coverage,
    }))
    .into_response())
}

/// `GET /api/v1/export/{table}?format=csv|parquet|jsonl` (plus the window
/// and scope): one table of `flowmeter export` as a download.
pub async fn export_table(
    St(s): St<State>,
    Path(table): Path<String>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> ApiResult {
    let table = table
        .strip_suffix(".csv")
        .or_else(|| table.strip_suffix(".parquet"))
        .or_else(|| table.strip_suffix(".jsonl"))
        .unwrap_or(&table)
        .to_string();
    if !TABLES.contains(&table.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no table `{table}` to export (known: {})",
                TABLES.join(", ")
            ),
        ));
    }
    let mut params = params;
    let format = match params.remove("format").as_deref() {
        None | Some("csv") => ExportFormat::Csv,
        Some("parquet") => ExportFormat::Parquet,
        Some("jsonl") | Some("json") => ExportFormat::Json,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`format` is csv, parquet or jsonl, not `{other}`"),
            ))
        }
    };
    let q = Question {
        since: params.remove("since"),
        until: params.remove("until"),
        week: params.remove("week"),
        team: params.remove("team"),
        service: params.remove("service"),
        repo: params.remove("repo"),
        ..Question::default()
    };
    if let Some(k) = params.keys().next() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter `{k}`"),
        ));
    }
    let config = s.config.clone();
    let name = table.clone();
    let bytes = s
        .readers
        .with(move |store| {
            let dir = std::env::temp_dir().join(format!(
                "flowmeter-export-{}-{}",
                std::process::id(),
                EXPORTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ));
            let written = export(store, &config, &q, format, &dir);
            let file = dir.join(format!("{name}.{}", format.ext()));
            let bytes = written.and_then(|_| {
                std::fs::read(&file).map_err(|e| AppError::Io("reading the export".into(), e))
            });
            let _ = std::fs::remove_dir_all(&dir);
            bytes
        })
        .await?;
    let content_type = match format {
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Parquet => "application/vnd.apache.parquet",
        ExportFormat::Json => "application/x-ndjson",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{table}.{}\"", format.ext()),
            ),
        ],
        bytes,
    )
        .into_response())
}

static EXPORTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `POST /api/v1/events`: JSON Lines of EVENTS.md records, validated like
/// an import (every bad line named), stored in one transaction, or not at
/// all.
pub async fn ingest(St(s): St<State>, headers: HeaderMap, body: Bytes) -> ApiResult {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        if !matches!(
            ct,
            "application/x-ndjson" | "application/jsonl" | "application/json" | "text/plain" | ""
        ) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("send EVENTS.md records as JSON Lines (application/x-ndjson), not `{ct}`"),
            ));
        }
    }
    // Parsing a large body is CPU work: off the async threads.
    let (read, streamed) =
        tokio::task::spawn_blocking(move || ingest::parse_body(&body, "request body"))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    if streamed.invalid_count > 0 {
        let errors: Vec<Value> = streamed
            .invalid
            .iter()
            .map(|e| {
                json!({
                    "line": e.line,
                    "field": e.error.field,
                    "message": e.error.to_string(),
                })
            })
            .collect();
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "error": format!(
                    "{} invalid line(s); nothing was stored (the first: {})",
                    streamed.invalid_count, streamed.invalid[0]
                ),
                "invalid": streamed.invalid_count,
                "errors": errors,
            }),
        ));
    }
    if read.events.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body has no records",
        ));
    }
    let records = read.events.len();
    let summary = s.writes.import(read.events, None).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{e}; nothing was stored"),
        )
    })?;
    s.counters
        .ingested
        .fetch_add(records as u64, std::sync::atomic::Ordering::Relaxed);
    let t = summary.total();
    let kinds: serde_json::Map<String, Value> = summary
        .kinds
        .iter()
        .map(|(k, c)| {
            (
                k.as_str().to_string(),
                json!({"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged}),
            )
        })
        .collect();
    Ok(Json(json!({
        "records": records,
        "inserted": t.inserted,
        "updated": t.updated,
        "unchanged": t.unchanged,
        "kinds": kinds,
    }))
    .into_response())
}

/// `GET /api/v1/stats`: records per type, and deliveries still queued.
pub async fn stats(St(s): St<State>) -> ApiResult {
    let counts = s.readers.with(|store| Ok(store.counts()?)).await?;
    let mut out: serde_json::Map<String, Value> = counts
        .into_iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    out.insert("queued".into(), json!(s.writes.queued()));
    Ok(Json(Value::Object(out)).into_response())
}

/// `POST /api/v1/flush`: answers once every delivery queued before it is stored.
pub async fn flush(St(s): St<State>) -> ApiResult {
    s.writes
        .flush()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(json!({ "queued": s.writes.queued() })).into_response())
}

/// `GET /api/v1/sources`: each source's schedule, cursor and last sync.
pub async fn sources(St(s): St<State>) -> ApiResult {
    Ok(Json(crate::pages::source_rows(&s).await?).into_response())
}
