-- Completion (3.2, 3.7): complete_queue_jobs_v2 completes many jobs in ONE statement (the
-- measured 3-4.6x throughput lever) and complete_queue_job_v2 is a thin wrapper for one job.
-- Completion is exactly-once: only the holder of the current lease token completes a job; a
-- worker whose lease expired and whose job was rescued or re-claimed gets false.
--
-- In the same statement it:
--   * moves the jobs to completed (delete + insert) with outcome, actual bytes, source timestamp;
--   * upserts the refresh state of each (data type, key): success and not_newer wait ttl_seconds,
--     no_data waits empty_cooldown_seconds; consecutive failures reset;
--   * reconciles the byte reservation in the day bucket of the claim: reserved bytes are
--     released and actual bytes counted (a null actual counts the reservation). Calls were
--     charged at claim and stay;
--   * corrects estimated_bytes, sampled: per statement and data type with probability
--     queue_settings.estimate_sample_rate (5%), an exponential moving average
--     (weight estimate_ema_weight, 0.2) towards the mean actual bytes of that type's successes
--     in the statement, so the registry row is not a hot row written on every completion.
-- Ids are matched with id = any($1) (an unnest join picked a 100x100 nested loop after five
-- calls in the prototype); each id's token, outcome, bytes and timestamp are taken from the
-- same position of the other arrays.

-- Completes jobs. All arrays pair up by position; p_actual_bytes and p_source_timestamps may be
-- null (all unknown) or hold nulls. p_outcomes: success | no_data | not_newer. Ids must be
-- distinct. Returns the ids completed, ascending; a stale token or a job that is no longer
-- processing is left out. Raises 22023 for arrays of different lengths, an unknown outcome or
-- negative bytes (nothing is written).
create function public.complete_queue_jobs_v2(
    p_job_ids bigint[],
    p_lease_tokens uuid[],
    p_outcomes text[],
    p_actual_bytes bigint[],
    p_source_timestamps timestamptz[]
)
returns bigint[]
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_n integer := cardinality(p_job_ids);
    v_bad text;
    v_sample_rate double precision;
    v_weight double precision;
    v_ids bigint[];
    v_try integer := 0;
begin
    if p_job_ids is null or p_lease_tokens is null or p_outcomes is null
        or cardinality(p_lease_tokens) <> v_n
        or cardinality(p_outcomes) <> v_n
        or cardinality(coalesce(p_actual_bytes, array_fill(null::bigint, array[v_n]))) <> v_n
        or cardinality(coalesce(p_source_timestamps, array_fill(null::timestamptz, array[v_n]))) <> v_n then
        raise exception 'p_job_ids, p_lease_tokens, p_outcomes, p_actual_bytes and p_source_timestamps must pair up by position'
            using errcode = '22023',
                hint = 'Pass arrays of the same length (p_actual_bytes and p_source_timestamps may be null).';
    end if;
    if v_n = 0 then
        return '{}';
    end if;
    select min(coalesce(o.outcome, 'null')) into v_bad
    from unnest(p_outcomes) as o (outcome)
    where o.outcome is null or o.outcome not in ('success', 'no_data', 'not_newer');
    if v_bad is not null then
        raise exception 'unknown outcome "%"', v_bad
            using errcode = '22023',
                hint = 'Outcomes are success, no_data (upstream returned []) and not_newer (not newer than stored); report failures with fail_queue_job_v2.';
    end if;
    if exists (select 1 from unnest(p_actual_bytes) as b (n) where b.n < 0) then
        raise exception 'actual bytes must not be negative'
            using errcode = '22023',
                hint = 'Pass the response size in bytes, or null when unknown.';
    end if;

    select s.estimate_sample_rate, s.estimate_ema_weight
    into v_sample_rate, v_weight
    from private.queue_settings as s;

    loop
        begin
            with moved as (
                delete from private.api_call_queue_v2_processing as q
                where q.id = any(p_job_ids)
                    and q.lease_token = p_lease_tokens[pg_catalog.array_position(p_job_ids, q.id)]
                returning q.*
            ),
            done as (
                insert into private.api_call_queue_v2_completed (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                select
                    m.id, 'completed', m.data_type, m.key, m.params, m.priority, m.attempts,
                    m.max_attempts, m.not_before, m.created_at, now(), m.claimed_at,
                    m.lease_expires_at, m.lease_token, m.worker_id, now(), m.last_error,
                    m.error_class, p_outcomes[x.pos], m.reserved_calls, m.reserved_bytes,
                    p_actual_bytes[x.pos], p_source_timestamps[x.pos], m.sync_run_id
                from moved as m
                cross join lateral (select pg_catalog.array_position(p_job_ids, m.id) as pos) as x
                returning id, data_type, key, outcome, claimed_at, reserved_bytes, actual_bytes
            ),
            refreshed as (
                insert into private.refresh_state as s (
                    data_type, key, last_checked_at, next_eligible_at, last_outcome, last_success_at,
                    consecutive_failures, last_error, updated_at
                )
                select distinct on (d.data_type, coalesce(d.key, ''))
                    d.data_type,
                    coalesce(d.key, ''),
                    now(),
                    now() + pg_catalog.make_interval(secs => case
                        when d.outcome = 'no_data' then r.empty_cooldown_seconds
                        else r.ttl_seconds
                    end),
                    d.outcome,
                    case when d.outcome = 'success' then now() end,
                    0,
                    null,
                    now()
                from done as d
                join public.data_type_registry_v2 as r on r.data_type = d.data_type
                order by d.data_type, coalesce(d.key, ''), d.id desc
                on conflict (data_type, key) do update
                set last_checked_at = excluded.last_checked_at,
                    next_eligible_at = excluded.next_eligible_at,
                    last_outcome = excluded.last_outcome,
                    last_success_at = coalesce(excluded.last_success_at, s.last_success_at),
                    consecutive_failures = 0,
                    last_error = null,
                    updated_at = excluded.updated_at
            ),
            reconciled as (
                update private.provider_usage as u
                set reserved_bytes = greatest(u.reserved_bytes - x.reserved_bytes, 0),
                    bytes = u.bytes + x.actual_bytes
                from (
                    select
                        r.provider,
                        pg_catalog.date_trunc('day', d.claimed_at, 'UTC') as bucket,
                        sum(d.reserved_bytes) as reserved_bytes,
                        sum(coalesce(d.actual_bytes, d.reserved_bytes)) as actual_bytes
                    from done as d
                    join public.data_type_registry_v2 as r on r.data_type = d.data_type
                    group by 1, 2
                ) as x
                where u.provider = x.provider and u.width = 'day' and u.bucket = x.bucket
            ),
            estimated as (
                update public.data_type_registry_v2 as r
                set estimated_bytes = greatest(1, least(2147483647,
                    pg_catalog.round((1 - v_weight) * r.estimated_bytes + v_weight * x.mean_bytes)))::integer
                from (
                    select d.data_type, avg(d.actual_bytes) as mean_bytes
                    from done as d
                    where d.outcome = 'success' and d.actual_bytes > 0
                    group by d.data_type
                ) as x
                where r.data_type = x.data_type
                    and pg_catalog.random() < v_sample_rate
            )
            select coalesce(pg_catalog.array_agg(d.id order by d.id), '{}') into v_ids from done as d;
            exit;
        exception
            when serialization_failure or deadlock_detected then
                v_try := v_try + 1;
                if v_try >= 5 then
                    raise;
                end if;
                perform private.note_serialization_retry();
        end;
    end loop;

    return v_ids;
end;
$$;

comment on function public.complete_queue_jobs_v2(bigint[], uuid[], text[], bigint[], timestamptz[]) is
    'Completes many jobs in one statement (outcome, actual bytes, source timestamp); returns the ids completed. Stale tokens are skipped.';

-- Completes one job: see complete_queue_jobs_v2 (a plpgsql wrapper: its call is planned once
-- per session, where a SQL wrapper with its own search_path is planned on every call). Returns true when completed, false for a
-- stale lease token or a job that is not processing. Raises 22023 for an unknown outcome.
create function public.complete_queue_job_v2(
    p_job_id bigint,
    p_lease_token uuid,
    p_outcome text,
    p_actual_bytes bigint,
    p_source_timestamp timestamptz
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
    return cardinality(public.complete_queue_jobs_v2(
        array[p_job_id], array[p_lease_token], array[p_outcome], array[p_actual_bytes], array[p_source_timestamp]
    )) = 1;
end;
$$;

comment on function public.complete_queue_job_v2(bigint, uuid, text, bigint, timestamptz) is
    'Completes one job (success, no_data, not_newer); false for a stale lease token.';

revoke all on function public.complete_queue_jobs_v2(bigint[], uuid[], text[], bigint[], timestamptz[]) from public, anon, authenticated, service_role;
revoke all on function public.complete_queue_job_v2(bigint, uuid, text, bigint, timestamptz) from public, anon, authenticated, service_role;
grant execute on function public.complete_queue_jobs_v2(bigint[], uuid[], text[], bigint[], timestamptz[]) to service_role;
grant execute on function public.complete_queue_job_v2(bigint, uuid, text, bigint, timestamptz) to service_role;
