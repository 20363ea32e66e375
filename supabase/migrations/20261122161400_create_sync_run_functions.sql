-- Sync history (3.7): start and finish a processor run or manual sync, read one run, and the
-- success rate and mean duration over a window. Finishing a run feeds the circuit breaker; a
-- run that never finishes (its processor died) is marked failed after
-- queue_settings.abandoned_run_after by the processor loop, and feeds it too.

-- Records the start of a run. p_trigger: cron | manual | wake | test; p_filters: the selective
-- sync filters as a JSON object, or null; p_worker_id: the processor instance (1..128
-- characters). The worker's live processor lease, if any, is linked to the run.
-- Returns the run id. Raises 22023 for bad input.
create function public.start_sync_run_v2(p_trigger text, p_filters jsonb, p_worker_id text)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_id bigint;
begin
    if p_trigger is null or p_trigger not in ('cron', 'manual', 'wake', 'test') then
        raise exception 'unknown sync trigger "%"', coalesce(p_trigger, 'null')
            using errcode = '22023',
                hint = 'Use cron, manual, wake or test.';
    end if;
    if p_filters is not null and pg_catalog.jsonb_typeof(p_filters) <> 'object' then
        raise exception 'filters must be a JSON object or null'
            using errcode = '22023',
                hint = 'Pass {"dataTypes": [...], "symbols": [...]} for a selective sync, null otherwise.';
    end if;
    if p_worker_id is null or char_length(p_worker_id) not between 1 and 128 then
        raise exception 'worker id must be 1 to 128 characters'
            using errcode = '22023',
                hint = 'Pass a name for the processor instance.';
    end if;

    insert into private.sync_runs (trigger, filters, worker_id)
    values (p_trigger, p_filters, p_worker_id)
    returning id into v_id;

    update private.processor_leases as l
    set run_id = v_id
    where l.worker_id = p_worker_id
        and l.run_id is null
        and l.expires_at > now();

    return v_id;
end;
$$;

comment on function public.start_sync_run_v2(text, jsonb, text) is
    'Records the start of a processor run or manual sync (trigger cron, manual, wake or test); returns its id.';

-- Records the end of run p_run_id. p_status: succeeded | failed | partial. p_stats: a JSON
-- object with non-negative integers claimed, succeeded, failed, retried, bytes, calls (missing
-- ones count 0), and optionally "provider" (text) or "providers" (array): the providers whose
-- circuit the run feeds (default: every provider of an enabled data type). p_error: why it
-- failed (cut to 2000 characters). Returns nothing. Raises 22023 for bad input or an unknown
-- run, 55000 for a run that already finished.
create function public.finish_sync_run_v2(p_run_id bigint, p_status text, p_stats jsonb, p_error text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_stats jsonb := coalesce(p_stats, '{}'::jsonb);
    v_bad text;
    v_providers text[];
    v_provider text;
    v_succeeded integer;
begin
    if p_status is null or p_status not in ('succeeded', 'failed', 'partial') then
        raise exception 'unknown sync run status "%"', coalesce(p_status, 'null')
            using errcode = '22023',
                hint = 'Use succeeded, failed or partial.';
    end if;
    if pg_catalog.jsonb_typeof(v_stats) <> 'object' then
        raise exception 'stats must be a JSON object or null'
            using errcode = '22023',
                hint = 'Pass {"claimed": 0, "succeeded": 0, "failed": 0, "retried": 0, "bytes": 0, "calls": 0}.';
    end if;
    select min(k.name) into v_bad
    from (values ('claimed'), ('succeeded'), ('failed'), ('retried'), ('bytes'), ('calls')) as k (name)
    where v_stats ? k.name
        and (pg_catalog.jsonb_typeof(v_stats -> k.name) <> 'number'
            or (v_stats ->> k.name)::numeric < 0
            or (v_stats ->> k.name)::numeric % 1 <> 0
            or (v_stats ->> k.name)::numeric > 9223372036854775807);
    if v_bad is not null then
        raise exception 'stats.% must be a non-negative integer, got %', v_bad, v_stats -> v_bad
            using errcode = '22023',
                hint = 'Counts and bytes are whole numbers from 0.';
    end if;

    update private.sync_runs as r
    set status = p_status,
        finished_at = greatest(now(), r.started_at),
        claimed = coalesce((v_stats ->> 'claimed')::numeric::integer, 0),
        succeeded = coalesce((v_stats ->> 'succeeded')::numeric::integer, 0),
        failed = coalesce((v_stats ->> 'failed')::numeric::integer, 0),
        retried = coalesce((v_stats ->> 'retried')::numeric::integer, 0),
        bytes = coalesce((v_stats ->> 'bytes')::numeric::bigint, 0),
        calls = coalesce((v_stats ->> 'calls')::numeric::integer, 0),
        error = pg_catalog.left(p_error, 2000)
    where r.id = p_run_id and r.status = 'running'
    returning r.succeeded into v_succeeded;

    if not found then
        if exists (select 1 from private.sync_runs as r where r.id = p_run_id) then
            raise exception 'sync run % already finished', p_run_id
                using errcode = '55000',
                    hint = 'Finish a run once.';
        end if;
        raise exception 'unknown sync run %', coalesce(p_run_id::text, 'null')
            using errcode = '22023',
                hint = 'Pass the id start_sync_run_v2 returned.';
    end if;

    if pg_catalog.jsonb_typeof(v_stats -> 'providers') = 'array' then
        select pg_catalog.array_agg(p.value order by p.value) into v_providers
        from pg_catalog.jsonb_array_elements_text(v_stats -> 'providers') as p (value);
    elsif pg_catalog.jsonb_typeof(v_stats -> 'provider') = 'string' then
        v_providers := array[v_stats ->> 'provider'];
    else
        select pg_catalog.array_agg(distinct r.provider order by r.provider) into v_providers
        from public.data_type_registry_v2 as r
        where r.enabled;
    end if;

    foreach v_provider in array coalesce(v_providers, '{}') loop
        if exists (select 1 from private.providers as p where p.provider = v_provider) then
            perform private.record_circuit_run(v_provider, p_status, v_succeeded, p_error);
        end if;
    end loop;
end;
$$;

comment on function public.finish_sync_run_v2(bigint, text, jsonb, text) is
    'Records the end of a run (succeeded, failed, partial) with its counts and error, and feeds the circuit breaker.';

-- Marks runs still running after queue_settings.abandoned_run_after as failed (their
-- processor died without finishing), feeding the circuit like any failed run.
-- Returns how many runs were marked.
create function private.fail_abandoned_sync_runs()
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_after interval;
    v_run record;
    v_count integer := 0;
begin
    select s.abandoned_run_after into v_after from private.queue_settings as s;
    for v_run in
        select r.id
        from private.sync_runs as r
        where r.status = 'running' and r.started_at < now() - v_after
        order by r.started_at
        limit 100
        for update skip locked
    loop
        perform public.finish_sync_run_v2(
            v_run.id, 'failed', null,
            pg_catalog.format('abandoned: still running after %s', v_after));
        v_count := v_count + 1;
    end loop;
    return v_count;
end;
$$;

comment on function private.fail_abandoned_sync_runs() is
    'Marks runs still running after abandoned_run_after as failed (feeding the circuit); returns how many.';

-- Run p_run_id as JSON: id, trigger, status, started_at, finished_at, duration_seconds (null
-- while running), claimed, succeeded, failed, retried, bytes, calls, error, filters, worker_id.
-- Null for an unknown run.
create function public.get_sync_run_v2(p_run_id bigint)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'id', r.id,
        'trigger', r.trigger,
        'status', r.status,
        'started_at', r.started_at,
        'finished_at', r.finished_at,
        'duration_seconds', extract(epoch from r.finished_at - r.started_at),
        'claimed', r.claimed,
        'succeeded', r.succeeded,
        'failed', r.failed,
        'retried', r.retried,
        'bytes', r.bytes,
        'calls', r.calls,
        'error', r.error,
        'filters', r.filters,
        'worker_id', r.worker_id
    )
    from private.sync_runs as r
    where r.id = p_run_id
$$;

comment on function public.get_sync_run_v2(bigint) is
    'One sync run as JSON (status, timings, counts, error); null when unknown.';

-- Runs started within p_window before now, as JSON: window_seconds, runs, running, succeeded,
-- partial, failed (runs per status), success_rate (succeeded / finished runs, null when none
-- finished), mean_duration_seconds (finished runs), jobs {claimed, succeeded, failed, retried},
-- job_success_rate (succeeded / (succeeded + failed) jobs), bytes, calls, last_started_at.
-- Raises 22023 unless p_window is more than 0 and at most 366 days.
create function public.get_sync_stats_v2(p_window interval)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_result jsonb;
begin
    if p_window is null or p_window <= interval '0' or p_window > interval '366 days' then
        raise exception 'window must be more than 0 and at most 366 days, got %', coalesce(p_window::text, 'null')
            using errcode = '22023',
                hint = 'Pass an interval such as ''1 hour'' or ''1 day''.';
    end if;

    select pg_catalog.jsonb_build_object(
        'window_seconds', extract(epoch from p_window),
        'runs', count(*),
        'running', count(*) filter (where r.status = 'running'),
        'succeeded', count(*) filter (where r.status = 'succeeded'),
        'partial', count(*) filter (where r.status = 'partial'),
        'failed', count(*) filter (where r.status = 'failed'),
        'success_rate', pg_catalog.round(
            (count(*) filter (where r.status = 'succeeded'))::numeric
                / nullif(count(*) filter (where r.status <> 'running'), 0), 4),
        'mean_duration_seconds', pg_catalog.round(
            (avg(extract(epoch from r.finished_at - r.started_at))
                filter (where r.status <> 'running'))::numeric, 3),
        'jobs', pg_catalog.jsonb_build_object(
            'claimed', coalesce(sum(r.claimed), 0),
            'succeeded', coalesce(sum(r.succeeded), 0),
            'failed', coalesce(sum(r.failed), 0),
            'retried', coalesce(sum(r.retried), 0)
        ),
        'job_success_rate', pg_catalog.round(
            sum(r.succeeded)::numeric / nullif(sum(r.succeeded) + sum(r.failed), 0), 4),
        'bytes', coalesce(sum(r.bytes), 0),
        'calls', coalesce(sum(r.calls), 0),
        'last_started_at', max(r.started_at)
    )
    into v_result
    from private.sync_runs as r
    where r.started_at >= now() - p_window;

    return v_result;
end;
$$;

comment on function public.get_sync_stats_v2(interval) is
    'Runs in a window: counts per status, success rate, mean duration, job totals, bytes, calls.';

revoke all on function public.start_sync_run_v2(text, jsonb, text) from public, anon, authenticated, service_role;
revoke all on function public.finish_sync_run_v2(bigint, text, jsonb, text) from public, anon, authenticated, service_role;
revoke all on function private.fail_abandoned_sync_runs() from public, anon, authenticated, service_role;
revoke all on function public.get_sync_run_v2(bigint) from public, anon, authenticated, service_role;
revoke all on function public.get_sync_stats_v2(interval) from public, anon, authenticated, service_role;
grant execute on function public.start_sync_run_v2(text, jsonb, text) to service_role;
grant execute on function public.finish_sync_run_v2(bigint, text, jsonb, text) to service_role;
grant execute on function public.get_sync_run_v2(bigint) to service_role;
grant execute on function public.get_sync_stats_v2(interval) to service_role;
