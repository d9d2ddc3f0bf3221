//! One module per subcommand.

pub mod bench;
pub mod demo;
pub mod explain;
pub mod export;
pub mod import;
pub mod metrics;
pub mod report;
pub mod sync;

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

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
