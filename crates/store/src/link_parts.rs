//! A full relink in parts, when its model would not fit its memory
//! budget: the repositories, in name order, cut into ranges whose commit
//! graphs and pull requests fit, each with the services deploying from it.
//! A part is closed: every service deploying from one of its repositories
//! is in it, so the first deployment of each of its commits (the deploy
//! stage) and the pull requests of its changes are all in it too. Each
//! part's rows are one range scan (`repo BETWEEN ...`), which DuckDB's zone
//! maps and filter pushdown keep cheap: at 10M events a quarter of the
//! commits took 0.04–0.06 s to read where all took 0.17 s, and a semi join
//! on a table of their names 0.14 s.

use std::collections::BTreeMap;
use std::ops::Range;

use duckdb::Connection;
use flowmeter_link::commits::{RepoId, Repos};
use flowmeter_link::deployments::Ordered;

use crate::link::RepoRows;
use crate::{Context, StoreError};

/// What a relink's model holds per commit (its graph: sha, parents, time,
/// index) and per pull request (with its reviews, title, author, commit
/// positions and lookups), in bytes: measured on the 10M-event benchmark,
/// whose 5.4M commits took 310–380 MB and whose 1.8M pull requests (2.2M
/// reviews) 170–330 MB.
const COMMIT_BYTES: u64 = 72;
const PULL_REQUEST_BYTES: u64 = 190;

/// One part of a relink: the rows of its repositories, and the services
/// (ranges of the ordered deployments) deploying from them.
pub(crate) struct Part {
    pub rows: RepoRows,
    pub services: Vec<Range<usize>>,
}

/// The parts of a full relink of `ordered` within `budget` bytes of model:
/// one (every row) when it fits or there is no budget.
pub(crate) fn plan(
    conn: &Connection,
    ordered: &Ordered,
    repo_of: &[RepoId],
    repos: &Repos,
    budget: Option<u64>,
) -> Result<Vec<Part>, StoreError> {
    let whole = || Part {
        rows: RepoRows::Within("TRUE".into()),
        services: ordered.services.values().cloned().collect(),
    };
    let Some(budget) = budget else {
        return Ok(vec![whole()]);
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
    let names: Vec<(&String, u64)> = sizes.iter().map(|(n, &b)| (n, b)).collect();
    let index = |r: RepoId| -> Option<usize> {
        let name = repos.name(r)?;
        names.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok()
    };
    // Each service's repositories, as the range of names they span.
    let spans: Vec<(Range<usize>, Option<Range<usize>>)> = ordered
        .services
        .values()
        .map(|range| {
            let found = repo_of[range.clone()].iter().filter_map(|&r| index(r));
            let span = found.fold(None, |span: Option<Range<usize>>, k| match span {
                None => Some(k..k + 1),
                Some(s) => Some(s.start.min(k)..s.end.max(k + 1)),
            });
            (range.clone(), span)
        })
        .collect();
    let bytes: Vec<u64> = names.iter().map(|(_, b)| *b).collect();
    let cuts = cut(&bytes, spans.iter().filter_map(|(_, s)| s.clone()), budget);
    let mut parts: Vec<Part> = cuts
        .iter()
        .map(|r| Part {
            rows: RepoRows::Within(format!(
                "repo BETWEEN {} AND {}",
                crate::sql_text(names[r.start].0),
                crate::sql_text(names[r.end - 1].0)
            )),
            services: Vec::new(),
        })
        .collect();
    for (range, span) in spans {
        // A service with no repository walks no graph: the first part's.
        let k = span.map_or(0, |s| cuts.partition_point(|c| c.end <= s.start));
        parts[k].services.push(range);
    }
    Ok(parts)
}

/// Cuts repositories (their sizes, in name order) into ranges of at most
/// `budget` bytes where it can: a range never splits a service's `spans`
/// (the repositories it deploys from), and a repository or a span past the
/// budget is a range of its own. At least one range, even of none.
fn cut(
    sizes: &[u64],
    spans: impl IntoIterator<Item = Range<usize>>,
    budget: u64,
) -> Vec<Range<usize>> {
    // `reach[k]`: the end of the block that starts at `k` at least.
    let mut reach: Vec<usize> = (1..=sizes.len()).collect();
    for s in spans {
        reach[s.start] = reach[s.start].max(s.end);
    }
    let mut out: Vec<Range<usize>> = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    let mut k = 0;
    while k < sizes.len() {
        // The smallest block from `k` that no span leaves.
        let mut end = reach[k];
        let mut block = 0;
        let mut j = k;
        while j < end {
            end = end.max(reach[j]);
            block += sizes[j];
            j += 1;
        }
        if k > start && bytes + block > budget {
            out.push(start..k);
            (start, bytes) = (k, 0);
        }
        bytes += block;
        k = end;
    }
    out.push(start..sizes.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(r: Range<usize>) -> Vec<Range<usize>> {
        vec![r]
    }

    #[test]
    fn repositories_are_cut_where_their_bytes_pass_the_budget() {
        let none: [Range<usize>; 0] = [];
        assert_eq!(cut(&[4, 4, 4, 4], none.clone(), 8), [0..2, 2..4]);
        assert_eq!(cut(&[4, 4, 4], none.clone(), 100), one(0..3));
        // One past the budget is alone.
        assert_eq!(cut(&[2, 20, 2], none.clone(), 8), [0..1, 1..2, 2..3]);
        assert_eq!(cut(&[], none, 8), one(0..0));
    }

    #[test]
    fn a_service_deploying_from_several_repositories_keeps_them_in_one_part() {
        // A service deploys from repositories 1 and 3; another from 3 and 4.
        let spans = [1..4, 3..5];
        assert_eq!(cut(&[4; 6], spans, 8), [0..1, 1..5, 5..6]);
        // Spans only join what they cover.
        assert_eq!(cut(&[4; 4], one(2..3), 4), [0..1, 1..2, 2..3, 3..4]);
    }
}
