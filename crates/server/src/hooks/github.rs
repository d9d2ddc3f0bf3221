//! GitHub webhooks: the `X-Hub-Signature-256` check and the mapping of
//! `deployment_status`, `pull_request`, `pull_request_review`, `push` and
//! `issues` deliveries.
//!
//! Records have the ids and field conventions of the GitHub connector
//! (`flowmeter-github`, `map.rs`): a deployment's id is its Deployments API
//! id and its service the repository (`owner/name`); a review's id is its
//! GraphQL node id; an incident is an issue with an incident label, id
//! `owner/name#number`, service from a `service:NAME` label, else the
//! repository.

use serde_json::Value;

use super::{first_line, verify_hmac_sha256, HookError, Mapped, Payload, Record};

/// The header that carries the body's HMAC-SHA256 (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The header that names the event (`deployment_status`, `push`, ...).
pub const EVENT_HEADER: &str = "X-GitHub-Event";

/// The incident labels of a GitHub source that sets none: `["incident"]`,
/// as the GitHub connector's `incident_labels` default.
pub fn default_incident_labels() -> Vec<String> {
    vec!["incident".to_string()]
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the raw body.
///
/// Fails with [`HookError::Signature`] when no secret is configured, the
/// header is missing or not `sha256=`, or the signature does not match.
/// The `X-Hub-Signature-256` value GitHub sends for `body` under `secret`
/// (for senders of test deliveries: the load test, the tests).
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = super::HmacSha256::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), HookError> {
    let header = super::signature_header(secret, header, SIGNATURE_HEADER, "GitHub")?;
    let hex = header.strip_prefix("sha256=").ok_or_else(|| {
        HookError::Signature(format!(
            "the `{SIGNATURE_HEADER}` header does not start with `sha256=`"
        ))
    })?;
    if verify_hmac_sha256(secret.as_bytes(), body, hex) {
        Ok(())
    } else {
        Err(HookError::Signature(format!(
            "the `{SIGNATURE_HEADER}` signature does not match the body (is the secret the webhook's?)"
        )))
    }
}

/// Maps one delivery; `event` is the `X-GitHub-Event` header, `source` the
/// source name records are stored under (the GitHub source's `name`,
/// default `github`), `incident_labels` the source's incident labels (see
/// [`default_incident_labels`]).
///
/// `ping` and events that are not used map to no records and a note.
pub fn map(
    event: &str,
    body: &Value,
    source: &str,
    incident_labels: &[String],
) -> Result<Mapped, HookError> {
    let p = Payload(body);
    match event {
        "ping" => Ok(Mapped::ignored("ping")),
        "deployment_status" => deployment_status(&p, source),
        "pull_request" => pull_request(&p, source),
        "pull_request_review" => review(&p, source),
        "push" => push(&p, source),
        "issues" => issue(&p, source, incident_labels),
        other => Ok(Mapped::ignored(format!("event `{other}` is not used"))),
    }
}

/// Whether an environment name already reads as production (the
/// EVENTS.md defaults), as the connector decides it.
fn looks_like_production(env: &str) -> bool {
    let e = env.to_lowercase();
    matches!(e.as_str(), "production" | "prod" | "live")
        || e.starts_with("prod-")
        || e.starts_with("production-")
}

/// A deployment with its newest status, shaped as the connector maps a
/// REST deployment and its statuses.
///
/// `success` → success, `failure`/`error` → failure (finished at the
/// status's `created_at`); `queued`, `pending`, `in_progress` → in
/// progress. `inactive` maps to nothing: GitHub marks a deployment inactive
/// when a later one to the same environment succeeds, and the connector
/// keeps the first success; the stored outcome stands.
fn deployment_status(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let repo = p.req_text("repository.full_name")?;
    let id = p.req_id("deployment.id")?;
    let state = p.req_text("deployment_status.state")?.to_ascii_lowercase();
    let (status, finished_at) = match state.as_str() {
        "success" => ("success", Some(p.req_time("deployment_status.created_at")?)),
        "failure" | "error" => ("failure", Some(p.req_time("deployment_status.created_at")?)),
        "inactive" => {
            return Ok(Mapped::ignored(format!(
                "deployment {id} of {repo} became inactive (a later deployment replaced it); its recorded outcome stands"
            )))
        }
        _ => ("in_progress", None),
    };
    let environment = p.req_text("deployment.environment")?;
    let url = p
        .text("deployment_status.log_url")
        .or_else(|| p.text("deployment_status.target_url"))
        .or_else(|| p.text("deployment.url"));
    let mut r = Record::new("deployment", source)
        .set("id", id)
        .set("service", repo.clone())
        .set("repo", repo)
        .set("environment", environment.clone())
        .set("status", status)
        .opt_time("started_at", p.time("deployment.created_at")?)
        .opt_time("finished_at", finished_at)
        .set("commit_sha", p.req_text("deployment.sha")?)
        .opt("actor", p.text("deployment.creator.login"))
        .opt("url", url)
        .opt("ref", p.text("deployment.ref"));
    if p.flag("deployment.production_environment") && !looks_like_production(&environment) {
        r = r.set("production_environment", true);
    }
    if p.flag("deployment.transient_environment") {
        r = r.set("transient_environment", true);
    }
    if let Some(task) = p.text("deployment.task").filter(|t| t != "deploy") {
        r = r.set("task", task);
    }
    let r = r.set("github_state", state);
    Ok(Mapped::records(vec![r.build()], None))
}

/// A pull request as the connector maps it, less what only the API has:
/// the commit list and first commit time (and the ready time, except on
/// `ready_for_review`). `merge_commit_sha` only once merged: before that
/// GitHub fills it with a test merge.
fn pull_request(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let repo = p.req_text("repository.full_name")?;
    let number = p.req_int("pull_request.number")?;
    let created_at = p.req_time("pull_request.created_at")?;
    let merged_at = p.time("pull_request.merged_at")?;
    let ready_at = if p.text("action").as_deref() == Some("ready_for_review") {
        p.time("pull_request.updated_at")?
            .filter(|t| *t >= created_at)
    } else {
        None
    };
    let merge_commit_sha = merged_at.and_then(|_| p.text("pull_request.merge_commit_sha"));
    let mut r = Record::new("pull_request", source)
        .set("repo", repo.clone())
        .set("number", number)
        .opt("title", p.text("pull_request.title"))
        .opt("author", p.text("pull_request.user.login"))
        .opt("base", p.text("pull_request.base.ref"))
        .opt("head", p.text("pull_request.head.ref"))
        .set("labels", p.names("pull_request.labels"))
        .time("created_at", created_at)
        .opt_time("ready_at", ready_at)
        .opt_time("merged_at", merged_at)
        .opt_time("closed_at", p.time("pull_request.closed_at")?)
        .opt("merge_commit_sha", merge_commit_sha)
        .opt("additions", p.int("pull_request.additions"))
        .opt("deletions", p.int("pull_request.deletions"));
    if p.flag("pull_request.draft") {
        r = r.set("draft", true);
    }
    let r = r.opt("url", p.text("pull_request.html_url"));
    let note = format!(
        "pull request {repo}#{number}: the webhook carries no commit list, first commit time or ready time; the next sync adds them"
    );
    Ok(Mapped::records(vec![r.build()], Some(note)))
}

/// A submitted (or dismissed) review. The id is the review's node id, as
/// the connector's GraphQL `id`; a pending review maps to nothing.
fn review(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let repo = p.req_text("repository.full_name")?;
    let pr = p.req_int("pull_request.number")?;
    let state = p.req_text("review.state")?.to_ascii_lowercase();
    if !matches!(
        state.as_str(),
        "approved" | "changes_requested" | "commented" | "dismissed"
    ) {
        return Ok(Mapped::ignored(format!(
            "review on {repo}#{pr} is `{state}`, not submitted"
        )));
    }
    let Some(submitted_at) = p.time("review.submitted_at")? else {
        return Ok(Mapped::ignored(format!(
            "review on {repo}#{pr} has no submission time"
        )));
    };
    let id = match p.text("review.node_id") {
        Some(node_id) => node_id,
        None => p.req_id("review.id")?,
    };
    let r = Record::new("review", source)
        .set("repo", repo)
        .set("pr", pr)
        .set("id", id)
        // A deleted account shows as `null`; GitHub calls it "ghost".
        .set(
            "author",
            p.text("review.user.login")
                .unwrap_or_else(|| "ghost".to_string()),
        )
        .set("state", state)
        .time("submitted_at", submitted_at);
    Ok(Mapped::records(vec![r.build()], None))
}

/// One commit record per pushed commit, for pushes to the default branch
/// only (the branch the connector imports).
///
/// The payload has no parents (EVENTS.md: optional), so none are given;
/// `authored_at` is the commit's `timestamp`.
fn push(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let repo = p.req_text("repository.full_name")?;
    let git_ref = p.req_text("ref")?;
    let branch = p.req_text("repository.default_branch")?;
    if git_ref != format!("refs/heads/{branch}") {
        return Ok(Mapped::ignored(format!(
            "push to `{git_ref}` of {repo}: only the default branch `{branch}` is imported"
        )));
    }
    if p.flag("deleted") {
        return Ok(Mapped::ignored(format!(
            "push deleted `{git_ref}` of {repo}"
        )));
    }
    let count = p.list_len("commits")?;
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        events.push(push_commit(p, source, &repo, i)?);
    }
    let note = (count > 0).then(|| {
        format!(
            "{count} commit(s) pushed to {repo} `{branch}`: push payloads carry no parents; the next sync adds them"
        )
    });
    Ok(Mapped::records(events, note))
}

/// The `i`-th commit of a push.
fn push_commit(p: &Payload, source: &str, repo: &str, i: usize) -> Result<Value, HookError> {
    let at = |k: &str| format!("commits.{i}.{k}");
    let author = p
        .text(&at("author.username"))
        .or_else(|| p.text(&at("author.name")))
        .or_else(|| p.text(&at("author.email")));
    Ok(Record::new("commit", source)
        .set("repo", repo)
        .set("sha", p.req_text(&at("id"))?)
        .time("authored_at", p.req_time(&at("timestamp"))?)
        .opt("author", author)
        .opt("message", p.text(&at("message")).map(|m| first_line(&m)))
        .opt("files", p.changed_paths(&format!("commits.{i}")))
        .build())
}

/// An issue that carries one of `incident_labels` (any case) as an
/// incident, as the connector maps it: `service:NAME` labels name the
/// services (default: the repository), `severity:X`/`sev:X` the severity,
/// `closed_at` the resolution. An incident issue deleted or transferred,
/// or an issue whose incident label was removed, withdraws the incident.
fn issue(p: &Payload, source: &str, incident_labels: &[String]) -> Result<Mapped, HookError> {
    let repo = p.req_text("repository.full_name")?;
    let number = p.req_int("issue.number")?;
    if !p.at("issue.pull_request").is_null() {
        return Ok(Mapped::ignored(format!(
            "{repo}#{number} is a pull request"
        )));
    }
    let labels = p.names("issue.labels");
    let is_incident = labels
        .iter()
        .any(|l| incident_labels.iter().any(|i| i.eq_ignore_ascii_case(l)));
    let id = flowmeter_github::map::incident_id(&repo, number);
    let action = p.text("action").unwrap_or_default();
    // No incident (any more) in this repository: its incident label
    // removed, or the incident issue deleted or moved to another one.
    let gone = match action.as_str() {
        "unlabeled" if !is_incident => Some("lost its incident label"),
        "deleted" if is_incident => Some("was deleted"),
        "transferred" if is_incident => Some("was transferred to another repository"),
        _ => None,
    };
    if let Some(why) = gone {
        let mut m = Mapped::ignored(format!(
            "issue {repo}#{number} {why}: a stored incident `{id}` is removed"
        ));
        m.withdrawn.push((source.to_string(), id));
        return Ok(m);
    }
    if !is_incident {
        return Ok(Mapped::ignored(format!(
            "issue {repo}#{number} has no incident label ({})",
            incident_labels.join(", ")
        )));
    }
    let (services, severity) = flowmeter_github::map::incident_labels(&labels, &repo);
    let r = Record::new("incident", source)
        .set("id", id)
        .set("services", services)
        .opt("title", p.text("issue.title"))
        .opt("severity", severity)
        .opt("url", p.text("issue.html_url"))
        .time("created_at", p.req_time("issue.created_at")?)
        .opt_time("resolved_at", p.time("issue.closed_at")?)
        .set("repo", repo)
        .set("number", number);
    Ok(Mapped::records(vec![r.build()], None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmeter_model::{event_from_json, DeploymentStatus, Event, ReviewState};
    use serde_json::json;

    const SECRET: &str = "It's a Secret to Everybody";
    const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    fn deployment_status_json() -> Value {
        fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/deployment_status.created.json"
        ))
    }

    fn mapped(event: &str, body: &Value) -> Mapped {
        map(event, body, "github", &default_incident_labels()).expect("maps")
    }

    /// The single record of a delivery, validated by the model.
    fn one(m: &Mapped) -> (Value, Event) {
        assert_eq!(m.events.len(), 1, "{m:?}");
        let v = m.events[0].clone();
        let e = event_from_json(v.clone()).expect("a valid EVENTS.md record");
        (v, e)
    }

    #[test]
    fn signature_vector_from_the_docs_passes() {
        assert_eq!(verify(SECRET, b"Hello, World!", Some(SIG)), Ok(()));
    }

    #[test]
    fn tampered_body_wrong_secret_and_bad_headers_fail() {
        let err = verify(SECRET, b"Hello, World?", Some(SIG)).unwrap_err();
        assert_eq!(err.status(), 401);
        // The typographic apostrophe (U+2019) is another secret.
        assert!(verify(
            "It\u{2019}s a Secret to Everybody",
            b"Hello, World!",
            Some(SIG)
        )
        .is_err());
        assert!(verify(SECRET, b"Hello, World!", None).is_err());
        assert!(verify(SECRET, b"Hello, World!", Some("")).is_err());
        assert!(verify(SECRET, b"Hello, World!", Some(&SIG["sha256=".len()..])).is_err());
        assert!(verify(
            SECRET,
            b"Hello, World!",
            Some("sha1=7d38cdd689735b008b3c702edd92eea23791c5f6")
        )
        .is_err());
        assert!(verify("", b"Hello, World!", Some(SIG)).is_err());
    }

    #[test]
    fn deployment_status_success_is_a_finished_deployment() {
        let m = mapped("deployment_status", &deployment_status_json());
        let (v, e) = one(&m);
        assert_eq!(v["type"], "deployment");
        assert_eq!(v["id"], "145988746");
        assert_eq!(
            v["url"],
            "https://api.github.com/repos/Codertocat/Hello-World/deployments/145988746"
        );
        let Event::Deployment(d) = e else {
            panic!("{v}")
        };
        assert_eq!(d.source, "github");
        assert_eq!(d.id, "145988746");
        assert_eq!(d.service, "Codertocat/Hello-World");
        assert_eq!(d.repo.as_deref(), Some("Codertocat/Hello-World"));
        assert_eq!(d.environment, "production");
        assert_eq!(d.status, DeploymentStatus::Success);
        assert_eq!(d.commit_sha, "f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
        assert_eq!(d.git_ref.as_deref(), Some("master"));
        assert_eq!(d.actor.as_deref(), Some("Codertocat"));
        assert_eq!(
            d.started_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2019-05-15T15:20:53+00:00")
        );
        assert_eq!(
            d.finished_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2019-05-15T15:20:55+00:00")
        );
        assert_eq!(d.extra.get("github_state"), Some(&json!("success")));
        assert!(d.extra.get("task").is_none());
    }

    #[test]
    fn deployment_status_states_follow_the_connector() {
        let mut body = deployment_status_json();
        body["deployment_status"]["state"] = json!("error");
        let (_, e) = one(&mapped("deployment_status", &body));
        let Event::Deployment(d) = e else { panic!() };
        assert_eq!(d.status, DeploymentStatus::Failure);
        assert!(d.finished_at.is_some());

        body["deployment_status"]["state"] = json!("in_progress");
        let (v, e) = one(&mapped("deployment_status", &body));
        let Event::Deployment(d) = e else { panic!() };
        assert_eq!(d.status, DeploymentStatus::InProgress);
        assert!(v.get("finished_at").is_none());

        body["deployment_status"]["state"] = json!("inactive");
        let m = mapped("deployment_status", &body);
        assert!(m.events.is_empty());
        assert!(m.note.unwrap().contains("145988746"));
    }

    #[test]
    fn deployment_without_sha_names_the_field() {
        let mut body = deployment_status_json();
        body["deployment"]["sha"] = Value::Null;
        let err = map("deployment_status", &body, "github", &[]).unwrap_err();
        assert_eq!(
            err,
            HookError::Malformed {
                field: "deployment.sha".into(),
                problem: "is missing".into()
            }
        );
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn opened_pull_request() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/pull_request.opened.json"
        ));
        let m = mapped("pull_request", &body);
        let (v, e) = one(&m);
        let Event::PullRequest(pr) = e else {
            panic!("{v}")
        };
        assert_eq!(pr.source, "github");
        assert_eq!(pr.repo, "Codertocat/Hello-World");
        assert_eq!(pr.number, 2);
        assert_eq!(
            pr.title.as_deref(),
            Some("Update the README with new information.")
        );
        assert_eq!(pr.author.as_deref(), Some("Codertocat"));
        assert_eq!(pr.base.as_deref(), Some("master"));
        assert_eq!(pr.head.as_deref(), Some("changes"));
        assert_eq!(pr.labels, vec!["bug"]);
        assert_eq!(pr.created_at.to_rfc3339(), "2019-05-15T15:20:33+00:00");
        assert_eq!(pr.merged_at, None);
        assert_eq!(pr.closed_at, None);
        assert_eq!(pr.merge_commit_sha, None);
        assert_eq!(pr.commits, None);
        assert_eq!((pr.additions, pr.deletions), (Some(1), Some(1)));
        assert_eq!(
            pr.extra.get("url"),
            Some(&json!("https://github.com/Codertocat/Hello-World/pull/2"))
        );
        assert!(m.note.unwrap().contains("Codertocat/Hello-World#2"));
    }

    #[test]
    fn test_merge_sha_of_an_open_pull_request_is_not_kept() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/pull_request.opened.json"
        ));
        body["pull_request"]["merge_commit_sha"] =
            json!("c4295bd74fb0f4fda03689c3df3f2803b658fd85");
        let (v, _) = one(&mapped("pull_request", &body));
        assert!(v.get("merge_commit_sha").is_none());
    }

    #[test]
    fn ready_for_review_sets_the_ready_time() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/pull_request.opened.json"
        ));
        body["action"] = json!("ready_for_review");
        body["pull_request"]["updated_at"] = json!("2019-05-15T16:00:00Z");
        let (_, e) = one(&mapped("pull_request", &body));
        let Event::PullRequest(pr) = e else { panic!() };
        assert_eq!(
            pr.ready_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2019-05-15T16:00:00+00:00")
        );
    }

    #[test]
    fn merged_pull_request() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/pull_request.closed.merged.json"
        ));
        let (_, e) = one(&mapped("pull_request", &body));
        let Event::PullRequest(pr) = e else { panic!() };
        assert_eq!(pr.number, 2);
        assert_eq!(
            pr.merged_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2019-05-15T15:21:18+00:00")
        );
        assert_eq!(
            pr.closed_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2019-05-15T15:21:18+00:00")
        );
        assert_eq!(
            pr.merge_commit_sha.as_deref(),
            Some("c4295bd74fb0f4fda03689c3df3f2803b658fd85")
        );
    }

    #[test]
    fn submitted_review_keyed_by_node_id() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/pull_request_review.submitted.json"
        ));
        let (v, e) = one(&mapped("pull_request_review", &body));
        let Event::Review(r) = e else { panic!("{v}") };
        assert_eq!(r.source, "github");
        assert_eq!(r.repo, "Codertocat/Hello-World");
        assert_eq!(r.pr, 2);
        assert_eq!(r.id, "MDE3OlB1bGxSZXF1ZXN0UmV2aWV3MjM3ODk1Njcx");
        assert_eq!(r.author, "Codertocat");
        assert_eq!(r.state, ReviewState::Commented);
        assert_eq!(r.submitted_at.to_rfc3339(), "2019-05-15T15:20:38+00:00");
    }

    #[test]
    fn pending_review_maps_to_nothing() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/pull_request_review.submitted.json"
        ));
        body["review"]["state"] = json!("pending");
        let m = mapped("pull_request_review", &body);
        assert!(m.events.is_empty());
        assert!(m.note.is_some());
    }

    #[test]
    fn push_to_default_branch_gives_commits_without_parents() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/push.json"
        ));
        let m = mapped("push", &body);
        let (v, e) = one(&m);
        assert!(v.get("parents").is_none());
        let Event::Commit(c) = e else { panic!("{v}") };
        assert_eq!(c.source, "github");
        assert_eq!(c.repo, "Codertocat/Hello-World");
        assert_eq!(c.sha, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
        assert_eq!(c.parents, None);
        assert_eq!(c.authored_at.to_rfc3339(), "2019-05-15T15:19:25+00:00");
        assert_eq!(c.author.as_deref(), Some("Codertocat"));
        assert_eq!(c.message.as_deref(), Some("Initial commit"));
        assert_eq!(c.files, Some(vec!["README.md".to_string()]));
        assert!(m.note.unwrap().contains("no parents"));
    }

    #[test]
    fn push_to_another_branch_is_not_used() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/push.json"
        ));
        body["ref"] = json!("refs/heads/feature");
        let m = mapped("push", &body);
        assert!(m.events.is_empty());
        assert!(m.note.unwrap().contains("refs/heads/feature"));
    }

    #[test]
    fn push_commit_without_timestamp_names_the_field() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/push.json"
        ));
        body["commits"][0]["timestamp"] = json!("yesterday");
        let err = map("push", &body, "github", &[]).unwrap_err();
        let HookError::Malformed { field, .. } = err else {
            panic!()
        };
        assert_eq!(field, "commits.0.timestamp");
    }

    #[test]
    fn issue_without_incident_label_is_not_used() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/issues.opened.json"
        ));
        let m = mapped("issues", &body);
        assert!(m.events.is_empty());
        assert!(m.note.unwrap().contains("no incident label"));
    }

    #[test]
    fn issue_with_incident_label_is_an_incident() {
        let labels = vec!["Bug".to_string()];
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/issues.opened.json"
        ));
        let m = map("issues", &body, "github", &labels).expect("maps");
        let (v, e) = one(&m);
        let Event::Incident(i) = e else { panic!("{v}") };
        assert_eq!(i.source, "github");
        assert_eq!(i.id, "Codertocat/Hello-World#1");
        assert_eq!(i.services, vec!["Codertocat/Hello-World"]);
        assert_eq!(
            i.title.as_deref(),
            Some("Spelling error in the README file")
        );
        assert_eq!(i.created_at.to_rfc3339(), "2019-05-15T15:20:18+00:00");
        assert_eq!(i.resolved_at, None);
        assert_eq!(i.extra.get("number"), Some(&json!(1)));

        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/issues.closed.json"
        ));
        let (_, e) = one(&map("issues", &body, "github", &labels).expect("maps"));
        let Event::Incident(i) = e else { panic!() };
        assert_eq!(
            i.resolved_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2019-05-15T15:21:04+00:00")
        );
    }

    /// An incident issue deleted, moved to another repository or stripped
    /// of its incident label is no incident here any more; any other issue
    /// event of an issue without the label withdraws nothing.
    #[test]
    fn an_incident_issue_deleted_moved_or_unlabelled_is_withdrawn() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/issues.opened.json"
        ));
        let gone = vec![("github".to_string(), "Codertocat/Hello-World#1".to_string())];
        body["issue"]["labels"] = json!([{"name": "Incident"}]);
        for action in ["deleted", "transferred"] {
            body["action"] = json!(action);
            let m = mapped("issues", &body);
            assert!(m.events.is_empty(), "{action}");
            assert_eq!(m.withdrawn, gone, "{action}");
        }
        body["issue"]["labels"] = json!([{"name": "bug"}]);
        body["action"] = json!("unlabeled");
        assert_eq!(mapped("issues", &body).withdrawn, gone);
        for action in ["deleted", "transferred", "edited", "closed"] {
            body["action"] = json!(action);
            let m = mapped("issues", &body);
            assert!(m.events.is_empty() && m.withdrawn.is_empty(), "{action}");
        }
    }

    #[test]
    fn service_and_severity_labels() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/issues.opened.json"
        ));
        body["issue"]["labels"] = json!([
            {"name": "incident"}, {"name": "service:checkout"}, {"name": "sev:1"}
        ]);
        let (_, e) = one(&mapped("issues", &body));
        let Event::Incident(i) = e else { panic!() };
        assert_eq!(i.services, vec!["checkout"]);
        assert_eq!(i.severity.as_deref(), Some("1"));
    }

    #[test]
    fn ping_and_unused_events() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/github/ping.json"
        ));
        assert_eq!(mapped("ping", &body), Mapped::ignored("ping"));
        let m = mapped("star", &body);
        assert!(m.events.is_empty());
        assert_eq!(m.note.as_deref(), Some("event `star` is not used"));
    }
}
