//! Small self-contained helpers: timestamps, hashing, a seeded PRNG, base64,
//! query strings and REST paging (`Link` headers).
//!
//! Paging follows <https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api>:
//! `per_page` (default 30, max 100), 1-based `page`, and a `link` header whose
//! entries come in the order `prev`, `next`, `last`, `first`, each an absolute
//! URL that keeps the request's other query parameters.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

/// `2011-04-14T16:00:49Z`, the form GitHub's REST and GraphQL `DateTime` use.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// GraphQL `GitTimestamp` keeps an offset (`2011-04-14T16:00:49+00:00`).
pub(crate) fn git_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub(crate) fn ts_opt(t: &Option<DateTime<Utc>>) -> Value {
    match t {
        Some(t) => Value::String(ts(t)),
        None => Value::Null,
    }
}

/// Parses an ISO 8601 timestamp as the REST docs accept it
/// (`YYYY-MM-DDTHH:MM:SSZ`, with an offset, without one, or a bare date).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let candidates = [s.to_string(), s.replace(' ', "+")];
    for c in candidates.iter() {
        if let Ok(t) = DateTime::parse_from_rfc3339(c) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(n) = NaiveDateTime::parse_from_str(c, "%Y-%m-%dT%H:%M:%S") {
            return Some(n.and_utc());
        }
        if let Ok(n) = NaiveDateTime::parse_from_str(c, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(n.and_utc());
        }
        if let Ok(d) = NaiveDate::parse_from_str(c, "%Y-%m-%d") {
            if let Some(n) = d.and_hms_opt(0, 0, 0) {
                return Some(n.and_utc());
            }
        }
    }
    None
}

/// FNV-1a over several byte strings (with a separator between parts).
pub(crate) fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter() {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic 40-hex-digit "SHA-1" derived from `key`.
pub(crate) fn fake_sha(key: &str) -> String {
    let a = mix64(fnv64(&[key.as_bytes(), b"a"]));
    let b = mix64(fnv64(&[key.as_bytes(), b"b"]));
    let c = mix64(fnv64(&[key.as_bytes(), b"c"]));
    format!("{:016x}{:016x}{:08x}", a, b, (c >> 32) as u32)
}

/// splitmix64: tiny, seedable, good enough for synthetic data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5eed_f10e_7e11_0000)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `lo..hi` (`hi` exclusive); returns `lo` when the range is empty.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64;
        lo + (self.next_u64() % span) as i64
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

/// Standard base64 with padding.
pub(crate) use crate::http::base64_encode as b64_encode;

/// Decodes standard or URL-safe base64, padded or not.
pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut buf: u32 = 0;
    let mut bits: u32 = 0;
    let mut out = Vec::with_capacity(s.len() * 3 / 4 + 1);
    for c in s.bytes() {
        let v: u32 = match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1u32 << bits) - 1;
        }
    }
    Some(out)
}

/// The legacy global node ID GitHub's docs show in their examples, e.g.
/// `MDQ6VXNlcjE=` = base64(`04:User1`), `MDEwOlJlcG9zaXRvcnkxMjk2MjY5` =
/// base64(`010:Repository1296269`).
pub(crate) fn node_id(type_name: &str, id: impl std::fmt::Display) -> String {
    b64_encode(format!("0{}:{}{}", type_name.len(), type_name, id).as_bytes())
}

/// Decodes `%XX` escapes and `+` in a query-string component.
pub(crate) fn pct_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
            i += 1;
        } else if b == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-decodes a path segment (`+` stays a plus there).
pub(crate) fn pct_decode_path(s: &str) -> String {
    pct_decode(&s.replace('+', "%2B"))
}

/// Escapes a login or ref for use inside a URL path.
pub(crate) fn pct_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{:02X}", b)),
        }
    }
    out
}

/// A parsed query string; keeps the raw text for `Link` headers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub(crate) raw: String,
    pub(crate) pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: &str) -> Query {
        let raw = raw.trim_start_matches('?').to_string();
        let pairs = raw
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (pct_decode(k), pct_decode(v)),
                None => (pct_decode(kv), String::new()),
            })
            .collect();
        Query { raw, pairs }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    pub(crate) fn get_time(&self, key: &str) -> Option<DateTime<Utc>> {
        self.get(key).and_then(parse_time)
    }
}

/// `per_page`/`page` as the REST docs define them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Paging {
    pub(crate) per_page: usize,
    pub(crate) page: usize,
}

impl Paging {
    pub(crate) fn from_query(q: &Query, default_per_page: usize, max_per_page: usize) -> Paging {
        let per_page = q
            .get("per_page")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default_per_page)
            .min(max_per_page);
        let page = q
            .get("page")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1);
        Paging { per_page, page }
    }

    /// The index range of this page within `total` items.
    pub(crate) fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1).saturating_mul(self.per_page).min(total);
        let end = start.saturating_add(self.per_page).min(total);
        start..end
    }

    pub(crate) fn last_page(&self, total: usize) -> usize {
        total.div_ceil(self.per_page)
    }
}

/// Builds the `link` header for a paged answer, or `None` when everything
/// fits on one page (the docs: "if all results fit on a single page, the
/// link header will be omitted").
pub(crate) fn link_header(
    uri: &str,
    path: &str,
    q: &Query,
    paging: &Paging,
    total: usize,
) -> Option<String> {
    let last = paging.last_page(total);
    let page = paging.page;
    if last <= 1 && page <= 1 {
        return None;
    }
    let kept: Vec<&str> = q
        .raw
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| {
            let k = kv.split('=').next().unwrap_or("");
            k != "page"
        })
        .collect();
    let url = |p: usize| -> String {
        let mut parts: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        parts.push(format!("page={p}"));
        format!("{uri}{path}?{}", parts.join("&"))
    };
    let mut links: Vec<String> = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    if links.is_empty() {
        None
    } else {
        Some(links.join(", "))
    }
}

/// Parses a `link` header into `(rel, url)` pairs.
pub(crate) fn parse_link_header(h: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in h.split(", <") {
        let part = part.trim().trim_start_matches('<');
        if let Some((url, rest)) = part.split_once('>') {
            if let Some(i) = rest.find("rel=\"") {
                let rel = &rest[i + 5..];
                let rel = rel.split('"').next().unwrap_or("");
                out.push((rel.to_string(), url.to_string()));
            }
        }
    }
    out
}
