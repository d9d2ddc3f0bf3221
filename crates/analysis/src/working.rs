//! PR stages in working hours: a pull request opened on Friday evening is
//! not charged the weekend.
//!
//! The wall-clock stages of METRICS.md stay the contract; with
//! `--working-hours` each stage (and the cycle) is also counted in the
//! working hours of a calendar (`[metrics.working_hours]`, or the team's
//! own): its time zone (daylight saving time included), working days, day
//! start and end, and holidays. Percentiles are the linear kind, as every
//! percentile, computed over a polars frame of the per-PR values.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use flowmeter_config::{Calendar, Config};
use flowmeter_store::Store;
use polars::prelude::*;
use serde::Serialize;

use crate::{AnalysisError, Filters, Percentiles, Window};

const STAGE_BOUNDS: &str = include_str!("../../../queries/working/stage_bounds.sql");

/// The value stream counted in working hours.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkingStages {
    /// The calendar, in words (`Mon–Fri 09:00–17:00 Europe/Berlin`).
    pub calendar: String,
    pub coding: Percentiles,
    pub pickup: Percentiles,
    pub review: Percentiles,
    pub deploy: Percentiles,
    pub cycle: Percentiles,
}

impl WorkingStages {
    /// The four stages, in flow order.
    pub fn stages(&self) -> [(&'static str, &Percentiles); 4] {
        let [coding, pickup, review, deploy] = crate::STAGES;
        [
            (coding, &self.coding),
            (pickup, &self.pickup),
            (review, &self.review),
            (deploy, &self.deploy),
        ]
    }
}

/// The working hours of `calendar` between two instants (0 when `to` is
/// not after `from`).
pub fn working_hours(calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    if to <= from {
        return 0.0;
    }
    let tz = calendar.timezone;
    // A local time in a daylight-saving gap does not exist: the first
    // instant after the gap (at most an hour later) stands for it.
    let local = |day: NaiveDate, t: NaiveTime| {
        let at = day.and_time(t);
        tz.from_local_datetime(&at)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(at + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|d| d.with_timezone(&Utc))
    };
    let mut day = from.with_timezone(&tz).date_naive();
    let last = to.with_timezone(&tz).date_naive();
    let mut micros: i64 = 0;
    while day <= last {
        let weekday = day.weekday().num_days_from_monday() as usize;
        if calendar.days[weekday] && !calendar.holidays.contains(&day) {
            if let (Some(open), Some(close)) =
                (local(day, calendar.start), local(day, calendar.end))
            {
                let (a, b) = (open.max(from), close.min(to));
                if b > a {
                    micros += (b - a).num_microseconds().unwrap_or(0);
                }
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    micros as f64 / 3_600e6
}

/// Signed: negative when `to` is before `from` (a cycle is not clamped).
fn signed_hours(calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    if to < from {
        -working_hours(calendar, to, from)
    } else {
        working_hours(calendar, from, to)
    }
}

/// The stages of the pull requests merged in `window` (in scope `filters`)
/// in the working hours of `calendar`.
pub fn stages(
    store: &mut Store,
    config: &Config,
    window: &Window,
    filters: &Filters,
    calendar: &Calendar,
) -> Result<WorkingStages, AnalysisError> {
    let scope = store.scoped(config, filters)?;
    let rows = scope.map(
        "working-hour stage bounds",
        STAGE_BOUNDS,
        &window.bounds(),
        |r| {
            let mut bounds = [None; 10];
            for (i, b) in bounds.iter_mut().enumerate() {
                *b = r.get::<_, Option<i64>>(i)?;
            }
            Ok(bounds)
        },
    )?;
    let [coding, pickup, review, deploy] = crate::STAGES;
    let names = [coding, pickup, review, deploy, "cycle"];
    let columns: Vec<Column> = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let values: Vec<Option<f64>> = rows
                .iter()
                .map(|b| {
                    let at = |us: Option<i64>| us.and_then(DateTime::from_timestamp_micros);
                    let (from, to) = (at(b[2 * k])?, at(b[2 * k + 1])?);
                    Some(if *name == "cycle" {
                        signed_hours(calendar, from, to)
                    } else {
                        working_hours(calendar, from, to)
                    })
                })
                .collect();
            Column::new((*name).into(), values)
        })
        .collect();
    let frame = DataFrame::new_infer_height(columns).map_err(polars_err)?;
    let q = |p: f64, name: &str| {
        col(name)
            .quantile(lit(p), QuantileMethod::Linear)
            .alias(format!("{name}_{}", (p * 100.0) as u32))
    };
    let exprs: Vec<Expr> = names
        .iter()
        .flat_map(|n| [q(0.5, n), q(0.75, n), q(0.9, n)])
        .collect();
    let out = frame.lazy().select(exprs).collect().map_err(polars_err)?;
    let get = |name: &str| -> Result<Option<f64>, AnalysisError> {
        Ok(out
            .column(name)
            .map_err(polars_err)?
            .f64()
            .map_err(polars_err)?
            .get(0))
    };
    let percentiles = |name: &str| -> Result<Percentiles, AnalysisError> {
        Ok(Percentiles {
            p50_hours: get(&format!("{name}_50"))?,
            p75_hours: get(&format!("{name}_75"))?,
            p90_hours: get(&format!("{name}_90"))?,
        })
    };
    Ok(WorkingStages {
        calendar: calendar.label(),
        coding: percentiles("coding")?,
        pickup: percentiles("pickup")?,
        review: percentiles("review")?,
        deploy: percentiles("deploy")?,
        cycle: percentiles("cycle")?,
    })
}

fn polars_err(e: PolarsError) -> AnalysisError {
    AnalysisError::Series(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin(holidays: &[&str]) -> Calendar {
        Calendar {
            timezone: "Europe/Berlin".parse().unwrap(),
            days: [true, true, true, true, true, false, false],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            holidays: holidays
                .iter()
                .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap())
                .collect(),
        }
    }

    #[test]
    fn a_friday_evening_pull_request_is_not_charged_the_weekend() {
        // Opened Friday 16:00 in Berlin (15:00 UTC, CET), first review on
        // Monday 10:00 Berlin: 66 wall-clock hours, 2 working hours.
        let cal = berlin(&[]);
        let (opened, reviewed) = (t("2026-11-27T15:00:00Z"), t("2026-11-30T09:00:00Z"));
        assert_eq!((reviewed - opened).num_hours(), 66);
        assert!((working_hours(&cal, opened, reviewed) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn holidays_and_nights_do_not_count() {
        // Thursday 24 Dec 12:00 to Monday 28 Dec 12:00 Berlin, with the 25th
        // a holiday: Thu 12-17 (5 h) + Mon 9-12 (3 h).
        let cal = berlin(&["2026-12-25"]);
        let h = working_hours(&cal, t("2026-12-24T11:00:00Z"), t("2026-12-28T11:00:00Z"));
        assert!((h - 8.0).abs() < 1e-9, "{h}");
        // Without the holiday, Friday adds a full day.
        let h = working_hours(
            &berlin(&[]),
            t("2026-12-24T11:00:00Z"),
            t("2026-12-28T11:00:00Z"),
        );
        assert!((h - 16.0).abs() < 1e-9, "{h}");
        assert_eq!(
            working_hours(&cal, t("2026-12-28T11:00:00Z"), t("2026-12-24T11:00:00Z")),
            0.0
        );
    }

    #[test]
    fn a_working_day_starting_in_a_daylight_saving_gap_still_counts() {
        // Cairo moves its clocks from 00:00 to 01:00 on Friday 24 April
        // 2026 (EET to EEST); a calendar starting at 00:00 loses that hour,
        // not the day.
        let mut cal = berlin(&[]);
        cal.timezone = "Africa/Cairo".parse().unwrap();
        cal.start = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
        cal.end = NaiveTime::from_hms_opt(8, 0, 0).unwrap();
        let h = working_hours(&cal, t("2026-04-23T20:00:00Z"), t("2026-04-24T12:00:00Z"));
        assert!((h - 7.0).abs() < 1e-9, "{h}");
    }

    #[test]
    fn daylight_saving_time_follows_the_zone() {
        // Berlin moves to CEST on Sunday 29 March 2026: the working day of
        // Monday the 30th is 07:00-15:00 UTC (the Friday before, 08:00-16:00).
        let cal = berlin(&[]);
        let monday = working_hours(&cal, t("2026-03-30T06:00:00Z"), t("2026-03-30T08:00:00Z"));
        assert!((monday - 1.0).abs() < 1e-9, "{monday}");
        let friday = working_hours(&cal, t("2026-03-27T06:00:00Z"), t("2026-03-27T08:00:00Z"));
        assert!(friday.abs() < 1e-9, "{friday}");
    }
}
