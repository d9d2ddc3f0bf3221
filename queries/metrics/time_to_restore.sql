-- Time to restore service, classic MTTR (METRICS.md, key 4, "also reported").
-- One row per window of `metric_windows` (bucket, since, until).
-- `incidents` were created in the window, `resolved` were resolved in it;
-- percentiles of resolved_at - created_at over the resolved ones,
-- attributed to a deployment or not.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH opened AS (
    SELECT w.bucket, count(*) AS incidents
    FROM metric_slots w JOIN (
        SELECT grp, created_at FROM scope_incidents
        WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP
    ) i ON i.grp = w.grp AND w.slot = metric_slot(i.created_at)
       AND i.created_at >= w.since AND i.created_at < w.until
    GROUP BY w.bucket
),
restored AS (
    SELECT w.bucket, count(*) AS resolved,
           quantile_cont(date_diff('microsecond', i.created_at, i.resolved_at) / 3600000000.0, 0.5) AS p50_hours,
           quantile_cont(date_diff('microsecond', i.created_at, i.resolved_at) / 3600000000.0, 0.9) AS p90_hours
    FROM metric_slots w JOIN (
        SELECT grp, created_at, resolved_at FROM scope_incidents
        WHERE resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP
    ) i ON i.grp = w.grp AND w.slot = metric_slot(i.resolved_at)
       AND i.resolved_at >= w.since AND i.resolved_at < w.until
    GROUP BY w.bucket
)
SELECT
    w.bucket,
    coalesce(o.incidents, 0) AS incidents,
    coalesce(r.resolved, 0) AS resolved,
    r.p50_hours,
    r.p90_hours
FROM metric_windows w
LEFT JOIN opened o ON o.bucket = w.bucket
LEFT JOIN restored r ON r.bucket = w.bucket
ORDER BY w.bucket
