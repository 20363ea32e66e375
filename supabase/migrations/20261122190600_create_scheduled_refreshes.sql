-- queue_scheduled_refreshes_v2 (3.4): background refreshes of the data types whose
-- refresh_strategy is scheduled or both (built in: exchange-market-status, every 5 minutes),
-- run by pg_cron (job keepfresh-scheduled), independent of presence.
--   * pg_try_advisory_xact_lock(private.advisory_namespace(), 43): skip while another call runs;
--   * throttled: does its work at most once per presence_settings.scheduled_min_interval_seconds,
--     whatever the cron schedule (state in private.scheduler_state), so a cron job on a
--     10-second schedule or a manual call cannot flood the queue;
--   * keys: the single null key for key_kind none; for symbol and exchange types the keys that
--     already have rows in the target table (a scheduled type keeps what is stored fresh);
--   * a key is due when its data is older than the type's schedule_seconds (the market-closed
--     TTL when longer; cooldown respected), as private.stale_keys computes it;
--   * sampling: at most presence_settings.scheduled_sample_size keys per data type per call,
--     the stalest first, so a large key set is covered over successive calls in short
--     transactions, and no key starves;
--   * priority -1 (background work: anything a user asked for is claimed first), quota aware
--     (a provider without quota left is skipped), dedup and cooldown through queue_refresh_batch_v2.

create table private.scheduler_state (
    id boolean primary key default true,
    last_run_at timestamptz,
    last_result jsonb,
    updated_at timestamptz not null default now(),
    constraint scheduler_state_single_row_check check (id)
);

alter table private.scheduler_state enable row level security;

comment on table private.scheduler_state is
    'One row: when queue_scheduled_refreshes_v2 last did its work and what it queued (its throttle).';

create trigger set_updated_at
    before update on private.scheduler_state
    for each row
    execute function private.tg__set_updated_at();

insert into private.scheduler_state (id) values (true);

-- One scheduler call. Returns {"ran": false, "reason": "busy" | "throttled", "next_run_after"}
-- or {"ran": true, "types": n, "due": n, "queued": n, "already_queued": n, "quota_exceeded":
-- [providers], "errors": [{data_type, error}]}. A failing check of a keyless type counts as due
-- (any error counts as stale); of a keyed type it skips the type (its keys are unknown).
create function public.queue_scheduled_refreshes_v2()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_settings private.presence_settings;
    v_state private.scheduler_state;
    v_type record;
    v_target record;
    v_keys text[];
    v_due text[];
    v_items jsonb := '[]';
    v_types integer := 0;
    v_exceeded jsonb := '{}';
    v_quota_out text[] := '{}';
    v_errors jsonb := '[]';
    v_part record;
    v_result jsonb;
begin
    if not pg_catalog.pg_try_advisory_xact_lock(private.advisory_namespace(), 43) then
        return pg_catalog.jsonb_build_object('ran', false, 'reason', 'busy');
    end if;
    select s.* into v_settings from private.presence_settings as s;
    select s.* into v_state from private.scheduler_state as s for update;

    if v_state.last_run_at is not null
        and v_state.last_run_at > now() - pg_catalog.make_interval(secs => v_settings.scheduled_min_interval_seconds) then
        return pg_catalog.jsonb_build_object(
            'ran', false,
            'reason', 'throttled',
            'next_run_after', v_state.last_run_at + pg_catalog.make_interval(secs => v_settings.scheduled_min_interval_seconds)
        );
    end if;

    for v_type in
        select r.data_type, r.key_kind, r.provider, r.schedule_seconds
        from public.data_type_registry_v2 as r
        where r.enabled
            and r.refresh_strategy in ('scheduled', 'both')
        order by r.priority desc, r.data_type
    loop
        v_types := v_types + 1;
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

        begin
            if v_type.key_kind = 'none' then
                v_keys := array[null::text];
            else
                select t.* into v_target from private.data_type_target(v_type.data_type) as t;
                execute pg_catalog.format(
                    'select pg_catalog.array_agg(distinct d.%I::text) from %I.%I as d where d.%I is not null',
                    v_target.key_column, v_target.schema_name, v_target.table_name, v_target.key_column
                ) into v_keys;
            end if;

            select pg_catalog.array_agg(s.key order by s.ord) into v_due
            from (
                select k.key, row_number() over (order by k.fresh_at nulls first, k.key) as ord
                from private.stale_keys(v_type.data_type, v_keys, v_type.schedule_seconds) as k
                where k.stale
                    and not exists (
                        select 1
                        from private.api_call_queue_v2 as q
                        where q.status in ('pending', 'processing')
                            and q.dedup_key = private.queue_dedup_key(v_type.data_type, k.key, '{}'::jsonb)
                    )
                order by k.fresh_at nulls first, k.key
                limit v_settings.scheduled_sample_size
            ) as s;
        exception
            when others then
                raise warning 'queue_scheduled_refreshes_v2: check of "%" failed: % (SQLSTATE %)',
                    v_type.data_type, sqlerrm, sqlstate;
                v_errors := v_errors
                    || pg_catalog.jsonb_build_object('data_type', v_type.data_type, 'error', sqlerrm);
                v_due := case when v_type.key_kind = 'none' then array[null::text] end;
        end;

        if v_due is not null then
            select v_items || pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'data_type', v_type.data_type, 'key', d.key, 'priority', -1
            ) order by d.ord)
            into v_items
            from unnest(v_due) with ordinality as d (key, ord);
        end if;
    end loop;

    select
        count(*) filter (where b.created) as created,
        count(*) filter (where b.job_id is not null and not b.created) as existing
    into v_part
    from public.queue_refresh_batch_v2(v_items) as b;

    v_result := pg_catalog.jsonb_build_object(
        'ran', true,
        'types', v_types,
        'due', pg_catalog.jsonb_array_length(v_items),
        'queued', v_part.created,
        'already_queued', v_part.existing,
        'quota_exceeded', pg_catalog.to_jsonb(v_quota_out),
        'errors', v_errors
    );
    update private.scheduler_state as s
    set last_run_at = now(), last_result = v_result
    where s.id;
    return v_result;
end;
$$;

comment on function public.queue_scheduled_refreshes_v2() is
    'pg_cron scheduler (lock 43, throttled): queues due keys of scheduled/both data types at priority -1, stalest first, at most scheduled_sample_size per type; quota aware.';

revoke all on table private.scheduler_state from public, anon, authenticated, service_role;
revoke all on function public.queue_scheduled_refreshes_v2() from public, anon, authenticated, service_role;
grant execute on function public.queue_scheduled_refreshes_v2() to service_role;
