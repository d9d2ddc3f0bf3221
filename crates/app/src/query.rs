//! What a question to the store is made of: a window and a scope, parsed the
//! same way from command-line flags and from URL query strings, so the CLI
//! and the server answer the same question with the same numbers.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use flowmeter_analysis::{Filters, GroupBy, Window};
use serde::Deserialize;

use crate::AppError;

/// `YYYY-MM-DD` (00:00 UTC) or RFC 3339 with an offset; `flag` names the
/// option or parameter in the error.
pub fn parse_date(flag: &str, value: &str) -> Result<DateTime<Utc>, AppError> {
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            AppError::Invalid(format!(
                "`{flag}` takes a date like `2026-03-02` or an RFC 3339 time like `2026-03-02T14:05:00Z`, not `{value}`"
            ))
        })
}

/// `[since, until)`: `until` defaults to the start of today (UTC), `since`
/// to `default_days` before `until`.
pub fn window_from(
    since: Option<&str>,
    until: Option<&str>,
    default_days: i64,
    names: [&str; 2],
) -> Result<Window, AppError> {
    let until = match until {
        Some(u) => parse_date(names[1], u)?,
        None => Window::last_28_days(Utc::now()).until,
    };
    let since = match since {
        Some(s) => parse_date(names[0], s)?,
        None => until - Duration::days(default_days),
    };
    Ok(Window::new(since, until)?)
}

/// A window and a scope as they arrive: flags or query parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// An ISO week (`2026-W07`); wins over `since`/`until`.
    pub week: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub team: Option<String>,
    pub service: Option<String>,
    pub repo: Option<String>,
    /// `week`, `team`, `service` or `repo` (metrics only).
    pub by: Option<String>,
    /// Rows of records shown (explain only).
    pub limit: Option<usize>,
    /// Also count PR stages in working hours (the team's calendar, else
    /// `[metrics.working_hours]`).
    #[serde(default)]
    pub working_hours: bool,
    /// Compare with another window (metrics and explain): `previous` (the
    /// window of the same length just before) or `SINCE..UNTIL`.
    pub compare: Option<String>,
    /// Errors name command-line flags (`--since`) rather than parameters.
    #[serde(skip)]
    pub flags: bool,
}

impl Question {
    /// The scope; empty strings (an unset form field) are no filter.
    pub fn filters(&self) -> Filters {
        let some = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        Filters {
            service: some(&self.service),
            team: some(&self.team),
            repo: some(&self.repo),
        }
    }

    /// The window of `metrics` and `explain` over a range: the last 28 days
    /// unless told otherwise.
    pub fn metrics_window(&self) -> Result<Window, AppError> {
        match self.week.as_deref().filter(|w| !w.is_empty()) {
            Some(w) => Ok(Window::iso_week(w)?),
            None => window_from(self.since(), self.until(), 28, self.names()),
        }
    }

    /// The window of a report: the last complete ISO week unless told
    /// otherwise; with only one end given, seven days.
    pub fn report_window(&self) -> Result<Window, AppError> {
        if let Some(w) = self.week.as_deref().filter(|w| !w.is_empty()) {
            return Ok(Window::iso_week(w)?);
        }
        if self.since().is_none() && self.until().is_none() {
            return Ok(Window::last_complete_week(Utc::now()));
        }
        window_from(self.since(), self.until(), 7, self.names())
    }

    fn names(&self) -> [&'static str; 2] {
        if self.flags {
            ["--since", "--until"]
        } else {
            ["since", "until"]
        }
    }

    fn since(&self) -> Option<&str> {
        self.since.as_deref().filter(|s| !s.is_empty())
    }

    fn until(&self) -> Option<&str> {
        self.until.as_deref().filter(|s| !s.is_empty())
    }

    /// The window to compare `window` with, if asked.
    pub fn compare_window(&self, window: Window) -> Result<Option<Window>, AppError> {
        let flag = if self.flags { "--compare" } else { "compare" };
        match self
            .compare
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => Ok(None),
            Some("previous") => Ok(Some(flowmeter_analysis::digest::before(window))),
            Some(range) => {
                let Some((since, until)) = range.split_once("..") else {
                    return Err(AppError::Invalid(format!(
                        "`{flag}` is `previous` or `SINCE..UNTIL` (e.g. 2026-01-05..2026-02-02), not `{range}`"
                    )));
                };
                let since = parse_date(flag, since)?;
                let until = parse_date(flag, until)?;
                if since >= until {
                    return Err(AppError::Invalid(format!(
                        "`{flag}`: the window to compare with is empty (`{range}`: its start is not before its end)"
                    )));
                }
                Ok(Some(Window::new(since, until)?))
            }
        }
    }

    /// `by`, parsed.
    pub fn group_by(&self) -> Result<Option<GroupBy>, AppError> {
        match self.by.as_deref().filter(|b| !b.is_empty()) {
            None => Ok(None),
            Some("week") => Ok(Some(GroupBy::Week)),
            Some("team") => Ok(Some(GroupBy::Team)),
            Some("service") => Ok(Some(GroupBy::Service)),
            Some("repo") => Ok(Some(GroupBy::Repo)),
            Some(other) => Err(AppError::Invalid(format!(
                "`by` is one of week, team, service, repo, not `{other}`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_wins_and_empty_fields_are_no_filter() {
        let q = Question {
            week: Some("2026-W07".into()),
            since: Some("2020-01-01".into()),
            team: Some(String::new()),
            service: Some("api".into()),
            ..Question::default()
        };
        let w = q.metrics_window().unwrap();
        assert_eq!(w.since.to_rfc3339(), "2026-02-09T00:00:00+00:00");
        assert_eq!(q.filters().team, None);
        assert_eq!(q.filters().service.as_deref(), Some("api"));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let q = Question {
            since: Some("last tuesday".into()),
            ..Question::default()
        };
        let e = q.metrics_window().unwrap_err().to_string();
        assert!(e.contains("`since`") && e.contains("last tuesday"), "{e}");
        let q = Question {
            by: Some("month".into()),
            ..Question::default()
        };
        assert!(q.group_by().unwrap_err().to_string().contains("month"));
    }
}
