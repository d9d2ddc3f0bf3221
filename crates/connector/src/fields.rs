//! Reading fields of an API's JSON: RFC 3339 times to UTC, optional strings,
//! the first line of a message. Shared by the HTTP connectors.

use chrono::{DateTime, Utc};
use flowmeter_model::Timestamp;
use serde_json::Value;

/// A time with an offset as UTC: RFC 3339 (`2026-03-02T14:05:00Z`), or
/// the ISO 8601 form without the offset's colon that Jira sends
/// (`2024-01-05T07:06:47.958+0000`). `None` for null, a time without an
/// offset, or anything else. The one time parser of every connector.
pub fn ts(v: &Value) -> Option<Timestamp> {
    let s = v.as_str()?.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
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

/// The services an incident's labels name (`service::payments`, GitLab's
/// scoped form, or `service:payments`), else `fallback` alone (the
/// project). The GitLab connector and its webhook map incidents by it.
pub fn services_of_labels<'a>(
    labels: impl IntoIterator<Item = &'a str>,
    fallback: &str,
) -> Vec<String> {
    let services: Vec<String> = labels
        .into_iter()
        .filter_map(|l| {
            l.strip_prefix("service::")
                .or_else(|| l.strip_prefix("service:"))
        })
        .map(str::to_string)
        .collect();
    match services.is_empty() {
        true => vec![fallback.to_string()],
        false => services,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_with_an_offset_parse_and_others_do_not() {
        let utc = |s: &str| ts(&json!(s)).map(|t| t.to_rfc3339());
        assert_eq!(
            utc("2026-03-02T15:05:00+01:00").unwrap(),
            "2026-03-02T14:05:00+00:00"
        );
        assert_eq!(
            utc("2024-01-05T07:06:47.958+0000").unwrap(),
            "2024-01-05T07:06:47.958+00:00"
        );
        assert_eq!(utc("2026-03-02T14:05:00"), None);
        assert_eq!(ts(&json!(null)), None);
    }
}
