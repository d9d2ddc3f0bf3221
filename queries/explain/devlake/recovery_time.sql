-- The incidents behind the recovery time by the `devlake` profile: each
-- incident on a deployment that finished in the window, from that finish
-- to its resolution in whole minutes (truncated); `counted` when it was
-- resolved in the window too. $1 = since, $2 = until.
SELECT i.deployment_id, i.deployed_at, i.source, i.id, i.created_at, i.resolved_at,
       i.recovery_minutes,
       coalesce(i.resolved_at >= $1::TIMESTAMP AND i.resolved_at < $2::TIMESTAMP, false) AS counted
FROM devlake_incidents i
WHERE i.deployed_at >= $1::TIMESTAMP AND i.deployed_at < $2::TIMESTAMP
ORDER BY recovery_minutes DESC NULLS FIRST, i.created_at
