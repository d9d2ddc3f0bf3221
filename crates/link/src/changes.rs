//! The changes of a service's deployments: the commits each one brought to
//! production for the first time.
//!
//! A deployment's changes are its explicit `commits`, else the walk of the
//! commit graph from its `commit_sha` that stops at anything an earlier
//! deployment of the same service reached, else (a commit no record holds)
//! the deployed commit alone. A commit counts once per service. The walk
//! visits each commit of a service's history once; a recursive SQL query
//! would walk it again for every deployment.

use foldhash::{HashMap, HashMapExt};

use crate::commits::{Bits, CommitId, RepoId, Repos};
use crate::deployments::Deployment;

/// The changes of one service's deployments, in order: `deployments[i]`
/// walks `repos[i]` (its resolved repository). Returns each deployment's
/// changes, in walk order.
pub fn of_service(
    deployments: &[Deployment],
    repo_of: &[RepoId],
    repos: &mut Repos,
) -> Vec<Vec<CommitId>> {
    // Everything the service's earlier deployments reached (closed under
    // parents), and what it counted already, per repository.
    let mut reached: HashMap<RepoId, Bits> = HashMap::new();
    let mut counted: HashMap<RepoId, Bits> = HashMap::new();
    let mut out = Vec::with_capacity(deployments.len());
    for (d, &repo) in deployments.iter().zip(repo_of) {
        let start = repos.commit(repo, &d.commit_sha);
        let explicit: Option<Vec<CommitId>> = d
            .commits
            .as_ref()
            .map(|shas| shas.iter().map(|s| repos.commit(repo, s)).collect());
        let seen = reached.entry(repo).or_default();
        let walked = walk(repos, start, seen);
        let counted = counted.entry(repo).or_default();
        let changes = explicit
            .unwrap_or(walked)
            .into_iter()
            .filter(|c| counted.insert(c.pos))
            .collect();
        out.push(changes);
    }
    out
}

/// The commits reachable from `start` that `seen` does not hold, which it
/// then does; depth first, `start` first.
fn walk(repos: &Repos, start: CommitId, seen: &mut Bits) -> Vec<CommitId> {
    let mut walked = Vec::new();
    let mut stack = vec![start];
    while let Some(c) = stack.pop() {
        if !seen.insert(c.pos) {
            continue;
        }
        stack.extend(repos.parents(c).filter(|p| !seen.contains(p.pos)));
        walked.push(c);
    }
    walked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployments::tests::deployment;
    use crate::graph::Graph;

    /// a <- b <- c <- d, and e (a branch off b) merged by d.
    fn repos() -> (Repos, RepoId) {
        let row = |sha: &str, parents: &[&str]| {
            let parents = parents.iter().map(|p| p.to_string()).collect();
            (sha.to_string(), parents, 0)
        };
        let mut repos = Repos::default();
        repos.set_graph(
            "r",
            Graph::build(vec![
                row("a", &[]),
                row("b", &["a"]),
                row("c", &["b"]),
                row("e", &["b"]),
                row("d", &["c", "e"]),
            ]),
        );
        let r = repos.find_repo("r").unwrap();
        (repos, r)
    }

    fn shas(repos: &Repos, changes: &[Vec<CommitId>]) -> Vec<Vec<String>> {
        let sha = |c: &CommitId| repos.sha(*c).to_string();
        changes
            .iter()
            .map(|cs| cs.iter().map(sha).collect())
            .collect()
    }

    #[test]
    fn each_deployment_brings_what_no_earlier_one_reached() {
        let (mut repos, r) = repos();
        let service = [
            deployment("1", "api", 1, "b"),
            deployment("2", "api", 2, "d"),
            deployment("3", "api", 3, "d"),
        ];
        let changes = of_service(&service, &[r; 3], &mut repos);
        let mut second = shas(&repos, &changes)[1].clone();
        second.sort();
        assert_eq!(shas(&repos, &changes)[0], ["b", "a"]);
        assert_eq!(second, ["c", "d", "e"]);
        assert!(changes[2].is_empty());
    }

    #[test]
    fn explicit_commits_and_unknown_shas_count_once_per_service() {
        let (mut repos, r) = repos();
        let mut listed = deployment("2", "api", 2, "d");
        listed.commits = Some(vec!["d".into(), "x".into()]);
        let service = [
            deployment("1", "api", 1, "zzz"),
            listed,
            deployment("3", "api", 3, "x"),
        ];
        let changes = of_service(&service, &[r, r, r], &mut repos);
        // A commit no record holds is its own change; an explicit list is
        // the changes (the walk still marks what it reached); a commit
        // counted once is not counted again.
        assert_eq!(
            shas(&repos, &changes),
            [vec!["zzz"], vec!["d", "x"], vec![]]
        );
        // Another repository (or none) counts its own.
        let changes = of_service(&service[..1], &[Repos::NONE], &mut repos);
        assert_eq!(shas(&repos, &changes), [vec!["zzz"]]);
    }
}
