-- The failed deployments of the window and what failed them: the incidents
-- attributed to each, or the rollback that undid it. $1 = since, $2 = until.
SELECT d.finished_at, d.service, d.id, d.commit_sha, d.kind,
       (SELECT string_agg(l.incident_id || coalesce(' ' || i.title, ''), '; ' ORDER BY l.incident_id)
          FROM link_incidents l JOIN incidents i ON i.source = l.incident_source AND i.id = l.incident_id
         WHERE l.deployment_source = d.source AND l.deployment_id = d.id) AS incidents,
       d.rolled_back_by
FROM scope_deployments d
WHERE d.failed AND d.finished_at >= $1::TIMESTAMP AND d.finished_at < $2::TIMESTAMP
ORDER BY d.finished_at, d.service, d.id
