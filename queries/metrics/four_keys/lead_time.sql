-- Lead time for changes by Google Four Keys' rules (docs/PROFILES.md §5,
-- panel "Lead Time to Change Bucket"): one value per (deployment, change)
-- of the deployments in the window (fourkeys_changes): the deployment's
-- time minus the change's, in whole minutes truncated (BigQuery
-- TIMESTAMP_DIFF); values <= 0 are left out ("automated pushes") and
-- counted in `excluded`. Percentiles are interpolated (PERCENTILE_CONT).
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH c AS (
    SELECT w.bucket, c.lead_minutes AS minutes
    FROM metric_windows w JOIN (
        SELECT grp, deployed_at, lead_minutes FROM fourkeys_changes
        WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP AND lead_minutes IS NOT NULL
    ) c ON c.grp = w.grp AND c.deployed_at >= w.since AND c.deployed_at < w.until
)
SELECT bucket, changes, excluded,
       q[1] / 60.0 AS p50_hours, q[2] / 60.0 AS p75_hours, q[3] / 60.0 AS p90_hours, mean_hours
FROM (
    SELECT
        w.bucket,
        count(c.minutes) FILTER (WHERE c.minutes > 0) AS changes,
        count(c.minutes) FILTER (WHERE c.minutes <= 0) AS excluded,
        quantile_cont(c.minutes, [0.5, 0.75, 0.9]) FILTER (WHERE c.minutes > 0) AS q,
        avg(c.minutes) FILTER (WHERE c.minutes > 0) / 60.0 AS mean_hours
    FROM metric_windows w LEFT JOIN c ON c.bucket = w.bucket
    GROUP BY w.bucket
) per_window
ORDER BY bucket
