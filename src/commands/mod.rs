//! One module per subcommand.

pub mod bench;
pub mod demo;
pub mod explain;
pub mod export;
pub mod import;
pub mod metrics;
pub mod relink;
pub mod report;
pub mod sync;

use anyhow::{bail, Result};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use flowmeter_analysis::{Filters, Window};

use crate::cli::FilterArgs;

/// `YYYY-MM-DD` (00:00 UTC) or RFC 3339 with an offset.
pub fn parse_date(flag: &str, value: &str) -> Result<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => bail!(
            "`{flag}` takes a date like `2026-03-02` or an RFC 3339 time like `2026-03-02T14:05:00Z`, not `{value}`"
        ),
    }
}

/// `[--since, --until)`: `--until` defaults to the start of today (UTC),
/// `--since` to `default_days` before `--until`.
pub fn window_from(since: Option<&str>, until: Option<&str>, default_days: i64) -> Result<Window> {
    let until = match until {
        Some(u) => parse_date("--until", u)?,
        None => Window::last_28_days(Utc::now()).until,
    };
    let since = match since {
        Some(s) => parse_date("--since", s)?,
        None => until - Duration::days(default_days),
    };
    Ok(Window::new(since, until)?)
}

pub fn filters_of(args: &FilterArgs) -> Filters {
    Filters {
        service: args.service.clone(),
        team: args.team.clone(),
        repo: args.repo.clone(),
    }
}
