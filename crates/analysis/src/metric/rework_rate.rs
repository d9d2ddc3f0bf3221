//! Rework rate: the share of production deployments that shipped a change
//! labelled as rework (`queries/metrics/rework_rate.sql`). No tier.

use serde::Serialize;

use super::{ratio, Change, Context, Key, Row, Test};

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/rework_rate.sql");

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReworkRate {
    pub deployments: u64,
    pub rework: u64,
    pub rate: Option<f64>,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`crate::delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

pub(crate) fn of(row: &Row, _cx: &Context) -> ReworkRate {
    ReworkRate {
        deployments: row.n("deployments"),
        rework: row.n("rework"),
        rate: ratio(row.n("rework"), row.n("deployments")),
        change: None,
    }
}

pub const KEY: Key = Key {
    key: "rework_rate",
    name: "Rework rate",
    chart: "Rework rate",
    unit: "ratio",
    higher_is_better: false,
    test: Test::Rate(|m| Some((m.rework_rate.rework, m.rework_rate.deployments))),
    frame_column: "rework_rate",
    value: |m| m.rework_rate.rate,
    known: |_| true,
    tier: |_| None,
    samples: |m| m.rework_rate.deployments,
    change: |m| m.rework_rate.change.as_ref(),
    change_slot: |m| &mut m.rework_rate.change,
};
