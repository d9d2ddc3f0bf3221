-- Lead time for changes by Apache DevLake's rules (docs/PROFILES.md §4.2,
-- panel "Median Lead Time for Changes In Hours"): over the pull requests
-- whose deployment finished in the window (devlake_prs, one row per PR),
-- their cycle time in whole minutes. Medians are DevLake's lower ones:
-- `max(x)` over the rows with `percent_rank() <= q`, the value at sorted
-- position floor((n - 1) q), never interpolated. No PR is excluded.
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH p AS (
    SELECT w.bucket, p.cycle_minutes / 60.0 AS hours
    FROM metric_windows w JOIN (
        SELECT grp, deployed_at, cycle_minutes FROM devlake_prs
        WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
    ) p ON p.grp = w.grp AND p.deployed_at >= w.since AND p.deployed_at < w.until
),
ranked AS (
    SELECT bucket, hours, percent_rank() OVER (PARTITION BY bucket ORDER BY hours) AS rank
    FROM p
)
SELECT
    w.bucket,
    count(r.hours) AS changes,
    0 AS excluded,
    max(r.hours) FILTER (WHERE r.rank <= 0.5) AS p50_hours,
    max(r.hours) FILTER (WHERE r.rank <= 0.75) AS p75_hours,
    max(r.hours) FILTER (WHERE r.rank <= 0.9) AS p90_hours,
    avg(r.hours) AS mean_hours
FROM metric_windows w LEFT JOIN ranked r ON r.bucket = w.bucket
GROUP BY w.bucket
ORDER BY w.bucket
