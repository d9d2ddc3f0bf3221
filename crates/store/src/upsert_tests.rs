//! Upserts at the sizes where DuckDB's storage changes shape: more rows than
//! one row group (122,880) in a single import.

use crate::{link, Store};
use chrono::{TimeZone, Utc};
use flowmeter_config::MetricsConfig;
use flowmeter_model::{Commit, Event};

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
                files: None,
                owners: None,
            })
        })
        .collect()
}

/// Records from JSON lines.
fn events(lines: &[&str]) -> Vec<Event> {
    (lines.iter())
        .map(|l| flowmeter_model::event_from_text(l).unwrap())
        .collect()
}

fn count(s: &Store, table: &str) -> i64 {
    s.conn
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

#[test]
fn a_first_import_keeps_the_last_record_of_each_key() {
    // Into empty tables the records go straight in; keys repeated within a
    // chunk, and in a later chunk past a row group, keep their last record.
    let config = MetricsConfig::default();
    let mut s = Store::in_memory().unwrap();
    let changed = |n: usize, message: &str| -> Vec<Event> {
        let mut events = commits(n);
        for e in &mut events {
            if let Event::Commit(c) = e {
                c.message = Some(message.into());
            }
        }
        events
    };
    let mut import = s.begin_import().unwrap();
    let mut first = commits(130_000);
    first.extend(changed(3, "second"));
    import.add(first).unwrap();
    import.add(changed(2, "third")).unwrap();
    let summary = import.commit(None, &config).unwrap();
    assert_eq!(summary.total().inserted, 130_000);
    assert_eq!(count(&s, "commits"), 130_000);
    let messages = text(
        &s,
        &format!(
            "SELECT string_agg(coalesce(message, '-'), ',' ORDER BY sha) FROM commits
             WHERE sha IN ('{:040x}', '{:040x}', '{:040x}', '{:040x}')",
            0, 1, 2, 3
        ),
    );
    assert_eq!(messages.as_deref(), Some("third,third,second,-"));
    // The links were made from the kept records, and a second import of
    // the same records writes nothing.
    let again = s.import(commits(4), &config).unwrap();
    assert_eq!((again.total().updated, again.total().unchanged), (3, 1));
}

/// A first import's chunks past [`Staging::DIRECT_PARALLEL_ROWS`] go in by
/// parallel inserts, in no set order; a key that comes again in a later
/// chunk still keeps its last record, and one that comes a third time too.
/// In memory, and on disk with DuckDB writing the inserts' full row groups
/// before the commit (large input), as a 10M-event import does; with every
/// key's hash held (a repeat makes the type go in order), and past the
/// budget of key hashes (each insert checks its own rows, and the merge
/// keeps the last record of each key).
#[test]
fn a_first_import_keeps_the_last_record_of_a_key_repeated_after_parallel_inserts() {
    let small = 3 * crate::import::Staging::DIRECT_PARALLEL_ROWS;
    for budget in [u64::MAX, 64 << 10] {
        crate::import::KEYS_BUDGET.with(|b| b.set(budget));
        let dir = tempfile::tempdir().unwrap();
        for (mut s, big) in [
            (Store::in_memory().unwrap(), small),
            (Store::open(&dir.path().join("s.duckdb")).unwrap(), 300_000),
        ] {
            repeat_after_parallel_inserts(&mut s, big);
        }
    }
}

fn repeat_after_parallel_inserts(s: &mut Store, big: usize) {
    let config = MetricsConfig::default();
    let with = |mut events: Vec<Event>, message: &str| -> Vec<Event> {
        for e in &mut events {
            if let Event::Commit(c) = e {
                c.message = Some(message.into());
            }
        }
        events
    };
    let mut import = s.begin_import().unwrap();
    import
        .expect_bytes(crate::import::Staging::LARGE_INPUT_BYTES)
        .unwrap();
    import.add(commits(big)).unwrap();
    import.add(commits(big + 5_000).split_off(big)).unwrap();
    let mut third = with(commits(5), "late");
    third.extend(commits(big + 5_100).split_off(big + 5_000));
    import.add(third).unwrap();
    // A key twice in one chunk, beside new ones: the last one wins.
    let mut fourth = with(commits(2), "inside");
    fourth.extend(commits(big + 5_200).split_off(big + 5_100));
    fourth.extend(with(commits(2), "later"));
    import.add(fourth).unwrap();
    let summary = import.commit(None, &config).unwrap();
    assert_eq!(summary.total().inserted, (big + 5_200) as u64);
    assert_eq!(count(s, "commits"), (big + 5_200) as i64);
    let messages = text(
        s,
        &format!(
            "SELECT string_agg(coalesce(message, '-'), ',' ORDER BY sha) FROM commits
             WHERE sha IN ('{:040x}', '{:040x}', '{:040x}', '{:040x}')",
            0, 1, 4, 5
        ),
    );
    assert_eq!(
        messages.as_deref(),
        Some("later,later,late,-"),
        "{big} commits"
    );
}

/// Every record type, a key given twice in one import with other fields
/// changed (the source of a commit, the author of a review: fields beside
/// the key): straight into empty tables (where repeats are found by key
/// hashes in memory) and through staging (into tables that already hold a
/// record) the same rows are stored, one per key, the last one read.
/// Into a table that holds records (staged, then compared), a key that
/// comes once in each of two chunks keeps its last record; keys that each
/// came once, and a type past the keys hashed, count and compare alike.
#[test]
fn staged_keys_repeated_across_chunks_or_past_the_hashed_keys_keep_the_last_record() {
    let config = MetricsConfig::default();
    let with_message = |mut events: Vec<Event>, message: &str| {
        for e in &mut events {
            if let Event::Commit(c) = e {
                c.message = Some(message.into());
            }
        }
        events
    };
    let mut s = Store::in_memory().unwrap();
    s.import(commits(10), &config).unwrap();
    let messages = |s: &Store| {
        text(
            s,
            "SELECT string_agg(DISTINCT message, ',' ORDER BY message) FROM commits",
        )
    };

    // Each key once (the ranking skipped): 3 changed, 2 new, 7 unchanged.
    let mut import = s.begin_import().unwrap();
    import.add(with_message(commits(3), "b")).unwrap();
    import.add(commits(12).split_off(3)).unwrap();
    let summary = import.commit(None, &config).unwrap();
    let t = summary.total();
    assert_eq!((t.inserted, t.updated, t.unchanged), (2, 3, 7));
    assert_eq!(count(&s, "commits"), 12);

    // Key 0 in both chunks: the later record wins.
    let mut import = s.begin_import().unwrap();
    import.add(with_message(commits(1), "c")).unwrap();
    import.add(with_message(commits(1), "d")).unwrap();
    let t = import.commit(None, &config).unwrap().total();
    assert_eq!((t.inserted, t.updated, t.unchanged), (0, 1, 0));
    assert_eq!(
        text(
            &s,
            "SELECT message FROM commits WHERE sha = lpad('0', 40, '0')"
        )
        .as_deref(),
        Some("d")
    );
    assert_eq!(count(&s, "commits"), 12);

    // Past the keys a staged type hashes: ranked, the same rows.
    let n = crate::import::Staging::STAGED_KEYS_HASHED + 10;
    let mut import = s.begin_import().unwrap();
    import.add(with_message(commits(n), "e")).unwrap();
    import.add(with_message(commits(5), "f")).unwrap();
    let t = import.commit(None, &config).unwrap().total();
    assert_eq!((t.inserted, t.updated, t.unchanged), (n as u64 - 12, 12, 0));
    assert_eq!(count(&s, "commits"), n as i64);
    assert_eq!(
        text(
            &s,
            "SELECT count(*) FILTER (message = 'f')::VARCHAR FROM commits"
        )
        .as_deref(),
        Some("5")
    );
    assert_eq!(messages(&s).as_deref(), Some("e,f"));
}

#[test]
fn repeated_keys_keep_the_same_rows_straight_in_and_through_staging() {
    let config = MetricsConfig::default();
    let at = r#""2025-01-02T00:00:00Z""#;
    let given = [
        format!(r#"{{"type":"commit","source":"git","repo":"a/b","sha":"0a","authored_at":{at}}}"#),
        format!(
            r#"{{"type":"commit","source":"github","repo":"a/b","sha":"0a","authored_at":{at},"message":"m"}}"#
        ),
        format!(r#"{{"type":"pull_request","repo":"a/b","number":7,"created_at":{at}}}"#),
        format!(
            r#"{{"type":"pull_request","repo":"a/b","number":7,"created_at":{at},"title":"t"}}"#
        ),
        format!(
            r#"{{"type":"review","repo":"a/b","pr":7,"id":"r","author":"ann","state":"approved","submitted_at":{at}}}"#
        ),
        format!(
            r#"{{"type":"review","repo":"a/b","pr":7,"id":"r","author":"bob","state":"approved","submitted_at":{at}}}"#
        ),
        format!(
            r#"{{"type":"deployment","source":"cd","id":"d","service":"web","environment":"production","status":"success","finished_at":{at},"commit_sha":"0a"}}"#
        ),
        format!(
            r#"{{"type":"deployment","source":"cd","id":"d","service":"api","environment":"production","status":"success","finished_at":{at},"commit_sha":"0a"}}"#
        ),
        format!(
            r#"{{"type":"incident","source":"pd","id":"i","services":["web"],"created_at":{at}}}"#
        ),
        format!(
            r#"{{"type":"incident","source":"pd","id":"i","services":["api"],"created_at":{at},"title":"t"}}"#
        ),
    ];
    let given: Vec<&str> = given.iter().map(String::as_str).collect();
    let mut direct = Store::in_memory().unwrap();
    direct.import(events(&given), &config).unwrap();
    let mut staged = Store::in_memory().unwrap();
    staged
        .import(
            events(&[
                r#"{"type":"commit","repo":"z/kept","sha":"ff","authored_at":"2025-01-01T00:00:00Z"}"#,
                r#"{"type":"pull_request","repo":"z/kept","number":1,"created_at":"2025-01-01T00:00:00Z"}"#,
                r#"{"type":"review","repo":"z/kept","pr":1,"id":"k","author":"ann","state":"approved","submitted_at":"2025-01-01T00:00:00Z"}"#,
                r#"{"type":"deployment","source":"kept","id":"k","service":"kept","environment":"production","status":"success","finished_at":"2025-01-01T00:00:00Z","commit_sha":"ff"}"#,
                r#"{"type":"incident","source":"kept","id":"k","services":["kept"],"created_at":"2025-01-01T00:00:00Z"}"#,
            ]),
            &config,
        )
        .unwrap();
    staged.import(events(&given), &config).unwrap();
    for table in [
        "commits",
        "pull_requests",
        "reviews",
        "deployments",
        "incidents",
    ] {
        let rows = |s: &Store| {
            text(
                s,
                &format!(
                    "SELECT count(*) || ': ' || string_agg(t::VARCHAR, '; ' ORDER BY t::VARCHAR)
                     FROM {table} t WHERE NOT contains(t::VARCHAR, 'kept')"
                ),
            )
            .unwrap_or_default()
        };
        let (got, want) = (rows(&direct), rows(&staged));
        assert_eq!(got, want, "{table}");
        assert!(got.starts_with("1: "), "{table}: {got}");
    }
}

// ------------------------------------------------ incremental == full relink

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One random import of `n` records: deployments (some repo-less, some
/// listing their commits, some to staging, some failed, rollbacks and
/// hotfixes, the same id in two sources), commits forming a graph per repo
/// (a few SHAs shared by two repos, as in a fork), pull requests with labels
/// and commits, reviews, incidents (several services, unresolved, explicit
/// ids with and without a source, sources shared with deployments). Keys
/// repeat across imports, so later imports update earlier records.
fn random_import(rng: &mut Rng, step: u64, n: u64) -> Vec<Event> {
    random_import_of(rng, step, n, "")
}

/// [`random_import`] of the repositories and services named with `team`
/// before their names (the SHAs below 5 stay shared with every team's).
fn random_import_of(rng: &mut Rng, step: u64, n: u64, team: &str) -> Vec<Event> {
    let t = |h: u64| {
        Utc.timestamp_opt(1_767_225_600 + (h * 3600) as i64, 0)
            .unwrap()
            .to_rfc3339()
    };
    // SHAs below 5 are the same in every repository (a shared history).
    let sha = |repo: &str, i: u64| {
        if i < 5 {
            format!("{:040x}", i)
        } else {
            format!("{:0>8}{:032x}", repo.replace('/', ""), i)
        }
    };
    let named = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("{team}{n}"))
            .collect::<Vec<_>>()
    };
    let (repos, services) = (
        named(&["acme/web", "acme/api", "acme/lib", "acme/ops"]),
        named(&["web", "api", "billing", "search", "ops", "docs"]),
    );
    let repos: Vec<&str> = repos.iter().map(String::as_str).collect();
    let services: Vec<&str> = services.iter().map(String::as_str).collect();
    let sources = ["ci", "cd", "pd"];
    let mut out = Vec::new();
    for _ in 0..n {
        let json = match rng.below(5) {
            0 => {
                let repo = rng.pick(&repos);
                let i = rng.below(40);
                let mut parents = vec![sha(repo, i.saturating_sub(1 + rng.below(3)))];
                if rng.below(4) == 0 {
                    parents.push(sha(repo, i.saturating_sub(1 + rng.below(6))));
                }
                serde_json::json!({"type": "commit", "repo": repo, "sha": sha(repo, i),
                    "parents": if i == 0 { vec![] } else { parents },
                    "authored_at": t(i * 3 + rng.below(5)), "author": rng.pick(&["ann", "bob"])})
            }
            1 => {
                let repo = rng.pick(&repos);
                let n = rng.below(12) + 1;
                let head = rng.below(40);
                let mut pr = serde_json::json!({"type": "pull_request", "repo": repo, "number": n,
                    "author": rng.pick(&["ann", "bob"]), "created_at": t(head * 3),
                    "labels": if rng.below(3) == 0 { vec!["bug"] } else { vec![] },
                    "commits": [sha(repo, head), sha(repo, head.saturating_sub(1))]});
                if rng.below(4) > 0 {
                    pr["merged_at"] = serde_json::json!(t(head * 3 + 4 + rng.below(6)));
                    pr["merge_commit_sha"] = serde_json::json!(sha(repo, head + 1));
                }
                pr
            }
            2 => {
                serde_json::json!({"type": "review", "repo": rng.pick(&repos), "pr": rng.below(12) + 1,
                    "id": format!("r{}", rng.below(20)), "author": rng.pick(&["ann", "bob", "cy"]),
                    "state": "approved", "submitted_at": t(rng.below(130))})
            }
            3 => {
                let repo = rng.pick(&repos);
                let mut d = serde_json::json!({"type": "deployment",
                    "source": rng.pick(&sources),
                    "id": format!("d{}", rng.below(30)),
                    "service": rng.pick(&services),
                    "environment": rng.pick(&["production", "production", "prod-eu", "staging"]),
                    "status": rng.pick(&["success", "success", "success", "failure"]),
                    "finished_at": t(rng.below(130)),
                    "commit_sha": sha(repo, rng.below(40)),
                    "kind": rng.pick(&["regular", "regular", "regular", "rollback", "hotfix"])});
                if rng.below(5) > 0 {
                    d["repo"] = serde_json::json!(repo);
                }
                if rng.below(6) == 0 {
                    d["commits"] =
                        serde_json::json!([sha(repo, rng.below(40)), sha(repo, rng.below(40))]);
                }
                d
            }
            _ => {
                let mut i = serde_json::json!({"type": "incident",
                    "source": rng.pick(&sources),
                    "id": format!("i{}", rng.below(15)),
                    "services": [rng.pick(&services), rng.pick(&services)],
                    "created_at": t(rng.below(130))});
                if rng.below(3) > 0 {
                    i["resolved_at"] = serde_json::json!(t(130 + rng.below(20)));
                }
                if rng.below(3) == 0 {
                    i["deployment_id"] = serde_json::json!(format!("d{}", rng.below(30)));
                    if rng.below(2) == 0 {
                        i["deployment_source"] = serde_json::json!(rng.pick(&sources));
                    }
                }
                i
            }
        };
        out.push(
            flowmeter_model::event_from_json(json).unwrap_or_else(|e| panic!("step {step}: {e}")),
        );
    }
    out
}

/// Incremental linking relinks only what an import touched; after every
/// import of a random sequence, the link tables must equal those of a full
/// relink of the same store, row for row.
#[test]
fn incremental_links_equal_a_full_relink() {
    std::env::remove_var("FLOWMETER_FULL_RELINK");
    let config = MetricsConfig::default();
    for seed in 1..=20u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut s = Store::in_memory().unwrap();
        for step in 0..8 {
            // A large first import, then small ones (a sync batch, a webhook).
            let n = if step == 0 { 150 } else { 1 + rng.below(4) };
            s.import(random_import(&mut rng, step, n), &config).unwrap();
            // Now and then a source withdraws an incident (it was declined
            // or merged into another after it was delivered).
            if step > 0 && rng.below(3) == 0 {
                let source = rng.pick(&["ci", "cd", "pd"]);
                let id = format!("i{}", rng.below(15));
                let before = count(&s, "incidents");
                let done =
                    (s.import_with_cursor(vec![], &[id], Some((source, "{}")), &config)).unwrap();
                assert_eq!(count(&s, "incidents"), before - done.withdrawn as i64);
            }
            links_as_a_full_relink(&mut s, &format!("seed {seed}, import {step}"));
        }
    }
}

/// A full relink held to a memory budget links the repositories in parts
/// (each with the services deploying from it); the link tables are those
/// of a relink in one part, row for row. Each team's services deploy from
/// its own repositories, except where a repo-less deployment's commit is
/// one every repository holds (then its service's part joins teams, and
/// may not be a range of names). Team names sort in byte order as DuckDB
/// compares them (capitals first, an accent last); one repository has
/// pull requests and no commits, and one service deploys a commit no
/// repository holds (it has no repository).
#[test]
fn a_relink_in_parts_links_as_one_in_one_part() {
    let config = MetricsConfig::default();
    let (mut split, mut named) = (0, 0);
    for seed in 1..=10u64 {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut s = Store::in_memory().unwrap();
        for team in ["b/", "A/", "é/", "Z/"] {
            let events = random_import_of(&mut rng, 0, 120, team);
            s.import(events, &config).unwrap();
        }
        let t = "2026-01-02T00:00:00Z";
        s.import(
            events(&[
                &format!(
                    r#"{{"type":"pull_request","repo":"m/prs-only","number":1,"created_at":"{t}","merged_at":"{t}","commits":["ab12"]}}"#
                ),
                &format!(
                    r#"{{"type":"deployment","source":"cd","id":"lone","service":"lone","environment":"production","status":"success","finished_at":"{t}","commit_sha":"ffff"}}"#
                ),
            ]),
            &config,
        )
        .unwrap();
        s.relink_all(&config).unwrap();
        let whole = s.link_tables_text().unwrap();
        let parts = s
            .in_transaction(|conn| link::relink_within(conn, &config, &link::Scope::All, Some(1)))
            .unwrap();
        split += usize::from(parts > 1);
        let tables = "SELECT count(*)::VARCHAR FROM duckdb_tables() \
                      WHERE table_name = 'link_part_repos'";
        named += usize::from(text(&s, tables).as_deref() == Some("1"));
        let in_parts = s.link_tables_text().unwrap();
        assert!(
            whole == in_parts,
            "seed {seed}, {parts} parts: links differ from a relink in one part:\n{}",
            first_differences(&whole, &in_parts)
        );
        // A partial relink past its budget gives way to a full one, in
        // parts, with the same links.
        let touched = link::Scope::Part(link::Touched {
            services: ["b/web".to_string()].into(),
            repos: ["b/acme/web".to_string()].into(),
            ..Default::default()
        });
        let again = s
            .in_transaction(|conn| link::relink_within(conn, &config, &touched, Some(1)))
            .unwrap();
        assert_eq!(again, parts, "seed {seed}: not relinked in full");
        let after = s.link_tables_text().unwrap();
        assert!(
            whole == after,
            "seed {seed}: links differ after a partial relink past its budget:\n{}",
            first_differences(&whole, &after)
        );
    }
    assert!(split >= 5, "only {split} of 10 stores were linked in parts");
    assert!(named >= 1, "no part was other than a range of names");
}

/// Asserts that the link tables now (an incremental relink's) equal
/// those of a full relink of the same store, row for row.
fn links_as_a_full_relink(s: &mut Store, at: &str) {
    let incremental = s.link_tables_text().unwrap();
    s.relink_all(&MetricsConfig::default()).unwrap();
    let full = s.link_tables_text().unwrap();
    assert!(
        incremental == full,
        "{at}: incremental links differ from a full relink's:\n{}",
        first_differences(&full, &incremental)
    );
}

/// The first lines where two texts differ (for a failing comparison).
fn first_differences(want: &str, got: &str) -> String {
    let (w, g): (
        std::collections::BTreeSet<&str>,
        std::collections::BTreeSet<&str>,
    ) = (want.lines().collect(), got.lines().collect());
    w.difference(&g)
        .map(|l| format!("missing: {l}"))
        .chain(g.difference(&w).map(|l| format!("extra:   {l}")))
        .take(8)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A store that was never linked (`import --no-link`) exported by shards,
/// each linking only what its own rows need, gives the lake of the fully
/// linked store, row for row: random organisations split 2, 3 and 4 ways.
#[test]
fn shards_linking_their_own_rows_make_the_lake_of_a_full_link() {
    use crate::Shard;
    let config = MetricsConfig::default();
    let mut partial = 0;
    for seed in 1..=8u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let events = random_import(&mut rng, 0, 250);
        let dir = tempfile::tempdir().unwrap();
        let mut linked = Store::in_memory().unwrap();
        linked.import(events.clone(), &config).unwrap();
        let whole = dir.path().join("whole");
        linked
            .export_lake(&config, &whole, Shard::ALL, None)
            .unwrap();
        let want = linked.lake_text(&whole).unwrap();

        let mut unlinked = Store::in_memory().unwrap();
        let mut import = unlinked.begin_import().unwrap();
        import.no_link();
        import.add(events).unwrap();
        import.commit(None, &config).unwrap();
        assert_eq!(count(&unlinked, "link_deployments"), 0);
        for n in 2..=4 {
            let lake = dir.path().join(format!("in-{n}"));
            for index in 0..n {
                let shard = Shard { index, count: n };
                let written = unlinked.export_lake(&config, &lake, shard, None).unwrap();
                let l = written.linked.expect("an unlinked store links the shard");
                partial += usize::from(l.services < l.services_total);
            }
            let got = unlinked.lake_text(&lake).unwrap();
            assert!(
                got == want,
                "seed {seed}, {n} shards: the lake differs from a full link's:\n{}",
                first_differences(&want, &got)
            );
        }
        // The shards' links were not kept.
        assert_eq!(count(&unlinked, "link_deployments"), 0);
    }
    // The split is real: some shards walked only part of the services.
    assert!(
        partial > 10,
        "only {partial} shards linked part of the store"
    );
}

/// One commit with its parents, author and message as given.
fn commit(
    sha: &str,
    parents: Option<Vec<String>>,
    author: Option<&str>,
    message: Option<&str>,
) -> Event {
    Event::Commit(Commit {
        source: "test".into(),
        repo: "acme/app".into(),
        sha: sha.into(),
        parents,
        authored_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        committed_at: None,
        author: author.map(str::to_string),
        message: message.map(str::to_string),
        extra: Default::default(),
        files: None,
        owners: None,
    })
}

fn text(s: &Store, sql: &str) -> Option<String> {
    s.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn keep_missing_fields_fills_what_a_partial_record_leaves_out() {
    let config = MetricsConfig::default();
    let mut s = Store::in_memory().unwrap();
    s.import(
        vec![commit("a1", Some(vec!["a0".into()]), Some("ann"), None)],
        &config,
    )
    .unwrap();
    // A partial record (a webhook's push commit: no parents), and in the
    // same batch a later one that gives a message but no author.
    let mut import = s.begin_import().unwrap();
    import.keep_missing_fields();
    import
        .add(vec![
            commit("a1", None, Some("bob"), None),
            commit("a1", None, None, Some("fix")),
        ])
        .unwrap();
    let summary = import.commit(None, &config).unwrap();
    assert_eq!(summary.total().updated, 1);
    assert_eq!(
        text(&s, "SELECT parents::VARCHAR FROM commits WHERE sha = 'a1'").as_deref(),
        Some("[a0]")
    );
    assert_eq!(
        text(&s, "SELECT author FROM commits").as_deref(),
        Some("bob")
    );
    assert_eq!(
        text(&s, "SELECT message FROM commits").as_deref(),
        Some("fix")
    );
    // Without it, a record replaces the stored one whole.
    s.import(vec![commit("a1", None, None, None)], &config)
        .unwrap();
    assert_eq!(text(&s, "SELECT author FROM commits"), None);
    assert_eq!(text(&s, "SELECT parents::VARCHAR FROM commits"), None);
}

#[test]
fn a_record_without_paths_keeps_the_stored_paths_and_owners() {
    let config = MetricsConfig::default();
    let mut s = Store::in_memory().unwrap();
    let with = |files: Option<&[&str]>, owners: Option<&[&str]>, author: &str| {
        let Event::Commit(mut c) = commit("a1", None, Some(author), None) else {
            unreachable!()
        };
        let list = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        c.files = files.map(list);
        c.owners = owners.map(list);
        Event::Commit(c)
    };
    s.import(vec![with(Some(&["a/x.rs"]), Some(&["@t"]), "ann")], &config)
        .unwrap();
    // A source that cannot know the paths (GitHub's commit list) replaces
    // the record but not what it does not know.
    s.import(vec![with(None, None, "bob")], &config).unwrap();
    let row = |s: &Store| {
        (
            text(s, "SELECT author FROM commits"),
            text(s, "SELECT files::VARCHAR FROM commits"),
            text(s, "SELECT owners::VARCHAR FROM commits"),
        )
    };
    let some = |v: &str| Some(v.to_string());
    assert_eq!(row(&s), (some("bob"), some("[a/x.rs]"), some("[@t]")));
    // One that knows them replaces them, an empty list included.
    s.import(vec![with(Some(&[]), None, "bob")], &config)
        .unwrap();
    assert_eq!(row(&s), (some("bob"), some("[]"), some("[@t]")));
    // Re-importing the same record writes nothing.
    let again = s.import(vec![with(None, None, "bob")], &config).unwrap();
    assert_eq!(again.total().updated, 0);
}

/// `FLOWMETER_MEMORY_LIMIT=` (set but empty, as a shell or a unit file
/// leaves it) is no limit, not an error at every command.
#[test]
fn an_empty_memory_limit_is_no_limit() {
    std::env::set_var("FLOWMETER_MEMORY_LIMIT", " ");
    let opened = Store::in_memory();
    std::env::remove_var("FLOWMETER_MEMORY_LIMIT");
    opened.unwrap();
}

#[test]
fn commits_stored_in_any_order_link_the_same() {
    // Links do not depend on the order commits are stored in: seven
    // repositories stored interleaved, and one after another, give the same
    // links. (A link reading commits in storage order, to spare DuckDB's
    // sort, would have to notice the interleaving: tried, this test caught
    // it without the check.)
    let config = MetricsConfig::default();
    let n = 1_400;
    let deployments = (0..7).map(|r| {
        let json = serde_json::json!({"type": "deployment", "source": "cd", "id": format!("d{r}"),
            "service": format!("svc{r}"), "repo": format!("acme/r{r}"), "environment": "production",
            "status": "success", "finished_at": "2026-01-01T00:00:00Z",
            "commit_sha": format!("{:040x}", n - 7 + r), "kind": "regular"});
        flowmeter_model::event_from_json(json).unwrap()
    });
    let interleaved: Vec<Event> = commits(n).into_iter().chain(deployments).collect();
    let mut by_repo = interleaved.clone();
    by_repo.sort_by_key(|e| match e {
        Event::Commit(c) => c.repo.clone(),
        _ => String::new(),
    });
    let links = |events: Vec<Event>| {
        let mut s = Store::in_memory().unwrap();
        s.import(events, &config).unwrap();
        let imported = s.link_tables_text().unwrap();
        s.relink_all(&config).unwrap();
        assert_eq!(s.link_tables_text().unwrap(), imported);
        // Every commit is a change, and so is the parent the first commit
        // of r1..r6 names (r0's first, a commit those repositories lack).
        assert_eq!(count(&s, "link_changes"), n as i64 + 6);
        imported
    };
    assert_eq!(links(interleaved), links(by_repo));
}

/// An incident a source withdraws (declined, merged into another) leaves
/// the store, and the deployment it was attributed to fails no more.
#[test]
fn a_withdrawn_incident_leaves_the_store_and_its_attribution() {
    std::env::remove_var("FLOWMETER_FULL_RELINK");
    let config = MetricsConfig::default();
    let mut s = Store::in_memory().unwrap();
    let events: Vec<Event> = [
        r#"{"type":"deployment","source":"cd","id":"d1","service":"web","environment":"production","status":"success","finished_at":"2026-11-02T10:00:00Z","commit_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        r#"{"type":"incident","source":"pd","id":"i1","services":["web"],"created_at":"2026-11-02T11:00:00Z","deployment_id":"d1"}"#,
        r#"{"type":"incident","source":"pd","id":"i2","services":["web"],"created_at":"2026-11-02T12:00:00Z","resolved_at":"2026-11-02T13:00:00Z"}"#,
    ]
    .iter()
    .map(|l| flowmeter_model::event_from_json(serde_json::from_str(l).unwrap()).unwrap())
    .collect();
    s.import(events, &config).unwrap();
    assert_eq!(count(&s, "link_incidents"), 2);
    let failed = "SELECT failed::VARCHAR FROM link_deployments WHERE id = 'd1'";
    assert_eq!(text(&s, failed).as_deref(), Some("true"));
    let done = (s.import_with_cursor(
        vec![],
        &["i1".into(), "i9".into()],
        Some(("pd", "{}")),
        &config,
    ))
    .unwrap();
    assert_eq!(done.withdrawn, 1, "i9 was never stored");
    assert!(done.changed());
    assert_eq!(count(&s, "incidents"), 1);
    let left = "SELECT string_agg(incident_id, ',') FROM link_incidents";
    assert_eq!(text(&s, left).as_deref(), Some("i2"));
    let incremental = s.link_tables_text().unwrap();
    s.relink_all(&config).unwrap();
    assert_eq!(incremental, s.link_tables_text().unwrap());
}

/// An import into a store on disk begins with DuckDB's optimistic writes
/// off and turns them on when a table reaches five row groups
/// (`Staging::EARLY_WRITE_ROWS`): past it, DuckDB writes row groups before
/// the commit, and the commit writes the ones it held. Every row lands,
/// once, and is there when the store is opened again; so are those of a
/// small import into it, and of one given a key twice (rows deleted in
/// the transaction: DuckDB's other commit path).
#[test]
fn an_import_on_disk_past_duckdbs_early_writes_keeps_every_row() {
    let config = MetricsConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.duckdb");
    let n = 2 * crate::import::Staging::EARLY_WRITE_ROWS + 1_000;
    {
        let mut s = Store::open(&path).unwrap();
        let mut import = s.begin_import().unwrap();
        let mut all = commits(n);
        while !all.is_empty() {
            let rest = all.split_off(all.len().min(200_000));
            import.add(std::mem::replace(&mut all, rest)).unwrap();
        }
        let summary = import.commit(None, &config).unwrap();
        assert_eq!(summary.total().inserted, n as u64);
    }
    let mut s = Store::open(&path).unwrap();
    let shape =
        "SELECT count(*)::VARCHAR || ',' || count(DISTINCT sha) || ',' || max(sha) FROM commits";
    let last = format!("{:040x}", n - 1);
    assert_eq!(text(&s, shape), Some(format!("{n},{n},{last}")));
    // A small import, and one with a key given twice.
    s.import(commits(n + 5).split_off(n), &config).unwrap();
    let mut twice = commits(n + 7).split_off(n + 5);
    twice.extend(commits(n + 7).split_off(n + 6));
    s.import(twice, &config).unwrap();
    drop(s);
    let s = Store::open(&path).unwrap();
    let last = format!("{:040x}", n + 6);
    let m = n + 7;
    assert_eq!(text(&s, shape), Some(format!("{m},{m},{last}")));
}

#[test]
fn staging_tables_have_the_columns_of_their_tables() {
    let s = Store::in_memory().unwrap();
    let columns = |sql: &str| -> Vec<(String, String)> {
        let mut stmt = s.conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    };
    for kind in flowmeter_model::EventKind::ALL {
        let (table, _) = crate::records::table_of(kind);
        s.conn
            .execute_batch(&format!(
                "CREATE TEMP TABLE staged ({}); CREATE TEMP TABLE expected AS SELECT *, 0::BIGINT AS seq__ FROM {table} LIMIT 0;",
                crate::columns::staging_definition(kind)
            ))
            .unwrap();
        let of = |t: &str| format!("SELECT column_name, column_type FROM (DESCRIBE {t})");
        assert_eq!(columns(&of("staged")), columns(&of("expected")), "{table}");
        s.conn
            .execute_batch("DROP TABLE staged; DROP TABLE expected;")
            .unwrap();
    }
}

/// A partial relink's scope tables hold a few names as SQL literals and
/// many through the appender (`link::LITERAL_ROWS`), and its statements
/// name a few services and repositories and join on many
/// (`link::Services`, `link::RepoRows`): both give the links of a full
/// relink, names with quotes and NULs included.
#[test]
fn a_scope_of_few_or_many_names_links_as_a_full_relink() {
    std::env::remove_var("FLOWMETER_FULL_RELINK");
    let config = MetricsConfig::default();
    let deployments = |services: std::ops::Range<usize>, hour: usize| -> Vec<Event> {
        services
            .flat_map(|i| {
                let sha = format!("{i:040x}");
                let at = format!("2026-01-01T{hour:02}:00:00Z");
                [
                    serde_json::json!({"type": "commit", "repo": format!("o'rei\0lly/r{}", i % 3),
                        "sha": sha, "authored_at": "2025-12-31T00:00:00Z"}),
                    serde_json::json!({"type": "deployment", "source": "cd", "id": format!("d'{i}"),
                        "service": format!("svc'\0{i}"), "repo": format!("o'rei\0lly/r{}", i % 3),
                        "environment": "production", "status": "success", "finished_at": at,
                        "commit_sha": sha}),
                    serde_json::json!({"type": "incident", "source": "pd", "id": format!("i'{i}"),
                        "services": [format!("svc'\0{i}")], "created_at": at,
                        "deployment_id": format!("d'{i}")}),
                ]
            })
            .map(|j| flowmeter_model::event_from_json(j).unwrap())
            .collect()
    };
    let many = 1_100;
    let mut s = Store::in_memory().unwrap();
    s.import(deployments(0..many, 1), &config).unwrap();
    for (touched, hour) in [(0..many, 2), (5..7, 3)] {
        s.import(deployments(touched.clone(), hour), &config)
            .unwrap();
        // The relink was partial, over the touched services alone.
        let (services, _) = crate::link::scope_size(&s.conn).unwrap();
        assert_eq!(services, touched.len() as u64);
        assert_eq!(count(&s, "link_incidents"), many as i64);
        links_as_a_full_relink(&mut s, &format!("services {touched:?}"));
    }
}

// ------------------------------------- in-memory merge == the SQL merge

/// Imports `events` in one transaction; with `in_duckdb`, every merge
/// compares in DuckDB.
fn import_merged(s: &mut Store, events: Vec<Event>, in_duckdb: bool) -> crate::ImportSummary {
    let mut import = s.begin_import().unwrap();
    import.staging.in_duckdb = in_duckdb;
    import.add(events).unwrap();
    import.commit(None, &MetricsConfig::default()).unwrap()
}

/// Every row of the five record tables, sorted, as text.
fn records_text(s: &Store) -> String {
    let mut out = String::new();
    for table in [
        "deployments",
        "commits",
        "pull_requests",
        "reviews",
        "incidents",
    ] {
        out.push_str(table);
        out.push('\n');
        s.rows_text(&format!("SELECT * FROM {table} ORDER BY ALL"), &mut out)
            .unwrap();
    }
    out
}

/// A small merge compares in memory (`small_merge`); the same imports
/// merged in DuckDB give the same counts, records and links, over random
/// sequences of imports whose keys repeat across them.
#[test]
fn merges_in_memory_write_what_the_sql_merge_writes() {
    std::env::remove_var("FLOWMETER_FULL_RELINK");
    for seed in 1..=12u64 {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (mut a, mut b) = (Store::in_memory().unwrap(), Store::in_memory().unwrap());
        for step in 0..6 {
            let n = if step == 0 { 120 } else { 1 + rng.below(30) };
            let events = random_import(&mut rng, step, n);
            let in_memory = import_merged(&mut a, events.clone(), false);
            let in_duckdb = import_merged(&mut b, events, true);
            let at = format!("seed {seed}, import {step}");
            assert_eq!(in_memory.kinds, in_duckdb.kinds, "{at}");
            let (got, want) = (records_text(&a), records_text(&b));
            assert!(got == want, "{at}:\n{}", first_differences(&want, &got));
            let (got, want) = (a.link_tables_text().unwrap(), b.link_tables_text().unwrap());
            assert!(got == want, "{at}:\n{}", first_differences(&want, &got));
        }
    }
}

/// The paths a commit or pull request changed stay when a later record
/// leaves them out, and change when it gives others; either merge.
#[test]
fn merges_in_memory_keep_the_fields_a_record_leaves_out() {
    let event = |json: serde_json::Value| flowmeter_model::event_from_json(json).unwrap();
    let commit = |files: Option<Vec<&str>>, message: &str| {
        let mut c = serde_json::json!({"type": "commit", "repo": "acme/web", "sha": "a1",
            "authored_at": "2026-01-01T00:00:00Z", "message": message});
        if let Some(files) = files {
            c["files"] = serde_json::json!(files);
        }
        event(c)
    };
    let pr = |owners: Option<Vec<&str>>, title: &str| {
        let mut p = serde_json::json!({"type": "pull_request", "repo": "acme/web", "number": 7,
            "created_at": "2026-01-01T00:00:00Z", "title": title});
        if let Some(owners) = owners {
            p["owners"] = serde_json::json!(owners);
        }
        event(p)
    };
    let steps = [
        (
            vec![
                commit(Some(vec!["a.rs"]), "one"),
                pr(Some(vec!["@web"]), "t"),
            ],
            [1, 0, 0],
        ),
        // Left out: kept, and nothing else differs.
        (vec![commit(None, "one"), pr(None, "t")], [0, 0, 2]),
        // Left out, another field changed: kept beside the change.
        (vec![commit(None, "two"), pr(None, "u")], [0, 2, 0]),
        // Others given: replaced.
        (
            vec![commit(Some(vec!["b.rs"]), "two"), pr(Some(vec![]), "u")],
            [0, 2, 0],
        ),
    ];
    let (mut a, mut b) = (Store::in_memory().unwrap(), Store::in_memory().unwrap());
    for (i, (events, [inserted, updated, unchanged])) in steps.into_iter().enumerate() {
        let in_memory = import_merged(&mut a, events.clone(), false);
        let in_duckdb = import_merged(&mut b, events, true);
        assert_eq!(in_memory.kinds, in_duckdb.kinds, "step {i}");
        let t = in_memory.total();
        if i > 0 {
            assert_eq!(
                (t.inserted, t.updated, t.unchanged),
                (inserted * 2, updated, unchanged),
                "step {i}"
            );
        }
        assert_eq!(records_text(&a), records_text(&b), "step {i}");
    }
    let kept = "SELECT files::VARCHAR || ' ' || message FROM commits";
    assert_eq!(text(&a, kept).as_deref(), Some("[b.rs] two"));
    let kept = "SELECT owners::VARCHAR || ' ' || title FROM pull_requests";
    assert_eq!(text(&a, kept).as_deref(), Some("[] u"));
}

/// The in-memory merge reads the stored rows of every record type in the
/// column types it compares: none falls back to the SQL merge.
#[test]
fn merges_in_memory_read_every_record_type() {
    let config = MetricsConfig::default();
    let mut s = Store::in_memory().unwrap();
    let lines = [
        r#"{"type":"commit","repo":"z/a","sha":"ff","parents":["ee"],"authored_at":"2025-01-01T00:00:00Z","files":["x"]}"#,
        r#"{"type":"pull_request","repo":"z/a","number":1,"created_at":"2025-01-01T00:00:00Z","labels":["bug"],"additions":3}"#,
        r#"{"type":"review","repo":"z/a","pr":1,"id":"k","author":"ann","state":"approved","submitted_at":"2025-01-01T00:00:00Z"}"#,
        r#"{"type":"deployment","source":"cd","id":"k","service":"web","environment":"production","status":"success","finished_at":"2025-01-01T00:00:00Z","commit_sha":"ff","commits":["ff"]}"#,
        r#"{"type":"incident","source":"pd","id":"k","services":["web"],"created_at":"2025-01-01T00:00:00Z"}"#,
    ];
    s.import(events(&lines), &config).unwrap();
    for (kind, line) in flowmeter_model::EventKind::ALL
        .into_iter()
        .zip([3, 0, 1, 2, 4])
    {
        let (table, _) = crate::records::table_of(kind);
        let mut columns = crate::columns::Columns::new(kind);
        columns.push(&events(&[lines[line]])[0]);
        let batch = crate::columns::with_seq(columns.finish(), 0);
        let stored = format!("SELECT rowid AS rowid__, * FROM {table}");
        let merged = crate::small_merge::merge(&s.conn, kind, &[batch], &stored, &[], None);
        let counts = merged
            .unwrap()
            .unwrap_or_else(|| panic!("{table}: not compared in memory"));
        assert_eq!(counts.unchanged, 1, "{table}");
    }
}

/// An import whose records of a type outgrow what is held in memory
/// (`SMALL_MERGE_KEYS`) over several chunks is staged with the chunks held
/// so far: every record lands once; and one giving a key twice is staged
/// for DuckDB, the later record winning.
#[test]
fn records_held_in_memory_are_staged_when_they_outgrow_it() {
    let config = MetricsConfig::default();
    let mut s = Store::in_memory().unwrap();
    s.import(commits(10), &config).unwrap();
    let n = 12_000;
    let mut import = s.begin_import().unwrap();
    let mut all = commits(n);
    while !all.is_empty() {
        let rest = all.split_off(all.len().min(4_000));
        import.add(std::mem::replace(&mut all, rest)).unwrap();
    }
    let done = import.commit(None, &config).unwrap().total();
    assert_eq!((done.inserted, done.unchanged), (n as u64 - 10, 10));
    let shape = "SELECT count(*)::VARCHAR || ',' || count(DISTINCT sha) FROM commits";
    assert_eq!(text(&s, shape), Some(format!("{n},{n}")));
    // A key twice in a small import: the later record wins.
    let mut twice = commits(3);
    if let Event::Commit(c) = &mut twice[2] {
        (c.repo, c.sha) = ("acme/r1".into(), format!("{:040x}", 1));
        c.message = Some("later".into());
    }
    let done = s.import(twice, &config).unwrap().total();
    assert_eq!((done.updated, done.unchanged), (1, 1));
    let later = format!("SELECT message FROM commits WHERE sha = '{:040x}'", 1);
    assert_eq!(text(&s, &later).as_deref(), Some("later"));
}

/// An in-memory merge writing more rows than one DuckDB vector (2,048)
/// writes them a vector at a time, the stored paths kept where a record
/// leaves them out: the same records as the SQL merge.
#[test]
fn merges_in_memory_of_several_vectors_write_what_the_sql_merge_writes() {
    let n = 5_000;
    let with = |files: bool, message: &str| -> Vec<Event> {
        let mut all = commits(n);
        for (i, e) in all.iter_mut().enumerate() {
            if let Event::Commit(c) = e {
                c.message = Some(message.into());
                c.files = (files && i % 3 > 0).then(|| vec![format!("src/{i}.rs")]);
            }
        }
        all
    };
    let (mut a, mut b) = (Store::in_memory().unwrap(), Store::in_memory().unwrap());
    for (events, in_duckdb) in [(with(true, "one"), false), (with(true, "one"), true)] {
        let s = if in_duckdb { &mut b } else { &mut a };
        import_merged(s, events, in_duckdb);
    }
    let in_memory = import_merged(&mut a, with(false, "two"), false);
    let in_duckdb = import_merged(&mut b, with(false, "two"), true);
    assert_eq!(in_memory.kinds, in_duckdb.kinds);
    assert_eq!(in_memory.total().updated, n as u64);
    assert_eq!(records_text(&a), records_text(&b));
    let kept = "SELECT count(*)::VARCHAR FROM commits WHERE files IS NOT NULL";
    assert_eq!(text(&a, kept), Some(format!("{}", n - n.div_ceil(3))));
}
