//! JSON object → validated [`Event`], applying every rule of EVENTS.md.
//!
//! Errors carry the record's label (``deployment `x1` ``) and the field, so
//! the reader can prefix file and line and the user can fix the input.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::json::{self, Json};
use crate::record::*;

/// What is wrong with one record: which record, which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}", label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default(), message)]
pub struct FieldError {
    /// e.g. ``deployment `x1` ``; absent when even the type is unknown.
    pub label: Option<String>,
    /// The offending field, when one is to blame.
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    fn new(label: Option<String>, field: &str, message: String) -> Self {
        FieldError {
            label,
            field: Some(field.to_string()),
            message,
        }
    }
}

/// The default `source` of a record that names none.
pub const DEFAULT_SOURCE: &str = "import";

/// Parses one record given as a JSON value (a CSV row turned into an
/// object, a record a webhook receiver made).
pub fn event_from_json(value: Value) -> Result<Event, FieldError> {
    event_from(Json::from(value))
}

/// Parses one record from its JSON text (a line of a JSON Lines file),
/// borrowing from the text what it does not keep.
pub fn event_from_text(text: &str) -> Result<Event, FieldError> {
    let json: Json = serde_json::from_str(text).map_err(|e| FieldError {
        label: None,
        field: None,
        message: format!("not valid JSON: {e}"),
    })?;
    event_from(json)
}

fn event_from(json: Json<'_>) -> Result<Event, FieldError> {
    let Json::Object(fields) = json else {
        return Err(FieldError {
            label: None,
            field: None,
            message: "expected a JSON object with a `type` field".into(),
        });
    };
    let mut f = Fields::new(fields);
    let kind = match f.take_any("type") {
        Some(Json::String(t)) => EventKind::parse(&t).ok_or_else(|| {
            FieldError::new(
                None,
                "type",
                format!(
                    "unknown record type `{t}` (expected deployment, commit, pull_request, review or incident)"
                ),
            )
        })?,
        Some(other) => {
            return Err(FieldError::new(
                None,
                "type",
                format!("field `type` must be a string, found {}", other.type_name()),
            ))
        }
        None => {
            return Err(FieldError::new(
                None,
                "type",
                "field `type` is required".into(),
            ))
        }
    };
    f.label = Label::Kind(kind);
    let event = match kind {
        EventKind::Deployment => Event::Deployment(deployment(&mut f)?),
        EventKind::Commit => Event::Commit(commit(&mut f)?),
        EventKind::PullRequest => Event::PullRequest(pull_request(&mut f)?),
        EventKind::Review => Event::Review(review(&mut f)?),
        EventKind::Incident => Event::Incident(incident(&mut f)?),
    };
    Ok(event)
}

fn deployment(f: &mut Fields) -> Result<Deployment, FieldError> {
    let id = f.req_id_text("id")?;
    f.label = Label::Named("deployment", id.clone());
    let id = id.into_owned();
    let source = f.source()?;
    let repo = f.opt_str("repo")?;
    let service = match (f.opt_str("service")?, &repo) {
        (Some(s), _) => s,
        (None, Some(r)) => r.clone(),
        (None, None) => {
            return Err(f.err(
                "service",
                "field `service` is required when `repo` is absent".into(),
            ))
        }
    };
    let environment = f.req_str("environment")?;
    let status = match f.req_str("status")?.as_str() {
        "success" => DeploymentStatus::Success,
        "failure" => DeploymentStatus::Failure,
        "cancelled" => DeploymentStatus::Cancelled,
        "in_progress" => DeploymentStatus::InProgress,
        other => {
            return Err(f.err(
                "status",
                format!("field `status` must be success, failure, cancelled or in_progress, found `{other}`"),
            ))
        }
    };
    let started_at = f.opt_ts("started_at")?;
    let finished_at = f.opt_ts("finished_at")?;
    if finished_at.is_none()
        && matches!(
            status,
            DeploymentStatus::Success | DeploymentStatus::Failure
        )
    {
        return Err(f.err(
            "finished_at",
            format!(
                "field `finished_at` is required when status is `{}`",
                status.as_str()
            ),
        ));
    }
    let commit_sha = f.req_str("commit_sha")?;
    let commits = f.opt_list("commits")?;
    let kind = match f.opt_str("kind")?.as_deref() {
        None | Some("regular") => DeploymentKind::Regular,
        Some("rollback") => DeploymentKind::Rollback,
        Some("hotfix") => DeploymentKind::Hotfix,
        Some(other) => {
            return Err(f.err(
                "kind",
                format!("field `kind` must be regular, rollback or hotfix, found `{other}`"),
            ))
        }
    };
    Ok(Deployment {
        source,
        id,
        service,
        repo,
        environment,
        status,
        started_at,
        finished_at,
        commit_sha,
        commits,
        kind,
        actor: f.opt_str("actor")?,
        url: f.opt_str("url")?,
        git_ref: f.opt_str("ref")?,
        labels: f.opt_list("labels")?.unwrap_or_default(),
        extra: f.extra(),
    })
}

fn commit(f: &mut Fields) -> Result<Commit, FieldError> {
    let sha = f.req_text("sha")?;
    f.label = Label::Named("commit", sha.clone());
    let sha = sha.into_owned();
    Ok(Commit {
        source: f.source()?,
        repo: f.req_str("repo")?,
        sha,
        parents: f.opt_list("parents")?,
        authored_at: f.req_ts("authored_at")?,
        committed_at: f.opt_ts("committed_at")?,
        author: f.opt_str("author")?,
        message: f.opt_str("message")?,
        files: f.opt_list("files")?,
        owners: f.opt_list("owners")?,
        extra: f.extra(),
    })
}

fn pull_request(f: &mut Fields) -> Result<PullRequest, FieldError> {
    let repo = f.req_text("repo")?;
    f.label = Label::PullRequest(repo.clone(), None);
    let number = f.req_int("number")?;
    f.label = Label::PullRequest(repo.clone(), Some(number));
    let repo = repo.into_owned();
    Ok(PullRequest {
        source: f.source()?,
        repo,
        number,
        title: f.opt_str("title")?,
        author: f.opt_str("author")?,
        base: f.opt_str("base")?,
        head: f.opt_str("head")?,
        labels: f.opt_list("labels")?.unwrap_or_default(),
        created_at: f.req_ts("created_at")?,
        ready_at: f.opt_ts("ready_at")?,
        merged_at: f.opt_ts("merged_at")?,
        closed_at: f.opt_ts("closed_at")?,
        merge_commit_sha: f.opt_str("merge_commit_sha")?,
        commits: f.opt_list("commits")?,
        first_commit_at: f.opt_ts("first_commit_at")?,
        additions: f.opt_int("additions")?,
        deletions: f.opt_int("deletions")?,
        files: f.opt_list("files")?,
        owners: f.opt_list("owners")?,
        extra: f.extra(),
    })
}

fn review(f: &mut Fields) -> Result<Review, FieldError> {
    let id = f.req_id_text("id")?;
    f.label = Label::Named("review", id.clone());
    let id = id.into_owned();
    let state = match f.req_str("state")?.as_str() {
        "approved" => ReviewState::Approved,
        "changes_requested" => ReviewState::ChangesRequested,
        "commented" => ReviewState::Commented,
        "dismissed" => ReviewState::Dismissed,
        other => {
            return Err(f.err(
                "state",
                format!("field `state` must be approved, changes_requested, commented or dismissed, found `{other}`"),
            ))
        }
    };
    Ok(Review {
        source: f.source()?,
        repo: f.req_str("repo")?,
        pr: f.req_int("pr")?,
        id,
        author: f.req_str("author")?,
        state,
        submitted_at: f.req_ts("submitted_at")?,
        extra: f.extra(),
    })
}

fn incident(f: &mut Fields) -> Result<Incident, FieldError> {
    let id = f.req_id_text("id")?;
    f.label = Label::Named("incident", id.clone());
    let id = id.into_owned();
    // `service` may be a string or a list; `services` a list (or a string).
    let mut services = f.opt_list("service")?.unwrap_or_default();
    services.extend(f.opt_list("services")?.unwrap_or_default());
    let mut seen = std::collections::HashSet::new();
    services.retain(|s| seen.insert(s.clone()));
    if services.is_empty() {
        return Err(f.err(
            "service",
            "field `service` is required (a name, or a list in `services`)".into(),
        ));
    }
    Ok(Incident {
        source: f.source()?,
        id,
        services,
        title: f.opt_str("title")?,
        severity: f.opt_str("severity")?,
        url: f.opt_str("url")?,
        created_at: f.req_ts("created_at")?,
        acknowledged_at: f.opt_ts("acknowledged_at")?,
        resolved_at: f.opt_ts("resolved_at")?,
        deployment_id: f.opt_id("deployment_id")?,
        deployment_source: f.opt_str("deployment_source")?,
        root_cause: f.opt_id("root_cause")?,
        extra: f.extra(),
    })
}

/// Takes fields out of a JSON object one by one; what is left is `extra`,
/// in the order a `serde_json` object (`preserve_order`) leaves it: a
/// field taken out is replaced by the last one, so `extra` is stored as
/// before the borrowed reader.
struct Fields<'a> {
    fields: Vec<(Cow<'a, str>, Json<'a>)>,
    label: Label<'a>,
}

/// Which record the errors of [`Fields`] are about, put in words only when
/// an error is made (formatting a label for every record was a string a
/// record, two for a pull request).
enum Label<'a> {
    None,
    /// `deployment`, before its id is read.
    Kind(EventKind),
    /// ``deployment `x1` ``: a type and its id (or sha).
    Named(&'static str, Cow<'a, str>),
    /// ``pull_request `acme/web#7` ``, or ``pull_request `acme/web` ``
    /// before its number is read.
    PullRequest(Cow<'a, str>, Option<i64>),
}

impl Label<'_> {
    fn text(&self) -> Option<String> {
        match self {
            Label::None => None,
            Label::Kind(kind) => Some(kind.as_str().to_string()),
            Label::Named(kind, id) => Some(format!("{kind} `{id}`")),
            Label::PullRequest(repo, None) => Some(format!("pull_request `{repo}`")),
            Label::PullRequest(repo, Some(n)) => Some(format!("pull_request `{repo}#{n}`")),
        }
    }
}

impl<'a> Fields<'a> {
    fn new(fields: Vec<(Cow<'a, str>, Json<'a>)>) -> Self {
        Fields {
            fields,
            label: Label::None,
        }
    }

    fn err(&self, field: &str, message: String) -> FieldError {
        FieldError::new(self.label.text(), field, message)
    }

    fn missing(&self, field: &str) -> FieldError {
        self.err(field, format!("field `{field}` is required"))
    }

    fn wrong(&self, field: &str, expected: &str, found: &Json) -> FieldError {
        self.err(
            field,
            format!(
                "field `{field}` must be {expected}, found {}",
                found.type_name()
            ),
        )
    }

    /// The value of a field, `null` included.
    fn take_any(&mut self, field: &str) -> Option<Json<'a>> {
        let at = self.fields.iter().position(|(k, _)| k == field)?;
        Some(self.fields.swap_remove(at).1)
    }

    /// The value of a field, with `null` treated as absent.
    fn take(&mut self, field: &str) -> Option<Json<'a>> {
        match self.take_any(field)? {
            Json::Null => None,
            v => Some(v),
        }
    }

    /// A string field, borrowed from the line where it can be (an empty
    /// string is absent).
    fn opt_text(&mut self, field: &str) -> Result<Option<Cow<'a, str>>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Json::String(s)) if s.is_empty() => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(field, "a string", &v)),
        }
    }

    fn req_text(&mut self, field: &str) -> Result<Cow<'a, str>, FieldError> {
        self.opt_text(field)?.ok_or_else(|| self.missing(field))
    }

    fn opt_str(&mut self, field: &str) -> Result<Option<String>, FieldError> {
        Ok(self.opt_text(field)?.map(Cow::into_owned))
    }

    fn req_str(&mut self, field: &str) -> Result<String, FieldError> {
        self.opt_str(field)?.ok_or_else(|| self.missing(field))
    }

    /// Identifiers may come as integers from exporters (GitHub ids are
    /// numbers); they are stored as their decimal text.
    fn opt_id_text(&mut self, field: &str) -> Result<Option<Cow<'a, str>>, FieldError> {
        match self.take(field) {
            Some(Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string().into())),
            Some(v) => {
                self.fields.push((Cow::Owned(field.to_string()), v));
                self.opt_text(field)
            }
            None => Ok(None),
        }
    }

    fn opt_id(&mut self, field: &str) -> Result<Option<String>, FieldError> {
        Ok(self.opt_id_text(field)?.map(Cow::into_owned))
    }

    fn req_id_text(&mut self, field: &str) -> Result<Cow<'a, str>, FieldError> {
        self.opt_id_text(field)?.ok_or_else(|| self.missing(field))
    }

    fn opt_int(&mut self, field: &str) -> Result<Option<i64>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Json::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(v) => Err(self.wrong(field, "an integer", &v)),
        }
    }

    fn req_int(&mut self, field: &str) -> Result<i64, FieldError> {
        self.opt_int(field)?.ok_or_else(|| self.missing(field))
    }

    fn opt_ts(&mut self, field: &str) -> Result<Option<Timestamp>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Json::String(s)) if s.is_empty() => Ok(None),
            Some(Json::String(s)) => parse_timestamp(&s)
                .map(Some)
                .map_err(|why| self.err(field, format!("field `{field}`: {why}"))),
            Some(v) => Err(self.wrong(field, "an RFC 3339 timestamp string", &v)),
        }
    }

    fn req_ts(&mut self, field: &str) -> Result<Timestamp, FieldError> {
        self.opt_ts(field)?.ok_or_else(|| self.missing(field))
    }

    /// A list of strings; a lone string is taken as a list of one.
    fn opt_list(&mut self, field: &str) -> Result<Option<Vec<String>>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(vec![s.into_owned()])),
            Some(Json::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Json::String(s) => out.push(s.into_owned()),
                        other => {
                            return Err(self.err(
                                field,
                                format!(
                                    "field `{field}` must be a list of strings, found an item that is {}",
                                    other.type_name()
                                ),
                            ))
                        }
                    }
                }
                Ok(Some(out))
            }
            Some(v) => Err(self.wrong(field, "a list of strings", &v)),
        }
    }

    fn source(&mut self) -> Result<String, FieldError> {
        Ok(self
            .opt_str("source")?
            .unwrap_or_else(|| DEFAULT_SOURCE.to_string()))
    }

    fn extra(&mut self) -> Extra {
        json::object(std::mem::take(&mut self.fields))
    }
}

/// Parses an RFC 3339 timestamp, which must carry an offset, into UTC.
pub fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    if let Some(t) = utc_seconds(s) {
        return Ok(t);
    }
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => {
            let looks_local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .is_ok()
                || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok();
            if looks_local {
                Err(format!(
                    "timestamp `{s}` has no UTC offset (write `{s}Z` for UTC, or an offset like `+01:00`)"
                ))
            } else {
                Err(format!(
                    "`{s}` is not an RFC 3339 timestamp (like `2026-03-02T14:05:00Z`)"
                ))
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form Git hosts and most exporters write,
/// read digit by digit; `None` for any other form (an offset, fractions, a
/// leap second, a date that does not exist), which chrono's parser then
/// reads or rejects. (Its general parser was a tenth of reading a record:
/// a 1M-event file has 2.4M timestamps.)
fn utc_seconds(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let shape = b.len() == 20
        && (b[4], b[7], b[10], b[13], b[16], b[19]) == (b'-', b'-', b'T', b':', b':', b'Z');
    if !shape {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        (b[from..to].iter()).try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    let time = chrono::NaiveTime::from_hms_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The digit by digit reading gives what chrono's parser gives, and
    /// leaves every other form to it.
    #[test]
    fn utc_seconds_agree_with_chrono() {
        let chrono = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        for s in [
            "2026-05-03T03:05:17Z",
            "1970-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-02-29T12:00:00Z",
        ] {
            assert!(utc_seconds(s).is_some(), "{s}");
            assert_eq!(utc_seconds(s), chrono(s), "{s}");
            assert_eq!(parse_timestamp(s).ok(), chrono(s), "{s}");
        }
        // Left to chrono: it reads some, rejects the rest, as before.
        for s in [
            "2026-05-03T03:05:17+02:00",
            "2026-05-03T03:05:17.5Z",
            "2026-05-03t03:05:17z",
            "2026-05-03 03:05:17Z",
            "2016-12-31T23:59:60Z",
            "2023-02-29T12:00:00Z",
            "2026-13-03T03:05:17Z",
            "2026-05-03T24:00:00Z",
            "2026-05-03T03:60:17Z",
            "2026-05-03T03:05:1xZ",
            "+026-05-03T03:05:17Z",
            "2026-05-03T03:05:17",
        ] {
            assert_eq!(utc_seconds(s), None, "{s}");
            assert_eq!(parse_timestamp(s).ok(), chrono(s), "{s}");
        }
    }

    /// Errors name the record as far as it was read: its type, then its
    /// id (a pull request's repository, then its number).
    #[test]
    fn errors_name_the_record_read_so_far() {
        let err = |v: Value| parse(v).unwrap_err();
        assert_eq!(
            err(
                json!({"type":"pull_request","repo":"acme/web","created_at":"2026-03-02T14:05:00Z"})
            ),
            "pull_request `acme/web`: field `number` is required"
        );
        assert_eq!(
            err(json!({"type":"pull_request","repo":"acme/web","number":7})),
            "pull_request `acme/web#7`: field `created_at` is required"
        );
        assert_eq!(
            err(json!({"type":"review","id":12,"repo":"r","pr":1,"author":"a","state":"nope"})),
            "review `12`: field `state` must be approved, changes_requested, commented or dismissed, found `nope`"
        );
        assert_eq!(
            err(json!({"type":"commit","repo":"r"})),
            "commit: field `sha` is required"
        );
        assert_eq!(
            err(json!({"type":"incident","id":"i\"1","created_at":"2026-03-02T14:05:00Z"})),
            "incident `i\"1`: field `service` is required (a name, or a list in `services`)"
        );
    }

    fn parse(v: Value) -> Result<Event, String> {
        event_from_json(v).map_err(|e| e.to_string())
    }

    #[test]
    fn deployment_defaults_service_to_repo_and_source_to_import() {
        let e = parse(
            json!({"type":"deployment","id":"d1","repo":"acme/web","environment":"production",
            "status":"success","finished_at":"2026-03-02T15:05:00+01:00","commit_sha":"abc"}),
        )
        .unwrap();
        let Event::Deployment(d) = e else { panic!() };
        assert_eq!(d.service, "acme/web");
        assert_eq!(d.source, "import");
        assert_eq!(
            d.finished_at.unwrap().to_rfc3339(),
            "2026-03-02T14:05:00+00:00"
        );
    }

    #[test]
    fn success_without_finished_at_names_the_field() {
        let err = parse(
            json!({"type":"deployment","id":"x1","service":"web","environment":"production",
            "status":"success","commit_sha":"abc"}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "deployment `x1`: field `finished_at` is required when status is `success`"
        );
    }

    #[test]
    fn timestamp_without_offset_is_rejected() {
        let err = parse(
            json!({"type":"commit","repo":"r","sha":"s","authored_at":"2026-03-02T14:05:00"}),
        )
        .unwrap_err();
        assert!(err.contains("commit `s`: field `authored_at`"), "{err}");
        assert!(err.contains("no UTC offset"), "{err}");
    }

    #[test]
    fn unknown_fields_are_kept_in_extra() {
        let e = parse(json!({"type":"commit","repo":"r","sha":"s","authored_at":"2026-03-02T14:05:00Z","team":"x"}))
            .unwrap();
        let Event::Commit(c) = e else { panic!() };
        assert_eq!(c.extra.get("team"), Some(&json!("x")));
    }

    #[test]
    fn wrong_type_and_unknown_type_are_errors() {
        assert!(parse(json!({"type":"pull_request","repo":"r","number":"7","created_at":"2026-03-02T14:05:00Z"}))
            .unwrap_err()
            .contains("field `number` must be an integer, found a string"));
        assert!(parse(json!({"type":"release"}))
            .unwrap_err()
            .contains("unknown record type `release`"));
    }

    /// A line read borrowing its text gives the record (and the error) a
    /// `serde_json::Value` of it gives, `extra` in the same order.
    #[test]
    fn text_and_value_readers_agree() {
        let lines = [
            r#"{"type":"commit","x1":1,"repo":"r","z":[1,{"a":null}],"sha":"s","authored_at":"2026-03-02T14:05:00Z","y":"w\"q","b":true}"#,
            r#"{"repo":"r","type":"pull_request","number":7,"number":8,"created_at":"2026-03-02T14:05:00+02:00","t":1,"labels":"bug","u":2.5}"#,
            r#"{"type":"deployment","id":42,"service":"","repo":"acme/web","environment":"production","status":"success","finished_at":"2026-03-02T14:05:00Z","commit_sha":"abc","k":null,"commits":["a","b"]}"#,
            r#"{"type":"incident","id":"i","service":"a","services":["b","a"],"created_at":"2026-03-02T14:05:00Z","deployment_id":7,"e\u0041":"x"}"#,
            r#"{"type":null}"#,
            r#"{"type":"review","repo":"r","pr":"7"}"#,
            r#"[1,2]"#,
            r#"{"type":"commit","repo":"r","sha":"s","authored_at":"2026-03-02T14:05:00Z","parents":["a",3]}"#,
        ];
        for line in lines {
            let from_value = event_from_json(serde_json::from_str::<Value>(line).unwrap());
            let from_text = event_from_text(line);
            assert_eq!(from_text, from_value, "{line}");
            if let (Ok(a), Ok(b)) = (&from_text, &from_value) {
                let extra = |e: &Event| serde_json::to_string(e).unwrap();
                assert_eq!(extra(a), extra(b), "{line}");
            }
        }
        assert!(event_from_text("{\"type\":")
            .unwrap_err()
            .message
            .starts_with("not valid JSON"));
    }

    #[test]
    fn incident_accepts_a_list_of_services() {
        let e = parse(json!({"type":"incident","id":"i","services":["a","b"],"created_at":"2026-03-02T14:05:00Z"}))
            .unwrap();
        let Event::Incident(i) = e else { panic!() };
        assert_eq!(i.services, vec!["a", "b"]);
        assert!(
            parse(json!({"type":"incident","id":"i","created_at":"2026-03-02T14:05:00Z"})).is_err()
        );
    }
}
