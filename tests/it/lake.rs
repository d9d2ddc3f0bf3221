//! `flowmeter lake export`: shards written separately, each linking only
//! what its rows need, make the same lake, row for row, as one export of
//! the whole store.

use crate::util::{assert_close, flowmeter, root, sample_store, stderr_of, stdout_of};

#[test]
fn two_shards_make_the_same_lake_as_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let whole = dir.path().join("whole");
    let sharded = dir.path().join("sharded");
    export(&db, &whole).assert().success();
    // Each machine holds the records unlinked and links only its shard.
    let unlinked = dir.path().join("unlinked.duckdb");
    let import = stderr_of(
        flowmeter(&unlinked)
            .args(["import", "--no-link"])
            .arg(root().join("sample-data/events.jsonl")),
    );
    assert!(import.contains("links left for later"), "{import}");
    for shard in ["0/2", "1/2"] {
        let export = stderr_of(
            flowmeter(&unlinked)
                .args(["lake", "export", "--shard", shard])
                .arg(&sharded),
        );
        let linked = export
            .lines()
            .find(|l| l.starts_with("linked this shard only: "))
            .unwrap_or_else(|| panic!("the shard was not linked on its own:\n{export}"));
        assert!(!linked.contains(" 6 of 6 services"), "{linked}");
    }
    // Each shard wrote something (the split is real).
    let files = |prefix: &str| {
        walk(&sharded)
            .into_iter()
            .filter(|p| p.contains(prefix))
            .count()
    };
    assert!(files("shard-0-of-2_") > 0 && files("shard-1-of-2_") > 0);
    let store = flowmeter_store::Store::in_memory().unwrap();
    let a = store.lake_text(&whole).unwrap();
    let b = store.lake_text(&sharded).unwrap();
    assert!(a.lines().count() > 1000, "the lake is nearly empty");
    assert_eq!(a, b);
    // The shards' links were not kept: the unlinked store links everything
    // when a metric is asked, and agrees with the linked one.
    let metrics = |db: &std::path::Path| -> serde_json::Value {
        let out =
            stdout_of(flowmeter(db).args(["metrics", "--format", "json", "--until", "2026-11-02"]));
        serde_json::from_str(&out).unwrap()
    };
    assert_close(&metrics(&unlinked), &metrics(&db), "metrics");
    // Exporting a shard again replaces its files (no doubled rows).
    flowmeter(&db)
        .args(["lake", "export", "--shard", "1/2"])
        .arg(&sharded)
        .assert()
        .success();
    assert_eq!(store.lake_text(&sharded).unwrap(), a);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sharded.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["format"], "flowmeter-lake");
    let deployments: u64 = manifest["tables"]["deployments"]["partitions"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let events =
        std::fs::read_to_string(crate::util::root().join("sample-data/events.jsonl")).unwrap();
    let expected = events
        .lines()
        .filter(|l| l.contains(r#""type":"deployment""#))
        .count() as u64;
    assert_eq!(deployments, expected);
    // A bad shard is named.
    let out = flowmeter(&db)
        .args(["lake", "export", "--shard", "2/2"])
        .arg(&sharded)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--shard 2/2`"));
}

/// An export that fails (here DuckDB out of memory, at its first table)
/// leaves the lake as it was: every file, byte for byte, and no staging
/// directory. It once deleted that table's files of the shard first.
#[test]
fn a_failed_export_leaves_the_lake_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let lake = dir.path().join("lake");
    export(&db, &lake).assert().success();
    let files = |dir: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = (walk(dir).into_iter())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        out.sort();
        out
    };
    let before = files(&lake);
    let out = export(&db, &lake)
        .env("FLOWMETER_MEMORY_LIMIT", "2MB")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("DuckDB ran out of memory"), "{err}");
    assert!(files(&lake) == before, "the lake changed: {err}");
    assert!(!lake.join(".staging-shard-0-of-1_").exists(), "{err}");
}

/// Two exports of one shard into one lake at once: the second refuses
/// (it would clear the first's staging directory under it).
#[test]
fn a_shard_is_exported_once_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_store(dir.path(), "");
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    // The first export's lock, held here.
    let held = std::fs::File::create(lake.join(".staging-shard-0-of-1_lock")).unwrap();
    held.lock().unwrap();
    let out = export(&db, &lake).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("another export of shard 0/1"), "{err}");
    drop(held);
    export(&db, &lake).assert().success();
}

/// `flowmeter lake export DIR` on the store `db`.
fn export(db: &std::path::Path, dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = flowmeter(db);
    cmd.args(["lake", "export"]).arg(dir);
    cmd
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
