-- The (deployment, change) rows behind the lead time by the `four-keys`
-- profile: each change of a deployment in the window, in whole minutes
-- (truncated), slowest first; `counted` is false for values <= 0, which
-- Four Keys leaves out. $1 = since, $2 = until.
SELECT c.deployment_id, c.deployed_at, c.sha, c.changed_at,
       c.lead_minutes AS lead_time_minutes,
       coalesce(c.lead_minutes > 0, false) AS counted
FROM fourkeys_changes c
WHERE c.deployed_at >= $1::TIMESTAMP AND c.deployed_at < $2::TIMESTAMP
ORDER BY lead_time_minutes DESC NULLS LAST, c.deployed_at, c.sha
