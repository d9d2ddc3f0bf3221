//! One repository's commit graph, compact: every sha once, back to back in
//! one string, sorted (a binary search finds one), with each commit's
//! parents as positions and its authored time. A parent that no commit
//! record holds has a position too (a walk reaches it) but no data.
//!
//! At 10M events the link held 5.4M commits as a map of `String` to a
//! `Vec<String>` of parents, about 190 bytes each; here a commit costs its
//! sha, three integers and its parents' positions.

/// Microseconds since the epoch (UTC).
type Micros = i64;

/// A repository's commits (see the module docs).
#[derive(Default)]
pub(crate) struct Graph {
    /// The shas, sorted, back to back.
    arena: String,
    /// Where each sha ends in `arena` (sha `i` starts where `i - 1` ends).
    ends: Vec<usize>,
    /// Commit `i`'s parents are `parents[first_parent[i]..first_parent[i + 1]]`.
    first_parent: Vec<u32>,
    parents: Vec<u32>,
    /// Authored time of each commit; `None` for a parent no record holds.
    authored: Vec<Option<Micros>>,
}

impl Graph {
    /// The graph of `rows` (sha, parents, authored at): one repository's
    /// commit records, each sha once.
    pub(crate) fn build(mut rows: Vec<(String, Vec<String>, Micros)>) -> Graph {
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut names: Vec<&str> = (rows.iter())
            .flat_map(|(sha, parents, _)| std::iter::once(sha).chain(parents))
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut g = Graph {
            arena: String::with_capacity(names.iter().map(|s| s.len()).sum()),
            ends: Vec::with_capacity(names.len()),
            first_parent: Vec::with_capacity(names.len() + 1),
            parents: Vec::new(),
            authored: Vec::with_capacity(names.len()),
        };
        for name in &names {
            g.arena.push_str(name);
            g.ends.push(g.arena.len());
        }
        let position = |sha: &str| names.binary_search(&sha).ok();
        let mut row = rows.iter().peekable();
        for name in &names {
            g.first_parent.push(g.parents.len() as u32);
            match row.next_if(|(sha, _, _)| sha == name) {
                Some((_, parents, at)) => {
                    g.parents
                        .extend(parents.iter().filter_map(|p| position(p)).map(|i| i as u32));
                    g.authored.push(Some(*at));
                }
                None => g.authored.push(None),
            }
        }
        g.first_parent.push(g.parents.len() as u32);
        g
    }

    /// The `i`-th sha.
    fn sha(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.arena[start..self.ends[i]]
    }

    /// The position of `sha`, if the graph names it.
    fn find(&self, sha: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.sha(mid).cmp(sha) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The parents of `sha` when a record holds it (none otherwise), as
    /// shas borrowed from the graph.
    pub(crate) fn parents(&self, sha: &str) -> Option<impl Iterator<Item = &str>> {
        let i = self.find(sha).filter(|&i| self.authored[i].is_some())?;
        let range = self.first_parent[i] as usize..self.first_parent[i + 1] as usize;
        Some(self.parents[range].iter().map(|&p| self.sha(p as usize)))
    }

    /// When `sha` was authored, when a record holds it.
    pub(crate) fn authored_at(&self, sha: &str) -> Option<Micros> {
        self.authored[self.find(sha)?]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_times_by_sha_and_unstored_parents_have_neither() {
        let row = |sha: &str, parents: &[&str], at: Micros| {
            let parents = parents.iter().map(|p| p.to_string()).collect();
            (sha.to_string(), parents, at)
        };
        // c merges b and a; a's parent z is not stored.
        let g = Graph::build(vec![
            row("c", &["b", "a"], 3),
            row("a", &["z"], 1),
            row("b", &["a"], 2),
        ]);
        let parents = |sha| g.parents(sha).map(|p| p.collect::<Vec<_>>());
        assert_eq!(parents("c"), Some(vec!["b", "a"]));
        assert_eq!(parents("a"), Some(vec!["z"]));
        assert_eq!(parents("z"), None);
        assert_eq!(parents("nope"), None);
        assert_eq!((g.authored_at("b"), g.authored_at("z")), (Some(2), None));
        assert!(Graph::default().parents("a").is_none());
    }
}
