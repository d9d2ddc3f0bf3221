//! A full relink in parts, when its model would not fit its memory
//! budget: the repositories cut into parts whose commit graphs and pull
//! requests fit, each with the services deploying from it. A part is
//! closed: the repositories one service deploys from (and those a
//! repo-less deployment's commit was found in) are in one part, so every
//! deployment of a part's commits is in it, and so are the first
//! deployment of each commit (the deploy stage) and the pull requests of
//! its changes. Repositories so joined, when they pass the budget
//! together, are one part over it (a monorepo is one part, as before).
//! A part whose repositories are a range of names is read by one range
//! scan (`repo BETWEEN ...`): at 10M events a quarter of the commits took
//! 0.04–0.06 s to read where all took 0.17 s, and a semi join on a table
//! of their names 0.14 s, the way the other parts are read.

use std::collections::BTreeMap;
use std::ops::Range;

use duckdb::Connection;
use flowmeter_link::commits::{RepoId, Repos};
use flowmeter_link::deployments::Ordered;

use crate::{Context, StoreError};

/// What a relink's model holds per commit (its graph: sha, parents, time,
/// index) and per pull request (with its reviews, title, author, commit
/// positions and lookups), in bytes: measured on the 10M-event benchmark,
/// whose 5.4M commits took 310–380 MB and whose 1.8M pull requests (2.2M
/// reviews) 170–330 MB.
pub(crate) const COMMIT_BYTES: u64 = 72;
pub(crate) const PULL_REQUEST_BYTES: u64 = 190;

/// One part of a relink: its repositories, and the services (ranges of
/// the ordered deployments) deploying from them.
pub(crate) struct Part {
    pub repos: Repositories,
    pub services: Vec<Range<usize>>,
}

/// The repositories of a part.
pub(crate) enum Repositories {
    /// Every one (a relink in one part).
    Every,
    /// Those whose names sort from `first` to `last`, both included: one
    /// range scan reads them.
    Range { first: String, last: String },
    /// These, not a range of names (or one whose bounding name holds a
    /// NUL, which a SQL literal cannot).
    Named(Vec<String>),
}

/// The parts of a full relink of `ordered` within `budget` bytes of model:
/// one (every row) when it fits.
pub(crate) fn plan(
    conn: &Connection,
    ordered: &Ordered,
    repo_of: &[RepoId],
    repos: &Repos,
    budget: u64,
) -> Result<Vec<Part>, StoreError> {
    let whole = || Part {
        repos: Repositories::Every,
        services: ordered.services.values().cloned().collect(),
    };
    let what = "size the link's model";
    let total: u64 = conn
        .query_row(
            &format!(
                "SELECT (SELECT count(*) FROM commits) * {COMMIT_BYTES}
                      + (SELECT count(*) FROM pull_requests) * {PULL_REQUEST_BYTES}"
            ),
            [],
            |r| r.get::<_, i64>(0),
        )
        .ctx(what)? as u64;
    if total <= budget {
        return Ok(vec![whole()]);
    }
    // Every repository a row or a deployment names, in name order, with
    // the bytes its rows take in the model.
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT repo, count(*) * {COMMIT_BYTES} FROM commits GROUP BY repo
             UNION ALL
             SELECT repo, count(*) * {PULL_REQUEST_BYTES} FROM pull_requests GROUP BY repo"
        ))
        .ctx(what)?;
    let mut rows = stmt.query([]).ctx(what)?;
    while let Some(r) = rows.next().ctx(what)? {
        let (repo, bytes): (String, i64) = (r.get(0).ctx(what)?, r.get(1).ctx(what)?);
        *sizes.entry(repo).or_default() += bytes as u64;
    }
    for &r in repo_of {
        if let Some(name) = repos.name(r) {
            sizes.entry(name.to_string()).or_default();
        }
    }
    let (names, bytes): (Vec<String>, Vec<u64>) = sizes.into_iter().unzip();
    let index = |r: RepoId| -> Option<usize> {
        let name = repos.name(r)?;
        names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    };
    // Each service's repositories, by their place in name order.
    let services: Vec<(Range<usize>, Vec<usize>)> = ordered
        .services
        .values()
        .map(|range| {
            let mut found: Vec<usize> = (repo_of[range.clone()].iter())
                .filter_map(|&r| index(r))
                .collect();
            found.sort_unstable();
            found.dedup();
            (range.clone(), found)
        })
        .collect();
    let groups = group(&bytes, services.iter().map(|(_, r)| r.as_slice()), budget);
    let mut part_of = vec![0; names.len()];
    for (k, g) in groups.iter().enumerate() {
        g.iter().for_each(|&i| part_of[i] = k);
    }
    let mut parts: Vec<Part> = groups
        .iter()
        .map(|g| {
            let (first, last) = (&names[g[0]], &names[g[g.len() - 1]]);
            let repos = if g.len() == g[g.len() - 1] - g[0] + 1 {
                Repositories::Range {
                    first: first.clone(),
                    last: last.clone(),
                }
            } else {
                Repositories::Named(g.iter().map(|&i| names[i].clone()).collect())
            };
            Part {
                repos,
                services: Vec::new(),
            }
        })
        .collect();
    for (range, repos) in services {
        // A service with no repository walks no graph: the first part's.
        let k = repos.first().map_or(0, |&i| part_of[i]);
        parts[k].services.push(range);
    }
    Ok(parts)
}

/// Groups repositories (their sizes, in name order) into parts of at most
/// `budget` bytes where it can: the repositories of one service (each a
/// list of their places) are in one part, and repositories so joined
/// that pass the budget together are a part of their own. Parts take
/// the joined repositories in the order of their first name, each part's
/// places sorted. At least one part (of every repository).
fn group<'a>(
    sizes: &[u64],
    services: impl IntoIterator<Item = &'a [usize]>,
    budget: u64,
) -> Vec<Vec<usize>> {
    if sizes.is_empty() {
        return vec![Vec::new()];
    }
    // Union-find over the repositories, joined service by service.
    let mut parent: Vec<usize> = (0..sizes.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for repos in services {
        for w in repos.windows(2) {
            let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
            parent[a.max(b)] = a.min(b);
        }
    }
    // Each joined set, in the order of its first repository.
    let mut sets: Vec<(Vec<usize>, u64)> = Vec::new();
    let mut set_of: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, &size) in sizes.iter().enumerate() {
        let r = root(&mut parent, i);
        let k = *set_of.entry(r).or_insert_with(|| {
            sets.push((Vec::new(), 0));
            sets.len() - 1
        });
        sets[k].0.push(i);
        sets[k].1 += size;
    }
    let mut parts: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0u64;
    for (set, size) in sets {
        match parts.last_mut() {
            Some(part) if bytes + size <= budget => part.extend(set),
            _ => {
                parts.push(set);
                bytes = 0;
            }
        }
        bytes += size;
    }
    for part in &mut parts {
        part.sort_unstable();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sizes: &[u64], services: &[&[usize]], budget: u64) -> Vec<Vec<usize>> {
        group(sizes, services.iter().copied(), budget)
    }

    #[test]
    fn repositories_are_grouped_where_their_bytes_pass_the_budget() {
        assert_eq!(parts(&[4, 4, 4, 4], &[], 8), [vec![0, 1], vec![2, 3]]);
        assert_eq!(parts(&[4, 4, 4], &[], 100), [vec![0, 1, 2]]);
        // One past the budget is alone.
        assert_eq!(parts(&[2, 20, 2], &[], 8), [vec![0], vec![1], vec![2]]);
        assert_eq!(parts(&[], &[], 8), [Vec::<usize>::new()]);
    }

    #[test]
    fn a_service_deploying_from_several_repositories_keeps_them_in_one_part() {
        // One service deploys from repositories 1 and 4, another from 4
        // and 5: those three are one part, and nothing between them joins.
        let joined = parts(&[4; 7], &[&[1, 4], &[4, 5]], 8);
        assert_eq!(joined, [vec![0], vec![1, 4, 5], vec![2, 3], vec![6]]);
        // A service of one repository joins nothing.
        assert_eq!(parts(&[4; 3], &[&[1]], 4), [vec![0], vec![1], vec![2]]);
        // Joined sets are packed in the order of their first repository.
        assert_eq!(parts(&[1; 4], &[&[0, 3]], 3), [vec![0, 1, 3], vec![2]]);
    }
}
