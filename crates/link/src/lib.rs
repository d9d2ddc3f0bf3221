//! Linking, exactly as METRICS.md ("Linking") defines it, as pure functions
//! over records already loaded: no store, no I/O. `flowmeter-store` loads
//! the records a relink needs, calls these, and writes the `link_*` tables
//! every metric query reads.
//!
//! Each rule is a small function with its own tests:
//! - the order of a service's deployments, and multi-region rollouts
//!   folded into one ([`deployments::order`], [`deployments::dedupe_regions`]);
//! - rollbacks and what they undo ([`deployments::rollbacks`]);
//! - the changes of each deployment ([`changes::of_service`]);
//! - the pull requests of a commit, each one's first commit time, first
//!   review and stages, and where a change's lead time starts
//!   ([`pull_requests`]);
//! - incident attribution ([`incidents::attribute`]);
//! - failure, recovery and rework ([`outcome`]).
//!
//! Commits are integers ([`commits::CommitId`]): each repository's commit
//! graph ([`graph::Graph`]) holds every sha once, and everything else the
//! link keeps per commit (the walk's visited set, the pull request of a
//! commit, its first deployment) is indexed by position.

pub mod changes;
pub mod commits;
pub mod deployments;
pub mod graph;
pub mod incidents;
pub mod outcome;
pub mod pull_requests;

use std::collections::HashMap;

use flowmeter_config::MetricsConfig;

use commits::{CommitId, RepoId, Repos};
use deployments::{Deployment, Ordered};
use incidents::{Attribution, Candidates, Incident};
use outcome::Outcome;
use pull_requests::{FirstDeployed, PullRequests};

/// Microseconds since the epoch (UTC).
pub type Micros = i64;

const HOUR_US: f64 = 3_600_000_000.0;

/// The repository each deployment walks: its own, else the first (by name)
/// whose commit records hold its commit (`repo_of_sha`), else none.
pub fn resolve_repos(
    deployments: &[Deployment],
    repo_of_sha: &HashMap<String, String>,
    repos: &mut Repos,
) -> Vec<RepoId> {
    deployments
        .iter()
        .map(|d| {
            let name = d
                .repo
                .as_deref()
                .or_else(|| repo_of_sha.get(&d.commit_sha).map(String::as_str));
            repos.repo(name)
        })
        .collect()
}

/// What linking found for ordered deployments, their changes apart
/// ([`Changes`]): rollbacks and incident attribution need the deployments
/// and incidents only.
pub struct DeploymentLinks {
    /// Each deployment's position in its service's order.
    pub seq: Vec<u32>,
    pub is_rollback: Vec<bool>,
    /// The first rollback that undid each deployment.
    pub rolled_back_by: Vec<Option<usize>>,
    pub attributions: Vec<Attribution>,
    incidents_of: Vec<Vec<u32>>,
}

impl DeploymentLinks {
    /// The incidents attributed to deployment `i`.
    pub fn incidents_of(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.incidents_of[i].iter().map(|&k| k as usize)
    }

    /// Deployment `i`'s outcome.
    pub fn outcome(&self, i: usize, deployments: &[Deployment], incidents: &[Incident]) -> Outcome {
        let ours: Vec<&Incident> = self.incidents_of(i).map(|k| &incidents[k]).collect();
        let rolled_back_at = self.rolled_back_by[i].map(|r| deployments[r].finished_at);
        outcome::of(&ours, rolled_back_at)
    }
}

/// Links ordered deployments: rollbacks service by service, then
/// incidents. `foreign` holds the sources, by id, of other services'
/// deployments an incident may name (a partial relink).
pub fn link_deployments(
    ordered: &Ordered,
    incidents: &[Incident],
    foreign: &HashMap<String, Vec<String>>,
    config: &MetricsConfig,
) -> DeploymentLinks {
    let deployments = &ordered.deployments;
    let n = deployments.len();
    let mut links = DeploymentLinks {
        seq: vec![0; n],
        is_rollback: vec![false; n],
        rolled_back_by: vec![None; n],
        attributions: Vec::new(),
        incidents_of: vec![Vec::new(); n],
    };
    for range in ordered.services.values() {
        let (is_rollback, rolled_back_by) = deployments::rollbacks(&deployments[range.clone()]);
        for (pos, i) in range.clone().enumerate() {
            links.seq[i] = pos as u32;
            links.is_rollback[i] = is_rollback[pos];
            links.rolled_back_by[i] = rolled_back_by[pos].map(|r| range.start + r);
        }
    }
    let window_us = (config.attribution_window_hours * HOUR_US).round() as i64;
    let candidates = Candidates::new(deployments, &ordered.aliases, foreign);
    links.attributions = incidents::attribute(
        incidents,
        deployments,
        &ordered.services,
        &candidates,
        window_us,
    );
    for a in &links.attributions {
        links.incidents_of[a.deployment].push(a.incident as u32);
    }
    links
}

/// The changes of some services' deployments, by deployment: every
/// service's, or (a relink held to a memory budget) those of the services
/// deploying from one part of the repositories, whose graphs alone are
/// loaded meanwhile. The other deployments have none here.
pub struct Changes {
    changes: Vec<CommitId>,
    /// Deployment `i`'s changes are `changes[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
}

impl Changes {
    /// The changes of `services` (ranges of `ordered.deployments`), each
    /// deployment walking `repo_of` its repository ([`resolve_repos`]),
    /// whose graph `repos` holds.
    pub fn of_services(
        ordered: &Ordered,
        services: impl IntoIterator<Item = std::ops::Range<usize>>,
        repo_of: &[RepoId],
        repos: &mut Repos,
    ) -> Changes {
        let n = ordered.deployments.len();
        let mut services: Vec<_> = services.into_iter().collect();
        services.sort_by_key(|r| r.start);
        let mut out = Changes {
            changes: Vec::new(),
            offsets: Vec::with_capacity(n + 1),
        };
        out.offsets.push(0);
        for range in services {
            // The deployments before it, of services not here: none.
            out.offsets.resize(range.start + 1, out.changes.len());
            let service = &ordered.deployments[range.clone()];
            for c in changes::of_service(service, &repo_of[range], repos) {
                out.changes.extend(c);
                out.offsets.push(out.changes.len());
            }
        }
        out.offsets.resize(n + 1, out.changes.len());
        out
    }

    /// The changes of deployment `i`.
    pub fn changes_of(&self, i: usize) -> &[CommitId] {
        &self.changes[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Every change with the deployment that brought it.
    pub fn iter(&self) -> impl Iterator<Item = (usize, CommitId)> + '_ {
        (0..self.offsets.len() - 1)
            .flat_map(move |i| self.changes_of(i).iter().map(move |&c| (i, c)))
    }

    /// Whether deployment `i` (a rollback or not, as `links` found) is
    /// rework.
    pub fn is_rework(
        &self,
        i: usize,
        links: &DeploymentLinks,
        deployments: &[Deployment],
        prs: &PullRequests,
    ) -> bool {
        let labelled =
            (self.changes_of(i).iter()).map(|&c| prs.of_commit(c).any(|p| prs.list[p].rework));
        outcome::is_rework(links.is_rollback[i], &deployments[i].kind, labelled)
    }

    /// When each commit first reached production, from these changes:
    /// every deployment of a commit's repository is here (all services',
    /// or all those of the repository's part).
    pub fn first_deployed(&self, deployments: &[Deployment]) -> FirstDeployed {
        let mut first = FirstDeployed::default();
        for (i, c) in self.iter() {
            if c.repo != Repos::NONE {
                first.add(c, deployments[i].finished_at);
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployments::tests::deployment;
    use crate::graph::Graph;
    use crate::pull_requests::PullRequestRecord;

    const H: Micros = 3_600_000_000;

    #[test]
    fn a_rolled_back_deployment_fails_recovers_and_its_changes_start_at_their_pr() {
        let config = MetricsConfig::default();
        let row = |sha: &str, parents: &[&str], at: Micros| {
            (
                sha.to_string(),
                parents.iter().map(|p| p.to_string()).collect(),
                at,
            )
        };
        let mut repos = Repos::default();
        repos.set_graph(
            "r",
            Graph::build(vec![row("a", &[], H), row("b", &["a"], 2 * H)]),
        );
        let mut prs = PullRequests::default();
        prs.add(
            &PullRequestRecord {
                repo: "r",
                number: 7,
                created_at: 2 * H,
                merged_at: Some(3 * H),
                commits: vec!["b"],
                stages_known: true,
                ..Default::default()
            },
            &mut repos,
            &config,
        );
        let mut repo_less = deployment("3", "api", 6 * H, "a");
        repo_less.repo = None;
        let ordered = deployments::order(
            vec![
                deployment("1", "api", 4 * H, "a"),
                deployment("2", "api", 5 * H, "b"),
                repo_less,
            ],
            &config,
        );
        let repo_of_sha = HashMap::from([("a".to_string(), "r".to_string())]);
        let repo_of = resolve_repos(&ordered.deployments, &repo_of_sha, &mut repos);
        let links = link_deployments(&ordered, &[], &HashMap::new(), &config);
        let all = ordered.services.values().cloned();
        let changes = Changes::of_services(&ordered, all, &repo_of, &mut repos);
        let d = &ordered.deployments;
        assert_eq!(links.seq, [0, 1, 2]);
        // Deployment 3 returns to a: a rollback of 2, which recovers then.
        assert_eq!(links.is_rollback, [false, false, true]);
        assert_eq!(links.rolled_back_by, [None, Some(2), None]);
        let o = links.outcome(1, d, &[]);
        assert_eq!((o.failed, o.recovered_at), (true, Some(6 * H)));
        assert!(changes.is_rework(2, &links, d, &prs) && !changes.is_rework(1, &links, d, &prs));
        let b = changes.changes_of(1)[0];
        assert_eq!(repos.sha(b), "b");
        assert_eq!(prs.start_of(b, &repos), (Some(2 * H), Some(7)));
        // Of no service (another part's), no deployment has changes.
        let none = Changes::of_services(&ordered, [], &repo_of, &mut repos);
        assert!((0..d.len()).all(|i| none.changes_of(i).is_empty()));
        let first = changes.first_deployed(d);
        assert_eq!(first.get(b), Some(5 * H));
        let stages = prs.stages(&prs.list[0], &first);
        assert_eq!((stages.deploy, stages.cycle), (Some(2.0), Some(3.0)));
    }
}
