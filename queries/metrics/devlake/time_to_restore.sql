-- Time to restore by Apache DevLake's rules (its 2021 "median time to
-- restore service", docs/PROFILES.md §4.2): over the scope's incidents
-- resolved in the window, created -> resolved in whole minutes truncated
-- (`lead_time_minutes`), lower medians. `incidents` were created in the
-- window.
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH opened AS (
    SELECT w.bucket, count(*) AS incidents
    FROM metric_windows w JOIN (
        SELECT grp, created_at FROM scope_incidents
        WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP
    ) i ON i.grp = w.grp AND i.created_at >= w.since AND i.created_at < w.until
    GROUP BY w.bucket
),
ranked AS (
    SELECT w.bucket, i.hours, percent_rank() OVER (PARTITION BY w.bucket ORDER BY i.hours) AS rank
    FROM metric_windows w JOIN (
        SELECT grp, resolved_at,
               trunc(date_diff('microsecond', created_at, resolved_at) / 60000000.0) / 60.0 AS hours
        FROM scope_incidents
        WHERE resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP
    ) i ON i.grp = w.grp AND i.resolved_at >= w.since AND i.resolved_at < w.until
),
restored AS (
    SELECT bucket, count(*) AS resolved,
           max(hours) FILTER (WHERE rank <= 0.5) AS p50_hours,
           max(hours) FILTER (WHERE rank <= 0.9) AS p90_hours
    FROM ranked GROUP BY bucket
)
SELECT
    w.bucket,
    coalesce(o.incidents, 0) AS incidents,
    coalesce(r.resolved, 0) AS resolved,
    r.p50_hours,
    r.p90_hours
FROM metric_windows w
LEFT JOIN opened o ON o.bucket = w.bucket
LEFT JOIN restored r ON r.bucket = w.bucket
ORDER BY w.bucket
