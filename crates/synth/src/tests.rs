use std::collections::{HashMap, HashSet};

use flowmeter_model::{event_from_json, DeploymentKind, Event};

use super::*;

fn parse_all(values: Vec<serde_json::Value>) -> Vec<Event> {
    let mut errors = Vec::new();
    let mut events = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        match event_from_json(v) {
            Ok(e) => events.push(e),
            Err(e) => errors.push(format!("record {i}: {e}")),
        }
    }
    assert!(
        errors.is_empty(),
        "{} invalid records, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    events
}

fn is_sha(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn demo_org_is_valid_and_consistent() {
    let events = parse_all(demo_org());
    let (start, end) = (demo_start(), demo_end());
    let mut commits: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut prs = HashMap::new();
    for e in &events {
        match e {
            Event::Commit(c) => {
                assert!(is_sha(&c.sha), "{}", c.sha);
                assert!(c.authored_at < end);
                assert!(
                    commits
                        .insert((c.repo.clone(), c.sha.clone()), c.parents.clone().unwrap())
                        .is_none(),
                    "duplicate sha"
                );
            }
            Event::PullRequest(p) => {
                assert!(p.created_at >= start && p.created_at < end);
                assert!(
                    prs.insert((p.repo.clone(), p.number), p.clone()).is_none(),
                    "duplicate PR"
                );
            }
            _ => {}
        }
    }
    // Every parent exists; every repo has exactly one root.
    let mut roots = HashSet::new();
    for ((repo, _), parents) in &commits {
        if parents.is_empty() {
            assert!(roots.insert(repo.clone()), "two roots in {repo}");
        }
        for p in parents {
            assert!(
                commits.contains_key(&(repo.clone(), p.clone())),
                "missing parent {p} in {repo}"
            );
        }
    }
    assert_eq!(roots.len(), 5);
    let (mut merges, mut squashes, mut drafts, mut bugs) = (0, 0, 0, 0);
    for p in prs.values() {
        for c in p.commits.as_deref().unwrap_or_default() {
            assert!(
                commits.contains_key(&(p.repo.clone(), c.clone())),
                "PR commit {c} missing"
            );
        }
        if let Some(m) = &p.merge_commit_sha {
            assert!(p.merged_at.is_some());
            match commits[&(p.repo.clone(), m.clone())].len() {
                2 => merges += 1,
                1 => squashes += 1,
                n => panic!("merge commit with {n} parents"),
            }
        }
        if p.ready_at.is_some_and(|r| r > p.created_at) {
            drafts += 1;
        }
        if p.labels.iter().any(|l| l == "bug" || l == "hotfix") {
            bugs += 1;
        }
    }
    assert!(
        merges > 50 && squashes > 50 && drafts > 20 && bugs > 20,
        "{merges} {squashes} {drafts} {bugs}"
    );

    let mut services = HashSet::new();
    let mut prod_by_service: HashMap<String, Vec<_>> = HashMap::new();
    let (mut rollbacks, mut hotfixes, mut failures, mut staging) = (0, 0, 0, 0);
    let mut deploy_ids = HashSet::new();
    for e in &events {
        match e {
            Event::Deployment(d) => {
                let repo = d.repo.clone().unwrap();
                assert!(
                    commits.contains_key(&(repo.clone(), d.commit_sha.clone())),
                    "deployment {} ships unknown commit",
                    d.id
                );
                assert!(d.started_at.unwrap() >= start && d.finished_at.unwrap() < end);
                assert!(deploy_ids.insert(d.id.clone()));
                services.insert(d.service.clone());
                match d.kind {
                    DeploymentKind::Rollback => rollbacks += 1,
                    DeploymentKind::Hotfix => hotfixes += 1,
                    DeploymentKind::Regular => {}
                }
                if d.status != flowmeter_model::DeploymentStatus::Success {
                    failures += 1;
                }
                if d.environment == "staging" {
                    staging += 1;
                } else if d.status == flowmeter_model::DeploymentStatus::Success {
                    prod_by_service
                        .entry(d.service.clone())
                        .or_default()
                        .push(d.clone());
                }
            }
            Event::Review(r) => {
                assert!(
                    prs.contains_key(&(r.repo.clone(), r.pr)),
                    "review of unknown PR"
                );
                assert!(r.submitted_at < end);
            }
            Event::Incident(i) => {
                assert!(i.created_at >= start && i.created_at < end);
                if let Some(d) = &i.deployment_id {
                    assert!(
                        deploy_ids.contains(d),
                        "incident names unknown deployment {d}"
                    );
                }
            }
            _ => {}
        }
    }
    assert!(services.len() >= 6, "{services:?}");
    assert!(
        rollbacks >= 5 && hotfixes >= 3 && failures >= 3 && staging > 100,
        "{rollbacks} {hotfixes} {failures} {staging}"
    );
    // Rollbacks redeploy an older revision of the same service.
    for deps in prod_by_service.values_mut() {
        deps.sort_by_key(|d| d.finished_at);
        for (i, d) in deps.iter().enumerate() {
            if d.kind == DeploymentKind::Rollback {
                assert!(deps[..i.saturating_sub(1)]
                    .iter()
                    .any(|e| e.commit_sha == d.commit_sha));
            }
        }
    }
    let open = events
        .iter()
        .filter(|e| matches!(e, Event::Incident(i) if i.resolved_at.is_none()))
        .count();
    assert!(open >= 1);
}

/// Median hours from ready to the first review by someone else, per repo.
fn median_pickup(events: &[Event], repo: &str) -> f64 {
    let mut first: HashMap<i64, chrono::DateTime<chrono::Utc>> = HashMap::new();
    let prs: HashMap<i64, _> = events
        .iter()
        .filter_map(|e| match e {
            Event::PullRequest(p) if p.repo == repo => Some((p.number, p.clone())),
            _ => None,
        })
        .collect();
    for e in events {
        if let Event::Review(r) = e {
            if r.repo == repo && prs[&r.pr].author.as_deref() != Some(r.author.as_str()) {
                let t = first.entry(r.pr).or_insert(r.submitted_at);
                *t = (*t).min(r.submitted_at);
            }
        }
    }
    let mut v: Vec<f64> = first
        .iter()
        .map(|(n, t)| {
            let p = &prs[n];
            (*t - p.ready_at.unwrap_or(p.created_at)).num_minutes() as f64 / 60.0
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
fn payments_reviews_are_slow_and_web_reviews_fast() {
    let events = parse_all(demo_org());
    let billing = median_pickup(&events, "acme/billing");
    let web = median_pickup(&events, "acme/web");
    assert!(billing > 24.0, "billing pickup {billing} h");
    assert!(web < 4.0, "web pickup {web} h");
}

#[test]
fn demo_is_deterministic_and_sorted() {
    let a = demo_org();
    assert_eq!(a, demo_org());
    let kinds: Vec<&str> = a.iter().map(|v| v["type"].as_str().unwrap()).collect();
    let order = ["deployment", "commit", "pull_request", "review", "incident"];
    let ranks: Vec<usize> = kinds
        .iter()
        .map(|k| order.iter().position(|o| o == k).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
    assert!(demo_jsonl().len() < 3_000_000);
}

#[test]
fn config_maps_every_demo_service_to_a_team() {
    let events = parse_all(demo_org());
    let toml = demo_config_toml();
    for e in &events {
        if let Event::Deployment(d) = e {
            assert!(
                toml.contains(&format!("\"{}\"", d.service)),
                "{} has no team",
                d.service
            );
        }
    }
    assert!(toml.matches("[teams.").count() >= 3);
}

#[test]
fn synthetic_org_parses_and_is_consistent() {
    let mut buf = Vec::new();
    let counts = write_synthetic_org(&mut buf, 10_000, 7).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, counts.total);
    assert!(
        counts.total >= 10_000 && counts.total < 10_050,
        "{counts:?}"
    );
    assert_eq!(
        counts.total,
        counts.deployments
            + counts.commits
            + counts.pull_requests
            + counts.reviews
            + counts.incidents
    );
    assert!(counts.deployments > 0 && counts.incidents > 0 && counts.reviews > 0);
    let values: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events = parse_all(values);
    let mut commits = HashSet::new();
    for e in &events {
        if let Event::Commit(c) = e {
            assert!(is_sha(&c.sha));
            commits.insert((c.repo.clone(), c.sha.clone()));
        }
    }
    let mut rollbacks = 0;
    for e in &events {
        match e {
            Event::Commit(c) => {
                for p in c.parents.as_deref().unwrap_or_default() {
                    assert!(commits.contains(&(c.repo.clone(), p.clone())));
                }
            }
            Event::Deployment(d) => {
                assert!(commits.contains(&(d.repo.clone().unwrap(), d.commit_sha.clone())));
                assert!(d.finished_at.unwrap() < demo_end());
                rollbacks += (d.kind == DeploymentKind::Rollback) as u32;
            }
            Event::PullRequest(p) => {
                assert!(commits.contains(&(p.repo.clone(), p.merge_commit_sha.clone().unwrap())));
            }
            _ => {}
        }
    }
    let _ = rollbacks;
    let mut again = Vec::new();
    write_synthetic_org(&mut again, 10_000, 7).unwrap();
    assert_eq!(again, text.as_bytes());
}

/// `cargo test --release -p flowmeter-synth -- --ignored --nocapture`
#[test]
#[ignore]
fn synthetic_ten_million_speed() {
    let t = std::time::Instant::now();
    let counts = write_synthetic_org(&mut std::io::sink(), 10_000_000, 1).unwrap();
    eprintln!("{counts:?} in {:?}", t.elapsed());
}
