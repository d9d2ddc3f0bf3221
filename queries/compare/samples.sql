-- The records behind each compared headline, one value per record, for the
-- noise-aware deltas (crates/analysis/src/delta.rs). $1 = since, $2 = until.
-- Each part selects exactly the records its metric query aggregates
-- (samples_devlake.sql, samples_four_keys.sql: the same keys by those
-- profiles); the PR stages (stages.sql) follow.
SELECT 'lead_time' AS metric,
       date_diff('microsecond', start_at, deployed_at) / 3600000000.0 AS value
FROM scope_changes
WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
  AND start_at IS NOT NULL AND deployed_at > start_at
UNION ALL
SELECT 'recovery_time', date_diff('microsecond', finished_at, recovered_at) / 3600000000.0
FROM scope_deployments
WHERE failed AND NOT open AND recovered_at IS NOT NULL
  AND finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
UNION ALL
SELECT 'time_to_restore', date_diff('microsecond', created_at, resolved_at) / 3600000000.0
FROM scope_incidents
WHERE resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP
