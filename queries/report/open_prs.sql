-- Pull requests open at the end of the window (work in progress), oldest
-- first: created before `until`, neither merged nor closed by then.
-- $1 = since (unused), $2 = until.
SELECT p.repo, p.number, p.title, p.author,
       date_diff('microsecond', p.created_at, $2::TIMESTAMP) / 3600000000.0 AS age_hours
FROM scope_prs p
JOIN pull_requests r ON r.repo = p.repo AND r.number = p.number
WHERE p.created_at < $2::TIMESTAMP AND $1::TIMESTAMP IS NOT NULL
  AND (r.merged_at IS NULL OR r.merged_at >= $2::TIMESTAMP)
  AND (r.closed_at IS NULL OR r.closed_at >= $2::TIMESTAMP)
ORDER BY p.created_at, p.repo, p.number
