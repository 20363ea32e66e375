-- health report: cron schedule intervals, job health flags, report shape, queue/provider/processor
-- sections, alert rules (raised once, cleared on recovery, pruned), run counters, privileges.
begin;
set search_path = extensions, public;
select plan(63);

select is(private.cron_schedule_interval_seconds('10 seconds'), 10, 'N seconds form gives N');
select is(private.cron_schedule_interval_seconds('* * * * *'), 60, 'every minute gives 60');
select is(private.cron_schedule_interval_seconds('*/5 * * * *'), 300, 'every 5 minutes gives 300');
select is(private.cron_schedule_interval_seconds('0 3 * * *'), null, 'a daily cron string is not a simple interval');

-- Start from no alerts and a quiet queue (all rolled back at the end).
delete from private.health_alerts;
delete from private.api_call_queue_v2;

select cron.schedule('kf-pgtap-ok', '* * * * *', 'select 1');
select cron.schedule('kf-pgtap-failing', '* * * * *', 'select 1/0');
select cron.schedule('kf-pgtap-late', '* * * * *', 'select 2');
insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
select jobid, nextval('cron.runid_seq'), 'postgres', 'postgres', command,
       case jobname when 'kf-pgtap-failing' then 'failed' else 'succeeded' end,
       case jobname when 'kf-pgtap-failing' then 'ERROR:  division by zero' else 'SELECT 1' end,
       case jobname when 'kf-pgtap-late' then now() - interval '10 minutes' else now() - interval '5 seconds' end,
       case jobname when 'kf-pgtap-late' then now() - interval '10 minutes' else now() - interval '4 seconds' end
from cron.job where jobname like 'kf-pgtap-%';

select is(
    (select failing from private.cron_job_health() where jobname = 'kf-pgtap-ok'), false,
    'a job whose last run succeeded is not failing');
select is(
    (select failing from private.cron_job_health() where jobname = 'kf-pgtap-failing'), true,
    'a job whose last run failed is failing');
select is(
    (select late from private.cron_job_health() where jobname = 'kf-pgtap-late'), true,
    'a minutely job that has not started for 10 minutes is late');
select is(
    (select late from private.cron_job_health() where jobname = 'kf-pgtap-ok'), false,
    'a job that ran seconds ago is not late');

-- The failing job raises cron_job_failing once.
select is(
    (select pg_catalog.jsonb_path_query_array(private.health_report(), '$.alerts.active[*] ? (@.rule == "cron_job_failing").subject')),
    '["kf-pgtap-failing"]'::jsonb,
    'a failing cron job raises cron_job_failing for that job');

-- a newer successful run clears the failing flag
insert into cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)
select jobid, nextval('cron.runid_seq'), 'postgres', 'postgres', command, 'succeeded', now(), now()
from cron.job where jobname = 'kf-pgtap-failing';
select is(
    (select failing from private.cron_job_health() where jobname = 'kf-pgtap-failing'), false,
    'a success after a failure clears failing');

select is((private.health_report() -> 'database' ->> 'reachable')::boolean, true, 'report says the database is reachable');
select ok(private.health_report() -> 'latest_migration' ->> 'version' is not null, 'report names the latest migration');
select is((private.health_report() ->> 'cron_late')::integer, 1, 'report counts late jobs');
select ok(
    (select cleared_at is not null from private.health_alerts
     where rule = 'cron_job_failing' and subject = 'kf-pgtap-failing'),
    'the cron_job_failing alert is cleared once the job succeeds');
select is(
    (select pg_catalog.count(*) from private.health_alerts where rule = 'cron_job_late' and subject = 'kf-pgtap-late'),
    1::bigint,
    'several reports of a late job raise one cron_job_late alert');

-- Report shape.
select is(
    (select pg_catalog.array_agg(k order by k) from pg_catalog.jsonb_object_keys(private.health_report()) as k),
    array['alerts', 'cron_failing', 'cron_jobs', 'cron_late', 'database', 'feature_flags', 'generated_at',
          'latest_migration', 'processor', 'providers', 'queue', 'vocabulary'],
    'the report has every section');
select is(
    (select pg_catalog.array_agg(k order by k) from pg_catalog.jsonb_object_keys(private.queue_health()) as k),
    array['depth', 'due', 'next_due_at', 'oldest_due_wait_seconds', 'oldest_pending_age_seconds',
          'oldest_stuck_seconds', 'stuck_jobs'],
    'the queue section has depth, ages and stuck jobs');
select is(
    private.queue_health() -> 'depth',
    '{"pending": 0, "processing": 0, "completed": 0, "failed": 0}'::jsonb,
    'an empty queue has depth 0 in every partition');
select is(
    (select pg_catalog.array_agg(k order by k) from pg_catalog.jsonb_object_keys(private.processor_health()) as k),
    array['last_runs', 'live_leases', 'max_runs', 'stats_1h', 'stats_24h', 'totals'],
    'the processor section has runs, stats and totals');
select is(
    (select pg_catalog.jsonb_agg(w ->> 'name') from pg_catalog.jsonb_array_elements(private.provider_health() -> 0 -> 'windows') as w),
    '["calls_per_minute", "calls_per_day", "bytes_per_30d"]'::jsonb,
    'each provider lists its three quota windows');
select ok(
    case when pg_catalog.to_regprocedure('private.vocabulary_health()') is null
        then private.vocabulary_report() is null
        else private.vocabulary_report() ? 'version' end,
    'the vocabulary section is private.vocabulary_health() once it exists, null before');
create or replace function private.vocabulary_health()
returns jsonb
language plpgsql
set search_path = ''
as $$ begin raise exception 'snapshot table is gone'; end; $$;
select is(
    private.vocabulary_report(), '{"error": "snapshot table is gone"}'::jsonb,
    'a failing private.vocabulary_health() shows as an error in the report instead of breaking it');
select is(
    (select p.provolatile from pg_catalog.pg_proc as p where p.oid = 'private.health_report()'::regprocedure),
    'v'::"char",
    'health_report is volatile (it writes alerts)');

-- Rules on a synthetic report.
select set_eq(
    $$ select rule, subject, severity from private.health_breaches('{
        "cron_jobs": [{"name": "a", "failing": true, "late": false}, {"name": "b", "failing": false, "late": true},
                      {"name": "c", "failing": false, "late": false}],
        "queue": {"oldest_due_wait_seconds": 601, "oldest_stuck_seconds": 121, "stuck_jobs": 2, "due": 5},
        "providers": [
            {"provider": "p1", "enabled_data_types": 2, "quota": {"state": "invalid_key", "exceeded": true},
             "circuit": {"state": "open"},
             "windows": [{"name": "calls_per_minute", "ratio": 1}, {"name": "calls_per_day", "ratio": 0.9},
                         {"name": "bytes_per_30d", "ratio": 0.5}]},
            {"provider": "p2", "enabled_data_types": 1, "quota": {"state": "bandwidth_exhausted"},
             "circuit": {"state": "half_open"}, "windows": [{"name": "bytes_per_30d", "ratio": 1}]},
            {"provider": "p3", "enabled_data_types": 0, "quota": {"state": "invalid_key"},
             "circuit": {"state": "open"}, "windows": [{"name": "calls_per_day", "ratio": 1}]}
        ],
        "processor": {"stats_1h": {"runs": 4, "running": 1, "success_rate": 0.6667, "failed": 1, "partial": 0}},
        "vocabulary": {"dirty": true}
    }'::jsonb) $$,
    $$ values
        ('circuit_open', 'p1', 'critical'), ('circuit_open', 'p2', 'critical'),
        ('cron_job_failing', 'a', 'critical'), ('cron_job_late', 'b', 'critical'),
        ('processor_success_rate_low', '', 'warning'), ('provider_bandwidth_exhausted', 'p2', 'warning'),
        ('provider_invalid_key', 'p1', 'critical'), ('queue_oldest_pending', '', 'warning'),
        ('queue_stuck_jobs', '', 'critical'), ('quota_high', 'p1:calls_per_day', 'warning'),
        ('quota_high', 'p2:bytes_per_30d', 'warning'), ('vocabulary_dirty', '', 'warning') $$,
    'every rule fires on its breach; the minute window and providers without enabled types never alert');
select is_empty(
    $$ select * from private.health_breaches('{
        "cron_jobs": [{"name": "c", "failing": false, "late": false}],
        "queue": {"oldest_due_wait_seconds": 600, "oldest_stuck_seconds": 120, "stuck_jobs": 1},
        "providers": [{"provider": "p1", "enabled_data_types": 1, "quota": {"state": "rate_limited"},
                       "circuit": {"state": "closed"}, "windows": [{"name": "calls_per_day", "ratio": 0.8999}]}],
        "processor": {"stats_1h": {"runs": 2, "running": 0, "success_rate": 0}},
        "vocabulary": {"dirty": false}
    }'::jsonb) $$,
    'values at the thresholds, a rate-limited provider and too few runs breach nothing');
select is_empty($$ select * from private.health_breaches('{}'::jsonb) $$, 'an empty report breaches nothing');
update private.health_alert_settings set oldest_due_wait_seconds = 60;
select is(
    (select pg_catalog.count(*) from private.health_breaches('{"queue": {"oldest_due_wait_seconds": 61}}'::jsonb)),
    1::bigint,
    'thresholds come from health_alert_settings');
update private.health_alert_settings set oldest_due_wait_seconds = 600;
select throws_ok(
    $$ update private.health_alert_settings set quota_ratio = 1.5 $$,
    '23514', null,
    'a quota ratio above 1 is rejected');

-- Raised once, cleared on recovery, raised again on a new breach, pruned after retention.
delete from private.health_alerts;
select private.evaluate_health_alerts('{"queue": {"oldest_stuck_seconds": 500, "stuck_jobs": 1}}'::jsonb);
select is(
    (private.evaluate_health_alerts('{"queue": {"oldest_stuck_seconds": 600, "stuck_jobs": 2}}'::jsonb) -> 'active' -> 0)
        - 'id' - 'raised_at',
    '{"rule": "queue_stuck_jobs", "subject": "", "severity": "critical",
      "detail": {"stuck_jobs": 2, "oldest_stuck_seconds": 600, "threshold_seconds": 120},
      "raised_detail": {"stuck_jobs": 1, "oldest_stuck_seconds": 500, "threshold_seconds": 120}}'::jsonb,
    'an active alert shows the current measurement and the one that raised it');
select is((select pg_catalog.count(*) from private.health_alerts), 1::bigint, 'a continuing breach raises one alert');
select is(
    private.evaluate_health_alerts('{}'::jsonb) -> 'active', '[]'::jsonb,
    'recovery leaves no active alert');
select ok(
    (select cleared_at is not null from private.health_alerts where rule = 'queue_stuck_jobs'),
    'recovery sets cleared_at');
select is(
    private.evaluate_health_alerts('{}'::jsonb) #>> '{recently_cleared,0,rule}', 'queue_stuck_jobs',
    'a cleared alert is listed as recently cleared');
select private.evaluate_health_alerts('{"queue": {"oldest_stuck_seconds": 900, "stuck_jobs": 1}}'::jsonb);
select is(
    (select pg_catalog.array_agg(cleared_at is null order by id) from private.health_alerts),
    array[false, true],
    'a new breach after recovery raises a new alert');
select throws_ok(
    $$ insert into private.health_alerts (rule, subject, severity) values ('queue_stuck_jobs', '', 'critical') $$,
    '23505', null,
    'at most one active alert per rule and subject');
insert into private.health_alerts (rule, subject, severity, raised_at, cleared_at)
values ('cron_job_late', 'old', 'critical', now() - interval '41 days', now() - interval '40 days');
select private.evaluate_health_alerts('{}'::jsonb);
select is(
    (select pg_catalog.count(*) from private.health_alerts where subject = 'old'), 0::bigint,
    'alerts cleared longer ago than cleared_retention are deleted');
select is(
    private.evaluate_health_alerts('{}'::jsonb) ->> 'persisted', 'true',
    'the evaluation reports that it persisted the alerts');

-- Provoked on real tables: a stuck job and an old due job.
delete from private.health_alerts;
insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, claimed_at, lease_expires_at, lease_token, worker_id)
values ('processing', 'quote', 'KFTAPSTUCK', 3, now() - interval '1 hour', now() - interval '50 minutes', extensions.gen_random_uuid(), 'kf-pgtap');
insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, created_at, not_before)
values ('pending', 'quote', 'KFTAPOLD', 3, now() - interval '30 minutes', now() - interval '20 minutes'),
       ('pending', 'quote', 'KFTAPLATER', 3, now(), now() + interval '1 hour');
select is(
    private.queue_health() - 'next_due_at',
    '{"depth": {"pending": 2, "processing": 1, "completed": 0, "failed": 0}, "due": 1,
      "oldest_pending_age_seconds": 1800.000, "oldest_due_wait_seconds": 1200.000,
      "stuck_jobs": 1, "oldest_stuck_seconds": 3000.000}'::jsonb,
    'the queue section counts partitions, due jobs, waits and stuck jobs');
select is(
    (select pg_catalog.jsonb_agg(a ->> 'rule' order by a ->> 'rule')
     from pg_catalog.jsonb_array_elements(private.health_report() -> 'alerts' -> 'active') as a
     where a ->> 'rule' like 'queue%'),
    '["queue_oldest_pending", "queue_stuck_jobs"]'::jsonb,
    'a stuck job and a long-waiting due job raise their alerts');
delete from private.api_call_queue_v2;
select is(
    (select pg_catalog.count(*) from pg_catalog.jsonb_array_elements(private.health_report() -> 'alerts' -> 'active') as a
     where a ->> 'rule' like 'queue%'),
    0::bigint,
    'an empty queue clears the queue alerts');

-- Provoked on real tables: exhausted daily quota, invalid key (which opens the circuit).
update private.providers
set calls_per_minute = 300, calls_per_day = 250, bytes_per_30d = 500000000
where provider = 'fmp';
insert into private.provider_usage (provider, width, bucket, calls)
values ('fmp', 'hour', pg_catalog.date_trunc('hour', now(), 'UTC'), 250)
on conflict (provider, width, bucket) do update set calls = excluded.calls;
select is(
    private.provider_health() -> 0 -> 'windows' -> 1,
    '{"name": "calls_per_day", "used": 250, "limit": 250, "ratio": 1.0000}'::jsonb,
    'the calls_per_day window shows used, limit and ratio');
select is((private.provider_health() #>> '{0,quota,exceeded}')::boolean, true, 'the provider shows as exhausted');
select is(
    (select a -> 'detail' from pg_catalog.jsonb_array_elements(private.health_report() -> 'alerts' -> 'active') as a
     where a ->> 'rule' = 'quota_high'),
    '{"used": 250, "limit": 250, "ratio": 1.0000, "exceeded": true, "threshold_ratio": 0.900}'::jsonb,
    'an exhausted daily quota raises quota_high with its measurement');
select public.set_provider_state_v2('fmp', 'invalid_key', null, 'pgtap');
select set_eq(
    $$ select a ->> 'rule' as rule, a ->> 'subject' as subject
       from pg_catalog.jsonb_array_elements(private.health_report() -> 'alerts' -> 'active') as a
       where a ->> 'subject' like 'fmp%' $$,
    $$ values ('quota_high', 'fmp:calls_per_day'), ('provider_invalid_key', 'fmp'), ('circuit_open', 'fmp') $$,
    'an invalid key raises provider_invalid_key and circuit_open');
select public.set_provider_state_v2('fmp', 'ok', null, null);
delete from private.provider_usage where provider = 'fmp';
select is(
    (select pg_catalog.count(*) from pg_catalog.jsonb_array_elements(private.health_report() -> 'alerts' -> 'active') as a
     where a ->> 'subject' like 'fmp%'),
    0::bigint,
    'a valid key and quota left clear the provider alerts');
select is(
    (select pg_catalog.array_agg(a.rule order by a.rule) from private.health_alerts as a
     where a.subject like 'fmp%' and a.cleared_at is not null),
    array['circuit_open', 'provider_invalid_key', 'quota_high'],
    'each provider alert was raised once and cleared');

-- Run counters: every finished run counted once, into its duration bucket.
create temporary table counters_before as select * from private.sync_run_counters;
insert into private.sync_runs (trigger, status, started_at, finished_at, claimed, succeeded, calls, bytes)
values ('test', 'succeeded', now() - interval '3 seconds', now(), 5, 5, 6, 1000);
select is(
    (select pg_catalog.jsonb_build_object('runs', c.runs - b.runs, 'succeeded', c.succeeded - b.succeeded,
        'calls', c.calls - b.calls, 'bytes', c.bytes - b.bytes, 'sum', c.duration_seconds_sum - b.duration_seconds_sum)
     from private.sync_run_counters as c join counters_before as b using (status) where c.status = 'succeeded'),
    '{"runs": 1, "succeeded": 5, "calls": 6, "bytes": 1000, "sum": 3}'::jsonb,
    'a run inserted finished is counted');
select is(
    (select c.duration_bucket_counts[5] - b.duration_bucket_counts[5]
     from private.sync_run_counters as c join counters_before as b using (status) where c.status = 'succeeded'),
    1::bigint,
    'a 3 s run lands in the le=5 bucket');
insert into private.sync_runs (trigger, worker_id) values ('test', 'kf-pgtap-run');
select is(
    (select c.runs - b.runs from private.sync_run_counters as c join counters_before as b using (status) where c.status = 'failed'),
    0::bigint,
    'a running run is not counted');
update private.sync_runs set status = 'failed', finished_at = now(), failed = 2 where worker_id = 'kf-pgtap-run';
update private.sync_runs set error = 'later edit' where worker_id = 'kf-pgtap-run';
select is(
    (select c.runs - b.runs from private.sync_run_counters as c join counters_before as b using (status) where c.status = 'failed'),
    1::bigint,
    'a run is counted once when it finishes, not again on later updates');
delete from private.sync_runs where trigger = 'test';
select is(
    (select c.runs - b.runs from private.sync_run_counters as c join counters_before as b using (status) where c.status = 'succeeded'),
    1::bigint,
    'pruning runs never lowers the counters');
select is_empty(
    $$ select b.i
       from (
           select o.i, (o.b ->> 'count')::bigint as n, pg_catalog.lag((o.b ->> 'count')::bigint) over (order by o.i) as prev
           from pg_catalog.jsonb_array_elements(private.sync_run_totals() #> '{duration,buckets}') with ordinality as o (b, i)
       ) as b
       where b.n < b.prev $$,
    'the histogram buckets are cumulative');
select is(
    private.sync_run_totals() #> '{duration,buckets,-1,count}',
    private.sync_run_totals() #> '{duration,count}',
    'the +Inf bucket equals the count');
select is(private.sync_run_duration_bucket(0.1), 1, 'a duration on a bound falls in that bucket');
select is(private.sync_run_duration_bucket(1000), 11, 'a duration above the last bound falls in +Inf');

-- Privileges: nothing here is reachable by client roles.
set local role anon;
select throws_ok('select private.health_report()', '42501', 'permission denied for schema private', 'anon cannot read the health report');
reset role;
set local role authenticated;
select throws_ok('select private.health_report()', '42501', 'permission denied for schema private', 'authenticated cannot read the health report');
reset role;
set local role service_role;
select throws_ok('select private.evaluate_health_alerts(''{}'')', '42501', 'permission denied for schema private', 'service_role cannot evaluate alerts');
reset role;
select function_privs_are('private', 'health_report', array[]::text[], 'service_role', array[]::text[], 'service_role has no EXECUTE on health_report');
select function_privs_are('private', 'evaluate_health_alerts', array['jsonb'], 'authenticated', array[]::text[], 'authenticated has no EXECUTE on evaluate_health_alerts');
select table_privs_are('private', 'health_alerts', 'service_role', array[]::text[], 'service_role has no privilege on health_alerts');
select table_privs_are('private', 'health_alert_settings', 'authenticated', array[]::text[], 'authenticated has no privilege on health_alert_settings');
select table_privs_are('private', 'sync_run_counters', 'anon', array[]::text[], 'anon has no privilege on sync_run_counters');

select * from finish();
rollback;
