-- The incidents behind the time to restore by the `four-keys` profile:
-- each one starting in the window (the earlier of its creation and the
-- first deployment of its root cause), longest first, in whole hours
-- (truncated). $1 = since, $2 = until.
SELECT i.source, i.id, i.title, i.root_cause, i.created_at, i.started_at, i.resolved_at,
       i.restore_hours
FROM fourkeys_incidents i
WHERE i.started_at >= $1::TIMESTAMP AND i.started_at < $2::TIMESTAMP
ORDER BY restore_hours DESC NULLS FIRST, i.started_at
