-- Candidate fix-forward migration (scripts/bench/queue measures it with --candidate; never
-- applied outside the bench cluster): a claim holds its provider lock only for the budget check
-- and the charge, not for the whole move.
--
-- NOT PROPOSED for 2-core hosts: measured there, it raised server CPU per job at 8 workers
-- (174 -> 212 us) and did not raise throughput (docs/performance.md). It passes
-- tests/queue_concurrency_test.ts; kept to re-measure on a host with idle cores.
--
-- Measured (docs/performance.md): at 8 workers the claims queue on the provider row
-- (Lock:tuple / Lock:transactionid are most of the samples of claiming backends) because
-- 20261122161000 locks the provider FIRST and keeps it through the pick, 100 deletes, 100
-- inserts, the charge and the commit's WAL flush: one claim at a time, whatever the core count.
--
-- A claim now:
--   1. reads the budget without a lock (an optimistic filter: paused or spent providers are
--      skipped, and nothing is moved or locked when nothing can be claimed);
--   2. picks up to p_batch_size due jobs of those providers (priority desc, oldest first,
--      FOR UPDATE SKIP LOCKED) and moves them to processing with a lease and their reservation,
--      in parallel with other claims;
--   3. locks the providers of the moved jobs (FOR NO KEY UPDATE, in provider order);
--   4. in a new statement (a snapshot that sees every claim committed before the lock) reads the
--      exact budget, keeps the longest prefix per provider whose calls and bytes fit, charges
--      it, and puts the rest back to pending as it was (attempt, lease and reservation undone).
-- Calls stay a hard limit under any interleaving: every charge is checked and made under the
-- provider lock, held until commit. Only the work under the lock shrinks. Jobs put back are
-- those a quota-bound claim could not take anyway (before, they were never picked).
-- Also: the claimed rows are returned from the insert itself (the old final join of two CTEs
-- ran as a 100 x 100 nested loop).

create or replace function private.claim_queue_jobs(
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
    v_types text[];
    v_unknown text;
    v_providers text[];
    v_calls integer[];
    v_bytes bigint[];
    v_unfit bigint[];
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
            -- 1. Optimistic filter, no lock: enabled types whose provider has budget for one job.
            with budget as (
                select b.provider, b.calls_left, b.bytes_left, b.bytes_safety_factor
                from private.providers as p
                cross join lateral private.provider_budget(p.provider) as b
                where p.provider in (
                    select r.provider
                    from public.data_type_registry_v2 as r
                    where r.enabled
                        and (p_data_types is null or r.data_type = any(p_data_types))
                )
            )
            select pg_catalog.array_agg(r.data_type order by r.data_type)
            into v_types
            from public.data_type_registry_v2 as r
            join budget as b on b.provider = r.provider
            where r.enabled
                and (p_data_types is null or r.data_type = any(p_data_types))
                and b.calls_left >= r.calls_per_job
                and b.bytes_left >= pg_catalog.ceil(r.estimated_bytes * b.bytes_safety_factor);

            if v_types is null then
                v_jobs := '{}';
                exit;
            end if;

            -- 2. Move due jobs to processing with a lease and their reservation.
            with picked as (
                select q.id
                from private.api_call_queue_v2_pending as q
                where q.data_type = any(v_types)
                    and q.not_before <= now()
                    and (p_keys is null or q.key = any(p_keys))
                order by q.priority desc, q.created_at, q.id
                limit p_batch_size
                for update of q skip locked
            ),
            moved as (
                delete from private.api_call_queue_v2_pending as q
                using picked as p
                where q.id = p.id
                returning q.*
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
                    r.calls_per_job, pg_catalog.ceil(r.estimated_bytes * p.bytes_safety_factor)::bigint,
                    null, null, m.sync_run_id
                from moved as m
                join public.data_type_registry_v2 as r on r.data_type = m.data_type
                join private.providers as p on p.provider = r.provider
                returning id, data_type, key, params, attempts, max_attempts, priority, lease_token,
                    lease_expires_at, created_at, reserved_calls, reserved_bytes
            )
            select
                pg_catalog.array_agg(
                    row(i.id, i.data_type, i.key, i.params, i.attempts, i.max_attempts, i.priority,
                        i.lease_token, i.lease_expires_at, r.provider)::private.claimed_job
                    order by i.priority desc, i.created_at, i.id),
                pg_catalog.array_agg(i.reserved_calls order by i.priority desc, i.created_at, i.id),
                pg_catalog.array_agg(i.reserved_bytes order by i.priority desc, i.created_at, i.id),
                pg_catalog.array_agg(distinct r.provider)
            into v_jobs, v_calls, v_bytes, v_providers
            from inserted as i
            join public.data_type_registry_v2 as r on r.data_type = i.data_type;

            if v_jobs is null then
                v_jobs := '{}';
                exit;
            end if;

            -- 3. One budget check and charge per provider at a time.
            perform 1
            from private.providers as p
            where p.provider = any(v_providers)
            order by p.provider
            for no key update of p;

            -- 4. Exact budget (new snapshot): charge the longest prefix per provider that fits.
            with claimed as (
                select j.id, j.provider, c.calls, c.bytes, j.ord
                from unnest(v_jobs) with ordinality as j (
                    id, data_type, key, params, attempts, max_attempts, priority, lease_token,
                    lease_expires_at, provider, ord
                )
                join unnest(v_calls, v_bytes) with ordinality as c (calls, bytes, ord)
                    on c.ord = j.ord
            ),
            budget as (
                select b.provider, b.calls_left, b.bytes_left
                from unnest(v_providers) as v (provider)
                cross join lateral private.provider_budget(v.provider) as b
            ),
            costed as (
                select
                    c.id,
                    c.provider,
                    c.calls,
                    c.bytes,
                    sum(c.calls) over w <= b.calls_left and sum(c.bytes) over w <= b.bytes_left as fits
                from claimed as c
                join budget as b on b.provider = c.provider
                window w as (
                    partition by c.provider
                    order by c.ord
                    rows between unbounded preceding and current row
                )
            ),
            charged as (
                insert into private.provider_usage as u (provider, width, bucket, calls, reserved_bytes)
                select
                    c.provider,
                    w.width,
                    pg_catalog.date_trunc(w.width, now(), 'UTC'),
                    sum(c.calls),
                    case when w.width = 'day' then sum(c.bytes) else 0 end
                from costed as c
                cross join (values ('minute'), ('hour'), ('day')) as w (width)
                where c.fits
                group by c.provider, w.width
                order by c.provider, w.width
                on conflict (provider, width, bucket) do update
                set calls = u.calls + excluded.calls,
                    reserved_bytes = u.reserved_bytes + excluded.reserved_bytes
            )
            select coalesce(pg_catalog.array_agg(c.id) filter (where not c.fits), '{}')
            into v_unfit
            from costed as c;

            -- Put back what does not fit (only when the quota binds).
            if cardinality(v_unfit) > 0 then
                with unfit as (
                    delete from private.api_call_queue_v2_processing as q
                    where q.id = any(v_unfit)
                    returning q.*
                )
                insert into private.api_call_queue_v2_pending (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                select
                    u.id, 'pending', u.data_type, u.key, u.params, u.priority, u.attempts - 1,
                    u.max_attempts, u.not_before, u.created_at, now(), null, null, null, null,
                    null, u.last_error, u.error_class, null, 0, 0, null, null, u.sync_run_id
                from unfit as u;

                v_jobs := array(
                    select j from unnest(v_jobs) as j where j.id <> all(v_unfit)
                );
            end if;
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
