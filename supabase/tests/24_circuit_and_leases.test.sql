-- Sync runs (start, finish, read, stats, abandoned runs), the circuit breaker fed by them
-- (closed -> open after N failed runs -> half-open probe after the cool-down -> closed or open
-- again; inconclusive runs), processor leases (at most N live, expiry, release, run link), and
-- privileges per role.
begin;
set search_path = extensions, public;
select plan(56);

delete from private.processor_leases;
delete from private.sync_runs;
update private.circuit_breaker
set state = 'closed', consecutive_failed_runs = 0, opened_at = null, half_opened_at = null,
    failure_threshold = 3, cooldown_seconds = 300
where provider = 'fmp';
update public.data_type_registry_v2 set enabled = true where data_type = 'quote';

-- Sync runs.
create temporary table run1 as select public.start_sync_run_v2('manual', '{"symbols": ["AAPL"]}', 'worker-1') as id;
select results_eq(
    $$ select r.trigger, r.status, r.started_at, r.finished_at, r.filters, r.worker_id, r.claimed
       from private.sync_runs as r join run1 on run1.id = r.id $$,
    $$ values ('manual'::text, 'running'::text, now(), null::timestamptz, '{"symbols": ["AAPL"]}'::jsonb, 'worker-1'::text, 0) $$,
    'start_sync_run_v2 records a running run with its trigger, filters and worker'
);
update private.sync_runs set started_at = now() - interval '4 seconds' where id = (select id from run1);
select lives_ok(
    $$ select public.finish_sync_run_v2((select id from run1), 'partial',
           '{"claimed": 5, "succeeded": 3, "failed": 1, "retried": 1, "bytes": 12345, "calls": 5, "provider": "fmp"}',
           'one symbol failed') $$,
    'finish_sync_run_v2 records the end of a run'
);
select results_eq(
    $$ select g ->> 'status', (g ->> 'duration_seconds')::numeric, (g ->> 'claimed')::integer, (g ->> 'succeeded')::integer,
              (g ->> 'failed')::integer, (g ->> 'retried')::integer, (g ->> 'bytes')::bigint, (g ->> 'calls')::integer,
              g ->> 'error', g ->> 'trigger'
       from public.get_sync_run_v2((select id from run1)) as g $$,
    $$ values ('partial'::text, 4::numeric, 5, 3, 1, 1, 12345::bigint, 5, 'one symbol failed'::text, 'manual'::text) $$,
    'get_sync_run_v2 returns the run with its duration, counts, bytes, calls and error'
);
select is(public.get_sync_run_v2(-1), null, 'an unknown run reads as null');
select throws_ok(
    $$ select public.finish_sync_run_v2((select id from run1), 'succeeded', null, null) $$,
    '55000', format('sync run %s already finished', (select id from run1)),
    'a run is finished only once'
);
select throws_ok(
    $$ select public.finish_sync_run_v2(-1, 'succeeded', null, null) $$,
    '22023', 'unknown sync run -1',
    'finishing an unknown run is refused'
);
select throws_ok(
    $$ select public.finish_sync_run_v2(1, 'done', null, null) $$,
    '22023', 'unknown sync run status "done"',
    'an unknown status is refused'
);
select throws_ok(
    $$ select public.finish_sync_run_v2(1, 'succeeded', '{"claimed": -1}', null) $$,
    '22023', 'stats.claimed must be a non-negative integer, got -1',
    'a negative count is refused'
);
select throws_ok(
    $$ select public.finish_sync_run_v2(1, 'succeeded', '{"bytes": "many"}', null) $$,
    '22023', 'stats.bytes must be a non-negative integer, got "many"',
    'a count that is not a number is refused'
);
select throws_ok(
    $$ select public.start_sync_run_v2('hourly', null, 'w') $$,
    '22023', 'unknown sync trigger "hourly"',
    'an unknown trigger is refused'
);
select throws_ok(
    $$ select public.start_sync_run_v2('cron', '[]', 'w') $$,
    '22023', 'filters must be a JSON object or null',
    'filters that are not an object are refused'
);
select throws_ok(
    $$ select public.start_sync_run_v2('cron', null, '') $$,
    '22023', 'worker id must be 1 to 128 characters',
    'an empty worker id is refused'
);

-- Stats over a window.
insert into private.sync_runs (trigger, status, started_at, finished_at, claimed, succeeded, failed)
values
    ('cron', 'succeeded', now() - interval '10 minutes', now() - interval '10 minutes' + interval '2 seconds', 10, 10, 0),
    ('cron', 'failed', now() - interval '5 minutes', now() - interval '5 minutes' + interval '6 seconds', 4, 0, 4),
    ('cron', 'running', now() - interval '1 minute', null, 2, 0, 0),
    ('cron', 'succeeded', now() - interval '2 days', now() - interval '2 days' + interval '100 seconds', 1, 1, 0);
select results_eq(
    $$ select (s ->> 'runs')::integer, (s ->> 'running')::integer, (s ->> 'succeeded')::integer, (s ->> 'partial')::integer,
              (s ->> 'failed')::integer, (s ->> 'success_rate')::numeric, (s ->> 'mean_duration_seconds')::numeric,
              (s -> 'jobs' ->> 'claimed')::integer, (s ->> 'job_success_rate')::numeric, (s ->> 'window_seconds')::numeric
       from public.get_sync_stats_v2(interval '1 hour') as s $$,
    $$ values (4, 1, 1, 1, 1, 0.3333::numeric, 4.000::numeric, 21, 0.7222::numeric, 3600::numeric) $$,
    'stats over the last hour: runs per status, success rate of finished runs, mean duration, job totals'
);
select throws_ok(
    $$ select public.get_sync_stats_v2(interval '0') $$,
    '22023', 'window must be more than 0 and at most 366 days, got 00:00:00',
    'an empty window is refused'
);

-- Abandoned runs are marked failed and feed the circuit.
update private.sync_runs set started_at = now() - interval '20 minutes' where status = 'running';
select is(private.fail_abandoned_sync_runs(), 1, 'a run still running after 15 minutes is marked failed');
select results_eq(
    $$ select status, error from private.sync_runs where started_at = now() - interval '20 minutes' $$,
    $$ values ('failed'::text, 'abandoned: still running after 00:15:00'::text) $$,
    'the abandoned run is failed with a reason'
);
select is(
    (select consecutive_failed_runs from private.circuit_breaker where provider = 'fmp'),
    1,
    'the abandoned run counted as a failed run for the circuit'
);

-- The circuit: closed -> open after failure_threshold failed runs.
update private.circuit_breaker set consecutive_failed_runs = 0 where provider = 'fmp';
create function pg_temp.run(p_status text, p_succeeded integer) returns void language sql as $$
    select public.finish_sync_run_v2(
        public.start_sync_run_v2('test', null, 'pgtap'), p_status,
        jsonb_build_object('succeeded', p_succeeded, 'claimed', p_succeeded), 'HTTP 503')
$$;
select is(public.get_circuit_state_v2('fmp') ->> 'state', 'closed', 'the circuit starts closed');
select pg_temp.run('failed', 0);
select pg_temp.run('failed', 0);
select results_eq(
    $$ select s ->> 'state', (s ->> 'consecutive_failed_runs')::integer, (s ->> 'allows_run')::boolean
       from public.get_circuit_state_v2('fmp') as s $$,
    $$ values ('closed'::text, 2, true) $$,
    'two failed runs: still closed, counting'
);
select pg_temp.run('succeeded', 0);
select is((public.get_circuit_state_v2('fmp') ->> 'consecutive_failed_runs')::integer, 2,
    'a run that claimed nothing is inconclusive: the count stays');
select pg_temp.run('failed', 0);
select results_eq(
    $$ select s ->> 'state', (s ->> 'opened_at')::timestamptz, (s ->> 'retry_at')::timestamptz,
              (s ->> 'allows_run')::boolean, s ->> 'reason'
       from public.get_circuit_state_v2('fmp') as s $$,
    $$ values ('open'::text, now(), now() + interval '300 seconds', false,
               '3 consecutive failed runs; last error: HTTP 503'::text) $$,
    'the third failed run opens the circuit for the cool-down'
);
select is(private.circuit_gate('fmp'), 'open', 'an open circuit in its cool-down lets no run start');
update private.circuit_breaker set opened_at = now() - interval '10 seconds' where provider = 'fmp';
select pg_temp.run('failed', 0);
select is((public.get_circuit_state_v2('fmp') ->> 'opened_at')::timestamptz, now() - interval '10 seconds',
    'a failed run while open keeps opened_at (the cool-down is not extended)');

-- Cool-down over: one half-open probe.
update private.circuit_breaker set opened_at = now() - interval '301 seconds' where provider = 'fmp';
select is(private.circuit_gate('fmp'), 'probe', 'after the cool-down a probe run may start');
select is((public.get_circuit_state_v2('fmp') ->> 'allows_run')::boolean, true, 'the state says a run is allowed');
select private.start_circuit_probe('fmp');
select results_eq(
    $$ select state, half_opened_at from private.circuit_breaker where provider = 'fmp' $$,
    $$ values ('half_open'::text, now()) $$,
    'starting the probe makes the circuit half-open'
);
select is(private.circuit_gate('fmp'), 'probing', 'while the probe runs no other run starts');
select pg_temp.run('succeeded', 0);
select is(private.circuit_gate('fmp'), 'probing', 'an inconclusive probe leaves the circuit half-open');
update private.circuit_breaker set half_opened_at = now() - interval '301 seconds' where provider = 'fmp';
select is(private.circuit_gate('fmp'), 'probe', 'a probe that never reported lets another probe start after the cool-down');
select pg_temp.run('failed', 0);
select results_eq(
    $$ select state, opened_at, half_opened_at from private.circuit_breaker where provider = 'fmp' $$,
    $$ values ('open'::text, now(), null::timestamptz) $$,
    'a failed probe opens the circuit again'
);
update private.circuit_breaker set state = 'half_open', half_opened_at = now() where provider = 'fmp';
select pg_temp.run('partial', 2);
select results_eq(
    $$ select s ->> 'state', (s ->> 'consecutive_failed_runs')::integer, s ->> 'opened_at', (s ->> 'allows_run')::boolean
       from public.get_circuit_state_v2('fmp') as s $$,
    $$ values ('closed'::text, 0, null::text, true) $$,
    'a probe that completed jobs closes the circuit and resets the count'
);
select pg_temp.run('failed', 0);
select pg_temp.run('succeeded', 1);
select is((public.get_circuit_state_v2('fmp') ->> 'consecutive_failed_runs')::integer, 0,
    'a successful run resets the failure count');
select throws_ok(
    $$ select public.get_circuit_state_v2('nope') $$,
    '22023', 'unknown provider "nope"',
    'the circuit of an unknown provider is refused'
);

-- Processor leases.
create temporary table leases (n integer, id bigint);
insert into leases values (1, public.acquire_processor_lease_v2('proc-a', 2, 60));
insert into leases values (2, public.acquire_processor_lease_v2('proc-b', 2, 60));
insert into leases values (3, public.acquire_processor_lease_v2('proc-c', 2, 60));
select ok((select id is not null from leases where n = 1) and (select id is not null from leases where n = 2),
    'two leases are granted with max 2');
select is((select id from leases where n = 3), null, 'a third lease is refused while two are live');
select results_eq(
    $$ select worker_id, acquired_at, expires_at from private.processor_leases where id = (select id from leases where n = 1) $$,
    $$ values ('proc-a'::text, now(), now() + interval '60 seconds') $$,
    'a lease records its worker and expiry'
);
select isnt(public.acquire_processor_lease_v2('proc-c', 3, 60), null, 'a larger max grants another lease');
select lives_ok(
    $$ select public.release_processor_lease_v2((select id from leases where n = 1)) $$,
    'a lease is released'
);
select is(
    (select count(*)::integer from private.processor_leases where id = (select id from leases where n = 1)),
    0,
    'the released lease is gone'
);
select lives_ok($$ select public.release_processor_lease_v2(-1) $$, 'releasing an unknown lease does nothing');
update private.processor_leases set acquired_at = now() - interval '2 minutes', expires_at = now() - interval '1 second';
select isnt(public.acquire_processor_lease_v2('proc-d', 1, 60), null, 'expired leases do not count: a new one is granted');
select is(
    (select count(*)::integer from private.processor_leases),
    1,
    'expired leases were removed'
);
create temporary table linked_run as select public.start_sync_run_v2('cron', null, 'proc-d') as id;
select is(
    (select run_id from private.processor_leases where worker_id = 'proc-d'),
    (select id from linked_run),
    'start_sync_run_v2 links the worker''s live lease to the run'
);
select throws_ok(
    $$ select public.acquire_processor_lease_v2('w', 0, 60) $$,
    '22023', 'max concurrent runs must be from 1 to 100, got 0',
    'max 0 is refused'
);
select throws_ok(
    $$ select public.acquire_processor_lease_v2('w', 2, 1) $$,
    '22023', 'lease must be from 5 to 3600 seconds, got 1',
    'a lease under 5 seconds is refused'
);
select throws_ok(
    $$ select public.acquire_processor_lease_v2(null, 2, 60) $$,
    '22023', 'worker id must be 1 to 128 characters',
    'a null worker id is refused'
);

-- Privileges.
select is_empty(
    $$
        select r.role_name || ' ' || f.name
        from (values ('anon'), ('authenticated')) as r (role_name)
        cross join (values
            ('public.start_sync_run_v2(text, jsonb, text)'),
            ('public.finish_sync_run_v2(bigint, text, jsonb, text)'),
            ('public.get_sync_run_v2(bigint)'),
            ('public.get_sync_stats_v2(interval)'),
            ('public.get_circuit_state_v2(text)'),
            ('public.acquire_processor_lease_v2(text, integer, integer)'),
            ('public.release_processor_lease_v2(bigint)')
        ) as f (name)
        where has_function_privilege(r.role_name, f.name, 'EXECUTE')
    $$,
    'anon and authenticated cannot use sync runs, the circuit or processor leases'
);
select function_privs_are('public', 'start_sync_run_v2', array['text', 'jsonb', 'text'],
    'service_role', array['EXECUTE'], 'service_role can start sync runs');
select function_privs_are('public', 'finish_sync_run_v2', array['bigint', 'text', 'jsonb', 'text'],
    'service_role', array['EXECUTE'], 'service_role can finish sync runs');
select function_privs_are('public', 'get_sync_run_v2', array['bigint'],
    'service_role', array['EXECUTE'], 'service_role can read a sync run');
select function_privs_are('public', 'get_sync_stats_v2', array['interval'],
    'service_role', array['EXECUTE'], 'service_role can read sync stats');
select function_privs_are('public', 'get_circuit_state_v2', array['text'],
    'service_role', array['EXECUTE'], 'service_role can read the circuit');
select function_privs_are('public', 'acquire_processor_lease_v2', array['text', 'integer', 'integer'],
    'service_role', array['EXECUTE'], 'service_role can acquire processor leases');
select function_privs_are('public', 'release_processor_lease_v2', array['bigint'],
    'service_role', array['EXECUTE'], 'service_role can release processor leases');
select is_empty(
    $$
        select r.role_name || ' ' || t.name || ' ' || p.privilege
        from (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        cross join (values ('private.sync_runs'), ('private.circuit_breaker'), ('private.processor_leases')) as t (name)
        cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) as p (privilege)
        where has_table_privilege(r.role_name, t.name, p.privilege)
    $$,
    'no client role has any privilege on sync_runs, circuit_breaker or processor_leases'
);
select is_empty(
    $$
        select r.role_name || ' ' || p.oid::regprocedure::text
        from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        where n.nspname = 'private'
            and p.proname in ('advisory_namespace', 'queue_dedup_key', 'dedup_bucket', 'note_serialization_retry',
                'provider_effective_state', 'require_provider', 'provider_window_usage', 'provider_budget',
                'open_circuit', 'close_circuit', 'record_circuit_run', 'circuit_gate', 'start_circuit_probe',
                'provider_exhausted', 'escalate_provider_state', 'claim_queue_jobs', 'fail_abandoned_sync_runs',
                'cron_schedule_for')
            and has_function_privilege(r.role_name, p.oid, 'EXECUTE')
    $$,
    'no client role can execute the private queue functions'
);

select * from finish();
rollback;
