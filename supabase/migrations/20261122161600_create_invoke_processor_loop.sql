-- The processor loop tick (3.2), called by pg_cron (20261122161700): decides whether to start a
-- queue-processor-v2 run and starts it with net.http_post. In order:
--   1. pg_try_advisory_xact_lock(private.advisory_namespace(), 44): another tick running means
--      this one skips (never waits: overdue cron runs would pile up);
--   2. rescues jobs with expired leases (recover_stuck_jobs_v2) and marks abandoned runs failed;
--   3. skips when use_queue_system is off, when the circuit of every provider with enabled data
--      types is open (after the cool-down one half-open probe run goes through), when no job of
--      those providers is due, when the quota of every provider with due jobs is exceeded
--      (or the provider is paused), or when queue_settings.max_processor_runs processor leases
--      are live;
--   4. posts {"trigger": "cron"} (plus "lingerSeconds": 45 on pg_cron 1.4) to <keepfresh_functions_url>/functions/v1/queue-processor-v2
--      with "Authorization: Bearer <keepfresh_processor_secret>", both read from Vault
--      (vault.decrypted_secrets), with pg_net's 5 s timeout. Never the service-role key: pg_net's
--      request table is readable by PUBLIC. A missing secret is reported, not raised.
-- pg_net sends the request after the tick commits; the processor answers 202 at once and works
-- in EdgeRuntime.waitUntil.
-- Store the secrets once per project (docs/deploy.md):
--   select vault.create_secret('https://<ref>.supabase.co', 'keepfresh_functions_url');
--   select vault.create_secret('<random secret>', 'keepfresh_processor_secret');

-- One processor loop tick. Returns what it decided as JSON: {"invoked": true, "request_id",
-- "providers", "probe", "recovered", "abandoned_runs"} or {"invoked": false, "reason", "detail",
-- "recovered", "abandoned_runs"} with reason busy | queue_disabled | circuit_open | nothing_due |
-- quota_exceeded | max_processor_runs | missing_secret. Never raises for those conditions.
create function public.invoke_processor_loop_v2()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_recovered integer := 0;
    v_abandoned integer := 0;
    v_max_runs integer;
    v_providers text[];
    v_allowed text[];
    v_probe text[];
    v_due text[];
    v_ready text[];
    v_leases integer;
    v_url text;
    v_secret text;
    v_request_id bigint;
    v_provider text;
begin
    if not pg_catalog.pg_try_advisory_xact_lock(private.advisory_namespace(), 44) then
        return pg_catalog.jsonb_build_object(
            'invoked', false, 'reason', 'busy',
            'detail', 'another processor loop tick holds the lock', 'recovered', 0, 'abandoned_runs', 0);
    end if;

    v_recovered := public.recover_stuck_jobs_v2();
    v_abandoned := private.fail_abandoned_sync_runs();

    if not public.is_feature_enabled('use_queue_system') then
        return pg_catalog.jsonb_build_object(
            'invoked', false, 'reason', 'queue_disabled',
            'detail', 'feature flag use_queue_system is off',
            'recovered', v_recovered, 'abandoned_runs', v_abandoned);
    end if;

    select
        pg_catalog.array_agg(g.provider order by g.provider),
        pg_catalog.array_agg(g.provider order by g.provider) filter (where g.gate in ('closed', 'probe')),
        pg_catalog.array_agg(g.provider order by g.provider) filter (where g.gate = 'probe')
    into v_providers, v_allowed, v_probe
    from (
        select p.provider, private.circuit_gate(p.provider) as gate
        from private.providers as p
        where exists (
            select 1 from public.data_type_registry_v2 as r
            where r.enabled and r.provider = p.provider
        )
    ) as g;

    if v_allowed is null then
        return pg_catalog.jsonb_build_object(
            'invoked', false, 'reason', 'circuit_open',
            'detail', case
                when v_providers is null then 'no provider has an enabled data type'
                else 'circuit open for ' || pg_catalog.array_to_string(v_providers, ', ')
            end,
            'recovered', v_recovered, 'abandoned_runs', v_abandoned);
    end if;

    select pg_catalog.array_agg(a.provider order by a.provider)
    into v_due
    from unnest(v_allowed) as a (provider)
    where exists (
        select 1
        from private.api_call_queue_v2_pending as q
        where q.not_before <= now()
            and q.data_type in (
                select r.data_type from public.data_type_registry_v2 as r
                where r.enabled and r.provider = a.provider
            )
    );

    if v_due is null then
        return pg_catalog.jsonb_build_object(
            'invoked', false, 'reason', 'nothing_due',
            'detail', 'no pending job is due',
            'recovered', v_recovered, 'abandoned_runs', v_abandoned);
    end if;

    select pg_catalog.array_agg(d.provider order by d.provider)
    into v_ready
    from unnest(v_due) as d (provider)
    where not public.is_quota_exceeded_v2(d.provider);

    if v_ready is null then
        return pg_catalog.jsonb_build_object(
            'invoked', false, 'reason', 'quota_exceeded',
            'detail', 'quota exceeded or provider paused for ' || pg_catalog.array_to_string(v_due, ', '),
            'recovered', v_recovered, 'abandoned_runs', v_abandoned);
    end if;

    select s.max_processor_runs into v_max_runs from private.queue_settings as s;
    select count(*)::integer into v_leases
    from private.processor_leases as l
    where l.expires_at > now();

    if v_leases >= v_max_runs then
        return pg_catalog.jsonb_build_object(
            'invoked', false, 'reason', 'max_processor_runs',
            'detail', pg_catalog.format('%s of %s processor leases are live', v_leases, v_max_runs),
            'recovered', v_recovered, 'abandoned_runs', v_abandoned);
    end if;

    if pg_catalog.to_regclass('vault.decrypted_secrets') is not null then
        select s.decrypted_secret into v_url
        from vault.decrypted_secrets as s
        where s.name = 'keepfresh_functions_url'
        order by s.created_at desc
        limit 1;
        select s.decrypted_secret into v_secret
        from vault.decrypted_secrets as s
        where s.name = 'keepfresh_processor_secret'
        order by s.created_at desc
        limit 1;
    end if;

    if coalesce(v_url, '') = '' or coalesce(v_secret, '') = '' then
        return pg_catalog.jsonb_build_object(
            'invoked', false, 'reason', 'missing_secret',
            'detail', pg_catalog.format(
                'vault secret %s is not set: select vault.create_secret(<value>, %L)',
                case when coalesce(v_url, '') = '' then 'keepfresh_functions_url' else 'keepfresh_processor_secret' end,
                case when coalesce(v_url, '') = '' then 'keepfresh_functions_url' else 'keepfresh_processor_secret' end),
            'recovered', v_recovered, 'abandoned_runs', v_abandoned);
    end if;

    foreach v_provider in array coalesce(v_probe, '{}') loop
        if v_provider = any(v_ready) then
            perform private.start_circuit_probe(v_provider);
        end if;
    end loop;

    v_request_id := net.http_post(
        url := pg_catalog.rtrim(v_url, '/') || '/functions/v1/queue-processor-v2',
        -- pg_cron 1.4 ticks once a minute: the run then lingers 45 s polling for new work.
        body := pg_catalog.jsonb_build_object('trigger', 'cron')
            || case when private.cron_schedule_for(10) = '* * * * *'
                then pg_catalog.jsonb_build_object('lingerSeconds', 45)
                else '{}'::jsonb end,
        headers := pg_catalog.jsonb_build_object(
            'Content-Type', 'application/json',
            'Authorization', 'Bearer ' || v_secret
        ),
        timeout_milliseconds := 5000
    );

    return pg_catalog.jsonb_build_object(
        'invoked', true,
        'request_id', v_request_id,
        'providers', pg_catalog.to_jsonb(v_ready),
        'probe', pg_catalog.to_jsonb(coalesce(v_probe, '{}')),
        'recovered', v_recovered,
        'abandoned_runs', v_abandoned
    );
end;
$$;

comment on function public.invoke_processor_loop_v2() is
    'pg_cron tick: rescues stuck jobs, then starts queue-processor-v2 via pg_net unless disabled, circuit open, nothing due, quota exceeded or max runs live; returns the decision.';

revoke all on function public.invoke_processor_loop_v2() from public, anon, authenticated, service_role;
grant execute on function public.invoke_processor_loop_v2() to service_role;
