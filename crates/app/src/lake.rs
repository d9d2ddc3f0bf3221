//! `flowmeter lake export`: the store as a Parquet lake with a manifest,
//! for Spark, Trino or DuckDB over object storage (layout in
//! `flowmeter_store`'s lake module; the check in scripts/spark-check).

use std::path::Path;

use flowmeter_config::Config;
use flowmeter_store::{LakeWritten, Shard, Store};
use serde_json::{json, Value};

use crate::AppError;

/// The version of the metric definitions (METRICS.md's JSON `version`).
pub const METRICS_VERSION: u32 = 1;

/// Exports this shard (from `from_month` on, else all) and rewrites the
/// manifest from the files now in the lake; returns what this export
/// wrote.
pub fn export(
    store: &mut Store,
    config: &Config,
    dir: &Path,
    shard: Shard,
    from_month: Option<&str>,
) -> Result<LakeWritten, AppError> {
    if let Some(m) = from_month {
        let ok = m.len() == 7
            && m.as_bytes()[4] == b'-'
            && m[..4].chars().all(|c| c.is_ascii_digit())
            && m[5..].chars().all(|c| c.is_ascii_digit());
        if !ok {
            return Err(AppError::Invalid(format!(
                "`--from-month` takes a month like `2026-10`, not `{m}`"
            )));
        }
    }
    let written = store.export_lake(&config.metrics, dir, shard, from_month)?;
    let months: std::collections::BTreeMap<&str, &str> = Store::lake_months().into_iter().collect();
    let tables: serde_json::Map<String, Value> = store
        .lake_partitions(dir)?
        .into_iter()
        .map(|(table, parts)| {
            let partitions: serde_json::Map<String, Value> = parts
                .into_iter()
                .map(|(m, n)| (format!("month={m}"), json!(n)))
                .collect();
            let month_of = months.get(table.as_str()).copied();
            (
                table,
                json!({ "partition_column": month_of, "partitions": partitions }),
            )
        })
        .collect();
    let manifest = json!({
        "format": "flowmeter-lake",
        "version": 1,
        "schema_version": flowmeter_store::schema_version(),
        "metrics_version": METRICS_VERSION,
        "exported_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "tables": tables,
    });
    let path = dir.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| AppError::Other(format!("manifest: {e}")))?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| AppError::Io(format!("cannot write `{}`", path.display()), e))?;
    Ok(written)
}
