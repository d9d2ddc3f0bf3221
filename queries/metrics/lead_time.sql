-- Lead time for changes (METRICS.md, key 2).
-- $1 = since, $2 = until. A change is one (service, commit) with the
-- deployment that first brought it to production (link_changes); its start
-- is the PR's first commit time, else the commit's authored_at (start_at).
-- Changes with an unknown start are left out; values <= 0 are excluded.
WITH c AS (
    SELECT date_diff('microsecond', start_at, deployed_at) / 3600000000.0 AS hours
    FROM scope_changes
    WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
      AND start_at IS NOT NULL
)
SELECT
    count(*) FILTER (WHERE hours > 0) AS changes,
    count(*) FILTER (WHERE hours <= 0) AS excluded,
    quantile_cont(hours, 0.5) FILTER (WHERE hours > 0) AS p50_hours,
    quantile_cont(hours, 0.75) FILTER (WHERE hours > 0) AS p75_hours,
    quantile_cont(hours, 0.9) FILTER (WHERE hours > 0) AS p90_hours,
    avg(hours) FILTER (WHERE hours > 0) AS mean_hours
FROM c
