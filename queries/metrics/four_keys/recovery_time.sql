-- Failed deployment recovery time by the `four-keys` profile: Four Keys
-- has none (its fourth key is time to restore, see time_to_restore.sql),
-- so every window's row is empty and the metric says so (`missing`).
SELECT bucket, NULL::BIGINT AS failed_deployments, NULL::BIGINT AS recovered, NULL::BIGINT AS open,
       NULL::DOUBLE AS p50_hours, NULL::DOUBLE AS p90_hours
FROM metric_windows
ORDER BY bucket
