//! Phase timings on stderr when `FLOWMETER_TIMINGS` is set: where an import
//! or a re-link spends its time, memory and CPU, for benchmarks and
//! slow-import reports.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FLOWMETER_TIMINGS").is_some())
}

/// Prints how long `phase` took since `start`, when timings are on, with
/// the process's resident memory now and at its peak so far, and the CPU
/// time its threads used so far (where the platform tells them: for a
/// phase that began at the line before, the difference of the two lines'
/// CPU over its time is how many cores worked).
pub fn phase(phase: &str, start: Instant) {
    if enabled() {
        eprintln!(
            "timing: {phase:<32} {:>9.3} s{}{}",
            start.elapsed().as_secs_f64(),
            memory().unwrap_or_default(),
            cpu_seconds()
                .map(|s| format!("  cpu {s:>8.2} s"))
                .unwrap_or_default()
        );
    }
}

/// User and system CPU time of the process so far, in seconds, from
/// `/proc/self/stat` (Linux, which counts them there in its user-visible
/// clock ticks, `USER_HZ`: 100 a second on x86 and ARM; `None`
/// elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime and stime fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// `  rss N MiB (peak M MiB)`.
fn memory() -> Option<String> {
    let [now, peak] = resident_mib()?;
    Some(format!("  rss {now:>5.0} MiB (peak {peak:>5.0} MiB)"))
}

/// The process's resident memory now and at its peak so far, in MiB, from
/// `/proc/self/status` (Linux; `None` elsewhere).
pub fn resident_mib() -> Option<[f64; 2]> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mib = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some([mib("VmRSS:")?, mib("VmHWM:")?])
}
