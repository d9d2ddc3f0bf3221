-- Incidents opened or resolved in the window, longest first. Time to
-- restore counts the resolved ones; `incidents` the opened ones.
-- $1 = since, $2 = until.
SELECT i.source, i.id, i.title, i.severity, i.services, i.created_at, i.resolved_at,
       round(date_diff('microsecond', i.created_at, i.resolved_at) / 3600000000.0, 2) AS restore_hours,
       i.created_at >= $1::TIMESTAMP AND i.created_at < $2::TIMESTAMP AS opened_in_window,
       i.resolved_at >= $1::TIMESTAMP AND i.resolved_at < $2::TIMESTAMP AS resolved_in_window,
       (SELECT string_agg(l.deployment_id, '; ') FROM link_incidents l
         WHERE l.incident_source = i.source AND l.incident_id = i.id) AS attributed_to
FROM scope_incidents i
WHERE (i.created_at >= $1::TIMESTAMP AND i.created_at < $2::TIMESTAMP)
   OR (i.resolved_at >= $1::TIMESTAMP AND i.resolved_at < $2::TIMESTAMP)
ORDER BY restore_hours DESC NULLS FIRST, i.created_at
