-- Incidents opened or resolved in the window, with the deployments they are
-- attributed to. $1 = since, $2 = until.
SELECT i.source, i.id, i.title, i.severity, i.services, i.created_at, i.acknowledged_at, i.resolved_at,
       date_diff('microsecond', i.created_at, i.resolved_at) / 3600000000.0 AS restore_hours,
       (SELECT string_agg(l.deployment_source || '/' || l.deployment_id, '; ') FROM link_incidents l
         WHERE l.incident_source = i.source AND l.incident_id = i.id) AS attributed_to
FROM scope_incidents i
WHERE (i.created_at >= $1::TIMESTAMP AND i.created_at < $2::TIMESTAMP)
   OR (i.resolved_at >= $1::TIMESTAMP AND i.resolved_at < $2::TIMESTAMP)
ORDER BY i.created_at, i.source, i.id
