-- The records behind each compared headline by the `devlake` profile
-- (queries/metrics/devlake/, over the devlake_* views), one value per
-- record, for the noise-aware deltas. $1 = since, $2 = until.
SELECT 'lead_time' AS metric, cycle_minutes / 60.0 AS value
FROM devlake_prs
WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
UNION ALL
SELECT 'recovery_time', recovery_minutes / 60.0
FROM devlake_incidents
WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
  AND resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP
UNION ALL
SELECT 'time_to_restore', trunc(date_diff('microsecond', created_at, resolved_at) / 60000000.0) / 60.0
FROM scope_incidents
WHERE resolved_at >= $1::TIMESTAMP AND resolved_at < $2::TIMESTAMP
