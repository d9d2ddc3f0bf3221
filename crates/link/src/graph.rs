//! One repository's commit graph, compact: every sha once, back to back in
//! one string in sha order, with each commit's parents as positions and its
//! authored time, and a hash index that finds a sha's position. A parent
//! that no commit record holds has a position too (a walk reaches it) but
//! no data.
//!
//! At 10M events the link held 5.4M commits as a map of `String` to a
//! `Vec<String>` of parents, about 190 bytes each; here a commit costs its
//! sha, three integers, its parents' positions and 6–12 bytes of index.

use std::hash::BuildHasher;

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
    /// Each sha's position, by its hash.
    index: Index,
}

impl Graph {
    /// The authored time of a commit no record holds.
    const UNSTORED: Micros = Micros::MIN;

    /// The graph of `rows` (sha, parents, authored at): one repository's
    /// commit records, each sha once. The records are ordered by sha once
    /// (by their first eight bytes as an integer, the rest only where those
    /// tie); a parent is found among them by hash, and the few that no
    /// record holds are sorted on their own and merged in. (Sorting the
    /// records by whole shas and finding parents by binary search was most
    /// of the commits' load at 10M events.)
    pub fn build<S: AsRef<str>>(rows: Vec<(S, Vec<S>, Micros)>) -> Graph {
        let sha = |r: u32| rows[r as usize].0.as_ref();
        let mut order: Vec<(u64, u32)> = (0..rows.len() as u32)
            .map(|r| (prefix(sha(r)), r))
            .collect();
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| sha(a.1).cmp(sha(b.1))));
        let mut record_of = Index::with_len(rows.len());
        for r in 0..rows.len() as u32 {
            record_of.insert(sha(r), r);
        }
        // Each parent, in the rows' order: the record holding it, or none;
        // row `r`'s from `held_from[r]`.
        let mut held: Vec<u32> = Vec::new();
        let mut held_from: Vec<u32> = Vec::with_capacity(rows.len());
        for (_, parents, _) in &rows {
            held_from.push(held.len() as u32);
            held.extend(
                (parents.iter()).map(|p| record_of.find(p.as_ref(), sha).unwrap_or(NO_RECORD)),
            );
        }
        drop(record_of);
        let parents = || rows.iter().flat_map(|(_, parents, _)| parents);
        let mut unstored: Vec<&str> = (parents().zip(&held))
            .filter(|(_, &h)| h == NO_RECORD)
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
            index: Index::with_len(len),
        };
        // The records (in sha order) and the unstored parents, merged: the
        // position of each record (by row) and of each unstored parent, and
        // at each position, the row there (`NO_RECORD`: an unstored parent).
        let mut at_record = vec![0u32; rows.len()];
        let mut at_unstored = Vec::with_capacity(unstored.len());
        let mut row_at = Vec::with_capacity(len);
        let (mut i, mut j) = (0, 0);
        while i < order.len() || j < unstored.len() {
            let position = g.ends.len() as u32;
            let text = if j == unstored.len() || (i < order.len() && sha(order[i].1) < unstored[j])
            {
                let r = order[i].1;
                at_record[r as usize] = position;
                row_at.push(r);
                i += 1;
                sha(r)
            } else {
                at_unstored.push(position);
                row_at.push(NO_RECORD);
                j += 1;
                unstored[j - 1]
            };
            g.arena.push_str(text);
            g.ends.push(g.arena.len() as u32);
            g.index.insert(text, position);
        }
        drop(order);
        for r in row_at {
            g.first_parent.push(g.parents.len() as u32);
            if r == NO_RECORD {
                g.authored.push(Self::UNSTORED);
                continue;
            }
            let (_, parents, at) = &rows[r as usize];
            let from = held_from[r as usize] as usize;
            for (p, &h) in parents.iter().zip(&held[from..]) {
                g.parents.push(match h {
                    NO_RECORD => {
                        at_unstored[unstored.binary_search(&p.as_ref()).expect("listed above")]
                    }
                    r => at_record[r as usize],
                });
            }
            g.authored.push(*at);
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
        self.index.find(sha, |i| self.sha(i))
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

/// "No record holds this parent", in [`Graph::build`].
const NO_RECORD: u32 = u32::MAX;

/// A string's first eight bytes as a big-endian integer (zeros past its
/// end): strings in this order are in string order, but where it ties.
fn prefix(s: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = s.len().min(8);
    bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

/// Numbers of strings kept elsewhere, found by the strings' hashes: open
/// addressing with linear probing, at most two thirds full, each slot a
/// number plus one (0: empty). Positions never depend on the hash. A
/// `HashMap<&str, u32>` would hold a second pointer and length per sha.
#[derive(Default)]
struct Index {
    slots: Vec<u32>,
    /// Seeded anew for each index: shas come from imported files, and a
    /// fixed hash would let crafted ones pile onto one run of slots.
    hasher: foldhash::fast::RandomState,
}

impl Index {
    /// An index with room for `n` numbers.
    fn with_len(n: usize) -> Index {
        if n == 0 {
            return Index::default();
        }
        Index {
            slots: vec![0; (n + n / 2 + 1).next_power_of_two()],
            hasher: Default::default(),
        }
    }

    fn start(&self, key: &str) -> usize {
        let h = self.hasher.hash_one(key);
        (h ^ (h >> 32)) as usize & (self.slots.len() - 1)
    }

    /// Adds `number`, whose string is `key`.
    fn insert(&mut self, key: &str, number: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = number + 1;
    }

    /// The first number added whose string (`text_of` it) is `key`.
    fn find<'a>(&self, key: &str, text_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        loop {
            match self.slots[i] {
                0 => return None,
                n if text_of(n - 1) == key => return Some(n - 1),
                _ => i = (i + 1) & mask,
            }
        }
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

    /// Shas that tie on their first eight bytes, or are shorter, still
    /// come in sha order, and the index finds each one (and no other) in a
    /// graph big enough to probe past collisions.
    #[test]
    fn positions_follow_whole_shas_and_the_index_finds_every_one() {
        let mut shas: Vec<String> = (0..5000).map(|i| format!("{:040x}", i * 7919)).collect();
        shas.extend(
            [
                "abcdefgh2",
                "abcdefgh10",
                "abcdefgh1",
                "abc",
                "abcdefgh",
                "ab",
            ]
            .map(String::from),
        );
        let rows: Vec<(&str, Vec<&str>, Micros)> = (shas.iter().enumerate())
            .map(|(i, s)| {
                let parent = if i % 3 == 0 {
                    vec![]
                } else {
                    vec![shas[i / 2].as_str()]
                };
                (s.as_str(), parent, i as Micros)
            })
            .rev()
            .collect();
        let g = Graph::build(rows);
        let mut sorted = shas.clone();
        sorted.sort();
        let in_graph: Vec<&str> = (0..g.len() as u32).map(|i| g.sha(i)).collect();
        assert_eq!(in_graph, sorted);
        for (i, s) in shas.iter().enumerate() {
            let id = g.find(s).unwrap();
            assert_eq!(
                (g.sha(id), g.authored_at(id)),
                (s.as_str(), Some(i as Micros))
            );
            let parents: Vec<&str> = g.parents(id).iter().map(|&p| g.sha(p)).collect();
            let expected: Vec<&str> = if i % 3 == 0 {
                vec![]
            } else {
                vec![&shas[i / 2]]
            };
            assert_eq!(parents, expected);
        }
        assert_eq!(g.find("abcdefgh3"), None);
        assert_eq!(g.find(""), None);
    }
}
