-- Apache DevLake's linking rules (docs/PROFILES.md §4), for
-- `[metrics] profile = "devlake"`: two views over the scope's relations that
-- the queries in queries/metrics/devlake/ and queries/compare/ aggregate.
-- A DevLake "project" is the scope (the whole store, or what --team,
-- --service, --repo keep; with --by, each group). Times are UTC.

-- Each merged pull request of the scope with DevLake's spans, in whole
-- minutes rounded up (`math.Ceil`), a negative span NULL
-- (change_lead_time_calculator.go, computeTimeSpan):
--   coding: first commit -> created (no draft notion);
--   open:   created -> merged;
--   deploy: merged -> the finish of the deployment that brought its merge
--           commit, the earliest by start (then id) among the scope's
--           deployments that are not their service's first: a first
--           deployment has no previous one to diff against, so it brings no
--           changes;
--   cycle:  coding + open + deploy, a NULL part counting 0 (never NULL).
CREATE OR REPLACE TEMP VIEW devlake_prs AS
WITH merged AS (
    SELECT p.grp, p.repo, p.number, p.first_commit_at, p.created_at, p.merged_at, r.merge_commit_sha
    FROM scope_prs p JOIN pull_requests r ON r.repo = p.repo AND r.number = p.number
    WHERE p.merged_at IS NOT NULL
),
shipped AS (
    SELECT m.grp, m.repo, m.number, d.finished_at,
           row_number() OVER (PARTITION BY m.grp, m.repo, m.number
                              ORDER BY s.started_at ASC NULLS FIRST, d.id) AS nth
    FROM merged m
    JOIN scope_changes c ON c.sha = m.merge_commit_sha AND c.grp = m.grp
    JOIN scope_deployments d
      ON d.source = c.deployment_source AND d.id = c.deployment_id AND d.grp = c.grp AND d.seq > 0
    JOIN deployments s ON s.source = d.source AND s.id = d.id
),
spans AS (
    SELECT m.grp, m.repo, m.number, m.merged_at, s.finished_at AS deployed_at,
           CAST(ceil(date_diff('microsecond', m.first_commit_at, m.created_at) / 60000000.0) AS BIGINT) AS coding,
           CAST(ceil(date_diff('microsecond', m.created_at, m.merged_at) / 60000000.0) AS BIGINT) AS open,
           CAST(ceil(date_diff('microsecond', m.merged_at, s.finished_at) / 60000000.0) AS BIGINT) AS deploy
    FROM merged m
    LEFT JOIN shipped s ON s.grp = m.grp AND s.repo = m.repo AND s.number = m.number AND s.nth = 1
)
SELECT grp, repo, number, merged_at, deployed_at,
       CASE WHEN coding >= 0 THEN coding END AS coding_minutes,
       CASE WHEN open >= 0 THEN open END AS open_minutes,
       CASE WHEN deploy >= 0 THEN deploy END AS deploy_minutes,
       coalesce(CASE WHEN coding >= 0 THEN coding END, 0)
         + coalesce(CASE WHEN open >= 0 THEN open END, 0)
         + coalesce(CASE WHEN deploy >= 0 THEN deploy END, 0) AS cycle_minutes
FROM spans;

-- Each incident of the scope on the latest of the scope's deployments that
-- finished strictly before it was created, with no time window and no
-- service match (incident_deploy_connector.go: `finished_date < ?`,
-- newest first, limit 1; like DevLake, two deployments finishing at the
-- same instant are not told apart). An incident with no earlier deployment
-- has none. `recovery_minutes`: the deployment's finish -> the resolution,
-- in whole minutes truncated (MySQL TIMESTAMPDIFF MINUTE).
CREATE OR REPLACE TEMP VIEW devlake_incidents AS
SELECT i.grp, i.source, i.id, i.created_at, i.resolved_at,
       d.source AS deployment_source, d.id AS deployment_id, d.finished_at AS deployed_at,
       CAST(trunc(date_diff('microsecond', d.finished_at, i.resolved_at) / 60000000.0) AS BIGINT) AS recovery_minutes
FROM scope_incidents i
ASOF JOIN scope_deployments d ON d.grp = i.grp AND i.created_at > d.finished_at;
