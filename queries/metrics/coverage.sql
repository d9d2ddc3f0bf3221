-- Data coverage of the window: how much of each number rests on linked data.
-- $1 = since, $2 = until.
SELECT
    (SELECT count(*) FROM scope_changes WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP) AS changes,
    (SELECT count(*) FROM scope_changes WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP AND pr_number IS NOT NULL) AS changes_with_pr,
    (SELECT count(*) FROM scope_changes WHERE deployed_at >= $1::TIMESTAMP AND deployed_at < $2::TIMESTAMP AND start_at IS NULL) AS changes_without_start,
    (SELECT count(*) FROM scope_prs WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP AND deployed_at IS NULL) AS prs_merged_not_deployed,
    (SELECT count(*) FROM scope_incidents WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP) AS incidents,
    (SELECT count(*) FROM scope_incidents i WHERE created_at >= $1::TIMESTAMP AND created_at < $2::TIMESTAMP
        AND EXISTS (SELECT 1 FROM link_incidents l WHERE l.incident_source = i.source AND l.incident_id = i.id)) AS incidents_attributed
