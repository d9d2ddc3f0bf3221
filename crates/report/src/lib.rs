//! Renderers: turn one in-memory metrics result into what people read.
//!
//! No renderer queries the store; each takes a [`Metrics`] or [`Grouped`]
//! from the analysis layer, so every format shows the same numbers.
//!
//! - [`text`]: the terminal tables of `flowmeter metrics`;
//! - [`flat`]: CSV rows (every JSON field, flattened with dotted names);
//! - [`pages`]: the weekly, team and leadership reports (HTML, Markdown,
//!   text) with [`charts`] drawn as SVG.

pub mod charts;
pub mod explain;
pub mod flat;
pub mod pages;
pub mod text;
pub mod words;

pub use flowmeter_analysis::{Grouped, Metrics};

/// Hours as a person reads them: minutes under an hour, days past two days.
pub fn human_hours(h: f64) -> String {
    if h.abs() < 1.0 {
        format!("{:.0} min", h * 60.0)
    } else if h.abs() < 48.0 {
        format!("{h:.1} h")
    } else {
        format!("{:.1} d", h / 24.0)
    }
}

/// A headline's value in its unit (`hours`, `ratio`, else deployments per
/// week).
pub fn unit_value(unit: &str, v: f64) -> String {
    match unit {
        "hours" => human_hours(v),
        "ratio" => percent(v),
        _ => words::rate_text(v),
    }
}

/// The first letter upper-cased (`pickup` -> `Pickup`).
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub fn percent(r: f64) -> String {
    format!("{:.1} %", r * 100.0)
}

/// A count a source may not know: `unknown` rather than a made-up 0.
pub fn count(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into())
}

/// A signed difference in a headline's unit (`hours`, `ratio`, `per_week`).
pub fn signed(unit: &str, x: f64) -> String {
    let sign = if x < 0.0 { "−" } else { "+" };
    match unit {
        "hours" => format!("{sign}{}", human_hours(x.abs())),
        "ratio" => format!("{sign}{:.1} pts", x.abs() * 100.0),
        _ => format!("{sign}{}", words::rate_text(x.abs())),
    }
}

/// A compared headline in words: the verdict, the change and its interval.
/// `changed: +3.1 h (95 % interval +1.0 h to +5.2 h; 50 vs 48 records)`.
pub fn change_text(c: &flowmeter_analysis::delta::Change, unit: &str) -> String {
    let n = format!("{} vs {} records", c.samples[0], c.samples[1]);
    let delta = c.delta.map(|d| signed(unit, d));
    match (c.ci_low, c.ci_high) {
        (Some(low), Some(high)) => format!(
            "{}: {} ({:.0} % interval {} to {}; {n})",
            c.verdict.words(),
            delta.unwrap_or_else(|| "—".into()),
            c.confidence * 100.0,
            signed(unit, low),
            signed(unit, high)
        ),
        _ => format!("{} ({n})", c.verdict.words()),
    }
}

/// One sentence of a data-coverage section.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoverageLine {
    pub text: String,
    /// A gap the reader should act on (pages show it as a warning).
    pub warn: bool,
}

/// The data-coverage sentences of a metric set, in order: what the
/// numbers rest on, then the gaps, what is unknown and thin data. Every
/// face shows these (HTML and Markdown reports, the dashboard's coverage
/// page, `metrics` as text), so they say the same everywhere.
pub fn coverage_lines(m: &flowmeter_analysis::MetricSet) -> Vec<CoverageLine> {
    let c = &m.coverage;
    let line = |text: String, warn: bool| CoverageLine { text, warn };
    let mut out = vec![
        line(
            format!(
                "{} of {} changes linked to a pull request; {} without a known start.",
                share_of(c.changes_with_pr, c.changes),
                c.changes,
                c.changes_without_start
            ),
            false,
        ),
        line(
            format!(
                "{} merged pull requests not deployed yet.",
                c.prs_merged_not_deployed
            ),
            false,
        ),
        line(
            format!(
                "{} of {} incidents attributed to a deployment.",
                share_of(c.incidents_attributed, c.incidents),
                c.incidents
            ),
            false,
        ),
    ];
    if c.prs_without_reviews > 0 {
        out.push(line(
            format!(
                "{} merged pull requests have no review data: their pickup and review stages rest on merge times.",
                c.prs_without_reviews
            ),
            true,
        ));
    }
    if c.incidents_unmapped > 0 {
        out.push(line(
            format!(
                "{} incidents name services without production deployments: map them with the incident source's service_map.",
                c.incidents_unmapped
            ),
            true,
        ));
    }
    if !c.services_without_team.is_empty() {
        out.push(line(
            format!(
                "Services without a team: {}.",
                c.services_without_team.join(", ")
            ),
            true,
        ));
    }
    for g in &m.missing {
        out.push(line(
            format!(
                "Unknown, {}: {}; supplied by {}.",
                g.metric, g.reason, g.supplied_by
            ),
            true,
        ));
    }
    for t in &c.thin_samples {
        out.push(line(
            format!("Thin data: {t}; read this percentile with care."),
            true,
        ));
    }
    out
}

/// `part` of `whole` as a percentage, or a dash when there is no whole.
pub fn share_of(part: u64, whole: u64) -> String {
    if whole == 0 {
        "—".to_string()
    } else {
        percent(part as f64 / whole as f64)
    }
}
