-- Pull requests merged in the window that waited longest: pickup plus
-- deploy queue (the two waiting stages). $1 = since, $2 = until.
SELECT repo, number, title, author, coding_hours, pickup_hours, review_hours, deploy_hours,
       coalesce(pickup_hours, 0) + coalesce(deploy_hours, 0) AS waiting_hours
FROM scope_prs
WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP
ORDER BY waiting_hours DESC, repo, number
LIMIT 5
