-- Enqueue (3.2): queue_refresh_batch_v2 (the one implementation, set-based) and
-- queue_refresh_if_not_exists_v2 (a thin wrapper for one item).
--
-- Dedup: at most one pending-or-processing job per dedup key (data type + key + params; a null
-- key is one value). A unique index cannot span partitions, so a call takes the transaction
-- advisory lock of every dedup bucket it touches (two-int form, namespace
-- private.advisory_namespace(), 1,024 buckets, in ascending order so that two batches never
-- deadlock), then, in a new statement and so a new snapshot, checks both active partitions and
-- inserts what is missing. Moves between pending and processing are atomic to other sessions
-- and never leave a key without its job, so they need no bucket lock; moving a job back from
-- failed (reset_job_immediate_v2) takes it. The unique indexes per partition are the backstop.
--
-- Cooldown: a key whose refresh state says next_eligible_at is in the future (no data, not
-- newer, failed for good, or simply fresh) is not queued: created false, job_id null. An
-- explicit priority of 100 (the maximum, reserved for a manual refresh a person asked for)
-- bypasses the cooldown. Dedup still applies to it; an active job with a lower priority is
-- raised to the new priority instead.
--
-- Validation: every item is checked before anything is written; the first bad item raises
-- invalid_parameter_value (22023) with the item number in DETAIL and a HINT saying what to pass.

-- Queues refreshes for many items in one transaction. p_items: a JSON array (at most 10,000
-- items: a call holds the dedup locks of its buckets until its transaction ends, so very large
-- batches would block other enqueues for long) of objects
--     {"data_type": text, "key": text|null, "params": object|null, "priority": -1..100|null}
-- key: a symbol (^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$) for key_kind symbol, an exchange code for
-- key_kind exchange, null for key_kind none. params defaults to {}; priority to the registry's.
-- Items with the same dedup key count once (with their highest priority).
-- Returns one row per distinct item in input order: data_type, key, job_id (the new or existing
-- active job; null when skipped for cooldown) and created (true only for a new job).
-- Raises 22023 for bad input (nothing is written).
create function public.queue_refresh_batch_v2(p_items jsonb)
returns table (data_type text, key text, job_id bigint, created boolean)
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_count integer;
    v_problem record;
    v_data_types text[];
    v_keys text[];
    v_params jsonb[];
    v_priorities integer[];
    v_max_attempts integer[];
    v_bypass boolean[];
    v_dedup_keys text[];
    v_ords bigint[];
    v_out_data_types text[];
    v_out_keys text[];
    v_out_job_ids bigint[];
    v_out_created boolean[];
    v_try integer := 0;
begin
    if p_items is null or pg_catalog.jsonb_typeof(p_items) <> 'array' then
        raise exception 'p_items must be a JSON array of items'
            using errcode = '22023',
                hint = 'Pass [{"data_type": "quote", "key": "AAPL", "params": {}, "priority": null}].';
    end if;
    v_count := pg_catalog.jsonb_array_length(p_items);
    if v_count = 0 then
        return;
    end if;
    if v_count > 10000 then
        raise exception 'p_items has % items, at most 10000 are allowed per call', v_count
            using errcode = '22023',
                hint = 'Split the batch: a call holds the dedup locks of its keys until its transaction ends.';
    end if;

    -- Validation: the first bad item, as [message, hint].
    select e.ord, c.problem[1] as message, c.problem[2] as hint
    into v_problem
    from pg_catalog.jsonb_array_elements(p_items) with ordinality as e (item, ord)
    left join public.data_type_registry_v2 as r
        on pg_catalog.jsonb_typeof(e.item) = 'object' and r.data_type = e.item ->> 'data_type'
    cross join lateral (
        select case
            when pg_catalog.jsonb_typeof(e.item) <> 'object' then array[
                'item must be a JSON object',
                'Pass {"data_type": "quote", "key": "AAPL", "params": {}, "priority": null}.']
            when exists (
                select 1 from pg_catalog.jsonb_object_keys(e.item) as k (name)
                where k.name not in ('data_type', 'key', 'params', 'priority')
            ) then array[
                pg_catalog.format('unknown field "%s" in item', (
                    select min(k.name) from pg_catalog.jsonb_object_keys(e.item) as k (name)
                    where k.name not in ('data_type', 'key', 'params', 'priority'))),
                'Items have only data_type, key, params and priority (the symbol goes in key).']
            when pg_catalog.jsonb_typeof(e.item -> 'data_type') is distinct from 'string' then array[
                'data_type is required and must be a string',
                'Use a data_type from public.data_type_registry_v2, for example "quote".']
            when r.data_type is null then array[
                pg_catalog.format('unknown data type "%s"', e.item ->> 'data_type'),
                'Use a data_type from public.data_type_registry_v2.']
            when not r.enabled then array[
                pg_catalog.format('data type "%s" is disabled', r.data_type),
                pg_catalog.format('Enable it once its target table and fetcher exist: update '
                    'public.data_type_registry_v2 set enabled = true where data_type = %L.', r.data_type)]
            when pg_catalog.jsonb_typeof(e.item -> 'key') not in ('string', 'null') then array[
                'key must be a string or null',
                'Pass the symbol or exchange code as a string, or null for keyless data types.']
            when r.key_kind = 'none' and e.item ->> 'key' is not null then array[
                pg_catalog.format('data type "%s" takes no key, got "%s"', r.data_type, e.item ->> 'key'),
                'Pass "key": null for data types whose key_kind is none.']
            when r.key_kind = 'symbol' and e.item ->> 'key' is null then array[
                pg_catalog.format('data type "%s" needs a symbol as key', r.data_type),
                'Pass an upper-case symbol such as AAPL, BRK-B, ^GSPC or RELIANCE.NS.']
            when r.key_kind = 'symbol' and not (e.item ->> 'key') ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$' then array[
                pg_catalog.format('invalid symbol "%s"', e.item ->> 'key'),
                'Symbols are upper case, 1 to 20 characters of A-Z, 0-9 and . - ^ = (for example AAPL, BRK-B, ^GSPC, RELIANCE.NS).']
            when r.key_kind = 'exchange' and e.item ->> 'key' is null then array[
                pg_catalog.format('data type "%s" needs an exchange code as key', r.data_type),
                'Pass an upper-case exchange code such as NASDAQ or LSE.']
            when r.key_kind = 'exchange' and not (e.item ->> 'key') ~ '^[A-Z0-9][A-Z0-9._-]{0,31}$' then array[
                pg_catalog.format('invalid exchange code "%s"', e.item ->> 'key'),
                'Exchange codes are upper case, 1 to 32 characters of A-Z, 0-9 and . _ - (for example NASDAQ, LSE).']
            when pg_catalog.jsonb_typeof(e.item -> 'params') not in ('object', 'null') then array[
                'params must be a JSON object or null',
                'Pass {} (or leave it out) unless the data type takes parameters.']
            when pg_catalog.length((e.item -> 'params')::text) > 1000 then array[
                pg_catalog.format('params is too large (%s characters, at most 1000)',
                    pg_catalog.length((e.item -> 'params')::text)),
                'params is part of the indexed dedup key: keep it small.']
            when pg_catalog.jsonb_typeof(e.item -> 'priority') not in ('number', 'null')
                or (pg_catalog.jsonb_typeof(e.item -> 'priority') = 'number'
                    and ((e.item ->> 'priority')::numeric % 1 <> 0
                        or (e.item ->> 'priority')::numeric not between -1 and 100)) then array[
                pg_catalog.format('priority must be an integer from -1 to 100, got %s', e.item -> 'priority'),
                'Higher is more urgent; -1 is background work, 100 a manual refresh that skips the cooldown; null uses the registry''s priority.']
        end as problem
    ) as c
    where c.problem is not null
    order by e.ord
    limit 1;

    if found then
        raise exception '%', v_problem.message
            using errcode = '22023',
                detail = pg_catalog.format('item %s of %s in p_items', v_problem.ord, v_count),
                hint = v_problem.hint;
    end if;

    -- Distinct items (same dedup key: once, highest priority), in input order.
    select
        pg_catalog.array_agg(d.data_type order by d.ord),
        pg_catalog.array_agg(d.key order by d.ord),
        pg_catalog.array_agg(d.params order by d.ord),
        pg_catalog.array_agg(d.priority order by d.ord),
        pg_catalog.array_agg(d.max_attempts order by d.ord),
        pg_catalog.array_agg(d.bypass order by d.ord),
        pg_catalog.array_agg(d.dedup_key order by d.ord),
        pg_catalog.array_agg(d.ord order by d.ord)
    into v_data_types, v_keys, v_params, v_priorities, v_max_attempts, v_bypass, v_dedup_keys, v_ords
    from (
        select
            x.data_type,
            x.key,
            x.params,
            private.queue_dedup_key(x.data_type, x.key, x.params) as dedup_key,
            max(x.priority) as priority,
            min(x.max_attempts) as max_attempts,
            coalesce(bool_or(x.explicit_priority >= 100), false) as bypass,
            min(x.ord) as ord
        from (
            select
                e.item ->> 'data_type' as data_type,
                e.item ->> 'key' as key,
                coalesce(nullif(e.item -> 'params', 'null'::jsonb), '{}'::jsonb) as params,
                (e.item ->> 'priority')::numeric::integer as explicit_priority,
                coalesce((e.item ->> 'priority')::numeric::integer, r.priority) as priority,
                r.max_attempts,
                e.ord
            from pg_catalog.jsonb_array_elements(p_items) with ordinality as e (item, ord)
            join public.data_type_registry_v2 as r on r.data_type = e.item ->> 'data_type'
        ) as x
        group by x.data_type, x.key, x.params
    ) as d;

    -- Dedup locks, one per bucket, in ascending order (no deadlock between batches).
    perform pg_catalog.pg_advisory_xact_lock(private.advisory_namespace(), b.bucket)
    from (
        select distinct private.dedup_bucket(k.dedup_key) as bucket
        from unnest(v_dedup_keys) as k (dedup_key)
        order by 1
    ) as b;

    loop
        begin
            with items as (
                select i.*
                from unnest(
                    v_data_types, v_keys, v_params, v_priorities, v_max_attempts, v_bypass, v_dedup_keys, v_ords
                ) as i (data_type, key, params, priority, max_attempts, bypass, dedup_key, ord)
            ),
            existing as (
                select q.id, q.dedup_key
                from private.api_call_queue_v2 as q
                where q.status in ('pending', 'processing')
                    and q.dedup_key = any(v_dedup_keys)
            ),
            -- A waiting job asked for with a higher priority moves up the queue.
            raised as (
                update private.api_call_queue_v2_pending as q
                set priority = i.priority, updated_at = now()
                from items as i
                where q.dedup_key = any(v_dedup_keys)
                    and q.dedup_key = i.dedup_key
                    and i.priority > q.priority
                returning q.id
            ),
            cooling as (
                select i.dedup_key
                from items as i
                join private.refresh_state as s
                    on s.data_type = i.data_type and s.key = coalesce(i.key, '')
                where not i.bypass
                    and s.next_eligible_at > now()
            ),
            inserted as (
                insert into private.api_call_queue_v2_pending (status, data_type, key, params, priority, max_attempts)
                select 'pending', i.data_type, i.key, i.params, i.priority, i.max_attempts
                from items as i
                where not exists (select 1 from existing as e where e.dedup_key = i.dedup_key)
                    and not exists (select 1 from cooling as c where c.dedup_key = i.dedup_key)
                order by i.ord
                returning id, dedup_key
            )
            select
                pg_catalog.array_agg(i.data_type order by i.ord),
                pg_catalog.array_agg(i.key order by i.ord),
                pg_catalog.array_agg(coalesce(n.id, e.id) order by i.ord),
                pg_catalog.array_agg(n.id is not null order by i.ord)
            into v_out_data_types, v_out_keys, v_out_job_ids, v_out_created
            from items as i
            left join inserted as n on n.dedup_key = i.dedup_key
            left join existing as e on e.dedup_key = i.dedup_key;
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

    return query
    select o.data_type, o.key, o.job_id, o.created
    from unnest(v_out_data_types, v_out_keys, v_out_job_ids, v_out_created)
        as o (data_type, key, job_id, created);
end;
$$;

comment on function public.queue_refresh_batch_v2(jsonb) is
    'Queues refreshes for [{data_type, key, params, priority}] with dedup and cooldown; returns (data_type, key, job_id, created) per distinct item.';

-- Queues one refresh unless an active job for the same data type, key and params exists or the
-- key is in cooldown (priority 100 skips the cooldown). p_params null means {}; p_priority null
-- means the registry's. Returns one row: job_id (new or existing job; null when in cooldown)
-- and created. Raises 22023 for bad input, as queue_refresh_batch_v2 does.
create function public.queue_refresh_if_not_exists_v2(
    p_data_type text,
    p_key text,
    p_params jsonb,
    p_priority integer
)
returns table (job_id bigint, created boolean)
language plpgsql
security definer
set search_path = ''
as $$
begin
    return query
    select b.job_id, b.created
    from public.queue_refresh_batch_v2(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
        'data_type', p_data_type,
        'key', p_key,
        'params', p_params,
        'priority', p_priority
    ))) as b;
end;
$$;

comment on function public.queue_refresh_if_not_exists_v2(text, text, jsonb, integer) is
    'Queues one refresh unless an active job exists or the key is in cooldown; returns (job_id, created).';

revoke all on function public.queue_refresh_batch_v2(jsonb) from public, anon, authenticated, service_role;
revoke all on function public.queue_refresh_if_not_exists_v2(text, text, jsonb, integer) from public, anon, authenticated, service_role;
grant execute on function public.queue_refresh_batch_v2(jsonb) to service_role;
grant execute on function public.queue_refresh_if_not_exists_v2(text, text, jsonb, integer) to service_role;
