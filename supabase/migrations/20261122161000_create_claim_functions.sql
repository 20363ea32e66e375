-- Claiming (3.2, 3.3): private.claim_queue_jobs is the one implementation; get_queue_batch_v2
-- and get_queue_batch_filtered_v2 (manual selective sync) are thin wrappers around it (plpgsql:
-- planned once per session, where SQL wrappers with their own search_path are planned on every
-- call), and
-- release_queue_jobs_v2 hands back claimed jobs whose upstream call never started.
--
-- A claim, in its own transaction (call it in autocommit: it holds the provider row locks until
-- commit):
--   1. returns nothing when the use_queue_system flag is off;
--   2. locks the rows of the providers of claimable data types (FOR NO KEY UPDATE, in provider
--      order): claims for one provider run one at a time, so calls are a hard limit under any
--      interleaving of concurrent claims;
--   3. in a new statement (a snapshot that sees every claim committed before the lock) reads
--      what each provider may still spend: calls (minute and day windows) and bytes (30 days,
--      reservations counted); a paused provider (rate_limited / bandwidth_exhausted until
--      state_until, invalid_key) may spend nothing;
--   4. in one statement: picks up to p_batch_size due jobs (not_before <= now()) of enabled
--      data types of providers with budget, priority desc then oldest, FOR UPDATE SKIP LOCKED;
--      keeps the longest prefix per provider whose calls (calls_per_job each) and bytes
--      (ceil(estimated_bytes * bytes_safety_factor) each) fit the budget; moves those rows to
--      processing (delete + insert, with a fresh lease_token, lease_expires_at, worker_id,
--      attempts + 1 and the reservation on the row) and charges calls to the minute, hour and
--      day buckets and reserves the bytes in the day bucket.
-- Moves are an explicit delete + insert, not an UPDATE of the partition key: a concurrent
-- locker then finds a deleted row (skipped in READ COMMITTED) instead of a row "moved to another
-- partition" (SQLSTATE 40001). 40001 and 40P01 are still retried internally, up to 5 times.
--
-- Bytes overshoot: a claim never reserves past the 30-day limit, but a job may download more
-- than its reservation. The window can therefore end above its limit by at most the sum of
-- max(0, actual - reserved) over the jobs in flight when it fills: with one processor run one
-- batch's estimate error, with N concurrent runs N batches' (23_quota tests the bound).

create type private.claimed_job as (
    id bigint,
    data_type text,
    key text,
    params jsonb,
    attempts integer,
    max_attempts integer,
    priority integer,
    lease_token uuid,
    lease_expires_at timestamptz,
    provider text
);

comment on type private.claimed_job is
    'A claimed job as returned by get_queue_batch_v2.';

-- Claims up to p_batch_size due jobs for p_worker_id with a lease of p_lease_seconds, within
-- the providers' quotas. p_data_types / p_keys: null for no filter, else only jobs whose data
-- type / key is in the array. Returns the claimed jobs, priority desc then oldest.
-- Raises 22023 for a batch size outside 1..1000 (a claim holds its rows and provider locks
-- until commit), a lease outside 5..3600 seconds, an empty or over-long worker id, or an
-- unknown data type in p_data_types.
create function private.claim_queue_jobs(
    p_batch_size integer,
    p_worker_id text,
    p_lease_seconds integer,
    p_data_types text[],
    p_keys text[]
)
returns setof private.claimed_job
language plpgsql
set search_path = ''
as $$
declare
    v_providers text[];
    v_calls_left bigint[];
    v_bytes_left bigint[];
    v_safety numeric[];
    v_types text[];
    v_unknown text;
    v_jobs private.claimed_job[];
    v_try integer := 0;
begin
    if p_batch_size is null or p_batch_size not between 1 and 1000 then
        raise exception 'batch size must be from 1 to 1000, got %', coalesce(p_batch_size::text, 'null')
            using errcode = '22023',
                hint = 'A claim holds its rows until commit: claim again for more.';
    end if;
    if p_lease_seconds is null or p_lease_seconds not between 5 and 3600 then
        raise exception 'lease must be from 5 to 3600 seconds, got %', coalesce(p_lease_seconds::text, 'null')
            using errcode = '22023',
                hint = 'Pass how long the worker needs for the batch; expired leases go back to pending.';
    end if;
    if p_worker_id is null or char_length(p_worker_id) not between 1 and 128 then
        raise exception 'worker id must be 1 to 128 characters'
            using errcode = '22023',
                hint = 'Pass a name for the worker, such as the function instance and run id.';
    end if;
    if p_data_types is not null then
        select min(t.data_type) into v_unknown
        from unnest(p_data_types) as t (data_type)
        where not exists (
            select 1 from public.data_type_registry_v2 as r where r.data_type = t.data_type
        );
        if v_unknown is not null or pg_catalog.array_position(p_data_types, null) is not null then
            raise exception 'unknown data type "%" in the filter', coalesce(v_unknown, 'null')
                using errcode = '22023',
                    hint = 'Use data types from public.data_type_registry_v2, or null for all.';
        end if;
    end if;

    if not public.is_feature_enabled('use_queue_system') then
        return;
    end if;

    loop
        begin
            -- One claim per provider at a time.
            perform 1
            from private.providers as p
            where p.provider in (
                select r.provider
                from public.data_type_registry_v2 as r
                where r.enabled
                    and (p_data_types is null or r.data_type = any(p_data_types))
            )
            order by p.provider
            for no key update of p;

            -- What each provider may still spend (new snapshot, after the lock).
            select
                pg_catalog.array_agg(b.provider order by b.provider),
                pg_catalog.array_agg(b.calls_left order by b.provider),
                pg_catalog.array_agg(b.bytes_left order by b.provider),
                pg_catalog.array_agg(b.bytes_safety_factor order by b.provider)
            into v_providers, v_calls_left, v_bytes_left, v_safety
            from private.providers as p
            cross join lateral private.provider_budget(p.provider) as b
            where p.provider in (
                select r.provider
                from public.data_type_registry_v2 as r
                where r.enabled
                    and (p_data_types is null or r.data_type = any(p_data_types))
            )
                and b.calls_left > 0
                and b.bytes_left > 0;

            select pg_catalog.array_agg(r.data_type order by r.data_type)
            into v_types
            from public.data_type_registry_v2 as r
            where r.enabled
                and r.provider = any(v_providers)
                and (p_data_types is null or r.data_type = any(p_data_types));

            if v_types is null then
                v_jobs := '{}';
                exit;
            end if;

            with picked as (
                select q.id, q.data_type, q.priority, q.created_at
                from private.api_call_queue_v2_pending as q
                where q.data_type = any(v_types)
                    and q.not_before <= now()
                    and (p_keys is null or q.key = any(p_keys))
                order by q.priority desc, q.created_at, q.id
                limit p_batch_size
                for update of q skip locked
            ),
            costed as (
                select
                    p.id,
                    r.provider,
                    r.calls_per_job,
                    pg_catalog.ceil(r.estimated_bytes * b.safety)::bigint as reserve_bytes,
                    b.calls_left,
                    b.bytes_left,
                    sum(r.calls_per_job) over w as cum_calls,
                    sum(pg_catalog.ceil(r.estimated_bytes * b.safety)) over w as cum_bytes
                from picked as p
                join public.data_type_registry_v2 as r on r.data_type = p.data_type
                join unnest(v_providers, v_calls_left, v_bytes_left, v_safety)
                    as b (provider, calls_left, bytes_left, safety) on b.provider = r.provider
                window w as (
                    partition by r.provider
                    order by p.priority desc, p.created_at, p.id
                    rows between unbounded preceding and current row
                )
            ),
            moved as (
                delete from private.api_call_queue_v2_pending as q
                using costed as c
                where q.id = c.id
                    and c.cum_calls <= c.calls_left
                    and c.cum_bytes <= c.bytes_left
                returning q.*, c.provider, c.calls_per_job, c.reserve_bytes
            ),
            inserted as (
                insert into private.api_call_queue_v2_processing (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                select
                    m.id, 'processing', m.data_type, m.key, m.params, m.priority, m.attempts + 1,
                    m.max_attempts, m.not_before, m.created_at, now(), now(),
                    now() + pg_catalog.make_interval(secs => p_lease_seconds),
                    pg_catalog.gen_random_uuid(), p_worker_id, null, m.last_error, m.error_class, null,
                    m.calls_per_job, m.reserve_bytes, null, null, m.sync_run_id
                from moved as m
                returning *
            ),
            charged as (
                insert into private.provider_usage as u (provider, width, bucket, calls, reserved_bytes)
                select
                    m.provider,
                    w.width,
                    pg_catalog.date_trunc(w.width, now(), 'UTC'),
                    sum(m.calls_per_job),
                    case when w.width = 'day' then sum(m.reserve_bytes) else 0 end
                from moved as m
                cross join (values ('minute'), ('hour'), ('day')) as w (width)
                group by m.provider, w.width
                order by m.provider, w.width
                on conflict (provider, width, bucket) do update
                set calls = u.calls + excluded.calls,
                    reserved_bytes = u.reserved_bytes + excluded.reserved_bytes
            )
            select coalesce(pg_catalog.array_agg(
                row(i.id, i.data_type, i.key, i.params, i.attempts, i.max_attempts, i.priority,
                    i.lease_token, i.lease_expires_at, m.provider)::private.claimed_job
                order by i.priority desc, i.created_at, i.id
            ), '{}')
            into v_jobs
            from inserted as i
            join moved as m on m.id = i.id;
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

    return query select * from unnest(v_jobs);
end;
$$;

comment on function private.claim_queue_jobs(integer, text, integer, text[], text[]) is
    'The claim: due jobs by priority and age within the providers'' quotas, moved to processing with a lease.';

-- Claims up to p_batch_size due jobs (1..1000) for worker p_worker_id with a lease of
-- p_lease_seconds (5..3600), priority desc then oldest, within the providers' quotas; nothing
-- when use_queue_system is off. Call it in its own transaction. Returns per job: id,
-- data_type, key, params, attempts (this one included), max_attempts, priority, lease_token
-- (present it to complete, fail or release the job), lease_expires_at, provider.
create function public.get_queue_batch_v2(p_batch_size integer, p_worker_id text, p_lease_seconds integer)
returns table (
    id bigint,
    data_type text,
    key text,
    params jsonb,
    attempts integer,
    max_attempts integer,
    priority integer,
    lease_token uuid,
    lease_expires_at timestamptz,
    provider text
)
language plpgsql
security definer
set search_path = ''
as $$
begin
    return query
    select c.id, c.data_type, c.key, c.params, c.attempts, c.max_attempts, c.priority,
        c.lease_token, c.lease_expires_at, c.provider
    from private.claim_queue_jobs(p_batch_size, p_worker_id, p_lease_seconds, null, null) as c;
end;
$$;

comment on function public.get_queue_batch_v2(integer, text, integer) is
    'Claims due jobs by priority then age within quota, with a lease; returns id, data_type, key, params, attempts, max_attempts, priority, lease_token, lease_expires_at, provider.';

-- As get_queue_batch_v2, only jobs whose data type is in p_data_types and whose key is in
-- p_keys (null: no filter; an empty array matches nothing). For the manual selective sync.
-- Raises 22023 for an unknown data type in p_data_types.
create function public.get_queue_batch_filtered_v2(
    p_batch_size integer,
    p_worker_id text,
    p_lease_seconds integer,
    p_data_types text[],
    p_keys text[]
)
returns table (
    id bigint,
    data_type text,
    key text,
    params jsonb,
    attempts integer,
    max_attempts integer,
    priority integer,
    lease_token uuid,
    lease_expires_at timestamptz,
    provider text
)
language plpgsql
security definer
set search_path = ''
as $$
begin
    return query
    select c.id, c.data_type, c.key, c.params, c.attempts, c.max_attempts, c.priority,
        c.lease_token, c.lease_expires_at, c.provider
    from private.claim_queue_jobs(p_batch_size, p_worker_id, p_lease_seconds, p_data_types, p_keys) as c;
end;
$$;

comment on function public.get_queue_batch_filtered_v2(integer, text, integer, text[], text[]) is
    'get_queue_batch_v2 restricted to data types and keys (null = no filter), for manual selective sync.';

-- Hands claimed jobs back to pending without an attempt, for jobs whose upstream call never
-- started (the processor ran out of time budget): their calls and byte reservation are
-- refunded. Never use it after an upstream call: the call would escape the quota.
-- p_job_ids and p_lease_tokens pair up by position. Returns the ids released (a stale token or
-- a job no longer processing is skipped). Raises 22023 when the arrays differ in length.
create function public.release_queue_jobs_v2(p_job_ids bigint[], p_lease_tokens uuid[])
returns bigint[]
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_ids bigint[];
    v_try integer := 0;
begin
    if p_job_ids is null or p_lease_tokens is null
        or cardinality(p_job_ids) <> cardinality(p_lease_tokens) then
        raise exception 'p_job_ids and p_lease_tokens must be arrays of the same length'
            using errcode = '22023',
                hint = 'Pass the id and the lease_token of each claimed job, in the same order.';
    end if;
    if cardinality(p_job_ids) = 0 then
        return '{}';
    end if;

    loop
        begin
            with moved as (
                delete from private.api_call_queue_v2_processing as q
                where q.id = any(p_job_ids)
                    and q.lease_token = p_lease_tokens[pg_catalog.array_position(p_job_ids, q.id)]
                returning q.*
            ),
            back as (
                insert into private.api_call_queue_v2_pending (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                select
                    m.id, 'pending', m.data_type, m.key, m.params, m.priority,
                    greatest(m.attempts - 1, 0), m.max_attempts, now(), m.created_at, now(), null,
                    null, null, null, null, m.last_error, m.error_class, null, 0, 0, null, null,
                    m.sync_run_id
                from moved as m
                returning id
            ),
            refunded as (
                update private.provider_usage as u
                set calls = greatest(u.calls - x.calls, 0),
                    reserved_bytes = case
                        when u.width = 'day' then greatest(u.reserved_bytes - x.reserved_bytes, 0)
                        else u.reserved_bytes
                    end
                from (
                    select r.provider, w.width,
                        pg_catalog.date_trunc(w.width, m.claimed_at, 'UTC') as bucket,
                        sum(m.reserved_calls) as calls,
                        sum(m.reserved_bytes) as reserved_bytes
                    from moved as m
                    join public.data_type_registry_v2 as r on r.data_type = m.data_type
                    cross join (values ('minute'), ('hour'), ('day')) as w (width)
                    group by 1, 2, 3
                ) as x
                where u.provider = x.provider and u.width = x.width and u.bucket = x.bucket
            )
            select coalesce(pg_catalog.array_agg(b.id order by b.id), '{}') into v_ids from back as b;
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

comment on function public.release_queue_jobs_v2(bigint[], uuid[]) is
    'Returns claimed jobs whose upstream call never started to pending, refunding their calls and bytes; returns the ids released.';

revoke all on function private.claim_queue_jobs(integer, text, integer, text[], text[]) from public, anon, authenticated, service_role;
revoke all on function public.get_queue_batch_v2(integer, text, integer) from public, anon, authenticated, service_role;
revoke all on function public.get_queue_batch_filtered_v2(integer, text, integer, text[], text[]) from public, anon, authenticated, service_role;
revoke all on function public.release_queue_jobs_v2(bigint[], uuid[]) from public, anon, authenticated, service_role;
grant execute on function public.get_queue_batch_v2(integer, text, integer) to service_role;
grant execute on function public.get_queue_batch_filtered_v2(integer, text, integer, text[], text[]) to service_role;
grant execute on function public.release_queue_jobs_v2(bigint[], uuid[]) to service_role;
