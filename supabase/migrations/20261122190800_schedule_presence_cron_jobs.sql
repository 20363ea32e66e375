-- Schedules keepfresh's remaining pg_cron jobs (3.4). With keepfresh-processor
-- (20261122161700) these are all five generic jobs; each body is one call to a schema function:
--   keepfresh-presence     every 10 s   check_and_queue_stale_data_from_presence_v2() (lock 42)
--   keepfresh-scheduled    every 30 s   queue_scheduled_refreshes_v2() (lock 43, throttled to
--                                       presence_settings.scheduled_min_interval_seconds)
--   keepfresh-maintenance  every 5 min  maintain_queue_partitions_v2() (bounded pruning)
--   keepfresh-analytics    every 1 min  refresh_analytics_from_presence_v2()
-- The schedule strings come from private.cron_schedule_for: 'N seconds' on pg_cron >= 1.5
-- (hosted has 1.6), whole minutes on 1.4 (the local stack), where sub-minute schedules are an
-- error. private.keepfresh_cron_jobs(version) lists the definitions for a given pg_cron version,
-- so the tests check both forms although only one pg_cron is installed.
-- Unschedule-then-schedule, so applying this again never leaves two jobs of a name.

-- The definitions of the jobs above for pg_cron version p_pg_cron_version (such as '1.4-1' or
-- '1.6.4'; null means the minute forms): jobname, schedule, command. Never raises.
create function private.keepfresh_cron_jobs(p_pg_cron_version text)
returns table (jobname text, schedule text, command text)
language sql
immutable
set search_path = ''
as $$
    select j.jobname, private.cron_schedule_for(j.seconds, p_pg_cron_version), j.command
    from (
        values
            ('keepfresh-analytics', 60, 'select public.refresh_analytics_from_presence_v2()'),
            ('keepfresh-maintenance', 300, 'select public.maintain_queue_partitions_v2()'),
            ('keepfresh-presence', 10, 'select public.check_and_queue_stale_data_from_presence_v2()'),
            ('keepfresh-scheduled', 30, 'select public.queue_scheduled_refreshes_v2()')
    ) as j (jobname, seconds, command)
    order by j.jobname
$$;

comment on function private.keepfresh_cron_jobs(text) is
    'keepfresh''s presence, scheduler, maintenance and analytics pg_cron jobs (name, schedule, command) for a pg_cron version.';

revoke all on function private.keepfresh_cron_jobs(text) from public, anon, authenticated, service_role;

select cron.unschedule(j.jobid)
from cron.job as j
where j.jobname in (select d.jobname from private.keepfresh_cron_jobs(null) as d)
order by j.jobid;

select cron.schedule(d.jobname, d.schedule, d.command)
from private.keepfresh_cron_jobs(
    (select e.extversion from pg_catalog.pg_extension as e where e.extname = 'pg_cron')
) as d
order by d.jobname;
