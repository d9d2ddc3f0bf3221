//! Noise-aware deltas: is a change between two windows real?
//!
//! With six deployments a week, a "+38 % lead time" is usually noise. Every
//! compared headline gets a 95 % confidence interval for the *change*
//! (current minus previous, in the headline's unit) and a verdict:
//!
//! - medians (lead time, recovery time, time to restore, PR cycle time and
//!   its stages): a seeded percentile bootstrap of the difference of
//!   medians, resampling the records behind each number (changes, failed
//!   deployments, incidents, pull requests); above [`BOOTSTRAP_MAX`]
//!   records on a side, the distribution-free order-statistic standard
//!   error of each median instead (the bootstrap would hold `n x 2000`
//!   draws);
//! - deployment frequency: the exact conditional test of two Poisson counts
//!   (given all deployments of both windows, the current window's share is
//!   binomial), its Clopper-Pearson interval turned into deployments per
//!   week; a previous window before the store's first deployment has no
//!   data, not zero deployments;
//! - rates (change failure rate, rework rate): Newcombe's hybrid score
//!   interval for a difference of proportions, built from the two Wilson
//!   score intervals.
//!
//! `changed` when the interval excludes 0; `no_clear_change` when it does
//! not; `too_few_samples` when either window rests on fewer than
//! [`MIN_SAMPLES`] records (for deployment frequency: fewer than
//! [`MIN_SAMPLES`] deployments in both windows together).
//!
//! The records come from DuckDB as Arrow and are handed to polars through
//! the Arrow C data interface (no row-by-row copy); the resampling is one
//! polars frame per window: `n x B` draws with replacement, grouped by
//! resample, aggregated to the median.

use flowmeter_config::{Config, Profile};
use flowmeter_store::{Scoped, Store};
use polars::prelude::*;

use crate::metric::{self, Test, KEYS};
use crate::{AnalysisError, MetricSet, Metrics, Window};

/// The confidence of every interval.
pub const CONFIDENCE: f64 = 0.95;
/// Fewer records than this in a window: no verdict.
pub const MIN_SAMPLES: u64 = 5;
/// Bootstrap resamples per window.
pub const RESAMPLES: usize = 2000;
/// Records per side above which medians are compared by their
/// order-statistic standard errors rather than resampled (memory: the
/// bootstrap holds `n x RESAMPLES` draws).
pub const BOOTSTRAP_MAX: usize = 2000;
/// The seed of every bootstrap, so a report is reproducible.
pub const SEED: u64 = 0x00f1_0e7e;

pub use crate::metric::{Change, Verdict};

/// The sample SQL: one row per record behind a headline, `(metric, value)`:
/// the keys' (one file per profile), then the PR stages' (`stages.sql`).
const SAMPLES_SQL: &str = include_str!("../../../queries/compare/samples.sql");
const DEVLAKE_SAMPLES_SQL: &str = include_str!("../../../queries/compare/samples_devlake.sql");
const FOUR_KEYS_SAMPLES_SQL: &str = include_str!("../../../queries/compare/samples_four_keys.sql");
const STAGE_SAMPLES_SQL: &str = include_str!("../../../queries/compare/stages.sql");

/// The unit of headline `key` (or stage) and of its change: `per_week`,
/// `ratio` or `hours`.
pub fn unit(key: &str) -> &'static str {
    metric::key(key).map_or("hours", |k| k.unit)
}

/// The change stored on headline `key` (or stage) of `m` (after
/// [`compare`]).
pub fn of<'a>(m: &'a MetricSet, key: &str) -> Option<&'a Change> {
    match metric::key(key) {
        Some(k) => (k.change)(m),
        None => m.cycle_time.stages.get(key)?.change.as_ref(),
    }
}

/// Computes the change of every headline of `current` against `previous`
/// (two windows of the same scope) and stores it in `current`.
pub fn compare(
    store: &mut Store,
    config: &Config,
    current: &mut Metrics,
    previous: &Metrics,
) -> Result<(), AnalysisError> {
    let t0 = std::time::Instant::now();
    let history = has_history(store, &previous.window)?;
    let scope = store.scoped(config, &current.filters)?;
    let profile = config.metrics.profile;
    let now = samples(&scope, &current.window, profile)?;
    let before = samples(&scope, &previous.window, profile)?;
    drop(scope);
    flowmeter_store::timing::phase("compare: samples", t0);
    let t0 = std::time::Instant::now();
    let days = [current.window.days(), previous.window.days()];
    let changes = changes(
        &current.metrics,
        &previous.metrics,
        &now,
        &before,
        days,
        history,
    )?;
    flowmeter_store::timing::phase("compare: resampling", t0);
    current.compared_with = Some(previous.window);
    let m = &mut current.metrics;
    for (key, change) in changes {
        let slot = match metric::key(key) {
            Some(k) => (k.change_slot)(m),
            None => match m.cycle_time.stages.get_mut(key) {
                Some(stage) => &mut stage.change,
                None => continue,
            },
        };
        *slot = Some(change);
    }
    Ok(())
}

/// Whether the store has data in `window` at all: a window that ends
/// before the store's first production deployment has none, which is not
/// the same as no deployments.
pub fn has_history(store: &Store, window: &Window) -> Result<bool, AnalysisError> {
    let first = store.first_deployment_at()?;
    Ok(first.is_some_and(|f| window.until > f))
}

/// The change of every compared headline, from the two metric sets and the
/// records behind them (frames of `(metric, value)`).
fn changes(
    now: &MetricSet,
    before: &MetricSet,
    now_records: &DataFrame,
    before_records: &DataFrame,
    days: [f64; 2],
    history: bool,
) -> Result<Vec<(&'static str, Change)>, AnalysisError> {
    let mut out = Vec::new();
    for k in KEYS {
        let key = k.key;
        // What the sources (or the profile) cannot know is not compared.
        if !(k.known)(now) {
            continue;
        }
        let (current, previous) = ((k.value)(now), (k.value)(before));
        let change = match k.test {
            Test::Rate(counts) => {
                // An unknown rate (a failure rate without an incident
                // source) is not compared at all.
                let Some(now_counts) = counts(now) else {
                    continue;
                };
                rate_change(Some(now_counts), counts(before), current, previous)
            }
            Test::Counts => {
                let counts = [
                    now.deployment_frequency.deployments,
                    before.deployment_frequency.deployments,
                ];
                count_change(counts, days, history, current, previous)
            }
            Test::Median => {
                let a = column(now_records, key)?;
                let b = column(before_records, key)?;
                median_change(&a, &b, current, previous)?
            }
        };
        out.push((key, change));
    }
    let stages = |m: &MetricSet| m.cycle_time.stages.iter().map(|(k, s)| (k, s.p50_hours));
    for ((key, current), (_, previous)) in stages(now).into_iter().zip(stages(before)) {
        let a = column(now_records, key)?;
        let b = column(before_records, key)?;
        out.push((key, median_change(&a, &b, current, previous)?));
    }
    Ok(out)
}

fn polars_err(e: PolarsError) -> AnalysisError {
    AnalysisError::Series(e.to_string())
}

/// The values of one metric's records.
fn column(records: &DataFrame, metric: &str) -> Result<Series, AnalysisError> {
    let picked = records
        .clone()
        .lazy()
        .filter(col("metric").eq(lit(metric)))
        // Sorted: DuckDB returns rows in any order, and a seeded resample of
        // a shuffled sample would not be the same resample.
        .select([col("value")
            .cast(DataType::Float64)
            .sort(SortOptions::default())])
        .collect()
        .map_err(polars_err)?;
    Ok(picked
        .column("value")
        .map_err(polars_err)?
        .as_materialized_series()
        .clone())
}

fn too_few(
    samples: [u64; 2],
    previous: Option<f64>,
    current: Option<f64>,
    method: &'static str,
) -> Change {
    Change {
        verdict: Verdict::TooFewSamples,
        ci_low: None,
        ci_high: None,
        confidence: CONFIDENCE,
        previous,
        delta: current.zip(previous).map(|(c, p)| c - p),
        samples,
        method,
    }
}

/// `untested` given its interval and the verdict that implies.
fn tested((low, high): (f64, f64), untested: Change) -> Change {
    Change {
        verdict: verdict(low, high),
        ci_low: Some(low),
        ci_high: Some(high),
        ..untested
    }
}

fn verdict(low: f64, high: f64) -> Verdict {
    if low > 0.0 || high < 0.0 {
        Verdict::Changed
    } else {
        Verdict::NoClearChange
    }
}

fn median_change(
    now: &Series,
    before: &Series,
    current: Option<f64>,
    previous: Option<f64>,
) -> Result<Change, AnalysisError> {
    let samples = [now.len() as u64, before.len() as u64];
    let large = now.len() > BOOTSTRAP_MAX || before.len() > BOOTSTRAP_MAX;
    let method = if large {
        "order_statistics_median"
    } else {
        "bootstrap_median"
    };
    if samples.iter().any(|n| *n < MIN_SAMPLES) {
        return Ok(too_few(samples, previous, current, method));
    }
    let (low, high) = if large {
        order_statistics_interval(now, before).map_err(polars_err)?
    } else {
        bootstrap_interval(now, before, SEED).map_err(polars_err)?
    };
    Ok(tested(
        (low, high),
        too_few(samples, previous, current, method),
    ))
}

/// The interval of `median(now) - median(before)` from each median's
/// distribution-free standard error: the order statistics at ranks
/// `n/2 -/+ z*sqrt(n)/2` bound a 95 % interval of a median, so half their
/// distance over z is its standard error; the two combine as independent
/// normals (large samples only).
fn order_statistics_interval(now: &Series, before: &Series) -> PolarsResult<(f64, f64)> {
    let z = Z_95;
    let median_and_se = |s: &Series| -> PolarsResult<(f64, f64)> {
        let sorted = s.sort(SortOptions::default())?;
        let values = sorted.f64()?;
        let n = values.len() as f64;
        let at = |rank: f64| {
            values
                .get((rank.clamp(1.0, n) as usize) - 1)
                .unwrap_or(f64::NAN)
        };
        let half = z * n.sqrt() / 2.0;
        let (lo, hi) = (at((n / 2.0 - half).floor()), at((n / 2.0 + half).ceil()));
        let median = sorted.median().unwrap_or(f64::NAN);
        Ok((median, (hi - lo) / (2.0 * z)))
    };
    let (m1, se1) = median_and_se(now)?;
    let (m2, se2) = median_and_se(before)?;
    let half = z * (se1 * se1 + se2 * se2).sqrt();
    Ok((m1 - m2 - half, m1 - m2 + half))
}

/// P(X <= k) for X ~ Binomial(n, p), summed in log space.
fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut ln_choose = 0.0;
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        sum += (ln_choose + i as f64 * lp + (n - i) as f64 * lq).exp();
    }
    sum.min(1.0)
}

/// The Clopper-Pearson interval of a binomial proportion, `k` of `n`.
fn clopper_pearson(k: u64, n: u64) -> (f64, f64) {
    let tail = (1.0 - CONFIDENCE) / 2.0;
    // Bisection on a monotone function of p.
    let solve = |f: &dyn Fn(f64) -> f64, increasing: bool| {
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        for _ in 0..80 {
            let mid = (lo + hi) / 2.0;
            if (f(mid) < tail) == increasing {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    };
    let low = if k == 0 {
        0.0
    } else {
        solve(&|p| 1.0 - binomial_cdf(k - 1, n, p), true)
    };
    let high = if k >= n {
        1.0
    } else {
        solve(&|p| binomial_cdf(k, n, p), false)
    };
    (low, high)
}

/// Deployments per week in two windows of `days`: given all `k1 + k2`
/// deployments, the current window's share is binomial with
/// `p = t1 / (t1 + t2)` when the rate did not change; its exact interval,
/// mapped to the difference of the weekly rates (monotone in the share),
/// excludes 0 exactly when the exact test rejects.
fn count_change(
    counts: [u64; 2],
    days: [f64; 2],
    history: bool,
    current: Option<f64>,
    previous: Option<f64>,
) -> Change {
    let method = "exact_poisson";
    let total = counts[0] + counts[1];
    if !history || total < MIN_SAMPLES || days.iter().any(|d| *d <= 0.0) {
        return too_few(counts, previous, current, method);
    }
    let (low, high) = clopper_pearson(counts[0], total);
    let n = total as f64;
    let per_week = |share: f64| 7.0 * n * (share / days[0] - (1.0 - share) / days[1]);
    let (low, high) = (per_week(low), per_week(high));
    tested((low, high), too_few(counts, previous, current, method))
}

/// `RESAMPLES` bootstrap medians of `values`: `n x B` draws with
/// replacement, reshaped into `B` lists of `n` (one per resample), and
/// each list's median.
fn resampled(values: &Series, seed: u64) -> PolarsResult<Series> {
    let n = values.len();
    let draws = values.sample_n(n * RESAMPLES, true, Some(false), Some(seed))?;
    let dims = [
        ReshapeDimension::new(RESAMPLES as i64),
        ReshapeDimension::new(n as i64),
    ];
    Ok(draws.reshape_list(&dims)?.list()?.lst_median())
}

/// The percentile interval of `stat(now) - stat(before)`: resample `i` of
/// one against resample `i` of the other.
fn bootstrap_interval(now: &Series, before: &Series, seed: u64) -> PolarsResult<(f64, f64)> {
    let diff = (&resampled(now, seed)? - &resampled(before, seed.wrapping_add(1))?)?;
    let diff = diff.f64()?;
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let at = |q: f64| -> PolarsResult<f64> {
        Ok(diff
            .quantile(q, QuantileMethod::Linear)?
            .unwrap_or(f64::NAN))
    };
    Ok((at(tail)?, at(1.0 - tail)?))
}

/// The Wilson score interval of `k` successes in `n`.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = Z_95;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The two-sided 95 % normal quantile.
const Z_95: f64 = 1.959_963_984_540_054;

/// Newcombe's hybrid score interval of `p1 - p2` (his method 10).
pub fn newcombe(k1: u64, n1: u64, k2: u64, n2: u64) -> (f64, f64) {
    let (p1, p2) = (k1 as f64 / n1 as f64, k2 as f64 / n2 as f64);
    let (l1, u1) = wilson(k1, n1);
    let (l2, u2) = wilson(k2, n2);
    let d = p1 - p2;
    (
        d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
    )
}

fn rate_change(
    now: Option<(u64, u64)>,
    before: Option<(u64, u64)>,
    current: Option<f64>,
    previous: Option<f64>,
) -> Change {
    let method = "newcombe_wilson";
    let samples = [now.map_or(0, |c| c.1), before.map_or(0, |c| c.1)];
    match (now, before) {
        (Some((k1, n1)), Some((k2, n2))) if n1 >= MIN_SAMPLES && n2 >= MIN_SAMPLES => {
            let (low, high) = newcombe(k1, n1, k2, n2);
            tested((low, high), too_few(samples, previous, current, method))
        }
        _ => too_few(samples, previous, current, method),
    }
}

/// The records behind every compared headline in `window`, as a polars
/// frame `(metric, value)` built from DuckDB's Arrow output.
fn samples(
    scope: &Scoped<'_>,
    window: &Window,
    profile: Profile,
) -> Result<DataFrame, AnalysisError> {
    let keys = match profile {
        Profile::Devlake => DEVLAKE_SAMPLES_SQL,
        Profile::FourKeys => FOUR_KEYS_SAMPLES_SQL,
        _ => SAMPLES_SQL,
    };
    let sql = format!("{keys}UNION ALL\n{STAGE_SAMPLES_SQL}");
    let batches = scope.arrow("samples", &sql, &window.bounds())?;
    match crate::arrow::frame(&batches)? {
        Some(frame) => Ok(frame),
        None => DataFrame::new_infer_height(vec![
            Column::new("metric".into(), Vec::<String>::new()),
            Column::new("value".into(), Vec::<f64>::new()),
        ])
        .map_err(polars_err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// `n` lead times (hours) from a log-normal distribution with median
    /// `median`: heavy-tailed, as real lead times are.
    fn lead_times(rng: &mut SmallRng, n: usize, median: f64) -> Series {
        let values: Vec<f64> = (0..n)
            .map(|_| {
                // Box-Muller.
                let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                median * (0.8 * z).exp()
            })
            .collect();
        Series::new("value".into(), values)
    }

    /// In how many of `trials` seeded trials (samples of `n` before at
    /// median `before`, after at median `after`) the verdict is `want`.
    fn trials(trials: u64, seed: u64, n: usize, before: f64, after: f64, want: Verdict) -> u64 {
        (0..trials)
            .filter(|&trial| {
                let mut rng = SmallRng::seed_from_u64(seed + trial);
                let a = lead_times(&mut rng, n, before);
                let b = lead_times(&mut rng, n, after);
                let (low, high) = bootstrap_interval(&b, &a, trial).unwrap();
                verdict(low, high) == want
            })
            .count() as u64
    }

    /// Says how many of `of` trials gave `verdict`, and asserts at least `want`.
    fn expect(what: &str, verdict: Verdict, got: u64, of: u64, want: u64) {
        eprintln!("{what}: {verdict:?} in {got} of {of} trials");
        assert!(
            got >= want,
            "{what}: {verdict:?} in only {got} of {of} trials (want >= {want})"
        );
    }

    #[test]
    fn a_doubled_lead_time_over_50_changes_is_detected() {
        let got = trials(50, 1000, 50, 20.0, 40.0, Verdict::Changed);
        expect("2x shift over 50 changes", Verdict::Changed, got, 50, 45);
    }

    #[test]
    fn the_same_distribution_is_no_clear_change_at_the_stated_rate() {
        let got = trials(200, 5000, 30, 20.0, 20.0, Verdict::NoClearChange);
        expect("same distribution", Verdict::NoClearChange, got, 200, 180);
    }

    #[test]
    fn the_bootstrap_is_reproducible() {
        let mut rng = SmallRng::seed_from_u64(7);
        let a = lead_times(&mut rng, 40, 10.0);
        let b = lead_times(&mut rng, 40, 12.0);
        let first = bootstrap_interval(&a, &b, SEED).unwrap();
        assert_eq!(first, bootstrap_interval(&a, &b, SEED).unwrap());
        assert!(first.0 < first.1);
    }

    /// Within the four decimals the tables give.
    fn near(got: (f64, f64), want: (f64, f64)) {
        let close = (got.0 - want.0).abs() < 5e-4 && (got.1 - want.1).abs() < 5e-4;
        assert!(close, "{got:?} != {want:?}");
    }

    #[test]
    fn wilson_matches_the_textbook_values() {
        // Newcombe (1998), table I: 81/263 -> 0.2553 .. 0.3662.
        let (l, u) = wilson(81, 263);
        near((l, u), (0.2553, 0.3662));
        // Newcombe (1998), table II example (a): 56/70 vs 48/80 ->
        // method 10: 0.0524 .. 0.3339.
        let (l, u) = newcombe(56, 70, 48, 80);
        near((l, u), (0.0524, 0.3339));
    }

    #[test]
    fn clopper_pearson_matches_the_tables() {
        let (l, u) = clopper_pearson(5, 10);
        near((l, u), (0.1871, 0.8129));
        let (l, u) = clopper_pearson(0, 10);
        assert!(l == 0.0 && (u - 0.3085).abs() < 5e-4, "{u}");
    }

    #[test]
    fn deployment_counts_are_compared_exactly() {
        // 5 deployments against none in two weeks: the exact test gives
        // p = 0.0625, so no clear change (a bootstrap over days said
        // "changed").
        let c = count_change([5, 0], [7.0, 7.0], true, Some(5.0), Some(0.0));
        assert_eq!(c.verdict, Verdict::NoClearChange, "{c:?}");
        // 40 against 10: a clear rise, the interval in deployments a week.
        let c = count_change([40, 10], [7.0, 7.0], true, Some(40.0), Some(10.0));
        assert_eq!(c.verdict, Verdict::Changed);
        let (low, high) = (c.ci_low.unwrap(), c.ci_high.unwrap());
        assert!(low > 0.0 && low < 30.0 && high > 30.0, "{low} {high}");
        // A previous window before the store's first deployment: no data.
        let c = count_change([40, 0], [7.0, 7.0], false, Some(40.0), Some(0.0));
        assert_eq!(c.verdict, Verdict::TooFewSamples);
    }

    #[test]
    fn large_samples_use_order_statistics_and_agree_with_the_bootstrap() {
        let mut rng = SmallRng::seed_from_u64(11);
        let a = lead_times(&mut rng, 3000, 20.0);
        let b = lead_times(&mut rng, 3000, 40.0);
        let c = median_change(&b, &a, None, None).unwrap();
        assert_eq!(c.method, "order_statistics_median");
        assert_eq!(c.verdict, Verdict::Changed);
        let same = lead_times(&mut rng, 3000, 20.0);
        let c = median_change(&same, &a, None, None).unwrap();
        assert_eq!(c.verdict, Verdict::NoClearChange, "{c:?}");
        // On the same data below the cut-off, both methods give close
        // intervals.
        let (x, y) = (a.head(Some(2000)), b.head(Some(2000)));
        let boot = bootstrap_interval(&y, &x, SEED).unwrap();
        let order = order_statistics_interval(&y, &x).unwrap();
        assert!(
            (boot.0 - order.0).abs() < 3.0 && (boot.1 - order.1).abs() < 3.0,
            "{boot:?} {order:?}"
        );
    }

    #[test]
    fn small_samples_get_no_verdict() {
        let few = Series::new("value".into(), vec![1.0, 2.0, 3.0]);
        let many = Series::new("value".into(), vec![1.0; 20]);
        let c = median_change(&few, &many, Some(2.0), Some(1.0)).unwrap();
        assert_eq!(c.verdict, Verdict::TooFewSamples);
        assert_eq!(c.ci_low, None);
        let r = rate_change(Some((1, 3)), Some((0, 10)), Some(0.33), Some(0.0));
        assert_eq!(r.verdict, Verdict::TooFewSamples);
    }
}
