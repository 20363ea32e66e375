-- Makes the claim and the batch completion reuse generic plans instead of planning their
-- statements on every call (issue 6, measured with scripts/bench/queue).
--
-- Measured (docs/performance.md): planning is 4-8% of a drain backend's CPU (perf:
-- GetCachedPlan -> pg_plan_query under plpgsql), because the plan cache keeps choosing custom
-- plans for these statements (LIMIT p_batch_size and array parameters make the generic plan
-- look costlier); alone it measured 161 -> 148 us of server CPU per job at 1 worker, 188 -> 159
-- at 8. The generic plans have the shapes the custom plans have mid-drain (the claim index under
-- LIMIT; a scan of the small processing partition for the completion), checked with
-- auto_explain in the bench's --profile.
alter function private.claim_queue_jobs(integer, text, integer, text[], text[])
    set plan_cache_mode = force_generic_plan;
alter function public.complete_queue_jobs_v2(bigint[], uuid[], text[], bigint[], timestamptz[])
    set plan_cache_mode = force_generic_plan;
