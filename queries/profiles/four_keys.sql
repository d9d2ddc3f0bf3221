-- Google Four Keys' linking rules (docs/PROFILES.md §5), for
-- `[metrics] profile = "four-keys"`: two views over the scope's relations
-- that the queries in queries/metrics/four_keys/ and queries/compare/
-- aggregate. Four Keys has no services or teams: here its "all" is the
-- scope (with --by, each group). Times are UTC.

-- The changes of each deployment: Four Keys takes the commits of the push
-- whose head was deployed; flowmeter knows the commits each deployment
-- first brought to production (scope_changes), which is the same for a
-- push-per-release flow. A change's time is its commit's own timestamp
-- (the push payload's `timestamp`; here the commit's authored_at), not
-- its pull request's first commit: NULL when the commit is not stored.
CREATE OR REPLACE TEMP VIEW fourkeys_changes AS
SELECT c.grp, c.deployment_source, c.deployment_id, c.deployed_at, c.sha, k.authored_at AS changed_at
FROM scope_changes c
LEFT JOIN commits k ON k.repo = c.repo AND k.sha = c.sha;

-- Each incident of the scope with Four Keys' start: the earlier of its
-- creation and the first deployment that shipped its root cause
-- (queries/incidents.sql: `MIN(IF(root.time_created < issue.time_created,
-- ...))`).
CREATE OR REPLACE TEMP VIEW fourkeys_incidents AS
SELECT i.grp, i.source, i.id, i.title, i.root_cause, i.created_at, i.resolved_at,
       least(i.created_at, coalesce(r.shipped_at, i.created_at)) AS started_at
FROM scope_incidents i
LEFT JOIN (SELECT grp, sha, min(deployed_at) AS shipped_at FROM scope_changes GROUP BY grp, sha) r
  ON r.grp = i.grp AND r.sha = i.root_cause;
