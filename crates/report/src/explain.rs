//! `flowmeter explain` as text: the number, then the records behind it.

use std::fmt::Write;

use flowmeter_analysis::explain::{Explained, Explanation};
use flowmeter_analysis::Basis;
use serde_json::Value;

use crate::{human_hours, percent};

fn hours(v: Option<f64>) -> String {
    v.map(human_hours).unwrap_or_else(|| "no data".into())
}

/// One sentence: the number being explained, with its sample.
pub fn headline(e: &Explanation) -> String {
    let m = &e.metrics.metrics;
    let ct = &m.cycle_time;
    let stage = |i: usize| {
        let (name, s) = ct.stages.iter()[i];
        format!(
            "{name} stage: p50 {}, share {} of the cycle, over {} merged PRs",
            hours(s.p50_hours),
            s.share.map(percent).unwrap_or_else(|| "—".into()),
            s.samples
        )
    };
    match e.metric {
        Explained::DeploymentFrequency => format!(
            "Deployment frequency: {} deployments, {:.2} per week, on {} days (tier {})",
            m.deployment_frequency.deployments,
            m.deployment_frequency.per_week,
            m.deployment_frequency.deploy_days,
            m.deployment_frequency.tier.unwrap_or("—")
        ),
        Explained::LeadTime if m.lead_time.counts.is_some() => format!(
            "Lead time for changes (DevLake): p50 {}, p90 {} over {} deployed PRs (tier {})",
            hours(m.lead_time.p50_hours),
            hours(m.lead_time.p90_hours),
            m.lead_time.changes,
            m.lead_time.tier.unwrap_or("—")
        ),
        Explained::LeadTime => format!(
            "Lead time for changes: p50 {}, p90 {} over {} changes, {} excluded (tier {})",
            hours(m.lead_time.p50_hours),
            hours(m.lead_time.p90_hours),
            m.lead_time.changes,
            m.lead_time.excluded,
            m.lead_time.tier.unwrap_or("—")
        ),
        Explained::ChangeFailureRate => {
            let cfr = &m.change_failure_rate;
            let rate = cfr.rate.map(percent).unwrap_or_else(|| "no data".into());
            let (failed, n, tier) = (
                crate::count(cfr.failed),
                cfr.deployments,
                cfr.tier.unwrap_or("—"),
            );
            match cfr.basis {
                // Four Keys counts (deployment, change, incident) rows.
                Some(Basis::RootCauses) => format!(
                    "Change failure rate (Four Keys): {failed} root-cause rows over {n} deployments with changes ({rate}, tier {tier})"
                ),
                _ => format!("Change failure rate: {failed} of {n} deployments failed ({rate}, tier {tier})"),
            }
        }
        Explained::RecoveryTime => format!(
            "Failed deployment recovery: p50 {} over {} recovered, {} still open (tier {})",
            hours(m.recovery_time.p50_hours),
            crate::count(m.recovery_time.recovered),
            crate::count(m.recovery_time.open),
            m.recovery_time.tier.unwrap_or("—")
        ),
        Explained::TimeToRestore => format!(
            "Time to restore: p50 {} over {} resolved; {} opened",
            hours(m.time_to_restore.p50_hours),
            crate::count(m.time_to_restore.resolved),
            crate::count(m.time_to_restore.incidents)
        ),
        Explained::ReworkRate => format!(
            "Rework rate: {} of {} deployments ({})",
            m.rework_rate.rework,
            m.rework_rate.deployments,
            m.rework_rate
                .rate
                .map(percent)
                .unwrap_or_else(|| "no data".into())
        ),
        Explained::CycleTime => format!(
            "PR cycle time: p50 {} over {} deployed PRs; bottleneck {}",
            hours(ct.cycle.p50_hours),
            ct.cycles,
            ct.bottleneck.unwrap_or("—")
        ),
        Explained::Coding => stage(0),
        Explained::Pickup => stage(1),
        Explained::Review => stage(2),
        Explained::Deploy => stage(3),
    }
}

pub fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => "—".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > 42 {
        s.chars().take(41).collect::<String>() + "…"
    } else {
        s
    }
}

/// The verdict behind a report's arrow: the change from the compared
/// window, its interval and the records on each side.
pub fn verdict_line(e: &Explanation) -> Option<String> {
    let c = e.metric.change(&e.metrics.metrics)?;
    let other = e.metrics.compared_with?;
    Some(format!(
        "vs {} → {}: {}",
        other.since.format("%Y-%m-%d %H:%M"),
        other.until.format("%Y-%m-%d %H:%M"),
        crate::change_text(c, flowmeter_analysis::delta::unit(e.metric.key()))
    ))
}

/// What the sources cannot know about this number, and who would.
pub fn missing_lines(e: &Explanation) -> Vec<String> {
    let concerns = match e.metric.key() {
        "coding" | "pickup" | "review" => "cycle_time.stages",
        "recovery_time" => "change_failure_rate",
        key => key,
    };
    e.metrics
        .metrics
        .missing
        .iter()
        .filter(|gap| gap.metric == concerns)
        .map(|gap| format!("missing: {}; supplied by {}", gap.reason, gap.supplied_by))
        .collect()
}

/// The headline, then a table of the records.
pub fn explain_text(e: &Explanation) -> String {
    let mut out = String::new();
    let w = &e.metrics.window;
    let _ = writeln!(
        out,
        "{}\n  window {} → {}",
        headline(e),
        w.since.format("%Y-%m-%d %H:%M"),
        w.until.format("%Y-%m-%d %H:%M")
    );
    for line in verdict_line(e).into_iter().chain(missing_lines(e)) {
        let _ = writeln!(out, "  {line}");
    }
    out.push('\n');
    if e.total == 0 {
        out.push_str("No records behind this number in the window.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{} records behind it{}:",
        e.total,
        if e.rows.len() < e.total {
            format!(" (the first {}; --limit for more)", e.rows.len())
        } else {
            String::new()
        }
    );
    let cells: Vec<Vec<String>> = e
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let widths: Vec<usize> = e
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut String, values: &[String]| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", padded.join("  ").trim_end());
    };
    line(&mut out, &e.columns);
    for r in &cells {
        line(&mut out, r);
    }
    out
}
