-- Data coverage of each window of `metric_windows` (bucket, since, until):
-- how much of each number rests on linked data.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH c AS (
    SELECT w.bucket,
           count(*) AS changes,
           count(*) FILTER (WHERE c.pr_number IS NOT NULL) AS changes_with_pr,
           count(*) FILTER (WHERE c.start_at IS NULL) AS changes_without_start
    FROM metric_slots w JOIN (
        SELECT grp, deployed_at, pr_number, start_at FROM scope_changes
        WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP
    ) c ON c.grp = w.grp AND w.slot = metric_slot(c.deployed_at)
       AND c.deployed_at >= w.since AND c.deployed_at < w.until
    GROUP BY w.bucket
),
p AS (
    SELECT w.bucket,
           count(*) FILTER (WHERE p.deployed_at IS NULL) AS prs_merged_not_deployed,
           -- Merged PRs without a single review record whose source could
           -- have had reviews: their pickup and review stages rest on the
           -- merge time alone (PRs recovered from git history have those
           -- stages unknown).
           count(*) FILTER (WHERE p.stages_known AND p.reviews = 0) AS prs_without_reviews
    FROM metric_slots w JOIN (
        SELECT grp, merged_at, deployed_at, stages_known, reviews FROM scope_prs
        WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP
    ) p ON p.grp = w.grp AND w.slot = metric_slot(p.merged_at)
       AND p.merged_at >= w.since AND p.merged_at < w.until
    GROUP BY w.bucket
),
attributed AS (SELECT DISTINCT incident_source, incident_id FROM link_incidents),
-- Incidents one of whose services has a production deployment; the others
-- carry an unmapped name from an incident tool (see `service_map`).
mapped AS (
    SELECT DISTINCT incident_source, incident_id FROM link_incident_services
    WHERE service IN (SELECT service FROM link_deployments)
),
i AS (
    SELECT w.bucket,
           count(*) AS incidents,
           count(a.incident_id) AS incidents_attributed,
           count(*) FILTER (WHERE m.incident_id IS NULL) AS incidents_unmapped
    FROM metric_slots w JOIN (
        SELECT grp, source, id, created_at FROM scope_incidents
        WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP
    ) i ON i.grp = w.grp AND w.slot = metric_slot(i.created_at)
       AND i.created_at >= w.since AND i.created_at < w.until
    LEFT JOIN attributed a ON a.incident_source = i.source AND a.incident_id = i.id
    LEFT JOIN mapped m ON m.incident_source = i.source AND m.incident_id = i.id
    GROUP BY w.bucket
)
SELECT
    w.bucket,
    coalesce(c.changes, 0) AS changes,
    coalesce(c.changes_with_pr, 0) AS changes_with_pr,
    coalesce(c.changes_without_start, 0) AS changes_without_start,
    coalesce(p.prs_merged_not_deployed, 0) AS prs_merged_not_deployed,
    coalesce(p.prs_without_reviews, 0) AS prs_without_reviews,
    coalesce(i.incidents, 0) AS incidents,
    coalesce(i.incidents_attributed, 0) AS incidents_attributed,
    coalesce(i.incidents_unmapped, 0) AS incidents_unmapped
FROM metric_windows w
LEFT JOIN c ON c.bucket = w.bucket
LEFT JOIN p ON p.bucket = w.bucket
LEFT JOIN i ON i.bucket = w.bucket
ORDER BY w.bucket
