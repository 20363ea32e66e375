-- health report: cron schedule intervals, job health flags, report shape, privileges.
begin;
set search_path = extensions, public;
select plan(14);

select is(private.cron_schedule_interval_seconds('10 seconds'), 10, 'N seconds form gives N');
select is(private.cron_schedule_interval_seconds('* * * * *'), 60, 'every minute gives 60');
select is(private.cron_schedule_interval_seconds('*/5 * * * *'), 300, 'every 5 minutes gives 300');
select is(private.cron_schedule_interval_seconds('0 3 * * *'), null, 'a daily cron string is not a simple interval');

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

set local role anon;
select throws_ok('select private.health_report()', '42501', 'permission denied for schema private', 'anon cannot read the health report');
reset role;
set local role authenticated;
select throws_ok('select private.health_report()', '42501', 'permission denied for schema private', 'authenticated cannot read the health report');
reset role;

select * from finish();
rollback;
