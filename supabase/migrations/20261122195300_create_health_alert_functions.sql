-- Alert rules and their evaluation for health-check (3.5). private.health_breaches(report) says
-- which rules a health report breaches (pure: the report and the thresholds in
-- private.health_alert_settings); private.evaluate_health_alerts(report) reconciles
-- private.health_alerts with them: raises each new breach once, leaves continuing ones alone,
-- clears the ones that recovered. Rules (severity; subject):
--   cron_job_failing              critical  job name   its latest run failed
--   cron_job_late                 critical  job name   active and not started for 3 intervals
--   queue_stuck_jobs              critical  ''         a lease expired > stuck_job_grace_seconds ago
--                                                      and the job was not rescued
--   circuit_open                  critical  provider   circuit open or half open (probing)
--   provider_invalid_key          critical  provider   state invalid_key (401 upstream)
--   queue_oldest_pending          warning   ''         a due job waited > oldest_due_wait_seconds
--   quota_high                    warning   provider:window  calls_per_day or bytes_per_30d
--                                                      used >= quota_ratio of its limit
--   provider_bandwidth_exhausted  warning   provider   state bandwidth_exhausted
--   processor_success_rate_low    warning   ''         success rate of runs finished in the last
--                                                      hour < success_rate_min (at least
--                                                      success_rate_min_runs finished)
--   vocabulary_dirty              warning   ''         the vocabulary snapshot is marked dirty
-- Provider rules apply to providers with at least one enabled data type.
-- Advisory lock: keepfresh namespace (private.advisory_namespace()), second int 64 = health
-- alert evaluation (42..45 and 1024..2047 are taken, see 20261122160000).

-- The breaches of the alert rules in p_report (the JSON of private.health_report() without
-- alerts), one row per rule and subject, with its severity and the measurement as detail.
-- Reads the thresholds from private.health_alert_settings. Never raises for missing sections
-- (a missing value breaches nothing).
create function private.health_breaches(p_report jsonb)
returns table (rule text, subject text, severity text, detail jsonb)
language sql
stable
set search_path = ''
as $$
    with s as (
        select * from private.health_alert_settings as hs where hs.id
    ),
    cron as (
        select j.value as job
        from pg_catalog.jsonb_array_elements(
            case when pg_catalog.jsonb_typeof(p_report -> 'cron_jobs') = 'array'
                then p_report -> 'cron_jobs' else '[]'::jsonb end) as j (value)
    ),
    providers as (
        select p.value as provider
        from pg_catalog.jsonb_array_elements(
            case when pg_catalog.jsonb_typeof(p_report -> 'providers') = 'array'
                then p_report -> 'providers' else '[]'::jsonb end) as p (value)
        where coalesce((p.value ->> 'enabled_data_types')::bigint, 0) > 0
    ),
    breaches as (
        select
            'cron_job_failing' as rule,
            coalesce(c.job ->> 'name', c.job ->> 'jobid') as subject,
            'critical' as severity,
            pg_catalog.jsonb_build_object(
                'schedule', c.job -> 'schedule',
                'last_started_at', c.job -> 'last_started_at',
                'last_message', c.job -> 'last_message') as detail
        from cron as c
        where c.job -> 'failing' = 'true'::jsonb
        union all
        select
            'cron_job_late',
            coalesce(c.job ->> 'name', c.job ->> 'jobid'),
            'critical',
            pg_catalog.jsonb_build_object(
                'schedule', c.job -> 'schedule',
                'last_started_at', c.job -> 'last_started_at')
        from cron as c
        where c.job -> 'late' = 'true'::jsonb
        union all
        select
            'queue_stuck_jobs', '', 'critical',
            pg_catalog.jsonb_build_object(
                'stuck_jobs', p_report #> '{queue,stuck_jobs}',
                'oldest_stuck_seconds', p_report #> '{queue,oldest_stuck_seconds}',
                'threshold_seconds', s.stuck_job_grace_seconds)
        from s
        where (p_report #>> '{queue,oldest_stuck_seconds}')::numeric > s.stuck_job_grace_seconds
        union all
        select
            'queue_oldest_pending', '', 'warning',
            pg_catalog.jsonb_build_object(
                'oldest_due_wait_seconds', p_report #> '{queue,oldest_due_wait_seconds}',
                'due', p_report #> '{queue,due}',
                'threshold_seconds', s.oldest_due_wait_seconds)
        from s
        where (p_report #>> '{queue,oldest_due_wait_seconds}')::numeric > s.oldest_due_wait_seconds
        union all
        select
            'circuit_open', p.provider ->> 'provider', 'critical',
            pg_catalog.jsonb_build_object(
                'state', p.provider #> '{circuit,state}',
                'opened_at', p.provider #> '{circuit,opened_at}',
                'retry_at', p.provider #> '{circuit,retry_at}',
                'reason', p.provider #> '{circuit,reason}')
        from providers as p
        where p.provider #>> '{circuit,state}' in ('open', 'half_open')
        union all
        select
            'provider_invalid_key', p.provider ->> 'provider', 'critical',
            pg_catalog.jsonb_build_object(
                'state_reason', p.provider #> '{quota,state_reason}',
                'state_until', p.provider #> '{quota,state_until}')
        from providers as p
        where p.provider #>> '{quota,state}' = 'invalid_key'
        union all
        select
            'provider_bandwidth_exhausted', p.provider ->> 'provider', 'warning',
            pg_catalog.jsonb_build_object(
                'state_reason', p.provider #> '{quota,state_reason}',
                'state_until', p.provider #> '{quota,state_until}')
        from providers as p
        where p.provider #>> '{quota,state}' = 'bandwidth_exhausted'
        union all
        select
            'quota_high', (p.provider ->> 'provider') || ':' || (w.value ->> 'name'), 'warning',
            pg_catalog.jsonb_build_object(
                'used', w.value -> 'used',
                'limit', w.value -> 'limit',
                'ratio', w.value -> 'ratio',
                'exceeded', p.provider #> '{quota,exceeded}',
                'threshold_ratio', s.quota_ratio)
        from providers as p
        cross join lateral pg_catalog.jsonb_array_elements(
            case when pg_catalog.jsonb_typeof(p.provider -> 'windows') = 'array'
                then p.provider -> 'windows' else '[]'::jsonb end) as w (value)
        cross join s
        where w.value ->> 'name' in ('calls_per_day', 'bytes_per_30d')
            and (w.value ->> 'ratio')::numeric >= s.quota_ratio
        union all
        select
            'processor_success_rate_low', '', 'warning',
            pg_catalog.jsonb_build_object(
                'success_rate', p_report #> '{processor,stats_1h,success_rate}',
                'finished_runs', f.finished,
                'failed_runs', p_report #> '{processor,stats_1h,failed}',
                'partial_runs', p_report #> '{processor,stats_1h,partial}',
                'threshold', s.success_rate_min)
        from s
        cross join lateral (
            select coalesce((p_report #>> '{processor,stats_1h,runs}')::bigint, 0)
                - coalesce((p_report #>> '{processor,stats_1h,running}')::bigint, 0) as finished
        ) as f
        where f.finished >= s.success_rate_min_runs
            and (p_report #>> '{processor,stats_1h,success_rate}')::numeric < s.success_rate_min
        union all
        select
            'vocabulary_dirty', '', 'warning',
            pg_catalog.jsonb_build_object('vocabulary', p_report -> 'vocabulary')
        where p_report #> '{vocabulary,dirty}' = 'true'::jsonb
    )
    select b.rule, b.subject, b.severity, b.detail
    from breaches as b
    order by b.rule, b.subject
$$;

comment on function private.health_breaches(jsonb) is
    'Alert rules breached by a health report: rule, subject, severity, measured detail (thresholds from health_alert_settings).';

-- Reconciles private.health_alerts with the breaches of p_report: inserts an alert for each
-- breach without an active one (raised once), sets cleared_at on active alerts whose breach is
-- gone, deletes alerts cleared longer ago than cleared_retention (at most 1,000 per call).
-- Serialised by an advisory transaction lock (namespace, 64) so concurrent reports never raise
-- or clear twice; the partial unique index on (rule, subject) is the backstop. Waits at most
-- lock_timeout (2 s) for the lock. Returns {"persisted": true, "active": [...],
-- "recently_cleared": [...]}: active alerts (id, rule, subject, severity, raised_at, detail =
-- the current measurement, raised_detail) by severity, rule, subject; the 20 most recently
-- cleared alerts of the last 24 hours. When the alerts cannot be written (read-only
-- transaction, lock timeout, ...) nothing changes and it returns {"persisted": false, "error",
-- "active": the current breaches, "recently_cleared": []} rather than failing the report.
create function private.evaluate_health_alerts(p_report jsonb)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '2s'
as $$
declare
    v_breaches jsonb;
    v_active jsonb;
    v_cleared jsonb;
begin
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b) order by b.rule, b.subject), '[]'::jsonb)
    into v_breaches
    from private.health_breaches(p_report) as b;

    begin
        perform pg_catalog.pg_advisory_xact_lock(private.advisory_namespace(), 64);

        insert into private.health_alerts (rule, subject, severity, detail)
        select b.rule, b.subject, b.severity, b.detail
        from pg_catalog.jsonb_to_recordset(v_breaches) as b (rule text, subject text, severity text, detail jsonb)
        order by b.rule, b.subject
        on conflict (rule, subject) where cleared_at is null do nothing;

        update private.health_alerts as a
        set cleared_at = greatest(now(), a.raised_at)
        where a.cleared_at is null
            and not exists (
                select 1
                from pg_catalog.jsonb_to_recordset(v_breaches) as b (rule text, subject text)
                where b.rule = a.rule and b.subject = a.subject
            );

        delete from private.health_alerts as a
        where a.id in (
            select o.id
            from private.health_alerts as o, private.health_alert_settings as s
            where o.cleared_at < now() - s.cleared_retention
            order by o.cleared_at
            limit 1000
        );
    exception
        when others then
            return pg_catalog.jsonb_build_object(
                'persisted', false,
                'error', sqlerrm,
                'active', (
                    select coalesce(pg_catalog.jsonb_agg(b.value || pg_catalog.jsonb_build_object(
                            'id', null, 'raised_at', null, 'raised_detail', null)
                        order by b.value ->> 'severity', b.value ->> 'rule', b.value ->> 'subject'), '[]'::jsonb)
                    from pg_catalog.jsonb_array_elements(v_breaches) as b (value)
                ),
                'recently_cleared', '[]'::jsonb
            );
    end;

    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'id', a.id,
            'rule', a.rule,
            'subject', a.subject,
            'severity', a.severity,
            'raised_at', a.raised_at,
            'detail', coalesce(b.detail, a.detail),
            'raised_detail', a.detail
        ) order by a.severity, a.rule, a.subject), '[]'::jsonb)
    into v_active
    from private.health_alerts as a
    left join pg_catalog.jsonb_to_recordset(v_breaches) as b (rule text, subject text, detail jsonb)
        on b.rule = a.rule and b.subject = a.subject
    where a.cleared_at is null;

    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'id', c.id,
            'rule', c.rule,
            'subject', c.subject,
            'severity', c.severity,
            'raised_at', c.raised_at,
            'cleared_at', c.cleared_at,
            'detail', c.detail
        ) order by c.cleared_at desc, c.id desc), '[]'::jsonb)
    into v_cleared
    from (
        select a.*
        from private.health_alerts as a
        where a.cleared_at > now() - interval '24 hours'
        order by a.cleared_at desc, a.id desc
        limit 20
    ) as c;

    return pg_catalog.jsonb_build_object(
        'persisted', true,
        'active', v_active,
        'recently_cleared', v_cleared
    );
end;
$$;

comment on function private.evaluate_health_alerts(jsonb) is
    'Raises new breaches once, clears recovered alerts, prunes old ones; returns active and recently cleared alerts.';

revoke all on function private.health_breaches(jsonb) from public, anon, authenticated, service_role;
revoke all on function private.evaluate_health_alerts(jsonb) from public, anon, authenticated, service_role;
