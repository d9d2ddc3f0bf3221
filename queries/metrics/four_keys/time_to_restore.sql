-- Time to restore by Google Four Keys' rules (docs/PROFILES.md §5, panel
-- "Median Time to Restore Services"): the incidents whose start falls in
-- the window, the start being the earlier of their creation and the
-- first deployment of their root cause (fourkeys_incidents); start ->
-- resolved in whole hours truncated (TIMESTAMP_DIFF HOUR), interpolated
-- percentiles; an unresolved incident has no value. `incidents` counts
-- them all, `resolved` those with a value.
-- One row per window of `metric_windows`; $1/$2 = the span of all windows.
WITH i AS (
    SELECT w.bucket, i.restore_hours AS hours
    FROM metric_windows w JOIN (
        SELECT grp, started_at, restore_hours FROM fourkeys_incidents
        WHERE started_at >= $1::TIMESTAMP AND started_at < $2::TIMESTAMP
    ) i ON i.grp = w.grp AND i.started_at >= w.since AND i.started_at < w.until
)
SELECT
    w.bucket,
    count(i.bucket) AS incidents,
    count(i.hours) AS resolved,
    quantile_cont(i.hours, 0.5) AS p50_hours,
    quantile_cont(i.hours, 0.9) AS p90_hours
FROM metric_windows w LEFT JOIN i ON i.bucket = w.bucket
GROUP BY w.bucket
ORDER BY w.bucket
