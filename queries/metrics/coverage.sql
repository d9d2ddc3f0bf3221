-- Data coverage of the window: how much of each number rests on linked data.
-- $1 = since, $2 = until.
SELECT
    (SELECT count(*) FROM scope_changes WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP) AS changes,
    (SELECT count(*) FROM scope_changes WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP AND pr_number IS NOT NULL) AS changes_with_pr,
    (SELECT count(*) FROM scope_changes WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP AND start_at IS NULL) AS changes_without_start,
    (SELECT count(*) FROM scope_prs WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP AND deployed_at IS NULL) AS prs_merged_not_deployed,
    -- Merged PRs without a single review record whose source could have
    -- had reviews: their pickup and review stages rest on the merge time
    -- alone (PRs recovered from git history have those stages unknown).
    (SELECT count(*) FROM scope_prs p WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP
        AND stages_known
        AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.repo = p.repo AND r.pr = p.number)) AS prs_without_reviews,
    (SELECT count(*) FROM scope_incidents WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP) AS incidents,
    (SELECT count(*) FROM scope_incidents i WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP
        AND EXISTS (SELECT 1 FROM link_incidents l WHERE l.incident_source = i.source AND l.incident_id = i.id)) AS incidents_attributed,
    -- Incidents none of whose services has a production deployment: an
    -- unmapped name from an incident tool (see `service_map`).
    (SELECT count(*) FROM scope_incidents i WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP
        AND NOT EXISTS (SELECT 1 FROM link_incident_services s JOIN link_deployments d ON d.service = s.service
                        WHERE s.incident_source = i.source AND s.incident_id = i.id)) AS incidents_unmapped
