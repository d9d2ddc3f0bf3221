-- Failed deployment recovery time (METRICS.md, key 4).
-- One row per window of `metric_windows` (bucket, since, until). For each
-- failed deployment in the window: from its finished_at to recovery
-- (latest resolved_at of its incidents, else the rollback that replaced
-- it). A deployment with an unresolved incident is open and left out of
-- the percentiles; a recovery after the window counts.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH f AS (
    SELECT w.bucket, d.open,
           date_diff('microsecond', d.finished_at, d.recovered_at) / 3600000000.0 AS hours
    FROM metric_windows w JOIN (
        SELECT grp, open, finished_at, recovered_at FROM scope_deployments
        WHERE failed AND finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
    ) d ON d.grp = w.grp AND d.finished_at >= w.since AND d.finished_at < w.until
)
SELECT
    w.bucket,
    count(f.bucket) AS failed_deployments,
    count(f.hours) FILTER (WHERE NOT f.open) AS recovered,
    count(f.bucket) FILTER (WHERE f.open) AS open,
    quantile_cont(f.hours, 0.5) FILTER (WHERE NOT f.open) AS p50_hours,
    quantile_cont(f.hours, 0.9) FILTER (WHERE NOT f.open) AS p90_hours
FROM metric_windows w LEFT JOIN f ON f.bucket = w.bucket
GROUP BY w.bucket
ORDER BY w.bucket
