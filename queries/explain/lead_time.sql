-- The changes behind the lead time: each change first deployed in the
-- window, slowest first, with where it sits in the distribution
-- (`percentile` 0.5 is the median). `owners` and `files` (the first five
-- paths) are the commit's, else its pull request's, where a source gave
-- them: what a team's `owners` and `paths` match. $1 = since, $2 = until.
SELECT c.service, c.repo, c.sha, c.pr_number,
       c.deployment_id, c.deployed_at, c.start_at,
       round(date_diff('microsecond', c.start_at, c.deployed_at) / 3600000000.0, 2) AS lead_time_hours,
       round(percent_rank() OVER (ORDER BY date_diff('microsecond', c.start_at, c.deployed_at)), 3) AS percentile,
       coalesce(k.owners, q.owners) AS owners, coalesce(k.files, q.files)[1:5] AS files
FROM scope_changes c
LEFT JOIN commits k ON k.repo = c.repo AND k.sha = c.sha
LEFT JOIN pull_requests q ON q.repo = c.repo AND q.number = c.pr_number
WHERE c.deployed_at >= $1::TIMESTAMP AND c.deployed_at < $2::TIMESTAMP
  AND c.start_at IS NOT NULL AND c.deployed_at > c.start_at
ORDER BY lead_time_hours DESC, c.service, c.sha
