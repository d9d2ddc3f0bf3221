//! The words a page uses for its window and its rates, so a custom window
//! never reads "this week" and a low rate never reads `0.0/week`.

use chrono::Duration;
use flowmeter_analysis::{week_start, Window};
use serde::Serialize;

/// How a page names its window, the one before it and their parts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WindowWords {
    /// Whether the window is one ISO week (the weekly report's own case).
    pub iso_week: bool,
    /// `This week`, `These 28 days`, `2024-01-01 to 2026-10-31`.
    pub column: String,
    /// `this week`, `in these 28 days`, `from 2024-01-01 to 2026-10-31`.
    pub during: String,
    /// `previous week`, `previous 28 days`.
    pub previous: String,
    /// `the week before`, `the 28 days before`.
    pub the_one_before: String,
    /// `the end of the week`, `the end of the window`.
    pub end: String,
    /// The column of the 4-week average: only for an ISO week (for any
    /// other window it would compare unlike lengths).
    pub baseline: Option<String>,
}

/// The words of `w`.
pub fn window_words(w: &Window) -> WindowWords {
    let length = w.until - w.since;
    if w.since == week_start(w.since) && length == Duration::days(7) {
        return WindowWords {
            iso_week: true,
            column: "This week".into(),
            during: "this week".into(),
            previous: "previous week".into(),
            the_one_before: "the week before".into(),
            end: "the end of the week".into(),
            baseline: Some("4-week average".into()),
        };
    }
    let days = w.days();
    if (days - 1.0).abs() < 1e-9 {
        return WindowWords {
            iso_week: false,
            column: "This day".into(),
            during: "on this day".into(),
            previous: "previous day".into(),
            the_one_before: "the day before".into(),
            end: "the end of the day".into(),
            baseline: None,
        };
    }
    let span = if (days - days.round()).abs() < 1e-9 {
        format!("{} days", days.round() as i64)
    } else {
        format!("{:.1} days", days)
    };
    let range = format!(
        "{} to {}",
        w.since.format("%Y-%m-%d"),
        (w.until - Duration::microseconds(1)).format("%Y-%m-%d")
    );
    let short = days <= 92.0;
    WindowWords {
        iso_week: false,
        column: if short {
            crate::capitalised(&format!("these {span}"))
        } else {
            range.clone()
        },
        during: if short {
            format!("in these {span}")
        } else {
            format!("from {range}")
        },
        previous: format!("previous {span}"),
        the_one_before: format!("the {span} before"),
        end: "the end of the window".into(),
        baseline: None,
    }
}

const DAYS_PER_MONTH: f64 = 30.44;
const WEEKS_PER_YEAR: f64 = 52.18;

/// A deployment rate given per week, in the unit that keeps it readable:
/// per week from one a week, else per month, else per year; never `0.0`
/// while there were deployments.
pub fn rate_text(per_week: f64) -> String {
    if per_week <= 0.0 {
        return "0/week".into();
    }
    let (value, unit) = if per_week >= 1.0 {
        (per_week, "week")
    } else if per_week * DAYS_PER_MONTH / 7.0 >= 1.0 {
        (per_week * DAYS_PER_MONTH / 7.0, "month")
    } else {
        (per_week * WEEKS_PER_YEAR, "year")
    };
    if value >= 0.95 {
        format!("{value:.1}/{unit}")
    } else {
        // Two significant digits.
        let digits = (-value.log10().floor()) as usize + 1;
        format!("{value:.digits$}/{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn w(since: &str, until: &str) -> Window {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Window::new(t(since), t(until)).unwrap()
    }

    #[test]
    fn a_week_is_a_week_and_other_windows_say_what_they_are() {
        let week = window_words(&w("2026-10-26T00:00:00Z", "2026-11-02T00:00:00Z"));
        assert!(week.iso_week);
        assert_eq!(week.during, "this week");
        assert_eq!(week.baseline.as_deref(), Some("4-week average"));
        let days = window_words(&w("2026-10-01T00:00:00Z", "2026-10-29T00:00:00Z"));
        assert_eq!(days.column, "These 28 days");
        assert_eq!(days.previous, "previous 28 days");
        assert_eq!(days.baseline, None);
        let years = window_words(&w("2024-01-01T00:00:00Z", "2026-11-01T00:00:00Z"));
        assert_eq!(years.during, "from 2024-01-01 to 2026-10-31");
        assert!(!years.column.to_lowercase().contains("week"));
    }

    #[test]
    fn rates_keep_the_count_visible() {
        assert_eq!(rate_text(38.0), "38.0/week");
        assert_eq!(rate_text(0.0), "0/week");
        // 5 deployments in 1035 days.
        let per_week = 5.0 / (1035.0 / 7.0);
        assert_eq!(rate_text(per_week), "1.8/year");
        // 1 deployment in 28 days.
        assert_eq!(rate_text(0.25), "1.1/month");
        assert_eq!(rate_text(0.001), "0.052/year");
    }
}
