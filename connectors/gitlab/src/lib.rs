//! flowmeter-gitlab: deployments, merge requests with their commits and
//! approvals, incidents and the default branch's commits from GitLab
//! (gitlab.com or self-managed, REST API v4).
//!
//! - Deployments: `GET /projects/:id/deployments` (`updated_after`,
//!   ordered by `updated_at`); finished at the deployable job's
//!   `finished_at`, else the deployment's `updated_at`.
//! - Merge requests: `GET /projects/:id/merge_requests` (`state=all`,
//!   `updated_after`); for each merged one its commits
//!   (`/merge_requests/:iid/commits`: first commit time) and notes
//!   (`/merge_requests/:iid/notes`): approvals come from the system notes
//!   "approved this merge request" (the approvals endpoint has no times),
//!   other people's comments are `commented` reviews, and "marked this merge
//!   request as ready" gives the ready time of a draft.
//! - Incidents: `GET /projects/:id/issues?issue_type=incident`; from the
//!   second sync on, the incidents since turned back into issues
//!   (`issue_type=issue`, updated since the last pass) are withdrawn.
//! - Commits of the default branch with parents:
//!   `GET /projects/:id/repository/commits?ref_name=BRANCH&since=...`.
//!
//! One [`SyncBatch`] is one page of one stream of one project; the cursor
//! keeps per project and stream the high-water mark of a finished pass (and
//! the ids seen at exactly that time: GitLab's `updated_after` and `since`
//! include it) and the page an unfinished pass stopped at. Lists ordered by
//! update time go on from the newest time of the page read
//! ([`TimePage`]); whether there is a next page is read from
//! `x-next-page` (or a `Link: rel="next"`); totals are never relied on
//! (GitLab drops them above 10,000 rows). Rate limits and retries are the
//! shared HTTP layer's (`RateLimit-*`, `Retry-After`, 5xx backoff).

use std::collections::{BTreeMap, HashMap, HashSet};

use flowmeter_connector::codeowners::{self, CodeOwners, GITLAB_LOCATIONS};
use flowmeter_connector::fields::{
    first_line, id, percent_encode as encode, services_of_labels, text, ts,
};
use flowmeter_connector::http::{token_from_env, HttpClient, HttpConfig, HttpResponse};
use flowmeter_connector::mark::{millis as iso, HighWater, TimePage};
use flowmeter_connector::{
    Connector, ConnectorError, Cursor, Fetched, Next, SyncBatch, SyncContext,
};
use flowmeter_model::{
    Commit, Deployment, DeploymentKind, DeploymentStatus, Event, Extra, Incident, PullRequest,
    Review, ReviewState,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

flowmeter_connector::source_config! {
    /// A GitLab source.
    ///
    /// ```toml
    /// [[sources]]
    /// type = "gitlab"
    /// api_url = "https://gitlab.com/api/v4"   # self-managed: https://HOST/api/v4
    /// token_env = "GITLAB_TOKEN"              # sent as PRIVATE-TOKEN
    /// projects = ["acme/web"]                 # or group = "acme"
    /// ```
    pub struct GitLabConfig {
        kind: "gitlab",
        api_url: "https://gitlab.com/api/v4", "`https://HOST/api/v4` for a self-managed instance.",
        token_env: "GITLAB_TOKEN", "a token with `read_api` scope (sent as `PRIVATE-TOKEN`)",
        /// Projects by path (`group/subgroup/project`).
        pub projects: Vec<String> = Vec::new(),
        /// A group whose own projects (with its subgroups', archived ones
        /// too; not those shared into it by other groups) are all synced.
        pub group: Option<String> = None,
        /// With `group`: include subgroups (default true).
        pub include_subgroups: bool = true,
        /// Record each merge request's changed files (`/diffs`, or
        /// `/changes` on GitLab before 15.7), and each branch commit's that
        /// is not a merge (`/repository/commits/:sha/diff`), and their
        /// owners by the project's CODEOWNERS (repository files API: the
        /// root, `docs/`, `.gitlab/`), so teams' `paths` and `owners` can
        /// claim a monorepo's changes. Default false: it costs a request per
        /// merge request and per non-merge commit, and up to three per
        /// project and sync.
        pub code_owners: bool = false,
    }
}

/// The streams synced per project, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Deployments,
    MergeRequests,
    Incidents,
    Commits,
}

impl Stream {
    const ALL: [Stream; 4] = [
        Stream::Deployments,
        Stream::MergeRequests,
        Stream::Incidents,
        Stream::Commits,
    ];

    fn key(self) -> &'static str {
        match self {
            Stream::Deployments => "deployments",
            Stream::MergeRequests => "merge_requests",
            Stream::Incidents => "incidents",
            Stream::Commits => "commits",
        }
    }

    /// The API list, its time filter, and the item field that filter reads.
    fn list(
        self,
        project: &str,
        branch: &str,
    ) -> (String, Vec<(&'static str, String)>, &'static str) {
        let p = format!("projects/{}", encode(project));
        let by_update = |mut q: Vec<(&'static str, String)>| {
            q.push(("order_by", "updated_at".into()));
            q.push(("sort", "asc".into()));
            q
        };
        match self {
            Stream::Deployments => (format!("{p}/deployments"), by_update(vec![]), "updated_at"),
            Stream::MergeRequests => (
                format!("{p}/merge_requests"),
                by_update(vec![("state", "all".into()), ("scope", "all".into())]),
                "updated_at",
            ),
            Stream::Incidents => (
                format!("{p}/issues"),
                by_update(vec![
                    ("issue_type", "incident".into()),
                    ("scope", "all".into()),
                ]),
                "updated_at",
            ),
            Stream::Commits => (
                format!("{p}/repository/commits"),
                vec![("ref_name", branch.to_string())],
                "committed_date",
            ),
        }
    }

    fn time_param(self) -> &'static str {
        match self {
            Stream::Commits => "since",
            _ => "updated_after",
        }
    }
}

/// The cursor: per project, per stream, how far its listing got (the kit's
/// one cursor type; the API's time filter includes the mark itself).
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    projects: BTreeMap<String, BTreeMap<String, HighWater>>,
}

/// The next page from `x-next-page`, else from a `Link: rel="next"`.
fn next_page(resp: &HttpResponse, page: u32) -> Option<u32> {
    if let Some(next) = resp
        .headers
        .get("x-next-page")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        return next.parse().ok();
    }
    resp.next_link().map(|_| page + 1)
}

/// The GitLab connector. Build with [`GitLabConnector::new`].
pub struct GitLabConnector {
    config: GitLabConfig,
    name: String,
    http: HttpClient,
    /// (path, default branch) of every project, once listed.
    projects: Option<Vec<(String, String)>>,
    /// (project, stream) whose pass finished in this run.
    done: HashSet<(String, &'static str)>,
    /// Whether this run has returned a batch: from then on the cursor is
    /// its own, read even in a `--full` sync (which ignores only the one
    /// it started with).
    started: bool,
    /// With `code_owners`: each project's CODEOWNERS file, read once a run
    /// (`None`: it has none, or it could not be read).
    code_owners: HashMap<String, Option<CodeOwners>>,
}

impl std::fmt::Debug for GitLabConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabConnector")
            .field("name", &self.name)
            .field("api_url", &self.config.api_url)
            .field("token_env", &self.config.token_env)
            .finish_non_exhaustive()
    }
}

impl GitLabConnector {
    /// Validates `config` and reads the token from `token_env`.
    pub fn new(config: GitLabConfig) -> Result<Self, ConnectorError> {
        config.check_kind()?;
        let name = config.source_name().to_string();
        let cfg_err = |message: String| config.invalid(message);
        if config.projects.is_empty() && config.group.is_none() {
            return Err(cfg_err(
                "set `projects = [\"group/project\", ...]` or `group = \"NAME\"`".into(),
            ));
        }
        let (token, token_env) =
            token_from_env(&[config.token_env.as_str()]).map_err(|e| e.with_source(&name))?;
        let http = HttpClient::new(
            HttpConfig::new(
                name.clone(),
                format!("{}/", config.api_url.trim_end_matches('/')),
            )
            .auth("private-token", &token, token_env)?
            .retry(config.retry()),
        )?;
        Ok(GitLabConnector {
            config,
            name,
            http,
            projects: None,
            done: HashSet::new(),
            started: false,
            code_owners: HashMap::new(),
        })
    }

    /// HTTP requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.http.requests()
    }

    /// A 404 names the project and the token's variable.
    fn project_error(&self, project: &str, e: ConnectorError) -> ConnectorError {
        e.with_not_found_hint(|| {
            format!(
                "project `{project}` does not exist or the token in `{}` cannot read it (it needs the `read_api` scope)",
                self.config.token_env
            )
        })
    }

    async fn list_projects(&self) -> Result<Vec<(String, String)>, ConnectorError> {
        let mut out = Vec::new();
        for p in &self.config.projects {
            let v: Value = self
                .http
                .get_json(&format!("projects/{}", encode(p)), &[])
                .await
                .map_err(|e| self.project_error(p, e))?;
            out.push((
                p.clone(),
                text(&v["default_branch"]).unwrap_or_else(|| "main".into()),
            ));
        }
        if let Some(group) = &self.config.group {
            let mut page = 1;
            loop {
                let resp = self
                    .http
                    .get(
                        &format!("groups/{}/projects", encode(group)),
                        &[
                            (
                                "include_subgroups",
                                self.config.include_subgroups.to_string(),
                            ),
                            // The group's own projects, archived ones
                            // too (their history counts): not those other
                            // groups shared into it (`with_shared`
                            // defaults to true).
                            ("with_shared", "false".into()),
                            ("per_page", "100".into()),
                            ("page", page.to_string()),
                        ],
                    )
                    .await
                    .map_err(|e| {
                        e.with_not_found_hint(|| {
                            format!("group `{group}` does not exist or the token cannot read it")
                        })
                    })?;
                for p in resp.body.as_array().into_iter().flatten() {
                    if let Some(path) = text(&p["path_with_namespace"]) {
                        if !out.iter().any(|(q, _)| *q == path) {
                            out.push((
                                path,
                                text(&p["default_branch"]).unwrap_or_else(|| "main".into()),
                            ));
                        }
                    }
                }
                match next_page(&resp, page) {
                    Some(n) => page = n,
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// One page of one stream, mapped; returns the events, the items' time
    /// field values with ids, and the next page.
    /// The incidents of `project` whose type was changed back to issue
    /// (GitLab lets an incident be turned into an issue) since `from`: the
    /// issues updated since then whose `issue_type` says `issue`, as
    /// incident ids to withdraw (a no-op for one never delivered). One
    /// whose type the API does not say is left alone.
    async fn retyped_incidents(
        &self,
        project: &str,
        from: flowmeter_model::Timestamp,
    ) -> Result<Vec<String>, ConnectorError> {
        let path = format!("projects/{}/issues", encode(project));
        let query = [
            ("issue_type", "issue".to_string()),
            ("scope", "all".into()),
            ("updated_after", iso(from)),
            ("per_page", "100".into()),
        ];
        let issues = (self.http.get_all_pages(&path, &query).await)
            .map_err(|e| self.project_error(project, e))?;
        Ok(issues
            .iter()
            .filter(|i| i["issue_type"].as_str() == Some("issue"))
            .filter_map(|i| Some(format!("{project}#{}", i["iid"].as_i64()?)))
            .collect())
    }

    async fn page(
        &self,
        project: &str,
        branch: &str,
        stream: Stream,
        from: &str,
        page: u32,
    ) -> Result<(Vec<(Value, Vec<Event>)>, Option<u32>), ConnectorError> {
        let (path, mut query, _) = stream.list(project, branch);
        query.push((stream.time_param(), from.to_string()));
        query.push(("per_page", "100".into()));
        query.push(("page", page.to_string()));
        let resp = self
            .http
            .get(&path, &query)
            .await
            .map_err(|e| self.project_error(project, e))?;
        let mut out = Vec::new();
        for item in resp.body.as_array().into_iter().flatten() {
            let events = match stream {
                Stream::Deployments => map_deployment(&self.name, project, item)
                    .into_iter()
                    .collect(),
                Stream::Commits => self.commit(project, item).await?,
                Stream::Incidents => map_incident(&self.name, project, item)
                    .into_iter()
                    .collect(),
                Stream::MergeRequests => self.merge_request(project, item).await?,
            };
            out.push((item.clone(), events));
        }
        Ok((out, next_page(&resp, page)))
    }

    /// A branch commit; with `code_owners`, one that is not a merge (a
    /// merge request's merge commit has its merge request's files) gets
    /// its files from `/repository/commits/:sha/diff` and their owners. A
    /// squash commit is read too: its files are its merge request's.
    async fn commit(&self, project: &str, c: &Value) -> Result<Vec<Event>, ConnectorError> {
        let Some(Event::Commit(mut commit)) = map_commit(&self.name, project, c) else {
            return Ok(Vec::new());
        };
        let merge = commit.parents.as_ref().is_some_and(|p| p.len() > 1);
        if self.config.code_owners && !merge {
            let path = format!(
                "projects/{}/repository/commits/{}/diff",
                encode(project),
                encode(&commit.sha)
            );
            let diffs = match (self.http)
                .get_all_pages(&path, &[("per_page", "100".into())])
                .await
            {
                Ok(diffs) => diffs,
                // Gone since it was listed: no files to tell.
                Err(ConnectorError::NotFound { .. }) => return Ok(vec![Event::Commit(commit)]),
                Err(e) => return Err(self.project_error(project, e)),
            };
            let files = diff_paths(&diffs);
            let owners = self.code_owners.get(project).and_then(Option::as_ref);
            commit.owners = owners.map(|o| o.owners_of_all(files.iter().map(String::as_str)));
            commit.files = Some(files);
        }
        Ok(vec![Event::Commit(commit)])
    }

    /// A merge request with its commits and reviews (merged ones only need
    /// them; open and closed ones are kept for work in progress).
    async fn merge_request(&self, project: &str, mr: &Value) -> Result<Vec<Event>, ConnectorError> {
        let Some(iid) = mr["iid"].as_i64() else {
            return Ok(Vec::new());
        };
        let base = format!("projects/{}/merge_requests/{iid}", encode(project));
        // Every page: GitLab lists an MR's commits newest first, so stopping
        // at one page would lose the oldest ones (and the first commit time).
        let commits = self
            .http
            .get_all_pages(&format!("{base}/commits"), &[("per_page", "100".into())])
            .await
            .map_err(|e| self.project_error(project, e))?;
        let notes = self
            .http
            .get_all_pages(
                &format!("{base}/notes"),
                &[
                    ("per_page", "100".into()),
                    ("sort", "asc".into()),
                    ("order_by", "created_at".into()),
                ],
            )
            .await
            .map_err(|e| self.project_error(project, e))?;
        let mut events = map_merge_request(
            &self.name,
            project,
            mr,
            &Value::Array(commits),
            &Value::Array(notes),
        );
        if self.config.code_owners {
            let paged = [("per_page", "100".into())];
            let diffs = match self
                .http
                .get_all_pages(&format!("{base}/diffs"), &paged)
                .await
            {
                // GitLab before 15.7 has no `/diffs`: `/changes` (deprecated
                // since) gives the same files inside the merge request.
                Err(ConnectorError::NotFound { .. }) => {
                    let mut mr: Value = (self.http)
                        .get_json(&format!("{base}/changes"), &[])
                        .await
                        .map_err(|e| self.project_error(project, e))?;
                    match mr["changes"].take() {
                        Value::Array(changes) => changes,
                        _ => Vec::new(),
                    }
                }
                diffs => diffs.map_err(|e| self.project_error(project, e))?,
            };
            let owners = self.code_owners.get(project).and_then(Option::as_ref);
            if let Some(Event::PullRequest(pr)) = events.first_mut() {
                let files = diff_paths(&diffs);
                pr.owners = owners.map(|o| o.owners_of_all(files.iter().map(String::as_str)));
                pr.files = Some(files);
            }
        }
        Ok(events)
    }

    /// Reads `project`'s CODEOWNERS once a run, from the first of GitLab's
    /// places that has one on `branch`. A file that cannot be read, and
    /// lines of it that cannot, are notes: the merge requests still sync,
    /// without owners.
    async fn read_code_owners(
        &mut self,
        project: &str,
        branch: &str,
        notes: &mut Vec<String>,
    ) -> Result<(), ConnectorError> {
        if self.code_owners.contains_key(project) {
            return Ok(());
        }
        let path = |location: &str| {
            let (project, file) = (encode(project), encode(location));
            format!("projects/{project}/repository/files/{file}")
        };
        let query = [("ref", branch.to_string())];
        let found =
            codeowners::from_file_api(&self.http, project, GITLAB_LOCATIONS, path, &query, notes)
                .await?;
        self.code_owners.insert(project.to_string(), found);
        Ok(())
    }
}

// ---------------------------------------------------------------- mapping

/// The paths a merge request's diffs change: each new path, and the old
/// one of a renamed or deleted file, sorted.
pub fn diff_paths(diffs: &[Value]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for d in diffs {
        paths.extend(text(&d["new_path"]));
        if d["renamed_file"].as_bool() == Some(true) || d["deleted_file"].as_bool() == Some(true) {
            paths.extend(text(&d["old_path"]));
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

fn deployment_status(s: &str) -> DeploymentStatus {
    match s {
        "success" => DeploymentStatus::Success,
        "failed" => DeploymentStatus::Failure,
        "canceled" | "skipped" => DeploymentStatus::Cancelled,
        _ => DeploymentStatus::InProgress, // created, running, blocked
    }
}

/// A `GET /projects/:id/deployments` item.
pub fn map_deployment(source: &str, project: &str, d: &Value) -> Option<Event> {
    let status = deployment_status(d["status"].as_str().unwrap_or(""));
    let finished_at = match status {
        DeploymentStatus::Success | DeploymentStatus::Failure => {
            ts(&d["deployable"]["finished_at"]).or_else(|| ts(&d["updated_at"]))
        }
        _ => None,
    };
    Some(Event::Deployment(Deployment {
        source: source.to_string(),
        id: id(&d["id"])?,
        service: project.to_string(),
        repo: Some(project.to_string()),
        environment: text(&d["environment"]["name"])?,
        status,
        started_at: ts(&d["deployable"]["started_at"]).or_else(|| ts(&d["created_at"])),
        finished_at,
        commit_sha: text(&d["sha"])?,
        commits: None,
        kind: DeploymentKind::Regular,
        actor: text(&d["user"]["username"]),
        url: text(&d["deployable"]["web_url"]),
        git_ref: text(&d["ref"]),
        labels: Vec::new(),
        extra: Extra::new(),
    }))
}

/// A repository commit (`/repository/commits` or an MR's `/commits`).
pub fn map_commit(source: &str, project: &str, c: &Value) -> Option<Event> {
    Some(Event::Commit(Commit {
        source: source.to_string(),
        repo: project.to_string(),
        sha: text(&c["id"])?,
        parents: c["parent_ids"].as_array().map(|ps| {
            ps.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        }),
        authored_at: ts(&c["authored_date"]).or_else(|| ts(&c["created_at"]))?,
        committed_at: ts(&c["committed_date"]),
        author: text(&c["author_name"]),
        message: text(&c["title"]).or_else(|| c["message"].as_str().map(first_line)),
        extra: Extra::new(),
        files: None,
        owners: None,
    }))
}

/// An incident issue; the service is the project unless a `service::NAME`
/// (or `service:NAME`) label names it.
pub fn map_incident(source: &str, project: &str, i: &Value) -> Option<Event> {
    let labels = i["labels"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let services = services_of_labels(labels.iter().filter_map(Value::as_str), project);
    let closed = i["state"].as_str() == Some("closed");
    Some(Event::Incident(Incident {
        source: source.to_string(),
        id: format!("{project}#{}", i["iid"].as_i64()?),
        services,
        title: text(&i["title"]),
        severity: text(&i["severity"])
            .filter(|s| s != "UNKNOWN")
            .map(|s| s.to_lowercase()),
        url: text(&i["web_url"]),
        created_at: ts(&i["created_at"])?,
        acknowledged_at: None,
        resolved_at: if closed { ts(&i["closed_at"]) } else { None },
        deployment_id: None,
        deployment_source: None,
        extra: Extra::new(),
        root_cause: i["description"]
            .as_str()
            .and_then(flowmeter_connector::incident::root_cause),
    }))
}

/// A merge request with its commits and notes: the pull request, its
/// reviews (approvals from system notes, others' comments), its commits.
pub fn map_merge_request(
    source: &str,
    project: &str,
    mr: &Value,
    commits: &Value,
    notes: &Value,
) -> Vec<Event> {
    let (Some(number), Some(created_at)) = (mr["iid"].as_i64(), ts(&mr["created_at"])) else {
        return Vec::new();
    };
    let author = text(&mr["author"]["username"]);
    let commit_list: Vec<&Value> = commits
        .as_array()
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let notes: Vec<&Value> = notes
        .as_array()
        .map(|n| n.iter().collect())
        .unwrap_or_default();
    let merged_at = ts(&mr["merged_at"]);
    // The commit that landed on the target branch: the merge commit, else
    // (squash with fast-forward) the squash commit, else (fast-forward) the
    // head. GitLab's default "merge commit with squash" puts BOTH a squash
    // commit and a merge commit on the target branch; both belong to the
    // MR: the merge commit as the landed one, the squash commit among its
    // commits.
    let merge_sha = text(&mr["merge_commit_sha"]);
    let squash_sha = text(&mr["squash_commit_sha"]);
    let landed = merged_at.and_then(|_| {
        merge_sha
            .clone()
            .or_else(|| squash_sha.clone())
            .or_else(|| text(&mr["sha"]))
    });
    let mut own_commits: Vec<String> = commit_list.iter().filter_map(|c| text(&c["id"])).collect();
    if let Some(sq) = squash_sha.filter(|sq| merged_at.is_some() && Some(sq) != landed.as_ref()) {
        if !own_commits.contains(&sq) {
            own_commits.push(sq);
        }
    }
    // System notes are Markdown: "marked this merge request as **ready**".
    let body = |n: &Value| {
        n["body"]
            .as_str()
            .unwrap_or("")
            .replace('*', "")
            .trim()
            .to_lowercase()
    };
    let ready_at = notes
        .iter()
        .filter(|n| {
            n["system"].as_bool() == Some(true)
                && body(n).contains("marked this merge request as ready")
        })
        .filter_map(|n| ts(&n["created_at"]))
        .max();
    let mut extra = Extra::new();
    if mr["draft"].as_bool() == Some(true) || mr["work_in_progress"].as_bool() == Some(true) {
        extra.insert("draft".into(), json!(true));
    }
    if let Some(url) = text(&mr["web_url"]) {
        extra.insert("url".into(), json!(url));
    }
    let mut events = vec![Event::PullRequest(PullRequest {
        source: source.to_string(),
        repo: project.to_string(),
        number,
        title: text(&mr["title"]),
        author: author.clone(),
        base: text(&mr["target_branch"]),
        head: text(&mr["source_branch"]),
        labels: mr["labels"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        created_at,
        ready_at: ready_at.filter(|r| *r >= created_at),
        merged_at,
        closed_at: ts(&mr["closed_at"]).or(merged_at),
        merge_commit_sha: landed,
        commits: (!own_commits.is_empty()).then_some(own_commits),
        first_commit_at: commit_list
            .iter()
            .filter_map(|c| ts(&c["authored_date"]))
            .min(),
        additions: None,
        deletions: None,
        extra,
        files: None,
        owners: None,
    })];
    for n in notes {
        let Some(note_author) = text(&n["author"]["username"]) else {
            continue;
        };
        let system = n["system"].as_bool() == Some(true);
        let state = if system && body(n) == "approved this merge request" {
            ReviewState::Approved
        } else if !system && Some(&note_author) != author.as_ref() {
            ReviewState::Commented
        } else {
            continue;
        };
        let (Some(note_id), Some(at)) = (id(&n["id"]), ts(&n["created_at"])) else {
            continue;
        };
        events.push(Event::Review(Review {
            source: source.to_string(),
            repo: project.to_string(),
            pr: number,
            id: note_id,
            author: note_author,
            state,
            submitted_at: at,
            extra: Extra::new(),
        }));
    }
    events
}

// ---------------------------------------------------------------- syncing

#[async_trait::async_trait]
impl Connector for GitLabConnector {
    fn name(&self) -> &str {
        &self.name
    }

    /// `GET /projects/:id/repository/commits/:sha` for each commit: the
    /// parents a `since`-filtered listing missed.
    async fn fetch_commits(&mut self, project: &str, shas: &[String]) -> Fetched {
        let mut out = Vec::new();
        for sha in shas {
            let path = format!(
                "projects/{}/repository/commits/{}",
                encode(project),
                encode(sha)
            );
            // A 404 (gone, or never visible) leaves a gap in the graph.
            let found: Option<Value> = (self.http.get_json_if_found(&path, &[]).await)
                .map_err(|e| self.project_error(project, e))?;
            out.extend(found.and_then(|c| map_commit(&self.name, project, &c)));
        }
        Ok(Some(out))
    }

    async fn next_batch(&mut self, ctx: &SyncContext, cursor: Option<&Cursor>) -> Next {
        let before = self.requests();
        let mut state: State = match cursor {
            Some(c) if !ctx.full || self.started => {
                serde_json::from_value(c.0.clone()).unwrap_or_default()
            }
            _ => State::default(),
        };
        self.started = true;
        if self.projects.is_none() {
            self.projects = Some(self.list_projects().await?);
        }
        let projects = self.projects.clone().unwrap_or_default();
        for (project, branch) in &projects {
            for stream in Stream::ALL {
                if self.done.contains(&(project.clone(), stream.key())) {
                    continue;
                }
                let st = state
                    .projects
                    .entry(project.clone())
                    .or_default()
                    .entry(stream.key().to_string())
                    .or_default();
                let synced_before = st.mark.is_some();
                let mut pager = st.pager(ctx.since);
                let resume = TimePage::parse(pager.next());
                let from = resume.from.unwrap_or(pager.lower());
                let mut notes = Vec::new();
                let reads_files = matches!(stream, Stream::MergeRequests | Stream::Commits);
                if self.config.code_owners && reads_files {
                    self.read_code_owners(project, branch, &mut notes).await?;
                }
                let (items, next) = self
                    .page(project, branch, stream, &iso(from), resume.page)
                    .await?;
                let (_, _, time_field) = stream.list(project, branch);
                let mut events = Vec::new();
                let mut times = Vec::with_capacity(items.len());
                for (item, mapped) in items {
                    let key = id(&item["id"]).unwrap_or_default();
                    let t = ts(&item[time_field]);
                    times.extend(t);
                    // Already stored: exactly at the previous mark.
                    if t.is_some_and(|t| !pager.take(t, &key)) {
                        continue;
                    }
                    events.extend(mapped);
                }
                let by_time = time_field == "updated_at";
                let next = next.map(|p| resume.after(by_time, from, &times, p).token());
                let lower = pager.lower();
                let finished = pager.turn(next);
                let mut withdrawn = Vec::new();
                if finished {
                    self.done.insert((project.clone(), stream.key()));
                    // A pass after an earlier one: the incidents changed
                    // back into issues since, which its listing no longer
                    // shows.
                    if matches!(stream, Stream::Incidents) && synced_before {
                        withdrawn = self.retyped_incidents(project, lower).await?;
                    }
                }
                return Ok(Some(SyncBatch {
                    events,
                    cursor: Cursor(serde_json::to_value(&state).unwrap_or(Value::Null)),
                    requests: self.requests() - before,
                    notes,
                    withdrawn,
                }));
            }
        }
        Ok(None)
    }
}
