//! Webhook receivers, the pure part: checking a delivery's signature and
//! mapping a vendor payload to EVENTS.md records.
//!
//! - [`github`]: `X-Hub-Signature-256`, and `deployment_status`,
//!   `pull_request`, `pull_request_review`, `push` (default branch) and
//!   `issues` (incident labels).
//! - [`gitlab`]: `X-Gitlab-Token`, and deployment, merge request, note (a
//!   comment on a merge request), push (default branch) and incident events.
//! - [`pagerduty`]: `X-PagerDuty-Signature` (v3), and `incident.*` events.
//!
//! A mapped record is a JSON object exactly as a line of a JSON Lines import
//! would be (`"type"`, `"source"`, the EVENTS.md fields; extras at the top
//! level), with the same ids and field conventions as the record the
//! source's connector syncs, so a webhook record and a synced record of the
//! same object share their natural key. Every record passes
//! [`flowmeter_model::event_from_json`].
//!
//! A webhook carries less than the API: a pull request without its commit
//! list, a pushed commit without its parents, an incident without the
//! acknowledgement time of an earlier delivery. What is missing is left out
//! (never guessed) and said in [`Mapped::note`]; the next sync completes it.
//!
//! Events that are not used (an unknown event, an issue without an incident
//! label, a push to another branch) are not errors: they map to
//! [`Mapped::ignored`], no records and a note saying why.

pub mod github;
pub mod gitlab;
pub mod pagerduty;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A point in time, UTC.
type Time = DateTime<Utc>;

/// Why a delivery is refused.
///
/// An event that flowmeter does not use is not an error: it maps to
/// `Ok(`[`Mapped::ignored`]`)`, so the sender sees a success and keeps the
/// webhook enabled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// The signature or token is missing, malformed or does not match the
    /// body (HTTP 401).
    #[error("webhook rejected: {0}")]
    Signature(String),
    /// The payload lacks a field the record needs, or the field has the
    /// wrong type (HTTP 400). `field` is the JSON path, e.g.
    /// `deployment.sha` or `commits.2.timestamp`.
    #[error("malformed webhook payload: field `{field}` {problem}")]
    Malformed { field: String, problem: String },
}

impl HookError {
    /// The HTTP status to answer with: 401 for [`HookError::Signature`],
    /// 400 for [`HookError::Malformed`].
    pub fn status(&self) -> u16 {
        match self {
            HookError::Signature(_) => 401,
            HookError::Malformed { .. } => 400,
        }
    }

    fn missing(field: &str) -> Self {
        HookError::Malformed {
            field: field.to_string(),
            problem: "is missing".to_string(),
        }
    }

    fn invalid(field: &str, problem: String) -> Self {
        HookError::Malformed {
            field: field.to_string(),
            problem,
        }
    }
}

/// The signature header of a delivery to a receiver that has `secret`:
/// refused when no secret is configured (`tool` names the source) or the
/// header `name` is missing or empty.
pub(crate) fn signature_header<'a>(
    secret: &str,
    header: Option<&'a str>,
    name: &str,
    tool: &str,
) -> Result<&'a str, HookError> {
    if secret.is_empty() {
        return Err(HookError::Signature(format!(
            "no webhook secret is configured for this {tool} source"
        )));
    }
    header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| HookError::Signature(format!("the `{name}` header is missing")))
}

/// What one delivery maps to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    /// EVENTS.md records as JSON objects, exactly as JSON Lines import lines.
    pub events: Vec<Value>,
    /// Why nothing was mapped, or what the records lack (for the log).
    pub note: Option<String>,
    /// Incidents, as (source, id), that the delivery says are no incidents
    /// any more (an issue's incident label removed): removed if stored.
    pub withdrawn: Vec<(String, String)>,
}

impl Mapped {
    /// No records, with the reason.
    pub fn ignored(note: impl Into<String>) -> Self {
        Mapped {
            note: Some(note.into()),
            ..Mapped::default()
        }
    }

    fn records(events: Vec<Value>, note: Option<String>) -> Self {
        Mapped {
            events,
            note,
            withdrawn: Vec::new(),
        }
    }
}

/// Whether `signature_hex` (hex, either case) is the HMAC-SHA256 of `body`
/// under `secret`. The comparison is constant time
/// ([`hmac::Mac::verify_slice`]); a signature that is not hex is `false`.
pub fn verify_hmac_sha256(secret: &[u8], body: &[u8], signature_hex: &str) -> bool {
    let Ok(expected) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Constant-time equality of two secrets, lengths included: both are
/// MAC'd under one fixed key and the tags compared with `verify_slice`.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    const KEY: &[u8] = b"flowmeter webhook token comparison";
    let (Ok(mut mac_a), Ok(mut mac_b)) = (
        HmacSha256::new_from_slice(KEY),
        HmacSha256::new_from_slice(KEY),
    ) else {
        return false;
    };
    mac_a.update(a);
    mac_b.update(b);
    let tag_a = mac_a.finalize().into_bytes();
    mac_b.verify_slice(&tag_a).is_ok()
}

/// A time as vendors send it, in UTC: RFC 3339, ISO 8601 with a `+0000`
/// offset, or GitLab's `2021-04-28 21:50:00 +0200` and
/// `2015-05-17 18:21:36 UTC`. `None` for anything without an offset.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s.strip_suffix(" UTC")?;
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// A UTC time as RFC 3339 (`2026-03-02T14:05:00Z`, fractions kept).
fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The first line of a commit message.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim_end().to_string()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

static NULL: Value = Value::Null;

/// Read access to a payload by dotted path (`deployment.creator.login`,
/// `commits.0.id`); required fields fail with the path in the error.
struct Payload<'a>(&'a Value);

impl<'a> Payload<'a> {
    /// The value at `path`; `null` when any step is absent.
    fn at(&self, path: &str) -> &'a Value {
        path.split('.')
            .fold(self.0, |v, key| match (v, key.parse::<usize>()) {
                (Value::Array(items), Ok(i)) => items.get(i).unwrap_or(&NULL),
                _ => &v[key],
            })
    }

    /// A non-empty string.
    fn text(&self, path: &str) -> Option<String> {
        self.at(path)
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    fn req_text(&self, path: &str) -> Result<String, HookError> {
        match self.at(path) {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::Null => Err(HookError::missing(path)),
            Value::String(_) => Err(HookError::invalid(path, "is empty".into())),
            other => Err(HookError::invalid(
                path,
                format!("must be a string, found {}", type_name(other)),
            )),
        }
    }

    /// An id given as a number or a non-empty string, as text.
    fn id(&self, path: &str) -> Option<String> {
        match self.at(path) {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn req_id(&self, path: &str) -> Result<String, HookError> {
        match self.at(path) {
            Value::Null => Err(HookError::missing(path)),
            other => self.id(path).ok_or_else(|| {
                HookError::invalid(
                    path,
                    format!("must be a number or a string, found {}", type_name(other)),
                )
            }),
        }
    }

    fn int(&self, path: &str) -> Option<i64> {
        self.at(path).as_i64()
    }

    fn req_int(&self, path: &str) -> Result<i64, HookError> {
        match self.at(path) {
            Value::Null => Err(HookError::missing(path)),
            other => other.as_i64().ok_or_else(|| {
                HookError::invalid(
                    path,
                    format!("must be an integer, found {}", type_name(other)),
                )
            }),
        }
    }

    /// The length of the list at `path` (absent = empty).
    fn list_len(&self, path: &str) -> Result<usize, HookError> {
        match self.at(path) {
            Value::Null => Ok(0),
            Value::Array(items) => Ok(items.len()),
            _ => Err(HookError::invalid(path, "must be a list".into())),
        }
    }

    fn flag(&self, path: &str) -> bool {
        self.at(path).as_bool() == Some(true)
    }

    /// An optional time: absent, `null` or `""` is `None`; a value that is
    /// not a time with an offset is an error.
    fn time(&self, path: &str) -> Result<Option<DateTime<Utc>>, HookError> {
        match self.at(path) {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => parse_time(s).map(Some).ok_or_else(|| {
                HookError::invalid(
                    path,
                    format!("is not a time with a UTC offset (found `{s}`)"),
                )
            }),
            other => Err(HookError::invalid(
                path,
                format!("must be a timestamp string, found {}", type_name(other)),
            )),
        }
    }

    fn req_time(&self, path: &str) -> Result<DateTime<Utc>, HookError> {
        self.time(path)?.ok_or_else(|| HookError::missing(path))
    }

    /// The paths a pushed commit (at `commit`) added, modified or
    /// removed, as GitHub and GitLab push payloads list them, sorted;
    /// `None` when the payload has none of the three lists.
    fn changed_paths(&self, commit: &str) -> Option<Vec<String>> {
        let lists = ["added", "modified", "removed"].map(|k| self.at(&format!("{commit}.{k}")));
        if lists.iter().all(|l| !l.is_array()) {
            return None;
        }
        let mut paths: Vec<String> = lists
            .iter()
            .filter_map(|l| l.as_array())
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        paths.sort();
        paths.dedup();
        Some(paths)
    }

    /// Names in a list of labels: strings, or objects with a `name`
    /// (GitHub) or `title` (GitLab).
    fn names(&self, path: &str) -> Vec<String> {
        self.at(path)
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|l| {
                        l.as_str()
                            .or_else(|| l["name"].as_str())
                            .or_else(|| l["title"].as_str())
                    })
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Builds one record; absent optional fields are left out.
struct Record(Map<String, Value>);

impl Record {
    fn new(kind: &str, source: &str) -> Self {
        let mut map = Map::new();
        map.insert("type".into(), Value::from(kind));
        map.insert("source".into(), Value::from(source));
        Record(map)
    }

    fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_string(), value.into());
        self
    }

    fn opt<T: Into<Value>>(self, key: &str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    fn time(self, key: &str, t: DateTime<Utc>) -> Self {
        self.set(key, format_time(t))
    }

    fn opt_time(self, key: &str, t: Option<DateTime<Utc>>) -> Self {
        self.opt(key, t.map(format_time))
    }

    fn build(self) -> Value {
        Value::Object(self.0)
    }
}

/// Notes joined into one, `None` when there are none.
fn join_notes(notes: Vec<String>) -> Option<String> {
    (!notes.is_empty()).then(|| notes.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hmac_matches_github_vector_and_rejects_others() {
        let sig = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_hmac_sha256(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            sig
        ));
        assert!(verify_hmac_sha256(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            &sig.to_uppercase()
        ));
        assert!(!verify_hmac_sha256(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            sig
        ));
        assert!(!verify_hmac_sha256(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            &sig[..62]
        ));
        assert!(!verify_hmac_sha256(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            "not hex"
        ));
        assert!(!verify_hmac_sha256(b"", b"Hello, World!", sig));
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b""));
    }

    #[test]
    fn vendor_time_formats_become_utc() {
        let utc = |s: &str| parse_time(s).map(format_time);
        assert_eq!(utc("2019-05-15T15:20:55Z").unwrap(), "2019-05-15T15:20:55Z");
        assert_eq!(
            utc("2011-12-12T14:27:31+02:00").unwrap(),
            "2011-12-12T12:27:31Z"
        );
        assert_eq!(
            utc("2021-04-28 21:50:00 +0200").unwrap(),
            "2021-04-28T19:50:00Z"
        );
        assert_eq!(
            utc("2015-05-17 18:21:36 UTC").unwrap(),
            "2015-05-17T18:21:36Z"
        );
        assert_eq!(
            utc("2020-04-09T15:21:03.932Z").unwrap(),
            "2020-04-09T15:21:03.932Z"
        );
        assert_eq!(
            utc("2024-01-05T07:06:47.958+0000").unwrap(),
            "2024-01-05T07:06:47.958Z"
        );
        assert_eq!(utc("yesterday"), None);
        assert_eq!(utc("2026-03-02T14:05:00"), None);
    }

    #[test]
    fn payload_paths_name_the_field() {
        let v = json!({"a": {"b": [{"c": "x"}, {"c": 7}]}, "n": 3, "t": "yesterday"});
        let p = Payload(&v);
        assert_eq!(p.text("a.b.0.c").as_deref(), Some("x"));
        assert_eq!(p.id("a.b.1.c").as_deref(), Some("7"));
        assert_eq!(p.at("a.b.9.c"), &Value::Null);
        assert_eq!(
            p.req_text("a.b.1.c").unwrap_err(),
            HookError::Malformed {
                field: "a.b.1.c".into(),
                problem: "must be a string, found a number".into()
            }
        );
        let err = p.req_int("a.x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed webhook payload: field `a.x` is missing"
        );
        assert_eq!(err.status(), 400);
        assert!(p.time("t").is_err());
        assert_eq!(p.time("missing").unwrap(), None);
        assert_eq!(HookError::Signature("x".into()).status(), 401);
    }
}
