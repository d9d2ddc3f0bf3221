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
    /// commit records, each sha once. The records are sorted once; a
    /// parent is found among them, and the few that no record holds are
    /// sorted on their own and merged in (sorting every sha and parent
    /// together was most of the build).
    pub fn build<S: AsRef<str>>(mut rows: Vec<(S, Vec<S>, Micros)>) -> Graph {
        rows.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let record = |sha: &str| rows.binary_search_by(|r| r.0.as_ref().cmp(sha)).ok();
        // Each parent, in order: the record holding it, or none.
        let held: Vec<Option<usize>> = (rows.iter())
            .flat_map(|(_, parents, _)| parents.iter().map(|p| record(p.as_ref())))
            .collect();
        let parents = || rows.iter().flat_map(|(_, parents, _)| parents);
        let mut unstored: Vec<&str> = (parents().zip(&held))
            .filter(|(_, h)| h.is_none())
            .map(|(p, _)| p.as_ref())
            .collect();
        unstored.sort_unstable();
        unstored.dedup();
        let len = rows.len() + unstored.len();
        let bytes = rows.iter().map(|r| r.0.as_ref().len()).sum::<usize>()
            + unstored.iter().map(|s| s.len()).sum::<usize>();
        let mut g = Graph {
            arena: String::with_capacity(bytes),
            ends: Vec::with_capacity(len),
            first_parent: Vec::with_capacity(len + 1),
            parents: Vec::with_capacity(held.len()),
            authored: Vec::with_capacity(len),
        };
        // The records and the unstored parents, merged in sha order: the
        // position of each.
        let (mut at_record, mut at_unstored) = (Vec::with_capacity(rows.len()), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < rows.len() || j < unstored.len() {
            let position = g.ends.len() as u32;
            let sha = if j == unstored.len() || (i < rows.len() && rows[i].0.as_ref() < unstored[j])
            {
                at_record.push(position);
                i += 1;
                rows[i - 1].0.as_ref()
            } else {
                at_unstored.push(position);
                j += 1;
                unstored[j - 1]
            };
            g.arena.push_str(sha);
            g.ends.push(g.arena.len() as u32);
        }
        let position = |parent: &str, held: Option<usize>| match held {
            Some(r) => at_record[r],
            None => at_unstored[unstored.binary_search(&parent).expect("listed above")],
        };
        // The records come in the order their parents were listed in.
        let mut held = held.into_iter();
        let (mut i, mut j) = (0, 0);
        for position_now in 0..len as u32 {
            g.first_parent.push(g.parents.len() as u32);
            if at_record.get(i) == Some(&position_now) {
                let (_, parents, at) = &rows[i];
                for (p, h) in parents.iter().zip(held.by_ref()) {
                    g.parents.push(position(p.as_ref(), h));
                }
                g.authored.push(*at);
                i += 1;
            } else {
                g.authored.push(Self::UNSTORED);
                j += 1;
            }
        }
        debug_assert_eq!((i, j), (rows.len(), unstored.len()));
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

    /// Unstored parents sort before, between and after the records, one
    /// is named by two commits, and positions follow sha order throughout.
    #[test]
    fn unstored_parents_take_their_place_in_sha_order() {
        let g = Graph::build(vec![
            ("d", vec!["b", "a"], 4),
            ("b", vec!["a", "e"], 2),
            ("c", vec![], 3),
        ]);
        let shas: Vec<&str> = (0..g.len() as u32).map(|i| g.sha(i)).collect();
        assert_eq!(shas, ["a", "b", "c", "d", "e"]);
        let parents = |sha| -> Vec<&str> {
            let id = g.find(sha).unwrap();
            g.parents(id).iter().map(|&p| g.sha(p)).collect()
        };
        assert_eq!(parents("d"), ["b", "a"]);
        assert_eq!(parents("b"), ["a", "e"]);
        assert!(parents("c").is_empty() && parents("a").is_empty());
        let at = |sha| g.authored_at(g.find(sha).unwrap());
        assert_eq!(
            (at("a"), at("b"), at("c"), at("e")),
            (None, Some(2), Some(3), None)
        );
    }
}
