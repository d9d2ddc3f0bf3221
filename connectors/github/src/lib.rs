//! flowmeter-github: deployments, commits, pull requests with reviews, and
//! incident issues from GitHub and GitHub Enterprise Server.
//!
//! - Deployments with their statuses, 100 per GraphQL request (default;
//!   REST, one request per deployment for its statuses, only where the
//!   server's GraphQL lacks `Repository.deployments`), or from releases,
//!   tags (`tags:GLOB`) or a workflow's runs (`workflow:FILE`).
//! - Commits of the default branch (`GET /repos/{o}/{r}/commits`); the
//!   parents a `since`-filtered listing misses are fetched by SHA
//!   ([`Connector::fetch_commits`]) when the sync closes the commit graph.
//! - Authentication with a token, or as a GitHub App installation
//!   ([`app`]).
//! - Pull requests with their reviews, commits and ready-for-review time in
//!   one GraphQL query per page of pull requests.
//! - Issues with an incident label become incidents; one that loses the
//!   label is withdrawn ([`SyncBatch::withdrawn`]).
//!
//! One [`SyncBatch`] is one page of one stream of one repository. The cursor
//! keeps, per repository and stream, a high-water mark (and the keys seen at
//! exactly that time) plus the position inside an unfinished pass, so an
//! interrupted sync resumes on the page it stopped at and a later sync only
//! fetches what changed. A repository that fails (not found, SSO, repeated
//! 5xx) is reported in the batch notes and skipped for the rest of the run;
//! the other repositories continue. A 401 stops the sync: the token is bad
//! for all of them.
//!
//! REST and GraphQL calls go through the one shared
//! [`flowmeter_connector::http`] client: one retry, backoff and rate-limit
//! policy (GraphQL `RATE_LIMITED`/`RATE_LIMIT` answers included).

#[cfg(feature = "app")]
pub mod app;
mod config;
pub mod graphql;
pub mod map;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use flowmeter_connector::codeowners::{self, CodeOwners, GITHUB_LOCATIONS};
use flowmeter_connector::fields::percent_encode as enc;
use flowmeter_connector::http::{end_cursor, token_from_env, GraphQlError, HttpClient, HttpConfig};
use flowmeter_connector::mark::{HighWater, TimePage};
use flowmeter_connector::pr::recognise_pr;
use flowmeter_connector::{
    Connector, ConnectorError, Cursor, Fetched, Next, SyncBatch, SyncContext,
};
use flowmeter_model::{DeploymentStatus, Event, Timestamp};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use config::{DeploymentSource, GitHubConfig};
use map::ts;

/// The four streams synced per repository, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Deployments,
    Commits,
    PullRequests,
    Incidents,
}

impl Stream {
    pub const ALL: [Stream; 4] = [
        Stream::Deployments,
        Stream::Commits,
        Stream::PullRequests,
        Stream::Incidents,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Stream::Deployments => "deployments",
            Stream::Commits => "commits",
            Stream::PullRequests => "pull_requests",
            Stream::Incidents => "incidents",
        }
    }
}

/// The cursor JSON: per repository, per stream.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    v: u32,
    #[serde(default)]
    repos: BTreeMap<String, BTreeMap<String, StreamState>>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct StreamState {
    /// How far the stream's listing got (the kit's one cursor type).
    #[serde(flatten)]
    water: HighWater,
    /// Deployments not yet finished: id → (status emitted, created_at).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    open: BTreeMap<String, OpenDeployment>,
    /// Of a workflow: its runs not yet completed, run id → (status,
    /// created_at). Apart from `open`, so that a repository moved from
    /// `workflow:` to deployments never asks for a run as a deployment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    open_runs: BTreeMap<String, OpenDeployment>,
    /// Deployments are read through REST: the server's GraphQL has no
    /// `Repository.deployments` (kept, so a resumed pass stays on REST).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    rest: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenDeployment {
    status: String,
    created_at: Timestamp,
}

/// What one step of a stream produced.
#[derive(Default)]
struct Step {
    events: Vec<Event>,
    notes: Vec<String>,
    /// Incident ids delivered before that are no incidents any more (see
    /// [`SyncBatch::withdrawn`]).
    withdrawn: Vec<String>,
    done: bool,
}

/// The GitHub connector. Build with [`GitHubConnector::new`].
pub struct GitHubConnector {
    config: GitHubConfig,
    name: String,
    token_env: String,
    deployments: DeploymentSource,
    tag_glob: Option<GlobSet>,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    http: HttpClient,
    repos: Option<Vec<String>>,
    started: bool,
    done: HashSet<(String, Stream)>,
    failed: Vec<(String, String)>,
    branches: HashMap<String, String>,
    /// Repositories whose deployments are read through REST (no GraphQL
    /// `deployments` on that server).
    rest_deployments: HashSet<String>,
    /// With `code_owners`: each repository's CODEOWNERS file, read once a
    /// run (`None`: it has none, or it could not be read).
    code_owners: HashMap<String, Option<CodeOwners>>,
}

impl std::fmt::Debug for GitHubConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubConnector")
            .field("name", &self.name)
            .field("api_url", &self.config.api_url)
            .field("token_env", &self.token_env)
            .finish_non_exhaustive()
    }
}

fn glob_set(source: &str, what: &str, pats: &[String]) -> Result<Option<GlobSet>, ConnectorError> {
    if pats.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in pats {
        let g = Glob::new(p).map_err(|e| ConnectorError::Config {
            source_name: source.to_string(),
            message: format!("invalid {what} pattern `{p}`: {e}"),
        })?;
        b.add(g);
    }
    b.build().map(Some).map_err(|e| ConnectorError::Config {
        source_name: source.to_string(),
        message: format!("invalid {what} patterns: {e}"),
    })
}

fn iso(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Like [`enc`] but keeps `/` (tag and branch names in paths).
fn enc_path(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}

impl GitHubConnector {
    /// Validates `config` and reads the token from the environment
    /// (`token_env`, default `GITHUB_TOKEN` then `GH_TOKEN`). No request is
    /// sent until the first [`Connector::next_batch`].
    pub fn new(config: GitHubConfig) -> Result<Self, ConnectorError> {
        config.check_kind()?;
        let name = config.source_name().to_string();
        let cfg_err = |message: String| config.invalid(message);
        let deployments = DeploymentSource::parse(&config.deployments).ok_or_else(|| {
            cfg_err(format!(
                "`deployments = \"{}\"` is not one of \"deployments\", \"releases\", \"tags:GLOB\", \"workflow:FILE\"",
                config.deployments
            ))
        })?;
        if config.repos.is_empty() && config.org.is_none() {
            return Err(cfg_err(
                "set `repos = [\"owner/name\", ...]` or `org = \"NAME\"`".to_string(),
            ));
        }
        for r in &config.repos {
            let mut parts = r.split('/');
            let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty());
            if !ok {
                return Err(cfg_err(format!(
                    "repository `{r}` is not of the form `owner/name`"
                )));
            }
        }
        if !(1..=100).contains(&config.pr_page_size) {
            return Err(cfg_err(format!(
                "`pr_page_size = {}` must be between 1 and 100",
                config.pr_page_size
            )));
        }
        let tag_glob = match &deployments {
            DeploymentSource::Tags(g) => glob_set(&name, "tag", std::slice::from_ref(g))?,
            _ => None,
        };
        let include = glob_set(&name, "include", &config.include)?;
        let exclude = glob_set(&name, "exclude", &config.exclude)?;
        let (http_cfg, token_env) = match config.app_id {
            #[cfg(feature = "app")]
            Some(app_id) => {
                let (pem, origin) = app_key(&name, &config)?;
                let auth = app::AppAuth::new(
                    &name,
                    &config.rest_base(),
                    app_id,
                    pem,
                    origin.clone(),
                    config.installation_id,
                    config.org.clone(),
                    config.repos.first().cloned(),
                )?;
                (
                    HttpConfig::new(name.clone(), config.rest_base())
                        .dynamic_auth(auth, origin.clone()),
                    origin,
                )
            }
            #[cfg(not(feature = "app"))]
            Some(_) => {
                return Err(cfg_err(
                    "`app_id` is set, but this flowmeter was built without GitHub App support (the `app` feature of flowmeter-github, on by default); use a token in `token_env`, or build with default features".to_string(),
                ))
            }
            None => {
                let vars: Vec<&str> = match config.token_env.as_str() {
                    "GITHUB_TOKEN" => vec!["GITHUB_TOKEN", "GH_TOKEN"],
                    v => vec![v],
                };
                let (token, token_env) = token_from_env(&vars).map_err(|e| e.with_source(&name))?;
                (
                    HttpConfig::new(name.clone(), config.rest_base()).auth(
                        "authorization",
                        &format!("Bearer {token}"),
                        token_env.clone(),
                    )?,
                    token_env,
                )
            }
        };
        let http = HttpClient::new(
            http_cfg
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28")
                .retry(config.retry()),
        )?;

        Ok(GitHubConnector {
            name,
            token_env,
            deployments,
            tag_glob,
            include,
            exclude,
            http,
            repos: None,
            started: false,
            done: HashSet::new(),
            failed: Vec::new(),
            branches: HashMap::new(),
            rest_deployments: HashSet::new(),
            code_owners: HashMap::new(),
            config,
        })
    }

    /// HTTP requests sent so far (REST and GraphQL, retries included).
    pub fn requests(&self) -> u64 {
        self.http.requests()
    }

    /// One GraphQL query about `repo` through the shared client: its
    /// `owner` and `name` are added to `variables`.
    async fn gql(
        &self,
        repo: &str,
        what: &str,
        query: &str,
        mut variables: Value,
    ) -> Result<Value, GraphQlError> {
        let (owner, name) = repo.split_once('/').unwrap_or((repo, repo));
        variables["owner"] = json!(owner);
        variables["name"] = json!(name);
        self.http
            .graphql(&self.config.graphql_endpoint(), what, query, variables)
            .await
    }

    /// Repositories skipped in this run, with the reason (also in the notes).
    pub fn failed_repos(&self) -> &[(String, String)] {
        &self.failed
    }

    /// Where a user account's repositories are listed: `GET /users/{u}/repos`
    /// "lists public repositories for the specified user"; the token's own
    /// user lists what it owns, private ones too, at
    /// `GET /user/repos?affiliation=owner`; a GitHub App lists those of its
    /// installation on the account, private ones too, at
    /// `GET /installation/repositories`. Another token that may not read
    /// `GET /user` lists the public ones.
    async fn user_repos_url(&self, user: &str) -> Result<String, ConnectorError> {
        if self.config.app_id.is_some() {
            return Ok("installation/repositories?per_page=100".into());
        }
        let public = format!("users/{}/repos?type=owner&per_page=100", enc(user));
        let me: Value = match self.http.get_json("user", &[]).await {
            Ok(me) => me,
            Err(ConnectorError::Unauthorized { .. } | ConnectorError::NotFound { .. }) => {
                return Ok(public)
            }
            Err(ConnectorError::Api { message, .. }) if message.contains("HTTP 403") => {
                return Ok(public)
            }
            Err(e) => return Err(e),
        };
        Ok(
            if me["login"]
                .as_str()
                .is_some_and(|l| l.eq_ignore_ascii_case(user))
            {
                "user/repos?affiliation=owner&per_page=100".into()
            } else {
                public
            },
        )
    }

    /// The repositories to sync: `repos`, or the organisation's, filtered.
    async fn resolve_repos(&mut self) -> Result<Vec<String>, ConnectorError> {
        if let Some(r) = &self.repos {
            return Ok(r.clone());
        }
        let mut repos = self.config.repos.clone();
        if let Some(org) = self.config.org.clone() {
            let mut url = format!("orgs/{}/repos?type=all&per_page=100", enc(&org));
            let mut first = true;
            loop {
                let attempt = self.http.get(&url, &[]).await;
                let was_first = std::mem::replace(&mut first, false);
                let resp = match attempt {
                    Err(ConnectorError::NotFound { .. }) if was_first => {
                        // Not an organisation: maybe a user account.
                        url = self.user_repos_url(&org).await?;
                        match self.http.get(&url, &[]).await {
                            Ok(r) => r,
                            Err(e) => {
                                return Err(self.rewrite_sso(e.with_not_found_hint(|| {
                                    format!(
                                        "no organisation or user `{org}` is visible with the token in `{}`",
                                        self.token_env
                                    )
                                })))
                            }
                        }
                    }
                    Err(e) => return Err(self.rewrite_sso(e)),
                    Ok(r) => r,
                };
                // A list, or the installation's `{repositories: [...]}`.
                let listed =
                    (resp.body.as_array()).or_else(|| resp.body["repositories"].as_array());
                for r in listed.into_iter().flatten() {
                    let Some(full) = r["full_name"].as_str() else {
                        continue;
                    };
                    // An installation on a user account holds only its
                    // repositories; the check keeps to the account named.
                    let owner = full.split('/').next().unwrap_or_default();
                    if !owner.eq_ignore_ascii_case(&org) {
                        continue;
                    }
                    let short = r["name"].as_str().unwrap_or(full);
                    if r["archived"].as_bool() == Some(true) && !self.config.include_archived {
                        continue;
                    }
                    let matches = |g: &GlobSet| g.is_match(short) || g.is_match(full);
                    if self.include.as_ref().is_some_and(|g| !matches(g)) {
                        continue;
                    }
                    if self.exclude.as_ref().is_some_and(matches) {
                        continue;
                    }
                    if !repos.iter().any(|x| x == full) {
                        repos.push(full.to_string());
                    }
                }
                match resp.next_link() {
                    Some(n) => url = n,
                    None => break,
                }
            }
        }
        self.repos = Some(repos.clone());
        Ok(repos)
    }

    /// A 403 caused by SAML SSO gets the SSO message.
    fn rewrite_sso(&self, e: ConnectorError) -> ConnectorError {
        match e {
            ConnectorError::Api {
                source_name,
                call,
                message,
            } if message.contains("SAML") || message.contains("SSO") => ConnectorError::Api {
                source_name,
                call,
                message: sso_message(&self.token_env),
            },
            other => other,
        }
    }

    /// Names the repository in a 404 (and `what` was looked up).
    fn repo_error(&self, repo: &str, what: &str, e: ConnectorError) -> ConnectorError {
        self.rewrite_sso(e.with_not_found_hint(|| match what {
            "" => format!(
                "repository `{repo}` does not exist or the token in `{}` cannot read it",
                self.token_env
            ),
            _ => format!(
                "{what} in repository `{repo}` (or the repository) was not found, or the token in `{}` cannot read it",
                self.token_env
            ),
        }))
    }

    fn gql_error(&self, repo: &str, e: GraphQlError) -> ConnectorError {
        match e {
            GraphQlError::Connector(e) | GraphQlError::Rejected(e) => self.rewrite_sso(e),
            GraphQlError::NotFound(msg) => ConnectorError::NotFound {
                source_name: self.name.clone(),
                call: "POST /graphql".to_string(),
                hint: format!(
                    "repository `{repo}` does not exist or the token in `{}` cannot read it ({msg})",
                    self.token_env
                ),
            },
        }
    }

    async fn get(
        &self,
        repo: &str,
        what: &str,
        url: &str,
    ) -> Result<flowmeter_connector::http::HttpResponse, ConnectorError> {
        self.http
            .get(url, &[])
            .await
            .map_err(|e| self.repo_error(repo, what, e))
    }

    /// One page of a REST list: its items (the body, or its `field`) and
    /// the next page's URL (`Link: rel="next"`).
    async fn rest_page(
        &self,
        repo: &str,
        what: &str,
        url: &str,
        field: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), ConnectorError> {
        let resp = self.get(repo, what, url).await?;
        let list = field.map_or(&resp.body, |f| &resp.body[f]);
        Ok((
            list.as_array().cloned().unwrap_or_default(),
            resp.next_link(),
        ))
    }

    /// One page of a GraphQL connection of the repository (`repository {
    /// <connection>(first:, after:) }`, `what` in errors): its nodes and
    /// the next page's cursor.
    async fn graphql_page(
        &self,
        repo: &str,
        (what, connection): (&str, &str),
        query: &str,
        first: u32,
        after: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), ConnectorError> {
        let data = self
            .gql(
                repo,
                &format!("{what} of {repo}"),
                query,
                json!({"first": first, "after": after}),
            )
            .await
            .map_err(|e| self.gql_error(repo, e))?;
        let list = &data["repository"][connection];
        Ok((
            list["nodes"].as_array().cloned().unwrap_or_default(),
            end_cursor(&list["pageInfo"]),
        ))
    }

    async fn step(
        &mut self,
        repo: &str,
        stream: Stream,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        match stream {
            Stream::Deployments => match self.deployments.clone() {
                DeploymentSource::Deployments
                    if st.rest || self.rest_deployments.contains(repo) =>
                {
                    st.rest = true;
                    self.step_deployments_rest(repo, st, ctx).await
                }
                DeploymentSource::Deployments => self.step_deployments(repo, st, ctx).await,
                DeploymentSource::Releases => self.step_releases(repo, st, ctx).await,
                DeploymentSource::Tags(_) => self.step_tags(repo, st, ctx).await,
                DeploymentSource::Workflow(f) => self.step_workflow(repo, &f, st, ctx).await,
            },
            Stream::Commits => self.step_commits(repo, st, ctx).await,
            Stream::PullRequests => self.step_pulls(repo, st, ctx).await,
            Stream::Incidents => self.step_incidents(repo, st, ctx).await,
        }
    }

    /// Deployments with their statuses, 100 per GraphQL request. A server
    /// whose schema lacks `Repository.deployments` (an old GitHub Enterprise
    /// Server) is read through REST instead, one request per deployment.
    async fn step_deployments(
        &mut self,
        repo: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let first_ever = st.water.is_fresh() && st.open.is_empty();
        let after = st.water.pass.as_ref().and_then(|p| p.next.clone());
        let data = self
            .gql(
                repo,
                &format!("deployments of {repo}"),
                graphql::DEPLOYMENTS,
                json!({"first": 100, "after": after}),
            )
            .await;
        let data = match data {
            Ok(d) if d["repository"]["deployments"].is_object() => d,
            // A server without `Repository.deployments` (it refuses the
            // query, or has no GraphQL endpoint): REST from now on. A rate
            // limit or an outage is an error of this run, not that.
            Ok(_)
            | Err(
                GraphQlError::Rejected(_)
                | GraphQlError::Connector(ConnectorError::NotFound { .. }),
            ) if after.is_none() => {
                self.rest_deployments.insert(repo.to_string());
                st.rest = true;
                return self.step_deployments_rest(repo, st, ctx).await;
            }
            Ok(_) => {
                return Err(ConnectorError::Api {
                    source_name: self.name.clone(),
                    call: "POST /graphql".into(),
                    message: format!("deployments of {repo}: the answer has no `deployments`"),
                })
            }
            Err(e) => return Err(self.gql_error(repo, e)),
        };
        let conn = &data["repository"]["deployments"];
        let nodes = conn["nodes"].as_array().cloned().unwrap_or_default();
        let mut pager = st.water.pager(ctx.since);
        for node in &nodes {
            let Some((d, mut statuses)) = map::graphql_deployment(node) else {
                continue;
            };
            let Some(t) = ts(&d["created_at"]) else {
                continue;
            };
            let key = id_key(&d["id"]);
            if pager.is_older(t) {
                pager.stop();
                continue;
            }
            if !pager.is_new(t, &key) {
                continue;
            }
            let listed = node["statuses"]["totalCount"].as_u64().unwrap_or(0);
            if listed > statuses.len() as u64 {
                // More statuses than one page holds: read them all.
                statuses = self.statuses(repo, &key).await?;
            }
            let dep = map::deployment(&self.name, repo, &d, &statuses);
            track_open(&mut st.open, &key, dep.status, t);
            pager.see(t, &key);
            step.events.push(Event::Deployment(dep));
        }
        let lower = pager.lower();
        if pager.turn(end_cursor(&conn["pageInfo"])) {
            self.end_deployments(repo, st, lower, first_ever && nodes.is_empty(), &mut step)
                .await?;
        }
        Ok(step)
    }

    /// The end of a pass over deployments: re-checks the ones still
    /// running, and says so when a first pass found none at all.
    async fn end_deployments(
        &self,
        repo: &str,
        st: &mut StreamState,
        lower: Timestamp,
        found_none: bool,
        step: &mut Step,
    ) -> Result<(), ConnectorError> {
        if found_none {
            step.notes.push(format!(
                "{repo}: no deployments in the Deployments API; if this repository deploys otherwise, set `deployments = \"releases\"`, `\"tags:GLOB\"` or `\"workflow:FILE\"`"
            ));
        }
        self.recheck_open(repo, st, lower, step).await?;
        step.done = true;
        Ok(())
    }

    /// Deployments through REST: a page of deployments, then one request
    /// per deployment for its statuses.
    async fn step_deployments_rest(
        &mut self,
        repo: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let first_ever = st.water.is_fresh() && st.open.is_empty();
        let mut pager = st.water.pager(ctx.since);
        let url = pager
            .next()
            .map(str::to_string)
            .unwrap_or_else(|| format!("repos/{repo}/deployments?per_page=100"));
        let (items, next) = self.rest_page(repo, "", &url, None).await?;
        for d in &items {
            let Some(t) = ts(&d["created_at"]) else {
                continue;
            };
            let key = id_key(&d["id"]);
            if pager.is_older(t) {
                pager.stop();
                continue;
            }
            if !pager.is_new(t, &key) {
                continue;
            }
            let statuses = self.statuses(repo, &key).await?;
            let dep = map::deployment(&self.name, repo, d, &statuses);
            track_open(&mut st.open, &key, dep.status, t);
            pager.see(t, &key);
            step.events.push(Event::Deployment(dep));
        }
        let lower = pager.lower();
        if pager.turn(next) {
            self.end_deployments(repo, st, lower, first_ever && items.is_empty(), &mut step)
                .await?;
        }
        Ok(step)
    }

    async fn statuses(&self, repo: &str, id: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut url = format!("repos/{repo}/deployments/{id}/statuses?per_page=100");
        let mut out = Vec::new();
        loop {
            let (items, next) =
                (self.rest_page(repo, &format!("deployment {id}"), &url, None)).await?;
            out.extend(items);
            match next {
                Some(n) => url = n,
                None => return Ok(out),
            }
        }
    }

    /// Deployments that were still running at an earlier sync: emit them
    /// again when their outcome changed.
    async fn recheck_open(
        &self,
        repo: &str,
        st: &mut StreamState,
        lower: Timestamp,
        step: &mut Step,
    ) -> Result<(), ConnectorError> {
        // Still running 30 days before the newest deployment: abandoned.
        let stale_before = st.water.mark.unwrap_or(lower) - chrono::Duration::days(30);
        for (id, open) in due_open(&mut st.open, stale_before, |o| o.created_at <= lower) {
            let statuses = match self.statuses(repo, &id).await {
                Ok(statuses) => statuses,
                // Deleted since (GitHub deletes a repository's only
                // deployment, or an environment's, on request): nothing
                // left to re-read, and no reason to fail the repository.
                Err(ConnectorError::NotFound { .. }) => {
                    st.open.remove(&id);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (status, _) = map::deployment_outcome(&statuses);
            if status.as_str() == open.status {
                continue;
            }
            let d = self
                .get(
                    repo,
                    &format!("deployment {id}"),
                    &format!("repos/{repo}/deployments/{id}"),
                )
                .await?;
            let dep = map::deployment(&self.name, repo, &d.body, &statuses);
            track_open(&mut st.open, &id, dep.status, open.created_at);
            step.events.push(Event::Deployment(dep));
        }
        Ok(())
    }

    async fn step_releases(
        &mut self,
        repo: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let mut pager = st.water.pager(ctx.since);
        let url = pager
            .next()
            .map(str::to_string)
            .unwrap_or_else(|| format!("repos/{repo}/releases?per_page=100"));
        let (items, next) = self.rest_page(repo, "", &url, None).await?;
        for r in items {
            let created = ts(&r["created_at"]);
            let Some(t) = ts(&r["published_at"]) else {
                continue;
            };
            if created.is_some_and(|c| pager.is_older(c)) && pager.is_older(t) {
                pager.stop();
                continue;
            }
            let key = id_key(&r["id"]);
            if r["draft"].as_bool() == Some(true) || !pager.is_new(t, &key) {
                continue;
            }
            let tag = r["tag_name"].as_str().unwrap_or("").to_string();
            let sha = match r["target_commitish"].as_str() {
                Some(c) if is_sha(c) => c.to_string(),
                _ => self.tag_commit(repo, &tag).await?,
            };
            if let Some(dep) = map::release(&self.name, repo, &self.config.environment, &r, &sha) {
                pager.see(t, &key);
                step.events.push(Event::Deployment(dep));
            }
        }
        step.done = pager.turn(next);
        Ok(step)
    }

    /// The commit a tag points at (peeling an annotated tag).
    async fn tag_commit(&self, repo: &str, tag: &str) -> Result<String, ConnectorError> {
        let what = format!("tag `{tag}`");
        let r = self
            .get(
                repo,
                &what,
                &format!("repos/{repo}/git/ref/tags/{}", enc_path(tag)),
            )
            .await?;
        let obj = &r.body["object"];
        let sha = obj["sha"].as_str().unwrap_or("").to_string();
        if obj["type"] == "tag" {
            let t = self
                .get(repo, &what, &format!("repos/{repo}/git/tags/{sha}"))
                .await?;
            return Ok(t.body["object"]["sha"].as_str().unwrap_or("").to_string());
        }
        Ok(sha)
    }

    async fn step_tags(
        &mut self,
        repo: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let mut pager = st.water.pager(ctx.since);
        let (nodes, next) =
            (self.graphql_page(repo, ("tags", "refs"), graphql::TAGS, 100, pager.next())).await?;
        for node in nodes {
            // Ordered by commit date, newest first, while a tag's time is
            // its tagger date, which can come long after its commit (a
            // release tagged on an older commit): the pass ends only past
            // commits older than it by `TAG_AFTER_COMMIT_DAYS`, and tags older
            // than it are skipped, not taken for the end.
            if map::tag_commit_date(&node)
                .is_some_and(|c| c < pager.lower() - chrono::Duration::days(TAG_AFTER_COMMIT_DAYS))
            {
                pager.stop();
                break;
            }
            let Some(dep) = map::tag(&self.name, repo, &self.config.environment, &node) else {
                continue;
            };
            let Some(t) = dep.finished_at else { continue };
            let tag_name = dep.git_ref.clone().unwrap_or_default();
            if !self
                .tag_glob
                .as_ref()
                .is_some_and(|g| g.is_match(&tag_name))
            {
                continue;
            }
            if pager.take(t, &dep.id) {
                step.events.push(Event::Deployment(dep));
            }
        }
        step.done = pager.turn(next);
        Ok(step)
    }

    async fn step_workflow(
        &mut self,
        repo: &str,
        file: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let mut pager = st.water.pager(ctx.since);
        // Runs created a day before the mark may have finished after it.
        let created_from = pager.lower() - chrono::Duration::days(1);
        // Unfiltered, newest first, read down to `created_from`: with a
        // `status` or `created` filter GitHub returns at most 1,000 runs
        // ("List workflow runs for a workflow"), and a backfill of a busy
        // workflow lost the rest without a word. Runs not completed map to
        // nothing and are read again by the next sync.
        let url = pager.next().map(str::to_string).unwrap_or_else(|| {
            format!(
                "repos/{repo}/actions/workflows/{}/runs?per_page=100",
                enc(file)
            )
        });
        let what = format!("workflow `{file}`");
        let (runs, next) = (self.rest_page(repo, &what, &url, Some("workflow_runs"))).await?;
        for run in runs {
            let Some(created) = ts(&run["created_at"]) else {
                continue;
            };
            if created < created_from {
                pager.stop();
                break;
            }
            let run_id = map::id_string(&run["id"]);
            match map::workflow_run(&self.name, repo, &self.config.environment, &run) {
                Some(dep) => {
                    st.open_runs.remove(&run_id);
                    let Some(t) = dep.finished_at else { continue };
                    if pager.take(t, &dep.id) {
                        step.events.push(Event::Deployment(dep));
                    }
                }
                // Waiting (for an environment's reviewers), queued or in
                // progress: read again by id until it completes.
                None if run["status"].as_str() != Some("completed") => {
                    let open = OpenDeployment {
                        status: run["status"].as_str().unwrap_or("pending").to_string(),
                        created_at: created,
                    };
                    st.open_runs.insert(run_id, open);
                }
                None => {
                    st.open_runs.remove(&run_id);
                }
            }
        }
        step.done = pager.turn(next);
        if step.done {
            self.recheck_runs(repo, st, created_from, &mut step).await?;
        }
        Ok(step)
    }

    /// Workflow runs not completed at an earlier sync and created before
    /// this pass's listing reaches (`listed_from`): each is read by id
    /// (`GET /repos/{o}/{r}/actions/runs/{id}`) and emitted once it has
    /// completed. A job waiting for an environment's required reviewers
    /// waits up to 30 days ("If a job is not approved within 30 days, it
    /// will automatically fail"), so a run finishing days after it was
    /// created is not lost; one still open 35 days after is let go.
    async fn recheck_runs(
        &self,
        repo: &str,
        st: &mut StreamState,
        listed_from: Timestamp,
        step: &mut Step,
    ) -> Result<(), ConnectorError> {
        let stale_before = listed_from - chrono::Duration::days(35);
        let due = |o: &OpenDeployment| o.created_at < listed_from;
        for (id, _) in due_open(&mut st.open_runs, stale_before, due) {
            let url = format!("repos/{repo}/actions/runs/{id}");
            let run: Option<Value> = (self.http.get_json_if_found(&url, &[]).await)
                .map_err(|e| self.repo_error(repo, &format!("workflow run {id}"), e))?;
            let Some(run) = run else {
                st.open_runs.remove(&id);
                continue;
            };
            if run["status"].as_str() != Some("completed") {
                continue;
            }
            st.open_runs.remove(&id);
            if let Some(dep) = map::workflow_run(&self.name, repo, &self.config.environment, &run) {
                step.events.push(Event::Deployment(dep));
            }
        }
        Ok(())
    }

    async fn branch(&mut self, repo: &str) -> Result<String, ConnectorError> {
        if let Some(b) = &self.config.branch {
            return Ok(b.clone());
        }
        if let Some(b) = self.branches.get(repo) {
            return Ok(b.clone());
        }
        let r = self.get(repo, "", &format!("repos/{repo}")).await?;
        let b = r.body["default_branch"]
            .as_str()
            .unwrap_or("main")
            .to_string();
        self.branches.insert(repo.to_string(), b.clone());
        Ok(b)
    }

    async fn step_commits(
        &mut self,
        repo: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let mut pager = st.water.pager(ctx.since);
        let url = match pager.next() {
            Some(u) => u.to_string(),
            None => {
                let branch = self.branch(repo).await?;
                format!(
                    "repos/{repo}/commits?sha={}&since={}&per_page=100",
                    enc(&branch),
                    enc(&iso(pager.lower()))
                )
            }
        };
        let (items, next) = match self.rest_page(repo, "", &url, None).await {
            // An empty repository (an issues-only incident tracker): GitHub
            // answers 409 "Git Repository is empty." There is nothing to
            // list, and its pull requests and incidents are still read.
            Err(ConnectorError::Api { message, .. }) if message.contains("HTTP 409") => {
                step.done = pager.turn(None);
                return Ok(step);
            }
            page => page?,
        };
        if self.config.code_owners {
            self.read_code_owners(repo, &mut step.notes).await?;
        }
        for c in items {
            let Some(mut commit) = map::commit(&self.name, repo, &c) else {
                continue;
            };
            let t = commit.committed_at.unwrap_or(commit.authored_at);
            if pager.take(t, &commit.sha) {
                let message = commit.message.as_deref().unwrap_or_default();
                let merge = commit.parents.as_ref().is_some_and(|p| p.len() > 1);
                let by_pr = recognise_pr(message).is_some();
                if self.config.code_owners && !merge && !by_pr {
                    self.commit_files(repo, &mut commit, &mut step.notes)
                        .await?;
                }
                step.events.push(Event::Commit(commit));
            }
        }
        step.done = pager.turn(next);
        Ok(step)
    }

    /// A branch commit that is neither a merge nor a pull request's squash
    /// commit (those have their pull request's files), so a direct push has its
    /// paths: its files from "Get a commit" (`GET /repos/{o}/{r}/commits/{sha}`)
    /// and their owners by CODEOWNERS. GitHub pages the files, 300 a page
    /// up to 3,000; a commit at that cap is noted.
    async fn commit_files(
        &mut self,
        repo: &str,
        commit: &mut flowmeter_model::Commit,
        notes: &mut Vec<String>,
    ) -> Result<(), ConnectorError> {
        let what = format!("files of commit `{}`", commit.sha);
        let path = format!("repos/{repo}/commits/{}", enc(&commit.sha));
        let mut resp = match self.get(repo, &what, &path).await {
            Ok(resp) => resp,
            // Gone since it was listed: no files to tell.
            Err(ConnectorError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        loop {
            files.extend(map::commit_files(&resp.body));
            let Some(next) = resp.next_link() else { break };
            resp = self.get(repo, &what, &next).await?;
        }
        files.sort();
        files.dedup();
        if files.len() >= GITHUB_COMMIT_FILES {
            notes.push(format!(
                "{repo}: commit {} may have changed more than the {GITHUB_COMMIT_FILES} files GitHub lists: its owners come from those",
                commit.sha
            ));
        }
        if let Some(Some(owners)) = self.code_owners.get(repo) {
            commit.owners = Some(owners.owners_of_all(files.iter().map(String::as_str)));
        }
        commit.files = Some(files);
        Ok(())
    }

    async fn step_pulls(
        &mut self,
        repo: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let mut pager = st.water.pager(ctx.since);
        let first = self.config.pr_page_size;
        let list = ("pullRequests", "pullRequests");
        let (query, follow_ups): (_, &[_]) = if self.config.code_owners {
            self.read_code_owners(repo, &mut step.notes).await?;
            let files = ("files", graphql::PULL_REQUEST_FILES);
            (graphql::PULL_REQUESTS_WITH_FILES, &[files])
        } else {
            (graphql::PULL_REQUESTS, &[])
        };
        let (nodes, next) = (self.graphql_page(repo, list, query, first, pager.next())).await?;
        for mut node in nodes {
            let Some(t) = ts(&node["updatedAt"]) else {
                continue;
            };
            if pager.is_older(t) {
                pager.stop();
                break;
            }
            let key = node["number"].as_i64().unwrap_or(0).to_string();
            if !pager.is_new(t, &key) {
                continue;
            }
            // A long pull request: its commits, reviews and labels past the
            // first page of 100 (the lists are oldest first; the whole list
            // decides which commits belong to it and whether it is rework).
            let lists = [
                ("commits", graphql::PULL_REQUEST_COMMITS),
                ("reviews", graphql::PULL_REQUEST_REVIEWS),
                ("labels", graphql::PULL_REQUEST_LABELS),
            ];
            for (field, query) in lists.iter().chain(follow_ups) {
                self.rest_of_list(repo, &mut node, field, query).await?;
            }
            let Some((mut pr, reviews)) = map::pull_request(&self.name, repo, &node) else {
                continue;
            };
            if let (Some(files), Some(Some(owners))) = (&pr.files, self.code_owners.get(repo)) {
                pr.owners = Some(owners.owners_of_all(files.iter().map(String::as_str)));
            }
            pager.see(t, &key);
            step.events.push(Event::PullRequest(pr));
            step.events.extend(reviews.into_iter().map(Event::Review));
        }
        step.done = pager.turn(next);
        Ok(step)
    }

    /// Reads `repo`'s CODEOWNERS once a run, from the first of GitHub's
    /// places that has one (contents API). A file that cannot be read, and
    /// lines of it that cannot, are notes, not errors: the pull requests
    /// still sync, without owners.
    async fn read_code_owners(
        &mut self,
        repo: &str,
        notes: &mut Vec<String>,
    ) -> Result<(), ConnectorError> {
        if self.code_owners.contains_key(repo) {
            return Ok(());
        }
        let path = |location: &str| format!("repos/{repo}/contents/{location}");
        let found =
            codeowners::from_file_api(&self.http, repo, GITHUB_LOCATIONS, path, &[], notes).await?;
        self.code_owners.insert(repo.to_string(), found);
        Ok(())
    }

    /// Appends the pages after the first of a pull request's `field`
    /// (`commits`, `reviews` or `labels`) to `node[field].nodes`.
    async fn rest_of_list(
        &mut self,
        repo: &str,
        node: &mut Value,
        field: &str,
        query: &str,
    ) -> Result<(), ConnectorError> {
        let number = node["number"].as_i64().unwrap_or(0);
        let mut after = end_cursor(&node[field]["pageInfo"]);
        while let Some(cursor) = after {
            let data = self
                .gql(
                    repo,
                    &format!("{field} of {repo}#{number}"),
                    query,
                    json!({ "number": number, "after": cursor }),
                )
                .await
                .map_err(|e| self.gql_error(repo, e))?;
            let list = &data["repository"]["pullRequest"][field];
            if let (Some(more), Some(nodes)) = (
                list["nodes"].as_array(),
                node[field]["nodes"].as_array_mut(),
            ) {
                nodes.extend(more.iter().cloned());
            }
            after = end_cursor(&list["pageInfo"]);
        }
        Ok(())
    }

    /// Incident issues. The first pass lists each incident label's issues
    /// in turn. Later passes list every issue updated since the mark,
    /// labelled or not, so an issue whose incident label was removed
    /// (opened as an incident by mistake) is seen and withdrawn; a pass
    /// filtered by label would never list it again, and it would count as
    /// a failure for good.
    async fn step_incidents(
        &mut self,
        repo: &str,
        st: &mut StreamState,
        ctx: &SyncContext,
    ) -> Result<Step, ConnectorError> {
        let mut step = Step::default();
        let labels = self.config.incident_labels.clone();
        let every = st.water.mark.is_some();
        let mut pager = st.water.pager(ctx.since);
        let label = labels.get(if every { 0 } else { pager.part() });
        let Some(label) = label else {
            step.done = pager.turn(None);
            return Ok(step);
        };
        // Paged by time (`TimePage`): an issue edited during the pass would
        // make an offset skip another. A page saved as a URL (a `Link`, by
        // earlier versions) starts the pass again from the mark.
        let resume = TimePage::parse(pager.next().filter(|n| !n.contains('/')));
        let from = resume.from.unwrap_or(pager.lower());
        let filter = if every {
            String::new()
        } else {
            format!("labels={}&", enc(label))
        };
        let url = format!(
            "repos/{repo}/issues?{filter}state=all&since={}&sort=updated&direction=asc&per_page=100&page={}",
            enc(&iso(from)),
            resume.page
        );
        let (issues, next) = self.rest_page(repo, "", &url, None).await?;
        let mut times = Vec::with_capacity(issues.len());
        for issue in issues {
            let Some(t) = ts(&issue["updated_at"]) else {
                continue;
            };
            times.push(t);
            if !issue["pull_request"].is_null() {
                continue;
            }
            if every && !map::has_incident_label(&issue, &labels) {
                if let Some(number) = issue["number"].as_i64() {
                    let id = map::incident_id(repo, number);
                    if pager.take(t, &id) {
                        // A no-op for an issue never stored as an incident.
                        step.withdrawn.push(id);
                    }
                }
                continue;
            }
            let Some(inc) = map::incident(&self.name, repo, &issue) else {
                continue;
            };
            if pager.take(t, &inc.id) {
                step.events.push(Event::Incident(inc));
            }
        }
        let next = next.map(|_| resume.after(true, from, &times, resume.page + 1).token());
        step.done = if every {
            pager.turn(next)
        } else {
            pager.turn_part(next, labels.len())
        };
        Ok(step)
    }
}

#[cfg(feature = "app")]
/// The GitHub App's private key (PEM) and where it came from: the file
/// `app_private_key_file`, else the environment variable
/// `app_private_key_env` (default `GITHUB_APP_PRIVATE_KEY`).
fn app_key(name: &str, config: &GitHubConfig) -> Result<(Vec<u8>, String), ConnectorError> {
    let cfg_err = |message: String| ConnectorError::Config {
        source_name: name.to_string(),
        message,
    };
    if let Some(path) = &config.app_private_key_file {
        let origin = format!("`{}`", path.display());
        let pem = std::fs::read(path).map_err(|e| {
            cfg_err(format!(
                "cannot read the GitHub App private key {origin}: {e}"
            ))
        })?;
        return Ok((pem, origin));
    }
    let var = config
        .app_private_key_env
        .clone()
        .unwrap_or_else(|| "GITHUB_APP_PRIVATE_KEY".to_string());
    match std::env::var(&var) {
        Ok(v) if !v.trim().is_empty() => Ok((v.into_bytes(), format!("`{var}`"))),
        _ => Err(cfg_err(format!(
            "`app_id` is set but no private key: set `app_private_key_file`, or put the PEM key in the environment variable `{var}`"
        ))),
    }
}

/// The message for a 403 caused by SAML single sign-on.
pub fn sso_message(token_env: &str) -> String {
    format!(
        "the organisation enforces SAML single sign-on: authorise the token in `{token_env}` for it (GitHub → Settings → Developer settings → Personal access tokens → Configure SSO)"
    )
}

fn id_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The entries of `open` to read again (those `due` says), after letting
/// go of those created before `stale_before` (abandoned).
fn due_open(
    open: &mut BTreeMap<String, OpenDeployment>,
    stale_before: Timestamp,
    due: impl Fn(&OpenDeployment) -> bool,
) -> Vec<(String, OpenDeployment)> {
    open.retain(|_, o| o.created_at >= stale_before);
    (open.iter())
        .filter(|(_, o)| due(o))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn track_open(
    open: &mut BTreeMap<String, OpenDeployment>,
    id: &str,
    status: DeploymentStatus,
    created_at: DateTime<Utc>,
) {
    if status == DeploymentStatus::InProgress {
        open.insert(
            id.to_string(),
            OpenDeployment {
                status: status.as_str().to_string(),
                created_at,
            },
        );
    } else {
        open.remove(id);
    }
}

/// The most files "Get a commit" lists, over all its pages.
const GITHUB_COMMIT_FILES: usize = 3000;

/// How long after its commit a tag is still looked for: a tag listing
/// (ordered by commit date) ends past commits this much older than the
/// pass's start.
const TAG_AFTER_COMMIT_DAYS: i64 = 90;

#[async_trait::async_trait]
impl Connector for GitHubConnector {
    fn name(&self) -> &str {
        &self.name
    }

    /// `GET /repos/{owner}/{repo}/commits/{sha}` for each commit: the
    /// parents that a `since`-filtered listing missed (GitHub filters the
    /// commit list by committer date, so a branch's commits dated before the
    /// last sync come only with the merge that brought them).
    async fn fetch_commits(&mut self, repo: &str, shas: &[String]) -> Fetched {
        let mut out = Vec::new();
        for sha in shas {
            let what = format!("commit `{sha}`");
            match self
                .get(repo, &what, &format!("repos/{repo}/commits/{}", enc(sha)))
                .await
            {
                Ok(resp) => {
                    if let Some(c) = map::commit(&self.name, repo, &resp.body) {
                        out.push(Event::Commit(c));
                    }
                }
                // Gone (force-pushed away) or never visible: a gap.
                Err(ConnectorError::NotFound { .. }) => {}
                Err(ConnectorError::Api { message, .. }) if message.contains("HTTP 422") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(out))
    }

    async fn next_batch(&mut self, ctx: &SyncContext, cursor: Option<&Cursor>) -> Next {
        let mut state: State = match cursor {
            Some(c) if !ctx.full || self.started => {
                serde_json::from_value(c.0.clone()).unwrap_or_default()
            }
            _ => State::default(),
        };
        state.v = 1;
        self.started = true;
        let before = self.requests();
        let repos = self.resolve_repos().await?;
        for repo in &repos {
            if self.failed.iter().any(|(r, _)| r == repo) {
                continue;
            }
            for stream in Stream::ALL {
                if self.done.contains(&(repo.clone(), stream)) {
                    continue;
                }
                let mut st = state
                    .repos
                    .get(repo)
                    .and_then(|m| m.get(stream.key()))
                    .cloned()
                    .unwrap_or_default();
                match self.step(repo, stream, &mut st, ctx).await {
                    Ok(step) => {
                        if step.done {
                            self.done.insert((repo.clone(), stream));
                        }
                        state
                            .repos
                            .entry(repo.clone())
                            .or_default()
                            .insert(stream.key().to_string(), st);
                        return Ok(Some(SyncBatch {
                            events: step.events,
                            cursor: Cursor(serde_json::to_value(&state).unwrap_or(Value::Null)),
                            requests: self.requests() - before,
                            notes: step.notes,
                            withdrawn: step.withdrawn,
                        }));
                    }
                    Err(e @ ConnectorError::Unauthorized { .. }) => return Err(e),
                    Err(e @ ConnectorError::Config { .. }) => return Err(e),
                    Err(e) => {
                        let msg = e.to_string();
                        self.failed.push((repo.clone(), msg.clone()));
                        return Ok(Some(SyncBatch {
                            events: Vec::new(),
                            cursor: Cursor(serde_json::to_value(&state).unwrap_or(Value::Null)),
                            requests: self.requests() - before,
                            notes: vec![format!(
                                "error: {msg} (skipped `{repo}` for this sync; the other repositories continue)"
                            )],
                            withdrawn: Vec::new(),
                        }));
                    }
                }
            }
        }
        Ok(None)
    }
}
