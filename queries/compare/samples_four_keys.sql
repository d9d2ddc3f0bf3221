-- The records behind each compared headline by the `four-keys` profile
-- (queries/metrics/four_keys/, over the fourkeys_* views), one value per
-- record, for the noise-aware deltas. $1 = since, $2 = until.
SELECT 'lead_time' AS metric, lead_minutes / 60.0 AS value
FROM fourkeys_changes
WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP AND lead_minutes > 0
UNION ALL
SELECT 'time_to_restore', restore_hours
FROM fourkeys_incidents
WHERE started_at >= $1::TIMESTAMP AND started_at < $2::TIMESTAMP AND restore_hours IS NOT NULL
