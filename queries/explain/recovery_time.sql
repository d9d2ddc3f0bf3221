-- Each failed deployment of the window and its recovery: the latest
-- resolution of its incidents, else the rollback that replaced it; `open`
-- while an attributed incident is unresolved. $1 = since, $2 = until.
SELECT finished_at, service, id, recovered_at,
       round(date_diff('microsecond', finished_at, recovered_at) / 3600000000.0, 2) AS recovery_hours,
       open, incidents, rolled_back_by
FROM scope_deployments
WHERE failed AND finished_at >= $1::TIMESTAMP AND finished_at < $2::TIMESTAMP
ORDER BY recovery_hours DESC NULLS FIRST, finished_at
