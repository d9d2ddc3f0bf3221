//! `flowmeter serve` end to end: the binary listens on an ephemeral
//! loopback port; every route is checked against the CLI's own answers
//! (same numbers), ingest and webhooks against the store's contents.

use std::path::Path;

use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{json, Value};

use crate::util::{flowmeter, root, sample_store, Served};

const WEEK: &str = "2026-W44";
const SECRET: &str = "a webhook secret for tests";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn get(url: &str) -> (StatusCode, String) {
    runtime().block_on(async {
        let r = reqwest::get(url).await.unwrap();
        (r.status(), r.text().await.unwrap())
    })
}

fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, String) {
    runtime().block_on(async {
        let mut req = reqwest::Client::new().post(url).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    })
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn cli_json(db: &Path, args: &[&str]) -> Value {
    json(&crate::util::stdout_of(flowmeter(db).args(args)))
}

fn stats(s: &Served) -> Value {
    let (status, body) = get(&format!("{}/api/v1/stats", s.url));
    assert_eq!(status, StatusCode::OK, "{body}");
    json(&body)
}

/// The headline cells (name → value) of a weekly page.
fn headlines(html: &str) -> Vec<(String, String)> {
    let doc = Html::parse_document(html);
    let row = Selector::parse("tr[data-key]").unwrap();
    let td = Selector::parse("td").unwrap();
    doc.select(&row)
        .map(|r| {
            let cells: Vec<String> = r
                .select(&td)
                .map(|c| c.text().collect::<String>().trim().to_string())
                .collect();
            (cells[0].clone(), cells[1].clone())
        })
        .collect()
}

#[test]
fn the_api_and_the_dashboard_give_the_cli_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    // The CLI's answers first (the server then holds the store).
    let window = ["--since", "2026-10-05", "--until", "2026-11-02"];
    let cli_metrics = cli_json(
        &db,
        &[&["metrics", "--format", "json"][..], &window].concat(),
    );
    let cli_by_week = cli_json(
        &db,
        &[
            &[
                "metrics", "--format", "json", "--by", "week", "--team", "payments",
            ][..],
            &window,
        ]
        .concat(),
    );
    let cli_explain = cli_json(
        &db,
        &[
            "explain",
            "lead-time",
            "--week",
            WEEK,
            "--format",
            "json",
            "--limit",
            "5",
        ],
    );
    let out = flowmeter(&db)
        .args(["report", "--week", WEEK, "--format", "html", "--out"])
        .arg(dir.path().join("weekly.html"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let cli_page = std::fs::read_to_string(dir.path().join("weekly.html")).unwrap();

    let s = Served::start(Some(&db), &[], &[]);
    let (status, body) = get(&format!(
        "{}/api/v1/metrics?since=2026-10-05&until=2026-11-02",
        s.url
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body), cli_metrics);
    let (_, body) = get(&format!(
        "{}/api/v1/metrics?since=2026-10-05&until=2026-11-02&by=week&team=payments",
        s.url
    ));
    assert_eq!(json(&body), cli_by_week);
    let (_, body) = get(&format!(
        "{}/api/v1/explain/lead-time?week={WEEK}&limit=5",
        s.url
    ));
    assert_eq!(json(&body), cli_explain);
    let (_, body) = get(&format!(
        "{}/api/v1/coverage?since=2026-10-05&until=2026-11-02",
        s.url
    ));
    assert_eq!(json(&body)["coverage"], cli_metrics["coverage"]);

    // The weekly page: the report's headlines, each linked to explain.
    let (status, page) = get(&format!("{}/weekly?week={WEEK}", s.url));
    assert_eq!(status, StatusCode::OK);
    let served = headlines(&page);
    assert_eq!(served.len(), 7, "{served:?}");
    assert_eq!(served, headlines(&cli_page));
    let doc = Html::parse_document(&page);
    let links: Vec<String> = doc
        .select(&Selector::parse("tr[data-key] a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_string))
        .collect();
    assert!(
        links.contains(&format!("/explain/lead-time?week={WEEK}")),
        "{links:?}"
    );
    for (path, marker) in [
        (format!("/explain/lead-time?week={WEEK}"), "<table>"),
        (format!("/team?week={WEEK}"), "payments"),
        (format!("/leadership?week={WEEK}"), "<h1>"),
        (
            "/coverage?since=2026-10-05&until=2026-11-02".to_string(),
            "changes linked to a pull request",
        ),
        ("/sources".to_string(), "Sources"),
    ] {
        let (status, body) = get(&format!("{}{path}", s.url));
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.contains(marker), "{path} lacks {marker}");
        assert!(
            body.contains("<nav class=\"fm\">"),
            "{path} has no navigation"
        );
    }
    // Bad parameters are named; unknown pages are 404.
    let (status, body) = get(&format!("{}/api/v1/metrics?since=yesterday", s.url));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json(&body)["error"].as_str().unwrap().contains("`since`"),
        "{body}"
    );
    let (status, _) = get(&format!("{}/api/v1/metrics?colour=blue", s.url));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&format!("{}/explain/happiness", s.url));
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Values from the request are escaped in pages.
    let (_, body) = get(&format!(
        "{}/weekly?week={WEEK}&service=%3Cscript%3E",
        s.url
    ));
    assert!(!body.contains("<script>"), "an unescaped value in the page");
}

/// A store created by a process that is then killed (kill -9: no orderly
/// close) opens again, offline.
#[test]
fn a_new_store_opens_again_after_its_first_process_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.duckdb");
    drop(Served::start(Some(&db), &[], &[]));
    let metrics = cli_json(&db, &["metrics", "--format", "json"]);
    assert_eq!(metrics["deployment_frequency"]["deployments"], 0);
}

#[test]
fn ingest_refuses_a_bad_line_by_number_and_keeps_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let s = Served::start(Some(&db), &[], &[]);
    let before = stats(&s);
    let good = r#"{"type":"deployment","source":"api","id":"api-1","service":"checkout","environment":"production","status":"success","finished_at":"2026-11-03T10:00:00Z","commit_sha":"0123456789abcdef0123456789abcdef01234567"}"#;
    let bad = r#"{"type":"deployment","source":"api","id":"api-2","service":"checkout","environment":"production","status":"maybe","finished_at":"2026-11-03T11:00:00Z","commit_sha":"0123456789abcdef0123456789abcdef01234568"}"#;
    let body = format!("{good}\n{bad}\n");
    let url = format!("{}/api/v1/events", s.url);
    let (status, text) = post(
        &url,
        &[("content-type", "application/x-ndjson")],
        body.into_bytes(),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let answer = json(&text);
    assert_eq!(answer["errors"][0]["line"], 2, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "status", "{answer}");
    assert_eq!(stats(&s), before, "a refused request changed the store");

    // The weekly page of that week, before (and cached) and after the write.
    let week = format!("{}/weekly?week=2026-W45", s.url);
    let before_page = headlines(&get(&week).1);
    assert_eq!(headlines(&get(&week).1), before_page);
    let (status, text) = post(&url, &[], format!("{good}\n").into_bytes());
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json(&text)["inserted"], 1);
    let after_page = headlines(&get(&week).1);
    assert_ne!(
        after_page[0], before_page[0],
        "the page was not recomputed after a write"
    );
    let after = stats(&s);
    assert_eq!(
        after["deployments"],
        before["deployments"].as_u64().unwrap() + 1
    );
    // The same again changes nothing.
    let (_, text) = post(&url, &[], format!("{good}\n").into_bytes());
    assert_eq!(json(&text)["unchanged"], 1, "{text}");
}

/// With `[serve] page_max_age`, a page computed before a write is served
/// again while it is young enough, and says which writes it lacks.
#[test]
fn a_page_max_age_serves_a_young_page_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let config = dir.path().join("flowmeter.toml");
    let sample = std::fs::read_to_string(root().join("sample-data/flowmeter.toml")).unwrap();
    std::fs::write(
        &config,
        format!("{sample}\n[serve]\npage_max_age = \"1h\"\n"),
    )
    .unwrap();
    let s = Served::start_with(Some(&db), &config, &[], &[]);
    let week = format!("{}/weekly?week=2026-W45", s.url);
    let api = format!("{}/api/v1/metrics?since=2026-11-02&until=2026-11-09", s.url);
    let deployments = |s: &str| json(s)["deployment_frequency"]["deployments"].as_u64();
    let before_api = deployments(&get(&api).1).unwrap();
    let (_, before) = get(&week);
    assert!(
        !before.contains("Numbers as of"),
        "a current page is not marked"
    );
    let good = r#"{"type":"deployment","source":"api","id":"api-1","service":"checkout","environment":"production","status":"success","finished_at":"2026-11-03T10:00:00Z","commit_sha":"0123456789abcdef0123456789abcdef01234567"}"#;
    let (status, text) = post(
        &format!("{}/api/v1/events", s.url),
        &[],
        format!("{good}\n").into_bytes(),
    );
    assert_eq!(status, StatusCode::OK, "{text}");
    let (_, after) = get(&week);
    assert_eq!(
        headlines(&after),
        headlines(&before),
        "served the young page"
    );
    assert!(
        after.contains("1 write since then are not in them yet"),
        "the page does not say it lacks a write"
    );
    // The API is always current.
    assert_eq!(deployments(&get(&api).1), Some(before_api + 1));
}

fn github_headers<'a>(
    event: &'a str,
    delivery: &'a str,
    signature: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("content-type", "application/json"),
        ("x-github-event", event),
        ("x-github-delivery", delivery),
        ("x-hub-signature-256", signature),
    ]
}

#[test]
fn github_deliveries_are_verified_stored_once_and_survive_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hooks.duckdb");
    // The server runs with the secret of GitHub's own example
    // ("Validating webhook deliveries").
    const SECRET: &str = "It's a Secret to Everybody";
    let s = Served::start(
        Some(&db),
        &[],
        &[("FLOWMETER_GITHUB_WEBHOOK_SECRET", SECRET)],
    );
    let url = format!("{}/webhooks/github", s.url);

    // The example's signature verifies (its body is then refused as not
    // JSON: 400, not 401); over a changed body, or missing, it does not.
    let example = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let (status, text) = post(
        &url,
        &github_headers("push", "d-0", example),
        b"Hello, World!".to_vec(),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("not JSON"), "{text}");
    let (status, _) = post(
        &url,
        &github_headers("push", "d-0", example),
        b"Hello, World?".to_vec(),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&url, &github_headers("push", "d-0", ""), b"{}".to_vec());
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        flowmeter_server::hooks::github::signature(SECRET, b"Hello, World!"),
        example
    );

    let body =
        std::fs::read(root().join("tests/fixtures/webhooks/github/deployment_status.created.json"))
            .unwrap();
    let sig = flowmeter_server::hooks::github::signature(SECRET, &body);
    let (status, text) = post(
        &url,
        &github_headers("deployment_status", "d-1", &sig),
        body.clone(),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (status, text) = post(
        &url,
        &github_headers("deployment_status", "d-1", &sig),
        body.clone(),
    );
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json(&text)["duplicate"], true);
    let (status, _) = post(&format!("{}/api/v1/flush", s.url), &[], vec![]);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats(&s)["deployments"], 1);

    // A CLI import against the served store names the server.
    let file = dir.path().join("one.jsonl");
    std::fs::write(&file, "").unwrap();
    let out = flowmeter(&db).arg("import").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("flowmeter serve at http://127.0.0.1:"),
        "{err}"
    );

    // Deliveries still queued are stored by a graceful shutdown: a second
    // deployment, not flushed, then SIGTERM.
    let second = with_deployment_id(&body, 777_001, "success");
    let sig = flowmeter_server::hooks::github::signature(SECRET, &second);
    let (status, _) = post(
        &url,
        &github_headers("deployment_status", "d-2", &sig),
        second,
    );
    assert_eq!(status, StatusCode::ACCEPTED);
    let status = s.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        !dir.path().join("hooks.duckdb.server").exists(),
        "the server left its marker"
    );
    let all = [
        "metrics",
        "--format",
        "json",
        "--since",
        "2000-01-01",
        "--until",
        "2100-01-01",
    ];
    assert_eq!(
        cli_json(&db, &all)["deployment_frequency"]["deployments"],
        2
    );

    // After a restart a redelivery is still recognised: the same id with a
    // changed body (the deployment failed) is not applied; a new id is.
    let s = Served::start(
        Some(&db),
        &[],
        &[("FLOWMETER_GITHUB_WEBHOOK_SECRET", SECRET)],
    );
    let url = format!("{}/webhooks/github", s.url);
    let failed = with_deployment_id(&body, 777_001, "failure");
    let sig = flowmeter_server::hooks::github::signature(SECRET, &failed);
    let (status, _) = post(
        &url,
        &github_headers("deployment_status", "d-2", &sig),
        failed.clone(),
    );
    assert!(status.is_success());
    post(&format!("{}/api/v1/flush", s.url), &[], vec![]);
    let s = {
        let status = s.stop();
        assert!(status.success());
        assert_eq!(
            cli_json(&db, &all)["deployment_frequency"]["deployments"],
            2
        );
        Served::start(
            Some(&db),
            &[],
            &[("FLOWMETER_GITHUB_WEBHOOK_SECRET", SECRET)],
        )
    };
    let url = format!("{}/webhooks/github", s.url);
    let (status, _) = post(
        &url,
        &github_headers("deployment_status", "d-3", &sig),
        failed,
    );
    assert_eq!(status, StatusCode::ACCEPTED);
    let status = s.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        cli_json(&db, &all)["deployment_frequency"]["deployments"],
        1
    );
}

/// An issue labelled `incident` is an incident; the `unlabeled` delivery
/// that takes the label off removes it again.
#[test]
fn an_issue_unlabelled_by_webhook_is_no_incident_any_more() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hooks.duckdb");
    const SECRET: &str = "s3cret";
    let s = Served::start(
        Some(&db),
        &[],
        &[("FLOWMETER_GITHUB_WEBHOOK_SECRET", SECRET)],
    );
    let url = format!("{}/webhooks/github", s.url);
    let opened: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/fixtures/webhooks/github/issues.opened.json")).unwrap(),
    )
    .unwrap();
    let deliver = |delivery: &str, action: &str, labels: Value| {
        let mut body = opened.clone();
        body["action"] = json!(action);
        body["issue"]["labels"] = labels;
        let body = serde_json::to_vec(&body).unwrap();
        let sig = flowmeter_server::hooks::github::signature(SECRET, &body);
        let (status, text) = post(&url, &github_headers("issues", delivery, &sig), body);
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
        let (status, _) = post(&format!("{}/api/v1/flush", s.url), &[], vec![]);
        assert_eq!(status, StatusCode::OK);
    };
    deliver(
        "i-1",
        "labeled",
        json!([{"id": 1, "name": "incident", "color": "d73a4a"}]),
    );
    assert_eq!(stats(&s)["incidents"], 1);
    deliver("i-2", "unlabeled", json!([]));
    assert_eq!(stats(&s)["incidents"], 0);
    assert!(s.stop().success());
}

/// The deployment_status example with another deployment id and state.
fn with_deployment_id(body: &[u8], id: u64, state: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    v["deployment"]["id"] = id.into();
    v["deployment_status"]["state"] = state.into();
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn gitlab_and_pagerduty_deliveries_need_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hooks.duckdb");
    let s = Served::start(
        Some(&db),
        &[],
        &[
            ("FLOWMETER_GITLAB_WEBHOOK_TOKEN", "gl-token"),
            ("FLOWMETER_PAGERDUTY_WEBHOOK_SECRET", SECRET),
        ],
    );
    let mr = std::fs::read(root().join("tests/fixtures/webhooks/gitlab/merge_request.merge.json"))
        .unwrap();
    let gitlab = format!("{}/webhooks/gitlab", s.url);
    let headers = |token: &'static str| {
        vec![
            ("content-type", "application/json"),
            ("x-gitlab-event", "Merge Request Hook"),
            ("idempotency-key", "gl-1"),
            ("x-gitlab-token", token),
        ]
    };
    let (status, _) = post(&gitlab, &headers("wrong"), mr.clone());
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = post(&gitlab, &headers("gl-token"), mr.clone());
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (status, text) = post(&gitlab, &headers("gl-token"), mr);
    assert_eq!(json(&text)["duplicate"], true, "{status} {text}");

    let incident =
        std::fs::read(root().join("tests/fixtures/webhooks/pagerduty/incident.triggered.json"))
            .unwrap();
    let pd = format!("{}/webhooks/pagerduty", s.url);
    let mac = flowmeter_server::hooks::github::signature(SECRET, &incident);
    let v1 = format!("v1={}", mac.trim_start_matches("sha256="));
    let (status, _) = post(&pd, &[("x-pagerduty-signature", "v1=00")], incident.clone());
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = post(&pd, &[("x-pagerduty-signature", v1.as_str())], incident);
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    post(&format!("{}/api/v1/flush", s.url), &[], vec![]);
    let st = stats(&s);
    assert_eq!(st["pull_requests"], 1, "{st}");
    assert_eq!(st["incidents"], 1, "{st}");
}

#[test]
fn the_api_needs_the_token_when_one_is_set_and_receivers_need_secrets() {
    let s = Served::start(None, &["--demo"], &[("FLOWMETER_API_TOKEN", "t0ken")]);
    let (status, _) = get(&format!("{}/api/v1/stats", s.url));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let ok = runtime().block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/stats", s.url))
            .bearer_auth("t0ken")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(ok, StatusCode::OK);
    // The dashboard too: a browser logs in with the token as the password.
    let (status, _) = get(&format!("{}/weekly", s.url));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let page = runtime().block_on(async {
        reqwest::Client::new()
            .get(format!("{}/weekly", s.url))
            .basic_auth("anyone", Some("t0ken"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(page, StatusCode::OK);
    // Probes need no token.
    assert_eq!(get(&format!("{}/healthz", s.url)).0, StatusCode::OK);
    assert_eq!(get(&format!("{}/readyz", s.url)).0, StatusCode::OK);
    // No secret: the GitHub receiver is off and says how to enable it.
    let (status, body) = post(&format!("{}/webhooks/github", s.url), &[], b"{}".to_vec());
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("FLOWMETER_GITHUB_WEBHOOK_SECRET"), "{body}");
}

#[test]
fn prometheus_gauges_per_team_and_service_and_the_demo_home() {
    let s = Served::start(None, &["--demo"], &[]);
    // The demo opens on its data's last week.
    let (status, page) = get(&format!("{}/", s.url));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headlines(&page).len(), 7);
    let (status, text) = get(&format!("{}/metrics", s.url));
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("# TYPE flowmeter_lead_time_hours gauge"),
        "{text}"
    );
    assert!(
        text.contains("flowmeter_lead_time_hours{team=\"payments\"}"),
        "{text}"
    );
    assert!(
        text.contains("flowmeter_deployment_frequency_per_week{service=\""),
        "{text}"
    );
    assert!(
        text.contains("flowmeter_webhook_deliveries_total 0"),
        "{text}"
    );
    // Every sample parses as a number; no metric's samples are split.
    let mut names = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name_labels, value) = line.rsplit_once(' ').unwrap();
        value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        let name = name_labels.split('{').next().unwrap().to_string();
        if names.last() != Some(&name) {
            assert!(!names.contains(&name), "{name} is split");
            names.push(name);
        }
    }
}

#[test]
fn a_public_address_without_a_token_is_refused() {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowmeter"))
        .args(["serve", "--demo", "--listen", "0.0.0.0:0"])
        .env_remove("FLOWMETER_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FLOWMETER_API_TOKEN"), "{err}");
}
