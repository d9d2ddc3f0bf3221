//! What the store knows of each record type, which the import's merges
//! share: its table and natural key, the fields a record that leaves them
//! out does not erase, and what a merge counts.

use flowmeter_model::EventKind;

/// Rows written per record type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// The table of a record type, and the columns of its natural key.
pub(crate) fn table_of(kind: EventKind) -> (&'static str, &'static [&'static str]) {
    match kind {
        EventKind::Deployment => ("deployments", &["source", "id"]),
        EventKind::Commit => ("commits", &["repo", "sha"]),
        EventKind::PullRequest => ("pull_requests", &["repo", "number"]),
        EventKind::Review => ("reviews", &["repo", "pr", "id"]),
        EventKind::Incident => ("incidents", &["source", "id"]),
    }
}

/// Fields a record that leaves them out does not erase: the changed paths
/// and their owners, which one source of a commit or pull request knows
/// (git, a push webhook, GitHub with `code_owners`) and another does not
/// (GitHub's commit list). Missing is not "changed nothing".
pub(crate) const KEPT_WHEN_ABSENT: &[&str] = &["files", "owners"];
