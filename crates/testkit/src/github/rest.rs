//! REST endpoints, shaped like the examples on docs.github.com:
//!
//! * repos: <https://docs.github.com/en/rest/repos/repos> (`GET /orgs/{org}/repos`,
//!   `GET /users/{username}/repos`, `GET /repos/{owner}/{repo}`)
//! * commits: <https://docs.github.com/en/rest/commits/commits> (list commits,
//!   get a commit, compare two commits)
//! * pulls: <https://docs.github.com/en/rest/pulls/pulls>,
//!   reviews: <https://docs.github.com/en/rest/pulls/reviews>
//! * deployments: <https://docs.github.com/en/rest/deployments/deployments>,
//!   statuses: <https://docs.github.com/en/rest/deployments/statuses>
//! * issues: <https://docs.github.com/en/rest/issues/issues> ("GitHub's REST
//!   API considers every pull request an issue ... identify pull requests by
//!   the `pull_request` key")
//! * paging: <https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api>
//!
//! Every object carries the documented fields (urls, `node_id`s, user
//! objects ...), not only the ones a connector might read. Values the model
//! does not hold (file lists, comment counts, ...) are empty or zero.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::model::{Commit, Deployment, DeploymentStatus, Org, Pull, Repo, Review};
use super::util::{
    b64_encode, fake_sha, fnv64, link_header, node_id, pct_encode_path, ts, ts_opt, Paging, Query,
};
use super::MockResponse;

pub(crate) const DOC_REST: &str = "https://docs.github.com/rest";
const DOC_LIST_COMMITS: &str = "https://docs.github.com/rest/commits/commits#list-commits";
const DOC_GET_COMMIT: &str = "https://docs.github.com/rest/commits/commits#get-a-commit";
const DOC_COMPARE: &str = "https://docs.github.com/rest/commits/commits#compare-two-commits";
const DOC_PULLS: &str = "https://docs.github.com/rest/pulls/pulls#get-a-pull-request";
const DOC_REVIEWS: &str =
    "https://docs.github.com/rest/pulls/reviews#list-reviews-for-a-pull-request";
const DOC_DEPLOYMENTS: &str =
    "https://docs.github.com/rest/deployments/deployments#get-a-deployment";
const DOC_STATUSES: &str =
    "https://docs.github.com/rest/deployments/statuses#get-a-deployment-status";
const DOC_ISSUES: &str = "https://docs.github.com/rest/issues/issues#get-an-issue";
const DOC_CONTENTS: &str = "https://docs.github.com/rest/repos/contents#get-repository-content";
const DOC_REPOS: &str = "https://docs.github.com/rest/repos/repos#get-a-repository";

/// Per-request context: where the mock lives and what was asked.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    /// The server root (`http://127.0.0.1:port`).
    pub(crate) uri: String,
    /// The REST base the request used (root, or root + `/api/v3`).
    pub(crate) api: String,
    /// Where `html_url`s point (the server root).
    pub(crate) web: String,
    /// The request path, including any `/api/v3` prefix.
    pub(crate) path: String,
    pub(crate) query: Query,
    pub(crate) org_name: String,
}

/// Reachability cache: `owner/name@sha` -> shas reachable from `sha`,
/// newest committer date first. Cleared whenever the organisation changes.
pub(crate) type ReachCache = Mutex<HashMap<String, Arc<Vec<String>>>>;

// ---------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------

pub(crate) fn repo_id(r: &Repo) -> u64 {
    100_000_000 + fnv64(&[b"repo", r.full_name().to_ascii_lowercase().as_bytes()]) % 800_000_000
}

pub(crate) fn user_id(login: &str) -> u64 {
    1_000 + fnv64(&[b"user", login.to_ascii_lowercase().as_bytes()]) % 90_000_000
}

pub(crate) fn org_id(login: &str) -> u64 {
    91_000_000 + fnv64(&[b"org", login.to_ascii_lowercase().as_bytes()]) % 8_000_000
}

pub(crate) fn pull_db_id(r: &Repo, number: u64) -> u64 {
    1_000_000_000 + (repo_id(r) % 1000) * 1_000_000 + number % 1_000_000
}

pub(crate) fn issue_db_id(r: &Repo, number: u64) -> u64 {
    100_000_000 + (repo_id(r) % 900) * 1_000_000 + number % 1_000_000
}

pub(crate) fn label_id(name: &str) -> u64 {
    100_000_000 + fnv64(&[b"label", name.as_bytes()]) % 1_900_000_000
}

pub(crate) fn is_bot(login: &str) -> bool {
    login.ends_with("[bot]")
}

pub(crate) fn repo_api(ctx: &Ctx, r: &Repo) -> String {
    format!("{}/repos/{}/{}", ctx.api, r.owner, r.name)
}

pub(crate) fn repo_web(ctx: &Ctx, r: &Repo) -> String {
    format!("{}/{}/{}", ctx.web, r.owner, r.name)
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The documented error body: `{"message", "documentation_url", "status"}`.
pub(crate) fn error(status: u16, message: &str, doc: &str) -> MockResponse {
    MockResponse::json(
        status,
        json!({"message": message, "documentation_url": doc, "status": status.to_string()}),
    )
}

pub(crate) fn not_found(doc: &str) -> MockResponse {
    error(404, "Not Found", doc)
}

// ---------------------------------------------------------------------------
// Object shapes
// ---------------------------------------------------------------------------

/// A "Simple User" as in every docs example (`login`, `id`, `node_id`,
/// `avatar_url`, the `*_url` family, `type`, `site_admin`).
pub(crate) fn user_json(ctx: &Ctx, login: &str) -> Value {
    let id = user_id(login);
    let bot = is_bot(login);
    let l = pct_encode_path(login);
    let api = format!("{}/users/{}", ctx.api, l);
    let kind = if bot { "Bot" } else { "User" };
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(kind, id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{}/{}", ctx.web, l),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

/// The repository owner: an `Organization` when it is the mocked org.
pub(crate) fn owner_json(ctx: &Ctx, login: &str) -> Value {
    let mut v = user_json(ctx, login);
    if login.eq_ignore_ascii_case(&ctx.org_name) {
        let id = org_id(login);
        if let Value::Object(m) = &mut v {
            m.insert("id".into(), json!(id));
            m.insert("node_id".into(), json!(node_id("Organization", id)));
            m.insert("type".into(), json!("Organization"));
        }
    }
    v
}

fn label_json(ctx: &Ctx, r: &Repo, name: &str) -> Value {
    let id = label_id(name);
    let color = format!("{:06x}", fnv64(&[b"color", name.as_bytes()]) & 0xff_ffff);
    json!({
        "id": id,
        "node_id": node_id("Label", id),
        "url": format!("{}/labels/{}", repo_api(ctx, r), pct_encode_path(name)),
        "name": name,
        "description": null,
        "color": color,
        "default": matches!(name, "bug" | "documentation" | "enhancement")
    })
}

/// Per-request facts about a repository that need a scan to compute.
pub(crate) struct RepoMeta {
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) pushed_at: DateTime<Utc>,
    pub(crate) open_issues: usize,
}

impl RepoMeta {
    pub(crate) fn of(r: &Repo) -> RepoMeta {
        let fallback = Utc
            .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_else(Utc::now);
        let created_at = r
            .commits
            .values()
            .map(|c| c.committed_at)
            .min()
            .unwrap_or(fallback);
        let pushed_at = r
            .branches
            .values()
            .filter_map(|s| r.commits.get(s))
            .map(|c| c.committed_at)
            .max()
            .unwrap_or(created_at);
        let open_issues = r
            .issues
            .iter()
            .filter(|i| i.state == "open" && !i.is_pull_request)
            .count()
            + r.pulls.iter().filter(|p| p.state == "open").count();
        RepoMeta {
            created_at,
            pushed_at,
            open_issues,
        }
    }
}

/// A full repository object (`GET /repos/{owner}/{repo}`).
pub(crate) fn repo_json(ctx: &Ctx, r: &Repo, meta: &RepoMeta) -> Value {
    let id = repo_id(r);
    let api = repo_api(ctx, r);
    let web = repo_web(ctx, r);
    let host = ctx
        .web
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    json!({
        "id": id,
        "node_id": node_id("Repository", id),
        "name": r.name,
        "full_name": r.full_name(),
        "private": r.private,
        "owner": owner_json(ctx, &r.owner),
        "html_url": web,
        "description": null,
        "fork": false,
        "url": api,
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "assignees_url": format!("{api}/assignees{{/user}}"),
        "blobs_url": format!("{api}/git/blobs{{/sha}}"),
        "branches_url": format!("{api}/branches{{/branch}}"),
        "collaborators_url": format!("{api}/collaborators{{/collaborator}}"),
        "comments_url": format!("{api}/comments{{/number}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "compare_url": format!("{api}/compare/{{base}}...{{head}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "contributors_url": format!("{api}/contributors"),
        "deployments_url": format!("{api}/deployments"),
        "downloads_url": format!("{api}/downloads"),
        "events_url": format!("{api}/events"),
        "forks_url": format!("{api}/forks"),
        "git_commits_url": format!("{api}/git/commits{{/sha}}"),
        "git_refs_url": format!("{api}/git/refs{{/sha}}"),
        "git_tags_url": format!("{api}/git/tags{{/sha}}"),
        "git_url": format!("git://{host}/{}.git", r.full_name()),
        "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
        "issue_events_url": format!("{api}/issues/events{{/number}}"),
        "issues_url": format!("{api}/issues{{/number}}"),
        "keys_url": format!("{api}/keys{{/key_id}}"),
        "labels_url": format!("{api}/labels{{/name}}"),
        "languages_url": format!("{api}/languages"),
        "merges_url": format!("{api}/merges"),
        "milestones_url": format!("{api}/milestones{{/number}}"),
        "notifications_url": format!("{api}/notifications{{?since,all,participating}}"),
        "pulls_url": format!("{api}/pulls{{/number}}"),
        "releases_url": format!("{api}/releases{{/id}}"),
        "ssh_url": format!("git@{host}:{}.git", r.full_name()),
        "stargazers_url": format!("{api}/stargazers"),
        "statuses_url": format!("{api}/statuses/{{sha}}"),
        "subscribers_url": format!("{api}/subscribers"),
        "subscription_url": format!("{api}/subscription"),
        "tags_url": format!("{api}/tags"),
        "teams_url": format!("{api}/teams"),
        "trees_url": format!("{api}/git/trees{{/sha}}"),
        "clone_url": format!("{web}.git"),
        "mirror_url": null,
        "hooks_url": format!("{api}/hooks"),
        "svn_url": web,
        "homepage": null,
        "language": "Rust",
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": r.commits.len(),
        "default_branch": r.default_branch,
        "open_issues_count": meta.open_issues,
        "is_template": false,
        "topics": [],
        "has_issues": true,
        "has_projects": true,
        "has_wiki": false,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": r.archived,
        "disabled": false,
        "visibility": if r.private { "private" } else { "public" },
        "pushed_at": ts(&meta.pushed_at),
        "created_at": ts(&meta.created_at),
        "updated_at": ts(&meta.pushed_at),
        "permissions": {"admin": false, "maintain": false, "push": false, "triage": true, "pull": true},
        "allow_forking": true,
        "web_commit_signoff_required": false,
        "license": null,
        "forks": 0,
        "open_issues": meta.open_issues,
        "watchers": 0
    })
}

fn git_user(name: &str, email: &str, at: &DateTime<Utc>) -> Value {
    json!({"name": name, "email": email, "date": ts(at)})
}

/// A commit as in "List commits" (`sha`, `node_id`, `commit{author,
/// committer, message, tree, ...}`, `author`/`committer` users or null,
/// `parents[{sha,url,html_url}]`, `url`, `html_url`).
pub(crate) fn commit_json(ctx: &Ctx, r: &Repo, c: &Commit) -> Value {
    let api = repo_api(ctx, r);
    let web = repo_web(ctx, r);
    let sha = &c.sha;
    let tree = fake_sha(&format!("tree:{sha}"));
    let user = match &c.author_login {
        Some(l) => user_json(ctx, l),
        None => Value::Null,
    };
    let parents: Vec<Value> = c
        .parents
        .iter()
        .map(|p| json!({"sha": p, "url": format!("{api}/commits/{p}"), "html_url": format!("{web}/commit/{p}")}))
        .collect();
    json!({
        "url": format!("{api}/commits/{sha}"),
        "sha": sha,
        "node_id": node_id("Commit", sha),
        "html_url": format!("{web}/commit/{sha}"),
        "comments_url": format!("{api}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{api}/git/commits/{sha}"),
            "author": git_user(&c.author_name, &c.author_email, &c.authored_at),
            "committer": git_user(&c.author_name, &c.author_email, &c.committed_at),
            "message": c.message,
            "tree": {"url": format!("{api}/git/trees/{tree}"), "sha": tree},
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
        },
        "author": user.clone(),
        "committer": user,
        "parents": parents
    })
}

/// Files "Get a commit" lists: 300 a page (`per_page`, `page`), 3,000 at
/// most, as GitHub's docs say.
const COMMIT_FILES_PER_PAGE: usize = 300;
const COMMIT_FILES_MAX: usize = 3000;

/// "Get a commit": the list shape plus `stats` and one page of `files`
/// (each file one line changed).
fn commit_detail_json(ctx: &Ctx, r: &Repo, c: &Commit, paging: &Paging) -> Value {
    let mut v = commit_json(ctx, r, c);
    let (api, web) = (repo_api(ctx, r), repo_web(ctx, r));
    let listed = &c.files[..c.files.len().min(COMMIT_FILES_MAX)];
    let files: Vec<Value> = (listed[paging.range(listed.len())].iter())
        .map(|f| {
            json!({
                "sha": fake_sha(&format!("blob:{}:{f}", c.sha)),
                "filename": f,
                "status": "modified",
                "additions": 1,
                "deletions": 1,
                "changes": 2,
                "blob_url": format!("{web}/blob/{}/{f}", c.sha),
                "raw_url": format!("{web}/raw/{}/{f}", c.sha),
                "contents_url": format!("{api}/contents/{f}?ref={}", c.sha),
                "patch": "@@ -1 +1 @@\n-old\n+new"
            })
        })
        .collect();
    let n = c.files.len();
    if let Value::Object(m) = &mut v {
        m.insert(
            "stats".into(),
            json!({"total": 2 * n, "additions": n, "deletions": n}),
        );
        m.insert("files".into(), Value::Array(files));
    }
    v
}

pub(crate) fn pull_head_sha(r: &Repo, p: &Pull) -> String {
    if let Some(s) = p.commits.last() {
        return s.clone();
    }
    if let Some(s) = r.branches.get(&p.head_ref) {
        return s.clone();
    }
    "0000000000000000000000000000000000000000".to_string()
}

pub(crate) fn pull_base_sha(r: &Repo, p: &Pull) -> String {
    if let Some(m) = p.merge_commit_sha.as_ref().and_then(|s| r.commits.get(s)) {
        if let Some(first) = m.parents.first() {
            return first.clone();
        }
    }
    r.branches
        .get(&p.base_ref)
        .or_else(|| r.branches.get(&r.default_branch))
        .cloned()
        .unwrap_or_else(|| "0000000000000000000000000000000000000000".to_string())
}

/// A pull request; `full` adds the "Get a pull request" extras (`merged`,
/// `mergeable`, `commits`, `additions`, `deletions`, `changed_files`, ...).
fn pull_json(ctx: &Ctx, r: &Repo, repo_v: &Value, p: &Pull, full: bool) -> Value {
    let api = repo_api(ctx, r);
    let web = repo_web(ctx, r);
    let n = p.number;
    let id = pull_db_id(r, n);
    let head_sha = pull_head_sha(r, p);
    let base_sha = pull_base_sha(r, p);
    let owner_v = owner_json(ctx, &r.owner);
    let labels: Vec<Value> = p.labels.iter().map(|l| label_json(ctx, r, l)).collect();
    let href = |s: String| json!({"href": s});
    let mut v = json!({
        "url": format!("{api}/pulls/{n}"),
        "id": id,
        "node_id": node_id("PullRequest", id),
        "html_url": format!("{web}/pull/{n}"),
        "diff_url": format!("{web}/pull/{n}.diff"),
        "patch_url": format!("{web}/pull/{n}.patch"),
        "issue_url": format!("{api}/issues/{n}"),
        "commits_url": format!("{api}/pulls/{n}/commits"),
        "review_comments_url": format!("{api}/pulls/{n}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{n}/comments"),
        "statuses_url": format!("{api}/statuses/{head_sha}"),
        "number": n,
        "state": p.state,
        "locked": false,
        "title": p.title,
        "user": user_json(ctx, &p.author),
        "body": "",
        "labels": labels,
        "milestone": null,
        "active_lock_reason": null,
        "created_at": ts(&p.created_at),
        "updated_at": ts(&p.updated_at),
        "closed_at": ts_opt(&p.closed_at),
        "merged_at": ts_opt(&p.merged_at),
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": {
            "label": format!("{}:{}", r.owner, p.head_ref),
            "ref": p.head_ref,
            "sha": head_sha,
            "user": owner_v.clone(),
            "repo": repo_v.clone()
        },
        "base": {
            "label": format!("{}:{}", r.owner, p.base_ref),
            "ref": p.base_ref,
            "sha": base_sha,
            "user": owner_v,
            "repo": repo_v.clone()
        },
        "_links": {
            "self": href(format!("{api}/pulls/{n}")),
            "html": href(format!("{web}/pull/{n}")),
            "issue": href(format!("{api}/issues/{n}")),
            "comments": href(format!("{api}/issues/{n}/comments")),
            "review_comments": href(format!("{api}/pulls/{n}/comments")),
            "review_comment": href(format!("{api}/pulls/comments{{/number}}")),
            "commits": href(format!("{api}/pulls/{n}/commits")),
            "statuses": href(format!("{api}/statuses/{head_sha}"))
        },
        "author_association": "MEMBER",
        "auto_merge": null,
        "draft": p.is_draft
    });
    if full {
        let merged = p.merged_at.is_some();
        let open = p.state == "open";
        let extra = json!({
            "merged": merged,
            "mergeable": if open { json!(true) } else { Value::Null },
            "rebaseable": if open { json!(true) } else { Value::Null },
            "mergeable_state": if open { "clean" } else { "unknown" },
            "merged_by": if merged { user_json(ctx, &p.author) } else { Value::Null },
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": p.commits.len(),
            "additions": p.additions,
            "deletions": p.deletions,
            "changed_files": (p.additions + p.deletions) / 40 + 1
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            for (k, val) in e {
                m.insert(k, val);
            }
        }
    }
    v
}

fn review_json(ctx: &Ctx, r: &Repo, p: &Pull, rv: &Review) -> Value {
    let api = repo_api(ctx, r);
    let web = repo_web(ctx, r);
    let n = p.number;
    let html = format!("{web}/pull/{n}#pullrequestreview-{}", rv.id);
    json!({
        "id": rv.id,
        "node_id": rv.node_id,
        "user": user_json(ctx, &rv.author),
        "body": "",
        "state": rv.state,
        "html_url": html,
        "pull_request_url": format!("{api}/pulls/{n}"),
        "author_association": "MEMBER",
        "_links": {
            "html": {"href": html},
            "pull_request": {"href": format!("{api}/pulls/{n}")}
        },
        "submitted_at": ts_opt(&rv.submitted_at),
        "commit_id": pull_head_sha(r, p)
    })
}

/// A deployment as in "List deployments".
pub(crate) fn deployment_json(ctx: &Ctx, r: &Repo, d: &Deployment) -> Value {
    let api = repo_api(ctx, r);
    json!({
        "url": format!("{api}/deployments/{}", d.id),
        "id": d.id,
        "node_id": node_id("Deployment", d.id),
        "sha": d.sha,
        "ref": d.git_ref,
        "task": d.task,
        "payload": {},
        "original_environment": d.environment,
        "environment": d.environment,
        "description": d.description,
        "creator": user_json(ctx, &d.creator),
        "created_at": ts(&d.created_at),
        "updated_at": ts(&d.updated_at),
        "statuses_url": format!("{api}/deployments/{}/statuses", d.id),
        "repository_url": api,
        "transient_environment": d.transient_environment,
        "production_environment": d.production_environment,
        "performed_via_github_app": null
    })
}

/// A deployment status as in "List deployment statuses".
fn status_json(ctx: &Ctx, r: &Repo, d: &Deployment, s: &DeploymentStatus) -> Value {
    let api = repo_api(ctx, r);
    let log = s.log_url.clone().unwrap_or_default();
    json!({
        "url": format!("{api}/deployments/{}/statuses/{}", d.id, s.id),
        "id": s.id,
        "node_id": node_id("DeploymentStatus", s.id),
        "state": s.state,
        "creator": user_json(ctx, &d.creator),
        "description": s.description.clone().unwrap_or_default(),
        "environment": d.environment,
        "target_url": log,
        "created_at": ts(&s.created_at),
        "updated_at": ts(&s.created_at),
        "deployment_url": format!("{api}/deployments/{}", d.id),
        "repository_url": api,
        "environment_url": s.environment_url.clone().unwrap_or_default(),
        "log_url": log,
        "performed_via_github_app": null
    })
}

/// An entry of the issues list (an issue, or a pull seen as an issue).
struct IssueView<'a> {
    number: u64,
    title: &'a str,
    user: &'a str,
    labels: &'a [String],
    state: &'a str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    pull: Option<&'a Pull>,
    is_pull: bool,
}

fn issue_views(r: &Repo) -> Vec<IssueView<'_>> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out: Vec<IssueView<'_>> = Vec::with_capacity(r.issues.len() + r.pulls.len());
    for i in &r.issues {
        seen.insert(i.number);
        let pull = if i.is_pull_request {
            r.pull(i.number)
        } else {
            None
        };
        out.push(IssueView {
            number: i.number,
            title: &i.title,
            user: &i.user,
            labels: &i.labels,
            state: &i.state,
            created_at: i.created_at,
            updated_at: i.updated_at,
            closed_at: i.closed_at,
            pull,
            is_pull: i.is_pull_request,
        });
    }
    for p in &r.pulls {
        if seen.contains(&p.number) {
            continue;
        }
        out.push(IssueView {
            number: p.number,
            title: &p.title,
            user: &p.author,
            labels: &p.labels,
            state: &p.state,
            created_at: p.created_at,
            updated_at: p.updated_at,
            closed_at: p.closed_at,
            pull: Some(p),
            is_pull: true,
        });
    }
    out
}

fn issue_json(ctx: &Ctx, r: &Repo, i: &IssueView<'_>) -> Value {
    let api = repo_api(ctx, r);
    let web = repo_web(ctx, r);
    let n = i.number;
    let id = issue_db_id(r, n);
    let labels: Vec<Value> = i.labels.iter().map(|l| label_json(ctx, r, l)).collect();
    let html = if i.is_pull {
        format!("{web}/pull/{n}")
    } else {
        format!("{web}/issues/{n}")
    };
    let closed = i.state == "closed";
    let mut v = json!({
        "id": id,
        "node_id": node_id("Issue", id),
        "url": format!("{api}/issues/{n}"),
        "repository_url": api,
        "labels_url": format!("{api}/issues/{n}/labels{{/name}}"),
        "comments_url": format!("{api}/issues/{n}/comments"),
        "events_url": format!("{api}/issues/{n}/events"),
        "html_url": html,
        "number": n,
        "state": i.state,
        "state_reason": if closed { json!("completed") } else { Value::Null },
        "title": i.title,
        "body": "",
        "user": user_json(ctx, i.user),
        "labels": labels,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": 0,
        "closed_at": ts_opt(&i.closed_at),
        "created_at": ts(&i.created_at),
        "updated_at": ts(&i.updated_at),
        "closed_by": if closed { user_json(ctx, i.user) } else { Value::Null },
        "author_association": "MEMBER",
        "reactions": {
            "url": format!("{api}/issues/{n}/reactions"),
            "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
            "confused": 0, "heart": 0, "rocket": 0, "eyes": 0
        },
        "timeline_url": format!("{api}/issues/{n}/timeline"),
        "performed_via_github_app": null
    });
    if i.is_pull {
        if let Value::Object(m) = &mut v {
            m.insert(
                "pull_request".into(),
                json!({
                    "url": format!("{api}/pulls/{n}"),
                    "html_url": format!("{web}/pull/{n}"),
                    "diff_url": format!("{web}/pull/{n}.diff"),
                    "patch_url": format!("{web}/pull/{n}.patch"),
                    "merged_at": ts_opt(&i.pull.and_then(|p| p.merged_at))
                }),
            );
            m.insert(
                "draft".into(),
                json!(i.pull.map(|p| p.is_draft).unwrap_or(false)),
            );
        }
    }
    v
}

// ---------------------------------------------------------------------------
// Paging and the commit graph
// ---------------------------------------------------------------------------

/// Serves `items` page by page with a `link` header.
pub(crate) fn paged<T>(ctx: &Ctx, items: &[T], f: impl Fn(&T) -> Value) -> MockResponse {
    let paging = Paging::from_query(&ctx.query, 30, 100);
    paged_with(ctx, items, &paging, f)
}

fn paged_with<T>(ctx: &Ctx, items: &[T], paging: &Paging, f: impl Fn(&T) -> Value) -> MockResponse {
    let range = paging.range(items.len());
    let body = Value::Array(items[range].iter().map(f).collect());
    let mut resp = MockResponse::json(200, body);
    if let Some(l) = link_header(&ctx.uri, &ctx.path, &ctx.query, paging, items.len()) {
        resp = resp.with_header("link", &l);
    }
    resp
}

/// Resolves a branch name, `refs/heads/...`, `HEAD`, a full sha or a unique
/// sha prefix (at least 4 hex digits).
pub(crate) fn resolve_ref(r: &Repo, name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if name == "HEAD" {
        return r.head().map(|s| s.to_string());
    }
    let short = name.strip_prefix("refs/heads/").unwrap_or(name);
    if let Some(s) = r.branches.get(short) {
        return Some(s.clone());
    }
    if r.commits.contains_key(name) {
        return Some(name.to_string());
    }
    let lower = name.to_ascii_lowercase();
    if lower.len() >= 4 && lower.len() < 40 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut found: Option<&String> = None;
        for k in r.commits.keys() {
            if k.starts_with(&lower) {
                if found.is_some() {
                    return None;
                }
                found = Some(k);
            }
        }
        return found.cloned();
    }
    None
}

/// Shas reachable from `start` (walking parents), newest committer date
/// first, ties by sha.
pub(crate) fn reachable(cache: &ReachCache, r: &Repo, start: &str) -> Arc<Vec<String>> {
    // The commit count keys out changes made without `with_org`.
    let key = format!("{}@{}#{}", r.full_name(), start, r.commits.len());
    if let Some(v) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return v.clone();
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = vec![start];
    let mut found: Vec<&Commit> = Vec::new();
    while let Some(s) = stack.pop() {
        if !seen.insert(s) {
            continue;
        }
        if let Some(c) = r.commits.get(s) {
            found.push(c);
            for p in &c.parents {
                if !seen.contains(p.as_str()) {
                    stack.push(p.as_str());
                }
            }
        }
    }
    found.sort_by(|a, b| {
        b.committed_at
            .cmp(&a.committed_at)
            .then_with(|| a.sha.cmp(&b.sha))
    });
    let v: Arc<Vec<String>> = Arc::new(found.iter().map(|c| c.sha.clone()).collect());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, v.clone());
    v
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

fn repos_of<'a>(org: &'a Org, owner: &str) -> Vec<&'a Repo> {
    org.repos
        .iter()
        .filter(|r| r.owner.eq_ignore_ascii_case(owner))
        .collect()
}

/// `GET /installation/repositories`: every repository of the account the
/// App is installed on, private ones too, as `{total_count,
/// repository_selection, repositories}`, paged like a list.
pub(crate) fn installation_repos(ctx: &Ctx, org: &Org) -> MockResponse {
    let repos: Vec<&Repo> = org.repos.iter().collect();
    let mut resp = paged(ctx, &repos, |r| repo_json(ctx, r, &RepoMeta::of(r)));
    let page = std::mem::take(&mut resp.body);
    resp.body = json!({
        "total_count": repos.len(),
        "repository_selection": "all",
        "repositories": page,
    });
    resp
}

/// `GET /orgs/{org}/repos` and `GET /users/{username}/repos`.
/// The user endpoint "lists public repositories for the specified user";
/// a user account is no organisation.
pub(crate) fn list_repos(ctx: &Ctx, org: &Org, owner: &str, is_org_endpoint: bool) -> MockResponse {
    let mut repos = repos_of(org, owner);
    let unknown = repos.is_empty() && !owner.eq_ignore_ascii_case(&org.name);
    if unknown || (is_org_endpoint && org.user_account) {
        return not_found(
            "https://docs.github.com/rest/repos/repos#list-organization-repositories",
        );
    }
    if !is_org_endpoint {
        repos.retain(|r| !r.private);
    }
    let kind = ctx
        .query
        .get("type")
        .unwrap_or(if is_org_endpoint { "all" } else { "owner" });
    if kind == "private" || kind == "internal" || kind == "forks" {
        repos.clear();
    }
    let metas: HashMap<String, RepoMeta> = repos
        .iter()
        .map(|r| (r.full_name(), RepoMeta::of(r)))
        .collect();
    let sort = ctx.query.get("sort").unwrap_or(if is_org_endpoint {
        "created"
    } else {
        "full_name"
    });
    let desc = match ctx.query.get("direction") {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort != "full_name",
    };
    let meta_of = |r: &Repo| {
        metas
            .get(&r.full_name())
            .map(|m| (m.created_at, m.pushed_at))
    };
    match sort {
        "full_name" => repos.sort_by_key(|r| r.full_name().to_ascii_lowercase()),
        "updated" | "pushed" => repos.sort_by_key(|r| (meta_of(r).map(|m| m.1), r.full_name())),
        _ => repos.sort_by_key(|r| (meta_of(r).map(|m| m.0), r.full_name())),
    }
    if desc {
        repos.reverse();
    }
    paged(ctx, &repos, |r| match metas.get(&r.full_name()) {
        Some(m) => repo_json(ctx, r, m),
        None => repo_json(ctx, r, &RepoMeta::of(r)),
    })
}

/// `GET /repos/{o}/{r}/contents/{path}` of a file on the default branch:
/// its content in base64, broken into lines of 60 characters as GitHub
/// does; a 404 for a path the repository does not hold.
fn contents(ctx: &Ctx, r: &Repo, path: &str) -> MockResponse {
    let Some(text) = r.contents.get(path) else {
        return not_found(DOC_CONTENTS);
    };
    let encoded = b64_encode(text.as_bytes());
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).expect("base64 is ascii"))
        .collect();
    let sha = format!("{:040x}", fnv64(&[path.as_bytes(), text.as_bytes()]));
    let repo_api = format!("{}/repos/{}", ctx.api, r.full_name());
    let api = format!("{repo_api}/contents/{path}");
    let web = repo_web(ctx, r);
    let branch = &r.default_branch;
    let name = path.rsplit('/').next().unwrap_or(path);
    MockResponse::json(
        200,
        json!({
            "type": "file",
            "encoding": "base64",
            "size": text.len(),
            "name": name,
            "path": path,
            "content": lines.join("\n") + "\n",
            "sha": sha,
            "url": format!("{api}?ref={branch}"),
            "git_url": format!("{repo_api}/git/blobs/{sha}"),
            "html_url": format!("{web}/blob/{branch}/{path}"),
            "download_url": format!("https://raw.githubusercontent.com/{}/{branch}/{path}", r.full_name()),
            "_links": {
                "self": format!("{api}?ref={branch}"),
                "git": format!("{repo_api}/git/blobs/{sha}"),
                "html": format!("{web}/blob/{branch}/{path}")
            }
        }),
    )
}

/// Dispatches `/repos/{owner}/{repo}/...` (segments after the repo name).
pub(crate) fn repo_endpoint(
    ctx: &Ctx,
    r: &Repo,
    rest: &[String],
    cache: &ReachCache,
) -> MockResponse {
    let seg = |i: usize| rest.get(i).map(|s| s.as_str());
    match (seg(0), rest.len()) {
        (None, _) => MockResponse::json(200, repo_json(ctx, r, &RepoMeta::of(r))),
        (Some("commits"), 1) => list_commits(ctx, r, cache),
        (Some("commits"), _) => get_commit(ctx, r, &rest[1..].join("/")),
        (Some("compare"), n) if n >= 2 => compare(ctx, r, &rest[1..].join("/"), cache),
        (Some("pulls"), 1) => list_pulls(ctx, r),
        (Some("pulls"), _) => {
            let number = match rest[1].parse::<u64>() {
                Ok(n) => n,
                Err(_) => return not_found(DOC_PULLS),
            };
            let p = match r.pull(number) {
                Some(p) => p,
                None => return not_found(DOC_PULLS),
            };
            match (seg(2), rest.len()) {
                (None, _) => {
                    let repo_v = repo_json(ctx, r, &RepoMeta::of(r));
                    MockResponse::json(200, pull_json(ctx, r, &repo_v, p, true))
                }
                (Some("commits"), 3) => {
                    // "Lists a maximum of 250 commits for a pull request."
                    let commits: Vec<&Commit> = p
                        .commits
                        .iter()
                        .take(250)
                        .filter_map(|s| r.commits.get(s))
                        .collect();
                    paged(ctx, &commits, |c| commit_json(ctx, r, c))
                }
                (Some("reviews"), 3) => {
                    let mut reviews: Vec<&Review> = p.reviews.iter().collect();
                    reviews.sort_by_key(|rv| (rv.submitted_at.is_none(), rv.submitted_at, rv.id));
                    paged(ctx, &reviews, |rv| review_json(ctx, r, p, rv))
                }
                (Some("reviews"), 4) => match rest[3]
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| p.reviews.iter().find(|rv| rv.id == id))
                {
                    Some(rv) => MockResponse::json(200, review_json(ctx, r, p, rv)),
                    None => not_found(DOC_REVIEWS),
                },
                _ => not_found(DOC_REST),
            }
        }
        (Some("contents"), n) if n >= 2 => contents(ctx, r, &rest[1..].join("/")),
        (Some("deployments"), 1) => list_deployments(ctx, r),
        (Some("deployments"), _) => {
            let d = match rest[1]
                .parse::<u64>()
                .ok()
                .and_then(|id| r.deployments.iter().find(|d| d.id == id))
            {
                Some(d) => d,
                None => return not_found(DOC_DEPLOYMENTS),
            };
            match (seg(2), rest.len()) {
                (None, _) => MockResponse::json(200, deployment_json(ctx, r, d)),
                (Some("statuses"), 3) => {
                    let mut st: Vec<&DeploymentStatus> = d.statuses.iter().collect();
                    st.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
                    paged(ctx, &st, |s| status_json(ctx, r, d, s))
                }
                (Some("statuses"), 4) => {
                    match rest[3]
                        .parse::<u64>()
                        .ok()
                        .and_then(|id| d.statuses.iter().find(|s| s.id == id))
                    {
                        Some(s) => MockResponse::json(200, status_json(ctx, r, d, s)),
                        None => not_found(DOC_STATUSES),
                    }
                }
                _ => not_found(DOC_REST),
            }
        }
        (Some("issues"), 1) => list_issues(ctx, r),
        (Some("issues"), 2) => {
            let n = match rest[1].parse::<u64>() {
                Ok(n) => n,
                Err(_) => return not_found(DOC_ISSUES),
            };
            let views = issue_views(r);
            match views.iter().find(|v| v.number == n) {
                Some(v) => MockResponse::json(200, issue_json(ctx, r, v)),
                None => not_found(DOC_ISSUES),
            }
        }
        _ => not_found(DOC_REPOS),
    }
}

/// `GET /repos/{owner}/{repo}/commits`: `sha` (branch or sha; default the
/// default branch), `author`, `committer`, `since`/`until` on the committer
/// date (git's `--since`/`--until`), newest first.
fn list_commits(ctx: &Ctx, r: &Repo, cache: &ReachCache) -> MockResponse {
    // "409 Conflict" (the endpoint's documented responses): a repository
    // without commits has no branch to resolve a `sha` against either.
    if r.commits.is_empty() {
        return error(409, "Git Repository is empty.", DOC_LIST_COMMITS);
    }
    let start = match ctx.query.get("sha").filter(|s| !s.trim().is_empty()) {
        Some(name) => match resolve_ref(r, name) {
            Some(s) => s,
            None => return not_found(DOC_LIST_COMMITS),
        },
        None => match r.head() {
            Some(h) => h.to_string(),
            None => return error(409, "Git Repository is empty.", DOC_LIST_COMMITS),
        },
    };
    let all = reachable(cache, r, &start);
    let since = ctx.query.get_time("since");
    let until = ctx.query.get_time("until");
    let author = ctx.query.get("author").map(|s| s.to_ascii_lowercase());
    let committer = ctx.query.get("committer").map(|s| s.to_ascii_lowercase());
    let who = |c: &Commit, w: &str| {
        c.author_email.eq_ignore_ascii_case(w)
            || c.author_login
                .as_deref()
                .map(|l| l.eq_ignore_ascii_case(w))
                .unwrap_or(false)
    };
    let commits: Vec<&Commit> = all
        .iter()
        .filter_map(|s| r.commits.get(s))
        .filter(|c| since.is_none_or(|t| c.committed_at >= t))
        .filter(|c| until.is_none_or(|t| c.committed_at <= t))
        .filter(|c| author.as_deref().is_none_or(|w| who(c, w)))
        .filter(|c| committer.as_deref().is_none_or(|w| who(c, w)))
        .collect();
    paged(ctx, &commits, |c| commit_json(ctx, r, c))
}

/// `GET /repos/{owner}/{repo}/commits/{ref}`; an unknown ref answers 422
/// `No commit found for SHA: {ref}` as github.com does.
fn get_commit(ctx: &Ctx, r: &Repo, name: &str) -> MockResponse {
    match resolve_ref(r, name).and_then(|s| r.commits.get(&s)) {
        Some(c) => {
            let paging =
                Paging::from_query(&ctx.query, COMMIT_FILES_PER_PAGE, COMMIT_FILES_PER_PAGE);
            let listed = c.files.len().min(COMMIT_FILES_MAX);
            let resp = MockResponse::json(200, commit_detail_json(ctx, r, c, &paging));
            match link_header(&ctx.uri, &ctx.path, &ctx.query, &paging, listed) {
                Some(l) => resp.with_header("link", &l),
                None => resp,
            }
        }
        None => error(
            422,
            &format!("No commit found for SHA: {name}"),
            DOC_GET_COMMIT,
        ),
    }
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}`: commits reachable
/// from head and not from base, oldest first; without `per_page`/`page` the
/// list is the *last* 250 commits, with them it is paged (files on every
/// page are the empty list: the model has no files).
fn compare(ctx: &Ctx, r: &Repo, basehead: &str, cache: &ReachCache) -> MockResponse {
    let (b, h) = match basehead
        .split_once("...")
        .or_else(|| basehead.split_once(".."))
    {
        Some(x) => x,
        None => return not_found(DOC_COMPARE),
    };
    let strip = |s: &str| -> String {
        match s.split_once(':') {
            Some((_, rest)) => rest.to_string(),
            None => s.to_string(),
        }
    };
    let (b, h) = (strip(b), strip(h));
    let (bs, hs) = match (resolve_ref(r, &b), resolve_ref(r, &h)) {
        (Some(x), Some(y)) => (x, y),
        _ => return not_found(DOC_COMPARE),
    };
    let base_list = reachable(cache, r, &bs);
    let head_list = reachable(cache, r, &hs);
    let base_set: HashSet<&str> = base_list.iter().map(|s| s.as_str()).collect();
    let head_set: HashSet<&str> = head_list.iter().map(|s| s.as_str()).collect();
    let ahead: Vec<&str> = head_list
        .iter()
        .map(|s| s.as_str())
        .filter(|s| !base_set.contains(s))
        .collect();
    let behind_by = base_list
        .iter()
        .filter(|s| !head_set.contains(s.as_str()))
        .count();
    let ahead_by = ahead.len();
    let merge_base = head_list
        .iter()
        .find(|s| base_set.contains(s.as_str()))
        .cloned();
    let status = match (ahead_by, behind_by) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let chronological: Vec<&Commit> = ahead
        .iter()
        .rev()
        .filter_map(|s| r.commits.get(*s))
        .collect();
    let api = repo_api(ctx, r);
    let web = repo_web(ctx, r);
    let base_c = r.commits.get(&bs);
    let mb_c = merge_base
        .as_ref()
        .and_then(|s| r.commits.get(s))
        .or(base_c);
    let paginated = ctx.query.has("per_page") || ctx.query.has("page");
    let paging = Paging::from_query(&ctx.query, 30, 100);
    let page_commits: Vec<Value> = if paginated {
        chronological[paging.range(chronological.len())]
            .iter()
            .map(|c| commit_json(ctx, r, c))
            .collect()
    } else {
        let start = chronological.len().saturating_sub(250);
        chronological[start..]
            .iter()
            .map(|c| commit_json(ctx, r, c))
            .collect()
    };
    let body = json!({
        "url": format!("{api}/compare/{basehead}"),
        "html_url": format!("{web}/compare/{basehead}"),
        "permalink_url": format!("{web}/compare/{}:{}...{}:{}", r.owner, bs, r.owner, hs),
        "diff_url": format!("{web}/compare/{basehead}.diff"),
        "patch_url": format!("{web}/compare/{basehead}.patch"),
        "base_commit": base_c.map(|c| commit_json(ctx, r, c)).unwrap_or(Value::Null),
        "merge_base_commit": mb_c.map(|c| commit_json(ctx, r, c)).unwrap_or(Value::Null),
        "status": status,
        "ahead_by": ahead_by,
        "behind_by": behind_by,
        "total_commits": ahead_by,
        "commits": page_commits,
        "files": []
    });
    let mut resp = MockResponse::json(200, body);
    if paginated {
        if let Some(l) = link_header(
            &ctx.uri,
            &ctx.path,
            &ctx.query,
            &paging,
            chronological.len(),
        ) {
            resp = resp.with_header("link", &l);
        }
    }
    resp
}

/// `GET /repos/{owner}/{repo}/pulls`: `state` (default open), `head`
/// (`user:ref`), `base`, `sort` (created|updated|popularity|long-running),
/// `direction` (default desc for created, else asc).
fn list_pulls(ctx: &Ctx, r: &Repo) -> MockResponse {
    let q = &ctx.query;
    let state = q.get("state").unwrap_or("open");
    let head = q
        .get("head")
        .map(|h| h.split_once(':').map(|(_, b)| b).unwrap_or(h).to_string());
    let base = q.get("base");
    let mut pulls: Vec<&Pull> = r
        .pulls
        .iter()
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| head.as_deref().is_none_or(|h| p.head_ref == h))
        .filter(|p| base.is_none_or(|b| p.base_ref == b))
        .collect();
    let sort = q.get("sort").unwrap_or("created");
    let desc = match q.get("direction") {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort == "created",
    };
    match sort {
        "updated" => pulls.sort_by_key(|p| (p.updated_at, p.number)),
        "popularity" => pulls.sort_by_key(|p| (p.reviews.len(), p.number)),
        _ => pulls.sort_by_key(|p| (p.created_at, p.number)),
    }
    if desc {
        pulls.reverse();
    }
    let repo_v = repo_json(ctx, r, &RepoMeta::of(r));
    paged(ctx, &pulls, |p| pull_json(ctx, r, &repo_v, p, false))
}

/// `GET /repos/{owner}/{repo}/deployments`: filters `sha`, `ref`, `task`,
/// `environment`; newest first.
fn list_deployments(ctx: &Ctx, r: &Repo) -> MockResponse {
    let q = &ctx.query;
    let mut ds: Vec<&Deployment> = r
        .deployments
        .iter()
        .filter(|d| q.get("sha").is_none_or(|s| d.sha == s))
        .filter(|d| q.get("ref").is_none_or(|s| d.git_ref == s))
        .filter(|d| q.get("task").is_none_or(|s| d.task == s))
        .filter(|d| q.get("environment").is_none_or(|s| d.environment == s))
        .collect();
    ds.sort_by_key(|d| std::cmp::Reverse((d.created_at, d.id)));
    paged(ctx, &ds, |d| deployment_json(ctx, r, d))
}

/// `GET /repos/{owner}/{repo}/issues`: `state` (open|closed|all, default
/// open), `labels` (comma list, all must match), `since` (updated at or
/// after), `creator`, `sort` (created|updated|comments), `direction`
/// (default desc). Pull requests are included, with a `pull_request` key.
fn list_issues(ctx: &Ctx, r: &Repo) -> MockResponse {
    let q = &ctx.query;
    let state = q.get("state").unwrap_or("open");
    let labels: Vec<String> = q
        .get("labels")
        .map(|l| {
            l.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let since = q.get_time("since");
    let creator = q.get("creator");
    let mut views: Vec<IssueView<'_>> = issue_views(r)
        .into_iter()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| {
            labels
                .iter()
                .all(|l| i.labels.iter().any(|x| x.eq_ignore_ascii_case(l)))
        })
        .filter(|i| since.is_none_or(|t| i.updated_at >= t))
        .filter(|i| creator.is_none_or(|c| i.user.eq_ignore_ascii_case(c)))
        .collect();
    let sort = q.get("sort").unwrap_or("created");
    match sort {
        "updated" => views.sort_by_key(|i| (i.updated_at, i.number)),
        _ => views.sort_by_key(|i| (i.created_at, i.number)),
    }
    let desc = !matches!(q.get("direction"), Some("asc"));
    if desc {
        views.reverse();
    }
    paged(ctx, &views, |i| issue_json(ctx, r, i))
}

/// A GitHub App installation object (`GET /app/installations`, ...).
pub(crate) fn installation_json(
    ctx: &Ctx,
    installation_id: u64,
    app_id: u64,
    app_slug: &str,
) -> Value {
    let created = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    json!({
        "id": installation_id,
        "account": owner_json(ctx, &ctx.org_name),
        "repository_selection": "all",
        "access_tokens_url": format!("{}/app/installations/{installation_id}/access_tokens", ctx.api),
        "repositories_url": format!("{}/installation/repositories", ctx.api),
        "html_url": format!("{}/organizations/{}/settings/installations/{installation_id}", ctx.web, ctx.org_name),
        "app_id": app_id,
        "client_id": format!("Iv1.{:016x}", fnv64(&[b"client", app_id.to_string().as_bytes()])),
        "target_id": org_id(&ctx.org_name),
        "target_type": "Organization",
        "permissions": default_permissions(),
        "events": ["deployment", "deployment_status", "pull_request", "push"],
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "app_slug": app_slug,
        "suspended_by": null,
        "suspended_at": null,
        "created_at": ts(&created),
        "updated_at": ts(&created),
        "contact_email": null
    })
}

pub(crate) fn default_permissions() -> Value {
    json!({
        "contents": "read",
        "deployments": "read",
        "issues": "read",
        "metadata": "read",
        "pull_requests": "read"
    })
}
