-- The stage boundaries of each pull request merged in the window, for PR
-- stages counted in working hours (crates/analysis/src/working.rs). Times
-- are microseconds since the epoch; a stage that is NULL in link_prs (not
-- defined, or unknowable) has NULL bounds here. $1 = since, $2 = until.
SELECT
    CASE WHEN coding_hours IS NOT NULL THEN epoch_us(first_commit_at) END AS coding_from,
    CASE WHEN coding_hours IS NOT NULL THEN epoch_us(ready_at) END AS coding_to,
    CASE WHEN pickup_hours IS NOT NULL THEN epoch_us(ready_at) END AS pickup_from,
    CASE WHEN pickup_hours IS NOT NULL THEN epoch_us(coalesce(first_review_at, merged_at)) END AS pickup_to,
    CASE WHEN review_hours IS NOT NULL THEN epoch_us(coalesce(first_review_at, merged_at)) END AS review_from,
    CASE WHEN review_hours IS NOT NULL THEN epoch_us(merged_at) END AS review_to,
    CASE WHEN deploy_hours IS NOT NULL THEN epoch_us(merged_at) END AS deploy_from,
    CASE WHEN deploy_hours IS NOT NULL THEN epoch_us(deployed_at) END AS deploy_to,
    CASE WHEN cycle_hours IS NOT NULL THEN epoch_us(first_commit_at) END AS cycle_from,
    CASE WHEN cycle_hours IS NOT NULL THEN epoch_us(deployed_at) END AS cycle_to
FROM scope_prs
WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP
ORDER BY repo, number
