//! The local git connector: reads a clone on disk (work tree or bare) with
//! [gix] and turns its history into interchange events.
//!
//! - every commit reachable from the integration branch and from the
//!   deployment refs becomes a `commit` record;
//! - pull requests are recovered from commit messages: GitHub merge commits
//!   (`Merge pull request #123 from owner/branch`), bors merges
//!   (`Auto merge of #123 - ...`), GitLab merge commits
//!   (`See merge request group/project!123`) and squash subjects
//!   (`Some title (#123)`). Git knows nothing of reviews, so each such record
//!   carries `"reviews_known": false` in `extra`;
//! - deployments are tags matching a glob (`tags:v*`) or the first-parent
//!   commits of a branch (`branch:production`). With `[sources.services]`
//!   (monorepos) every deployment is split per service, listing only the
//!   commits that touched that service's paths.
//!
//! The connector never runs the `git` program.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use chrono::DateTime;
use flowmeter_connector::codeowners::{self, CodeOwners};
use flowmeter_connector::pr::subject;
pub use flowmeter_connector::pr::{recognise_pr, PrHint};
use flowmeter_connector::{Connector, ConnectorError, Cursor, SyncBatch, SyncContext};
use flowmeter_model::{
    Commit, Deployment, DeploymentKind, DeploymentStatus, Event, Extra, PullRequest, Timestamp,
};
use gix::objs::{CommitRef, ObjectRef};
use gix::prelude::FindExt;
use gix::ObjectId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Commits per [`SyncBatch`] unless `batch_size` says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 50_000;

/// A `[[sources]]` entry with `type = "git"`: a local clone.
///
/// ```toml
/// [[sources]]
/// type = "git"
/// path = "."                      # a local clone
/// repo = "acme/web"               # the name used in the store
/// branch = "main"                 # the integration branch
/// deployments = "tags:v*"         # or "branch:production"
/// environment = "production"
/// [sources.services]              # optional, monorepos
/// billing = ["services/billing/"]
/// search = ["services/search/", "libs/search-core/"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// Always `"git"`; accepted so the `[[sources]]` table can be passed as is.
    #[serde(rename = "type", default)]
    pub source_type: Option<String>,
    /// The source name stored with every record and cursor. Default: `git`.
    #[serde(default)]
    pub name: Option<String>,
    /// Path of a local clone: its work tree, its `.git` directory, or a bare
    /// repository.
    pub path: PathBuf,
    /// The repository name used in the store, e.g. `acme/web`; it must match
    /// the `repo` of pull requests and deployments from other sources.
    pub repo: String,
    /// The integration branch. Looked up as `refs/heads/<branch>`, then
    /// `refs/remotes/origin/<branch>`, then as given. Default: `main`.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// How production deployments show in the repository:
    /// `tags:<glob>`: every tag matching the glob is a deployment, finished at
    /// the tagger date of an annotated tag or the committer date of the
    /// commit a lightweight tag names; `branch:<name>`: every first-parent
    /// commit on that branch is a deployment, finished at its committer date.
    /// Absent: commits and pull requests only.
    #[serde(default)]
    pub deployments: Option<String>,
    /// Environment of the deployments. Default: `production`.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// Monorepos: service name -> path prefixes (relative to the repository
    /// root, e.g. `services/billing/`; a prefix is matched as a string, so
    /// `libs/search` also covers `libs/search-core/`). Each deployment is then
    /// emitted once per service whose paths it changed, with id
    /// `<service>@<tag or sha>` and an explicit `commits` list holding only
    /// the commits that touched the service. A deployment that changed
    /// nothing of a service is not emitted for it, so a release that leaves a
    /// service alone does not count as one of its deployments. Without
    /// services, the service of every deployment is `repo`.
    #[serde(default)]
    pub services: BTreeMap<String, Vec<String>>,
    /// Commits per batch; each batch is stored with its cursor, so a huge
    /// history streams and an interrupted first sync resumes. Default: 50000.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Record the paths each commit changed (against its first parent, at
    /// most 1,000 per commit) and their owners by the CODEOWNERS file at the
    /// integration branch's tip (`.github/`, the root, `docs/`, `.gitlab/`),
    /// so teams' `paths` and `owners` can claim a monorepo's changes.
    /// Default: false; it costs a tree diff per commit (git/git's 82,000
    /// commits: 2.9 s without, about 36 s with).
    #[serde(default)]
    pub files: bool,
}

fn default_branch() -> String {
    "main".into()
}

fn default_environment() -> String {
    "production".into()
}

#[derive(Debug, Clone)]
enum DeployMode {
    None,
    Tags(globset::GlobMatcher),
    Branch(String),
}

/// A service path prefix split into the directory to descend into and the
/// start of the entry names to compare there.
#[derive(Debug, Clone)]
struct Prefix {
    dir: Vec<Vec<u8>>,
    rest: Vec<u8>,
}

impl Prefix {
    fn parse(raw: &str) -> Prefix {
        let mut p = raw.trim();
        while let Some(s) = p.strip_prefix("./") {
            p = s;
        }
        let p = p.trim_start_matches('/');
        let (dir, rest) = match p.rfind('/') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => ("", p),
        };
        Prefix {
            dir: dir
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(|c| c.as_bytes().to_vec())
                .collect(),
            rest: rest.as_bytes().to_vec(),
        }
    }
}

/// The cursor: what the last completed sync saw, plus the progress of an
/// unfinished one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    /// Commit tips whose whole history has been emitted.
    #[serde(default)]
    tips: Vec<String>,
    /// Deployment tags already emitted: name -> commit.
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// `branch:` mode: the deployment branch tip already emitted.
    #[serde(default)]
    deploy_tips: Vec<String>,
    /// Deployment settings the emitted deployments were computed with; a
    /// change re-emits them.
    #[serde(default)]
    fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    tips: Vec<String>,
    emitted: usize,
}

struct Plan {
    ids: Vec<ObjectId>,
    next: usize,
    tips: Vec<ObjectId>,
    prs_seen: HashSet<i64>,
    /// The CODEOWNERS file of the integration branch's tip, if any.
    owners: Option<CodeOwners>,
}

/// Paths kept per commit record; the owners are those of all its paths.
pub const MAX_FILES: usize = 1000;

/// What a commit changed: its paths (at most [`MAX_FILES`]), their owners,
/// and how many paths there were when more than that.
#[derive(Default)]
struct Code {
    files: Option<Vec<String>>,
    owners: Option<Vec<String>>,
    total: Option<usize>,
}

/// Reads a local clone; see [`GitConfig`].
pub struct GitConnector {
    config: GitConfig,
    name: String,
    mode: DeployMode,
    services: Vec<(String, Vec<Prefix>)>,
    repo: Option<gix::Repository>,
    plan: Option<Plan>,
    full_started: bool,
}

impl std::fmt::Debug for GitConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitConnector")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

type Result<T> = std::result::Result<T, ConnectorError>;

fn ts(seconds: i64) -> Timestamp {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

fn hex(id: &gix::oid) -> String {
    id.to_hex().to_string()
}

fn person(name: &[u8], email: &[u8]) -> Option<String> {
    let name = String::from_utf8_lossy(name).trim().to_string();
    let email = String::from_utf8_lossy(email).trim().to_string();
    match (name.is_empty(), email.is_empty()) {
        (true, true) => None,
        (false, true) => Some(name),
        (true, false) => Some(format!("<{email}>")),
        (false, false) => Some(format!("{name} <{email}>")),
    }
}

/// The owned facts of one decoded commit.
struct CommitFacts {
    parents: Vec<ObjectId>,
    author_secs: i64,
    committer_secs: i64,
    author: Option<String>,
    message: String,
}

fn facts(c: &CommitRef<'_>) -> std::result::Result<CommitFacts, String> {
    let author = c.author().map_err(|e| e.to_string())?;
    let committer = c.committer().map_err(|e| e.to_string())?;
    Ok(CommitFacts {
        parents: c.parents().collect(),
        author_secs: author.seconds(),
        committer_secs: committer.seconds(),
        author: person(author.name, author.email),
        message: String::from_utf8_lossy(c.message).into_owned(),
    })
}

type Entries = Vec<(Vec<u8>, gix::objs::tree::EntryMode, ObjectId)>;

/// Git's order of tree entries: by name, a tree's name read as if it ended
/// in `/` (so `a.c` < `a/` < `a0`), as `git` writes trees.
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let end = |name: &[u8], tree: bool| name.get(n).copied().or(tree.then_some(b'/'));
        end(a, a_tree).cmp(&end(b, b_tree))
    })
}

/// Decompressed trees by id, kept while walking one deployment's commits.
type TreeCache = HashMap<ObjectId, Vec<u8>>;

/// Trees kept in a [`TreeCache`] before it is emptied.
const TREE_CACHE_ENTRIES: usize = 256;

struct TagInfo {
    name: String,
    commit: ObjectId,
    secs: i64,
    actor: Option<String>,
    annotated: bool,
}

impl GitConnector {
    /// Checks the configuration (deployment rule, service prefixes); the
    /// repository itself is opened on the first sync.
    pub fn new(config: GitConfig) -> Result<Self> {
        let name = config.name.clone().unwrap_or_else(|| "git".to_string());
        let cfg_err = |message: String| ConnectorError::Config {
            source_name: name.clone(),
            message,
        };
        if config.repo.trim().is_empty() {
            return Err(cfg_err("`repo` must name the repository".into()));
        }
        if config.branch.trim().is_empty() {
            return Err(cfg_err("`branch` must not be empty".into()));
        }
        let mode = match config.deployments.as_deref().map(str::trim) {
            None | Some("") => DeployMode::None,
            Some(spec) => {
                if let Some(glob) = spec.strip_prefix("tags:") {
                    let glob = globset::Glob::new(glob.trim()).map_err(|e| {
                        cfg_err(format!("`deployments = \"{spec}\"`: bad tag glob: {e}"))
                    })?;
                    DeployMode::Tags(glob.compile_matcher())
                } else if let Some(branch) = spec.strip_prefix("branch:") {
                    let branch = branch.trim();
                    if branch.is_empty() {
                        return Err(cfg_err(format!(
                            "`deployments = \"{spec}\"`: name the branch, e.g. `branch:production`"
                        )));
                    }
                    DeployMode::Branch(branch.to_string())
                } else {
                    return Err(cfg_err(format!(
                        "`deployments = \"{spec}\"`: expected `tags:<glob>` or `branch:<name>`"
                    )));
                }
            }
        };
        let mut services = Vec::new();
        for (service, prefixes) in &config.services {
            if prefixes.is_empty() {
                return Err(cfg_err(format!(
                    "service `{service}` lists no path prefixes"
                )));
            }
            services.push((
                service.clone(),
                prefixes.iter().map(|p| Prefix::parse(p)).collect(),
            ));
        }
        if !services.is_empty() && matches!(mode, DeployMode::None) {
            return Err(cfg_err(
                "`services` needs `deployments` (tags:<glob> or branch:<name>)".into(),
            ));
        }
        Ok(GitConnector {
            config,
            name,
            mode,
            services,
            repo: None,
            plan: None,
            full_started: false,
        })
    }

    fn err(&self, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Other {
            source_name: self.name.clone(),
            message: format!("{}: {message}", self.config.path.display()),
        }
    }

    fn fingerprint(&self) -> String {
        let mut s = format!(
            "{}|{}",
            self.config.deployments.as_deref().unwrap_or(""),
            self.config.environment
        );
        for (service, prefixes) in &self.config.services {
            s.push_str(&format!("|{service}={}", prefixes.join(",")));
        }
        s
    }

    fn repo(&self) -> &gix::Repository {
        self.repo.as_ref().expect("repository opened")
    }

    fn open(&mut self) -> Result<()> {
        if self.repo.is_none() {
            // Git's own delta base cache (96 MiB): the tree diffs of
            // `files` resolve each tree's delta chain (a first sync of
            // git/git with `files`: 47 -> 38 s).
            let options =
                gix::open::Options::default().config_overrides(["core.deltaBaseCacheLimit=96m"]);
            let mut repo =
                gix::open_opts(&self.config.path, options).map_err(|e| ConnectorError::Config {
                    source_name: self.name.clone(),
                    message: format!(
                        "cannot open git repository `{}`: {e}",
                        self.config.path.display()
                    ),
                })?;
            repo.object_cache_size_if_unset(16 * 1024 * 1024);
            self.repo = Some(repo);
        }
        Ok(())
    }

    fn resolve_branch(&self, branch: &str) -> Result<ObjectId> {
        let repo = self.repo();
        let candidates = [
            format!("refs/heads/{branch}"),
            format!("refs/remotes/origin/{branch}"),
            branch.to_string(),
        ];
        for cand in &candidates {
            if let Ok(Some(mut r)) = repo.try_find_reference(cand.as_str()) {
                let commit = r
                    .peel_to_commit()
                    .map_err(|e| self.err(format!("branch `{branch}`: {e}")))?;
                return Ok(commit.id);
            }
        }
        Err(ConnectorError::Config {
            source_name: self.name.clone(),
            message: format!(
                "branch `{branch}` not found in `{}` (looked for refs/heads/{branch} and refs/remotes/origin/{branch})",
                self.config.path.display()
            ),
        })
    }

    fn decode(&self, id: &gix::oid, buf: &mut Vec<u8>) -> Result<CommitFacts> {
        let c = self
            .repo()
            .objects
            .find_commit(id, buf)
            .map_err(|e| self.err(format!("commit {id}: {e}")))?;
        facts(&c).map_err(|e| self.err(format!("commit {id}: {e}")))
    }

    fn parents(&self, id: &gix::oid, buf: &mut Vec<u8>) -> Result<Vec<ObjectId>> {
        let it = self
            .repo()
            .objects
            .find_commit_iter(id, buf)
            .map_err(|e| self.err(format!("commit {id}: {e}")))?;
        Ok(it.parent_ids().collect())
    }

    /// Tags matching `matcher`, peeled to commits, ordered by deployment time.
    fn matching_tags(
        &self,
        matcher: &globset::GlobMatcher,
        notes: &mut Vec<String>,
    ) -> Result<Vec<TagInfo>> {
        let repo = self.repo();
        let platform = repo
            .references()
            .map_err(|e| self.err(format!("listing references: {e}")))?;
        let iter = platform
            .tags()
            .map_err(|e| self.err(format!("listing tags: {e}")))?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for r in iter {
            let r = r.map_err(|e| self.err(format!("reading a tag: {e}")))?;
            let name = r.name().shorten().to_string();
            if !matcher.is_match(&name) {
                continue;
            }
            let Some(mut id) = r.target().try_id().map(|i| i.to_owned()) else {
                continue;
            };
            let mut tagger: Option<(i64, Option<String>)> = None;
            let mut resolved = None;
            for _ in 0..16 {
                let data = repo
                    .objects
                    .find(&id, &mut buf)
                    .map_err(|e| self.err(format!("tag `{name}`: {e}")))?;
                match data
                    .decode()
                    .map_err(|e| self.err(format!("tag `{name}`: {e}")))?
                {
                    ObjectRef::Tag(t) => {
                        if tagger.is_none() {
                            if let Ok(Some(sig)) = t.tagger() {
                                tagger = Some((sig.seconds(), person(sig.name, sig.email)));
                            }
                        }
                        id = t.target();
                    }
                    ObjectRef::Commit(c) => {
                        let secs = c
                            .committer()
                            .map_err(|e| self.err(format!("tag `{name}`: {e}")))?
                            .seconds();
                        resolved = Some(secs);
                        break;
                    }
                    _ => break,
                }
            }
            let Some(commit_secs) = resolved else {
                notes.push(format!(
                    "tag `{name}` does not name a commit; not a deployment"
                ));
                continue;
            };
            let annotated = tagger.is_some();
            let (secs, actor) = tagger.unwrap_or((commit_secs, None));
            out.push(TagInfo {
                name,
                commit: id,
                secs,
                actor,
                annotated,
            });
        }
        out.sort_by(|a, b| a.secs.cmp(&b.secs).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Branch tip plus deployment refs: the tips whose history is emitted.
    fn current_tips(&self, notes: &mut Vec<String>) -> Result<Vec<ObjectId>> {
        let mut tips = vec![self.resolve_branch(&self.config.branch)?];
        match &self.mode {
            DeployMode::None => {}
            DeployMode::Tags(m) => {
                tips.extend(self.matching_tags(m, notes)?.into_iter().map(|t| t.commit))
            }
            DeployMode::Branch(b) => tips.push(self.resolve_branch(b)?),
        }
        tips.sort();
        tips.dedup();
        Ok(tips)
    }

    fn parse_ids(&self, shas: &[String]) -> Vec<ObjectId> {
        shas.iter()
            .filter_map(|s| ObjectId::from_hex(s.as_bytes()).ok())
            .filter(|id| self.repo().has_object(id))
            .collect()
    }

    /// Commits reachable from `tips` and not from `hidden`.
    fn walk(&self, tips: &[ObjectId], hidden: &[ObjectId]) -> Result<Vec<ObjectId>> {
        if tips.is_empty() {
            return Ok(Vec::new());
        }
        let mut platform = self.repo().rev_walk(tips.iter().copied());
        if !hidden.is_empty() {
            platform = platform.with_hidden(hidden.iter().copied());
        }
        let walk = platform
            .all()
            .map_err(|e| self.err(format!("walking history: {e}")))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| self.err(format!("walking history: {e}")))?;
            out.push(info.id);
        }
        Ok(out)
    }

    /// Commits reachable from `start` and not in `seen`; adds them to `seen`.
    fn walk_new(
        &self,
        start: ObjectId,
        seen: &mut HashSet<ObjectId>,
        buf: &mut Vec<u8>,
    ) -> Result<Vec<ObjectId>> {
        let mut out = Vec::new();
        if !seen.insert(start) {
            return Ok(out);
        }
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            out.push(id);
            for p in self.parents(&id, buf)? {
                if seen.insert(p) {
                    stack.push(p);
                }
            }
        }
        Ok(out)
    }

    /// The raw data of a tree, decompressed once while it stays in `raw`.
    fn tree_data<'m>(&self, tree: ObjectId, raw: &'m mut TreeCache) -> Result<&'m [u8]> {
        if !raw.contains_key(&tree) {
            if raw.len() >= TREE_CACHE_ENTRIES {
                raw.clear();
            }
            let mut data = Vec::new();
            self.repo()
                .objects
                .find_tree_iter(&tree, &mut data)
                .map_err(|e| self.err(format!("tree {tree}: {e}")))?;
            raw.insert(tree, data);
        }
        Ok(&raw[&tree])
    }

    fn entries<'d>(&self, data: &'d [u8]) -> gix::objs::TreeRefIter<'d> {
        gix::objs::TreeRefIter::from_bytes(data, self.repo().object_hash())
    }

    /// Every entry of a tree's data, borrowing it.
    fn entry_list<'d>(
        &self,
        data: &'d [u8],
        tree: Option<ObjectId>,
    ) -> Result<Vec<gix::objs::tree::EntryRef<'d>>> {
        self.entries(data)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(format!("tree {tree:?}: {e}")))
    }

    /// The subtree `name` of `tree`, if there is one.
    fn child(&self, tree: ObjectId, name: &[u8], raw: &mut TreeCache) -> Result<Option<ObjectId>> {
        for entry in self.entries(self.tree_data(tree, raw)?) {
            let entry = entry.map_err(|e| self.err(format!("tree {tree}: {e}")))?;
            if entry.filename == name {
                return Ok(entry.mode.is_tree().then(|| entry.oid.to_owned()));
            }
        }
        Ok(None)
    }

    /// The entries of `tree` whose names start with `rest`.
    fn prefixed_entries(
        &self,
        tree: Option<ObjectId>,
        rest: &[u8],
        raw: &mut TreeCache,
    ) -> Result<Entries> {
        let mut out = Vec::new();
        if let Some(tree) = tree {
            for entry in self.entries(self.tree_data(tree, raw)?) {
                let entry = entry.map_err(|e| self.err(format!("tree {tree}: {e}")))?;
                if entry.filename.starts_with(rest) {
                    out.push((entry.filename.to_vec(), entry.mode, entry.oid.to_owned()));
                }
            }
        }
        Ok(out)
    }

    /// Did going from `parent` to `tree` change anything under `prefix`?
    /// Descends both trees together and stops where they agree.
    fn touches(
        &self,
        tree: ObjectId,
        parent: Option<ObjectId>,
        prefix: &Prefix,
        raw: &mut TreeCache,
    ) -> Result<bool> {
        let (mut a, mut b) = (Some(tree), parent);
        for comp in &prefix.dir {
            if a == b {
                return Ok(false);
            }
            a = match a {
                Some(t) => self.child(t, comp, raw)?,
                None => None,
            };
            b = match b {
                Some(t) => self.child(t, comp, raw)?,
                None => None,
            };
        }
        if a == b {
            return Ok(false);
        }
        if prefix.rest.is_empty() {
            return Ok(true);
        }
        Ok(self.prefixed_entries(a, &prefix.rest, raw)?
            != self.prefixed_entries(b, &prefix.rest, raw)?)
    }

    /// For each configured service, the subset of `commits` that changed its
    /// paths (each commit compared with its first parent).
    fn split_by_service(
        &self,
        commits: &[ObjectId],
        raw: &mut TreeCache,
        buf: &mut Vec<u8>,
    ) -> Result<Vec<Vec<ObjectId>>> {
        let mut per_service = vec![Vec::new(); self.services.len()];
        for id in commits {
            let (tree, parent) = self.tree_and_first_parent(id, buf)?;
            let parent_tree = match parent {
                Some(p) => Some(self.tree_and_first_parent(&p, buf)?.0),
                None => None,
            };
            if parent_tree == Some(tree) {
                continue;
            }
            for (i, (_, prefixes)) in self.services.iter().enumerate() {
                for prefix in prefixes {
                    if self.touches(tree, parent_tree, prefix, raw)? {
                        per_service[i].push(*id);
                        break;
                    }
                }
            }
        }
        Ok(per_service)
    }

    fn tree_and_first_parent(
        &self,
        id: &gix::oid,
        buf: &mut Vec<u8>,
    ) -> Result<(ObjectId, Option<ObjectId>)> {
        let mut it = self
            .repo()
            .objects
            .find_commit_iter(id, buf)
            .map_err(|e| self.err(format!("commit {id}: {e}")))?;
        let tree = it
            .tree_id()
            .map_err(|e| self.err(format!("commit {id}: {e}")))?;
        Ok((tree, it.parent_ids().next()))
    }

    /// The paths that differ between two trees (`None`: the empty tree),
    /// with `dir` before each. Both trees' entries are walked together in
    /// git's order (no copy of a name unless it differs), and only
    /// subtrees whose ids differ are entered: git/git's 82,000 commits in
    /// seconds, where a map of every entry took 82 s.
    fn diff_paths(
        &self,
        a: Option<ObjectId>,
        b: Option<ObjectId>,
        dir: &mut Vec<u8>,
        raw: &mut TreeCache,
        out: &mut Vec<String>,
    ) -> Result<()> {
        if a == b {
            return Ok(());
        }
        let data = |t: Option<ObjectId>, raw: &mut TreeCache| -> Result<Vec<u8>> {
            Ok(match t {
                Some(t) => self.tree_data(t, raw)?.to_vec(),
                None => Vec::new(),
            })
        };
        let (da, db) = (data(a, raw)?, data(b, raw)?);
        let (ea, eb) = (self.entry_list(&da, a)?, self.entry_list(&db, b)?);
        // Subtrees to enter once this level is done: (name, a's, b's).
        let mut enter: Vec<(Vec<u8>, Option<ObjectId>, Option<ObjectId>)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < ea.len() || j < eb.len() {
            let order = match (ea.get(i), eb.get(j)) {
                (Some(x), Some(y)) => {
                    git_order(x.filename, x.mode.is_tree(), y.filename, y.mode.is_tree())
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (x, y) = match order {
                std::cmp::Ordering::Less => (ea.get(i), None),
                std::cmp::Ordering::Greater => (None, eb.get(j)),
                std::cmp::Ordering::Equal => (ea.get(i), eb.get(j)),
            };
            i += usize::from(x.is_some());
            j += usize::from(y.is_some());
            if let (Some(x), Some(y)) = (x, y) {
                if x.oid == y.oid && x.mode == y.mode {
                    continue;
                }
            }
            let name: &[u8] = x.or(y).map(|e| e.filename.as_ref()).unwrap_or_default();
            let tree = |e: Option<&gix::objs::tree::EntryRef<'_>>| {
                e.filter(|e| e.mode.is_tree()).map(|e| e.oid.to_owned())
            };
            if x.or(y).is_some_and(|e| !e.mode.is_tree()) {
                let mut path = dir.clone();
                path.extend_from_slice(name);
                out.push(String::from_utf8_lossy(&path).into_owned());
            } else {
                enter.push((name.to_vec(), tree(x), tree(y)));
            }
        }
        for (name, ta, tb) in enter {
            let len = dir.len();
            dir.extend_from_slice(&name);
            dir.push(b'/');
            self.diff_paths(ta, tb, dir, raw, out)?;
            dir.truncate(len);
        }
        Ok(())
    }

    /// The CODEOWNERS file of `tip`'s tree, first found of
    /// [`codeowners::ANY_LOCATIONS`]; its skipped lines become notes.
    fn read_codeowners(
        &self,
        tip: ObjectId,
        notes: &mut Vec<String>,
    ) -> Result<Option<CodeOwners>> {
        let mut buf = Vec::new();
        let (root, _) = self.tree_and_first_parent(&tip, &mut buf)?;
        let mut raw = TreeCache::new();
        for location in codeowners::ANY_LOCATIONS {
            let (dirs, file) = location.rsplit_once('/').unwrap_or(("", location));
            let mut at = Some(root);
            for d in dirs.split('/').filter(|d| !d.is_empty()) {
                at = match at {
                    Some(t) => self.child(t, d.as_bytes(), &mut raw)?,
                    None => None,
                };
            }
            let blob = self
                .prefixed_entries(at, file.as_bytes(), &mut raw)?
                .into_iter()
                .find(|(name, mode, _)| name == file.as_bytes() && !mode.is_tree());
            let Some((_, _, oid)) = blob else { continue };
            let mut data = Vec::new();
            let text = self
                .repo()
                .objects
                .find_blob(&oid, &mut data)
                .map_err(|e| self.err(format!("{location}: {e}")))?
                .data;
            let (owners, skipped) = CodeOwners::parse(&String::from_utf8_lossy(text));
            for s in skipped {
                notes.push(format!("{location} line {}: skipped, {}", s.line, s.reason));
            }
            notes.push(format!(
                "code owners from `{location}` at the tip of `{}`",
                self.config.branch
            ));
            return Ok(Some(owners));
        }
        Ok(None)
    }

    /// The paths `id` changed against its first parent (at most
    /// [`MAX_FILES`]) and their owners, or `None`s when `files = false`.
    fn files_and_owners(
        &self,
        id: &gix::oid,
        owners: Option<&CodeOwners>,
        raw: &mut TreeCache,
        buf: &mut Vec<u8>,
    ) -> Result<Code> {
        if !self.config.files {
            return Ok(Code::default());
        }
        let (tree, parent) = self.tree_and_first_parent(id, buf)?;
        let parent_tree = match parent {
            Some(p) => Some(self.tree_and_first_parent(&p, buf)?.0),
            None => None,
        };
        let mut paths = Vec::new();
        self.diff_paths(Some(tree), parent_tree, &mut Vec::new(), raw, &mut paths)?;
        paths.sort_unstable();
        let owned = owners.map(|o| o.owners_of_all(paths.iter().map(String::as_str)));
        let total = paths.len();
        paths.truncate(MAX_FILES);
        Ok(Code {
            files: Some(paths),
            owners: owned,
            total: (total > MAX_FILES).then_some(total),
        })
    }

    fn commit_events(
        &self,
        ids: &[ObjectId],
        prs_seen: &mut HashSet<i64>,
        code_owners: Option<&CodeOwners>,
    ) -> Result<(Vec<Event>, usize)> {
        let mut events = Vec::with_capacity(ids.len() + ids.len() / 8);
        let mut buf = Vec::new();
        let mut buf2 = Vec::new();
        let mut raw = TreeCache::new();
        let mut prs = 0;
        for id in ids {
            let Code {
                files,
                owners,
                total,
            } = self.files_and_owners(id, code_owners, &mut raw, &mut buf)?;
            let f = self.decode(id, &mut buf)?;
            let sha = hex(id);
            let subj = subject(&f.message).to_string();
            if let Some(hint) = recognise_pr(&f.message) {
                let number = match &hint {
                    PrHint::Merge { number, .. } | PrHint::Squash { number, .. } => *number,
                };
                if prs_seen.insert(number) {
                    let mut pr = self.pull_request(hint, &sha, &f, &subj, &mut buf2)?;
                    // What the merge (or squash) brought to the branch.
                    (pr.files, pr.owners) = (files.clone(), owners.clone());
                    events.push(Event::PullRequest(pr));
                    prs += 1;
                }
            }
            let mut extra = Extra::new();
            if let Some(total) = total {
                extra.insert("files_total".into(), Value::from(total));
            }
            events.push(Event::Commit(Commit {
                source: self.name.clone(),
                repo: self.config.repo.clone(),
                sha,
                parents: Some(f.parents.iter().map(|p| hex(p)).collect()),
                authored_at: ts(f.author_secs),
                committed_at: Some(ts(f.committer_secs)),
                author: f.author,
                message: Some(subj),
                extra,
                files,
                owners,
            }));
        }
        Ok((events, prs))
    }

    fn pull_request(
        &self,
        hint: PrHint,
        sha: &str,
        f: &CommitFacts,
        subj: &str,
        buf: &mut Vec<u8>,
    ) -> Result<PullRequest> {
        let mut extra = Extra::new();
        extra.insert("reviews_known".into(), Value::Bool(false));
        let mut pr = PullRequest {
            source: self.name.clone(),
            repo: self.config.repo.clone(),
            number: 0,
            title: None,
            author: None,
            base: None,
            head: None,
            labels: Vec::new(),
            created_at: ts(f.author_secs),
            ready_at: None,
            merged_at: Some(ts(f.committer_secs)),
            closed_at: None,
            merge_commit_sha: Some(sha.to_string()),
            commits: None,
            first_commit_at: None,
            additions: None,
            deletions: None,
            extra,
            files: None,
            owners: None,
        };
        match hint {
            PrHint::Squash { number, title } => {
                pr.number = number;
                pr.title = Some(title);
                pr.author = f.author.clone();
                pr.first_commit_at = Some(ts(f.author_secs));
                pr.extra
                    .insert("recovered_from".into(), "squash_subject".into());
            }
            PrHint::Merge {
                number,
                title,
                head,
            } => {
                pr.number = number;
                pr.title = Some(title.unwrap_or_else(|| subj.to_string()));
                pr.head = head;
                pr.extra
                    .insert("recovered_from".into(), "merge_commit".into());
                if f.parents.len() >= 2 {
                    let commits = self.walk(&f.parents[1..], &f.parents[..1])?;
                    let mut earliest: Option<i64> = None;
                    for (i, c) in commits.iter().enumerate() {
                        let cf = self.decode(c, buf)?;
                        if i == 0 {
                            pr.author = cf.author.clone();
                        }
                        earliest = Some(earliest.map_or(cf.author_secs, |e| e.min(cf.author_secs)));
                    }
                    if let Some(e) = earliest {
                        pr.created_at = ts(e);
                        pr.first_commit_at = Some(ts(e));
                    }
                    pr.commits = Some(commits.iter().map(|c| hex(c)).collect());
                }
            }
        }
        Ok(pr)
    }

    #[allow(clippy::too_many_arguments)]
    fn deployment(
        &self,
        id: String,
        service: String,
        commit: &ObjectId,
        secs: i64,
        commits: Option<Vec<String>>,
        actor: Option<String>,
        git_ref: String,
        extra: Extra,
    ) -> Event {
        Event::Deployment(Deployment {
            source: self.name.clone(),
            id,
            service,
            repo: Some(self.config.repo.clone()),
            environment: self.config.environment.clone(),
            status: DeploymentStatus::Success,
            started_at: None,
            finished_at: Some(ts(secs)),
            commit_sha: hex(commit),
            commits,
            kind: DeploymentKind::Regular,
            actor,
            url: None,
            git_ref: Some(git_ref),
            labels: Vec::new(),
            extra,
        })
    }

    /// One deployment, or one per touched service.
    #[allow(clippy::too_many_arguments)]
    fn emit_deployment(
        &self,
        events: &mut Vec<Event>,
        key: &str,
        commit: ObjectId,
        secs: i64,
        actor: Option<String>,
        git_ref: &str,
        extra: Extra,
        seen: &mut HashSet<ObjectId>,
        memo: &mut TreeCache,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if self.services.is_empty() {
            events.push(self.deployment(
                key.to_string(),
                self.config.repo.clone(),
                &commit,
                secs,
                None,
                actor,
                git_ref.to_string(),
                extra,
            ));
            return Ok(());
        }
        let brought = self.walk_new(commit, seen, buf)?;
        let split = self.split_by_service(&brought, memo, buf)?;
        for ((service, _), commits) in self.services.iter().zip(split) {
            if commits.is_empty() {
                continue;
            }
            events.push(self.deployment(
                format!("{service}@{key}"),
                service.clone(),
                &commit,
                secs,
                Some(commits.iter().map(|c| hex(c)).collect()),
                actor.clone(),
                git_ref.to_string(),
                extra.clone(),
            ));
        }
        Ok(())
    }

    /// Deployments not yet emitted; updates the deployment part of `state`.
    fn deployment_events(&self, state: &mut State, notes: &mut Vec<String>) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut buf = Vec::new();
        let mut memo = HashMap::new();
        match &self.mode {
            DeployMode::None => {}
            DeployMode::Tags(matcher) => {
                let tags = self.matching_tags(matcher, notes)?;
                let new: Vec<&TagInfo> = tags
                    .iter()
                    .filter(|t| state.tags.get(&t.name) != Some(&hex(&t.commit)))
                    .collect();
                let mut seen = HashSet::new();
                if !new.is_empty() && !self.services.is_empty() {
                    let old: Vec<String> = state.tags.values().cloned().collect();
                    let old = self.parse_ids(&old);
                    seen.extend(self.walk(&old, &[])?);
                }
                for t in new {
                    let mut extra = Extra::new();
                    extra.insert("tag".into(), Value::String(t.name.clone()));
                    extra.insert("annotated".into(), Value::Bool(t.annotated));
                    self.emit_deployment(
                        &mut events,
                        &t.name,
                        t.commit,
                        t.secs,
                        t.actor.clone(),
                        &t.name,
                        extra,
                        &mut seen,
                        &mut memo,
                        &mut buf,
                    )?;
                }
                state.tags = tags
                    .iter()
                    .map(|t| (t.name.clone(), hex(&t.commit)))
                    .collect();
            }
            DeployMode::Branch(branch) => {
                let tip = self.resolve_branch(branch)?;
                let old = self.parse_ids(&state.deploy_tips);
                if old != [tip] {
                    let mut seen: HashSet<ObjectId> = self.walk(&old, &[])?.into_iter().collect();
                    let mut chain = Vec::new();
                    let mut cur = Some(tip);
                    while let Some(c) = cur {
                        if seen.contains(&c) {
                            break;
                        }
                        chain.push(c);
                        cur = self.parents(&c, &mut buf)?.first().copied();
                    }
                    chain.reverse();
                    for c in chain {
                        let f = self.decode(&c, &mut buf)?;
                        let sha = hex(&c);
                        self.emit_deployment(
                            &mut events,
                            &sha,
                            c,
                            f.committer_secs,
                            None,
                            branch,
                            Extra::new(),
                            &mut seen,
                            &mut memo,
                            &mut buf,
                        )?;
                    }
                }
                state.deploy_tips = vec![hex(&tip)];
            }
        }
        Ok(events)
    }

    /// One step of a sync; see [`Connector::next_batch`].
    pub fn sync_step(
        &mut self,
        ctx: &SyncContext,
        cursor: Option<&Cursor>,
    ) -> Result<Option<SyncBatch>> {
        let ignore_cursor = ctx.full && !self.full_started;
        self.full_started |= ctx.full;
        let old_state = match cursor {
            Some(Cursor(v)) if !ignore_cursor && !v.is_null() => {
                serde_json::from_value::<State>(v.clone()).map_err(|e| ConnectorError::Other {
                    source_name: self.name.clone(),
                    message: format!("stored cursor is unreadable ({e}); run the sync with --full"),
                })?
            }
            _ => State::default(),
        };
        let mut state = old_state.clone();
        let fingerprint = self.fingerprint();
        if state.fingerprint != fingerprint {
            state.tags.clear();
            state.deploy_tips.clear();
        }
        self.open()?;
        let mut notes = Vec::new();

        // Reuse the plan only when the cursor is the one this plan produced.
        let plan_matches = match (&self.plan, &state.pending) {
            (Some(plan), Some(p)) => {
                plan.next == p.emitted
                    && p.tips == plan.tips.iter().map(|t| hex(t)).collect::<Vec<_>>()
            }
            _ => false,
        };
        if !plan_matches {
            let (tips, skip) = match &state.pending {
                Some(p) => (self.parse_ids(&p.tips), p.emitted),
                None => (self.current_tips(&mut notes)?, 0),
            };
            let hidden = self.parse_ids(&state.tips);
            let ids = if tips == hidden {
                Vec::new()
            } else {
                self.walk(&tips, &hidden)?
            };
            let owners = if self.config.files && !ids.is_empty() {
                let tip = self.resolve_branch(&self.config.branch)?;
                self.read_codeowners(tip, &mut notes)?
            } else {
                None
            };
            self.plan = Some(Plan {
                next: skip.min(ids.len()),
                ids,
                tips,
                prs_seen: HashSet::new(),
                owners,
            });
        }
        let batch_size = self.config.batch_size.unwrap_or(DEFAULT_BATCH_SIZE).max(1);
        let mut plan = self.plan.take().expect("plan set");
        let end = (plan.next + batch_size).min(plan.ids.len());
        let (mut events, prs) = self.commit_events(
            &plan.ids[plan.next..end],
            &mut plan.prs_seen,
            plan.owners.as_ref(),
        )?;
        let commits = end - plan.next;
        plan.next = end;
        if prs > 0 {
            notes.push(format!(
                "{prs} pull requests recovered from merge/squash commit messages; git has no review data for them"
            ));
        }
        let tips: Vec<String> = plan.tips.iter().map(|t| hex(t)).collect();
        if end < plan.ids.len() {
            state.pending = Some(Pending { tips, emitted: end });
            self.plan = Some(plan);
            return Ok(Some(SyncBatch {
                events,
                cursor: Cursor(serde_json::to_value(&state).expect("cursor serialises")),
                requests: 0,
                notes,
                withdrawn: Vec::new(),
            }));
        }
        let deployments = self.deployment_events(&mut state, &mut notes)?;
        let deployment_count = deployments.len();
        events.extend(deployments);
        state.tips = tips;
        state.pending = None;
        state.fingerprint = fingerprint;
        if events.is_empty() && state == old_state && cursor.is_some() && !ignore_cursor {
            return Ok(None);
        }
        if commits > 0 || deployment_count > 0 {
            notes.push(format!(
                "{commits} commits, {deployment_count} deployments from `{}`",
                self.config.path.display()
            ));
        }
        Ok(Some(SyncBatch {
            events,
            cursor: Cursor(serde_json::to_value(&state).expect("cursor serialises")),
            requests: 0,
            notes,
            withdrawn: Vec::new(),
        }))
    }
}

#[async_trait::async_trait]
impl Connector for GitConnector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_batch(
        &mut self,
        ctx: &SyncContext,
        cursor: Option<&Cursor>,
    ) -> Result<Option<SyncBatch>> {
        self.sync_step(ctx, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_github_merge() {
        let m = "Merge pull request #12 from x/y\n\nAdd the thing\n";
        assert_eq!(
            recognise_pr(m),
            Some(PrHint::Merge {
                number: 12,
                title: Some("Add the thing".into()),
                head: Some("x/y".into())
            })
        );
    }

    #[test]
    fn recognises_squash_and_bors_and_gitlab() {
        assert_eq!(
            recognise_pr("Fix bug (#34)\n\nbody"),
            Some(PrHint::Squash {
                number: 34,
                title: "Fix bug".into()
            })
        );
        assert!(matches!(
            recognise_pr("Auto merge of #99 - a:b, r=c\n\nTitle"),
            Some(PrHint::Merge { number: 99, .. })
        ));
        assert!(matches!(
            recognise_pr("Merge branch 'feat' into 'main'\n\nTitle\n\nSee merge request g/p!7\n"),
            Some(PrHint::Merge { number: 7, .. })
        ));
        assert_eq!(recognise_pr("Fix (#abc)"), None);
        assert_eq!(recognise_pr("Plain commit"), None);
    }

    #[test]
    fn prefix_split() {
        let p = Prefix::parse("services/billing/");
        assert_eq!(p.dir, vec![b"services".to_vec(), b"billing".to_vec()]);
        assert!(p.rest.is_empty());
        let p = Prefix::parse("./libs/search");
        assert_eq!(p.dir, vec![b"libs".to_vec()]);
        assert_eq!(p.rest, b"search".to_vec());
    }
}
