-- Deployment frequency (METRICS.md, key 1).
-- One row per window of `metric_windows` (bucket, since, until: UTC, each
-- window is [since, until); grp: the group whose scope rows it counts, ''
-- when not grouped); $1/$2 = the span of all windows (the earliest since,
-- the latest until: lets each scan skip what no window needs).
-- A deployment is a production deployment with status success
-- (scope_deployments holds exactly those, after the user's filters).
-- Full weeks are the ISO weeks (Monday 00:00 UTC) inside a window; a week
-- without deployments counts as 0 in the medians.
WITH d AS (
    SELECT w.bucket, d.finished_at
    FROM metric_slots w JOIN (
        SELECT grp, finished_at FROM scope_deployments
        WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
    ) d ON d.grp = w.grp AND w.slot = metric_slot(d.finished_at)
       AND d.finished_at >= w.since AND d.finished_at < w.until
),
full_weeks AS (
    SELECT w.bucket, r.week_start
    FROM metric_windows w
    JOIN range(date_trunc('week', $1::TIMESTAMP), $2::TIMESTAMP, INTERVAL 7 DAY) r(week_start)
      ON r.week_start >= w.since AND r.week_start + INTERVAL 7 DAY <= w.until
),
per_week AS (
    SELECT f.bucket, f.week_start,
           count(d.finished_at) AS deployments,
           count(DISTINCT CAST(d.finished_at AS DATE)) AS deploy_days
    FROM full_weeks f LEFT JOIN d
      ON d.bucket = f.bucket AND date_trunc('week', d.finished_at) = f.week_start
    GROUP BY f.bucket, f.week_start
),
totals AS (
    SELECT bucket, count(*) AS deployments,
           count(DISTINCT CAST(finished_at AS DATE)) AS deploy_days
    FROM d GROUP BY bucket
),
weekly AS (
    SELECT bucket, count(*) AS full_weeks,
           quantile_cont(deploy_days, 0.5) AS median_deploy_days_per_week,
           quantile_cont(deployments, 0.5) AS median_deployments_per_week
    FROM per_week GROUP BY bucket
)
SELECT
    w.bucket,
    coalesce(t.deployments, 0) AS deployments,
    coalesce(t.deploy_days, 0) AS deploy_days,
    coalesce(k.full_weeks, 0) AS full_weeks,
    k.median_deploy_days_per_week,
    k.median_deployments_per_week
FROM metric_windows w
LEFT JOIN totals t ON t.bucket = w.bucket
LEFT JOIN weekly k ON k.bucket = w.bucket
ORDER BY w.bucket
