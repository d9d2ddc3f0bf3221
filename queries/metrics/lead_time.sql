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
-- One sort per window gives all three percentiles (a list quantile).
per_window AS (
    SELECT
        w.bucket,
        count(*) FILTER (WHERE t.hours > 0) AS changes,
        count(*) FILTER (WHERE t.hours <= 0) AS excluded,
        quantile_cont(t.hours, [0.5, 0.75, 0.9]) FILTER (WHERE t.hours > 0) AS q,
        avg(t.hours) FILTER (WHERE t.hours > 0) AS mean_hours
    FROM metric_slots w JOIN timed t ON t.grp = w.grp AND w.slot = metric_slot(t.deployed_at)
       AND t.deployed_at >= w.since AND t.deployed_at < w.until
    GROUP BY w.bucket
)
SELECT w.bucket, coalesce(p.changes, 0) AS changes, coalesce(p.excluded, 0) AS excluded,
       p.q[1] AS p50_hours, p.q[2] AS p75_hours, p.q[3] AS p90_hours, p.mean_hours
FROM metric_windows w LEFT JOIN per_window p ON p.bucket = w.bucket
ORDER BY w.bucket
