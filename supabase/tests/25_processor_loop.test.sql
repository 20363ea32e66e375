-- The processor loop tick: invoke_processor_loop_v2 posts to queue-processor-v2 through pg_net
-- with the processor secret from Vault (never the service-role key), rescues stuck jobs, and
-- skips with a reason when the queue is disabled, the circuit is open (a half-open probe goes
-- through after the cool-down), nothing is due, the quota is exceeded or the provider paused,
-- the maximum of processor runs is live, or a secret is missing. The skip under a concurrent
-- tick (lock 44) needs two sessions: tests/queue_concurrency_test.ts. Also the pg_cron job and
-- its schedule for both pg_cron version forms, and privileges per role.
begin;
set search_path = extensions, public;
select plan(35);

-- A cron tick running right now would hold lock 44; wait for it, then hold it ourselves (the
-- ticks below take it again: advisory locks are re-entrant within a session).
select pg_advisory_xact_lock(private.advisory_namespace(), 44);

delete from private.api_call_queue_v2;
delete from private.provider_usage;
delete from private.processor_leases;
update private.providers
set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
where provider = 'fmp';
update private.circuit_breaker set state = 'closed', opened_at = null, half_opened_at = null, consecutive_failed_runs = 0
where provider = 'fmp';
update private.queue_settings set max_processor_runs = 2;
update public.feature_flags set enabled = true where name = 'use_queue_system';
update public.data_type_registry_v2 set enabled = true where data_type in ('quote', 'profile');
delete from vault.secrets where name in ('keepfresh_functions_url', 'keepfresh_processor_secret');
select vault.create_secret('http://127.0.0.1:54321/', 'keepfresh_functions_url', 'pgtap');
select vault.create_secret('pgtap-processor-secret', 'keepfresh_processor_secret', 'pgtap');

select is(
    public.invoke_processor_loop_v2() - 'detail',
    '{"invoked": false, "reason": "nothing_due", "recovered": 0, "abandoned_runs": 0}'::jsonb,
    'an empty queue: nothing to do'
);

select count(*) from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', null, null);
create temporary table tick as select public.invoke_processor_loop_v2() as r;
select results_eq(
    $$ select (r ->> 'invoked')::boolean, r -> 'providers', r -> 'probe' from tick $$,
    $$ values (true, '["fmp"]'::jsonb, '[]'::jsonb) $$,
    'a due job starts a processor run'
);
select results_eq(
    $$ select q.method::text, q.url, q.timeout_milliseconds, convert_from(q.body, 'UTF8')::jsonb
       from net.http_request_queue as q where q.id = (select (r ->> 'request_id')::bigint from tick) $$,
    $$ values ('POST'::text, 'http://127.0.0.1:54321/functions/v1/queue-processor-v2'::text, 5000, '{"trigger": "cron", "lingerSeconds": 45}'::jsonb) $$,
    'the tick queues a pg_net POST of {"trigger": "cron", "lingerSeconds": 45} (pg_cron 1.4) to queue-processor-v2 with a 5 s timeout'
);
select results_eq(
    $$ select q.headers ->> 'Authorization', q.headers ->> 'Content-Type'
       from net.http_request_queue as q where q.id = (select (r ->> 'request_id')::bigint from tick) $$,
    $$ values ('Bearer pgtap-processor-secret'::text, 'application/json'::text) $$,
    'it authenticates with the processor secret from Vault'
);
select is_empty(
    $$ select q.id from net.http_request_queue as q
       where q.headers::text ~ 'eyJ|service_role' or convert_from(q.body, 'UTF8') ~ 'eyJ|service_role' $$,
    'no queued request carries a JWT or the service-role key (pg_net''s queue is readable by PUBLIC)'
);

-- Skips.
update public.feature_flags set enabled = false where name = 'use_queue_system';
select is(public.invoke_processor_loop_v2() ->> 'reason', 'queue_disabled', 'skips while use_queue_system is off');
update public.feature_flags set enabled = true where name = 'use_queue_system';

update private.api_call_queue_v2 set not_before = now() + interval '1 minute' where key = 'AAPL';
select is(public.invoke_processor_loop_v2() ->> 'reason', 'nothing_due', 'skips when the only job is not due yet');
update private.api_call_queue_v2 set not_before = now() where key = 'AAPL';
update public.data_type_registry_v2 set enabled = false where data_type = 'quote';
select is(public.invoke_processor_loop_v2() ->> 'reason', 'nothing_due', 'skips when the due job''s data type is disabled');
update public.data_type_registry_v2 set enabled = true where data_type = 'quote';

update private.providers set calls_per_minute = 0 where provider = 'fmp';
select results_eq(
    $$ select r ->> 'reason', r ->> 'detail' from public.invoke_processor_loop_v2() as r $$,
    $$ values ('quota_exceeded'::text, 'quota exceeded or provider paused for fmp'::text) $$,
    'skips when the quota is exceeded'
);
update private.providers set calls_per_minute = null where provider = 'fmp';
select public.set_provider_state_v2('fmp', 'rate_limited', 60, 'pgtap');
select is(public.invoke_processor_loop_v2() ->> 'reason', 'quota_exceeded', 'skips while the provider is paused');
select public.set_provider_state_v2('fmp', 'ok', null, null);

select count(*) from (
    select public.acquire_processor_lease_v2('proc-' || g, 2, 60) from generate_series(1, 2) as g
) as l;
select results_eq(
    $$ select r ->> 'reason', r ->> 'detail' from public.invoke_processor_loop_v2() as r $$,
    $$ values ('max_processor_runs'::text, '2 of 2 processor leases are live'::text) $$,
    'skips while the maximum number of processor runs is live'
);
update private.processor_leases set acquired_at = now() - interval '2 minutes', expires_at = now() - interval '1 second';
select is((public.invoke_processor_loop_v2() ->> 'invoked')::boolean, true, 'expired leases do not block a run');

delete from vault.secrets where name = 'keepfresh_processor_secret';
select results_eq(
    $$ select (r ->> 'invoked')::boolean, r ->> 'reason', r ->> 'detail' from public.invoke_processor_loop_v2() as r $$,
    $$ values (false, 'missing_secret'::text,
               'vault secret keepfresh_processor_secret is not set: select vault.create_secret(<value>, ''keepfresh_processor_secret'')'::text) $$,
    'a missing processor secret is reported, not raised'
);
delete from vault.secrets where name = 'keepfresh_functions_url';
select is(
    public.invoke_processor_loop_v2() ->> 'detail',
    'vault secret keepfresh_functions_url is not set: select vault.create_secret(<value>, ''keepfresh_functions_url'')',
    'a missing functions URL is reported, not raised'
);
select vault.create_secret('http://127.0.0.1:54321', 'keepfresh_functions_url', 'pgtap');
select vault.create_secret('pgtap-processor-secret', 'keepfresh_processor_secret', 'pgtap');

-- The circuit.
select public.finish_sync_run_v2(public.start_sync_run_v2('test', null, 'pgtap'), 'failed', '{"provider": "fmp"}', 'HTTP 500')
from generate_series(1, 3);
select results_eq(
    $$ select r ->> 'reason', r ->> 'detail' from public.invoke_processor_loop_v2() as r $$,
    $$ values ('circuit_open'::text, 'circuit open for fmp'::text) $$,
    'skips while the circuit is open'
);
update private.circuit_breaker set opened_at = now() - interval '301 seconds' where provider = 'fmp';
select results_eq(
    $$ select (r ->> 'invoked')::boolean, r -> 'probe' from public.invoke_processor_loop_v2() as r $$,
    $$ values (true, '["fmp"]'::jsonb) $$,
    'after the cool-down one probe run starts'
);
select is((select state from private.circuit_breaker where provider = 'fmp'), 'half_open', 'the circuit is half-open during the probe');
select is(public.invoke_processor_loop_v2() ->> 'reason', 'circuit_open', 'no second run starts while the probe is in flight');
select public.finish_sync_run_v2(public.start_sync_run_v2('test', null, 'pgtap'), 'succeeded', '{"succeeded": 1, "provider": "fmp"}', null);
select is((public.invoke_processor_loop_v2() ->> 'invoked')::boolean, true, 'a successful probe closes the circuit: runs start again');

-- Rescue before deciding.
select count(*) from public.get_queue_batch_v2(10, 'dead-worker', 30);
update private.api_call_queue_v2_processing set lease_expires_at = now() - interval '1 second';
select is((public.invoke_processor_loop_v2() ->> 'recovered')::integer, 1, 'the tick rescues a job whose lease expired');
select is((select status from private.api_call_queue_v2 where key = 'AAPL'), 'pending', 'the rescued job is pending again');
insert into private.sync_runs (trigger, status, started_at) values ('cron', 'running', now() - interval '1 hour');
select is((public.invoke_processor_loop_v2() ->> 'abandoned_runs')::integer, 1, 'the tick marks an abandoned run failed');

-- pg_cron: the schedule for both version forms, and the job.
select is(private.cron_schedule_for(10, '1.4-1'), '* * * * *', 'pg_cron 1.4: every minute (no sub-minute schedules)');
select is(private.cron_schedule_for(10, '1.5'), '10 seconds', 'pg_cron 1.5: every 10 seconds');
select is(private.cron_schedule_for(10, '1.6.4'), '10 seconds', 'pg_cron 1.6.4: every 10 seconds');
select is(private.cron_schedule_for(10, null), '* * * * *', 'no pg_cron version: the minute form');
select is(private.cron_schedule_for(60, '1.6'), '* * * * *', '60 seconds is every minute');
select is(private.cron_schedule_for(150, '1.6'), '*/3 * * * *', 'longer intervals round up to whole minutes');
select throws_ok(
    $$ select private.cron_schedule_for(0, '1.6') $$,
    '22023', 'schedule interval must be from 1 to 3600 seconds, got 0',
    'an interval of 0 seconds is refused'
);
select is(
    private.cron_schedule_for(10),
    private.cron_schedule_for(10, (select extversion from pg_extension where extname = 'pg_cron')),
    'the one-argument form uses the installed pg_cron version'
);
select results_eq(
    $$ select schedule, command, active from cron.job where jobname = 'keepfresh-processor' $$,
    $$ values (private.cron_schedule_for(10), 'select public.invoke_processor_loop_v2()'::text, true) $$,
    'one active keepfresh-processor job runs the tick on the schedule for the installed pg_cron'
);

-- Privileges.
select function_privs_are('public', 'invoke_processor_loop_v2', array[]::text[],
    'anon', array[]::text[], 'anon cannot run the processor loop');
select function_privs_are('public', 'invoke_processor_loop_v2', array[]::text[],
    'authenticated', array[]::text[], 'authenticated cannot run the processor loop');
select function_privs_are('public', 'invoke_processor_loop_v2', array[]::text[],
    'service_role', array['EXECUTE'], 'service_role can run the processor loop');
select tests.authenticate_as('pgtap-loop-user') from (select tests.create_supabase_user('pgtap-loop-user')) as u;
select throws_ok(
    $$ select public.invoke_processor_loop_v2() $$,
    '42501', 'permission denied for function invoke_processor_loop_v2',
    'an authenticated user calling the processor loop is refused'
);
select tests.clear_authentication();

select * from finish();
rollback;
