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
-- `lead_minutes`: deployed - changed in whole minutes, truncated (BigQuery
-- TIMESTAMP_DIFF MINUTE); Four Keys leaves out values <= 0.
CREATE OR REPLACE TEMP VIEW fourkeys_changes AS
SELECT c.grp, c.deployment_source, c.deployment_id, c.deployed_at, c.sha, k.authored_at AS changed_at,
       CAST(trunc(date_diff('microsecond', k.authored_at, c.deployed_at) / 60000000.0) AS BIGINT) AS lead_minutes
FROM scope_changes c
LEFT JOIN commits k ON k.repo = c.repo AND k.sha = c.sha;

-- An incident's root cause as a stored commit's full sha: a short or
-- upper-case sha names the commit it is a prefix of (the first, if it is
-- ambiguous); a sha no stored commit has stays as given.
CREATE OR REPLACE TEMP VIEW fourkeys_causes AS
SELECT i.source, i.id, min(k.sha) AS sha
FROM (SELECT source, id, lower(root_cause) AS cause FROM incidents WHERE root_cause IS NOT NULL) i
JOIN commits k ON k.sha >= i.cause AND k.sha < i.cause || 'g'
GROUP BY i.source, i.id;

-- Each incident of the scope with Four Keys' start: the earlier of its
-- creation and the first deployment that shipped its root cause
-- (queries/incidents.sql: `MIN(IF(root.time_created < issue.time_created,
-- ...))`), and start -> resolved in whole hours, truncated (TIMESTAMP_DIFF
-- HOUR; NULL while unresolved).
CREATE OR REPLACE TEMP VIEW fourkeys_incidents AS
WITH caused AS (
    SELECT i.*, coalesce(f.sha, lower(i.root_cause)) AS cause
    FROM scope_incidents i LEFT JOIN fourkeys_causes f ON f.source = i.source AND f.id = i.id
),
started AS (
    SELECT i.grp, i.source, i.id, i.title, i.cause AS root_cause, i.created_at, i.resolved_at,
           least(i.created_at, coalesce(r.shipped_at, i.created_at)) AS started_at
    FROM caused i
    LEFT JOIN (SELECT grp, sha, min(deployed_at) AS shipped_at FROM scope_changes GROUP BY grp, sha) r
      ON r.grp = i.grp AND r.sha = i.cause
)
SELECT *, CAST(trunc(date_diff('microsecond', started_at, resolved_at) / 3600000000.0) AS BIGINT) AS restore_hours
FROM started;
