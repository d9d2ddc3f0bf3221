//! Throughput on a real repository (not run by default):
//!
//! ```sh
//! FLOWMETER_GIT_BENCH_REPO=/path/to/clone FLOWMETER_GIT_BENCH_BRANCH=master \
//!   cargo test --release --workspace --test bench -- --ignored --nocapture
//! ```
//!
//! Optional: `FLOWMETER_GIT_BENCH_DEPLOYMENTS` (default `tags:v*`),
//! `FLOWMETER_GIT_BENCH_SERVICES` (`name=prefix,name=prefix`) and
//! `FLOWMETER_GIT_BENCH_FILES=0` (no changed paths, as `files = false`).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::DateTime;
use flowmeter_connector::{Connector, SyncContext};
use flowmeter_git::{GitConfig, GitConnector};
use flowmeter_model::Event;

#[tokio::test]
#[ignore = "needs FLOWMETER_GIT_BENCH_REPO"]
async fn throughput() {
    let Ok(path) = std::env::var("FLOWMETER_GIT_BENCH_REPO") else {
        eprintln!("FLOWMETER_GIT_BENCH_REPO not set; skipping");
        return;
    };
    let branch = std::env::var("FLOWMETER_GIT_BENCH_BRANCH").unwrap_or_else(|_| "main".into());
    let deployments =
        std::env::var("FLOWMETER_GIT_BENCH_DEPLOYMENTS").unwrap_or_else(|_| "tags:v*".into());
    let mut services = BTreeMap::new();
    if let Ok(spec) = std::env::var("FLOWMETER_GIT_BENCH_SERVICES") {
        for pair in spec.split(',').filter(|s| !s.is_empty()) {
            let (name, prefix) = pair.split_once('=').expect("name=prefix");
            services
                .entry(name.to_string())
                .or_insert_with(Vec::new)
                .push(prefix.to_string());
        }
    }
    let config = GitConfig {
        source_type: None,
        name: None,
        path: path.into(),
        repo: "bench/repo".into(),
        branch,
        deployments: Some(deployments),
        environment: "production".into(),
        services,
        batch_size: None,
        files: std::env::var("FLOWMETER_GIT_BENCH_FILES").map_or(true, |v| v != "0"),
    };
    let ctx = SyncContext {
        since: DateTime::from_timestamp(0, 0).unwrap(),
        full: false,
    };
    let mut conn = GitConnector::new(config.clone()).unwrap();
    let start = Instant::now();
    let mut cursor = None;
    let (mut commits, mut prs, mut deployments, mut batches) = (0usize, 0usize, 0usize, 0usize);
    while let Some(batch) = conn.next_batch(&ctx, cursor.as_ref()).await.unwrap() {
        batches += 1;
        for e in &batch.events {
            match e {
                Event::Commit(_) => commits += 1,
                Event::PullRequest(_) => prs += 1,
                Event::Deployment(_) => deployments += 1,
                _ => {}
            }
        }
        eprintln!(
            "batch {batches}: {} events at {:.2?}",
            batch.events.len(),
            start.elapsed()
        );
        cursor = Some(batch.cursor);
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "first sync: {commits} commits, {prs} pull requests, {deployments} deployments, {batches} batches in {secs:.2}s = {:.0} commits/s",
        commits as f64 / secs
    );
    let mut again = GitConnector::new(config).unwrap();
    let start = Instant::now();
    let none = again.next_batch(&ctx, cursor.as_ref()).await.unwrap();
    assert!(none.is_none(), "second sync emits nothing");
    eprintln!("no-op incremental sync: {:.2?}", start.elapsed());
}
