-- The sections of the health report (3.5), each a JSON-returning function that
-- private.health_report() assembles (a later migration): the queue (depth per partition, oldest
-- pending, stuck jobs), each provider (quota windows, state, circuit), the processor (leases,
-- last runs, success rate and mean duration over 1 h and 24 h, totals) and the vocabulary
-- (private.vocabulary_health() once a migration creates it). Read-only; owner-only (postgres),
-- called by the health-check function.

-- The queue as JSON: depth {pending, processing, completed, failed} (rows per partition); due
-- (pending jobs with not_before <= now()); oldest_pending_age_seconds (since the oldest pending
-- job was created); oldest_due_wait_seconds (how long the longest-waiting due job has been due:
-- since its not_before, so a job in retry backoff only counts once it is due again);
-- stuck_jobs (processing jobs whose lease has expired) and oldest_stuck_seconds (since the
-- earliest of those leases expired); next_due_at (the earliest not_before in the future).
-- Ages are null when there is no such job.
create function private.queue_health()
returns jsonb
language sql
stable
set search_path = ''
as $$
    with pending as (
        select
            pg_catalog.count(*) as depth,
            pg_catalog.count(*) filter (where q.not_before <= now()) as due,
            min(q.created_at) as oldest_created_at,
            min(q.not_before) filter (where q.not_before <= now()) as oldest_due_at,
            min(q.not_before) filter (where q.not_before > now()) as next_due_at
        from private.api_call_queue_v2_pending as q
    ),
    processing as (
        select
            pg_catalog.count(*) as depth,
            pg_catalog.count(*) filter (where q.lease_expires_at < now()) as stuck,
            min(q.lease_expires_at) filter (where q.lease_expires_at < now()) as oldest_expired_at
        from private.api_call_queue_v2_processing as q
    )
    select pg_catalog.jsonb_build_object(
        'depth', pg_catalog.jsonb_build_object(
            'pending', p.depth,
            'processing', r.depth,
            'completed', (select pg_catalog.count(*) from private.api_call_queue_v2_completed),
            'failed', (select pg_catalog.count(*) from private.api_call_queue_v2_failed)
        ),
        'due', p.due,
        'oldest_pending_age_seconds',
            pg_catalog.round(extract(epoch from now() - p.oldest_created_at), 3),
        'oldest_due_wait_seconds',
            pg_catalog.round(extract(epoch from now() - p.oldest_due_at), 3),
        'stuck_jobs', r.stuck,
        'oldest_stuck_seconds',
            pg_catalog.round(extract(epoch from now() - r.oldest_expired_at), 3),
        'next_due_at', p.next_due_at
    )
    from pending as p
    cross join processing as r
$$;

comment on function private.queue_health() is
    'Queue for health-check: depth per partition, due jobs, oldest pending age and due wait, stuck jobs.';

-- Every provider as a JSON array (by name): provider, enabled_data_types (enabled registry rows
-- naming it), quota (public.get_quota_status_v2), windows [{name, used, limit, ratio}] for
-- calls_per_minute, calls_per_day and bytes_per_30d (bytes used include in-flight
-- reservations; ratio = used / limit, 1 for a zero limit, null without a limit), and circuit
-- (public.get_circuit_state_v2).
create function private.provider_health()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_agg(
        pg_catalog.jsonb_build_object(
            'provider', p.provider,
            'enabled_data_types', (
                select pg_catalog.count(*) from public.data_type_registry_v2 as r
                where r.enabled and r.provider = p.provider
            ),
            'quota', q.quota,
            'windows', (
                select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'name', w.name,
                        'used', w.used,
                        'limit', w.lim,
                        'ratio', case
                            when w.lim is null then null
                            when w.lim = 0 then 1
                            else pg_catalog.round(w.used / w.lim, 4)
                        end
                    ) order by w.ord)
                from (
                    values
                        (1, 'calls_per_minute', (q.quota #>> '{calls_per_minute,used}')::numeric,
                            (q.quota #>> '{calls_per_minute,limit}')::numeric),
                        (2, 'calls_per_day', (q.quota #>> '{calls_per_day,used}')::numeric,
                            (q.quota #>> '{calls_per_day,limit}')::numeric),
                        (3, 'bytes_per_30d',
                            (q.quota #>> '{bytes_per_30d,used}')::numeric
                                + (q.quota #>> '{bytes_per_30d,reserved}')::numeric,
                            (q.quota #>> '{bytes_per_30d,limit}')::numeric)
                ) as w (ord, name, used, lim)
            ),
            'circuit', public.get_circuit_state_v2(p.provider)
        ) order by p.provider), '[]'::jsonb)
    from private.providers as p
    cross join lateral (select public.get_quota_status_v2(p.provider) as quota) as q
$$;

comment on function private.provider_health() is
    'Providers for health-check: enabled data types, quota status, windows with used/limit/ratio, circuit.';

-- The processor as JSON: live_leases (unexpired processor leases) and max_runs; last_runs (the
-- 10 most recent sync runs, newest first, as public.get_sync_run_v2); stats_1h and stats_24h
-- (public.get_sync_stats_v2: runs per status, success_rate, mean_duration_seconds, jobs, ...);
-- totals (private.sync_run_totals: all finished runs ever, for the Prometheus counters).
create function private.processor_health()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'live_leases', (
            select pg_catalog.count(*) from private.processor_leases as l where l.expires_at > now()
        ),
        'max_runs', (select s.max_processor_runs from private.queue_settings as s),
        'last_runs', coalesce((
            select pg_catalog.jsonb_agg(public.get_sync_run_v2(r.id) order by r.id desc)
            from (
                select s.id from private.sync_runs as s order by s.id desc limit 10
            ) as r
        ), '[]'::jsonb),
        'stats_1h', public.get_sync_stats_v2(interval '1 hour'),
        'stats_24h', public.get_sync_stats_v2(interval '24 hours'),
        'totals', private.sync_run_totals()
    )
$$;

comment on function private.processor_health() is
    'Processor for health-check: live leases, last 10 runs, stats over 1 h and 24 h, all-time totals.';

-- The vocabulary section: null while no migration has created private.vocabulary_health(),
-- else its result as JSON (a jsonb result as is, a row as an object), or {"error": message}
-- when it raises, so that a vocabulary problem shows in the report instead of breaking it.
create function private.vocabulary_report()
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    v_result jsonb;
begin
    if pg_catalog.to_regprocedure('private.vocabulary_health()') is null then
        return null;
    end if;
    execute 'select pg_catalog.to_jsonb(v) from private.vocabulary_health() as v limit 1'
        into v_result;
    return v_result;
exception
    when others then
        return pg_catalog.jsonb_build_object('error', sqlerrm);
end;
$$;

comment on function private.vocabulary_report() is
    'Vocabulary section for health-check: private.vocabulary_health() as JSON, null when absent, {error} when it fails.';

revoke all on function private.queue_health() from public, anon, authenticated, service_role;
revoke all on function private.provider_health() from public, anon, authenticated, service_role;
revoke all on function private.processor_health() from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_report() from public, anon, authenticated, service_role;
