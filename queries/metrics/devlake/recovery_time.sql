-- Failed deployment recovery time by Apache DevLake's rules (docs/PROFILES.md
-- §4.2, panel "${title_value} In Hours", 2023): per incident, not per
-- deployment: from the finish of the deployment it is attributed to
-- (devlake_incidents) to its resolution, in whole minutes truncated (MySQL
-- TIMESTAMPDIFF), for incidents whose deployment finished in the window
-- and that were resolved in it. Lower medians, as DevLake's. `failed_deployments`
-- are the window's deployments with an incident, `open` the unresolved
-- incidents on them (DevLake leaves them out).
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH f AS (
    SELECT w.bucket, i.deployment_source, i.deployment_id, i.resolved_at,
           i.resolved_at >= w.since AND i.resolved_at < w.until AS resolved_in,
           i.recovery_minutes / 60.0 AS hours
    FROM metric_windows w JOIN (
        SELECT * FROM devlake_incidents
        WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
    ) i ON i.grp = w.grp AND i.deployed_at >= w.since AND i.deployed_at < w.until
),
ranked AS (
    SELECT bucket, hours, percent_rank() OVER (PARTITION BY bucket ORDER BY hours) AS rank
    FROM f WHERE resolved_in
),
per_window AS (
    SELECT bucket,
           count(DISTINCT (deployment_source, deployment_id)) AS failed_deployments,
           count(*) FILTER (WHERE resolved_at IS NULL) AS open
    FROM f GROUP BY bucket
),
medians AS (
    SELECT bucket, count(*) AS recovered,
           max(hours) FILTER (WHERE rank <= 0.5) AS p50_hours,
           max(hours) FILTER (WHERE rank <= 0.9) AS p90_hours
    FROM ranked GROUP BY bucket
)
SELECT
    w.bucket,
    coalesce(p.failed_deployments, 0) AS failed_deployments,
    coalesce(m.recovered, 0) AS recovered,
    coalesce(p.open, 0) AS open,
    m.p50_hours,
    m.p90_hours
FROM metric_windows w
LEFT JOIN per_window p ON p.bucket = w.bucket
LEFT JOIN medians m ON m.bucket = w.bucket
ORDER BY w.bucket
