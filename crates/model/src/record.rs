//! Typed records of the interchange format. Timestamps are UTC.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// A point in time, always UTC once parsed.
pub type Timestamp = DateTime<Utc>;

/// Unknown fields of a record, kept as JSON rather than dropped.
pub type Extra = Map<String, Value>;

/// One normalised record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Deployment(Deployment),
    Commit(Commit),
    PullRequest(PullRequest),
    Review(Review),
    Incident(Incident),
}

/// The five record kinds, in the order the store loads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Deployment,
    Commit,
    PullRequest,
    Review,
    Incident,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Deployment,
        EventKind::Commit,
        EventKind::PullRequest,
        EventKind::Review,
        EventKind::Incident,
    ];

    /// The `"type"` value of this kind in the interchange format.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Deployment => "deployment",
            EventKind::Commit => "commit",
            EventKind::PullRequest => "pull_request",
            EventKind::Review => "review",
            EventKind::Incident => "incident",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Deployment(_) => EventKind::Deployment,
            Event::Commit(_) => EventKind::Commit,
            Event::PullRequest(_) => EventKind::PullRequest,
            Event::Review(_) => EventKind::Review,
            Event::Incident(_) => EventKind::Incident,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Success,
    Failure,
    Cancelled,
    InProgress,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Success => "success",
            DeploymentStatus::Failure => "failure",
            DeploymentStatus::Cancelled => "cancelled",
            DeploymentStatus::InProgress => "in_progress",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    #[default]
    Regular,
    Rollback,
    Hotfix,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentKind::Regular => "regular",
            DeploymentKind::Rollback => "rollback",
            DeploymentKind::Hotfix => "hotfix",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub source: String,
    pub id: String,
    /// The deployable unit; `repo` when the record names no service.
    pub service: String,
    pub repo: Option<String>,
    pub environment: String,
    pub status: DeploymentStatus,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub commit_sha: String,
    /// Explicit list of the commits this deployment brought; wins over the graph.
    pub commits: Option<Vec<String>>,
    pub kind: DeploymentKind,
    pub actor: Option<String>,
    pub url: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub labels: Vec<String>,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub source: String,
    pub repo: String,
    pub sha: String,
    pub parents: Option<Vec<String>>,
    pub authored_at: Timestamp,
    pub committed_at: Option<Timestamp>,
    pub author: Option<String>,
    pub message: Option<String>,
    pub extra: Extra,
    /// Paths the commit changed (against its first parent), a flowmeter
    /// extension to EVENTS.md: teams' `paths` match them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Code owners of those paths (CODEOWNERS handles such as
    /// `@acme/payments`), a flowmeter extension: teams' `owners` match them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRequest {
    pub source: String,
    pub repo: String,
    pub number: i64,
    pub title: Option<String>,
    pub author: Option<String>,
    pub base: Option<String>,
    pub head: Option<String>,
    pub labels: Vec<String>,
    pub created_at: Timestamp,
    pub ready_at: Option<Timestamp>,
    pub merged_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub merge_commit_sha: Option<String>,
    pub commits: Option<Vec<String>>,
    pub first_commit_at: Option<Timestamp>,
    pub additions: Option<i64>,
    pub deletions: Option<i64>,
    pub extra: Extra,
    /// Paths the pull request changed (a flowmeter extension, as on commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Code owners of those paths (a flowmeter extension, as on commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "approved",
            ReviewState::ChangesRequested => "changes_requested",
            ReviewState::Commented => "commented",
            ReviewState::Dismissed => "dismissed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub source: String,
    pub repo: String,
    pub pr: i64,
    pub id: String,
    pub author: String,
    pub state: ReviewState,
    pub submitted_at: Timestamp,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub source: String,
    pub id: String,
    /// Affected services: `service`, or the list `services`; never empty.
    pub services: Vec<String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub url: Option<String>,
    pub created_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub deployment_id: Option<String>,
    pub deployment_source: Option<String>,
    pub extra: Extra,
    /// The commit that caused it (a flowmeter extension to EVENTS.md): the
    /// `four-keys` profile counts a deployment as failed when it shipped
    /// an incident's root cause. GitHub and GitLab incident issues give it
    /// as `root cause: SHA` in their text, as Four Keys reads them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
}
