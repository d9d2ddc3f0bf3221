//! Pull requests: the pull request of a commit, each one's first commit
//! time and first review, and its value-stream stages.

use foldhash::HashMap;

use flowmeter_config::MetricsConfig;

use crate::commits::{CommitId, RepoId, Repos};
use crate::Micros;

const HOUR_US: f64 = 3_600_000_000.0;

/// A pull request record, as stored (borrowed from the rows read).
#[derive(Debug, Clone, Default)]
pub struct PullRequestRecord<'a> {
    pub repo: &'a str,
    pub number: i64,
    pub title: Option<&'a str>,
    pub author: Option<&'a str>,
    pub labels: Vec<&'a str>,
    pub created_at: Micros,
    pub ready_at: Option<Micros>,
    pub merged_at: Option<Micros>,
    pub merge_commit_sha: Option<&'a str>,
    pub commits: Vec<&'a str>,
    pub first_commit_at: Option<Micros>,
    /// False when the source cannot know when the PR was opened or
    /// reviewed (recovered from git history).
    pub stages_known: bool,
}

/// A pull request as the link keeps it: commits as numbers, labels as
/// the one fact they decide (rework), reviews as the first one and a count.
pub struct PullRequest {
    pub repo: RepoId,
    pub number: i64,
    pub title: Option<Box<str>>,
    author: Option<u32>,
    pub created_at: Micros,
    pub ready_at: Option<Micros>,
    pub merged_at: Option<Micros>,
    /// Where its merge commit, then its commits, are in
    /// [`PullRequests::positions`].
    commits: std::ops::Range<u32>,
    /// Its first commit's authored time (the merge commit aside), or the
    /// source's `first_commit_at` when earlier or alone.
    pub first_commit_at: Option<Micros>,
    pub stages_known: bool,
    /// Labelled as rework (`rework_labels`).
    pub rework: bool,
    /// The first review by someone other than its author, before the merge.
    pub first_review_at: Option<Micros>,
    pub reviews: u32,
}

impl PullRequests {
    /// The merge commit and the commits of `p`.
    fn commits<'a>(&'a self, p: &PullRequest) -> impl Iterator<Item = CommitId> + 'a {
        let (repo, range) = (p.repo, p.commits.start as usize..p.commits.end as usize);
        self.positions[range]
            .iter()
            .map(move |&pos| CommitId { repo, pos })
    }
}

/// A pull request's value-stream stages (METRICS.md), in hours; what the
/// source cannot know stays `None`, never 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stages {
    pub ready_at: Micros,
    pub deployed_at: Option<Micros>,
    pub coding: Option<f64>,
    pub pickup: Option<f64>,
    pub review: Option<f64>,
    pub deploy: Option<f64>,
    pub cycle: Option<f64>,
}

/// Every pull request, and the pull requests of each commit.
#[derive(Default)]
pub struct PullRequests {
    pub list: Vec<PullRequest>,
    /// The commits of every pull request, back to back (a vector each was
    /// 1.8M allocations at 10M events).
    positions: Vec<u32>,
    by_number: HashMap<(RepoId, i64), u32>,
    /// Per repository, per commit position: the first pull request holding
    /// it (`NONE`); the rare others (a cherry-pick, a reopened pull
    /// request) in `more`.
    first: Vec<Vec<u32>>,
    more: HashMap<CommitId, Vec<u32>>,
    /// Authors, numbered.
    people: HashMap<String, u32>,
    names: Vec<String>,
}

const NONE: u32 = u32::MAX;

impl PullRequests {
    /// Adds a pull request; its repository's commits must be in `repos`
    /// already (the first commit time reads their authored times).
    pub fn add(&mut self, pr: &PullRequestRecord, repos: &mut Repos, config: &MetricsConfig) {
        let repo = repos.repo(Some(pr.repo));
        let merge = pr.merge_commit_sha.map(|s| repos.commit(repo, s));
        let from = self.positions.len();
        self.positions.extend(merge.map(|c| c.pos));
        (self.positions).extend(pr.commits.iter().map(|s| repos.commit(repo, s).pos));
        let own = &self.positions[from + usize::from(merge.is_some())..];
        let first_commit_at = (own.iter())
            .map(|&pos| CommitId { repo, pos })
            .filter(|&c| Some(c) != merge)
            .filter_map(|c| repos.authored_at(c))
            .chain(pr.first_commit_at)
            .min();
        let k = self.list.len() as u32;
        for i in from..self.positions.len() {
            let pos = self.positions[i];
            self.index(CommitId { repo, pos }, k);
        }
        let author = pr.author.map(|a| self.person(a));
        self.by_number.insert((repo, pr.number), k);
        self.list.push(PullRequest {
            repo,
            number: pr.number,
            title: pr.title.map(Box::from),
            author,
            created_at: pr.created_at,
            ready_at: pr.ready_at,
            merged_at: pr.merged_at,
            commits: from as u32..self.positions.len() as u32,
            first_commit_at,
            stages_known: pr.stages_known,
            rework: pr.labels.iter().any(|l| config.is_rework_label(l)),
            first_review_at: None,
            reviews: 0,
        });
    }

    fn person(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.people.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.people.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    /// Forgets which pull requests hold each commit and which has each
    /// number, keeping the pull requests and their authors: what writing
    /// their stages needs, once every review is added and every change's
    /// pull request found.
    pub fn forget_lookups(&mut self) {
        (self.by_number, self.first, self.more) = Default::default();
    }

    fn index(&mut self, c: CommitId, k: u32) {
        let (repo, pos) = (c.repo as usize, c.pos as usize);
        if self.first.len() <= repo {
            self.first.resize_with(repo + 1, Vec::new);
        }
        let first = &mut self.first[repo];
        if first.len() <= pos {
            first.resize(pos + 1, NONE);
        }
        match first[pos] {
            NONE => first[pos] = k,
            f if f == k => {}
            _ => {
                let more = self.more.entry(c).or_default();
                if !more.contains(&k) {
                    more.push(k);
                }
            }
        }
    }

    /// Counts a review of `repo`'s pull request `number` (none: ignored),
    /// and keeps the first one by someone other than its author, submitted
    /// before the merge.
    pub fn add_review(&mut self, repos: &Repos, repo: &str, number: i64, author: &str, at: Micros) {
        let Some(repo) = repos.find_repo(repo) else {
            return;
        };
        let Some(&k) = self.by_number.get(&(repo, number)) else {
            return;
        };
        let reviewer = self.people.get(author).copied();
        let p = &mut self.list[k as usize];
        p.reviews += 1;
        let own = p.author.is_some() && p.author == reviewer;
        if !own && p.merged_at.is_none_or(|m| at <= m) {
            p.first_review_at = Some(p.first_review_at.map_or(at, |f| f.min(at)));
        }
    }

    pub fn author(&self, p: &PullRequest) -> Option<&str> {
        p.author.map(|a| self.names[a as usize].as_str())
    }

    /// The pull requests holding commit `c`, in the order they were added.
    pub fn of_commit(&self, c: CommitId) -> impl Iterator<Item = usize> + '_ {
        let first = (self.first.get(c.repo as usize))
            .and_then(|f| f.get(c.pos as usize))
            .filter(|&&k| k != NONE);
        let more = first.and_then(|_| self.more.get(&c)).into_iter().flatten();
        first.into_iter().chain(more).map(|&k| k as usize)
    }

    /// Where a change's lead time starts and the pull request it counts
    /// for: of the pull requests holding it, the one with the earliest
    /// first commit (then the lowest number), its first commit time; with
    /// none, the commit's own authored time and the lowest-numbered pull
    /// request holding it (never the order they were read in, which is
    /// the order the store happens to keep them in).
    pub fn start_of(&self, c: CommitId, repos: &Repos) -> (Option<Micros>, Option<i64>) {
        let best = self
            .of_commit(c)
            .filter(|&p| self.list[p].first_commit_at.is_some())
            .min_by_key(|&p| (self.list[p].first_commit_at, self.list[p].number));
        let start = match best {
            Some(p) => self.list[p].first_commit_at,
            None => repos.authored_at(c),
        };
        let pr = best.or_else(|| self.of_commit(c).min_by_key(|&p| self.list[p].number));
        (start, pr.map(|p| self.list[p].number))
    }

    /// The stages of pull request `p`, given when each commit first
    /// reached production (any service).
    pub fn stages(&self, p: &PullRequest, first_deployed: &FirstDeployed) -> Stages {
        let ready = p.ready_at.unwrap_or(p.created_at);
        let deployed_at = (self.commits(p))
            .filter_map(|c| first_deployed.get(c))
            .min();
        let mut stages = Stages {
            ready_at: ready,
            ..Stages::default()
        };
        let Some(merged) = p.merged_at else {
            return stages;
        };
        let hours = |from: Micros, to: Micros| (to - from) as f64 / HOUR_US;
        let reviewed = p.first_review_at.unwrap_or(merged);
        let fc = p.first_commit_at;
        let known = p.stages_known;
        stages.deployed_at = deployed_at;
        stages.coding = fc.filter(|_| known).map(|f| hours(f, ready).max(0.0));
        stages.pickup = known.then(|| hours(ready, reviewed).max(0.0));
        stages.review = known.then(|| hours(reviewed, merged).max(0.0));
        stages.deploy = deployed_at.map(|d| hours(merged, d).max(0.0));
        stages.cycle = deployed_at.zip(fc).map(|(d, f)| hours(f, d));
        stages
    }
}

/// When each commit first reached production, in any service.
#[derive(Default)]
pub struct FirstDeployed(Vec<Vec<Micros>>);

impl FirstDeployed {
    const NEVER: Micros = Micros::MAX;

    /// Keeps `at` when it is the commit's earliest.
    pub fn add(&mut self, c: CommitId, at: Micros) {
        let (repo, pos) = (c.repo as usize, c.pos as usize);
        if self.0.len() <= repo {
            self.0.resize_with(repo + 1, Vec::new);
        }
        let times = &mut self.0[repo];
        if times.len() <= pos {
            times.resize(pos + 1, Self::NEVER);
        }
        times[pos] = times[pos].min(at);
    }

    pub fn get(&self, c: CommitId) -> Option<Micros> {
        let at = *self.0.get(c.repo as usize)?.get(c.pos as usize)?;
        (at != Self::NEVER).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;

    const H: Micros = 3_600_000_000;

    fn record<'a>(number: i64, commits: &[&'a str]) -> PullRequestRecord<'a> {
        PullRequestRecord {
            repo: "r",
            number,
            author: Some("ann"),
            created_at: 10 * H,
            merged_at: Some(20 * H),
            merge_commit_sha: Some("m"),
            commits: commits.to_vec(),
            stages_known: true,
            ..Default::default()
        }
    }

    fn setup() -> (Repos, PullRequests, MetricsConfig) {
        let mut repos = Repos::default();
        let row = |sha: &str, at: Micros| (sha.to_string(), vec![], at);
        repos.set_graph(
            "r",
            Graph::build(vec![row("a", 2 * H), row("b", 4 * H), row("m", H)]),
        );
        (repos, PullRequests::default(), MetricsConfig::default())
    }

    #[test]
    fn a_commit_belongs_to_every_pull_request_holding_it() {
        let (mut repos, mut prs, config) = setup();
        prs.add(&record(1, &["a", "b"]), &mut repos, &config);
        prs.add(&record(2, &["b"]), &mut repos, &config);
        let b = repos
            .find_commit(repos.find_repo("r").unwrap(), "b")
            .unwrap();
        assert_eq!(prs.of_commit(b).collect::<Vec<_>>(), [0, 1]);
        // The merge commit's own time is not the first commit's.
        assert_eq!(prs.list[0].first_commit_at, Some(2 * H));
        // The earliest first commit wins: PR 1 (from a) over PR 2 (from b).
        assert_eq!(prs.start_of(b, &repos), (Some(2 * H), Some(1)));
        // A commit of no pull request starts at its own authored time.
        let lone = repos.commit(1, "zz");
        assert_eq!(prs.start_of(lone, &repos), (None, None));
    }

    #[test]
    fn without_first_commit_times_a_commit_counts_for_its_lowest_numbered_pull_request() {
        let (mut repos, _, config) = setup();
        // Commits `x` and `y` are not imported: neither PR has a first
        // commit time. Added in either order, `x` counts for PR 5.
        for numbers in [[7, 5], [5, 7]] {
            let mut prs = PullRequests::default();
            for n in numbers {
                prs.add(&record(n, &["x", "y"]), &mut repos, &config);
            }
            let x = repos.commit(repos.find_repo("r").unwrap(), "x");
            assert_eq!(prs.start_of(x, &repos), (None, Some(5)), "{numbers:?}");
        }
    }

    #[test]
    fn the_first_review_is_someone_elses_before_the_merge() {
        let (mut repos, mut prs, config) = setup();
        prs.add(&record(1, &["a"]), &mut repos, &config);
        prs.add_review(&repos, "r", 1, "ann", 11 * H);
        prs.add_review(&repos, "r", 1, "bob", 25 * H);
        prs.add_review(&repos, "r", 1, "cy", 14 * H);
        prs.add_review(&repos, "r", 9, "cy", 12 * H);
        let p = &prs.list[0];
        assert_eq!((p.first_review_at, p.reviews), (Some(14 * H), 3));
    }

    #[test]
    fn stages_run_from_first_commit_to_first_deployment() {
        let (mut repos, mut prs, config) = setup();
        prs.add(&record(1, &["a"]), &mut repos, &config);
        prs.add_review(&repos, "r", 1, "bob", 12 * H);
        let mut first = FirstDeployed::default();
        let m = repos.find_commit(1, "m").unwrap();
        first.add(m, 30 * H);
        first.add(m, 26 * H);
        let p = &prs.list[0];
        let s = prs.stages(p, &first);
        assert_eq!(s.deployed_at, Some(26 * H));
        assert_eq!(
            (s.coding, s.pickup, s.review, s.deploy, s.cycle),
            (Some(8.0), Some(2.0), Some(8.0), Some(6.0), Some(24.0))
        );
        // The stages and author need none of the lookups.
        let mut forgot = setup().1;
        forgot.add(&record(1, &["a"]), &mut repos, &config);
        forgot.add_review(&repos, "r", 1, "bob", 12 * H);
        forgot.forget_lookups();
        let q = &forgot.list[0];
        assert_eq!(forgot.stages(q, &first), s);
        assert_eq!(forgot.author(q), prs.author(p));
        assert_eq!(forgot.of_commit(m).count(), 0);
        // Not deployed: no deploy stage or cycle time, never 0.
        let s = prs.stages(p, &FirstDeployed::default());
        assert_eq!((s.deploy, s.cycle), (None, None));
        // Recovered from git history: no coding, pickup or review stage.
        let mut unknown = record(2, &["a"]);
        unknown.stages_known = false;
        prs.add(&unknown, &mut repos, &config);
        let s = prs.stages(&prs.list[1], &first);
        assert_eq!((s.coding, s.pickup, s.review), (None, None, None));
        assert_eq!(s.cycle, Some(24.0));
    }

    #[test]
    fn rework_is_read_from_the_labels() {
        let (mut repos, mut prs, config) = setup();
        let mut fix = record(1, &["a"]);
        fix.labels = vec![config.rework_labels[0].as_str()];
        prs.add(&fix, &mut repos, &config);
        prs.add(&record(2, &["b"]), &mut repos, &config);
        assert!(prs.list[0].rework && !prs.list[1].rework);
    }
}
