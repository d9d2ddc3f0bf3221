-- Deployment frequency by Apache DevLake's rules (docs/PROFILES.md §4.2,
-- panel "Deployment Frequency"). A window [since, until) is Grafana's range
-- [since, until - 1 s]; its calendar is DevLake's: each day
-- date(until - 1 s - n days) while that instant is after `since` (n < 400),
-- so partial weeks and months at the edges count. Weeks start on Monday,
-- months are calendar months. A deployment's day is the UTC date it
-- finished. Medians are lower ones (`percent_rank() <= 0.5`).
-- `deployments` and `deploy_days` are the window's own; `full_weeks` the
-- calendar's weeks, partial ones included.
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH calendar AS (
    SELECT w.bucket, w.grp,
           CAST(w.until - INTERVAL 1 SECOND - to_days(CAST(r.n AS INTEGER)) AS DATE) AS day
    FROM metric_windows w, range(0, 400) r(n)
    WHERE w.until - INTERVAL 1 SECOND - to_days(CAST(r.n AS INTEGER)) > w.since
),
days AS (
    SELECT grp, CAST(finished_at AS DATE) AS day, count(*) AS deployments
    FROM scope_deployments
    WHERE finished_at >= date_trunc('day', $1::TIMESTAMP)
      AND finished_at < date_trunc('day', $2::TIMESTAMP - INTERVAL 1 SECOND) + INTERVAL 1 DAY
    GROUP BY ALL
),
marked AS (
    SELECT c.bucket, c.day, d.day IS NOT NULL AS deployed, coalesce(d.deployments, 0) AS deployments
    FROM calendar c LEFT JOIN days d ON d.grp = c.grp AND d.day = c.day
),
weeks AS (
    SELECT bucket, count(*) FILTER (WHERE deployed) AS days, sum(deployments) AS deployments
    FROM marked GROUP BY bucket, date_trunc('week', day)
),
months AS (
    SELECT bucket, count(*) FILTER (WHERE deployed) AS days
    FROM marked GROUP BY bucket, date_trunc('month', day)
),
weekly AS (
    SELECT bucket, count(*) AS weeks,
           max(days) FILTER (WHERE days_rank <= 0.5) AS median_days,
           max(deployments) FILTER (WHERE deployments_rank <= 0.5) AS median_deployments
    FROM (SELECT *, percent_rank() OVER (PARTITION BY bucket ORDER BY days) AS days_rank,
                    percent_rank() OVER (PARTITION BY bucket ORDER BY deployments) AS deployments_rank
          FROM weeks)
    GROUP BY bucket
),
monthly AS (
    SELECT bucket, max(days) FILTER (WHERE rank <= 0.5) AS median_days
    FROM (SELECT *, percent_rank() OVER (PARTITION BY bucket ORDER BY days) AS rank FROM months)
    GROUP BY bucket
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
    m.median_days AS median_deploy_days_per_month
FROM metric_windows w
LEFT JOIN totals t ON t.bucket = w.bucket
LEFT JOIN weekly k ON k.bucket = w.bucket
LEFT JOIN monthly m ON m.bucket = w.bucket
ORDER BY w.bucket
