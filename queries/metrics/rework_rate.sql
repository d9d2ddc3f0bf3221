-- Rework rate (METRICS.md, key 5). $1 = since, $2 = until.
-- `rework` is materialised by linking: a rollback, kind=hotfix, or a
-- deployment whose changes (at least one) all belong to PRs with a rework
-- label (bug, hotfix, incident by default; configurable).
SELECT
    count(*) AS deployments,
    count(*) FILTER (WHERE rework) AS rework
FROM scope_deployments
WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
