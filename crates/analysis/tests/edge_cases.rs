//! Each metric's edge cases, on small hand-made stores (one in-memory DuckDB
//! per test, so they run in parallel). Expected numbers are worked out by
//! hand from METRICS.md in the comments.

use chrono::{DateTime, Utc};
use flowmeter_analysis::{compute, compute_grouped, Filters, GroupBy, Grouped, Metrics, Window};
use flowmeter_config::Config;
use flowmeter_model::read_jsonl;
use flowmeter_store::Store;
use serde_json::{json, Value};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn store(events: &[Value]) -> Store {
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    let parsed = read_jsonl(text.as_bytes(), "test.jsonl").unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let mut s = Store::in_memory().unwrap();
    s.import(parsed.events, &Config::default().metrics).unwrap();
    s
}

fn metrics_cfg(s: &Store, config: &Config, since: &str, until: &str, filters: Filters) -> Metrics {
    let w = Window::new(t(since), t(until)).unwrap();
    compute(&mut s.reader().unwrap(), config, w, &filters).unwrap()
}

/// `--by week` over `[since, until)`, default config.
fn weekly(s: &Store, since: &str, until: &str) -> Grouped {
    let w = Window::new(t(since), t(until)).unwrap();
    let mut reader = s.reader().unwrap();
    compute_grouped(
        &mut reader,
        &Config::default(),
        w,
        &Filters::default(),
        GroupBy::Week,
    )
    .unwrap()
}

fn metrics(s: &Store, since: &str, until: &str) -> Metrics {
    metrics_cfg(s, &Config::default(), since, until, Filters::default())
}

fn dep(id: &str, service: &str, sha: &str, finished: &str) -> Value {
    json!({"type":"deployment","id":id,"service":service,"repo":"acme/app","environment":"production",
           "status":"success","finished_at":finished,"commit_sha":sha})
}

fn commit(sha: &str, parents: &[&str], authored: &str) -> Value {
    json!({"type":"commit","repo":"acme/app","sha":sha,"parents":parents,"authored_at":authored})
}

const SINCE: &str = "2026-03-02T00:00:00Z"; // a Monday
const UNTIL: &str = "2026-03-30T00:00:00Z"; // four full ISO weeks

fn close(a: Option<f64>, b: f64) {
    let a = a.expect("a value, not null");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn empty_window_has_null_numbers_and_tiers() {
    let s = store(&[]);
    let m = metrics(&s, SINCE, UNTIL);
    assert_eq!(m.metrics.deployment_frequency.deployments, 0);
    assert_eq!(m.metrics.deployment_frequency.tier, Some("low"));
    assert_eq!(m.metrics.lead_time.p50_hours, None);
    assert_eq!(m.metrics.lead_time.tier, None);
    assert_eq!(m.metrics.change_failure_rate.rate, None);
    assert_eq!(m.metrics.change_failure_rate.tier, None);
    assert_eq!(m.metrics.recovery_time.p50_hours, None);
    assert_eq!(m.metrics.time_to_restore.p50_hours, None);
    assert_eq!(m.metrics.rework_rate.rate, None);
    assert_eq!(m.metrics.cycle_time.bottleneck, None);
    assert_eq!(m.metrics.cycle_time.flow_efficiency, None);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["lead_time"]["p50_hours"], Value::Null);
    assert_eq!(json["cycle_time"]["stages"]["pickup"]["share"], Value::Null);
}

#[test]
fn one_deployment_lead_time_from_commit_author_date() {
    let s = store(&[
        commit("a1", &[], "2026-03-03T00:00:00Z"),
        dep("d1", "app", "a1", "2026-03-03T10:00:00Z"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.deployment_frequency.deployments, 1);
    close(Some(m.deployment_frequency.per_week), 0.25);
    assert_eq!(m.deployment_frequency.deploy_days, 1);
    // weeks: 1, 0, 0, 0 → medians 0; 1 per 28 days < 1 per 30 days? 1/(28/30)=1.07 → medium
    assert_eq!(m.deployment_frequency.tier, Some("medium"));
    assert_eq!(m.lead_time.changes, 1);
    close(m.lead_time.p50_hours, 10.0);
    assert_eq!(m.lead_time.tier, Some("elite"));
}

#[test]
fn graph_walk_stops_at_earlier_deployments() {
    // a1 <- a2 <- a3; d1 deploys a1, d2 deploys a3 and brings a2 and a3.
    let s = store(&[
        commit("a1", &[], "2026-03-02T00:00:00Z"),
        commit("a2", &["a1"], "2026-03-03T00:00:00Z"),
        commit("a3", &["a2"], "2026-03-04T00:00:00Z"),
        dep("d1", "app", "a1", "2026-03-02T06:00:00Z"),
        dep("d2", "app", "a3", "2026-03-05T00:00:00Z"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    // 6 h, 48 h, 24 h
    assert_eq!(m.lead_time.changes, 3);
    close(m.lead_time.p50_hours, 24.0);
    close(m.lead_time.mean_hours, 26.0);
}

#[test]
fn rollback_to_an_older_revision_fails_what_it_undid() {
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        dep("d2", "app", "b", "2026-03-04T10:00:00Z"),
        dep("d3", "app", "c", "2026-03-05T10:00:00Z"),
        dep("d4", "app", "a", "2026-03-05T12:00:00Z"), // back to a: undoes d2 and d3
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.change_failure_rate.failed, Some(2));
    close(m.change_failure_rate.rate, 0.5);
    assert_eq!(m.rework_rate.rework, 1); // the rollback itself
    assert_eq!(m.recovery_time.failed_deployments, Some(2));
    assert_eq!(m.recovery_time.recovered, Some(2));
    close(m.recovery_time.p50_hours, (26.0 + 2.0) / 2.0);
}

#[test]
fn redeploying_the_same_revision_is_not_a_rollback() {
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        dep("d2", "app", "a", "2026-03-04T10:00:00Z"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.change_failure_rate.failed, Some(0));
    assert_eq!(m.rework_rate.rework, 0);
}

/// Deployments read from a local git clone (tags) with no incident source
/// and no rollback: a failure could not be seen, so the rate is unknown,
/// not "0 % elite". Imported deployments are taken at their word.
#[test]
fn a_git_only_store_cannot_know_its_change_failure_rate() {
    let mut d1 = dep("v1", "app", "a", "2026-03-03T10:00:00Z");
    let mut d2 = dep("v2", "app", "b", "2026-03-04T10:00:00Z");
    d1["source"] = json!("git");
    d2["source"] = json!("git");
    let m = metrics(&store(&[d1, d2]), SINCE, UNTIL).metrics;
    assert_eq!(m.change_failure_rate.deployments, 2);
    assert_eq!(m.change_failure_rate.failed, None);
    assert_eq!(m.change_failure_rate.rate, None);
    assert_eq!(m.change_failure_rate.tier, None);
    assert_eq!(m.change_failure_rate.basis, None);
    assert_eq!(m.recovery_time.failed_deployments, None);
    assert_eq!(m.time_to_restore.incidents, None);
    assert!(m.missing.iter().any(|g| g.metric == "change_failure_rate"));
    assert!(m.missing.iter().any(|g| g.metric == "time_to_restore"));
    // The same deployments imported: METRICS.md's 0 of 2.
    let imported = metrics(
        &store(&[
            dep("v1", "app", "a", "2026-03-03T10:00:00Z"),
            dep("v2", "app", "b", "2026-03-04T10:00:00Z"),
        ]),
        SINCE,
        UNTIL,
    )
    .metrics;
    assert_eq!(imported.change_failure_rate.failed, Some(0));
    assert_eq!(imported.change_failure_rate.tier, Some("elite"));
    assert!(imported.missing.is_empty());
}

#[test]
fn explicit_rollback_with_a_new_revision_undoes_the_previous_deployment() {
    let mut d3 = dep("d3", "app", "c", "2026-03-05T10:00:00Z");
    d3["kind"] = json!("rollback");
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        dep("d2", "app", "b", "2026-03-04T10:00:00Z"),
        d3,
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.change_failure_rate.failed, Some(1));
    close(m.recovery_time.p50_hours, 24.0);
}

fn incident(id: &str, service: &str, created: &str, resolved: Option<&str>) -> Value {
    let mut v = json!({"type":"incident","id":id,"service":service,"created_at":created});
    if let Some(r) = resolved {
        v["resolved_at"] = json!(r);
    }
    v
}

#[test]
fn incident_exactly_24_hours_after_a_deploy_is_attributed() {
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        incident(
            "i1",
            "app",
            "2026-03-04T10:00:00Z",
            Some("2026-03-04T12:00:00Z"),
        ),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.change_failure_rate.failed, Some(1));
    close(m.recovery_time.p50_hours, 26.0);
    close(m.time_to_restore.p50_hours, 2.0);
}

#[test]
fn incident_a_second_past_the_window_is_not_attributed() {
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        incident("i1", "app", "2026-03-04T10:00:01Z", None),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.change_failure_rate.failed, Some(0));
    assert_eq!(m.time_to_restore.incidents, Some(1));
    assert_eq!(m.time_to_restore.resolved, Some(0));
}

#[test]
fn explicit_id_of_a_staging_deployment_attributes_nothing() {
    let mut staging = dep("s1", "app", "a", "2026-03-03T09:00:00Z");
    staging["environment"] = json!("staging");
    let mut inc = incident(
        "i1",
        "app",
        "2026-03-03T11:00:00Z",
        Some("2026-03-03T12:00:00Z"),
    );
    inc["deployment_id"] = json!("s1");
    let s = store(&[staging, dep("d1", "app", "a", "2026-03-03T10:00:00Z"), inc]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.change_failure_rate.deployments, 1);
    assert_eq!(
        m.change_failure_rate.failed,
        Some(0),
        "no fallback to the window"
    );
    assert_eq!(m.time_to_restore.resolved, Some(1));
}

#[test]
fn unresolved_incident_leaves_the_deployment_open() {
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        incident("i1", "app", "2026-03-03T11:00:00Z", None),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.recovery_time.failed_deployments, Some(1));
    assert_eq!(m.recovery_time.open, Some(1));
    assert_eq!(m.recovery_time.recovered, Some(0));
    assert_eq!(m.recovery_time.p50_hours, None);
}

#[test]
fn offsets_crossing_midnight_count_utc_days() {
    // 00:30+01:00 on the 4th is 23:30Z on the 3rd: one UTC day with the other.
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        dep("d2", "app", "b", "2026-03-04T00:30:00+01:00"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.deployment_frequency.deploy_days, 1);
    // and a deployment at 23:30-02:00 on Sunday the 29th is Monday the 30th UTC: outside
    let s = store(&[dep("d1", "app", "a", "2026-03-29T23:30:00-02:00")]);
    assert_eq!(
        metrics(&s, SINCE, UNTIL)
            .metrics
            .deployment_frequency
            .deployments,
        0
    );
}

fn pr(number: i64, extra: Value) -> Value {
    let mut v = json!({"type":"pull_request","repo":"acme/app","number":number,"author":"ann"});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

fn review(pr: i64, id: &str, author: &str, at: &str) -> Value {
    json!({"type":"review","repo":"acme/app","pr":pr,"id":id,"author":author,"state":"approved","submitted_at":at})
}

#[test]
fn self_reviews_and_reviews_after_merge_are_ignored() {
    let s = store(&[
        commit("c1", &[], "2026-03-03T08:00:00Z"),
        pr(
            1,
            json!({"created_at":"2026-03-03T10:00:00Z","merged_at":"2026-03-03T20:00:00Z",
                     "commits":["c1"],"merge_commit_sha":"m1"}),
        ),
        review(1, "r1", "ann", "2026-03-03T11:00:00Z"), // self-review
        review(1, "r2", "bob", "2026-03-03T21:00:00Z"), // after merge
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics.cycle_time;
    assert_eq!(m.prs, 1);
    close(m.stages.coding.p50_hours, 2.0);
    close(m.stages.pickup.p50_hours, 10.0); // ready → merge, no valid review
    close(m.stages.review.p50_hours, 0.0);
    assert_eq!(m.stages.deploy.p50_hours, None);
    assert_eq!(m.deployed, 0);
    assert_eq!(m.bottleneck, Some("pickup"));
    close(m.stages.pickup.share, 10.0 / 12.0);
}

#[test]
fn draft_pr_is_ready_when_it_left_draft_and_squash_merge_deploys() {
    // Squash merge: the PR's commits are not on main; m1 is, and d1 ships it.
    let s = store(&[
        commit("p1", &[], "2026-03-02T09:00:00Z"),
        commit("base", &[], "2026-03-01T09:00:00Z"),
        commit("m1", &["base"], "2026-03-04T12:00:00Z"),
        commit("m2", &["m1"], "2026-03-04T13:00:00Z"),
        pr(
            7,
            json!({"created_at":"2026-03-02T10:00:00Z","ready_at":"2026-03-03T10:00:00Z",
                     "merged_at":"2026-03-04T12:00:00Z","commits":["p1"],"merge_commit_sha":"m1"}),
        ),
        review(7, "r1", "bob", "2026-03-03T16:00:00Z"),
        dep("d0", "app", "base", "2026-03-01T10:00:00Z"),
        dep("d1", "app", "m2", "2026-03-04T15:00:00Z"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    let ct = &m.cycle_time;
    close(ct.stages.coding.p50_hours, 25.0); // p1 09:00 on the 2nd → ready 10:00 on the 3rd
    close(ct.stages.pickup.p50_hours, 6.0);
    close(ct.stages.review.p50_hours, 20.0);
    close(ct.stages.deploy.p50_hours, 3.0);
    close(ct.cycle.p50_hours, 54.0);
    close(ct.flow_efficiency, 45.0 / 54.0);
    // lead time: m1 is the PR's merge commit → starts at the PR's first commit (54 h);
    // m2 is not in a PR → its own author date (2 h).
    assert_eq!(m.lead_time.changes, 2);
    close(m.lead_time.p50_hours, 28.0);
}

#[test]
fn monorepo_services_each_count_a_shared_commit_once() {
    let s = store(&[
        commit("a1", &[], "2026-03-03T00:00:00Z"),
        commit("a2", &["a1"], "2026-03-03T06:00:00Z"),
        dep("w1", "web", "a1", "2026-03-03T12:00:00Z"),
        dep("b1", "billing", "a2", "2026-03-04T00:00:00Z"),
        dep("w2", "web", "a2", "2026-03-05T00:00:00Z"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    // web: a1 (12 h), a2 (42 h); billing: a1 (24 h), a2 (18 h)
    assert_eq!(m.lead_time.changes, 4);
    close(m.lead_time.mean_hours, 24.0);
    let web = Filters {
        service: Some("web".into()),
        ..Default::default()
    };
    let m = metrics_cfg(&s, &Config::default(), SINCE, UNTIL, web).metrics;
    assert_eq!(m.lead_time.changes, 2);
    close(m.lead_time.p50_hours, 27.0);
}

#[test]
fn non_positive_lead_times_are_excluded_and_counted() {
    let s = store(&[
        commit("a1", &[], "2026-03-03T12:00:00Z"),
        dep("d1", "app", "a1", "2026-03-03T12:00:00Z"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.lead_time.changes, 0);
    assert_eq!(m.lead_time.excluded, 1);
    assert_eq!(m.lead_time.p50_hours, None);
}

#[test]
fn hotfix_and_bug_labelled_changes_are_rework() {
    let mut hot = dep("d2", "app", "a2", "2026-03-04T00:00:00Z");
    hot["kind"] = json!("hotfix");
    let s = store(&[
        commit("a1", &[], "2026-03-03T00:00:00Z"),
        commit("a2", &["a1"], "2026-03-03T06:00:00Z"),
        commit("a3", &["a2"], "2026-03-04T06:00:00Z"),
        pr(
            3,
            json!({"created_at":"2026-03-04T05:00:00Z","merged_at":"2026-03-04T07:00:00Z",
                     "merge_commit_sha":"a3","labels":["Bug"]}),
        ),
        dep("d1", "app", "a1", "2026-03-03T12:00:00Z"),
        hot,
        dep("d3", "app", "a3", "2026-03-05T00:00:00Z"),
    ]);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(m.rework_rate.rework, 2);
}

/// The one table of headlines names metric objects of the JSON and
/// columns of the comparison frame, and reads the numbers the JSON shows.
#[test]
fn every_headline_key_is_a_metric_of_the_json_and_a_frame_column() {
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        commit("a", &[], "2026-03-02T10:00:00Z"),
    ]);
    let g = weekly(&s, "2026-03-02T00:00:00Z", "2026-03-16T00:00:00Z");
    let frame = flowmeter_analysis::comparison_frame(&g).unwrap();
    let first = &g.groups[0].metrics;
    let json = serde_json::to_value(first).unwrap();
    let mut seen = std::collections::HashSet::new();
    for k in flowmeter_analysis::metric::KEYS {
        assert!(seen.insert(k.key), "{} twice", k.key);
        assert!(json[k.key].is_object(), "{} is not a metric object", k.key);
        let column = flowmeter_analysis::series::floats(&frame, k.frame_column).unwrap();
        assert_eq!(column[0], (k.value)(first), "{}", k.key);
        assert!(["hours", "ratio", "per_week"].contains(&k.unit));
    }
    let lead = flowmeter_analysis::metric::key("lead_time").unwrap();
    assert_eq!((lead.value)(first), Some(24.0));
    assert_eq!((lead.samples)(first), 1);
}

#[test]
fn by_week_clips_groups_to_the_window() {
    let s = store(&[
        dep("d1", "app", "a", "2026-03-03T10:00:00Z"),
        dep("d2", "app", "b", "2026-03-10T10:00:00Z"),
    ]);
    let g = weekly(&s, "2026-03-04T00:00:00Z", "2026-03-16T00:00:00Z");
    let keys: Vec<&str> = g.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["2026-W10", "2026-W11"]);
    assert_eq!(g.groups[0].metrics.deployment_frequency.deployments, 0);
    assert_eq!(
        g.groups[0].metrics.deployment_frequency.tier, None,
        "not a full week"
    );
    assert_eq!(g.groups[1].metrics.deployment_frequency.deployments, 1);
    assert_eq!(g.groups[1].metrics.deployment_frequency.tier, Some("high"));
}

#[test]
fn team_filter_uses_services_and_repos_from_config() {
    let config = Config::parse("[teams.pay]\nservices = [\"billing\"]\n", "t").unwrap();
    let s = store(&[
        dep("w1", "web", "a", "2026-03-03T12:00:00Z"),
        dep("b1", "billing", "b", "2026-03-04T00:00:00Z"),
        incident(
            "i1",
            "billing",
            "2026-03-04T01:00:00Z",
            Some("2026-03-04T02:00:00Z"),
        ),
        incident(
            "i2",
            "web",
            "2026-03-04T01:00:00Z",
            Some("2026-03-04T02:00:00Z"),
        ),
    ]);
    let pay = Filters {
        team: Some("pay".into()),
        ..Default::default()
    };
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, pay).metrics;
    assert_eq!(m.deployment_frequency.deployments, 1);
    assert_eq!(m.change_failure_rate.failed, Some(1));
    assert_eq!(m.time_to_restore.incidents, Some(1));
    let err = compute(
        &mut s.reader().unwrap(),
        &config,
        Window::new(t(SINCE), t(UNTIL)).unwrap(),
        &Filters {
            team: Some("nope".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown team `nope` (teams in the config: pay)"
    );
}

#[test]
fn coverage_names_the_gaps_behind_the_numbers() {
    let config = Config::parse("[teams.pay]\nservices = [\"billing\"]\n", "t").unwrap();
    let s = store(&[
        dep("w1", "web", "a", "2026-03-03T12:00:00Z"),
        dep("b1", "billing", "b", "2026-03-04T00:00:00Z"),
        // Merged without any review record, and merged with one.
        pr(
            1,
            json!({"created_at": "2026-03-03T00:00:00Z", "merged_at": "2026-03-05T00:00:00Z"}),
        ),
        pr(
            2,
            json!({"created_at": "2026-03-03T00:00:00Z", "merged_at": "2026-03-05T00:00:00Z"}),
        ),
        review(2, "r1", "bob", "2026-03-04T00:00:00Z"),
        // A service no deployment knows: an unmapped incident-tool name.
        incident("i1", "Checkout API", "2026-03-06T01:00:00Z", None),
        incident("i2", "web", "2026-03-06T01:00:00Z", None),
    ]);
    let c = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default())
        .metrics
        .coverage;
    assert_eq!(c.prs_without_reviews, 1);
    assert_eq!(c.incidents, 2);
    assert_eq!(c.incidents_unmapped, 1);
    assert_eq!(c.services_without_team, vec!["web".to_string()]);
    // Without teams in the config, no service is said to lack one.
    let c = metrics(&s, SINCE, UNTIL).metrics.coverage;
    assert!(c.services_without_team.is_empty());
}

/// A dated member's claim counts for the weeks it overlaps: `web` belongs
/// to `pay` until 9 March, so from the week after it has no team; a team
/// can also claim a whole repository.
#[test]
fn a_service_is_without_a_team_only_outside_its_members_periods() {
    let config = Config::parse(
        "[teams.pay]\nservices = [\"billing\"]\n\
         [[teams.pay.members]]\nservices = [\"web\"]\nuntil = \"2026-03-09\"\n\
         [teams.core]\nrepos = [\"acme/core\"]\n",
        "t",
    )
    .unwrap();
    let mut core = dep("c1", "api", "c", "2026-03-11T00:00:00Z");
    core["repo"] = json!("acme/core");
    let s = store(&[
        dep("w1", "web", "a", "2026-03-03T12:00:00Z"),
        dep("w2", "web", "b", "2026-03-10T12:00:00Z"),
        dep("b1", "billing", "d", "2026-03-04T00:00:00Z"),
        core,
    ]);
    let g = compute_grouped(
        &mut s.reader().unwrap(),
        &config,
        Window::new(t(SINCE), t("2026-03-16T00:00:00Z")).unwrap(),
        &Filters::default(),
        GroupBy::Week,
    )
    .unwrap();
    let unclaimed: Vec<Vec<String>> = g
        .groups
        .iter()
        .map(|g| g.metrics.coverage.services_without_team.clone())
        .collect();
    assert_eq!(unclaimed, vec![vec![], vec!["web".to_string()]]);
}

/// A pull request recovered from git history (as the git connector writes
/// it) cannot know when it was opened or reviewed: those stages are null,
/// not 0, and shares, bottleneck and flow efficiency rest on the others.
#[test]
fn stages_a_source_cannot_know_are_null_not_zero() {
    let recovered = json!({"type":"pull_request","repo":"acme/app","number":1,
        "created_at":"2026-03-03T09:00:00Z","merged_at":"2026-03-03T12:00:00Z",
        "merge_commit_sha":"m1","commits":["a"],
        "reviews_known":false,"recovered_from":"merge_commit"});
    let normal = json!({"type":"pull_request","repo":"acme/app","number":2,
        "created_at":"2026-03-10T09:00:00Z","merged_at":"2026-03-10T12:00:00Z",
        "merge_commit_sha":"m2","commits":["b"]});
    let only_recovered = store(&[
        commit("a", &[], "2026-03-03T08:00:00Z"),
        commit("m1", &["a"], "2026-03-03T12:00:00Z"),
        recovered.clone(),
        dep("d1", "app", "m1", "2026-03-03T14:00:00Z"),
    ]);
    let ct = metrics(&only_recovered, SINCE, UNTIL).metrics.cycle_time;
    assert_eq!((ct.prs, ct.deployed, ct.stages_unknown), (1, 1, 1));
    for (name, stage) in [
        ("coding", &ct.stages.coding),
        ("pickup", &ct.stages.pickup),
        ("review", &ct.stages.review),
    ] {
        assert_eq!(stage.p50_hours, None, "{name}");
        assert_eq!(stage.share, None, "{name}");
    }
    close(ct.stages.deploy.p50_hours, 2.0);
    close(ct.cycle.p50_hours, 6.0);
    assert_eq!(ct.bottleneck, None);
    assert_eq!(ct.flow_efficiency, None);

    let both = store(&[
        commit("a", &[], "2026-03-03T08:00:00Z"),
        commit("m1", &["a"], "2026-03-03T12:00:00Z"),
        commit("b", &["m1"], "2026-03-10T06:00:00Z"),
        commit("m2", &["m1", "b"], "2026-03-10T12:00:00Z"),
        recovered,
        normal,
        dep("d1", "app", "m1", "2026-03-03T14:00:00Z"),
        dep("d2", "app", "m2", "2026-03-10T13:00:00Z"),
    ]);
    let m = metrics(&both, SINCE, UNTIL).metrics;
    let ct = &m.cycle_time;
    assert_eq!(ct.stages_unknown, 1);
    // Shares from PR 2 alone: coding 3 h, pickup 3 h, review 0, deploy 1 h.
    close(ct.stages.coding.share, 3.0 / 7.0);
    close(ct.stages.pickup.share, 3.0 / 7.0);
    close(ct.stages.deploy.share, 1.0 / 7.0);
    assert_eq!(ct.bottleneck, Some("coding"));
    close(ct.flow_efficiency, 3.0 / 7.0);
    // The deploy stage is known for both.
    close(ct.stages.deploy.p50_hours, 1.5);
    assert!(m.missing.iter().any(|g| g.metric == "cycle_time.stages"));
}

/// A reorganisation: team `core` owned service `a` until 16 March, when it
/// moved to team `edge`; `core` took over `b` then. A window before, after
/// and across the move counts each deployment for the team of its time.
#[test]
fn teams_with_history_use_the_mapping_of_the_time() {
    let config = Config::parse(
        r#"
[teams.core]
[[teams.core.members]]
services = ["a"]
until = 2026-03-16
[[teams.core.members]]
services = ["b"]
since = "2026-03-16"

[teams.edge]
[[teams.edge.members]]
services = ["a"]
since = 2026-03-16
"#,
        "teams.toml",
    )
    .unwrap();
    let s = store(&[
        dep("a1", "a", "x1", "2026-03-03T10:00:00Z"),
        dep("a2", "a", "x2", "2026-03-10T10:00:00Z"),
        dep("a3", "a", "x3", "2026-03-17T10:00:00Z"),
        dep("b1", "b", "y1", "2026-03-04T10:00:00Z"),
        dep("b2", "b", "y2", "2026-03-18T10:00:00Z"),
        dep("b3", "b", "y3", "2026-03-25T10:00:00Z"),
    ]);
    let team = |t: &str, since: &str, until: &str| {
        let f = Filters {
            team: Some(t.into()),
            ..Filters::default()
        };
        metrics_cfg(&s, &config, since, until, f)
            .metrics
            .deployment_frequency
            .deployments
    };
    // Across the move: core had a1, a2 (a, before) and b2, b3 (b, after).
    assert_eq!(team("core", SINCE, UNTIL), 4);
    assert_eq!(team("edge", SINCE, UNTIL), 1);
    // Before the move, core had only a; edge nothing.
    assert_eq!(team("core", SINCE, "2026-03-16T00:00:00Z"), 2);
    assert_eq!(team("edge", SINCE, "2026-03-16T00:00:00Z"), 0);
    // Incidents by their creation, pull requests by their merge.
    let incident = |id: &str, at: &str| {
        json!({"type":"incident","source":"pd","id":id,"services":["a"],"created_at":at,
               "resolved_at":"2026-03-28T00:00:00Z"})
    };
    let pr = |n: u64, merged: &str| {
        json!({"type":"pull_request","repo":"acme/app","number":n,"created_at":"2026-03-02T09:00:00Z",
               "merged_at":merged})
    };
    let s = store(&[
        dep("a1", "a", "x1", "2026-03-03T10:00:00Z"),
        dep("a3", "a", "x3", "2026-03-17T10:00:00Z"),
        incident("i1", "2026-03-05T10:00:00Z"),
        incident("i2", "2026-03-17T12:00:00Z"),
        pr(1, "2026-03-05T10:00:00Z"),
        pr(2, "2026-03-20T10:00:00Z"),
    ]);
    let scoped = |t: &str, since: &str, until: &str| {
        let f = Filters {
            team: Some(t.into()),
            ..Filters::default()
        };
        let m = metrics_cfg(&s, &config, since, until, f).metrics;
        (m.time_to_restore.incidents, m.cycle_time.prs)
    };
    // core owned `a` (and so acme/app) before the move: i1 and PR 1.
    assert_eq!(scoped("core", SINCE, "2026-03-16T00:00:00Z"), (Some(1), 1));
    // edge owns `a` since: i2 and PR 2; before the move, nothing.
    assert_eq!(scoped("edge", SINCE, UNTIL), (Some(1), 1));
    assert_eq!(scoped("edge", SINCE, "2026-03-16T00:00:00Z"), (Some(0), 0));
    // A bad period is refused with the file named.
    let e = Config::parse(
        "[teams.x]\n[[teams.x.members]]\nsince = 2026-03-16\nuntil = 2026-03-01\n",
        "teams.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("teams.toml") && e.contains("must be before"),
        "{e}"
    );
}

/// `pr_team = "author"`: a pull request counts for its author's team at
/// the time it merged, whatever repository it touched.
#[test]
fn pull_requests_can_count_for_their_authors_team() {
    let config = Config::parse(
        r#"
[metrics]
pr_team = "author"
[teams.core]
people = ["ada"]
[[teams.core.members]]
people = ["bob"]
until = 2026-03-16
"#,
        "teams.toml",
    )
    .unwrap();
    let pr = |n: u64, author: &str, merged: &str| {
        json!({"type":"pull_request","repo":"acme/other","number":n,"author":author,
               "created_at":"2026-03-02T09:00:00Z","merged_at":merged})
    };
    let s = store(&[
        pr(1, "ada", "2026-03-05T10:00:00Z"),
        pr(2, "bob", "2026-03-06T10:00:00Z"),
        pr(3, "bob", "2026-03-20T10:00:00Z"),
        pr(4, "eve", "2026-03-07T10:00:00Z"),
    ]);
    let f = Filters {
        team: Some("core".into()),
        ..Filters::default()
    };
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, f);
    // ada always, bob until the 16th: PRs 1 and 2.
    assert_eq!(m.metrics.cycle_time.prs, 2);
}

/// A release rolled out to three regions is one deployment with
/// `dedupe_regions`; its changes are deployed when it first reached
/// production, or (`deployed_when = "everywhere"`) its last region.
#[test]
fn a_rollout_to_several_regions_counts_once() {
    let region = |id: &str, sha: &str, env: &str, at: &str| {
        json!({"type":"deployment","id":id,"service":"app","repo":"acme/app","environment":env,
               "status":"success","finished_at":at,"commit_sha":sha})
    };
    let events = [
        commit("x", &[], "2026-03-03T08:00:00Z"),
        commit("y", &["x"], "2026-03-04T08:00:00Z"),
        region("x-eu", "x", "prod-eu", "2026-03-03T10:00:00Z"),
        region("x-us", "x", "prod-us", "2026-03-03T11:00:00Z"),
        region("x-ap", "x", "prod-ap", "2026-03-03T12:00:00Z"),
        region("y-eu", "y", "prod-eu", "2026-03-04T10:00:00Z"),
        region("y-us", "y", "prod-us", "2026-03-04T11:00:00Z"),
        json!({"type":"incident","source":"pd","id":"i1","services":["app"],
               "created_at":"2026-03-04T13:00:00Z","resolved_at":"2026-03-04T14:00:00Z",
               "deployment_id":"y-us"}),
    ];
    let s = store(&events);
    let m = metrics(&s, SINCE, UNTIL).metrics;
    // As METRICS.md says: every successful production deployment counts.
    assert_eq!(m.deployment_frequency.deployments, 5);

    let mut config = Config::parse("[metrics]\ndedupe_regions = true\n", "t.toml").unwrap();
    let mut s = store(&events);
    s.relink_all(&config.metrics).unwrap();
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default()).metrics;
    assert_eq!(m.deployment_frequency.deployments, 2);
    assert_eq!(m.lead_time.changes, 2);
    close(m.lead_time.p50_hours, 2.0); // x: 08:00 -> 10:00, y: 08:00 -> 10:00
                                       // The incident names the US deployment of y: it fails y's release.
    assert_eq!(m.change_failure_rate.failed, Some(1));
    assert_eq!(m.change_failure_rate.deployments, 2);

    config = Config::parse(
        "[metrics]\ndedupe_regions = true\ndeployed_when = \"everywhere\"\n",
        "t.toml",
    )
    .unwrap();
    s.relink_all(&config.metrics).unwrap();
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default()).metrics;
    assert_eq!(m.deployment_frequency.deployments, 2);
    // x reached its last region at 12:00 (4 h), y at 11:00 (3 h).
    close(m.lead_time.p50_hours, 3.5);
}

/// The `devlake` profile: the keys by Apache DevLake's rules
/// (docs/PROFILES.md §4), worked out by hand from its code.
#[test]
fn the_devlake_profile_follows_devlakes_rules() {
    let dated = |mut v: Value, started: &str| {
        v["started_at"] = json!(started);
        v
    };
    let s = store(&[
        commit("a", &[], "2026-02-20T00:00:00Z"),
        commit("b", &["a"], "2026-03-02T10:00:30Z"),
        commit("c", &["b"], "2026-03-03T08:00:00Z"),
        commit("d", &["c"], "2026-03-09T09:00:00Z"),
        // D1 is the service's first deployment: DevLake credits it with no
        // change, so a PR it shipped has no deployment.
        dep("D1", "app", "a", "2026-02-25T00:00:00Z"),
        dated(
            dep("D2", "app", "c", "2026-03-04T12:00:00Z"),
            "2026-03-04T11:00:00Z",
        ),
        dated(
            dep("D3", "app", "d", "2026-03-10T10:00:00Z"),
            "2026-03-10T09:00:00Z",
        ),
        // coding ceil(119.5 min) = 120, open 1200, deploy 03-03 08:00 ->
        // D2 03-04 12:00 = 1680: cycle 3000 min.
        pr(
            1,
            json!({"first_commit_at":"2026-03-02T10:00:30Z","created_at":"2026-03-02T12:00:00Z",
                     "merged_at":"2026-03-03T08:00:00Z","merge_commit_sha":"c","commits":["b","c"]}),
        ),
        // coding negative -> NULL -> 0; open ceil(90.33) = 91; deploy
        // ceil(1379.33) = 1380: cycle 1471 min.
        pr(
            2,
            json!({"first_commit_at":"2026-03-09T10:00:00Z","created_at":"2026-03-09T09:30:00Z",
                     "merged_at":"2026-03-09T11:00:20Z","merge_commit_sha":"d","commits":["d"]}),
        ),
        // Shipped only by the first deployment, and never shipped.
        pr(
            3,
            json!({"created_at":"2026-02-19T00:00:00Z","merged_at":"2026-02-20T00:00:00Z",
                     "merge_commit_sha":"a"}),
        ),
        pr(
            4,
            json!({"created_at":"2026-03-10T00:00:00Z","merged_at":"2026-03-10T01:00:00Z",
                     "merge_commit_sha":"zzz"}),
        ),
        // On D2 (12 h after it): 1110 min from D2's finish to resolution.
        incident(
            "I1",
            "app",
            "2026-03-05T00:00:00Z",
            Some("2026-03-05T06:30:30Z"),
        ),
        // Ten days after D3, far past flowmeter's 24 h window: DevLake
        // still puts it on D3 (13860 min).
        incident(
            "I2",
            "app",
            "2026-03-20T00:00:00Z",
            Some("2026-03-20T01:00:00Z"),
        ),
        // On D1, before the window.
        incident(
            "I3",
            "app",
            "2026-03-01T00:00:00Z",
            Some("2026-03-01T05:00:00Z"),
        ),
    ]);
    let mut config = Config::default();
    config.metrics.profile = flowmeter_config::Profile::Devlake;
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default()).metrics;
    assert!(m.tier_source.contains("DevLake"), "{}", m.tier_source);

    // Lead time: PRs 1 and 2, lower median of [1471, 3000] minutes.
    let lt = &m.lead_time;
    assert_eq!((lt.changes, lt.excluded), (2, 0));
    close(lt.p50_hours, 1471.0 / 60.0);
    close(lt.p90_hours, 1471.0 / 60.0);
    close(lt.mean_hours, (1471.0 + 3000.0) / 2.0 / 60.0);
    assert_eq!(lt.tier, Some("high"));

    // Both deployments of the window have an incident: 100 %, low.
    let cfr = &m.change_failure_rate;
    assert_eq!((cfr.deployments, cfr.failed), (2, Some(2)));
    close(cfr.rate, 1.0);
    assert_eq!(cfr.tier, Some("low"));

    // Recovery per incident: lower median of [1110, 13860] minutes.
    let rt = &m.recovery_time;
    assert_eq!(
        (rt.failed_deployments, rt.recovered, rt.open),
        (Some(2), Some(2), Some(0))
    );
    close(rt.p50_hours, 18.5);
    assert_eq!(rt.tier, Some("high"));

    // Time to restore: I1 390 min, I2 60 min; lower median 60.
    let ttr = &m.time_to_restore;
    assert_eq!((ttr.incidents, ttr.resolved), (Some(2), Some(2)));
    close(ttr.p50_hours, 1.0);

    // Deploy days per Monday week [1, 1, 0, 0]: lower median 0; per month
    // (March) 2: medium.
    let df = &m.deployment_frequency;
    assert_eq!((df.deployments, df.deploy_days, df.full_weeks), (2, 2, 4));
    close(df.median_deploy_days_per_week, 0.0);
    close(df.median_deploy_days_per_month, 2.0);
    assert_eq!(df.tier, Some("medium"));

    // The same store by METRICS.md: commits b, c, d are the changes, and
    // only D2 failed (I2 is past the attribution window).
    let ours = metrics(&s, SINCE, UNTIL).metrics;
    assert_eq!(ours.lead_time.changes, 3);
    close(ours.change_failure_rate.rate, 0.5);

    // The compared deltas read DevLake's records too.
    let mut reader = s.reader().unwrap();
    let w = |a: &str, b: &str| Window::new(t(a), t(b)).unwrap();
    let mut now = compute(&mut reader, &config, w(SINCE, UNTIL), &Filters::default()).unwrap();
    let before = compute(
        &mut reader,
        &config,
        w("2026-02-02T00:00:00Z", SINCE),
        &Filters::default(),
    )
    .unwrap();
    flowmeter_analysis::delta::compare(&mut reader, &config, &mut now, &before).unwrap();
    let change = now.metrics.lead_time.change.as_ref().unwrap();
    assert_eq!(change.samples, [2, 0]);

    // `explain` lists DevLake's records: the two PRs, and the incidents on
    // D2 and D3 (I2 among them).
    let mut explained = |what| {
        let window = w(SINCE, UNTIL);
        let filters = Filters::default();
        flowmeter_analysis::explain::explain(&mut reader, &config, what, window, None, &filters, 10)
            .unwrap()
    };
    use flowmeter_analysis::explain::Explained;
    let lt = explained(Explained::LeadTime);
    let col = |e: &flowmeter_analysis::explain::Explanation, name: &str| {
        let i = e.columns.iter().position(|c| c == name).unwrap();
        e.rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>()
    };
    assert_eq!(col(&lt, "cycle_minutes"), [json!(3000), json!(1471)]);
    assert_eq!(col(&lt, "coding_minutes"), [json!(120), Value::Null]);
    let cfr = explained(Explained::ChangeFailureRate);
    assert_eq!(col(&cfr, "id"), [json!("D2"), json!("D3")]);
    assert_eq!(col(&cfr, "incidents"), [json!("I1"), json!("I2")]);
    let rt = explained(Explained::RecoveryTime);
    assert_eq!(col(&rt, "recovery_minutes"), [json!(13860), json!(1110)]);
}

#[test]
fn the_devlake_profile_without_incidents_says_na() {
    // A CI source's deployments but no incident: METRICS.md reads no
    // incident as none happening; DevLake shows N/A.
    let s = store(&[
        commit("a", &[], "2026-03-01T00:00:00Z"),
        dep("D1", "app", "a", "2026-03-04T12:00:00Z"),
    ]);
    let mut config = Config::default();
    config.metrics.profile = flowmeter_config::Profile::Devlake;
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default()).metrics;
    assert_eq!(m.change_failure_rate.rate, None);
    assert_eq!(m.change_failure_rate.tier, None);
    assert_eq!(m.recovery_time.failed_deployments, None);
    let missing = m
        .missing
        .iter()
        .find(|x| x.metric == "change_failure_rate")
        .expect("a missing entry");
    assert!(missing.reason.contains("DevLake"), "{}", missing.reason);
}

/// The `four-keys` profile: the keys by Google Four Keys' rules
/// (docs/PROFILES.md §5), worked out by hand from its SQL.
#[test]
fn the_four_keys_profile_follows_four_keys_rules() {
    let caused = |mut v: Value, sha: &str| {
        v["root_cause"] = json!(sha);
        v
    };
    let s = store(&[
        commit("a", &[], "2026-02-20T00:00:00Z"),
        commit("b", &["a"], "2026-03-02T10:00:30Z"),
        commit("c", &["b"], "2026-03-03T08:00:00Z"),
        commit("d", &["c"], "2026-03-09T09:00:00Z"),
        commit("e", &["d"], "2026-03-10T10:00:30Z"),
        dep("D1", "app", "a", "2026-02-25T00:00:00Z"),
        dep("D2", "app", "c", "2026-03-04T12:00:00Z"),
        dep("D3", "app", "e", "2026-03-10T10:01:00Z"),
        // Root cause c shipped by D2 at 03-04 12:00: restored 18.5 h later,
        // 18 whole hours.
        caused(
            incident(
                "I1",
                "app",
                "2026-03-05T00:00:00Z",
                Some("2026-03-05T06:30:00Z"),
            ),
            "c",
        ),
        // Root cause d shipped by D3: 230.98 h, 230 whole hours.
        caused(
            incident(
                "I2",
                "app",
                "2026-03-20T00:00:00Z",
                Some("2026-03-20T01:00:00Z"),
            ),
            "d",
        ),
        // No root cause: from its creation, 2.98 h, 2 whole hours.
        incident(
            "I3",
            "app",
            "2026-03-12T00:00:00Z",
            Some("2026-03-12T02:59:00Z"),
        ),
        // c again, unresolved.
        caused(incident("I4", "app", "2026-03-06T00:00:00Z", None), "c"),
    ]);
    let mut config = Config::default();
    config.metrics.profile = flowmeter_config::Profile::FourKeys;
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default()).metrics;
    assert!(m.tier_source.contains("Four Keys"), "{}", m.tier_source);

    // Lead time per (deployment, change), whole minutes: b 2999, c 1680,
    // d 1501; e 30 s -> 0 min, left out. Interpolated median 1680.
    let lt = &m.lead_time;
    assert_eq!((lt.changes, lt.excluded), (3, 1));
    close(lt.p50_hours, 28.0);
    close(lt.p90_hours, (1680.0 + 0.8 * (2999.0 - 1680.0)) / 60.0);
    assert_eq!(lt.tier, Some("high"));

    // Rows with an incident: (D2, c, I1), (D2, c, I4), (D3, d, I2): 3 over
    // 2 deployments, 150 %, as Four Keys' dashboard would say.
    let cfr = &m.change_failure_rate;
    assert_eq!((cfr.deployments, cfr.failed), (2, Some(3)));
    close(cfr.rate, 1.5);
    assert_eq!(cfr.tier, Some("low"));

    // Four Keys has no failed deployment recovery time.
    assert_eq!(m.recovery_time.failed_deployments, None);
    assert_eq!(m.recovery_time.p50_hours, None);
    assert!(m.missing.iter().any(|x| x.metric == "recovery_time"));

    // Time to restore over the 4 incidents starting in the window; whole
    // hours [2, 18, 230] (I4 unresolved): median 18.
    let ttr = &m.time_to_restore;
    assert_eq!((ttr.incidents, ttr.resolved), (Some(4), Some(3)));
    close(ttr.p50_hours, 18.0);
    close(ttr.p90_hours, 18.0 + 0.8 * 212.0);

    // Sunday weeks 03-01 (partial), 03-08, 03-15, 03-22, 03-29 (partial):
    // deploy days [1, 1, 0, 0, 0], deployed weeks of March 2: Monthly.
    let df = &m.deployment_frequency;
    assert_eq!((df.deployments, df.full_weeks), (2, 5));
    close(df.median_deploy_days_per_week, 0.0);
    close(df.median_week_deployed, 0.0);
    close(df.median_deployed_weeks_per_month, 2.0);
    assert_eq!(df.tier, Some("medium"));

    // `explain` lists the failing rows and the (deployment, change) rows.
    let mut reader = s.reader().unwrap();
    let window = Window::new(t(SINCE), t(UNTIL)).unwrap();
    let mut explained = |what| {
        flowmeter_analysis::explain::explain(
            &mut reader,
            &config,
            what,
            window,
            None,
            &Filters::default(),
            10,
        )
        .unwrap()
    };
    use flowmeter_analysis::explain::Explained;
    let cfr = explained(Explained::ChangeFailureRate);
    assert_eq!(cfr.total, 3);
    let lt = explained(Explained::LeadTime);
    assert_eq!(lt.total, 4);
    assert_eq!(explained(Explained::RecoveryTime).total, 0);

    // A short, upper-case root cause names the stored commit it prefixes.
    let (a, b) = ("a".repeat(40), format!("b{}", "0".repeat(39)));
    let s = store(&[
        commit(&a, &[], "2026-02-01T00:00:00Z"),
        commit(&b, &[&a], "2026-03-03T00:00:00Z"),
        dep("D1", "app", &a, "2026-02-02T00:00:00Z"),
        dep("D2", "app", &b, "2026-03-04T00:00:00Z"),
        caused(
            incident("I1", "app", "2026-03-05T00:00:00Z", None),
            "B000000",
        ),
    ]);
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default()).metrics;
    let cfr = &m.change_failure_rate;
    assert_eq!((cfr.deployments, cfr.failed), (1, Some(1)), "{cfr:?}");

    // Without any root cause, the rate is unknown, not 0.
    let s = store(&[
        commit("a", &[], "2026-03-01T00:00:00Z"),
        dep("D1", "app", "a", "2026-03-04T12:00:00Z"),
        incident("I1", "app", "2026-03-05T00:00:00Z", None),
    ]);
    let m = metrics_cfg(&s, &config, SINCE, UNTIL, Filters::default()).metrics;
    assert_eq!(m.change_failure_rate.rate, None);
    let missing = (m.missing.iter())
        .find(|x| x.metric == "change_failure_rate")
        .expect("a missing entry");
    assert!(
        missing.supplied_by.contains("root cause"),
        "{}",
        missing.supplied_by
    );
}
