-- track_subscription_v2 (3.4, 3.5): everything the track-subscription-v2 Edge Function does in
-- the database, in ONE call (one round trip, one transaction):
--   1. the per-user rate limit (private.consume_rate_limit, bucket
--      track-subscription:<user id>, presence_settings.rate_limit_per_minute per calendar minute);
--   2. validation of action, client id, symbols (1..50) and data types;
--   3. presence: track and heartbeat upsert one active_subscriptions_v2 row per symbol with
--      last_seen_at now() and expires_at now() + subscription_ttl_seconds; untrack deletes them;
--   4. for track and heartbeat, while use_presence_tracking is on: check_and_queue_stale_batch_v2
--      for the symbols and their data types, so stale data is queued at once (the event path)
--      instead of on the next presence scan.
-- The Edge Function authenticates the user (JWT) and passes the user id; the function trusts it,
-- so only service_role (and the table owner the functions connect as) may call it.

-- Records presence for p_user_id's client p_client_id (null: 'default') and p_symbols, and queues
-- what is stale. p_action: track (replace the rows' data types with p_data_types; null or empty
-- means the default set), heartbeat (renew; data types kept unless p_data_types is given; a row
-- that expired meanwhile is created again) or untrack (delete the rows).
-- Returns, for track and heartbeat,
--   {"action", "client_id", "symbols", "data_types", "expires_at", "heartbeat_seconds",
--    "presence_tracking", "queued", "fresh", "skipped", "errors"}
-- (heartbeat_seconds: the interval a client should heartbeat at, a third of the expiry; the
-- last four as check_and_queue_stale_batch_v2, empty when presence tracking is off), for untrack
--   {"action", "client_id", "symbols", "untracked"},
-- and when the user is over the rate limit (nothing else done)
--   {"rate_limited": true, "retry_after_seconds", "limit_per_minute"}.
-- Raises 22023 for a missing user id or a bad action, client id, symbol or data type (nothing is
-- written, the rate-limit count included).
create function public.track_subscription_v2(
    p_user_id uuid,
    p_client_id text,
    p_symbols text[],
    p_data_types text[],
    p_action text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_settings private.presence_settings;
    v_limit record;
    v_client text := coalesce(p_client_id, 'default');
    v_symbols text[];
    v_types text[];
    v_expires_at timestamptz;
    v_count integer;
    v_check jsonb;
    v_tracking boolean;
begin
    if p_user_id is null then
        raise exception 'user id is required' using errcode = '22023';
    end if;
    select s.* into v_settings from private.presence_settings as s;

    select l.* into v_limit
    from private.consume_rate_limit('track-subscription:' || p_user_id::text, v_settings.rate_limit_per_minute) as l;
    if not v_limit.allowed then
        return pg_catalog.jsonb_build_object(
            'rate_limited', true,
            'retry_after_seconds', v_limit.retry_after_seconds,
            'limit_per_minute', v_settings.rate_limit_per_minute
        );
    end if;

    if p_action is null or p_action not in ('track', 'heartbeat', 'untrack') then
        raise exception 'unknown action "%"', coalesce(p_action, 'null')
            using errcode = '22023',
                hint = 'Use track, heartbeat or untrack.';
    end if;
    -- The limits of active_subscriptions_v2.client_id, checked here for a clear message.
    if char_length(v_client) not between 1 and 64 then
        raise exception 'client id must be 1 to 64 characters, got %', char_length(v_client)
            using errcode = '22023';
    end if;
    -- 50 symbols per call (SPEC 3.5): one screen's worth; bigger sets are split by the client.
    v_symbols := private.require_symbols(p_symbols, 50);

    if p_action = 'untrack' then
        delete from public.active_subscriptions_v2 as a
        where a.user_id = p_user_id
            and a.client_id = v_client
            and a.symbol = any(v_symbols);
        get diagnostics v_count = row_count;
        return pg_catalog.jsonb_build_object(
            'action', p_action,
            'client_id', v_client,
            'symbols', pg_catalog.to_jsonb(v_symbols),
            'untracked', v_count
        );
    end if;

    -- Validates explicit data types (raises for unknown or disabled ones).
    v_types := private.require_data_types(p_data_types);
    v_expires_at := now() + pg_catalog.make_interval(secs => v_settings.subscription_ttl_seconds);

    insert into public.active_subscriptions_v2 as a (user_id, client_id, symbol, data_types, last_seen_at, expires_at)
    select p_user_id, v_client, s.symbol, coalesce(p_data_types, '{}'), now(), v_expires_at
    from unnest(v_symbols) as s (symbol)
    order by s.symbol
    on conflict (user_id, client_id, symbol) do update
    set data_types = case
            when p_action = 'heartbeat' and p_data_types is null then a.data_types
            else excluded.data_types
        end,
        last_seen_at = excluded.last_seen_at,
        expires_at = excluded.expires_at;

    -- What the rows watch now: their own types, the default set for an empty array.
    if p_action = 'heartbeat' and p_data_types is null then
        select pg_catalog.array_agg(distinct t.data_type order by t.data_type) into v_types
        from public.active_subscriptions_v2 as a
        cross join lateral unnest(
            case when cardinality(a.data_types) = 0 then v_settings.default_data_types else a.data_types end
        ) as t (data_type)
        join public.data_type_registry_v2 as r on r.data_type = t.data_type and r.enabled
        where a.user_id = p_user_id
            and a.client_id = v_client
            and a.symbol = any(v_symbols);
        v_types := coalesce(v_types, '{}');
    end if;

    v_tracking := public.is_feature_enabled('use_presence_tracking');
    if v_tracking and cardinality(v_types) > 0 then
        v_check := public.check_and_queue_stale_batch_v2(v_symbols, v_types);
    else
        v_check := '{"queued": [], "fresh": [], "skipped": {"cooldown": [], "quota_exceeded": []}, "errors": []}';
    end if;

    return pg_catalog.jsonb_build_object(
        'action', p_action,
        'client_id', v_client,
        'symbols', pg_catalog.to_jsonb(v_symbols),
        'data_types', pg_catalog.to_jsonb(v_types),
        'expires_at', v_expires_at,
        'heartbeat_seconds', greatest(1, v_settings.subscription_ttl_seconds / 3),
        'presence_tracking', v_tracking
    ) || v_check;
end;
$$;

comment on function public.track_subscription_v2(uuid, text, text[], text[], text) is
    'One round trip for track-subscription-v2: per-user rate limit, presence upsert (track/heartbeat) or delete (untrack), then queues what is stale.';

revoke all on function public.track_subscription_v2(uuid, text, text[], text[], text) from public, anon, authenticated, service_role;
grant execute on function public.track_subscription_v2(uuid, text, text[], text[], text) to service_role;
