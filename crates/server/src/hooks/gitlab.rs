//! GitLab webhooks: the `X-Gitlab-Token` check and the mapping of
//! deployment, merge request, note (a comment on a merge request), push and
//! incident (`issue` or `work_item` of type `Incident`) events, chosen by
//! the body's `object_kind`.
//!
//! Records have the ids and field conventions of the GitLab connector
//! (`flowmeter-gitlab`): the repository and service are the project path
//! (`group/project`), a deployment's id is its deployment id, a merge
//! request's number its `iid`, a review's id the note id, an incident's id
//! `group/project#iid`.

use flowmeter_connector::fields::services_of_labels;
use serde_json::Value;

use super::{constant_time_eq, first_line, join_notes, HookError, Mapped, Payload, Record, Time};

/// The header that carries the webhook's secret token, in plain text.
pub const TOKEN_HEADER: &str = "X-Gitlab-Token";

/// Checks `X-Gitlab-Token` against the configured token, in constant time.
/// GitLab does not sign the body: the token is the whole proof.
///
/// Fails with [`HookError::Signature`] when no token is configured, the
/// header is missing, or it differs.
pub fn verify(expected_token: &str, header: Option<&str>) -> Result<(), HookError> {
    if expected_token.is_empty() {
        return Err(HookError::Signature(
            "no webhook token is configured for this GitLab source".into(),
        ));
    }
    let given = header
        .ok_or_else(|| HookError::Signature(format!("the `{TOKEN_HEADER}` header is missing")))?;
    if constant_time_eq(expected_token.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(HookError::Signature(format!(
            "the `{TOKEN_HEADER}` header does not match the webhook's secret token"
        )))
    }
}

/// Maps one delivery by its `object_kind`; `source` is the source name
/// records are stored under (the GitLab source's `name`, default `gitlab`).
///
/// Other kinds (pipeline, job, ...) map to no records and a note.
pub fn map(body: &Value, source: &str) -> Result<Mapped, HookError> {
    let p = Payload(body);
    let kind = p.req_text("object_kind")?;
    match kind.as_str() {
        "deployment" => deployment(&p, source),
        "merge_request" => merge_request(&p, source),
        "note" => note(&p, source),
        "push" => push(&p, source),
        "issue" | "work_item" => incident(&p, source),
        other => Ok(Mapped::ignored(format!("event `{other}` is not used"))),
    }
}

/// The project path, the repository and service of every record.
fn project(p: &Payload) -> Result<String, HookError> {
    p.req_text("project.path_with_namespace")
}

fn is_full_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The deployed commit: the payload has only `short_sha`, but `commit_url`
/// ends in the full SHA.
fn deployed_sha(p: &Payload) -> Result<String, HookError> {
    if let Some(sha) = p.text("sha").filter(|s| is_full_sha(s)) {
        return Ok(sha);
    }
    let url = p.req_text("commit_url")?;
    let tail = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let short = p.text("short_sha").unwrap_or_default();
    if is_full_sha(tail) && tail.starts_with(short.as_str()) {
        Ok(tail.to_string())
    } else {
        Err(HookError::Malformed {
            field: "commit_url".into(),
            problem: format!("does not end in the full commit SHA (found `{url}`)"),
        })
    }
}

/// A deployment event, with the connector's status rules: `success`,
/// `failed` → failure, `canceled`/`skipped` → cancelled, anything else
/// (created, running, blocked) → in progress. A finished deployment
/// finished at `status_changed_at`; a running one started then.
fn deployment(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let project = project(p)?;
    let raw = p.req_text("status")?;
    let status = match raw.as_str() {
        "success" => "success",
        "failed" => "failure",
        "canceled" | "skipped" => "cancelled",
        _ => "in_progress",
    };
    let changed_at = p.time("status_changed_at")?;
    let finished_at = match status {
        "success" | "failure" => Some(p.req_time("status_changed_at")?),
        _ => None,
    };
    let started_at = if raw == "running" { changed_at } else { None };
    let r = Record::new("deployment", source)
        .set("id", p.req_id("deployment_id")?)
        .set("service", project.clone())
        .set("repo", project)
        .set("environment", p.req_text("environment")?)
        .set("status", status)
        .opt_time("started_at", started_at)
        .opt_time("finished_at", finished_at)
        .set("commit_sha", deployed_sha(p)?)
        .opt("actor", p.text("user.username"))
        .opt("url", p.text("deployable_url"))
        .opt("ref", p.text("ref"));
    Ok(Mapped::records(vec![r.build()], None))
}

/// A merge request's `merged_at` and `closed_at`.
type MergedClosed = (Option<Time>, Option<Time>);

/// When a merged or closed merge request was merged and closed: an
/// explicit time if the payload has one, else `updated_at` of the event
/// that merged (`merge`) or closed (`close`) it. `None` when the state says
/// merged or closed but this event does not say when.
fn merge_close_times(
    p: &Payload,
    state: &str,
    action: &str,
) -> Result<Option<MergedClosed>, HookError> {
    let updated_at = p.time("object_attributes.updated_at")?;
    let at_action = |a: &str| if action == a { updated_at } else { None };
    Ok(match state {
        // GitLab's API leaves `closed_at` empty for merged requests; the
        // connector closes them at the merge.
        "merged" => p
            .time("object_attributes.merged_at")?
            .or(at_action("merge"))
            .map(|t| (Some(t), Some(t))),
        "closed" => p
            .time("object_attributes.closed_at")?
            .or(at_action("close"))
            .map(|t| (None, Some(t))),
        _ => Some((None, None)),
    })
}

/// A merge request as the connector maps it, less what only the API has
/// (its commits and first commit time). The author is known only when the
/// event's user is the author; the ready time only when this event took
/// the draft flag off. Approvals are left to the sync: the connector keys
/// them by their system note, which the event lacks.
fn merge_request(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let project = project(p)?;
    let number = p.req_int("object_attributes.iid")?;
    let created_at = p.req_time("object_attributes.created_at")?;
    let action = p.text("object_attributes.action").unwrap_or_default();
    let state = p.text("object_attributes.state").unwrap_or_default();
    let mut notes = Vec::new();
    if matches!(action.as_str(), "approved" | "approval") {
        notes.push(format!(
            "approval of {project}!{number}: approvals come from the sync (the webhook lacks the approval's note id)"
        ));
    }
    let Some((merged_at, closed_at)) = merge_close_times(p, &state, &action)? else {
        notes.push(format!(
            "{project}!{number} is {state}, but this `{action}` event does not say when; the record is left to the sync"
        ));
        return Ok(Mapped::records(Vec::new(), join_notes(notes)));
    };
    let author = match (p.id("user.id"), p.id("object_attributes.author_id")) {
        (Some(user), Some(author)) if user == author => p.text("user.username"),
        _ => None,
    };
    let undrafted = |flag: &str| {
        p.at(&format!("changes.{flag}.previous")).as_bool() == Some(true)
            && p.at(&format!("changes.{flag}.current")).as_bool() == Some(false)
    };
    let ready_at = if undrafted("draft") || undrafted("work_in_progress") {
        p.time("object_attributes.updated_at")?
            .filter(|t| *t >= created_at)
    } else {
        None
    };
    let landed = merged_at.and_then(|_| {
        p.text("object_attributes.merge_commit_sha")
            .or_else(|| p.text("object_attributes.squash_commit_sha"))
            .or_else(|| p.text("object_attributes.last_commit.id"))
    });
    let labels = if p.at("object_attributes.labels").is_array() {
        p.names("object_attributes.labels")
    } else {
        p.names("labels")
    };
    let mut r = Record::new("pull_request", source)
        .set("repo", project.clone())
        .set("number", number)
        .opt("title", p.text("object_attributes.title"))
        .opt("author", author)
        .opt("base", p.text("object_attributes.target_branch"))
        .opt("head", p.text("object_attributes.source_branch"))
        .set("labels", labels)
        .time("created_at", created_at)
        .opt_time("ready_at", ready_at)
        .opt_time("merged_at", merged_at)
        .opt_time("closed_at", closed_at)
        .opt("merge_commit_sha", landed);
    if p.flag("object_attributes.draft") || p.flag("object_attributes.work_in_progress") {
        r = r.set("draft", true);
    }
    let r = r.opt("url", p.text("object_attributes.url"));
    notes.push(format!(
        "merge request {project}!{number}: the webhook carries no commit list or first commit time; the next sync adds them"
    ));
    Ok(Mapped::records(vec![r.build()], join_notes(notes)))
}

/// A comment on a merge request by someone other than its author, as a
/// `commented` review keyed by the note id (the connector's rule).
fn note(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let project = project(p)?;
    if p.text("object_attributes.noteable_type").as_deref() != Some("MergeRequest") {
        return Ok(Mapped::ignored(format!(
            "a comment in {project} that is not on a merge request is not used"
        )));
    }
    let number = p.req_int("merge_request.iid")?;
    if p.flag("object_attributes.system") {
        return Ok(Mapped::ignored(format!(
            "system note on {project}!{number} is not used"
        )));
    }
    let commenter = p
        .id("object_attributes.author_id")
        .or_else(|| p.id("user.id"));
    if commenter.is_some() && commenter == p.id("merge_request.author_id") {
        return Ok(Mapped::ignored(format!(
            "comment by the author of {project}!{number} is not a review"
        )));
    }
    let r = Record::new("review", source)
        .set("repo", project)
        .set("pr", number)
        .set("id", p.req_id("object_attributes.id")?)
        .set("author", p.req_text("user.username")?)
        .set("state", "commented")
        .time("submitted_at", p.req_time("object_attributes.created_at")?);
    Ok(Mapped::records(vec![r.build()], None))
}

/// One commit record per pushed commit, for pushes to the project's default
/// branch only. GitLab's push payload has no parents and no author date:
/// its `timestamp` is the committer date, used for both `committed_at` and
/// (the required) `authored_at` until the sync brings the author date.
fn push(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let project = project(p)?;
    let git_ref = p.req_text("ref")?;
    let branch = p.req_text("project.default_branch")?;
    if git_ref != format!("refs/heads/{branch}") {
        return Ok(Mapped::ignored(format!(
            "push to `{git_ref}` of {project}: only the default branch `{branch}` is imported"
        )));
    }
    let count = p.list_len("commits")?;
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        events.push(push_commit(p, source, &project, i)?);
    }
    if count == 0 {
        return Ok(Mapped::records(events, None));
    }
    let mut notes = vec![format!(
        "{count} commit(s) pushed to {project} `{branch}`: push payloads carry no parents and no author date (the commit date stands in); the next sync adds them"
    )];
    if let Some(total) = p.int("total_commits_count").filter(|t| *t > count as i64) {
        notes.push(format!(
            "GitLab lists at most 20 commits per push: {count} of {total} imported, the sync brings the rest"
        ));
    }
    Ok(Mapped::records(events, join_notes(notes)))
}

/// The `i`-th commit of a push.
fn push_commit(p: &Payload, source: &str, project: &str, i: usize) -> Result<Value, HookError> {
    let at = |k: &str| format!("commits.{i}.{k}");
    let committed_at = p.req_time(&at("timestamp"))?;
    let message = p
        .text(&at("title"))
        .or_else(|| p.text(&at("message")).map(|m| first_line(&m)));
    Ok(Record::new("commit", source)
        .set("repo", project)
        .set("sha", p.req_text(&at("id"))?)
        .time("authored_at", committed_at)
        .time("committed_at", committed_at)
        .opt("author", p.text(&at("author.name")))
        .opt("message", message)
        .opt("files", p.changed_paths(&format!("commits.{i}")))
        .build())
}

/// An issue or work item of type `Incident` (`type`, GitLab 17.2+; or
/// `issue_type`), as the connector maps it: the services from
/// `service::NAME` (or `service:NAME`) labels, else the project; severity
/// lower-cased unless unknown; resolved when closed.
fn incident(p: &Payload, source: &str) -> Result<Mapped, HookError> {
    let project = project(p)?;
    let iid = p.req_int("object_attributes.iid")?;
    let kind = p
        .text("object_attributes.type")
        .or_else(|| p.text("object_attributes.issue_type"))
        .unwrap_or_default();
    if !kind.eq_ignore_ascii_case("incident") {
        return Ok(Mapped::ignored(format!(
            "{project}#{iid} is not an incident"
        )));
    }
    let labels = if p.at("object_attributes.labels").is_array() {
        p.names("object_attributes.labels")
    } else {
        p.names("labels")
    };
    let services = services_of_labels(labels.iter().map(String::as_str), &project);
    let resolved_at = if p.text("object_attributes.state").as_deref() == Some("closed") {
        let closed = p.time("object_attributes.closed_at")?;
        let by_this = if p.text("object_attributes.action").as_deref() == Some("close") {
            p.time("object_attributes.updated_at")?
        } else {
            None
        };
        match closed.or(by_this) {
            Some(t) => Some(t),
            None => {
                return Ok(Mapped::ignored(format!(
                    "incident {project}#{iid} is closed, but this event does not say when; the record is left to the sync"
                )))
            }
        }
    } else {
        None
    };
    let severity = p
        .text("object_attributes.severity")
        .filter(|s| !s.eq_ignore_ascii_case("unknown"))
        .map(|s| s.to_lowercase());
    let r = Record::new("incident", source)
        .set("id", format!("{project}#{iid}"))
        .set("services", services)
        .opt("title", p.text("object_attributes.title"))
        .opt("severity", severity)
        .opt("url", p.text("object_attributes.url"))
        .time("created_at", p.req_time("object_attributes.created_at")?)
        .opt_time("resolved_at", resolved_at);
    Ok(Mapped::records(vec![r.build()], None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmeter_model::{event_from_json, DeploymentStatus, Event, ReviewState};
    use serde_json::json;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    fn mapped(body: &Value) -> Mapped {
        map(body, "gitlab").expect("maps")
    }

    /// Every record, validated by the model.
    fn events(m: &Mapped) -> Vec<Event> {
        m.events
            .iter()
            .map(|v| event_from_json(v.clone()).expect("a valid EVENTS.md record"))
            .collect()
    }

    fn only(m: &Mapped) -> Event {
        let mut all = events(m);
        assert_eq!(all.len(), 1, "{m:?}");
        all.remove(0)
    }

    #[test]
    fn token_is_compared_whole() {
        assert_eq!(verify("s3cret-token", Some("s3cret-token")), Ok(()));
        let err = verify("s3cret-token", Some("s3cret-tokeN")).unwrap_err();
        assert_eq!(err.status(), 401);
        assert!(verify("s3cret-token", Some("s3cret")).is_err());
        assert!(verify("s3cret-token", Some("s3cret-token ")).is_err());
        assert!(verify("s3cret-token", None).is_err());
        assert!(verify("", Some("")).is_err());
    }

    #[test]
    fn production_deployment() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/deployment.production.json"
        ));
        let Event::Deployment(d) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(d.source, "gitlab");
        assert_eq!(d.id, "15");
        assert_eq!(d.service, "root/test-deployment-webhooks");
        assert_eq!(d.repo.as_deref(), Some("root/test-deployment-webhooks"));
        assert_eq!(d.environment, "production");
        assert_eq!(d.status, DeploymentStatus::Success);
        assert_eq!(d.commit_sha, "279484c09fbe69ededfced8c1bb6e6d24616b468");
        assert_eq!(
            d.finished_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2021-04-28T19:50:00+00:00")
        );
        assert_eq!(d.actor.as_deref(), Some("root"));
        assert_eq!(
            d.url.as_deref(),
            Some("http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796")
        );
    }

    #[test]
    fn staging_and_failed_and_running_deployments() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/deployment.json"
        ));
        let Event::Deployment(d) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(d.environment, "staging");

        body["status"] = json!("failed");
        let Event::Deployment(d) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(d.status, DeploymentStatus::Failure);

        body["status"] = json!("running");
        let Event::Deployment(d) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(d.status, DeploymentStatus::InProgress);
        assert_eq!(d.finished_at, None);
        assert_eq!(
            d.started_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2021-04-28T19:50:00+00:00")
        );
    }

    #[test]
    fn deployment_without_full_sha_names_the_field() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/deployment.json"
        ));
        body["commit_url"] = json!("http://10.126.0.2:3000/root/x/-/commit/279484c0");
        let err = map(&body, "gitlab").unwrap_err();
        let HookError::Malformed { field, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(field, "commit_url");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn opened_merge_request() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/merge_request.open.json"
        ));
        let m = mapped(&body);
        let Event::PullRequest(pr) = only(&m) else {
            panic!()
        };
        assert_eq!(pr.source, "gitlab");
        assert_eq!(pr.repo, "gitlabhq/gitlab-test");
        assert_eq!(pr.number, 1);
        assert_eq!(pr.title.as_deref(), Some("MS-Viewport"));
        assert_eq!(pr.base.as_deref(), Some("master"));
        assert_eq!(pr.head.as_deref(), Some("ms-viewport"));
        assert_eq!(pr.labels, vec!["API"]);
        assert_eq!(pr.created_at.to_rfc3339(), "2013-12-03T17:23:34+00:00");
        // The event's user (id 1) is not the author (id 51).
        assert_eq!(pr.author, None);
        // `changes.draft` went from true to false in this event.
        assert_eq!(
            pr.ready_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2013-12-03T17:23:34+00:00")
        );
        assert_eq!(pr.merged_at, None);
        assert_eq!(pr.merge_commit_sha, None);
        assert_eq!(
            pr.extra.get("url"),
            Some(&json!("http://example.com/diaspora/merge_requests/1"))
        );
        assert!(m.note.unwrap().contains("gitlabhq/gitlab-test!1"));
    }

    #[test]
    fn merged_merge_request() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/merge_request.merge.json"
        ));
        let Event::PullRequest(pr) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(pr.number, 1);
        assert_eq!(
            pr.merged_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2013-12-03T18:02:11+00:00")
        );
        assert_eq!(pr.closed_at, pr.merged_at);
        assert_eq!(
            pr.merge_commit_sha.as_deref(),
            Some("3a4c5f7d2e9b8a6c1d0e4f2b7a9c8d6e5f4a3b21")
        );
        assert_eq!(pr.ready_at, None);
    }

    #[test]
    fn update_of_a_merged_request_says_nothing_about_the_merge_time() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/merge_request.merge.json"
        ));
        body["object_attributes"]["action"] = json!("update");
        let m = mapped(&body);
        assert!(m.events.is_empty());
        assert!(m.note.unwrap().contains("left to the sync"));
    }

    #[test]
    fn author_known_when_the_author_acts() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/merge_request.open.json"
        ));
        body["object_attributes"]["author_id"] = json!(1);
        let Event::PullRequest(pr) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(pr.author.as_deref(), Some("root"));
    }

    #[test]
    fn comment_on_merge_request_is_a_review() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/note.merge_request.json"
        ));
        let Event::Review(r) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(r.source, "gitlab");
        assert_eq!(r.repo, "gitlab-org/gitlab-test");
        assert_eq!(r.pr, 1);
        assert_eq!(r.id, "1244");
        assert_eq!(r.author, "root");
        assert_eq!(r.state, ReviewState::Commented);
        assert_eq!(r.submitted_at.to_rfc3339(), "2015-05-17T18:21:36+00:00");
    }

    #[test]
    fn comment_by_the_author_is_not_a_review() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/note.merge_request.json"
        ));
        body["merge_request"]["author_id"] = json!(1);
        let m = mapped(&body);
        assert!(m.events.is_empty());
        assert!(m.note.is_some());
    }

    #[test]
    fn push_to_default_branch() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/push.json"
        ));
        let m = mapped(&body);
        let all = events(&m);
        assert_eq!(all.len(), 2);
        let Event::Commit(c) = &all[0] else { panic!() };
        assert_eq!(c.source, "gitlab");
        assert_eq!(c.repo, "mike/diaspora");
        assert_eq!(c.sha, "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327");
        assert_eq!(c.parents, None);
        assert_eq!(c.authored_at.to_rfc3339(), "2011-12-12T12:27:31+00:00");
        assert_eq!(c.committed_at, Some(c.authored_at));
        assert_eq!(c.author.as_deref(), Some("Jordi Mallach"));
        assert_eq!(
            c.message.as_deref(),
            Some("Update Catalan translation to e38cb41.")
        );
        // Added, modified and removed paths, for teams' `paths`.
        let paths = ["CHANGELOG", "app/controller/application.rb"].map(String::from);
        assert_eq!(c.files.as_deref(), Some(&paths[..]));
        let Event::Commit(c) = &all[1] else { panic!() };
        assert_eq!(c.sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        let note = m.note.unwrap();
        assert!(note.contains("2 of 4"), "{note}");
    }

    #[test]
    fn push_to_another_branch_is_not_used() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/push.json"
        ));
        body["ref"] = json!("refs/heads/feature");
        let m = mapped(&body);
        assert!(m.events.is_empty());
        assert!(m.note.unwrap().contains("refs/heads/feature"));
    }

    #[test]
    fn incident_work_item() {
        let body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/issue.incident.json"
        ));
        let Event::Incident(i) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(i.source, "gitlab");
        assert_eq!(i.id, "gitlabhq/gitlab-test#23");
        assert_eq!(i.services, vec!["gitlabhq/gitlab-test"]);
        assert_eq!(
            i.title.as_deref(),
            Some("New API: create/update/delete file")
        );
        assert_eq!(i.severity.as_deref(), Some("high"));
        assert_eq!(i.created_at.to_rfc3339(), "2013-12-03T17:15:43+00:00");
        assert_eq!(i.resolved_at, None);
        assert_eq!(
            i.url.as_deref(),
            Some("http://example.com/diaspora/issues/23")
        );
    }

    #[test]
    fn closed_incident_and_plain_issue() {
        let mut body = fixture(include_str!(
            "../../../../tests/fixtures/webhooks/gitlab/issue.incident.json"
        ));
        body["object_attributes"]["state"] = json!("closed");
        body["object_attributes"]["action"] = json!("close");
        body["object_attributes"]["updated_at"] = json!("2013-12-03 18:00:00 UTC");
        body["object_attributes"]["labels"] = json!([{"title": "service::checkout"}]);
        let Event::Incident(i) = only(&mapped(&body)) else {
            panic!()
        };
        assert_eq!(
            i.resolved_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2013-12-03T18:00:00+00:00")
        );
        assert_eq!(i.services, vec!["checkout"]);

        body["object_kind"] = json!("issue");
        body["object_attributes"]["type"] = json!("Issue");
        let m = mapped(&body);
        assert!(m.events.is_empty());
        assert!(m.note.unwrap().contains("not an incident"));
    }

    #[test]
    fn unused_kind() {
        let m = mapped(&json!({"object_kind": "pipeline"}));
        assert!(m.events.is_empty());
        assert_eq!(m.note.as_deref(), Some("event `pipeline` is not used"));
        assert!(map(&json!({}), "gitlab").is_err());
    }
}
