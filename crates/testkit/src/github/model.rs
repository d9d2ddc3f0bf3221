//! The plain-data GitHub organisation the mock serves.
//!
//! Field meanings follow the REST objects documented at
//! <https://docs.github.com/en/rest/commits/commits>,
//! <https://docs.github.com/en/rest/pulls/pulls>,
//! <https://docs.github.com/en/rest/pulls/reviews>,
//! <https://docs.github.com/en/rest/deployments/deployments>,
//! <https://docs.github.com/en/rest/deployments/statuses> and
//! <https://docs.github.com/en/rest/issues/issues>.
//! States are stored in their REST spelling (`open`/`closed`, review states
//! `APPROVED`.., deployment-status states `success`..); the GraphQL layer
//! upper-cases them as the GraphQL enums require.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::util::{fake_sha, fnv64, node_id, Rng};

/// A GitHub organisation (or user account) and its repositories.
#[derive(Clone, Debug)]
pub struct Org {
    pub name: String,
    pub repos: Vec<Repo>,
    /// The account is a user's, not an organisation's: the `orgs/...`
    /// endpoints do not know it.
    pub user_account: bool,
}

/// One repository: refs, the commit graph, pulls, deployments and issues.
#[derive(Clone, Debug)]
pub struct Repo {
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub archived: bool,
    /// Private: only its owner (or an App installed on it) lists it.
    pub private: bool,
    /// Branch name -> head commit sha.
    pub branches: BTreeMap<String, String>,
    /// Every commit object the repository holds, by sha (including PR
    /// commits that are not reachable from any branch, as GitHub keeps them
    /// under `refs/pull/N/head`).
    pub commits: HashMap<String, Commit>,
    pub pulls: Vec<Pull>,
    pub deployments: Vec<Deployment>,
    pub issues: Vec<Issue>,
    /// Files of the default branch's tree the contents API serves, by path
    /// (e.g. `.github/CODEOWNERS`).
    pub contents: BTreeMap<String, String>,
}

/// A git commit. The committer identity is the author's (the model keeps a
/// single identity); `committed_at` is the committer date, which is what
/// `since`/`until` filter on.
#[derive(Clone, Debug)]
pub struct Commit {
    pub sha: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    /// The GitHub account linked to the author email, if any (REST `author`).
    pub author_login: Option<String>,
    pub authored_at: DateTime<Utc>,
    pub committed_at: DateTime<Utc>,
    pub message: String,
    /// Paths it changed ("Get a commit" lists them in `files`).
    pub files: Vec<String>,
}

/// A pull request.
#[derive(Clone, Debug)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub author: String,
    /// `open` or `closed` (merged pulls are `closed` with `merged_at` set).
    pub state: String,
    pub is_draft: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a `ReadyForReviewEvent` happened (the pull left draft), if ever.
    pub ready_for_review_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub base_ref: String,
    pub head_ref: String,
    pub labels: Vec<String>,
    pub merge_commit_sha: Option<String>,
    /// The shas of the pull's own commits, oldest first; each must exist in
    /// `Repo::commits`.
    pub commits: Vec<String>,
    pub reviews: Vec<Review>,
    pub additions: u64,
    pub deletions: u64,
    /// Paths the pull changed (GraphQL `PullRequest.files`, REST
    /// `/pulls/{n}/files`).
    pub files: Vec<String>,
}

/// A pull-request review.
#[derive(Clone, Debug)]
pub struct Review {
    pub id: u64,
    pub node_id: String,
    pub author: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`
    /// (REST and GraphQL `PullRequestReviewState` use the same spelling).
    pub state: String,
    /// `None` for a `PENDING` review.
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A deployment (REST `GET /repos/{o}/{r}/deployments`).
#[derive(Clone, Debug)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    /// The REST `ref` (a branch, tag or sha).
    pub git_ref: String,
    pub task: String,
    pub environment: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Login of the creator (`github-actions[bot]` for the synthetic data).
    pub creator: String,
    pub production_environment: bool,
    pub transient_environment: bool,
    /// In creation order (oldest first); the API serves them newest first.
    pub statuses: Vec<DeploymentStatus>,
}

/// A deployment status.
#[derive(Clone, Debug)]
pub struct DeploymentStatus {
    pub id: u64,
    /// REST spelling: `error`, `failure`, `inactive`, `in_progress`, `queued`,
    /// `pending`, `success` (GraphQL `DeploymentStatusState` upper-cases it).
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
    pub description: Option<String>,
}

/// An issue. Pull requests also appear in the issues list; the mock adds
/// every `Repo::pulls` entry there itself, so `is_pull_request` entries are
/// only needed to override how a pull shows up as an issue.
#[derive(Clone, Debug)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub user: String,
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub is_pull_request: bool,
}

// ---------------------------------------------------------------------------
// Constructors and builders
// ---------------------------------------------------------------------------

impl Org {
    pub fn new(name: impl Into<String>) -> Org {
        Org {
            name: name.into(),
            repos: Vec::new(),
            user_account: false,
        }
    }

    /// Makes the account a user's (builder style).
    pub fn as_user(mut self) -> Org {
        self.user_account = true;
        self
    }

    /// Adds a repository (builder style).
    pub fn with_repo(mut self, repo: Repo) -> Org {
        self.repos.push(repo);
        self
    }

    /// Finds a repository by `name` or `owner/name` (case-insensitive, as
    /// GitHub's are).
    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.matches(name))
    }

    pub fn repo_mut(&mut self, name: &str) -> Option<&mut Repo> {
        self.repos.iter_mut().find(|r| r.matches(name))
    }

    /// The repository with that owner and name, case-insensitively.
    pub fn find(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos
            .iter()
            .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }

    /// A realistic organisation with one repository (`repo` is `name` or
    /// `owner/name`; the owner defaults to `acme`): a `main` branch whose
    /// history has squash-merged and merge-committed pulls (each with 1-5
    /// own commits authored hours to days before the merge), a few closed
    /// and open pulls, `n_deployments` deployments spread evenly over the
    /// merges (1-3 statuses each: `queued`/`in_progress` then `success`,
    /// `failure` or `error`) and incident issues for some failed production
    /// deployments. Deterministic for a seed; fast for 10,000 of each.
    pub fn synthetic(seed: u64, repo: &str, n_prs: usize, n_deployments: usize) -> Org {
        let (owner, name) = match repo.split_once('/') {
            Some((o, n)) => (o.to_string(), n.to_string()),
            None => ("acme".to_string(), repo.to_string()),
        };
        let r = synthetic_repo(seed, &owner, &name, n_prs, n_deployments);
        Org::new(owner).with_repo(r)
    }
}

impl Repo {
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Repo {
        Repo {
            owner: owner.into(),
            name: name.into(),
            default_branch: "main".to_string(),
            archived: false,
            private: false,
            branches: BTreeMap::new(),
            commits: HashMap::new(),
            pulls: Vec::new(),
            deployments: Vec::new(),
            issues: Vec::new(),
            contents: BTreeMap::new(),
        }
    }

    /// Puts a file on the default branch (contents API).
    pub fn with_file(mut self, path: impl Into<String>, text: impl Into<String>) -> Repo {
        self.contents.insert(path.into(), text.into());
        self
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn matches(&self, name: &str) -> bool {
        match name.split_once('/') {
            Some((o, n)) => self.owner.eq_ignore_ascii_case(o) && self.name.eq_ignore_ascii_case(n),
            None => self.name.eq_ignore_ascii_case(name),
        }
    }

    /// The head sha of the default branch.
    pub fn head(&self) -> Option<&str> {
        self.branches.get(&self.default_branch).map(|s| s.as_str())
    }

    /// Adds a commit object without moving any ref.
    pub fn insert_commit(&mut self, commit: Commit) -> String {
        let sha = commit.sha.clone();
        self.commits.insert(sha.clone(), commit);
        sha
    }

    /// Pushes `commit` onto the default branch. When `commit.parents` is empty
    /// and the branch already has a head, that head becomes its parent.
    pub fn push(&mut self, commit: Commit) -> String {
        let branch = self.default_branch.clone();
        self.push_to(&branch, commit)
    }

    /// Pushes `commit` onto `branch` (created if missing), as [`Repo::push`].
    pub fn push_to(&mut self, branch: &str, mut commit: Commit) -> String {
        if commit.parents.is_empty() {
            if let Some(head) = self.branches.get(branch) {
                commit.parents.push(head.clone());
            }
        }
        let sha = self.insert_commit(commit);
        self.branches.insert(branch.to_string(), sha.clone());
        sha
    }

    /// Records a merged pull and moves the default branch to `merge_commit`.
    ///
    /// * `branch_commits` are the pull's own commits, oldest first; a first
    ///   commit without parents is based on the current default head, and
    ///   each later commit without parents on the one before it.
    /// * `merge_commit` without parents becomes a true merge commit
    ///   (`[head, last branch commit]`); give it a single parent (the head)
    ///   for a squash or rebase merge.
    /// * Unset fields of `pr` are filled in: `commits`, `merge_commit_sha`,
    ///   `state = "closed"`, `merged_at`/`closed_at`/`updated_at` (the merge
    ///   commit's committer date). A pull with the same number is replaced.
    ///
    /// Returns the pull number.
    pub fn merge_branch(
        &mut self,
        mut pr: Pull,
        branch_commits: Vec<Commit>,
        mut merge_commit: Commit,
    ) -> u64 {
        let head = self.head().map(|s| s.to_string());
        let mut prev = head.clone();
        let mut own = Vec::with_capacity(branch_commits.len());
        for mut c in branch_commits {
            if c.parents.is_empty() {
                if let Some(p) = &prev {
                    c.parents.push(p.clone());
                }
            }
            prev = Some(c.sha.clone());
            own.push(self.insert_commit(c));
        }
        if merge_commit.parents.is_empty() {
            if let Some(h) = &head {
                merge_commit.parents.push(h.clone());
            }
            if let Some(last) = own.last() {
                merge_commit.parents.push(last.clone());
            }
        }
        let at = merge_commit.committed_at;
        let msha = merge_commit.sha.clone();
        let branch = self.default_branch.clone();
        self.insert_commit(merge_commit);
        self.branches.insert(branch, msha.clone());
        self.branches.remove(&pr.head_ref);
        if pr.commits.is_empty() {
            pr.commits = own;
        }
        if pr.merge_commit_sha.is_none() {
            pr.merge_commit_sha = Some(msha);
        }
        pr.state = "closed".to_string();
        if pr.merged_at.is_none() {
            pr.merged_at = Some(at);
        }
        if pr.closed_at.is_none() {
            pr.closed_at = pr.merged_at;
        }
        if pr.updated_at < at {
            pr.updated_at = at;
        }
        pr.is_draft = false;
        let number = pr.number;
        self.upsert_pull(pr);
        number
    }

    /// Records an open pull whose `branch_commits` (oldest first, chained as
    /// in [`Repo::merge_branch`]) live on `pr.head_ref`. Returns the number.
    pub fn open_pull(&mut self, mut pr: Pull, branch_commits: Vec<Commit>) -> u64 {
        let mut prev = self.head().map(|s| s.to_string());
        let mut own = Vec::with_capacity(branch_commits.len());
        for mut c in branch_commits {
            if c.parents.is_empty() {
                if let Some(p) = &prev {
                    c.parents.push(p.clone());
                }
            }
            prev = Some(c.sha.clone());
            own.push(self.insert_commit(c));
        }
        if let Some(last) = own.last() {
            self.branches.insert(pr.head_ref.clone(), last.clone());
        }
        if pr.commits.is_empty() {
            pr.commits = own;
        }
        let number = pr.number;
        self.upsert_pull(pr);
        number
    }

    /// Inserts or replaces (by number) a pull.
    pub fn upsert_pull(&mut self, pr: Pull) {
        match self.pulls.iter_mut().find(|p| p.number == pr.number) {
            Some(slot) => *slot = pr,
            None => self.pulls.push(pr),
        }
    }

    pub fn pull(&self, number: u64) -> Option<&Pull> {
        self.pulls.iter().find(|p| p.number == number)
    }

    pub fn pull_mut(&mut self, number: u64) -> Option<&mut Pull> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }

    pub fn add_deployment(&mut self, d: Deployment) {
        self.deployments.push(d);
    }

    pub fn deployment_mut(&mut self, id: u64) -> Option<&mut Deployment> {
        self.deployments.iter_mut().find(|d| d.id == id)
    }

    pub fn add_issue(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    /// The next free issue/pull number (they share one sequence on GitHub).
    pub fn next_number(&self) -> u64 {
        let p = self.pulls.iter().map(|p| p.number).max().unwrap_or(0);
        let i = self.issues.iter().map(|i| i.number).max().unwrap_or(0);
        p.max(i) + 1
    }

    pub fn next_deployment_id(&self) -> u64 {
        self.deployments
            .iter()
            .map(|d| d.id)
            .max()
            .unwrap_or(1_000_000_000)
            + 1
    }

    pub fn next_status_id(&self) -> u64 {
        self.deployments
            .iter()
            .flat_map(|d| d.statuses.iter().map(|s| s.id))
            .max()
            .unwrap_or(2_000_000_000)
            + 1
    }

    pub fn next_review_id(&self) -> u64 {
        self.pulls
            .iter()
            .flat_map(|p| p.reviews.iter().map(|r| r.id))
            .max()
            .unwrap_or(3_000_000_000)
            + 1
    }
}

impl Commit {
    /// A commit by `author_login` (name = login, email
    /// `login@users.noreply.github.com`) authored and committed at `at`,
    /// with a sha derived from the message, login and time.
    pub fn new(message: impl Into<String>, author_login: &str, at: DateTime<Utc>) -> Commit {
        let message = message.into();
        let sha = fake_sha(&format!(
            "{}\0{}\0{}",
            message,
            author_login,
            at.timestamp()
        ));
        Commit {
            sha,
            parents: Vec::new(),
            author_name: author_login.to_string(),
            author_email: format!("{author_login}@users.noreply.github.com"),
            author_login: Some(author_login.to_string()),
            authored_at: at,
            committed_at: at,
            message,
            files: Vec::new(),
        }
    }

    pub fn with_files(mut self, files: Vec<String>) -> Commit {
        self.files = files;
        self
    }

    pub fn with_sha(mut self, sha: impl Into<String>) -> Commit {
        self.sha = sha.into();
        self
    }

    pub fn with_parents(mut self, parents: Vec<String>) -> Commit {
        self.parents = parents;
        self
    }

    pub fn authored(mut self, at: DateTime<Utc>) -> Commit {
        self.authored_at = at;
        self
    }

    pub fn committed(mut self, at: DateTime<Utc>) -> Commit {
        self.committed_at = at;
        self
    }

    /// An author with no linked GitHub account (REST `author: null`).
    pub fn without_login(mut self) -> Commit {
        self.author_login = None;
        self
    }

    /// A deterministic 40-hex-digit sha for `key`.
    pub fn fake_sha(key: &str) -> String {
        fake_sha(key)
    }
}

impl Pull {
    /// An open, non-draft pull from `head_ref = "feature/{number}"` into `main`.
    pub fn new(
        number: u64,
        title: impl Into<String>,
        author: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Pull {
        Pull {
            number,
            title: title.into(),
            author: author.into(),
            state: "open".to_string(),
            is_draft: false,
            created_at,
            updated_at: created_at,
            ready_for_review_at: None,
            merged_at: None,
            closed_at: None,
            base_ref: "main".to_string(),
            head_ref: format!("feature/{number}"),
            labels: Vec::new(),
            merge_commit_sha: None,
            commits: Vec::new(),
            reviews: Vec::new(),
            additions: 0,
            deletions: 0,
            files: Vec::new(),
        }
    }

    /// The paths the pull changed.
    pub fn files(mut self, paths: &[&str]) -> Pull {
        self.files = paths.iter().map(|p| p.to_string()).collect();
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Pull {
        self.labels.push(label.into());
        self
    }

    pub fn review(mut self, review: Review) -> Pull {
        self.reviews.push(review);
        self
    }

    /// Marks the pull as opened in draft; `ready_at` is when it was marked
    /// ready for review (`None`: still a draft).
    pub fn draft(mut self, ready_at: Option<DateTime<Utc>>) -> Pull {
        self.is_draft = ready_at.is_none();
        self.ready_for_review_at = ready_at;
        self
    }

    pub fn lines(mut self, additions: u64, deletions: u64) -> Pull {
        self.additions = additions;
        self.deletions = deletions;
        self
    }

    pub fn is_merged(&self) -> bool {
        self.merged_at.is_some()
    }
}

impl Review {
    /// A review with a legacy node id derived from `id`; `submitted_at` is
    /// `None` when `state` is `PENDING`.
    pub fn new(
        id: u64,
        author: impl Into<String>,
        state: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Review {
        let state = state.into().to_ascii_uppercase();
        let submitted_at = if state == "PENDING" { None } else { Some(at) };
        Review {
            id,
            node_id: node_id("PullRequestReview", id),
            author: author.into(),
            state,
            submitted_at,
        }
    }
}

impl Deployment {
    /// A `deploy` of `sha` from `main` by `github-actions[bot]`;
    /// `production_environment` is set when `environment == "production"`.
    pub fn new(
        id: u64,
        sha: impl Into<String>,
        environment: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Deployment {
        let environment = environment.into();
        Deployment {
            id,
            sha: sha.into(),
            git_ref: "main".to_string(),
            task: "deploy".to_string(),
            production_environment: environment == "production",
            environment,
            description: None,
            created_at,
            updated_at: created_at,
            creator: "github-actions[bot]".to_string(),
            transient_environment: false,
            statuses: Vec::new(),
        }
    }

    /// Appends a status (keeps `updated_at` at the newest status).
    pub fn status(mut self, status: DeploymentStatus) -> Deployment {
        self.push_status(status);
        self
    }

    pub fn push_status(&mut self, status: DeploymentStatus) {
        if status.created_at > self.updated_at {
            self.updated_at = status.created_at;
        }
        self.statuses.push(status);
    }

    /// The newest status (by creation time, then id).
    pub fn latest_status(&self) -> Option<&DeploymentStatus> {
        self.statuses
            .iter()
            .max_by(|a, b| (a.created_at, a.id).cmp(&(b.created_at, b.id)))
    }
}

impl DeploymentStatus {
    pub fn new(id: u64, state: impl Into<String>, created_at: DateTime<Utc>) -> DeploymentStatus {
        DeploymentStatus {
            id,
            state: state.into().to_ascii_lowercase(),
            created_at,
            log_url: None,
            environment_url: None,
            description: None,
        }
    }

    pub fn log_url(mut self, url: impl Into<String>) -> DeploymentStatus {
        self.log_url = Some(url.into());
        self
    }

    pub fn environment_url(mut self, url: impl Into<String>) -> DeploymentStatus {
        self.environment_url = Some(url.into());
        self
    }

    pub fn description(mut self, d: impl Into<String>) -> DeploymentStatus {
        self.description = Some(d.into());
        self
    }
}

impl Issue {
    pub fn new(
        number: u64,
        title: impl Into<String>,
        user: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Issue {
        Issue {
            number,
            title: title.into(),
            user: user.into(),
            labels: Vec::new(),
            state: "open".to_string(),
            created_at,
            updated_at: created_at,
            closed_at: None,
            is_pull_request: false,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Issue {
        self.labels.push(label.into());
        self
    }

    pub fn close(mut self, at: DateTime<Utc>) -> Issue {
        self.state = "closed".to_string();
        self.closed_at = Some(at);
        if self.updated_at < at {
            self.updated_at = at;
        }
        self
    }
}

// ---------------------------------------------------------------------------
// Synthetic data
// ---------------------------------------------------------------------------

const AUTHORS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "dependabot[bot]",
];
const LABELS: &[&str] = &[
    "bug",
    "enhancement",
    "refactor",
    "dependencies",
    "documentation",
    "hotfix",
    "performance",
];
const VERBS: &[&str] = &[
    "Add", "Fix", "Refactor", "Remove", "Improve", "Update", "Speed up", "Document", "Harden",
];
const NOUNS: &[&str] = &[
    "login flow",
    "billing export",
    "search index",
    "rate limiter",
    "cache layer",
    "CSV import",
    "API client",
    "retry policy",
    "metrics endpoint",
    "session store",
    "audit log",
    "feature flags",
    "webhook handler",
];

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

fn synth_commit(
    sha: String,
    parents: Vec<String>,
    author: &str,
    at: DateTime<Utc>,
    message: String,
) -> Commit {
    Commit {
        sha,
        parents,
        author_name: author.to_string(),
        author_email: format!("{author}@users.noreply.github.com"),
        author_login: Some(author.to_string()),
        authored_at: at,
        committed_at: at,
        message,
        files: Vec::new(),
    }
}

enum Numbered {
    Pull(usize),
    Issue(usize),
}

fn synthetic_repo(seed: u64, owner: &str, name: &str, n_prs: usize, n_deployments: usize) -> Repo {
    let mut rng = Rng::new(seed ^ fnv64(&[owner.as_bytes(), name.as_bytes()]));
    let key = |kind: &str, i: usize| fake_sha(&format!("{seed}:{owner}/{name}:{kind}:{i}"));
    let t0 = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let mut repo = Repo::new(owner, name);
    let root = key("root", 0);
    repo.insert_commit(synth_commit(
        root.clone(),
        Vec::new(),
        AUTHORS[0],
        t0,
        "Initial commit".to_string(),
    ));
    // (committer date, sha) of each commit the default branch pointed at.
    let mut main_history: Vec<(DateTime<Utc>, String)> = vec![(t0, root)];
    let mut t = t0 + TimeDelta::hours(2);
    let n_open = n_prs / 30;
    let mut pulls: Vec<Pull> = Vec::with_capacity(n_prs);
    // (pull index, merge sha, squash?) to fix messages once numbers are known.
    let mut merge_msgs: Vec<(usize, String, bool)> = Vec::new();
    let mut review_id: u64 = 3_000_000_000;

    for i in 0..n_prs {
        t += minutes(rng.range(10, 8 * 60));
        let author = AUTHORS[rng.below(AUTHORS.len())];
        let open = i >= n_prs - n_open;
        let closed_unmerged = !open && rng.chance(0.05);
        let n_commits = rng.range(1, 6) as usize;
        let lead = rng.range(2 * 60, 5 * 24 * 60); // hours to days before the merge
        let first_at = t - minutes(lead);
        // Branch off the default-branch commit current at the first commit.
        let bp = main_history.partition_point(|(ct, _)| *ct <= first_at);
        let base_sha = main_history[bp.saturating_sub(1)].1.clone();
        let title = format!(
            "{} {}",
            VERBS[rng.below(VERBS.len())],
            NOUNS[rng.below(NOUNS.len())]
        );
        let head_ref = format!(
            "{}/{}-{}",
            author.trim_end_matches("[bot]"),
            title.to_ascii_lowercase().replace(' ', "-"),
            i
        );
        let mut parent = base_sha;
        let mut own: Vec<String> = Vec::with_capacity(n_commits);
        for k in 0..n_commits {
            let at = first_at + minutes(lead * k as i64 / n_commits as i64);
            let sha = key("pr", i * 8 + k);
            let msg = if k == 0 {
                title.clone()
            } else {
                format!("{title}: address review ({k})")
            };
            repo.insert_commit(synth_commit(
                sha.clone(),
                vec![parent.clone()],
                author,
                at,
                msg,
            ));
            parent = sha.clone();
            own.push(sha);
        }
        let created_at = first_at + minutes(rng.range(5, 120).min(lead - 1));
        let mut pr = Pull::new(0, title.clone(), author, created_at);
        pr.head_ref = head_ref.clone();
        pr.commits = own.clone();
        pr.additions = (rng.range(1, 40) * rng.range(1, 20)) as u64;
        pr.deletions = rng.range(0, pr.additions as i64 + 1) as u64;
        let n_labels = rng.range(0, 3);
        for _ in 0..n_labels {
            let l = LABELS[rng.below(LABELS.len())].to_string();
            if !pr.labels.contains(&l) {
                pr.labels.push(l);
            }
        }
        let started_draft = rng.chance(0.2);
        let end = t;
        if started_draft {
            pr.ready_for_review_at = Some(created_at + (end - created_at) / 2);
        }
        // Reviews between creation (or readiness) and the merge.
        let review_from = pr.ready_for_review_at.unwrap_or(created_at);
        let span = (end - review_from).num_minutes().max(2);
        let n_reviews = rng.range(0, 4);
        for k in 0..n_reviews {
            review_id += 1;
            let at = review_from + minutes(span * (k + 1) / (n_reviews + 1));
            let reviewer = loop {
                let r = AUTHORS[rng.below(AUTHORS.len() - 1)];
                if r != author {
                    break r;
                }
            };
            let state = if k == n_reviews - 1 && !open && !closed_unmerged {
                "APPROVED"
            } else if rng.chance(0.4) {
                "CHANGES_REQUESTED"
            } else {
                "COMMENTED"
            };
            pr.reviews.push(Review::new(review_id, reviewer, state, at));
        }
        if open {
            pr.is_draft = started_draft && rng.chance(0.5);
            if pr.is_draft {
                pr.ready_for_review_at = None;
            }
            pr.updated_at = end.min(created_at + minutes(lead / 2 + 1));
            if let Some(last) = own.last() {
                repo.branches.insert(head_ref.clone(), last.clone());
            }
        } else if closed_unmerged {
            pr.state = "closed".to_string();
            pr.closed_at = Some(end);
            pr.updated_at = end;
        } else {
            let head = main_history
                .last()
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            let msha = key("merge", i);
            let squash = rng.chance(0.6);
            let parents = if squash {
                vec![head]
            } else {
                vec![head, own.last().cloned().unwrap_or_default()]
            };
            repo.insert_commit(synth_commit(
                msha.clone(),
                parents,
                author,
                end,
                String::new(),
            ));
            main_history.push((end, msha.clone()));
            merge_msgs.push((i, msha.clone(), squash));
            pr.state = "closed".to_string();
            pr.merged_at = Some(end);
            pr.closed_at = Some(end);
            pr.updated_at = end + TimeDelta::seconds(rng.range(1, 600));
            pr.merge_commit_sha = Some(msha);
        }
        pulls.push(pr);
    }

    // Deployments, evenly spread over the merges ("every few PRs").
    let merges: Vec<(DateTime<Utc>, String)> = if main_history.len() > 1 {
        main_history[1..].to_vec()
    } else {
        main_history.clone()
    };
    let mut deployments: Vec<Deployment> = Vec::with_capacity(n_deployments);
    let mut issues: Vec<Issue> = Vec::new();
    let mut status_id: u64 = 2_000_000_000;
    let mut last_deploy = t0;
    for j in 0..n_deployments {
        let m = ((j + 1) * merges.len() / n_deployments.max(1)).clamp(1, merges.len()) - 1;
        let (merged_at, sha) = &merges[m];
        let mut at = *merged_at + minutes(rng.range(5, 180));
        if at <= last_deploy {
            at = last_deploy + minutes(1);
        }
        last_deploy = at;
        let env = if rng.chance(0.25) {
            "staging"
        } else {
            "production"
        };
        let id = 1_000_000_000 + j as u64 + 1;
        let mut d = Deployment::new(id, sha.clone(), env, at);
        d.description = Some(format!("Deploy {} to {env}", &sha[..7]));
        let log = format!("https://ci.example.com/{owner}/{name}/runs/{id}");
        let env_url = format!("https://{env}.{name}.example.com");
        let roll = rng.range(0, 100);
        let final_state = if roll < 88 {
            "success"
        } else if roll < 98 {
            "failure"
        } else {
            "error"
        };
        let pattern = rng.range(0, 3);
        let mut st = at;
        if pattern == 0 {
            status_id += 1;
            d.push_status(DeploymentStatus::new(status_id, "queued", st).log_url(log.clone()));
        }
        if pattern <= 1 {
            st += TimeDelta::seconds(rng.range(20, 300));
            status_id += 1;
            d.push_status(DeploymentStatus::new(status_id, "in_progress", st).log_url(log.clone()));
        }
        st += TimeDelta::seconds(rng.range(120, 1800));
        status_id += 1;
        let desc = match final_state {
            "success" => "Deployment finished successfully.",
            "failure" => "Deployment failed.",
            _ => "Deployment errored.",
        };
        d.push_status(
            DeploymentStatus::new(status_id, final_state, st)
                .log_url(log)
                .environment_url(env_url)
                .description(desc),
        );
        if env == "production" && final_state != "success" && rng.chance(0.5) {
            let opened = st + minutes(rng.range(5, 60));
            let closed = opened + minutes(rng.range(30, 6 * 60));
            issues.push(
                Issue::new(
                    0,
                    format!("Incident: production deploy of {} failed", &sha[..7]),
                    "oncall-bot",
                    opened,
                )
                .label("incident")
                .close(closed),
            );
        }
        deployments.push(d);
    }
    if issues.is_empty() {
        if let Some(d) = deployments.iter().find(|d| d.production_environment) {
            let opened = d.updated_at + minutes(20);
            let i = Issue::new(
                0,
                "Incident: elevated error rate after deploy",
                "oncall-bot",
                opened,
            )
            .label("incident")
            .close(opened + TimeDelta::hours(2));
            issues.push(i);
        }
    }
    // A few ordinary bug reports.
    for k in 0..(n_prs / 50).max(1).min(n_prs) {
        let at = t0 + minutes(rng.range(60, (t - t0).num_minutes().max(61)));
        let title = format!("Bug: {} misbehaves ({k})", NOUNS[rng.below(NOUNS.len())]);
        let user = AUTHORS[rng.below(AUTHORS.len() - 1)];
        let mut i = Issue::new(0, title, user, at).label("bug");
        if rng.chance(0.7) {
            i = i.close(at + TimeDelta::hours(rng.range(1, 200)));
        }
        issues.push(i);
    }

    // Issues and pulls share one number sequence, in creation order.
    let mut order: Vec<(DateTime<Utc>, u8, usize, Numbered)> =
        Vec::with_capacity(pulls.len() + issues.len());
    for (i, p) in pulls.iter().enumerate() {
        order.push((p.created_at, 0, i, Numbered::Pull(i)));
    }
    for (i, is) in issues.iter().enumerate() {
        order.push((is.created_at, 1, i, Numbered::Issue(i)));
    }
    order.sort_by_key(|a| (a.0, a.1, a.2));
    for (n, (_, _, _, which)) in order.iter().enumerate() {
        let number = n as u64 + 1;
        match which {
            Numbered::Pull(i) => pulls[*i].number = number,
            Numbered::Issue(i) => issues[*i].number = number,
        }
    }
    for (i, msha, squash) in merge_msgs {
        let p = &pulls[i];
        let msg = if squash {
            format!("{} (#{})", p.title, p.number)
        } else {
            format!(
                "Merge pull request #{} from {}/{}\n\n{}",
                p.number, owner, p.head_ref, p.title
            )
        };
        if let Some(c) = repo.commits.get_mut(&msha) {
            c.message = msg;
        }
    }
    pulls.sort_by_key(|p| p.number);
    issues.sort_by_key(|i| i.number);
    if let Some((_, head)) = main_history.last() {
        repo.branches.insert("main".to_string(), head.clone());
    }
    repo.pulls = pulls;
    repo.deployments = deployments;
    repo.issues = issues;
    repo
}
