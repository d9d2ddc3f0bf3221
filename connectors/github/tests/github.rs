//! The GitHub connector against a wiremock server serving payloads shaped
//! like GitHub's REST and GraphQL responses. No network.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use flowmeter_connector::conformance::{self, run_to_completion};
use flowmeter_connector::{Connector, ConnectorError, SyncContext};
use flowmeter_github::{GitHubConfig, GitHubConnector};
use flowmeter_model::{Deployment, DeploymentStatus, Event, ReviewState};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "ghp_s3cr3tTokenValue0123456789";
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SHA_C: &str = "cccccccccccccccccccccccccccccccccccccccc";
const SHA_D: &str = "dddddddddddddddddddddddddddddddddddddddd";

fn ctx() -> SyncContext {
    SyncContext::since(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

/// A config pointed at `base`, the token in an env var unique to the test.
fn config(base: &str, env: &str, repos: &[&str]) -> GitHubConfig {
    std::env::set_var(env, SECRET);
    GitHubConfig {
        api_url: base.to_string(),
        token_env: env.to_string(),
        repos: repos.iter().map(|r| r.to_string()).collect(),
        retry_base_ms: 1,
        max_retries: 3,
        ..GitHubConfig::default()
    }
}

fn events(batches: &[flowmeter_connector::SyncBatch]) -> Vec<Event> {
    batches.iter().flat_map(|b| b.events.clone()).collect()
}

fn notes(batches: &[flowmeter_connector::SyncBatch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.notes.clone()).collect()
}

// ---------------------------------------------------------------- payloads

fn user(login: &str) -> Value {
    json!({"login": login, "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false})
}

fn deployment(base: &str, repo: &str, id: u64, sha: &str, env: &str, created: &str) -> Value {
    json!({
        "url": format!("{base}/repos/{repo}/deployments/{id}"),
        "id": id,
        "node_id": "MDEwOkRlcGxveW1lbnQx",
        "sha": sha,
        "ref": "main",
        "task": "deploy",
        "payload": {},
        "original_environment": env,
        "environment": env,
        "description": "Deploy request from hubot",
        "creator": user("octocat"),
        "created_at": created,
        "updated_at": created,
        "statuses_url": format!("{base}/repos/{repo}/deployments/{id}/statuses"),
        "repository_url": format!("{base}/repos/{repo}"),
        "transient_environment": false,
        "production_environment": env == "production"
    })
}

fn status(id: u64, state: &str, created: &str) -> Value {
    json!({
        "url": "https://api.github.com/repos/octocat/example/deployments/42/statuses/1",
        "id": id,
        "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
        "state": state,
        "creator": user("octocat"),
        "description": "Deployment finished successfully.",
        "environment": "production",
        "target_url": "https://example.com/deployment/42/output",
        "log_url": "https://example.com/deployment/42/output",
        "created_at": created,
        "updated_at": created,
        "deployment_url": "https://api.github.com/repos/octocat/example/deployments/42",
        "repository_url": "https://api.github.com/repos/octocat/example",
        "environment_url": ""
    })
}

fn commit(
    sha: &str,
    parents: &[&str],
    authored: &str,
    committed: &str,
    login: Option<&str>,
    msg: &str,
) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/acme/web/commits/{sha}"),
        "sha": sha,
        "node_id": "MDY6Q29tbWl0",
        "html_url": format!("https://github.com/acme/web/commit/{sha}"),
        "commit": {
            "url": format!("https://api.github.com/repos/acme/web/git/commits/{sha}"),
            "author": {"name": "Mona Octocat", "email": "mona@github.com", "date": authored},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": committed},
            "message": msg,
            "tree": {"url": "https://api.github.com/repos/acme/web/tree/x", "sha": "e"},
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null}
        },
        "author": login.map(user),
        "committer": user("web-flow"),
        "parents": parents.iter().map(|p| json!({"url": "https://api.github.com/repos/acme/web/commits/x", "sha": p})).collect::<Vec<_>>()
    })
}

fn issue(
    number: i64,
    labels: &[&str],
    created: &str,
    updated: &str,
    closed: Option<&str>,
    is_pr: bool,
) -> Value {
    let mut v = json!({
        "id": 1000 + number,
        "node_id": "MDU6SXNzdWUx",
        "url": format!("https://api.github.com/repos/acme/web/issues/{number}"),
        "html_url": format!("https://github.com/acme/web/issues/{number}"),
        "number": number,
        "state": if closed.is_some() { "closed" } else { "open" },
        "title": format!("Outage {number}"),
        "body": "Checkout is down",
        "user": user("oncall"),
        "labels": labels.iter().map(|l| json!({"id": 1, "node_id": "x", "name": l, "color": "f29513", "default": false, "description": null})).collect::<Vec<_>>(),
        "assignee": null,
        "locked": false,
        "comments": 0,
        "closed_at": closed,
        "created_at": created,
        "updated_at": updated,
        "author_association": "MEMBER"
    });
    if is_pr {
        v["pull_request"] = json!({"url": "https://api.github.com/repos/acme/web/pulls/1", "html_url": "https://github.com/acme/web/pull/1", "diff_url": "x", "patch_url": "y"});
    }
    v
}

/// A GraphQL `PullRequest` node as the connector's query selects it.
#[allow(clippy::too_many_arguments)]
fn pr_node(
    number: i64,
    updated: &str,
    created: &str,
    merged: Option<&str>,
    draft: bool,
    ready: Option<&str>,
    merge_commit: Option<&str>,
    reviews: Value,
    commits: &[(&str, &str)],
) -> Value {
    json!({
        "number": number,
        "title": format!("PR {number}"),
        "url": format!("https://github.com/acme/web/pull/{number}"),
        "updatedAt": updated,
        "createdAt": created,
        "mergedAt": merged,
        "closedAt": merged,
        "isDraft": draft,
        "author": {"login": "mona"},
        "baseRefName": "main",
        "headRefName": format!("feature-{number}"),
        "additions": 10,
        "deletions": 2,
        "mergeCommit": merge_commit.map(|oid| json!({"oid": oid})),
        "labels": {"nodes": [{"name": "enhancement"}]},
        "timelineItems": {"nodes": ready.map(|r| vec![json!({"createdAt": r})]).unwrap_or_default()},
        "reviews": {"totalCount": reviews.as_array().map(|a| a.len()).unwrap_or(0), "nodes": reviews},
        "commits": {"totalCount": commits.len(), "nodes": commits.iter().map(|(oid, at)| json!({"commit": {"oid": oid, "authoredDate": at}})).collect::<Vec<_>>()}
    })
}

fn pr_page(nodes: Vec<Value>, next: Option<&str>) -> Value {
    json!({"data": {
        "rateLimit": {"cost": 1, "remaining": 4999, "resetAt": "2026-03-01T00:00:00Z"},
        "repository": {"pullRequests": {
            "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next},
            "nodes": nodes
        }}
    }})
}

/// Answers GraphQL POSTs by calling `f(query, variables)`; counts calls.
/// A query for `deployments` gets the error an older GitHub Enterprise
/// Server without `Repository.deployments` sends, so these tests exercise
/// the REST fallback (and are not counted).
struct Gql<F> {
    f: F,
    calls: Arc<AtomicUsize>,
}

impl<F> Respond for Gql<F>
where
    F: Fn(&str, &Value) -> ResponseTemplate + Send + Sync + 'static,
{
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let query = body["query"].as_str().unwrap_or("");
        if query.contains("deployments(") {
            return ok(json!({"errors": [{
                "path": ["query", "repository", "deployments"],
                "extensions": {"code": "undefinedField", "typeName": "Repository", "fieldName": "deployments"},
                "locations": [{"line": 4, "column": 5}],
                "message": "Field 'deployments' doesn't exist on type 'Repository'"
            }]}));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        (self.f)(query, &body["variables"])
    }
}

async fn mount_gql<F>(server: &MockServer, at: &str, f: F) -> Arc<AtomicUsize>
where
    F: Fn(&str, &Value) -> ResponseTemplate + Send + Sync + 'static,
{
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(Gql {
            f,
            calls: calls.clone(),
        })
        .mount(server)
        .await;
    calls
}

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

fn empty_prs() -> impl Fn(&str, &Value) -> ResponseTemplate + Send + Sync + 'static {
    |_q: &str, _v: &Value| ok(pr_page(vec![], None))
}

/// Empty REST lists for every stream of `repo` under `prefix` (mounted last,
/// so more specific mocks win when mounted first).
async fn mount_empty_streams(server: &MockServer, prefix: &str, repo: &str) {
    Mock::given(method("GET"))
        .and(path(format!("{prefix}/repos/{repo}")))
        .respond_with(ok(
            json!({"id": 1, "full_name": repo, "default_branch": "main"}),
        ))
        .mount(server)
        .await;
    for p in ["deployments", "commits", "issues", "releases"] {
        Mock::given(method("GET"))
            .and(path(format!("{prefix}/repos/{repo}/{p}")))
            .respond_with(ok(json!([])))
            .mount(server)
            .await;
    }
}

/// The acme/web fixture: two pages of deployments (Link header), two pages
/// of commits, two GraphQL pages of PRs, incident issues.
async fn mount_web(server: &MockServer) -> Arc<AtomicUsize> {
    let base = server.uri();
    let repo = "acme/web";
    // Deployments, newest first, two pages.
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments"))
        .and(query_param("page", "2"))
        .respond_with(ok(json!([
            deployment(&base, repo, 1, SHA_A, "staging", "2026-02-01T10:00:00Z"),
            deployment(&base, repo, 0, SHA_A, "production", "2025-12-01T10:00:00Z"),
        ])))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments"))
        .respond_with(
            ok(json!([
                deployment(&base, repo, 4, SHA_D, "prod-eu", "2026-02-04T10:00:00Z"),
                deployment(&base, repo, 3, SHA_C, "customer-facing", "2026-02-03T10:00:00Z"),
                deployment(&base, repo, 2, SHA_B, "production", "2026-02-02T10:00:00Z"),
            ]))
            .insert_header(
                "link",
                format!("<{base}/repositories/1/deployments?per_page=100&page=2>; rel=\"next\", <{base}/repositories/1/deployments?per_page=100&page=2>; rel=\"last\"").as_str(),
            ),
        )
        .mount(server)
        .await;
    // The page-2 link points at /repositories/1/... as GitHub's do.
    Mock::given(method("GET"))
        .and(path("/repositories/1/deployments"))
        .respond_with(ok(json!([
            deployment(&base, repo, 1, SHA_A, "staging", "2026-02-01T10:00:00Z"),
            deployment(&base, repo, 0, SHA_A, "production", "2025-12-01T10:00:00Z"),
        ])))
        .mount(server)
        .await;
    let statuses: [(u64, Value); 4] = [
        (
            4,
            json!([status(41, "in_progress", "2026-02-04T10:01:00Z")]),
        ),
        (
            3,
            json!([
                status(32, "success", "2026-02-03T10:09:00Z"),
                status(31, "in_progress", "2026-02-03T10:01:00Z"),
            ]),
        ),
        (
            2,
            json!([
                status(23, "inactive", "2026-02-03T10:09:00Z"),
                status(22, "success", "2026-02-02T10:05:00Z"),
                status(21, "in_progress", "2026-02-02T10:01:00Z"),
            ]),
        ),
        (
            1,
            json!([
                status(12, "error", "2026-02-01T10:04:00Z"),
                status(11, "failure", "2026-02-01T10:03:00Z"),
            ]),
        ),
    ];
    for (id, body) in statuses {
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/web/deployments/{id}/statuses")))
            .respond_with(ok(body))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/repos/acme/web"))
        .respond_with(ok(
            json!({"id": 1, "name": "web", "full_name": repo, "default_branch": "trunk"}),
        ))
        .mount(server)
        .await;
    // Commits of `trunk`, two pages.
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/commits"))
        .and(query_param("page", "2"))
        .respond_with(ok(json!([commit(
            SHA_A,
            &[],
            "2026-01-10T09:00:00Z",
            "2026-01-10T09:00:00Z",
            None,
            "Initial commit"
        )])))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/commits"))
        .and(query_param("sha", "trunk"))
        .respond_with(
            ok(json!([
                commit(
                    SHA_C,
                    &[SHA_B],
                    "2026-01-20T09:00:00Z",
                    "2026-01-21T10:00:00Z",
                    Some("mona"),
                    "Squashed feature (#12)\n\n* wip\n* more"
                ),
                commit(
                    SHA_B,
                    &[SHA_A],
                    "2026-01-15T09:00:00Z",
                    "2026-01-15T09:30:00Z",
                    Some("hubot"),
                    "Second"
                ),
            ]))
            .insert_header(
                "link",
                format!(
                    "<{base}/repos/acme/web/commits?sha=trunk&per_page=100&page=2>; rel=\"next\""
                )
                .as_str(),
            ),
        )
        .mount(server)
        .await;
    // Incidents: issue 7 with a service label and a root cause in its
    // text (as Four Keys reads it), 8 still open, 9 a PR.
    let mut seven = issue(
        7,
        &["incident", "service:checkout", "severity:high"],
        "2026-02-02T11:00:00Z",
        "2026-02-02T13:00:00Z",
        Some("2026-02-02T12:30:00Z"),
        false,
    );
    seven["body"] = json!(
        "Checkout returned 500s.\r\n\r\nroot cause: 9fceb02d0ae598e95dc970b74767f19372d61af8"
    );
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/issues"))
        .and(query_param("labels", "incident"))
        .and(query_param("state", "all"))
        .respond_with(ok(json!([
            seven,
            issue(
                8,
                &["incident"],
                "2026-02-05T11:00:00Z",
                "2026-02-05T11:00:00Z",
                None,
                false
            ),
            issue(
                9,
                &["incident"],
                "2026-02-05T12:00:00Z",
                "2026-02-05T12:00:00Z",
                None,
                true
            ),
        ])))
        .mount(server)
        .await;
    // PRs over GraphQL: page 1 (draft, squash merge, dismissed review), page 2.
    mount_gql(server, "/graphql", |q, vars| {
        assert!(q.contains("pullRequests"), "unexpected query {q}");
        assert_eq!(vars["owner"], "acme");
        assert_eq!(vars["name"], "web");
        if vars["after"].is_null() {
            ok(pr_page(
                vec![
                    pr_node(14, "2026-02-06T10:00:00Z", "2026-02-05T09:00:00Z", None, true, None, None, json!([]), &[(SHA_D, "2026-02-05T08:00:00Z")]),
                    pr_node(
                        12,
                        "2026-02-04T10:00:00Z",
                        "2026-01-19T09:00:00Z",
                        Some("2026-01-21T10:00:00Z"),
                        false,
                        Some("2026-01-19T15:00:00Z"),
                        Some(SHA_C),
                        json!([
                            {"id": "PRR_1", "author": {"login": "hubot"}, "state": "DISMISSED", "submittedAt": "2026-01-20T10:00:00Z"},
                            {"id": "PRR_2", "author": {"login": "hubot"}, "state": "APPROVED", "submittedAt": "2026-01-21T09:00:00Z"},
                            {"id": "PRR_3", "author": {"login": "octocat"}, "state": "PENDING", "submittedAt": null},
                            {"id": "PRR_4", "author": null, "state": "COMMENTED", "submittedAt": "2026-01-20T11:00:00Z"}
                        ]),
                        &[("e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1", "2026-01-18T09:00:00Z"), ("e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2", "2026-01-19T08:00:00Z")],
                    ),
                ],
                Some("Y3Vyc29yOjI="),
            ))
        } else {
            assert_eq!(vars["after"], "Y3Vyc29yOjI=");
            ok(pr_page(
                vec![
                    pr_node(11, "2026-01-30T10:00:00Z", "2026-01-29T09:00:00Z", None, false, None, None, json!([
                        {"id": "PRR_5", "author": {"login": "mona"}, "state": "CHANGES_REQUESTED", "submittedAt": "2026-01-29T12:00:00Z"}
                    ]), &[]),
                    // Older than the backfill date: ends the pass.
                    pr_node(3, "2025-11-30T10:00:00Z", "2025-11-01T09:00:00Z", None, false, None, None, json!([]), &[]),
                ],
                None,
            ))
        }
    })
    .await
}

// ------------------------------------------------------------------- tests

#[tokio::test]
async fn full_sync_maps_every_stream() {
    let server = MockServer::start().await;
    let gql_calls = mount_web(&server).await;
    let mut c = GitHubConnector::new(config(&server.uri(), "GH_TEST_FULL", &["acme/web"])).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let evs = events(&batches);

    let deps = conformance::deployments(&batches);
    // Deployment 0 is before the backfill date; the other four come across two pages.
    let ids: Vec<_> = deps.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["4", "3", "2", "1"]);
    let d2 = deps.iter().find(|d| d.id == "2").unwrap();
    assert_eq!(d2.status, DeploymentStatus::Success);
    // The first success status, not the later `inactive`.
    assert_eq!(
        d2.finished_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 2, 10, 5, 0).unwrap())
    );
    assert_eq!(
        d2.started_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 2, 10, 0, 0).unwrap())
    );
    assert_eq!(d2.commit_sha, SHA_B);
    assert_eq!(d2.actor.as_deref(), Some("octocat"));
    assert_eq!(d2.git_ref.as_deref(), Some("main"));
    assert_eq!(d2.service, "acme/web");
    assert_eq!(d2.repo.as_deref(), Some("acme/web"));
    assert!(d2.extra.get("production_environment").is_none());
    let d1 = deps.iter().find(|d| d.id == "1").unwrap();
    assert_eq!(d1.status, DeploymentStatus::Failure);
    assert_eq!(d1.environment, "staging");
    assert_eq!(
        d1.finished_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 1, 10, 4, 0).unwrap())
    );
    let d4 = deps.iter().find(|d| d.id == "4").unwrap();
    assert_eq!(d4.status, DeploymentStatus::InProgress);
    assert_eq!(d4.finished_at, None);
    assert_eq!(d4.environment, "prod-eu");
    let d3 = deps.iter().find(|d| d.id == "3").unwrap();
    assert_eq!(d3.environment, "customer-facing");

    let commits: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Commit(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(commits.len(), 3, "two pages of commits");
    let c3 = commits.iter().find(|c| c.sha == SHA_C).unwrap();
    assert_eq!(c3.parents.as_deref(), Some(&[SHA_B.to_string()][..]));
    assert_eq!(c3.message.as_deref(), Some("Squashed feature (#12)"));
    assert_eq!(c3.author.as_deref(), Some("mona"));
    assert_eq!(
        c3.authored_at,
        Utc.with_ymd_and_hms(2026, 1, 20, 9, 0, 0).unwrap()
    );
    assert_eq!(
        c3.committed_at,
        Some(Utc.with_ymd_and_hms(2026, 1, 21, 10, 0, 0).unwrap())
    );
    let c1 = commits.iter().find(|c| c.sha == SHA_A).unwrap();
    assert_eq!(
        c1.author.as_deref(),
        Some("Mona Octocat"),
        "no GitHub user: the git name"
    );
    assert_eq!(c1.parents.as_deref(), Some(&[][..]));

    let prs: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::PullRequest(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(
        prs.iter().map(|p| p.number).collect::<Vec<_>>(),
        [14, 12, 11]
    );
    let draft = prs.iter().find(|p| p.number == 14).unwrap();
    assert_eq!(draft.extra.get("draft"), Some(&json!(true)));
    assert_eq!(draft.merged_at, None);
    assert_eq!(draft.merge_commit_sha, None);
    let squash = prs.iter().find(|p| p.number == 12).unwrap();
    assert_eq!(squash.merge_commit_sha.as_deref(), Some(SHA_C));
    assert_eq!(
        squash.ready_at,
        Some(Utc.with_ymd_and_hms(2026, 1, 19, 15, 0, 0).unwrap())
    );
    assert_eq!(
        squash.first_commit_at,
        Some(Utc.with_ymd_and_hms(2026, 1, 18, 9, 0, 0).unwrap())
    );
    assert_eq!(squash.commits.as_ref().map(|c| c.len()), Some(2));
    assert_eq!(squash.labels, ["enhancement"]);
    assert_eq!(squash.base.as_deref(), Some("main"));
    assert_eq!(squash.head.as_deref(), Some("feature-12"));
    assert_eq!((squash.additions, squash.deletions), (Some(10), Some(2)));
    assert_eq!(squash.author.as_deref(), Some("mona"));

    let reviews: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Review(r) => Some(r),
            _ => None,
        })
        .collect();
    let states: Vec<_> = reviews
        .iter()
        .map(|r| (r.pr, r.id.as_str(), r.state))
        .collect();
    assert_eq!(
        states,
        [
            (12, "PRR_1", ReviewState::Dismissed),
            (12, "PRR_2", ReviewState::Approved),
            (12, "PRR_4", ReviewState::Commented),
            (11, "PRR_5", ReviewState::ChangesRequested),
        ],
        "PENDING skipped"
    );
    assert_eq!(reviews[2].author, "ghost");

    let incidents: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Incident(i) => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(incidents.len(), 2, "the pull request is skipped");
    assert_eq!(incidents[0].id, "acme/web#7");
    assert_eq!(incidents[0].services, ["checkout"]);
    assert_eq!(incidents[0].severity.as_deref(), Some("high"));
    assert_eq!(
        incidents[0].root_cause.as_deref(),
        Some("9fceb02d0ae598e95dc970b74767f19372d61af8")
    );
    assert_eq!(incidents[1].root_cause, None);
    assert_eq!(
        incidents[0].resolved_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 2, 12, 30, 0).unwrap())
    );
    assert_eq!(incidents[1].services, ["acme/web"]);
    assert_eq!(incidents[1].resolved_at, None);

    assert_eq!(gql_calls.load(Ordering::SeqCst), 2);
    let reported: u64 = batches.iter().map(|b| b.requests).sum();
    assert_eq!(reported, c.requests());
    // the GraphQL deployments probe (this server has none: REST), deployments
    // 2 pages + 4 statuses, repo + 2 commit pages, 2 GraphQL, 1 issues
    assert_eq!(reported, 13);
}

#[tokio::test]
async fn conformance_harness_passes() {
    let server = MockServer::start().await;
    mount_web(&server).await;
    let cfg = config(&server.uri(), "GH_TEST_CONF", &["acme/web"]);
    let report = conformance::check(|| GitHubConnector::new(cfg.clone()).unwrap(), &ctx())
        .await
        .unwrap();
    assert_eq!(report.events.len(), 4 + 3 + 3 + 4 + 2);
    assert!(report.batches >= 7, "one batch per page per stream");
}

#[tokio::test]
async fn second_sync_fetches_only_changes() {
    let server = MockServer::start().await;
    mount_web(&server).await;
    let cfg = config(&server.uri(), "GH_TEST_INCR", &["acme/web"]);
    let mut c = GitHubConnector::new(cfg.clone()).unwrap();
    let first = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let cursor = first.last().unwrap().cursor.clone();

    // Upstream changes: deployment 4 succeeded, PR 14 got a review, a new commit.
    server.reset().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments"))
        .respond_with(ok(json!([deployment(
            &base,
            "acme/web",
            4,
            SHA_D,
            "prod-eu",
            "2026-02-04T10:00:00Z"
        )])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments/4/statuses"))
        .respond_with(ok(json!([
            status(42, "success", "2026-02-04T10:07:00Z"),
            status(41, "in_progress", "2026-02-04T10:01:00Z"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments/4"))
        .respond_with(ok(deployment(
            &base,
            "acme/web",
            4,
            SHA_D,
            "prod-eu",
            "2026-02-04T10:00:00Z",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/commits"))
        .and(query_param("since", "2026-01-21T10:00:00Z"))
        .respond_with(ok(json!([
            commit(
                SHA_D,
                &[SHA_C],
                "2026-02-06T09:00:00Z",
                "2026-02-06T09:00:00Z",
                Some("mona"),
                "New"
            ),
            commit(
                SHA_C,
                &[SHA_B],
                "2026-01-20T09:00:00Z",
                "2026-01-21T10:00:00Z",
                Some("mona"),
                "Squashed feature (#12)"
            ),
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web"))
        .respond_with(ok(json!({"default_branch": "trunk"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/issues"))
        .and(query_param("since", "2026-02-05T11:00:00Z"))
        .respond_with(ok(json!([issue(
            9,
            &["incident"],
            "2026-02-05T12:00:00Z",
            "2026-02-05T12:00:00Z",
            None,
            true
        )])))
        .mount(&server)
        .await;
    let gql = mount_gql(&server, "/graphql", |_q, vars| {
        assert!(vars["after"].is_null(), "the first page holds everything new");
        ok(pr_page(
            vec![
                pr_node(14, "2026-02-07T10:00:00Z", "2026-02-05T09:00:00Z", None, false, Some("2026-02-07T09:00:00Z"), None, json!([
                    {"id": "PRR_9", "author": {"login": "hubot"}, "state": "APPROVED", "submittedAt": "2026-02-07T10:00:00Z"}
                ]), &[(SHA_D, "2026-02-05T08:00:00Z")]),
                pr_node(12, "2026-02-04T10:00:00Z", "2026-01-19T09:00:00Z", Some("2026-01-21T10:00:00Z"), false, None, Some(SHA_C), json!([]), &[]),
            ],
            Some("more"),
        ))
    })
    .await;
    let mut c = GitHubConnector::new(cfg).unwrap();
    let second = run_to_completion(&mut c, &ctx(), Some(cursor))
        .await
        .unwrap();
    assert!(notes(&second).is_empty(), "{:?}", notes(&second));
    let mut keys: Vec<String> = events(&second)
        .iter()
        .map(conformance::natural_key)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("commit|acme/web|{SHA_D}"),
            "deployment|github|4".to_string(),
            "pull_request|acme/web|14".to_string(),
            "review|acme/web|14|PRR_9".to_string(),
        ]
    );
    let d4 = events(&second)
        .into_iter()
        .find_map(|e| match e {
            Event::Deployment(d) => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(d4.status, DeploymentStatus::Success);
    assert_eq!(
        gql.load(Ordering::SeqCst),
        1,
        "stops at the first PR not updated since"
    );
    // 1 deployments page + 2 (recheck of the open one), repo + commits, 1 GraphQL, 1 issues.
    assert_eq!(c.requests(), 7);
}

#[tokio::test]
async fn interrupted_sync_resumes_on_the_page_it_stopped_at() {
    let server = MockServer::start().await;
    mount_web(&server).await;
    let cfg = config(&server.uri(), "GH_TEST_RESUME", &["acme/web"]);
    let mut c = GitHubConnector::new(cfg.clone()).unwrap();
    // First batch: deployments page 1 (3 deployments), then "crash".
    let b1 = c.next_batch(&ctx(), None).await.unwrap().unwrap();
    assert_eq!(b1.events.len(), 3);
    let pass = &b1.cursor.0["repos"]["acme/web"]["deployments"]["pass"];
    assert!(pass["next"].as_str().unwrap().contains("page=2"), "{pass}");
    drop(c);
    let mut c = GitHubConnector::new(cfg).unwrap();
    let rest = run_to_completion(&mut c, &ctx(), Some(b1.cursor.clone()))
        .await
        .unwrap();
    let evs = events(&rest);
    let dep_ids: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Deployment(d) => Some(d.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(dep_ids, ["1"], "page 1 is not fetched again");
    assert_eq!(evs.len(), 1 + 3 + 3 + 4 + 2);
}

#[tokio::test]
async fn repo_without_deployments_uses_tags() {
    let server = MockServer::start().await;
    mount_empty_streams(&server, "", "acme/lib").await;
    let tags_seen = Arc::new(AtomicUsize::new(0));
    let seen = tags_seen.clone();
    mount_gql(&server, "/graphql", move |q, vars| {
        if q.contains("pullRequests") {
            return ok(pr_page(vec![], None));
        }
        assert!(q.contains("refs(refPrefix: \"refs/tags/\""));
        seen.fetch_add(1, Ordering::SeqCst);
        let nodes = json!([
            {"name": "v1.2.0", "target": {"__typename": "Tag", "tagger": {"date": "2026-02-10T12:00:00+01:00"},
                "target": {"__typename": "Commit", "oid": SHA_B, "committedDate": "2026-02-10T09:00:00Z"}}},
            {"name": "nightly", "target": {"__typename": "Commit", "oid": SHA_C, "committedDate": "2026-02-09T09:00:00Z"}},
            {"name": "v1.1.0", "target": {"__typename": "Commit", "oid": SHA_A, "committedDate": "2026-01-05T09:00:00Z"}},
            {"name": "v0.9.0", "target": {"__typename": "Commit", "oid": SHA_D, "committedDate": "2025-06-05T09:00:00Z"}}
        ]);
        let _ = vars;
        ok(json!({"data": {"repository": {"refs": {"pageInfo": {"hasNextPage": true, "endCursor": "MTA"}, "nodes": nodes}}}}))
    })
    .await;
    let mut cfg = config(&server.uri(), "GH_TEST_TAGS", &["acme/lib"]);
    cfg.deployments = "tags:v*".into();
    let mut c = GitHubConnector::new(cfg).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let deps = conformance::deployments(&batches);
    assert_eq!(
        deps.len(),
        2,
        "glob filters `nightly`; v0.9.0 is before the backfill"
    );
    assert_eq!(deps[0].id, "acme/lib/tag/v1.2.0");
    assert_eq!(deps[0].commit_sha, SHA_B);
    assert_eq!(deps[0].environment, "production");
    assert_eq!(
        deps[0].finished_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 10, 11, 0, 0).unwrap()),
        "tagger date, UTC"
    );
    assert_eq!(deps[1].commit_sha, SHA_A);
    assert_eq!(
        tags_seen.load(Ordering::SeqCst),
        1,
        "an old tag ends the pass"
    );
}

#[tokio::test]
async fn a_tag_made_later_on_an_older_commit_is_not_lost() {
    // Tags come ordered by commit date. v1.0.5 was tagged before the sync's
    // start; v1.2.1, listed after it, was tagged on an older commit but
    // after the start (a hotfix release): it is a deployment of this sync.
    let server = MockServer::start().await;
    let annotated = |name: &str, sha: &str, committed: &str, tagged: &str| {
        json!({"name": name, "target": {"__typename": "Tag", "tagger": {"date": tagged},
            "target": {"__typename": "Commit", "oid": sha, "committedDate": committed}}})
    };
    let pages = [
        json!([
            annotated(
                "v1.3.0",
                SHA_C,
                "2026-02-10T09:00:00Z",
                "2026-02-10T10:00:00Z"
            ),
            annotated(
                "v1.0.5",
                SHA_B,
                "2025-12-20T09:00:00Z",
                "2025-12-21T09:00:00Z"
            ),
        ]),
        json!([
            annotated("v1.2.1", SHA_A, "2025-12-15T09:00:00Z", "2026-02-12T09:00:00Z"),
            {"name": "v0.1.0", "target": {"__typename": "Commit", "oid": SHA_D, "committedDate": "2025-06-01T09:00:00Z"}}
        ]),
        json!([
            {"name": "v0.0.1", "target": {"__typename": "Commit", "oid": SHA_D, "committedDate": "2025-01-01T09:00:00Z"}}
        ]),
    ];
    let tag_pages = Arc::new(AtomicUsize::new(0));
    let read = tag_pages.clone();
    mount_gql(&server, "/graphql", move |q, vars| {
        if q.contains("pullRequests") {
            return ok(pr_page(vec![], None));
        }
        read.fetch_add(1, Ordering::SeqCst);
        let page = match vars["after"].as_str() {
            None => 0,
            Some(c) => c.parse().unwrap(),
        };
        ok(json!({"data": {"repository": {"refs": {
            "pageInfo": {"hasNextPage": page + 1 < pages.len(), "endCursor": (page + 1).to_string()},
            "nodes": pages[page]}}}}))
    })
    .await;
    mount_empty_streams(&server, "", "acme/lib").await;
    let mut cfg = config(&server.uri(), "GH_TEST_TAGS_LATE", &["acme/lib"]);
    cfg.deployments = "tags:v*".into();
    let mut c = GitHubConnector::new(cfg).unwrap();
    let deps = conformance::deployments(&run_to_completion(&mut c, &ctx(), None).await.unwrap());
    let names: Vec<_> = deps.iter().filter_map(|d| d.git_ref.as_deref()).collect();
    assert_eq!(names, ["v1.3.0", "v1.2.1"], "{deps:?}");
    assert_eq!(
        tag_pages.load(Ordering::SeqCst),
        2,
        "a commit 90 days before the start ends the pass"
    );
}

#[tokio::test]
async fn an_outage_of_graphql_deployments_is_an_error_not_a_move_to_rest() {
    // GraphQL fails every deployments query, with a 502 or with GitHub's
    // timeout answer (200, `data: null`): an error of this run. Only a
    // server that refuses the field (see `Gql`) moves a repository's
    // deployments to REST for good.
    let timeout = json!({"data": null, "errors": [{"message": "Something went wrong while executing your query. This may be the result of a timeout, or it could be a GitHub bug. Please include `0C94:3B2F:1F9A3E:3F4C1B:65A7E0F1` when reporting this issue."}]});
    for (name, failure) in [
        (
            "502",
            ResponseTemplate::new(502).set_body_string("Bad Gateway"),
        ),
        ("timeout", ok(timeout)),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                if body["query"]
                    .as_str()
                    .unwrap_or("")
                    .contains("deployments(")
                {
                    failure.clone()
                } else {
                    ok(pr_page(vec![], None))
                }
            })
            .mount(&server)
            .await;
        let rest = Arc::new(AtomicUsize::new(0));
        let calls = rest.clone();
        Mock::given(method("GET"))
            .and(path("/repos/acme/web/deployments"))
            .respond_with(move |_: &Request| {
                calls.fetch_add(1, Ordering::SeqCst);
                ok(json!([]))
            })
            .mount(&server)
            .await;
        mount_empty_streams(&server, "", "acme/web").await;
        let cfg = config(&server.uri(), "GH_TEST_GQL_OUTAGE", &["acme/web"]);
        let result = run_to_completion(&mut GitHubConnector::new(cfg).unwrap(), &ctx(), None).await;
        assert_eq!(rest.load(Ordering::SeqCst), 0, "{name}: no move to REST");
        let said = match &result {
            Err(e) => e.clone(),
            Ok(batches) => notes(batches).join("\n"),
        };
        let why = if name == "502" { "502" } else { "timeout" };
        assert!(
            said.contains(why),
            "{name}: the failure is reported: {said}"
        );
        if let Ok(batches) = result {
            let cursor = &batches.last().unwrap().cursor.0;
            assert!(
                !cursor.to_string().contains("\"rest\":true"),
                "{name}: REST is not kept for later syncs: {cursor}"
            );
        }
    }
}

#[tokio::test]
async fn no_deployments_gives_a_hint() {
    let server = MockServer::start().await;
    mount_empty_streams(&server, "", "acme/lib").await;
    mount_gql(&server, "/graphql", empty_prs()).await;
    let mut c =
        GitHubConnector::new(config(&server.uri(), "GH_TEST_NODEP", &["acme/lib"])).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    assert!(events(&batches).is_empty());
    let n = notes(&batches).join("\n");
    assert!(n.contains("acme/lib") && n.contains("tags:GLOB"), "{n}");
}

#[tokio::test]
async fn releases_resolve_tags_to_commits() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/releases"))
        .respond_with(ok(json!([
            {"url": "u", "html_url": "https://github.com/acme/api/releases/v2.0.0", "id": 20, "node_id": "RE_2",
             "tag_name": "v2.0.0", "target_commitish": "main", "name": "v2.0.0", "draft": false, "prerelease": false,
             "created_at": "2026-02-10T09:00:00Z", "published_at": "2026-02-10T10:00:00Z", "author": user("mona"), "assets": []},
            {"url": "u", "html_url": "h", "id": 19, "node_id": "RE_1", "tag_name": "v1.9.0",
             "target_commitish": SHA_A, "name": "v1.9.0", "draft": false, "prerelease": true,
             "created_at": "2026-02-01T09:00:00Z", "published_at": "2026-02-01T09:30:00Z", "author": user("mona"), "assets": []},
            {"url": "u", "html_url": "h", "id": 21, "node_id": "RE_3", "tag_name": "v3.0.0",
             "target_commitish": "main", "name": "draft", "draft": true, "prerelease": false,
             "created_at": "2026-02-11T09:00:00Z", "published_at": null, "author": user("mona"), "assets": []}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/git/ref/tags/v2.0.0"))
        .respond_with(ok(json!({"ref": "refs/tags/v2.0.0", "node_id": "x", "url": "u",
            "object": {"type": "tag", "sha": "9999999999999999999999999999999999999999", "url": "u"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/git/tags/9999999999999999999999999999999999999999"))
        .respond_with(ok(json!({"node_id": "x", "tag": "v2.0.0", "sha": "9999999999999999999999999999999999999999",
            "url": "u", "message": "release", "tagger": {"name": "m", "email": "m@x", "date": "2026-02-10T09:59:00Z"},
            "object": {"type": "commit", "sha": SHA_B, "url": "u"}, "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null}})))
        .mount(&server)
        .await;
    let deps = deployments_from(&server, "acme/api", "releases").await;
    assert_eq!(deps.len(), 2, "the draft is skipped");
    assert_eq!(
        deps[0].commit_sha, SHA_B,
        "annotated tag peeled to its commit"
    );
    assert_eq!(
        deps[0].finished_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 10, 10, 0, 0).unwrap())
    );
    assert_eq!(deps[0].git_ref.as_deref(), Some("v2.0.0"));
    assert_eq!(
        deps[0].started_at, None,
        "a release's created_at is its commit's date, not a deployment's start"
    );
    assert_eq!(
        deps[1].commit_sha, SHA_A,
        "a SHA target_commitish is used as is"
    );
    assert_eq!(deps[1].extra.get("prerelease"), Some(&json!(true)));
}

/// The deployments a full sync of `repo` reads with `deployments = how`
/// (its other streams empty).
async fn deployments_from(server: &MockServer, repo: &str, how: &str) -> Vec<Deployment> {
    mount_empty_streams(server, "", repo).await;
    mount_gql(server, "/graphql", empty_prs()).await;
    let env = format!(
        "GH_TEST_DEPLOYMENTS_{}",
        how.replace([':', '.'], "_").to_uppercase()
    );
    let mut cfg = config(&server.uri(), &env, &[repo]);
    cfg.deployments = how.into();
    let mut c = GitHubConnector::new(cfg).unwrap();
    conformance::deployments(&run_to_completion(&mut c, &ctx(), None).await.unwrap())
}

fn workflow_run(
    id: u64,
    conclusion: Option<&str>,
    sha: &str,
    started: &str,
    updated: &str,
) -> Value {
    json!({"id": id, "name": "Deploy", "node_id": "WFR_1", "head_branch": "main", "head_sha": sha,
           "path": ".github/workflows/deploy.yml", "run_number": id, "event": "push", "display_title": "Deploy",
           "status": if conclusion.is_some() { "completed" } else { "in_progress" },
           "conclusion": conclusion, "workflow_id": 161335,
           "url": "u", "html_url": format!("https://github.com/acme/web/actions/runs/{id}"),
           "created_at": started, "updated_at": updated, "run_attempt": 1, "run_started_at": started,
           "actor": user("mona"), "triggering_actor": user("mona")})
}

/// `GET /repos/{owner}/{repo}/actions/workflows/{id}/runs` as GitHub
/// serves it: newest first, `per_page`/`page` with a `Link` header, the
/// `status` and `created` filters, and at most 1,000 results when one of
/// them is given ("This API will return up to 1,000 results for each
/// search when using the following parameters: ... created ... status").
async fn mount_workflow_runs(server: &MockServer, runs: Vec<Value>, requests: Arc<AtomicUsize>) {
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/actions/workflows/deploy.yml/runs"))
        .respond_with(move |req: &Request| {
            requests.fetch_add(1, Ordering::SeqCst);
            let q: std::collections::HashMap<String, String> =
                req.url.query_pairs().into_owned().collect();
            let mut all: Vec<&Value> = runs.iter().collect();
            if let Some(status) = q.get("status") {
                all.retain(|r| {
                    r["status"] == status.as_str() || r["conclusion"] == status.as_str()
                });
            }
            if let Some(created) = q.get("created") {
                let from = created.trim_start_matches(">=");
                all.retain(|r| r["created_at"].as_str().unwrap() >= from);
            }
            if q.contains_key("status") || q.contains_key("created") {
                all.truncate(1000);
            }
            let per: usize = q.get("per_page").map_or(30, |p| p.parse().unwrap());
            let page: usize = q.get("page").map_or(1, |p| p.parse().unwrap());
            let items: Vec<&Value> = all
                .iter()
                .skip((page - 1) * per)
                .take(per)
                .copied()
                .collect();
            let mut r = ok(json!({"total_count": all.len(), "workflow_runs": items}));
            if page * per < all.len() {
                let mut next = req.url.clone();
                next.query_pairs_mut()
                    .clear()
                    .extend_pairs(
                        q.iter()
                            .filter(|(k, _)| *k != "page")
                            .map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                    .append_pair("page", &(page + 1).to_string());
                let next = format!("{base}{}?{}", next.path(), next.query().unwrap_or(""));
                r = r.insert_header("link", format!("<{next}>; rel=\"next\"").as_str());
            }
            r
        })
        .mount(server)
        .await;
}

/// `GET /repos/{owner}/{repo}/actions/runs/{run_id}`: one run of `runs`.
async fn mount_run_by_id(server: &MockServer, runs: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/acme/web/actions/runs/\d+$"))
        .respond_with(move |req: &Request| {
            let id: u64 = req.url.path().rsplit('/').next().unwrap().parse().unwrap();
            match runs.iter().find(|r| r["id"] == id) {
                Some(run) => ok(run.clone()),
                None => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
            }
        })
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_run_waiting_for_approval_for_days_is_read_when_it_completes() {
    // Run 5 waits for the production environment's reviewers (created on
    // Feb 1), runs 6 and 7 deploy meanwhile; run 5 is approved and
    // finishes on Feb 11, long after the next sync's listing stops.
    let listed = |five: Value| {
        vec![
            workflow_run(
                7,
                Some("success"),
                SHA_C,
                "2026-02-09T10:00:00Z",
                "2026-02-09T10:05:00Z",
            ),
            workflow_run(
                6,
                Some("success"),
                SHA_B,
                "2026-02-02T10:00:00Z",
                "2026-02-02T10:05:00Z",
            ),
            five,
        ]
    };
    let mut waiting = workflow_run(
        5,
        None,
        SHA_A,
        "2026-02-01T10:00:00Z",
        "2026-02-01T10:00:05Z",
    );
    waiting["status"] = json!("waiting");
    let first = MockServer::start().await;
    mount_workflow_runs(
        &first,
        listed(waiting.clone()),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    mount_run_by_id(&first, vec![waiting]).await;
    mount_empty_streams(&first, "", "acme/web").await;
    mount_gql(&first, "/graphql", empty_prs()).await;
    let run = |server: &MockServer, cursor| {
        let mut cfg = config(&server.uri(), "GH_TEST_WAITING_RUN", &["acme/web"]);
        cfg.deployments = "workflow:deploy.yml".into();
        let mut c = GitHubConnector::new(cfg).unwrap();
        async move { run_to_completion(&mut c, &ctx(), cursor).await.unwrap() }
    };
    let batches = run(&first, None).await;
    let deps = conformance::deployments(&batches);
    assert_eq!(deps.len(), 2, "runs 6 and 7; 5 is waiting: {deps:?}");
    let cursor = batches.last().unwrap().cursor.clone();

    let done = workflow_run(
        5,
        Some("success"),
        SHA_A,
        "2026-02-01T10:00:00Z",
        "2026-02-11T09:00:00Z",
    );
    let second = MockServer::start().await;
    mount_workflow_runs(&second, listed(done.clone()), Arc::new(AtomicUsize::new(0))).await;
    mount_run_by_id(&second, vec![done]).await;
    mount_empty_streams(&second, "", "acme/web").await;
    mount_gql(&second, "/graphql", empty_prs()).await;
    let deps = conformance::deployments(&run(&second, Some(cursor.clone())).await);
    assert_eq!(deps.len(), 1, "{deps:?}");
    assert_eq!(deps[0].id, "acme/web/run/5");
    assert_eq!(deps[0].status, DeploymentStatus::Success);
    assert_eq!(
        deps[0].finished_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 11, 9, 0, 0).unwrap())
    );
    // Read once: a third sync asks for it no more.
    let again = run(&second, Some(cursor)).await;
    let third = MockServer::start().await;
    mount_workflow_runs(
        &third,
        listed(json!(null)).into_iter().take(2).collect(),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    mount_empty_streams(&third, "", "acme/web").await;
    mount_gql(&third, "/graphql", empty_prs()).await;
    run(&third, Some(again.last().unwrap().cursor.clone())).await;
    let by_id = third
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().contains("/actions/runs/"))
        .count();
    assert_eq!(by_id, 0, "run 5 completed: no longer read by id");
}

#[tokio::test]
async fn workflow_runs_are_deployments() {
    let server = MockServer::start().await;
    let runs = vec![
        workflow_run(
            4,
            None,
            SHA_C,
            "2026-02-04T10:00:00Z",
            "2026-02-04T10:00:05Z",
        ),
        workflow_run(
            3,
            Some("skipped"),
            SHA_C,
            "2026-02-03T10:00:00Z",
            "2026-02-03T10:00:05Z",
        ),
        workflow_run(
            2,
            Some("failure"),
            SHA_B,
            "2026-02-02T10:00:00Z",
            "2026-02-02T10:06:00Z",
        ),
        workflow_run(
            1,
            Some("success"),
            SHA_A,
            "2026-02-01T10:00:00Z",
            "2026-02-01T10:08:00Z",
        ),
        // Before the sync's start (less a day): where reading stops.
        workflow_run(
            0,
            Some("success"),
            SHA_A,
            "2025-12-01T10:00:00Z",
            "2025-12-01T10:08:00Z",
        ),
    ];
    mount_workflow_runs(&server, runs, Arc::new(AtomicUsize::new(0))).await;
    let deps = deployments_from(&server, "acme/web", "workflow:deploy.yml").await;
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert_eq!(deps[0].status, DeploymentStatus::Failure);
    assert_eq!(deps[1].status, DeploymentStatus::Success);
    assert_eq!(deps[1].commit_sha, SHA_A);
    assert_eq!(
        deps[1].started_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 1, 10, 0, 0).unwrap())
    );
    assert_eq!(
        deps[1].finished_at,
        Some(Utc.with_ymd_and_hms(2026, 2, 1, 10, 8, 0).unwrap())
    );
}

#[tokio::test]
async fn a_workflow_with_more_than_1000_runs_loses_none_and_stops_at_the_sync_start() {
    // 1,500 completed runs since the sync's start, an hour apart, then
    // 300 older ones: all 1,500 are deployments, and the older pages are
    // not read past the first older run.
    let server = MockServer::start().await;
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let runs: Vec<Value> = (0..1800u64)
        .rev()
        .map(|i| {
            let created = start + chrono::Duration::hours(i as i64 - 300);
            let at = |m: i64| {
                (created + chrono::Duration::minutes(m))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            };
            workflow_run(i + 1, Some("success"), SHA_A, &at(0), &at(5))
        })
        .collect();
    let requests = Arc::new(AtomicUsize::new(0));
    mount_workflow_runs(&server, runs, requests.clone()).await;
    let deps = deployments_from(&server, "acme/web", "workflow:deploy.yml").await;
    // The 24 runs of the day before the start are read too (a run created
    // then may have finished after it); those that finished before it are
    // not deployments of this sync.
    let since_start = deps
        .iter()
        .filter(|d| d.finished_at.unwrap() >= start)
        .count();
    assert_eq!(since_start, 1500, "every run since the start");
    assert_eq!(deps.len(), 1500);
    let pages = requests.load(Ordering::SeqCst);
    assert!(
        pages <= 16,
        "stopped near the start, not at the end of the list: {pages} pages"
    );
}

#[tokio::test]
async fn retries_403_retry_after_and_502() {
    let server = MockServer::start().await;
    // Secondary rate limit on the first deployments request, then a 502.
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments"))
        .respond_with(ok(json!([deployment(
            &base,
            "acme/web",
            5,
            SHA_A,
            "production",
            "2026-02-01T10:00:00Z"
        )])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments/5/statuses"))
        .respond_with(ok(json!([status(1, "success", "2026-02-01T10:02:00Z")])))
        .mount(&server)
        .await;
    mount_empty_streams(&server, "", "acme/web").await;
    // GraphQL: a 502, a 403 with Retry-After, then the answer.
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    mount_gql(&server, "/graphql", move |_q, _v| {
        match n2.fetch_add(1, Ordering::SeqCst) {
            0 => ResponseTemplate::new(502),
            1 => ResponseTemplate::new(403)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "secondary rate limit"})),
            _ => ok(pr_page(
                vec![pr_node(
                    1,
                    "2026-02-01T10:00:00Z",
                    "2026-02-01T09:00:00Z",
                    None,
                    false,
                    None,
                    None,
                    json!([]),
                    &[],
                )],
                None,
            )),
        }
    })
    .await;
    let mut c =
        GitHubConnector::new(config(&server.uri(), "GH_TEST_RETRY", &["acme/web"])).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let evs = events(&batches);
    assert_eq!(evs.len(), 2, "{:?}", notes(&batches));
    assert!(notes(&batches).is_empty(), "{:?}", notes(&batches));
    assert_eq!(n.load(Ordering::SeqCst), 3);
    // the GraphQL deployments probe + 3 deployments tries + statuses + repo
    // + commits + 3 GraphQL + issues
    assert_eq!(c.requests(), 11);
}

#[tokio::test]
async fn unauthorized_names_the_variable_not_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})))
        .mount(&server)
        .await;
    let mut c = GitHubConnector::new(config(&server.uri(), "GH_TEST_401", &["acme/web"])).unwrap();
    let err = run_to_completion(&mut c, &ctx(), None).await.unwrap_err();
    assert!(err.contains("GH_TEST_401"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
    // And straight from next_batch, as the CLI sees it.
    let mut c = GitHubConnector::new(config(&server.uri(), "GH_TEST_401", &["acme/web"])).unwrap();
    let e = c.next_batch(&ctx(), None).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Unauthorized { .. }));
    assert!(!format!("{e:?}").contains(SECRET));
    assert!(!format!("{c:?}").contains(SECRET));
}

#[tokio::test]
async fn not_found_repo_is_named_and_others_continue() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/gone/deployments"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/deployments/deployments#list-deployments", "status": "404"})))
        .mount(&server)
        .await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments"))
        .respond_with(ok(json!([deployment(
            &base,
            "acme/web",
            5,
            SHA_A,
            "production",
            "2026-02-01T10:00:00Z"
        )])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/web/deployments/5/statuses"))
        .respond_with(ok(json!([status(1, "success", "2026-02-01T10:02:00Z")])))
        .mount(&server)
        .await;
    mount_empty_streams(&server, "", "acme/web").await;
    mount_gql(&server, "/graphql", empty_prs()).await;
    let mut c = GitHubConnector::new(config(
        &server.uri(),
        "GH_TEST_404",
        &["acme/gone", "acme/web"],
    ))
    .unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    assert_eq!(events(&batches).len(), 1, "acme/web still synced");
    let n = notes(&batches).join("\n");
    assert!(
        n.contains("`acme/gone`") && n.contains("GH_TEST_404"),
        "{n}"
    );
    assert_eq!(c.failed_repos().len(), 1);
    assert_eq!(c.failed_repos()[0].0, "acme/gone");
}

#[tokio::test]
async fn graphql_not_found_names_the_repo() {
    let server = MockServer::start().await;
    mount_empty_streams(&server, "", "acme/web").await;
    mount_gql(&server, "/graphql", |_q, _v| {
        ok(json!({"data": {"rateLimit": null, "repository": null}, "errors": [{"type": "NOT_FOUND", "path": ["repository"],
            "locations": [{"line": 3, "column": 3}], "message": "Could not resolve to a Repository with the name 'acme/web'."}]}))
    })
    .await;
    let mut c = GitHubConnector::new(config(&server.uri(), "GH_TEST_G404", &["acme/web"])).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let n = notes(&batches).join("\n");
    assert!(n.contains("`acme/web`") && n.contains("not found"), "{n}");
}

#[tokio::test]
async fn saml_sso_403_says_authorise_the_token() {
    let server = MockServer::start().await;
    let sso = ResponseTemplate::new(403)
        .insert_header("x-github-sso", "required; url=https://github.com/orgs/acme/sso?authorization_request=AZSCKtL4U8yX1H3sCQIVnVgmjmon5fWxks5YrqhJgah0b2tlbl9pZM4EuMz4")
        .set_body_json(json!({"message": "Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.", "documentation_url": "https://docs.github.com/articles/authenticating-to-a-github-organization-with-saml-single-sign-on/"}));
    Mock::given(method("GET"))
        .respond_with(sso.clone())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(sso)
        .mount(&server)
        .await;
    let mut c = GitHubConnector::new(config(&server.uri(), "GH_TEST_SSO", &["acme/web"])).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let n = notes(&batches).join("\n");
    assert!(
        n.contains("single sign-on") && n.contains("GH_TEST_SSO"),
        "{n}"
    );
    assert!(!n.contains(SECRET));
}

#[tokio::test]
async fn github_enterprise_paths() {
    let server = MockServer::start().await;
    mount_empty_streams(&server, "/api/v3", "acme/web").await;
    let gql = mount_gql(&server, "/api/graphql", |_q, _v| {
        ok(pr_page(
            vec![pr_node(
                1,
                "2026-02-01T10:00:00Z",
                "2026-02-01T09:00:00Z",
                None,
                false,
                None,
                None,
                json!([]),
                &[],
            )],
            None,
        ))
    })
    .await;
    let cfg = config(
        &format!("{}/api/v3", server.uri()),
        "GH_TEST_GHE",
        &["acme/web"],
    );
    assert_eq!(
        cfg.graphql_endpoint(),
        format!("{}/api/graphql", server.uri())
    );
    let mut c = GitHubConnector::new(cfg).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    assert!(
        notes(&batches).iter().all(|n| !n.starts_with("error")),
        "{:?}",
        notes(&batches)
    );
    assert_eq!(events(&batches).len(), 1);
    assert_eq!(gql.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn org_repos_are_listed_and_filtered() {
    let server = MockServer::start().await;
    let repo = |name: &str, archived: bool| json!({"id": 1, "name": name, "full_name": format!("acme/{name}"), "archived": archived, "default_branch": "main", "private": false});
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/orgs/acme/repos"))
        .and(query_param("page", "2"))
        .respond_with(ok(json!([
            repo("web-legacy", false),
            repo("web-old", true)
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/repos"))
        .respond_with(
            ok(json!([repo("web", false), repo("docs", false)])).insert_header(
                "link",
                format!("<{base}/orgs/acme/repos?page=2>; rel=\"next\"").as_str(),
            ),
        )
        .mount(&server)
        .await;
    mount_empty_streams(&server, "", "acme/web").await;
    mount_gql(&server, "/graphql", empty_prs()).await;
    let mut cfg = config(&server.uri(), "GH_TEST_ORG", &[]);
    cfg.org = Some("acme".into());
    cfg.include = vec!["web*".into()];
    cfg.exclude = vec!["*-legacy".into()];
    let mut c = GitHubConnector::new(cfg).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let repos: std::collections::BTreeSet<String> = batches.last().unwrap().cursor.0["repos"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(repos.into_iter().collect::<Vec<_>>(), ["acme/web"]);
}

#[tokio::test]
async fn a_user_account_syncs_its_private_repositories_too() {
    // `org` names a user: GET /users/{u}/repos lists public repositories
    // only; the token's own user lists its private ones at GET /user/repos.
    let server = MockServer::start().await;
    let repo = |name: &str, private: bool| json!({"id": 1, "name": name, "full_name": format!("mona/{name}"), "archived": false, "default_branch": "main", "private": private});
    Mock::given(method("GET"))
        .and(path("/orgs/mona/repos"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ok(json!({"login": "mona", "id": 1, "type": "User"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/repos"))
        .respond_with(ok(json!([repo("site", false), repo("billing", true)])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/mona/repos"))
        .respond_with(ok(json!([repo("site", false)])))
        .mount(&server)
        .await;
    mount_empty_streams(&server, "", "mona/site").await;
    mount_empty_streams(&server, "", "mona/billing").await;
    mount_gql(&server, "/graphql", empty_prs()).await;
    let mut cfg = config(&server.uri(), "GH_TEST_USER_ACCOUNT", &[]);
    cfg.org = Some("mona".into());
    let mut c = GitHubConnector::new(cfg).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    assert_eq!(synced_repos(&batches), ["mona/billing", "mona/site"]);
}

/// The repositories the last batch's cursor holds: those the sync read.
fn synced_repos(batches: &[flowmeter_connector::SyncBatch]) -> Vec<String> {
    let repos = batches.last().unwrap().cursor.0["repos"].as_object();
    repos.unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn config_errors_are_clear() {
    std::env::remove_var("GH_TEST_NO_TOKEN");
    let mut cfg = config("http://127.0.0.1:1", "GH_TEST_CFG", &["acme/web"]);
    cfg.deployments = "magic".into();
    let e = GitHubConnector::new(cfg).unwrap_err().to_string();
    assert!(e.contains("`deployments = \"magic\"`"), "{e}");
    let cfg = config("http://127.0.0.1:1", "GH_TEST_CFG", &["web"]);
    let e = GitHubConnector::new(cfg).unwrap_err().to_string();
    assert!(e.contains("`web`"), "{e}");
    let mut cfg = config("http://127.0.0.1:1", "GH_TEST_CFG", &["acme/web"]);
    cfg.token_env = "GH_TEST_NO_TOKEN".into();
    let e = GitHubConnector::new(cfg).unwrap_err().to_string();
    assert!(
        e.starts_with("github:") && e.contains("GH_TEST_NO_TOKEN"),
        "{e}"
    );
}

#[test]
fn config_parses_from_toml_like_json() {
    let cfg: GitHubConfig = serde_json::from_value(json!({
        "type": "github", "name": "gh", "api_url": "https://ghe.example.com/api/v3",
        "repos": ["acme/web"], "deployments": "workflow:deploy.yml", "incident_labels": ["incident", "outage"]
    }))
    .unwrap();
    assert_eq!(cfg.source_name(), "gh");
    assert_eq!(
        cfg.graphql_endpoint(),
        "https://ghe.example.com/api/graphql"
    );
    assert_eq!(
        GitHubConfig::default().graphql_endpoint(),
        "https://api.github.com/graphql"
    );
    let bad = serde_json::from_value::<GitHubConfig>(json!({"repos": ["a/b"], "deploymnets": "x"}));
    assert!(bad.unwrap_err().to_string().contains("deploymnets"));
}

/// Serves `total` PRs over GraphQL, `first` per page, updated one minute
/// apart; reports requests per 1,000 PRs.
#[tokio::test]
async fn requests_per_thousand_prs() {
    let total = 2000usize;
    let server = MockServer::start().await;
    mount_empty_streams(&server, "", "acme/big").await;
    let calls = mount_gql(&server, "/graphql", move |_q, vars| {
        let first = vars["first"].as_u64().unwrap() as usize;
        let start: usize = vars["after"].as_str().map(|s| s.parse().unwrap()).unwrap_or(0);
        let end = (start + first).min(total);
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let nodes = (start..end)
            .map(|i| {
                let updated = (t0 - chrono::Duration::minutes(i as i64)).to_rfc3339();
                let number = (total - i) as i64;
                pr_node(number, &updated, "2026-01-02T00:00:00Z", Some(&updated), false, None, Some(SHA_A), json!([
                    {"id": format!("PRR_{number}"), "author": {"login": "hubot"}, "state": "APPROVED", "submittedAt": updated}
                ]), &[(SHA_B, "2026-01-01T00:00:00Z")])
            })
            .collect();
        let next = (end < total).then(|| end.to_string());
        ok(pr_page(nodes, next.as_deref()))
    })
    .await;
    let mut c =
        GitHubConnector::new(config(&server.uri(), "GH_TEST_SCALE", &["acme/big"])).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let prs = events(&batches)
        .iter()
        .filter(|e| matches!(e, Event::PullRequest(_)))
        .count();
    assert_eq!(prs, total);
    let gql = calls.load(Ordering::SeqCst);
    let per_thousand = gql as f64 * 1000.0 / total as f64;
    eprintln!(
        "GraphQL requests per 1,000 PRs: {per_thousand} (all requests: {})",
        c.requests()
    );
    assert_eq!(
        per_thousand, 10.0,
        "100 PRs with reviews and commits per request"
    );
    // A 10,000-PR repository: 200 requests, far below 5,000.
    assert!(per_thousand * 10.0 <= 5000.0);
}

// ------------------------------------------------ against the documented API
//
// `flowmeter_testkit::github` models GitHub from its documentation (REST
// paging, GraphQL connections, rate-limit answers, App installation tokens),
// not from this connector.

mod documented_api {
    use super::*;
    use flowmeter_testkit::github::{Commit, Fault, FaultTarget, MockGitHub, Org};

    #[cfg(feature = "app")]
    const KEY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/github-app/test-app-key.pem"
    );

    /// The App 4242 with the test key, against `mock`, retrying fast; no
    /// organisation or repositories yet.
    #[cfg(feature = "app")]
    fn app_config(mock: &MockGitHub) -> GitHubConfig {
        GitHubConfig {
            api_url: mock.uri(),
            app_id: Some(4242),
            app_private_key_file: Some(KEY.into()),
            retry_base_ms: 1,
            max_retries: 3,
            ..GitHubConfig::default()
        }
    }

    fn since_2024() -> SyncContext {
        SyncContext {
            since: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            full: false,
        }
    }

    fn cfg(mock: &MockGitHub, env: &str) -> GitHubConfig {
        config(&mock.uri(), env, &["acme/shop"])
    }

    /// The pull request `number` among the synced events.
    fn synced_pr(
        batches: &[flowmeter_connector::SyncBatch],
        number: u64,
    ) -> Option<flowmeter_model::PullRequest> {
        batches
            .iter()
            .flat_map(|b| b.events.iter())
            .find_map(|e| match e {
                Event::PullRequest(p) if p.number == number as i64 => Some(p.clone()),
                _ => None,
            })
    }

    fn count<F: Fn(&Event) -> bool>(batches: &[flowmeter_connector::SyncBatch], f: F) -> usize {
        batches
            .iter()
            .flat_map(|b| b.events.iter())
            .filter(|e| f(e))
            .count()
    }

    /// A first sync of a repository with 10,000 pull requests and 10,000
    /// deployments. Before: one REST request per deployment for its
    /// statuses (10,000+ requests, two hours of GitHub's 5,000/h).
    /// Without the `app` feature, `app_id` is refused with a clear error
    /// rather than ignored.
    #[cfg(not(feature = "app"))]
    #[test]
    fn app_id_without_app_support_says_how_to_get_it() {
        let config = GitHubConfig {
            app_id: Some(1),
            repos: vec!["acme/shop".into()],
            ..GitHubConfig::default()
        };
        let err = GitHubConnector::new(config).unwrap_err().to_string();
        assert!(err.contains("`app` feature"), "{err}");
    }

    /// An issue opened as an incident by mistake and un-labelled before the
    /// next sync is withdrawn by it (else it counts as a failure for
    /// good); an issue labelled `Incident` (any case) between syncs is
    /// delivered.
    #[tokio::test]
    async fn an_issue_whose_incident_label_is_removed_is_withdrawn() {
        use flowmeter_testkit::github::Issue;
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 2, 0)).await;
        let at = Utc::now() - chrono::Duration::hours(2);
        let issue = |number, label: &str| Issue {
            number,
            title: "Checkout is down".into(),
            user: "ana".into(),
            labels: vec![label.into()],
            state: "open".into(),
            created_at: at,
            updated_at: at,
            closed_at: None,
            is_pull_request: false,
        };
        let (mistake, later) = mock
            .with_repo("shop", |r| {
                let n = r.next_number();
                r.add_issue(issue(n, "incident"));
                r.add_issue(issue(n + 1, "bug"));
                (format!("acme/shop#{n}"), format!("acme/shop#{}", n + 1))
            })
            .expect("the repo exists");
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_UNLABEL")).unwrap();
        let first = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        assert_eq!(incident_ids(&first), std::slice::from_ref(&mistake));
        assert!(first.iter().all(|b| b.withdrawn.is_empty()));

        let now = Utc::now();
        mock.with_repo("shop", |r| {
            for i in r.issues.iter_mut() {
                let id = format!("acme/shop#{}", i.number);
                if id == mistake {
                    i.labels = vec!["bug".into()];
                    i.updated_at = now;
                } else if id == later {
                    i.labels = vec!["Incident".into()];
                    i.updated_at = now;
                }
            }
        })
        .expect("the repo exists");
        let cursor = first.last().map(|b| b.cursor.clone());
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_UNLABEL")).unwrap();
        let second = run_to_completion(&mut c, &since_2024(), cursor)
            .await
            .unwrap();
        let withdrawn: Vec<String> = second.iter().flat_map(|b| b.withdrawn.clone()).collect();
        assert_eq!(withdrawn, [mistake]);
        assert_eq!(incident_ids(&second), [later]);
    }

    /// An incident issue edited while a sync reads the list (by update time,
    /// 100 a page) moves to its end; paged by offset, the issue after the
    /// first page slid onto it and was never read. Paged by time, none is
    /// missed, and none is read twice.
    #[tokio::test]
    async fn an_issue_edited_during_a_sync_hides_none_of_the_others() {
        use flowmeter_testkit::github::Issue;
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 1, 0)).await;
        let start = Utc::now() - chrono::Duration::days(20);
        let numbers: Vec<u64> = mock
            .with_repo("shop", |r| {
                (0..150)
                    .map(|i| {
                        let n = r.next_number();
                        let at = start + chrono::Duration::minutes(10 * i);
                        r.add_issue(Issue {
                            number: n,
                            title: format!("Outage {i}"),
                            user: "ana".into(),
                            labels: vec!["incident".into()],
                            state: "closed".into(),
                            created_at: at,
                            updated_at: at,
                            closed_at: Some(at),
                            is_pull_request: false,
                        });
                        n
                    })
                    .collect()
            })
            .expect("the repo exists");
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_MIDPASS")).unwrap();
        let (mut cursor, mut read) = (None, Vec::new());
        while let Some(batch) = c.next_batch(&since_2024(), cursor.as_ref()).await.unwrap() {
            let first_page = read.is_empty();
            read.extend(batch.events.iter().filter_map(|e| match e {
                Event::Incident(i) => i.id.rsplit('#').next()?.parse::<u64>().ok(),
                _ => None,
            }));
            if first_page && !read.is_empty() {
                let now = Utc::now();
                mock.with_repo("shop", |r| {
                    let first = r.issues.iter_mut().find(|i| i.number == numbers[0]);
                    first.expect("issue").updated_at = now;
                });
            }
            cursor = Some(batch.cursor);
        }
        let missed: Vec<&u64> = numbers.iter().filter(|n| !read.contains(n)).collect();
        assert!(missed.is_empty(), "never read: {missed:?}");
        assert_eq!(read.len(), 151, "each once, and the edited one again");
    }

    /// A pull request with 230 commits and 130 reviews: GitHub pages each
    /// list by 100; every commit (which decides the PR of each change) and
    /// every review is read.
    #[tokio::test]
    async fn a_long_pull_request_keeps_all_its_commits_and_reviews() {
        use flowmeter_testkit::github::{Commit, Review};
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 3, 0)).await;
        let number = mock
            .with_repo("shop", |r| {
                let number = r.pull(1).map(|p| p.number).unwrap_or(1);
                let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
                let shas: Vec<String> = (0..230)
                    .map(|i| {
                        r.insert_commit(Commit::new(
                            format!("step {i}"),
                            "ann",
                            start + chrono::Duration::minutes(i),
                        ))
                    })
                    .collect();
                let first_review_id = r.next_review_id();
                let reviews: Vec<Review> = (0..130u64)
                    .map(|i| Review {
                        id: first_review_id + i,
                        node_id: format!("PRR_long_{i}"),
                        author: "bob".into(),
                        state: "COMMENTED".into(),
                        submitted_at: Some(start + chrono::Duration::hours(5 + i as i64)),
                    })
                    .collect();
                let p = r.pull_mut(number).expect("the synthetic repo has pull 1");
                p.commits = shas;
                p.reviews = reviews;
                number
            })
            .expect("the repo exists");
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_LONG")).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let pr = synced_pr(&batches, number).expect("the long pull request is synced");
        assert_eq!(pr.commits.as_ref().map(Vec::len), Some(230));
        assert_eq!(
            pr.first_commit_at,
            Some(Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap())
        );
        assert!(!pr.extra.contains_key("commits_total"), "{:?}", pr.extra);
        let reviews = count(
            &batches,
            |e| matches!(e, Event::Review(r) if r.pr == number as i64),
        );
        assert_eq!(reviews, 130);
    }

    /// A pull request with 130 labels, the rework label last: GitHub pages
    /// a PR's labels by 100 at most; every label is read, so the PR still
    /// marks its deployment as rework.
    #[tokio::test]
    async fn a_pull_request_with_many_labels_keeps_them_all() {
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 3, 0)).await;
        let number = mock
            .with_repo("shop", |r| {
                let p = r.pull_mut(1).expect("the synthetic repo has pull 1");
                p.labels = (0..129).map(|i| format!("area-{i:03}")).collect();
                p.labels.push("bug".into());
                p.number
            })
            .expect("the repo exists");
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_LABELS")).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let pr = synced_pr(&batches, number).expect("the pull request is synced");
        assert_eq!(pr.labels.len(), 130);
        assert_eq!(pr.labels.last().map(String::as_str), Some("bug"));
    }

    /// `code_owners = true`: each pull request carries its changed files
    /// (all 150 of a long one: GraphQL pages them by 100) and their owners
    /// by `.github/CODEOWNERS` (contents API, base64 in lines). Without
    /// it, neither is asked for.
    #[tokio::test]
    async fn code_owners_give_pull_requests_their_files_and_owners() {
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 3, 0)).await;
        let long: Vec<String> = (0..149).map(|i| format!("docs/page-{i:03}.md")).collect();
        mock.with_repo("shop", |r| {
            r.contents.insert(
                ".github/CODEOWNERS".into(),
                "# who reviews what\n* @acme/platform\n/services/billing/ @acme/payments ana@acme.com\ndocs/ @acme/writers\n".into(),
            );
            let p = r.pull_mut(1).expect("pull 1");
            p.files = vec!["services/billing/api.rs".into(), "README.md".into()];
            let p = r.pull_mut(2).expect("pull 2");
            p.files = long.clone();
            p.files.push("services/billing/db.rs".into());
        })
        .expect("the repo exists");
        let mut cfg = cfg(&mock, "FM_GH_DOC_OWNERS");
        cfg.code_owners = true;
        let mut c = GitHubConnector::new(cfg).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let one = synced_pr(&batches, 1).expect("pull 1");
        assert_eq!(
            one.files,
            strings(&["services/billing/api.rs", "README.md"])
        );
        assert_eq!(
            one.owners,
            strings(&["@acme/payments", "@acme/platform", "ana@acme.com"])
        );
        let two = synced_pr(&batches, 2).expect("pull 2");
        assert_eq!(two.files.as_ref().map(Vec::len), Some(150));
        assert_eq!(
            two.owners,
            strings(&["@acme/payments", "@acme/writers", "ana@acme.com"])
        );
        // A pull request that changed nothing listed has no owners.
        let three = synced_pr(&batches, 3).expect("pull 3");
        assert_eq!((three.files, three.owners), (Some(vec![]), Some(vec![])));

        // Off (the default): no files and no owners.
        let mut c =
            GitHubConnector::new(super::documented_api::cfg(&mock, "FM_GH_DOC_OWNERS")).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let one = synced_pr(&batches, 1).expect("pull 1");
        assert_eq!((one.files, one.owners), (None, None));
    }

    /// `code_owners = true`: a commit pushed straight to the branch gets its
    /// files from "Get a commit" and their owners; a pull request's merge or
    /// squash commit is not asked for (its files come with the pull
    /// request).
    #[tokio::test]
    async fn code_owners_give_direct_pushes_their_files_and_owners() {
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 2, 0)).await;
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap();
        let sha = mock
            .with_repo("shop", |r| {
                r.contents.insert(
                    ".github/CODEOWNERS".into(),
                    "* @acme/platform\n/services/billing/ @acme/payments\n".into(),
                );
                // 450 files: GitHub lists them 300 a page.
                let mut files: Vec<String> = (0..448).map(|i| format!("docs/p{i:03}.md")).collect();
                files.push("services/billing/config.yml".into());
                files.push("services/billing/api.rs".into());
                let push = Commit::new("Raise the billing timeout", "ana", at).with_files(files);
                r.push(push)
            })
            .expect("the repo exists");
        let mut cfg = cfg(&mock, "FM_GH_DOC_PUSH_OWNERS");
        cfg.code_owners = true;
        let mut c = GitHubConnector::new(cfg).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let commits: Vec<_> = (batches.iter().flat_map(|b| &b.events))
            .filter_map(|e| match e {
                Event::Commit(c) => Some(c),
                _ => None,
            })
            .collect();
        let pushed = commits.iter().find(|c| c.sha == sha).expect("the push");
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let files = pushed.files.as_ref().expect("files");
        assert_eq!(files.len(), 450, "both pages of the commit's files");
        assert!(files.contains(&"services/billing/api.rs".to_string()));
        assert_eq!(
            pushed.owners,
            strings(&["@acme/payments", "@acme/platform"])
        );
        // Direct pushes (this one, the repository's first commit) were asked
        // for their files; the pull requests' merge commits were not.
        let asked: Vec<_> = (mock.requests().into_iter())
            .filter_map(|r| {
                r.path
                    .strip_prefix("/repos/acme/shop/commits/")
                    .map(str::to_string)
            })
            .collect();
        assert!(asked.contains(&sha), "{asked:?}");
        let by_pr = |c: &&&flowmeter_model::Commit| {
            let m = c.message.as_deref().unwrap_or_default();
            m.starts_with("Merge pull request #") || m.ends_with(')') && m.contains("(#")
        };
        let merges: Vec<_> = commits.iter().filter(by_pr).collect();
        assert!(!merges.is_empty());
        for merge in merges {
            assert!(!asked.contains(&merge.sha), "{}", merge.sha);
            assert_eq!(merge.files, None);
        }
    }

    /// A repository without CODEOWNERS: the files are kept, the owners are
    /// unknown (not an empty list), and the sync goes on.
    #[tokio::test]
    async fn without_codeowners_pull_requests_keep_their_files() {
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 1, 0)).await;
        mock.with_repo("shop", |r| {
            r.pull_mut(1).expect("pull 1").files = vec!["a.rs".into()];
        })
        .expect("the repo exists");
        let mut cfg = cfg(&mock, "FM_GH_DOC_NO_OWNERS");
        cfg.code_owners = true;
        let mut c = GitHubConnector::new(cfg).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let one = synced_pr(&batches, 1).expect("pull 1");
        assert_eq!(one.files, Some(vec!["a.rs".to_string()]));
        assert_eq!(one.owners, None);
    }

    #[tokio::test]
    async fn ten_thousand_prs_and_deployments_in_at_most_500_requests() {
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 10_000, 10_000)).await;
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_BIG")).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let deployments = count(&batches, |e| matches!(e, Event::Deployment(_)));
        let prs = count(&batches, |e| matches!(e, Event::PullRequest(_)));
        let reqs = mock.requests();
        let by = |f: &dyn Fn(&flowmeter_testkit::github::RecordedRequest) -> bool| {
            reqs.iter().filter(|r| f(r)).count()
        };
        let graphql_deployments = by(&|r| {
            r.graphql_connection
                .as_deref()
                .is_some_and(|c| c.contains("deployments"))
        });
        let graphql_prs = by(&|r| {
            r.graphql_connection
                .as_deref()
                .is_some_and(|c| c.contains("pullRequests"))
        });
        let commits = by(&|r| r.path.ends_with("/commits"));
        let statuses = by(&|r| r.path.ends_with("/statuses"));
        eprintln!(
            "10,000 PRs + 10,000 deployments: {} requests ({graphql_deployments} GraphQL deployment pages, {graphql_prs} GraphQL PR pages, {commits} commit pages, {statuses} status lists)",
            reqs.len()
        );
        assert_eq!(deployments, 10_000);
        assert_eq!(prs, 10_000);
        assert_eq!(statuses, 0, "statuses come with their deployments");
        assert!(reqs.len() <= 500, "{} requests", reqs.len());
    }

    /// Deployments read through GraphQL map exactly as through REST:
    /// finished at the first success, failure/error failed, else running.
    #[tokio::test]
    async fn graphql_deployments_keep_their_outcome_and_time() {
        let org = Org::synthetic(3, "acme/shop", 40, 30);
        let expected: Vec<(String, Option<String>)> = org.repos[0]
            .deployments
            .iter()
            .map(|d| {
                let first_success = d
                    .statuses
                    .iter()
                    .filter(|s| s.state == "success")
                    .map(|s| s.created_at)
                    .min();
                (d.id.to_string(), first_success.map(|t| t.to_rfc3339()))
            })
            .collect();
        let mock = MockGitHub::start(org).await;
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_DEP")).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        for (id, success_at) in expected {
            let d = batches
                .iter()
                .flat_map(|b| b.events.iter())
                .find_map(|e| match e {
                    Event::Deployment(d) if d.id == id => Some(d.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("deployment {id} missing"));
            match success_at {
                Some(t) => {
                    assert_eq!(d.status, DeploymentStatus::Success, "{id}");
                    assert_eq!(d.finished_at.map(|f| f.to_rfc3339()), Some(t), "{id}");
                }
                None => assert_ne!(d.status, DeploymentStatus::Success, "{id}"),
            }
        }
    }

    /// Regression: GitHub answered a GraphQL page with `"type":
    /// "RATE_LIMIT"` and the repository was skipped for the sync.
    #[tokio::test]
    async fn a_rate_limit_answer_waits_and_loses_nothing() {
        for fault in [Fault::GraphqlRateLimit, Fault::GraphqlRateLimited] {
            let org = Org::synthetic(5, "acme/shop", 60, 10);
            let mock = MockGitHub::start(org).await;
            mock.inject_for(
                fault.clone(),
                2,
                FaultTarget::GraphqlConnection("pullRequests".into()),
            );
            let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_RL")).unwrap();
            let batches = run_to_completion(&mut c, &since_2024(), None)
                .await
                .unwrap();
            let notes: Vec<&String> = batches.iter().flat_map(|b| b.notes.iter()).collect();
            assert!(
                notes.iter().all(|n| !n.contains("skipped")),
                "{fault:?}: {notes:?}"
            );
            assert_eq!(
                count(&batches, |e| matches!(e, Event::PullRequest(_))),
                60,
                "{fault:?}"
            );
            assert_eq!(mock.pending_faults(), 0);
        }
    }

    /// GitHub App authentication: octocrab signs the JWT, the mock issues
    /// installation tokens, every API request carries one; a token about to
    /// expire is replaced by a new one.
    #[cfg(feature = "app")]
    #[tokio::test]
    async fn syncs_as_a_github_app_installation_and_refreshes_its_token() {
        let org = Org::synthetic(9, "acme/shop", 20, 5);
        let mock = MockGitHub::start(org).await;
        mock.set_app(4242, 777);
        mock.require_installation_token(true);
        // Tokens that live 4 minutes: always within the 5-minute refresh
        // margin, so each request asks for a new one.
        mock.set_token_ttl(chrono::TimeDelta::minutes(4));
        let config = GitHubConfig {
            repos: vec!["acme/shop".into()],
            ..app_config(&mock)
        };
        let mut c = GitHubConnector::new(config).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        assert_eq!(count(&batches, |e| matches!(e, Event::PullRequest(_))), 20);
        let tokens = mock.issued_tokens();
        assert!(tokens.len() > 1, "tokens refreshed: {}", tokens.len());
        assert!(
            tokens.iter().all(|t| t.installation_id == 777),
            "discovered on the repository"
        );
        let api: Vec<_> = mock
            .requests()
            .into_iter()
            .filter(|r| !r.path.contains("/app/") && !r.path.ends_with("/installation"))
            .collect();
        assert!(!api.is_empty());
        assert!(
            api.iter().all(|r| r.status < 400),
            "every API request authorised"
        );
    }

    /// `org` names a user account with the App installed: the installation
    /// is the user's (`GET /users/{u}/installation`), and its repositories,
    /// private ones too, come from `GET /installation/repositories`
    /// (`GET /users/{u}/repos` lists only the public ones).
    #[cfg(feature = "app")]
    #[tokio::test]
    async fn a_github_app_on_a_user_account_syncs_its_private_repositories() {
        let mut org = Org::synthetic(9, "mona/site", 2, 0).as_user();
        let mut billing = Org::synthetic(10, "mona/billing", 2, 0).repos.remove(0);
        billing.private = true;
        org.repos.push(billing);
        let mock = MockGitHub::start(org).await;
        mock.set_app(4242, 778);
        mock.require_installation_token(true);
        let config = GitHubConfig {
            org: Some("mona".into()),
            ..app_config(&mock)
        };
        let mut c = GitHubConnector::new(config).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        assert_eq!(synced_repos(&batches), ["mona/billing", "mona/site"]);
        assert_eq!(count(&batches, |e| matches!(e, Event::PullRequest(_))), 4);
        let tokens = mock.issued_tokens();
        assert!(tokens.iter().all(|t| t.installation_id == 778));
    }

    #[cfg(feature = "app")]
    #[tokio::test]
    async fn a_bad_app_key_is_a_configuration_error() {
        let dir = std::env::temp_dir().join("flowmeter-bad-key.pem");
        std::fs::write(&dir, "not a key").unwrap();
        let config = GitHubConfig {
            app_id: Some(1),
            app_private_key_file: Some(dir),
            repos: vec!["acme/shop".into()],
            ..GitHubConfig::default()
        };
        let err = GitHubConnector::new(config).unwrap_err().to_string();
        assert!(err.contains("private key") && err.contains("PEM"), "{err}");
    }

    fn incident_ids(batches: &[flowmeter_connector::SyncBatch]) -> Vec<String> {
        (batches.iter().flat_map(|b| b.events.iter()))
            .filter_map(|e| match e {
                Event::Incident(i) => Some(i.id.clone()),
                _ => None,
            })
            .collect()
    }

    /// An issues-only incident tracker has no commits: GitHub answers its
    /// commit list with 409 "Git Repository is empty.", and its incidents
    /// (read after the commits) are still synced, with nothing to note.
    #[tokio::test]
    async fn an_empty_repository_still_syncs_its_incident_issues() {
        use flowmeter_testkit::github::{Issue, Repo};
        let org = Org::synthetic(7, "acme/shop", 1, 0).with_repo(Repo::new("acme", "incidents"));
        let mock = MockGitHub::start(org).await;
        let at = Utc::now() - chrono::Duration::hours(3);
        mock.with_repo("incidents", |r| {
            r.add_issue(Issue::new(1, "Checkout is down", "ana", at).label("incident"))
        })
        .expect("the repo exists");
        let repos = ["acme/incidents", "acme/shop"];
        let mut c = GitHubConnector::new(config(&mock.uri(), "FM_GH_DOC_EMPTY", &repos)).unwrap();
        let batches = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        assert_eq!(incident_ids(&batches), ["acme/incidents#1"]);
        let notes = notes(&batches);
        assert!(
            notes.iter().all(|n| n.contains("no deployments")),
            "{notes:?}"
        );
    }

    /// A deployment still running at the last sync and deleted since
    /// (GitHub deletes an environment's deployments with it): its re-read
    /// finds nothing, and the repository's other streams still sync.
    #[tokio::test]
    async fn a_running_deployment_deleted_between_syncs_is_let_go() {
        use flowmeter_testkit::github::{Deployment, DeploymentStatus, Issue};
        let mock = MockGitHub::start(Org::synthetic(7, "acme/shop", 2, 0)).await;
        let now = Utc::now();
        let deployment = |r: &flowmeter_testkit::github::Repo, id, days, state: &str| {
            let at = now - chrono::Duration::days(days);
            Deployment {
                id,
                sha: r.head().expect("commits").to_string(),
                git_ref: "main".into(),
                task: "deploy".into(),
                environment: "production".into(),
                description: None,
                created_at: at,
                updated_at: at,
                creator: "github-actions[bot]".into(),
                production_environment: true,
                transient_environment: false,
                statuses: vec![DeploymentStatus {
                    id: id * 10,
                    state: state.into(),
                    created_at: at,
                    log_url: None,
                    environment_url: None,
                    description: None,
                }],
            }
        };
        mock.with_repo("shop", |r| {
            let (running, done) = (
                deployment(r, 901, 10, "in_progress"),
                deployment(r, 902, 1, "success"),
            );
            r.add_deployment(running);
            r.add_deployment(done);
        })
        .expect("the repo exists");
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_DELETED")).unwrap();
        let first = run_to_completion(&mut c, &since_2024(), None)
            .await
            .unwrap();
        let running = count(
            &first,
            |e| matches!(e, Event::Deployment(d) if d.id.ends_with("901")),
        );
        assert_eq!(running, 1);

        let later = now - chrono::Duration::hours(1);
        mock.with_repo("shop", |r| {
            r.deployments.retain(|d| d.id != 901);
            let n = r.next_number();
            r.add_issue(Issue::new(n, "Checkout is down", "ana", later).label("incident"));
        })
        .expect("the repo exists");
        let cursor = first.last().map(|b| b.cursor.clone());
        let mut c = GitHubConnector::new(cfg(&mock, "FM_GH_DOC_DELETED")).unwrap();
        let second = run_to_completion(&mut c, &since_2024(), cursor)
            .await
            .unwrap();
        assert!(notes(&second).is_empty(), "{:?}", notes(&second));
        assert_eq!(
            incident_ids(&second).len(),
            1,
            "the incidents after it still sync"
        );
    }
}
