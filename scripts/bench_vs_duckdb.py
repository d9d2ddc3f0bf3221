#!/usr/bin/env python3
"""flowmeter against DuckDB doing the same work by hand.

Run through `scripts/bench-vs-duckdb` (it provides a venv with the `duckdb`
package). In one run, on one machine, it measures:

1. `flowmeter bench --events N --keep DIR`: generates DIR/synthetic.jsonl,
   imports it into DIR/bench.duckdb, computes all metrics over the 26-week
   window 2026-05-04..2026-11-02 and the same `--by week`, then imports
   three small files (DIR/small.jsonl, small-2.jsonl, small-3.jsonl, 3,200
   events each) in turn into that store and each into an empty one, all
   warm (after one import into a scratch store that already holds records,
   DIR/warm.duckdb), and compares the medians. Its figures are parsed from
   its stdout; its wall time and peak
   RSS are also taken from outside (/usr/bin/time -v, else getrusage).

2. DuckDB by hand, import: a fresh DIR/byhand.duckdb with flowmeter's own
   table definitions (queries/schema/001_events.sql and 003_lists.sql, so the
   same types and NOT NULL columns); then, timed, `read_json` of the same
   synthetic.jsonl with an explicit schema and five INSERTs, one per record
   type, casting RFC 3339 text to UTC TIMESTAMPs (`::TIMESTAMPTZ` with
   TimeZone=UTC, then `::TIMESTAMP`), applying EVENTS.md's defaults (source
   `import`, service = repo, kind `regular`, incident `service` as a one-item
   `services` list), all in one transaction, then a CHECKPOINT so the data is
   on disk. Default `--ingest per-type`: one INSERT ... SELECT ... FROM
   read_json(...) WHERE type = ... per table, each reading only the fields it
   needs. `--ingest staging` reads the file once into a temporary table and
   inserts from there. On 1M events in the synthetic format (2 cores, DuckDB
   2.0.1) both took 6-7 s: the JSON scan is cheap next to materialising
   all 43 columns once more in the staging table; staging's peak RSS was
   ~2.5 times higher (~750 vs ~300 MiB), so per-type is the default.
   (CREATE TABLE ... AS per type took the same time as INSERT into
   flowmeter's tables, which also checks NOT NULL, so the script inserts.) It runs in a child process, whose peak
   RSS is that child's own (os.wait4 gives exactly its rusage, i.e. what
   RUSAGE_CHILDREN reports for a parent with no other child).

   This is NOT all the work flowmeter's import does, and the ratio shows the
   price of the rest: flowmeter also validates every line (required fields,
   types, offsets on timestamps, with file/line/field errors), keeps unknown
   fields in `extra` (by hand: NULL), upserts by natural key (newest wins; by hand only
   appends, which gives the same rows because the synthetic keys are unique),
   and links (changes of each deployment through the commit graph, PRs of
   commits, incident attribution, rollbacks, PR stages: the link_* tables).
   By hand only parses, casts and stores. The row counts per table are
   checked against flowmeter's store (which also holds the small files, so
   the expected counts are the distinct natural keys of all the files).

3. DuckDB by hand, metrics: hand-written SQL over flowmeter's OWN link
   tables (DIR/bench.duckdb, opened read-only), so only the query side is
   compared, not the linking: the five keys (deployment frequency with its
   weekly medians, lead time p50/p75/p90/mean, change failure rate, recovery
   time p50/p90, time to restore p50/p90, rework rate) and the PR stages
   (p50/p75/p90 and sums of coding, pickup, review, deploy, and the cycle) as
   ONE statement for the window; then the same per ISO week as ONE statement
   grouped by week (flowmeter runs its eight queries as one statement, each
   grouped by week). Best of 3 runs each after one warm-up; `flowmeter bench`
   also reports its best of 3 (and its first, cold run). flowmeter's metric sets (the window and
   each week) also run queries/metrics/coverage.sql (data coverage counts),
   which is left out here. The by-hand results are then checked, untimed, against flowmeter's
   own queries/metrics/*.sql run on the same store, for the window and for
   every week (`--no-verify` skips that). Note that the store already holds
   the small imports when DuckDB reads it (flowmeter computed its metrics
   before them): 9,600 events more or replaced out of N, so the counts that
   flowmeter prints differ slightly; negligible for the timing.

DuckDB is limited to 2 threads (the reference machine has 2 cores; the
bundled DuckDB in flowmeter uses one thread per core). FLOWMETER_MEMORY_LIMIT,
when set, is applied to DuckDB by hand too. The Python DuckDB may be a newer
version than the one flowmeter bundles; both versions are printed.

It is a measurement, not a test: it exits 0 whatever the ratios, and 1 only
on errors (a failed run, row counts or metric values that differ).
"""

import argparse
import datetime
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "queries" / "schema"
METRIC_QUERIES = ROOT / "queries" / "metrics"
SINCE, UNTIL = "2026-05-04 00:00:00", "2026-11-02 00:00:00"  # as in `flowmeter bench`
TABLES = ["deployments", "commits", "pull_requests", "reviews", "incidents"]
RUNS = 3

# ---------------------------------------------------------------------------
# Import by hand
# ---------------------------------------------------------------------------

# Every field of EVENTS.md. Timestamps are read as text and cast in SQL.
JSON_COLUMNS = {
    "type": "VARCHAR", "source": "VARCHAR", "id": "VARCHAR", "service": "VARCHAR",
    "services": "VARCHAR[]", "repo": "VARCHAR", "environment": "VARCHAR", "status": "VARCHAR",
    "started_at": "VARCHAR", "finished_at": "VARCHAR", "commit_sha": "VARCHAR",
    "commits": "VARCHAR[]", "kind": "VARCHAR", "actor": "VARCHAR", "url": "VARCHAR",
    "ref": "VARCHAR", "labels": "VARCHAR[]", "sha": "VARCHAR", "parents": "VARCHAR[]",
    "authored_at": "VARCHAR", "committed_at": "VARCHAR", "author": "VARCHAR",
    "message": "VARCHAR", "number": "BIGINT", "title": "VARCHAR", "base": "VARCHAR",
    "head": "VARCHAR", "created_at": "VARCHAR", "ready_at": "VARCHAR", "merged_at": "VARCHAR",
    "closed_at": "VARCHAR", "merge_commit_sha": "VARCHAR", "first_commit_at": "VARCHAR",
    "additions": "BIGINT", "deletions": "BIGINT", "pr": "BIGINT", "state": "VARCHAR",
    "submitted_at": "VARCHAR", "severity": "VARCHAR", "acknowledged_at": "VARCHAR",
    "resolved_at": "VARCHAR", "deployment_id": "VARCHAR", "deployment_source": "VARCHAR",
}

# Per table: the JSON "type" and the SELECT list (table column order).
# ts(x) = x::TIMESTAMPTZ::TIMESTAMP with TimeZone=UTC: the UTC wall time.
INSERTS = {
    "deployments": ("deployment", """
        coalesce(source, 'import'), id, coalesce(service, repo), repo, environment, status,
        ts(started_at), ts(finished_at), commit_sha, commits, coalesce(kind, 'regular'),
        actor, url, ref, labels, NULL"""),
    "commits": ("commit", """
        coalesce(source, 'import'), repo, sha, parents, ts(authored_at), ts(committed_at),
        author, message, NULL"""),
    "pull_requests": ("pull_request", """
        coalesce(source, 'import'), repo, number, title, author, base, head, labels,
        ts(created_at), ts(ready_at), ts(merged_at), ts(closed_at), merge_commit_sha,
        commits, ts(first_commit_at), additions, deletions, NULL"""),
    "reviews": ("review", """
        coalesce(source, 'import'), repo, pr, id, author, state, ts(submitted_at), NULL"""),
    "incidents": ("incident", """
        coalesce(source, 'import'), id, coalesce(services, [service]), title, severity, url,
        ts(created_at), ts(acknowledged_at), ts(resolved_at), deployment_id,
        deployment_source, NULL"""),
}


def sql_str(s):
    return "'" + str(s).replace("'", "''") + "'"


def read_json_sql(paths, columns):
    """read_json of one file or a list of files, with an explicit schema."""
    files = sql_str(paths) if isinstance(paths, str) else "[" + ", ".join(sql_str(p) for p in paths) + "]"
    cols = ", ".join(f"{sql_str(c)}: {sql_str(t)}" for c, t in columns.items())
    return f"read_json({files}, format='newline_delimited', columns={{{cols}}})"


def configure(con):
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    if os.environ.get("FLOWMETER_MEMORY_LIMIT"):
        con.execute(f"SET memory_limit = {sql_str(os.environ['FLOWMETER_MEMORY_LIMIT'])}")


def ingest_child(jsonl, db, mode):
    """Runs in the child process: the timed import by hand. Prints JSON."""
    for f in (db, db + ".wal"):
        if os.path.exists(f):
            os.remove(f)
    con = duckdb.connect(db)
    configure(con)
    # flowmeter's own table definitions (untimed: empty tables). 003 uses
    # the `x -> ...` lambda that DuckDB >= 1.3 deprecates and 2.x refuses.
    try:
        con.execute("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")
    except duckdb.Error:
        pass  # an older DuckDB: the arrow is the only syntax
    for f in ("001_events.sql", "003_lists.sql"):
        con.execute((SCHEMA / f).read_text())
    con.execute("CREATE TEMP MACRO ts(x) AS CAST(CAST(x AS TIMESTAMPTZ) AS TIMESTAMP)")
    t = time.perf_counter()
    con.execute("BEGIN")
    if mode == "staging":
        con.execute(f"CREATE TEMP TABLE staging AS SELECT * FROM {read_json_sql(jsonl, JSON_COLUMNS)}")
    for table, (kind, select) in INSERTS.items():
        if mode == "staging":
            src = "staging"
        else:  # only the fields this statement needs
            used = {c: t_ for c, t_ in JSON_COLUMNS.items() if re.search(rf"\b{c}\b", select) or c == "type"}
            src = read_json_sql(jsonl, used)
        con.execute(f"INSERT INTO {table} SELECT {select} FROM {src} WHERE type = '{kind}'")
    if mode == "staging":
        con.execute("DROP TABLE staging")
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - t
    counts = {tb: con.execute(f"SELECT count(*) FROM {tb}").fetchone()[0] for tb in TABLES}
    con.close()
    print(json.dumps({"seconds": seconds, "counts": counts}))


def run_ingest(jsonl, db, mode):
    """The import by hand in a child process; returns (seconds, counts, peak RSS MiB)."""
    cmd = [sys.executable, __file__, "--ingest-child", str(jsonl), str(db), mode]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = p.stdout.read()
    p.stdout.close()
    # wait4: the rusage of exactly this child (ru_maxrss in KiB on Linux).
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"error: the import by hand failed (exit {p.returncode})")
    r = json.loads(out)
    return r["seconds"], r["counts"], ru.ru_maxrss / 1024


# Natural keys (EVENTS.md): the store holds one row per key.
KEYS = {
    "deployments": ("deployment", "coalesce(source, 'import'), id"),
    "commits": ("commit", "repo, sha"),
    "pull_requests": ("pull_request", "repo, number"),
    "reviews": ("review", "repo, pr, id"),
    "incidents": ("incident", "coalesce(source, 'import'), id"),
}


def expected_store_counts(files):
    """Distinct natural keys per table over the files flowmeter imported (one scan)."""
    con = duckdb.connect()
    configure(con)
    fields = ["type", "source", "id", "repo", "sha", "number", "pr"]
    src = read_json_sql([str(f) for f in files], {c: JSON_COLUMNS[c] for c in fields})
    counts = ", ".join(f"count(DISTINCT row({key})) FILTER (WHERE type = '{kind}')"
                       for kind, key in KEYS.values())
    row = con.execute(f"SELECT {counts} FROM {src}").fetchone()
    con.close()
    return dict(zip(KEYS, row))


# ---------------------------------------------------------------------------
# Metrics by hand, over flowmeter's link tables
# ---------------------------------------------------------------------------

HOURS = "date_diff('microsecond', {a}, {b}) / 3600000000.0"
LT_H = HOURS.format(a="start_at", b="deployed_at")
RT_H = HOURS.format(a="finished_at", b="recovered_at")
TTR_H = HOURS.format(a="created_at", b="resolved_at")


def in_window(col):
    return f"{col} >= $since AND {col} < $until"


# The aggregates, shared by the window query and the weekly one.
DEP_AGG = f"""
    count(*) AS deployments,
    count(DISTINCT CAST(finished_at AS DATE)) AS deploy_days,
    count(*) FILTER (WHERE failed) AS failed,
    count(*) FILTER (WHERE rework) AS rework,
    count(recovered_at) FILTER (WHERE failed AND NOT open) AS recovered,
    count(*) FILTER (WHERE failed AND open) AS open,
    quantile_cont({RT_H}, 0.5) FILTER (WHERE failed AND NOT open) AS rt_p50,
    quantile_cont({RT_H}, 0.9) FILTER (WHERE failed AND NOT open) AS rt_p90"""
LT_AGG = f"""
    count(*) FILTER (WHERE {LT_H} > 0) AS lt_changes,
    count(*) FILTER (WHERE {LT_H} <= 0) AS lt_excluded,
    quantile_cont({LT_H}, [0.5, 0.75, 0.9]) FILTER (WHERE {LT_H} > 0) AS lt_q,
    avg({LT_H}) FILTER (WHERE {LT_H} > 0) AS lt_mean"""
TTR_AGG = f"""
    count(*) AS resolved,
    quantile_cont({TTR_H}, 0.5) AS ttr_p50,
    quantile_cont({TTR_H}, 0.9) AS ttr_p90"""
STAGES = ["coding", "pickup", "review", "deploy"]
PR_AGG = """
    count(*) AS prs,
    count(deploy_hours) AS deployed,
    sum(coding_hours + review_hours) FILTER (WHERE cycle_hours IS NOT NULL) AS flow_numerator,
    sum(cycle_hours) AS cycle_sum,
    count(cycle_hours) AS cycles,
    quantile_cont(cycle_hours, [0.5, 0.75, 0.9]) AS cycle_q,""" + ",".join(f"""
    count({s}_hours) AS {s}_n,
    quantile_cont({s}_hours, [0.5, 0.75, 0.9]) AS {s}_q,
    coalesce(sum({s}_hours), 0) AS {s}_sum""" for s in STAGES)
# Lists of quantiles are unpacked into p50/p75/p90 columns.
QUANTILE_LISTS = ["lt_q", "cycle_q"] + [f"{s}_q" for s in STAGES]

ALL_METRICS = f"""
WITH d AS (SELECT * FROM link_deployments WHERE {in_window('finished_at')}),
full_weeks AS (
    SELECT w FROM range(date_trunc('week', $since), $until, INTERVAL 7 DAY) t(w)
    WHERE w >= $since AND w + INTERVAL 7 DAY <= $until),
per_week AS (
    SELECT count(d.finished_at) AS n, count(DISTINCT CAST(d.finished_at AS DATE)) AS days
    FROM full_weeks LEFT JOIN d ON date_trunc('week', d.finished_at) = w GROUP BY w)
SELECT * FROM
    (SELECT {DEP_AGG} FROM d) dep,
    (SELECT count(*) AS full_weeks, quantile_cont(days, 0.5) AS median_deploy_days,
            quantile_cont(n, 0.5) AS median_deployments FROM per_week) df,
    (SELECT {LT_AGG} FROM link_changes
     WHERE {in_window('deployed_at')} AND start_at IS NOT NULL) lt,
    (SELECT count(*) FILTER (WHERE {in_window('created_at')}) AS incidents,
            count(*) FILTER (WHERE {in_window('resolved_at')}) AS resolved,
            quantile_cont({TTR_H}, 0.5) FILTER (WHERE {in_window('resolved_at')}) AS ttr_p50,
            quantile_cont({TTR_H}, 0.9) FILTER (WHERE {in_window('resolved_at')}) AS ttr_p90
     FROM incidents) ttr,
    (SELECT {PR_AGG} FROM link_prs WHERE {in_window('merged_at')}) pr
"""

# One row per ISO week of the window; each source grouped by the week of
# its own time column, joined on the week.
BY_WEEK = f"""
WITH weeks AS (
    SELECT w AS week, (w >= $since AND w + INTERVAL 7 DAY <= $until) AS full_week
    FROM range(date_trunc('week', $since), $until, INTERVAL 7 DAY) t(w)),
dep AS (SELECT date_trunc('week', finished_at) AS week, {DEP_AGG}
        FROM link_deployments WHERE {in_window('finished_at')} GROUP BY ALL),
lt AS (SELECT date_trunc('week', deployed_at) AS week, {LT_AGG}
       FROM link_changes WHERE {in_window('deployed_at')} AND start_at IS NOT NULL GROUP BY ALL),
opened AS (SELECT date_trunc('week', created_at) AS week, count(*) AS incidents
           FROM incidents WHERE {in_window('created_at')} GROUP BY ALL),
restored AS (SELECT date_trunc('week', resolved_at) AS week, {TTR_AGG}
             FROM incidents WHERE {in_window('resolved_at')} GROUP BY ALL),
pr AS (SELECT date_trunc('week', merged_at) AS week, {PR_AGG}
       FROM link_prs WHERE {in_window('merged_at')} GROUP BY ALL)
SELECT week,
    coalesce(deployments, 0) AS deployments, coalesce(deploy_days, 0) AS deploy_days,
    CAST(full_week AS INTEGER) AS full_weeks,
    CASE WHEN full_week THEN coalesce(deploy_days, 0) END AS median_deploy_days,
    CASE WHEN full_week THEN coalesce(deployments, 0) END AS median_deployments,
    coalesce(failed, 0) AS failed, coalesce(rework, 0) AS rework,
    coalesce(recovered, 0) AS recovered, coalesce(open, 0) AS open, rt_p50, rt_p90,
    coalesce(lt_changes, 0) AS lt_changes, coalesce(lt_excluded, 0) AS lt_excluded, lt_q, lt_mean,
    coalesce(incidents, 0) AS incidents, coalesce(resolved, 0) AS resolved, ttr_p50, ttr_p90,
    coalesce(prs, 0) AS prs, coalesce(deployed, 0) AS deployed, flow_numerator, cycle_sum,
    coalesce(cycles, 0) AS cycles, cycle_q,
    {", ".join(f"coalesce({s}_n, 0) AS {s}_n, {s}_q, coalesce({s}_sum, 0) AS {s}_sum" for s in STAGES)}
FROM weeks LEFT JOIN dep USING (week) LEFT JOIN lt USING (week) LEFT JOIN opened USING (week)
    LEFT JOIN restored USING (week) LEFT JOIN pr USING (week)
ORDER BY week
"""


def rows_as_dicts(cur):
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        r = dict(zip(names, row))
        for q in QUANTILE_LISTS:
            vals = r.pop(q) or [None, None, None]
            stem = q[:-2]  # lt_q -> lt_p50, lt_p75, lt_p90
            for p, v in zip(("p50", "p75", "p90"), vals):
                r[f"{stem}_{p}"] = v
        out.append(r)
    return out


def best_of(con, sql, params):
    """Best wall time of RUNS runs after one warm-up; and the last result."""
    con.execute(sql, params).fetchall()
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        cur = con.execute(sql, params)
        rows = rows_as_dicts(cur)
        times.append(time.perf_counter() - t)
    return min(times), rows


# ---------------------------------------------------------------------------
# Check: by-hand values against flowmeter's own queries/metrics/*.sql
# ---------------------------------------------------------------------------

# query file -> {its column: by-hand column}
SAME = {
    "deployment_frequency": {"deployments": "deployments", "deploy_days": "deploy_days",
                             "full_weeks": "full_weeks",
                             "median_deploy_days_per_week": "median_deploy_days",
                             "median_deployments_per_week": "median_deployments"},
    "lead_time": {"changes": "lt_changes", "excluded": "lt_excluded", "p50_hours": "lt_p50",
                  "p75_hours": "lt_p75", "p90_hours": "lt_p90", "mean_hours": "lt_mean"},
    "change_failure_rate": {"deployments": "deployments", "failed": "failed"},
    "recovery_time": {"failed_deployments": "failed", "recovered": "recovered", "open": "open",
                      "p50_hours": "rt_p50", "p90_hours": "rt_p90"},
    "time_to_restore": {"incidents": "incidents", "resolved": "resolved",
                        "p50_hours": "ttr_p50", "p90_hours": "ttr_p90"},
    "rework_rate": {"deployments": "deployments", "rework": "rework"},
    "cycle_time": {c: c for c in ["prs", "deployed", "flow_numerator", "cycle_sum", "cycles",
                                  "cycle_p50", "cycle_p75", "cycle_p90"]
                   + [f"{s}_{x}" for s in STAGES for x in ("n", "p50", "p75", "p90", "sum")]},
}
SCOPE_VIEWS = """
CREATE OR REPLACE TEMP VIEW scope_deployments AS SELECT *, '' AS grp FROM link_deployments;
CREATE OR REPLACE TEMP VIEW scope_changes AS SELECT c.*, '' AS grp FROM link_changes c
  SEMI JOIN scope_deployments d ON c.deployment_source = d.source AND c.deployment_id = d.id;
CREATE OR REPLACE TEMP VIEW scope_incidents AS SELECT *, '' AS grp FROM incidents;
CREATE OR REPLACE TEMP VIEW scope_prs AS SELECT *, '' AS grp FROM link_prs;
"""


def same_value(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def verify(con, window_row, week_rows):
    """Differences between by-hand values and flowmeter's queries (list of text)."""
    con.execute(SCOPE_VIEWS)
    queries = {q: (METRIC_QUERIES / f"{q}.sql").read_text() for q in SAME}
    windows = [(SINCE, UNTIL, window_row)]
    for r in week_rows:  # each week clipped to the window, as flowmeter does
        since = max(r["week"], timestamp(SINCE))
        until = min(r["week"] + datetime.timedelta(days=7), timestamp(UNTIL))
        windows.append((str(since), str(until), r))
    diffs = []
    for since, until, mine in windows:
        # flowmeter's queries group by the windows of `metric_windows`
        # (here one at a time) and read $1/$2 as their span.
        con.execute("CREATE OR REPLACE TEMP TABLE metric_windows AS "
                    "SELECT 0 AS bucket, CAST(? AS TIMESTAMP) AS since, CAST(? AS TIMESTAMP) AS until, '' AS grp",
                    [since, until])
        # ... and find a record's window by its slot (`metric_slots`, as
        # Scoped::set_windows makes them): one window, one slot.
        origin, end = (micros(timestamp(str(t))) for t in (since, until))
        con.execute(f"CREATE OR REPLACE TEMP MACRO metric_slot(t) AS (epoch_us(t) - {origin}) // {max(end - origin, 1)}")
        con.execute("CREATE OR REPLACE TEMP TABLE metric_slots AS SELECT bucket, since, until, grp, "
                    "unnest(range(metric_slot(since), metric_slot(until - INTERVAL 1 MICROSECOND) + 1)) AS slot "
                    "FROM metric_windows WHERE until > since")
        for q, sql in queries.items():
            cur = con.execute(sql, [since, until] if "$1" in sql else [])
            theirs = dict(zip([d[0] for d in cur.description], cur.fetchone()))
            for col, my_col in SAME[q].items():
                if not same_value(theirs[col], mine[my_col]):
                    diffs.append(f"{since[:10]} {q}.{col}: flowmeter SQL {theirs[col]}, by hand {mine[my_col]}")
    return diffs


def timestamp(s):
    return datetime.datetime.fromisoformat(s)


def micros(t):
    """Microseconds since the epoch of a naive UTC datetime (DuckDB's epoch_us)."""
    return (t - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)

# ---------------------------------------------------------------------------
# flowmeter bench
# ---------------------------------------------------------------------------

NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
PATTERNS = {
    "events": rf"flowmeter bench:\s*{NUM}\s*events",
    "import_s": rf"^\s*import\s+{NUM}\s*s",
    "events_per_s": rf"^\s*import\s+.*?{NUM}\s*events/s",
    "stage_s": rf"parse \+ stage\s*{NUM}\s*s",
    "upsert_s": rf", upsert\s*{NUM}\s*s",
    "link_s": rf", link\s*{NUM}\s*s",
    "commit_s": rf", commit\s*{NUM}\s*s\)",
    "metrics_s": rf"^\s*all metrics\s+{NUM}\s*s",
    "window_deployments": rf"^\s*all metrics.*?{NUM}\s*deployments",
    "window_changes": rf"^\s*all metrics.*?{NUM}\s*changes",
    "window_prs": rf"^\s*all metrics.*?{NUM}\s*PRs",
    "by_week_s": rf"^\s*by week\s+{NUM}\s*s",
    "small_s": rf"^\s*small import\s+{NUM}\s*s",
    "small_empty_s": rf"^\s*small import.*?;\s*{NUM}\s*s",
    "small_ratio": rf"^\s*small import.*?{NUM}\s*x\b",
    "rss_mib": rf"^\s*peak RSS\s+{NUM}\s*MiB",
}


def parse_bench(text):
    out = {}
    for key, pat in PATTERNS.items():
        m = re.search(pat, text, re.MULTILINE | re.IGNORECASE)
        out[key] = float(m.group(1).replace(",", "")) if m else None
    if out["small_ratio"] is None and out["small_s"] and out["small_empty_s"]:
        out["small_ratio"] = out["small_s"] / out["small_empty_s"]
    return out


def run_flowmeter(binary, events, directory):
    """Runs `flowmeter bench`, echoing its output; returns (figures, wall s, peak RSS MiB)."""
    cmd = [str(binary), "bench", "--events", str(events), "--keep", str(directory)]
    timefile = Path(directory) / "flowmeter.time"
    use_time = os.access("/usr/bin/time", os.X_OK)
    if use_time:
        cmd = ["/usr/bin/time", "-v", "-o", str(timefile)] + cmd
    print("$ " + " ".join(cmd), flush=True)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in p.stdout:
        print("  | " + line, end="", flush=True)
        lines.append(line)
    p.wait()
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"error: flowmeter bench failed (exit {p.returncode})")
    rss = None
    if use_time and timefile.exists():
        m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", timefile.read_text())
        rss = int(m.group(1)) / 1024 if m else None
    if rss is None:  # no other child has run yet: this is flowmeter's
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return parse_bench("".join(lines)), wall, rss


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def fmt_s(x, digits):
    return "n/a" if x is None else f"{x:.{digits}f} s"


def fmt_mib(x):
    return "n/a" if x is None else f"{x:.0f} MiB"


def ratio(a, b):
    return None if a is None or not b else a / b


def fmt_x(r):
    return "n/a" if r is None else f"{r:.1f}x"


def verdict(r, limit):
    return "" if r is None else ("met" if r <= limit else "missed")


def bundled_duckdb_version():
    """flowmeter's bundled DuckDB, named by its libduckdb-sys version in Cargo.lock."""
    try:
        text = (ROOT / "Cargo.lock").read_text()
    except OSError:
        return "?"
    m = re.search(r'name = "libduckdb-sys"\nversion = "([^"]+)"', text)
    return f"libduckdb-sys {m.group(1)}" if m else "?"


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--ingest-child":
        return ingest_child(sys.argv[2], sys.argv[3], sys.argv[4])

    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/flowmeter/target")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1000000)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary directory)")
    ap.add_argument("--flowmeter", metavar="PATH", default=os.path.join(target, "release", "flowmeter"),
                    help="the flowmeter binary (default: $CARGO_TARGET_DIR/release/flowmeter)")
    ap.add_argument("--skip-flowmeter", action="store_true",
                    help="do not run flowmeter; use DIR/synthetic.jsonl and DIR/bench.duckdb "
                         "already there (needs --keep)")
    ap.add_argument("--ingest", choices=["per-type", "staging"], default="per-type",
                    help="by hand: one read_json per record type (default), or one read "
                         "into a staging table then five inserts")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip checking the by-hand metric values against queries/metrics/*.sql")
    args = ap.parse_args()
    if args.skip_flowmeter and not args.keep:
        ap.error("--skip-flowmeter needs --keep DIR holding synthetic.jsonl and bench.duckdb")

    print(f"DuckDB by hand: Python duckdb {duckdb.__version__}, threads=2; "
          f"flowmeter bundles DuckDB from {bundled_duckdb_version()}")
    directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="flowmeter-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return measure(args, directory)
    except (duckdb.Error, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


def measure(args, directory):
    jsonl, store, byhand = directory / "synthetic.jsonl", directory / "bench.duckdb", directory / "byhand.duckdb"
    fm = dict.fromkeys(PATTERNS)
    fm_wall = fm_rss_outside = None
    if not args.skip_flowmeter:
        if not os.access(args.flowmeter, os.X_OK):
            raise SystemExit(f"error: no flowmeter binary at {args.flowmeter} (build it first, e.g. "
                             f"`cargo test --release --workspace --no-run` as ./scripts/demo does; "
                             f"or pass --flowmeter PATH, or --skip-flowmeter)")
        for name in ("bench.duckdb", "small.duckdb", "small-2.duckdb", "small-3.duckdb"):  # `flowmeter bench` measures fresh stores
            for f in (directory / name, directory / (name + ".wal")):
                f.unlink(missing_ok=True)
        fm, fm_wall, fm_rss_outside = run_flowmeter(args.flowmeter, args.events, directory)
    for f in (jsonl, store):
        if not f.exists():
            raise SystemExit(f"error: {f} is missing")
    with open(jsonl, "rb") as f:
        lines = sum(1 for _ in f)

    print(f"\nDuckDB by hand: importing {jsonl.name} ({lines} lines, --ingest {args.ingest}) ...", flush=True)
    hand_s, hand_counts, hand_rss = run_ingest(jsonl, byhand, args.ingest)
    print(f"  {hand_s:.2f} s, peak RSS {hand_rss:.0f} MiB")

    errors = []
    small = [directory / f"{name}.jsonl" for name in ("small", "small-2", "small-3")]
    imported = [jsonl] + [f for f in small if f.exists()]
    expected = expected_store_counts(imported)
    con = duckdb.connect(str(store), read_only=True)
    configure(con)
    print(f"  rows: by hand / in flowmeter's store / distinct keys of {' + '.join(f.name for f in imported)}")
    for t in TABLES:
        got = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        ok = got == expected[t] and (len(imported) > 1 or hand_counts[t] == got)
        print(f"    {t:<14} {hand_counts[t]:>10} {got:>10} {expected[t]:>10}  {'ok' if ok else 'DIFFERENT'}")
        if not ok:
            errors.append(f"row count of {t} differs")

    print("DuckDB by hand: metrics over flowmeter's link tables ...", flush=True)
    params = {"since": timestamp(SINCE), "until": timestamp(UNTIL)}
    hand_metrics_s, window_rows = best_of(con, ALL_METRICS, params)
    hand_week_s, week_rows = best_of(con, BY_WEEK, params)
    w = window_rows[0]
    print(f"  all metrics {hand_metrics_s:.3f} s ({w['deployments']} deployments, {w['lt_changes']} changes, "
          f"{w['prs']} PRs); by week {hand_week_s:.3f} s ({len(week_rows)} weeks); best of {RUNS}")
    if fm["window_deployments"] is not None:
        print(f"  (flowmeter, before its small imports: {fm['window_deployments']:.0f} deployments, "
              f"{fm['window_changes']:.0f} changes, {fm['window_prs']:.0f} PRs)")
    if not args.no_verify:
        diffs = verify(con, w, week_rows)
        if diffs:
            print(f"  DIFFERENT from queries/metrics/*.sql in {len(diffs)} values, e.g.:")
            for d in diffs[:10]:
                print("    " + d)
            errors.append("metric values differ from flowmeter's queries")
        else:
            print(f"  values equal those of queries/metrics/*.sql on the same store "
                  f"(window and {len(week_rows)} weeks)")
    con.close()

    n = int(fm["events"] or lines)
    r_import = ratio(fm["import_s"], hand_s)
    r_metrics = ratio(fm["metrics_s"], hand_metrics_s)
    r_week = ratio(fm["by_week_s"], hand_week_s)
    # peak RSS target: < 1 GiB up to 1M events, < 2 GB (decimal) beyond
    # (the generator writes a few events more than asked for)
    rss_limit = 1024 if n < 2_000_000 else 2e9 / 2**20
    rss_met = "" if fm["rss_mib"] is None else ("met" if fm["rss_mib"] < rss_limit else "missed")
    row = "{:<26}{:<15}{:<16}{:<8}{}".format
    print()
    print(row("", "flowmeter", "DuckDB by hand", "ratio", "target"))
    print(row(f"import  {n} events", fmt_s(fm["import_s"], 2), fmt_s(hand_s, 2), fmt_x(r_import),
              f"<= 1.5x  {verdict(r_import, 1.5)}"))
    print(row("all metrics", fmt_s(fm["metrics_s"], 3), fmt_s(hand_metrics_s, 3), fmt_x(r_metrics),
              f"<= 3x    {verdict(r_metrics, 3)}"))
    print(row("by week", fmt_s(fm["by_week_s"], 3), fmt_s(hand_week_s, 3), fmt_x(r_week), "(none)"))
    print(row("peak RSS", fmt_mib(fm["rss_mib"]), fmt_mib(hand_rss), "",
              f"< 1 GiB (1M) / < 2 GB (10M)  {rss_met}"))
    small = f"small import into store vs empty: {fmt_x(fm['small_ratio'])}"
    # The target is for 3.2k events into the 1M-event store.
    small_target = verdict(fm['small_ratio'], 3) if n < 2_000_000 else "(target is for the 1M store)"
    print(f"{small:<65}<= 3x    {small_target}")
    if fm_wall is not None:
        print(f"\nflowmeter bench as a whole (generate, import, metrics, small imports): "
              f"{fm_wall:.1f} s wall, peak RSS {fmt_mib(fm_rss_outside)} (measured from outside)")
    if fm["import_s"] is not None:
        print(f"flowmeter import ({fm['events_per_s'] or 0:.0f} events/s) = parse + stage "
              f"{fmt_s(fm['stage_s'], 2)} + upsert {fmt_s(fm['upsert_s'], 2)} + link {fmt_s(fm['link_s'], 2)} "
              f"+ commit {fmt_s(fm['commit_s'], 2)}; "
              f"by hand parses and casts only (no validation, upsert or links)")
    if errors:
        print("\nerror: " + "; ".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
