//! End-to-end tests: fixture repositories built with the `git` CLI in a
//! temporary directory, read back through the connector.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};
use flowmeter_connector::{Connector, Cursor, SyncContext};
use flowmeter_git::{GitConfig, GitConnector};
use flowmeter_model::{event_from_json, Deployment, Event, PullRequest};
use serde_json::Value;

const T0: i64 = 1_700_000_000;

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let r = Repo { dir };
        r.git(&["-c", "init.defaultBranch=main", "init", "-q"], 0);
        r.git(&["config", "user.name", "Ada Lovelace"], 0);
        r.git(&["config", "user.email", "ada@example.com"], 0);
        r.git(&["config", "commit.gpgsign", "false"], 0);
        r.git(&["config", "tag.gpgsign", "false"], 0);
        r
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git with author and committer date `T0 + at` seconds.
    fn git(&self, args: &[&str], at: i64) -> String {
        let date = format!("{} +0000", T0 + at);
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path())
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `file`, commits it with `message` at `T0 + at`, returns the sha.
    fn commit(&self, file: &str, message: &str, at: i64) -> String {
        let path = self.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, format!("{old}{message}\n")).unwrap();
        self.git(&["add", "-A"], at);
        self.git(&["commit", "-q", "-m", message], at);
        self.git(&["rev-parse", "HEAD"], at)
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).unwrap()
}

fn config(repo: &Repo, deployments: Option<&str>) -> GitConfig {
    GitConfig {
        source_type: None,
        name: None,
        path: repo.path().to_path_buf(),
        repo: "acme/web".into(),
        branch: "main".into(),
        deployments: deployments.map(str::to_string),
        environment: "production".into(),
        services: BTreeMap::new(),
        batch_size: None,
        files: true,
    }
}

fn ctx() -> SyncContext {
    SyncContext::since(DateTime::from_timestamp(0, 0).unwrap())
}

/// Serialises an event as the interchange format (flattening `extra`) and
/// checks that the model's parser accepts it.
fn round_trip(event: &Event) {
    let mut value = serde_json::to_value(event).unwrap();
    let obj = value.as_object_mut().unwrap();
    if let Some(Value::Object(extra)) = obj.remove("extra") {
        for (k, v) in extra {
            obj.entry(k).or_insert(v);
        }
    }
    let parsed = event_from_json(value.clone())
        .unwrap_or_else(|e| panic!("event does not parse: {e}\n{value}"));
    assert_eq!(parsed.kind(), event.kind());
}

/// Runs batches until the connector is up to date.
async fn sync(
    conn: &mut GitConnector,
    cursor: Option<Cursor>,
) -> (Vec<Event>, Option<Cursor>, usize) {
    let (events, cursor, batches, _) = sync_noting(conn, cursor).await;
    (events, cursor, batches)
}

/// [`sync`], and the notes of every batch.
async fn sync_noting(
    conn: &mut GitConnector,
    cursor: Option<Cursor>,
) -> (Vec<Event>, Option<Cursor>, usize, Vec<String>) {
    let mut cursor = cursor;
    let (mut events, mut notes) = (Vec::new(), Vec::new());
    let mut batches = 0;
    while let Some(batch) = conn.next_batch(&ctx(), cursor.as_ref()).await.unwrap() {
        batches += 1;
        assert!(batches < 1000, "sync does not terminate");
        for e in &batch.events {
            round_trip(e);
        }
        events.extend(batch.events);
        notes.extend(batch.notes);
        cursor = Some(batch.cursor);
    }
    (events, cursor, batches, notes)
}

fn commits(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Commit(c) => Some(c.sha.clone()),
            _ => None,
        })
        .collect()
}

fn deployments(events: &[Event]) -> Vec<Deployment> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Deployment(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn prs(events: &[Event]) -> Vec<PullRequest> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PullRequest(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn set(v: &[String]) -> HashSet<String> {
    v.iter().cloned().collect()
}

#[tokio::test]
async fn commits_and_tags() {
    let repo = Repo::new();
    let c1 = repo.commit("a.txt", "First", 0);
    repo.git(&["tag", "v1.0"], 100); // lightweight: commit date
    let c2 = repo.commit("a.txt", "Second line\n\nwith a body", 3600);
    repo.git(&["tag", "-a", "v1.1", "-m", "release 1.1"], 7200); // annotated: tagger date
    repo.git(&["tag", "other"], 7200);

    let mut conn = GitConnector::new(config(&repo, Some("tags:v*"))).unwrap();
    assert_eq!(conn.name(), "git");
    let (events, _, _) = sync(&mut conn, None).await;

    assert_eq!(set(&commits(&events)), set(&[c1.clone(), c2.clone()]));
    let second = events
        .iter()
        .find_map(|e| match e {
            Event::Commit(c) if c.sha == c2 => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(second.parents, Some(vec![c1.clone()]));
    assert_eq!(second.authored_at, at(3600));
    assert_eq!(second.committed_at, Some(at(3600)));
    assert_eq!(second.message.as_deref(), Some("Second line"));
    assert_eq!(
        second.author.as_deref(),
        Some("Ada Lovelace <ada@example.com>")
    );
    assert_eq!(second.repo, "acme/web");
    assert_eq!(second.source, "git");

    let mut deps = deployments(&events);
    deps.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(deps.len(), 2, "`other` does not match v*");
    assert_eq!(deps[0].id, "v1.0");
    assert_eq!(deps[0].commit_sha, c1);
    assert_eq!(deps[0].finished_at, Some(at(0)));
    assert_eq!(deps[0].service, "acme/web");
    assert_eq!(deps[0].environment, "production");
    assert_eq!(deps[0].commits, None);
    assert_eq!(deps[1].id, "v1.1");
    assert_eq!(deps[1].commit_sha, c2);
    assert_eq!(deps[1].finished_at, Some(at(7200)));
    assert_eq!(
        deps[1].actor.as_deref(),
        Some("Ada Lovelace <ada@example.com>")
    );
    assert_eq!(deps[1].git_ref.as_deref(), Some("v1.1"));
}

/// The harness every connector passes: valid EVENTS.md records, stable
/// keys, a second sync from the final cursor fetches nothing, an
/// interrupted sync resumes to the same records.
#[tokio::test]
async fn passes_the_conformance_harness() {
    let repo = Repo::new();
    repo.commit("a.txt", "First", 0);
    repo.git(&["tag", "v1.0"], 100);
    repo.commit("a.txt", "Second (#12)", 3600);
    repo.git(&["tag", "-a", "v1.1", "-m", "release 1.1"], 7200);
    let report = flowmeter_connector::conformance::check(
        || {
            let mut cfg = config(&repo, Some("tags:v*"));
            cfg.batch_size = Some(1);
            GitConnector::new(cfg).unwrap()
        },
        &ctx(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.events.len(),
        5,
        "2 commits, 1 pull request, 2 deployments"
    );
}

#[tokio::test]
async fn merge_commit_becomes_pull_request() {
    let repo = Repo::new();
    let base = repo.commit("a.txt", "Base", 0);
    repo.git(&["checkout", "-q", "-b", "feature"], 10);
    let f1 = repo.commit("f.txt", "Feature part 1", 100);
    let f2 = repo.commit("f.txt", "Feature part 2", 200);
    repo.git(&["checkout", "-q", "main"], 300);
    let m2 = repo.commit("a.txt", "Meanwhile on main", 300);
    repo.git(
        &[
            "merge",
            "--no-ff",
            "-q",
            "-m",
            "Merge pull request #12 from x/y\n\nAdd the feature",
            "feature",
        ],
        1000,
    );
    let merge = repo.git(&["rev-parse", "HEAD"], 1000);

    let mut conn = GitConnector::new(config(&repo, None)).unwrap();
    let (events, _, _) = sync(&mut conn, None).await;
    assert_eq!(
        set(&commits(&events)),
        set(&[base, f1.clone(), f2.clone(), m2.clone(), merge.clone()])
    );
    let prs = prs(&events);
    assert_eq!(prs.len(), 1);
    let pr = &prs[0];
    assert_eq!(pr.number, 12);
    assert_eq!(pr.title.as_deref(), Some("Add the feature"));
    assert_eq!(pr.head.as_deref(), Some("x/y"));
    assert_eq!(pr.merge_commit_sha.as_deref(), Some(merge.as_str()));
    assert_eq!(pr.merged_at, Some(at(1000)));
    assert_eq!(pr.created_at, at(100));
    assert_eq!(pr.first_commit_at, Some(at(100)));
    assert_eq!(set(pr.commits.as_ref().unwrap()), set(&[f1, f2]));
    assert_eq!(pr.extra.get("reviews_known"), Some(&Value::Bool(false)));
    let merge_commit = events
        .iter()
        .find_map(|e| match e {
            Event::Commit(c) if c.sha == merge => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(merge_commit.parents.as_ref().unwrap().len(), 2);
    assert_eq!(merge_commit.parents.as_ref().unwrap()[0], m2);
}

#[tokio::test]
async fn squash_subject_becomes_pull_request() {
    let repo = Repo::new();
    repo.commit("a.txt", "Base", 0);
    let squash = repo.commit("a.txt", "Fix bug (#34)", 500);
    repo.commit("a.txt", "Not a PR (#x)", 600);

    let mut conn = GitConnector::new(config(&repo, None)).unwrap();
    let (events, _, _) = sync(&mut conn, None).await;
    let prs = prs(&events);
    assert_eq!(prs.len(), 1);
    let pr = &prs[0];
    assert_eq!(pr.number, 34);
    assert_eq!(pr.title.as_deref(), Some("Fix bug"));
    assert_eq!(pr.merge_commit_sha.as_deref(), Some(squash.as_str()));
    assert_eq!(pr.commits, None);
    assert_eq!(pr.first_commit_at, Some(at(500)));
    assert_eq!(pr.created_at, at(500));
    assert_eq!(pr.merged_at, Some(at(500)));
    assert_eq!(pr.author.as_deref(), Some("Ada Lovelace <ada@example.com>"));
    assert_eq!(pr.extra.get("reviews_known"), Some(&Value::Bool(false)));
}

#[tokio::test]
async fn monorepo_deployments_list_only_their_service_commits() {
    let repo = Repo::new();
    repo.commit("README.md", "Readme", 0);
    let b1 = repo.commit("services/billing/main.rs", "Billing 1", 100);
    let s1 = repo.commit("libs/search-core/lib.rs", "Search core 1", 200);
    repo.commit("docs/x.md", "Docs only", 250);
    repo.git(&["tag", "-a", "v1", "-m", "v1"], 300);
    let b2 = repo.commit("services/billing/main.rs", "Billing 2", 400);
    repo.git(&["tag", "-a", "v2", "-m", "v2"], 500);
    let s2 = repo.commit("services/search/api.rs", "Search 2", 600);
    let b3 = repo.commit("services/billing/extra.rs", "Billing 3", 650);
    repo.git(&["tag", "v3"], 700);

    let mut cfg = config(&repo, Some("tags:v*"));
    cfg.services
        .insert("billing".into(), vec!["services/billing/".into()]);
    cfg.services.insert(
        "search".into(),
        vec!["services/search/".into(), "libs/search-core/".into()],
    );
    let mut conn = GitConnector::new(cfg).unwrap();
    let (events, _, _) = sync(&mut conn, None).await;
    let mut deps = deployments(&events);
    deps.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = deps.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "billing@v1",
            "billing@v2",
            "billing@v3",
            "search@v1",
            "search@v3"
        ],
        "search did not change in v2"
    );
    let by_id = |id: &str| deps.iter().find(|d| d.id == id).unwrap().clone();
    assert_eq!(by_id("billing@v1").commits, Some(vec![b1]));
    assert_eq!(by_id("billing@v1").service, "billing");
    assert_eq!(by_id("search@v1").commits, Some(vec![s1]));
    assert_eq!(by_id("billing@v2").commits, Some(vec![b2]));
    assert_eq!(by_id("billing@v2").finished_at, Some(at(500)));
    assert_eq!(by_id("billing@v3").commits, Some(vec![b3.clone()]));
    assert_eq!(by_id("search@v3").commits, Some(vec![s2]));
    assert_eq!(by_id("search@v3").commit_sha, b3);
    assert_eq!(by_id("search@v3").finished_at, Some(at(650)));

    // One repository, two services, two lead times: billing's changes took
    // 200 s and 100 s to production (b3 shipped with its own commit time:
    // 0 s, excluded), search's 100 s and 50 s.
    let mut store = flowmeter_store::Store::in_memory().unwrap();
    let config = flowmeter_config::Config::default();
    store.import(events, &config.metrics).unwrap();
    let window = flowmeter_analysis::Window::new(at(0), at(1000)).unwrap();
    let lead = |service: &str| {
        let filters = flowmeter_analysis::Filters {
            service: Some(service.into()),
            ..Default::default()
        };
        flowmeter_analysis::compute(&mut store.reader().unwrap(), &config, window, &filters)
            .unwrap()
            .metrics
            .lead_time
    };
    let (billing, search) = (lead("billing"), lead("search"));
    assert_eq!((billing.changes, billing.excluded), (2, 1));
    assert_eq!(search.changes, 2);
    assert!((billing.p50_hours.unwrap() - 150.0 / 3600.0).abs() < 1e-9);
    assert!((search.p50_hours.unwrap() - 75.0 / 3600.0).abs() < 1e-9);
}

/// A record's changed paths and their owners.
type Code = (Option<Vec<String>>, Option<Vec<String>>);

/// The commits (by SHA) and pull requests (`pr<number>`) of `events`: their
/// changed paths and owners.
fn code(events: &[Event]) -> HashMap<String, Code> {
    let mut out = HashMap::new();
    for e in events {
        match e {
            Event::Commit(c) => {
                out.insert(c.sha.clone(), (c.files.clone(), c.owners.clone()));
            }
            Event::PullRequest(p) => {
                let key = format!("pr{}", p.number);
                out.insert(key, (p.files.clone(), p.owners.clone()));
            }
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn code_owners_and_paths_give_a_monorepo_its_teams() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join(".github")).unwrap();
    std::fs::write(
        repo.path().join(".github/CODEOWNERS"),
        "# owners\n* @acme/platform\n/services/billing/ @acme/payments\nbad-line not-an-owner\n",
    )
    .unwrap();
    repo.git(&["add", "-A"], 0);
    repo.git(&["commit", "-q", "-m", "Owners"], 0);
    let owners_commit = repo.git(&["rev-parse", "HEAD"], 0);
    let b1 = repo.commit("services/billing/main.rs", "Billing 1", 100);
    let s1 = repo.commit("services/search/api.rs", "Search 1", 200);
    repo.git(&["tag", "-a", "v1", "-m", "v1"], 300);
    // A squash-merged pull request that changed billing and search.
    std::fs::write(repo.path().join("services/search/api.rs"), "changed\n").unwrap();
    let both = repo.commit("services/billing/main.rs", "Billing and search (#7)", 400);
    repo.git(&["tag", "-a", "v2", "-m", "v2"], 500);

    let mut conn = GitConnector::new(config(&repo, Some("tags:v*"))).unwrap();
    let (events, _, _, notes) = sync_noting(&mut conn, None).await;
    let notes = notes.join("\n");
    assert!(
        notes.contains("code owners from `.github/CODEOWNERS`"),
        "{notes}"
    );
    assert!(
        notes.contains(".github/CODEOWNERS line 4: skipped"),
        "{notes}"
    );
    let code = code(&events);
    let owned = |files: &[&str], owners: &[&str]| {
        (
            Some(files.iter().map(|f| f.to_string()).collect::<Vec<_>>()),
            Some(owners.iter().map(|f| f.to_string()).collect::<Vec<_>>()),
        )
    };
    assert_eq!(
        code[&owners_commit],
        owned(&[".github/CODEOWNERS"], &["@acme/platform"])
    );
    assert_eq!(
        code[&b1],
        owned(&["services/billing/main.rs"], &["@acme/payments"])
    );
    assert_eq!(
        code[&s1],
        owned(&["services/search/api.rs"], &["@acme/platform"])
    );
    let both_code = owned(
        &["services/billing/main.rs", "services/search/api.rs"],
        &["@acme/payments", "@acme/platform"],
    );
    assert_eq!(code[&both], both_code);
    assert_eq!(code["pr7"], both_code, "a squash PR has its commit's paths");

    // One service (the repository), three teams: platform owns it, payments
    // owns billing's code by CODEOWNERS, search its path.
    let config = flowmeter_config::Config::parse(
        &format!(
            r#"
[teams.platform]
services = ["acme/web"]
[teams.payments]
owners = ["@acme/payments"]
[teams.search]
paths = ["/services/search/"]
[teams.mixed]
services = ["acme/web"]
owners = ["@acme/payments"]
[[teams.early.members]]
paths = ["./services/search/"]
until = "{until}"
"#,
            until = at(350).to_rfc3339()
        ),
        "test",
    )
    .unwrap();
    let mut store = flowmeter_store::Store::in_memory().unwrap();
    store.import(events, &config.metrics).unwrap();
    let window = flowmeter_analysis::Window::new(at(0), at(1000)).unwrap();
    let team = |name: &str| {
        let filters = flowmeter_analysis::Filters {
            team: Some(name.into()),
            ..Default::default()
        };
        flowmeter_analysis::compute(&mut store.reader().unwrap(), &config, window, &filters)
            .unwrap()
            .metrics
    };
    let (platform, payments, search) = (team("platform"), team("payments"), team("search"));
    // Lead times: owners 300 s, b1 200 s, s1 100 s (v1); both 100 s (v2).
    assert_eq!(platform.deployment_frequency.deployments, 2);
    assert_eq!(platform.lead_time.changes, 4);
    assert_eq!(payments.deployment_frequency.deployments, 2);
    assert_eq!(payments.lead_time.changes, 2, "b1 and both, not s1");
    assert!((payments.lead_time.p50_hours.unwrap() - 150.0 / 3600.0).abs() < 1e-9);
    assert_eq!(search.deployment_frequency.deployments, 2);
    assert_eq!(search.lead_time.changes, 2, "s1 and both");
    assert_eq!(
        search.cycle_time.prs, 1,
        "the squash PR changed search's path"
    );
    assert_eq!(payments.cycle_time.prs, 1);
    // Owning the service and claiming code: every change, as platform.
    let mixed = team("mixed");
    assert_eq!(
        serde_json::to_value(&mixed).unwrap(),
        serde_json::to_value(&platform).unwrap()
    );
    // A dated member: search's path until v2 only.
    let early = team("early");
    assert_eq!(early.deployment_frequency.deployments, 1);
    assert_eq!(early.lead_time.changes, 1, "s1 only");
    assert_eq!(early.cycle_time.prs, 0, "the PR merged after `until`");

    // Grouped by team: the same numbers as each team's filter.
    let grouped = flowmeter_analysis::compute_grouped(
        &mut store.reader().unwrap(),
        &config,
        window,
        &Default::default(),
        flowmeter_analysis::GroupBy::Team,
    )
    .unwrap();
    for g in &grouped.groups {
        let alone = team(&g.key);
        assert_eq!(
            serde_json::to_value(&g.metrics).unwrap(),
            serde_json::to_value(&alone).unwrap(),
            "team {}",
            g.key
        );
    }
}

#[tokio::test]
async fn incremental_sync() {
    let repo = Repo::new();
    repo.commit("a.txt", "One", 0);
    repo.commit("a.txt", "Two", 100);
    repo.git(&["tag", "-a", "v1", "-m", "v1"], 200);

    let mut conn = GitConnector::new(config(&repo, Some("tags:v*"))).unwrap();
    let (events, cursor, _) = sync(&mut conn, None).await;
    assert_eq!(commits(&events).len(), 2);
    assert_eq!(deployments(&events).len(), 1);

    // Nothing new upstream: nothing emitted, not even a batch.
    let mut again = GitConnector::new(config(&repo, Some("tags:v*"))).unwrap();
    let (events, cursor2, batches) = sync(&mut again, cursor.clone()).await;
    assert!(events.is_empty());
    assert_eq!(batches, 0);
    assert_eq!(cursor2, cursor);

    // A new commit and tag are picked up, and only they.
    let three = repo.commit("a.txt", "Three (#7)", 300);
    repo.git(&["tag", "v2"], 400);
    let mut third = GitConnector::new(config(&repo, Some("tags:v*"))).unwrap();
    let (events, cursor3, _) = sync(&mut third, cursor2).await;
    assert_eq!(commits(&events), vec![three.clone()]);
    let deps = deployments(&events);
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].id, "v2");
    assert_eq!(deps[0].commit_sha, three);
    assert_eq!(prs(&events).len(), 1);

    let mut fourth = GitConnector::new(config(&repo, Some("tags:v*"))).unwrap();
    let (events, _, batches) = sync(&mut fourth, cursor3).await;
    assert!(events.is_empty());
    assert_eq!(batches, 0);
}

#[tokio::test]
async fn batches_stream_and_resume() {
    let repo = Repo::new();
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(repo.commit("a.txt", &format!("Commit {i}"), i * 10));
    }
    repo.git(&["tag", "v1"], 100);
    let mut cfg = config(&repo, Some("tags:v*"));
    cfg.batch_size = Some(3);

    let mut conn = GitConnector::new(cfg.clone()).unwrap();
    let (events, _, batches) = sync(&mut conn, None).await;
    assert_eq!(batches, 3);
    assert_eq!(commits(&events).len(), 7);
    assert_eq!(set(&commits(&events)), set(&all));
    assert_eq!(deployments(&events).len(), 1);

    // Interrupted after the first batch: a new connector resumes from its cursor.
    let mut first = GitConnector::new(cfg.clone()).unwrap();
    let batch = first.next_batch(&ctx(), None).await.unwrap().unwrap();
    let mut seen = commits(&batch.events);
    assert_eq!(seen.len(), 3);
    let mut resumed = GitConnector::new(cfg).unwrap();
    let (rest, _, _) = sync(&mut resumed, Some(batch.cursor)).await;
    seen.extend(commits(&rest));
    assert_eq!(seen.len(), 7, "no commit twice");
    assert_eq!(set(&seen), set(&all));
    assert_eq!(deployments(&rest).len(), 1);
}

#[tokio::test]
async fn full_sync_ignores_cursor_once() {
    let repo = Repo::new();
    repo.commit("a.txt", "One", 0);
    let mut conn = GitConnector::new(config(&repo, None)).unwrap();
    let (_, cursor, _) = sync(&mut conn, None).await;
    let mut full = GitConnector::new(config(&repo, None)).unwrap();
    let full_ctx = SyncContext {
        since: DateTime::from_timestamp(0, 0).unwrap(),
        full: true,
    };
    let batch = full
        .next_batch(&full_ctx, cursor.as_ref())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(commits(&batch.events).len(), 1);
    assert!(full
        .next_batch(&full_ctx, Some(&batch.cursor))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn branch_deployments() {
    let repo = Repo::new();
    let c1 = repo.commit("a.txt", "One", 0);
    repo.git(&["branch", "production"], 10);
    let c2 = repo.commit("a.txt", "Two", 100);
    let c3 = repo.commit("a.txt", "Three", 200);
    repo.git(&["checkout", "-q", "production"], 300);
    repo.git(&["merge", "--no-ff", "-q", "-m", "Release", "main"], 300);
    let rel = repo.git(&["rev-parse", "HEAD"], 300);
    repo.git(&["checkout", "-q", "main"], 300);

    let mut cfg = config(&repo, Some("branch:production"));
    cfg.environment = "prod-eu".into();
    let mut conn = GitConnector::new(cfg.clone()).unwrap();
    let (events, cursor, _) = sync(&mut conn, None).await;
    let mut deps = deployments(&events);
    deps.sort_by_key(|d| d.finished_at);
    let ids: Vec<&str> = deps.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [c1.as_str(), rel.as_str()],
        "first-parent commits only"
    );
    assert_eq!(deps[1].finished_at, Some(at(300)));
    assert_eq!(deps[1].environment, "prod-eu");
    assert_eq!(set(&commits(&events)), set(&[c1, c2, c3, rel.clone()]));

    // A new release on the branch is one new deployment.
    repo.git(&["checkout", "-q", "production"], 400);
    let hotfix = repo.commit("b.txt", "Hotfix", 400);
    repo.git(&["checkout", "-q", "main"], 400);
    let mut next = GitConnector::new(cfg).unwrap();
    let (events, _, _) = sync(&mut next, cursor).await;
    assert_eq!(commits(&events), vec![hotfix.clone()]);
    let deps = deployments(&events);
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].id, hotfix);
}

#[tokio::test]
async fn bad_configuration_is_reported() {
    let repo = Repo::new();
    repo.commit("a.txt", "One", 0);
    assert!(GitConnector::new(config(&repo, Some("weekly"))).is_err());
    let mut cfg = config(&repo, None);
    cfg.branch = "nope".into();
    let mut conn = GitConnector::new(cfg).unwrap();
    let err = conn.next_batch(&ctx(), None).await.unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    let mut cfg = config(&repo, None);
    cfg.path = repo.path().join("missing");
    let mut conn = GitConnector::new(cfg).unwrap();
    assert!(conn.next_batch(&ctx(), None).await.is_err());
}

#[test]
fn config_deserialises_from_toml_shape() {
    let v = serde_json::json!({
        "type": "git",
        "path": ".",
        "repo": "acme/web",
        "deployments": "tags:v*",
        "services": {"billing": ["services/billing/"]}
    });
    let cfg: GitConfig = serde_json::from_value(v).unwrap();
    assert_eq!(cfg.branch, "main");
    assert_eq!(cfg.environment, "production");
    assert_eq!(cfg.services.len(), 1);
    GitConnector::new(cfg).unwrap();
}
