#!/usr/bin/env python3
"""Independent reference implementation of Apache DevLake's DORA dashboard metrics.

Sources followed (apache/incubator-devlake @ 420e494b):
  backend/plugins/dora/tasks/prev_deployment_commit_enricher.go   (deployment sequences)
  backend/plugins/refdiff/tasks/deployment_commit_diff_calculator.go
  backend/plugins/refdiff/utils/commit_node_graph.go              (CalculateLostSha)
  backend/plugins/dora/tasks/change_lead_time_calculator.go       (per-PR cycle time)
  backend/plugins/dora/tasks/incident_deploy_connector.go         (incident -> deployment)
  grafana/dashboards/DORA.json                                     (panels 11, 12, 14, 17)

Only the raw tables deployments, commits, pull_requests, incidents are read (plain
SELECTs); all logic (graph walk, linking, medians, calendar) is done in Python.

Usage: devlake_ref.py --db PATH --since ISO --until ISO [--diagnostics]
"""
import argparse
import datetime as dt
import json
import math
import sys
from collections import defaultdict

import duckdb

PROD_EXACT = {"production", "prod", "live"}
PROD_PREFIX = ("prod-", "production-")
ONE_SEC = dt.timedelta(seconds=1)
MINUTE_US = 60_000_000


# --------------------------------------------------------------------------- helpers
def parse_ts(s):
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t


def is_prod(env):
    e = (env or "").lower()
    return e in PROD_EXACT or e.startswith(PROD_PREFIX)


def td_us(d):
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def ceil_minutes_span(start, end):
    """Go computeTimeSpan: int64(math.Ceil(end.Sub(start).Minutes())), nil when < 0 or an end is nil."""
    if start is None or end is None:
        return None
    us = td_us(end - start)
    minutes = -((-us) // MINUTE_US)  # exact ceiling division
    if minutes < 0:
        return None
    return minutes


def timestampdiff_minute(start, end):
    """MySQL TIMESTAMPDIFF(MINUTE, start, end): whole minutes, truncated toward zero."""
    us = td_us(end - start)
    q = abs(us) // MINUTE_US
    return q if us >= 0 else -q


def lower_percentile(values, p):
    """DevLake: max(x) over rows with percent_rank() over (order by x) <= p.
    percent_rank = (rank - 1) / (n - 1), rank = 1 + #values strictly smaller; 0 when n == 1."""
    vals = sorted(values)
    n = len(vals)
    if n == 0:
        return None
    best = None
    smaller = 0
    for i, v in enumerate(vals):
        if i > 0 and vals[i] != vals[i - 1]:
            smaller = i
        pr = 0.0 if n == 1 else smaller / (n - 1)
        if pr <= p:
            best = v if best is None or v > best else best
    return best


def hours(minutes):
    return None if minutes is None else minutes / 60


def in_range(x, lo, hi):
    return x is not None and lo <= x <= hi


# --------------------------------------------------------------------------- commit graph
class Graph:
    """Commit graph from commits.parents, keyed by (repo, sha) ("same repo" rule)."""

    def __init__(self, rows):
        self.parents = {}
        for repo, sha, parents in rows:
            self.parents.setdefault((repo, sha), [])
            self.parents[(repo, sha)].extend(parents or [])

    def reach(self, repo, sha, stop=None):
        """All shas reachable from sha (inclusive) via parents, not entering `stop`.
        An unknown sha is a node with no parents (commit_node_graph.go:62-71)."""
        seen = set()
        stack = [sha]
        while stack:
            s = stack.pop()
            if s in seen or (stop is not None and s in stop):
                continue
            seen.add(s)
            stack.extend(self.parents.get((repo, s), ()))
        return seen

    def lost_sha(self, repo, old_sha, new_sha):
        """refdiff CalculateLostSha(old, new): reachable from new, not from old."""
        old = self.reach(repo, old_sha)
        return self.reach(repo, new_sha, stop=old)


# --------------------------------------------------------------------------- main logic
def compute(db, since, until):
    con = duckdb.connect(db, read_only=True)
    hi = until - ONE_SEC  # Grafana range [since, until - 1s]
    diag = {}

    deps_all = con.execute(
        "SELECT source, id, service, repo, environment, status, started_at, finished_at, commit_sha "
        "FROM deployments").fetchall()
    commits = con.execute("SELECT repo, sha, parents, authored_at FROM commits").fetchall()
    prs = con.execute(
        "SELECT source, repo, number, created_at, merged_at, merge_commit_sha, commits, first_commit_at "
        "FROM pull_requests").fetchall()
    incidents = con.execute(
        "SELECT source, id, created_at, resolved_at FROM incidents").fetchall()
    con.close()

    # counted deployments (SUCCESS + PRODUCTION)
    deps = []
    for source, did, service, repo, env, status, started, finished, sha in deps_all:
        if status == "success" and is_prod(env):
            deps.append(dict(key=(source, did), id=did, service=service, repo=repo,
                             started=started, finished=finished, sha=sha))
    diag["counted_deployments_total"] = len(deps)

    graph = Graph((r, s, p) for r, s, p, _ in commits)
    authored = {}
    for repo, sha, _, a in commits:
        authored[(repo, sha)] = a
    authored_by_sha = {sha: a for repo, sha, _, a in commits}

    # ---- deployment sequences per service, ordered by finished_at then id
    # (DevLake also requires finished_date and repo_url to be non-empty to be in a sequence)
    seqs = defaultdict(list)
    for d in deps:
        if d["finished"] is not None and d["repo"]:
            seqs[d["service"]].append(d)
    seq_ties = 0
    diffs = {}  # deployment key -> set of shas (only for deployments with a previous one)
    for service, lst in seqs.items():
        lst.sort(key=lambda d: (d["finished"], d["id"]))
        for i in range(1, len(lst)):
            if lst[i]["finished"] == lst[i - 1]["finished"]:
                seq_ties += 1
            p, d = lst[i - 1], lst[i]
            diffs[d["key"]] = graph.lost_sha(d["repo"], p["sha"], d["sha"])
    diag["sequence_finished_at_ties"] = seq_ties
    diag["deployments_with_diff"] = len(diffs)
    diag["deployments_with_nonempty_diff"] = sum(1 for v in diffs.values() if v)

    # ---- sha -> earliest deployment whose diff contains it (started_at ASC, NULL first, then id)
    dep_by_key = {d["key"]: d for d in deps}
    sha_to_dep = {}
    for key, shas in diffs.items():
        d = dep_by_key[key]
        rank = (d["started"] is not None, d["started"] or dt.datetime.min, d["id"])
        for s in shas:
            cur = sha_to_dep.get(s)
            if cur is None or rank < cur[0]:
                sha_to_dep[s] = (rank, d)

    # ---- per-PR metrics (project_pr_metrics)
    pr_rows = []
    for source, repo, number, created, merged, msha, pcommits, first_commit_at in prs:
        if merged is None:
            continue
        first = first_commit_at
        if first is None:
            times = []
            for s in pcommits or []:
                a = authored.get((repo, s))
                if a is None:
                    a = authored_by_sha.get(s)
                if a is not None:
                    times.append(a)
            first = min(times) if times else None
        coding = ceil_minutes_span(first, created) if first is not None else None
        during = ceil_minutes_span(created, merged)
        dep = sha_to_dep.get(msha)[1] if msha in sha_to_dep else None
        deploy = None
        if dep is not None and dep["finished"] is not None:
            deploy = ceil_minutes_span(merged, dep["finished"])
        else:
            dep = None
        cycle = sum(x for x in (coding, during, deploy) if x is not None)
        pr_rows.append(dict(pr=(source, repo, number), cycle=cycle, dep=dep,
                            coding=coding, during=during, deploy=deploy))
    diag["merged_prs"] = len(pr_rows)
    diag["merged_prs_with_deployment"] = sum(1 for r in pr_rows if r["dep"] is not None)

    # ---- incident -> latest counted deployment with finished_at < created_at (project wide)
    fin_sorted = sorted((d for d in deps if d["finished"] is not None),
                        key=lambda d: (d["finished"], d["id"]))
    inc_dep = {}
    attrib_ties = 0
    for source, iid, created, resolved in incidents:
        if created is None:
            continue
        best = None
        for d in fin_sorted:  # small data: linear scan
            if d["finished"] < created:
                best = d
            else:
                break
        if best is not None:
            same = [d for d in fin_sorted if d["finished"] == best["finished"]]
            if len(same) > 1:
                attrib_ties += 1
            inc_dep[(source, iid)] = best
    diag["incidents_total"] = len(incidents)
    diag["incidents_attributed"] = len(inc_dep)
    diag["incident_attribution_ties"] = attrib_ties

    # ===================================================================== metrics
    out = {}

    # 1. lead time (panel 12): distinct PRs whose deployment finished in range
    lt = [r["cycle"] for r in pr_rows if r["dep"] is not None and in_range(r["dep"]["finished"], since, hi)]
    out["lead_time"] = {
        "prs": len(lt),
        "p50_hours": hours(lower_percentile(lt, 0.5)),
        "p90_hours": hours(lower_percentile(lt, 0.9)),
        "mean_hours": (sum(lt) / len(lt) / 60) if lt else None,
    }

    # 2. change failure rate (panel 14)
    dep_in = [d for d in deps if in_range(d["finished"], since, hi)]
    failed_keys = {d["key"] for d in inc_dep.values()}
    failed = sum(1 for d in dep_in if d["key"] in failed_keys)
    out["change_failure_rate"] = {
        "deployments": len(dep_in),
        "failed": failed,
        "rate": (failed / len(dep_in)) if dep_in else None,
    }

    # 3. failed deployment recovery time, 2023 (panel 17, _recovery_time_ranks)
    dep_in_keys = {d["key"] for d in dep_in}
    rt = []
    for source, iid, created, resolved in incidents:
        d = inc_dep.get((source, iid))
        if d is None or d["key"] not in dep_in_keys or not in_range(resolved, since, hi):
            continue
        rt.append(timestampdiff_minute(d["finished"], resolved))
    out["recovery_time"] = {
        "incidents": len(rt),
        "p50_hours": hours(lower_percentile(rt, 0.5)),
        "p90_hours": hours(lower_percentile(rt, 0.9)),
    }

    # 4. time to restore, 2021 (panel 17, _incidents / _median_mttr)
    ttr = []
    opened = 0
    for source, iid, created, resolved in incidents:
        if in_range(created, since, hi):
            opened += 1
        if in_range(resolved, since, hi):
            ttr.append(timestampdiff_minute(created, resolved))
    out["time_to_restore"] = {
        "resolved": len(ttr),
        "opened": opened,
        "p50_hours": hours(lower_percentile(ttr, 0.5)),
        "p90_hours": hours(lower_percentile(ttr, 0.9)),
    }

    # 5. deployment frequency, 2023 (panel 11)
    days = []
    for n in range(400):
        t = hi - dt.timedelta(days=n)
        if t > since:
            days.append(t.date())
    deploy_days = {d["finished"].date() for d in deps if d["finished"] is not None}  # not time-filtered
    weeks = defaultdict(set)
    months = defaultdict(set)
    for day in days:
        wk = day - dt.timedelta(days=day.weekday())
        mo = day.replace(day=1)
        weeks[wk]  # ensure key exists
        months[mo]
        if day in deploy_days:
            weeks[wk].add(day)
            months[mo].add(day)
    wmed = lower_percentile([len(v) for v in weeks.values()], 0.5)
    mmed = lower_percentile([len(v) for v in months.values()], 0.5)
    if not days:
        tier = "N/A"
    elif wmed >= 5:
        tier = "elite"
    elif wmed >= 1:
        tier = "high"
    elif mmed >= 1:
        tier = "medium"
    else:
        tier = "low"
    out["deployment_frequency"] = {
        "deployments": sum(1 for d in deps if d["finished"] is not None and since <= d["finished"] < until),
        "median_deploy_days_per_week": wmed,
        "median_deploy_days_per_month": mmed,
        "tier": tier,
    }
    diag["calendar_days"] = len(days)
    diag["calendar_weeks"] = len(weeks)
    diag["calendar_months"] = len(months)
    diag["deployments_in_(until-1s,until)"] = sum(
        1 for d in deps if d["finished"] is not None and hi < d["finished"] < until)
    return out, diag


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--since", required=True)
    ap.add_argument("--until", required=True)
    ap.add_argument("--diagnostics", action="store_true", help="print diagnostics to stderr")
    a = ap.parse_args()
    out, diag = compute(a.db, parse_ts(a.since), parse_ts(a.until))
    if a.diagnostics:
        print(json.dumps(diag, indent=2, default=str), file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
