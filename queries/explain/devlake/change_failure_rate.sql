-- The failed deployments of the window by the `devlake` profile: each
-- one with the incidents DevLake puts on it: those created after it
-- finished, up to the finish of the scope's next deployment.
-- $1 = since, $2 = until.
SELECT d.finished_at, d.service, d.id, d.commit_sha, d.kind,
       string_agg(i.id || coalesce(' ' || n.title, ''), '; ' ORDER BY i.id) AS incidents
FROM scope_deployments d
JOIN devlake_incidents i ON i.grp = d.grp AND i.deployment_source = d.source AND i.deployment_id = d.id
JOIN incidents n ON n.source = i.source AND n.id = i.id
WHERE d.finished_at >= $1::TIMESTAMP AND d.finished_at < $2::TIMESTAMP
GROUP BY ALL
ORDER BY d.finished_at, d.service, d.id
