//! What the server does by the clock: each source with `interval = "15m"`
//! is synced on its schedule (at most one sync per source at a time, its
//! writes through the one writer), and the weekly digest is posted at
//! `[serve] digest = "mon 09:00 Europe/Berlin"` (UTC without a zone).

use std::collections::HashSet;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use flowmeter_app::sync::{self, Progress, SyncStore};
use flowmeter_app::{AppError, Question};
use flowmeter_connector::SyncContext;
use flowmeter_model::Event;
use flowmeter_store::{ImportSummary, Store};
use tokio::task::JoinHandle;

use crate::state::State;
use crate::writer::WriteQueue;

/// Starts the schedules; the handles are aborted at shutdown.
pub fn start(state: State) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let config = state.config.clone();
    for src in sync::sources(&config, None).unwrap_or_default() {
        let Ok(Some(every)) = src.interval() else {
            continue;
        };
        let name = src.name.clone();
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                run_sync(&state, &name).await;
            }
        }));
    }
    if let Some(when) = state.config.serve.digest.clone() {
        match parse_weekly(&when) {
            Some(when) => {
                let state = state.clone();
                tasks.push(tokio::spawn(async move {
                    loop {
                        let next = next_at(Utc::now(), when);
                        let wait = (next - Utc::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait).await;
                        if let Err(e) = post_digest(&state).await {
                            flowmeter_connector::report::info(format!(
                                "error: the scheduled digest was not posted: {e}"
                            ));
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(61)).await;
                    }
                }));
            }
            None => flowmeter_connector::report::info(format!(
                "warning: `[serve] digest = \"{when}\"` is not a weekly time like \"mon 09:00\", \"mon 09:00 Europe/Berlin\" or \"mon 09:00 +01:00\"; no digest will be posted"
            )),
        }
    }
    tasks
}

/// A weekly moment: a day, a time, and the zone it is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekly {
    pub day: Weekday,
    pub time: NaiveTime,
    pub zone: Zone,
}

/// The zone of a weekly moment: a fixed UTC offset, or a named (IANA)
/// time zone that follows daylight saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(Tz),
}

impl Zone {
    /// `date` at `time` in this zone, as UTC: the earlier of a repeated
    /// local time; a time skipped by a daylight-saving jump moves on by
    /// quarter hours until it exists (02:30 in a 02:00–03:00 gap: 03:00).
    fn at(self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        fn first<T: TimeZone>(zone: &T, local: NaiveDateTime) -> Option<DateTime<Utc>> {
            (0..=4).find_map(|quarter| {
                (local + Duration::minutes(15 * quarter))
                    .and_local_timezone(zone.clone())
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            })
        }
        match self {
            Zone::Fixed(offset) => first(&offset, date.and_time(time)),
            Zone::Named(tz) => first(&tz, date.and_time(time)),
        }
    }

    /// The local date of `now` in this zone.
    fn date(self, now: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Fixed(offset) => now.with_timezone(&offset).date_naive(),
            Zone::Named(tz) => now.with_timezone(&tz).date_naive(),
        }
    }
}

/// `"mon 09:00"` (UTC), `"mon 09:00 Europe/Berlin"` (a named time zone,
/// following daylight saving) or `"mon 09:00 +01:00"` (a fixed offset).
pub fn parse_weekly(s: &str) -> Option<Weekly> {
    let mut parts = s.split_whitespace();
    let day: Weekday = parts.next()?.parse().ok()?;
    let time = NaiveTime::parse_from_str(parts.next()?, "%H:%M").ok()?;
    let zone = match parts.next() {
        None | Some("UTC") | Some("Z") => Zone::Fixed(FixedOffset::east_opt(0)?),
        Some(o) if o.starts_with(['+', '-']) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (h, m) = o[1..].split_once(':')?;
            let secs = sign * (h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60);
            Zone::Fixed(FixedOffset::east_opt(secs)?)
        }
        // Region/City names only: abbreviations (`CET`, `EST`) are
        // ambiguous about daylight saving.
        Some(name) if name.contains('/') => Zone::Named(name.parse().ok()?),
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Weekly { day, time, zone })
}

/// The first such moment strictly after `now`.
pub fn next_at(now: DateTime<Utc>, w: Weekly) -> DateTime<Utc> {
    let mut date = w.zone.date(now);
    loop {
        if date.weekday() == w.day {
            if let Some(at) = w.zone.at(date, w.time) {
                if at > now {
                    return at;
                }
            }
        }
        date += Duration::days(1);
    }
}

async fn post_digest(state: &State) -> Result<(), AppError> {
    use flowmeter_app::post::{self, Channel};
    let serve = &state.config.serve;
    let channel = match serve.digest_channel.as_deref() {
        Some("teams") => Channel::Teams,
        Some("slack") | None => Channel::Slack,
        Some(other) => {
            return Err(AppError::Invalid(format!(
                "`[serve] digest_channel` is \"slack\" or \"teams\", not \"{other}\""
            )))
        }
    };
    let url = post::webhook_url(channel, serve.digest_url_env.as_deref())
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let config = state.config.clone();
    let digest = state
        .readers
        .with(move |store| flowmeter_app::read::weekly_digest(store, &config, &Question::default()))
        .await?;
    let link = serve
        .dashboard_url
        .as_deref()
        .map(|base| post::dashboard_link(base, &digest));
    let message = channel.message(&digest, link.as_deref());
    let client = post::client().map_err(|e| AppError::Other(e.to_string()))?;
    post::post(&client, &url, &message)
        .await
        .map_err(|e| AppError::Other(e.to_string()))?;
    flowmeter_connector::report::info("posted the weekly digest");
    Ok(())
}

fn now_text() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Runs one sync of `name` unless one is running; records its progress
/// and outcome for the sources page.
pub async fn run_sync(state: &State, name: &str) {
    {
        let mut sources = state.sources.lock().unwrap_or_else(|p| p.into_inner());
        let st = sources.entry(name.to_string()).or_default();
        if st.running {
            return;
        }
        st.running = true;
        st.progress = None;
        st.last_started = Some(now_text());
    }
    let state2 = state.clone();
    let name2 = name.to_string();
    // The sync runs on its own thread with its own runtime: its store calls
    // block (reads on a read handle, writes waiting for the writer).
    let outcome = tokio::task::spawn_blocking(move || sync_blocking(&state2, &name2))
        .await
        .unwrap_or_else(|e| Err(format!("the sync failed: {e}")));
    let mut sources = state.sources.lock().unwrap_or_else(|p| p.into_inner());
    let st = sources.entry(name.to_string()).or_default();
    st.running = false;
    st.progress = None;
    st.last_finished = Some(now_text());
    match outcome {
        Ok(text) => {
            st.last_result = Some(text);
            st.last_error = None;
        }
        Err(e) => {
            flowmeter_connector::report::info(format!("error: source `{name}`: {e}"));
            st.last_result = Some("failed".into());
            st.last_error = Some(e);
        }
    }
}

fn sync_blocking(state: &State, name: &str) -> Result<String, String> {
    let config = state.config.clone();
    let sources = sync::sources(&config, Some(name)).map_err(|e| e.to_string())?;
    let source = &sources[0];
    let reader = state.readers.dedicated().map_err(|e| e.to_string())?;
    let mut store = Queued {
        reader,
        writes: state.writes.clone(),
    };
    let ctx = SyncContext {
        since: source.since(None).map_err(|e| e.to_string())?,
        full: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the sync's runtime: {e}"))?;
    let shared = state.clone();
    let label = name.to_string();
    let mut on_progress = move |p: Progress| {
        let line = match p {
            Progress::Note(n) => {
                flowmeter_connector::report::info(format!("note: {n}"));
                return;
            }
            Progress::Batch(b) => b.to_string(),
        };
        let mut sources = shared.sources.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(st) = sources.get_mut(&label) {
            st.progress = Some(line);
        }
    };
    let mut stopping = state.stopping.subscribe();
    let done = runtime.block_on(async {
        tokio::select! {
            done = sync::sync_source(&mut store, &config, &ctx, source, &mut on_progress) => {
                done.map_err(|e| e.to_string())
            }
            // At shutdown the sync stops, also in the middle of a request or
            // a rate-limit wait; every batch stored so far stays, with its
            // cursor, so the next sync resumes there.
            _ = stopping.wait_for(|stop| *stop) => Err(
                "stopped: the server shut down; the next sync resumes after the last stored batch".to_string()
            ),
        }
    })?;
    Ok(done.text(name))
}

/// The store as a scheduled sync sees it: reads on its own handle, writes
/// through the writer.
struct Queued {
    reader: Store,
    writes: WriteQueue,
}

impl SyncStore for Queued {
    fn cursor(&mut self, source: &str) -> Result<Option<String>, AppError> {
        Ok(self.reader.cursor(source)?)
    }
    fn services(&mut self) -> Result<Vec<String>, AppError> {
        Ok(self.reader.services()?)
    }
    fn import(
        &mut self,
        events: Vec<Event>,
        withdrawn: &[String],
        cursor: Option<(&str, &str)>,
    ) -> Result<ImportSummary, AppError> {
        let cursor = cursor.map(|(n, c)| (n.to_string(), c.to_string()));
        self.writes
            .import_blocking(events, withdrawn.to_vec(), cursor)
            .map_err(AppError::Other)
    }
    fn commit_gaps(
        &mut self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, AppError> {
        Ok(self.reader.commit_gaps(source, since)?)
    }
    fn known_commits(&mut self, repo: &str, shas: &[String]) -> Result<HashSet<String>, AppError> {
        Ok(self.reader.known_commits(repo, shas)?)
    }
    fn environments_marked_production(&mut self, source: &str) -> Result<Vec<String>, AppError> {
        Ok(self.reader.environments_marked_production(source)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_next_digest_time_is_strictly_later() {
        let w = parse_weekly("mon 09:00").unwrap();
        let monday_9 = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        assert_eq!(next_at(monday_9 - Duration::minutes(1), w), monday_9);
        assert_eq!(next_at(monday_9, w), monday_9 + Duration::days(7));
        assert!(parse_weekly("monday at nine").is_none());
    }

    #[test]
    fn a_digest_time_is_read_in_its_offset() {
        // Monday 09:00 in UTC+01:00 is 08:00 UTC; in UTC-05:00, 14:00 UTC.
        let berlin = parse_weekly("mon 09:00 +01:00").unwrap();
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        assert_eq!(
            next_at(sunday, berlin),
            Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
        );
        let ny = parse_weekly("mon 09:00 -05:00").unwrap();
        assert_eq!(
            next_at(sunday, ny),
            Utc.with_ymd_and_hms(2026, 11, 30, 14, 0, 0).unwrap()
        );
        // A named zone follows daylight saving: 09:00 in Berlin is 08:00
        // UTC in winter and 07:00 UTC in summer.
        let named = parse_weekly("mon 09:00 Europe/Berlin").unwrap();
        assert_eq!(
            next_at(sunday, named),
            Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
        );
        let june = Utc.with_ymd_and_hms(2026, 6, 7, 12, 0, 0).unwrap();
        assert_eq!(
            next_at(june, named),
            Utc.with_ymd_and_hms(2026, 6, 8, 7, 0, 0).unwrap()
        );
        // 02:30 does not exist on the night clocks go forward (Sunday 29
        // March 2026 in Berlin): the digest goes at 03:00 local.
        let jump = parse_weekly("sun 02:30 Europe/Berlin").unwrap();
        let saturday = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
        assert_eq!(
            next_at(saturday, jump),
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap()
        );
        assert!(parse_weekly("mon 09:00 Mars/Olympus").is_none());
        // Sunday 23:30 UTC is already Monday 00:30 in UTC+01:00.
        let early = parse_weekly("mon 00:15 +01:00").unwrap();
        let late_sunday = Utc.with_ymd_and_hms(2026, 11, 29, 23, 30, 0).unwrap();
        assert_eq!(
            next_at(late_sunday, early),
            Utc.with_ymd_and_hms(2026, 12, 6, 23, 15, 0).unwrap()
        );
        assert!(parse_weekly("mon 09:00 CET").is_none());
    }
}
