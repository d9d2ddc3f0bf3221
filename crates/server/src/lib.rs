//! `flowmeter serve`: the live face of flowmeter. One process holds the
//! store and serves
//!
//! - the dashboard (server-rendered HTML: weekly, team, leadership,
//!   explain, coverage, sources), the same numbers as `flowmeter metrics`;
//! - the JSON API under `/api/v1` (metrics, explain, coverage, export,
//!   ingest of EVENTS.md records);
//! - webhook receivers for GitHub, GitLab and PagerDuty, each verified
//!   with its secret and disabled without one;
//! - scheduled syncs of the configured sources and the weekly chat digest.
//!
//! Writes go through one queue to one writer thread ([`writer`]); reads use
//! a pool of read handles ([`state::Readers`]), so pages are never blocked
//! by ingest. The routes are thin: every question is answered by
//! `flowmeter_app`, exactly as the CLI answers it.

pub mod api;
pub mod hooks;
pub mod pages;
pub mod prometheus;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod webhooks;
pub mod writer;

use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, Request, State as St};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use flowmeter_config::Config;
use flowmeter_store::Store;

pub use settings::Settings;
use state::{Readers, Shared, SourceStatus, State};

/// Read handles in the pool (concurrent page and API reads).
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] flowmeter_store::StoreError),
    #[error(transparent)]
    App(#[from] flowmeter_app::AppError),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server's parts, before it listens.
pub struct Server {
    state: State,
    writer: std::thread::JoinHandle<()>,
}

impl Server {
    /// Takes the store (the writer owns it; readers get their own handles)
    /// and brings its links up to date.
    pub fn new(
        mut store: Store,
        config: Config,
        settings: Settings,
        store_label: String,
        home: String,
        gauge_window: flowmeter_app::Question,
    ) -> Result<Server, ServeError> {
        store.ensure_linked(&config.metrics)?;
        let readers = (0..READERS)
            .map(|_| store.reader())
            .collect::<Result<Vec<_>, _>>()?;
        let origin = store.reader()?;
        let config = Arc::new(config);
        let (writes, writer) = writer::start(store, config.clone());
        let mut sources = std::collections::BTreeMap::new();
        for src in flowmeter_app::sync::sources(&config, None).unwrap_or_default() {
            let interval = src.interval()?.map(|_| {
                src.table
                    .get("interval")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            });
            sources.insert(
                src.name.clone(),
                SourceStatus {
                    interval,
                    ..SourceStatus::default()
                },
            );
        }
        let state = Arc::new(Shared {
            config,
            settings,
            readers: Arc::new(Readers::new(origin, readers)),
            writes,
            sources: Mutex::new(sources),
            counters: Default::default(),
            store_label,
            home,
            gauge_window,
            pages: Default::default(),
            stopping: tokio::sync::watch::Sender::new(false),
        });
        Ok(Server { state, writer })
    }

    /// The routes, for serving (and for tests).
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves; then stops taking
    /// requests, lets the writer finish everything queued, and returns.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let tasks = schedule::start(self.state.clone());
        let app = router(self.state.clone());
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        // Running syncs stop (what they stored stays, their cursors resume
        // there), then the schedules.
        self.state.stopping.send_replace(true);
        for t in tasks {
            t.abort();
        }
        // Dropping the last queue handle ends the writer after what is queued.
        let Server { state, writer } = self;
        drop(state);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(|e| ServeError::Config(format!("the writer failed: {e}")))?
            .map_err(|_| ServeError::Config("the writer thread panicked".into()))?;
        Ok(())
    }
}

fn router(state: State) -> Router {
    let max = state.settings.max_body_bytes;
    let api = Router::new()
        .route("/metrics", get(api::metrics))
        .route("/explain/{metric}", get(api::explain))
        .route("/coverage", get(api::coverage))
        .route("/export/{table}", get(api::export_table))
        .route("/events", post(api::ingest))
        .route("/stats", get(api::stats))
        .route("/flush", post(api::flush))
        .route("/sources", get(api::sources));
    // Everything that shows data needs the token when one is set; the
    // receivers have their own secrets, the probes show nothing.
    let guarded = Router::new()
        .route(
            "/",
            get(|St(s): St<State>| async move { Redirect::to(&s.home) }),
        )
        .route("/metrics", get(prometheus::metrics))
        .route("/coverage", get(pages::coverage))
        .route("/sources", get(pages::sources))
        .route("/explain/{metric}", get(pages::explain))
        .route("/{kind}", get(pages::report))
        .nest("/api/v1", api)
        .route_layer(middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .route("/webhooks/pagerduty", post(webhooks::pagerduty))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(max))
        .with_state(state)
}

/// `/readyz`: the store answers a read and the writer takes jobs.
async fn ready(St(s): St<State>) -> Response {
    let read = s.readers.with(|store| Ok(store.counts()?)).await;
    let write = s.writes.flush().await;
    match (read, write) {
        (Ok(_), Ok(())) => "ready".into_response(),
        (Err(e), _) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
        (_, Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
    }
}

/// The API token, when one is set: `Authorization: Bearer <token>` (API
/// clients, Prometheus) or HTTP Basic with the token as the password (a
/// browser's own login prompt, for the dashboard). Compared in constant
/// time.
async fn guard(St(s): St<State>, req: Request, next: Next) -> Response {
    s.counters
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(token) = &s.settings.api_token else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            if let Some(b) = v.strip_prefix("Bearer ") {
                return Some(b.trim().to_string());
            }
            let basic = v.strip_prefix("Basic ")?;
            let decoded =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, basic.trim())
                    .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            text.split_once(':')
                .map(|(_, password)| password.to_string())
        })
        .unwrap_or_default();
    if hooks::constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
        return next.run(req).await;
    }
    if req.uri().path().starts_with("/api/") {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({
                "error": "this API needs `Authorization: Bearer <token>` with the server's API token"
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"flowmeter\", charset=\"UTF-8\"")],
            "This dashboard needs the server's API token: any user name, the token as the password.\n",
        )
            .into_response()
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: call it before telling
/// anyone where the server listens, or a signal sent right after (before
/// the server polls it) would kill the process with deliveries still
/// queued. Must be called inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            let recv = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = recv(interrupt) => {},
                _ = recv(term) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
