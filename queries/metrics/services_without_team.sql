-- Services with a production deployment in a window (after the user's
-- filters) that no team claims by service or by repo, nor by code (a team's
-- `paths`/`owners` matched a change one of its deployments in the window
-- brought: `team_code`). `team_claims` (service, repo, since, until) holds
-- the services and repos of every team; a dated member's have its period
-- and count for a window they overlap.
-- One row per window of `metric_windows` and unclaimed service (none when
-- the config has no teams: the caller does not ask then).
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH d AS (
    SELECT DISTINCT w.bucket, w.since, w.until, d.service, d.repo
    FROM metric_slots w JOIN (
        SELECT grp, service, repo, finished_at FROM scope_deployments
        WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
    ) d ON d.grp = w.grp AND w.slot = metric_slot(d.finished_at)
       AND d.finished_at >= w.since AND d.finished_at < w.until
),
claimed AS (
    SELECT DISTINCT d.bucket, d.service, d.repo
    FROM d JOIN team_claims c
      ON (c.service = d.service OR c.repo = d.repo)
     AND (c.since IS NULL OR c.since < d.until)
     AND (c.until IS NULL OR c.until > d.since)
    UNION
    SELECT DISTINCT w.bucket, d.service, d.repo
    FROM metric_slots w
    JOIN (
        SELECT grp, source, id, service, repo, finished_at FROM scope_deployments
        WHERE finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
    ) d ON d.grp = w.grp AND w.slot = metric_slot(d.finished_at)
       AND d.finished_at >= w.since AND d.finished_at < w.until
    JOIN team_code t ON t.code_dep_source = d.source AND t.code_dep_id = d.id
)
SELECT DISTINCT d.bucket, d.service
FROM d LEFT JOIN claimed k
  ON k.bucket = d.bucket AND k.service = d.service
 AND coalesce(k.repo, '') = coalesce(d.repo, '')
WHERE k.bucket IS NULL
ORDER BY d.bucket, d.service
