-- Change failure rate (METRICS.md, key 3).
-- One row per window of `metric_windows` (bucket, since, until). `failed`
-- is materialised by linking: an incident is attributed to the deployment,
-- or a rollback undid it.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
SELECT
    w.bucket,
    count(d.id) AS deployments,
    count(d.id) FILTER (WHERE d.failed) AS failed
FROM metric_windows w LEFT JOIN (
    SELECT grp, id, finished_at, failed FROM scope_deployments
    WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
) d ON d.grp = w.grp AND d.finished_at >= w.since AND d.finished_at < w.until
GROUP BY w.bucket
ORDER BY w.bucket
