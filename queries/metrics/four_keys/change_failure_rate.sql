-- Change failure rate by Google Four Keys' rules (docs/PROFILES.md §5,
-- panel "Change Failure Rate"): over the rows (deployment, change,
-- incident whose root cause is that change) of the window's deployments,
-- `failed` counts the rows with an incident and `deployments` the distinct
-- deployments with a change. A deployment without changes counts in
-- neither, and k incidents or k matching changes count k times, so the
-- rate can pass 100 %, as on Four Keys' dashboard. Rollbacks do not count.
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH c AS (
    SELECT w.bucket, c.grp, c.deployment_source, c.deployment_id, c.sha
    FROM metric_windows w JOIN (
        SELECT grp, deployment_source, deployment_id, deployed_at, sha FROM fourkeys_changes
        WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
    ) c ON c.grp = w.grp AND c.deployed_at >= w.since AND c.deployed_at < w.until
)
SELECT
    w.bucket,
    count(DISTINCT (c.deployment_source, c.deployment_id)) AS deployments,
    count(i.id) AS failed
FROM metric_windows w
LEFT JOIN c ON c.bucket = w.bucket
LEFT JOIN fourkeys_incidents i ON i.grp = c.grp AND i.root_cause = c.sha
GROUP BY w.bucket
ORDER BY w.bucket
