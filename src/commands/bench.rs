//! `flowmeter bench`: a synthetic organisation of N events, imported into a
//! fresh store and measured. Reports import throughput, metric time and
//! peak memory; it is a measurement, not a test.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{TimeZone, Utc};
use flowmeter_analysis::{compute, compute_grouped, Filters, GroupBy, Window};
use flowmeter_store::Store;
use flowmeter_synth::SyntheticCounts;

use crate::cli::BenchArgs;
use crate::Env;
use flowmeter_app::ingest::stream_files;

/// Events of each small import measured against the big store.
const SMALL_IMPORT: u64 = 3_200;

/// Metric runs timed; the best is reported.
const RUNS: usize = 3;

/// Runs `f` [`RUNS`] times: its last result, the best time and the first.
fn timed_runs<T>(mut f: impl FnMut() -> Result<T>) -> Result<(T, [f64; 2])> {
    let (mut best, mut first, mut last) = (f64::INFINITY, 0.0, None);
    for i in 0..RUNS {
        let t = Instant::now();
        last = Some(f()?);
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        if i == 0 {
            first = s;
        }
    }
    Ok((last.expect("RUNS > 0"), [best, first]))
}

/// Writes a synthetic organisation of about `events` events to `path`.
fn synthetic_file(path: &Path, events: u64, seed: u64) -> Result<SyntheticCounts> {
    let create = || format!("cannot write `{}`", path.display());
    let file = std::fs::File::create(path).with_context(create)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let counts =
        flowmeter_synth::write_synthetic_org(&mut out, events, seed).with_context(create)?;
    out.flush().with_context(create)?;
    Ok(counts)
}

pub fn run(env: &Env, args: BenchArgs) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let dir = match &args.keep {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("cannot create `{}`", d.display()))?;
            d.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let file = dir.join("synthetic.jsonl");

    let t = Instant::now();
    let counts = synthetic_file(&file, args.events, args.seed)?;
    let generated = t.elapsed().as_secs_f64();
    let size_mib = std::fs::metadata(&file)?.len() as f64 / (1 << 20) as f64;
    env.say(format!(
        "generated {} events ({size_mib:.0} MiB of JSON Lines) in {generated:.2} s",
        counts.total
    ));

    // Every store the bench measures starts empty, also in a `--keep`
    // directory of an earlier run (its big import would be a re-import).
    let fresh = |path: &Path| -> Result<()> {
        let wal = path.with_extension("duckdb.wal");
        for f in [path, wal.as_path()] {
            if f.exists() {
                std::fs::remove_file(f)
                    .with_context(|| format!("cannot remove `{}`", f.display()))?;
            }
        }
        Ok(())
    };
    let big_store = dir.join("bench.duckdb");
    fresh(&big_store)?;
    let mut store = Store::open(&big_store)?;
    let t = Instant::now();
    let mut import = store.begin_import()?;
    let streamed = stream_files(&mut import, std::slice::from_ref(&file), None, false)?;
    anyhow::ensure!(
        streamed.invalid_count == 0,
        "synthetic data invalid: {}",
        streamed.invalid[0]
    );
    let n = streamed.records;
    let staged = t.elapsed().as_secs_f64();
    let summary = import.commit(None, &env.config.metrics)?;
    let total = t.elapsed().as_secs_f64();
    let secs = summary.seconds;
    let link = summary.link.clone().unwrap_or_default();

    let window = Window::new(
        Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap(),
    )?;
    // Best of RUNS, as scripts/bench_vs_duckdb.py times the same work by
    // hand; the first (cold) run is shown too.
    let (m, metrics) = timed_runs(|| {
        Ok(compute(
            &mut store,
            &env.config,
            window,
            &Filters::default(),
        )?)
    })?;
    let (weeks, weekly) = timed_runs(|| {
        Ok(compute_grouped(
            &mut store,
            &env.config,
            window,
            &Filters::default(),
            GroupBy::Week,
        )?)
    })?;
    let ([metrics_s, metrics_first], [weekly_s, weekly_first]) = (metrics, weekly);

    println!("flowmeter bench: {n} events (seed {})", args.seed);
    println!(
        "  import         {total:>8.2} s  {:>12.0} events/s  (parse + stage {staged:.2} s, upsert {:.2} s, link {:.2} s, commit {:.2} s)",
        n as f64 / total,
        secs.merge,
        secs.link,
        secs.commit
    );
    println!(
        "  linked         {} deployments, {} changes, {} incidents",
        link.deployments, link.changes, link.incidents
    );
    println!(
        "  all metrics    {metrics_s:>8.3} s  (best of {RUNS}, first {metrics_first:.3} s; 26-week window: {} deployments, {} changes, {} PRs)",
        m.metrics.deployment_frequency.deployments,
        m.metrics.lead_time.changes,
        m.metrics.cycle_time.prs
    );
    println!(
        "  by week        {weekly_s:>8.3} s  (best of {RUNS}, first {weekly_first:.3} s; {} weekly groups)",
        weeks.groups.len()
    );
    // Small imports into the big store against the same into an empty
    // one: linking only what they touch should keep the ratio small.
    let timed_import = |store: &mut Store, file: &Path| -> Result<f64> {
        let t = Instant::now();
        let mut import = store.begin_import()?;
        stream_files(&mut import, &[file.to_path_buf()], None, false)?;
        import.commit(None, &env.config.metrics)?;
        Ok(t.elapsed().as_secs_f64())
    };
    // One small import is tens of milliseconds, as noisy as the machine:
    // three files (each a changed copy of the same repositories' recent
    // history, as syncs bring), each into the big store and into an empty
    // one, and the medians compared.
    let mut small = Vec::new();
    for (name, seed) in [("small", 1), ("small-2", 3), ("small-3", 4)] {
        let file = dir.join(format!("{name}.jsonl"));
        let events = synthetic_file(&file, SMALL_IMPORT, args.seed + seed)?.total;
        small.push((file, dir.join(format!("{name}.duckdb")), events));
    }
    // Both sides run warm. The first statement of each shape in a process
    // costs DuckDB about 5 ms once; the big import paid that for the
    // empty-store path, not for the path of an import into a store that
    // holds records. A scratch store takes one such import first.
    let warm_store = dir.join("warm.duckdb");
    fresh(&warm_store)?;
    let warm_file = dir.join("warm.jsonl");
    synthetic_file(&warm_file, SMALL_IMPORT, args.seed + 2)?;
    let mut warm = Store::open(&warm_store)?;
    timed_import(&mut warm, &warm_file)?;
    timed_import(&mut warm, &small[0].0)?;
    drop(warm);
    let (mut into_big, mut into_empty) = (Vec::new(), Vec::new());
    for (file, empty_store, _) in &small {
        into_big.push(timed_import(&mut store, file)?);
        fresh(empty_store)?;
        into_empty.push(timed_import(&mut Store::open(empty_store)?, file)?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (into_big, into_empty) = (median(&mut into_big), median(&mut into_empty));
    println!(
        "  small import   {into_big:>8.3} s  ({} events into this store; {into_empty:.3} s into an empty one: {:.1}x; medians of 3 files)",
        small[0].2,
        into_big / into_empty
    );
    match flowmeter_store::timing::resident_mib().map(|[_, peak]| peak) {
        Some(mib) => println!("  peak RSS       {mib:>8.0} MiB"),
        None => println!("  peak RSS       unavailable on this platform"),
    }
    Ok(ExitCode::SUCCESS)
}
