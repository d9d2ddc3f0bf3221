#!/usr/bin/env python3
"""The same metric definitions on Spark SQL (issue 12).

Run through `scripts/spark-check` (it provides a venv with pyspark and
duckdb, and a JDK). It

1. loads every table of a flowmeter lake (Hive-partitioned Parquet, layout
   below) into Spark (local[2]) as temporary views named like the store's
   tables;
2. builds the `scope_*` views exactly as crates/store/src/scope.rs does for
   `--service`, `--team` (services, repos, people and dated members from the
   config TOML, and its `[metrics] pr_team`) and `--repo`, and for `--by
   service|repo|team` with each row's group in `grp` (group keys by the same
   SQL as lib.rs `group_keys`; teams in name order);
3. reads the metric SQL of queries/metrics/*.sql AT RUN TIME, translates it
   with the dialect layer below (one source of truth: no query is copied
   here), fills `metric_windows` (the windows every query groups by) with
   the window and binds $1/$2 to it as crates/analysis/src/lib.rs does, and
   turns the result rows into the JSON fields of METRICS.md the way lib.rs's
   `metric_set` does (tiers, per_week, rates, shares, bottleneck, flow
   efficiency, thin_samples: plain arithmetic on the query columns);
4. compares field by field with the JSON of `flowmeter metrics --format json`
   (`--expect`) for the same window and scope (floats within 1e-9 relative,
   nulls only equal nulls), prints a table (field, flowmeter, spark, ok) and
   Spark's time, and exits 1 on any mismatch.

With `--duckdb` the same SQL files also run on DuckDB over the same lake
(the DuckDB target of the dialect layer is the identity and binds $1/$2 as
prepared parameters, exactly as flowmeter does): a control that separates
"the lake lost something" from "the dialect layer is wrong".

    scripts/spark-check --lake DIR --expect metrics.json
        [--since D] [--until D]          window; default: the expect JSON's
        [--service S] [--team T] [--repo R] [--config flowmeter.toml]
        [--by week|service|repo|team]    expect JSON has `groups` (one per ISO week,
                                         service, repo or team of the config)
        [--duckdb]                       DuckDB over the lake as a control
        [--from-store store.duckdb]      first write DIR from a flowmeter store
        [--show-sql]                     print every translated statement
    scripts/spark-check --self-test      every dialect rule on both engines

Window, filters and `--by` default to the expect JSON's own; given ones must
agree with it (otherwise the comparison would be meaningless).

`coverage.services_without_team` runs queries/metrics/services_without_team.sql
over a `team_claims` view built from the config's teams (with `--config`),
as lib.rs set_team_claims builds it.

Not compared (no translation needed, but no query file either):
- Any field of the expect JSON this script does not know is listed as not
  compared, and does not fail the check.

Queries that cannot be translated mechanically: none of queries/metrics/*.sql
today. The layer refuses (exit 2, naming the construct) rather than guess:
`date_diff` with any unit but microseconds (DuckDB counts unit boundaries
crossed, Spark's timestampdiff counts whole units elapsed), `quantile`/
`quantile_disc` (discrete quantiles), `strftime`, list slices, `unnest`,
`EXCLUDE`, ... (see UNTRANSLATABLE).

Measured (demo organisation, 8,332 lake rows, 2 cores shared with a cargo
build, load average 4-8): Spark session start 16-19 s, lake views 12-15 s,
metric queries 32-35 s for one window (the first query carries the JIT
warm-up; coverage's eight scalar subqueries are eight jobs), 68 s for
`--by week` (4 sets); DuckDB over the same lake 0.2-0.5 s. The notes'
unloaded figures are about 4-6 s for the session start.

Lake layout (what `flowmeter lake export DIR` writes; `--from-store` writes
the same from a store with the duckdb Python package):

    DIR/manifest.json
        {"format": "flowmeter-lake", "version": 1, "schema_version": <max of
         the store's schema_version>, "exported_at": "<RFC 3339, UTC>",
         "tables": {"<table>": {"partition_column": "<column>" | null,
                                ["partition_fallback": "<column>",]
                                "partitions": {"month=2026-10": <rows>, ...}}}}
    DIR/<table>/month=<YYYY-MM | none>/data_0.parquet

    table                   month from (UTC)
    deployments             finished_at, else started_at, else none
    commits                 authored_at
    pull_requests           created_at
    reviews                 submitted_at
    incidents               created_at
    link_deployments        finished_at
    link_changes            deployed_at
    link_incidents          none (the table has no incident time)
    link_incident_services  none (likewise)
    link_prs                merged_at, else created_at

Before Spark starts, the files are checked against the manifest, row counts
partition by partition (DuckDB reads the Parquet footers). `--from-store`
opens the store read-only with the duckdb Python package, which must read
DuckDB 2.0 files: flowmeter bundles DuckDB 2.0 (duckdb crate 1.20000.x), so
duckdb >= 2.0 (the wrapper installs `duckdb>=2.0,<3`); a 1.x package cannot
open the store and says so.

Every column as in the store (VARCHAR[] as Parquet lists, TIMESTAMP as
Parquet timestamp without time zone (isAdjustedToUTC=false), microseconds,
UTC); `month` lives only in the directory names (Hive partitioning) and is
read as a string column; no metric query reads it. An empty table is one
zero-row file in month=none, so that its schema survives
(`"partitions": {"month=none": 0}`).

Dialect layer (DuckDB -> Spark SQL 4.x), in `to_spark`; every rule has a
`--self-test` case that runs the DuckDB text on DuckDB and the translation on
Spark and compares the results. Session settings count as rules too:
  S1 spark.sql.timestampType=TIMESTAMP_NTZ: DuckDB's TIMESTAMP has no time
     zone; Spark's TIMESTAMP is with local time zone unless this is set. Then
     `::TIMESTAMP`, `CAST(.. AS TIMESTAMP)` and `TIMESTAMP '..'` mean the same.
  S2 spark.sql.session.timeZone=UTC and TZ=UTC for the Python process (PySpark
     converts collected timestamps to the process's zone).
  S3 partition column type inference off: `month=2026-10` stays a string.
  S4 ANSI mode stays on (Spark 4's default): errors instead of silent NULLs.
     DuckDB returns NULL for x / 0; ANSI Spark raises. No metric query
     divides by a column.
  Same in both engines, no rule: FILTER (WHERE ...) on aggregates
  (percentile included), `::` casts, SEMI JOIN, QUALIFY, count_if, median,
  GROUP BY ALL, INTERVAL 7 DAY, CAST(ts AS DATE), correlated EXISTS in views
  and scalar subqueries, `IN (NULL)`, SELECT without FROM, integer range(a, b)
  (end exclusive in both; its column is `range` in DuckDB and `id` in Spark,
  so give it an alias: range(0, 5) t(i)).
  R1 comments dropped, string literals re-emitted in Spark syntax (Spark
     reads backslash escapes in literals, DuckDB does not), "quoted"
     identifiers become `backticked` (in Spark "..." is a string).
  R2 $n -> the bound value as a string literal, as flowmeter binds it
     (NaiveDateTime::to_string, e.g. '2026-10-05 00:00:00'); the queries cast
     it themselves ($1::TIMESTAMP). PySpark's sql() has no $n parameters.
  R3 decimal literals (3600000000.0) -> double literals (3600000000.0D):
     DuckDB types them DECIMAL but its `/` on integers and decimals yields
     DOUBLE; Spark keeps DECIMAL arithmetic (scale cut to 6-12 digits), which
     is not within 1e-9. Caveat: exact decimal arithmetic on literals alone
     (0.1 + 0.2) becomes double; no metric query does that.
  R4 quantile_cont(x, q) -> percentile(x, q): both interpolate linearly
     between the closest ranks (numeric x only; equal to about 1 ulp).
  R5 date_diff/datediff('microsecond', a, b) -> timestampdiff(MICROSECOND, a, b)
     (Spark takes the unit as a keyword). Other units are refused, see above.
  R6 epoch_us(ts) -> unix_micros(CAST(ts AS TIMESTAMP_LTZ)); epoch(ts) ->
     unix_micros(..) / 1000000.0D: Spark's unix_* take TIMESTAMP_LTZ; the cast
     reads the NTZ value in the session zone (UTC, S2).
  R7 date_trunc(part, ts) -> CAST(date_trunc(part, ts) AS TIMESTAMP_NTZ): Spark
     returns TIMESTAMP_LTZ even for an NTZ argument; DuckDB keeps TIMESTAMP.
  R8 range(a, b, INTERVAL ..) after FROM/JOIN (DuckDB's timestamp table
     function, end exclusive) -> (SELECT r FROM (SELECT explode(sequence(a,
     greatest(a, b), step)) AS r) WHERE r < b): sequence includes its end and
     fails when a > b; greatest() and the filter give DuckDB's empty or
     end-exclusive result. Positive steps only.
  R9 lambda x: e -> x -> e; lambda x, y: e -> (x, y) -> e (DuckDB 1.3+ syntax).
  R10 list_transform -> transform, list_filter -> filter, list_contains /
     list_has -> array_contains, arg_max / arg_min -> max_by / min_by.
  R11 [a, b] -> array(a, b); x[i] -> try_element_at(x, i): both 1-based, NULL
     out of range (element_at raises under ANSI). Slices x[a:b] refused.
  R12 casts to VARCHAR -> STRING (Spark's VARCHAR needs a length).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import tomllib
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "queries" / "metrics"

# The queries crates/analysis/src/lib.rs runs for one metric set, in order.
METRIC_QUERIES = [
    "deployment_frequency",
    "lead_time",
    "change_failure_rate",
    "recovery_time",
    "time_to_restore",
    "rework_rate",
    "cycle_time",
    "coverage",
]

# Fields of the expect JSON this check cannot compute, and why.
NOT_COMPARED = {}

LAKE_FORMAT = "flowmeter-lake"
LAKE_VERSION = 1
# table -> (partition column, fallback column); None: every row in month=none.
LAKE_TABLES = {
    "deployments": ("finished_at", "started_at"),
    "commits": ("authored_at", None),
    "pull_requests": ("created_at", None),
    "reviews": ("submitted_at", None),
    "incidents": ("created_at", None),
    "link_deployments": ("finished_at", None),
    "link_changes": ("deployed_at", None),
    "link_incidents": (None, None),
    "link_incident_services": (None, None),
    "link_prs": ("merged_at", "created_at"),
}

REL_TOL = 1e-9


class Untranslatable(Exception):
    pass


class UsageError(Exception):
    pass


def say(msg: str) -> None:
    print(f"spark-check: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Window and filters (crates/analysis/src/lib.rs)
# --------------------------------------------------------------------------

UTC = dt.timezone.utc


def parse_time(s: str) -> dt.datetime:
    """`YYYY-MM-DD` (00:00 UTC) or RFC 3339, as naive UTC."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return dt.datetime.strptime(s, "%Y-%m-%d")
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise UsageError(f"`{s}`: an RFC 3339 time needs an offset (Z or +hh:mm)")
    return t.astimezone(UTC).replace(tzinfo=None)


class Window:
    def __init__(self, since: dt.datetime, until: dt.datetime):
        if since >= until:
            raise UsageError(f"the window is empty: {since} is not before {until}")
        self.since, self.until = since, until

    def days(self) -> float:
        delta = self.until - self.since
        micros = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
        return micros / 86_400e6

    def label(self) -> str:
        y, w, _ = self.since.isocalendar()
        return f"{y}-W{w:02d}"

    def weeks(self) -> list[tuple[str, "Window"]]:
        """ISO weeks overlapping the window, clipped to it (Window::weeks)."""
        out = []
        start = week_start(self.since)
        while start < self.until:
            end = start + dt.timedelta(days=7)
            w = Window(max(start, self.since), min(end, self.until))
            out.append((w.label(), w))
            start = end
        return out

    def params(self) -> list[str]:
        """$1, $2 as flowmeter binds them: chrono's NaiveDateTime Display."""
        return [naive_display(self.since), naive_display(self.until)]

    def json(self) -> dict:
        f = "%Y-%m-%dT%H:%M:%SZ"
        return {"since": self.since.strftime(f), "until": self.until.strftime(f)}


def naive_display(t: dt.datetime) -> str:
    s = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        s += f".{t.microsecond:06d}".rstrip("0")
    return s


def week_start(t: dt.datetime) -> dt.datetime:
    d = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return d - dt.timedelta(days=d.weekday())


def sql_quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def sql_list(items: list[str]) -> str:
    return "(NULL)" if not items else "(" + ", ".join(sql_quote(s) for s in items) + ")"


def period(column: str, since, until) -> str:
    """`column` within [since, until) (`TRUE` for an undated part), as
    scope.rs `period`."""
    parts = []
    if since is not None:
        parts.append(f"{column} >= CAST({sql_quote(naive_display(parse_time(str(since))))} AS TIMESTAMP)")
    if until is not None:
        parts.append(f"{column} < CAST({sql_quote(naive_display(parse_time(str(until))))} AS TIMESTAMP)")
    return " AND ".join(parts) if parts else "TRUE"


def incident_has(services_sql: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM link_incident_services s WHERE s.incident_source = i.source "
        f"AND s.incident_id = i.id AND s.service IN {services_sql})"
    )


def team_scope(team: dict, pr_team: str) -> tuple[str, str, str]:
    """A team's conditions on deployments, incidents and pull requests, as
    scope.rs `team_scope`: its undated services, repos and people, or any
    dated member's within its period."""
    parts = [(team.get("services", []), team.get("repos", []), team.get("people", []), None, None)]
    parts += [(m.get("services", []), m.get("repos", []), m.get("people", []), m.get("since"), m.get("until"))
              for m in team.get("members", [])]
    dep, inc, pr = [], [], []
    for services, repos, people, since, until in parts:
        services, repos, people = sql_list(services), sql_list(repos), sql_list(people)
        dep.append(f"((service IN {services} OR repo IN {repos}) AND {period('finished_at', since, until)})")
        inc.append(
            f"(({incident_has(services)} OR "
            f"{incident_has(f'(SELECT service FROM link_deployments WHERE repo IN {repos})')}) AND "
            f"{period('i.created_at', since, until)})"
        )
        owned = (f"author IN {people}" if pr_team == "author" else
                 f"(repo IN {repos} OR repo IN (SELECT repo FROM link_deployments WHERE service IN {services}))")
        pr.append(f"({owned} AND {period('coalesce(merged_at, created_at)', since, until)})")
    return tuple("(" + " OR ".join(v) + ")" for v in (dep, inc, pr))


def scope_sql(filters: dict, teams: dict, by: str | None = None, pr_team: str = "repo") -> str:
    """The scope views, built exactly as crates/store/src/scope.rs builds
    them (same SQL text, DuckDB dialect; translated like the metric SQL):
    with `by` service, repo or team every row carries the group it counts
    for in `grp` ('' otherwise)."""
    dep, inc, pr = ["TRUE"], ["TRUE"], ["TRUE"]
    s = filters.get("service")
    if s is not None:
        dep.append(f"service = {sql_quote(s)}")
        inc.append(incident_has(f"({sql_quote(s)})"))
        pr.append(f"repo IN (SELECT repo FROM link_deployments WHERE service = {sql_quote(s)})")
    r = filters.get("repo")
    if r is not None:
        dep.append(f"repo = {sql_quote(r)}")
        inc.append(incident_has(f"(SELECT service FROM link_deployments WHERE repo = {sql_quote(r)})"))
        pr.append(f"repo = {sql_quote(r)}")
    t = filters.get("team")
    if t is not None:
        if t not in teams:
            raise UsageError(f"unknown team `{t}` (teams in the config: {', '.join(sorted(teams))})")
        for cond, part in zip((dep, inc, pr), team_scope(teams[t], pr_team)):
            cond.append(part)
    dep, inc, pr = (" AND ".join(c) for c in (dep, inc, pr))
    if by == "service":
        rel = [
            f"SELECT *, service AS grp FROM link_deployments WHERE {dep}",
            "SELECT * FROM (SELECT i.*, s.service AS grp FROM incidents i JOIN "
            "(SELECT DISTINCT incident_source, incident_id, service FROM link_incident_services) s "
            f"ON s.incident_source = i.source AND s.incident_id = i.id) i WHERE {inc}",
            "SELECT * FROM (SELECT p.*, r.service AS grp FROM link_prs p JOIN "
            f"(SELECT DISTINCT repo, service FROM link_deployments) r ON r.repo = p.repo) WHERE {pr}",
        ]
    elif by == "repo":
        rel = [
            f"SELECT *, repo AS grp FROM link_deployments WHERE repo IS NOT NULL AND {dep}",
            "SELECT * FROM (SELECT i.*, r.repo AS grp FROM incidents i JOIN "
            "(SELECT DISTINCT s.incident_source, s.incident_id, d.repo FROM link_incident_services s "
            "JOIN (SELECT DISTINCT service, repo FROM link_deployments WHERE repo IS NOT NULL) d "
            "ON d.service = s.service) r "
            f"ON r.incident_source = i.source AND r.incident_id = i.id) i WHERE {inc}",
            f"SELECT *, repo AS grp FROM link_prs WHERE {pr}",
        ]
    elif by == "team":
        branches = [[], [], []]
        for name in sorted(teams):
            d, i, p = team_scope(teams[name], pr_team)
            g = sql_quote(name)
            branches[0].append(f"SELECT *, {g} AS grp FROM link_deployments WHERE {dep} AND {d}")
            branches[1].append(f"SELECT *, {g} AS grp FROM incidents i WHERE {inc} AND {i}")
            branches[2].append(f"SELECT *, {g} AS grp FROM link_prs WHERE {pr} AND {p}")
        rel = [" UNION ALL ".join(b) if b else f"SELECT *, '' AS grp FROM {table} WHERE FALSE"
               for b, table in zip(branches, ("link_deployments", "incidents", "link_prs"))]
    else:
        rel = [
            f"SELECT *, '' AS grp FROM link_deployments WHERE {dep}",
            f"SELECT *, '' AS grp FROM incidents i WHERE {inc}",
            f"SELECT *, '' AS grp FROM link_prs WHERE {pr}",
        ]
    changes = ("SELECT c.*, d.grp FROM link_changes c JOIN" if by in ("service", "repo", "team")
               else "SELECT c.*, '' AS grp FROM link_changes c SEMI JOIN")
    return f"""CREATE OR REPLACE TEMP VIEW scope_deployments AS {rel[0]};
         CREATE OR REPLACE TEMP VIEW scope_changes AS {changes}
           scope_deployments d ON c.deployment_source = d.source AND c.deployment_id = d.id;
         CREATE OR REPLACE TEMP VIEW scope_incidents AS {rel[1]};
         CREATE OR REPLACE TEMP VIEW scope_prs AS {rel[2]};"""


GROUP_KEYS = {
    # As lib.rs group_keys: the groups `flowmeter metrics --by` lists.
    "service": "SELECT service FROM link_deployments UNION SELECT service FROM link_incident_services ORDER BY 1",
    "repo": "SELECT repo FROM link_deployments WHERE repo IS NOT NULL UNION SELECT repo FROM link_prs ORDER BY 1",
}


# --------------------------------------------------------------------------
# Dialect layer: DuckDB SQL -> Spark SQL (rules R1-R12 of the docstring)
# --------------------------------------------------------------------------

STR_OPEN, STR_CLOSE = "\x01", "\x02"  # placeholder for string literal #n
ID_OPEN, ID_CLOSE = "\x03", "\x04"  # placeholder for "quoted" identifier #n


class Masked:
    """SQL with comments removed and literals replaced by placeholders, so
    that no rule ever fires inside a string, an identifier or a comment."""

    def __init__(self, sql: str):
        self.strings: list[str] = []
        self.idents: list[str] = []
        out, i, n = [], 0, len(sql)
        while i < n:
            c = sql[i]
            if sql.startswith("--", i):
                j = sql.find("\n", i)
                i = n if j < 0 else j  # keep the newline
            elif sql.startswith("/*", i):
                j = sql.find("*/", i + 2)
                if j < 0:
                    raise Untranslatable("unterminated /* comment")
                out.append(" ")
                i = j + 2
            elif c in "'\"":
                j, buf = i + 1, []
                while True:
                    if j >= n:
                        raise Untranslatable(f"unterminated {c}...{c}")
                    if sql[j] == c:
                        if j + 1 < n and sql[j + 1] == c:  # doubled quote
                            buf.append(c)
                            j += 2
                            continue
                        break
                    buf.append(sql[j])
                    j += 1
                if c == "'":
                    out.append(self.string("".join(buf)))
                else:
                    self.idents.append("".join(buf))
                    out.append(f"{ID_OPEN}{len(self.idents) - 1}{ID_CLOSE}")
                i = j + 1
            else:
                out.append(c)
                i += 1
        self.code = "".join(out)

    def string(self, value: str) -> str:
        self.strings.append(value)
        return f"{STR_OPEN}{len(self.strings) - 1}{STR_CLOSE}"

    def string_value(self, code: str) -> str | None:
        m = re.fullmatch(rf"\s*{STR_OPEN}(\d+){STR_CLOSE}\s*", code)
        return self.strings[int(m.group(1))] if m else None

    def unmask_spark(self, code: str) -> str:
        def lit(m):
            v = self.strings[int(m.group(1))]
            return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

        def ident(m):
            return "`" + self.idents[int(m.group(1))].replace("`", "``") + "`"

        code = re.sub(rf"{STR_OPEN}(\d+){STR_CLOSE}", lit, code)
        return re.sub(rf"{ID_OPEN}(\d+){ID_CLOSE}", ident, code)


def split_args(s: str) -> list[str]:
    """Top-level comma split of a masked argument list."""
    args, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(s[start:i])
            start = i + 1
    args.append(s[start:])
    return [a.strip() for a in args] if s.strip() else []


def matching(s: str, i: int, open_: str, close: str) -> int:
    """Index of the bracket closing the one at s[i]."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == open_:
            depth += 1
        elif s[j] == close:
            depth -= 1
            if depth == 0:
                return j
    raise Untranslatable(f"unbalanced {open_}{close}")


def rewrite_brackets(code: str) -> str:
    """R11: list literals -> array(...), 1-based x[i] -> try_element_at(x, i)."""
    out: list[str] = []
    i = 0
    while i < len(code):
        c = code[i]
        if c != "[":
            out.append(c)
            i += 1
            continue
        j = matching(code, i, "[", "]")
        inner = rewrite_brackets(code[i + 1 : j])
        before = "".join(out).rstrip()
        if before and (before[-1].isalnum() or before[-1] in "_)]" + STR_CLOSE + ID_CLOSE) and not re.search(
            r"\b(SELECT|WHERE|AND|OR|NOT|IN|ON|BY|THEN|ELSE|WHEN|AS|IS|CASE|HAVING|RETURN|,)$", before, re.I
        ):
            # An index: find the operand just written (identifier chain, or a
            # parenthesised expression with its function name).
            k = len(before)
            if before[-1] in ")]":
                depth = 0
                for k in range(len(before) - 1, -1, -1):
                    if before[k] in ")]":
                        depth += 1
                    elif before[k] in "([":
                        depth -= 1
                        if depth == 0:
                            break
                m = re.search(r"[\w.]*$", before[:k])
                k = m.start()
            else:
                m = re.search(rf"[\w.{STR_OPEN}{STR_CLOSE}{ID_OPEN}{ID_CLOSE}]+$", before)
                k = m.start()
            if ":" in re.sub(r"::", "", inner):
                raise Untranslatable("list slice x[a:b] (Spark has slice(x, start, length))")
            operand = before[k:]
            out = [before[:k], f"try_element_at({operand}, {inner.strip()})"]
        else:
            out.append(f"array({inner})")
        i = j + 1
    return "".join(out)


CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
MICROSECOND_UNITS = {"microsecond", "microseconds", "us", "usec", "usecs", "usecond", "useconds"}


def rewrite_calls(code: str, m: Masked) -> str:
    """R4-R8, R10: function calls, innermost arguments first."""
    out, i = [], 0
    while True:
        hit = CALL.search(code, i)
        if not hit:
            out.append(code[i:])
            return "".join(out)
        name = hit.group(1).lower()
        if name not in CALL_RULES:
            out.append(code[i : hit.end()])
            i = hit.end()
            continue
        close = matching(code, hit.end() - 1, "(", ")")
        args = [rewrite_calls(a, m) for a in split_args(code[hit.end() : close])]
        before = "".join(out) + code[i : hit.start()]
        out = [before, CALL_RULES[name](args, m, before)]
        i = close + 1


def r_quantile_cont(args, m, before):
    if len(args) != 2:
        raise Untranslatable("quantile_cont needs (x, q)")
    return f"percentile({args[0]}, {args[1]})"


def r_date_diff(args, m, before):
    if len(args) != 3:
        raise Untranslatable("date_diff/datediff needs (unit, start, end)")
    unit = m.string_value(args[0])
    if unit is None or unit.lower() not in MICROSECOND_UNITS:
        raise Untranslatable(
            f"date_diff with unit {unit or args[0]!r}: DuckDB counts unit boundaries crossed, "
            "Spark's timestampdiff whole units elapsed; only microseconds agree"
        )
    return f"timestampdiff(MICROSECOND, {args[1]}, {args[2]})"


def r_epoch_us(args, m, before):
    return f"unix_micros(CAST({args[0]} AS TIMESTAMP_LTZ))"


def r_epoch(args, m, before):
    return f"(unix_micros(CAST({args[0]} AS TIMESTAMP_LTZ)) / 1000000.0D)"


def r_date_trunc(args, m, before):
    return f"CAST(date_trunc({', '.join(args)}) AS TIMESTAMP_NTZ)"


def r_range(args, m, before):
    if len(args) == 3 and re.search(r"\bINTERVAL\b", args[2], re.I):
        if not re.search(r"\b(FROM|JOIN)\s*$", before, re.I):
            raise Untranslatable("range(a, b, INTERVAL ..) outside FROM/JOIN")
        a, b, step = args
        return f"(SELECT r FROM (SELECT explode(sequence({a}, greatest({a}, {b}), {step})) AS r) WHERE r < {b})"
    return f"range({', '.join(args)})"  # integers: Spark's range() is DuckDB's


def renamed(spark_name):
    return lambda args, m, before: f"{spark_name}({', '.join(args)})"


def guarded(name, why):
    def rule(args, m, before):
        raise Untranslatable(f"{name}(): {why}")

    return rule


CALL_RULES = {
    "quantile_cont": r_quantile_cont,
    "date_diff": r_date_diff,
    "datediff": r_date_diff,
    "epoch_us": r_epoch_us,
    "epoch": r_epoch,
    "date_trunc": r_date_trunc,
    "range": r_range,
    "list_transform": renamed("transform"),
    "list_apply": renamed("transform"),
    "list_filter": renamed("filter"),
    "list_contains": renamed("array_contains"),
    "list_has": renamed("array_contains"),
    "arg_max": renamed("max_by"),
    "arg_min": renamed("min_by"),
}
# Function calls with no (verified) Spark equivalent: refuse, say why.
UNTRANSLATABLE = {
    "quantile": "DuckDB's quantile is quantile_disc; Spark's percentile_disc picks ranks differently",
    "quantile_disc": "discrete quantile ranks differ from Spark's percentile_disc",
    "strftime": "format strings differ (%Y vs yyyy); write date_trunc or a cast",
    "strptime": "format strings differ",
    "epoch_ms": "no exact Spark equivalent verified (rounding of negatives)",
    "unnest": "DuckDB's unnest in SELECT; Spark needs explode/LATERAL VIEW",
    "regexp_extract_all": "default group differs (DuckDB 0, Spark 1)",
    "string_split": "Spark's split takes a regex",
    "str_split": "Spark's split takes a regex",
    "generate_series": "not translated (use range)",
    "read_parquet": "a DuckDB table function; the lake tables are views already",
    "date_sub": "DuckDB's 3-argument date_sub differs from Spark's date_sub(date, days)",
}
for _name, _why in UNTRANSLATABLE.items():
    CALL_RULES[_name] = guarded(_name, _why)
UNTRANSLATABLE_SYNTAX = [
    (r"\bEXCLUDE\s*\(", "SELECT * EXCLUDE (...)"),
    (r"\bCOLUMNS\s*\(", "COLUMNS(...) star expressions"),
    (r"\bASOF\b", "ASOF joins"),
    (r"\bPOSITIONAL\b", "POSITIONAL joins"),
    (r"->>", "JSON ->> operator"),
    (r"\bUSING\s+SAMPLE\b", "USING SAMPLE"),
    (r"\bAT\s+TIME\s+ZONE\b", "AT TIME ZONE (Spark: convert_timezone)"),
    (r"//", "integer division // (Spark: div)"),
    (r"\blist_\w+\s*\(", "a DuckDB list_* function without a rule"),
]


def to_spark(sql: str, params: list[str]) -> str:
    m = Masked(sql)  # R1
    code = m.code

    def param(hit):  # R2
        k = int(hit.group(1))
        if not 1 <= k <= len(params):
            raise Untranslatable(f"${k} has no bound value")
        return m.string(params[k - 1])

    code = re.sub(r"\$(\d+)\b", param, code)
    for pattern, what in UNTRANSLATABLE_SYNTAX:
        if pattern.startswith(r"\blist_"):
            continue  # checked after the list rules
        if re.search(pattern, code, re.I):
            raise Untranslatable(what)

    def lam(hit):  # R9
        names = [x.strip() for x in hit.group(1).split(",")]
        return (names[0] if len(names) == 1 else "(" + ", ".join(names) + ")") + " ->"

    code = re.sub(r"\blambda\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:(?!:)", lam, code, flags=re.I)
    code = rewrite_brackets(code)  # R11
    code = rewrite_calls(code, m)  # R4-R8, R10
    if re.search(UNTRANSLATABLE_SYNTAX[-1][0], code, re.I):
        raise Untranslatable(UNTRANSLATABLE_SYNTAX[-1][1])
    # R3: decimal literals -> double literals.
    code = re.sub(r"(?<![\w.\x01\x03])(\d+\.\d+|\d+\.(?![\w.])|\.\d+)(?![\w.])", r"\1D", code)
    # R12: type names in casts.
    code = re.sub(r"(::\s*|\bAS\s+)VARCHAR\b(?!\s*\()", r"\1STRING", code, flags=re.I)
    return m.unmask_spark(code)


def split_statements(sql: str) -> list[str]:
    """Split a batch on top-level semicolons (outside strings and comments)."""
    m = Masked(sql)
    parts = [p for p in m.code.split(";") if p.strip()]
    # re-emit each part in its original (DuckDB) syntax
    def back(code):
        code = re.sub(rf"{STR_OPEN}(\d+){STR_CLOSE}", lambda h: sql_quote(m.strings[int(h.group(1))]), code)
        return re.sub(rf"{ID_OPEN}(\d+){ID_CLOSE}", lambda h: '"' + m.idents[int(h.group(1))].replace('"', '""') + '"', code)

    return [back(p) for p in parts]


def param_count(sql: str) -> int:
    code = Masked(sql).code
    return max([int(x) for x in re.findall(r"\$(\d+)\b", code)] or [0])


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------


def read_manifest(lake: Path) -> dict:
    path = lake / "manifest.json"
    if not path.is_file():
        raise UsageError(f"{lake} is not a flowmeter lake: no manifest.json (write one with --from-store)")
    man = json.loads(path.read_text())
    if man.get("format") != LAKE_FORMAT or man.get("version") != LAKE_VERSION:
        raise UsageError(
            f"{path}: format {man.get('format')!r} version {man.get('version')!r}, "
            f"this script reads {LAKE_FORMAT!r} version {LAKE_VERSION}"
        )
    return man


def check_lake(lake: Path, manifest: dict) -> int:
    """The files hold what the manifest says, partition by partition (read
    from the Parquet footers by DuckDB: no Spark job). Returns the rows."""
    import duckdb

    con = duckdb.connect()
    total = 0
    for table, meta in manifest["tables"].items():
        glob = str(lake / table / "*" / "*.parquet").replace("'", "''")
        try:
            got = dict(
                con.execute(
                    f"SELECT 'month=' || month, count(*) FROM read_parquet('{glob}', hive_partitioning = true, "
                    "hive_types = {'month': VARCHAR}) GROUP BY 1"
                ).fetchall()
            )
        except duckdb.Error as e:
            raise UsageError(f"lake table {table}: {str(e).splitlines()[0]}") from None
        want = {k: v for k, v in meta["partitions"].items() if v or k in got}
        if got != want:
            raise UsageError(f"lake table {table}: files hold {got}, the manifest says {meta['partitions']}")
        total += sum(got.values())
    return total


def to_number(v):
    if v is None:
        return None
    if isinstance(v, bool):
        raise TypeError(f"unexpected boolean {v}")
    if isinstance(v, (int, float, Decimal)):
        return float(v)
    raise TypeError(f"unexpected value {v!r}")


class Spark:
    name = "spark"

    def __init__(self, workdir: Path, show_sql: bool):
        self.show_sql = show_sql
        self.query_seconds = 0.0
        self.per_query: dict[str, float] = {}
        t0 = time.perf_counter()
        log4j = workdir / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\n"
            "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n"
        )
        os.chdir(workdir)  # spark-warehouse/, metastore_db/ and such land here
        from pyspark.sql import SparkSession
        import pyspark

        self.spark = (
            SparkSession.builder.master("local[2]")
            .appName("flowmeter-spark-check")
            .config("spark.sql.session.timeZone", "UTC")  # S2
            .config("spark.sql.timestampType", "TIMESTAMP_NTZ")  # S1
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")  # S3
            .config("spark.sql.warehouse.dir", str(workdir / "spark-warehouse"))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # Small data: fewer shuffle partitions; does not change results.
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        try:  # PySpark 4 logs every failed query as a JSON stack trace; we report it ourselves
            from pyspark.logger import PySparkLogger

            for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
                PySparkLogger.getLogger(name).disabled = True
        except ImportError:
            pass
        self.version = pyspark.__version__
        self.session_seconds = time.perf_counter() - t0

    def load(self, lake: Path, manifest: dict) -> None:
        t0 = time.perf_counter()
        for table in manifest["tables"]:
            df = self.spark.read.option("basePath", str(lake / table)).parquet(str(lake / table))
            df.createOrReplaceTempView(table)
        self.load_seconds = time.perf_counter() - t0

    def execute(self, sql: str, params: list[str], label: str):
        text = to_spark(sql, params)
        if self.show_sql:
            print(f"-- spark: {label}\n{text.strip()}\n", flush=True)
        t0 = time.perf_counter()
        try:
            df = self.spark.sql(text)
            rows = df.collect()
        except Exception as e:  # noqa: BLE001  (py4j/AnalysisException)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RuntimeError(f"Spark failed on {label}: {first}\n--- translated SQL ---\n{text.strip()}") from None
        spent = time.perf_counter() - t0
        self.query_seconds += spent
        self.per_query[label.split(" ")[0]] = self.per_query.get(label.split(" ")[0], 0.0) + spent
        return df.columns, rows

    def rows(self, sql: str, params: list[str], label: str) -> list[tuple]:
        return [tuple(r) for r in self.execute(sql, params, label)[1]]

    def run(self, sql: str, params: list[str], label: str, expect: int = 1):
        """The result rows as dicts; `expect` rows (one per metric window)."""
        names, rows = self.execute(sql, params, label)
        if len(rows) != expect:
            raise RuntimeError(f"{label}: {len(rows)} rows, expected one per window ({expect})")
        return [dict(zip(names, (to_number(v) for v in row))) for row in rows]

    def stop(self):
        self.spark.stop()


class DuckLake:
    name = "duckdb"

    def __init__(self, show_sql: bool):
        import duckdb

        self.duckdb = duckdb
        self.con = duckdb.connect()
        self.show_sql = show_sql
        self.query_seconds = 0.0
        self.version = duckdb.__version__

    def load(self, lake: Path, manifest: dict) -> None:
        t0 = time.perf_counter()
        for table in manifest["tables"]:
            glob = str(lake / table / "*" / "*.parquet").replace("'", "''")
            self.con.execute(
                f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{glob}', "
                "hive_partitioning = true, hive_types = {'month': VARCHAR})"
            )
        self.load_seconds = time.perf_counter() - t0

    def run(self, sql: str, params: list[str], label: str, expect: int = 1, fetch: bool = True):
        # The DuckDB target of the dialect layer is the identity: the SQL
        # file as flowmeter runs it, $n bound as prepared parameters.
        k = param_count(sql)
        t0 = time.perf_counter()
        cur = self.con.execute(sql, params[:k]) if k else self.con.execute(sql)
        if not fetch:
            self.query_seconds += time.perf_counter() - t0
            return None
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
        self.query_seconds += time.perf_counter() - t0
        if len(rows) != expect:
            raise RuntimeError(f"{label}: {len(rows)} rows, expected one per window ({expect})")
        return [dict(zip(names, (to_number(v) for v in row))) for row in rows]

    def execute(self, sql: str, params: list[str], label: str):
        return self.run(sql, params, label, fetch=False)

    def rows(self, sql: str, params: list[str], label: str) -> list[tuple]:
        k = param_count(sql)
        t0 = time.perf_counter()
        rows = (self.con.execute(sql, params[:k]) if k else self.con.execute(sql)).fetchall()
        self.query_seconds += time.perf_counter() - t0
        return rows


def apply_scope(engine, filters: dict, teams: dict, by: str | None, pr_team: str) -> None:
    for stmt in split_statements(scope_sql(filters, teams, by, pr_team)):
        engine.execute(stmt, [], "scope")


# --------------------------------------------------------------------------
# Query rows -> the JSON of METRICS.md (crates/analysis/src/lib.rs metric_set)
# --------------------------------------------------------------------------


def load_queries(qdir: Path) -> dict[str, str]:
    out = {}
    for name in METRIC_QUERIES:
        path = qdir / f"{name}.sql"
        if not path.is_file():
            raise UsageError(f"{path} is missing")
        out[name] = path.read_text()
    out_teams = qdir / "services_without_team.sql"
    if not out_teams.is_file():
        raise UsageError(f"{out_teams} is missing")
    out["services_without_team"] = out_teams.read_text()
    extra = sorted(p.stem for p in qdir.glob("*.sql")
                   if p.stem not in METRIC_QUERIES and p.stem != "services_without_team")
    if extra:
        say(f"note: {', '.join(extra)} in {qdir} not run (not among lib.rs's metric queries)")
    return out


def windows_sql(windows: list[Window], groups: list[str] | None = None) -> str:
    """The `metric_windows` relation every metric query groups by: one row
    (bucket, since, until, grp) per cell, in order, as lib.rs set_windows
    fills it (without groups, grp is '')."""
    cells = [(g, w) for g in groups for w in windows] if groups else [("", w) for w in windows]
    rows = []
    for i, (g, w) in enumerate(cells):
        since, until = w.params()
        rows.append(
            f"SELECT {i} AS bucket, CAST({sql_quote(since)} AS TIMESTAMP) AS since, "
            f"CAST({sql_quote(until)} AS TIMESTAMP) AS until, CAST({sql_quote(g)} AS VARCHAR) AS grp"
        )
    return "CREATE OR REPLACE TEMP VIEW metric_windows AS " + " UNION ALL ".join(rows)


def team_claims_sql(teams: dict) -> str:
    """`team_claims` (service, repo, since, until) as lib.rs set_team_claims
    fills it: every team's services and repos, a dated member's with its
    period."""
    def ts(v):
        return "CAST(NULL AS TIMESTAMP)" if v is None else f"CAST({sql_quote(naive_display(parse_time(str(v))))} AS TIMESTAMP)"

    rows = []
    for team in teams.values():
        parts = [(team.get("services", []), team.get("repos", []), None, None)]
        parts += [(m.get("services", []), m.get("repos", []), m.get("since"), m.get("until"))
                  for m in team.get("members", [])]
        for services, repos, since, until in parts:
            for s in services:
                rows.append((f"CAST({sql_quote(s)} AS VARCHAR)", "CAST(NULL AS VARCHAR)", ts(since), ts(until)))
            for r in repos:
                rows.append(("CAST(NULL AS VARCHAR)", f"CAST({sql_quote(r)} AS VARCHAR)", ts(since), ts(until)))
    where = ""
    if not rows:
        rows, where = [("CAST(NULL AS VARCHAR)",) * 2 + ("CAST(NULL AS TIMESTAMP)",) * 2], " WHERE FALSE"
    selects = [f"SELECT {a} AS service, {b} AS repo, {c} AS since, {d} AS until{where}" for a, b, c, d in rows]
    return "CREATE OR REPLACE TEMP VIEW team_claims AS " + " UNION ALL ".join(selects)


def metric_sets(engine, queries: dict[str, str], windows: list[Window], teams: dict | None = None,
                groups: list[str] | None = None) -> list[dict]:
    """The metric sets of `windows` in one pass (each query runs once,
    grouped by window), as lib.rs metric_sets does; with `groups`, those of
    every group's windows, group by group."""
    engine.execute(windows_sql(windows, groups), [], "metric_windows")
    cells = [w for _ in (groups or [None]) for w in windows]
    # $1/$2: the span of all windows.
    params = [min(w.since for w in windows), max(w.until for w in windows)]
    params = [naive_display(t) for t in params]
    label = cells[0].label() if len(cells) == 1 else f"{len(cells)} windows"
    per_query = {
        name: engine.run(queries[name], params, f"{name} {label}", expect=len(cells)) for name in METRIC_QUERIES
    }
    unclaimed = [[] for _ in cells]
    if teams:
        engine.execute(team_claims_sql(teams), [], "team_claims")
        sql = queries["services_without_team"]
        for bucket, service in engine.rows(sql, params, f"services_without_team {label}"):
            unclaimed[int(bucket)].append(service)
    sets = [metric_set({name: rows[i] for name, rows in per_query.items()}, w) for i, w in enumerate(cells)]
    for s, services in zip(sets, unclaimed):
        s["coverage"]["services_without_team"] = services
    return sets


def metric_set(rows: dict[str, dict], window: Window) -> dict:
    """One window's metric set from its row of each query."""

    def f(q, col):
        r = rows[q]
        if col not in r:
            raise RuntimeError(f"query {q} has no column `{col}`")
        return r[col]

    def n(q, col):
        v = f(q, col)
        return int(v) if v is not None else 0

    days = window.days()
    deployments = n("deployment_frequency", "deployments")
    full_weeks = n("deployment_frequency", "full_weeks")
    per_week = deployments / (days / 7.0)
    per_30 = deployments / (days / 30.0)

    def or0(v):
        return 0.0 if v is None else v

    median_days = or0(f("deployment_frequency", "median_deploy_days_per_week")) if full_weeks > 0 else None
    median_deps = or0(f("deployment_frequency", "median_deployments_per_week")) if full_weeks > 0 else None
    if median_days is None or median_deps is None:
        df_tier = None
    elif median_days >= 3.0:
        df_tier = "elite"
    elif median_deps >= 1.0:
        df_tier = "high"
    elif per_30 >= 1.0:
        df_tier = "medium"
    else:
        df_tier = "low"

    def tier(v, bounds):
        if v is None:
            return None
        for name, ok in bounds:
            if ok(v):
                return name
        return "low"

    lead_p50 = f("lead_time", "p50_hours")

    def ratio(a, b):
        return a / b if b > 0 else None

    cfr_dep, cfr_failed = n("change_failure_rate", "deployments"), n("change_failure_rate", "failed")
    cfr_rate = ratio(cfr_failed, cfr_dep)
    rt_p50 = f("recovery_time", "p50_hours")
    stages = ["coding", "pickup", "review", "deploy"]
    sums = [or0(f("cycle_time", f"{s}_sum")) for s in stages]
    total = 0.0
    for s in sums:
        total += s
    best = 0
    for i in range(1, 4):
        if sums[i] > sums[best]:
            best = i
    num, den = f("cycle_time", "flow_numerator"), f("cycle_time", "cycle_sum")

    out = {
        "deployment_frequency": {
            "deployments": deployments,
            "per_week": per_week,
            "deploy_days": n("deployment_frequency", "deploy_days"),
            "median_deploy_days_per_week": median_days,
            "tier": df_tier,
            "full_weeks": full_weeks,
            "median_deployments_per_week": median_deps,
        },
        "lead_time": {
            "changes": n("lead_time", "changes"),
            "excluded": n("lead_time", "excluded"),
            "p50_hours": lead_p50,
            "p75_hours": f("lead_time", "p75_hours"),
            "p90_hours": f("lead_time", "p90_hours"),
            "mean_hours": f("lead_time", "mean_hours"),
            "tier": tier(lead_p50, [("elite", lambda h: h < 24.0), ("high", lambda h: h <= 168.0), ("medium", lambda h: h <= 720.0)]),
        },
        "change_failure_rate": {
            "deployments": cfr_dep,
            "failed": cfr_failed,
            "rate": cfr_rate,
            "tier": tier(cfr_rate, [("elite", lambda r: r <= 0.05), ("high", lambda r: r <= 0.10), ("medium", lambda r: r <= 0.15)]),
        },
        "recovery_time": {
            "failed_deployments": n("recovery_time", "failed_deployments"),
            "recovered": n("recovery_time", "recovered"),
            "open": n("recovery_time", "open"),
            "p50_hours": rt_p50,
            "p90_hours": f("recovery_time", "p90_hours"),
            "tier": tier(rt_p50, [("elite", lambda h: h < 1.0), ("high", lambda h: h < 24.0), ("medium", lambda h: h < 168.0)]),
        },
        "time_to_restore": {
            "incidents": n("time_to_restore", "incidents"),
            "resolved": n("time_to_restore", "resolved"),
            "p50_hours": f("time_to_restore", "p50_hours"),
            "p90_hours": f("time_to_restore", "p90_hours"),
        },
        "rework_rate": {
            "deployments": n("rework_rate", "deployments"),
            "rework": n("rework_rate", "rework"),
            "rate": ratio(n("rework_rate", "rework"), n("rework_rate", "deployments")),
        },
        "cycle_time": {
            "prs": n("cycle_time", "prs"),
            "deployed": n("cycle_time", "deployed"),
            "flow_efficiency": num / den if num is not None and den is not None and den != 0.0 else None,
            "bottleneck": stages[best] if total > 0.0 else None,
            "cycle": {
                "p50_hours": f("cycle_time", "cycle_p50"),
                "p75_hours": f("cycle_time", "cycle_p75"),
                "p90_hours": f("cycle_time", "cycle_p90"),
            },
            "stages": {
                s: {
                    "p50_hours": f("cycle_time", f"{s}_p50"),
                    "p75_hours": f("cycle_time", f"{s}_p75"),
                    "p90_hours": f("cycle_time", f"{s}_p90"),
                    "share": sums[i] / total if total > 0.0 else None,
                    "samples": n("cycle_time", f"{s}_n"),
                }
                for i, s in enumerate(stages)
            },
            "cycles": n("cycle_time", "cycles"),
        },
    }
    thin = []
    checks = [
        ("lead_time", out["lead_time"]["changes"]),
        ("recovery_time", out["recovery_time"]["recovered"]),
        ("time_to_restore", out["time_to_restore"]["resolved"]),
        ("cycle_time", out["cycle_time"]["cycles"]),
    ] + [(f"cycle_time.stages.{s}", out["cycle_time"]["stages"][s]["samples"]) for s in stages]
    for name, k in checks:
        if 0 < k < 5:
            thin.append(f"{name} ({k} samples)")
    out["coverage"] = {
        c: n("coverage", c)
        for c in [
            "changes",
            "changes_with_pr",
            "changes_without_start",
            "prs_merged_not_deployed",
            "prs_without_reviews",
            "incidents",
            "incidents_attributed",
            "incidents_unmapped",
        ]
    }
    out["coverage"]["thin_samples"] = thin
    return out


def compute(engine, queries, window: Window, filters: dict, teams: dict, by: str | None,
            pr_team: str = "repo") -> dict:
    apply_scope(engine, filters, teams, by, pr_team)
    top = {"version": 1, "window": window.json(), "filters": filters}
    if by == "week":
        top["by"] = "week"
        weeks = window.weeks()
        sets = metric_sets(engine, queries, [w for _, w in weeks], teams)
        top["groups"] = [{"key": key, "window": w.json(), **m} for (key, w), m in zip(weeks, sets)]
    elif by is not None:
        top["by"] = by
        keys = sorted(teams) if by == "team" else [r[0] for r in engine.rows(GROUP_KEYS[by], [], "group keys")]
        sets = metric_sets(engine, queries, [window], teams, keys) if keys else []
        top["groups"] = [{"key": key, **m} for key, m in zip(keys, sets)]
    else:
        top.update(metric_sets(engine, queries, [window], teams)[0])
    return top


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------


def flatten(obj, prefix="") -> dict:
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, list) and prefix.endswith("groups."):
        for g in obj:
            key = g.get("key", "?")
            out.update(flatten(g, f"{prefix}{key}."))
    else:
        out[prefix[:-1]] = obj
    return out


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        if math.isnan(a) or math.isnan(b):
            return False
        return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))
    return a == b


def show(v) -> str:
    return "-" if v is _MISSING else json.dumps(v)


_MISSING = object()


def compare(expected: dict, results: dict[str, dict]) -> tuple[list[list[str]], int, list[str], list[str]]:
    exp = flatten(expected)
    got = {name: flatten(r) for name, r in results.items()}
    rows, bad, skipped = [], 0, []
    if "groups" in expected:  # the groups themselves, not only their fields
        keys = lambda d: " ".join(g.get("key", "?") for g in d.get("groups", []))  # noqa: E731
        values = [keys(r) for r in results.values()]
        ok = all(v == keys(expected) for v in values)
        bad += not ok
        rows.append(["groups (keys)", keys(expected)] + values + ["ok" if ok else "MISMATCH"])
    for path, want in exp.items():
        base = re.sub(r"^groups\.[^.]+\.", "", path)
        if base in NOT_COMPARED:
            skipped.append(f"{path}: {NOT_COMPARED[base]}")
            continue
        values = [got[name].get(path, _MISSING) for name in results]
        if any(v is _MISSING for v in values):
            skipped.append(f"{path}: not computed by this check")
            continue
        ok = all(same(want, v) for v in values)
        bad += not ok
        rows.append([path, show(want)] + [show(v) for v in values] + ["ok" if ok else "MISMATCH"])
    extra = [p for p in got[next(iter(results))] if p not in exp]
    return rows, bad, skipped, extra


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


# --------------------------------------------------------------------------
# --from-store: write a lake from a flowmeter store
# --------------------------------------------------------------------------


def export_lake(store: Path, lake: Path) -> None:
    import duckdb

    if lake.exists() and any(lake.iterdir()):
        man = lake / "manifest.json"
        try:
            is_lake = json.loads(man.read_text()).get("format") == LAKE_FORMAT
        except (OSError, ValueError):
            is_lake = False
        if not is_lake:
            raise UsageError(f"{lake} exists and is not a flowmeter lake: not overwriting it")
    if not store.is_file():
        raise UsageError(f"{store}: no such store")
    t0 = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{str(store).replace(chr(39), chr(39) * 2)}' AS store (READ_ONLY)")
    except duckdb.Error as e:
        raise UsageError(
            f"duckdb {duckdb.__version__} cannot open {store}: {str(e).splitlines()[0]}\n"
            "  (flowmeter bundles DuckDB 2.0 (duckdb crate 1.20000.x); its store files need a "
            "duckdb Python package >= 2.0; set FLOWMETER_SPARK_DUCKDB)"
        ) from None
    schema_version = con.execute("SELECT coalesce(max(version), 0) FROM store.schema_version").fetchone()[0]
    tmp = lake.parent / f".{lake.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tables = {}
    for table, (col, fallback) in LAKE_TABLES.items():
        cols = {r[0] for r in con.execute(f"DESCRIBE store.{table}").fetchall()}
        for c in (col, fallback):
            if c is not None and c not in cols:
                raise UsageError(f"store table {table} has no column {c}")
        if "month" in cols:
            raise UsageError(f"store table {table} has a `month` column: it would clash with the partition")
        parts = [f"strftime({c}, '%Y-%m')" for c in (col, fallback) if c]
        month = f"coalesce({', '.join(parts + [repr('none')])})"
        counts = con.execute(
            f"SELECT {month} AS month, count(*) FROM store.{table} GROUP BY 1 ORDER BY 1"
        ).fetchall()
        out = str(tmp / table).replace("'", "''")
        if counts:
            con.execute(
                f"COPY (SELECT *, {month} AS month FROM store.{table}) TO '{out}' "
                "(FORMAT parquet, PARTITION_BY (month))"
            )
        else:  # keep the schema: one zero-row file
            (tmp / table / "month=none").mkdir(parents=True)
            con.execute(f"COPY (SELECT * FROM store.{table} LIMIT 0) TO '{out}/month=none/data_0.parquet' (FORMAT parquet)")
            counts = [("none", 0)]
        meta = {"partition_column": col}
        if fallback:
            meta["partition_fallback"] = fallback
        meta["partitions"] = {f"month={m}": k for m, k in counts}
        tables[table] = meta
    manifest = {
        "format": LAKE_FORMAT,
        "version": LAKE_VERSION,
        "schema_version": schema_version,
        "exported_at": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tables": tables,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    con.close()
    if lake.exists():
        shutil.rmtree(lake)
    tmp.rename(lake)
    rows = sum(sum(t["partitions"].values()) for t in tables.values())
    say(f"wrote lake {lake} from {store}: {len(tables)} tables, {rows} rows, schema version {schema_version} "
        f"({time.perf_counter() - t0:.1f} s, duckdb {duckdb.__version__})")


# --------------------------------------------------------------------------
# --self-test: every dialect rule on both engines
# --------------------------------------------------------------------------

SELF_TESTS = [
    ("R1 strings, quoted identifiers", """SELECT 'it''s \\ here' AS "a b" -- a comment with quantile_cont(x, 0.5)"""),
    ("R2 parameters", "SELECT $1::TIMESTAMP AS since, $2::TIMESTAMP < TIMESTAMP '2026-11-03' AS before"),
    ("R3 decimal literal division", "SELECT 123456789::BIGINT / 3600000000.0 AS h, 7 / 2.0 AS x"),
    ("R4 quantile_cont", "SELECT quantile_cont(x, 0.9) AS q90, quantile_cont(x, 0.25) FILTER (WHERE x > 1) AS q25 "
                         "FROM (SELECT i / 7.0 AS x FROM range(0, 50) r(i)) t"),
    ("R4 quantile_cont, list of quantiles", "SELECT quantile_cont(x, [0.5, 0.9]) AS q FROM range(0, 11) t(x)"),
    ("median", "SELECT median(x) AS m FROM range(0, 10) t(x)"),
    ("R5 date_diff microsecond", "SELECT date_diff('microsecond', TIMESTAMP '2026-10-05 00:00:00', "
                                 "TIMESTAMP '2026-10-06 01:02:03.456789') / 3600000000.0 AS h"),
    ("R6 epoch_us, epoch", "SELECT epoch_us(TIMESTAMP '2026-10-05 01:02:03.000004') AS us, "
                           "epoch(TIMESTAMP '2026-10-05 01:02:03.5') AS s"),
    ("R7 date_trunc", "SELECT date_trunc('week', TIMESTAMP '2026-10-07 13:00:00') AS w, "
                      "date_trunc('day', TIMESTAMP '2026-10-07 13:00:00') < TIMESTAMP '2026-10-08' AS ok"),
    ("R8 range of timestamps", "SELECT count(*) AS n, min(w) AS a, max(w) AS b FROM "
                               "range(TIMESTAMP '2026-10-05', TIMESTAMP '2026-11-02', INTERVAL 7 DAY) t(w)"),
    ("R8 range, empty", "SELECT (SELECT count(*) FROM range(TIMESTAMP '2026-10-05', TIMESTAMP '2026-10-05', INTERVAL 7 DAY) t(w)) AS a, "
                        "(SELECT count(*) FROM range(TIMESTAMP '2026-11-05', TIMESTAMP '2026-10-05', INTERVAL 7 DAY) t(w)) AS b"),
    ("R9/R10 lambda, list functions", "SELECT list_transform([1, 2, 3], lambda x: x * 2) AS t, "
                                      "list_filter([1, 2, 3], lambda x: x > 1) AS f, list_contains(['a', 'b'], 'b') AS c"),
    ("R10 arg_max, arg_min", "SELECT arg_max(s, v) AS a, arg_min(s, v) AS b FROM (VALUES ('a', 1), ('b', 3), ('c', 2)) t(s, v)"),
    ("R11 list literal, index", "SELECT [10, 20, 30][2] AS x, [1, 2][5] AS y, l[1] AS z FROM (SELECT ['p', 'q'] AS l) t"),
    ("R12 casts", "SELECT CAST(42 AS VARCHAR) AS s, 7::VARCHAR AS t"),
    ("same: FILTER, count_if, SEMI JOIN, QUALIFY",
     "SELECT count(*) FILTER (WHERE x > 2) AS a, count_if(x > 3) AS b, "
     "(SELECT count(*) FROM range(0, 5) p(x) SEMI JOIN range(3, 9) q(y) ON p.x = q.y) AS c, "
     "(SELECT max(x) FROM (SELECT x FROM range(0, 5) r(x) QUALIFY row_number() OVER (ORDER BY x DESC) = 2)) AS d "
     "FROM range(0, 5) t(x)"),
    ("refused: date_diff hour", "SELECT date_diff('hour', TIMESTAMP '2026-10-05 00:59', TIMESTAMP '2026-10-05 01:00') AS h"),
]


def self_test(show_sql: bool) -> int:
    import duckdb

    params = ["2026-10-05 00:00:00", "2026-11-02 00:00:00"]
    work = Path(tempfile.mkdtemp(prefix="spark-check-"))
    spark = Spark(work, show_sql)
    con = duckdb.connect()
    bad = 0
    try:
        for name, sql in SELF_TESTS:
            k = param_count(sql)
            want = con.execute(sql, params[:k]).fetchall() if k else con.execute(sql).fetchall()
            try:
                _, rows = spark.execute(sql, params, name)
            except Untranslatable as e:
                print(f"{'refused' if name.startswith('refused') else 'FAIL'}  {name}: {e}")
                bad += not name.startswith("refused")
                continue
            got = [tuple(r) for r in rows]
            ok = len(got) == len(want) and all(
                len(a) == len(b) and all(eq_value(x, y) for x, y in zip(a, b)) for a, b in zip(got, want)
            )
            if name.startswith("refused"):
                ok = False
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'}  {name}: duckdb {want} spark {got}")
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(SELF_TESTS) - bad}/{len(SELF_TESTS)} dialect cases as expected")
    return 1 if bad else 0


def eq_value(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(eq_value(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        a, b = float(a), float(b)
    return same(a, b)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="spark-check",
        description="flowmeter's metric SQL on Spark SQL over a lake, compared with `flowmeter metrics --format json`.",
    )
    ap.add_argument("--lake", type=Path, help="the lake directory (manifest.json, <table>/month=.../*.parquet)")
    ap.add_argument("--expect", type=Path, help="JSON of `flowmeter metrics --format json` for the same window and scope")
    ap.add_argument("--since", help="window start, YYYY-MM-DD or RFC 3339 [default: the expect JSON's]")
    ap.add_argument("--until", help="window end (exclusive) [default: the expect JSON's]")
    ap.add_argument("--service")
    ap.add_argument("--team")
    ap.add_argument("--repo")
    ap.add_argument("--config", type=Path, help="flowmeter.toml (teams) [default: ./flowmeter.toml when it exists]")
    ap.add_argument("--by", choices=["week", "service", "repo", "team"],
                    help="one result per ISO week, service, repo or team (the expect JSON has `groups`)")
    ap.add_argument("--duckdb", action="store_true", help="also run the SQL on DuckDB over the lake, as a control")
    ap.add_argument("--from-store", type=Path, metavar="FILE", help="first write --lake from this flowmeter store")
    ap.add_argument("--queries", type=Path, default=QUERIES, help=f"metric SQL directory [default: {QUERIES}]")
    ap.add_argument("--show-sql", action="store_true", help="print every statement as Spark runs it")
    ap.add_argument("--self-test", action="store_true", help="check every dialect rule on DuckDB and Spark, then exit")
    a = ap.parse_args(argv)

    if a.self_test:
        return self_test(a.show_sql)
    if a.lake is None:
        ap.error("--lake is required")
    lake = a.lake.resolve()
    if a.from_store:
        export_lake(a.from_store.resolve(), lake)
        if a.expect is None:
            return 0
    if a.expect is None:
        ap.error("--expect is required")
    expected = json.loads(a.expect.read_text())

    # Window, filters, grouping: the expect JSON's, and the options must agree.
    exp_window = expected.get("window") or {}
    since = parse_time(a.since) if a.since else parse_time(exp_window["since"])
    until = parse_time(a.until) if a.until else parse_time(exp_window["until"])
    window = Window(since, until)
    if exp_window and window.json() != exp_window:
        raise UsageError(f"--since/--until give {window.json()}, the expect JSON is for {exp_window}")
    exp_filters = expected.get("filters") or {}
    filters = {}
    for key in ("service", "team", "repo"):
        given = getattr(a, key)
        filters[key] = given if given is not None else exp_filters.get(key)
        if given is not None and exp_filters.get(key) != given:
            raise UsageError(f"--{key} {given!r}, but the expect JSON's filter is {exp_filters.get(key)!r}")
    exp_by = expected.get("by") if "groups" in expected else None
    if a.by and a.by != exp_by:
        raise UsageError(f"--by {a.by}, but the expect JSON {'has no groups' if exp_by is None else f'is --by {exp_by}'}")
    by = exp_by

    config_path = a.config or (Path("flowmeter.toml") if Path("flowmeter.toml").is_file() else None)
    teams, pr_team = {}, "repo"
    if config_path:
        config = tomllib.loads(config_path.read_text())
        teams = config.get("teams", {})
        pr_team = config.get("metrics", {}).get("pr_team", "repo")
    queries = load_queries(a.queries.resolve())
    manifest = read_manifest(lake)
    missing = [t for t in LAKE_TABLES if t not in manifest["tables"]]
    if missing:
        raise UsageError(f"the lake has no {', '.join(missing)}")

    rows = check_lake(lake, manifest)
    scope = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "no filter"
    say(f"window {window.json()['since']} .. {window.json()['until']}, {scope}{f', by {by}' if by else ''}; "
        f"lake {lake} (schema version {manifest.get('schema_version')}, exported {manifest.get('exported_at')})")

    results = {}
    work = Path(tempfile.mkdtemp(prefix="spark-check-"))
    cwd = os.getcwd()
    spark = None
    try:
        spark = Spark(work, a.show_sql)
        say(f"Spark {spark.version} local[2] session started in {spark.session_seconds:.1f} s")
        spark.load(lake, manifest)
        say(f"Spark loaded {len(manifest['tables'])} tables ({rows} rows) as views in {spark.load_seconds:.1f} s")
        results["spark"] = compute(spark, queries, window, filters, teams, by, pr_team)
        if a.duckdb:
            duck = DuckLake(a.show_sql)
            duck.load(lake, manifest)
            results["duckdb"] = compute(duck, queries, window, filters, teams, by, pr_team)
    except Untranslatable as e:
        say(f"cannot translate: {e}")
        return 2
    finally:
        if spark is not None:
            spark.stop()
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)

    rows, bad, skipped, extra = compare(expected, results)
    print_table(["field", "flowmeter"] + list(results) + ["ok"], rows)
    for s in skipped:
        print(f"not compared: {s}")
    for p in extra:
        print(f"not in the expect JSON: {p}")
    sets = len(results["spark"].get("groups", [None]))
    per = ", ".join(f"{k} {v:.2f}" for k, v in spark.per_query.items())
    print(f"Spark {spark.version} query time: {spark.query_seconds:.2f} s for {sets} metric set(s) in one "
          f"pass of {len(queries)} queries + scope ({per}); session start {spark.session_seconds:.1f} s, "
          f"lake load {spark.load_seconds:.1f} s")
    if a.duckdb:
        print(f"DuckDB {duck.version} over the lake, query time: {duck.query_seconds:.2f} s")
    print(f"{len(rows) - bad}/{len(rows)} fields match, {len(skipped)} not compared"
          + ("" if not bad else f", {bad} MISMATCH"))
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        say(str(e))
        sys.exit(2)
    except Untranslatable as e:
        say(f"cannot translate: {e}")
        sys.exit(2)
    except RuntimeError as e:
        say(str(e))
        sys.exit(2)
