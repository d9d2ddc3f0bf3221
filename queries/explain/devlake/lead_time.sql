-- The pull requests behind the lead time by the `devlake` profile: each
-- one whose deployment finished in the window, with DevLake's spans in
-- whole minutes (a NULL part counts 0 in the cycle), slowest first, and
-- where it sits in the distribution (`percentile` 0.5: DevLake's lower
-- median is the largest cycle at or under it). $1 = since, $2 = until.
SELECT p.repo, p.number, p.merged_at, p.deployed_at,
       p.coding_minutes, p.open_minutes, p.deploy_minutes, p.cycle_minutes,
       round(p.cycle_minutes / 60.0, 2) AS lead_time_hours,
       round(percent_rank() OVER (ORDER BY p.cycle_minutes), 3) AS percentile
FROM devlake_prs p
WHERE p.deployed_at >= $1::TIMESTAMP AND p.deployed_at < $2::TIMESTAMP
ORDER BY p.cycle_minutes DESC, p.repo, p.number
