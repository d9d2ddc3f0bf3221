//! Synthetic event data for flowmeter, in the EVENTS.md interchange format.
//!
//! Two generators, both deterministic:
//!
//! - [`demo_org`]: the demo organisation "acme" that `flowmeter demo` and
//!   `sample-data/` show. Four teams (web, payments, platform, search), six
//!   services (web, api, billing, notifications, auth, search) from five
//!   repositories, one of them a monorepo (`acme/platform`) deployed by two
//!   services. It covers the 13 ISO weeks from 2026-08-03 to 2026-11-02
//!   (exclusive) and is built by a small simulation per repository, so the
//!   records agree with each other: commits form a real history (merge
//!   commits with two parents, squash merges with one), pull requests list
//!   their commits and merge commit, deployments ship commits that exist,
//!   rollbacks redeploy an older revision and are followed by a fix, hotfixes
//!   fix incidents forward. The payments team reviews slowly (pickup of
//!   days); the web team within the hour. [`DEMO_CONFIG_TOML`] is its
//!   flowmeter.toml.
//! - [`write_synthetic_org`]: a large organisation for benchmarks, written
//!   straight to JSON Lines (millions of records in seconds).
//!
//! The `flowmeter-sample-data` binary writes the demo to `sample-data/`.

mod demo;
mod synthetic;
mod time;

pub use demo::{demo_end, demo_org, demo_start, DEMO_CONFIG_TOML};
pub use synthetic::{write_synthetic_org, SyntheticCounts};

/// The flowmeter.toml of the demo organisation (teams → services, repos).
pub fn demo_config_toml() -> &'static str {
    DEMO_CONFIG_TOML
}

/// The demo organisation as JSON Lines, one record per line, in the order of
/// [`demo_org`].
pub fn demo_jsonl() -> String {
    let mut out = String::new();
    for v in demo_org() {
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// SplitMix64: a tiny, stable mixing function for deterministic ids.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Deterministic 40-hex-character commit SHAs from a counter.
pub(crate) struct ShaGen {
    seed: u64,
    n: u64,
}

impl ShaGen {
    pub(crate) fn new(seed: u64) -> ShaGen {
        ShaGen { seed, n: 0 }
    }

    pub(crate) fn next_hex(&mut self) -> String {
        self.n += 1;
        let a = splitmix64(self.seed ^ self.n.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let b = splitmix64(a);
        let c = splitmix64(b);
        format!("{a:016x}{b:016x}{:08x}", c >> 32)
    }
}

#[cfg(test)]
mod tests;
