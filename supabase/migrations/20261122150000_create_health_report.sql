-- Health report for the health-check Edge Function: database facts, the latest applied
-- migration and every pg_cron job with its last run. Kept in SQL (schema private, called by the
-- function over SUPABASE_DB_URL) so pgTAP can test it; later migrations extend the report.

-- Expected seconds between runs of a pg_cron schedule, or null when it cannot be told simply.
-- Handles the forms keepfresh uses: 'N seconds' (pg_cron >= 1.5), '* * * * *' and '*/N * * * *'.
create function private.cron_schedule_interval_seconds(p_schedule text)
returns integer
language sql
immutable
set search_path = ''
as $$
    select case
        when p_schedule ~ '^\s*[0-9]+ seconds?\s*$'
            then (pg_catalog.regexp_match(p_schedule, '([0-9]+)'))[1]::integer
        when p_schedule ~ '^\s*\*(/1)? \* \* \* \*\s*$' then 60
        when p_schedule ~ '^\s*\*/[0-9]+ \* \* \* \*\s*$'
            then (pg_catalog.regexp_match(p_schedule, '\*/([0-9]+)'))[1]::integer * 60
    end
$$;

comment on function private.cron_schedule_interval_seconds(text) is
    'Expected seconds between runs of a pg_cron schedule string, null when not a simple interval.';

-- Every pg_cron job with its schedule and latest run. A job is failing when its latest finished
-- run failed, late when it is active and has not started for three intervals.
create function private.cron_job_health()
returns table (
    jobid bigint,
    jobname text,
    schedule text,
    command text,
    active boolean,
    last_started_at timestamptz,
    last_finished_at timestamptz,
    last_status text,
    last_message text,
    failing boolean,
    late boolean
)
language sql
stable
set search_path = ''
as $$
    select
        j.jobid,
        j.jobname,
        j.schedule,
        j.command,
        j.active,
        r.start_time,
        r.end_time,
        r.status,
        r.return_message,
        coalesce(r.status = 'failed', false),
        j.active
            and private.cron_schedule_interval_seconds(j.schedule) is not null
            and r.start_time is not null
            and r.start_time < now()
                - pg_catalog.make_interval(secs => 3 * private.cron_schedule_interval_seconds(j.schedule))
    from cron.job as j
    left join lateral (
        select d.start_time, d.end_time, d.status, d.return_message
        from cron.job_run_details as d
        where d.jobid = j.jobid
        order by d.runid desc
        limit 1
    ) as r on true
    order by j.jobname, j.jobid
$$;

comment on function private.cron_job_health() is
    'pg_cron jobs with schedule, latest run, and failing/late flags, for health-check.';

-- The health report as JSON: database, latest migration, cron jobs. Never raises for a missing
-- migrations table (a database not managed by the CLI reports null).
create function private.health_report()
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    v_migration jsonb;
    v_cron jsonb;
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

    return pg_catalog.jsonb_build_object(
        'database', pg_catalog.jsonb_build_object(
            'reachable', true,
            'server_version', pg_catalog.current_setting('server_version'),
            'now', now()
        ),
        'latest_migration', v_migration,
        'cron_jobs', v_cron,
        'cron_failing', (select pg_catalog.count(*) from private.cron_job_health() as h where h.failing),
        'cron_late', (select pg_catalog.count(*) from private.cron_job_health() as h where h.late)
    );
end;
$$;

comment on function private.health_report() is
    'Health report for the health-check function: database, latest migration, cron jobs.';

revoke all on function private.cron_schedule_interval_seconds(text) from public, anon, authenticated, service_role;
revoke all on function private.cron_job_health() from public, anon, authenticated, service_role;
revoke all on function private.health_report() from public, anon, authenticated, service_role;
