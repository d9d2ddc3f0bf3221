//! The GitLab connector against a local mock of the REST API v4, serving
//! payloads shaped like GitLab's documented responses (deployments, merge
//! requests, MR commits and notes, incident issues, repository commits,
//! group projects), with `x-next-page` and `Link` paging. No network.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use flowmeter_connector::conformance::{self, run_to_completion};
use flowmeter_connector::{Connector, ConnectorError, SyncBatch, SyncContext};
use flowmeter_gitlab::{GitLabConfig, GitLabConnector};
use flowmeter_model::{DeploymentStatus, Event, ReviewState};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "glpat-s3cr3t-token-value";
const P: &str = "/api/v4/projects/acme%2Fweb";

fn ctx() -> SyncContext {
    SyncContext::since(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

fn config(server: &MockServer, env: &str) -> GitLabConfig {
    std::env::set_var(env, TOKEN);
    GitLabConfig {
        api_url: format!("{}/api/v4", server.uri()),
        token_env: env.to_string(),
        projects: vec!["acme/web".into()],
        retry_base_ms: 1,
        max_retries: 3,
        ..GitLabConfig::default()
    }
}

fn events(batches: &[SyncBatch]) -> Vec<Event> {
    batches.iter().flat_map(|b| b.events.clone()).collect()
}

fn user(name: &str) -> Value {
    json!({"id": 1, "username": name, "name": name, "state": "active",
           "avatar_url": "https://gitlab.example/uploads/a.png", "web_url": format!("https://gitlab.example/{name}")})
}

fn deployment(
    id: u64,
    sha: &str,
    env: &str,
    status: &str,
    updated: &str,
    finished: Option<&str>,
) -> Value {
    json!({
        "id": id, "iid": id, "ref": "main", "sha": sha,
        "created_at": updated, "updated_at": updated, "status": status,
        "user": user("deployer"),
        "environment": {"id": 9, "name": env, "external_url": "https://shop.example"},
        "deployable": {
            "id": 600 + id, "status": status, "stage": "deploy", "name": "deploy", "ref": "main",
            "tag": false, "coverage": null, "created_at": updated, "started_at": updated,
            "finished_at": finished, "duration": 12.5, "user": user("deployer"),
            "commit": {"id": sha, "short_id": &sha[..8], "title": "Deploy"},
            "pipeline": {"id": 700 + id, "sha": sha, "ref": "main", "status": status},
            "web_url": format!("https://gitlab.example/acme/web/-/jobs/{}", 600 + id)
        }
    })
}

fn commit(sha: &str, parents: &[&str], authored: &str, committed: &str, title: &str) -> Value {
    json!({
        "id": sha, "short_id": &sha[..8], "created_at": committed, "parent_ids": parents,
        "title": title, "message": format!("{title}\n\nbody"), "author_name": "Ann",
        "author_email": "ann@example.com", "authored_date": authored, "committer_name": "Ann",
        "committer_email": "ann@example.com", "committed_date": committed, "trailers": {},
        "web_url": format!("https://gitlab.example/acme/web/-/commit/{sha}")
    })
}

#[allow(clippy::too_many_arguments)]
fn merge_request(
    iid: i64,
    created: &str,
    updated: &str,
    merged: Option<&str>,
    draft: bool,
    squash: Option<&str>,
    merge_sha: Option<&str>,
    labels: &[&str],
) -> Value {
    json!({
        "id": 1000 + iid, "iid": iid, "project_id": 7, "title": format!("Change {iid}"),
        "description": "", "state": if merged.is_some() { "merged" } else { "opened" },
        "created_at": created, "updated_at": updated, "merged_by": user("bob"), "merge_user": user("bob"),
        "merged_at": merged, "closed_by": null, "closed_at": null,
        "target_branch": "main", "source_branch": format!("feature-{iid}"),
        "user_notes_count": 1, "upvotes": 0, "downvotes": 0, "author": user("ann"),
        "assignees": [], "reviewers": [user("bob")], "source_project_id": 7, "target_project_id": 7,
        "labels": labels, "draft": draft, "work_in_progress": draft, "milestone": null,
        "merge_when_pipeline_succeeds": false, "merge_status": "can_be_merged",
        "detailed_merge_status": "mergeable", "sha": "f00df00df00df00df00df00df00df00df00df00d",
        "merge_commit_sha": merge_sha, "squash_commit_sha": squash, "squash": squash.is_some(),
        "reference": format!("!{iid}"), "web_url": format!("https://gitlab.example/acme/web/-/merge_requests/{iid}")
    })
}

fn note(id: u64, author: &str, body: &str, system: bool, at: &str) -> Value {
    json!({
        "id": id, "type": null, "body": body, "attachment": null, "author": user(author),
        "created_at": at, "updated_at": at, "system": system, "noteable_id": 1001,
        "noteable_type": "MergeRequest", "project_id": 7, "resolvable": false,
        "confidential": false, "internal": false, "noteable_iid": 1
    })
}

fn incident(
    iid: i64,
    labels: &[&str],
    created: &str,
    updated: &str,
    closed: Option<&str>,
) -> Value {
    json!({
        "id": 5000 + iid, "iid": iid, "project_id": 7, "title": format!("Checkout down {iid}"),
        "description": "", "state": if closed.is_some() { "closed" } else { "opened" },
        "created_at": created, "updated_at": updated, "closed_at": closed, "closed_by": null,
        "labels": labels, "milestone": null, "assignees": [], "author": user("oncall"),
        "type": "INCIDENT", "issue_type": "incident", "severity": "CRITICAL",
        "web_url": format!("https://gitlab.example/acme/web/-/issues/{iid}")
    })
}

/// The mock's data: items per list, filtered by time and paged like GitLab.
#[derive(Default)]
struct Upstream {
    lists: HashMap<&'static str, Vec<Value>>,
}

type Shared = Arc<Mutex<Upstream>>;

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

/// Serves `list` filtered by `time_param` >= on `field`, 2 items a page,
/// with `x-next-page` (empty on the last page) as GitLab sends it.
async fn mount_list(
    server: &MockServer,
    at: &str,
    list: &'static str,
    time_param: &'static str,
    field: &'static str,
    data: &Shared,
    calls: &Arc<AtomicUsize>,
) {
    let (data, calls) = (data.clone(), calls.clone());
    Mock::given(method("GET"))
        .and(path(at))
        .and(header("private-token", TOKEN))
        .respond_with(move |req: &Request| {
            calls.fetch_add(1, Ordering::SeqCst);
            let q: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
            let from: DateTime<Utc> = q[time_param].parse().unwrap();
            let page: usize = q.get("page").map(|p| p.parse().unwrap()).unwrap_or(1);
            let all: Vec<Value> = data
                .lock()
                .unwrap()
                .lists
                .get(list)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|i| i[field].as_str().unwrap().parse::<DateTime<Utc>>().unwrap() >= from)
                .collect();
            let per = 2;
            let chunk: Vec<Value> = all
                .iter()
                .skip((page - 1) * per)
                .take(per)
                .cloned()
                .collect();
            let next = if page * per < all.len() {
                (page + 1).to_string()
            } else {
                String::new()
            };
            ok(Value::Array(chunk))
                .insert_header("x-next-page", next.as_str())
                .insert_header("x-page", page.to_string().as_str())
                .insert_header("x-per-page", "2")
        })
        .mount(server)
        .await;
}

async fn mount_web(server: &MockServer, data: &Shared) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path(P))
        .respond_with(ok(json!({"id": 7, "path_with_namespace": "acme/web", "default_branch": "main", "archived": false})))
        .mount(server)
        .await;
    mount_list(
        server,
        &format!("{P}/deployments"),
        "deployments",
        "updated_after",
        "updated_at",
        data,
        &calls,
    )
    .await;
    mount_list(
        server,
        &format!("{P}/merge_requests"),
        "merge_requests",
        "updated_after",
        "updated_at",
        data,
        &calls,
    )
    .await;
    mount_list(
        server,
        &format!("{P}/issues"),
        "issues",
        "updated_after",
        "updated_at",
        data,
        &calls,
    )
    .await;
    mount_list(
        server,
        &format!("{P}/repository/commits"),
        "commits",
        "since",
        "committed_date",
        data,
        &calls,
    )
    .await;
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/api/v4/projects/acme%2Fweb/merge_requests/\d+/commits$",
        ))
        .respond_with(|req: &Request| {
            let iid = req.url.path().split('/').nth(6).unwrap().to_string();
            ok(json!([commit(
                &format!("{iid}{}", "c".repeat(40 - iid.len())),
                &[],
                "2026-02-01T08:00:00Z",
                "2026-02-01T08:00:00Z",
                "wip"
            )]))
        })
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/api/v4/projects/acme%2Fweb/merge_requests/\d+/notes$",
        ))
        .respond_with(|_req: &Request| {
            ok(json!([
                note(
                    11,
                    "ann",
                    "marked this merge request as **ready**",
                    true,
                    "2026-02-01T12:00:00Z"
                ),
                note(
                    12,
                    "bob",
                    "Looks good, one nit",
                    false,
                    "2026-02-01T13:00:00Z"
                ),
                note(13, "ann", "Fixed the nit", false, "2026-02-01T13:30:00Z"),
                note(
                    14,
                    "bob",
                    "approved this merge request",
                    true,
                    "2026-02-01T14:00:00Z"
                ),
                note(15, "bob", "added 1 commit", true, "2026-02-01T14:10:00Z"),
            ]))
        })
        .mount(server)
        .await;
    calls
}

fn web_data() -> Shared {
    let mut u = Upstream::default();
    u.lists.insert(
        "deployments",
        vec![
            deployment(
                1,
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "production",
                "success",
                "2026-02-02T10:05:00Z",
                Some("2026-02-02T10:04:00Z"),
            ),
            deployment(
                2,
                "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "production",
                "failed",
                "2026-02-03T10:05:00Z",
                None,
            ),
            deployment(
                3,
                "cccccccccccccccccccccccccccccccccccccccc",
                "staging",
                "canceled",
                "2026-02-04T10:05:00Z",
                None,
            ),
            deployment(
                4,
                "dddddddddddddddddddddddddddddddddddddddd",
                "production",
                "running",
                "2026-02-05T10:05:00Z",
                None,
            ),
            deployment(
                5,
                "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                "production",
                "success",
                "2026-02-06T10:05:00Z",
                Some("2026-02-06T10:03:00Z"),
            ),
        ],
    );
    u.lists.insert(
        "merge_requests",
        vec![
            merge_request(
                1,
                "2026-02-01T09:00:00Z",
                "2026-02-02T09:00:00Z",
                Some("2026-02-02T09:00:00Z"),
                false,
                Some("5555555555555555555555555555555555555555"),
                Some("6666666666666666666666666666666666666666"),
                &["bug"],
            ),
            merge_request(
                2,
                "2026-02-01T09:00:00Z",
                "2026-02-03T09:00:00Z",
                Some("2026-02-03T09:00:00Z"),
                false,
                None,
                Some("7777777777777777777777777777777777777777"),
                &[],
            ),
            merge_request(
                3,
                "2026-02-04T09:00:00Z",
                "2026-02-04T10:00:00Z",
                None,
                true,
                None,
                None,
                &[],
            ),
        ],
    );
    u.lists.insert(
        "issues",
        vec![
            {
                // A root cause in the description, as Four Keys reads it.
                let mut one = incident(
                    1,
                    &["incident", "service::checkout"],
                    "2026-02-03T11:00:00Z",
                    "2026-02-03T13:00:00Z",
                    Some("2026-02-03T12:30:00Z"),
                );
                one["description"] = json!("Checkout down.\n\nroot cause: 5555555");
                one
            },
            incident(
                2,
                &["incident"],
                "2026-02-06T11:00:00Z",
                "2026-02-06T11:00:00Z",
                None,
            ),
        ],
    );
    u.lists.insert(
        "commits",
        vec![
            commit(
                "7777777777777777777777777777777777777777",
                &["5555555555555555555555555555555555555555"],
                "2026-02-03T08:00:00Z",
                "2026-02-03T09:00:00Z",
                "Merge branch 'feature-2'",
            ),
            commit(
                "5555555555555555555555555555555555555555",
                &["0000000000000000000000000000000000000000"],
                "2026-02-01T08:00:00Z",
                "2026-02-02T09:00:00Z",
                "Change 1",
            ),
            commit(
                "0000000000000000000000000000000000000000",
                &[],
                "2026-01-20T08:00:00Z",
                "2026-01-20T08:00:00Z",
                "Initial",
            ),
        ],
    );
    Arc::new(Mutex::new(u))
}

#[tokio::test]
async fn a_full_resync_reads_every_page_once_and_finishes() {
    // `sync --full` ignores the stored cursor, not the one each batch of
    // the same run hands back: a pass of several pages must move on.
    let server = MockServer::start().await;
    mount_web(&server, &web_data()).await;
    let mut c = GitLabConnector::new(config(&server, "GL_TEST_FULL_RESYNC")).unwrap();
    let first = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let stored = first.last().map(|b| b.cursor.clone());
    let full = SyncContext {
        full: true,
        ..ctx()
    };
    let mut c = GitLabConnector::new(config(&server, "GL_TEST_FULL_RESYNC")).unwrap();
    let again = run_to_completion(&mut c, &full, stored)
        .await
        .expect("a full resync finishes");
    assert_eq!(again.len(), first.len(), "the same pages, each once");
    assert_eq!(events(&again), events(&first));
}

#[tokio::test]
async fn full_sync_maps_every_stream_across_pages() {
    let server = MockServer::start().await;
    let data = web_data();
    mount_web(&server, &data).await;
    let mut c = GitLabConnector::new(config(&server, "GL_TEST_FULL")).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    assert!(
        batches.len() >= 8,
        "several pages per stream: {}",
        batches.len()
    );
    let evs = events(&batches);

    let deps = conformance::deployments(&batches);
    assert_eq!(deps.len(), 5, "every page of deployments");
    let d1 = deps.iter().find(|d| d.id == "1").unwrap();
    assert_eq!(d1.status, DeploymentStatus::Success);
    assert_eq!(d1.service, "acme/web");
    assert_eq!(
        d1.finished_at.unwrap().to_rfc3339(),
        "2026-02-02T10:04:00+00:00",
        "the job's finished_at"
    );
    let d2 = deps.iter().find(|d| d.id == "2").unwrap();
    assert_eq!(d2.status, DeploymentStatus::Failure);
    assert!(
        d2.finished_at.is_some(),
        "a failed deployment has a finish time"
    );
    assert_eq!(
        deps.iter().find(|d| d.id == "3").unwrap().status,
        DeploymentStatus::Cancelled
    );
    assert_eq!(
        deps.iter().find(|d| d.id == "4").unwrap().status,
        DeploymentStatus::InProgress
    );

    let prs: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::PullRequest(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(prs.len(), 3);
    // Regression: GitLab's default squash merge puts a squash commit AND a
    // merge commit on the target branch; taking the squash commit as the
    // landed one left the merge commit unlinked. Both belong to the MR.
    let squashed = prs.iter().find(|p| p.number == 1).unwrap();
    assert_eq!(
        squashed.merge_commit_sha.as_deref(),
        Some("6666666666666666666666666666666666666666"),
        "the merge commit landed"
    );
    assert!(
        squashed
            .commits
            .as_ref()
            .unwrap()
            .contains(&"5555555555555555555555555555555555555555".to_string()),
        "the squash commit belongs to the MR too: {:?}",
        squashed.commits
    );
    assert_eq!(squashed.labels, vec!["bug".to_string()]);
    assert_eq!(
        squashed.first_commit_at.unwrap().to_rfc3339(),
        "2026-02-01T08:00:00+00:00"
    );
    assert_eq!(
        squashed.ready_at.unwrap().to_rfc3339(),
        "2026-02-01T12:00:00+00:00",
        "from the ready system note"
    );
    let merged = prs.iter().find(|p| p.number == 2).unwrap();
    assert_eq!(
        merged.merge_commit_sha.as_deref(),
        Some("7777777777777777777777777777777777777777")
    );
    let draft = prs.iter().find(|p| p.number == 3).unwrap();
    assert_eq!(draft.extra.get("draft"), Some(&json!(true)));
    assert!(draft.merged_at.is_none() && draft.merge_commit_sha.is_none());

    let reviews: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Review(r) => Some(r),
            _ => None,
        })
        .filter(|r| r.pr == 1)
        .collect();
    assert_eq!(
        reviews.len(),
        2,
        "bob's comment and approval; ann's own comment and other system notes are not reviews"
    );
    assert!(reviews.iter().any(|r| r.state == ReviewState::Approved
        && r.author == "bob"
        && r.submitted_at.to_rfc3339() == "2026-02-01T14:00:00+00:00"));
    assert!(reviews
        .iter()
        .any(|r| r.state == ReviewState::Commented && r.author == "bob"));

    let incs: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Incident(i) => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(incs.len(), 2);
    let closed = incs.iter().find(|i| i.id == "acme/web#1").unwrap();
    assert_eq!(closed.services, vec!["checkout".to_string()]);
    assert_eq!(closed.severity.as_deref(), Some("critical"));
    assert_eq!(closed.root_cause.as_deref(), Some("5555555"));
    assert!(closed.resolved_at.is_some());
    assert!(incs
        .iter()
        .find(|i| i.id == "acme/web#2")
        .unwrap()
        .resolved_at
        .is_none());

    let commits: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Commit(c) => Some(c),
            _ => None,
        })
        .collect();
    let merge = commits.iter().find(|c| c.sha.starts_with('7')).unwrap();
    assert_eq!(
        merge.parents.as_ref().unwrap(),
        &vec!["5555555555555555555555555555555555555555".to_string()]
    );
    for e in &evs {
        conformance::check_event(e, "gitlab").unwrap();
    }
}

#[tokio::test]
async fn passes_the_conformance_harness() {
    let server = MockServer::start().await;
    let data = web_data();
    mount_web(&server, &data).await;
    let cfg = config(&server, "GL_TEST_CONFORMANCE");
    let report = conformance::check(|| GitLabConnector::new(cfg.clone()).unwrap(), &ctx())
        .await
        .unwrap();
    assert!(report.batches >= 8);
}

#[tokio::test]
async fn second_sync_fetches_only_what_changed() {
    let server = MockServer::start().await;
    let data = web_data();
    mount_web(&server, &data).await;
    let cfg = config(&server, "GL_TEST_INCREMENTAL");
    let first = run_to_completion(
        &mut GitLabConnector::new(cfg.clone()).unwrap(),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    let cursor = first.last().unwrap().cursor.clone();
    // Upstream: one new deployment, and incident 2 resolved.
    {
        let mut u = data.lock().unwrap();
        u.lists.get_mut("deployments").unwrap().push(deployment(
            6,
            "ffffffffffffffffffffffffffffffffffffffff",
            "production",
            "success",
            "2026-02-07T10:05:00Z",
            Some("2026-02-07T10:04:00Z"),
        ));
        let issues = u.lists.get_mut("issues").unwrap();
        issues[1] = incident(
            2,
            &["incident"],
            "2026-02-06T11:00:00Z",
            "2026-02-07T12:00:00Z",
            Some("2026-02-07T11:45:00Z"),
        );
    }
    let mut c = GitLabConnector::new(cfg).unwrap();
    let again = run_to_completion(&mut c, &ctx(), Some(cursor))
        .await
        .unwrap();
    let evs = events(&again);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Deployment(d) if d.id == "6")));
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Incident(i) if i.resolved_at.is_some())));
}

#[tokio::test]
async fn retries_429_and_502_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(P))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{P}/deployments")))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let data = web_data();
    mount_web(&server, &data).await;
    let mut c = GitLabConnector::new(config(&server, "GL_TEST_RETRY")).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    assert_eq!(
        events(&batches)
            .iter()
            .filter(|e| matches!(e, Event::Deployment(_)))
            .count(),
        5
    );
}

#[tokio::test]
async fn unauthorized_and_not_found_are_errors_a_user_can_act_on() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(P))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "401 Unauthorized"})),
        )
        .mount(&server)
        .await;
    let mut c = GitLabConnector::new(config(&server, "GL_TEST_401")).unwrap();
    let err = c.next_batch(&ctx(), None).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConnectorError::Unauthorized { .. }), "{msg}");
    assert!(msg.contains("GL_TEST_401") && !msg.contains(TOKEN), "{msg}");

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "404 Project Not Found"})),
        )
        .mount(&server)
        .await;
    let mut c = GitLabConnector::new(config(&server, "GL_TEST_404")).unwrap();
    let msg = c.next_batch(&ctx(), None).await.unwrap_err().to_string();
    assert!(
        msg.contains("`acme/web`") && msg.contains("read_api"),
        "{msg}"
    );
}

#[tokio::test]
async fn group_projects_are_listed_across_link_pages() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/api/v4/groups/acme/projects"))
        .respond_with(move |req: &Request| {
            let page = req.url.query_pairs().find(|(k, _)| k == "page").map(|(_, v)| v.into_owned()).unwrap_or_default();
            assert!(req.url.query().unwrap().contains("include_subgroups=true"));
            if page == "1" {
                ok(json!([{"id": 7, "path_with_namespace": "acme/web", "default_branch": "main", "archived": false}]))
                    .insert_header("link", format!("<{base}/api/v4/groups/acme/projects?page=2&per_page=100>; rel=\"next\"").as_str())
            } else {
                ok(json!([{"id": 8, "path_with_namespace": "acme/platform/api", "default_branch": "trunk", "archived": false}]))
            }
        })
        .mount(&server)
        .await;
    let data = web_data();
    mount_web(&server, &data).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let empty: Shared = Arc::new(Mutex::new(Upstream::default()));
    let api = "/api/v4/projects/acme%2Fplatform%2Fapi";
    for (list, param, field) in [
        ("deployments", "updated_after", "updated_at"),
        ("merge_requests", "updated_after", "updated_at"),
        ("issues", "updated_after", "updated_at"),
        ("repository/commits", "since", "committed_date"),
    ] {
        let name: &'static str = Box::leak(list.to_string().into_boxed_str());
        mount_list(
            &server,
            &format!("{api}/{list}"),
            name,
            param,
            field,
            &empty,
            &calls,
        )
        .await;
    }
    let mut cfg = config(&server, "GL_TEST_GROUP");
    cfg.projects.clear();
    cfg.group = Some("acme".into());
    let mut c = GitLabConnector::new(cfg).unwrap();
    let batches = run_to_completion(&mut c, &ctx(), None).await.unwrap();
    assert_eq!(
        events(&batches)
            .iter()
            .filter(|e| matches!(e, Event::Deployment(_)))
            .count(),
        5
    );
    assert!(
        calls.load(Ordering::SeqCst) >= 4,
        "the subgroup project's streams were read"
    );
}

#[tokio::test]
async fn a_group_syncs_its_archived_projects_and_not_those_shared_into_it() {
    // "List a group's projects": `with_shared` defaults to true (projects
    // other groups shared into this one), `archived` unset lists both.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/groups/acme/projects"))
        .respond_with(|req: &Request| {
            let q: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
            let project = |id: u64, p: &str, archived: bool| {
                json!({"id": id, "path_with_namespace": p, "default_branch": "main", "archived": archived})
            };
            let mut rows = vec![project(7, "acme/web", false)];
            if q.get("archived").map(String::as_str) != Some("false") {
                rows.push(project(9, "acme/legacy", true));
            }
            if q.get("with_shared").map(String::as_str) != Some("false") {
                rows.push(project(11, "other/lib", false));
            }
            ok(json!(rows))
        })
        .mount(&server)
        .await;
    // Every project list is empty; the paths asked tell which were synced.
    Mock::given(method("GET"))
        .and(path_regex("^/api/v4/projects/.+"))
        .respond_with(ok(json!([])))
        .mount(&server)
        .await;
    let mut cfg = config(&server, "GL_TEST_SHARED");
    cfg.projects.clear();
    cfg.group = Some("acme".into());
    let mut c = GitLabConnector::new(cfg).unwrap();
    run_to_completion(&mut c, &ctx(), None).await.unwrap();
    let asked: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    let synced = |p: &str| {
        asked
            .iter()
            .any(|a| a.starts_with(&format!("/api/v4/projects/{p}/")))
    };
    assert!(synced("acme%2Fweb"), "{asked:?}");
    assert!(
        synced("acme%2Flegacy"),
        "an archived project's history counts: {asked:?}"
    );
    assert!(
        !synced("other%2Flib"),
        "another group's project shared into this one: {asked:?}"
    );
}

// ------------------------------------------------ against the documented API
//
// `flowmeter_testkit::gitlab` models GitLab from its documentation (merge
// methods, newest-first MR commit lists with offset paging), not from this
// connector.

mod documented_api {
    use super::*;
    use chrono::Duration;
    use flowmeter_testkit::gitlab::{Instance, MockGitLab, Project, DEFAULT_TOKEN};

    fn config(mock: &MockGitLab, env: &str) -> GitLabConfig {
        std::env::set_var(env, DEFAULT_TOKEN);
        GitLabConfig {
            api_url: mock.api_base(),
            token_env: env.to_string(),
            projects: vec!["acme/web".into()],
            retry_base_ms: 1,
            max_retries: 3,
            ..GitLabConfig::default()
        }
    }

    fn prs(evs: &[Event]) -> Vec<flowmeter_model::PullRequest> {
        evs.iter()
            .filter_map(|e| match e {
                Event::PullRequest(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Regression for two defects found against the documented API: a
    /// squash merge (GitLab's default method puts a squash commit S and a
    /// merge commit M on the target branch) linked only S; and an MR with
    /// 150 commits (listed newest first, 100 a page) lost its oldest 50 and
    /// so its first commit time.
    #[tokio::test]
    async fn squash_merge_with_150_commits_keeps_every_commit_of_the_mr() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut p = Project::new(7, "acme/web");
        let big = p.open_mr_with_commits(150, start, Duration::minutes(30));
        let merged = start + Duration::days(5);
        let (squash, merge) = p.squash_merge(big, merged);
        p.mr_mut(big).labels = vec!["bug".into()];
        let small = p.open_mr_with_commits(2, merged + Duration::hours(1), Duration::hours(1));
        let plain = p.merge(small, merged + Duration::hours(4));
        p.deploy(
            "production",
            &plain,
            "success",
            merged + Duration::hours(5),
            Some(merged + Duration::hours(5)),
        );
        let mock = MockGitLab::start(Instance::new().with_project(p)).await;

        let mut c = GitLabConnector::new(config(&mock, "FM_TEST_GL_DOC_1")).unwrap();
        let ctx = SyncContext {
            since: start - Duration::days(3),
            full: false,
        };
        let batches = run_to_completion(&mut c, &ctx, None).await.unwrap();
        let evs = events(&batches);
        for e in &evs {
            conformance::check_event(e, "gitlab").unwrap();
        }
        let all = prs(&evs);
        let pr = all.iter().find(|p| p.number == big as i64).unwrap();
        assert_eq!(
            pr.merge_commit_sha.as_deref(),
            Some(merge.as_str()),
            "M landed"
        );
        let commits = pr.commits.clone().unwrap();
        assert!(commits.contains(&squash), "S belongs to the MR too");
        assert_eq!(commits.len(), 151, "all 150 commits of the MR, and S");
        assert_eq!(
            pr.first_commit_at,
            Some(start),
            "the oldest commit, from page 2"
        );
        let mr_commit_pages = mock
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(&format!("/merge_requests/{big}/commits")))
            .count();
        assert_eq!(
            mr_commit_pages, 2,
            "both pages of the MR's commits were read"
        );
    }

    /// An incident turned back into an issue leaves the incident listing:
    /// the next sync withdraws it (its type says `issue`), and only it.
    #[tokio::test]
    async fn an_incident_changed_back_into_an_issue_is_withdrawn() {
        let start = Utc::now() - Duration::days(2);
        let mut p = Project::new(7, "acme/web");
        let mistaken = p.add_incident("Checkout slow", "HIGH", start);
        let real = p.add_incident("Checkout down", "CRITICAL", start + Duration::hours(1));
        let plain = p.add_issue("Typo on the pricing page", "issue", start);
        let mock = MockGitLab::start(Instance::new().with_project(p)).await;
        let ctx = SyncContext {
            since: start - Duration::days(3),
            full: false,
        };
        let mut c = GitLabConnector::new(config(&mock, "FM_TEST_GL_DOC_RETYPE")).unwrap();
        let first = run_to_completion(&mut c, &ctx, None).await.unwrap();
        let withdrawn = |b: &[SyncBatch]| -> Vec<String> {
            b.iter().flat_map(|b| b.withdrawn.clone()).collect()
        };
        assert!(withdrawn(&first).is_empty(), "nothing delivered before");
        let cursor = first.last().map(|b| b.cursor.clone());

        mock.with_instance(|i| {
            let issue = (i.project_mut(7).issues.iter_mut())
                .find(|x| x.iid == mistaken)
                .unwrap();
            issue.issue_type = "issue".into();
            issue.updated_at = Utc::now();
        });
        let mut c = GitLabConnector::new(config(&mock, "FM_TEST_GL_DOC_RETYPE")).unwrap();
        let second = run_to_completion(&mut c, &ctx, cursor).await.unwrap();
        assert_eq!(withdrawn(&second), [format!("acme/web#{mistaken}")]);
        let _ = (real, plain);
    }

    /// A merge request edited while a sync reads the list (by update time,
    /// 100 a page) moves to its end, and the ones after it one place
    /// forward. Paged by offset, the first of page 2 slid onto page 1,
    /// already read, and the pass's mark passed it: it was never read.
    /// Paged by time, every one is.
    #[tokio::test]
    async fn a_merge_request_edited_during_a_sync_hides_none_of_the_others() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut p = Project::new(7, "acme/web");
        let iids: Vec<u64> = (0..150)
            .map(|i| {
                let at = start + Duration::minutes(10 * i);
                let iid = p.open_mr_with_commits(1, at, Duration::minutes(1));
                p.mr_mut(iid).updated_at = at;
                iid
            })
            .collect();
        let mock = MockGitLab::start(Instance::new().with_project(p)).await;
        let mut c = GitLabConnector::new(config(&mock, "FM_TEST_GL_DOC_MIDPASS")).unwrap();
        let ctx = SyncContext {
            since: start - Duration::days(3),
            full: false,
        };
        let (mut cursor, mut read) = (None, std::collections::BTreeSet::new());
        while let Some(batch) = c.next_batch(&ctx, cursor.as_ref()).await.unwrap() {
            let first_page = read.is_empty();
            read.extend(prs(&batch.events).iter().map(|p| p.number as u64));
            if first_page && !read.is_empty() {
                // Between pages 1 and 2: the first merge request is edited.
                mock.with_instance(|i| i.project_mut(7).mr_mut(iids[0]).updated_at = Utc::now());
            }
            cursor = Some(batch.cursor);
        }
        let missed: Vec<&u64> = iids.iter().filter(|i| !read.contains(i)).collect();
        assert!(missed.is_empty(), "never read: {missed:?}");
    }

    /// `code_owners = true`: a merge request carries the paths of its diff
    /// (all 130: they are paged) and their owners by `.gitlab/CODEOWNERS`
    /// (repository files API, GitLab sections); without it, neither.
    #[tokio::test]
    async fn code_owners_give_merge_requests_their_files_and_owners() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut p = Project::new(7, "acme/web");
        let a = p.open_mr_with_commits(1, start, Duration::minutes(30));
        p.merge(a, start + Duration::hours(2));
        let b = p.open_mr_with_commits(1, start + Duration::hours(3), Duration::minutes(30));
        p.mr_mut(a).files = vec!["billing/api.rb".into(), "README.md".into()];
        p.mr_mut(b).files = (0..130).map(|i| format!("docs/p{i:03}.md")).collect();
        p.files.insert(
            ".gitlab/CODEOWNERS".into(),
            "* @acme/platform\n[Billing] @acme/payments\n/billing/\n[Docs]\ndocs/ @acme/writers\n"
                .into(),
        );
        let mock = MockGitLab::start(Instance::new().with_project(p)).await;
        let ctx = SyncContext {
            since: start - Duration::days(3),
            full: false,
        };
        let mut cfg = config(&mock, "FM_TEST_GL_DOC_OWNERS");
        cfg.code_owners = true;
        let mut c = GitLabConnector::new(cfg).unwrap();
        let all = prs(&events(
            &run_to_completion(&mut c, &ctx, None).await.unwrap(),
        ));
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let pr = |n: u64| all.iter().find(|p| p.number == n as i64).unwrap().clone();
        assert_eq!(pr(a).files, strings(&["README.md", "billing/api.rb"]));
        assert_eq!(pr(a).owners, strings(&["@acme/payments", "@acme/platform"]));
        assert_eq!(pr(b).files.as_ref().map(Vec::len), Some(130));
        assert_eq!(pr(b).owners, strings(&["@acme/platform", "@acme/writers"]));
        let asked = |end: &str| {
            mock.requests()
                .iter()
                .filter(|r| r.path.ends_with(end))
                .count()
        };
        assert_eq!(
            asked(&format!("/merge_requests/{b}/diffs")),
            2,
            "both pages"
        );
        // GitLab's places in order: the root, docs/, then .gitlab/.
        assert_eq!(asked("/repository/files/CODEOWNERS"), 1);
        assert_eq!(asked("/repository/files/.gitlab%2FCODEOWNERS"), 1);

        let mut c = GitLabConnector::new(config(&mock, "FM_TEST_GL_DOC_OWNERS")).unwrap();
        let all = prs(&events(
            &run_to_completion(&mut c, &ctx, None).await.unwrap(),
        ));
        assert!(all.iter().all(|p| p.files.is_none() && p.owners.is_none()));

        // A GitLab before 15.7 has no `/diffs`: the same files come from
        // `/changes`.
        mock.with_instance(|i| i.before_15_7 = true);
        let mut cfg = config(&mock, "FM_TEST_GL_DOC_OWNERS");
        cfg.code_owners = true;
        let mut c = GitLabConnector::new(cfg).unwrap();
        let all = prs(&events(
            &run_to_completion(&mut c, &ctx, None).await.unwrap(),
        ));
        let pr = |n: u64| all.iter().find(|p| p.number == n as i64).unwrap().clone();
        assert_eq!(pr(a).files, strings(&["README.md", "billing/api.rb"]));
        assert_eq!(pr(b).files.as_ref().map(Vec::len), Some(130));
        assert_eq!(pr(b).owners, strings(&["@acme/platform", "@acme/writers"]));
        assert_eq!(asked(&format!("/merge_requests/{b}/changes")), 1);
    }

    /// `code_owners = true`: a commit pushed straight to the branch gets its
    /// files (`/repository/commits/:sha/diff`) and their owners; a merge
    /// request's merge commit is not asked for (its files are the merge
    /// request's).
    #[tokio::test]
    async fn code_owners_give_direct_pushes_their_files_and_owners() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut p = Project::new(7, "acme/web");
        let a = p.open_mr_with_commits(1, start, Duration::minutes(30));
        let merge = p.merge(a, start + Duration::hours(2));
        let push = p.commit_at(
            "main",
            "Raise the billing timeout",
            "ana",
            start + Duration::hours(3),
        );
        p.commits.get_mut(&push).unwrap().files =
            vec!["billing/config.yml".into(), "billing/api.rb".into()];
        p.files.insert(
            ".gitlab/CODEOWNERS".into(),
            "* @acme/platform\n[Billing] @acme/payments\n/billing/\n".into(),
        );
        let mock = MockGitLab::start(Instance::new().with_project(p)).await;
        let ctx = SyncContext {
            since: start - Duration::days(3),
            full: false,
        };
        let mut cfg = config(&mock, "FM_TEST_GL_DOC_PUSH_OWNERS");
        cfg.code_owners = true;
        let mut c = GitLabConnector::new(cfg).unwrap();
        let evs = events(&run_to_completion(&mut c, &ctx, None).await.unwrap());
        let commit = |sha: &str| {
            evs.iter()
                .find_map(|e| match e {
                    Event::Commit(c) if c.sha == sha => Some(c.clone()),
                    _ => None,
                })
                .unwrap()
        };
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let pushed = commit(&push);
        assert_eq!(
            pushed.files,
            strings(&["billing/api.rb", "billing/config.yml"])
        );
        assert_eq!(
            pushed.owners,
            strings(&["@acme/payments", "@acme/platform"])
        );
        assert_eq!(commit(&merge).files, None);
        let asked = |sha: &str| {
            (mock.requests().iter())
                .filter(|r| r.path.ends_with(&format!("/repository/commits/{sha}/diff")))
                .count()
        };
        assert_eq!((asked(&push), asked(&merge)), (1, 0));
    }

    /// The commit graph stays closed: a branch's commits, dated before the
    /// first sync but merged after it, are not in a `since` listing; the
    /// connector fetches them by SHA when the sync asks.
    #[tokio::test]
    async fn fetches_single_commits_by_sha() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut p = Project::new(7, "acme/web");
        let iid = p.open_mr_with_commits(3, start, Duration::hours(1));
        let branch_head = p.mr(iid).sha.clone();
        let mock = MockGitLab::start(Instance::new().with_project(p)).await;
        let mut c = GitLabConnector::new(config(&mock, "FM_TEST_GL_DOC_2")).unwrap();
        let got = c
            .fetch_commits("acme/web", &[branch_head.clone(), "f".repeat(40)])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 1, "the unknown SHA is simply absent");
        match &got[0] {
            Event::Commit(cm) => {
                assert_eq!(cm.sha, branch_head);
                assert_eq!(cm.parents.as_ref().map(Vec::len), Some(1));
            }
            other => panic!("{other:?}"),
        }
    }
}
