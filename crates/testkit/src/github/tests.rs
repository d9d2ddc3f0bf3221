//! Tests of the mock itself, mostly through [`MockGitHubCore::handle`].

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        + TimeDelta::hours(h)
}

fn mock(org: Org) -> MockGitHubCore {
    MockGitHubCore::new(org, "http://mock.test")
}

fn get(c: &MockGitHubCore, path_and_query: &str) -> MockResponse {
    let (p, q) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    c.handle("GET", p, q, &[], b"")
}

fn gql(c: &MockGitHubCore, query: &str, vars: Value) -> MockResponse {
    let body = serde_json::to_vec(&json!({"query": query, "variables": vars})).expect("json");
    c.handle("POST", "/graphql", "", &[], &body)
}

fn shas(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x["sha"].as_str().expect("sha").to_string())
        .collect()
}

fn rels(r: &MockResponse) -> Vec<String> {
    r.links().into_iter().map(|(rel, _)| rel).collect()
}

#[test]
fn rest_paging_link_headers() {
    let mut repo = Repo::new("acme", "api");
    let head = repo.push(Commit::new("root", "alice", t(0)));
    for i in 0..75u64 {
        let env = if i % 3 == 0 { "staging" } else { "production" };
        let at = t(i as i64 + 1);
        repo.add_deployment(
            Deployment::new(100 + i, head.clone(), env, at).status(DeploymentStatus::new(
                1000 + i,
                "success",
                at,
            )),
        );
    }
    let c = mock(Org::new("acme").with_repo(repo));

    let r1 = get(&c, "/repos/acme/api/deployments?per_page=30");
    assert_eq!(r1.status, 200);
    assert_eq!(r1.body.as_array().expect("array").len(), 30);
    assert_eq!(r1.body[0]["id"], 174, "newest first");
    assert_eq!(
        r1.link("next").as_deref(),
        Some("http://mock.test/repos/acme/api/deployments?per_page=30&page=2")
    );
    assert_eq!(
        r1.link("last").as_deref(),
        Some("http://mock.test/repos/acme/api/deployments?per_page=30&page=3")
    );
    assert_eq!(rels(&r1), vec!["next", "last"]);
    assert_eq!(r1.header("x-ratelimit-resource"), Some("core"));
    assert!(r1.header("x-ratelimit-limit").is_some());
    assert!(r1.header("x-ratelimit-used").is_some());
    assert!(r1.header("x-ratelimit-reset").is_some());

    let r2 = get(&c, "/repos/acme/api/deployments?per_page=30&page=2");
    assert_eq!(rels(&r2), vec!["prev", "next", "last", "first"]);
    assert_eq!(
        r2.link("prev").as_deref(),
        Some("http://mock.test/repos/acme/api/deployments?per_page=30&page=1")
    );

    let r3 = get(&c, "/repos/acme/api/deployments?per_page=30&page=3");
    assert_eq!(r3.body.as_array().expect("array").len(), 15);
    assert_eq!(rels(&r3), vec!["prev", "first"]);

    // Other query parameters are preserved; filters apply before paging.
    let rp = get(
        &c,
        "/repos/acme/api/deployments?environment=production&per_page=20",
    );
    assert_eq!(
        rp.link("next").as_deref(),
        Some(
            "http://mock.test/repos/acme/api/deployments?environment=production&per_page=20&page=2"
        )
    );
    assert_eq!(
        rp.link("last").as_deref(),
        Some(
            "http://mock.test/repos/acme/api/deployments?environment=production&per_page=20&page=3"
        )
    );

    // Default 30 per page, at most 100, no link when everything fits.
    let rd = get(&c, "/repos/acme/api/deployments");
    assert_eq!(rd.body.as_array().expect("array").len(), 30);
    assert_eq!(
        rd.link("next").as_deref(),
        Some("http://mock.test/repos/acme/api/deployments?page=2")
    );
    let rmax = get(&c, "/repos/acme/api/deployments?per_page=500");
    assert_eq!(rmax.body.as_array().expect("array").len(), 75);
    assert!(rmax.header("link").is_none());

    // GitHub Enterprise Server prefix.
    let rg = get(&c, "/api/v3/repos/acme/api/deployments?per_page=30");
    assert_eq!(
        rg.link("next").as_deref(),
        Some("http://mock.test/api/v3/repos/acme/api/deployments?per_page=30&page=2")
    );
    assert!(rg.body[0]["url"]
        .as_str()
        .expect("url")
        .starts_with("http://mock.test/api/v3/repos/acme/api/deployments/"));

    // Statuses, newest first.
    let st = get(&c, "/repos/acme/api/deployments/174/statuses");
    assert_eq!(st.body[0]["state"], "success");
    assert_eq!(get(&c, "/repos/acme/api/deployments/99999").status, 404);
}

#[test]
fn commits_since_and_until_use_the_committer_date() {
    let mut repo = Repo::new("acme", "api");
    let a = repo.push(Commit::new("a", "alice", t(0)));
    // Authored long ago, committed (rebased) recently.
    let b = repo.push(Commit::new("b", "bob", t(1)).committed(t(50)));
    let c2 = repo.push(Commit::new("c", "carol", t(60)));
    let c = mock(Org::new("acme").with_repo(repo));

    let all = get(&c, "/repos/acme/api/commits");
    assert_eq!(shas(&all.body), vec![c2.clone(), b.clone(), a.clone()]);

    let since = get(&c, "/repos/acme/api/commits?since=2024-03-02T00:00:00Z");
    assert_eq!(shas(&since.body), vec![c2.clone(), b.clone()]);

    let until = get(&c, "/repos/acme/api/commits?until=2024-03-02T00:00:00Z");
    assert_eq!(shas(&until.body), vec![a.clone()]);

    let encoded = get(
        &c,
        "/repos/acme/api/commits?since=2024-03-02T00%3A00%3A00%2B00%3A00",
    );
    assert_eq!(shas(&encoded.body), vec![c2.clone(), b.clone()]);

    let from_b = get(&c, &format!("/repos/acme/api/commits?sha={b}"));
    assert_eq!(shas(&from_b.body), vec![b.clone(), a.clone()]);
    let from_branch = get(&c, "/repos/acme/api/commits?sha=main&per_page=1");
    assert_eq!(shas(&from_branch.body), vec![c2.clone()]);
    assert_eq!(get(&c, "/repos/acme/api/commits?sha=nope").status, 404);

    let one = &all.body[0];
    assert_eq!(one["commit"]["author"]["date"], "2024-03-03T12:00:00Z");
    assert_eq!(one["commit"]["committer"]["date"], "2024-03-03T12:00:00Z");
    assert_eq!(one["commit"]["message"], "c");
    assert_eq!(one["author"]["login"], "carol");
    assert_eq!(one["author"]["type"], "User");
    assert_eq!(one["parents"][0]["sha"], Value::String(b.clone()));
    assert!(one["node_id"].is_string());
    assert_eq!(
        one["html_url"],
        Value::String(format!("http://mock.test/acme/api/commit/{c2}"))
    );
    let rebased = &all.body[1];
    assert_eq!(rebased["commit"]["author"]["date"], "2024-03-01T01:00:00Z");
    assert_eq!(
        rebased["commit"]["committer"]["date"],
        "2024-03-03T02:00:00Z"
    );
}

#[test]
fn compare_reports_ahead_behind_merge_base_and_pages() {
    let mut repo = Repo::new("acme", "api");
    let a = repo.push(Commit::new("A", "alice", t(0)));
    let b = repo.push(Commit::new("B", "alice", t(1)));
    let d = repo.push_to(
        "feature",
        Commit::new("D", "bob", t(2)).with_parents(vec![b.clone()]),
    );
    let e = repo.push_to("feature", Commit::new("E", "bob", t(3)));
    let c3 = repo.push(Commit::new("C", "alice", t(4)));
    let c = mock(Org::new("acme").with_repo(repo));

    let r = get(&c, "/repos/acme/api/compare/main...feature");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "diverged");
    assert_eq!(r.body["ahead_by"], 2);
    assert_eq!(r.body["behind_by"], 1);
    assert_eq!(r.body["total_commits"], 2);
    assert_eq!(
        shas(&r.body["commits"]),
        vec![d.clone(), e.clone()],
        "oldest first"
    );
    assert_eq!(r.body["merge_base_commit"]["sha"], Value::String(b.clone()));
    assert_eq!(r.body["base_commit"]["sha"], Value::String(c3.clone()));
    assert!(r.body["files"].is_array());
    assert!(r.header("link").is_none());

    let ahead = get(&c, &format!("/repos/acme/api/compare/{a}...main"));
    assert_eq!(ahead.body["status"], "ahead");
    assert_eq!(ahead.body["ahead_by"], 2);
    let behind = get(&c, &format!("/repos/acme/api/compare/main...{a}"));
    assert_eq!(behind.body["status"], "behind");
    assert_eq!(behind.body["behind_by"], 2);
    let same = get(&c, "/repos/acme/api/compare/main...main");
    assert_eq!(same.body["status"], "identical");
    assert_eq!(same.body["total_commits"], 0);

    let p2 = get(
        &c,
        "/repos/acme/api/compare/main...feature?per_page=1&page=2",
    );
    assert_eq!(shas(&p2.body["commits"]), vec![e.clone()]);
    assert_eq!(p2.body["total_commits"], 2);
    assert_eq!(rels(&p2), vec!["prev", "first"]);

    assert_eq!(get(&c, "/repos/acme/api/compare/main...nope").status, 404);

    let missing = get(&c, "/repos/acme/api/commits/deadbeef");
    assert_eq!(missing.status, 422);
    assert_eq!(missing.body["message"], "No commit found for SHA: deadbeef");
    assert!(missing.body["documentation_url"].is_string());

    let single = get(&c, "/repos/acme/api/commits/feature");
    assert_eq!(single.body["sha"], Value::String(e.clone()));
    assert!(single.body["stats"]["total"].is_number());
    assert!(single.body["files"].is_array());
    let short = get(&c, &format!("/repos/acme/api/commits/{}", &d[..8]));
    assert_eq!(short.body["sha"], Value::String(d.clone()));
}

#[test]
fn graphql_deployments_paging_and_enums() {
    let mut repo = Repo::new("acme", "api");
    let head = repo.push(Commit::new("A", "alice", t(0)));
    for i in 0..5u64 {
        let at = t(i as i64 + 1);
        let fin = if i == 3 { "failure" } else { "success" };
        repo.add_deployment(
            Deployment::new(10 + i, head.clone(), "production", at)
                .status(DeploymentStatus::new(100 + i * 10, "queued", at))
                .status(DeploymentStatus::new(
                    101 + i * 10,
                    "in_progress",
                    at + TimeDelta::minutes(1),
                ))
                .status(
                    DeploymentStatus::new(102 + i * 10, fin, at + TimeDelta::minutes(5))
                        .log_url("https://ci.example/1"),
                ),
        );
    }
    let c = mock(Org::new("acme").with_repo(repo));
    let q = r#"query Deploys($owner: String!, $name: String!, $after: String) {
      rateLimit { cost remaining limit used resetAt nodeCount }
      repository(owner: $owner, name: $name) {
        deployments(first: 2, after: $after, orderBy: {field: CREATED_AT, direction: DESC}) {
          totalCount
          pageInfo { hasNextPage endCursor hasPreviousPage startCursor }
          nodes {
            databaseId id commitOid commit { oid } environment state task
            ref { name } creator { login }
            latestStatus { state createdAt logUrl }
            statuses(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { state createdAt } }
          }
        }
      }
    }"#;
    let mut after = Value::Null;
    let mut seen: Vec<u64> = Vec::new();
    let mut pages = 0;
    loop {
        let r = gql(
            &c,
            q,
            json!({"owner": "acme", "name": "api", "after": after}),
        );
        assert_eq!(r.status, 200);
        assert!(r.body.get("errors").is_none(), "{}", r.body);
        assert_eq!(r.header("x-ratelimit-resource"), Some("graphql"));
        let conn = &r.body["data"]["repository"]["deployments"];
        assert_eq!(conn["totalCount"], 5);
        for n in conn["nodes"].as_array().expect("nodes") {
            seen.push(n["databaseId"].as_u64().expect("id"));
        }
        pages += 1;
        assert!(pages < 10);
        if !conn["pageInfo"]["hasNextPage"].as_bool().expect("bool") {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec![14, 13, 12, 11, 10]);

    let r = gql(&c, q, json!({"owner": "acme", "name": "api"}));
    let nodes = &r.body["data"]["repository"]["deployments"]["nodes"];
    let n0 = &nodes[0];
    assert_eq!(n0["state"], "ACTIVE");
    assert_eq!(n0["latestStatus"]["state"], "SUCCESS");
    assert_eq!(n0["latestStatus"]["logUrl"], "https://ci.example/1");
    assert_eq!(n0["statuses"]["totalCount"], 3);
    assert_eq!(n0["statuses"]["nodes"][0]["state"], "SUCCESS");
    assert_eq!(n0["statuses"]["nodes"][1]["state"], "IN_PROGRESS");
    assert_eq!(n0["statuses"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(n0["ref"]["name"], "main");
    assert_eq!(n0["creator"]["login"], "github-actions");
    assert_eq!(n0["commit"]["oid"], Value::String(head.clone()));
    assert_eq!(n0["commitOid"], Value::String(head.clone()));
    assert_eq!(nodes[1]["state"], "FAILURE");
    assert_eq!(
        r.body["data"]["repository"]["deployments"]["pageInfo"]["hasPreviousPage"],
        false
    );
    let rl = &r.body["data"]["rateLimit"];
    assert_eq!(rl["limit"], 5000);
    assert!(rl["cost"].as_u64().expect("cost") >= 1);
    assert!(rl["resetAt"].is_string());
    assert!(c
        .requests()
        .iter()
        .any(|q| q.graphql_connection.as_deref() == Some("deployments")));

    // Default order is CREATED_AT ASC; older successes read INACTIVE.
    let asc = gql(
        &c,
        "{ repository(owner: \"acme\", name: \"api\") { deployments(first: 100) { nodes { databaseId state } } } }",
        json!({}),
    );
    let ids: Vec<u64> = asc.body["data"]["repository"]["deployments"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["databaseId"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, vec![10, 11, 12, 13, 14]);
    assert_eq!(
        asc.body["data"]["repository"]["deployments"]["nodes"][0]["state"],
        "INACTIVE"
    );

    // Edges, aliases and environments filter.
    let e = gql(
        &c,
        "{ r: repository(owner: \"acme\", name: \"api\") { d: deployments(last: 1, environments: [\"production\"]) { edges { cursor node { databaseId } } } } }",
        json!({}),
    );
    assert_eq!(
        e.body["data"]["r"]["d"]["edges"][0]["node"]["databaseId"],
        14
    );
    assert!(e.body["data"]["r"]["d"]["edges"][0]["cursor"].is_string());

    let too_many = gql(
        &c,
        "{ repository(owner: \"acme\", name: \"api\") { deployments(first: 101) { nodes { databaseId } } } }",
        json!({}),
    );
    assert_eq!(too_many.body["errors"][0]["type"], "EXCESSIVE_PAGINATION");
    let no_bound = gql(
        &c,
        "{ repository(owner: \"acme\", name: \"api\") { deployments { nodes { databaseId } } } }",
        json!({}),
    );
    assert_eq!(
        no_bound.body["errors"][0]["type"],
        "MISSING_PAGINATION_BOUNDARIES"
    );
}

#[test]
fn graphql_pull_requests_and_not_found() {
    let mut repo = Repo::new("acme", "api");
    repo.push(Commit::new("A", "alice", t(0)));
    let pr = Pull::new(1, "Add thing", "bob", t(1))
        .label("enhancement")
        .draft(Some(t(2)))
        .review(Review::new(501, "carol", "APPROVED", t(3)))
        .lines(10, 2);
    repo.merge_branch(
        pr,
        vec![
            Commit::new("wip", "bob", t(1)),
            Commit::new("more", "bob", t(2)),
        ],
        Commit::new("Merge pull request #1 from acme/feature/1", "bob", t(4)),
    );
    repo.open_pull(
        Pull::new(2, "Open one", "dependabot[bot]", t(5)),
        vec![Commit::new("bump", "dependabot[bot]", t(5))],
    );
    let head = repo.head().expect("head").to_string();
    let c = mock(Org::new("acme").with_repo(repo));
    let q = r#"query {
      repository(owner: "acme", name: "api") {
        pullRequests(first: 10, orderBy: {field: UPDATED_AT, direction: DESC}) {
          totalCount
          nodes {
            number title state isDraft mergedAt url author { login __typename }
            baseRefName headRefName additions deletions mergeCommit { oid }
            labels(first: 5) { nodes { name } }
            timelineItems(first: 5, itemTypes: [READY_FOR_REVIEW_EVENT]) {
              nodes { __typename ... on ReadyForReviewEvent { createdAt } }
            }
            reviews(first: 10) { totalCount nodes { id author { login } state submittedAt } }
            commits(first: 10) { totalCount nodes { commit { oid authoredDate committedDate } } }
          }
        }
      }
    }"#;
    let r = gql(&c, q, json!({}));
    assert!(r.body.get("errors").is_none(), "{}", r.body);
    let nodes = &r.body["data"]["repository"]["pullRequests"]["nodes"];
    assert_eq!(nodes[0]["number"], 2);
    assert_eq!(nodes[0]["state"], "OPEN");
    assert_eq!(nodes[0]["author"]["login"], "dependabot");
    assert_eq!(nodes[0]["author"]["__typename"], "Bot");
    assert!(nodes[0]["mergeCommit"].is_null());
    let n = &nodes[1];
    assert_eq!(n["state"], "MERGED");
    assert_eq!(n["isDraft"], false);
    assert_eq!(n["mergedAt"], "2024-03-01T04:00:00Z");
    assert_eq!(n["mergeCommit"]["oid"], Value::String(head));
    assert_eq!(n["labels"]["nodes"][0]["name"], "enhancement");
    assert_eq!(
        n["timelineItems"]["nodes"][0]["__typename"],
        "ReadyForReviewEvent"
    );
    assert_eq!(
        n["timelineItems"]["nodes"][0]["createdAt"],
        "2024-03-01T02:00:00Z"
    );
    assert_eq!(n["reviews"]["nodes"][0]["state"], "APPROVED");
    assert_eq!(n["reviews"]["nodes"][0]["author"]["login"], "carol");
    assert_eq!(n["commits"]["totalCount"], 2);
    assert_eq!(
        n["commits"]["nodes"][0]["commit"]["authoredDate"],
        "2024-03-01T01:00:00Z"
    );
    assert_eq!(n["additions"], 10);

    // REST views of the same pull.
    let p = get(&c, "/repos/acme/api/pulls/1");
    assert_eq!(p.body["merged"], true);
    assert_eq!(p.body["state"], "closed");
    assert_eq!(p.body["base"]["repo"]["full_name"], "acme/api");
    let pc = get(&c, "/repos/acme/api/pulls/1/commits");
    assert_eq!(pc.body.as_array().expect("array").len(), 2);
    let rv = get(&c, "/repos/acme/api/pulls/1/reviews");
    assert_eq!(rv.body[0]["state"], "APPROVED");
    assert_eq!(rv.body[0]["id"], 501);
    let open = get(&c, "/repos/acme/api/pulls");
    assert_eq!(open.body.as_array().expect("array").len(), 1);
    let all = get(
        &c,
        "/repos/acme/api/pulls?state=all&sort=updated&direction=asc",
    );
    assert_eq!(all.body[0]["number"], 1);

    let nf = gql(
        &c,
        "query { repository(owner: \"acme\", name: \"nope\") { name } }",
        json!({}),
    );
    assert!(nf.body["data"]["repository"].is_null());
    let err = &nf.body["errors"][0];
    assert_eq!(err["type"], "NOT_FOUND");
    assert_eq!(err["path"], json!(["repository"]));
    assert_eq!(err["locations"], json!([{"line": 1, "column": 9}]));
    assert_eq!(
        err["message"],
        "Could not resolve to a Repository with the name 'acme/nope'."
    );

    let bad = gql(&c, "query { repository(owner: \"acme\" name: ", json!({}));
    assert_eq!(bad.status, 200);
    assert!(bad.body["errors"][0]["message"]
        .as_str()
        .expect("msg")
        .starts_with("Parse error"));
}

#[test]
fn issues_list_includes_pulls_and_filters_labels() {
    let mut repo = Repo::new("acme", "api");
    repo.push(Commit::new("A", "alice", t(0)));
    repo.add_issue(
        Issue::new(1, "Outage", "oncall", t(1))
            .label("incident")
            .label("sev1"),
    );
    repo.add_issue(
        Issue::new(2, "Blip", "oncall", t(2))
            .label("incident")
            .close(t(3)),
    );
    repo.open_pull(
        Pull::new(3, "Fix", "bob", t(4)).label("bug"),
        vec![Commit::new("fix", "bob", t(4))],
    );
    let c = mock(Org::new("acme").with_repo(repo));

    let all = get(&c, "/repos/acme/api/issues?state=all");
    let arr = all.body.as_array().expect("array");
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["number"], 3, "created desc by default");
    assert!(arr[0].get("pull_request").is_some());
    assert!(arr[1].get("pull_request").is_none());

    let both = get(&c, "/repos/acme/api/issues?labels=incident,sev1&state=all");
    assert_eq!(both.body.as_array().expect("array").len(), 1);
    let closed = get(&c, "/repos/acme/api/issues?state=closed&labels=incident");
    assert_eq!(closed.body[0]["number"], 2);
    assert_eq!(closed.body[0]["state_reason"], "completed");
    let open = get(&c, "/repos/acme/api/issues");
    assert_eq!(open.body.as_array().expect("array").len(), 2);
    let since = get(
        &c,
        "/repos/acme/api/issues?state=all&since=2024-03-01T02:30:00Z",
    );
    let numbers: Vec<u64> = since
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["number"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, vec![3, 2]);
    assert_eq!(get(&c, "/repos/acme/api/issues/2").body["title"], "Blip");
}

fn b64url(s: &str) -> String {
    util::b64_encode(s.as_bytes())
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn jwt(alg: &str, iss: Value, iat: i64, exp: i64) -> String {
    format!(
        "{}.{}.{}",
        b64url(&json!({"alg": alg, "typ": "JWT"}).to_string()),
        b64url(&json!({"iss": iss, "iat": iat, "exp": exp}).to_string()),
        b64url("not-a-real-signature")
    )
}

fn auth(v: &str) -> Vec<(String, String)> {
    vec![("Authorization".to_string(), v.to_string())]
}

#[test]
fn app_jwt_checks_and_installation_tokens() {
    let c = mock(Org::synthetic(1, "acme/api", 20, 5));
    c.set_app(42, 7);
    let now = Utc::now().timestamp();
    let post = |token: &str| {
        c.handle(
            "POST",
            "/app/installations/7/access_tokens",
            "",
            &auth(&format!("Bearer {token}")),
            b"",
        )
    };

    let ok = post(&jwt("RS256", json!("42"), now - 60, now + 540));
    assert_eq!(ok.status, 201, "{}", ok.body);
    let token = ok.body["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("ghs_"));
    assert_eq!(ok.body["repository_selection"], "all");
    assert!(util::parse_time(ok.body["expires_at"].as_str().expect("expires_at")).is_some());
    assert!(ok.body["permissions"].is_object());

    // Numeric `iss`, and the docs' own example (iat backdated 60 s, exp +600 s).
    assert_eq!(
        post(&jwt("RS256", json!(42), now - 60, now + 600)).status,
        201
    );

    let rejected = [
        (jwt("RS256", json!(42), now - 60, now + 700), JWT_EXP_FAR),
        (jwt("RS256", json!(42), now - 700, now - 10), JWT_EXP),
        (
            jwt("HS256", json!(42), now - 60, now + 500),
            JWT_UNDECODABLE,
        ),
        (
            jwt("RS256", json!(43), now - 60, now + 500),
            JWT_UNDECODABLE,
        ),
        ("abc.def".to_string(), JWT_UNDECODABLE),
    ];
    for (bad, msg) in rejected.iter() {
        let r = post(bad.as_str());
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(r.body["message"], *msg);
    }
    let none = c.handle("POST", "/app/installations/7/access_tokens", "", &[], b"");
    assert_eq!(none.status, 401);
    let wrong_installation = c.handle(
        "POST",
        "/app/installations/8/access_tokens",
        "",
        &auth(&format!(
            "Bearer {}",
            jwt("RS256", json!(42), now - 60, now + 500)
        )),
        b"",
    );
    assert_eq!(wrong_installation.status, 404);

    c.set_jwt_max_lifetime(Some(600));
    assert_eq!(
        post(&jwt("RS256", json!(42), now - 60, now + 600)).status,
        401
    );
    c.set_jwt_max_lifetime(None);

    let app_auth = auth(&format!(
        "Bearer {}",
        jwt("RS256", json!(42), now - 30, now + 300)
    ));
    let inst = c.handle("GET", "/orgs/acme/installation", "", &app_auth, b"");
    assert_eq!(inst.status, 200);
    assert_eq!(inst.body["id"], 7);
    assert_eq!(inst.body["app_id"], 42);
    assert_eq!(inst.body["account"]["login"], "acme");
    assert_eq!(inst.body["account"]["type"], "Organization");
    assert_eq!(
        c.handle("GET", "/repos/acme/api/installation", "", &app_auth, b"")
            .status,
        200
    );
    assert_eq!(
        c.handle("GET", "/repos/acme/nope/installation", "", &app_auth, b"")
            .status,
        404
    );
    let list = c.handle("GET", "/app/installations", "", &app_auth, b"");
    assert_eq!(list.body.as_array().expect("array").len(), 1);

    // App mode: only issued, unexpired installation tokens pass.
    c.require_installation_token(true);
    let anon = c.handle("GET", "/repos/acme/api", "", &[], b"");
    assert_eq!(anon.status, 401);
    assert_eq!(anon.body["message"], "Bad credentials");
    let good = c.handle(
        "GET",
        "/repos/acme/api",
        "",
        &auth(&format!("token {token}")),
        b"",
    );
    assert_eq!(good.status, 200);
    assert_eq!(good.body["full_name"], "acme/api");
    assert_eq!(good.body["default_branch"], "main");
    assert_eq!(good.body["archived"], false);
    let bearer = c.handle(
        "GET",
        "/repos/acme/api",
        "",
        &auth(&format!("Bearer {token}")),
        b"",
    );
    assert_eq!(bearer.status, 200);
    let forged = c.handle(
        "GET",
        "/repos/acme/api",
        "",
        &auth("Bearer ghs_notissued"),
        b"",
    );
    assert_eq!(forged.status, 401);
    let body = serde_json::to_vec(&json!({"query": "{ rateLimit { remaining } }"})).expect("json");
    let g = c.handle(
        "POST",
        "/graphql",
        "",
        &auth(&format!("bearer {token}")),
        &body,
    );
    assert_eq!(g.status, 200);
    c.expire_tokens();
    let expired = c.handle(
        "GET",
        "/repos/acme/api",
        "",
        &auth(&format!("token {token}")),
        b"",
    );
    assert_eq!(expired.status, 401);
    assert_eq!(c.issued_tokens().len(), 2);

    // PAT mode accepts anything and records it.
    c.require_installation_token(false);
    let pat = c.handle("GET", "/repos/acme/api", "", &auth("token ghp_abc"), b"");
    assert_eq!(pat.status, 200);
    assert_eq!(
        c.requests()
            .last()
            .expect("request")
            .authorization
            .as_deref(),
        Some("token ghp_abc")
    );
}

#[test]
fn faults_fire_for_the_next_n_matching_requests() {
    let c = mock(Org::synthetic(2, "acme/api", 10, 3));
    let before = Utc::now().timestamp();

    c.inject(Fault::PrimaryRateLimit, 1);
    let r = get(&c, "/repos/acme/api");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let reset: i64 = r
        .header("x-ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("int");
    assert!(reset > before && reset <= before + 3);
    assert!(r.body["message"]
        .as_str()
        .expect("message")
        .starts_with("API rate limit exceeded"));
    assert_eq!(get(&c, "/repos/acme/api").status, 200);

    c.inject(Fault::SecondaryRateLimit429, 2);
    for _ in 0..2 {
        let r = get(&c, "/repos/acme/api/pulls");
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(r.body["message"]
            .as_str()
            .expect("message")
            .contains("secondary rate limit"));
    }
    assert_eq!(get(&c, "/repos/acme/api/pulls").status, 200);

    c.inject(Fault::GraphqlRateLimited, 1);
    assert_eq!(
        get(&c, "/repos/acme/api").status,
        200,
        "GraphQL faults skip REST"
    );
    let g = gql(&c, "{ rateLimit { remaining } }", json!({}));
    assert_eq!(g.status, 200);
    assert!(g.body["data"].is_null());
    assert_eq!(g.body["errors"][0]["type"], "RATE_LIMITED");
    assert_eq!(g.header("x-ratelimit-remaining"), Some("0"));

    c.inject(Fault::GraphqlRateLimit, 1);
    let g = gql(&c, "{ rateLimit { remaining } }", json!({}));
    assert_eq!(g.body["errors"][0]["type"], "RATE_LIMIT");

    c.inject_for(
        Fault::ServerError(502),
        1,
        FaultTarget::GraphqlConnection("pullRequests".to_string()),
    );
    let dq =
        "{ repository(owner: \"acme\", name: \"api\") { deployments(first: 1) { totalCount } } }";
    assert_eq!(gql(&c, dq, json!({})).status, 200);
    let pq =
        "{ repository(owner: \"acme\", name: \"api\") { pullRequests(first: 1) { totalCount } } }";
    assert_eq!(gql(&c, pq, json!({})).status, 502);
    assert_eq!(gql(&c, pq, json!({})).status, 200);

    c.inject(Fault::ServerError(503), 1);
    assert_eq!(get(&c, "/orgs/acme/repos").status, 503);
    assert_eq!(c.pending_faults(), 0);
    let faulted = c.requests().iter().filter(|r| r.fault.is_some()).count();
    assert_eq!(faulted, 7);
}

#[test]
fn synthetic_history_is_consistent() {
    let org = Org::synthetic(7, "acme/api", 400, 150);
    let repo = org.repo("api").expect("repo");
    assert_eq!(repo.pulls.len(), 400);
    assert_eq!(repo.deployments.len(), 150);
    let mut squash = 0;
    let mut merges = 0;
    for p in &repo.pulls {
        assert!(!p.commits.is_empty() && p.commits.len() <= 5);
        for s in &p.commits {
            let cm = &repo.commits[s];
            if let Some(m) = p.merged_at {
                assert!(cm.authored_at < m, "PR commits precede the merge");
            }
        }
        if let Some(ms) = &p.merge_commit_sha {
            let mc = &repo.commits[ms];
            assert!(mc.message.contains(&format!("#{}", p.number)));
            if mc.parents.len() == 2 {
                merges += 1;
            } else {
                squash += 1;
            }
        }
    }
    assert!(squash > 0 && merges > 0);
    let mut numbers: Vec<u64> = repo.pulls.iter().map(|p| p.number).collect();
    numbers.extend(repo.issues.iter().map(|i| i.number));
    let unique: HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(unique.len(), numbers.len());
    for d in &repo.deployments {
        assert!((1..=3).contains(&d.statuses.len()));
        assert!(repo.commits.contains_key(&d.sha));
    }
    assert!(repo
        .issues
        .iter()
        .any(|i| i.labels.iter().any(|l| l == "incident")));
    let again = Org::synthetic(7, "acme/api", 400, 150);
    assert_eq!(again.repos[0].head(), repo.head());

    // Walk the default branch through the REST pages.
    let c = mock(org.clone());
    let mut url = "/repos/acme/api/commits?per_page=100".to_string();
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let r = get(&c, &url);
        for s in shas(&r.body) {
            assert!(seen.insert(s), "no duplicates across pages");
        }
        match r.link("next") {
            Some(next) => url = next.trim_start_matches("http://mock.test").to_string(),
            None => break,
        }
    }
    assert!(seen.len() > 380);
}

#[test]
fn synthetic_scales_to_ten_thousand() {
    let start = std::time::Instant::now();
    let org = Org::synthetic(11, "acme/big", 10_000, 10_000);
    let repo = &org.repos[0];
    assert_eq!(repo.pulls.len(), 10_000);
    assert_eq!(repo.deployments.len(), 10_000);
    let c = mock(org);
    let r = get(&c, "/repos/acme/big/commits?per_page=100");
    assert_eq!(r.body.as_array().expect("array").len(), 100);
    assert!(r.link("last").is_some());
    let q = "{ repository(owner: \"acme\", name: \"big\") { pullRequests(first: 100, orderBy: {field: UPDATED_AT, direction: DESC}) { totalCount nodes { number } } } }";
    let g = gql(&c, q, json!({}));
    assert_eq!(
        g.body["data"]["repository"]["pullRequests"]["totalCount"],
        10_000
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(120));
}

#[tokio::test]
async fn serves_over_http_and_sees_changes_between_syncs() {
    use std::io::{Read, Write};

    let gh = MockGitHub::start(Org::synthetic(3, "acme/api", 30, 10)).await;
    let fetch = |path: &str| -> String {
        let mut s = std::net::TcpStream::connect(gh.address()).expect("connect");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: token ghp_test\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        text
    };
    let text = fetch("/repos/acme/api/pulls?state=all&per_page=5");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("x-ratelimit-remaining:"));
    assert!(lower.contains(&format!(
        "link: <{}/repos/acme/api/pulls?state=all&per_page=5&page=2>",
        gh.uri()
    )));
    assert_eq!(gh.request_count(), 1);
    assert_eq!(
        gh.requests()[0].authorization.as_deref(),
        Some("token ghp_test")
    );

    let before = gh.with_org(|org| {
        org.repo("api")
            .and_then(|r| r.head())
            .map(|s| s.to_string())
    });
    gh.with_org(|org| {
        let repo = org.repo_mut("api").expect("repo");
        let n = repo.next_number();
        let at = Utc::now();
        let head = repo.head().expect("head").to_string();
        let pr = Pull::new(n, "Late change", "alice", at - TimeDelta::hours(3));
        repo.merge_branch(
            pr,
            vec![Commit::new("late work", "alice", at - TimeDelta::hours(2))],
            Commit::new(format!("Late change (#{n})"), "alice", at).with_parents(vec![head]),
        );
    });
    let r = gh.handle("GET", "/repos/acme/api/commits", "per_page=1", &[], b"");
    let now_head = r.body[0]["sha"].as_str().map(|s| s.to_string());
    assert_ne!(now_head, before);
    assert_eq!(
        r.body[0]["commit"]["message"]
            .as_str()
            .map(|m| m.starts_with("Late change")),
        Some(true)
    );
}
