//! Upserts at the sizes where DuckDB's storage changes shape: more rows than
//! one row group (122,880) in a single import.

use chrono::{TimeZone, Utc};
use flowmeter_config::MetricsConfig;
use flowmeter_model::{Commit, Event};
use flowmeter_store::Store;

fn commits(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            Event::Commit(Commit {
                source: "test".into(),
                repo: format!("acme/r{}", i % 7),
                sha: format!("{i:040x}"),
                parents: Some(vec![format!("{:040x}", i.saturating_sub(7))]),
                authored_at: Utc.timestamp_opt(1_700_000_000 + i as i64, 0).unwrap(),
                committed_at: None,
                author: Some("ann".into()),
                message: None,
                extra: Default::default(),
            })
        })
        .collect()
}

fn count(s: &Store, table: &str) -> i64 {
    s.conn()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn import_larger_than_a_row_group_keeps_every_row() {
    let mut s = Store::in_memory().unwrap();
    let n = 150_000;
    let summary = s.import(commits(n), &MetricsConfig::default()).unwrap();
    assert_eq!(summary.total().inserted, n as u64);
    assert_eq!(count(&s, "commits"), n as i64);
    // and a second import of the same rows writes nothing
    let again = s.import(commits(n), &MetricsConfig::default()).unwrap();
    assert_eq!(again.total().unchanged, n as u64);
    assert_eq!(count(&s, "commits"), n as i64);
}
