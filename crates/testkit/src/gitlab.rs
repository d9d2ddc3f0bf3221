//! A mock of the GitLab REST API v4, written from GitLab's own documentation
//! (not from flowmeter's connector), for connector tests.
//!
//! The state lives in an [`Instance`] behind `Arc<Mutex<_>>`; one catch-all
//! wiremock mock hands every request to [`handle`], a pure function over
//! (method, path, query, headers), so a test can change the instance between
//! two syncs with [`MockGitLab::with_instance`].
//!
//! Documentation followed (docs.gitlab.com):
//! - REST basics, namespaced (URL-encoded) paths, offset pagination, `Link`
//!   and `x-*` headers (page default 1, per_page default 20, max 100):
//!   <https://docs.gitlab.com/ee/api/rest/index.html#offset-based-pagination>,
//!   <https://docs.gitlab.com/ee/api/rest/index.html#namespaced-paths>
//! - No `x-total`, `x-total-pages` or `rel="last"` above 10,000 rows:
//!   <https://docs.gitlab.com/ee/user/gitlab_com/index.html#pagination-response-headers>
//! - Authentication (`PRIVATE-TOKEN`, `Authorization: Bearer`, 401 body):
//!   <https://docs.gitlab.com/ee/api/rest/authentication.html>
//! - Rate-limit response headers and `Retry-After`:
//!   <https://docs.gitlab.com/ee/administration/settings/user_and_ip_rate_limits.html#response-headers>
//! - Projects: <https://docs.gitlab.com/ee/api/projects.html#get-a-single-project>
//! - Group projects: <https://docs.gitlab.com/ee/api/groups.html#list-projects>
//! - Commits (list, single; `since`/`until`; "Pagination response headers":
//!   the Commits API never sends `x-total`/`x-total-pages`; `created_at` is
//!   always `committed_date`): <https://docs.gitlab.com/ee/api/commits.html>
//! - Merge requests (list, single, commits): <https://docs.gitlab.com/ee/api/merge_requests.html>
//! - MR notes: <https://docs.gitlab.com/ee/api/notes.html#merge-requests>
//! - MR approvals: <https://docs.gitlab.com/ee/api/merge_request_approvals.html#merge-request-level-mr-approvals>
//! - Deployments (and the `DeploymentsFinder` 400s for `updated_*` without
//!   `order_by=updated_at` etc.): <https://docs.gitlab.com/ee/api/deployments.html#list-project-deployments>
//! - Issues / incidents: <https://docs.gitlab.com/ee/api/issues.html#list-project-issues>
//! - Squash and merge (merge-commit method: squash commit + merge commit):
//!   <https://docs.gitlab.com/ee/user/project/merge_requests/squash_and_merge.html>

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::http::base64_encode;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The token the mock accepts until [`MockGitLab::set_token`] changes it.
pub const DEFAULT_TOKEN: &str = "glpat-flowmeter-testkit";

// ---------------------------------------------------------------- model

/// The whole GitLab instance the mock serves.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub groups: Vec<Group>,
    pub projects: Vec<Project>,
    /// Drop `x-total`, `x-total-pages` and `rel="last"` from every list, as
    /// GitLab does when a query has more than 10,000 rows (done automatically
    /// above 10,000 rows too).
    pub omit_totals: bool,
    /// A GitLab before 15.7: no `/merge_requests/:iid/diffs` (404), a merge
    /// request's files only in `/merge_requests/:iid/changes` (deprecated
    /// in 15.7).
    pub before_15_7: bool,
}

impl Instance {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_group(mut self, group: Group) -> Self {
        self.groups.push(group);
        self
    }

    pub fn with_project(mut self, project: Project) -> Self {
        self.projects.push(project);
        self
    }

    pub fn project(&self, id: u64) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Panics when no project has this id.
    pub fn project_mut(&mut self, id: u64) -> &mut Project {
        self.projects
            .iter_mut()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no project with id {id}"))
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: u64,
    /// e.g. `acme` or `acme/platform`; subgroups are groups whose path extends it.
    pub full_path: String,
    /// Ids of the projects directly in this group.
    pub projects: Vec<u64>,
}

impl Group {
    pub fn new(id: u64, full_path: &str, projects: &[u64]) -> Self {
        Self {
            id,
            full_path: full_path.to_string(),
            projects: projects.to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: u64,
    pub path_with_namespace: String,
    pub default_branch: String,
    pub archived: bool,
    pub commits: HashMap<String, Commit>,
    /// Branch name to head sha.
    pub branches: BTreeMap<String, String>,
    pub merge_requests: Vec<MergeRequest>,
    pub deployments: Vec<Deployment>,
    pub issues: Vec<Issue>,
    /// Files of the default branch the repository files API serves, by
    /// path (e.g. `.gitlab/CODEOWNERS`).
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The sha.
    pub id: String,
    pub parent_ids: Vec<String>,
    pub title: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub authored_date: DateTime<Utc>,
    pub committer_name: String,
    pub committed_date: DateTime<Utc>,
    /// GitLab: "always identical to the `committed_date` field".
    pub created_at: DateTime<Utc>,
    /// The paths its diff changes (`/repository/commits/:sha/diff`).
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MergeRequest {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    pub author_username: String,
    /// `opened`, `closed`, `merged` or `locked`.
    pub state: String,
    pub draft: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub merged_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub target_branch: String,
    pub source_branch: String,
    pub labels: Vec<String>,
    /// Head sha of the source branch.
    pub sha: String,
    pub merge_commit_sha: Option<String>,
    pub squash_commit_sha: Option<String>,
    pub squash: bool,
    /// The MR's own commits, oldest first (the API lists them newest first).
    pub commits: Vec<String>,
    pub notes: Vec<Note>,
    /// The paths its diff changes (`/merge_requests/:iid/diffs`).
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub id: u64,
    pub body: String,
    pub author_username: String,
    /// System notes: "approved this merge request",
    /// "unapproved this merge request", "marked this merge request as **ready**", ...
    pub system: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: u64,
    pub iid: u64,
    pub ref_: String,
    pub sha: String,
    pub environment_name: String,
    /// `created`, `running`, `success`, `failed`, `canceled`, `skipped` or `blocked`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Served as `deployable.finished_at` (the deploy job's end).
    pub finished_at: Option<DateTime<Utc>>,
    pub user_username: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    /// `issue` or `incident` (also `test_case`, `task`).
    pub issue_type: String,
    /// `opened` or `closed`.
    pub state: String,
    pub labels: Vec<String>,
    /// `UNKNOWN`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub severity: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub const APPROVED_NOTE: &str = "approved this merge request";
pub const UNAPPROVED_NOTE: &str = "unapproved this merge request";
pub const READY_NOTE: &str = "marked this merge request as **ready**";

impl Project {
    /// An empty project (no commits, no branches) whose default branch is `main`.
    pub fn new(id: u64, path_with_namespace: &str) -> Self {
        Self {
            id,
            path_with_namespace: path_with_namespace.to_string(),
            default_branch: "main".to_string(),
            archived: false,
            commits: HashMap::new(),
            branches: BTreeMap::new(),
            merge_requests: Vec::new(),
            deployments: Vec::new(),
            issues: Vec::new(),
            files: BTreeMap::new(),
        }
    }

    /// Head sha of a branch.
    pub fn head(&self, branch: &str) -> Option<&str> {
        self.branches.get(branch).map(String::as_str)
    }

    /// A branch name, a full sha or a unique sha prefix (4+ hex digits).
    pub fn resolve(&self, rev: &str) -> Option<String> {
        if let Some(sha) = self.branches.get(rev) {
            return Some(sha.clone());
        }
        if self.commits.contains_key(rev) {
            return Some(rev.to_string());
        }
        if rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
            let found: Vec<&String> = self.commits.keys().filter(|k| k.starts_with(rev)).collect();
            if found.len() == 1 {
                return Some(found[0].clone());
            }
        }
        None
    }

    fn new_sha(&self, seed: &str) -> String {
        let mut salt = 0u64;
        loop {
            let sha = make_sha(&format!(
                "{}|{}|{}|{}",
                self.id,
                self.commits.len(),
                seed,
                salt
            ));
            if !self.commits.contains_key(&sha) {
                return sha;
            }
            salt += 1;
        }
    }

    /// Stores a commit (author = committer = `author`, `author@example.com`)
    /// without moving any branch; returns its sha.
    pub fn add_commit(
        &mut self,
        parent_ids: Vec<String>,
        title: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> String {
        self.add_commit_with_message(parent_ids, title, title, author, at)
    }

    pub fn add_commit_with_message(
        &mut self,
        parent_ids: Vec<String>,
        title: &str,
        message: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> String {
        let sha = self.new_sha(&format!(
            "{title}|{}|{}",
            at.to_rfc3339(),
            parent_ids.join(",")
        ));
        let commit = Commit {
            id: sha.clone(),
            parent_ids,
            title: title.to_string(),
            message: message.to_string(),
            author_name: author.to_string(),
            author_email: format!("{author}@example.com"),
            authored_date: at,
            committer_name: author.to_string(),
            committed_date: at,
            created_at: at,
            files: Vec::new(),
        };
        self.commits.insert(sha.clone(), commit);
        sha
    }

    /// Commits on top of `branch` (creating it, with a root commit, if missing)
    /// and moves the branch; returns the new sha.
    pub fn commit_at(
        &mut self,
        branch: &str,
        title: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> String {
        let parents: Vec<String> = self.branches.get(branch).cloned().into_iter().collect();
        let sha = self.add_commit(parents, title, author, at);
        self.branches.insert(branch.to_string(), sha.clone());
        sha
    }

    /// Creates (or moves) branch `name` to `from` (a branch or a sha). Panics if `from` does not resolve.
    pub fn create_branch(&mut self, name: &str, from: &str) {
        let sha = self
            .resolve(from)
            .unwrap_or_else(|| panic!("cannot resolve {from:?}"));
        self.branches.insert(name.to_string(), sha);
    }

    /// Commits reachable from `starts`, in git's default `log` order: newest
    /// `committed_date` first (a date-ordered walk, like `git log`).
    fn walk(&self, starts: &[String], first_parent: bool) -> Vec<&Commit> {
        let mut heap: BinaryHeap<(DateTime<Utc>, Reverse<u64>, String)> = BinaryHeap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut seq = 0u64;
        for s in starts {
            if let Some(c) = self.commits.get(s) {
                if seen.insert(s.clone()) {
                    heap.push((c.committed_date, Reverse(seq), s.clone()));
                    seq += 1;
                }
            }
        }
        let mut out = Vec::new();
        while let Some((_, _, sha)) = heap.pop() {
            let Some(c) = self.commits.get(&sha) else {
                continue;
            };
            out.push(c);
            let parents: &[String] = if first_parent && !c.parent_ids.is_empty() {
                &c.parent_ids[..1]
            } else {
                &c.parent_ids[..]
            };
            for p in parents {
                if let Some(pc) = self.commits.get(p) {
                    if seen.insert(p.clone()) {
                        heap.push((pc.committed_date, Reverse(seq), p.clone()));
                        seq += 1;
                    }
                }
            }
        }
        out
    }

    /// Everything reachable from `rev` (a branch or sha), newest first.
    pub fn log(&self, rev: &str) -> Vec<&Commit> {
        match self.resolve(rev) {
            Some(sha) => self.walk(&[sha], false),
            None => Vec::new(),
        }
    }

    fn ancestors(&self, sha: &str) -> HashSet<String> {
        self.walk(&[sha.to_string()], false)
            .into_iter()
            .map(|c| c.id.clone())
            .collect()
    }

    fn next_mr_iid(&self) -> u64 {
        self.merge_requests.iter().map(|m| m.iid).max().unwrap_or(0) + 1
    }

    pub fn mr(&self, iid: u64) -> &MergeRequest {
        self.merge_requests
            .iter()
            .find(|m| m.iid == iid)
            .unwrap_or_else(|| panic!("no merge request !{iid}"))
    }

    pub fn mr_mut(&mut self, iid: u64) -> &mut MergeRequest {
        self.merge_requests
            .iter_mut()
            .find(|m| m.iid == iid)
            .unwrap_or_else(|| panic!("no merge request !{iid}"))
    }

    /// Opens an MR from `source_branch` into the default branch; its commits are
    /// those reachable from the source head and not from the target head.
    /// A title starting with `Draft:` makes a draft. Returns the iid.
    pub fn open_mr(
        &mut self,
        source_branch: &str,
        title: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> u64 {
        let iid = self.next_mr_iid();
        let id = self.id * 100_000 + iid;
        let target = self.default_branch.clone();
        let head = self
            .branches
            .get(source_branch)
            .cloned()
            .unwrap_or_else(|| panic!("no branch {source_branch:?}"));
        let excluded = match self.branches.get(&target) {
            Some(t) => self.ancestors(t),
            None => HashSet::new(),
        };
        let mut commits: Vec<String> = self
            .walk(std::slice::from_ref(&head), false)
            .into_iter()
            .filter(|c| !excluded.contains(&c.id))
            .map(|c| c.id.clone())
            .collect();
        commits.reverse();
        self.merge_requests.push(MergeRequest {
            id,
            iid,
            title: title.to_string(),
            author_username: author.to_string(),
            state: "opened".to_string(),
            draft: title.starts_with("Draft:")
                || title.starts_with("[Draft]")
                || title.starts_with("(Draft)"),
            created_at: at,
            updated_at: at,
            merged_at: None,
            closed_at: None,
            target_branch: target,
            source_branch: source_branch.to_string(),
            labels: Vec::new(),
            sha: head,
            merge_commit_sha: None,
            squash_commit_sha: None,
            squash: false,
            commits,
            notes: Vec::new(),
            files: Vec::new(),
        });
        iid
    }

    /// Branches `mr-<iid>` off the default branch (seeding an "Initial commit" a
    /// day before `start` if the project is empty), makes `n` commits by `dev` at
    /// `start`, `start + step`, ..., and opens the MR when the last one is pushed.
    /// Returns the iid.
    pub fn open_mr_with_commits(&mut self, n: usize, start: DateTime<Utc>, step: Duration) -> u64 {
        let default_branch = self.default_branch.clone();
        if !self.branches.contains_key(&default_branch) {
            self.commit_at(
                &default_branch,
                "Initial commit",
                "root",
                start - Duration::days(1),
            );
        }
        let iid = self.next_mr_iid();
        let branch = format!("mr-{iid}");
        self.create_branch(&branch, &default_branch);
        let mut last = start;
        for i in 0..n {
            last = start + step * (i as i32);
            self.commit_at(&branch, &format!("Commit {} of !{iid}", i + 1), "dev", last);
        }
        let opened = self.open_mr(&branch, &format!("Change {iid}"), "dev", last);
        debug_assert_eq!(opened, iid);
        opened
    }

    /// Pushes one more commit to the MR's source branch.
    pub fn push_to_mr(&mut self, iid: u64, title: &str, at: DateTime<Utc>) -> String {
        let (branch, author) = {
            let mr = self.mr(iid);
            (mr.source_branch.clone(), mr.author_username.clone())
        };
        let sha = self.commit_at(&branch, title, &author, at);
        let mr = self.mr_mut(iid);
        mr.commits.push(sha.clone());
        mr.sha = sha.clone();
        if at > mr.updated_at {
            mr.updated_at = at;
        }
        sha
    }

    fn merge_message(&self, iid: u64) -> (String, String) {
        let mr = self.mr(iid);
        let title = format!(
            "Merge branch '{}' into '{}'",
            mr.source_branch, mr.target_branch
        );
        let message = format!(
            "{title}\n\n{}\n\nSee merge request {}!{}",
            mr.title, self.path_with_namespace, mr.iid
        );
        (title, message)
    }

    fn finish_merge(
        &mut self,
        iid: u64,
        at: DateTime<Utc>,
        merge_commit: Option<String>,
        squash_commit: Option<String>,
    ) {
        let mr = self.mr_mut(iid);
        mr.state = "merged".to_string();
        mr.merged_at = Some(at);
        mr.updated_at = at;
        mr.squash = squash_commit.is_some();
        mr.merge_commit_sha = merge_commit;
        mr.squash_commit_sha = squash_commit;
    }

    /// Merge-commit method: M (parents: target head, MR head) lands on the target.
    /// Returns M.
    pub fn merge(&mut self, iid: u64, at: DateTime<Utc>) -> String {
        let (target, head, author) = {
            let mr = self.mr(iid);
            (
                mr.target_branch.clone(),
                mr.sha.clone(),
                mr.author_username.clone(),
            )
        };
        let (title, message) = self.merge_message(iid);
        let mut parents: Vec<String> = self.branches.get(&target).cloned().into_iter().collect();
        parents.push(head);
        let m = self.add_commit_with_message(parents, &title, &message, &author, at);
        self.branches.insert(target, m.clone());
        self.finish_merge(iid, at, Some(m.clone()), None);
        m
    }

    /// GitLab's default "merge commit" method with squashing: a squash commit S
    /// (parent: old target head, message: the MR title) and a merge commit M
    /// (parents: old target head, S) land on the target; the MR carries
    /// `squash_commit_sha` = S, `merge_commit_sha` = M, `squash: true`.
    /// Returns (S, M).
    pub fn squash_merge(&mut self, iid: u64, at: DateTime<Utc>) -> (String, String) {
        let (target, mr_title, author) = {
            let mr = self.mr(iid);
            (
                mr.target_branch.clone(),
                mr.title.clone(),
                mr.author_username.clone(),
            )
        };
        let (title, message) = self.merge_message(iid);
        let old_head: Vec<String> = self.branches.get(&target).cloned().into_iter().collect();
        let s = self.add_commit(old_head.clone(), &mr_title, &author, at);
        let mut parents = old_head;
        parents.push(s.clone());
        let m = self.add_commit_with_message(parents, &title, &message, &author, at);
        self.branches.insert(target, m.clone());
        self.finish_merge(iid, at, Some(m.clone()), Some(s.clone()));
        (s, m)
    }

    /// Fast-forward method: the target branch moves to the MR head; no merge
    /// commit, so `merge_commit_sha` stays null. Returns the new target head.
    pub fn fast_forward(&mut self, iid: u64, at: DateTime<Utc>) -> String {
        let (target, head) = {
            let mr = self.mr(iid);
            (mr.target_branch.clone(), mr.sha.clone())
        };
        self.branches.insert(target, head.clone());
        self.finish_merge(iid, at, None, None);
        head
    }

    pub fn close_mr(&mut self, iid: u64, at: DateTime<Utc>) {
        let mr = self.mr_mut(iid);
        mr.state = "closed".to_string();
        mr.closed_at = Some(at);
        mr.updated_at = at;
    }

    /// Adds a note (ids unique in the project); notes touch the MR's `updated_at`.
    pub fn add_note(
        &mut self,
        iid: u64,
        body: &str,
        author: &str,
        system: bool,
        at: DateTime<Utc>,
    ) -> u64 {
        let count: usize = self.merge_requests.iter().map(|m| m.notes.len()).sum();
        let id = self.id * 10_000_000 + count as u64 + 1;
        let mr = self.mr_mut(iid);
        mr.notes.push(Note {
            id,
            body: body.to_string(),
            author_username: author.to_string(),
            system,
            created_at: at,
            updated_at: at,
        });
        if at > mr.updated_at {
            mr.updated_at = at;
        }
        id
    }

    /// The system note GitLab writes on approval; the approvals endpoint reads these.
    pub fn approve(&mut self, iid: u64, username: &str, at: DateTime<Utc>) -> u64 {
        self.add_note(iid, APPROVED_NOTE, username, true, at)
    }

    pub fn unapprove(&mut self, iid: u64, username: &str, at: DateTime<Utc>) -> u64 {
        self.add_note(iid, UNAPPROVED_NOTE, username, true, at)
    }

    /// Clears `draft` and writes the "marked this merge request as **ready**" system note.
    pub fn mark_ready(&mut self, iid: u64, at: DateTime<Utc>) -> u64 {
        let author = {
            let mr = self.mr_mut(iid);
            mr.draft = false;
            mr.author_username.clone()
        };
        self.add_note(iid, READY_NOTE, &author, true, at)
    }

    /// A deployment of `sha` from the default branch by `deployer`; `updated_at`
    /// is `finished_at` or `created_at`. Returns the deployment id.
    pub fn deploy(
        &mut self,
        environment: &str,
        sha: &str,
        status: &str,
        created_at: DateTime<Utc>,
        finished_at: Option<DateTime<Utc>>,
    ) -> u64 {
        let iid = self.deployments.iter().map(|d| d.iid).max().unwrap_or(0) + 1;
        let id = self.id * 100_000 + iid;
        self.deployments.push(Deployment {
            id,
            iid,
            ref_: self.default_branch.clone(),
            sha: sha.to_string(),
            environment_name: environment.to_string(),
            status: status.to_string(),
            created_at,
            updated_at: finished_at.unwrap_or(created_at),
            finished_at,
            user_username: "deployer".to_string(),
        });
        id
    }

    /// Adds an open issue (`issue_type` `issue` or `incident`); returns its iid.
    pub fn add_issue(&mut self, title: &str, issue_type: &str, created_at: DateTime<Utc>) -> u64 {
        let iid = self.issues.iter().map(|i| i.iid).max().unwrap_or(0) + 1;
        self.issues.push(Issue {
            id: self.id * 100_000 + iid,
            iid,
            title: title.to_string(),
            issue_type: issue_type.to_string(),
            state: "opened".to_string(),
            labels: Vec::new(),
            severity: "UNKNOWN".to_string(),
            created_at,
            updated_at: created_at,
            closed_at: None,
        });
        iid
    }

    pub fn add_incident(&mut self, title: &str, severity: &str, created_at: DateTime<Utc>) -> u64 {
        let iid = self.add_issue(title, "incident", created_at);
        let issue = self
            .issues
            .iter_mut()
            .find(|i| i.iid == iid)
            .expect("just added");
        issue.severity = severity.to_string();
        iid
    }

    pub fn close_issue(&mut self, iid: u64, at: DateTime<Utc>) {
        let issue = self
            .issues
            .iter_mut()
            .find(|i| i.iid == iid)
            .unwrap_or_else(|| panic!("no issue #{iid}"));
        issue.state = "closed".to_string();
        issue.closed_at = Some(at);
        issue.updated_at = at;
    }
}

fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic 40-hex-digit sha.
fn make_sha(seed: &str) -> String {
    let mut h = fnv1a64(seed);
    let mut out = String::with_capacity(48);
    for _ in 0..3 {
        h = splitmix64(h);
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(40);
    out
}

// ---------------------------------------------------------------- responses

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
    Text { content_type: String, text: String },
}

/// What [`handle`] answers: status, headers (lower-case names as GitLab sends them) and body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

static NULL: Value = Value::Null;

impl ApiResponse {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Json(body),
        }
    }

    /// First value of a header, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body (`null` for a text body).
    pub fn body_json(&self) -> &Value {
        match &self.body {
            Body::Json(v) => v,
            Body::Text { .. } => &NULL,
        }
    }

    fn into_template(self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        t = match self.body {
            Body::Json(v) => t.set_body_json(v),
            Body::Text { content_type, text } => t.set_body_raw(text.into_bytes(), &content_type),
        };
        for (k, v) in &self.headers {
            t = t.append_header(k.as_str(), v.as_str());
        }
        t
    }
}

fn message(status: u16, msg: &str) -> ApiResponse {
    ApiResponse::json(status, json!({ "message": msg }))
}

/// Grape's parameter-validation answer.
fn param_error(text: String) -> ApiResponse {
    ApiResponse::json(400, json!({ "error": text }))
}

fn not_found_route() -> ApiResponse {
    ApiResponse::json(404, json!({ "error": "404 Not Found" }))
}

/// A fault [`MockGitLab::inject`] serves instead of the real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: 1` and the documented `RateLimit-*` headers; body `Retry later`.
    RateLimited,
    /// 500 `{"message":"500 Internal Server Error"}`.
    InternalError,
    /// 502 with an HTML body, as a proxy in front of GitLab answers.
    BadGateway,
}

/// The response for a fault at time `now`.
pub fn fault_response(fault: Fault, now: DateTime<Utc>) -> ApiResponse {
    match fault {
        Fault::RateLimited => {
            let reset = now + Duration::seconds(1);
            ApiResponse {
                status: 429,
                headers: vec![
                    ("ratelimit-name".into(), "throttle_authenticated_api".into()),
                    ("ratelimit-limit".into(), "2000".into()),
                    ("ratelimit-observed".into(), "2001".into()),
                    ("ratelimit-remaining".into(), "0".into()),
                    ("ratelimit-reset".into(), reset.timestamp().to_string()),
                    (
                        "ratelimit-resettime".into(),
                        reset.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                    ),
                    ("retry-after".into(), "1".into()),
                ],
                body: Body::Text {
                    content_type: "text/plain".into(),
                    text: "Retry later\n".into(),
                },
            }
        }
        Fault::InternalError => message(500, "500 Internal Server Error"),
        Fault::BadGateway => ApiResponse {
            status: 502,
            headers: Vec::new(),
            body: Body::Text {
                content_type: "text/html".into(),
                text: "<html><body><h1>502 Bad Gateway</h1>GitLab is not responding.</body></html>"
                    .into(),
            },
        },
    }
}

// ---------------------------------------------------------------- request parsing

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn pct_decode(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        if b[i] == b'+' && plus_as_space {
            out.push(b' ');
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A decoded query string (form encoding: `+` is a space).
#[derive(Debug, Clone, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let mut pairs = Vec::new();
        if let Some(raw) = raw {
            for part in raw.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = match part.split_once('=') {
                    Some((k, v)) => (k, v),
                    None => (part, ""),
                };
                pairs.push((pct_decode(k, true), pct_decode(v, true)));
            }
        }
        Query(pairs)
    }

    /// The last value given for `key` (as Rails keeps it).
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn parse_dt(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(n.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    None
}

struct Ctx<'a> {
    origin: String,
    raw_path: &'a str,
    q: Query,
    omit_totals: bool,
}

impl Ctx<'_> {
    fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, ApiResponse> {
        match self.q.get(key) {
            None | Some("") => Ok(None),
            Some(s) => parse_dt(s)
                .map(Some)
                .ok_or_else(|| param_error(format!("{key} is invalid"))),
        }
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, ApiResponse> {
        match self.q.get(key) {
            None => Ok(None),
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "on" => Ok(Some(true)),
                "false" | "f" | "0" | "no" | "off" => Ok(Some(false)),
                _ => Err(param_error(format!("{key} is invalid"))),
            },
        }
    }

    fn choice(&self, key: &str, allowed: &[&str], default: &str) -> Result<String, ApiResponse> {
        match self.q.get(key) {
            None => Ok(default.to_string()),
            Some(v) if allowed.contains(&v) => Ok(v.to_string()),
            Some(_) => Err(param_error(format!("{key} does not have a valid value"))),
        }
    }

    fn desc(&self, default: &str) -> Result<bool, ApiResponse> {
        Ok(self.choice("sort", &["asc", "desc"], default)? == "desc")
    }

    fn web(&self, p: &Project) -> String {
        format!("{}/{}", self.origin, p.path_with_namespace)
    }

    /// Offset pagination as GitLab documents it.
    fn paginate(&self, items: Vec<Value>, omit_totals: bool) -> Result<ApiResponse, ApiResponse> {
        let int = |key: &str, default: i64| -> Result<i64, ApiResponse> {
            match self.q.get(key) {
                None | Some("") => Ok(default),
                Some(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| param_error(format!("{key} is invalid"))),
            }
        };
        let per_page = int("per_page", 20)?;
        let per_page: usize = if per_page < 1 {
            20
        } else {
            per_page.min(100) as usize
        };
        let page = int("page", 1)?;
        let page: usize = if page < 1 { 1 } else { page as usize };
        let total = items.len();
        let total_pages = total.div_ceil(per_page).max(1);
        let start = (page - 1).saturating_mul(per_page);
        let rows: Vec<Value> = items.into_iter().skip(start).take(per_page).collect();
        let next = if start.saturating_add(per_page) < total {
            Some(page + 1)
        } else {
            None
        };
        let prev = if page > 1 { Some(page - 1) } else { None };
        let omit = omit_totals || self.omit_totals || total > 10_000;

        let mut links = Vec::new();
        if let Some(p) = prev {
            links.push(format!("<{}>; rel=\"prev\"", self.page_url(p, per_page)));
        }
        if let Some(n) = next {
            links.push(format!("<{}>; rel=\"next\"", self.page_url(n, per_page)));
        }
        links.push(format!("<{}>; rel=\"first\"", self.page_url(1, per_page)));
        if !omit {
            links.push(format!(
                "<{}>; rel=\"last\"",
                self.page_url(total_pages, per_page)
            ));
        }
        let mut headers = vec![
            ("link".to_string(), links.join(", ")),
            (
                "x-next-page".to_string(),
                next.map(|n| n.to_string()).unwrap_or_default(),
            ),
            ("x-page".to_string(), page.to_string()),
            ("x-per-page".to_string(), per_page.to_string()),
            (
                "x-prev-page".to_string(),
                prev.map(|n| n.to_string()).unwrap_or_default(),
            ),
        ];
        if !omit {
            headers.push(("x-total".to_string(), total.to_string()));
            headers.push(("x-total-pages".to_string(), total_pages.to_string()));
        }
        Ok(ApiResponse {
            status: 200,
            headers,
            body: Body::Json(Value::Array(rows)),
        })
    }

    /// The request URL with `page`/`per_page` replaced; keys sorted as Rails' `to_query` sorts them.
    fn page_url(&self, page: usize, per_page: usize) -> String {
        let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &self.q.0 {
            if k != "page" && k != "per_page" {
                params.entry(k.clone()).or_default().push(v.clone());
            }
        }
        params.insert("page".into(), vec![page.to_string()]);
        params.insert("per_page".into(), vec![per_page.to_string()]);
        let mut parts = Vec::new();
        for (k, vs) in &params {
            if k.ends_with("[]") {
                for v in vs {
                    parts.push(format!("{}={}", pct_encode(k), pct_encode(v)));
                }
            } else if let Some(v) = vs.last() {
                parts.push(format!("{}={}", pct_encode(k), pct_encode(v)));
            }
        }
        format!("{}{}?{}", self.origin, self.raw_path, parts.join("&"))
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn authorized(headers: &[(String, String)], token: &str) -> bool {
    if let Some(t) = header(headers, "private-token") {
        return t.trim() == token;
    }
    if let Some(a) = header(headers, "authorization") {
        let a = a.trim();
        if a.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
        {
            return a.get(7..).map(str::trim) == Some(token);
        }
    }
    false
}

// ---------------------------------------------------------------- the handler

/// Answers one request against `instance`, as GitLab would. `raw_path` is the
/// still-encoded path (`/api/v4/projects/acme%2Fweb`), `raw_query` the
/// undecoded query string. Absolute URLs use the `Host` header (default `localhost`).
pub fn handle(
    instance: &Instance,
    token: &str,
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &[(String, String)],
) -> ApiResponse {
    if !authorized(headers, token) {
        return message(401, "401 Unauthorized");
    }
    let Some(rest) = raw_path.strip_prefix("/api/v4/") else {
        return not_found_route();
    };
    if !method.eq_ignore_ascii_case("GET") {
        return ApiResponse::json(405, json!({ "error": "405 Not Allowed" }));
    }
    let host = header(headers, "host").unwrap_or("localhost");
    let ctx = Ctx {
        origin: format!("http://{host}"),
        raw_path,
        q: Query::parse(raw_query),
        omit_totals: instance.omit_totals,
    };
    let decoded: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| pct_decode(s, false))
        .collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let result = match segs.as_slice() {
        ["projects", pid] => find_project(instance, pid)
            .map(|p| ApiResponse::json(200, project_json(instance, p, &ctx))),
        ["projects", pid, "repository", "commits"] => {
            find_project(instance, pid).and_then(|p| list_commits(p, &ctx))
        }
        ["projects", pid, "repository", "commits", sha] => {
            find_project(instance, pid).and_then(|p| single_commit(p, sha, &ctx))
        }
        ["projects", pid, "repository", "commits", sha, "diff"] => {
            find_project(instance, pid).and_then(|p| commit_diff(p, sha, &ctx))
        }
        ["projects", pid, "merge_requests"] => {
            find_project(instance, pid).and_then(|p| list_mrs(p, &ctx))
        }
        ["projects", pid, "merge_requests", iid] => find_mr(instance, pid, iid)
            .map(|(p, mr)| ApiResponse::json(200, mr_json(p, mr, &ctx, true))),
        ["projects", pid, "merge_requests", iid, "commits"] => {
            find_mr(instance, pid, iid).and_then(|(p, mr)| mr_commits(p, mr, &ctx))
        }
        ["projects", _, "merge_requests", _, "diffs"] if instance.before_15_7 => {
            Err(message(404, "404 Not Found"))
        }
        ["projects", pid, "merge_requests", iid, "diffs"] => {
            find_mr(instance, pid, iid).and_then(|(_, mr)| mr_diffs(mr, &ctx))
        }
        ["projects", pid, "merge_requests", iid, "changes"] => find_mr(instance, pid, iid)
            .map(|(p, mr)| ApiResponse::json(200, mr_changes(p, mr, &ctx))),
        ["projects", pid, "repository", "files", path] => {
            find_project(instance, pid).and_then(|p| repository_file(p, path, &ctx))
        }
        ["projects", pid, "merge_requests", iid, "notes"] => {
            find_mr(instance, pid, iid).and_then(|(p, mr)| mr_notes(p, mr, &ctx))
        }
        ["projects", pid, "merge_requests", iid, "approvals"] => find_mr(instance, pid, iid)
            .map(|(p, mr)| ApiResponse::json(200, approvals_json(p, mr, &ctx))),
        ["projects", pid, "deployments"] => {
            find_project(instance, pid).and_then(|p| list_deployments(p, &ctx))
        }
        ["projects", pid, "deployments", did] => find_project(instance, pid).and_then(|p| {
            p.deployments
                .iter()
                .find(|d| d.id.to_string() == *did)
                .map(|d| ApiResponse::json(200, deployment_json(p, d, &ctx)))
                .ok_or_else(|| message(404, "404 Not found"))
        }),
        ["projects", pid, "issues"] => {
            find_project(instance, pid).and_then(|p| list_issues(p, &ctx))
        }
        ["projects", pid, "issues", iid] => find_project(instance, pid).and_then(|p| {
            p.issues
                .iter()
                .find(|i| i.iid.to_string() == *iid)
                .map(|i| ApiResponse::json(200, issue_json(p, i, &ctx)))
                .ok_or_else(|| message(404, "404 Not found"))
        }),
        ["groups", gid, "projects"] => list_group_projects(instance, gid, &ctx),
        _ => Err(not_found_route()),
    };
    result.unwrap_or_else(|e| e)
}

fn find_project<'a>(inst: &'a Instance, key: &str) -> Result<&'a Project, ApiResponse> {
    let found = if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
        inst.projects.iter().find(|p| p.id.to_string() == key)
    } else {
        inst.projects
            .iter()
            .find(|p| p.path_with_namespace.eq_ignore_ascii_case(key))
    };
    found.ok_or_else(|| message(404, "404 Project Not Found"))
}

fn find_mr<'a>(
    inst: &'a Instance,
    pid: &str,
    iid: &str,
) -> Result<(&'a Project, &'a MergeRequest), ApiResponse> {
    let p = find_project(inst, pid)?;
    let mr = p
        .merge_requests
        .iter()
        .find(|m| m.iid.to_string() == iid)
        .ok_or_else(|| message(404, "404 Not found"))?;
    Ok((p, mr))
}

// ---------------------------------------------------------------- JSON shapes

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// Database timestamps: `2016-08-11T07:36:40.222Z`.
fn ts(t: &DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn ts_opt(t: &Option<DateTime<Utc>>) -> Value {
    t.as_ref().map(ts).unwrap_or(Value::Null)
}

/// Git timestamps: `2021-09-20T11:50:22.001+00:00`.
fn git_ts(t: &DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, false))
}

fn user_id(username: &str) -> u64 {
    fnv1a64(username) % 1_000_000 + 1
}

fn user_json(username: &str, ctx: &Ctx) -> Value {
    obj(vec![
        ("id", json!(user_id(username))),
        ("username", json!(username)),
        ("name", json!(username)),
        ("state", json!("active")),
        ("locked", json!(false)),
        ("avatar_url", Value::Null),
        ("web_url", json!(format!("{}/{username}", ctx.origin))),
    ])
}

fn committer_email(c: &Commit) -> String {
    if c.committer_name == c.author_name {
        c.author_email.clone()
    } else {
        let slug: String = c
            .committer_name
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() {
                    ch.to_ascii_lowercase()
                } else {
                    '.'
                }
            })
            .collect();
        format!("{slug}@example.com")
    }
}

fn short_sha(sha: &str) -> String {
    sha.chars().take(8).collect()
}

fn commit_json(p: &Project, c: &Commit, ctx: &Ctx) -> Value {
    obj(vec![
        ("id", json!(c.id)),
        ("short_id", json!(short_sha(&c.id))),
        ("title", json!(c.title)),
        ("author_name", json!(c.author_name)),
        ("author_email", json!(c.author_email)),
        ("authored_date", git_ts(&c.authored_date)),
        ("committer_name", json!(c.committer_name)),
        ("committer_email", json!(committer_email(c))),
        ("committed_date", git_ts(&c.committed_date)),
        ("created_at", git_ts(&c.created_at)),
        ("message", json!(c.message)),
        ("parent_ids", json!(c.parent_ids)),
        (
            "web_url",
            json!(format!("{}/-/commit/{}", ctx.web(p), c.id)),
        ),
        ("trailers", json!({})),
        ("extended_trailers", json!({})),
    ])
}

fn commit_stats(c: &Commit) -> Value {
    let additions = 1 + (fnv1a64(&c.id) % 40) as i64;
    let deletions = (fnv1a64(&c.title) % 10) as i64;
    json!({ "additions": additions, "deletions": deletions, "total": additions + deletions })
}

fn namespace_of(path_with_namespace: &str) -> (&str, &str) {
    match path_with_namespace.rsplit_once('/') {
        Some((ns, name)) => (ns, name),
        None => ("", path_with_namespace),
    }
}

fn project_json(inst: &Instance, p: &Project, ctx: &Ctx) -> Value {
    let (ns, name) = namespace_of(&p.path_with_namespace);
    let ns_name = ns.rsplit('/').next().unwrap_or(ns);
    let group = inst
        .groups
        .iter()
        .find(|g| g.full_path.eq_ignore_ascii_case(ns));
    let parent = ns.rsplit_once('/').and_then(|(parent, _)| {
        inst.groups
            .iter()
            .find(|g| g.full_path.eq_ignore_ascii_case(parent))
            .map(|g| g.id)
    });
    let fallback = DateTime::<Utc>::from_timestamp(1_577_836_800, 0).expect("a valid timestamp");
    let created = p
        .commits
        .values()
        .map(|c| c.committed_date)
        .min()
        .unwrap_or(fallback);
    let last_activity = p
        .commits
        .values()
        .map(|c| c.committed_date)
        .chain(p.merge_requests.iter().map(|m| m.updated_at))
        .chain(p.deployments.iter().map(|d| d.updated_at))
        .chain(p.issues.iter().map(|i| i.updated_at))
        .max()
        .unwrap_or(created);
    let host = ctx
        .origin
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let web = ctx.web(p);
    let api = format!("{}/api/v4/projects/{}", ctx.origin, p.id);
    let name_with_namespace = if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns_name} / {name}")
    };
    let ns_id = match group {
        Some(g) => g.id,
        None => user_id(ns),
    };
    let ns_kind = if group.is_some() { "group" } else { "user" };
    obj(vec![
        ("id", json!(p.id)),
        ("description", Value::Null),
        ("name", json!(name)),
        ("name_with_namespace", json!(name_with_namespace)),
        ("path", json!(name)),
        ("path_with_namespace", json!(p.path_with_namespace)),
        ("created_at", ts(&created)),
        ("default_branch", json!(p.default_branch)),
        ("tag_list", json!([])),
        ("topics", json!([])),
        (
            "ssh_url_to_repo",
            json!(format!("git@{host}:{}.git", p.path_with_namespace)),
        ),
        ("http_url_to_repo", json!(format!("{web}.git"))),
        ("web_url", json!(web)),
        ("readme_url", Value::Null),
        ("avatar_url", Value::Null),
        ("forks_count", json!(0)),
        ("star_count", json!(0)),
        ("last_activity_at", ts(&last_activity)),
        (
            "namespace",
            obj(vec![
                ("id", json!(ns_id)),
                ("name", json!(ns_name)),
                ("path", json!(ns_name)),
                ("kind", json!(ns_kind)),
                ("full_path", json!(ns)),
                ("parent_id", json!(parent)),
                ("avatar_url", Value::Null),
                ("web_url", json!(format!("{}/groups/{ns}", ctx.origin))),
            ]),
        ),
        ("empty_repo", json!(p.commits.is_empty())),
        ("archived", json!(p.archived)),
        ("visibility", json!("private")),
        ("merge_method", json!("merge")),
        ("squash_option", json!("default_off")),
        (
            "_links",
            obj(vec![
                ("self", json!(api)),
                ("issues", json!(format!("{api}/issues"))),
                ("merge_requests", json!(format!("{api}/merge_requests"))),
                ("repo_branches", json!(format!("{api}/repository/branches"))),
                ("labels", json!(format!("{api}/labels"))),
                ("events", json!(format!("{api}/events"))),
                ("members", json!(format!("{api}/members"))),
            ]),
        ),
    ])
}

fn mr_json(p: &Project, mr: &MergeRequest, ctx: &Ctx, single: bool) -> Value {
    let author = user_json(&mr.author_username, ctx);
    let merge_user = if mr.state == "merged" {
        author.clone()
    } else {
        Value::Null
    };
    let closed_by = if mr.state == "closed" {
        author.clone()
    } else {
        Value::Null
    };
    let (merge_status, detailed) = match (mr.state.as_str(), mr.draft) {
        ("opened", true) => ("can_be_merged", "draft_status"),
        ("opened", false) => ("can_be_merged", "mergeable"),
        _ => ("can_be_merged", "not_open"),
    };
    let user_notes = mr.notes.iter().filter(|n| !n.system).count();
    let mut fields = vec![
        ("id", json!(mr.id)),
        ("iid", json!(mr.iid)),
        ("project_id", json!(p.id)),
        ("title", json!(mr.title)),
        ("description", json!("")),
        ("state", json!(mr.state)),
        ("imported", json!(false)),
        ("imported_from", json!("none")),
        ("merged_by", merge_user.clone()),
        ("merge_user", merge_user),
        ("merged_at", ts_opt(&mr.merged_at)),
        ("merge_after", Value::Null),
        ("prepared_at", ts(&mr.created_at)),
        ("closed_by", closed_by),
        ("closed_at", ts_opt(&mr.closed_at)),
        ("created_at", ts(&mr.created_at)),
        ("updated_at", ts(&mr.updated_at)),
        ("target_branch", json!(mr.target_branch)),
        ("source_branch", json!(mr.source_branch)),
        ("upvotes", json!(0)),
        ("downvotes", json!(0)),
        ("author", author),
        ("assignee", Value::Null),
        ("assignees", json!([])),
        ("reviewers", json!([])),
        ("source_project_id", json!(p.id)),
        ("target_project_id", json!(p.id)),
        ("labels", json!(mr.labels)),
        ("draft", json!(mr.draft)),
        ("work_in_progress", json!(mr.draft)),
        ("milestone", Value::Null),
        ("merge_when_pipeline_succeeds", json!(false)),
        ("merge_status", json!(merge_status)),
        ("detailed_merge_status", json!(detailed)),
        ("sha", json!(mr.sha)),
        ("merge_commit_sha", json!(mr.merge_commit_sha)),
        ("squash_commit_sha", json!(mr.squash_commit_sha)),
        ("user_notes_count", json!(user_notes)),
        ("discussion_locked", Value::Null),
        ("should_remove_source_branch", Value::Null),
        ("force_remove_source_branch", json!(true)),
        (
            "web_url",
            json!(format!("{}/-/merge_requests/{}", ctx.web(p), mr.iid)),
        ),
        ("reference", json!(format!("!{}", mr.iid))),
        (
            "references",
            json!({
                "short": format!("!{}", mr.iid),
                "relative": format!("!{}", mr.iid),
                "full": format!("{}!{}", p.path_with_namespace, mr.iid),
            }),
        ),
        (
            "time_stats",
            json!({ "time_estimate": 0, "total_time_spent": 0, "human_time_estimate": null, "human_total_time_spent": null }),
        ),
        ("squash", json!(mr.squash)),
        ("squash_on_merge", json!(mr.squash)),
        (
            "task_completion_status",
            json!({ "count": 0, "completed_count": 0 }),
        ),
        ("has_conflicts", json!(false)),
        ("blocking_discussions_resolved", json!(true)),
    ];
    if single {
        let base = mr
            .commits
            .first()
            .and_then(|sha| p.commits.get(sha))
            .and_then(|c| c.parent_ids.first().cloned());
        fields.extend(vec![
            ("subscribed", json!(false)),
            ("changes_count", json!(mr.commits.len().max(1).to_string())),
            ("latest_build_started_at", Value::Null),
            ("latest_build_finished_at", Value::Null),
            ("first_deployed_to_production_at", Value::Null),
            ("pipeline", Value::Null),
            ("head_pipeline", Value::Null),
            (
                "diff_refs",
                json!({ "base_sha": base, "head_sha": mr.sha, "start_sha": base }),
            ),
            ("merge_error", Value::Null),
            ("first_contribution", json!(false)),
            ("user", json!({ "can_merge": true })),
        ]);
    }
    obj(fields)
}

fn note_json(p: &Project, mr: &MergeRequest, n: &Note, ctx: &Ctx) -> Value {
    let mut author = user_json(&n.author_username, ctx);
    if let Value::Object(m) = &mut author {
        m.insert(
            "email".into(),
            json!(format!("{}@example.com", n.author_username)),
        );
    }
    obj(vec![
        ("id", json!(n.id)),
        ("type", Value::Null),
        ("body", json!(n.body)),
        ("attachment", Value::Null),
        ("author", author),
        ("created_at", ts(&n.created_at)),
        ("updated_at", ts(&n.updated_at)),
        ("system", json!(n.system)),
        ("noteable_id", json!(mr.id)),
        ("noteable_type", json!("MergeRequest")),
        ("project_id", json!(p.id)),
        ("noteable_iid", json!(mr.iid)),
        ("resolvable", json!(false)),
        ("confidential", json!(false)),
        ("internal", json!(false)),
        ("imported", json!(false)),
        ("imported_from", json!("none")),
    ])
}

/// Users whose latest approve/unapprove system note is an approval, in approval order.
fn approvers(mr: &MergeRequest) -> Vec<String> {
    let mut notes: Vec<&Note> = mr.notes.iter().filter(|n| n.system).collect();
    notes.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let mut out: Vec<String> = Vec::new();
    for n in notes {
        if n.body == APPROVED_NOTE {
            if !out.contains(&n.author_username) {
                out.push(n.author_username.clone());
            }
        } else if n.body == UNAPPROVED_NOTE {
            out.retain(|u| u != &n.author_username);
        }
    }
    out
}

fn approvals_json(p: &Project, mr: &MergeRequest, ctx: &Ctx) -> Value {
    let by = approvers(mr);
    let approved_by: Vec<Value> = by
        .iter()
        .map(|u| json!({ "user": user_json(u, ctx) }))
        .collect();
    obj(vec![
        ("id", json!(mr.id)),
        ("iid", json!(mr.iid)),
        ("project_id", json!(p.id)),
        ("title", json!(mr.title)),
        ("description", json!("")),
        ("state", json!(mr.state)),
        ("created_at", ts(&mr.created_at)),
        ("updated_at", ts(&mr.updated_at)),
        ("merge_status", json!("can_be_merged")),
        ("approved", json!(!by.is_empty())),
        ("approvals_required", json!(0)),
        ("approvals_left", json!(0)),
        ("require_password_to_approve", json!(false)),
        ("approved_by", Value::Array(approved_by)),
        ("suggested_approvers", json!([])),
        ("approvers", json!([])),
        ("approver_groups", json!([])),
        ("user_has_approved", json!(false)),
        ("user_can_approve", json!(false)),
        ("approval_rules_left", json!([])),
        ("has_approval_rules", json!(false)),
        ("merge_request_approvers_available", json!(false)),
        ("multiple_approval_rules_available", json!(false)),
        ("invalid_approvers_rules", json!([])),
    ])
}

fn job_status(deployment_status: &str) -> &str {
    match deployment_status {
        "blocked" => "manual",
        other => other,
    }
}

fn deployment_json(p: &Project, d: &Deployment, ctx: &Ctx) -> Value {
    let envs: BTreeSet<&str> = p
        .deployments
        .iter()
        .map(|x| x.environment_name.as_str())
        .collect();
    let env_id = p.id * 1000
        + envs
            .iter()
            .position(|e| *e == d.environment_name)
            .unwrap_or(0) as u64
        + 1;
    let job_id = d.id * 10 + 1;
    let pipeline_id = d.id * 10 + 2;
    let web = ctx.web(p);
    let commit = match p.commits.get(&d.sha) {
        Some(c) => obj(vec![
            ("id", json!(c.id)),
            ("short_id", json!(short_sha(&c.id))),
            ("created_at", git_ts(&c.created_at)),
            ("title", json!(c.title)),
            ("message", json!(c.message)),
            ("author_name", json!(c.author_name)),
            ("author_email", json!(c.author_email)),
        ]),
        None => json!({ "id": d.sha, "short_id": short_sha(&d.sha) }),
    };
    let mut job_user = user_json(&d.user_username, ctx);
    if let Value::Object(m) = &mut job_user {
        m.insert("created_at".into(), json!("2015-12-21T13:14:24.077Z"));
        m.insert("bio".into(), Value::Null);
        m.insert("location".into(), Value::Null);
        m.insert("public_email".into(), json!(""));
        m.insert("linkedin".into(), json!(""));
        m.insert("twitter".into(), json!(""));
        m.insert("website_url".into(), json!(""));
        m.insert("organization".into(), json!(""));
    }
    let duration = d
        .finished_at
        .map(|f| (f - d.created_at).num_milliseconds() as f64 / 1000.0);
    let deployable = obj(vec![
        ("id", json!(job_id)),
        ("status", json!(job_status(&d.status))),
        ("stage", json!("deploy")),
        ("name", json!(format!("deploy:{}", d.environment_name))),
        ("ref", json!(d.ref_)),
        ("tag", json!(false)),
        ("coverage", Value::Null),
        ("allow_failure", json!(false)),
        ("created_at", ts(&d.created_at)),
        ("started_at", ts(&d.created_at)),
        ("finished_at", ts_opt(&d.finished_at)),
        ("duration", json!(duration)),
        ("queued_duration", json!(0.0)),
        ("web_url", json!(format!("{web}/-/jobs/{job_id}"))),
        ("project", json!({ "ci_job_token_scope_enabled": false })),
        ("user", job_user),
        ("commit", commit),
        (
            "pipeline",
            obj(vec![
                ("id", json!(pipeline_id)),
                ("project_id", json!(p.id)),
                ("ref", json!(d.ref_)),
                ("sha", json!(d.sha)),
                ("status", json!(job_status(&d.status))),
                ("source", json!("push")),
                ("created_at", ts(&d.created_at)),
                ("updated_at", ts(&d.updated_at)),
                ("web_url", json!(format!("{web}/-/pipelines/{pipeline_id}"))),
            ]),
        ),
        ("runner", Value::Null),
    ]);
    obj(vec![
        ("id", json!(d.id)),
        ("iid", json!(d.iid)),
        ("ref", json!(d.ref_)),
        ("sha", json!(d.sha)),
        ("created_at", ts(&d.created_at)),
        ("updated_at", ts(&d.updated_at)),
        ("status", json!(d.status)),
        ("user", user_json(&d.user_username, ctx)),
        (
            "environment",
            obj(vec![
                ("id", json!(env_id)),
                ("name", json!(d.environment_name)),
                (
                    "external_url",
                    json!(format!("https://{}.example.com", d.environment_name)),
                ),
            ]),
        ),
        ("deployable", deployable),
    ])
}

fn issue_json(p: &Project, i: &Issue, ctx: &Ctx) -> Value {
    let api = format!("{}/api/v4/projects/{}", ctx.origin, p.id);
    let author = user_json("root", ctx);
    let closed_by = if i.state == "closed" {
        author.clone()
    } else {
        Value::Null
    };
    obj(vec![
        ("id", json!(i.id)),
        ("iid", json!(i.iid)),
        ("project_id", json!(p.id)),
        ("title", json!(i.title)),
        ("description", json!("")),
        ("state", json!(i.state)),
        ("created_at", ts(&i.created_at)),
        ("updated_at", ts(&i.updated_at)),
        ("closed_at", ts_opt(&i.closed_at)),
        ("closed_by", closed_by),
        ("labels", json!(i.labels)),
        ("milestone", Value::Null),
        ("assignees", json!([])),
        ("author", author),
        ("type", json!(i.issue_type.to_ascii_uppercase())),
        ("assignee", Value::Null),
        ("user_notes_count", json!(0)),
        ("merge_requests_count", json!(0)),
        ("upvotes", json!(0)),
        ("downvotes", json!(0)),
        ("due_date", Value::Null),
        ("confidential", json!(false)),
        ("discussion_locked", Value::Null),
        ("issue_type", json!(i.issue_type)),
        (
            "web_url",
            json!(format!("{}/-/issues/{}", ctx.web(p), i.iid)),
        ),
        (
            "time_stats",
            json!({ "time_estimate": 0, "total_time_spent": 0, "human_time_estimate": null, "human_total_time_spent": null }),
        ),
        (
            "task_completion_status",
            json!({ "count": 0, "completed_count": 0 }),
        ),
        ("has_tasks", json!(false)),
        ("imported", json!(false)),
        ("imported_from", json!("none")),
        (
            "_links",
            obj(vec![
                ("self", json!(format!("{api}/issues/{}", i.iid))),
                ("notes", json!(format!("{api}/issues/{}/notes", i.iid))),
                (
                    "award_emoji",
                    json!(format!("{api}/issues/{}/award_emoji", i.iid)),
                ),
                ("project", json!(api)),
                ("closed_as_duplicate_of", Value::Null),
            ]),
        ),
        (
            "references",
            json!({
                "short": format!("#{}", i.iid),
                "relative": format!("#{}", i.iid),
                "full": format!("{}#{}", p.path_with_namespace, i.iid),
            }),
        ),
        ("severity", json!(i.severity)),
        ("moved_to_id", Value::Null),
    ])
}

// ---------------------------------------------------------------- endpoints

/// `GET /projects/:id/repository/commits`: commits reachable from `ref_name`
/// (default branch by default; `a..b` ranges too), newest first, filtered by
/// `committed_date` (`since`/`until`, inclusive). Never sends totals.
fn list_commits(p: &Project, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let since = ctx.time("since")?;
    let until = ctx.time("until")?;
    let first_parent = ctx.flag("first_parent")?.unwrap_or(false);
    let all = ctx.flag("all")?.unwrap_or(false);
    let with_stats = ctx.flag("with_stats")?.unwrap_or(false);
    let author = ctx.q.get("author").map(str::to_ascii_lowercase);
    let ref_name: &str = ctx
        .q
        .get("ref_name")
        .filter(|r| !r.is_empty())
        .unwrap_or(p.default_branch.as_str());

    let mut commits: Vec<&Commit> = if all {
        let mut v: Vec<&Commit> = p.commits.values().collect();
        v.sort_by(|a, b| {
            b.committed_date
                .cmp(&a.committed_date)
                .then(a.id.cmp(&b.id))
        });
        v
    } else if let Some((from, to)) = ref_name
        .split_once("..")
        .filter(|_| !ref_name.contains("..."))
    {
        match (p.resolve(from), p.resolve(to)) {
            (Some(a), Some(b)) => {
                let excluded = p.ancestors(&a);
                p.walk(&[b], first_parent)
                    .into_iter()
                    .filter(|c| !excluded.contains(&c.id))
                    .collect()
            }
            _ => Vec::new(),
        }
    } else {
        match p.resolve(ref_name) {
            Some(sha) => p.walk(&[sha], first_parent),
            None => Vec::new(),
        }
    };
    commits.retain(|c| {
        since.is_none_or(|s| c.committed_date >= s)
            && until.is_none_or(|u| c.committed_date <= u)
            && author.as_ref().is_none_or(|a| {
                c.author_name.to_ascii_lowercase().contains(a.as_str())
                    || c.author_email.to_ascii_lowercase().contains(a.as_str())
            })
    });
    let rows: Vec<Value> = commits
        .into_iter()
        .map(|c| {
            let mut v = commit_json(p, c, ctx);
            if with_stats {
                if let Value::Object(m) = &mut v {
                    m.insert("stats".into(), commit_stats(c));
                }
            }
            v
        })
        .collect();
    ctx.paginate(rows, true)
}

fn single_commit(p: &Project, sha: &str, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let c = p
        .resolve(sha)
        .and_then(|s| p.commits.get(&s))
        .ok_or_else(|| message(404, "404 Commit Not Found"))?;
    let mut v = commit_json(p, c, ctx);
    if let Value::Object(m) = &mut v {
        m.insert("last_pipeline".into(), Value::Null);
        if ctx.flag("stats")?.unwrap_or(true) {
            m.insert("stats".into(), commit_stats(c));
        }
        m.insert("status".into(), Value::Null);
    }
    Ok(ApiResponse::json(200, v))
}

fn labels_match(have: &[String], want: Option<&str>) -> bool {
    match want {
        None | Some("") => true,
        Some(w) if w.eq_ignore_ascii_case("none") => have.is_empty(),
        Some(w) if w.eq_ignore_ascii_case("any") => !have.is_empty(),
        Some(w) => w
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .all(|l| have.iter().any(|h| h.eq_ignore_ascii_case(l))),
    }
}

fn in_window(
    t: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
) -> bool {
    after.is_none_or(|a| t >= a) && before.is_none_or(|b| t <= b)
}

/// `GET /projects/:id/merge_requests`.
fn list_mrs(p: &Project, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let state = ctx.choice(
        "state",
        &["opened", "closed", "locked", "merged", "all"],
        "all",
    )?;
    ctx.choice(
        "scope",
        &[
            "created_by_me",
            "assigned_to_me",
            "all",
            "created-by-me",
            "assigned-to-me",
        ],
        "all",
    )?;
    let order_by = ctx.choice(
        "order_by",
        &["created_at", "updated_at", "title", "merged_at"],
        "created_at",
    )?;
    let desc = ctx.desc("desc")?;
    let updated_after = ctx.time("updated_after")?;
    let updated_before = ctx.time("updated_before")?;
    let created_after = ctx.time("created_after")?;
    let created_before = ctx.time("created_before")?;
    let wip = ctx.choice("wip", &["yes", "no"], "")?;
    let iids: Vec<&str> = ctx.q.all("iids[]");
    let mut mrs: Vec<&MergeRequest> = p
        .merge_requests
        .iter()
        .filter(|m| state == "all" || m.state == state)
        .filter(|m| in_window(m.updated_at, updated_after, updated_before))
        .filter(|m| in_window(m.created_at, created_after, created_before))
        .filter(|m| {
            ctx.q
                .get("source_branch")
                .is_none_or(|b| m.source_branch == b)
        })
        .filter(|m| {
            ctx.q
                .get("target_branch")
                .is_none_or(|b| m.target_branch == b)
        })
        .filter(|m| {
            ctx.q
                .get("author_username")
                .is_none_or(|u| m.author_username == u)
        })
        .filter(|m| iids.is_empty() || iids.contains(&m.iid.to_string().as_str()))
        .filter(|m| labels_match(&m.labels, ctx.q.get("labels")))
        .filter(|m| match wip.as_str() {
            "yes" => m.draft,
            "no" => !m.draft,
            _ => true,
        })
        .collect();
    mrs.sort_by(|a, b| {
        let primary = match order_by.as_str() {
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "title" => a.title.cmp(&b.title),
            "merged_at" => a.merged_at.cmp(&b.merged_at),
            _ => a.created_at.cmp(&b.created_at),
        };
        primary.then(a.id.cmp(&b.id))
    });
    if desc {
        mrs.reverse();
    }
    let rows = mrs.into_iter().map(|m| mr_json(p, m, ctx, false)).collect();
    ctx.paginate(rows, false)
}

/// `GET /projects/:id/merge_requests/:iid/commits`: newest first, paginated.
fn mr_commits(p: &Project, mr: &MergeRequest, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let rows: Vec<Value> = mr
        .commits
        .iter()
        .rev()
        .map(|sha| match p.commits.get(sha) {
            Some(c) => commit_json(p, c, ctx),
            None => json!({ "id": sha, "short_id": short_sha(sha) }),
        })
        .collect();
    ctx.paginate(rows, false)
}

/// One changed file of a merge request, as `/diffs` and `/changes` give it.
fn file_diff(path: &str) -> Value {
    json!({
        "old_path": path,
        "new_path": path,
        "a_mode": "100644",
        "b_mode": "100644",
        "diff": "@@ -1 +1 @@\n-old\n+new\n",
        "new_file": false,
        "renamed_file": false,
        "deleted_file": false,
        "generated_file": false
    })
}

/// `GET /projects/:id/merge_requests/:iid/diffs` (GitLab 15.7+): one
/// object per changed file, paginated.
fn mr_diffs(mr: &MergeRequest, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let rows = mr.files.iter().map(|path| file_diff(path)).collect();
    ctx.paginate(rows, false)
}

/// `GET /projects/:id/repository/commits/:sha/diff`: one object per changed
/// file of the commit, paginated; 404 for an unknown sha.
fn commit_diff(p: &Project, sha: &str, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let c = p
        .resolve(sha)
        .and_then(|s| p.commits.get(&s))
        .ok_or_else(|| message(404, "404 Commit Not Found"))?;
    let rows = c.files.iter().map(|path| file_diff(path)).collect();
    ctx.paginate(rows, false)
}

/// `GET /projects/:id/merge_requests/:iid/changes` (deprecated in 15.7):
/// the merge request with every changed file in `changes`, not paginated.
fn mr_changes(p: &Project, mr: &MergeRequest, ctx: &Ctx) -> Value {
    let mut v = mr_json(p, mr, ctx, true);
    v["changes"] = mr.files.iter().map(|path| file_diff(path)).collect();
    v["overflow"] = json!(false);
    v
}

/// `GET /projects/:id/repository/files/:file_path?ref=BRANCH`: the file's
/// content in base64; `ref` is required; a 404 for a path not held.
fn repository_file(p: &Project, path: &str, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let Some(git_ref) = ctx.q.get("ref") else {
        return Err(ApiResponse::json(400, json!({ "error": "ref is missing" })));
    };
    if git_ref != p.default_branch {
        return Err(message(404, "404 Commit Not Found"));
    }
    let text = p
        .files
        .get(path)
        .ok_or_else(|| message(404, "404 File Not Found"))?;
    let head = p.head(&p.default_branch).unwrap_or_default().to_string();
    Ok(ApiResponse::json(
        200,
        json!({
            "file_name": path.rsplit('/').next().unwrap_or(path),
            "file_path": path,
            "size": text.len(),
            "encoding": "base64",
            "content": base64_encode(text.as_bytes()),
            "ref": git_ref,
            "blob_id": format!("{:040x}", text.len()),
            "commit_id": head,
            "last_commit_id": head,
            "execute_filemode": false
        }),
    ))
}

/// `GET /projects/:id/merge_requests/:iid/notes` (default `order_by=created_at`, `sort=desc`).
fn mr_notes(p: &Project, mr: &MergeRequest, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let order_by = ctx.choice("order_by", &["created_at", "updated_at"], "created_at")?;
    let desc = ctx.desc("desc")?;
    let mut notes: Vec<&Note> = mr.notes.iter().collect();
    notes.sort_by(|a, b| {
        let primary = if order_by == "updated_at" {
            a.updated_at.cmp(&b.updated_at)
        } else {
            a.created_at.cmp(&b.created_at)
        };
        primary.then(a.id.cmp(&b.id))
    });
    if desc {
        notes.reverse();
    }
    let rows = notes
        .into_iter()
        .map(|n| note_json(p, mr, n, ctx))
        .collect();
    ctx.paginate(rows, false)
}

const DEPLOYMENT_STATUSES: &[&str] = &[
    "created", "running", "success", "failed", "canceled", "skipped", "blocked",
];

/// `GET /projects/:id/deployments`, with `DeploymentsFinder#validate!`'s 400s.
fn list_deployments(p: &Project, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let order_by = ctx.choice(
        "order_by",
        &[
            "id",
            "iid",
            "created_at",
            "updated_at",
            "finished_at",
            "ref",
        ],
        "id",
    )?;
    let desc = ctx.desc("asc")?;
    let status = match ctx.q.get("status") {
        None => None,
        Some(s) if DEPLOYMENT_STATUSES.contains(&s) => Some(s),
        Some(_) => return Err(param_error("status does not have a valid value".into())),
    };
    let updated_after = ctx.time("updated_after")?;
    let updated_before = ctx.time("updated_before")?;
    let finished_after = ctx.time("finished_after")?;
    let finished_before = ctx.time("finished_before")?;
    let by_updated = updated_after.is_some() || updated_before.is_some();
    let by_finished = finished_after.is_some() || finished_before.is_some();
    let bad = |m: &str| message(400, &format!("400 Bad request - {m}"));
    if by_updated && by_finished {
        return Err(bad(
            "Both `updated_at` filter and `finished_at` filter can not be specified",
        ));
    }
    if by_updated && order_by != "updated_at" {
        return Err(bad("`updated_at` filter requires `updated_at` sort"));
    }
    if by_finished && order_by != "finished_at" {
        return Err(bad("`finished_at` filter requires `finished_at` sort."));
    }
    if order_by == "finished_at"
        && !(by_finished || matches!(status, Some("success" | "failed" | "canceled")))
    {
        return Err(bad(
            "`finished_at` sort requires `finished_at` filter or a filter with at least one of the finished statuses.",
        ));
    }
    let env = ctx.q.get("environment");
    let mut ds: Vec<&Deployment> = p
        .deployments
        .iter()
        .filter(|d| env.is_none_or(|e| d.environment_name == e))
        .filter(|d| status.is_none_or(|s| d.status == s))
        .filter(|d| updated_after.is_none_or(|a| d.updated_at > a))
        .filter(|d| updated_before.is_none_or(|b| d.updated_at < b))
        .filter(|d| !by_finished || d.finished_at.is_some())
        .filter(|d| match (finished_after, d.finished_at) {
            (Some(a), Some(f)) => f >= a,
            _ => true,
        })
        .filter(|d| match (finished_before, d.finished_at) {
            (Some(b), Some(f)) => f < b,
            _ => true,
        })
        .collect();
    ds.sort_by(|a, b| {
        let primary = match order_by.as_str() {
            "iid" => a.iid.cmp(&b.iid),
            "created_at" => a.created_at.cmp(&b.created_at),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "finished_at" => a.finished_at.cmp(&b.finished_at),
            "ref" => a.ref_.cmp(&b.ref_),
            _ => a.id.cmp(&b.id),
        };
        primary.then(a.id.cmp(&b.id))
    });
    if desc {
        ds.reverse();
    }
    let rows = ds.into_iter().map(|d| deployment_json(p, d, ctx)).collect();
    ctx.paginate(rows, false)
}

/// `GET /projects/:id/issues` (`scope` defaults to `all` here).
fn list_issues(p: &Project, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let state = ctx.choice("state", &["opened", "closed", "all"], "all")?;
    ctx.choice(
        "scope",
        &[
            "created_by_me",
            "assigned_to_me",
            "all",
            "created-by-me",
            "assigned-to-me",
        ],
        "all",
    )?;
    let issue_type = match ctx.q.get("issue_type") {
        None => None,
        Some(t) if ["issue", "incident", "test_case", "task"].contains(&t) => Some(t),
        Some(_) => return Err(param_error("issue_type does not have a valid value".into())),
    };
    let order_by = ctx.choice(
        "order_by",
        &[
            "created_at",
            "updated_at",
            "priority",
            "due_date",
            "relative_position",
            "label_priority",
            "milestone_due",
            "popularity",
            "weight",
            "title",
        ],
        "created_at",
    )?;
    let desc = ctx.desc("desc")?;
    let updated_after = ctx.time("updated_after")?;
    let updated_before = ctx.time("updated_before")?;
    let created_after = ctx.time("created_after")?;
    let created_before = ctx.time("created_before")?;
    let iids: Vec<&str> = ctx.q.all("iids[]");
    let mut issues: Vec<&Issue> = p
        .issues
        .iter()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| issue_type.is_none_or(|t| i.issue_type == t))
        .filter(|i| in_window(i.updated_at, updated_after, updated_before))
        .filter(|i| in_window(i.created_at, created_after, created_before))
        .filter(|i| iids.is_empty() || iids.contains(&i.iid.to_string().as_str()))
        .filter(|i| labels_match(&i.labels, ctx.q.get("labels")))
        .collect();
    issues.sort_by(|a, b| {
        let primary = match order_by.as_str() {
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "title" => a.title.cmp(&b.title),
            _ => a.created_at.cmp(&b.created_at),
        };
        primary.then(a.id.cmp(&b.id))
    });
    if desc {
        issues.reverse();
    }
    let rows = issues.into_iter().map(|i| issue_json(p, i, ctx)).collect();
    ctx.paginate(rows, false)
}

/// `GET /groups/:id/projects` (`include_subgroups`, `archived`; newest project first by default).
fn list_group_projects(inst: &Instance, gid: &str, ctx: &Ctx) -> Result<ApiResponse, ApiResponse> {
    let found = if !gid.is_empty() && gid.bytes().all(|b| b.is_ascii_digit()) {
        inst.groups.iter().find(|g| g.id.to_string() == gid)
    } else {
        inst.groups
            .iter()
            .find(|g| g.full_path.eq_ignore_ascii_case(gid))
    };
    let group = found.ok_or_else(|| message(404, "404 Group Not Found"))?;
    let include_subgroups = ctx.flag("include_subgroups")?.unwrap_or(false);
    let archived = ctx.flag("archived")?;
    let order_by = ctx.choice(
        "order_by",
        &[
            "id",
            "name",
            "path",
            "created_at",
            "updated_at",
            "last_activity_at",
            "similarity",
            "star_count",
        ],
        "created_at",
    )?;
    let desc = ctx.desc("desc")?;
    let prefix = format!("{}/", group.full_path.to_ascii_lowercase());
    let mut ids: Vec<u64> = group.projects.clone();
    if include_subgroups {
        for g in &inst.groups {
            if g.full_path.to_ascii_lowercase().starts_with(&prefix) {
                ids.extend(g.projects.iter().copied());
            }
        }
    }
    let mut projects: Vec<&Project> = inst
        .projects
        .iter()
        .filter(|p| ids.contains(&p.id))
        .filter(|p| archived.is_none_or(|a| p.archived == a))
        .collect();
    projects.sort_by(|a, b| {
        let primary = match order_by.as_str() {
            "name" | "path" => namespace_of(&a.path_with_namespace)
                .1
                .cmp(namespace_of(&b.path_with_namespace).1),
            _ => a.id.cmp(&b.id),
        };
        primary.then(a.id.cmp(&b.id))
    });
    if desc {
        projects.reverse();
    }
    let rows = projects
        .into_iter()
        .map(|p| project_json(inst, p, ctx))
        .collect();
    ctx.paginate(rows, false)
}

// ---------------------------------------------------------------- the server

/// One request the mock received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw (still percent-encoded) path.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// A decoded query parameter (the last one given).
    pub fn param(&self, key: &str) -> Option<String> {
        Query::parse(self.query.as_deref())
            .get(key)
            .map(str::to_string)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

#[derive(Debug)]
struct Control {
    token: String,
    faults: VecDeque<Fault>,
    log: Vec<RecordedRequest>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct GitLabResponder {
    instance: Arc<Mutex<Instance>>,
    control: Arc<Mutex<Control>>,
}

impl Respond for GitLabResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let method = request.method.as_str().to_string();
        let path = request.url.path().to_string();
        let query = request.url.query().map(str::to_string);
        let mut control = lock(&self.control);
        control.log.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
        });
        let response = match control.faults.pop_front() {
            Some(fault) => fault_response(fault, Utc::now()),
            None => {
                let instance = lock(&self.instance);
                handle(
                    &instance,
                    &control.token,
                    &method,
                    &path,
                    query.as_deref(),
                    &headers,
                )
            }
        };
        drop(control);
        response.into_template()
    }
}

/// The running mock: a wiremock server whose one catch-all mock answers from
/// the shared [`Instance`]. The API base is `{uri}/api/v4`.
pub struct MockGitLab {
    server: MockServer,
    instance: Arc<Mutex<Instance>>,
    control: Arc<Mutex<Control>>,
}

impl MockGitLab {
    /// Starts a server answering for `instance`; the token is [`DEFAULT_TOKEN`].
    pub async fn start(instance: Instance) -> MockGitLab {
        let server = MockServer::start().await;
        let instance = Arc::new(Mutex::new(instance));
        let control = Arc::new(Mutex::new(Control {
            token: DEFAULT_TOKEN.to_string(),
            faults: VecDeque::new(),
            log: Vec::new(),
        }));
        Mock::given(any())
            .respond_with(GitLabResponder {
                instance: Arc::clone(&instance),
                control: Arc::clone(&control),
            })
            .mount(&server)
            .await;
        MockGitLab {
            server,
            instance,
            control,
        }
    }

    /// The server's base URI (`http://127.0.0.1:PORT`), without `/api/v4`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// `{uri}/api/v4`.
    pub fn api_base(&self) -> String {
        format!("{}/api/v4", self.server.uri())
    }

    pub fn token(&self) -> String {
        lock(&self.control).token.clone()
    }

    /// Only `PRIVATE-TOKEN: t` or `Authorization: Bearer t` is accepted from now on.
    pub fn set_token(&self, t: &str) {
        lock(&self.control).token = t.to_string();
    }

    /// Reads or changes the served instance (e.g. between two syncs).
    pub fn with_instance<R>(&self, f: impl FnOnce(&mut Instance) -> R) -> R {
        let mut instance = lock(&self.instance);
        f(&mut instance)
    }

    /// The next `times` requests (after any faults already queued) get `fault`.
    pub fn inject(&self, fault: Fault, times: usize) {
        let mut control = lock(&self.control);
        for _ in 0..times {
            control.faults.push_back(fault);
        }
    }

    /// Every request received so far, faulted ones included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.control).log.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.control).log.len()
    }

    pub fn clear_requests(&self) {
        lock(&self.control).log.clear();
    }
}

// ---------------------------------------------------------------- tests

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_dt(s).expect("test time")
    }

    fn auth() -> Vec<(String, String)> {
        vec![
            ("PRIVATE-TOKEN".to_string(), DEFAULT_TOKEN.to_string()),
            ("host".to_string(), "gitlab.test".to_string()),
        ]
    }

    fn get(inst: &Instance, path: &str, query: Option<&str>) -> ApiResponse {
        handle(inst, DEFAULT_TOKEN, "GET", path, query, &auth())
    }

    fn rows(r: &ApiResponse) -> &Vec<Value> {
        r.body_json().as_array().expect("a JSON array")
    }

    fn instance_with_issues(n: usize) -> Instance {
        let mut p = Project::new(7, "acme/web");
        for i in 0..n {
            p.add_issue(
                &format!("issue {i}"),
                "issue",
                t("2024-01-01T00:00:00Z") + Duration::hours(i as i64),
            );
        }
        Instance::new().with_project(p)
    }

    #[test]
    fn paging_headers_follow_the_docs() {
        let inst = instance_with_issues(45);
        let r = get(
            &inst,
            "/api/v4/projects/7/issues",
            Some("per_page=20&page=2&state=opened"),
        );
        assert_eq!(r.status, 200);
        assert_eq!(rows(&r).len(), 20);
        assert_eq!(r.header("x-page"), Some("2"));
        assert_eq!(r.header("x-per-page"), Some("20"));
        assert_eq!(r.header("x-next-page"), Some("3"));
        assert_eq!(r.header("x-prev-page"), Some("1"));
        assert_eq!(r.header("x-total"), Some("45"));
        assert_eq!(r.header("x-total-pages"), Some("3"));
        let link = r.header("link").expect("link");
        let base = "http://gitlab.test/api/v4/projects/7/issues";
        assert!(
            link.contains(&format!(
                "<{base}?page=1&per_page=20&state=opened>; rel=\"prev\""
            )),
            "{link}"
        );
        assert!(
            link.contains(&format!(
                "<{base}?page=3&per_page=20&state=opened>; rel=\"next\""
            )),
            "{link}"
        );
        assert!(
            link.contains(&format!(
                "<{base}?page=1&per_page=20&state=opened>; rel=\"first\""
            )),
            "{link}"
        );
        assert!(
            link.contains(&format!(
                "<{base}?page=3&per_page=20&state=opened>; rel=\"last\""
            )),
            "{link}"
        );

        let last = get(
            &inst,
            "/api/v4/projects/7/issues",
            Some("per_page=20&page=3"),
        );
        assert_eq!(rows(&last).len(), 5);
        assert_eq!(last.header("x-next-page"), Some(""));
        assert!(!last.header("link").unwrap().contains("rel=\"next\""));

        let first = get(&inst, "/api/v4/projects/7/issues", None);
        assert_eq!(first.header("x-per-page"), Some("20"));
        assert_eq!(first.header("x-prev-page"), Some(""));
        let capped = get(&inst, "/api/v4/projects/7/issues", Some("per_page=1000"));
        assert_eq!(capped.header("x-per-page"), Some("100"));
        assert_eq!(rows(&capped).len(), 45);

        let mut quiet = inst.clone();
        quiet.omit_totals = true;
        let r = get(&quiet, "/api/v4/projects/7/issues", Some("per_page=20"));
        assert_eq!(r.header("x-total"), None);
        assert_eq!(r.header("x-total-pages"), None);
        assert_eq!(r.header("x-next-page"), Some("2"));
        assert!(!r.header("link").unwrap().contains("rel=\"last\""));
    }

    #[test]
    fn mr_commits_are_newest_first_and_page_at_100() {
        let mut p = Project::new(1, "acme/web");
        let start = t("2024-03-01T09:00:00Z");
        let iid = p.open_mr_with_commits(150, start, Duration::minutes(1));
        assert_eq!(p.mr(iid).commits.len(), 150);
        let inst = Instance::new().with_project(p);
        let path = format!("/api/v4/projects/acme%2Fweb/merge_requests/{iid}/commits");

        let page1 = get(&inst, &path, Some("per_page=100"));
        assert_eq!(page1.status, 200);
        let r1 = rows(&page1);
        assert_eq!(r1.len(), 100);
        assert_eq!(r1[0]["title"], json!(format!("Commit 150 of !{iid}")));
        assert_eq!(page1.header("x-next-page"), Some("2"));
        assert_eq!(page1.header("x-total"), Some("150"));

        let page2 = get(&inst, &path, Some("per_page=100&page=2"));
        let r2 = rows(&page2);
        assert_eq!(r2.len(), 50);
        assert_eq!(r2[49]["title"], json!(format!("Commit 1 of !{iid}")));
        assert_eq!(
            r2[49]["authored_date"],
            json!("2024-03-01T09:00:00.000+00:00")
        );
        assert_eq!(page2.header("x-next-page"), Some(""));

        let default = get(&inst, &path, None);
        assert_eq!(rows(&default).len(), 20);
        let dates: Vec<String> = r1
            .iter()
            .map(|c| c["committed_date"].as_str().unwrap().to_string())
            .collect();
        let mut sorted = dates.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(dates, sorted);
    }

    #[test]
    fn squash_merge_lands_a_squash_commit_and_a_merge_commit() {
        let mut p = Project::new(1, "acme/web");
        let iid = p.open_mr_with_commits(3, t("2024-03-01T09:00:00Z"), Duration::minutes(5));
        let old_main = p.head("main").unwrap().to_string();
        let mr_head = p.mr(iid).sha.clone();
        let (s, m) = p.squash_merge(iid, t("2024-03-02T10:00:00Z"));
        assert_eq!(p.head("main"), Some(m.as_str()));
        assert_eq!(p.commits[&s].parent_ids, vec![old_main.clone()]);
        assert_eq!(p.commits[&m].parent_ids, vec![old_main, s.clone()]);

        let inst = Instance::new().with_project(p);
        let mr = get(
            &inst,
            &format!("/api/v4/projects/1/merge_requests/{iid}"),
            None,
        );
        let body = mr.body_json();
        assert_eq!(body["state"], json!("merged"));
        assert_eq!(body["squash"], json!(true));
        assert_eq!(body["squash_commit_sha"], json!(s));
        assert_eq!(body["merge_commit_sha"], json!(m));
        assert_eq!(body["merged_at"], json!("2024-03-02T10:00:00.000Z"));
        assert_eq!(body["sha"], json!(mr_head));

        let log = get(
            &inst,
            "/api/v4/projects/1/repository/commits",
            Some("ref_name=main"),
        );
        let ids: Vec<&str> = rows(&log)
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&m.as_str()) && ids.contains(&s.as_str()));
        assert!(
            !ids.contains(&mr_head.as_str()),
            "the MR's own commits are not on main"
        );

        let one = get(
            &inst,
            &format!("/api/v4/projects/1/repository/commits/{m}"),
            None,
        );
        assert_eq!(one.body_json()["parent_ids"].as_array().unwrap().len(), 2);
        assert!(one.body_json()["stats"].is_object());
        let missing = get(
            &inst,
            "/api/v4/projects/1/repository/commits/deadbeefdeadbeef",
            None,
        );
        assert_eq!(missing.status, 404);
        assert_eq!(
            missing.body_json(),
            &json!({ "message": "404 Commit Not Found" })
        );
    }

    #[test]
    fn merge_and_fast_forward_set_the_documented_shas() {
        let mut p = Project::new(1, "acme/web");
        let a = p.open_mr_with_commits(2, t("2024-03-01T09:00:00Z"), Duration::minutes(5));
        let m = p.merge(a, t("2024-03-01T12:00:00Z"));
        assert_eq!(p.mr(a).merge_commit_sha.as_deref(), Some(m.as_str()));
        assert_eq!(p.mr(a).squash_commit_sha, None);
        assert_eq!(p.commits[&m].parent_ids[1], p.mr(a).sha);
        let b = p.open_mr_with_commits(2, t("2024-03-02T09:00:00Z"), Duration::minutes(5));
        let head = p.fast_forward(b, t("2024-03-02T12:00:00Z"));
        assert_eq!(p.head("main"), Some(head.as_str()));
        assert_eq!(p.mr(b).merge_commit_sha, None);
        assert_eq!(p.mr(b).state, "merged");
    }

    #[test]
    fn since_and_until_filter_on_committed_date() {
        let mut p = Project::new(1, "acme/web");
        for day in 1..=5 {
            p.commit_at(
                "main",
                &format!("day {day}"),
                "dev",
                t(&format!("2024-01-0{day}T12:00:00Z")),
            );
        }
        // authored long ago, committed (e.g. rebased) on day 6: `since` looks at the commit date.
        let sha = p.commit_at("main", "rebased", "dev", t("2024-01-06T12:00:00Z"));
        p.commits.get_mut(&sha).unwrap().authored_date = t("2023-12-01T00:00:00Z");
        let inst = Instance::new().with_project(p);

        let r = get(
            &inst,
            "/api/v4/projects/1/repository/commits",
            Some("since=2024-01-03T12:00:00Z"),
        );
        let titles: Vec<&str> = rows(&r)
            .iter()
            .map(|c| c["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, vec!["rebased", "day 5", "day 4", "day 3"]);
        assert_eq!(r.header("x-total"), None, "the Commits API sends no totals");

        let r = get(
            &inst,
            "/api/v4/projects/1/repository/commits",
            Some("since=2024-01-02T00:00:00Z&until=2024-01-03T12:00:00Z"),
        );
        let titles: Vec<&str> = rows(&r)
            .iter()
            .map(|c| c["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, vec!["day 3", "day 2"]);

        let bad = get(
            &inst,
            "/api/v4/projects/1/repository/commits",
            Some("since=yesterday"),
        );
        assert_eq!(bad.status, 400);
        let paged = get(
            &inst,
            "/api/v4/projects/1/repository/commits",
            Some("per_page=4"),
        );
        assert_eq!(paged.header("x-next-page"), Some("2"));
    }

    #[test]
    fn auth_and_lookup_by_path() {
        let inst = instance_with_issues(1);
        let nope = handle(&inst, DEFAULT_TOKEN, "GET", "/api/v4/projects/7", None, &[]);
        assert_eq!(nope.status, 401);
        assert_eq!(nope.body_json(), &json!({ "message": "401 Unauthorized" }));
        let wrong = vec![("PRIVATE-TOKEN".to_string(), "other".to_string())];
        assert_eq!(
            handle(
                &inst,
                DEFAULT_TOKEN,
                "GET",
                "/api/v4/projects/7",
                None,
                &wrong
            )
            .status,
            401
        );
        let bearer = vec![(
            "authorization".to_string(),
            format!("Bearer {DEFAULT_TOKEN}"),
        )];
        let ok = handle(
            &inst,
            DEFAULT_TOKEN,
            "GET",
            "/api/v4/projects/acme%2Fweb",
            None,
            &bearer,
        );
        assert_eq!(ok.status, 200);
        assert_eq!(ok.body_json()["id"], json!(7));
        assert_eq!(ok.body_json()["path_with_namespace"], json!("acme/web"));
        assert_eq!(get(&inst, "/api/v4/projects/acme/web", None).status, 404);
        assert_eq!(
            get(&inst, "/api/v4/projects/99", None).body_json()["message"],
            json!("404 Project Not Found")
        );
    }

    #[test]
    fn mr_list_notes_and_approvals() {
        let mut p = Project::new(1, "acme/web");
        let a = p.open_mr_with_commits(1, t("2024-03-01T09:00:00Z"), Duration::minutes(1));
        let b = p.open_mr_with_commits(1, t("2024-03-05T09:00:00Z"), Duration::minutes(1));
        p.add_note(a, "looks good", "rev", false, t("2024-03-06T09:00:00Z"));
        p.approve(a, "rev", t("2024-03-06T10:00:00Z"));
        p.mark_ready(a, t("2024-03-06T11:00:00Z"));
        p.merge(a, t("2024-03-07T09:00:00Z"));
        let inst = Instance::new().with_project(p);

        let r = get(
            &inst,
            "/api/v4/projects/1/merge_requests",
            Some("state=merged"),
        );
        assert_eq!(rows(&r).len(), 1);
        let r = get(
            &inst,
            "/api/v4/projects/1/merge_requests",
            Some("updated_after=2024-03-05T09:00:00Z&order_by=updated_at&sort=asc"),
        );
        let iids: Vec<u64> = rows(&r)
            .iter()
            .map(|m| m["iid"].as_u64().unwrap())
            .collect();
        assert_eq!(iids, vec![b, a]);
        assert_eq!(
            get(
                &inst,
                "/api/v4/projects/1/merge_requests",
                Some("order_by=id")
            )
            .status,
            400
        );

        let notes = get(
            &inst,
            &format!("/api/v4/projects/1/merge_requests/{a}/notes"),
            Some("per_page=2"),
        );
        let bodies: Vec<&str> = rows(&notes)
            .iter()
            .map(|n| n["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, vec![READY_NOTE, APPROVED_NOTE]);
        assert_eq!(notes.header("x-next-page"), Some("2"));

        let appr = get(
            &inst,
            &format!("/api/v4/projects/1/merge_requests/{a}/approvals"),
            None,
        );
        assert_eq!(
            appr.body_json()["approved_by"][0]["user"]["username"],
            json!("rev")
        );
        assert!(appr.body_json()["approved_by"][0]
            .get("created_at")
            .is_none());
    }

    #[test]
    fn deployments_follow_the_finder_rules() {
        let mut p = Project::new(1, "acme/web");
        let sha = p.commit_at("main", "init", "dev", t("2024-01-01T00:00:00Z"));
        p.deploy(
            "production",
            &sha,
            "success",
            t("2024-01-02T00:00:00Z"),
            Some(t("2024-01-02T00:05:00Z")),
        );
        p.deploy(
            "staging",
            &sha,
            "failed",
            t("2024-01-03T00:00:00Z"),
            Some(t("2024-01-03T00:01:00Z")),
        );
        let inst = Instance::new().with_project(p);
        let path = "/api/v4/projects/1/deployments";
        let bad = get(&inst, path, Some("updated_after=2024-01-01T00:00:00Z"));
        assert_eq!(bad.status, 400);
        assert_eq!(
            bad.body_json()["message"],
            json!("400 Bad request - `updated_at` filter requires `updated_at` sort")
        );
        let ok = get(&inst, path, Some("updated_after=2024-01-01T00:00:00Z&order_by=updated_at&sort=desc&environment=production"));
        assert_eq!(ok.status, 200);
        let d = &rows(&ok)[0];
        assert_eq!(
            d["deployable"]["finished_at"],
            json!("2024-01-02T00:05:00.000Z")
        );
        assert_eq!(d["environment"]["name"], json!("production"));
        assert!(d["deployable"]["web_url"]
            .as_str()
            .unwrap()
            .contains("/-/jobs/"));
        assert_eq!(get(&inst, path, Some("status=done")).status, 400);
    }

    #[test]
    fn incidents_and_group_projects() {
        let mut web = Project::new(1, "acme/web");
        web.add_incident("db down", "CRITICAL", t("2024-01-01T00:00:00Z"));
        web.add_issue("bug", "issue", t("2024-01-02T00:00:00Z"));
        web.close_issue(1, t("2024-01-01T02:00:00Z"));
        let mut old = Project::new(2, "acme/platform/old");
        old.archived = true;
        let inst = Instance::new()
            .with_project(web)
            .with_project(old)
            .with_group(Group::new(10, "acme", &[1]))
            .with_group(Group::new(11, "acme/platform", &[2]));
        let r = get(
            &inst,
            "/api/v4/projects/1/issues",
            Some("issue_type=incident&state=closed"),
        );
        let i = &rows(&r)[0];
        assert_eq!(i["type"], json!("INCIDENT"));
        assert_eq!(i["severity"], json!("CRITICAL"));
        assert_eq!(i["closed_at"], json!("2024-01-01T02:00:00.000Z"));

        let g = get(&inst, "/api/v4/groups/acme/projects", None);
        assert_eq!(rows(&g).len(), 1);
        let g = get(
            &inst,
            "/api/v4/groups/10/projects",
            Some("include_subgroups=true"),
        );
        assert_eq!(rows(&g).len(), 2);
        let g = get(
            &inst,
            "/api/v4/groups/10/projects",
            Some("include_subgroups=true&archived=false"),
        );
        assert_eq!(rows(&g).len(), 1);
    }

    #[test]
    fn rate_limit_fault_carries_the_documented_headers() {
        let r = fault_response(Fault::RateLimited, t("2021-01-05T10:59:59Z"));
        assert_eq!(r.status, 429);
        assert_eq!(r.header("Retry-After"), Some("1"));
        assert_eq!(r.header("RateLimit-Remaining"), Some("0"));
        assert_eq!(r.header("RateLimit-Reset"), Some("1609844400"));
        assert_eq!(
            r.header("RateLimit-ResetTime"),
            Some("Tue, 05 Jan 2021 11:00:00 GMT")
        );
        assert!(r.header("RateLimit-Limit").is_some() && r.header("RateLimit-Observed").is_some());
        assert_eq!(fault_response(Fault::InternalError, Utc::now()).status, 500);
        assert_eq!(fault_response(Fault::BadGateway, Utc::now()).status, 502);
    }

    fn raw_get(addr: String, path: String) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nPRIVATE-TOKEN: {DEFAULT_TOKEN}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_server_serves_the_shared_instance_and_faults() {
        let gl = MockGitLab::start(instance_with_issues(3)).await;
        let addr = gl.uri().trim_start_matches("http://").to_string();
        let a = addr.clone();
        let resp = tokio::task::spawn_blocking(move || {
            raw_get(a, "/api/v4/projects/acme%2Fweb/issues".into())
        })
        .await
        .unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(resp.to_ascii_lowercase().contains("x-total: 3"), "{resp}");

        gl.inject(Fault::RateLimited, 1);
        gl.with_instance(|i| i.project_mut(7).add_issue("new", "incident", Utc::now()));
        let a = addr.clone();
        let resp =
            tokio::task::spawn_blocking(move || raw_get(a, "/api/v4/projects/7/issues".into()))
                .await
                .unwrap();
        assert!(resp.starts_with("HTTP/1.1 429"), "{resp}");
        let a = addr.clone();
        let resp =
            tokio::task::spawn_blocking(move || raw_get(a, "/api/v4/projects/7/issues".into()))
                .await
                .unwrap();
        assert!(resp.to_ascii_lowercase().contains("x-total: 4"), "{resp}");
        assert_eq!(gl.request_count(), 3);
        assert_eq!(gl.requests()[0].path, "/api/v4/projects/acme%2Fweb/issues");
    }
}
