-- check_and_queue_stale_data_from_presence_v2 (3.4): the presence scan pg_cron runs (job
-- keepfresh-presence). It is the backstop of the event path (track_subscription_v2 queues at
-- once): data that goes stale while clients keep watching is queued here.
--   1. pg_try_advisory_xact_lock(private.advisory_namespace(), 42): a scan already running means
--      this one skips (never waits: overdue cron runs would pile up);
--   2. housekeeping, bounded by presence_settings.expire_batch_limit: deletes expired
--      subscriptions (expires_at <= now()) and rate-limit windows that ended, skipping rows
--      another transaction holds (a track call renewing a subscription wins; never waits);
--   3. skips the rest while use_presence_tracking is off;
--   4. set-based: ONE query groups the live subscriptions into the distinct symbols per enabled
--      data type (an empty data_types array means presence_settings.default_data_types), then
--      ONE staleness query per data type (private.stale_keys) finds the stale keys that have no
--      active job yet; types whose provider is out of quota are skipped without a query;
--   5. queues at most presence_settings.presence_scan_max_items of them, most urgent data types
--      first (registry priority) and stalest keys first, through queue_refresh_batch_v2 in calls
--      of at most 10,000 items; "more": true says the next tick continues.

-- One presence scan. Returns {"ran": false, "reason": "busy" | "disabled", "expired"} or
-- {"ran": true, "expired", "rate_limit_windows_pruned", "subscriptions", "pairs", "stale",
-- "queued", "already_queued", "cooldown", "more", "quota_exceeded": [providers], "errors":
-- [{data_type, error}]}. pairs: (data type, key) pairs checked; stale: of those, stale without an
-- active job; queued: new jobs. Never raises for those conditions; a failing staleness check
-- counts its keys as stale (logged as a WARNING).
create function public.check_and_queue_stale_data_from_presence_v2()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_settings private.presence_settings;
    v_expired integer := 0;
    v_pruned integer := 0;
    v_subscriptions integer := 0;
    v_type record;
    v_keys text[];
    v_stale text[];
    v_item_types text[] := '{}';
    v_item_keys text[] := '{}';
    v_exceeded jsonb := '{}';
    v_quota_out text[] := '{}';
    v_errors jsonb := '[]';
    v_pairs bigint := 0;
    v_total integer;
    v_take integer;
    v_offset integer := 0;
    v_chunk integer;
    v_created bigint := 0;
    v_existing bigint := 0;
    v_cooling bigint := 0;
    v_part record;
begin
    if not pg_catalog.pg_try_advisory_xact_lock(private.advisory_namespace(), 42) then
        return pg_catalog.jsonb_build_object('ran', false, 'reason', 'busy', 'expired', 0);
    end if;
    select s.* into v_settings from private.presence_settings as s;

    delete from public.active_subscriptions_v2 as a
    where a.id = any(array(
        select o.id
        from public.active_subscriptions_v2 as o
        where o.expires_at <= now()
        order by o.expires_at
        limit v_settings.expire_batch_limit
        -- A row a track call is renewing right now is left for the next tick: never wait.
        for update skip locked
    ));
    get diagnostics v_expired = row_count;

    delete from private.rate_limits as r
    where r.ctid = any(array(
        select o.ctid
        from private.rate_limits as o
        where o.window_start < pg_catalog.date_trunc('minute', now(), 'UTC')
        limit v_settings.expire_batch_limit
        for update skip locked
    ));
    get diagnostics v_pruned = row_count;

    if not public.is_feature_enabled('use_presence_tracking') then
        return pg_catalog.jsonb_build_object('ran', false, 'reason', 'disabled', 'expired', v_expired);
    end if;

    select count(*)::integer into v_subscriptions
    from public.active_subscriptions_v2 as a
    where a.expires_at > now();

    for v_type in
        select r.data_type, r.key_kind, r.provider, w.symbols
        from (
            select t.data_type, pg_catalog.array_agg(distinct a.symbol) as symbols
            from public.active_subscriptions_v2 as a
            cross join lateral unnest(
                case when cardinality(a.data_types) = 0 then v_settings.default_data_types else a.data_types end
            ) as t (data_type)
            where a.expires_at > now()
            group by t.data_type
        ) as w
        join public.data_type_registry_v2 as r on r.data_type = w.data_type and r.enabled
        order by r.priority desc, r.data_type
    loop
        if not v_exceeded ? v_type.provider then
            v_exceeded := v_exceeded
                || pg_catalog.jsonb_build_object(v_type.provider, public.is_quota_exceeded_v2(v_type.provider));
        end if;
        if (v_exceeded ->> v_type.provider)::boolean then
            if not v_type.provider = any(v_quota_out) then
                v_quota_out := v_quota_out || v_type.provider;
            end if;
            continue;
        end if;

        v_keys := case v_type.key_kind
            when 'symbol' then v_type.symbols
            when 'none' then array[null::text]
            else (
                select pg_catalog.array_agg(distinct p.exchange)
                from public.fmp_profile as p
                where p.symbol = any(v_type.symbols) and p.exchange is not null
            )
        end;
        continue when v_keys is null;
        v_pairs := v_pairs + cardinality(v_keys);

        begin
            select pg_catalog.array_agg(s.key order by s.fresh_at nulls first, s.key)
            into v_stale
            from private.stale_keys(v_type.data_type, v_keys, null) as s
            where s.stale
                and not exists (
                    select 1
                    from private.api_call_queue_v2 as q
                    where q.status in ('pending', 'processing')
                        and q.dedup_key = private.queue_dedup_key(v_type.data_type, s.key, '{}'::jsonb)
                );
        exception
            when others then
                raise warning 'check_and_queue_stale_data_from_presence_v2: staleness check of "%" failed: % (SQLSTATE %), counted as stale',
                    v_type.data_type, sqlerrm, sqlstate;
                v_errors := v_errors
                    || pg_catalog.jsonb_build_object('data_type', v_type.data_type, 'error', sqlerrm);
                v_stale := v_keys;
        end;

        if v_stale is not null then
            v_item_types := v_item_types || pg_catalog.array_fill(v_type.data_type, array[cardinality(v_stale)]);
            v_item_keys := v_item_keys || v_stale;
        end if;
    end loop;

    v_total := cardinality(v_item_keys);
    v_take := least(v_total, v_settings.presence_scan_max_items);
    while v_offset < v_take loop
        v_chunk := least(10000, v_take - v_offset);
        select
            count(*) filter (where b.created) as created,
            count(*) filter (where b.job_id is not null and not b.created) as existing,
            count(*) filter (where b.job_id is null) as cooling
        into v_part
        from public.queue_refresh_batch_v2((
            select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('data_type', i.data_type, 'key', i.key) order by i.ord)
            from unnest(
                v_item_types[v_offset + 1 : v_offset + v_chunk],
                v_item_keys[v_offset + 1 : v_offset + v_chunk]
            ) with ordinality as i (data_type, key, ord)
        )) as b;
        v_created := v_created + v_part.created;
        v_existing := v_existing + v_part.existing;
        v_cooling := v_cooling + v_part.cooling;
        v_offset := v_offset + v_chunk;
    end loop;

    return pg_catalog.jsonb_build_object(
        'ran', true,
        'expired', v_expired,
        'rate_limit_windows_pruned', v_pruned,
        'subscriptions', v_subscriptions,
        'pairs', v_pairs,
        'stale', v_total,
        'queued', v_created,
        'already_queued', v_existing,
        'cooldown', v_cooling,
        'more', v_total > v_take,
        'quota_exceeded', pg_catalog.to_jsonb(v_quota_out),
        'errors', v_errors
    );
end;
$$;

comment on function public.check_and_queue_stale_data_from_presence_v2() is
    'pg_cron presence scan (lock 42): expires old subscriptions, then queues stale data of live subscriptions set-based, one staleness query per data type, quota aware.';

revoke all on function public.check_and_queue_stale_data_from_presence_v2() from public, anon, authenticated, service_role;
grant execute on function public.check_and_queue_stale_data_from_presence_v2() to service_role;
