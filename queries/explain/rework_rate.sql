-- The rework deployments of the window and why each counts: a rollback, a
-- hotfix, or every change from a PR with a rework label. $1 = since, $2 = until.
SELECT finished_at, service, id, commit_sha,
       CASE WHEN is_rollback THEN 'rollback' WHEN kind = 'hotfix' THEN 'hotfix'
            ELSE 'all changes from rework-labelled PRs' END AS why,
       changes
FROM scope_deployments
WHERE rework AND finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
ORDER BY finished_at, service, id
