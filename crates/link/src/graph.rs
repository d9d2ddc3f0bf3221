//! One repository's commit graph, compact: every sha once, back to back in
//! one string, sorted (a binary search finds one), with each commit's
//! parents as positions and its authored time. A parent that no commit
//! record holds has a position too (a walk reaches it) but no data.
//!
//! At 10M events the link held 5.4M commits as a map of `String` to a
//! `Vec<String>` of parents, about 190 bytes each; here a commit costs its
//! sha, three integers and its parents' positions.

use crate::Micros;

/// A repository's commits (see the module docs).
#[derive(Default)]
pub struct Graph {
    /// The shas, sorted, back to back.
    arena: String,
    /// Where each sha ends in `arena` (sha `i` starts where `i - 1` ends).
    ends: Vec<u32>,
    /// Commit `i`'s parents are `parents[first_parent[i]..first_parent[i + 1]]`.
    first_parent: Vec<u32>,
    parents: Vec<u32>,
    /// Authored time of each commit; [`Graph::UNSTORED`] for a parent no
    /// record holds.
    authored: Vec<Micros>,
}

impl Graph {
    /// The authored time of a commit no record holds.
    const UNSTORED: Micros = Micros::MIN;

    /// The graph of `rows` (sha, parents, authored at): one repository's
    /// commit records, each sha once.
    pub fn build<S: AsRef<str>>(mut rows: Vec<(S, Vec<S>, Micros)>) -> Graph {
        rows.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut names: Vec<&str> = (rows.iter())
            .flat_map(|(sha, parents, _)| std::iter::once(sha).chain(parents))
            .map(S::as_ref)
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
            g.ends.push(g.arena.len() as u32);
        }
        let position = |sha: &str| names.binary_search(&sha).ok();
        let mut row = rows.iter().peekable();
        for name in &names {
            g.first_parent.push(g.parents.len() as u32);
            match row.next_if(|(sha, _, _)| sha.as_ref() == *name) {
                Some((_, parents, at)) => {
                    g.parents.extend(
                        parents
                            .iter()
                            .filter_map(|p| position(p.as_ref()))
                            .map(|i| i as u32),
                    );
                    g.authored.push(*at);
                }
                None => g.authored.push(Self::UNSTORED),
            }
        }
        g.first_parent.push(g.parents.len() as u32);
        g
    }

    /// How many commits the graph names (records and their parents).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the graph names no commit.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The sha at position `i`.
    pub fn sha(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    /// The position of `sha`, if the graph names it.
    pub fn find(&self, sha: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.sha(mid as u32).cmp(sha) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// The parents of commit `i` (none when no record holds it).
    pub fn parents(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.parents[self.first_parent[i] as usize..self.first_parent[i + 1] as usize]
    }

    /// When commit `i` was authored, when a record holds it.
    pub fn authored_at(&self, i: u32) -> Option<Micros> {
        Some(self.authored[i as usize]).filter(|&at| at != Self::UNSTORED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_times_by_position_and_unstored_parents_have_neither() {
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
        let id = |sha| g.find(sha).unwrap();
        let parents = |sha| {
            g.parents(id(sha))
                .iter()
                .map(|&p| g.sha(p))
                .collect::<Vec<_>>()
        };
        assert_eq!(g.len(), 4);
        assert_eq!(parents("c"), vec!["b", "a"]);
        assert_eq!(parents("a"), vec!["z"]);
        assert!(parents("z").is_empty());
        assert_eq!(g.find("nope"), None);
        assert_eq!(
            (g.authored_at(id("b")), g.authored_at(id("z"))),
            (Some(2), None)
        );
        assert!(Graph::default().find("a").is_none());
    }
}
