//! Group comparisons and weekly series as polars frames.
//!
//! The metric numbers themselves come from SQL (one source of truth); polars
//! takes a [`Grouped`] result and answers the comparative questions a team
//! asks of it: how each group's medians stand against the median group, and
//! the change from the previous group in a weekly series.

use polars::prelude::*;

use crate::metric::KEYS;
use crate::{AnalysisError, GroupBy, Grouped};

/// Headline numbers per group, one row each, plus comparisons:
/// `*_vs_median` (the group's value over the median across groups) and, for
/// `--by week`, `*_change` (relative change from the previous week).
pub fn comparison_frame(grouped: &Grouped) -> Result<DataFrame, AnalysisError> {
    let g = &grouped.groups;
    let col_f = |f: &dyn Fn(&crate::MetricSet) -> Option<f64>| -> Vec<Option<f64>> {
        g.iter().map(|x| f(&x.metrics)).collect()
    };
    let keys: Vec<&str> = g.iter().map(|x| x.key.as_str()).collect();
    let mut columns = vec![
        Column::new("key".into(), keys),
        Column::new(
            "deployments".into(),
            col_f(&|m| Some(m.deployment_frequency.deployments as f64)),
        ),
    ];
    // Every headline, in its own column.
    for k in KEYS {
        columns.push(Column::new(k.frame_column.into(), col_f(&k.value)));
    }
    columns.push(Column::new(
        "pickup_p50".into(),
        col_f(&|m| m.cycle_time.stages.pickup.p50_hours),
    ));
    let frame =
        DataFrame::new_infer_height(columns).map_err(|e| AnalysisError::Series(e.to_string()))?;
    let compared = [
        "lead_time_p50",
        "cycle_p50",
        "pickup_p50",
        "change_failure_rate",
    ];
    let mut exprs: Vec<Expr> = compared
        .iter()
        .map(|c| (col(*c) / col(*c).median()).alias(format!("{c}_vs_median")))
        .collect();
    if grouped.by == GroupBy::Week {
        exprs.extend(
            ["deployments", "lead_time_p50", "change_failure_rate"]
                .iter()
                .map(|c| {
                    ((col(*c) - col(*c).shift(lit(1))) / col(*c).shift(lit(1)))
                        .alias(format!("{c}_change"))
                }),
        );
    }
    frame
        .lazy()
        .with_columns(exprs)
        .collect()
        .map_err(|e| AnalysisError::Series(e.to_string()))
}

/// One column of a frame as optional floats (for renderers).
pub fn floats(frame: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, AnalysisError> {
    let column = frame
        .column(name)
        .map_err(|e| AnalysisError::Series(e.to_string()))?;
    let values = column
        .f64()
        .map_err(|e| AnalysisError::Series(e.to_string()))?;
    Ok((0..values.len()).map(|i| values.get(i)).collect())
}
