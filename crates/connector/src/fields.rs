//! Reading fields of an API's JSON: RFC 3339 times to UTC, optional strings,
//! the first line of a message. Shared by the HTTP connectors.

use chrono::{DateTime, Utc};
use flowmeter_model::Timestamp;
use serde_json::Value;

/// An RFC 3339 time (with offset) as UTC; `None` for null or anything else.
pub fn ts(v: &Value) -> Option<Timestamp> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A non-empty string field.
pub fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// An id that an API gives as a number or a string, as text.
pub fn id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first line of a commit message.
pub fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or("").trim_end().to_string()
}

/// Percent-encodes a path segment or query value (everything but the
/// unreserved characters), e.g. GitLab's `group%2Fproject` ids.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
