-- Counted deployments finished in the window with their failure, recovery
-- and rework state. $1 = since, $2 = until.
SELECT source, id, service, repo, commit_sha, finished_at, kind, is_rollback, rolled_back_by,
       incidents, failed, open, recovered_at,
       date_diff('microsecond', finished_at, recovered_at) / 3600000000.0 AS recovery_hours,
       changes, rework
FROM scope_deployments
WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
ORDER BY finished_at, service, source, id
