-- Deployments of the window that a reader should know about: rollbacks,
-- hotfixes and failed deployments, with what failed them. $1 = since, $2 = until.
SELECT source, id, service, repo, commit_sha, epoch_us(finished_at) AS finished_us, kind,
       is_rollback, failed, open, rolled_back_by, incidents,
       epoch_us(recovered_at) AS recovered_us, changes, rework
FROM scope_deployments
WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
  AND (is_rollback OR kind = 'hotfix' OR failed)
ORDER BY finished_at, source, id
