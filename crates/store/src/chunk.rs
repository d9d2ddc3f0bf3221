//! A chunk of records as Arrow columns, filled where the records are read:
//! each parser thread of a JSON Lines or CSV file puts its records into a
//! [`RecordColumns`] of its own (it is the reader's [`Sink`]), so that a
//! record lives only between its line and its columns, and the importing
//! thread receives batches ready to append. With the records handed over
//! as one vector per chunk instead, the importing thread built every
//! column alone, and a chunk of 100,000 records (tens of MB, in pages the
//! kernel zeroed anew each time) waited between the two.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash, Hasher};

use duckdb::arrow::record_batch::RecordBatch;
use flowmeter_model::{Event, EventKind, Sink};

use crate::append::BLOCK_ROWS;
use crate::columns::Columns;
use crate::link::RepoRows;

/// Records of every type as Arrow columns, in the order they were added
/// within each type; with each record's key hash, and the repositories
/// their keys name.
#[derive(Default)]
pub struct RecordColumns {
    kinds: Vec<(Columns, KindPart)>,
    len: usize,
}

/// One record type's share of a chunk.
#[derive(Default)]
pub(crate) struct KindPart {
    /// Batches of at most one DuckDB vector each (the appender copies a
    /// list column's values per vector it appends, from the whole batch),
    /// without `seq__`.
    pub(crate) batches: Vec<RecordBatch>,
    /// Each record's [`key_hash`], in order.
    pub(crate) keys: Vec<u64>,
    /// The repositories the keys name, up to one past
    /// [`RepoRows::MAX_NAMED`] (more is "many"); none for types not keyed
    /// by repository.
    pub(crate) repos: BTreeSet<String>,
}

impl KindPart {
    fn add_repo(&mut self, repo: &str) {
        if self.repos.len() <= RepoRows::MAX_NAMED && !self.repos.contains(repo) {
            self.repos.insert(repo.to_string());
        }
    }

    fn append(&mut self, later: KindPart) {
        self.batches.extend(later.batches);
        self.keys.extend(later.keys);
        for repo in &later.repos {
            self.add_repo(repo);
        }
    }
}

impl RecordColumns {
    /// The records of a vector (records that did not come from a file).
    pub fn of(events: Vec<Event>) -> RecordColumns {
        let mut out = RecordColumns::default();
        for e in events {
            out.push(e);
        }
        out
    }

    /// Each type's records, in [`EventKind::ALL`] order.
    pub(crate) fn into_parts(mut self) -> impl Iterator<Item = (EventKind, KindPart)> {
        self.finish_open();
        self.kinds.sort_by_key(|(cols, _)| cols.kind());
        self.kinds
            .into_iter()
            .map(|(cols, part)| (cols.kind(), part))
    }

    /// Ends every type's open batch.
    fn finish_open(&mut self) {
        for (cols, part) in &mut self.kinds {
            if cols.len() > 0 {
                part.batches.push(cols.finish());
            }
        }
    }
}

impl Sink for RecordColumns {
    fn with_room(_records: usize) -> Self {
        RecordColumns::default()
    }

    fn push(&mut self, event: Event) {
        let kind = event.kind();
        let at = match self.kinds.iter().position(|(c, _)| c.kind() == kind) {
            Some(at) => at,
            None => {
                self.kinds.push((Columns::new(kind), KindPart::default()));
                self.kinds.len() - 1
            }
        };
        let (cols, part) = &mut self.kinds[at];
        part.keys.push(key_hash(&event));
        if let Some(repo) = key_repo(&event) {
            part.add_repo(repo);
        }
        cols.push(&event);
        if cols.len() == BLOCK_ROWS {
            part.batches.push(cols.finish());
        }
        self.len += 1;
    }

    fn append(&mut self, mut later: Self) {
        self.finish_open();
        later.finish_open();
        for (cols, part) in later.kinds {
            match self.kinds.iter_mut().find(|(c, _)| c.kind() == cols.kind()) {
                Some((_, mine)) => mine.append(part),
                None => self.kinds.push((cols, part)),
            }
        }
        self.len += later.len;
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// The repository of a record whose natural key begins with one.
fn key_repo(event: &Event) -> Option<&str> {
    match event {
        Event::Commit(c) => Some(&c.repo),
        Event::PullRequest(p) => Some(&p.repo),
        Event::Review(r) => Some(&r.repo),
        Event::Deployment(_) | Event::Incident(_) => None,
    }
}

/// A hash of a record's natural key: the columns
/// [`crate::records::table_of`] names.
fn key_hash(event: &Event) -> u64 {
    // Fixed, not seeded per process: a collision only makes a type take
    // the exact path of repeated keys (SipHash here was 1 % of a 10M-event
    // import's CPU).
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    match event {
        Event::Deployment(d) => (&d.source, &d.id).hash(&mut h),
        Event::Commit(c) => (&c.repo, &c.sha).hash(&mut h),
        Event::PullRequest(p) => (&p.repo, p.number).hash(&mut h),
        Event::Review(r) => (&r.repo, r.pr, &r.id).hash(&mut h),
        Event::Incident(i) => (&i.source, &i.id).hash(&mut h),
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Event {
        flowmeter_model::event_from_text(line).unwrap()
    }

    fn commit(repo: &str, sha: &str) -> Event {
        event(&format!(
            r#"{{"type":"commit","repo":"{repo}","sha":"{sha}","authored_at":"2025-01-01T00:00:00Z"}}"#
        ))
    }

    fn shas(parts: Vec<(EventKind, KindPart)>) -> Vec<String> {
        use duckdb::arrow::array::{Array, StringArray};
        let (_, part) = parts
            .into_iter()
            .find(|(k, _)| *k == EventKind::Commit)
            .unwrap();
        let at = crate::columns::position(EventKind::Commit, "sha").unwrap();
        (part.batches.iter())
            .flat_map(|b| {
                let a = b.column(at).as_any().downcast_ref::<StringArray>().unwrap();
                (0..a.len())
                    .map(|i| a.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn appended_parts_keep_each_types_order_in_vector_sized_batches() {
        let deployment = event(
            r#"{"type":"deployment","id":"d","service":"web","environment":"production","status":"success","finished_at":"2025-01-01T00:00:00Z","commit_sha":"ff"}"#,
        );
        let mut first = RecordColumns::with_room(0);
        let mut later = RecordColumns::with_room(0);
        for i in 0..BLOCK_ROWS + 3 {
            first.push(commit("a/b", &format!("{i:05}")));
        }
        later.push(deployment);
        for i in BLOCK_ROWS + 3..BLOCK_ROWS + 10 {
            later.push(commit("a/c", &format!("{i:05}")));
        }
        let mut by_vector = first.len() + later.len();
        first.append(later);
        assert_eq!(first.len(), BLOCK_ROWS + 11);
        let parts: Vec<_> = first.into_parts().collect();
        let kinds: Vec<_> = parts.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [EventKind::Deployment, EventKind::Commit]);
        let (_, commits) = &parts[1];
        assert!(commits.batches.iter().all(|b| b.num_rows() <= BLOCK_ROWS));
        assert_eq!(commits.keys.len(), BLOCK_ROWS + 10);
        assert_eq!(commits.keys[0], key_hash(&commit("a/b", "00000")));
        let repos: Vec<_> = commits.repos.iter().map(String::as_str).collect();
        assert_eq!(repos, ["a/b", "a/c"]);
        by_vector -= 1;
        let expected: Vec<String> = (0..by_vector).map(|i| format!("{i:05}")).collect();
        assert_eq!(shas(parts), expected);
    }

    #[test]
    fn repositories_are_kept_up_to_one_past_the_most_named() {
        let mut records = RecordColumns::with_room(0);
        for i in 0..RepoRows::MAX_NAMED + 5 {
            records.push(commit(&format!("o/r{i}"), "ff"));
        }
        let mut later = RecordColumns::with_room(0);
        later.push(commit("o/other", "ff"));
        records.append(later);
        let (_, part) = records.into_parts().next().unwrap();
        assert_eq!(part.repos.len(), RepoRows::MAX_NAMED + 1);
    }
}
