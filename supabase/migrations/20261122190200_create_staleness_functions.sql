-- Staleness (3.4): whether the stored data of a (data type, key) should be refreshed now.
--
-- Decision: freshness is read from the TARGET TABLE, the data the app actually shows: the
-- newest value of the registry's timestamp_column among the key's rows (column symbol for
-- key_kind symbol, exchange for key_kind exchange, the whole table for key_kind none). Rows
-- deleted or never written are missing data, whatever a queue or state table remembers. The
-- table and column names come from the registry, pass is_valid_qualified_name /
-- is_valid_identifier and are quoted with format('%I.%I') before they reach dynamic SQL; the
-- keys are bound parameters. private.refresh_state only contributes the cooldown.
--
-- Rules, in order:
--   1. cooldown: refresh_state.next_eligible_at > now() means NOT stale, whether data is
--      missing or old (upstream answered [] or "not newer", or failed for good, recently: asking
--      again now would only spend quota);
--   2. missing data is stale;
--   3. data is stale once its age reaches the TTL (age >= ttl: exactly at the TTL is stale);
--      the TTL is the registry's ttl_seconds, or market_closed_ttl_seconds (never shorter) while
--      the key's exchange is closed: for key_kind symbol the exchange is public.fmp_profile.exchange
--      of the symbol, for key_kind exchange the key itself, and closed means a row in
--      public.fmp_exchange_market_status with is_market_open false that is younger than
--      presence_settings.market_status_max_age_seconds (an older status is not trusted);
--   4. any error (unknown data type, a registry row pointing at a missing table or column, a
--      timestamp column of the wrong type...) counts as stale, never fresh, and is logged as a
--      WARNING: a broken row costs an upstream call, never silently stale data.

-- Schema, table, timestamp column and key column (symbol, exchange, or null for key_kind none)
-- of p_data_type's target table, every name validated. Raises 22023 for an unknown data type or
-- a name that is not a valid identifier (the registry's CHECK constraints make that unlikely).
create function private.data_type_target(
    p_data_type text,
    out schema_name text,
    out table_name text,
    out timestamp_column text,
    out key_column text
)
language plpgsql
stable
set search_path = ''
as $$
declare
    v_registry public.data_type_registry_v2;
begin
    select r.* into v_registry
    from public.data_type_registry_v2 as r
    where r.data_type = p_data_type;
    if not found then
        raise exception 'unknown data type "%"', coalesce(p_data_type, 'null')
            using errcode = '22023',
                hint = 'Use a data_type from public.data_type_registry_v2.';
    end if;
    if not public.is_valid_qualified_name(v_registry.target_table)
        or not public.is_valid_identifier(v_registry.timestamp_column) then
        raise exception 'data type "%" has an invalid target_table "%" or timestamp_column "%"',
            p_data_type, v_registry.target_table, v_registry.timestamp_column
            using errcode = '22023',
                hint = 'target_table must be schema.table and timestamp_column a plain lowercase identifier.';
    end if;
    schema_name := pg_catalog.split_part(v_registry.target_table, '.', 1);
    table_name := pg_catalog.split_part(v_registry.target_table, '.', 2);
    timestamp_column := v_registry.timestamp_column;
    key_column := case v_registry.key_kind
        when 'symbol' then 'symbol'
        when 'exchange' then 'exchange'
    end;
end;
$$;

comment on function private.data_type_target(text) is
    'Validated schema, table, timestamp column and key column (symbol | exchange | null) of a data type''s target table.';

-- The staleness of many keys of one data type in ONE query: for each distinct non-null key of
-- p_keys (ignored for key_kind none, which has the single key null) its freshness (newest
-- timestamp_column of its rows in the target table), the TTL that applies (p_max_age_seconds
-- instead of ttl_seconds when given, as the scheduler does; the market-closed TTL when the
-- exchange is closed and that is longer), whether the data is fresh (present and younger than
-- the TTL), whether the key is in cooldown, and whether it is stale (rules at the top of this
-- migration: neither fresh nor in cooldown). Ordered stalest first (missing data, then oldest).
-- Raises for an unknown data type, invalid names, or a target table or column that does not
-- exist: callers turn that into "stale".
create function private.stale_keys(p_data_type text, p_keys text[], p_max_age_seconds integer)
returns table (
    key text,
    fresh_at timestamptz,
    ttl_seconds integer,
    fresh boolean,
    in_cooldown boolean,
    stale boolean
)
language plpgsql
stable
set search_path = ''
-- One index probe per key is cheap, but the estimate for 10,000 keys passes jit_above_cost and
-- JIT compilation then costs more (about 30 ms per call, measured) than it saves.
set jit = off
as $$
declare
    v_target record;
    v_registry public.data_type_registry_v2;
    v_keys text[];
    v_key_filter text;
    v_market_age interval;
begin
    select t.* into v_target from private.data_type_target(p_data_type) as t;
    select r.* into v_registry from public.data_type_registry_v2 as r where r.data_type = p_data_type;

    if v_target.key_column is null then
        v_keys := array[null::text];
        v_key_filter := 'true';
    else
        select pg_catalog.array_agg(distinct k.key) into v_keys
        from unnest(p_keys) as k (key)
        where k.key is not null;
        v_key_filter := pg_catalog.format('d.%I = k.key', v_target.key_column);
    end if;
    if v_keys is null then
        return;
    end if;

    select pg_catalog.make_interval(secs => s.market_status_max_age_seconds) into v_market_age
    from private.presence_settings as s;

    return query execute pg_catalog.format(
        $sql$
            select
                k.key,
                f.fresh_at,
                t.ttl,
                coalesce(f.fresh_at > now() - pg_catalog.make_interval(secs => t.ttl), false),
                t.cooling,
                not t.cooling
                    and (f.fresh_at is null or f.fresh_at <= now() - pg_catalog.make_interval(secs => t.ttl))
            from unnest($1::text[]) as k (key)
            left join lateral (
                select max(d.%3$I)::timestamptz as fresh_at
                from %1$I.%2$I as d
                where %4$s
            ) as f on true
            left join private.refresh_state as s
                on s.data_type = $2 and s.key = coalesce(k.key, '')
            cross join lateral (
                select
                    coalesce(s.next_eligible_at > now(), false) as cooling,
                    case
                        when $4::integer is not null and case $5::text
                            when 'symbol' then exists (
                                select 1
                                from public.fmp_profile as p
                                join public.fmp_exchange_market_status as m on m.exchange = p.exchange
                                where p.symbol = k.key
                                    and not m.is_market_open
                                    and m.fetched_at > now() - $6::interval
                            )
                            when 'exchange' then exists (
                                select 1
                                from public.fmp_exchange_market_status as m
                                where m.exchange = k.key
                                    and not m.is_market_open
                                    and m.fetched_at > now() - $6::interval
                            )
                            else false
                        end
                        then greatest($4::integer, $3::integer)
                        else $3::integer
                    end as ttl
                -- offset 0 keeps the subquery from being flattened, which would evaluate the
                -- market lookup once per reference to ttl instead of once per key.
                offset 0
            ) as t
            order by f.fresh_at nulls first, k.key
        $sql$,
        v_target.schema_name,
        v_target.table_name,
        v_target.timestamp_column,
        v_key_filter
    )
    using
        v_keys,
        p_data_type,
        coalesce(p_max_age_seconds, v_registry.ttl_seconds),
        v_registry.market_closed_ttl_seconds,
        v_registry.key_kind,
        v_market_age;
end;
$$;

comment on function private.stale_keys(text, text[], integer) is
    'Staleness of many keys of one data type in one query: fresh_at from the target table, TTL (market-closed aware), cooldown, stale.';

-- Whether the data of p_data_type for p_symbol should be refreshed now (rules at the top of this
-- migration). p_symbol is the key for key_kind symbol; for key_kind exchange the symbol's
-- exchange (from its profile; p_symbol itself when it has none) is the key; key_kind none
-- ignores it. No DEFAULT arguments. Never raises and never returns null: unknown data types,
-- a null symbol where one is needed and every error count as stale (true), with a WARNING.
create function public.is_data_stale_v2(p_data_type text, p_symbol text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_key_kind text;
    v_key text;
    v_stale boolean;
begin
    select r.key_kind into v_key_kind
    from public.data_type_registry_v2 as r
    where r.data_type = p_data_type;
    if v_key_kind is null then
        raise warning 'is_data_stale_v2: unknown data type "%" counts as stale', p_data_type;
        return true;
    end if;

    v_key := case v_key_kind
        when 'symbol' then p_symbol
        when 'exchange' then coalesce(
            (select p.exchange from public.fmp_profile as p where p.symbol = p_symbol),
            p_symbol
        )
    end;
    if v_key_kind <> 'none' and v_key is null then
        return true;
    end if;

    select s.stale into v_stale
    from private.stale_keys(p_data_type, array[v_key], null) as s;
    return coalesce(v_stale, true);
exception
    when others then
        raise warning 'is_data_stale_v2(%, %): % (SQLSTATE %), counted as stale',
            p_data_type, p_symbol, sqlerrm, sqlstate;
        return true;
end;
$$;

comment on function public.is_data_stale_v2(text, text) is
    'True when the data type''s stored data for the symbol is missing (and not in cooldown) or older than its TTL (market-closed aware); any error counts as stale.';

-- Whether the company profile of p_symbol should be refreshed now: is_data_stale_v2('profile',
-- p_symbol). No DEFAULT arguments; never raises, errors count as stale.
create function public.is_profile_stale_v2(p_symbol text)
returns boolean
language sql
stable
set search_path = ''
as $$
    select public.is_data_stale_v2('profile', p_symbol)
$$;

comment on function public.is_profile_stale_v2(text) is
    'True when the profile of the symbol is missing (and not in cooldown) or older than its TTL; errors count as stale.';

revoke all on function private.data_type_target(text) from public, anon, authenticated, service_role;
revoke all on function private.stale_keys(text, text[], integer) from public, anon, authenticated, service_role;
revoke all on function public.is_data_stale_v2(text, text) from public, anon, authenticated, service_role;
revoke all on function public.is_profile_stale_v2(text) from public, anon, authenticated, service_role;
grant execute on function public.is_data_stale_v2(text, text) to service_role;
grant execute on function public.is_profile_stale_v2(text) to service_role;
