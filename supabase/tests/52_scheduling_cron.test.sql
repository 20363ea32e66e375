-- Scheduling: queue_scheduled_refreshes_v2 (throttle, priority -1, keyless and keyed scheduled
-- types, the per-type sample, quota, broken rows) and the pg_cron jobs: at most five keepfresh
-- jobs, each body one call to a schema function, schedules for both pg_cron forms ('N seconds'
-- on >= 1.5, minutes on 1.4), and privileges per role. The skip under a concurrent call (lock
-- 43) needs two sessions: tests/presence_locks_test.ts.
begin;
set search_path = extensions, public;
set client_min_messages = error;
select plan(28);

-- Hold the scheduler lock ourselves (re-entrant in this session) so the cron job stays out.
select pg_advisory_xact_lock(private.advisory_namespace(), 43);

delete from private.api_call_queue_v2;
delete from private.refresh_state;
update private.providers
set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
where provider = 'fmp';
update private.scheduler_state set last_run_at = null;
update private.presence_settings set scheduled_min_interval_seconds = 60, scheduled_sample_size = 500;
update public.data_type_registry_v2 set enabled = true where data_type in ('exchange-market-status', 'ratios-ttm');
delete from public.fmp_exchange_market_status;

-- A keyless scheduled type with no data.
create temporary table run1 as select public.queue_scheduled_refreshes_v2() as r;
select results_eq(
    $$ select (r ->> 'ran')::boolean, (r ->> 'types')::integer, (r ->> 'queued')::integer from run1 $$,
    $$ values (true, 1, 1) $$,
    'the scheduler queues the one scheduled type (exchange-market-status) when it has no data'
);
select results_eq(
    $$ select data_type, key, priority from private.api_call_queue_v2 $$,
    $$ values ('exchange-market-status'::text, null::text, -1) $$,
    'as background work: priority -1, null key'
);
select is(
    (select last_run_at from private.scheduler_state),
    now(),
    'the run is recorded in private.scheduler_state'
);

-- Throttle.
select results_eq(
    $$ select r ->> 'ran', r ->> 'reason', (r ->> 'next_run_after')::timestamptz from public.queue_scheduled_refreshes_v2() as r $$,
    $$ values ('false'::text, 'throttled'::text, now() + interval '60 seconds') $$,
    'a second call within scheduled_min_interval_seconds is throttled and says when the next may run'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2),
    1,
    'the throttled call queued nothing'
);
update private.scheduler_state set last_run_at = now() - interval '61 seconds';
select results_eq(
    $$ select (r ->> 'ran')::boolean, (r ->> 'due')::integer, (r ->> 'queued')::integer from public.queue_scheduled_refreshes_v2() as r $$,
    $$ values (true, 0, 0) $$,
    'after the interval it runs again; the active job is not queued twice'
);

-- Due by schedule_seconds.
delete from private.api_call_queue_v2;
insert into public.fmp_exchange_market_status (exchange, is_market_open, fetched_at)
values ('KFX', true, now() - interval '299 seconds');
update private.scheduler_state set last_run_at = null;
select is(
    (public.queue_scheduled_refreshes_v2() ->> 'queued')::integer,
    0,
    'data younger than schedule_seconds (300) is not due'
);
update public.fmp_exchange_market_status set fetched_at = now() - interval '300 seconds';
update private.scheduler_state set last_run_at = null;
select is(
    (public.queue_scheduled_refreshes_v2() ->> 'queued')::integer,
    1,
    'data exactly schedule_seconds old is due'
);

-- A keyed type with refresh_strategy both: the keys stored in its table, stalest first, sampled.
delete from private.api_call_queue_v2;
update public.data_type_registry_v2
set refresh_strategy = 'both', schedule_seconds = 3600
where data_type = 'ratios-ttm';
delete from public.fmp_ratios_ttm;
insert into public.fmp_ratios_ttm (symbol, data, fetched_at)
values
    ('KFA', '{}', now() - interval '3 hours'),
    ('KFB', '{}', now() - interval '2 hours'),
    ('KFC', '{}', now() - interval '5 hours'),
    ('KFD', '{}', now() - interval '10 minutes');
update private.presence_settings set scheduled_sample_size = 2;
update private.scheduler_state set last_run_at = null;
create temporary table run2 as select public.queue_scheduled_refreshes_v2() as r;
select is((select (r ->> 'types')::integer from run2), 2, 'both scheduled types are considered');
select results_eq(
    $$ select key, priority from private.api_call_queue_v2 where data_type = 'ratios-ttm' order by key $$,
    $$ values ('KFA'::text, -1), ('KFC', -1) $$,
    'of the due keys (older than schedule_seconds) the sample takes the stalest, at most scheduled_sample_size'
);
update private.scheduler_state set last_run_at = null;
select public.queue_scheduled_refreshes_v2();
select results_eq(
    $$ select key from private.api_call_queue_v2 where data_type = 'ratios-ttm' order by key $$,
    $$ values ('KFA'::text), ('KFB'), ('KFC') $$,
    'the next call covers the rest; a fresh key is never queued'
);

-- Cooldown, quota, a broken row.
delete from private.api_call_queue_v2;
insert into private.refresh_state (data_type, key, last_checked_at, next_eligible_at, last_outcome)
values ('ratios-ttm', 'KFC', now(), now() + interval '1 hour', 'not_newer');
update private.scheduler_state set last_run_at = null;
select public.queue_scheduled_refreshes_v2();
select results_eq(
    $$ select key from private.api_call_queue_v2 where data_type = 'ratios-ttm' order by key $$,
    $$ values ('KFA'::text), ('KFB') $$,
    'a key in cooldown is not queued'
);
delete from private.api_call_queue_v2;
update private.providers set calls_per_minute = 0 where provider = 'fmp';
update private.scheduler_state set last_run_at = null;
select results_eq(
    $$ select (r ->> 'queued')::integer, r -> 'quota_exceeded' from public.queue_scheduled_refreshes_v2() as r $$,
    $$ values (0, '["fmp"]'::jsonb) $$,
    'out of quota: nothing is queued, and the reason is reported'
);
update private.providers set calls_per_minute = null where provider = 'fmp';
update public.data_type_registry_v2 set target_table = 'public.kf_no_such_table' where data_type = 'exchange-market-status';
update private.scheduler_state set last_run_at = null;
create temporary table run3 as select public.queue_scheduled_refreshes_v2() as r;
select results_eq(
    $$ select jsonb_array_length(r -> 'errors'), (r ->> 'queued')::integer from run3 $$,
    $$ values (1, 3) $$,
    'a broken keyless row counts as due (queued with the two ratios), and is reported'
);
update public.data_type_registry_v2 set target_table = 'public.fmp_exchange_market_status' where data_type = 'exchange-market-status';

-- pg_cron: the definitions for both schedule forms.
select results_eq(
    $$ select jobname, schedule, command from private.keepfresh_cron_jobs('1.4-1') $$,
    $$ values
        ('keepfresh-analytics'::text, '* * * * *'::text, 'select public.refresh_analytics_from_presence_v2()'::text),
        ('keepfresh-maintenance', '*/5 * * * *', 'select public.maintain_queue_partitions_v2()'),
        ('keepfresh-presence', '* * * * *', 'select public.check_and_queue_stale_data_from_presence_v2()'),
        ('keepfresh-scheduled', '* * * * *', 'select public.queue_scheduled_refreshes_v2()') $$,
    'pg_cron 1.4: minute schedules (no sub-minute schedules exist there)'
);
select results_eq(
    $$ select jobname, schedule from private.keepfresh_cron_jobs('1.6.4') $$,
    $$ values
        ('keepfresh-analytics'::text, '* * * * *'::text),
        ('keepfresh-maintenance', '*/5 * * * *'),
        ('keepfresh-presence', '10 seconds'),
        ('keepfresh-scheduled', '30 seconds') $$,
    'pg_cron 1.6 (hosted): presence every 10 seconds, scheduler every 30 seconds'
);
select results_eq(
    $$ select jobname, schedule from private.keepfresh_cron_jobs('1.5.0') where jobname = 'keepfresh-presence' $$,
    $$ values ('keepfresh-presence'::text, '10 seconds'::text) $$,
    'pg_cron 1.5 is the first version with second schedules'
);
select results_eq(
    $$ select jobname, schedule from private.keepfresh_cron_jobs(null) where jobname = 'keepfresh-presence' $$,
    $$ values ('keepfresh-presence'::text, '* * * * *'::text) $$,
    'an unknown version gets the minute form'
);

-- pg_cron: the jobs as scheduled on this server.
select results_eq(
    $$ select j.jobname::text collate "default", j.schedule collate "default", j.command collate "default", j.active
       from cron.job as j
       where j.jobname in ('keepfresh-analytics', 'keepfresh-maintenance', 'keepfresh-presence', 'keepfresh-scheduled')
       order by j.jobname $$,
    $$ select d.jobname, d.schedule, d.command, true
       from private.keepfresh_cron_jobs((select extversion from pg_catalog.pg_extension where extname = 'pg_cron')) as d
       order by d.jobname $$,
    'the four jobs are scheduled with the definitions for the installed pg_cron'
);
select cmp_ok(
    (select count(*)::integer from cron.job where jobname like 'keepfresh-%'),
    '<=', 5,
    'at most five keepfresh pg_cron jobs in total'
);
select is(
    (select count(*)::integer from cron.job where jobname like 'keepfresh-%'),
    5,
    'exactly five with the processor job'
);
select is_empty(
    $$ select jobname from cron.job
       where jobname like 'keepfresh-%'
           and command !~ '^select public\.[a-z0-9_]+\(\)$'
       order by 1 $$,
    'every keepfresh job body is one call to a schema function'
);
select is_empty(
    $$ select j.jobname from cron.job as j
       where j.jobname like 'keepfresh-%'
           and to_regprocedure(substring(j.command from 'select (public\.[a-z0-9_]+)\(\)') || '()') is null
       order by 1 $$,
    'every job body calls a function that exists'
);
select is(
    (select count(*)::integer from cron.job where jobname = 'keepfresh-presence'),
    1,
    'one job per name (the migration unschedules before it schedules)'
);
select ok(
    (select bool_and(username = 'postgres') from cron.job where jobname like 'keepfresh-%'),
    'the jobs run as postgres, the owner of the functions they call'
);

-- Privileges per role.
select ok(
    not has_function_privilege('anon', 'public.queue_scheduled_refreshes_v2()', 'execute')
    and not has_function_privilege('authenticated', 'public.queue_scheduled_refreshes_v2()', 'execute')
    and has_function_privilege('service_role', 'public.queue_scheduled_refreshes_v2()', 'execute'),
    'queue_scheduled_refreshes_v2: service_role only'
);
select ok(
    not exists (
        select 1
        from (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        where has_function_privilege(r.role_name, 'private.keepfresh_cron_jobs(text)', 'execute')
            or has_table_privilege(r.role_name, 'private.scheduler_state', 'select')
            or has_table_privilege(r.role_name, 'private.scheduler_state', 'update')
    ),
    'the job definitions and the scheduler state are private'
);
select tests.authenticate_as_service_role();
select is(
    public.queue_scheduled_refreshes_v2() ->> 'reason',
    'throttled',
    'service_role may call the scheduler (throttled right after the last run)'
);
select tests.clear_authentication();

select * from finish();
rollback;
