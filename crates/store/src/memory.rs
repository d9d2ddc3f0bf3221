//! DuckDB's memory limit: `FLOWMETER_MEMORY_LIMIT` when set (else DuckDB's
//! default, 80 % of the machine's memory), and a quarter of it (64 MiB at
//! least) while a full relink holds its model beside DuckDB's own memory;
//! and what the
//! rest of an import or a relink may hold under that limit (its model,
//! its key hashes, the records waiting for DuckDB, the lines read at once).

use duckdb::Connection;

use crate::{Context, StoreError};

/// `FLOWMETER_MEMORY_LIMIT`, when set to something (an empty value is no
/// limit, as if unset: a shell or a unit file may leave it so).
fn configured() -> Option<String> {
    std::env::var("FLOWMETER_MEMORY_LIMIT")
        .ok()
        .filter(|l| !l.trim().is_empty())
}

/// `FLOWMETER_MEMORY_LIMIT` in bytes, when set to a size this reads.
fn configured_bytes() -> Option<u64> {
    configured().and_then(|l| bytes_of(&l))
}

/// The statement that gives DuckDB the configured limit.
fn set_configured() -> String {
    match configured() {
        Some(limit) => format!("SET memory_limit = '{}'", limit.replace('\'', "''")),
        None => "RESET memory_limit".to_string(),
    }
}

/// What to do when DuckDB runs out of memory (`detail`: its reason),
/// naming the configured limit (a full relink runs under a lower one:
/// [`lowered`]). DuckDB says "out of memory" too when it cannot spill to
/// disk, or when the machine refuses it memory below its limit.
pub(crate) fn advice(detail: &str) -> String {
    if detail.contains("failed to offload") {
        return "DuckDB could not write its temporary files (beside the store): free disk space there".to_string();
    }
    if detail.contains("bad allocation") {
        return "the machine itself has no memory left: free some, or set FLOWMETER_MEMORY_LIMIT lower so that DuckDB spills to disk sooner".to_string();
    }
    match configured() {
        Some(limit) => format!(
            "raise FLOWMETER_MEMORY_LIMIT (now `{limit}`), or unset it to let DuckDB use up to 80 % of the machine's memory"
        ),
        None => "DuckDB could use up to 80 % of the machine's memory (FLOWMETER_MEMORY_LIMIT is unset): free some memory on the machine".to_string(),
    }
}

/// Gives DuckDB the configured limit (at open).
pub(crate) fn apply(conn: &Connection) -> Result<(), StoreError> {
    let what = match configured() {
        Some(limit) => format!(
            "FLOWMETER_MEMORY_LIMIT=`{limit}` is not a size DuckDB reads (write it as 1GB, 512MB or 2GiB)"
        ),
        None => "memory limit".to_string(),
    };
    conn.execute_batch(&set_configured()).ctx(&what)
}

/// DuckDB's memory limit at a quarter of the configured one while it
/// lives, but 64 MiB at least ([`lowered`]), for a full relink: the
/// relink's model (a 10M-event store's commit
/// graphs, pull requests and deployments: about 1 GB, of which the graphs
/// and pull requests are held to another quarter, at most 256 MiB, where
/// the repositories can be linked in parts: [`model_budget`]) is
/// not in DuckDB's memory, and DuckDB, up to its limit, would keep beside
/// it what it cached of the blocks the import wrote and the relink read.
/// With the limit lowered, DuckDB lets them go; a relink's scans stream and
/// its inserts compress a row group a thread at a time, in less (a 10M-event
/// import with `FLOWMETER_MEMORY_LIMIT=1GB`: peak 1,700–1,830 MiB at half
/// the limit, 1,590 MiB at a quarter, the link no slower). The limit is the
/// database's: a server's readers have the lowered limit too meanwhile (a full
/// relink is a first import or a changed configuration; their queries
/// spill to disk past it). Dropped, it gives the configured limit back;
/// when the relink failed, the transaction it ran in may refuse that until
/// it is rolled back, and the rollback gives it back too
/// ([`Store`](crate::Store)'s transactions and an import's).
pub(crate) struct Lowered<'c> {
    conn: &'c Connection,
}

/// The share of its limit DuckDB keeps during a full relink: 1 / this.
const DURING_RELINK: u64 = 4;

/// The least DuckDB keeps during a full relink (or all of its limit when
/// that is less): its parallel inserts of links need room for a row group
/// a thread. At a quarter of 64MB or 80MB, a 1M-event import ran out of
/// memory writing its links.
const DURING_RELINK_LEAST: u64 = 64 << 20;

/// DuckDB's limit during a full relink, of a limit of `bytes`.
fn lowered(bytes: u64) -> u64 {
    (bytes / DURING_RELINK).max(bytes.min(DURING_RELINK_LEAST))
}

/// The most a full relink's model of commits and pull requests holds at
/// once, whatever the limit (DuckDB's own is 80 % of the machine's memory
/// when none is configured): past it, the repositories are linked in
/// parts (`link_parts`: never splitting the repositories one service
/// deploys from, which may pass it together). That costs little:
/// 10M-event imports with no limit set, in pairs, peaked at 1,957 and
/// 1,970 MiB in one part, 1,602 and 1,645 MiB in three; 26.00 s and
/// 25.96 s in the second pair.
const MODEL_BUDGET: u64 = 256 << 20;

/// The least budget of a full relink's model, however low the limit:
/// each part reads the commits, pull requests and reviews tables again.
const MODEL_BUDGET_LEAST: u64 = 64 << 20;

impl<'c> Lowered<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Result<Lowered<'c>, StoreError> {
        let what = "memory limit for the link";
        let limit: String = conn
            .query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))
            .ctx(what)?;
        // From here on, a failure gives the configured limit back.
        let guard = Lowered { conn };
        // A limit DuckDB words otherwise is left as it is.
        if let Some(bytes) = bytes_of(&limit) {
            let lower = lowered(bytes);
            conn.execute_batch(&format!("SET memory_limit = '{lower}B'"))
                .ctx(what)?;
        }
        Ok(guard)
    }
}

/// [`model_budget`] beside DuckDB at `lower` bytes (its limit, lowered
/// during a full relink).
fn budget_beside(lower: Option<u64>) -> u64 {
    lower
        .unwrap_or(MODEL_BUDGET)
        .clamp(MODEL_BUDGET_LEAST, MODEL_BUDGET)
}

/// What a relink's model of commits and pull requests (and a first
/// import's key hashes) may hold at once, in bytes: as much as DuckDB keeps
/// during a full relink ([`lowered`]), between [`MODEL_BUDGET_LEAST`] and
/// [`MODEL_BUDGET`]. From 256 MiB up the two take half the configured
/// limit (the deployments, the allocator's slack and the writes' batches
/// the rest); below, the model keeps 64 MiB and DuckDB 64 MiB or the whole
/// limit when that is less, which an import then passes. Read from
/// `FLOWMETER_MEMORY_LIMIT`, without a statement (a small import runs
/// many, and each costs); with none set, DuckDB's own limit is far above
/// [`MODEL_BUDGET`]. Past it, a full relink links in parts and a partial
/// one gives way to a full one.
pub(crate) fn model_budget() -> u64 {
    budget_beside(configured_bytes().map(lowered))
}

/// The most a first import's records wait in memory for a parallel insert
/// ([`crate::import`]'s direct appends), over all types: half the limit,
/// between [`PENDING_LEAST`] and [`PENDING_MOST`] ([`PENDING_MOST`] with
/// none). At 1GB it stays near the most, where the 10M-event import is
/// fastest; below, what waits shrinks with the limit instead of holding
/// half a gigabyte beside a DuckDB told to keep to 256 MB.
pub(crate) fn pending_budget() -> u64 {
    pending_beside(configured_bytes())
}

/// [`pending_budget`] under a limit of `limit` bytes (none: `None`).
fn pending_beside(limit: Option<u64>) -> u64 {
    limit.map_or(PENDING_MOST, |l| (l / 2).clamp(PENDING_LEAST, PENDING_MOST))
}

/// The most [`pending_budget`] gives: held to 128 MiB, the 10M-event
/// import took 3 s longer than at 512 MiB.
const PENDING_MOST: u64 = 512 << 20;
/// The least [`pending_budget`] gives, however low the limit: below it,
/// the waiting records would be written in ever smaller parallel inserts
/// (each costs a thread and two statements), or by the appender on one
/// thread once a type has fewer than an eighth of four row groups.
const PENDING_LEAST: u64 = 64 << 20;

/// Lines of an event file read and parsed at once (two such chunks are
/// alive: one stored while the next is read): 100,000 under a limit of
/// 1GB or more, or none; proportionally fewer under a lower one (10,000 at
/// least). 100,000 lines of the benchmark's events hold about 0.1 GB once
/// parsed; chunks of 50,000 took a 10M-event import's peak 110–140 MB
/// lower and the import 0.7–1.7 s longer.
pub fn lines_per_chunk() -> usize {
    lines_beside(configured_bytes())
}

/// [`lines_per_chunk`] under a limit of `limit` bytes (none: `None`).
fn lines_beside(limit: Option<u64>) -> usize {
    const MOST: u64 = 100_000;
    const LEAST: u64 = 10_000;
    // 1GB: 100,000 lines.
    limit.map_or(MOST, |l| (l / 10_000).clamp(LEAST, MOST)) as usize
}

impl Drop for Lowered<'_> {
    fn drop(&mut self) {
        // Refused in an aborted transaction: its rollback gives it back.
        let _ = self.conn.execute_batch(&set_configured());
    }
}

/// Bytes of a size as DuckDB words its settings: "953.6 MiB", "2.0 GiB",
/// "512 bytes".
fn bytes_of(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    // DuckDB's words for a size, as it prints them and as it reads them
    // (`1GB`, `500 mb`, `2GiB`).
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "bytes" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        _ => return None,
    };
    (number.is_finite() && number >= 0.0).then_some((number * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relinks_model_gets_a_share_of_the_limit_within_bounds() {
        // A quarter of 1GB, as DuckDB has it during a full relink.
        assert_eq!(budget_beside(Some(250_000_000)), 250_000_000);
        assert_eq!(budget_beside(Some(100 << 30)), MODEL_BUDGET);
        assert_eq!(budget_beside(Some(1 << 20)), MODEL_BUDGET_LEAST);
        assert_eq!(budget_beside(None), MODEL_BUDGET);
    }

    #[test]
    fn what_an_import_holds_follows_the_limit_below_1gb() {
        // 1GB: as with no limit, or nearly.
        assert_eq!(lines_beside(None), 100_000);
        assert_eq!(lines_beside(Some(1_000_000_000)), 100_000);
        assert_eq!(lines_beside(Some(8 << 30)), 100_000);
        assert_eq!(lines_beside(Some(256_000_000)), 25_600);
        assert_eq!(lines_beside(Some(1 << 20)), 10_000);
        assert_eq!(pending_beside(None), PENDING_MOST);
        assert_eq!(pending_beside(Some(1_000_000_000)), 500_000_000);
        assert_eq!(pending_beside(Some(256_000_000)), 128_000_000);
        assert_eq!(pending_beside(Some(1 << 20)), PENDING_LEAST);
    }

    #[test]
    fn sizes_as_duckdb_words_them() {
        assert_eq!(bytes_of("953.6 MiB"), Some(999_922_073));
        assert_eq!(bytes_of("2.0 GiB"), Some(2 << 30));
        assert_eq!(bytes_of("512 bytes"), Some(512));
        assert_eq!(
            bytes_of("18.8 GiB"),
            Some((18.8 * (1u64 << 30) as f64) as u64)
        );
        // As a user writes FLOWMETER_MEMORY_LIMIT.
        assert_eq!(bytes_of("1GB"), Some(1_000_000_000));
        assert_eq!(bytes_of("500 mb"), Some(500_000_000));
        assert_eq!(bytes_of("2GiB"), Some(2 << 30));
        assert_eq!(bytes_of("unlimited"), None);
        assert_eq!(bytes_of("-1 GiB"), None);
        assert_eq!(bytes_of("1 parsec"), None);
    }

    #[test]
    fn a_relink_keeps_at_least_64_mib_or_the_whole_limit() {
        assert_eq!(lowered(1_000_000_000), 250_000_000);
        assert_eq!(lowered(256_000_000), DURING_RELINK_LEAST);
        assert_eq!(lowered(100_000_000), DURING_RELINK_LEAST);
        assert_eq!(lowered(32_000_000), 32_000_000);
    }

    /// Past its limit, DuckDB's error becomes flowmeter's: what failed,
    /// DuckDB's reason, and the setting to change, without DuckDB's advice
    /// on SQL settings; from a statement and from the appender alike.
    #[test]
    fn running_out_of_memory_names_the_setting_to_change() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "SET temp_directory = ''; SET memory_limit = '2MB';
             CREATE TABLE strings (s VARCHAR);",
        )
        .unwrap();
        let long = "x".repeat(1_000);
        let statement = conn
            .execute_batch(
                "CREATE TABLE t AS SELECT repeat('x', 1000) || i AS s FROM range(100000) r(i)",
            )
            .ctx("fill t")
            .unwrap_err();
        let appended = crate::append::append_all(
            &conn,
            "strings",
            (0..60_000).map(|_| [crate::append::Cell::Text(&long)]),
        )
        .unwrap_err();
        for (err, context) in [(statement, "fill t"), (appended, "append to strings")] {
            let text = err.to_string();
            assert!(matches!(err, StoreError::OutOfMemory { .. }), "{text}");
            assert!(
                text.starts_with(&format!("store: {context}: DuckDB ran out of memory (")),
                "{text}"
            );
            assert!(text.contains("FLOWMETER_MEMORY_LIMIT"), "{text}");
            assert!(!text.contains("SET ") && !text.contains('\n'), "{text}");
        }
    }

    /// DuckDB's "out of memory" when it cannot spill to disk, or when the
    /// machine refuses it memory, asks for something else than the limit.
    #[test]
    fn out_of_memory_advice_follows_the_cause() {
        let disk = advice("failed to offload data block of size 256.0 KiB (1.0 GiB/1.0 GiB used)");
        assert!(disk.contains("free disk space"), "{disk}");
        let machine = advice("Failed to allocate block of 262144 bytes (bad allocation)");
        assert!(machine.contains("the machine itself"), "{machine}");
        let limit = advice("could not allocate block of size 256.0 KiB (7.8 MiB/7.6 MiB used)");
        assert!(limit.contains("FLOWMETER_MEMORY_LIMIT"), "{limit}");
    }

    /// The guard lowers the limit and gives the configured one back.
    #[test]
    fn a_relink_gets_a_quarter_of_the_limit_and_gives_it_back() {
        let conn = Connection::open_in_memory().unwrap();
        apply(&conn).unwrap();
        let limit = |conn: &Connection| -> String {
            conn.query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))
                .unwrap()
        };
        let before = limit(&conn);
        {
            let _lowered = Lowered::new(&conn).unwrap();
            let (during, all) = (bytes_of(&limit(&conn)), bytes_of(&before));
            let (during, all) = (during.unwrap(), all.unwrap());
            let expected = lowered(all);
            assert!(during.abs_diff(expected) < all / 100, "{during} of {all}");
        }
        assert_eq!(limit(&conn), before);
    }

    /// A relink that fails aborts its transaction, where the guard cannot
    /// give the limit back: the rollback does.
    #[test]
    fn a_failed_relink_gets_the_limit_back_at_its_rollback() {
        let mut store = crate::Store::in_memory().unwrap();
        let limit = |conn: &Connection| -> String {
            conn.query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))
                .unwrap()
        };
        let before = limit(&store.conn);
        let failed = store.in_transaction(|conn| {
            let _lowered = Lowered::new(conn)?;
            conn.execute_batch("SELECT error('relink failed')")
                .ctx("relink")?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(limit(&store.conn), before);
    }
}
