-- Extends private.health_report() (first version: 20261122150000) into the full report of
-- health-check (3.5): besides the database, latest migration and cron jobs it now has the queue,
-- providers (quota windows, state, circuit), the processor (runs, success rate, totals), the
-- vocabulary, the feature flags, and the alerts. Evaluating the alerts writes
-- private.health_alerts, so the function is now VOLATILE (it was STABLE); concurrent calls are
-- safe (see private.evaluate_health_alerts).

-- The health report as JSON. Keys: generated_at; database {reachable, server_version, now,
-- size_bytes, connections, max_connections}; latest_migration {version, name} or null;
-- cron_jobs [...] with cron_failing and cron_late counts (private.cron_job_health); queue
-- (private.queue_health); providers (private.provider_health); processor
-- (private.processor_health); vocabulary (private.vocabulary_report, null until it exists);
-- feature_flags {name: enabled}; alerts {persisted, active, recently_cleared}
-- (private.evaluate_health_alerts, which raises and clears alerts as a side effect).
-- Never raises for a missing migrations table or vocabulary function.
create or replace function private.health_report()
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_migration jsonb;
    v_cron jsonb;
    v_report jsonb;
begin
    if pg_catalog.to_regclass('supabase_migrations.schema_migrations') is not null then
        execute 'select pg_catalog.jsonb_build_object(''version'', version, ''name'', name)
                 from supabase_migrations.schema_migrations order by version desc limit 1'
            into v_migration;
    end if;

    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'jobid', h.jobid,
            'name', h.jobname,
            'schedule', h.schedule,
            'active', h.active,
            'last_started_at', h.last_started_at,
            'last_finished_at', h.last_finished_at,
            'last_status', h.last_status,
            'last_message', h.last_message,
            'failing', h.failing,
            'late', h.late
        ) order by h.jobname, h.jobid), '[]'::jsonb)
    into v_cron
    from private.cron_job_health() as h;

    v_report := pg_catalog.jsonb_build_object(
        'generated_at', now(),
        'database', pg_catalog.jsonb_build_object(
            'reachable', true,
            'server_version', pg_catalog.current_setting('server_version'),
            'now', now(),
            'size_bytes', pg_catalog.pg_database_size(pg_catalog.current_database()),
            'connections', (
                select pg_catalog.count(*) from pg_catalog.pg_stat_activity as a
                where a.datname = pg_catalog.current_database()
            ),
            'max_connections', pg_catalog.current_setting('max_connections')::integer
        ),
        'latest_migration', v_migration,
        'cron_jobs', v_cron,
        'cron_failing', (
            select pg_catalog.count(*) from pg_catalog.jsonb_array_elements(v_cron) as j (value)
            where j.value -> 'failing' = 'true'::jsonb
        ),
        'cron_late', (
            select pg_catalog.count(*) from pg_catalog.jsonb_array_elements(v_cron) as j (value)
            where j.value -> 'late' = 'true'::jsonb
        ),
        'queue', private.queue_health(),
        'providers', private.provider_health(),
        'processor', private.processor_health(),
        'vocabulary', private.vocabulary_report(),
        'feature_flags', (
            select coalesce(pg_catalog.jsonb_object_agg(f.name, f.enabled order by f.name), '{}'::jsonb)
            from public.feature_flags as f
        )
    );

    return v_report || pg_catalog.jsonb_build_object(
        'alerts', private.evaluate_health_alerts(v_report)
    );
end;
$$;

comment on function private.health_report() is
    'Full health report for health-check (database, cron, queue, providers, processor, vocabulary, flags, alerts); evaluates alerts.';

revoke all on function private.health_report() from public, anon, authenticated, service_role;
