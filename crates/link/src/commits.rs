//! Commits as integers: each repository's [`Graph`] gives the commits it
//! names a position, and a sha it does not name (a deployed or listed
//! commit with no record) gets the next free one. Everything the link
//! keeps per commit is a [`CommitId`], 8 bytes, and its sha is read back
//! only when a row is written.

use foldhash::{HashMap, HashMapExt};

use crate::graph::Graph;
use crate::Micros;

/// A repository, by position: [`Repos::NONE`] stands for "no repository"
/// (a deployment whose repo nothing names).
pub type RepoId = u32;

/// A commit of a repository: its position in the repository's graph, or
/// past it for a sha the graph does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId {
    pub repo: RepoId,
    pub pos: u32,
}

/// One repository's commits: its graph and the shas it does not name.
#[derive(Default)]
struct Repo {
    graph: Graph,
    extra: HashMap<Box<str>, u32>,
    extra_shas: Vec<Box<str>>,
}

impl Repo {
    fn get(&self, sha: &str) -> Option<u32> {
        self.graph
            .find(sha)
            .or_else(|| self.extra.get(sha).copied())
    }

    fn id(&mut self, sha: &str) -> u32 {
        if let Some(pos) = self.get(sha) {
            return pos;
        }
        let pos = (self.graph.len() + self.extra_shas.len()) as u32;
        self.extra.insert(sha.into(), pos);
        self.extra_shas.push(sha.into());
        pos
    }

    fn sha(&self, pos: u32) -> &str {
        match (pos as usize).checked_sub(self.graph.len()) {
            None => self.graph.sha(pos),
            Some(i) => &self.extra_shas[i],
        }
    }

    fn len(&self) -> usize {
        self.graph.len() + self.extra_shas.len()
    }
}

/// Every repository's commits, and the repositories by name.
pub struct Repos {
    repos: Vec<Repo>,
    names: Vec<Option<String>>,
    by_name: HashMap<String, RepoId>,
}

impl Default for Repos {
    fn default() -> Self {
        Repos {
            repos: vec![Repo::default()],
            names: vec![None],
            by_name: HashMap::new(),
        }
    }
}

impl Repos {
    /// "No repository": a deployment whose repo no record names walks an
    /// empty graph.
    pub const NONE: RepoId = 0;

    /// The repository named `name` (`None`: [`Repos::NONE`]), added
    /// without commits when new.
    pub fn repo(&mut self, name: Option<&str>) -> RepoId {
        let Some(name) = name else {
            return Self::NONE;
        };
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.repos.len() as RepoId;
        self.repos.push(Repo::default());
        self.names.push(Some(name.to_string()));
        self.by_name.insert(name.to_string(), id);
        id
    }

    /// The repository named `name`, if known.
    pub fn find_repo(&self, name: &str) -> Option<RepoId> {
        self.by_name.get(name).copied()
    }

    /// The name of a repository (`None` for [`Repos::NONE`]).
    pub fn name(&self, repo: RepoId) -> Option<&str> {
        self.names[repo as usize].as_deref()
    }

    /// Gives `name` its commit graph. Call it once per repository, before
    /// any of its shas is looked up.
    pub fn set_graph(&mut self, name: &str, graph: Graph) {
        let id = self.repo(Some(name));
        let repo = &mut self.repos[id as usize];
        debug_assert!(repo.graph.is_empty() && repo.extra_shas.is_empty());
        repo.graph = graph;
    }

    /// The commit `sha` of `repo`, numbered now if new.
    pub fn commit(&mut self, repo: RepoId, sha: &str) -> CommitId {
        CommitId {
            repo,
            pos: self.repos[repo as usize].id(sha),
        }
    }

    /// The commit `sha` of `repo`, if it has a number.
    pub fn find_commit(&self, repo: RepoId, sha: &str) -> Option<CommitId> {
        let pos = self.repos[repo as usize].get(sha)?;
        Some(CommitId { repo, pos })
    }

    pub fn sha(&self, c: CommitId) -> &str {
        self.repos[c.repo as usize].sha(c.pos)
    }

    /// The parents of a commit a record holds (none otherwise).
    pub fn parents(&self, c: CommitId) -> impl Iterator<Item = CommitId> + '_ {
        let g = &self.repos[c.repo as usize].graph;
        let parents = if (c.pos as usize) < g.len() {
            g.parents(c.pos)
        } else {
            &[]
        };
        parents
            .iter()
            .map(move |&pos| CommitId { repo: c.repo, pos })
    }

    /// When a commit was authored, when a record holds it.
    pub fn authored_at(&self, c: CommitId) -> Option<Micros> {
        let g = &self.repos[c.repo as usize].graph;
        ((c.pos as usize) < g.len())
            .then(|| g.authored_at(c.pos))
            .flatten()
    }

    /// Forgets every repository's commits and keeps their names: once the
    /// walk is done and the first deployments are known, what is left to
    /// write names repositories only (the graphs are most of the link's
    /// memory at 10M events), and a relink in parts sets the graphs of its
    /// next part. A commit looked up afterwards gets a new number.
    pub fn forget_commits(&mut self) {
        self.repos.iter_mut().for_each(|r| *r = Repo::default());
    }

    /// How many commits `repo` numbers so far.
    pub fn commits(&self, repo: RepoId) -> usize {
        self.repos[repo as usize].len()
    }
}

/// A set of one repository's commits, one bit each.
#[derive(Default)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    /// Adds `pos`; false when it was there already.
    pub(crate) fn insert(&mut self, pos: u32) -> bool {
        let (word, bit) = ((pos / 64) as usize, 1u64 << (pos % 64));
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    pub(crate) fn contains(&self, pos: u32) -> bool {
        let (word, bit) = ((pos / 64) as usize, 1u64 << (pos % 64));
        self.0.get(word).is_some_and(|w| w & bit != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sha_the_graph_does_not_name_gets_the_next_number() {
        let mut repos = Repos::default();
        let graph = Graph::build(vec![("b", vec!["a"], 5)]);
        repos.set_graph("r", graph);
        let r = repos.find_repo("r").unwrap();
        let b = repos.commit(r, "b");
        let a = repos.find_commit(r, "a").unwrap();
        assert_eq!((a.pos, b.pos), (0, 1));
        assert_eq!(repos.parents(b).collect::<Vec<_>>(), vec![a]);
        let x = repos.commit(r, "x");
        assert_eq!((x.pos, repos.sha(x)), (2, "x"));
        assert_eq!(repos.commit(r, "x"), x);
        assert_eq!(repos.parents(x).count(), 0);
        assert_eq!(
            (repos.authored_at(b), repos.authored_at(x)),
            (Some(5), None)
        );
        assert_eq!(repos.commits(r), 3);
        // "No repository" numbers shas too, with no parents.
        let n = repos.commit(Repos::NONE, "b");
        assert_eq!((n.repo, repos.name(n.repo)), (Repos::NONE, None));
        assert_eq!(repos.parents(n).count(), 0);
        repos.forget_commits();
        assert_eq!((repos.commits(r), repos.name(r)), (0, Some("r")));
        assert_eq!(repos.find_commit(r, "b"), None);
    }

    #[test]
    fn bits_remember_what_was_inserted() {
        let mut bits = Bits::default();
        assert!(bits.insert(130));
        assert!(!bits.insert(130));
        assert!(bits.contains(130) && !bits.contains(129) && !bits.contains(9999));
    }
}
