-- Pull requests merged in the window with their value-stream stages in
-- hours. $1 = since, $2 = until.
SELECT repo, number, title, author, created_at, first_commit_at, ready_at, first_review_at,
       merged_at, deployed_at, coding_hours, pickup_hours, review_hours, deploy_hours, cycle_hours
FROM scope_prs
WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP
ORDER BY merged_at, repo, number
