//! A stateful mock of the GitHub REST and GraphQL APIs, built from GitHub's
//! own documentation (not from flowmeter's connector), so connector tests
//! check the connector against the real API's shape.
//!
//! Sources followed (fetched from docs.github.com and the `github/docs`
//! repository that renders it):
//!
//! * REST commits, compare: <https://docs.github.com/en/rest/commits/commits>
//! * REST pulls and reviews: <https://docs.github.com/en/rest/pulls/pulls>,
//!   <https://docs.github.com/en/rest/pulls/reviews>
//! * REST deployments and statuses: <https://docs.github.com/en/rest/deployments/deployments>,
//!   <https://docs.github.com/en/rest/deployments/statuses>
//! * REST issues: <https://docs.github.com/en/rest/issues/issues>
//! * REST repos: <https://docs.github.com/en/rest/repos/repos>
//! * REST apps / installations: <https://docs.github.com/en/rest/apps/apps>,
//!   <https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation>,
//!   <https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app>
//! * paging: <https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api>
//! * REST rate limits (headers `x-ratelimit-limit`, `-remaining`, `-used`,
//!   `-reset`, `-resource`; 403/429 answers; `retry-after`):
//!   <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>
//! * GraphQL objects and enums: <https://docs.github.com/en/graphql/reference/objects>,
//!   <https://docs.github.com/en/graphql/reference/enums>; rate limits:
//!   <https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api>
//!
//! The organisation lives in an `Arc<Mutex<Org>>`; a catch-all wiremock mock
//! hands every request to [`MockGitHubCore::handle`], a plain function tests
//! may also call directly. Tests change the data between two syncs with
//! [`MockGitHubCore::with_org`].
//!
//! Served (also under `/api/v3` for GitHub Enterprise Server; GraphQL at
//! `/graphql` and `/api/graphql`):
//! `GET /orgs/{org}/repos`, `GET /users/{user}/repos`, `GET /repos/{o}/{r}`,
//! `.../commits`, `.../commits/{ref}`, `.../compare/{base}...{head}`,
//! `.../pulls`, `.../pulls/{n}`, `.../pulls/{n}/commits`, `.../pulls/{n}/reviews`,
//! `.../deployments`, `.../deployments/{id}`, `.../deployments/{id}/statuses`,
//! `.../issues`, `.../issues/{n}`, `GET /rate_limit`, `GET /app`,
//! `GET /app/installations`, `GET /orgs/{org}/installation`,
//! `GET /users/{user}/installation`, `GET /repos/{o}/{r}/installation`,
//! `POST /app/installations/{id}/access_tokens`,
//! `GET /installation/repositories`, `POST /graphql`. A user account
//! ([`Org::as_user`]) is unknown to the `orgs/...` endpoints, and its
//! private repositories are not in `GET /users/{user}/repos`.

mod graphql;
mod model;
mod rest;
mod util;

#[cfg(test)]
mod tests;

pub use model::{Commit, Deployment, DeploymentStatus, Issue, Org, Pull, Repo, Review};

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use graphql::{GqlRequest, RateView};
use rest::{Ctx, ReachCache, DOC_REST};
use util::{mix64, parse_link_header, pct_decode_path, ts, Query};

const DOC_GRAPHQL: &str = "https://docs.github.com/graphql";
const DOC_RATE: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
const DOC_SECONDARY: &str =
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
const JWT_UNDECODABLE: &str = "A JSON web token could not be decoded";
const JWT_EXP: &str =
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
const JWT_EXP_FAR: &str = "'Expiration time' claim ('exp') is too far in the future";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Public plain types
// ---------------------------------------------------------------------------

/// What the mock answered: status, headers (lower-case names) and JSON body.
#[derive(Clone, Debug)]
pub struct MockResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl MockResponse {
    pub(crate) fn json(status: u16, body: Value) -> MockResponse {
        MockResponse {
            status,
            headers: vec![(
                "content-type".to_string(),
                "application/json; charset=utf-8".to_string(),
            )],
            body,
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> MockResponse {
        self.set_header(name, value);
        self
    }

    pub(crate) fn set_header(&mut self, name: &str, value: &str) {
        let lname = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != lname);
        self.headers.push((lname, value.to_string()));
    }

    /// A header value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let l = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == l)
            .map(|(_, v)| v.as_str())
    }

    /// The `link` header as `(rel, url)` pairs.
    pub fn links(&self) -> Vec<(String, String)> {
        self.header("link")
            .map(parse_link_header)
            .unwrap_or_default()
    }

    /// The URL of one `link` relation (`next`, `prev`, `first`, `last`).
    pub fn link(&self, rel: &str) -> Option<String> {
        self.links()
            .into_iter()
            .find(|(r, _)| r == rel)
            .map(|(_, u)| u)
    }

    /// The wiremock answer for this response.
    pub fn to_template(&self) -> ResponseTemplate {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut t = ResponseTemplate::new(self.status)
            .set_body_raw(body, "application/json; charset=utf-8");
        for (k, v) in &self.headers {
            if k == "content-type" {
                continue;
            }
            t = t.insert_header(k.as_str(), v.as_str());
        }
        t
    }
}

/// A failure to inject into the next matching requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// GraphQL primary limit: HTTP 200, `{"data":null,"errors":[{"type":
    /// "RATE_LIMITED","message":"API rate limit exceeded for user ID 1."}]}`,
    /// `x-ratelimit-remaining: 0`, `x-ratelimit-reset: now+1`.
    GraphqlRateLimited,
    /// The variant seen in the wild: HTTP 200, `{"errors":[{"type":
    /// "RATE_LIMIT","code":"graphql_rate_limit","message":"API rate limit
    /// already exceeded for user ID 1."}]}` with ordinary (non-zero)
    /// rate-limit headers.
    GraphqlRateLimit,
    /// REST primary limit: HTTP 403, `x-ratelimit-remaining: 0`,
    /// `x-ratelimit-reset: now+1`.
    PrimaryRateLimit,
    /// The same with HTTP 429 (the docs: "a 403 or 429 response").
    PrimaryRateLimit429,
    /// Secondary limit: HTTP 403, `retry-after: 1`, the documented message.
    SecondaryRateLimit,
    /// The same with HTTP 429.
    SecondaryRateLimit429,
    /// A server error with this status (502, 503, 504, 500 ...).
    ServerError(u16),
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    Any,
    Rest,
    Graphql,
    /// Requests whose path contains this text.
    PathContains(String),
    /// GraphQL requests asking for this connection (`pullRequests`, ...).
    GraphqlConnection(String),
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// For GraphQL: the connections asked for (`pullRequests`,
    /// `deployments`, comma-joined), if any.
    pub graphql_connection: Option<String>,
    pub authorization: Option<String>,
    pub body: String,
    pub status: u16,
    pub fault: Option<Fault>,
}

/// An installation access token the mock issued.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub installation_id: u64,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

struct Control {
    requests: Vec<RecordedRequest>,
    faults: Vec<(Fault, FaultTarget, usize)>,
    app_mode: bool,
    app_id: u64,
    installation_id: u64,
    app_slug: String,
    token_ttl: TimeDelta,
    tokens: Vec<IssuedToken>,
    token_counter: u64,
    jwt_max_lifetime: Option<i64>,
    rate_limit: u64,
    used_core: u64,
    used_graphql: u64,
    window_reset: DateTime<Utc>,
    request_counter: u64,
}

impl Control {
    fn roll_window(&mut self, now: DateTime<Utc>) {
        if now >= self.window_reset {
            self.used_core = 0;
            self.used_graphql = 0;
            self.window_reset = now + TimeDelta::hours(1);
        }
    }

    fn bump(&mut self, resource: &str, n: u64) {
        if resource == "graphql" {
            self.used_graphql = self.used_graphql.saturating_add(n);
        } else {
            self.used_core = self.used_core.saturating_add(n);
        }
    }

    fn rate_view(&self, resource: &str, cost: u64, node_count: u64) -> RateView {
        let used = if resource == "graphql" {
            self.used_graphql
        } else {
            self.used_core
        };
        RateView {
            limit: self.rate_limit,
            remaining: self.rate_limit.saturating_sub(used),
            used,
            reset: self.window_reset,
            cost,
            node_count,
        }
    }

    fn take_fault(&mut self, is_graphql: bool, path: &str, conn: Option<&str>) -> Option<Fault> {
        let pos = self.faults.iter().position(|(_, target, n)| {
            *n > 0
                && match target {
                    FaultTarget::Any => true,
                    FaultTarget::Rest => !is_graphql,
                    FaultTarget::Graphql => is_graphql,
                    FaultTarget::PathContains(s) => path.contains(s.as_str()),
                    FaultTarget::GraphqlConnection(c) => {
                        is_graphql && conn.is_some_and(|names| names.split(',').any(|x| x == c))
                    }
                }
        })?;
        let fault = self.faults[pos].0.clone();
        self.faults[pos].2 -= 1;
        if self.faults[pos].2 == 0 {
            self.faults.remove(pos);
        }
        Some(fault)
    }

    fn token_valid(&self, auth: Option<&str>, now: DateTime<Utc>) -> bool {
        match auth.and_then(parse_auth) {
            Some(tok) => self
                .tokens
                .iter()
                .any(|t| t.token == tok && t.expires_at > now),
            None => false,
        }
    }
}

/// The request handler and the state behind a [`MockGitHub`]; usable on its
/// own (without a server) through [`MockGitHubCore::handle`].
pub struct MockGitHubCore {
    uri: String,
    org: Arc<Mutex<Org>>,
    ctl: Mutex<Control>,
    cache: ReachCache,
}

impl MockGitHubCore {
    /// A handler serving `org`, building absolute URLs on `uri` (for example
    /// `http://127.0.0.1:8080`).
    pub fn new(org: Org, uri: impl Into<String>) -> MockGitHubCore {
        let now = Utc::now();
        MockGitHubCore {
            uri: uri.into().trim_end_matches('/').to_string(),
            org: Arc::new(Mutex::new(org)),
            ctl: Mutex::new(Control {
                requests: Vec::new(),
                faults: Vec::new(),
                app_mode: false,
                app_id: 424_242,
                installation_id: 4_242,
                app_slug: "flowmeter-mock".to_string(),
                token_ttl: TimeDelta::hours(1),
                tokens: Vec::new(),
                token_counter: 0,
                jwt_max_lifetime: None,
                rate_limit: 5_000,
                used_core: 0,
                used_graphql: 0,
                window_reset: now + TimeDelta::hours(1),
                request_counter: 0,
            }),
            cache: ReachCache::default(),
        }
    }

    /// The base URI absolute URLs are built on.
    pub fn base_uri(&self) -> String {
        self.uri.clone()
    }

    /// Runs `f` on the organisation under its lock (to change data between
    /// syncs) and returns its result.
    pub fn with_org<R>(&self, f: impl FnOnce(&mut Org) -> R) -> R {
        let mut org = lock(&self.org);
        let r = f(&mut org);
        lock(&self.cache).clear();
        r
    }

    /// Runs `f` on the repository `name` (or `owner/name`), if it exists.
    pub fn with_repo<R>(&self, name: &str, f: impl FnOnce(&mut Repo) -> R) -> Option<R> {
        self.with_org(|org| org.repo_mut(name).map(f))
    }

    /// A snapshot of the organisation.
    pub fn org(&self) -> Org {
        lock(&self.org).clone()
    }

    /// The shared organisation itself.
    pub fn org_handle(&self) -> Arc<Mutex<Org>> {
        self.org.clone()
    }

    /// Injects `fault` into the next `times` matching requests: GraphQL
    /// faults match GraphQL requests, the others any request.
    pub fn inject(&self, fault: Fault, times: usize) {
        let target = match fault {
            Fault::GraphqlRateLimited | Fault::GraphqlRateLimit => FaultTarget::Graphql,
            _ => FaultTarget::Any,
        };
        self.inject_for(fault, times, target);
    }

    /// Injects `fault` into the next `times` requests matching `target`.
    pub fn inject_for(&self, fault: Fault, times: usize, target: FaultTarget) {
        if times > 0 {
            lock(&self.ctl).faults.push((fault, target, times));
        }
    }

    /// How many injected faults are still to fire.
    pub fn pending_faults(&self) -> usize {
        lock(&self.ctl).faults.iter().map(|(_, _, n)| *n).sum()
    }

    pub fn clear_faults(&self) {
        lock(&self.ctl).faults.clear();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.ctl).requests.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.ctl).requests.len()
    }

    pub fn clear_requests(&self) {
        lock(&self.ctl).requests.clear();
    }

    /// App mode: every endpoint but the app ones requires an installation
    /// token this mock issued and that has not expired (`Bearer ghs_...` or
    /// `token ghs_...`), else 401 `Bad credentials`. Off (PAT mode, the
    /// default): any `Authorization` is accepted and recorded.
    pub fn require_installation_token(&self, on: bool) {
        lock(&self.ctl).app_mode = on;
    }

    /// Sets the GitHub App id (the JWT `iss`) and its installation id.
    pub fn set_app(&self, app_id: u64, installation_id: u64) {
        let mut c = lock(&self.ctl);
        c.app_id = app_id;
        c.installation_id = installation_id;
    }

    pub fn app_id(&self) -> u64 {
        lock(&self.ctl).app_id
    }

    pub fn installation_id(&self) -> u64 {
        lock(&self.ctl).installation_id
    }

    /// How long new installation tokens live (GitHub: one hour).
    pub fn set_token_ttl(&self, ttl: TimeDelta) {
        lock(&self.ctl).token_ttl = ttl;
    }

    /// Expires every token issued so far.
    pub fn expire_tokens(&self) {
        let past = Utc::now() - TimeDelta::seconds(1);
        for t in lock(&self.ctl).tokens.iter_mut() {
            t.expires_at = past;
        }
    }

    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        lock(&self.ctl).tokens.clone()
    }

    /// Additionally rejects JWTs whose `exp - iat` exceeds `secs` (GitHub's
    /// documented rule is only "`exp` no more than 10 minutes into the
    /// future"; its own example backdates `iat` by 60 s).
    pub fn set_jwt_max_lifetime(&self, secs: Option<i64>) {
        lock(&self.ctl).jwt_max_lifetime = secs;
    }

    /// The `x-ratelimit-limit` (and GraphQL `rateLimit.limit`) to report.
    pub fn set_rate_limit(&self, limit: u64) {
        lock(&self.ctl).rate_limit = limit;
    }

    fn ctx(&self, prefix: &str, path: &str, query: &str, org_name: &str) -> Ctx {
        Ctx {
            uri: self.uri.clone(),
            api: format!("{}{}", self.uri, prefix),
            web: self.uri.clone(),
            path: path.to_string(),
            query: Query::parse(query),
            org_name: org_name.to_string(),
        }
    }

    /// Answers one request. `query` is the raw query string (no `?`),
    /// `headers` any case.
    pub fn handle(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> MockResponse {
        let now = Utc::now();
        let method = method.to_ascii_uppercase();
        let (prefix, rest_path) = if path == "/api/v3" || path.starts_with("/api/v3/") {
            ("/api/v3", &path[7..])
        } else {
            ("", path)
        };
        let trimmed = path.trim_end_matches('/');
        let is_graphql = trimmed == "/graphql" || trimmed == "/api/graphql";
        let gql: Option<Result<GqlRequest, (u16, Value)>> = if is_graphql && method == "POST" {
            Some(graphql::parse_request(body))
        } else {
            None
        };
        let conn = gql
            .as_ref()
            .and_then(|g| g.as_ref().ok())
            .and_then(|g| g.connection_names());
        let authorization = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone());
        let segs: Vec<String> = rest_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(pct_decode_path)
            .collect();
        let app_endpoint = !is_graphql && is_app_path(&segs);
        let resource = if is_graphql { "graphql" } else { "core" };

        let (early, fault, rate, request_no) = {
            let mut ctl = lock(&self.ctl);
            ctl.roll_window(now);
            ctl.request_counter += 1;
            let mut early: Option<MockResponse> = None;
            if ctl.app_mode && !app_endpoint && !ctl.token_valid(authorization.as_deref(), now) {
                let doc = if is_graphql { DOC_GRAPHQL } else { DOC_REST };
                early = Some(rest::error(401, "Bad credentials", doc));
            }
            let fault = if early.is_none() {
                ctl.take_fault(is_graphql, path, conn.as_deref())
            } else {
                None
            };
            if early.is_none() && fault.is_none() {
                ctl.bump(resource, 1);
            }
            (
                early,
                fault,
                ctl.rate_view(resource, 1, 0),
                ctl.request_counter,
            )
        };

        let mut resp = if let Some(r) = early {
            r
        } else if let Some(f) = &fault {
            fault_response(f, resource, now, &rate, request_no)
        } else if is_graphql {
            self.graphql(gql, prefix, path, query)
        } else if app_endpoint {
            self.app_endpoint(
                &method,
                &segs,
                prefix,
                path,
                query,
                authorization.as_deref(),
                body,
                now,
            )
        } else {
            self.rest(&method, &segs, prefix, path, query)
        };
        if resp.header("x-ratelimit-remaining").is_none() {
            set_rate_headers(&mut resp, &rate, resource);
        }
        resp.set_header("x-github-api-version-selected", "2022-11-28");
        resp.set_header("x-github-media-type", "github.v3; format=json");
        resp.set_header("x-github-request-id", &format!("MOCK:{request_no:08X}"));

        let record = RecordedRequest {
            method,
            path: path.to_string(),
            query: query.to_string(),
            graphql_connection: conn,
            authorization,
            body: String::from_utf8_lossy(body).into_owned(),
            status: resp.status,
            fault,
        };
        lock(&self.ctl).requests.push(record);
        resp
    }

    fn rest(
        &self,
        method: &str,
        segs: &[String],
        prefix: &str,
        path: &str,
        query: &str,
    ) -> MockResponse {
        if method != "GET" && method != "HEAD" {
            return rest::not_found(DOC_REST);
        }
        let s: Vec<&str> = segs.iter().map(|x| x.as_str()).collect();
        if matches!(s.as_slice(), ["rate_limit"]) {
            return self.rate_limit_json();
        }
        let org = lock(&self.org);
        let ctx = self.ctx(prefix, path, query, &org.name);
        match s.as_slice() {
            [] => MockResponse::json(
                200,
                json!({
                    "current_user_url": format!("{}/user", ctx.api),
                    "organization_url": format!("{}/orgs/{{org}}", ctx.api),
                    "repository_url": format!("{}/repos/{{owner}}/{{repo}}", ctx.api),
                    "rate_limit_url": format!("{}/rate_limit", ctx.api)
                }),
            ),
            ["orgs", o, "repos"] => rest::list_repos(&ctx, &org, o, true),
            ["users", u, "repos"] => rest::list_repos(&ctx, &org, u, false),
            ["installation", "repositories"] => rest::installation_repos(&ctx, &org),
            ["repos", o, r, ..] => match org.find(o, r) {
                Some(repo) => rest::repo_endpoint(&ctx, repo, &segs[3..], &self.cache),
                None => {
                    rest::not_found("https://docs.github.com/rest/repos/repos#get-a-repository")
                }
            },
            _ => rest::not_found(DOC_REST),
        }
    }

    fn rate_limit_json(&self) -> MockResponse {
        let ctl = lock(&self.ctl);
        let core = ctl.rate_view("core", 0, 0);
        let gql = ctl.rate_view("graphql", 0, 0);
        let obj = |r: &RateView, resource: &str| json!({"limit": r.limit, "used": r.used, "remaining": r.remaining, "reset": r.reset.timestamp(), "resource": resource});
        MockResponse::json(
            200,
            json!({
                "resources": {"core": obj(&core, "core"), "graphql": obj(&gql, "graphql")},
                "rate": obj(&core, "core")
            }),
        )
    }

    fn graphql(
        &self,
        gql: Option<Result<GqlRequest, (u16, Value)>>,
        prefix: &str,
        path: &str,
        query: &str,
    ) -> MockResponse {
        let req = match gql {
            Some(Ok(r)) => r,
            Some(Err((status, body))) => return MockResponse::json(status, body),
            None => return rest::not_found(DOC_GRAPHQL),
        };
        let (cost, nodes) = if req.is_query() { req.cost() } else { (1, 0) };
        let rate = {
            let mut ctl = lock(&self.ctl);
            ctl.bump("graphql", cost.saturating_sub(1));
            ctl.rate_view("graphql", cost, nodes)
        };
        let org = lock(&self.org);
        let ctx = self.ctx(prefix, path, query, &org.name);
        let body = graphql::execute(&req, &org, &ctx, rate);
        let mut resp = MockResponse::json(200, body);
        set_rate_headers(&mut resp, &rate, "graphql");
        resp
    }

    #[allow(clippy::too_many_arguments)]
    fn app_endpoint(
        &self,
        method: &str,
        segs: &[String],
        prefix: &str,
        path: &str,
        query: &str,
        auth: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> MockResponse {
        let (app_id, installation_id, slug, max_life, ttl) = {
            let c = lock(&self.ctl);
            (
                c.app_id,
                c.installation_id,
                c.app_slug.clone(),
                c.jwt_max_lifetime,
                c.token_ttl,
            )
        };
        let jwt = match auth.and_then(parse_auth) {
            Some(t) => t,
            None => return rest::error(401, "Requires authentication", DOC_REST),
        };
        if let Err(msg) = check_jwt(&jwt, app_id, now.timestamp(), max_life) {
            return rest::error(401, &msg, DOC_REST);
        }
        let s: Vec<&str> = segs.iter().map(|x| x.as_str()).collect();
        let (ctx, org_name, user_account, repo_known, repos_json) = {
            let org = lock(&self.org);
            let ctx = self.ctx(prefix, path, query, &org.name);
            let repo_known = match s.as_slice() {
                ["repos", o, r, "installation"] => org.find(o, r).is_some(),
                _ => false,
            };
            // Repositories named in an access-token request body.
            let wanted: Vec<String> = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("repositories").cloned())
                .and_then(|v| v.as_array().cloned())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(|s| s.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let repos_json: Vec<Value> = wanted
                .iter()
                .filter_map(|n| org.find(&org.name, n))
                .map(|r| rest::repo_json(&ctx, r, &rest::RepoMeta::of(r)))
                .collect();
            (
                ctx,
                org.name.clone(),
                org.user_account,
                repo_known,
                if wanted.is_empty() {
                    None
                } else {
                    Some(repos_json)
                },
            )
        };
        let installation = rest::installation_json(&ctx, installation_id, app_id, &slug);
        let is_org = |o: &str| o.eq_ignore_ascii_case(&org_name);
        let doc_inst =
            "https://docs.github.com/rest/apps/apps#get-an-installation-for-the-authenticated-app";
        match (method, s.as_slice()) {
            ("GET", ["app"]) => MockResponse::json(
                200,
                json!({
                    "id": app_id,
                    "slug": slug,
                    "node_id": util::node_id("App", app_id),
                    "client_id": installation.get("client_id").cloned().unwrap_or(Value::Null),
                    "owner": rest::owner_json(&ctx, &org_name),
                    "name": slug,
                    "description": "Mock GitHub App",
                    "external_url": ctx.web,
                    "html_url": format!("{}/apps/{}", ctx.web, slug),
                    "created_at": installation.get("created_at").cloned().unwrap_or(Value::Null),
                    "updated_at": installation.get("updated_at").cloned().unwrap_or(Value::Null),
                    "permissions": rest::default_permissions(),
                    "events": installation.get("events").cloned().unwrap_or(Value::Null),
                    "installations_count": 1
                }),
            ),
            ("GET", ["app", "installations"]) => {
                let items = vec![installation];
                rest::paged(&ctx, &items, |v| v.clone())
            }
            ("GET", ["app", "installations", id]) => {
                if id.parse::<u64>().ok() == Some(installation_id) {
                    MockResponse::json(200, installation)
                } else {
                    rest::not_found(doc_inst)
                }
            }
            ("POST", ["app", "installations", id, "access_tokens"]) => {
                if id.parse::<u64>().ok() != Some(installation_id) {
                    return rest::not_found(
                        "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
                    );
                }
                let requested = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("permissions").cloned())
                    .filter(|p| p.is_object());
                let mut c = lock(&self.ctl);
                c.token_counter += 1;
                let token = format!(
                    "ghs_{}",
                    token_chars(c.token_counter ^ (now.timestamp_micros() as u64))
                );
                let expires_at = now + ttl;
                c.tokens.push(IssuedToken {
                    token: token.clone(),
                    installation_id,
                    issued_at: now,
                    expires_at,
                });
                drop(c);
                let mut out = json!({
                    "token": token,
                    "expires_at": ts(&expires_at),
                    "permissions": requested.unwrap_or_else(rest::default_permissions),
                    "repository_selection": if repos_json.is_some() { "selected" } else { "all" }
                });
                if let (Some(list), Value::Object(m)) = (repos_json, &mut out) {
                    m.insert("repositories".to_string(), Value::Array(list));
                }
                MockResponse::json(201, out)
            }
            ("GET", ["orgs", o, "installation"]) => {
                if is_org(o) && !user_account {
                    MockResponse::json(200, installation)
                } else {
                    rest::not_found(doc_inst)
                }
            }
            ("GET", ["users", o, "installation"]) => {
                if is_org(o) && user_account {
                    MockResponse::json(200, installation)
                } else {
                    rest::not_found(doc_inst)
                }
            }
            ("GET", ["repos", _, _, "installation"]) => {
                if repo_known {
                    MockResponse::json(200, installation)
                } else {
                    rest::not_found(doc_inst)
                }
            }
            _ => rest::not_found(DOC_REST),
        }
    }
}

fn is_app_path(segs: &[String]) -> bool {
    let s: Vec<&str> = segs.iter().map(|x| x.as_str()).collect();
    matches!(
        s.as_slice(),
        ["app", ..]
            | ["orgs", _, "installation"]
            | ["users", _, "installation"]
            | ["repos", _, _, "installation"]
    )
}

/// `Bearer X` or `token X` -> `X`.
fn parse_auth(h: &str) -> Option<String> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        let t = rest.trim();
        if t.is_empty() {
            None
        } else {
            Some(t.to_string())
        }
    } else {
        None
    }
}

/// Checks a GitHub App JWT as the docs describe it: three base64url parts,
/// header `alg` `RS256`, `iss` the app id (string or number), `iat` and
/// `exp` integers, `exp` in the future and "no more than 10 minutes into the
/// future". The signature is not verified (the mock has no key), only
/// required to be present.
fn check_jwt(token: &str, app_id: u64, now: i64, max_lifetime: Option<i64>) -> Result<(), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(JWT_UNDECODABLE.to_string());
    }
    let decode_json = |s: &str| -> Option<Value> {
        let bytes = util::b64_decode(s)?;
        serde_json::from_slice::<Value>(&bytes).ok()
    };
    let header = decode_json(parts[0]).ok_or_else(|| JWT_UNDECODABLE.to_string())?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("RS256") {
        return Err(JWT_UNDECODABLE.to_string());
    }
    let claims = decode_json(parts[1]).ok_or_else(|| JWT_UNDECODABLE.to_string())?;
    if util::b64_decode(parts[2]).is_none_or(|s| s.is_empty()) {
        return Err(JWT_UNDECODABLE.to_string());
    }
    let iss = match claims.get("iss") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let iss = iss.ok_or_else(|| "'Issuer' claim ('iss') must be an Integer".to_string())?;
    if iss != app_id {
        return Err(JWT_UNDECODABLE.to_string());
    }
    let num = |k: &str| -> Option<i64> {
        claims
            .get(k)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    };
    let iat = num("iat").ok_or_else(|| {
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued".to_string()
    })?;
    let exp = num("exp").ok_or_else(|| JWT_EXP.to_string())?;
    if iat > now + 60 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past"
                .to_string(),
        );
    }
    if exp <= now || exp <= iat {
        return Err(JWT_EXP.to_string());
    }
    if exp > now + 600 {
        return Err(JWT_EXP_FAR.to_string());
    }
    if let Some(max) = max_lifetime {
        if exp - iat > max {
            return Err(JWT_EXP_FAR.to_string());
        }
    }
    Ok(())
}

fn token_chars(seed: u64) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed;
    (0..36)
        .map(|_| {
            x = mix64(x.wrapping_add(0x9e37_79b9_7f4a_7c15));
            ALNUM[(x % ALNUM.len() as u64) as usize] as char
        })
        .collect()
}

fn set_rate_headers(resp: &mut MockResponse, rate: &RateView, resource: &str) {
    resp.set_header("x-ratelimit-limit", &rate.limit.to_string());
    resp.set_header("x-ratelimit-remaining", &rate.remaining.to_string());
    resp.set_header("x-ratelimit-used", &rate.used.to_string());
    resp.set_header("x-ratelimit-reset", &rate.reset.timestamp().to_string());
    resp.set_header("x-ratelimit-resource", resource);
}

fn fault_response(
    f: &Fault,
    resource: &str,
    now: DateTime<Utc>,
    rate: &RateView,
    request_no: u64,
) -> MockResponse {
    let reset = (now.timestamp() + 1).to_string();
    let request_id = format!("MOCK:{request_no:08X}");
    let exhausted = |mut r: MockResponse, res: &str| {
        r.set_header("x-ratelimit-limit", &rate.limit.to_string());
        r.set_header("x-ratelimit-remaining", "0");
        r.set_header("x-ratelimit-used", &rate.limit.to_string());
        r.set_header("x-ratelimit-reset", &reset);
        r.set_header("x-ratelimit-resource", res);
        r
    };
    match f {
        Fault::GraphqlRateLimited => exhausted(
            MockResponse::json(
                200,
                json!({"data": null, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}),
            ),
            "graphql",
        ),
        Fault::GraphqlRateLimit => MockResponse::json(
            200,
            json!({"errors": [{"type": "RATE_LIMIT", "code": "graphql_rate_limit", "message": "API rate limit already exceeded for user ID 1."}]}),
        ),
        Fault::PrimaryRateLimit | Fault::PrimaryRateLimit429 => {
            let status = if *f == Fault::PrimaryRateLimit {
                403
            } else {
                429
            };
            exhausted(
                MockResponse::json(
                    status,
                    json!({
                        "message": format!("API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID {request_id} and timestamp {}.", ts(&now)),
                        "documentation_url": DOC_RATE,
                        "status": status.to_string()
                    }),
                ),
                resource,
            )
        }
        Fault::SecondaryRateLimit | Fault::SecondaryRateLimit429 => {
            let status = if *f == Fault::SecondaryRateLimit {
                403
            } else {
                429
            };
            MockResponse::json(
                status,
                json!({
                    "message": format!("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {request_id}."),
                    "documentation_url": DOC_SECONDARY,
                    "status": status.to_string()
                }),
            )
            .with_header("retry-after", "1")
        }
        Fault::ServerError(code) => {
            let message = match code {
                502 | 504 => "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
                503 => "Service Unavailable",
                _ => "Server Error",
            };
            MockResponse::json(
                *code,
                json!({"message": message, "documentation_url": DOC_REST, "status": code.to_string()}),
            )
        }
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

struct Responder(Arc<MockGitHubCore>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.0
            .handle(
                request.method.as_str(),
                request.url.path(),
                request.url.query().unwrap_or(""),
                &headers,
                &request.body,
            )
            .to_template()
    }
}

/// A running mock GitHub (a wiremock server with one catch-all mock).
/// Dereferences to [`MockGitHubCore`] for state, faults and accounting.
pub struct MockGitHub {
    server: MockServer,
    core: Arc<MockGitHubCore>,
}

impl MockGitHub {
    /// Starts a server serving `org`.
    pub async fn start(org: Org) -> MockGitHub {
        let server = MockServer::start().await;
        let core = Arc::new(MockGitHubCore::new(org, server.uri()));
        Mock::given(any())
            .respond_with(Responder(core.clone()))
            .mount(&server)
            .await;
        MockGitHub { server, core }
    }

    /// The REST base (`http://127.0.0.1:port`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The GitHub Enterprise Server REST base (`{uri}/api/v3`).
    pub fn ghes_uri(&self) -> String {
        format!("{}/api/v3", self.server.uri())
    }

    /// The GraphQL endpoint (`{uri}/graphql`).
    pub fn graphql_uri(&self) -> String {
        format!("{}/graphql", self.server.uri())
    }

    pub fn address(&self) -> std::net::SocketAddr {
        *self.server.address()
    }

    pub fn core(&self) -> Arc<MockGitHubCore> {
        self.core.clone()
    }
}

impl std::ops::Deref for MockGitHub {
    type Target = MockGitHubCore;

    fn deref(&self) -> &MockGitHubCore {
        &self.core
    }
}
