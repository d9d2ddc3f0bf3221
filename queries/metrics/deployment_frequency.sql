-- Deployment frequency (METRICS.md, key 1).
-- $1 = since, $2 = until (UTC, the window is [since, until)).
-- A deployment is a production deployment with status success
-- (scope_deployments holds exactly those, after the user's filters).
-- Full weeks are the ISO weeks (Monday 00:00 UTC) inside the window; a week
-- without deployments counts as 0 in the medians.
WITH d AS (
    SELECT finished_at FROM scope_deployments
    WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
),
full_weeks AS (
    SELECT w AS week_start
    FROM range(date_trunc('week', $1::TIMESTAMP), $2::TIMESTAMP, INTERVAL 7 DAY) t(w)
    WHERE w >= $1::TIMESTAMP AND w + INTERVAL 7 DAY <= $2::TIMESTAMP
),
per_week AS (
    SELECT week_start,
           count(d.finished_at) AS deployments,
           count(DISTINCT CAST(d.finished_at AS DATE)) AS deploy_days
    FROM full_weeks LEFT JOIN d
      ON d.finished_at >= week_start AND d.finished_at < week_start + INTERVAL 7 DAY
    GROUP BY week_start
)
SELECT
    (SELECT count(*) FROM d) AS deployments,
    (SELECT count(DISTINCT CAST(finished_at AS DATE)) FROM d) AS deploy_days,
    (SELECT count(*) FROM full_weeks) AS full_weeks,
    (SELECT quantile_cont(deploy_days, 0.5) FROM per_week) AS median_deploy_days_per_week,
    (SELECT quantile_cont(deployments, 0.5) FROM per_week) AS median_deployments_per_week
