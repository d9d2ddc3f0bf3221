-- Rework rate (METRICS.md, key 5).
-- One row per window of `metric_windows` (bucket, since, until).
-- `rework` is materialised by linking: a rollback, kind=hotfix, or a
-- deployment whose changes (at least one) all belong to PRs with a rework
-- label (bug, hotfix, incident by default; configurable).
SELECT
    w.bucket,
    count(d.id) AS deployments,
    count(d.id) FILTER (WHERE d.rework) AS rework
FROM metric_windows w LEFT JOIN scope_deployments d
  ON d.finished_at >= w.since AND d.finished_at < w.until
GROUP BY w.bucket
ORDER BY w.bucket
