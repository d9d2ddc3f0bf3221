-- Change failure rate (METRICS.md, key 3).
-- $1 = since, $2 = until. `failed` is materialised by linking: an incident
-- is attributed to the deployment, or a rollback undid it.
SELECT
    count(*) AS deployments,
    count(*) FILTER (WHERE failed) AS failed
FROM scope_deployments
WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
