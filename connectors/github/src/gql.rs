//! POSTs to the GitHub GraphQL endpoint.
//!
//! The shared [`flowmeter_connector::http::HttpClient`] only sends GETs, so
//! this is the one other place that talks HTTP. It applies the same policy:
//! retries with exponential backoff on 5xx and connection errors,
//! `Retry-After` on 403/429, a wait for `x-ratelimit-reset` when
//! `x-ratelimit-remaining` is 0 (or GraphQL reports `RATE_LIMITED`), 401
//! naming the token's environment variable, and an SSO hint when GitHub
//! sends `X-GitHub-SSO`. The token is a sensitive header, never printed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flowmeter_connector::ConnectorError;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

/// What a GraphQL call can fail with, before the caller names the repo.
#[derive(Debug)]
pub enum GqlError {
    /// A connector error ready to report.
    Connector(ConnectorError),
    /// `data.repository` is null with a `NOT_FOUND` error.
    NotFound(String),
}

impl From<ConnectorError> for GqlError {
    fn from(e: ConnectorError) -> Self {
        GqlError::Connector(e)
    }
}

#[derive(Clone, Debug)]
pub struct GraphQl {
    client: reqwest::Client,
    url: String,
    source: String,
    token_env: String,
    max_attempts: u32,
    base_delay: Duration,
    max_wait: Duration,
    requests: Arc<AtomicU64>,
}

pub struct GqlOptions {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_wait: Duration,
}

impl GraphQl {
    pub fn new(
        source: &str,
        url: &str,
        token: &str,
        token_env: &str,
        opts: GqlOptions,
    ) -> Result<Self, ConnectorError> {
        let config_err = |message: String| ConnectorError::Config {
            source_name: source.to_string(),
            message,
        };
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| config_err(format!("invalid GraphQL URL `{url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(config_err(format!(
                "GraphQL URL `{url}` must start with https://"
            )));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            config_err(format!(
                "the token in `{token_env}` contains characters not allowed in an HTTP header"
            ))
        })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("flowmeter/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| {
                config_err(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        Ok(GraphQl {
            client,
            url: url.to_string(),
            source: source.to_string(),
            token_env: token_env.to_string(),
            max_attempts: opts.max_attempts.max(1),
            base_delay: opts.base_delay,
            max_wait: opts.max_wait,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Runs `query` with `variables`; returns `data`. `what` names the call in
    /// errors (e.g. `GraphQL pullRequests of acme/web`).
    pub async fn query(
        &self,
        what: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, GqlError> {
        let call = format!("POST /graphql ({what})");
        let api_err = |message: String| ConnectorError::Api {
            source_name: self.source.clone(),
            call: call.clone(),
            message,
        };
        let body = json!({ "query": query, "variables": variables });
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match self.client.post(&self.url).json(&body).send().await {
                Ok(r) => r,
                Err(e) => {
                    if attempt < self.max_attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(api_err(format!(
                        "request failed after {attempt} attempt(s): {}",
                        e.without_url()
                    ))
                    .into());
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let text = resp.text().await.unwrap_or_default();
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            let sso =
                header(&headers, "x-github-sso").is_some() || text.contains("SAML enforcement");
            match status {
                200..=299 => {}
                401 => {
                    return Err(ConnectorError::Unauthorized {
                        source_name: self.source.clone(),
                        call,
                        token_env: self.token_env.clone(),
                    }
                    .into())
                }
                403 | 429 => {
                    if sso {
                        return Err(api_err(sso_message(&self.token_env)).into());
                    }
                    if let Some(wait) = rate_limit_wait(&headers) {
                        self.wait_or_fail(wait, attempt, &call).await?;
                        continue;
                    }
                    if status == 429 && attempt < self.max_attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(api_err(format!(
                        "access denied (HTTP {status}): check that the token in `{}` has read access{}",
                        self.token_env,
                        detail(&text)
                    ))
                    .into());
                }
                s if s >= 500 => {
                    if attempt < self.max_attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(api_err(format!("HTTP {s} after {attempt} attempts")).into());
                }
                s => return Err(api_err(format!("HTTP {s}{}", detail(&text))).into()),
            }
            let Some(v) = parsed else {
                return Err(api_err("the response is not JSON".into()).into());
            };
            let errors = v["errors"].as_array().cloned().unwrap_or_default();
            if errors.iter().any(|e| e["type"] == "RATE_LIMITED") {
                let wait = reset_wait(&headers).unwrap_or(Duration::from_secs(60));
                self.wait_or_fail(wait, attempt, &call).await?;
                continue;
            }
            if errors.iter().any(|e| e["type"] == "NOT_FOUND") && v["data"]["repository"].is_null()
            {
                let msg = errors[0]["message"].as_str().unwrap_or("").to_string();
                return Err(GqlError::NotFound(msg));
            }
            if !errors.is_empty() {
                let msg = errors
                    .iter()
                    .filter_map(|e| e["message"].as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                if sso || msg.contains("SAML") {
                    return Err(api_err(sso_message(&self.token_env)).into());
                }
                if v["data"].is_null() || v["data"]["repository"].is_null() {
                    return Err(api_err(format!("GraphQL error: {msg}")).into());
                }
            }
            return Ok(v["data"].clone());
        }
    }

    async fn wait_or_fail(
        &self,
        wait: Duration,
        attempt: u32,
        call: &str,
    ) -> Result<(), ConnectorError> {
        let err = |message: String| ConnectorError::Api {
            source_name: self.source.clone(),
            call: call.to_string(),
            message,
        };
        if attempt >= self.max_attempts {
            return Err(err(format!("still rate limited after {attempt} attempts")));
        }
        if wait > self.max_wait {
            return Err(err(format!(
                "rate limited for {}s, longer than the {}s this sync waits; try again later",
                wait.as_secs(),
                self.max_wait.as_secs()
            )));
        }
        if !wait.is_zero() {
            eprintln!(
                "{}: rate limited on `{call}`, waiting {}s before retrying",
                self.source,
                wait.as_secs_f64().ceil() as u64
            );
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let d = self
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16));
        d.min(Duration::from_secs(30))
    }
}

/// The message for a 403 caused by SAML single sign-on.
pub fn sso_message(token_env: &str) -> String {
    format!(
        "the organisation enforces SAML single sign-on: authorise the token in `{token_env}` for it (GitHub → Settings → Developer settings → Personal access tokens → Configure SSO)"
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn reset_wait(h: &HeaderMap) -> Option<Duration> {
    let reset: u64 = header(h, "x-ratelimit-reset")?.parse().ok()?;
    Some(Duration::from_secs(reset.saturating_sub(now_epoch()) + 1))
}

/// `Retry-After`, or the reset time when the primary limit is exhausted.
fn rate_limit_wait(h: &HeaderMap) -> Option<Duration> {
    if let Some(v) = header(h, "retry-after").and_then(|v| v.parse::<f64>().ok()) {
        if v.is_finite() && v >= 0.0 {
            return Some(Duration::from_secs_f64(v));
        }
    }
    if header(h, "x-ratelimit-remaining") == Some("0") {
        return reset_wait(h);
    }
    None
}

fn detail(body: &str) -> String {
    let one: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.is_empty() {
        String::new()
    } else {
        format!(": {}", one.chars().take(200).collect::<String>())
    }
}
