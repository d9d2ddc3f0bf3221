//! Terminal tables for `flowmeter metrics`: every number with its tier and
//! the sample it rests on; a metric without data says so instead of 0.

use std::fmt::Write;

use flowmeter_analysis::{series, Basis, Grouped, MetricSet, Metrics};

use crate::{count, human_hours, percent};

const NO_DATA: &str = "no data";

fn h(v: Option<f64>) -> String {
    v.map(human_hours).unwrap_or_else(|| "—".into())
}

fn tier(t: Option<&str>) -> &str {
    t.unwrap_or("—")
}

fn line(out: &mut String, name: &str, value: String, tier: &str, sample: String) {
    let _ = writeln!(out, "  {name:<30} {value:<44} {tier:<7} {sample}");
}

/// The whole result of one window.
pub fn metrics_text(m: &Metrics) -> String {
    let mut out = String::new();
    let w = &m.window;
    let filters: Vec<String> = [
        ("service", &m.filters.service),
        ("team", &m.filters.team),
        ("repo", &m.filters.repo),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect();
    let _ = writeln!(
        out,
        "DORA metrics  {} → {} ({:.0} days){}",
        w.since.format("%Y-%m-%d %H:%M"),
        w.until.format("%Y-%m-%d %H:%M"),
        w.days(),
        if filters.is_empty() {
            String::new()
        } else {
            format!("  [{}]", filters.join(", "))
        }
    );
    out.push('\n');
    metric_set_text(&mut out, &m.metrics);
    if let Some(other) = m.compared_with {
        let _ = writeln!(
            out,
            "\nCompared with {} → {} (is the change real? {:.0} % intervals):",
            other.since.format("%Y-%m-%d %H:%M"),
            other.until.format("%Y-%m-%d %H:%M"),
            flowmeter_analysis::delta::CONFIDENCE * 100.0
        );
        let keys = (flowmeter_analysis::metric::KEYS.iter())
            .map(|k| k.key)
            .chain(flowmeter_analysis::STAGES);
        for key in keys {
            if let Some(c) = flowmeter_analysis::delta::of(&m.metrics, key) {
                let unit = flowmeter_analysis::delta::unit(key);
                let _ = writeln!(out, "  {key:<22} {}", crate::change_text(c, unit));
            }
        }
    }
    out
}

pub fn metric_set_text(out: &mut String, m: &MetricSet) {
    let _ = writeln!(out, "  {:<30} {:<44} {:<7} sample", "key", "value", "tier");
    let df = &m.deployment_frequency;
    line(
        out,
        "Deployment frequency",
        format!(
            "{:.2}/week, {} deploys on {} days",
            df.per_week, df.deployments, df.deploy_days
        ),
        tier(df.tier),
        match df.median_deploy_days_per_week {
            Some(d) => format!(
                "median {d:.1} deploy days/week over {} {}",
                df.full_weeks,
                // The `devlake` and `four-keys` calendars keep partial weeks.
                match df.median_deploy_days_per_month.or(df.median_week_deployed) {
                    Some(_) => "weeks",
                    None => "full weeks",
                }
            ),
            None => "no full ISO week in the window".into(),
        },
    );
    let lt = &m.lead_time;
    line(
        out,
        "Lead time for changes",
        if lt.changes == 0 {
            NO_DATA.into()
        } else {
            format!(
                "p50 {}  p75 {}  p90 {}",
                h(lt.p50_hours),
                h(lt.p75_hours),
                h(lt.p90_hours)
            )
        },
        tier(lt.tier),
        match lt.counts {
            Some(_) => format!("n={} deployed PRs (DevLake cycle time)", lt.changes),
            None => format!("n={} changes ({} excluded <= 0)", lt.changes, lt.excluded),
        },
    );
    let cfr = &m.change_failure_rate;
    line(
        out,
        "Change failure rate",
        match (cfr.rate, cfr.basis) {
            (_, None) => "unknown: failures cannot be seen (see Data coverage)".into(),
            // Four Keys counts (deployment, change, incident) rows.
            (Some(r), Some(Basis::RootCauses)) => format!(
                "{} ({} root-cause rows over {} deploys)",
                percent(r),
                count(cfr.failed),
                cfr.deployments
            ),
            (Some(r), Some(basis)) => format!(
                "{}{} ({} of {} deploys)",
                if basis == Basis::RollbacksOnly {
                    ">= "
                } else {
                    ""
                },
                percent(r),
                count(cfr.failed),
                cfr.deployments
            ),
            (None, Some(_)) => NO_DATA.into(),
        },
        tier(cfr.tier),
        format!("n={} deployments", cfr.deployments),
    );
    let rt = &m.recovery_time;
    line(
        out,
        "Failed deployment recovery",
        match (rt.recovered, rt.open) {
            (None, _) if m.missing.iter().any(|x| x.metric == "recovery_time") => {
                "not defined by this profile".into()
            }
            (None, _) => "unknown: failures cannot be seen".into(),
            (Some(0), Some(open)) if open > 0 => format!("{open} still open"),
            (Some(0), _) => NO_DATA.into(),
            (Some(_), open) => format!(
                "p50 {}  p90 {}  ({} open)",
                h(rt.p50_hours),
                h(rt.p90_hours),
                count(open)
            ),
        },
        tier(rt.tier),
        match cfr.basis {
            // DevLake's recovery is per incident.
            Some(Basis::Incidents) => format!(
                "n={} incidents on {} failed deploys",
                count(rt.recovered),
                count(rt.failed_deployments)
            ),
            _ => format!(
                "n={} recovered of {} failed",
                count(rt.recovered),
                count(rt.failed_deployments)
            ),
        },
    );
    let ttr = &m.time_to_restore;
    line(
        out,
        "Time to restore (MTTR)",
        match ttr.resolved {
            None => "unknown: no incident source".into(),
            Some(0) => NO_DATA.into(),
            Some(_) => format!("p50 {}  p90 {}", h(ttr.p50_hours), h(ttr.p90_hours)),
        },
        "",
        format!(
            "n={} resolved, {} opened",
            count(ttr.resolved),
            count(ttr.incidents)
        ),
    );
    let rw = &m.rework_rate;
    line(
        out,
        "Rework rate",
        rw.rate
            .map(|r| {
                format!(
                    "{} ({} of {} deploys)",
                    percent(r),
                    rw.rework,
                    rw.deployments
                )
            })
            .unwrap_or_else(|| NO_DATA.into()),
        "",
        format!("n={} deployments", rw.deployments),
    );
    let ct = &m.cycle_time;
    let _ = writeln!(
        out,
        "\nValue stream: {} merged PRs, {} deployed; bottleneck: {}; flow efficiency: {}",
        ct.prs,
        ct.deployed,
        ct.bottleneck.unwrap_or("—"),
        ct.flow_efficiency
            .map(percent)
            .unwrap_or_else(|| "—".into())
    );
    let _ = writeln!(
        out,
        "  {:<8} {:>9} {:>9} {:>9} {:>8} {:>6}",
        "stage", "p50", "p75", "p90", "share", "n"
    );
    for (name, s) in ct.stages.iter() {
        let _ = writeln!(
            out,
            "  {:<8} {:>9} {:>9} {:>9} {:>8} {:>6}",
            name,
            h(s.p50_hours),
            h(s.p75_hours),
            h(s.p90_hours),
            s.share.map(percent).unwrap_or_else(|| "—".into()),
            s.samples
        );
    }
    let _ = writeln!(
        out,
        "  {:<8} {:>9} {:>9} {:>9} {:>8} {:>6}",
        "cycle",
        h(ct.cycle.p50_hours),
        h(ct.cycle.p75_hours),
        h(ct.cycle.p90_hours),
        "",
        ct.cycles
    );
    if let Some(w) = &ct.working_hours {
        let parts: Vec<String> = w
            .stages()
            .iter()
            .map(|(name, p)| format!("{name} {}", h(p.p50_hours)))
            .chain([format!("cycle {}", h(w.cycle.p50_hours))])
            .collect();
        let _ = writeln!(
            out,
            "  p50 in working hours ({}): {}",
            w.calendar,
            parts.join(", ")
        );
    }
    let _ = writeln!(out, "\nData coverage:");
    for line in crate::coverage_lines(m) {
        let mark = if line.warn { "!" } else { "-" };
        let _ = writeln!(out, "  {mark} {}", line.text);
    }
}

/// `--by`: one compact comparison table (built with polars), then nothing
/// hidden: `--format json` has every field of every group.
pub fn grouped_text(g: &Grouped) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "DORA metrics by {:?}  {} → {}\n",
        g.by,
        g.window.since.format("%Y-%m-%d"),
        g.window.until.format("%Y-%m-%d")
    )
    .map(|_| ());
    let frame = match series::comparison_frame(g) {
        Ok(f) => f,
        Err(e) => return format!("{out}cannot compare groups: {e}\n"),
    };
    let col = |name: &str| series::floats(&frame, name).unwrap_or_default();
    let (lead, lead_vs) = (col("lead_time_p50"), col("lead_time_p50_vs_median"));
    let (cfr, pickup) = (col("change_failure_rate"), col("pickup_p50"));
    let _ = writeln!(
        out,
        "  {:<22} {:>7} {:>8} {:>10} {:>8} {:>9} {:>10} {:>10} {:>9}",
        "group",
        "deploys",
        "per week",
        "lead p50",
        "vs med",
        "CFR",
        "recovery",
        "pickup p50",
        "bottleneck"
    );
    for (i, grp) in g.groups.iter().enumerate() {
        let m = &grp.metrics;
        let _ = writeln!(
            out,
            "  {:<22} {:>7} {:>8.2} {:>10} {:>8} {:>9} {:>10} {:>10} {:>9}",
            grp.key,
            m.deployment_frequency.deployments,
            m.deployment_frequency.per_week,
            h(lead.get(i).copied().flatten()),
            lead_vs
                .get(i)
                .copied()
                .flatten()
                .map(|v| format!("×{v:.2}"))
                .unwrap_or_else(|| "—".into()),
            cfr.get(i)
                .copied()
                .flatten()
                .map(percent)
                .unwrap_or_else(|| "—".into()),
            h(m.recovery_time.p50_hours),
            h(pickup.get(i).copied().flatten()),
            m.cycle_time.bottleneck.unwrap_or("—"),
        );
    }
    out
}
