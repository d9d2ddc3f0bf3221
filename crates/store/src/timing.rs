//! Phase timings on stderr when `FLOWMETER_TIMINGS` is set: where an import
//! or a re-link spends its time and memory, for benchmarks and slow-import
//! reports.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FLOWMETER_TIMINGS").is_some())
}

/// Prints how long `phase` took since `start`, when timings are on, with
/// the process's resident memory now and at its peak so far (where the
/// platform tells them).
pub fn phase(phase: &str, start: Instant) {
    if enabled() {
        eprintln!(
            "timing: {phase:<32} {:>9.3} s{}",
            start.elapsed().as_secs_f64(),
            memory().unwrap_or_default()
        );
    }
}

/// `  rss N MiB (peak M MiB)` from `/proc/self/status` (Linux).
fn memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kib: u64 = line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024)
    };
    Some(format!(
        "  rss {:>5} MiB (peak {:>5} MiB)",
        mib("VmRSS:")?,
        mib("VmHWM:")?
    ))
}
