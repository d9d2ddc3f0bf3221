-- Value stream of pull requests merged in a window (METRICS.md).
-- One row per window of `metric_windows` (bucket, since, until). Stages are
-- materialised per PR in link_prs, in hours and clamped at 0 (cycle is not
-- clamped). A stage's share is its sum over the merged PRs (an undeployed
-- PR's deploy stage counts 0) divided by the sum of all four stages. Shares
-- and flow efficiency rest only on PRs whose stages the source could know
-- (`stages_known`: not recovered from git history); the percentiles of a
-- stage are over the PRs where it is defined.
-- $1/$2 = the span of all windows (lets each scan skip what no window needs).
WITH merged AS (
    SELECT grp, merged_at, stages_known, cycle_hours, coding_hours, pickup_hours, review_hours, deploy_hours
    FROM scope_prs
    WHERE merged_at >= $1::TIMESTAMP AND merged_at < $2::TIMESTAMP
),
-- One sort per column gives its three percentiles (a list quantile).
per_window AS (
    SELECT
        w.bucket,
        count(*) AS prs,
        count(deploy_hours) AS deployed,
        sum(coding_hours + review_hours) FILTER (WHERE cycle_hours IS NOT NULL AND stages_known) AS flow_numerator,
        sum(cycle_hours) FILTER (WHERE stages_known) AS cycle_sum,
        count(*) FILTER (WHERE NOT stages_known) AS stages_unknown,
        count(cycle_hours) AS cycles,
        quantile_cont(cycle_hours, [0.5, 0.75, 0.9]) AS cycle_q,
        count(coding_hours) AS coding_n,
        quantile_cont(coding_hours, [0.5, 0.75, 0.9]) AS coding_q,
        sum(coding_hours) FILTER (WHERE stages_known) AS coding_sum,
        count(pickup_hours) AS pickup_n,
        quantile_cont(pickup_hours, [0.5, 0.75, 0.9]) AS pickup_q,
        sum(pickup_hours) FILTER (WHERE stages_known) AS pickup_sum,
        count(review_hours) AS review_n,
        quantile_cont(review_hours, [0.5, 0.75, 0.9]) AS review_q,
        sum(review_hours) FILTER (WHERE stages_known) AS review_sum,
        count(deploy_hours) AS deploy_n,
        quantile_cont(deploy_hours, [0.5, 0.75, 0.9]) AS deploy_q,
        sum(deploy_hours) FILTER (WHERE stages_known) AS deploy_sum
    FROM metric_slots w JOIN merged m
      ON m.grp = w.grp AND w.slot = metric_slot(m.merged_at)
     AND m.merged_at >= w.since AND m.merged_at < w.until
    GROUP BY w.bucket
)
SELECT
    w.bucket,
    coalesce(prs, 0) AS prs, coalesce(deployed, 0) AS deployed, flow_numerator, cycle_sum,
    coalesce(stages_unknown, 0) AS stages_unknown, coalesce(cycles, 0) AS cycles,
    cycle_q[1] AS cycle_p50, cycle_q[2] AS cycle_p75, cycle_q[3] AS cycle_p90,
    coalesce(coding_n, 0) AS coding_n, coding_q[1] AS coding_p50, coding_q[2] AS coding_p75, coding_q[3] AS coding_p90,
    coalesce(coding_sum, 0) AS coding_sum,
    coalesce(pickup_n, 0) AS pickup_n, pickup_q[1] AS pickup_p50, pickup_q[2] AS pickup_p75, pickup_q[3] AS pickup_p90,
    coalesce(pickup_sum, 0) AS pickup_sum,
    coalesce(review_n, 0) AS review_n, review_q[1] AS review_p50, review_q[2] AS review_p75, review_q[3] AS review_p90,
    coalesce(review_sum, 0) AS review_sum,
    coalesce(deploy_n, 0) AS deploy_n, deploy_q[1] AS deploy_p50, deploy_q[2] AS deploy_p75, deploy_q[3] AS deploy_p90,
    coalesce(deploy_sum, 0) AS deploy_sum
FROM metric_windows w LEFT JOIN per_window p ON p.bucket = w.bucket
ORDER BY w.bucket
