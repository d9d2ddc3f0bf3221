-- Failed deployment recovery time (METRICS.md, key 4).
-- $1 = since, $2 = until. For each failed deployment in the window: from its
-- finished_at to recovery (latest resolved_at of its incidents, else the
-- rollback that replaced it). A deployment with an unresolved incident is
-- open and left out of the percentiles; a recovery after the window counts.
WITH f AS (
    SELECT open, date_diff('microsecond', finished_at, recovered_at) / 3600000000.0 AS hours
    FROM scope_deployments
    WHERE failed AND finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
)
SELECT
    count(*) AS failed_deployments,
    count(hours) FILTER (WHERE NOT open) AS recovered,
    count(*) FILTER (WHERE open) AS open,
    quantile_cont(hours, 0.5) FILTER (WHERE NOT open) AS p50_hours,
    quantile_cont(hours, 0.9) FILTER (WHERE NOT open) AS p90_hours
FROM f
