-- The pull requests merged in the window that dominate one value-stream
-- stage: largest first, with their part of the stage's total.
-- $1 = since, $2 = until; STAGE is replaced by the stage's column.
SELECT repo, number, title, author, merged_at,
       round(STAGE, 2) AS hours,
       round(STAGE / nullif(sum(STAGE) OVER (), 0), 4) AS share_of_stage,
       round(coding_hours, 2) AS coding, round(pickup_hours, 2) AS pickup,
       round(review_hours, 2) AS review, round(deploy_hours, 2) AS deploy
FROM scope_prs
WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP AND STAGE IS NOT NULL
ORDER BY STAGE DESC, repo, number
