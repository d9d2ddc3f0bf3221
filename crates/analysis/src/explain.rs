//! `flowmeter explain`: the records behind one number. Each metric has a
//! listing query in `queries/explain/` that reads the same scoped links as
//! the metric itself, so the rows add up to the number `metrics` shows.

use flowmeter_config::{Config, Profile};
use flowmeter_store::{Scoped, Store, TimeUnit, Value};
use serde::Serialize;
use serde_json::Value as Json;

use crate::{compute, AnalysisError, Filters, Metrics, Window};

mod sql {
    pub const LEAD_TIME: &str = include_str!("../../../queries/explain/lead_time.sql");
    pub const DEPLOYMENT_FREQUENCY: &str =
        include_str!("../../../queries/explain/deployment_frequency.sql");
    pub const CHANGE_FAILURE_RATE: &str =
        include_str!("../../../queries/explain/change_failure_rate.sql");
    pub const RECOVERY_TIME: &str = include_str!("../../../queries/explain/recovery_time.sql");
    pub const TIME_TO_RESTORE: &str = include_str!("../../../queries/explain/time_to_restore.sql");
    pub const REWORK_RATE: &str = include_str!("../../../queries/explain/rework_rate.sql");
    pub const STAGE: &str = include_str!("../../../queries/explain/stage.sql");
    /// The `devlake` profile's records (`queries/explain/devlake/`).
    pub mod devlake {
        pub const LEAD_TIME: &str = include_str!("../../../queries/explain/devlake/lead_time.sql");
        pub const CHANGE_FAILURE_RATE: &str =
            include_str!("../../../queries/explain/devlake/change_failure_rate.sql");
        pub const RECOVERY_TIME: &str =
            include_str!("../../../queries/explain/devlake/recovery_time.sql");
        pub const TIME_TO_RESTORE: &str =
            include_str!("../../../queries/explain/devlake/time_to_restore.sql");
    }
    /// The `four-keys` profile's records (`queries/explain/four_keys/`).
    pub mod four_keys {
        pub const LEAD_TIME: &str =
            include_str!("../../../queries/explain/four_keys/lead_time.sql");
        pub const CHANGE_FAILURE_RATE: &str =
            include_str!("../../../queries/explain/four_keys/change_failure_rate.sql");
        pub const TIME_TO_RESTORE: &str =
            include_str!("../../../queries/explain/four_keys/time_to_restore.sql");
    }
}

/// No records: a number the profile does not define.
const NOTHING: &str = "SELECT NULL AS nothing WHERE FALSE";

/// The numbers `explain` can take apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Explained {
    DeploymentFrequency,
    LeadTime,
    ChangeFailureRate,
    RecoveryTime,
    TimeToRestore,
    ReworkRate,
    /// The whole PR cycle (first commit to deployment).
    CycleTime,
    Coding,
    Pickup,
    Review,
    Deploy,
}

impl Explained {
    /// The headline key this number is (`lead_time`, `pickup`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Explained::DeploymentFrequency => "deployment_frequency",
            Explained::LeadTime => "lead_time",
            Explained::ChangeFailureRate => "change_failure_rate",
            Explained::RecoveryTime => "recovery_time",
            Explained::TimeToRestore => "time_to_restore",
            Explained::ReworkRate => "rework_rate",
            Explained::CycleTime => "cycle_time",
            Explained::Coding => "coding",
            Explained::Pickup => "pickup",
            Explained::Review => "review",
            Explained::Deploy => "deploy",
        }
    }

    /// The change of this number against the compared window, if any.
    pub fn change(self, m: &crate::MetricSet) -> Option<&crate::delta::Change> {
        crate::delta::of(m, self.key())
    }

    /// Its listing query under `profile`: the `devlake` and `four-keys`
    /// profiles list their tool's records for the keys they define (the
    /// deployments behind deployment frequency are the same; Four Keys has
    /// no recovery time, so none are listed for it).
    fn sql(self, profile: Profile) -> String {
        let stage = |column: &str| sql::STAGE.replace("STAGE", column);
        let theirs = match (profile, self) {
            (Profile::Devlake, Explained::LeadTime) => Some(sql::devlake::LEAD_TIME),
            (Profile::Devlake, Explained::ChangeFailureRate) => {
                Some(sql::devlake::CHANGE_FAILURE_RATE)
            }
            (Profile::Devlake, Explained::RecoveryTime) => Some(sql::devlake::RECOVERY_TIME),
            (Profile::Devlake, Explained::TimeToRestore) => Some(sql::devlake::TIME_TO_RESTORE),
            (Profile::FourKeys, Explained::LeadTime) => Some(sql::four_keys::LEAD_TIME),
            (Profile::FourKeys, Explained::ChangeFailureRate) => {
                Some(sql::four_keys::CHANGE_FAILURE_RATE)
            }
            (Profile::FourKeys, Explained::RecoveryTime) => Some(NOTHING),
            (Profile::FourKeys, Explained::TimeToRestore) => Some(sql::four_keys::TIME_TO_RESTORE),
            _ => None,
        };
        if let Some(sql) = theirs {
            return sql.to_string();
        }
        match self {
            Explained::DeploymentFrequency => sql::DEPLOYMENT_FREQUENCY.to_string(),
            Explained::LeadTime => sql::LEAD_TIME.to_string(),
            Explained::ChangeFailureRate => sql::CHANGE_FAILURE_RATE.to_string(),
            Explained::RecoveryTime => sql::RECOVERY_TIME.to_string(),
            Explained::TimeToRestore => sql::TIME_TO_RESTORE.to_string(),
            Explained::ReworkRate => sql::REWORK_RATE.to_string(),
            Explained::CycleTime => stage("cycle_hours"),
            Explained::Coding => stage("coding_hours"),
            Explained::Pickup => stage("pickup_hours"),
            Explained::Review => stage("review_hours"),
            Explained::Deploy => stage("deploy_hours"),
        }
    }
}

/// A number and the records it is made of.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Explanation {
    pub metric: Explained,
    /// The metrics of the window and scope, exactly as `flowmeter metrics`.
    pub metrics: Metrics,
    pub columns: Vec<String>,
    /// The first `limit` records, in the query's order.
    pub rows: Vec<Vec<Json>>,
    /// All records behind the number (`rows` may show fewer).
    pub total: usize,
}

fn to_json(v: Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::TinyInt(i) => Json::from(i),
        Value::SmallInt(i) => Json::from(i),
        Value::Int(i) => Json::from(i),
        Value::BigInt(i) => Json::from(i),
        Value::HugeInt(i) => Json::from(i as f64),
        Value::UTinyInt(i) => Json::from(i),
        Value::USmallInt(i) => Json::from(i),
        Value::UInt(i) => Json::from(i),
        Value::UBigInt(i) => Json::from(i),
        Value::Float(f) => Json::from(f as f64),
        Value::Double(f) => Json::from(f),
        Value::Decimal(d) => d
            .to_string()
            .parse::<f64>()
            .map(Json::from)
            .unwrap_or(Json::Null),
        Value::Text(s) => Json::String(s),
        Value::Timestamp(unit, t) => {
            let micros = match unit {
                TimeUnit::Second => t.saturating_mul(1_000_000),
                TimeUnit::Millisecond => t.saturating_mul(1_000),
                TimeUnit::Microsecond => t,
                TimeUnit::Nanosecond => t / 1_000,
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|t| Json::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
                .unwrap_or(Json::Null)
        }
        Value::List(items) | Value::Array(items) => {
            Json::Array(items.into_iter().map(to_json).collect())
        }
        other => Json::String(format!("{other:?}")),
    }
}

/// Runs a listing query over the window (`$1`, `$2`), every row as JSON
/// values. Shared with `export`.
pub fn rows(
    scope: &Scoped<'_>,
    name: &str,
    sql: &str,
    window: &Window,
) -> Result<(Vec<String>, Vec<Vec<Json>>), AnalysisError> {
    let table = scope.table(name, sql, &window.bounds())?;
    let rows = table
        .rows
        .into_iter()
        .map(|row| row.into_iter().map(to_json).collect())
        .collect();
    Ok((table.columns, rows))
}

/// The metric of `what` over `window`, and the records behind it; with
/// `compare`, also its change from that window and whether it is real.
pub fn explain(
    store: &mut Store,
    config: &Config,
    what: Explained,
    window: Window,
    compare: Option<Window>,
    filters: &Filters,
    limit: usize,
) -> Result<Explanation, AnalysisError> {
    let mut metrics = compute(store, config, window, filters)?;
    if let Some(other) = compare {
        let previous = compute(store, config, other, filters)?;
        crate::delta::compare(store, config, &mut metrics, &previous)?;
    }
    let scope = store.scoped(config, filters)?;
    let (mut columns, mut all) = rows(
        &scope,
        "explain",
        &what.sql(config.metrics.profile),
        &window,
    )?;
    if let Some(i) = columns.iter().position(|c| c == "author") {
        for row in &mut all {
            row[i] = match row[i].as_str().and_then(crate::people::display_name) {
                Some(name) => Json::String(name),
                None => Json::Null,
            };
        }
    }
    // Owners and paths only where some record has them.
    for name in ["owners", "files"] {
        if let Some(i) = columns.iter().position(|c| c == name) {
            if all.iter().all(|row| row[i].is_null()) {
                columns.remove(i);
                all.iter_mut().for_each(|row| {
                    row.remove(i);
                });
            }
        }
    }
    let total = all.len();
    all.truncate(limit);
    Ok(Explanation {
        metric: what,
        metrics,
        columns,
        rows: all,
        total,
    })
}
