-- Changes first deployed in the window, with their start and lead time
-- (NULL when the start is unknown). $1 = since, $2 = until.
SELECT service, repo, sha, pr_number, deployment_source, deployment_id, deployed_at, start_at,
       date_diff('microsecond', start_at, deployed_at) / 3600000000.0 AS lead_time_hours
FROM scope_changes
WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
ORDER BY deployed_at, service, sha
