-- Incidents opened in the window, with the deployments they are attributed
-- to (one row per incident and attributed deployment). $1 = since, $2 = until.
SELECT i.source, i.id, i.title, i.severity, i.services, epoch_us(i.created_at) AS created_us,
       epoch_us(i.resolved_at) AS resolved_us,
       l.deployment_id, l.how, d.service AS deployment_service, epoch_us(d.finished_at) AS deployed_us
FROM scope_incidents i
LEFT JOIN link_incidents l ON l.incident_source = i.source AND l.incident_id = i.id
LEFT JOIN link_deployments d ON d.source = l.deployment_source AND d.id = l.deployment_id
WHERE i.created_at >= $1::TIMESTAMP AND i.created_at < $2::TIMESTAMP
ORDER BY i.created_at, i.source, i.id
