//! A large synthetic organisation for benchmarks, written straight to JSON
//! Lines without building JSON values (tens of millions of records a
//! minute). One service per repository; each repository has a linear main
//! branch of merge and squash commits, pull requests with their own commits
//! and reviews, a production deployment every few merges, occasional
//! rollbacks and incidents. Timestamps span the 26 weeks before 2026-11-02.

use std::io::{self, BufWriter, Write};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::splitmix64;

/// How many records of each type [`write_synthetic_org`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyntheticCounts {
    pub deployments: u64,
    pub commits: u64,
    pub pull_requests: u64,
    pub reviews: u64,
    pub incidents: u64,
    pub total: u64,
}

/// 2026-11-02T00:00:00Z, the end (exclusive) of the synthetic data.
const END: i64 = 1_793_577_600;
const SPAN: i64 = 26 * 7 * 86_400;
/// Records per repository, roughly.
const EVENTS_PER_REPO: u64 = 5_000;
const HEX: &[u8; 16] = b"0123456789abcdef";

type Sha = [u8; 40];

struct Shas {
    seed: u64,
    n: u64,
}

impl Shas {
    fn next(&mut self) -> Sha {
        self.n += 1;
        let mut out = [0u8; 40];
        let a = splitmix64(self.seed ^ self.n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let b = splitmix64(a);
        let c = splitmix64(b);
        for (i, byte) in out.iter_mut().enumerate() {
            let word = [a, b, c][i / 16];
            *byte = HEX[((word >> ((i % 16) * 4)) & 0xf) as usize];
        }
        out
    }
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Line {
    buf: Vec<u8>,
}

impl Line {
    fn s(&mut self, s: &str) -> &mut Self {
        self.buf.extend_from_slice(s.as_bytes());
        self
    }
    fn sha(&mut self, sha: &Sha) -> &mut Self {
        self.buf.push(b'"');
        self.buf.extend_from_slice(sha);
        self.buf.push(b'"');
        self
    }
    fn num(&mut self, mut n: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&tmp[i..]);
        self
    }
    fn pad(&mut self, n: u32, width: usize) {
        let mut tmp = [b'0'; 4];
        let mut n = n;
        for i in (0..width).rev() {
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.buf.extend_from_slice(&tmp[..width]);
    }
    /// A quoted RFC 3339 UTC timestamp.
    fn ts(&mut self, secs: i64) -> &mut Self {
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400) as u32;
        self.buf.push(b'"');
        self.pad(y as u32, 4);
        self.buf.push(b'-');
        self.pad(m, 2);
        self.buf.push(b'-');
        self.pad(d, 2);
        self.buf.push(b'T');
        self.pad(sod / 3600, 2);
        self.buf.push(b':');
        self.pad(sod / 60 % 60, 2);
        self.buf.push(b':');
        self.pad(sod % 60, 2);
        self.buf.extend_from_slice(b"Z\"");
        self
    }
}

struct Writer<W: Write> {
    out: W,
    line: Line,
    counts: SyntheticCounts,
}

impl<W: Write> Writer<W> {
    fn start(&mut self, kind: &str) -> &mut Line {
        self.line.buf.clear();
        self.line
            .s("{\"type\":\"")
            .s(kind)
            .s("\",\"source\":\"synth\",");
        &mut self.line
    }
    fn finish(&mut self) -> io::Result<()> {
        self.line.buf.extend_from_slice(b"}\n");
        self.counts.total += 1;
        self.out.write_all(&self.line.buf)
    }

    fn commit(
        &mut self,
        repo: &str,
        sha: &Sha,
        parents: &[Sha],
        at: i64,
        author: &str,
    ) -> io::Result<()> {
        let l = self.start("commit");
        l.s("\"repo\":\"")
            .s(repo)
            .s("\",\"sha\":")
            .sha(sha)
            .s(",\"parents\":[");
        for (i, p) in parents.iter().enumerate() {
            if i > 0 {
                l.s(",");
            }
            l.sha(p);
        }
        l.s("],\"authored_at\":")
            .ts(at)
            .s(",\"author\":\"")
            .s(author)
            .s("\"");
        self.counts.commits += 1;
        self.finish()
    }

    #[allow(clippy::too_many_arguments)]
    fn deployment(
        &mut self,
        id: u64,
        service: &str,
        repo: &str,
        started: i64,
        finished: i64,
        sha: &Sha,
        kind: Option<&str>,
    ) -> io::Result<()> {
        let l = self.start("deployment");
        l.s("\"id\":\"sd-")
            .num(id)
            .s("\",\"service\":\"")
            .s(service)
            .s("\",\"repo\":\"")
            .s(repo);
        l.s("\",\"environment\":\"production\",\"status\":\"success\",\"started_at\":")
            .ts(started);
        l.s(",\"finished_at\":")
            .ts(finished)
            .s(",\"commit_sha\":")
            .sha(sha);
        if let Some(k) = kind {
            l.s(",\"kind\":\"").s(k).s("\"");
        }
        self.counts.deployments += 1;
        self.finish()
    }
}

fn dev(buf: &mut String, repo: u64, k: u64) -> &str {
    use std::fmt::Write as _;
    buf.clear();
    let _ = write!(buf, "dev-{}-{}", repo % 997, k);
    buf.as_str()
}

/// Writes a synthetic organisation of about `target_events` records as JSON
/// Lines (it stops at the first whole pull request at or after the target,
/// so the total may exceed it by a few records). Deterministic for a seed.
pub fn write_synthetic_org(
    out: &mut impl Write,
    target_events: u64,
    seed: u64,
) -> io::Result<SyntheticCounts> {
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, out),
        line: Line {
            buf: Vec::with_capacity(2048),
        },
        counts: SyntheticCounts::default(),
    };
    if target_events == 0 {
        return Ok(w.counts);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut shas = Shas { seed, n: 0 };
    let repos = target_events.div_ceil(EVENTS_PER_REPO).max(1);
    let per_repo = (target_events / repos).max(1);
    let prs_per_repo = (per_repo / 6).max(1) as i64;
    let step = (SPAN - 7 * 86_400) / prs_per_repo;
    // Durations inside one PR scale with the spacing, at most a few days.
    let scale = step.min(3 * 86_400);
    let start = END - SPAN;
    let mut deploy_id = 0u64;
    let mut incident_id = 0u64;
    let (mut author_buf, mut reviewer_buf) = (String::new(), String::new());
    let mut r = 0u64;
    while w.counts.total < target_events {
        let repo = format!("synth/repo-{r:05}");
        let service = format!("svc-{r:05}");
        let mut t = start + rng.random_range(0..step.max(1));
        let mut tip = shas.next();
        w.commit(&repo, &tip, &[], t - 86_400, dev(&mut author_buf, r, 0))?;
        let mut deployed: Vec<Sha> = Vec::new();
        let mut pr = 0u64;
        while t + 2 * scale < END && w.counts.total < target_events {
            pr += 1;
            let a = rng.random_range(0..6u64);
            let b = (a + rng.random_range(1..6u64)) % 6;
            let author = dev(&mut author_buf, r, a);
            let reviewer = dev(&mut reviewer_buf, r, b);
            let n = rng.random_range(1..=3usize);
            let mut own = [[0u8; 40]; 3];
            let mut parent = tip;
            let mut at = t;
            for slot in own.iter_mut().take(n) {
                *slot = shas.next();
                w.commit(&repo, slot, &[parent], at, author)?;
                parent = *slot;
                at += 60 + rng.random_range(0..(scale / 8).max(1));
            }
            let created = at + rng.random_range(60..(scale / 10).max(61));
            let mut review_at = created + rng.random_range(60..(scale / 3).max(61));
            let bug = rng.random_bool(0.15);
            let rework = rng.random_bool(0.25);
            let merged_review = if rework {
                review_at + rng.random_range(60..(scale / 6).max(61))
            } else {
                review_at
            };
            let merged = merged_review + rng.random_range(60..(scale / 6).max(61));
            let merge_sha = shas.next();
            if rng.random_bool(0.3) {
                w.commit(&repo, &merge_sha, &[tip], merged, author)?;
            } else {
                w.commit(&repo, &merge_sha, &[tip, own[n - 1]], merged, reviewer)?;
            }
            tip = merge_sha;
            let l = w.start("pull_request");
            l.s("\"repo\":\"")
                .s(&repo)
                .s("\",\"number\":")
                .num(pr)
                .s(",\"title\":\"Change ")
                .num(pr);
            l.s("\",\"author\":\"")
                .s(author)
                .s("\",\"base\":\"main\",\"labels\":[");
            l.s(if bug { "\"bug\"" } else { "\"feature\"" })
                .s("],\"created_at\":")
                .ts(created);
            l.s(",\"merged_at\":")
                .ts(merged)
                .s(",\"closed_at\":")
                .ts(merged)
                .s(",\"merge_commit_sha\":")
                .sha(&merge_sha);
            l.s(",\"commits\":[");
            for (i, c) in own.iter().take(n).enumerate() {
                if i > 0 {
                    l.s(",");
                }
                l.sha(c);
            }
            l.s("]");
            w.counts.pull_requests += 1;
            w.finish()?;
            for (k, state) in [
                if rework {
                    "changes_requested"
                } else {
                    "approved"
                },
                "approved",
            ]
            .into_iter()
            .take(1 + rework as usize)
            .enumerate()
            {
                let l = w.start("review");
                l.s("\"repo\":\"")
                    .s(&repo)
                    .s("\",\"pr\":")
                    .num(pr)
                    .s(",\"id\":\"")
                    .num(pr * 4 + k as u64);
                l.s("\",\"author\":\"")
                    .s(reviewer)
                    .s("\",\"state\":\"")
                    .s(state)
                    .s("\",\"submitted_at\":")
                    .ts(review_at);
                w.counts.reviews += 1;
                w.finish()?;
                review_at = merged_review;
            }
            if rng.random_bool(0.3) {
                deploy_id += 1;
                let started = merged + 60 + rng.random_range(0..(scale / 10).max(1));
                let finished = started + 120 + rng.random_range(0..900);
                w.deployment(deploy_id, &service, &repo, started, finished, &tip, None)?;
                let bad_id = deploy_id;
                if let (true, Some(prev)) = (rng.random_bool(0.04), deployed.last().copied()) {
                    deploy_id += 1;
                    let rb = finished + 600 + rng.random_range(0..3_000);
                    w.deployment(
                        deploy_id,
                        &service,
                        &repo,
                        rb,
                        rb + 180,
                        &prev,
                        Some("rollback"),
                    )?;
                    deployed.push(tip);
                    deployed.push(prev);
                } else {
                    deployed.push(tip);
                }
                if deployed.len() > 8 {
                    deployed.drain(..deployed.len() - 2);
                }
                if rng.random_bool(0.06) {
                    incident_id += 1;
                    let created = finished + 300 + rng.random_range(0..36_000);
                    let resolved = created + 900 + rng.random_range(0..36_000);
                    let l = w.start("incident");
                    l.s("\"id\":\"si-")
                        .num(incident_id)
                        .s("\",\"service\":\"")
                        .s(&service);
                    l.s("\",\"severity\":\"sev")
                        .num(rng.random_range(1..=4))
                        .s("\",\"created_at\":")
                        .ts(created);
                    if resolved < END {
                        l.s(",\"resolved_at\":").ts(resolved);
                    }
                    if rng.random_bool(0.5) {
                        l.s(",\"deployment_id\":\"sd-").num(bad_id).s("\"");
                    }
                    w.counts.incidents += 1;
                    w.finish()?;
                }
            }
            t += step / 2 + rng.random_range(0..step.max(1));
        }
        r += 1;
    }
    w.out.flush()?;
    Ok(w.counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_rfc3339() {
        let mut l = Line { buf: Vec::new() };
        l.ts(END - 1);
        assert_eq!(
            std::str::from_utf8(&l.buf).unwrap(),
            "\"2026-11-01T23:59:59Z\""
        );
        l.buf.clear();
        l.ts(END - SPAN);
        assert_eq!(
            std::str::from_utf8(&l.buf).unwrap(),
            "\"2026-05-04T00:00:00Z\""
        );
    }
}
