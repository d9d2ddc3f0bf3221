//! The high-water cursor of a listing that an API filters or orders by time
//! (GitHub's and GitLab's lists), and the [`Pager`] that walks one pass of
//! it page by page.
//!
//! A pass lists everything from the last pass's newest item time (the
//! *mark*) on. Items exactly at the mark may have been delivered already, so
//! the mark keeps their keys; an item is new when it is later than the mark,
//! or at the mark with an unseen key. A pass interrupted between pages keeps
//! its position (`next`) and its own newest time, so the sync resumes on the
//! page it stopped at; only a finished pass moves the mark.
//!
//! The mark never passes the time its pass started. An item time comes from
//! the item (a commit's committer date is the committer's clock): one
//! commit dated in the future would otherwise become the mark, and every
//! later commit, dated before it, would be filtered out until the clock
//! caught up. Items later than the mark are listed again, and found
//! unchanged, until then.
//!
//! ```
//! # use flowmeter_connector::mark::HighWater;
//! # use chrono::{TimeZone, Utc};
//! let since = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let t = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
//! let mut water = HighWater::default();
//! let mut pager = water.pager(since);
//! assert!(pager.is_new(t, "a"));
//! pager.see(t, "a");
//! assert!(pager.turn(None), "no next page: the pass is finished");
//! assert!(!water.pager(since).is_new(t, "a"), "delivered at the mark");
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

type Timestamp = DateTime<Utc>;

/// Where a time-ordered listing got to. Serialised inside a connector's
/// cursor; the older field names of the GitLab cursor (`since`, `seen`) are
/// still read.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct HighWater {
    /// Newest item time of the last finished pass.
    #[serde(default, alias = "since", skip_serializing_if = "Option::is_none")]
    pub mark: Option<Timestamp>,
    /// Keys of the items exactly at `mark` (already delivered).
    #[serde(default, alias = "seen", skip_serializing_if = "Vec::is_empty")]
    pub mark_keys: Vec<String>,
    /// The pass in progress, if it was interrupted. A pass saved in a shape
    /// this version does not read is started again from the mark (which
    /// re-reads, never skips).
    #[serde(
        default,
        deserialize_with = "lenient_pass",
        skip_serializing_if = "Option::is_none"
    )]
    pub pass: Option<Pass>,
}

/// One pass over a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// Items older than this are not part of the pass (in a newest-first
    /// list, the first one ends it).
    pub lower: Timestamp,
    /// The next page: a URL, a GraphQL `endCursor` or a page number; none =
    /// the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// For a pass over several lists in turn (GitHub's incident labels):
    /// the list being read.
    #[serde(default, alias = "label")]
    pub part: usize,
    /// Newest item time seen in this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Timestamp>,
    /// Keys of the items at exactly `max`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub max_keys: Vec<String>,
    /// When the pass started: the highest mark it may leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
}

fn lenient_pass<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Pass>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

impl HighWater {
    /// Starts a pass from the mark (else from `since`, the backfill start),
    /// or resumes the interrupted one.
    pub fn pager(&mut self, since: Timestamp) -> Pager<'_> {
        let now = Utc::now();
        // A mark in the future (left by a version that took an item's
        // time as it came) comes back to now.
        if self.mark.is_some_and(|m| m > now) {
            self.mark = Some(now);
            self.mark_keys.clear();
        }
        let lower = self.mark.unwrap_or(since);
        let pass = self.pass.clone().unwrap_or(Pass {
            lower,
            next: None,
            part: 0,
            max: None,
            max_keys: Vec::new(),
            started: Some(now),
        });
        Pager {
            water: self,
            pass,
            since,
            stopped: false,
        }
    }

    /// Whether nothing was ever listed: no mark and no pass under way.
    pub fn is_fresh(&self) -> bool {
        self.mark.is_none() && self.pass.is_none()
    }

    fn finish(&mut self, mut pass: Pass) {
        if let (Some(max), Some(started)) = (pass.max, pass.started) {
            if max > started {
                // Nothing at `started` is known delivered.
                pass.max = Some(started);
                pass.max_keys.clear();
            }
        }
        if let Some(max) = pass.max {
            match self.mark {
                Some(m) if max < m => {}
                Some(m) if max == m => {
                    for k in pass.max_keys {
                        if !self.mark_keys.contains(&k) {
                            self.mark_keys.push(k);
                        }
                    }
                }
                _ => {
                    self.mark = Some(max);
                    self.mark_keys = pass.max_keys;
                }
            }
        }
        self.pass = None;
    }
}

/// One page after another of a pass: which items are new, what the pass
/// has seen, and where it goes next. Dropping a pager without
/// [`Pager::turn`] leaves the cursor as it was before the page (but for a
/// mark in the future, which [`HighWater::pager`] has brought back to now).
#[derive(Debug)]
pub struct Pager<'a> {
    water: &'a mut HighWater,
    pass: Pass,
    since: Timestamp,
    stopped: bool,
}

impl Pager<'_> {
    /// The page to ask for (`None`: the first one).
    pub fn next(&self) -> Option<&str> {
        self.pass.next.as_deref()
    }

    /// The pass's lower bound: the mark, or the backfill start.
    pub fn lower(&self) -> Timestamp {
        self.pass.lower
    }

    /// Which of several lists the pass is reading (see [`Pass::part`]).
    pub fn part(&self) -> usize {
        self.pass.part
    }

    /// Whether `t` is before the pass's lower bound.
    pub fn is_older(&self, t: Timestamp) -> bool {
        t < self.pass.lower
    }

    /// Ends the pass after this page (a newest-first list reached items
    /// older than the lower bound).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether an item at `t` with `key` was not delivered by an earlier
    /// pass (nor is before the backfill start).
    pub fn is_new(&self, t: Timestamp, key: &str) -> bool {
        match self.water.mark {
            None => t >= self.since,
            Some(m) => t > m || (t == m && !self.water.mark_keys.iter().any(|k| k == key)),
        }
    }

    /// Records a delivered item (the newest one becomes the next mark).
    pub fn see(&mut self, t: Timestamp, key: &str) {
        let pass = &mut self.pass;
        match pass.max {
            Some(m) if t < m => {}
            Some(m) if t == m => {
                if !pass.max_keys.iter().any(|k| k == key) {
                    pass.max_keys.push(key.to_string());
                }
            }
            _ => {
                pass.max = Some(t);
                pass.max_keys = vec![key.to_string()];
            }
        }
    }

    /// Takes an item if it is new ([`Pager::is_new`]) and not taken by this
    /// pass already (at its newest time: a list paged by time lists those
    /// again, see [`TimePage`]), recording it ([`Pager::see`]); says whether
    /// it was.
    pub fn take(&mut self, t: Timestamp, key: &str) -> bool {
        let again = self.pass.max == Some(t) && self.pass.max_keys.iter().any(|k| k == key);
        let new = !again && self.is_new(t, key);
        if new {
            self.see(t, key);
        }
        new
    }

    /// After a page: goes on to `next`, or finishes the pass (no next page,
    /// or [`Pager::stop`] was called) and moves the mark. Returns whether
    /// the pass is finished.
    pub fn turn(mut self, next: Option<String>) -> bool {
        match next {
            Some(n) if !self.stopped => {
                self.pass.next = Some(n);
                self.water.pass = Some(self.pass);
                false
            }
            _ => {
                self.water.finish(self.pass);
                true
            }
        }
    }

    /// Like [`Pager::turn`] for a pass over `parts` lists in turn: the end
    /// of one list goes on to the first page of the next.
    pub fn turn_part(mut self, next: Option<String>, parts: usize) -> bool {
        if next.is_none() && !self.stopped && self.pass.part + 1 < parts {
            self.pass.part += 1;
            self.pass.next = None;
            self.water.pass = Some(self.pass);
            return false;
        }
        self.turn(next)
    }
}

/// Where an unfinished pass over a list the API orders and filters by
/// update time goes on (the pass's `next`, see [`Pager::next`]).
///
/// A list ordered by update time is paged by time: the next page is page 1
/// of the list from the last item's time (the filters include it; the
/// items at that time listed again are known to the pass and skipped, see
/// [`Pager::take`]). Paged by offset, a pass skipped items: one updated
/// during the pass moves to the end and every item after it one place
/// forward, so the first item of the next page slid onto the page already
/// read, and the pass's mark passed it for good. Offsets stay for lists
/// whose items do not move (a branch's commits), for a page whose items
/// all share one time, and for the rest of a pass once the server is seen
/// ignoring the filter. GitLab's merge requests, deployments and incidents
/// and GitHub's incident issues are paged so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimePage {
    /// The time the list is asked from (`None`: the pass's lower bound).
    pub from: Option<Timestamp>,
    /// The page of the list from `from` (1: the first).
    pub page: u32,
    /// The server ignores the time filter: offsets to the end of the pass.
    pub by_offset: bool,
}

impl TimePage {
    /// Reads `next`: `TIME|PAGE`, `TIME|PAGE|offset`, or a page number (an
    /// offset from the lower bound, as versions before paging by time saved).
    pub fn parse(next: Option<&str>) -> TimePage {
        let mut parts = next.unwrap_or_default().split('|');
        let first = parts.next().unwrap_or_default();
        let Some(page) = parts.next().and_then(|p| p.parse().ok()) else {
            let page = first.parse().unwrap_or(1);
            return TimePage {
                from: None,
                page,
                by_offset: false,
            };
        };
        let from = DateTime::parse_from_rfc3339(first)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        TimePage {
            from,
            page,
            by_offset: parts.next() == Some("offset"),
        }
    }

    /// What [`TimePage::parse`] reads back.
    pub fn token(&self) -> String {
        match self.from {
            None => self.page.to_string(),
            Some(from) if self.by_offset => format!("{}|{}|offset", millis(from), self.page),
            Some(from) => format!("{}|{}", millis(from), self.page),
        }
    }

    /// After a page asked from `from` whose items have `times` (in list
    /// order), with `next_page` the server's next page: where to go on.
    pub fn after(
        self,
        by_time: bool,
        from: Timestamp,
        times: &[Timestamp],
        next_page: u32,
    ) -> TimePage {
        let offset = |by_offset: bool| TimePage {
            from: self.from.or(by_offset.then_some(from)),
            page: next_page,
            by_offset,
        };
        if !by_time || self.by_offset {
            return offset(self.by_offset);
        }
        // An item before the time asked for (the request may send it to
        // the second): the server does not filter.
        if times
            .iter()
            .any(|t| *t < from - chrono::Duration::seconds(1))
        {
            return offset(true);
        }
        match times.iter().max().copied() {
            Some(later) if later > from => TimePage {
                from: Some(later),
                page: 1,
                by_offset: false,
            },
            _ => offset(false),
        }
    }
}

/// A time as the APIs take it: RFC 3339 in UTC, to the millisecond.
pub fn millis(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap()
    }

    /// A cursor whose first pass (from day 1) read one page, saw `a` at
    /// day 5, and has a second page to read.
    fn after_one_page() -> HighWater {
        let mut w = HighWater::default();
        let mut p = w.pager(at(1));
        p.see(at(5), "a");
        assert!(!p.turn(Some("page2".into())));
        w
    }

    #[test]
    fn an_item_dated_in_the_future_does_not_move_the_mark_past_now() {
        let future = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let mut w = HighWater::default();
        let before = Utc::now();
        let mut p = w.pager(at(1));
        assert!(p.take(at(3), "a"));
        assert!(p.take(future, "x"));
        assert!(p.turn(None));
        let mark = w.mark.unwrap();
        assert!(mark >= before && mark <= Utc::now(), "{mark}");
        assert!(w.mark_keys.is_empty());
        let p = w.pager(at(1));
        assert!(
            p.lower() <= Utc::now(),
            "the next pass lists what came since"
        );
        assert!(p.is_new(Utc::now() + chrono::Duration::minutes(1), "y"));
        // A cursor whose mark an earlier version left in the future.
        let mut old = HighWater {
            mark: Some(future),
            mark_keys: vec!["x".into()],
            pass: None,
        };
        assert!(old.pager(at(1)).lower() <= Utc::now());
    }

    #[test]
    fn an_interrupted_pass_resumes_and_only_a_finished_one_moves_the_mark() {
        let mut w = after_one_page();
        assert_eq!(w.mark, None, "the mark moves only when the pass ends");
        let mut p = w.pager(at(1));
        assert_eq!(p.next(), Some("page2"));
        p.see(at(3), "b");
        assert!(p.turn(None));
        assert_eq!(
            (w.mark, w.mark_keys.clone()),
            (Some(at(5)), vec!["a".into()])
        );
        let p = w.pager(at(1));
        assert_eq!(p.lower(), at(5));
        assert!(!p.is_new(at(5), "a") && p.is_new(at(5), "c") && p.is_new(at(6), "a"));
        assert!(!p.is_new(at(4), "d"));
    }

    #[test]
    fn a_page_given_up_leaves_the_cursor_as_it_was() {
        let mut w = after_one_page();
        let before = w.clone();
        let mut p = w.pager(at(1));
        p.see(at(7), "b");
        drop(p); // the request for this page failed
        assert_eq!(w, before);
    }

    #[test]
    fn stop_ends_a_newest_first_pass_and_parts_follow_each_other() {
        let mut w = HighWater::default();
        let mut p = w.pager(at(2));
        assert!(p.is_older(at(1)));
        p.stop();
        assert!(
            p.turn(Some("more".into())),
            "stopped: the next page is not read"
        );
        let p = w.pager(at(2));
        assert!(!p.turn_part(None, 2));
        let p = w.pager(at(2));
        assert_eq!((p.part(), p.next()), (1, None));
        assert!(p.turn_part(None, 2));
        assert!(w.pass.is_none());
    }

    #[test]
    fn reads_the_older_cursor_shapes() {
        // GitHub's (mark, mark_keys, pass.label) and GitLab's (since, seen,
        // pass with a page number: restarted from the mark).
        let github: HighWater = serde_json::from_str(
            r#"{"mark":"2026-01-05T00:00:00Z","mark_keys":["a"],
                "pass":{"lower":"2026-01-05T00:00:00Z","next":"u","label":1}}"#,
        )
        .unwrap();
        assert_eq!(github.pass.as_ref().map(|p| p.part), Some(1));
        let gitlab: HighWater = serde_json::from_str(
            r#"{"since":"2026-01-05T00:00:00.000Z","seen":["7"],
                "pass":{"from":"2026-01-05T00:00:00.000Z","page":3,"max":null,"max_ids":[]}}"#,
        )
        .unwrap();
        assert_eq!(gitlab.mark, Some(at(5)));
        assert_eq!(gitlab.mark_keys, vec!["7".to_string()]);
        assert_eq!(gitlab.pass, None);
    }

    fn at_min(min: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, min, 0).unwrap()
    }

    #[test]
    fn a_page_by_update_time_goes_on_from_its_last_time() {
        let first = TimePage::parse(None);
        assert_eq!((first.from, first.page), (None, 1));
        let next = first.after(true, at_min(0), &[at_min(1), at_min(5), at_min(9)], 2);
        let later = at_min(9);
        assert_eq!(
            next,
            TimePage {
                from: Some(later),
                page: 1,
                by_offset: false
            }
        );
        assert_eq!(TimePage::parse(Some(&next.token())), next);
    }

    #[test]
    fn offsets_stay_where_time_cannot_move_on() {
        // Commits, and a page whose items all share one time.
        let page = TimePage::parse(Some("3"));
        assert_eq!(page.after(false, at_min(0), &[at_min(7)], 4).token(), "4");
        let from = TimePage {
            from: Some(at_min(9)),
            page: 1,
            by_offset: false,
        };
        let same = from.after(true, at_min(9), &[at_min(9), at_min(9)], 2);
        assert_eq!(
            same,
            TimePage {
                from: Some(at_min(9)),
                page: 2,
                by_offset: false
            }
        );
        // A server that lists items before the time asked for ignores the
        // filter: offsets to the end of the pass.
        let ignored = from.after(true, at_min(9), &[at_min(1), at_min(12)], 2);
        assert_eq!(
            ignored,
            TimePage {
                from: Some(at_min(9)),
                page: 2,
                by_offset: true
            }
        );
        assert_eq!(TimePage::parse(Some(&ignored.token())), ignored);
        assert_eq!(ignored.after(true, at_min(9), &[at_min(20)], 3).page, 3);
    }
}
