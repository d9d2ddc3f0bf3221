//! End-to-end tests of the `flowmeter` binary: import errors and their exit
//! codes, `--skip-invalid`, idempotent re-import, the JSON shape, `--by`.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use crate::util::{assert_close, bare as flowmeter};

const GOOD: &str = r#"{"type":"commit","repo":"acme/app","sha":"a1","parents":[],"authored_at":"2026-03-03T00:00:00Z"}
{"type":"deployment","id":"d1","service":"app","repo":"acme/app","environment":"production","status":"success","finished_at":"2026-03-03T10:00:00Z","commit_sha":"a1"}
{"type":"incident","id":"i1","service":"app","created_at":"2026-03-03T11:00:00Z","resolved_at":"2026-03-03T13:00:00Z","pager":"ops"}
"#;

const BAD_LINE: &str = r#"{"type":"deployment","id":"x1","service":"app","environment":"production","status":"success","commit_sha":"b2"}"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn metrics_json(db: &Path, extra: &[&str]) -> Value {
    let mut cmd = flowmeter(db);
    cmd.args([
        "metrics",
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-30",
        "--format",
        "json",
    ])
    .args(extra);
    serde_json::from_str(&crate::util::stdout_of(&mut cmd)).unwrap()
}

#[test]
fn strict_import_refuses_the_file_and_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "events.jsonl", &format!("{GOOD}{BAD_LINE}\n"));
    flowmeter(&db)
        .arg("import")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "events.jsonl:4: deployment `x1`: field `finished_at` is required when status is `success`",
        ))
        .stderr(predicate::str::contains("nothing was imported"));
    // nothing of the file is stored
    let m = metrics_json(&db, &[]);
    assert_eq!(m["deployment_frequency"]["deployments"], 0);
}

#[test]
fn skip_invalid_stores_the_good_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "events.jsonl", &format!("{BAD_LINE}\n{GOOD}"));
    flowmeter(&db)
        .args(["import", "--skip-invalid"])
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains("skipped: "))
        .stderr(predicate::str::contains("events.jsonl:1:"))
        .stderr(predicate::str::contains("3 new"));
    let m = metrics_json(&db, &[]);
    assert_eq!(m["deployment_frequency"]["deployments"], 1);
    assert_eq!(m["change_failure_rate"]["failed"], 1);
}

#[test]
fn importing_twice_changes_nothing_and_newest_import_wins() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "events.jsonl", GOOD);
    flowmeter(&db).arg("import").arg(&file).assert().success();
    let first = metrics_json(&db, &[]);
    flowmeter(&db)
        .arg("import")
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 new, 0 updated, 3 unchanged"));
    assert_eq!(metrics_json(&db, &[]), first);
    // the incident resolves later in a newer export: replaced, not duplicated
    let newer = write(
        dir.path(),
        "newer.jsonl",
        r#"{"type":"incident","id":"i1","service":"app","created_at":"2026-03-03T11:00:00Z","resolved_at":"2026-03-03T15:00:00Z"}"#,
    );
    flowmeter(&db)
        .arg("import")
        .arg(&newer)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 new, 1 updated"));
    let m = metrics_json(&db, &[]);
    assert_eq!(m["time_to_restore"]["incidents"], 1);
    assert_eq!(m["time_to_restore"]["p50_hours"], 4.0);
}

/// The parser threads of a chunk fill columns of their own: a key's last
/// record still wins when its records are in different threads' parts, in
/// different chunks (a low memory limit reads 10,000 lines at a time), or
/// repeated within one part, in a first import and in one into a store.
#[test]
fn the_last_record_of_a_key_wins_across_parser_threads_and_chunks() {
    let incident = |resolved: &str| {
        format!(
            r#"{{"type":"incident","id":"i1","service":"app","created_at":"2026-03-03T11:00:00Z","resolved_at":"2026-03-03T{resolved}:00:00Z"}}"#
        )
    };
    let mut lines = vec![incident("12"), incident("13")];
    lines.extend((0..24_997).map(|i| {
        format!(
            r#"{{"type":"commit","repo":"acme/app","sha":"{i:040x}","authored_at":"2026-03-02T00:00:00Z"}}"#
        )
    }));
    lines.push(incident("15"));
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "events.jsonl", &(lines.join("\n") + "\n"));
    for limit in [None, Some("64MB")] {
        let db = dir
            .path()
            .join(format!("s-{}.duckdb", limit.unwrap_or("none")));
        for _ in 0..2 {
            let mut cmd = flowmeter(&db);
            if let Some(limit) = limit {
                cmd.env("FLOWMETER_MEMORY_LIMIT", limit);
            }
            cmd.arg("import").arg(&file).assert().success();
            let m = metrics_json(&db, &[]);
            assert_eq!(m["time_to_restore"]["incidents"], 1, "limit {limit:?}");
            assert_eq!(m["time_to_restore"]["p50_hours"], 4.0, "limit {limit:?}");
        }
    }
}

#[test]
fn json_has_the_public_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "events.jsonl", GOOD);
    flowmeter(&db).arg("import").arg(&file).assert().success();
    let m = metrics_json(&db, &[]);
    assert_eq!(m["version"], 1);
    assert_eq!(m["window"]["since"], "2026-03-02T00:00:00Z");
    assert_eq!(m["window"]["until"], "2026-03-30T00:00:00Z");
    assert_eq!(
        m["filters"],
        serde_json::json!({"service": null, "team": null, "repo": null})
    );
    for (key, fields) in [
        (
            "deployment_frequency",
            &[
                "deployments",
                "per_week",
                "deploy_days",
                "median_deploy_days_per_week",
                "tier",
            ][..],
        ),
        (
            "lead_time",
            &[
                "changes",
                "excluded",
                "p50_hours",
                "p75_hours",
                "p90_hours",
                "mean_hours",
                "tier",
            ],
        ),
        (
            "change_failure_rate",
            &["deployments", "failed", "rate", "tier"],
        ),
        (
            "recovery_time",
            &[
                "failed_deployments",
                "recovered",
                "open",
                "p50_hours",
                "p90_hours",
                "tier",
            ],
        ),
        (
            "time_to_restore",
            &["incidents", "resolved", "p50_hours", "p90_hours"],
        ),
        ("rework_rate", &["deployments", "rework", "rate"]),
        (
            "cycle_time",
            &[
                "prs",
                "deployed",
                "flow_efficiency",
                "bottleneck",
                "cycle",
                "stages",
            ],
        ),
    ] {
        for f in fields {
            assert!(m[key].get(*f).is_some(), "{key}.{f} missing");
        }
    }
    for stage in ["coding", "pickup", "review", "deploy"] {
        for f in ["p50_hours", "p75_hours", "p90_hours", "share"] {
            assert!(
                m["cycle_time"]["stages"][stage].get(f).is_some(),
                "{stage}.{f}"
            );
        }
    }
    assert_eq!(m["lead_time"]["p50_hours"], 10.0);
    assert_eq!(m["cycle_time"]["bottleneck"], Value::Null);
}

#[test]
fn by_week_and_by_service_groups() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "events.jsonl", GOOD);
    flowmeter(&db).arg("import").arg(&file).assert().success();
    let g = metrics_json(&db, &["--by", "week"]);
    let keys: Vec<&str> = g["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["2026-W10", "2026-W11", "2026-W12", "2026-W13"]);
    assert_eq!(g["groups"][0]["deployment_frequency"]["deployments"], 1);
    assert_eq!(g["groups"][1]["lead_time"]["p50_hours"], Value::Null);
    let s = metrics_json(&db, &["--by", "service"]);
    assert_eq!(s["groups"][0]["key"], "app");
    // text and csv render the same groups
    flowmeter(&db)
        .args([
            "metrics",
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-30",
            "--by",
            "week",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("2026-W13"));
    flowmeter(&db)
        .args([
            "metrics",
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-30",
            "--by",
            "week",
            "--format",
            "csv",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "window.since,window.until,key,",
        ));
}

#[test]
fn global_options_go_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "events.jsonl", GOOD);
    Command::cargo_bin("flowmeter")
        .unwrap()
        .arg("import")
        .arg(&file)
        .arg("--db")
        .arg(&db)
        .assert()
        .success();
    assert_eq!(
        metrics_json(&db, &[])["deployment_frequency"]["deployments"],
        1
    );
}

#[test]
fn usage_errors_are_one_sentence_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    flowmeter(&db)
        .args(["metrics", "--since", "last tuesday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`--since` takes a date like `2026-03-02`",
        ));
    flowmeter(&db)
        .args(["import", "missing.jsonl"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot open `missing.jsonl`"));
    flowmeter(&db)
        .args(["metrics", "--team", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown team `nope`"));
}

#[test]
fn csv_import_uses_the_file_name_for_the_type() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(
        dir.path(),
        "deployments.csv",
        "id,service,environment,status,finished_at,commit_sha,labels\nd1,app,prod-eu,success,2026-03-03T10:00:00+02:00,a1,x;y\n",
    );
    flowmeter(&db).arg("import").arg(&file).assert().success();
    assert_eq!(
        metrics_json(&db, &[])["deployment_frequency"]["deployments"],
        1
    );
}

#[test]
fn demo_runs_in_a_temporary_store() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("flowmeter")
        .unwrap()
        .current_dir(dir.path())
        .env_remove("FLOWMETER_DB")
        .arg("demo")
        .assert()
        .success()
        .stdout(predicate::str::contains("Deployment frequency"))
        .stdout(predicate::str::contains("payments"));
    assert!(!dir.path().join("flowmeter.duckdb").exists());
}

#[test]
fn bench_keep_measures_an_empty_store_on_every_run() {
    // A second run in the same `--keep` directory imported into the first
    // run's store: every record unchanged, nothing linked.
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("bench");
    for run in 1..=2 {
        let out = flowmeter(&dir.path().join("unused.duckdb"))
            .args(["bench", "--events", "3000", "--keep"])
            .arg(&keep)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run}: {text}");
        let linked = (text.lines())
            .find_map(|l| l.trim_start().strip_prefix("linked"))
            .unwrap_or_else(|| panic!("run {run}: no linked line in {text}"));
        let deployments: u64 = linked.split_whitespace().next().unwrap().parse().unwrap();
        assert!(deployments > 0, "run {run}: {text}");
    }
}

#[test]
fn metrics_text_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "events.jsonl", GOOD);
    flowmeter(&db).arg("import").arg(&file).assert().success();
    let out = flowmeter(&db)
        .args(["metrics", "--since", "2026-03-02", "--until", "2026-03-30"])
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

/// A memory limit DuckDB cannot read is refused with the variable, its
/// value and how to write it, before anything is imported.
#[test]
fn a_memory_limit_that_is_not_a_size_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(dir.path(), "ok.jsonl", "");
    let out = (flowmeter(&db).env("FLOWMETER_MEMORY_LIMIT", "lots"))
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("FLOWMETER_MEMORY_LIMIT=`lots` is not a size") && stderr.contains("1GB"),
        "{stderr}"
    );
    // DuckDB's message once, without its bare error code.
    assert_eq!(
        stderr.matches("Memory must have a number").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("Unknown error code"), "{stderr}");
    // And a size as users write it works.
    let ok = (flowmeter(&db).env("FLOWMETER_MEMORY_LIMIT", "512MB"))
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn strict_import_error_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let file = write(
        dir.path(),
        "bad.jsonl",
        &format!("{BAD_LINE}\n{{\"type\":\"release\"}}\n"),
    );
    let out = flowmeter(&db).arg("import").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    insta::assert_snapshot!(stderr.replace(&dir.path().display().to_string(), "[DIR]"));
}

/// `--by service|repo|team` computes every group in one pass (each scope
/// row carries its group): each group must be exactly the metrics of the
/// filter `--service`/`--repo`/`--team` of its key, with dated members and
/// PRs counted by author, and combined with another filter; by
/// METRICS.md and by the `devlake` and `four-keys` profiles (their views
/// carry the groups).
#[test]
fn every_group_is_the_metrics_of_its_own_filter() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::util::sample_store(dir.path(), "");
    for profile in ["flowmeter", "devlake", "four-keys"] {
        groups_are_their_filters(dir.path(), &db, profile);
    }
}

fn groups_are_their_filters(dir: &Path, db: &Path, profile: &str) {
    let config = dir.join("teams.toml");
    let teams = format!("[metrics]\nprofile = \"{profile}\"\npr_team = \"author\"\n") + "\
        [teams.web]\nservices = [\"web\", \"api\"]\nrepos = [\"acme/web\"]\npeople = [\"alice\", \"bob\"]\n\
        [[teams.web.members]]\npeople = [\"carol\"]\nuntil = \"2026-09-20\"\n\
        [teams.platform]\nservices = [\"notifications\"]\nrepos = [\"acme/platform\"]\npeople = [\"dave\"]\n\
        [[teams.platform.members]]\nservices = [\"search\", \"auth\"]\npeople = [\"carol\"]\nsince = \"2026-09-20\"\n\
        [teams.empty]\nservices = [\"nothing-here\"]\n";
    std::fs::write(&config, teams).unwrap();
    let metrics = |args: &[&str]| -> Value {
        let mut cmd = crate::util::bare(db);
        cmd.arg("--config")
            .arg(&config)
            .args(["metrics", "--format", "json"]);
        cmd.args(["--since", "2026-08-03", "--until", "2026-11-02"])
            .args(args);
        serde_json::from_str(&crate::util::stdout_of(&mut cmd)).unwrap()
    };
    for (by, filter, also) in [
        ("service", "--service", None),
        ("repo", "--repo", None),
        ("team", "--team", None),
        ("service", "--service", Some(["--team", "platform"])),
        ("team", "--team", Some(["--repo", "acme/web"])),
    ] {
        let also: Vec<&str> = also.map(|a| a.to_vec()).unwrap_or_default();
        let grouped = metrics(&[&["--by", by][..], &also].concat());
        let groups = grouped["groups"].as_array().unwrap();
        assert!(groups.len() >= 3, "--by {by}: {} groups", groups.len());
        let (mut with_data, mut with_lead_time) = (0, 0);
        for group in groups {
            let key = group["key"].as_str().unwrap();
            let mut alone = metrics(&[&[filter, key][..], &also].concat());
            for field in ["window", "filters", "version", "compared_with"] {
                alone.as_object_mut().unwrap().remove(field);
            }
            let mut group = group.clone();
            group.as_object_mut().unwrap().remove("key");
            assert_close(
                &group,
                &alone,
                &format!("{profile}: --by {by} {also:?}, group `{key}`"),
            );
            with_data += usize::from(alone["deployment_frequency"]["deployments"] != 0);
            with_lead_time += usize::from(alone["lead_time"]["changes"] != 0);
        }
        assert!(
            with_data >= 1,
            "{profile}: --by {by} {also:?}: no group has data"
        );
        assert!(
            !also.is_empty() || with_lead_time >= 1,
            "{profile}: --by {by}: no group has a lead time"
        );
    }
}

/// `[metrics.services.NAME]` gives one service its own production
/// environments: its deployments to them count (and their changes), its
/// deployments to the global names do not, other services keep the global
/// lists; changing the option relinks the store.
#[test]
fn a_service_has_its_own_production_environments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.duckdb");
    let events = r#"{"type":"commit","repo":"acme/pay","sha":"p1","parents":[],"authored_at":"2026-03-03T00:00:00Z"}
{"type":"commit","repo":"acme/pay","sha":"p2","parents":["p1"],"authored_at":"2026-03-10T00:00:00Z"}
{"type":"commit","repo":"acme/web","sha":"w1","parents":[],"authored_at":"2026-03-03T00:00:00Z"}
{"type":"deployment","id":"pay-eu-1","service":"pay","repo":"acme/pay","environment":"eu-live","status":"success","finished_at":"2026-03-03T10:00:00Z","commit_sha":"p1"}
{"type":"deployment","id":"pay-us-1","service":"pay","repo":"acme/pay","environment":"us-live","status":"success","finished_at":"2026-03-03T12:00:00Z","commit_sha":"p1"}
{"type":"deployment","id":"pay-prod-2","service":"pay","repo":"acme/pay","environment":"production","status":"success","finished_at":"2026-03-10T10:00:00Z","commit_sha":"p2"}
{"type":"deployment","id":"web-1","service":"web","repo":"acme/web","environment":"production","status":"success","finished_at":"2026-03-04T10:00:00Z","commit_sha":"w1"}
{"type":"deployment","id":"web-eu-1","service":"web","repo":"acme/web","environment":"eu-live","status":"success","finished_at":"2026-03-05T10:00:00Z","commit_sha":"w1"}
"#;
    let file = write(dir.path(), "events.jsonl", events);
    let config = write(
        dir.path(),
        "flowmeter.toml",
        "[metrics.services.pay]\nproduction_environments = [\"eu-live\", \"us-live\"]\n",
    );
    let metrics = |config: Option<&Path>, service: &str| -> Value {
        let mut cmd = crate::util::bare(&db);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.args(["metrics", "--since", "2026-03-02", "--until", "2026-03-30"])
            .args(["--format", "json", "--service", service]);
        serde_json::from_str(&crate::util::stdout_of(&mut cmd)).unwrap()
    };
    crate::util::bare(&db)
        .arg("--config")
        .arg(&config)
        .arg("import")
        .arg(&file)
        .assert()
        .success();
    let pay = metrics(Some(&config), "pay");
    assert_eq!(pay["deployment_frequency"]["deployments"], 2, "{pay}");
    assert_eq!(
        pay["lead_time"]["changes"], 1,
        "p1, first deployed to eu-live: {pay}"
    );
    assert_eq!(pay["lead_time"]["p50_hours"], 10.0);
    let web = metrics(Some(&config), "web");
    assert_eq!(web["deployment_frequency"]["deployments"], 1, "{web}");
    // Without the option (the store relinks): the global lists for both.
    let pay = metrics(None, "pay");
    assert_eq!(pay["deployment_frequency"]["deployments"], 1, "{pay}");
    assert_eq!(pay["lead_time"]["changes"], 2, "{pay}");
}
