-- Change failure rate (METRICS.md, key 3).
-- One row per window of `metric_windows` (bucket, since, until). `failed`
-- is materialised by linking: an incident is attributed to the deployment,
-- or a rollback undid it.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH d AS (
    SELECT w.bucket, count(*) AS deployments, count(*) FILTER (WHERE d.failed) AS failed
    FROM metric_slots w JOIN (
        SELECT grp, finished_at, failed FROM scope_deployments
        WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
    ) d ON d.grp = w.grp AND w.slot = metric_slot(d.finished_at)
       AND d.finished_at >= w.since AND d.finished_at < w.until
    GROUP BY w.bucket
)
SELECT w.bucket, coalesce(d.deployments, 0) AS deployments, coalesce(d.failed, 0) AS failed
FROM metric_windows w LEFT JOIN d ON d.bucket = w.bucket
ORDER BY w.bucket
