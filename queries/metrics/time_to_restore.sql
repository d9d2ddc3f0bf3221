-- Time to restore service, classic MTTR (METRICS.md, key 4, "also reported").
-- $1 = since, $2 = until. `incidents` were created in the window, `resolved`
-- were resolved in it; percentiles of resolved_at - created_at over the
-- resolved ones, attributed to a deployment or not.
SELECT
    count(*) FILTER (WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP) AS incidents,
    count(*) FILTER (WHERE resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP) AS resolved,
    quantile_cont(date_diff('microsecond', created_at, resolved_at) / 3600000000.0, 0.5)
        FILTER (WHERE resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP) AS p50_hours,
    quantile_cont(date_diff('microsecond', created_at, resolved_at) / 3600000000.0, 0.9)
        FILTER (WHERE resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP) AS p90_hours
FROM scope_incidents
