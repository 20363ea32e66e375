-- Schedules the processor loop with pg_cron (3.4): job keepfresh-processor runs
-- `select public.invoke_processor_loop_v2()` every 10 seconds on pg_cron >= 1.5 (hosted
-- Supabase has 1.6) and every minute on older versions (the local stack's 1.4 has no sub-minute
-- schedules; queue-processor-v2 then loops within its time budget to make up for it).
-- Unschedule-then-schedule, so applying this again never leaves two jobs.

create extension if not exists pg_cron with schema pg_catalog;

-- The pg_cron schedule for running every p_seconds (1..3600) on pg_cron p_pg_cron_version
-- (such as '1.4-1' or '1.6.4'): 'N seconds' for less than a minute on 1.5 and later, else
-- every minute ('* * * * *') or every N minutes ('*/N * * * *', rounded up).
-- Raises 22023 for seconds out of range.
create function private.cron_schedule_for(p_seconds integer, p_pg_cron_version text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_version integer[];
begin
    if p_seconds is null or p_seconds not between 1 and 3600 then
        raise exception 'schedule interval must be from 1 to 3600 seconds, got %', coalesce(p_seconds::text, 'null')
            using errcode = '22023',
                hint = 'pg_cron interval schedules cover seconds below a minute and minutes up to an hour.';
    end if;
    v_version := coalesce(
        pg_catalog.string_to_array(
            nullif(pg_catalog.substring(coalesce(p_pg_cron_version, ''), '^[0-9]+(?:\.[0-9]+)*'), ''),
            '.'
        )::integer[],
        array[0]
    );
    if p_seconds < 60 and v_version >= array[1, 5] then
        return p_seconds || ' seconds';
    end if;
    if p_seconds <= 60 then
        return '* * * * *';
    end if;
    return '*/' || ((p_seconds + 59) / 60) || ' * * * *';
end;
$$;

comment on function private.cron_schedule_for(integer, text) is
    'pg_cron schedule for every N seconds on a given pg_cron version: N seconds on >= 1.5, else minutes.';

-- The pg_cron schedule for running every p_seconds on the installed pg_cron (as the two-argument
-- form; an older or missing pg_cron gets the minute form).
create function private.cron_schedule_for(p_seconds integer)
returns text
language sql
stable
set search_path = ''
as $$
    select private.cron_schedule_for(
        p_seconds,
        (select e.extversion from pg_catalog.pg_extension as e where e.extname = 'pg_cron')
    )
$$;

comment on function private.cron_schedule_for(integer) is
    'pg_cron schedule for every N seconds on the installed pg_cron version.';

revoke all on function private.cron_schedule_for(integer, text) from public, anon, authenticated, service_role;
revoke all on function private.cron_schedule_for(integer) from public, anon, authenticated, service_role;

select cron.unschedule(j.jobid)
from cron.job as j
where j.jobname = 'keepfresh-processor';

-- Every 10 seconds (every minute on pg_cron 1.4): one processor loop tick.
select cron.schedule(
    'keepfresh-processor',
    private.cron_schedule_for(10),
    'select public.invoke_processor_loop_v2()'
);
