//! CSV output: one row per result (or per group), every field of the JSON
//! shape as a column named by its dotted path (`lead_time.p50_hours`).

use serde::Serialize;
use serde_json::Value;

use crate::{Grouped, Metrics};

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        Value::Array(items) => out.push((
            prefix.to_string(),
            items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn row<T: Serialize>(v: &T) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten(
        "",
        &serde_json::to_value(v).expect("metrics serialise"),
        &mut out,
    );
    out
}

fn write(rows: Vec<Vec<(String, String)>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    if let Some(first) = rows.first() {
        w.write_record(first.iter().map(|(k, _)| k.as_str()))
            .expect("write to memory");
    }
    for r in &rows {
        w.write_record(r.iter().map(|(_, v)| v.as_str()))
            .expect("write to memory");
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("csv is utf-8")
}

pub fn metrics_csv(m: &Metrics) -> String {
    write(vec![row(m)])
}

pub fn grouped_csv(g: &Grouped) -> String {
    write(
        g.groups
            .iter()
            .map(|group| {
                let mut r = vec![
                    (
                        "window.since".to_string(),
                        fmt_ts(group.window.unwrap_or(g.window).since),
                    ),
                    (
                        "window.until".to_string(),
                        fmt_ts(group.window.unwrap_or(g.window).until),
                    ),
                ];
                r.extend(
                    row(group)
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with("window.")),
                );
                r
            })
            .collect(),
    )
}

fn fmt_ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
