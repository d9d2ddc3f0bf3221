//! PR cycle time and its stages (coding, pickup, review, deploy): where work
//! waits, the bottleneck and flow efficiency (`queries/metrics/cycle_time.sql`).

use serde::Serialize;

use super::{Change, Context, Hours, Key, Row, Test};
use crate::working::WorkingStages;
use crate::Missing;

pub(crate) const SQL: &str = include_str!("../../../../queries/metrics/cycle_time.sql");

/// The value-stream stages of a pull request, in flow order.
pub const STAGES: [&str; 4] = ["coding", "pickup", "review", "deploy"];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50_hours: Hours,
    pub p75_hours: Hours,
    pub p90_hours: Hours,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stage {
    pub p50_hours: Hours,
    pub p75_hours: Hours,
    pub p90_hours: Hours,
    pub share: Option<f64>,
    /// Extra: how many merged PRs the percentiles rest on.
    pub samples: u64,
    /// Extra, with `--compare` and in reports: the change of the median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stages {
    pub coding: Stage,
    pub pickup: Stage,
    pub review: Stage,
    pub deploy: Stage,
}

impl Stages {
    pub fn iter(&self) -> [(&'static str, &Stage); 4] {
        let [coding, pickup, review, deploy] = STAGES;
        [
            (coding, &self.coding),
            (pickup, &self.pickup),
            (review, &self.review),
            (deploy, &self.deploy),
        ]
    }

    /// The stage named `name` (one of [`STAGES`]).
    pub fn get(&self, name: &str) -> Option<&Stage> {
        self.iter()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Stage> {
        match name {
            "coding" => Some(&mut self.coding),
            "pickup" => Some(&mut self.pickup),
            "review" => Some(&mut self.review),
            "deploy" => Some(&mut self.deploy),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CycleTime {
    pub prs: u64,
    pub deployed: u64,
    pub flow_efficiency: Option<f64>,
    pub bottleneck: Option<&'static str>,
    pub cycle: Percentiles,
    pub stages: Stages,
    /// Extra: merged PRs with a cycle (deployed, with a first commit time).
    pub cycles: u64,
    /// Extra, with `--working-hours`: the stages and the cycle counted in
    /// the working hours of a calendar (wall-clock stays the contract).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<WorkingStages>,
    /// Extra: merged PRs whose source cannot know when they were opened or
    /// reviewed (recovered from git history): their coding, pickup and
    /// review stages are null, and shares, bottleneck and flow efficiency
    /// leave them out.
    pub stages_unknown: u64,
    /// Extra, with `--compare` and in reports: the change from the compared
    /// window and whether it is real (see [`crate::delta`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

pub(crate) fn of(row: &Row, _cx: &Context) -> CycleTime {
    let sums: Vec<f64> = STAGES
        .iter()
        .map(|s| row.f(&format!("{s}_sum")).unwrap_or(0.0))
        .collect();
    let total: f64 = sums.iter().sum();
    let stage = |name: &str, sum: f64| Stage {
        p50_hours: row.f(&format!("{name}_p50")),
        p75_hours: row.f(&format!("{name}_p75")),
        p90_hours: row.f(&format!("{name}_p90")),
        share: (total > 0.0).then(|| sum / total),
        samples: row.n(&format!("{name}_n")),
        change: None,
    };
    let stages = Stages {
        coding: stage(STAGES[0], sums[0]),
        pickup: stage(STAGES[1], sums[1]),
        review: stage(STAGES[2], sums[2]),
        deploy: stage(STAGES[3], sums[3]),
    };
    // Ties go to the earlier stage, in flow order.
    let bottleneck = (total > 0.0).then(|| {
        let mut best = 0;
        for i in 1..4 {
            if sums[i] > sums[best] {
                best = i;
            }
        }
        STAGES[best]
    });
    CycleTime {
        prs: row.n("prs"),
        deployed: row.n("deployed"),
        flow_efficiency: match (row.f("flow_numerator"), row.f("cycle_sum")) {
            (Some(num), Some(den)) if den != 0.0 => Some(num / den),
            _ => None,
        },
        bottleneck,
        cycle: Percentiles {
            p50_hours: row.f("cycle_p50"),
            p75_hours: row.f("cycle_p75"),
            p90_hours: row.f("cycle_p90"),
        },
        stages,
        cycles: row.n("cycles"),
        stages_unknown: row.n("stages_unknown"),
        working_hours: None,
        change: None,
    }
}

/// What stages recovered from git history lack.
pub(crate) fn missing(m: &CycleTime) -> Option<Missing> {
    (m.stages_unknown > 0).then(|| Missing {
        metric: "cycle_time.stages",
        reason: format!(
            "{} of {} merged pull requests were recovered from git history, which does not know when they were opened or reviewed: their coding, pickup and review stages are unknown and left out of shares, bottleneck and flow efficiency",
            m.stages_unknown, m.prs
        ),
        supplied_by: "a Git host source (`[[sources]]` of type github or gitlab) for the same repository",
    })
}

pub const KEY: Key = Key {
    key: "cycle_time",
    name: "PR cycle time",
    chart: "PR cycle time, median",
    unit: "hours",
    higher_is_better: false,
    test: Test::Median,
    frame_column: "cycle_p50",
    value: |m| m.cycle_time.cycle.p50_hours,
    known: |_| true,
    tier: |_| None,
    samples: |m| m.cycle_time.cycles,
    change: |m| m.cycle_time.change.as_ref(),
    change_slot: |m| &mut m.cycle_time.change,
};
