-- Failed deployment recovery time (METRICS.md, key 4).
-- One row per window of `metric_windows` (bucket, since, until). For each
-- failed deployment in the window: from its finished_at to recovery
-- (latest resolved_at of its incidents, else the rollback that replaced
-- it). A deployment with an unresolved incident is open and left out of
-- the percentiles; a recovery after the window counts.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH f AS (
    SELECT w.bucket,
           count(*) AS failed_deployments,
           count(d.hours) FILTER (WHERE NOT d.open) AS recovered,
           count(*) FILTER (WHERE d.open) AS open,
           quantile_cont(d.hours, 0.5) FILTER (WHERE NOT d.open) AS p50_hours,
           quantile_cont(d.hours, 0.9) FILTER (WHERE NOT d.open) AS p90_hours
    FROM metric_slots w JOIN (
        SELECT grp, open, finished_at,
               date_diff('microsecond', finished_at, recovered_at) / 3600000000.0 AS hours
        FROM scope_deployments
        WHERE failed AND finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
    ) d ON d.grp = w.grp AND w.slot = metric_slot(d.finished_at)
       AND d.finished_at >= w.since AND d.finished_at < w.until
    GROUP BY w.bucket
)
SELECT
    w.bucket,
    coalesce(f.failed_deployments, 0) AS failed_deployments,
    coalesce(f.recovered, 0) AS recovered,
    coalesce(f.open, 0) AS open,
    f.p50_hours,
    f.p90_hours
FROM metric_windows w LEFT JOIN f ON f.bucket = w.bucket
ORDER BY w.bucket
