//! Phase timings on stderr when `FLOWMETER_TIMINGS` is set: where an import
//! or a re-link spends its time, for benchmarks and slow-import reports.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FLOWMETER_TIMINGS").is_some())
}

/// Prints how long `phase` took since `start`, when timings are on.
pub fn phase(phase: &str, start: Instant) {
    if enabled() {
        eprintln!(
            "timing: {phase:<32} {:>9.3} s",
            start.elapsed().as_secs_f64()
        );
    }
}
