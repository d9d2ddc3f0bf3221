-- Change failure rate by Apache DevLake's rules (docs/PROFILES.md §4.2,
-- panel "Change Failure Rate"): the share of the window's deployments that
-- some incident was attributed to (devlake_incidents: the latest earlier
-- deployment, with no time window). Rollbacks do not count.
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
SELECT
    w.bucket,
    count(d.id) AS deployments,
    count(d.id) FILTER (WHERE d.failed) AS failed
FROM metric_windows w LEFT JOIN (
    SELECT d.grp, d.id, d.finished_at,
           EXISTS (SELECT 1 FROM devlake_incidents i
                   WHERE i.grp = d.grp AND i.deployment_source = d.source AND i.deployment_id = d.id) AS failed
    FROM scope_deployments d
    WHERE d.finished_at >= $1::TIMESTAMP AND d.finished_at < $2::TIMESTAMP
) d ON d.grp = w.grp AND d.finished_at >= w.since AND d.finished_at < w.until
GROUP BY w.bucket
ORDER BY w.bucket
