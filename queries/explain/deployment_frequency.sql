-- The deployments counted: production, successful, finished in the window.
-- $1 = since, $2 = until.
SELECT finished_at, service, repo, id, source, commit_sha, kind, changes
FROM scope_deployments
WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
ORDER BY finished_at, service, id
