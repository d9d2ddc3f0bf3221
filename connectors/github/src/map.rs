//! Pure mappings from GitHub payloads (REST JSON and GraphQL nodes) to
//! interchange records. No I/O here, so every rule is unit-testable.

use flowmeter_model::{
    Commit, Deployment, DeploymentKind, DeploymentStatus, Extra, Incident, PullRequest, Review,
    ReviewState, Timestamp,
};
use serde_json::{json, Value};

pub use flowmeter_connector::fields::{first_line, ts};

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Whether GitHub's environment name already reads as production (the
/// METRICS.md defaults).
pub fn looks_like_production(env: &str) -> bool {
    let e = env.to_lowercase();
    matches!(e.as_str(), "production" | "prod" | "live")
        || e.starts_with("prod-")
        || e.starts_with("production-")
}

/// The deployment's outcome from its statuses (any order).
///
/// The first `success` status decides success and its time; otherwise the
/// latest status decides: `failure`/`error` → failure, `inactive` →
/// cancelled (superseded before it succeeded), anything else or no status →
/// in progress.
pub fn deployment_outcome(statuses: &[Value]) -> (DeploymentStatus, Option<Timestamp>) {
    outcome(&chronological(statuses))
}

/// [`deployment_outcome`] of statuses in [`chronological`] order.
fn outcome(sorted: &[(&str, Option<Timestamp>)]) -> (DeploymentStatus, Option<Timestamp>) {
    if let Some((_, t)) = sorted
        .iter()
        .find(|(state, t)| *state == "success" && t.is_some())
    {
        return (DeploymentStatus::Success, *t);
    }
    match sorted.last() {
        Some((state, t)) if (*state == "failure" || *state == "error") && t.is_some() => {
            (DeploymentStatus::Failure, *t)
        }
        Some(("inactive", t)) => (DeploymentStatus::Cancelled, *t),
        _ => (DeploymentStatus::InProgress, None),
    }
}

/// A deployment's statuses as (state, time), oldest first. Statuses carry
/// whole seconds: two of one second are ordered by where their state comes
/// in a deployment's life (`in_progress`, then `failure`), and those of one
/// stage by the list, which is newest first (REST and GraphQL alike).
fn chronological(statuses: &[Value]) -> Vec<(&str, Option<Timestamp>)> {
    let stage = |state: &str| match state {
        "queued" | "pending" => 0,
        "in_progress" => 1,
        _ => 2,
    };
    let mut sorted: Vec<(&str, Option<Timestamp>)> = (statuses.iter().rev())
        .map(|st| (st["state"].as_str().unwrap_or(""), ts(&st["created_at"])))
        .collect();
    // Stable: of equal keys, the later listed (older) stays first.
    sorted.sort_by_key(|&(state, t)| (t, stage(state)));
    sorted
}

/// A Deployments API deployment and its statuses.
pub fn deployment(source: &str, repo: &str, d: &Value, statuses: &[Value]) -> Deployment {
    let sorted = chronological(statuses);
    let (status, finished_at) = outcome(&sorted);
    let environment = d["environment"].as_str().unwrap_or("").to_string();
    let mut extra = Extra::new();
    if d["production_environment"].as_bool() == Some(true) && !looks_like_production(&environment) {
        extra.insert("production_environment".into(), json!(true));
    }
    if d["transient_environment"].as_bool() == Some(true) {
        extra.insert("transient_environment".into(), json!(true));
    }
    if let Some(task) = d["task"].as_str().filter(|t| *t != "deploy") {
        extra.insert("task".into(), json!(task));
    }
    if let Some(&(latest, _)) = sorted.last().filter(|(s, _)| !s.is_empty()) {
        extra.insert("github_state".into(), json!(latest));
    }
    let url = statuses
        .iter()
        .filter_map(|st| st["log_url"].as_str().or(st["target_url"].as_str()))
        .find(|u| !u.is_empty())
        .map(str::to_string)
        .or_else(|| s(&d["url"]));
    Deployment {
        source: source.to_string(),
        id: id_string(&d["id"]),
        service: repo.to_string(),
        repo: Some(repo.to_string()),
        environment,
        status,
        started_at: ts(&d["created_at"]),
        finished_at,
        commit_sha: s(&d["sha"]).unwrap_or_default(),
        commits: None,
        kind: DeploymentKind::Regular,
        actor: s(&d["creator"]["login"]),
        url,
        git_ref: s(&d["ref"]),
        labels: Vec::new(),
        extra,
    }
}

/// A GraphQL `Deployment` node (see [`crate::graphql::DEPLOYMENTS`]) in
/// the shape of the REST deployment and its statuses, so that one rule,
/// [`deployment`], maps both. GraphQL spells states in capitals
/// (`SUCCESS`); REST in lower case.
pub fn graphql_deployment(node: &Value) -> Option<(Value, Vec<Value>)> {
    let id = node["databaseId"].as_i64()?;
    let rest = json!({
        "id": id,
        "sha": node["commitOid"],
        "ref": node["ref"]["name"],
        "task": node["task"],
        "environment": node["environment"],
        "created_at": node["createdAt"],
        "creator": {"login": node["creator"]["login"]},
    });
    let statuses = node["statuses"]["nodes"]
        .as_array()
        .map(|st| {
            st.iter()
                .map(|s| {
                    json!({
                        "state": s["state"].as_str().map(str::to_ascii_lowercase),
                        "created_at": s["createdAt"],
                        "log_url": s["logUrl"],
                        "environment_url": s["environmentUrl"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some((rest, statuses))
}

pub(crate) fn id_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A published release as a production deployment; `None` for drafts.
pub fn release(
    source: &str,
    repo: &str,
    environment: &str,
    r: &Value,
    commit_sha: &str,
) -> Option<Deployment> {
    if r["draft"].as_bool() == Some(true) {
        return None;
    }
    let published = ts(&r["published_at"])?;
    let mut extra = Extra::new();
    if r["prerelease"].as_bool() == Some(true) {
        extra.insert("prerelease".into(), json!(true));
    }
    Some(Deployment {
        source: source.to_string(),
        id: format!("{repo}/release/{}", id_string(&r["id"])),
        service: repo.to_string(),
        repo: Some(repo.to_string()),
        environment: environment.to_string(),
        status: DeploymentStatus::Success,
        // Unknown: a release's `created_at` is "the date of the commit used
        // for the release, and not the date when the release was drafted or
        // published" (GitHub's REST docs, releases).
        started_at: None,
        finished_at: Some(published),
        commit_sha: commit_sha.to_string(),
        commits: None,
        kind: DeploymentKind::Regular,
        actor: s(&r["author"]["login"]),
        url: s(&r["html_url"]),
        git_ref: s(&r["tag_name"]),
        labels: Vec::new(),
        extra,
    })
}

/// The date of the commit a tag (GraphQL `Ref` node) points at: what
/// `TAG_COMMIT_DATE` orders tags by.
pub fn tag_commit_date(node: &Value) -> Option<Timestamp> {
    let target = &node["target"];
    match target["__typename"].as_str() {
        Some("Tag") => ts(&target["target"]["committedDate"]),
        Some("Commit") => ts(&target["committedDate"]),
        _ => None,
    }
}

/// A tag (GraphQL `Ref` node with its target) as a production deployment.
/// The time is the tagger date of an annotated tag, else the commit's
/// committer date.
pub fn tag(source: &str, repo: &str, environment: &str, node: &Value) -> Option<Deployment> {
    let name = node["name"].as_str()?;
    let target = &node["target"];
    let (sha, at, how) = match target["__typename"].as_str() {
        Some("Tag") => {
            let commit = &target["target"];
            (
                s(&commit["oid"])?,
                ts(&target["tagger"]["date"]).or_else(|| ts(&commit["committedDate"]))?,
                "tagger_date",
            )
        }
        Some("Commit") => (
            s(&target["oid"])?,
            ts(&target["committedDate"])?,
            "commit_date",
        ),
        _ => return None,
    };
    let mut extra = Extra::new();
    extra.insert("time_from".into(), json!(how));
    Some(Deployment {
        source: source.to_string(),
        id: format!("{repo}/tag/{name}"),
        service: repo.to_string(),
        repo: Some(repo.to_string()),
        environment: environment.to_string(),
        status: DeploymentStatus::Success,
        started_at: None,
        finished_at: Some(at),
        commit_sha: sha,
        commits: None,
        kind: DeploymentKind::Regular,
        actor: None,
        url: None,
        git_ref: Some(name.to_string()),
        labels: Vec::new(),
        extra,
    })
}

/// A completed workflow run; `None` for runs that did not run (skipped,
/// neutral, ...).
pub fn workflow_run(
    source: &str,
    repo: &str,
    environment: &str,
    run: &Value,
) -> Option<Deployment> {
    let status = match run["conclusion"].as_str()? {
        "success" => DeploymentStatus::Success,
        "failure" | "timed_out" | "startup_failure" => DeploymentStatus::Failure,
        "cancelled" => DeploymentStatus::Cancelled,
        _ => return None,
    };
    let finished = ts(&run["updated_at"])?;
    let mut extra = Extra::new();
    if let Some(n) = run["run_number"].as_i64() {
        extra.insert("run_number".into(), json!(n));
    }
    if let Some(e) = run["event"].as_str() {
        extra.insert("event".into(), json!(e));
    }
    Some(Deployment {
        source: source.to_string(),
        id: format!("{repo}/run/{}", id_string(&run["id"])),
        service: repo.to_string(),
        repo: Some(repo.to_string()),
        environment: environment.to_string(),
        status,
        started_at: ts(&run["run_started_at"])
            .or_else(|| ts(&run["created_at"]))
            .filter(|t| *t <= finished),
        finished_at: Some(finished),
        commit_sha: s(&run["head_sha"])?,
        commits: None,
        kind: DeploymentKind::Regular,
        actor: s(&run["actor"]["login"]),
        url: s(&run["html_url"]),
        git_ref: s(&run["head_branch"]),
        labels: Vec::new(),
        extra,
    })
}

/// The paths of "Get a commit"'s `files`: each `filename`, and the
/// `previous_filename` of a renamed one, sorted.
pub fn commit_files(c: &Value) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for f in c["files"].as_array().into_iter().flatten() {
        paths.extend(s(&f["filename"]));
        paths.extend(s(&f["previous_filename"]));
    }
    paths.sort();
    paths.dedup();
    paths
}

/// A commit from `GET /repos/{owner}/{repo}/commits` (or "Get a commit").
pub fn commit(source: &str, repo: &str, c: &Value) -> Option<Commit> {
    let sha = s(&c["sha"])?;
    let inner = &c["commit"];
    let authored_at = ts(&inner["author"]["date"]).or_else(|| ts(&inner["committer"]["date"]))?;
    let parents = c["parents"].as_array().map(|ps| {
        ps.iter()
            .filter_map(|p| p["sha"].as_str().map(str::to_string))
            .collect()
    });
    let author = s(&c["author"]["login"])
        .or_else(|| s(&inner["author"]["name"]))
        .or_else(|| s(&inner["author"]["email"]));
    Some(Commit {
        source: source.to_string(),
        repo: repo.to_string(),
        sha,
        parents,
        authored_at,
        committed_at: ts(&inner["committer"]["date"]),
        author,
        message: inner["message"].as_str().map(first_line),
        extra: Extra::new(),
        files: None,
        owners: None,
    })
}

/// An issue with an incident label; `None` for pull requests (the issues
/// endpoint lists them too).
/// What an incident issue's labels say: the services of its `service:NAME`
/// labels (default: the repository) and the severity of a `severity:X` or
/// `sev:X` label.
pub fn incident_labels<S: AsRef<str>>(labels: &[S], repo: &str) -> (Vec<String>, Option<String>) {
    let mut services: Vec<String> = labels
        .iter()
        .filter_map(|l| l.as_ref().strip_prefix("service:"))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if services.is_empty() {
        services.push(repo.to_string());
    }
    let severity = labels
        .iter()
        .find_map(|l| {
            let l = l.as_ref();
            l.strip_prefix("severity:")
                .or_else(|| l.strip_prefix("sev:"))
        })
        .map(|v| v.trim().to_string());
    (services, severity)
}

/// The incident id of issue `number` of `repo`: `owner/name#number`.
pub fn incident_id(repo: &str, number: i64) -> String {
    format!("{repo}#{number}")
}

/// Whether an issue carries one of `incident_labels` (GitHub label names
/// compare without case).
pub fn has_incident_label<S: AsRef<str>>(issue: &Value, incident_labels: &[S]) -> bool {
    issue["labels"].as_array().is_some_and(|ls| {
        ls.iter()
            .filter_map(|l| l["name"].as_str().or(l.as_str()))
            .any(|l| {
                incident_labels
                    .iter()
                    .any(|i| i.as_ref().eq_ignore_ascii_case(l))
            })
    })
}

pub fn incident(source: &str, repo: &str, issue: &Value) -> Option<Incident> {
    if !issue["pull_request"].is_null() {
        return None;
    }
    let labels: Vec<&str> = issue["labels"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l["name"].as_str().or(l.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let (services, severity) = incident_labels(&labels, repo);
    let number = issue["number"].as_i64()?;
    let mut extra = Extra::new();
    extra.insert("repo".into(), json!(repo));
    extra.insert("number".into(), json!(number));
    Some(Incident {
        source: source.to_string(),
        id: incident_id(repo, number),
        services,
        title: s(&issue["title"]),
        severity,
        url: s(&issue["html_url"]),
        created_at: ts(&issue["created_at"])?,
        acknowledged_at: None,
        // A reopened issue is open, whatever `closed_at` still says.
        resolved_at: ts(&issue["closed_at"]).filter(|_| issue["state"].as_str() != Some("open")),
        deployment_id: None,
        deployment_source: None,
        extra,
        root_cause: issue["body"]
            .as_str()
            .and_then(flowmeter_connector::incident::root_cause),
    })
}

/// Review states of GitHub GraphQL `PullRequestReviewState`; `PENDING`
/// (not yet submitted) maps to `None`.
pub fn review_state(state: &str) -> Option<ReviewState> {
    match state {
        "APPROVED" => Some(ReviewState::Approved),
        "CHANGES_REQUESTED" => Some(ReviewState::ChangesRequested),
        "COMMENTED" => Some(ReviewState::Commented),
        "DISMISSED" => Some(ReviewState::Dismissed),
        _ => None,
    }
}

/// A GraphQL `PullRequest` node (see [`crate::graphql::PULL_REQUESTS`]) and
/// its submitted reviews.
pub fn pull_request(source: &str, repo: &str, pr: &Value) -> Option<(PullRequest, Vec<Review>)> {
    let number = pr["number"].as_i64()?;
    let created_at = ts(&pr["createdAt"])?;
    let labels = pr["labels"]["nodes"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let commit_nodes = pr["commits"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let commits: Vec<String> = commit_nodes
        .iter()
        .filter_map(|n| n["commit"]["oid"].as_str().map(str::to_string))
        .collect();
    let first_commit_at = commit_nodes
        .iter()
        .filter_map(|n| ts(&n["commit"]["authoredDate"]))
        .min();
    let ready_at = pr["timelineItems"]["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().filter_map(|n| ts(&n["createdAt"])).max());
    let mut extra = Extra::new();
    if pr["isDraft"].as_bool() == Some(true) {
        extra.insert("draft".into(), json!(true));
    }
    if let Some(url) = pr["url"].as_str() {
        extra.insert("url".into(), json!(url));
    }
    let total_commits = pr["commits"]["totalCount"].as_i64();
    if total_commits.is_some_and(|t| t > commits.len() as i64) {
        extra.insert("commits_total".into(), json!(total_commits));
    }
    let pull = PullRequest {
        source: source.to_string(),
        repo: repo.to_string(),
        number,
        title: s(&pr["title"]),
        author: s(&pr["author"]["login"]),
        base: s(&pr["baseRefName"]),
        head: s(&pr["headRefName"]),
        labels,
        created_at,
        ready_at: ready_at.filter(|r| *r >= created_at),
        merged_at: ts(&pr["mergedAt"]),
        closed_at: ts(&pr["closedAt"]),
        merge_commit_sha: if pr["mergedAt"].is_null() {
            None
        } else {
            s(&pr["mergeCommit"]["oid"])
        },
        commits: (!commits.is_empty()).then_some(commits),
        first_commit_at,
        additions: pr["additions"].as_i64(),
        deletions: pr["deletions"].as_i64(),
        extra,
        // Only asked for with `code_owners` (a null or absent connection
        // otherwise); the owners come from the repository's CODEOWNERS.
        files: pr["files"]["nodes"].as_array().map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| n["path"].as_str().map(str::to_string))
                .collect()
        }),
        owners: None,
    };
    let reviews = pr["reviews"]["nodes"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    let state = review_state(r["state"].as_str()?)?;
                    Some(Review {
                        source: source.to_string(),
                        repo: repo.to_string(),
                        pr: number,
                        id: id_string(&r["id"]),
                        // A deleted account shows as `null`; GitHub calls it "ghost".
                        author: s(&r["author"]["login"]).unwrap_or_else(|| "ghost".to_string()),
                        state,
                        submitted_at: ts(&r["submittedAt"])?,
                        extra: Extra::new(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some((pull, reviews))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(state: &str, at: &str) -> Value {
        json!({"state": state, "created_at": at})
    }

    #[test]
    fn outcome_uses_first_success_and_latest_failure() {
        let (s, t) = deployment_outcome(&[
            st("success", "2026-01-01T10:09:00Z"),
            st("success", "2026-01-01T10:05:00Z"),
            st("in_progress", "2026-01-01T10:01:00Z"),
        ]);
        assert_eq!(s, DeploymentStatus::Success);
        assert_eq!(t, ts(&json!("2026-01-01T10:05:00Z")));
        let (s, _) = deployment_outcome(&[st("error", "2026-01-01T10:05:00Z")]);
        assert_eq!(s, DeploymentStatus::Failure);
        let (s, _) = deployment_outcome(&[st("inactive", "2026-01-01T10:05:00Z")]);
        assert_eq!(s, DeploymentStatus::Cancelled);
        let (s, t) = deployment_outcome(&[st("queued", "2026-01-01T10:05:00Z")]);
        assert_eq!((s, t), (DeploymentStatus::InProgress, None));
        assert_eq!(deployment_outcome(&[]).0, DeploymentStatus::InProgress);
    }

    /// The `github_state` a production deployment with `statuses` keeps.
    fn github_state(statuses: &[Value]) -> Value {
        let d = json!({"id": 1, "sha": "abc", "environment": "production",
            "created_at": "2026-01-01T10:00:00Z"});
        deployment("github", "o/r", &d, statuses).extra["github_state"].clone()
    }

    #[test]
    fn statuses_of_one_second_are_ordered_by_the_deployment_s_life() {
        // Whole seconds, listed newest first: the failure came after the
        // in_progress status of the same second, whichever way listed.
        for statuses in [
            [
                st("failure", "2026-01-01T10:05:00Z"),
                st("in_progress", "2026-01-01T10:05:00Z"),
            ],
            [
                st("in_progress", "2026-01-01T10:05:00Z"),
                st("failure", "2026-01-01T10:05:00Z"),
            ],
        ] {
            let (s, t) = deployment_outcome(&statuses);
            assert_eq!(s, DeploymentStatus::Failure);
            assert_eq!(t, ts(&json!("2026-01-01T10:05:00Z")));
            assert_eq!(github_state(&statuses), "failure");
        }
        let (s, _) = deployment_outcome(&[
            st("inactive", "2026-01-01T10:05:00Z"),
            st("queued", "2026-01-01T10:05:00Z"),
        ]);
        assert_eq!(s, DeploymentStatus::Cancelled);
        // Two of one second and one stage: the first listed is the newest.
        let statuses = [
            st("inactive", "2026-01-01T10:05:00Z"),
            st("failure", "2026-01-01T10:05:00Z"),
        ];
        assert_eq!(deployment_outcome(&statuses).0, DeploymentStatus::Cancelled);
        assert_eq!(github_state(&statuses), "inactive");
    }

    #[test]
    fn production_environment_flag_kept_as_extra() {
        let d = json!({"id": 9, "sha": "abc", "environment": "customer-facing",
            "production_environment": true, "created_at": "2026-01-01T10:00:00Z", "task": "deploy"});
        let dep = deployment("github", "acme/web", &d, &[]);
        assert_eq!(dep.environment, "customer-facing");
        assert_eq!(dep.extra.get("production_environment"), Some(&json!(true)));
        let d = json!({"id": 9, "sha": "abc", "environment": "prod-eu",
            "production_environment": true, "created_at": "2026-01-01T10:00:00Z"});
        assert!(deployment("github", "acme/web", &d, &[])
            .extra
            .get("production_environment")
            .is_none());
    }

    #[test]
    fn names_and_lines() {
        assert!(looks_like_production("Production"));
        assert!(looks_like_production("prod-eu"));
        assert!(!looks_like_production("staging"));
        assert_eq!(first_line("fix: x\r\n\nbody"), "fix: x");
        let by_pull_request = |m: &str| flowmeter_connector::pr::recognise_pr(m).is_some();
        assert!(by_pull_request("Add billing export (#42)"));
        assert!(by_pull_request("Merge pull request #7 from acme/fix"));
        assert!(!by_pull_request("Bump version (#)"));
        assert!(!by_pull_request("Fix (see #42) now"));
        assert!(!by_pull_request("Fix config"));
        assert_eq!(review_state("PENDING"), None);
        assert_eq!(review_state("DISMISSED"), Some(ReviewState::Dismissed));
    }
}
