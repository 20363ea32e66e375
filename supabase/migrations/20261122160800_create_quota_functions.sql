-- Quota and provider-state functions (3.3): whether a provider can be claimed for now, its usage
-- per window for health-check, and setting its state (operators, and the failure path through
-- private.escalate_provider_state). Windows and states are documented in
-- 20261122160100_create_providers.sql.

-- Whether a claim for p_provider would get nothing now: the calls left (minute and day
-- windows) are fewer than the cheapest enabled data type of the provider needs (calls_per_job),
-- the bytes left (30 days, reservations counted) are fewer than its smallest reservation
-- (ceil(estimated_bytes * bytes_safety_factor)), or the provider is paused (rate_limited or
-- bandwidth_exhausted until state_until, or invalid_key). Without enabled data types: whether
-- no call or no byte is left. False for an unknown provider.
create function private.provider_exhausted(p_provider text)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
declare
    v_exhausted boolean;
begin
    select b.calls_left < coalesce(m.min_calls, 1) or b.bytes_left < coalesce(m.min_bytes, 1)
    into v_exhausted
    from private.provider_budget(p_provider) as b
    cross join lateral (
        select
            min(r.calls_per_job) as min_calls,
            min(pg_catalog.ceil(r.estimated_bytes * b.bytes_safety_factor)) as min_bytes
        from public.data_type_registry_v2 as r
        where r.enabled and r.provider = p_provider
    ) as m;
    return coalesce(v_exhausted, false);
end;
$$;

comment on function private.provider_exhausted(text) is
    'True when a claim for the provider would get nothing: too few calls or bytes left for its cheapest enabled type, or paused.';

-- Whether claims for p_provider would get nothing now because of its quota or its state: see
-- private.provider_exhausted (windows used up for the cheapest enabled data type, or the
-- provider paused). Raises 22023 for an unknown provider.
create function public.is_quota_exceeded_v2(p_provider text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform private.require_provider(p_provider);
    return private.provider_exhausted(p_provider);
end;
$$;

comment on function public.is_quota_exceeded_v2(text) is
    'True when the provider''s calls or bytes left do not cover one job of its cheapest enabled type, or it is paused; raises for an unknown provider.';

-- Quota status of p_provider as JSON: state in force (and the stored one with its end and
-- reason), exceeded (as is_quota_exceeded_v2), and per window used, limit and remaining (limit
-- and remaining null when the window has no limit): calls_per_minute (with resets_at),
-- calls_per_day (trailing 24 h), bytes_per_30d (used = actual bytes of finished jobs, reserved =
-- estimates of jobs in flight). Raises 22023 for an unknown provider.
create function public.get_quota_status_v2(p_provider text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_result jsonb;
begin
    perform private.require_provider(p_provider);

    select pg_catalog.jsonb_build_object(
        'provider', p.provider,
        'state', b.state,
        'stored_state', p.state,
        'state_until', p.state_until,
        'state_reason', p.state_reason,
        'exceeded', private.provider_exhausted(p.provider),
        'calls_per_minute', pg_catalog.jsonb_build_object(
            'used', w.minute_calls,
            'limit', p.calls_per_minute,
            'remaining', greatest(0, p.calls_per_minute - w.minute_calls),
            'resets_at', pg_catalog.date_trunc('minute', now(), 'UTC') + interval '1 minute'
        ),
        'calls_per_day', pg_catalog.jsonb_build_object(
            'used', w.day_calls,
            'limit', p.calls_per_day,
            'remaining', greatest(0, p.calls_per_day - w.day_calls)
        ),
        'bytes_per_30d', pg_catalog.jsonb_build_object(
            'used', w.bytes_30d,
            'reserved', w.reserved_bytes_30d,
            'limit', p.bytes_per_30d,
            'remaining', greatest(0, p.bytes_per_30d - w.bytes_30d - w.reserved_bytes_30d)
        ),
        'bytes_safety_factor', p.bytes_safety_factor
    )
    into v_result
    from private.providers as p
    cross join lateral private.provider_window_usage(p.provider) as w
    cross join lateral private.provider_budget(p.provider) as b
    where p.provider = p_provider;

    return v_result;
end;
$$;

comment on function public.get_quota_status_v2(text) is
    'Quota of a provider as JSON: state, exceeded, used/limit/remaining per window; raises for an unknown provider.';

-- Sets the state of p_provider, overriding the current one (operators; health-check shows it).
-- p_state: ok | rate_limited | bandwidth_exhausted | invalid_key. p_pause_seconds: how long a
-- non-ok state lasts (1..2592000); null means the provider's default pause for rate_limited and
-- bandwidth_exhausted, and "until set back to ok" for invalid_key. p_reason is kept (2000
-- characters at most). invalid_key also opens the provider's circuit; going from invalid_key
-- back to ok closes it. Returns get_quota_status_v2(p_provider).
-- Raises 22023 for an unknown provider, an unknown state or a pause out of range.
create function public.set_provider_state_v2(
    p_provider text,
    p_state text,
    p_pause_seconds integer,
    p_reason text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_previous text;
begin
    perform private.require_provider(p_provider);
    if p_state is null or p_state not in ('ok', 'rate_limited', 'bandwidth_exhausted', 'invalid_key') then
        raise exception 'unknown provider state "%"', coalesce(p_state, 'null')
            using errcode = '22023',
                hint = 'Use one of ok, rate_limited, bandwidth_exhausted, invalid_key.';
    end if;
    if p_pause_seconds is not null and p_pause_seconds not between 1 and 2592000 then
        raise exception 'pause of % seconds is out of range', p_pause_seconds
            using errcode = '22023',
                hint = 'Pass 1 to 2592000 seconds (30 days), or null for the default.';
    end if;

    select p.state into v_previous from private.providers as p where p.provider = p_provider for no key update;

    update private.providers as p
    set state = p_state,
        state_until = case
            when p_state = 'ok' then null
            when p_pause_seconds is not null then now() + pg_catalog.make_interval(secs => p_pause_seconds)
            when p_state = 'rate_limited' then now() + pg_catalog.make_interval(secs => p.rate_limit_pause_seconds)
            when p_state = 'bandwidth_exhausted' then now() + pg_catalog.make_interval(secs => p.bandwidth_pause_seconds)
        end,
        state_reason = pg_catalog.left(p_reason, 2000)
    where p.provider = p_provider;

    if p_state = 'invalid_key' then
        perform private.open_circuit(p_provider, coalesce('invalid key: ' || p_reason, 'invalid key'));
    elsif p_state = 'ok' and v_previous = 'invalid_key' then
        perform private.close_circuit(p_provider, 'provider state set back to ok');
    end if;

    return public.get_quota_status_v2(p_provider);
end;
$$;

comment on function public.set_provider_state_v2(text, text, integer, text) is
    'Sets a provider''s state (ok, rate_limited, bandwidth_exhausted, invalid_key) with a pause and reason; returns its quota status.';

-- Raises the state of p_provider to p_state for p_pause_seconds (null: until set back to ok)
-- unless a more severe state is in force (ok < rate_limited < bandwidth_exhausted <
-- invalid_key). The same state is extended to the later end. Used by fail_queue_job_v2, so a
-- 429 never downgrades an invalid key. Returns nothing.
create function private.escalate_provider_state(
    p_provider text,
    p_state text,
    p_pause_seconds integer,
    p_reason text
)
returns void
language sql
set search_path = ''
as $$
    update private.providers as p
    set state = p_state,
        state_until = case
            when p_pause_seconds is null then null
            when private.provider_effective_state(p.state, p.state_until) = p_state and p.state_until is not null
                then greatest(p.state_until, now() + pg_catalog.make_interval(secs => p_pause_seconds))
            else now() + pg_catalog.make_interval(secs => p_pause_seconds)
        end,
        state_reason = pg_catalog.left(p_reason, 2000)
    where p.provider = p_provider
        and pg_catalog.array_position(
                array['ok', 'rate_limited', 'bandwidth_exhausted', 'invalid_key'], p_state)
            >= pg_catalog.array_position(
                array['ok', 'rate_limited', 'bandwidth_exhausted', 'invalid_key'],
                private.provider_effective_state(p.state, p.state_until))
$$;

comment on function private.escalate_provider_state(text, text, integer, text) is
    'Raises a provider''s state unless a more severe one is in force; extends the same state to the later end.';

revoke all on function private.provider_exhausted(text) from public, anon, authenticated, service_role;
revoke all on function public.is_quota_exceeded_v2(text) from public, anon, authenticated, service_role;
revoke all on function public.get_quota_status_v2(text) from public, anon, authenticated, service_role;
revoke all on function public.set_provider_state_v2(text, text, integer, text) from public, anon, authenticated, service_role;
revoke all on function private.escalate_provider_state(text, text, integer, text) from public, anon, authenticated, service_role;
grant execute on function public.is_quota_exceeded_v2(text) to service_role;
grant execute on function public.get_quota_status_v2(text) to service_role;
grant execute on function public.set_provider_state_v2(text, text, integer, text) to service_role;
