-- Change failure rate (METRICS.md, key 3).
-- One row per window of `metric_windows` (bucket, since, until). `failed`
-- is materialised by linking: an incident is attributed to the deployment,
-- or a rollback undid it.
SELECT
    w.bucket,
    count(d.id) AS deployments,
    count(d.id) FILTER (WHERE d.failed) AS failed
FROM metric_windows w LEFT JOIN scope_deployments d
  ON d.finished_at >= w.since AND d.finished_at < w.until
GROUP BY w.bucket
ORDER BY w.bucket
