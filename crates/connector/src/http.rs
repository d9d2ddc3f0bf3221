//! The one HTTP layer every HTTP connector uses.
//!
//! [`HttpClient`] wraps a `reqwest` client built from an [`HttpConfig`]: a
//! base URL (configurable, which is also how tests point a connector at a
//! mock server), an auth header the connector provides, and the policies
//! every API needs:
//!
//! - retries with exponential backoff and jitter on 5xx answers and on
//!   connection errors, bounded by [`HttpConfig::max_attempts`];
//! - `429` and `403` answers with `Retry-After` wait that long and retry;
//! - primary rate limits (`x-ratelimit-remaining: 0` with
//!   `x-ratelimit-reset: <epoch>`, GitLab's `RateLimit-Remaining` /
//!   `RateLimit-Reset`) make the next request wait until the reset, with a
//!   message through [`crate::report`];
//! - GraphQL over the same client ([`HttpClient::graphql`]): rate-limit
//!   answers inside a `200` (`RATE_LIMITED`, `RATE_LIMIT`) wait and ask for
//!   the same page again;
//! - a request counter ([`HttpClient::requests`]) for [`crate::SyncBatch`];
//! - optional ETag conditional requests ([`HttpClient::get_conditional`]);
//! - `Link: <...>; rel="next"` parsing ([`next_link`]);
//! - errors mapped to [`ConnectorError`] naming the call (`GET /path`): 401
//!   is [`ConnectorError::Unauthorized`] naming the token's environment
//!   variable, 404 is [`ConnectorError::NotFound`].
//!
//! The token is never logged and never part of an error: the auth header is
//! marked sensitive, error messages carry only the method and path, and
//! `reqwest` errors are stripped of their URL.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ConnectorError;

/// How a connector talks to its API. Build with [`HttpConfig::new`] and the
/// builder methods; nothing here is printed except the base URL.
#[derive(Clone)]
pub struct HttpConfig {
    /// Name of the source, the first word of every error.
    pub source_name: String,
    /// e.g. `https://api.pagerduty.com`; paths are joined onto it.
    pub base_url: String,
    /// Environment variable the token came from (named in 401 errors).
    pub token_env: String,
    auth: Option<(HeaderName, HeaderValue)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Attempts per request, first try included (default 5).
    pub max_attempts: u32,
    /// First backoff delay; doubles per retry, plus up to 50 % jitter
    /// (default 500 ms; tests set a few ms).
    pub base_delay: Duration,
    /// Longest backoff delay (default 30 s).
    pub max_delay: Duration,
    /// Longest wait for a rate limit reset or `Retry-After` before giving up
    /// with an error (default 1 hour).
    pub max_rate_limit_wait: Duration,
    /// Per-request timeout (default 60 s).
    pub timeout: Duration,
    /// An auth header computed per request (tokens that expire, such as a
    /// GitHub App installation's), instead of the static one.
    dynamic_auth: Option<Arc<dyn AuthSource>>,
}

/// An auth header that can change during a sync (it is refreshed before it
/// expires). The value must be marked sensitive.
#[async_trait::async_trait]
pub trait AuthSource: Send + Sync + std::fmt::Debug {
    async fn header(&self) -> Result<(HeaderName, HeaderValue), ConnectorError>;
}

/// The HTTP methods connectors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What a GraphQL call can fail with, before the caller names the object.
#[derive(Debug)]
pub enum GraphQlError {
    /// A connector error ready to report.
    Connector(ConnectorError),
    /// The server answered and refused the query itself (its `errors`, no
    /// data): a field, type or argument its schema does not have. Not
    /// transient, unlike a timeout, a rate limit or a 5xx, which are
    /// [`GraphQlError::Connector`].
    Rejected(ConnectorError),
    /// An object the query names (e.g. `repository`) is null with a
    /// `NOT_FOUND` error; the message is GitHub's.
    NotFound(String),
}

impl From<ConnectorError> for GraphQlError {
    fn from(e: ConnectorError) -> Self {
        GraphQlError::Connector(e)
    }
}

/// A GraphQL error entry that refuses the query itself (GitHub's schema
/// has no such field, type or argument), not one met while running it (a
/// timeout: "Something went wrong while executing your query").
fn is_refusal(e: &Value) -> bool {
    let code = e["extensions"]["code"].as_str().unwrap_or("");
    matches!(
        code,
        "undefinedField" | "undefinedType" | "argumentNotAccepted" | "missingRequiredArguments"
    ) || e["message"]
        .as_str()
        .is_some_and(|m| m.contains("doesn't exist on type"))
}

/// A GraphQL error entry that means "rate limited": GitHub documents
/// `RATE_LIMITED` and has been seen answering `RATE_LIMIT`; other servers
/// only say so in the message.
fn is_rate_limit_error(e: &Value) -> bool {
    let t = e["type"].as_str().unwrap_or("").to_ascii_uppercase();
    let code = e["extensions"]["code"]
        .as_str()
        .unwrap_or("")
        .to_ascii_uppercase();
    t.starts_with("RATE_LIMIT")
        || code.starts_with("RATE_LIMIT")
        || e["message"]
            .as_str()
            .is_some_and(|m| m.to_ascii_lowercase().contains("rate limit"))
}

/// The `path` of a GraphQL error, dotted (`repository.pullRequests.nodes.2`).
fn graphql_path(error: &Value) -> Option<String> {
    let path = error["path"].as_array().filter(|p| !p.is_empty())?;
    Some(
        path.iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Whether a top-level field of `data` is null (the object was not found).
fn has_null_object(data: &Value) -> bool {
    data.as_object()
        .is_some_and(|m| m.values().any(Value::is_null))
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("source_name", &self.source_name)
            .field("base_url", &self.base_url)
            .field("token_env", &self.token_env)
            .field("auth", &self.auth.as_ref().map(|(n, _)| n.as_str()))
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("dynamic_auth", &self.dynamic_auth.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    pub fn new(source_name: impl Into<String>, base_url: impl Into<String>) -> Self {
        HttpConfig {
            source_name: source_name.into(),
            base_url: base_url.into(),
            token_env: String::new(),
            auth: None,
            headers: Vec::new(),
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(3600),
            timeout: Duration::from_secs(60),
            dynamic_auth: None,
        }
    }

    /// Authenticates every request with a header from `source` (asked per
    /// request, so it can refresh an expiring token); `token_env` names
    /// where its secret came from in 401 errors.
    pub fn dynamic_auth(
        mut self,
        source: Arc<dyn AuthSource>,
        token_env: impl Into<String>,
    ) -> Self {
        self.dynamic_auth = Some(source);
        self.token_env = token_env.into();
        self
    }

    /// The auth header (e.g. `Authorization: Token token=...`) and the
    /// environment variable its secret came from. The value is marked
    /// sensitive and never printed.
    pub fn auth(
        mut self,
        header: &str,
        value: &str,
        token_env: impl Into<String>,
    ) -> Result<Self, ConnectorError> {
        let name =
            HeaderName::from_bytes(header.as_bytes()).map_err(|_| ConnectorError::Config {
                source_name: self.source_name.clone(),
                message: format!("invalid header name `{header}`"),
            })?;
        let token_env = token_env.into();
        let mut value = HeaderValue::from_str(value).map_err(|_| ConnectorError::Config {
            source_name: self.source_name.clone(),
            message: format!(
                "the token in `{token_env}` contains characters not allowed in an HTTP header"
            ),
        })?;
        value.set_sensitive(true);
        self.auth = Some((name, value));
        self.token_env = token_env;
        Ok(self)
    }

    /// HTTP Basic authentication (`user:secret`, e.g. Atlassian's e-mail and
    /// API token); `secret_env` names where the secret came from.
    pub fn basic_auth(
        self,
        user: &str,
        secret: &str,
        secret_env: impl Into<String>,
    ) -> Result<Self, ConnectorError> {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        self.auth("authorization", &format!("Basic {encoded}"), secret_env)
    }

    /// Another header sent with every request (e.g. `Accept`).
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// An answer with a JSON body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl HttpResponse {
    /// The `rel="next"` URL of the `Link` header, if any.
    pub fn next_link(&self) -> Option<String> {
        next_link(&self.headers)
    }

    pub fn etag(&self) -> Option<String> {
        header_str(&self.headers, "etag").map(str::to_string)
    }

    /// The body as a typed value; a mismatch is an API error naming `call`.
    pub fn json<T: DeserializeOwned>(
        self,
        source_name: &str,
        call: &str,
    ) -> Result<T, ConnectorError> {
        serde_json::from_value(self.body).map_err(|e| ConnectorError::Api {
            source_name: source_name.to_string(),
            call: call.to_string(),
            message: format!("unexpected response shape: {e}"),
        })
    }
}

/// The outcome of a conditional GET.
#[derive(Debug, Clone)]
pub enum Conditional {
    /// `304 Not Modified`: what was fetched with that ETag is still current.
    NotModified,
    Modified(HttpResponse),
}

/// The shared HTTP client. Cheap to clone (clones share the counter).
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
    base: Url,
    requests: Arc<AtomicU64>,
    /// When the primary rate limit is exhausted: wait until this epoch second.
    blocked_until: Arc<Mutex<Option<u64>>>,
}

impl HttpClient {
    pub fn new(config: HttpConfig) -> Result<Self, ConnectorError> {
        let base_text = config.base_url.trim_end_matches('/').to_string() + "/";
        let base = Url::parse(&base_text).map_err(|e| ConnectorError::Config {
            source_name: config.source_name.clone(),
            message: format!("invalid API URL `{}`: {e}", config.base_url),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ConnectorError::Config {
                source_name: config.source_name.clone(),
                message: format!("API URL `{}` must start with https://", config.base_url),
            });
        }
        let mut headers = HeaderMap::new();
        for (n, v) in &config.headers {
            headers.insert(n.clone(), v.clone());
        }
        if let Some((n, v)) = &config.auth {
            headers.insert(n.clone(), v.clone());
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("flowmeter/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| ConnectorError::Config {
                source_name: config.source_name.clone(),
                message: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(HttpClient {
            client,
            config,
            base,
            requests: Arc::new(AtomicU64::new(0)),
            blocked_until: Arc::new(Mutex::new(None)),
        })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    pub fn source_name(&self) -> &str {
        &self.config.source_name
    }

    /// HTTP requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The full URL of `path` (relative to the base URL, or absolute as in a
    /// `Link` header).
    pub fn url(&self, path: &str) -> Result<Url, ConnectorError> {
        let parsed = if path.starts_with("http://") || path.starts_with("https://") {
            Url::parse(path)
        } else {
            self.base.join(path.trim_start_matches('/'))
        };
        parsed.map_err(|e| ConnectorError::Config {
            source_name: self.config.source_name.clone(),
            message: format!("invalid URL for `{}`: {e}", call_name("GET", path)),
        })
    }

    /// GET `path` with `query`, the body parsed into `T`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ConnectorError> {
        let resp = self.get(path, query).await?;
        resp.json(&self.config.source_name, &call_name("GET", path))
    }

    /// Like [`HttpClient::get_json`], with `None` for a 404 (a record that
    /// is gone, or was never visible to the token).
    pub async fn get_json_if_found<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, ConnectorError> {
        match self.get_json(path, query).await {
            Ok(body) => Ok(Some(body)),
            Err(ConnectorError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET `path` with `query`: the JSON body and the headers.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<HttpResponse, ConnectorError> {
        match self.send(Method::Get, path, query, None, None).await? {
            Conditional::Modified(r) => Ok(r),
            // Without If-None-Match a 304 is not expected; treat as empty.
            Conditional::NotModified => Ok(HttpResponse {
                status: 304,
                headers: HeaderMap::new(),
                body: Value::Null,
            }),
        }
    }

    /// GET with `If-None-Match: etag` when an ETag is given: `304` comes back
    /// as [`Conditional::NotModified`].
    pub async fn get_conditional(
        &self,
        path: &str,
        query: &[(&str, String)],
        etag: Option<&str>,
    ) -> Result<Conditional, ConnectorError> {
        self.send(Method::Get, path, query, None, etag).await
    }

    /// Every item of a paged JSON-array list: follows `Link: rel="next"`
    /// (GitHub, GitLab) or GitLab's `x-next-page`, until the last page.
    /// For the short lists inside one record (a merge request's commits and
    /// notes, a deployment's statuses) that must never be cut at one page.
    pub async fn get_all_pages(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        let mut resp = self.get(path, query).await?;
        // A server that ignores paging could loop: stop at 10,000 pages.
        for _ in 0..10_000 {
            let items = match resp.body.take() {
                Value::Array(items) => items,
                _ => Vec::new(),
            };
            let got = items.len();
            out.extend(items);
            if got == 0 {
                break;
            }
            if let Some(next) = resp.next_link() {
                resp = self.get(&next, &[]).await?;
            } else if let Some(page) = header_str(&resp.headers, "x-next-page")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
            {
                let mut q: Vec<(&str, String)> = query
                    .iter()
                    .filter(|(k, _)| *k != "page")
                    .cloned()
                    .collect();
                q.push(("page", page));
                resp = self.get(path, &q).await?;
            } else {
                break;
            }
        }
        Ok(out)
    }

    /// POST a JSON body to `path`; the JSON answer.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<HttpResponse, ConnectorError> {
        match self.send(Method::Post, path, &[], Some(body), None).await? {
            Conditional::Modified(r) => Ok(r),
            Conditional::NotModified => Ok(HttpResponse {
                status: 304,
                headers: HeaderMap::new(),
                body: Value::Null,
            }),
        }
    }

    /// Runs a GraphQL `query` with `variables` against `path` (e.g.
    /// `/graphql`) and returns `data`. `what` names the call in errors
    /// (`POST /graphql (pullRequests of acme/web)`).
    ///
    /// Rate-limit answers are retried like any other: besides the HTTP
    /// ones, a `200` whose `errors` carry a rate-limit type (`RATE_LIMITED`,
    /// and the `RATE_LIMIT` spelling also seen from GitHub) or message waits
    /// for the reset (or backs off) and asks for the same page again.
    /// `NOT_FOUND` on a null object is [`GraphQlError::NotFound`]; any other
    /// error is an API error, with data or without (a field that failed is
    /// null in a partial answer, and taking it for empty loses data).
    pub async fn graphql(
        &self,
        path: &str,
        what: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, GraphQlError> {
        let call = format!(
            "POST {} ({what})",
            call_name("POST", path).trim_start_matches("POST ")
        );
        let body = serde_json::json!({ "query": query, "variables": variables });
        let mut limited = 0u32;
        loop {
            let resp = self.post_json(path, &body).await.map_err(|e| match e {
                ConnectorError::Api {
                    source_name,
                    message,
                    ..
                } => GraphQlError::Connector(ConnectorError::Api {
                    source_name,
                    call: call.clone(),
                    message,
                }),
                other => GraphQlError::Connector(other),
            })?;
            let errors = resp.body["errors"].as_array().cloned().unwrap_or_default();
            if errors.iter().any(is_rate_limit_error) {
                limited += 1;
                if limited >= self.config.max_attempts {
                    return Err(GraphQlError::Connector(ConnectorError::Api {
                        source_name: self.config.source_name.clone(),
                        call,
                        message: format!("still rate limited after {limited} attempts"),
                    }));
                }
                // The reset time when the primary limit is spent, else
                // `Retry-After`, else back off (a secondary limit).
                let wait = retry_after(&resp.headers)
                    .or_else(|| {
                        rate_limit_exhausted(&resp.headers)
                            .then(|| reset_epoch(&resp.headers))
                            .flatten()
                            .map(|r| Duration::from_secs(r.saturating_sub(now_epoch()) + 1))
                    })
                    .unwrap_or_else(|| self.backoff(limited));
                self.wait_rate_limited(&call, wait).await?;
                continue;
            }
            if let Some(e) = errors
                .iter()
                .find(|e| e["type"] == "NOT_FOUND")
                .filter(|_| !resp.body["data"].is_object() || has_null_object(&resp.body["data"]))
            {
                return Err(GraphQlError::NotFound(
                    e["message"].as_str().unwrap_or("not found").to_string(),
                ));
            }
            // Any other error fails the call, with data or without: a field
            // the server could not resolve comes back null beside an error
            // naming its path (GraphQL spec, "Handling Field Errors"; GitHub
            // answers `FORBIDDEN` on a field a token may not read), and a
            // pull request with its commits or reviews null is not one
            // without them.
            if !errors.is_empty() {
                let msg = errors
                    .iter()
                    .filter_map(|e| {
                        let message = e["message"].as_str()?;
                        Some(match graphql_path(e) {
                            Some(path) => format!("{message} (at {path})"),
                            None => message.to_string(),
                        })
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let e = ConnectorError::Api {
                    source_name: self.config.source_name.clone(),
                    call,
                    message: format!("GraphQL error: {msg}"),
                };
                return Err(if errors.iter().any(is_refusal) {
                    GraphQlError::Rejected(e)
                } else {
                    GraphQlError::Connector(e)
                });
            }
            return Ok(resp.body["data"].clone());
        }
    }

    /// Waits `wait` for a rate limit (saying so), or fails when that is
    /// longer than [`HttpConfig::max_rate_limit_wait`].
    async fn wait_rate_limited(&self, call: &str, wait: Duration) -> Result<(), ConnectorError> {
        if wait > self.config.max_rate_limit_wait {
            return Err(ConnectorError::Api {
                source_name: self.config.source_name.clone(),
                call: call.to_string(),
                message: format!(
                    "rate limited for {}s, longer than the {}s this sync waits; try again later",
                    wait.as_secs(),
                    self.config.max_rate_limit_wait.as_secs()
                ),
            });
        }
        crate::report::info(format!(
            "{}: rate limited on `{call}`, waiting {}s before retrying",
            self.config.source_name,
            wait.as_secs_f64().ceil() as u64
        ));
        // The wait just taken covers any recorded reset.
        *self.blocked_until.lock().unwrap() = None;
        tokio::time::sleep(wait).await;
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        etag: Option<&str>,
    ) -> Result<Conditional, ConnectorError> {
        let call = call_name(method.as_str(), path);
        let url = self.url(path)?;
        let source = &self.config.source_name;
        let api_err = |message: String| ConnectorError::Api {
            source_name: source.clone(),
            call: call.clone(),
            message,
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.wait_for_rate_limit(&call).await?;
            let mut req = match method {
                Method::Get => self.client.get(url.clone()),
                Method::Post => self.client.post(url.clone()),
            };
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(tag) = etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, tag);
            }
            if let Some(auth) = &self.config.dynamic_auth {
                let (name, value) = auth.header().await?;
                req = req.header(name, value);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let e = e.without_url();
                    if attempt < self.config.max_attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request())
                    {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(api_err(format!(
                        "request failed after {attempt} attempt(s): {}",
                        error_chain(&e)
                    )));
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            self.note_rate_limit(&headers);

            if status == StatusCode::NOT_MODIFIED {
                return Ok(Conditional::NotModified);
            }
            if status.is_success() {
                let bytes = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        if attempt < self.config.max_attempts {
                            tokio::time::sleep(self.backoff(attempt)).await;
                            continue;
                        }
                        return Err(api_err(format!(
                            "reading the response failed: {}",
                            error_chain(&e.without_url())
                        )));
                    }
                };
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes)
                        .map_err(|e| api_err(format!("the response is not JSON: {e}")))?
                };
                return Ok(Conditional::Modified(HttpResponse {
                    status: status.as_u16(),
                    headers,
                    body,
                }));
            }
            let body_text = resp.text().await.unwrap_or_default();
            let detail = short_detail(&body_text);

            match status.as_u16() {
                401 => {
                    return Err(ConnectorError::Unauthorized {
                        source_name: source.clone(),
                        call,
                        token_env: self.config.token_env.clone(),
                    })
                }
                404 => {
                    return Err(ConnectorError::NotFound {
                        source_name: source.clone(),
                        call,
                        hint: format!(
                            "check the API URL `{}` and the names in the configuration",
                            self.config.base_url
                        ),
                    })
                }
                429 | 403 => {
                    let until_reset = || {
                        reset_epoch(&headers)
                            .map(|r| Duration::from_secs(r.saturating_sub(now_epoch()) + 1))
                    };
                    // `Retry-After`; else the reset of a spent limit; on a
                    // 429 that says nothing of what remains, its reset, or
                    // Opsgenie's period (`X-RateLimit-State: THROTTLED` with
                    // `X-RateLimit-Period-In-Sec`: its token buckets refill
                    // over it); else GitHub's secondary limit (a 403 or 429
                    // with requests remaining) without Retry-After: "wait
                    // at least one minute", not for the primary reset.
                    // A reset given as seconds to wait (PagerDuty: "the
                    // ratelimit-reset header will let you know how many
                    // seconds to wait before retrying") is this limit's,
                    // whatever remains of another.
                    let throttled = status.as_u16() == 429
                        && (rate_limit_remaining(&headers).is_none()
                            || reset_is_a_wait(&headers)
                            || reset_is_a_date(&headers));
                    let wait = retry_after(&headers)
                        .or_else(|| rate_limit_exhausted(&headers).then(until_reset).flatten())
                        .or_else(|| throttled.then(until_reset).flatten())
                        .or_else(|| throttled.then(|| throttle_period(&headers)).flatten())
                        .or_else(|| {
                            (body_text.to_ascii_lowercase().contains("rate limit"))
                                .then(|| Duration::from_secs(60))
                        });
                    match wait {
                        Some(wait) if attempt < self.config.max_attempts => {
                            self.wait_rate_limited(&call, wait).await?;
                            continue;
                        }
                        Some(_) => {
                            return Err(api_err(format!(
                                "still rate limited after {attempt} attempts (HTTP {})",
                                status.as_u16()
                            )))
                        }
                        None if status.as_u16() == 403 => {
                            return Err(api_err(format!(
                                "access denied (HTTP 403): check that the token in `{}` has read access{detail}",
                                self.config.token_env
                            )))
                        }
                        None => {
                            if attempt < self.config.max_attempts {
                                tokio::time::sleep(self.backoff(attempt)).await;
                                continue;
                            }
                            return Err(api_err(format!(
                                "rate limited (HTTP 429) after {attempt} attempts"
                            )));
                        }
                    }
                }
                s if status.is_server_error() => {
                    if attempt < self.config.max_attempts {
                        // A 503 may say when to come back (Jira: a request
                        // sent sooner fails again): at least that, within
                        // the longest wait a sync takes.
                        let wait = retry_after(&headers)
                            .map_or_else(|| self.backoff(attempt), |w| w.max(self.backoff(attempt)))
                            .min(self.config.max_rate_limit_wait);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(api_err(format!(
                        "HTTP {s} after {attempt} attempts{detail}"
                    )));
                }
                s => return Err(api_err(format!("HTTP {s}{detail}"))),
            }
        }
    }

    /// Exponential backoff with up to 50 % jitter, capped at `max_delay`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16));
        let capped = exp.min(self.config.max_delay);
        let jitter_frac = (random_u64() % 1000) as f64 / 2000.0;
        capped + capped.mul_f64(jitter_frac)
    }

    fn note_rate_limit(&self, headers: &HeaderMap) {
        if rate_limit_exhausted(headers) {
            if let Some(reset) = reset_epoch(headers) {
                *self.blocked_until.lock().unwrap() = Some(reset);
            }
        }
    }

    async fn wait_for_rate_limit(&self, call: &str) -> Result<(), ConnectorError> {
        let until = self.blocked_until.lock().unwrap().take();
        let Some(until) = until else { return Ok(()) };
        let now = now_epoch();
        if until <= now {
            return Ok(());
        }
        let wait = Duration::from_secs(until - now + 1);
        if wait > self.config.max_rate_limit_wait {
            return Err(ConnectorError::Api {
                source_name: self.config.source_name.clone(),
                call: call.to_string(),
                message: format!(
                    "the API rate limit resets in {}s, longer than the {}s this sync waits; try again later",
                    wait.as_secs(),
                    self.config.max_rate_limit_wait.as_secs()
                ),
            });
        }
        crate::report::info(format!(
            "{}: API rate limit reached, waiting {}s until it resets",
            self.config.source_name,
            wait.as_secs()
        ));
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// `GET /path` for errors: the path without query string or host, so no
/// secret can leak through it.
pub fn call_name(method: &str, path: &str) -> String {
    let p = if path.starts_with("http://") || path.starts_with("https://") {
        Url::parse(path)
            .map(|u| u.path().to_string())
            .unwrap_or_default()
    } else {
        path.split('?').next().unwrap_or(path).to_string()
    };
    let p = if p.starts_with('/') {
        p
    } else {
        format!("/{p}")
    };
    format!("{method} {p}")
}

/// The next page of a GraphQL connection from its `pageInfo`
/// (`hasNextPage`, `endCursor`); `None` on the last page.
pub fn end_cursor(page_info: &Value) -> Option<String> {
    if page_info["hasNextPage"].as_bool() != Some(true) {
        return None;
    }
    page_info["endCursor"].as_str().map(str::to_string)
}

/// The `rel="next"` target of a `Link` header
/// (`<https://...?page=2>; rel="next", <...>; rel="last"`).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_link_next)
}

/// Parses one `Link` header value for its `rel="next"` URL.
pub fn parse_link_next(value: &str) -> Option<String> {
    for part in split_link_values(value) {
        let part = part.trim();
        let Some(end) = part.find('>') else { continue };
        if !part.starts_with('<') {
            continue;
        }
        let url = &part[1..end];
        let is_next = part[end + 1..].split(';').any(|param| {
            let param = param.trim();
            let Some((k, v)) = param.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(url.to_string());
        }
    }
    None
}

/// Splits at commas that are outside `<...>` (URLs may contain commas).
fn split_link_values(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// The first of `vars` that is set and not empty: `(value, variable name)`.
/// The error names the variables, never a value.
pub fn token_from_env(vars: &[&str]) -> Result<(String, String), ConnectorError> {
    for var in vars {
        if let Ok(v) = std::env::var(var) {
            let v = v.trim().to_string();
            if !v.is_empty() {
                return Ok((v, var.to_string()));
            }
        }
    }
    let names = vars
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(ConnectorError::Config {
        source_name: "flowmeter".into(),
        message: format!("no API token: set the environment variable {names}"),
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// How many requests remain, as `x-ratelimit-remaining` (GitHub,
/// PagerDuty style) or GitLab's `RateLimit-Remaining` says (header names
/// are case-insensitive); `None` when the response does not say.
fn rate_limit_remaining(headers: &HeaderMap) -> Option<&str> {
    ["x-ratelimit-remaining", "ratelimit-remaining"]
        .iter()
        .find_map(|h| header_str(headers, h))
}

/// No request remains (`x-ratelimit-remaining: 0`).
fn rate_limit_exhausted(headers: &HeaderMap) -> bool {
    rate_limit_remaining(headers).and_then(|v| v.parse::<u64>().ok()) == Some(0)
}

/// Opsgenie's throttling period (`X-RateLimit-Period-In-Sec`, sent with
/// `X-RateLimit-State: THROTTLED` on a 429; no `Retry-After`).
fn throttle_period(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, "x-ratelimit-period-in-sec")?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The reset header's number (`x-ratelimit-reset` / `RateLimit-Reset`):
/// epoch seconds (GitHub, GitLab) or, below [`EPOCH_FLOOR`], seconds to
/// wait (PagerDuty).
fn reset_value(headers: &HeaderMap) -> Option<u64> {
    ["x-ratelimit-reset", "ratelimit-reset"]
        .iter()
        .filter_map(|h| header_str(headers, h))
        .find_map(|v| v.parse::<u64>().ok().or_else(|| date_epoch(v)))
}

/// A reset given as a date: Jira's `X-RateLimit-Reset`, "the timestamp (in
/// ISO 8601 format) when the rate limit will reset, calculated as the
/// request timestamp plus the Retry-After period", as `yyyy-MM-ddTHH:mmZ`
/// (or any RFC 3339 time); epoch seconds.
fn date_epoch(v: &str) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%MZ")
                .map(|t| t.and_utc().timestamp())
        })
        .ok()?;
    u64::try_from(at).ok()
}

/// Whether the reset header is a date ([`date_epoch`]): the reset of the
/// limit that refused the request, whatever else remains.
fn reset_is_a_date(headers: &HeaderMap) -> bool {
    ["x-ratelimit-reset", "ratelimit-reset"]
        .iter()
        .filter_map(|h| header_str(headers, h))
        .any(|v| v.parse::<u64>().is_err() && date_epoch(v).is_some())
}

/// Smaller reset values are seconds to wait, not an epoch (2001-09-09).
const EPOCH_FLOOR: u64 = 1_000_000_000;

/// Whether the reset header says how many seconds to wait.
fn reset_is_a_wait(headers: &HeaderMap) -> bool {
    reset_value(headers).is_some_and(|v| v < EPOCH_FLOOR)
}

/// The reset time as epoch seconds.
fn reset_epoch(headers: &HeaderMap) -> Option<u64> {
    reset_value(headers).map(|v| if v < EPOCH_FLOOR { now_epoch() + v } else { v })
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = header_str(headers, "retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = at.timestamp().saturating_sub(now_epoch() as i64).max(0) as u64;
    Some(Duration::from_secs(secs))
}

fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// A short excerpt of an error body (APIs explain 4xx answers there).
fn short_detail(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one_line.chars().take(200).collect();
    format!(": {cut}")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SECRET: &str = "s3cr3t-token-value";

    /// `GET /x` answered `first` once, then 200: it gets through on the
    /// second request; how long that took.
    async fn through_after(first: ResponseTemplate) -> Duration {
        let server = MockServer::start().await;
        Mock::given(path("/x"))
            .respond_with(first)
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(path("/x"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(&server)
            .await;
        let c = client(&server);
        let start = std::time::Instant::now();
        c.get("/x", &[]).await.unwrap();
        assert_eq!(c.requests(), 2);
        start.elapsed()
    }

    fn client(server: &MockServer) -> HttpClient {
        let cfg = HttpConfig::new("test", server.uri())
            .auth(
                "authorization",
                &format!("Token token={SECRET}"),
                "TEST_TOKEN",
            )
            .unwrap()
            .header("accept", "application/json")
            .base_delay(Duration::from_millis(2));
        HttpClient::new(cfg).unwrap()
    }

    #[tokio::test]
    async fn sends_auth_and_query_and_parses_json() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/things"))
            .and(query_param("a", "1"))
            .and(header(
                "authorization",
                format!("Token token={SECRET}").as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let v: Value = c.get_json("/things", &[("a", "1".into())]).await.unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(c.requests(), 1);
    }

    #[tokio::test]
    async fn retries_5xx_then_succeeds() {
        let server = MockServer::start().await;
        Mock::given(path("/x"))
            .respond_with(ResponseTemplate::new(502))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(path("/x"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([1])))
            .mount(&server)
            .await;
        let c = client(&server);
        let v: Value = c.get_json("x", &[]).await.unwrap();
        assert_eq!(v, serde_json::json!([1]));
        assert_eq!(c.requests(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let server = MockServer::start().await;
        Mock::given(path("/x"))
            .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
            .mount(&server)
            .await;
        let c = client(&server);
        let err = c.get("/x", &[]).await.unwrap_err().to_string();
        assert!(err.contains("GET /x"), "{err}");
        assert!(err.contains("500"), "{err}");
        assert_eq!(c.requests(), 5);
    }

    #[tokio::test]
    async fn honours_retry_after_on_429() {
        let took =
            through_after(ResponseTemplate::new(429).insert_header("retry-after", "1")).await;
        assert!(took >= Duration::from_millis(950));
    }

    #[tokio::test]
    async fn waits_for_primary_rate_limit_reset_on_403() {
        let reset = now_epoch() + 1;
        through_after(
            ResponseTemplate::new(403)
                .insert_header("ratelimit-remaining", "0")
                .insert_header("ratelimit-reset", reset.to_string().as_str()),
        )
        .await;
    }

    #[tokio::test]
    async fn waits_out_opsgenie_s_throttling_period_on_429() {
        // Opsgenie sends no Retry-After: `X-RateLimit-State: THROTTLED` and
        // `X-RateLimit-Period-In-Sec`. This one throttles for a second from
        // the first request; quick retries would all be refused.
        let server = MockServer::start().await;
        let first = Arc::new(Mutex::new(None::<std::time::Instant>));
        Mock::given(path("/x"))
            .respond_with(move |_: &wiremock::Request| {
                let since = *first.lock().unwrap().get_or_insert_with(std::time::Instant::now);
                if since.elapsed() < Duration::from_millis(900) {
                    ResponseTemplate::new(429)
                        .insert_header("X-RateLimit-State", "THROTTLED")
                        .insert_header("X-RateLimit-Reason", "INCIDENT")
                        .insert_header("X-RateLimit-Period-In-Sec", "1")
                        .set_body_json(serde_json::json!({"message": "You are making too many requests! To avoid errors, we recommend you limit requests.", "took": 0.0, "requestId": "r"}))
                } else {
                    ResponseTemplate::new(200).set_body_json(serde_json::json!({}))
                }
            })
            .mount(&server)
            .await;
        let c = client(&server);
        c.get("/x", &[]).await.unwrap();
        assert_eq!(c.requests(), 2, "one wait of the period, then through");
    }

    #[tokio::test]
    async fn a_429_with_requests_remaining_does_not_wait_for_the_primary_reset() {
        // GitHub's secondary limit: requests remain, the primary reset is an
        // hour away; retrying soon is right, waiting the hour is not.
        through_after(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-remaining", "4000")
                .insert_header(
                    "x-ratelimit-reset",
                    (now_epoch() + 3600).to_string().as_str(),
                ),
        )
        .await;
    }

    #[tokio::test]
    async fn a_429_waits_a_reset_given_as_seconds_even_with_requests_remaining() {
        // PagerDuty: `ratelimit-reset` is the seconds to wait; what remains
        // may be another dimension's.
        let took = through_after(
            ResponseTemplate::new(429)
                .insert_header("ratelimit-remaining", "10")
                .insert_header("ratelimit-reset", "1"),
        )
        .await;
        assert!(took >= Duration::from_millis(950), "{took:?}");
    }

    #[tokio::test]
    async fn a_429_waits_a_reset_given_as_a_date() {
        // Jira: `X-RateLimit-Reset` as `yyyy-MM-ddTHH:mmZ`, with requests
        // remaining of other limits; this minute's (already begun).
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%MZ").to_string();
        let took = through_after(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-remaining", "10")
                .insert_header("x-ratelimit-reset", now.as_str()),
        )
        .await;
        assert!(took >= Duration::from_millis(950), "{took:?}");
        assert_eq!(date_epoch("2026-12-03T10:15Z"), Some(1_796_292_900));
        assert_eq!(date_epoch("2026-12-03T10:15:30+00:00"), Some(1_796_292_930));
    }

    #[tokio::test]
    async fn a_5xx_with_retry_after_waits_it() {
        let took =
            through_after(ResponseTemplate::new(503).insert_header("retry-after", "1")).await;
        assert!(took >= Duration::from_millis(950), "{took:?}");
    }

    #[tokio::test]
    async fn plain_403_is_an_error_without_retry() {
        let server = MockServer::start().await;
        Mock::given(path("/x"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&server)
            .await;
        let c = client(&server);
        let err = c.get("/x", &[]).await.unwrap_err().to_string();
        assert!(err.contains("403") && err.contains("TEST_TOKEN"), "{err}");
        assert_eq!(c.requests(), 1);
    }

    #[tokio::test]
    async fn unauthorized_names_env_var_not_token() {
        let server = MockServer::start().await;
        Mock::given(path("/x"))
            .respond_with(ResponseTemplate::new(401).set_body_string("bad token"))
            .mount(&server)
            .await;
        let c = client(&server);
        let err = c.get("/x", &[("q", "v".into())]).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Unauthorized { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("TEST_TOKEN") && msg.contains("GET /x"),
            "{msg}"
        );
        assert!(!msg.contains(SECRET));
        assert!(!format!("{err:?}").contains(SECRET));
        assert!(!format!("{c:?}").contains(SECRET));
    }

    #[tokio::test]
    async fn not_found_is_mapped() {
        let server = MockServer::start().await;
        let c = client(&server);
        let err = c.get("/missing", &[]).await.unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("GET /missing"));
    }

    #[tokio::test]
    async fn connection_errors_are_retried_then_reported() {
        // A port nothing listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let cfg = HttpConfig::new("test", format!("http://127.0.0.1:{port}"))
            .auth("authorization", SECRET, "TEST_TOKEN")
            .unwrap()
            .base_delay(Duration::from_millis(1))
            .max_attempts(3);
        let c = HttpClient::new(cfg).unwrap();
        let err = c.get("/x", &[]).await.unwrap_err().to_string();
        assert!(err.contains("GET /x") && err.contains("3 attempt"), "{err}");
        assert!(!err.contains(SECRET));
        assert_eq!(c.requests(), 3);
    }

    #[tokio::test]
    async fn etag_conditional_requests() {
        let server = MockServer::start().await;
        Mock::given(path("/x"))
            .and(header("if-none-match", "\"abc\""))
            .respond_with(ResponseTemplate::new(304))
            .mount(&server)
            .await;
        Mock::given(path("/x"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("etag", "\"abc\"")
                    .set_body_json(serde_json::json!({"v": 1})),
            )
            .mount(&server)
            .await;
        let c = client(&server);
        let Conditional::Modified(r) = c.get_conditional("/x", &[], None).await.unwrap() else {
            panic!("expected a body")
        };
        let tag = r.etag().unwrap();
        assert_eq!(tag, "\"abc\"");
        assert!(matches!(
            c.get_conditional("/x", &[], Some(&tag)).await.unwrap(),
            Conditional::NotModified
        ));
    }

    #[tokio::test]
    async fn exhausted_primary_limit_delays_the_next_request() {
        let server = MockServer::start().await;
        let reset = now_epoch() + 1;
        Mock::given(path("/x"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                    .set_body_json(serde_json::json!({})),
            )
            .mount(&server)
            .await;
        let c = client(&server);
        c.get("/x", &[]).await.unwrap();
        let start = std::time::Instant::now();
        c.get("/x", &[]).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(500));
    }

    /// Regression: GitHub answered a GraphQL page with `"type":
    /// "RATE_LIMIT"` (not only the documented `RATE_LIMITED`), and the
    /// repository was skipped. Every rate-limit shape waits and asks for the
    /// same page again.
    #[tokio::test]
    async fn graphql_rate_limit_variants_are_retried_on_the_same_page() {
        for kind in ["RATE_LIMITED", "RATE_LIMIT"] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/graphql"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "data": null,
                    "errors": [{"type": kind, "message": "API rate limit exceeded for user ID 1."}]
                })))
                .up_to_n_times(2)
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path("/graphql"))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(
                        serde_json::json!({"data": {"repository": {"name": "web"}}}),
                    ),
                )
                .mount(&server)
                .await;
            let c = client(&server);
            let data = c
                .graphql(
                    "/graphql",
                    "test",
                    "query { x }",
                    serde_json::json!({"after": "Y3Vyc29yOjE="}),
                )
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert_eq!(data["repository"]["name"], "web", "{kind}");
            assert_eq!(c.requests(), 3, "{kind}");
            let bodies: Vec<Value> = server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .map(|r| serde_json::from_slice(&r.body).unwrap())
                .collect();
            assert!(
                bodies
                    .iter()
                    .all(|b| b["variables"]["after"] == "Y3Vyc29yOjE="),
                "the same page is asked for again"
            );
        }
    }

    #[tokio::test]
    async fn graphql_not_found_and_errors_are_told_apart() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": {"repository": null},
                "errors": [{"type": "NOT_FOUND", "path": ["repository"],
                            "message": "Could not resolve to a Repository with the name 'o/r'."}]
            })))
            .mount(&server)
            .await;
        let c = client(&server);
        let err = c
            .graphql("/graphql", "t", "q", Value::Null)
            .await
            .unwrap_err();
        assert!(matches!(err, GraphQlError::NotFound(m) if m.contains("o/r")));
    }

    #[tokio::test]
    async fn a_partial_graphql_answer_is_an_error_naming_the_field() {
        // GitHub's answer when a token may not read one field: the data,
        // with that field null, and an error giving its path.
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "data": {"repository": {"pullRequests": {"nodes": [
                    {"number": 1, "commits": {"nodes": []}},
                    {"number": 2, "commits": null}
                ]}}},
                "errors": [{"type": "FORBIDDEN",
                            "path": ["repository", "pullRequests", "nodes", 1, "commits"],
                            "message": "Resource not accessible by integration"}]
            })))
            .mount(&server)
            .await;
        let err = client(&server)
            .graphql("/graphql", "pullRequests of o/r", "q", Value::Null)
            .await
            .unwrap_err();
        let GraphQlError::Connector(e) = err else {
            panic!("a partial answer is an API error, not {err:?}");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("Resource not accessible by integration")
                && msg.contains("repository.pullRequests.nodes.1.commits")
                && msg.contains("pullRequests of o/r"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn every_page_of_a_list_is_read() {
        let server = MockServer::start().await;
        // Link-header paging (GitHub) ...
        let next = format!("{}/l?page=2", server.uri());
        Mock::given(path("/l"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([3])))
            .mount(&server)
            .await;
        Mock::given(path("/l"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("link", format!("<{next}>; rel=\"next\"").as_str())
                    .set_body_json(serde_json::json!([1, 2])),
            )
            .mount(&server)
            .await;
        // ... and GitLab's x-next-page.
        Mock::given(path("/g"))
            .and(query_param("page", "2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-next-page", "")
                    .set_body_json(serde_json::json!(["c"])),
            )
            .mount(&server)
            .await;
        Mock::given(path("/g"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-next-page", "2")
                    .set_body_json(serde_json::json!(["a", "b"])),
            )
            .mount(&server)
            .await;
        let c = client(&server);
        assert_eq!(
            c.get_all_pages("/l", &[]).await.unwrap(),
            vec![
                serde_json::json!(1),
                serde_json::json!(2),
                serde_json::json!(3)
            ]
        );
        let g = c
            .get_all_pages("/g", &[("per_page", "2".into())])
            .await
            .unwrap();
        assert_eq!(
            g,
            vec![
                serde_json::json!("a"),
                serde_json::json!("b"),
                serde_json::json!("c")
            ]
        );
    }

    #[test]
    fn link_header_next() {
        let v = r#"<https://api.github.com/repos/o/r/pulls?page=2&a=1,2>; rel="next", <https://api.github.com/repos/o/r/pulls?page=5>; rel="last""#;
        assert_eq!(
            parse_link_next(v).as_deref(),
            Some("https://api.github.com/repos/o/r/pulls?page=2&a=1,2")
        );
        let v = r#"<https://x/?page=1>; rel="prev", <https://x/?page=3>; rel=next"#;
        assert_eq!(parse_link_next(v).as_deref(), Some("https://x/?page=3"));
        assert_eq!(parse_link_next(r#"<https://x/?page=1>; rel="prev""#), None);
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static("<https://x/n>; rel=\"next\""),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://x/n"));
    }

    #[test]
    fn call_names_have_no_query_or_host() {
        assert_eq!(call_name("GET", "/a/b?token=x"), "GET /a/b");
        assert_eq!(call_name("GET", "a"), "GET /a");
        assert_eq!(call_name("GET", "https://h.example/p/q?x=1"), "GET /p/q");
    }

    #[test]
    fn token_from_env_picks_first_set_var() {
        std::env::set_var("FLOWMETER_TEST_TOKEN_B", "value-b");
        let (v, name) =
            token_from_env(&["FLOWMETER_TEST_TOKEN_UNSET", "FLOWMETER_TEST_TOKEN_B"]).unwrap();
        assert_eq!(
            (v.as_str(), name.as_str()),
            ("value-b", "FLOWMETER_TEST_TOKEN_B")
        );
        let err = token_from_env(&["FLOWMETER_TEST_TOKEN_UNSET"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("FLOWMETER_TEST_TOKEN_UNSET"), "{err}");
    }

    #[test]
    fn relative_paths_join_onto_base_with_prefix() {
        let c =
            HttpClient::new(HttpConfig::new("t", "https://gitlab.example.com/api/v4/")).unwrap();
        assert_eq!(
            c.url("/projects/1").unwrap().as_str(),
            "https://gitlab.example.com/api/v4/projects/1"
        );
        assert_eq!(
            c.url("https://other.example/x").unwrap().as_str(),
            "https://other.example/x"
        );
    }
}
