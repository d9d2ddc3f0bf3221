//! The three reports people read (weekly delivery report, team view,
//! leadership page) in HTML, Markdown and text, from one digest each.
//!
//! The numbers are formatted here, once, into a view model; the layout is in
//! the minijinja templates of `reports/` (embedded, so an installed binary
//! needs no files). HTML templates auto-escape every value; the only markup
//! passed through unescaped is the SVG the chart module drew (whose text
//! plotters escapes).

use flowmeter_analysis::delta::Verdict;
use flowmeter_analysis::digest::{
    Headline, LeadershipDigest, QuarterView, TeamDigest, WeeklyDigest,
};
use flowmeter_analysis::metric::{self, Key, KEYS};
use flowmeter_analysis::{Grouped, MetricSet};
use minijinja::{AutoEscape, Environment};
use serde_json::{json, Value};

use crate::charts::{self, Line};
use crate::words::{rate_text, window_words, WindowWords};
use crate::{human_hours, percent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    Html,
    Markdown,
    Text,
}

/// A rendered report: the page, and the charts a Markdown page links to
/// (`name`, SVG), to be written next to it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub page: String,
    pub charts: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("rendering the report failed: {0}")]
pub struct RenderError(#[from] minijinja::Error);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    let templates: [(&str, &str); 7] = [
        (
            "base.html.j2",
            include_str!("../../../reports/base.html.j2"),
        ),
        (
            "weekly.html.j2",
            include_str!("../../../reports/weekly.html.j2"),
        ),
        (
            "team.html.j2",
            include_str!("../../../reports/team.html.j2"),
        ),
        (
            "leadership.html.j2",
            include_str!("../../../reports/leadership.html.j2"),
        ),
        (
            "weekly.md.j2",
            include_str!("../../../reports/weekly.md.j2"),
        ),
        ("team.md.j2", include_str!("../../../reports/team.md.j2")),
        (
            "leadership.md.j2",
            include_str!("../../../reports/leadership.md.j2"),
        ),
    ];
    for (name, source) in templates {
        env.add_template(name, source)
            .expect("the bundled report templates parse");
    }
    env
}

/// A page served live rather than written to a file: a navigation bar on
/// top and each headline number linked to the records behind it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Links {
    /// HTML put first in the body as is: the server builds it and escapes
    /// every value in it.
    pub nav: String,
    /// The explain pages' path, ending in `/` (`/explain/`); the metric's
    /// name in kebab case follows.
    pub explain: String,
    /// The query string (with its `?`) that keeps the page's window and scope.
    pub query: String,
}

fn render(
    kind: &str,
    format: PageFormat,
    mut context: Value,
    charts: Vec<(String, String)>,
    chart_prefix: Option<&str>,
    links: Option<&Links>,
) -> Result<Rendered, RenderError> {
    if let (PageFormat::Html, Some(links)) = (format, links) {
        context["links"] = json!(links);
    }
    let env = environment();
    let template = match format {
        PageFormat::Html => format!("{kind}.html.j2"),
        PageFormat::Markdown | PageFormat::Text => format!("{kind}.md.j2"),
    };
    // HTML inlines the SVG; Markdown links to files written next to it
    // (only when the page goes to a file); text has no charts.
    let chart_view: serde_json::Map<String, Value> = charts
        .iter()
        .map(|(name, svg)| {
            let v = match (format, chart_prefix) {
                (PageFormat::Html, _) => json!({ "svg": svg }),
                (PageFormat::Markdown, Some(prefix)) => {
                    json!({ "file": format!("{prefix}-{name}.svg") })
                }
                _ => json!({}),
            };
            (name.clone(), v)
        })
        .collect();
    context["charts"] = Value::Object(chart_view);
    context["text"] = json!(format == PageFormat::Text);
    let mut page = env.get_template(&template)?.render(&context)?;
    if !page.ends_with('\n') {
        page.push('\n');
    }
    let charts = match (format, chart_prefix) {
        (PageFormat::Markdown, Some(_)) => charts,
        _ => Vec::new(),
    };
    Ok(Rendered { page, charts })
}

// ------------------------------------------------------------- formatting

fn opt_hours(v: Option<f64>) -> String {
    v.map(human_hours).unwrap_or_else(|| "no data".into())
}

fn value_text(unit: &str, v: Option<f64>) -> String {
    v.map(|x| crate::unit_value(unit, x))
        .unwrap_or_else(|| "no data".into())
}

/// The previous-window column: the arrow only for a clear change; else the
/// verdict in words. The interval is in `interval` (a tooltip, explain).
fn verdict_view(h: &Headline) -> Value {
    let Some(c) = &h.change else {
        return change(h, h.previous);
    };
    let interval = crate::change_text(c, h.unit);
    match c.verdict {
        Verdict::Changed => {
            let mut v = change(h, h.previous);
            v["verdict"] = json!("changed");
            v["interval"] = json!(interval);
            v
        }
        other => json!({
            "arrow": "", "text": other.words(), "class": "flat",
            "verdict": other, "interval": interval,
        }),
    }
}

/// A team's pickup or deploy queue against its previous window.
fn stage_verdict(m: &MetricSet, key: &str) -> String {
    match flowmeter_analysis::delta::of(m, key) {
        Some(c) if c.verdict == Verdict::Changed => {
            let up = c.delta.is_some_and(|d| d > 0.0);
            format!(
                "{} {}",
                if up { "↑ longer" } else { "↓ shorter" },
                crate::change_text(c, "hours")
            )
        }
        Some(c) => crate::change_text(c, "hours"),
        None => "—".into(),
    }
}

/// A leadership cell's change against the quarter before, in a few words.
fn quarter_verdict(m: &MetricSet, key: &str, higher_is_better: bool) -> String {
    match flowmeter_analysis::delta::of(m, key) {
        Some(c) if c.verdict == Verdict::Changed => {
            let up = c.delta.is_some_and(|d| d > 0.0);
            let arrow = if up { "↑" } else { "↓" };
            let good = if up == higher_is_better {
                "better"
            } else {
                "worse"
            };
            format!("{arrow} {good}")
        }
        Some(c) => c.verdict.words().to_string(),
        None => String::new(),
    }
}

/// Arrow, relative change and whether it is good news, against `base`.
fn change(h: &Headline, base: Option<f64>) -> Value {
    match (h.value, base) {
        (Some(v), Some(b)) if b != 0.0 => {
            let rel = (v - b) / b;
            let (arrow, class) = if rel.abs() < 0.005 {
                ("→", "flat")
            } else if (rel > 0.0) == h.higher_is_better {
                (if rel > 0.0 { "↑" } else { "↓" }, "good")
            } else {
                (if rel > 0.0 { "↑" } else { "↓" }, "bad")
            };
            json!({"arrow": arrow, "text": format!("{arrow} {:+.0} %", rel * 100.0), "class": class})
        }
        (Some(v), Some(_)) => {
            json!({"arrow": "", "text": format!("from 0 to {}", value_text(h.unit, Some(v))), "class": "flat"})
        }
        _ => json!({"arrow": "", "text": "—", "class": "flat"}),
    }
}

fn headline_view(h: &Headline, m: &MetricSet) -> Value {
    let unknown = metric::key(h.key).is_some_and(|k| !(k.known)(m));
    json!({
        "key": h.key,
        "name": h.name,
        "value": if unknown { "unknown (no incident source)".to_string() } else { value_text(h.unit, h.value) },
        "tier": h.tier,
        "samples": h.samples,
        "thin": h.samples > 0 && h.samples < 5 && h.unit == "hours",
        "vs_previous": verdict_view(h),
        "previous": value_text(h.unit, h.previous),
        // No verdict against the average of weeks: the value, no arrow.
        "vs_baseline": json!({"arrow": "", "text": value_text(h.unit, h.baseline), "class": "flat"}),
        "baseline": value_text(h.unit, h.baseline),
    })
}

fn stages_view(m: &MetricSet) -> Value {
    let working = m.cycle_time.working_hours.as_ref();
    let stages: Vec<Value> = m
        .cycle_time
        .stages
        .iter()
        .iter()
        .enumerate()
        .map(|(i, (name, s))| {
            let working_p50 = working.map(|w| opt_hours(w.stages()[i].1.p50_hours));
            json!({
                // A Markdown cell (with its closing bar), empty without
                // working hours: a template tag at a line's end eats the
                // newline.
                "working_cell": working_p50.as_ref().map(|v| format!(" {v} |")).unwrap_or_default(),
                "working_p50": working_p50,
                "name": name,
                "p50": opt_hours(s.p50_hours),
                "p75": opt_hours(s.p75_hours),
                "p90": opt_hours(s.p90_hours),
                "share": s.share.map(percent).unwrap_or_else(|| "—".into()),
                "samples": s.samples,
                "bottleneck": m.cycle_time.bottleneck == Some(*name),
            })
        })
        .collect();
    json!({
        "prs": m.cycle_time.prs,
        "deployed": m.cycle_time.deployed,
        "flow_efficiency": m.cycle_time.flow_efficiency.map(percent).unwrap_or_else(|| "no data".into()),
        "cycle_p50": opt_hours(m.cycle_time.cycle.p50_hours),
        "working_header": if working.is_some() { " p50, working hours |" } else { "" },
        "working_rule": if working.is_some() { "---:|" } else { "" },
        "working": working.map(|w| json!({
            "calendar": w.calendar,
            "cycle_p50": opt_hours(w.cycle.p50_hours),
        })),
        "stages": stages,
    })
}

/// "Pickup is 46 % of cycle time; median 19 h, up from 9 h."
pub fn bottleneck_sentence(
    current: &MetricSet,
    previous: &MetricSet,
    words: &WindowWords,
) -> String {
    let ct = &current.cycle_time;
    let Some(name) = ct.bottleneck else {
        return if ct.prs > 0 && ct.stages_unknown == ct.prs {
            "Where pull requests waited is unknown: their source (git history) does not know when they were opened or reviewed.".into()
        } else {
            format!("No merged pull requests with stage times {}.", words.during)
        };
    };
    let stage = |m: &MetricSet| {
        m.cycle_time
            .stages
            .iter()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
    };
    let now = stage(current).expect("the bottleneck is a stage");
    let share = now.share.map(percent).unwrap_or_else(|| "—".into());
    let median = opt_hours(now.p50_hours);
    let verdict = flowmeter_analysis::delta::of(current, name).map(|c| c.verdict);
    let trend = match (now.p50_hours, stage(previous).and_then(|s| s.p50_hours)) {
        // "Up" or "down" only for a clear change (when it was tested).
        (Some(_), Some(b)) if verdict.is_some_and(|v| v != Verdict::Changed) => format!(
            ", {} from {} {}",
            verdict.map(|v| v.words()).unwrap_or_default(),
            human_hours(b),
            words.the_one_before
        ),
        (Some(a), Some(b)) if (a - b).abs() >= 0.05 * b.max(0.1) => format!(
            ", {} from {}",
            if a > b { "up" } else { "down" },
            human_hours(b)
        ),
        (Some(_), Some(_)) => format!(", as {}", words.the_one_before),
        _ => String::new(),
    };
    format!(
        "{} is {share} of cycle time; median {median}{trend}.",
        crate::capitalised(name)
    )
}

fn coverage_view(m: &MetricSet) -> Value {
    json!({ "lines": crate::coverage_lines(m) })
}

fn week_labels(series: &Grouped) -> Vec<String> {
    series.groups.iter().map(|g| g.key.clone()).collect()
}

/// One small chart per headline key over the series' weeks.
/// The axis of a headline's trend chart: its unit's label, and the scale
/// from the headline's unit (ratios in percent).
fn chart_axis(k: &Key) -> (&'static str, f64) {
    match k.unit {
        "ratio" => ("% of deployments", 100.0),
        "per_week" => ("deployments", 1.0),
        _ => ("hours", 1.0),
    }
}

fn key_charts(series: &Grouped, prefix: &str) -> Vec<(String, String)> {
    let weeks = week_labels(series);
    KEYS.iter()
        .map(|k| {
            let (unit, scale) = chart_axis(k);
            let values = (series.groups.iter())
                .map(|g| (k.value)(&g.metrics).map(|v| v * scale))
                .collect();
            let line = Line {
                name: k.key,
                values,
            };
            (
                format!("{prefix}{}", k.key),
                charts::trend(k.chart, unit, &weeks, &[line]),
            )
        })
        .collect()
}

fn stage_chart(series: &Grouped, name: String, title: &str) -> (String, String) {
    let weeks = week_labels(series);
    let stages: Vec<(&str, Vec<f64>)> = flowmeter_analysis::STAGES
        .into_iter()
        .enumerate()
        .map(|(i, stage)| {
            let values = series
                .groups
                .iter()
                .map(|g| {
                    g.metrics.cycle_time.stages.iter()[i]
                        .1
                        .p50_hours
                        .unwrap_or(0.0)
                })
                .collect();
            (stage, values)
        })
        .collect();
    (name, charts::stacked_stages(title, &weeks, &stages))
}

fn window_view(w: &flowmeter_analysis::Window) -> Value {
    json!({
        "since": w.since.format("%Y-%m-%d").to_string(),
        "until": w.until.format("%Y-%m-%d").to_string(),
        "last_day": (w.until - chrono::Duration::days(1)).format("%Y-%m-%d").to_string(),
    })
}

fn filters_text(f: &flowmeter_analysis::Filters) -> String {
    [
        ("service", &f.service),
        ("team", &f.team),
        ("repo", &f.repo),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
    .collect::<Vec<_>>()
    .join(", ")
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a %Y-%m-%d %H:%M UTC").to_string()
}

// ---------------------------------------------------------------- reports

/// The weekly delivery report.
pub fn weekly(
    d: &WeeklyDigest,
    format: PageFormat,
    chart_prefix: Option<&str>,
    links: Option<&Links>,
) -> Result<Rendered, RenderError> {
    let m = &d.current.metrics;
    let mut charts = key_charts(&d.series, "trend-");
    charts.push(stage_chart(
        &d.series,
        "stages".into(),
        "PR stages per week (median hours)",
    ));
    let incidents: Vec<Value> = d
        .incidents
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "source": i.source,
                "title": i.title.clone().unwrap_or_default(),
                "severity": i.severity.clone().unwrap_or_default(),
                "services": i.services.join(", "),
                "created": when(i.created_at),
                "restore": match i.restore_hours { Some(h) => human_hours(h), None => "still open".into() },
                "deployment": i.deployment_id.as_ref().map(|id| format!(
                    "{id} ({}, {})",
                    i.deployment_service.clone().unwrap_or_default(),
                    i.deployed_at.map(when).unwrap_or_default()
                )),
                "how": i.attributed_how,
            })
        })
        .collect();
    let deployments: Vec<Value> = d
        .deployments
        .iter()
        .map(|x| {
            let what = if x.is_rollback {
                "rollback"
            } else if x.kind == "hotfix" {
                "hotfix"
            } else {
                "failed"
            };
            let why = if x.incidents > 0 {
                format!("{} incident(s)", x.incidents)
            } else if let Some(r) = &x.rolled_back_by {
                format!("rolled back by {r}")
            } else {
                String::new()
            };
            json!({
                "id": x.id, "service": x.service, "what": what,
                "finished": when(x.finished_at),
                "sha": x.commit_sha.chars().take(10).collect::<String>(),
                "failed": x.failed, "why": why,
                "recovery": if x.open { "open".to_string() } else { x.recovery_hours.map(human_hours).unwrap_or_default() },
            })
        })
        .collect();
    let waits: Vec<Value> = d
        .longest_waits
        .iter()
        .map(|p| {
            json!({
                "repo": p.repo, "number": p.number,
                "title": p.title.clone().unwrap_or_default(),
                "author": p.author.clone().unwrap_or_default(),
                "pickup": opt_hours(p.pickup_hours),
                "deploy": p.deploy_hours.map(human_hours).unwrap_or_else(|| "not deployed".into()),
                "waiting": human_hours(p.waiting_hours),
            })
        })
        .collect();
    let words = window_words(&d.current.window);
    let context = json!({
        "title": if words.iso_week {
            format!("Weekly delivery report {}", d.week)
        } else {
            format!("Delivery report {}", d.week)
        },
        "words": words,
        "people": d.longest_waits.iter().any(|p| p.author.is_some()),
        "week": d.week,
        "window": window_view(&d.current.window),
        "filters": filters_text(&d.current.filters),
        "headlines": d.headlines.iter().map(|h| headline_view(h, m)).collect::<Vec<_>>(),
        "bottleneck": bottleneck_sentence(m, &d.previous.metrics, &words),
        "value_stream": stages_view(m),
        "incidents": incidents,
        "deployments": deployments,
        "waits": waits,
        "open_prs": d.open_prs.len(),
        "coverage": coverage_view(m),
        "tiers": m.tier_source,
    });
    render("weekly", format, context, charts, chart_prefix, links)
}

/// The team view: where each team's work waits, against the organisation.
pub fn team(
    d: &TeamDigest,
    format: PageFormat,
    chart_prefix: Option<&str>,
    links: Option<&Links>,
) -> Result<Rendered, RenderError> {
    let org = &d.org.metrics;
    let stage_p50 = |m: &MetricSet, i: usize| m.cycle_time.stages.iter()[i].1.p50_hours;
    let against = |team: Option<f64>, org: Option<f64>| -> String {
        match (team, org) {
            (Some(t), Some(o)) if o > 0.0 => format!("×{:.2} the org median", t / o),
            _ => "—".into(),
        }
    };
    let mut charts = Vec::new();
    let teams: Vec<Value> = d
        .teams
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let m = &t.current.metrics;
            let chart = format!("team{k}-stages");
            charts.push(stage_chart(
                &t.series,
                chart.clone(),
                &format!("{}: PR stages per week (median hours)", t.team),
            ));
            json!({
                "name": t.team,
                "chart": chart,
                "value_stream": stages_view(m),
                "pickup": opt_hours(stage_p50(m, 1)),
                "pickup_vs_org": against(stage_p50(m, 1), stage_p50(org, 1)),
                "pickup_change": stage_verdict(m, "pickup"),
                "deploy_change": stage_verdict(m, "deploy"),
                "deploy": opt_hours(stage_p50(m, 3)),
                "deploy_vs_org": against(stage_p50(m, 3), stage_p50(org, 3)),
                "wip": t.open_prs.len(),
                "oldest": t.open_prs.iter().take(5).map(|p| json!({
                    "repo": p.repo, "number": p.number,
                    "title": p.title.clone().unwrap_or_default(),
                    "author": p.author.clone().unwrap_or_default(),
                    "age": human_hours(p.age_hours),
                })).collect::<Vec<_>>(),
                "coverage": coverage_view(m),
            })
        })
        .collect();
    let context = json!({
        "title": format!("Team view {}", d.week),
        "words": window_words(&d.org.window),
        "people": d.teams.iter().flat_map(|t| &t.open_prs).any(|p| p.author.is_some()),
        "week": d.week,
        "window": window_view(&d.org.window),
        "filters": filters_text(&d.org.filters),
        "org": {
            "pickup": opt_hours(stage_p50(org, 1)),
            "deploy": opt_hours(stage_p50(org, 3)),
            "flow_efficiency": org.cycle_time.flow_efficiency.map(percent).unwrap_or_else(|| "no data".into()),
        },
        "teams": teams,
    });
    render("team", format, context, charts, chart_prefix, links)
}

fn quarter_row(v: &QuarterView) -> Value {
    let q = &v.quarter.metrics;
    let p = &v.previous_quarter.metrics;
    json!({
        "name": v.name,
        "deploys_per_week": rate_text(q.deployment_frequency.per_week),
        "df_change": quarter_verdict(q, "deployment_frequency", true),
        "lt_change": quarter_verdict(q, "lead_time", false),
        "cfr_change": quarter_verdict(q, "change_failure_rate", false),
        "rt_change": quarter_verdict(q, "recovery_time", false),
        "rework_change": quarter_verdict(q, "rework_rate", false),
        "mttr_change": quarter_verdict(q, "time_to_restore", false),
        "df_tier": q.deployment_frequency.tier, "df_tier_before": p.deployment_frequency.tier,
        "lead_time": opt_hours(q.lead_time.p50_hours),
        "lt_tier": q.lead_time.tier, "lt_tier_before": p.lead_time.tier,
        "cfr": q.change_failure_rate.rate.map(percent).unwrap_or_else(|| {
            if q.change_failure_rate.basis.is_none() { "unknown" } else { "no data" }.into()
        }),
        "cfr_tier": q.change_failure_rate.tier, "cfr_tier_before": p.change_failure_rate.tier,
        "recovery": opt_hours(q.recovery_time.p50_hours),
        "rt_tier": q.recovery_time.tier, "rt_tier_before": p.recovery_time.tier,
        "rework": q.rework_rate.rate.map(percent).unwrap_or_else(|| "no data".into()),
        "mttr": opt_hours(q.time_to_restore.p50_hours),
        "deployments": q.deployment_frequency.deployments,
    })
}

/// The leadership page: a quarter of the five keys, per team and org-wide.
pub fn leadership(
    d: &LeadershipDigest,
    format: PageFormat,
    chart_prefix: Option<&str>,
    links: Option<&Links>,
) -> Result<Rendered, RenderError> {
    let weeks = week_labels(&d.org.series);
    let views: Vec<&QuarterView> = std::iter::once(&d.org).chain(d.teams.iter()).collect();
    let mut charts = Vec::new();
    // The DORA keys and time to restore: PR cycle time is the teams' view.
    let keys: Vec<&Key> = KEYS.into_iter().filter(|k| k.key != "cycle_time").collect();
    for k in &keys {
        let (unit, scale) = chart_axis(k);
        let lines: Vec<Line<'_>> = views
            .iter()
            .map(|v| Line {
                name: v.name.as_str(),
                values: (v.series.groups.iter())
                    .map(|g| (k.value)(&g.metrics).map(|x| x * scale))
                    .collect(),
            })
            .collect();
        charts.push((
            format!("quarter-{}", k.key),
            charts::trend(k.chart, unit, &weeks, &lines),
        ));
    }
    let points: Vec<(String, f64, f64)> = views
        .iter()
        .filter_map(|v| {
            let q = &v.quarter.metrics;
            q.change_failure_rate
                .rate
                .map(|r| (v.name.clone(), q.deployment_frequency.per_week, r * 100.0))
        })
        .collect();
    charts.push((
        "speed-vs-stability".into(),
        charts::speed_vs_stability("Speed vs stability over the quarter", &points),
    ));
    let context = json!({
        "title": format!("Delivery KPIs, the quarter to {}", d.week),
        "week": d.week,
        "window": window_view(&d.org.quarter.window),
        "previous_window": window_view(&d.org.previous_quarter.window),
        "filters": filters_text(&d.org.quarter.filters),
        "rows": views.iter().map(|v| quarter_row(v)).collect::<Vec<_>>(),
        "tiers": d.org.quarter.metrics.tier_source,
        "keys": keys.iter().map(|k| json!({"key": k.key, "title": k.chart})).collect::<Vec<_>>(),
        "coverage": coverage_view(&d.org.quarter.metrics),
    });
    render("leadership", format, context, charts, chart_prefix, links)
}
