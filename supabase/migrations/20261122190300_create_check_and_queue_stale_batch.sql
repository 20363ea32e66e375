-- check_and_queue_stale_batch_v2 (3.4): for symbols a client looks at and the data types it
-- shows, works out what is stale and queues exactly that, in one set-based pass: one staleness
-- query per data type (private.stale_keys, never one query per symbol) and one
-- queue_refresh_batch_v2 call for everything stale. Quota aware: a data type whose provider has
-- no quota left (is_quota_exceeded_v2: windows used up or provider paused) is not queued; its
-- stale keys are reported as skipped instead. Also the validation helpers that track_subscription_v2
-- shares: symbols and data types are checked before anything is written.

-- p_symbols upper-case, validated and deduplicated (first occurrence order). Raises 22023 when the
-- array is null or empty, longer than p_max, or holds a null or a symbol that does not match
-- ^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$ (SPEC 3.1), naming the first bad one.
create function private.require_symbols(p_symbols text[], p_max integer)
returns text[]
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_bad text;
    v_symbols text[];
begin
    if p_symbols is null or cardinality(p_symbols) = 0 then
        raise exception 'symbols must hold 1 to % symbols, got none', p_max
            using errcode = '22023',
                hint = 'Pass the symbols the client shows, e.g. {AAPL,MSFT}.';
    end if;
    if cardinality(p_symbols) > p_max then
        raise exception 'symbols must hold 1 to % symbols, got %', p_max, cardinality(p_symbols)
            using errcode = '22023',
                hint = 'Split the request.';
    end if;
    select coalesce(s.symbol, 'null') into v_bad
    from unnest(p_symbols) with ordinality as s (symbol, ord)
    where s.symbol is null or not s.symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'
    order by s.ord
    limit 1;
    if found then
        raise exception 'invalid symbol "%"', v_bad
            using errcode = '22023',
                hint = 'Symbols are upper case, 1 to 20 characters of A-Z, 0-9 and . - ^ = (for example AAPL, BRK-B, ^GSPC, RELIANCE.NS).';
    end if;
    select pg_catalog.array_agg(d.symbol order by d.ord) into v_symbols
    from (
        select s.symbol, min(s.ord) as ord
        from unnest(p_symbols) with ordinality as s (symbol, ord)
        group by s.symbol
    ) as d;
    return v_symbols;
end;
$$;

comment on function private.require_symbols(text[], integer) is
    'Validated, deduplicated symbols; raises 22023 for none, too many, null or malformed symbols.';

-- The data types to check: p_data_types deduplicated, or, when it is null or empty, the enabled
-- types of presence_settings.default_data_types. Raises 22023 for more than 32 types, a null, an
-- unknown or a disabled data type, naming the first bad one. Returns sorted names (maybe empty
-- when no default type is enabled).
create function private.require_data_types(p_data_types text[])
returns text[]
language plpgsql
stable
set search_path = ''
as $$
declare
    v_bad record;
    v_types text[];
begin
    if p_data_types is null or cardinality(p_data_types) = 0 then
        select pg_catalog.array_agg(r.data_type order by r.data_type) into v_types
        from private.presence_settings as s
        cross join lateral unnest(s.default_data_types) as d (data_type)
        join public.data_type_registry_v2 as r on r.data_type = d.data_type
        where r.enabled;
        return coalesce(v_types, '{}');
    end if;
    -- 32: the limit of active_subscriptions_v2.data_types.
    if cardinality(p_data_types) > 32 then
        raise exception 'data types must hold at most 32 entries, got %', cardinality(p_data_types)
            using errcode = '22023';
    end if;
    select t.data_type, r.data_type is not null as known, coalesce(r.enabled, false) as enabled
    into v_bad
    from unnest(p_data_types) with ordinality as t (data_type, ord)
    left join public.data_type_registry_v2 as r on r.data_type = t.data_type
    where r.data_type is null or not r.enabled
    order by t.ord
    limit 1;
    if found then
        if v_bad.known then
            raise exception 'data type "%" is disabled', v_bad.data_type
                using errcode = '22023',
                    hint = 'Only enabled data types of public.data_type_registry_v2 can be tracked.';
        end if;
        raise exception 'unknown data type "%"', coalesce(v_bad.data_type, 'null')
            using errcode = '22023',
                hint = 'Use a data_type from public.data_type_registry_v2, for example quote or profile.';
    end if;
    select pg_catalog.array_agg(distinct t.data_type order by t.data_type) into v_types
    from unnest(p_data_types) as t (data_type);
    return v_types;
end;
$$;

comment on function private.require_data_types(text[]) is
    'Validated, deduplicated data types (enabled defaults when null or empty); raises 22023 for unknown or disabled ones.';

-- Checks p_symbols (1..1000: one call queues at most 1000 x types items, well below
-- queue_refresh_batch_v2's 10,000 per call for the usual handful of types) for p_data_types (null
-- or empty: the enabled default data types) and queues what is stale. Keys per data type:
-- the symbols for key_kind symbol, the symbols' exchanges (from their profiles) for key_kind
-- exchange, the single null key for key_kind none.
-- Returns
--   {"queued":  [{"data_type", "key", "job_id", "created"}],   -- created false: already queued
--    "fresh":   [{"data_type", "key", "fresh_at"}],
--    "skipped": {"cooldown": [{"data_type", "key"}], "quota_exceeded": [{"data_type", "key"}]},
--                                      -- cooldown: missing or old data upstream was asked for lately
--    "errors":  [{"data_type", "error"}]}                        -- checks that failed: queued as stale
-- Raises 22023 for bad symbols or data types (nothing is written).
create function public.check_and_queue_stale_batch_v2(p_symbols text[], p_data_types text[])
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_symbols text[];
    v_types text[];
    v_type record;
    v_keys text[];
    v_exceeded jsonb := '{}';
    v_quota_out boolean;
    v_fresh jsonb := '[]';
    v_cooldown jsonb := '[]';
    v_quota_skipped jsonb := '[]';
    v_errors jsonb := '[]';
    v_items jsonb := '[]';
    v_part record;
    v_queued jsonb := '[]';
begin
    v_symbols := private.require_symbols(p_symbols, 1000);
    v_types := private.require_data_types(p_data_types);

    for v_type in
        select r.data_type, r.key_kind, r.provider
        from public.data_type_registry_v2 as r
        where r.data_type = any(v_types)
        order by r.priority desc, r.data_type
    loop
        v_keys := case v_type.key_kind
            when 'symbol' then v_symbols
            when 'none' then array[null::text]
            else (
                select pg_catalog.array_agg(distinct p.exchange order by p.exchange)
                from public.fmp_profile as p
                where p.symbol = any(v_symbols) and p.exchange is not null
            )
        end;
        continue when v_keys is null;

        if not v_exceeded ? v_type.provider then
            v_exceeded := v_exceeded
                || pg_catalog.jsonb_build_object(v_type.provider, public.is_quota_exceeded_v2(v_type.provider));
        end if;
        v_quota_out := (v_exceeded ->> v_type.provider)::boolean;

        begin
            select
                v_fresh || coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'data_type', v_type.data_type, 'key', s.key, 'fresh_at', s.fresh_at
                ) order by s.key) filter (where s.fresh), '[]'),
                v_cooldown || coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'data_type', v_type.data_type, 'key', s.key
                ) order by s.key) filter (where not s.fresh and s.in_cooldown), '[]'),
                v_quota_skipped || coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'data_type', v_type.data_type, 'key', s.key
                ) order by s.key) filter (where s.stale and v_quota_out), '[]'),
                v_items || coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'data_type', v_type.data_type, 'key', s.key
                ) order by s.key) filter (where s.stale and not v_quota_out), '[]')
            into v_fresh, v_cooldown, v_quota_skipped, v_items
            from private.stale_keys(v_type.data_type, v_keys, null) as s;
        exception
            when others then
                -- Any error counts as stale: queue every key of this type (unless out of quota).
                raise warning 'check_and_queue_stale_batch_v2: staleness check of "%" failed: % (SQLSTATE %), counted as stale',
                    v_type.data_type, sqlerrm, sqlstate;
                v_errors := v_errors
                    || pg_catalog.jsonb_build_object('data_type', v_type.data_type, 'error', sqlerrm);
                select
                    case when v_quota_out then v_items else v_items || x.items end,
                    case when v_quota_out then v_quota_skipped || x.items else v_quota_skipped end
                into v_items, v_quota_skipped
                from (
                    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'data_type', v_type.data_type, 'key', k.key
                    ) order by k.key) as items
                    from unnest(v_keys) as k (key)
                ) as x;
        end;
    end loop;

    if pg_catalog.jsonb_array_length(v_items) > 0 then
        select
            coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'data_type', b.data_type, 'key', b.key, 'job_id', b.job_id, 'created', b.created
            ) order by b.ord) filter (where b.job_id is not null), '[]') as queued,
            -- Null job: the key went into cooldown between the check and the enqueue.
            coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'data_type', b.data_type, 'key', b.key
            ) order by b.ord) filter (where b.job_id is null), '[]') as cooling
        into v_part
        from public.queue_refresh_batch_v2(v_items) with ordinality as b (data_type, key, job_id, created, ord);
        v_queued := v_part.queued;
        v_cooldown := v_cooldown || v_part.cooling;
    end if;

    return pg_catalog.jsonb_build_object(
        'queued', v_queued,
        'fresh', v_fresh,
        'skipped', pg_catalog.jsonb_build_object('cooldown', v_cooldown, 'quota_exceeded', v_quota_skipped),
        'errors', v_errors
    );
end;
$$;

comment on function public.check_and_queue_stale_batch_v2(text[], text[]) is
    'Set-based: checks symbols x data types for staleness (one query per type) and queues what is stale unless out of quota; returns {queued, fresh, skipped, errors}.';

revoke all on function private.require_symbols(text[], integer) from public, anon, authenticated, service_role;
revoke all on function private.require_data_types(text[]) from public, anon, authenticated, service_role;
revoke all on function public.check_and_queue_stale_batch_v2(text[], text[]) from public, anon, authenticated, service_role;
grant execute on function public.check_and_queue_stale_batch_v2(text[], text[]) to service_role;
