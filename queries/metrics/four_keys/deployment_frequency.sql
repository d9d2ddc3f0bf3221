-- Deployment frequency by Google Four Keys' rules (docs/PROFILES.md §5,
-- panel "Deployment Frequency"). The calendar is the window's days (Four
-- Keys: the last three months to today); weeks start on Sunday (BigQuery
-- TIMESTAMP_TRUNC WEEK), partial ones at the edges count. Per week: the
-- days with a deployment and whether it had one (`week_deployed`); per
-- week, the deployed weeks of its start's month. Medians are interpolated
-- (PERCENTILE_CONT). The tier reads them: Daily (elite) when the median
-- deploy days per week is >= 3, Weekly (high) when the median of
-- week_deployed is >= 1, Monthly (medium) when the median deployed weeks
-- per month is >= 1, else Yearly (low).
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH calendar AS (
    SELECT w.bucket, w.grp, CAST(r.day AS DATE) AS day
    FROM metric_windows w,
         range(date_trunc('day', w.since), w.until, INTERVAL 1 DAY) r(day)
),
days AS (
    SELECT grp, CAST(finished_at AS DATE) AS day, count(*) AS deployments
    FROM scope_deployments
    WHERE finished_at >= date_trunc('day', $1::TIMESTAMP)
      AND finished_at < date_trunc('day', $2::TIMESTAMP - INTERVAL 1 MICROSECOND) + INTERVAL 1 DAY
    GROUP BY ALL
),
weeks AS (
    SELECT c.bucket, c.day - CAST(dayofweek(c.day) AS INTEGER) AS week,
           count(d.day) AS days, coalesce(sum(d.deployments), 0) AS deployments
    FROM calendar c LEFT JOIN days d ON d.grp = c.grp AND d.day = c.day
    GROUP BY ALL
),
monthly AS (
    SELECT *, CASE WHEN days > 0 THEN 1 ELSE 0 END AS deployed,
           sum(CASE WHEN days > 0 THEN 1 ELSE 0 END) OVER (PARTITION BY bucket, date_trunc('month', week)) AS month_weeks
    FROM weeks
),
weekly AS (
    SELECT bucket, count(*) AS weeks,
           quantile_cont(days, 0.5) AS median_days,
           quantile_cont(deployments, 0.5) AS median_deployments,
           quantile_cont(deployed, 0.5) AS median_week_deployed,
           quantile_cont(month_weeks, 0.5) AS median_month_weeks
    FROM monthly GROUP BY bucket
),
totals AS (
    SELECT w.bucket, count(*) AS deployments, count(DISTINCT CAST(d.finished_at AS DATE)) AS deploy_days
    FROM metric_windows w JOIN (
        SELECT grp, finished_at FROM scope_deployments
        WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
    ) d ON d.grp = w.grp AND d.finished_at >= w.since AND d.finished_at < w.until
    GROUP BY w.bucket
)
SELECT
    w.bucket,
    coalesce(t.deployments, 0) AS deployments,
    coalesce(t.deploy_days, 0) AS deploy_days,
    coalesce(k.weeks, 0) AS full_weeks,
    k.median_days AS median_deploy_days_per_week,
    k.median_deployments AS median_deployments_per_week,
    k.median_week_deployed,
    k.median_month_weeks AS median_deployed_weeks_per_month
FROM metric_windows w
LEFT JOIN totals t ON t.bucket = w.bucket
LEFT JOIN weekly k ON k.bucket = w.bucket
ORDER BY w.bucket
