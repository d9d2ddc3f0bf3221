//! `flowmeter report --post slack|teams`: the weekly digest posted where
//! people read it.
//!
//! [`slack_message`] and [`teams_message`] turn one [`WeeklyDigest`] into a
//! Slack Block Kit message or a Teams Adaptive Card (1.4, in the incoming
//! webhook envelope), following our examples and the limits written down in
//! `tests/fixtures/webhooks/{slack,teams}/README.md`. They show the same
//! numbers as the weekly page, worded with the report crate's helpers: a
//! headline without a value says "no data" (and why), never 0 or a tier.
//! Nothing about people goes out: no authors, no incident or PR titles.
//!
//! [`post`] sends a message to an incoming-webhook URL. The URL is a
//! credential (Slack revokes leaked ones; a Teams Workflows URL carries its
//! signature): no error of this module contains it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowmeter_analysis::delta::Verdict;
use flowmeter_analysis::digest::{Headline, WeeklyDigest};
use flowmeter_analysis::{Filters, MetricSet};
use flowmeter_report::pages::bottleneck_sentence;
use flowmeter_report::words::{window_words, WindowWords};
use flowmeter_report::{human_hours, percent, share_of, unit_value};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use serde_json::{json, Value};

// ------------------------------------------------------------------ limits

/// Block Kit: blocks per message.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// Block Kit: `header.text` (plain text).
pub const SLACK_MAX_HEADER: usize = 150;
/// Block Kit: `section.text`; also used for context texts and the fallback.
pub const SLACK_MAX_SECTION_TEXT: usize = 3000;
/// Block Kit: items of `section.fields`.
pub const SLACK_MAX_FIELDS: usize = 10;
/// Block Kit: characters of one section field.
pub const SLACK_MAX_FIELD: usize = 2000;
/// Block Kit: `context.elements`.
pub const SLACK_MAX_CONTEXT_ELEMENTS: usize = 10;
/// Block Kit: button `text`.
pub const SLACK_MAX_BUTTON_TEXT: usize = 75;
/// Block Kit: button `url` (a longer dashboard URL gets no button).
pub const SLACK_MAX_URL: usize = 3000;
/// Teams: "The message size limit is 28 KB", counted as 28,000 bytes of the
/// whole POST body to be safe.
pub const TEAMS_MAX_BYTES: usize = 28_000;
/// Our own bound on one Teams text, so the card stays far below the limit.
const TEAMS_MAX_TEXT: usize = 2000;
/// Longest wait a `Retry-After` may ask for before the one retry.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);
/// The wait before the retry when a 429 names none.
const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(1);

const NO_DATA: &str = "no data";
const BUTTON_TEXT: &str = "Open full report";

// ----------------------------------------------------------------- channel

/// Where the digest goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Slack,
    Teams,
}

impl Channel {
    /// The environment variable that holds the webhook URL by default.
    pub fn default_var(self) -> &'static str {
        match self {
            Channel::Slack => "FLOWMETER_SLACK_WEBHOOK_URL",
            Channel::Teams => "FLOWMETER_TEAMS_WEBHOOK_URL",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Channel::Slack => "Slack",
            Channel::Teams => "Teams",
        }
    }

    /// The weekly digest as this channel's message.
    pub fn message(self, w: &WeeklyDigest, dashboard: Option<&str>) -> Value {
        match self {
            Channel::Slack => slack_message(w, dashboard),
            Channel::Teams => teams_message(w, dashboard),
        }
    }

    /// Which channel a message body was built for: the Teams envelope is
    /// `{"type": "message", "attachments": [...]}`, anything else is Slack.
    pub fn of_message(body: &Value) -> Channel {
        let teams = body.get("type").and_then(Value::as_str) == Some("message")
            && body.get("attachments").is_some_and(Value::is_array);
        if teams {
            Channel::Teams
        } else {
            Channel::Slack
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Channel, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "slack" => Ok(Channel::Slack),
            "teams" | "msteams" => Ok(Channel::Teams),
            _ => Err(format!("unknown channel `{s}`: use `slack` or `teams`")),
        }
    }
}

// ------------------------------------------------------------------ errors

/// Why a digest was not posted. No message contains the webhook URL.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error(
        "no {} webhook URL: set `{}` to {} (it is a secret: keep it in the environment, not in flowmeter.toml)",
        .channel, .var, url_hint(.channel)
    )]
    MissingUrl { channel: Channel, var: String },
    #[error(
        "`{}` does not hold a usable {} webhook URL: {} (the value is not shown: webhook URLs are secrets)",
        .var, .channel, .problem
    )]
    BadUrl {
        channel: Channel,
        var: String,
        problem: &'static str,
    },
    #[error(
        "the {} message is {} bytes, over the {}-byte limit; it was not sent",
        .channel, .bytes, .limit
    )]
    TooLarge {
        channel: Channel,
        bytes: usize,
        limit: usize,
    },
    #[error(
        "the {} webhook answered {}{}: {}",
        .channel, .status, spaced(.answer), .meaning
    )]
    Rejected {
        channel: Channel,
        /// The HTTP status.
        status: u16,
        /// The documented error code (`no_service`) or a short excerpt of
        /// the answer (scrubbed of the URL); may be empty.
        answer: String,
        meaning: String,
        /// The answer means the URL no longer works: ask for a new one
        /// rather than retrying.
        dead: bool,
    },
    #[error(
        "the {} webhook answered {} (rate limited) again after one retry; {} Try again in a minute",
        .channel, .status, rate_hint(.channel)
    )]
    RateLimited { channel: Channel, status: u16 },
    #[error("could not reach the {} webhook: {}", .channel, .detail)]
    Unreachable { channel: Channel, detail: String },
}

impl PostError {
    /// Whether the webhook URL is dead (removed, disabled, channel gone):
    /// retrying will not help, a new URL will.
    pub fn url_is_dead(&self) -> bool {
        matches!(self, PostError::Rejected { dead: true, .. })
    }
}

fn spaced(answer: &str) -> String {
    if answer.is_empty() {
        String::new()
    } else {
        format!(" {answer}")
    }
}

fn url_hint(channel: &Channel) -> &'static str {
    match channel {
        Channel::Slack => "the URL of a Slack incoming webhook, https://hooks.slack.com/services/...",
        Channel::Teams => {
            "the URL of a Teams Workflows trigger (\"When a Teams webhook request is received\") or incoming webhook"
        }
    }
}

fn rate_hint(channel: &Channel) -> &'static str {
    match channel {
        Channel::Slack => "Slack takes about 1 message per second per webhook.",
        Channel::Teams => "Teams takes at most 4 requests per second per webhook.",
    }
}

// -------------------------------------------------------------- webhook URL

/// The webhook URL from the environment variable `var` (default
/// [`Channel::default_var`]). Missing or empty: an error naming the variable.
/// The URL must be `https://` (`http://` only to localhost, for tests).
pub fn webhook_url(channel: Channel, var: Option<&str>) -> Result<String, PostError> {
    let var = var
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(channel.default_var());
    let bad = |problem: &'static str| PostError::BadUrl {
        channel,
        var: var.to_string(),
        problem,
    };
    let value = match std::env::var(var) {
        Ok(v) => v,
        Err(std::env::VarError::NotPresent) => {
            return Err(PostError::MissingUrl {
                channel,
                var: var.to_string(),
            })
        }
        Err(std::env::VarError::NotUnicode(_)) => return Err(bad("it is not valid UTF-8")),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(PostError::MissingUrl {
            channel,
            var: var.to_string(),
        });
    }
    let parsed = reqwest::Url::parse(value).map_err(|_| bad("it is not a URL"))?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("it must start with https://")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    Ok(value.to_string())
}

// ------------------------------------------------------------------- post

/// Posts `body` (from [`slack_message`] or [`teams_message`]; the channel
/// is told by its shape, see [`Channel::of_message`]) to the webhook `url`.
/// A 429 (or Teams' "returned HTTP error 429" in a 200) is retried once,
/// after `Retry-After` (at most 30 s; 1 s when absent). Nothing else is
/// retried: a post is not idempotent, and a repeated digest is worse than
/// an error that says "try again later".
pub async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), PostError> {
    let channel = Channel::of_message(body);
    let bytes = serde_json::to_vec(body).expect("a JSON value always serialises");
    if channel == Channel::Teams && bytes.len() > TEAMS_MAX_BYTES {
        return Err(PostError::TooLarge {
            channel,
            bytes: bytes.len(),
            limit: TEAMS_MAX_BYTES,
        });
    }
    let mut retried = false;
    loop {
        let resp = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(bytes.clone())
            .send()
            .await
            .map_err(|e| transport_error(channel, e, url))?;
        let status = resp.status().as_u16();
        let wait = retry_after(resp.headers(), Utc::now());
        let text = resp.text().await.unwrap_or_default();
        match classify(channel, url, status, wait, &text) {
            Outcome::Posted => return Ok(()),
            Outcome::RateLimited(wait) if !retried => {
                retried = true;
                tokio::time::sleep(retry_wait(wait)).await;
            }
            Outcome::RateLimited(_) => return Err(PostError::RateLimited { channel, status }),
            Outcome::Failed(e) => return Err(e),
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Posted,
    RateLimited(Option<Duration>),
    Failed(PostError),
}

/// How long to wait before the one retry.
fn retry_wait(asked: Option<Duration>) -> Duration {
    asked.unwrap_or(RETRY_AFTER_DEFAULT).min(RETRY_AFTER_CAP)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(v, now)
}

fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e6)));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    let ms = (at - now).num_milliseconds().max(0) as u64;
    Some(Duration::from_millis(ms))
}

fn transport_error(channel: Channel, e: reqwest::Error, url: &str) -> PostError {
    let e = e.without_url();
    let detail = if e.is_builder() {
        "the webhook URL is not a valid URL".to_string()
    } else if e.is_timeout() {
        "the request timed out".to_string()
    } else {
        error_chain(&e)
    };
    PostError::Unreachable {
        channel,
        detail: scrub(&detail, url),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Removes the URL and its secret parts (path, query, long path segments)
/// from a text we did not write (an error, an answer's body).
fn scrub(text: &str, url: &str) -> String {
    const HIDDEN: &str = "<webhook URL>";
    let mut out = text.to_string();
    let url = url.trim();
    if !url.is_empty() {
        out = out.replace(url, HIDDEN);
    }
    if let Ok(u) = reqwest::Url::parse(url) {
        if let Some(q) = u.query().filter(|q| q.len() >= 8) {
            out = out.replace(q, "<secret>");
        }
        let path = u.path();
        if path.len() > 1 {
            out = out.replace(path, HIDDEN);
        }
        for segment in path.split('/').filter(|s| s.len() >= 16) {
            out = out.replace(segment, "<secret>");
        }
    }
    out
}

/// A short one-line excerpt of an answer's body (none for HTML pages).
fn excerpt(body: &str, url: &str) -> String {
    let body = body.trim();
    if body.is_empty() || body.starts_with('<') {
        return String::new();
    }
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&scrub(&one_line, url), 120)
}

/// Slack's documented error answers (incoming webhooks page and the
/// 2016-05-17 changelog): what it means, and whether the URL is dead.
fn slack_answer(code: &str) -> Option<(&'static str, bool)> {
    Some(match code {
        "invalid_payload" => (
            "Slack could not understand the message as sent; not retried (a flowmeter bug: please report it)",
            false,
        ),
        "user_not_found" => ("the user named in the request does not exist", false),
        "action_prohibited" => (
            "the workspace restricts posting through this webhook here; ask a Slack admin",
            false,
        ),
        "channel_not_found" => ("the webhook's channel does not exist any more", true),
        "channel_is_archived" => (
            "the webhook's channel is archived and takes no more messages",
            true,
        ),
        "rollup_error" => (
            "something went wrong on Slack's side; try again later",
            false,
        ),
        "invalid_token" => ("the webhook's token is expired, invalid or missing", true),
        "no_active_hooks" => ("the incoming webhook is disabled", true),
        "no_service" => (
            "the incoming webhook is disabled, removed or invalid",
            true,
        ),
        "no_service_id" => (
            "the webhook URL's service id is invalid or missing: check the URL",
            false,
        ),
        "no_team" => ("the Slack workspace is missing or invalid", true),
        "no_text" => (
            "the message had no `text` (a flowmeter bug: please report it)",
            false,
        ),
        "posting_to_general_channel_denied" => (
            "only some members may post to this workspace's general channel",
            false,
        ),
        "team_disabled" => ("the Slack workspace is no longer active", true),
        "too_many_attachments" => ("the message has more than 100 attachments", false),
        _ => return None,
    })
}

/// What an HTTP status means when the body does not say.
fn status_meaning(status: u16) -> (&'static str, bool) {
    match status {
        400 => ("the message was refused as malformed; not retried", false),
        401 | 403 => (
            "the webhook refused the post (disabled, revoked or not allowed to post here)",
            false,
        ),
        404 | 410 => (
            "there is no webhook at this URL any more (removed, disabled or mistyped)",
            true,
        ),
        413 => ("the message is too large", false),
        500..=599 => ("the service failed on its side; try again later", false),
        _ => ("an unexpected answer", false),
    }
}

fn rejected(channel: Channel, status: u16, answer: String, meaning: &str, dead: bool) -> PostError {
    let meaning = if dead {
        format!("{meaning}; this webhook URL no longer works: create a new one and set it again")
    } else {
        meaning.to_string()
    };
    PostError::Rejected {
        channel,
        status,
        answer,
        meaning,
        dead,
    }
}

/// `... returned HTTP error 429` in a Teams connector's answer body.
fn embedded_status(body: &str) -> Option<u16> {
    let at = body.find("HTTP error ")? + "HTTP error ".len();
    let digits: String = body[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// A legacy Microsoft 365 connector URL (answers `1` on success); Workflows
/// URLs answer 202 with an empty body (or whatever the flow responds).
fn is_connector(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| {
            h.ends_with(".webhook.office.com")
                || h == "outlook.office.com"
                || h == "outlook.office365.com"
        })
}

fn classify(
    channel: Channel,
    url: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Outcome {
    let ok = (200..300).contains(&status);
    match channel {
        Channel::Slack => {
            // "interpret a HTTP 200 response as success and any other
            // response code as a failure"; classify by body, then status.
            if ok {
                return Outcome::Posted;
            }
            if status == 429 {
                return Outcome::RateLimited(retry_after);
            }
            let code = body.trim();
            match slack_answer(code) {
                Some((meaning, dead)) => {
                    Outcome::Failed(rejected(channel, status, code.to_string(), meaning, dead))
                }
                None => {
                    let (meaning, dead) = status_meaning(status);
                    Outcome::Failed(rejected(channel, status, excerpt(body, url), meaning, dead))
                }
            }
        }
        Channel::Teams => {
            let text = body.trim();
            let embedded = embedded_status(text);
            if status == 429 || embedded == Some(429) {
                return Outcome::RateLimited(retry_after);
            }
            if ok {
                return match embedded {
                    Some(code) => {
                        let (meaning, dead) = status_meaning(code);
                        Outcome::Failed(rejected(
                            channel,
                            status,
                            excerpt(text, url),
                            meaning,
                            dead,
                        ))
                    }
                    None if text.is_empty() || text == "1" || !is_connector(url) => Outcome::Posted,
                    None => Outcome::Failed(rejected(
                        channel,
                        status,
                        excerpt(text, url),
                        "Teams did not post the card",
                        false,
                    )),
                };
            }
            let (meaning, dead) = status_meaning(status);
            Outcome::Failed(rejected(channel, status, excerpt(text, url), meaning, dead))
        }
    }
}

// ------------------------------------------------------------------ wording

/// One line of the digest: a headline or a stage.
struct Fact {
    title: String,
    /// The value alone (`3.0 d`, `no data`), for the notification text.
    short: String,
    /// The value with tier and sample (`3.0 d · high (182 changes)`).
    value: String,
    /// Against the week before (`↓ -24 % vs last week (better)`).
    change: Option<String>,
}

/// Everything both messages say, worded once.
struct View {
    header: String,
    period: String,
    events: String,
    headlines: Vec<Fact>,
    stages: Vec<Fact>,
    flow: String,
    coverage: String,
    thin: Option<String>,
    fallback: String,
}

fn view(w: &WeeklyDigest) -> View {
    let m = &w.current.metrics;
    let kind = if window_words(&w.current.window).iso_week {
        "Weekly delivery digest"
    } else {
        "Delivery digest"
    };
    let header = match scope_text(&w.current.filters) {
        Some(scope) => format!("{kind} {}: {scope}", w.week),
        None => format!("{kind} {}", w.week),
    };
    let words = window_words(&w.current.window);
    let headlines: Vec<Fact> = w
        .headlines
        .iter()
        .map(|h| headline_fact(h, m, &words))
        .collect();
    let fallback = format!(
        "{header}: {}.",
        headlines
            .iter()
            .map(|f| format!("{} {}", f.title, f.short))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let ct = &m.cycle_time;
    let mut flow = bottleneck_sentence(m, &w.previous.metrics, &words);
    if ct.prs > 0 {
        flow.push_str(&format!(
            " {} merged, {} deployed; flow efficiency {}.",
            count(ct.prs, "pull request", "pull requests"),
            ct.deployed,
            ct.flow_efficiency
                .map(percent)
                .unwrap_or_else(|| NO_DATA.into())
        ));
    }
    let c = &m.coverage;
    let thin = (!c.thin_samples.is_empty()).then(|| {
        format!(
            "Thin data (fewer than 5 samples): {}.",
            c.thin_samples.join(", ")
        )
    });
    View {
        header,
        period: period(w),
        events: events_sentence(w),
        headlines,
        stages: stage_facts(m),
        flow,
        coverage: coverage_text(m),
        thin,
        fallback,
    }
}

/// `2026-W44 (Mon 26 Oct 2026 – Sun 1 Nov 2026, UTC)`.
fn period(w: &WeeklyDigest) -> String {
    let win = &w.current.window;
    let last = win.until - chrono::Duration::microseconds(1);
    format!(
        "{} ({} – {}, UTC)",
        w.week,
        win.since.format("%a %-d %b %Y"),
        last.format("%a %-d %b %Y")
    )
}

fn scope_text(f: &Filters) -> Option<String> {
    let parts: Vec<String> = [
        ("service", &f.service),
        ("team", &f.team),
        ("repo", &f.repo),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `3 incidents`, `1 incident`, `no incidents`.
fn count(n: u64, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

fn headline_fact(h: &Headline, m: &MetricSet, words: &WindowWords) -> Fact {
    let title = h.name.to_string();
    // A value resting on no records is no data, whatever the number says
    // (0 deployments has a tier, but nothing to read in a chat).
    let Some(v) = h.value.filter(|_| h.samples > 0) else {
        let value = match no_data_reason(h.key, m, words) {
            Some(why) => format!("{NO_DATA} ({why})"),
            None => NO_DATA.to_string(),
        };
        return Fact {
            title,
            short: NO_DATA.into(),
            value,
            change: None,
        };
    };
    let short = unit_value(h.unit, v);
    let mut value = short.clone();
    if let Some(tier) = h.tier {
        value.push_str(" · ");
        value.push_str(tier);
    }
    value.push_str(&format!(" ({})", sample_text(h, m)));
    Fact {
        title,
        short,
        value,
        change: versus(h, v, words),
    }
}

fn sample_text(h: &Headline, m: &MetricSet) -> String {
    let n = h.samples;
    let base = match h.key {
        "deployment_frequency" => count(n, "deploy", "deploys"),
        "lead_time" => count(n, "change", "changes"),
        "change_failure_rate" => match m.change_failure_rate.failed {
            Some(failed) => format!(
                "{failed} of {} deploys failed",
                m.change_failure_rate.deployments
            ),
            None => "no incident source".into(),
        },
        "recovery_time" => format!("{} recovered", count(n, "failed deploy", "failed deploys")),
        "rework_rate" => format!(
            "{} of {} deploys unplanned",
            m.rework_rate.rework, m.rework_rate.deployments
        ),
        "time_to_restore" => format!("{} resolved", count(n, "incident", "incidents")),
        "cycle_time" => count(n, "pull request", "pull requests"),
        _ => format!("n={n}"),
    };
    // As the weekly page: a percentile of fewer than 5 is thin.
    if n < 5 && h.unit == "hours" {
        format!("{base}, thin data")
    } else {
        base
    }
}

/// Why a headline has no value, from the numbers the digest carries.
fn no_data_reason(key: &str, m: &MetricSet, words: &WindowWords) -> Option<String> {
    let during = &words.during;
    let deployments = m.deployment_frequency.deployments;
    Some(match key {
        "deployment_frequency" => format!("no production deployments recorded {during}"),
        "lead_time" if deployments == 0 => format!("no production deployments {during}"),
        "lead_time" => "no deployed change with a known first commit".into(),
        "change_failure_rate" if m.change_failure_rate.basis.is_none() => {
            "unknown: no incident source and no rollback seen".into()
        }
        "change_failure_rate" | "rework_rate" => format!("no production deployments {during}"),
        "recovery_time" => {
            let rt = &m.recovery_time;
            match (rt.failed_deployments, rt.open) {
                (None, _) => "unknown: no incident source and no rollback seen".into(),
                (Some(0), _) => format!("no failed deployments {during}"),
                (_, Some(open)) if open > 0 => format!(
                    "{} not recovered yet",
                    count(open, "failed deployment", "failed deployments")
                ),
                _ => return None,
            }
        }
        "time_to_restore" => match m.time_to_restore.incidents {
            None => "unknown: no incident source".into(),
            Some(0) => format!("no incidents {during}"),
            Some(n) => format!(
                "{} opened, none resolved yet",
                count(n, "incident", "incidents")
            ),
        },
        "cycle_time" => {
            let ct = &m.cycle_time;
            if ct.prs == 0 {
                format!("no merged pull requests {during}")
            } else if ct.deployed == 0 {
                "no merged pull request deployed yet".into()
            } else {
                "no deployed pull request with a known first commit".into()
            }
        }
        _ => return None,
    })
}

/// Against the week before: relative for times and counts (as the weekly
/// page), in percentage points for rates.
fn versus(h: &Headline, v: f64, words: &WindowWords) -> Option<String> {
    let b = h.previous?;
    let last = if words.iso_week {
        "last week".to_string()
    } else {
        format!("the {}", words.previous)
    };
    // The arrow only for a clear change (noise-aware deltas).
    if let Some(c) = h.change.as_ref().filter(|c| c.verdict != Verdict::Changed) {
        return Some(format!("{} vs {last}", c.verdict.words()));
    }
    let (delta, flat) = if h.unit == "ratio" {
        let pts = (v - b) * 100.0;
        (format!("{pts:+.1} pts"), pts.abs() < 0.05)
    } else if b == 0.0 {
        return Some(format!("vs {} {last}", unit_value(h.unit, b)));
    } else {
        let rel = (v - b) / b;
        (format!("{:+.0} %", rel * 100.0), rel.abs() < 0.005)
    };
    if flat {
        return Some(format!("→ as {last}"));
    }
    let up = v > b;
    let arrow = if up { "↑" } else { "↓" };
    let verdict = if up == h.higher_is_better {
        "better"
    } else {
        "worse"
    };
    Some(format!("{arrow} {delta} vs {last} ({verdict})"))
}

fn stage_facts(m: &MetricSet) -> Vec<Fact> {
    m.cycle_time
        .stages
        .iter()
        .into_iter()
        .map(|(name, s)| {
            let short = s
                .p50_hours
                .map(human_hours)
                .unwrap_or_else(|| NO_DATA.into());
            let mut value = short.clone();
            if let (Some(_), Some(share)) = (s.p50_hours, s.share) {
                value.push_str(&format!(" · {} of cycle time", percent(share)));
            }
            if m.cycle_time.bottleneck == Some(name) {
                value.push_str(" (bottleneck)");
            }
            Fact {
                title: flowmeter_report::capitalised(name),
                short,
                value,
                change: None,
            }
        })
        .collect()
}

/// Incidents, failed deployments and open PRs as counts: no titles, no
/// people.
fn events_sentence(w: &WeeklyDigest) -> String {
    let mut parts = Vec::new();
    let open = w
        .incidents
        .iter()
        .filter(|i| i.resolved_at.is_none())
        .count() as u64;
    let mut incidents = format!(
        "{} opened",
        count(w.incidents.len() as u64, "incident", "incidents")
    );
    if open > 0 {
        incidents.push_str(&format!(" ({open} still open)"));
    }
    parts.push(incidents);
    // Classified as on the weekly page: rollback, hotfix, else failed.
    let rollbacks = w.deployments.iter().filter(|d| d.is_rollback).count() as u64;
    let hotfixes = w
        .deployments
        .iter()
        .filter(|d| !d.is_rollback && d.kind == "hotfix")
        .count() as u64;
    let failed = w.deployments.len() as u64 - rollbacks - hotfixes;
    let mut notes = Vec::new();
    if rollbacks > 0 {
        notes.push(count(rollbacks, "rollback", "rollbacks"));
    }
    if hotfixes > 0 {
        notes.push(count(hotfixes, "hotfix", "hotfixes"));
    }
    if failed > 0 {
        notes.push(count(failed, "failed deployment", "failed deployments"));
    }
    parts.push(if notes.is_empty() {
        "no rollbacks, hotfixes or failed deployments".to_string()
    } else {
        notes.join(", ")
    });
    let words = window_words(&w.current.window);
    parts.push(format!(
        "{} open at {}",
        count(w.open_prs.len() as u64, "pull request", "pull requests"),
        words.end
    ));
    format!(
        "{}: {}.",
        flowmeter_report::capitalised(&words.during),
        parts.join("; ")
    )
}

fn coverage_text(m: &MetricSet) -> String {
    let c = &m.coverage;
    let mut parts = Vec::new();
    if c.changes > 0 {
        parts.push(format!(
            "{} of {} changes linked to a pull request",
            share_of(c.changes_with_pr, c.changes),
            c.changes
        ));
    } else {
        parts.push("no deployed changes".to_string());
    }
    if c.incidents > 0 {
        parts.push(format!(
            "{} of {} incidents attributed to a deployment",
            share_of(c.incidents_attributed, c.incidents),
            c.incidents
        ));
    }
    if c.prs_without_reviews > 0 {
        parts.push(format!(
            "{} without review data",
            count(
                c.prs_without_reviews,
                "merged pull request",
                "merged pull requests"
            )
        ));
    }
    format!("flowmeter · data coverage: {}", parts.join(" · "))
}

/// At most `max` characters, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack mrkdwn: `&`, `<` and `>` are control characters.
fn mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The dashboard link when it is one a button can carry.
fn dashboard_url(dashboard: Option<&str>) -> Option<&str> {
    dashboard.map(str::trim).filter(|u| {
        (u.starts_with("https://") || u.starts_with("http://"))
            && u.chars().count() <= SLACK_MAX_URL
    })
}

// ----------------------------------------------------------------- messages

fn slack_section(text: &str) -> Value {
    let text = if text.trim().is_empty() {
        NO_DATA
    } else {
        text
    };
    json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, SLACK_MAX_SECTION_TEXT)}
    })
}

/// The digest as a Slack incoming-webhook message: `text` (the notification
/// fallback) and Block Kit blocks (header, summary, the headlines as
/// fields, where PRs waited, coverage, a button to `dashboard`).
pub fn slack_message(w: &WeeklyDigest, dashboard: Option<&str>) -> Value {
    let v = view(w);
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(&v.header, SLACK_MAX_HEADER),
                "emoji": true
            }
        }),
        slack_section(&format!("*{}*\n{}", mrkdwn(&v.period), mrkdwn(&v.events))),
    ];
    let fields: Vec<Value> = v
        .headlines
        .iter()
        .map(|f| {
            let mut text = format!("*{}*\n{}", mrkdwn(&f.title), mrkdwn(&f.value));
            if let Some(change) = &f.change {
                text.push('\n');
                text.push_str(&mrkdwn(change));
            }
            json!({"type": "mrkdwn", "text": truncate(&text, SLACK_MAX_FIELD)})
        })
        .collect();
    for chunk in fields.chunks(SLACK_MAX_FIELDS) {
        blocks.push(json!({"type": "section", "fields": Value::Array(chunk.to_vec())}));
    }
    blocks.push(json!({"type": "divider"}));
    let mut waited = String::from("*Where pull requests waited* (median)");
    for f in &v.stages {
        waited.push_str(&format!("\n• {}: {}", mrkdwn(&f.title), mrkdwn(&f.value)));
    }
    waited.push('\n');
    waited.push_str(&mrkdwn(&v.flow));
    blocks.push(slack_section(&waited));
    let mut context: Vec<Value> = std::iter::once(&v.coverage)
        .chain(v.thin.as_ref())
        .map(|t| json!({"type": "mrkdwn", "text": truncate(&mrkdwn(t), SLACK_MAX_SECTION_TEXT)}))
        .collect();
    context.truncate(SLACK_MAX_CONTEXT_ELEMENTS);
    blocks.push(json!({"type": "context", "elements": context}));
    if let Some(url) = dashboard_url(dashboard) {
        blocks.truncate(SLACK_MAX_BLOCKS - 1);
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {
                    "type": "plain_text",
                    "text": truncate(BUTTON_TEXT, SLACK_MAX_BUTTON_TEXT),
                    "emoji": true
                },
                "url": url,
                "action_id": "open_report"
            }]
        }));
    }
    blocks.truncate(SLACK_MAX_BLOCKS);
    json!({
        "text": truncate(&mrkdwn(&v.fallback), SLACK_MAX_SECTION_TEXT),
        "blocks": blocks
    })
}

fn teams_text(s: &str) -> String {
    truncate(s, TEAMS_MAX_TEXT)
}

fn teams_fact(f: &Fact) -> Value {
    let value = match &f.change {
        Some(change) => format!("{}, {change}", f.value),
        None => f.value.clone(),
    };
    json!({"title": teams_text(&f.title), "value": teams_text(&value)})
}

/// The digest as an Adaptive Card 1.4 in the Teams incoming-webhook
/// envelope: TextBlocks, a FactSet of the headlines and one of the stages,
/// and an `Action.OpenUrl` to `dashboard`.
pub fn teams_message(w: &WeeklyDigest, dashboard: Option<&str>) -> Value {
    let v = view(w);
    let mut footer = v.coverage.clone();
    if let Some(thin) = &v.thin {
        footer.push_str(" · ");
        footer.push_str(thin);
    }
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": teams_text(&v.header),
            "size": "Large",
            "weight": "Bolder",
            "wrap": true
        }),
        json!({
            "type": "TextBlock",
            "text": teams_text(&v.period),
            "isSubtle": true,
            "spacing": "None",
            "wrap": true
        }),
        json!({"type": "TextBlock", "text": teams_text(&v.events), "wrap": true}),
        json!({"type": "FactSet", "facts": v.headlines.iter().map(teams_fact).collect::<Vec<_>>()}),
        json!({
            "type": "TextBlock",
            "text": "**Where pull requests waited** (median)",
            "separator": true,
            "wrap": true
        }),
        json!({"type": "FactSet", "facts": v.stages.iter().map(teams_fact).collect::<Vec<_>>()}),
        json!({"type": "TextBlock", "text": teams_text(&v.flow), "wrap": true}),
        json!({
            "type": "TextBlock",
            "text": teams_text(&footer),
            "size": "Small",
            "isSubtle": true,
            "wrap": true
        }),
    ];
    if let Some(url) = dashboard_url(dashboard) {
        body.push(json!({
            "type": "ActionSet",
            "actions": [{"type": "Action.OpenUrl", "title": BUTTON_TEXT, "url": url}]
        }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

// -------------------------------------------------------------------- tests

/// The HTTP client for posting (30 s per request).
pub fn client() -> Result<reqwest::Client, PostError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| PostError::Unreachable {
            channel: Channel::Slack,
            detail: format!("cannot build the HTTP client: {e}"),
        })
}

/// The dashboard page of a digest's week, from the dashboard's base
/// address (`https://flowmeter.example.com`).
pub fn dashboard_link(base: &str, w: &WeeklyDigest) -> String {
    let window = &w.current.window;
    format!(
        "{}/weekly?since={}&until={}",
        base.trim_end_matches('/'),
        window.since.format("%Y-%m-%d"),
        window.until.format("%Y-%m-%d")
    )
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use flowmeter_analysis::{digest, Filters, Window};
    use flowmeter_config::Config;
    use flowmeter_model::Event;
    use flowmeter_store::Store;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const WEEK: &str = "2026-W44";
    const DASHBOARD: &str = "https://flowmeter.example.com/reports/weekly/2026-W44";
    const SECRET: &str = "XXSECRETXXSECRETXXSECRET";

    fn weekly_of(events: Vec<Event>, config: &Config) -> WeeklyDigest {
        let mut store = Store::in_memory().unwrap();
        store.import(events, &config.metrics).unwrap();
        store.ensure_linked(&config.metrics).unwrap();
        let week = Window::iso_week(WEEK).unwrap();
        digest::weekly(&mut store, config, week, &Filters::default()).unwrap()
    }

    /// The demo organisation's last full week (as `tests/report.rs`).
    fn demo() -> &'static WeeklyDigest {
        static DEMO: OnceLock<WeeklyDigest> = OnceLock::new();
        DEMO.get_or_init(|| {
            let config =
                Config::parse(flowmeter_synth::demo_config_toml(), "demo flowmeter.toml").unwrap();
            let events = flowmeter_synth::demo_org()
                .into_iter()
                .map(|v| flowmeter_model::event_from_json(v).unwrap())
                .collect();
            weekly_of(events, &config)
        })
    }

    /// A week with nothing in the store: every headline is missing.
    fn empty() -> &'static WeeklyDigest {
        static EMPTY: OnceLock<WeeklyDigest> = OnceLock::new();
        EMPTY.get_or_init(|| weekly_of(Vec::new(), &Config::default()))
    }

    fn chars(v: &Value) -> usize {
        v.as_str().expect("a string").chars().count()
    }

    fn assert_slack_limits(msg: &Value) {
        assert!(chars(&msg["text"]) >= 1 && chars(&msg["text"]) <= SLACK_MAX_SECTION_TEXT);
        let blocks = msg["blocks"].as_array().unwrap();
        assert!(!blocks.is_empty() && blocks.len() <= SLACK_MAX_BLOCKS);
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "header" => {
                    assert_eq!(b["text"]["type"], "plain_text");
                    assert!(chars(&b["text"]["text"]) <= SLACK_MAX_HEADER);
                }
                "section" => {
                    if let Some(t) = b.get("text") {
                        let n = chars(&t["text"]);
                        assert!((1..=SLACK_MAX_SECTION_TEXT).contains(&n), "{n}");
                    }
                    if let Some(fields) = b.get("fields") {
                        let fields = fields.as_array().unwrap();
                        assert!(!fields.is_empty() && fields.len() <= SLACK_MAX_FIELDS);
                        for f in fields {
                            assert!(chars(&f["text"]) <= SLACK_MAX_FIELD);
                        }
                    }
                }
                "context" => {
                    let n = b["elements"].as_array().unwrap().len();
                    assert!((1..=SLACK_MAX_CONTEXT_ELEMENTS).contains(&n));
                }
                "actions" => {
                    let elements = b["elements"].as_array().unwrap();
                    assert!(!elements.is_empty() && elements.len() <= 25);
                    for e in elements {
                        assert!(chars(&e["text"]["text"]) <= SLACK_MAX_BUTTON_TEXT);
                        assert!(chars(&e["url"]) <= SLACK_MAX_URL);
                        assert!(chars(&e["action_id"]) <= 255);
                    }
                }
                "divider" => {}
                other => panic!("unexpected block {other}"),
            }
        }
    }

    fn slack_fields(msg: &Value) -> Vec<String> {
        msg["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b.get("fields"))
            .flat_map(|f| f.as_array().unwrap().clone())
            .map(|f| f["text"].as_str().unwrap().to_string())
            .collect()
    }

    fn teams_card(msg: &Value) -> &Value {
        assert_eq!(msg["type"], "message");
        let att = &msg["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(att["contentUrl"].is_null());
        let card = &att["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        card
    }

    fn teams_headline_facts(msg: &Value) -> Vec<(String, String)> {
        let card = teams_card(msg);
        let first = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "FactSet")
            .expect("a FactSet of the headlines");
        first["facts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["title"].as_str().unwrap().to_string(),
                    f["value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// No e-mail address, and no word that is a PR author of the week.
    fn assert_no_people(msg: &Value, w: &WeeklyDigest) {
        let text = msg.to_string();
        assert!(!text.contains('@'), "an @ in {text}");
        let authors: Vec<String> = w
            .longest_waits
            .iter()
            .filter_map(|p| p.author.clone())
            .chain(w.open_prs.iter().filter_map(|p| p.author.clone()))
            .map(|a| a.to_lowercase())
            .collect();
        assert!(!authors.is_empty(), "the demo week has authors to look for");
        for word in text
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|s| !s.is_empty())
        {
            assert!(
                !authors.iter().any(|a| a == word),
                "author `{word}` in the message"
            );
        }
    }

    fn expected_value(h: &Headline) -> String {
        match h.value.filter(|_| h.samples > 0) {
            Some(v) => unit_value(h.unit, v),
            None => NO_DATA.to_string(),
        }
    }

    #[test]
    fn slack_message_carries_the_headlines_within_limits() {
        let w = demo();
        assert_eq!(w.headlines.len(), 7);
        let msg = slack_message(w, Some(DASHBOARD));
        assert_slack_limits(&msg);
        let header = &msg["blocks"][0];
        assert_eq!(header["type"], "header");
        assert!(header["text"]["text"].as_str().unwrap().contains(WEEK));
        let fields = slack_fields(&msg);
        assert_eq!(fields.len(), w.headlines.len());
        let fallback = msg["text"].as_str().unwrap();
        for h in &w.headlines {
            let field = fields
                .iter()
                .find(|f| f.starts_with(&format!("*{}*\n", mrkdwn(h.name))))
                .unwrap_or_else(|| panic!("no field for {}", h.name));
            let value = mrkdwn(&expected_value(h));
            assert!(field.contains(&value), "{field} lacks {value}");
            if let (Some(_), Some(tier)) = (h.value, h.tier) {
                assert!(field.contains(tier), "{field} lacks its tier {tier}");
            }
            assert!(fallback.contains(&mrkdwn(h.name)), "{fallback}");
        }
        let actions = msg["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .expect("a button to the dashboard");
        assert_eq!(actions["elements"][0]["url"], DASHBOARD);
        let words = window_words(&w.current.window);
        let bottleneck = bottleneck_sentence(&w.current.metrics, &w.previous.metrics, &words);
        assert!(msg.to_string().contains(&mrkdwn(&bottleneck)));
        assert_no_people(&msg, w);
    }

    #[test]
    fn teams_card_carries_the_headlines_within_limits() {
        let w = demo();
        let msg = teams_message(w, Some(DASHBOARD));
        let bytes = serde_json::to_vec(&msg).unwrap().len();
        assert!(bytes <= TEAMS_MAX_BYTES, "{bytes} bytes");
        let facts = teams_headline_facts(&msg);
        assert_eq!(facts.len(), w.headlines.len());
        for (h, (title, value)) in w.headlines.iter().zip(&facts) {
            assert_eq!(title, h.name);
            assert!(value.starts_with(&expected_value(h)), "{title}: {value}");
        }
        let card = teams_card(&msg);
        let action = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "ActionSet")
            .expect("an ActionSet");
        assert_eq!(action["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(action["actions"][0]["url"], DASHBOARD);
        assert_eq!(Channel::of_message(&msg), Channel::Teams);
        assert_no_people(&msg, w);
    }

    #[test]
    fn no_button_without_a_usable_dashboard_url() {
        let w = demo();
        for dashboard in [None, Some(""), Some("not a url")] {
            let slack = slack_message(w, dashboard);
            assert_eq!(Channel::of_message(&slack), Channel::Slack);
            assert!(!slack.to_string().contains("\"actions\""));
            let teams = teams_message(w, dashboard);
            assert!(!teams.to_string().contains("ActionSet"));
        }
    }

    #[test]
    fn missing_data_says_no_data_never_zero_or_a_tier() {
        let w = empty();
        assert!(w
            .headlines
            .iter()
            .all(|h| h.value.is_none() || h.samples == 0));
        let slack = slack_message(w, None);
        assert_slack_limits(&slack);
        let fields = slack_fields(&slack);
        assert_eq!(fields.len(), w.headlines.len());
        let teams = teams_message(w, None);
        let facts = teams_headline_facts(&teams);
        let values = fields
            .iter()
            .map(|f| f.split_once('\n').unwrap().1.to_string())
            .chain(facts.into_iter().map(|(_, v)| v));
        for value in values {
            assert!(value.starts_with(NO_DATA), "{value}");
            assert!(
                value.contains("this week") || value.contains("unknown: no incident source"),
                "no reason given: {value}"
            );
            assert!(!value.chars().any(|c| c.is_ascii_digit()), "{value}");
            for tier in ["elite", "high", "medium", "low"] {
                assert!(!value.contains(tier), "{value}");
            }
        }
        let fallback = slack["text"].as_str().unwrap();
        assert!(
            fallback.contains("Lead time for changes no data"),
            "{fallback}"
        );
    }

    #[test]
    fn limits_truncate() {
        let long = "x".repeat(5000);
        let t = truncate(&long, SLACK_MAX_HEADER);
        assert_eq!(t.chars().count(), SLACK_MAX_HEADER);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(mrkdwn("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(dashboard_url(Some(&format!("https://x/{long}"))), None);
    }

    #[test]
    fn retry_after_is_read_and_capped() {
        let now = Utc::now();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        let at = (now + chrono::Duration::seconds(90)).to_rfc2822();
        let d = parse_retry_after(&at, now).unwrap();
        assert!(
            d > Duration::from_secs(88) && d <= Duration::from_secs(90),
            "{d:?}"
        );
        assert_eq!(retry_wait(Some(Duration::from_secs(120))), RETRY_AFTER_CAP);
        assert_eq!(retry_wait(None), RETRY_AFTER_DEFAULT);
    }

    #[test]
    fn teams_answers_are_classified() {
        let workflow = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRETSIGSECRET";
        let connector =
            "https://acme.webhook.office.com/webhookb2/aaaa-bbbb@cccc/IncomingWebhook/dddd/eeee";
        assert!(matches!(
            classify(Channel::Teams, workflow, 202, None, ""),
            Outcome::Posted
        ));
        assert!(matches!(
            classify(Channel::Teams, connector, 200, None, "1"),
            Outcome::Posted
        ));
        assert!(matches!(
            classify(
                Channel::Teams,
                connector,
                200,
                None,
                "Microsoft Teams endpoint returned HTTP error 429"
            ),
            Outcome::RateLimited(None)
        ));
        let Outcome::Failed(e) = classify(
            Channel::Teams,
            connector,
            200,
            None,
            "Microsoft Teams endpoint returned HTTP error 413",
        ) else {
            panic!("a 413 in the body is a failure")
        };
        assert!(e.to_string().contains("too large"), "{e}");
        let Outcome::Failed(e) = classify(
            Channel::Teams,
            workflow,
            404,
            None,
            &format!("no flow at {workflow}"),
        ) else {
            panic!("a 404 is a failure")
        };
        let text = e.to_string();
        assert!(e.url_is_dead(), "{text}");
        assert!(
            !text.contains("SIGSECRET") && !text.contains("logic.azure.com/workflows"),
            "{text}"
        );
    }

    #[test]
    fn webhook_url_comes_from_the_environment() {
        let var = "FLOWMETER_TEST_POST_RS_UNSET_4F2A";
        let err = webhook_url(Channel::Slack, Some(var)).unwrap_err();
        assert!(matches!(err, PostError::MissingUrl { .. }));
        assert!(err.to_string().contains(var), "{err}");
        assert_eq!(Channel::Slack.default_var(), "FLOWMETER_SLACK_WEBHOOK_URL");
        assert_eq!(Channel::Teams.default_var(), "FLOWMETER_TEAMS_WEBHOOK_URL");

        let var = "FLOWMETER_TEST_POST_RS_PLAIN_HTTP_4F2A";
        std::env::set_var(
            var,
            format!("http://hooks.example.com/services/T0/B0/{SECRET}"),
        );
        let err = webhook_url(Channel::Slack, Some(var)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(var) && text.contains("https://"), "{text}");
        assert!(!text.contains(SECRET) && !format!("{err:?}").contains(SECRET));

        let var = "FLOWMETER_TEST_POST_RS_GOOD_4F2A";
        let url = format!("https://hooks.slack.com/services/T0/B0/{SECRET}");
        std::env::set_var(var, format!("  {url}\n"));
        assert_eq!(webhook_url(Channel::Slack, Some(var)).unwrap(), url);
    }

    const HOOK: &str = "/services/T00000000/B00000000/XXSECRETXXSECRETXXSECRET";

    /// A client that ignores any proxy of the environment (the mock is local).
    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    fn hook(server: &MockServer) -> String {
        format!("{}{HOOK}", server.uri())
    }

    /// Posts once to a Slack hook that answers `status` with `body` exactly
    /// once, and returns the error.
    async fn refused(status: u16, body: &str) -> (PostError, MockServer) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .expect(1)
            .mount(&server)
            .await;
        let err = post(&client(), &hook(&server), &json!({"text": "x"}))
            .await
            .unwrap_err();
        (err, server)
    }

    fn assert_no_url(err: &PostError, server: &MockServer) {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(!text.contains(&server.uri()), "{text}");
            assert!(!text.contains("/services/"), "{text}");
        }
    }

    #[tokio::test]
    async fn posts_and_slack_answers_ok() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK))
            .and(header("content-type", "application/json"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let body = json!({"text": "flowmeter weekly digest", "blocks": []});
        post(&client(), &hook(&server), &body).await.unwrap();
        let sent = server.received_requests().await.unwrap();
        let got: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(got, body);
    }

    #[tokio::test]
    async fn invalid_payload_is_an_error_without_the_url_and_not_retried() {
        let (err, server) = refused(400, "invalid_payload").await;
        let text = err.to_string();
        assert!(
            text.starts_with("the Slack webhook answered 400 invalid_payload: "),
            "{text}"
        );
        assert!(!err.url_is_dead());
        assert_no_url(&err, &server);
    }

    #[tokio::test]
    async fn no_service_means_a_dead_url() {
        let (err, server) = refused(404, "no_service").await;
        let text = err.to_string();
        assert!(
            text.starts_with("the Slack webhook answered 404 no_service: "),
            "{text}"
        );
        assert!(
            err.url_is_dead() && text.contains("create a new one"),
            "{text}"
        );
        assert_no_url(&err, &server);
    }

    #[tokio::test]
    async fn rate_limit_is_retried_once_after_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_string("rate_limited"),
            )
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(HOOK))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let start = Instant::now();
        post(&client(), &hook(&server), &json!({"text": "x"}))
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(950));
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_second_rate_limit_is_an_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
            .expect(2)
            .mount(&server)
            .await;
        let err = post(&client(), &hook(&server), &json!({"text": "x"}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PostError::RateLimited { status: 429, .. }),
            "{err}"
        );
        assert_no_url(&err, &server);
    }

    #[tokio::test]
    async fn teams_workflow_accepts_and_oversize_cards_are_not_sent() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK))
            .respond_with(ResponseTemplate::new(202))
            .expect(1)
            .mount(&server)
            .await;
        let client = client();
        let small = json!({"type": "message", "attachments": []});
        post(&client, &hook(&server), &small).await.unwrap();
        let big = json!({
            "type": "message",
            "attachments": [{"content": {"text": "x".repeat(TEAMS_MAX_BYTES)}}]
        });
        let err = post(&client, &hook(&server), &big).await.unwrap_err();
        assert!(
            matches!(
                err,
                PostError::TooLarge {
                    channel: Channel::Teams,
                    ..
                }
            ),
            "{err}"
        );
        assert_no_url(&err, &server);
    }

    #[tokio::test]
    async fn unreachable_webhook_error_has_no_url() {
        // A port nothing listens on: bind, read the address, drop.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let url = format!("http://{addr}{HOOK}");
        let err = post(&client(), &url, &json!({"text": "x"}))
            .await
            .unwrap_err();
        assert!(matches!(err, PostError::Unreachable { .. }), "{err}");
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains(SECRET) && !text.contains("/services/"),
            "{text}"
        );
    }
}
