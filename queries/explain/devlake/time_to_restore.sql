-- Incidents opened or resolved in the window by the `devlake` profile,
-- longest first: created -> resolved in whole minutes (truncated), and
-- the deployment DevLake puts each on. $1 = since, $2 = until.
SELECT i.source, i.id, i.title, i.severity, i.services, i.created_at, i.resolved_at,
       CAST(trunc(date_diff('microsecond', i.created_at, i.resolved_at) / 60000000.0) AS BIGINT) AS restore_minutes,
       i.created_at >= $1::TIMESTAMP AND i.created_at < $2::TIMESTAMP AS opened_in_window,
       i.resolved_at >= $1::TIMESTAMP AND i.resolved_at < $2::TIMESTAMP AS resolved_in_window,
       a.deployment_id AS attributed_to
FROM scope_incidents i
LEFT JOIN devlake_incidents a ON a.grp = i.grp AND a.source = i.source AND a.id = i.id
WHERE (i.created_at >= $1::TIMESTAMP AND i.created_at < $2::TIMESTAMP)
   OR (i.resolved_at >= $1::TIMESTAMP AND i.resolved_at < $2::TIMESTAMP)
ORDER BY restore_minutes DESC NULLS FIRST, i.created_at
