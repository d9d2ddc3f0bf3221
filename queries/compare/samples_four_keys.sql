-- The records behind each compared headline by the `four-keys` profile
-- (queries/metrics/four_keys/, over the fourkeys_* views), one value per
-- record, for the noise-aware deltas. $1 = since, $2 = until.
SELECT 'lead_time' AS metric, minutes / 60.0 AS value
FROM (SELECT trunc(date_diff('microsecond', changed_at, deployed_at) / 60000000.0) AS minutes
      FROM fourkeys_changes
      WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP)
WHERE minutes > 0
UNION ALL
SELECT 'time_to_restore', trunc(date_diff('microsecond', started_at, resolved_at) / 3600000000.0)
FROM fourkeys_incidents
WHERE started_at >= $1::TIMESTAMP AND started_at < $2::TIMESTAMP AND resolved_at IS NOT NULL
