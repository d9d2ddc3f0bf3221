-- The failures behind the change failure rate by the `four-keys` profile:
-- each (deployment, change, incident) row of a deployment in the window
-- whose change is the incident's root cause; each row counts once.
-- $1 = since, $2 = until.
SELECT c.deployed_at, c.deployment_id, c.sha AS root_cause, i.source AS incident_source, i.id AS incident_id, i.title
FROM fourkeys_changes c
JOIN fourkeys_incidents i ON i.grp = c.grp AND i.root_cause = c.sha
WHERE c.deployed_at >= $1::TIMESTAMP AND c.deployed_at < $2::TIMESTAMP
ORDER BY c.deployed_at, c.deployment_id, i.id
