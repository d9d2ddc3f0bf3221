-- The records behind the PR cycle time and each of its stages, for the
-- noise-aware deltas, after the keys' samples of the profile (samples.sql,
-- samples_devlake.sql or samples_four_keys.sql; UNION ALL).
-- $1 = since, $2 = until.
-- The PR cycle and each stage, where defined (UNPIVOT drops NULLs).
SELECT CASE stage WHEN 'cycle_hours' THEN 'cycle_time' ELSE replace(stage, '_hours', '') END,
       hours
FROM (UNPIVOT (SELECT coding_hours, pickup_hours, review_hours, deploy_hours, cycle_hours
               FROM scope_prs
               WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP)
      ON coding_hours, pickup_hours, review_hours, deploy_hours, cycle_hours
      INTO NAME stage VALUE hours)
