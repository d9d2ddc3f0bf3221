-- Lead time for changes (METRICS.md, key 2).
-- One row per window of `metric_windows` (bucket, since, until). A change
-- is one (service, commit) with the deployment that first brought it to
-- production (link_changes); its start is the PR's first commit time, else
-- the commit's authored_at (start_at). Changes with an unknown start are
-- left out; values <= 0 are excluded.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH timed AS (
    SELECT grp, deployed_at, date_diff('microsecond', start_at, deployed_at) / 3600000000.0 AS hours
    FROM scope_changes
    WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP AND start_at IS NOT NULL
),
c AS (
    SELECT w.bucket, t.hours
    FROM metric_windows w JOIN timed t ON t.grp = w.grp AND t.deployed_at >= w.since AND t.deployed_at < w.until
)
-- One sort per window gives all three percentiles (a list quantile).
SELECT bucket, changes, excluded,
       q[1] AS p50_hours, q[2] AS p75_hours, q[3] AS p90_hours, mean_hours
FROM (
    SELECT
        w.bucket,
        count(c.hours) FILTER (WHERE c.hours > 0) AS changes,
        count(c.hours) FILTER (WHERE c.hours <= 0) AS excluded,
        quantile_cont(c.hours, [0.5, 0.75, 0.9]) FILTER (WHERE c.hours > 0) AS q,
        avg(c.hours) FILTER (WHERE c.hours > 0) AS mean_hours
    FROM metric_windows w LEFT JOIN c ON c.bucket = w.bucket
    GROUP BY w.bucket
) per_window
ORDER BY bucket
