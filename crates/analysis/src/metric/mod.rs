//! One module per metric: its SQL (`queries/metrics/NAME.sql`), the JSON
//! object it makes of its query row, its tiers, what it lacks when a source
//! is missing, and its headline [`Key`] (name, unit, direction, how a change
//! is tested). [`KEYS`] is the one table of headlines that the digests,
//! the comparisons, the frames, the text and the pages iterate.
//!
//! Adding a metric: a module here with its SQL file, a field of
//! [`MetricSet`], its entry in [`queries`] (and in [`KEYS`] if it is a
//! headline), and its test.

pub mod change_failure_rate;
pub mod coverage;
pub mod cycle_time;
pub mod deployment_frequency;
pub mod lead_time;
pub mod recovery_time;
pub mod rework_rate;
pub mod time_to_restore;

use flowmeter_config::Profile;
use serde::Serialize;

use crate::{Known, MetricSet, Window};

pub(crate) type Hours = Option<f64>;
pub(crate) type Tier = Option<&'static str>;

/// Where incidents come from, for the `missing` notes.
pub(crate) const INCIDENT_SOURCE_HINT: &str = "an incident source: a `[[sources]]` of type pagerduty, opsgenie, incidentio or jsm, GitHub/GitLab issues labelled `incident`, the PagerDuty webhook, or `incident` records in an import";

/// How many metric queries make a metric set.
pub(crate) const QUERY_COUNT: usize = 8;

/// The metric queries of `profile`, in the order [`metric_set`] takes
/// their rows. The `devlake` and `four-keys` profiles compute the keys and
/// time to restore by those tools' rules (`queries/metrics/devlake/`,
/// `queries/metrics/four_keys/`, over the views the scope makes for
/// them); their rows have the same columns, so each metric maps them
/// alike.
pub(crate) fn queries(profile: Profile) -> [(&'static str, &'static str); QUERY_COUNT] {
    let pick = |ours: &'static str, [devlake, four_keys]: [&'static str; 2]| match profile {
        Profile::Devlake => devlake,
        Profile::FourKeys => four_keys,
        _ => ours,
    };
    [
        (
            "deployment_frequency",
            pick(deployment_frequency::SQL, deployment_frequency::THEIR_SQL),
        ),
        ("lead_time", pick(lead_time::SQL, lead_time::THEIR_SQL)),
        (
            "change_failure_rate",
            pick(change_failure_rate::SQL, change_failure_rate::THEIR_SQL),
        ),
        (
            "recovery_time",
            pick(recovery_time::SQL, recovery_time::THEIR_SQL),
        ),
        (
            "time_to_restore",
            pick(time_to_restore::SQL, time_to_restore::THEIR_SQL),
        ),
        ("rework_rate", rework_rate::SQL),
        ("cycle_time", cycle_time::SQL),
        ("coverage", coverage::SQL),
    ]
}

/// Whether a change is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Changed,
    NoClearChange,
    TooFewSamples,
}

impl Verdict {
    /// The words a report uses.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Changed => "changed",
            Verdict::NoClearChange => "no clear change",
            Verdict::TooFewSamples => "too few samples",
        }
    }
}

/// A headline compared with another window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub verdict: Verdict,
    /// Bounds of the interval of `current - previous`, in the headline's
    /// unit; null with too few samples.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub confidence: f64,
    /// The headline in the compared window, and `current - previous`.
    pub previous: Option<f64>,
    pub delta: Option<f64>,
    /// The records behind each side: `[current, previous]`.
    pub samples: [u64; 2],
    /// `bootstrap_median`, `order_statistics_median`, `exact_poisson` or
    /// `newcombe_wilson`.
    pub method: &'static str,
}

/// How the change of a headline between two windows is tested (see
/// [`crate::delta`]).
#[derive(Clone, Copy)]
pub enum Test {
    /// Difference of medians of the records' values.
    Median,
    /// Difference of two Poisson rates (deployments per week).
    Counts,
    /// Difference of two proportions, of `(events, total)` (none when the
    /// sources cannot know the events).
    Rate(fn(&MetricSet) -> Option<(u64, u64)>),
}

/// A headline key of the reports: how it is named, measured and compared,
/// and where a metric set holds it.
pub struct Key {
    /// Stable id (`lead_time`), also the JSON name of the metric.
    pub key: &'static str,
    /// What a reader sees (`Lead time for changes`).
    pub name: &'static str,
    /// The title of its trend chart.
    pub chart: &'static str,
    /// `hours`, `ratio` or `per_week`, of the value and of its change.
    pub unit: &'static str,
    /// Whether a rise is good news (deployments) or bad (lead time).
    pub higher_is_better: bool,
    /// How a change is tested.
    pub test: Test,
    /// Its column in [`crate::comparison_frame`].
    pub frame_column: &'static str,
    /// The headline value.
    pub value: fn(&MetricSet) -> Option<f64>,
    /// Whether the sources can know it at all (a failure rate without any
    /// incident source or rollback cannot).
    pub known: fn(&MetricSet) -> bool,
    /// Its tier, if the metric has tiers.
    pub tier: fn(&MetricSet) -> Option<&'static str>,
    /// How many records the value rests on.
    pub samples: fn(&MetricSet) -> u64,
    /// Its change from a compared window (after [`crate::delta::compare`]).
    pub change: fn(&MetricSet) -> Option<&Change>,
    pub(crate) change_slot: fn(&mut MetricSet) -> &mut Option<Change>,
}

/// The headlines, in report order: the five DORA keys, then classic time
/// to restore and the PR cycle time.
pub const KEYS: [&Key; 7] = [
    &deployment_frequency::KEY,
    &lead_time::KEY,
    &change_failure_rate::KEY,
    &recovery_time::KEY,
    &rework_rate::KEY,
    &time_to_restore::KEY,
    &cycle_time::KEY,
];

/// The headline `key` (`lead_time`).
pub fn key(key: &str) -> Option<&'static Key> {
    KEYS.into_iter().find(|k| k.key == key)
}

/// A numeric row of one metric query, by column name.
pub(crate) struct Row {
    pub(crate) names: std::sync::Arc<[String]>,
    pub(crate) values: Vec<Option<f64>>,
}

impl Row {
    pub(crate) fn f(&self, name: &str) -> Option<f64> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("query has no column `{name}`"));
        self.values[i]
    }

    /// The column `name`, or none when the query has no such column (one
    /// profile's query gives more than another's).
    pub(crate) fn maybe(&self, name: &str) -> Option<f64> {
        let i = self.names.iter().position(|n| n == name)?;
        self.values[i]
    }

    pub(crate) fn n(&self, name: &str) -> u64 {
        self.f(name).unwrap_or(0.0) as u64
    }
}

/// What a metric's mapping needs besides its row.
pub(crate) struct Context<'a> {
    pub(crate) profile: Profile,
    pub(crate) window: &'a Window,
    pub(crate) known: Known,
}

/// One rung of a tier ladder: the bound a value must stay under, or at
/// or under.
#[derive(Clone, Copy)]
pub(crate) enum Cut {
    Under(f64),
    AtMost(f64),
}

/// The tier of `x`: the first rung it holds, else `low`.
pub(crate) fn ladder(x: f64, rungs: &[(Cut, &'static str)]) -> &'static str {
    let holds = |cut: Cut| match cut {
        Cut::Under(c) => x < c,
        Cut::AtMost(c) => x <= c,
    };
    (rungs.iter().find(|(cut, _)| holds(*cut))).map_or("low", |(_, tier)| tier)
}

pub(crate) fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// One window's metric set from its row of each query of [`queries`] (in
/// that order), and the services no team claims.
pub(crate) fn metric_set(
    rows: [Row; QUERY_COUNT],
    cx: &Context,
    services_without_team: Vec<String>,
) -> MetricSet {
    let [df, lt, cfr, rt, ttr, rw, ct, cov] = rows;
    let lead_time = lead_time::of(&lt, cx);
    let change_failure_rate = change_failure_rate::of(&cfr, cx);
    let recovery_time = recovery_time::of(&rt, cx);
    let time_to_restore = time_to_restore::of(&ttr, cx);
    let cycle_time = cycle_time::of(&ct, cx);
    let coverage = coverage::of(
        &cov,
        &lead_time,
        &recovery_time,
        &time_to_restore,
        &cycle_time,
        services_without_team,
    );
    let missing = [
        change_failure_rate::missing(&change_failure_rate, cx.profile),
        time_to_restore::missing(&time_to_restore),
        recovery_time::missing(cx.profile),
        cycle_time::missing(&cycle_time),
    ]
    .into_iter()
    .flatten()
    .collect();
    MetricSet {
        tier_source: tier_source(cx.profile),
        missing,
        deployment_frequency: deployment_frequency::of(&df, cx),
        lead_time,
        change_failure_rate,
        recovery_time,
        time_to_restore,
        rework_rate: rework_rate::of(&rw, cx),
        cycle_time,
        coverage,
    }
}

/// What a tier of `profile` rests on, in words (the JSON's `tier_source`).
///
/// DORA's tables describe survey clusters, not thresholds; each profile
/// turns one year's clusters into cut-offs (each metric's `tier`). DORA's
/// 2025 report dropped the four tiers for team profiles, so no profile is
/// newer than 2024.
pub fn tier_source(profile: Profile) -> &'static str {
    match profile {
        Profile::Flowmeter => {
            "flowmeter (METRICS.md): DORA 2023 clusters for lead time, change failure rate and recovery time; Four Keys rule for deployment frequency"
        }
        Profile::Dora2023 => "DORA 2023 (Accelerate State of DevOps 2023) clusters",
        Profile::Dora2024 => {
            "DORA 2024 (Accelerate State of DevOps 2024) clusters; change failure rate by nearest cluster (high 20 %, medium 10 %)"
        }
        Profile::Devlake => {
            "Apache DevLake's DORA dashboard (its 2023 benchmarks): the keys follow DevLake's rules, not METRICS.md (per-PR lead time, lower medians, whole minutes, incidents on the latest earlier deployment); see docs/PROFILES.md"
        }
        Profile::FourKeys => {
            "Google Four Keys' dashboard (its buckets, after DORA 2019): the keys follow Four Keys' rules, not METRICS.md (a lead time per deployment and change, failures by an incident's root-cause commit, time to restore in whole hours, Sunday weeks); see docs/PROFILES.md"
        }
    }
}
