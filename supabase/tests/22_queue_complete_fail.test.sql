-- Completion and failure: every outcome with its refresh-state cooldown, fencing by lease token,
-- the batch form, byte reconciliation and the sampled estimate correction; every error class
-- (backoff bounds with jitter, the cap, max attempts, provider pauses, invalid key never
-- failing a job); stuck-job rescue turning the reservation into usage; reset; bounded pruning;
-- privileges per role.
begin;
set search_path = extensions, public;
select plan(74);

delete from private.api_call_queue_v2;
delete from private.provider_usage;
delete from private.refresh_state;
update private.providers
set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
where provider = 'fmp';
update private.circuit_breaker set state = 'closed', opened_at = null, consecutive_failed_runs = 0 where provider = 'fmp';
update private.queue_settings set estimate_sample_rate = 0;
update public.data_type_registry_v2 set enabled = true where data_type in ('quote', 'profile', 'available-exchanges');
update public.data_type_registry_v2 set enabled = false where data_type not in ('quote', 'profile', 'available-exchanges');

-- Claimed jobs by key, for the assertions below.
create temporary table claimed (id bigint, key text, data_type text, lease_token uuid, attempts integer);
create function pg_temp.claim(p_keys text[]) returns void language sql as $$
    insert into claimed
    select c.id, c.key, c.data_type, c.lease_token, c.attempts
    from public.get_queue_batch_filtered_v2(100, 'pgtap', 30, null, p_keys) as c
$$;
create function pg_temp.job(p_key text) returns bigint language sql as $$
    select id from claimed where key = p_key order by id desc limit 1
$$;
create function pg_temp.token(p_key text) returns uuid language sql as $$
    select lease_token from claimed where key = p_key order by id desc limit 1
$$;

select count(*) from public.queue_refresh_batch_v2((
    select jsonb_agg(jsonb_build_object('data_type', 'quote', 'key', k))
    from unnest(array['OK1', 'OK2', 'ND', 'NN', 'STALE', 'B1', 'B2', 'B3', 'T1', 'TMAX', 'TCAP',
                      'PERM', 'RL', 'BW', 'IK', 'STUCK', 'STUCKMAX', 'RESET']) as k
));
select count(*) from public.queue_refresh_batch_v2((
    select jsonb_agg(jsonb_build_object('data_type', 'quote', 'key', 'J' || g)) from generate_series(1, 20) as g
));
select pg_temp.claim(null);

-- success.
select is(
    public.complete_queue_job_v2(pg_temp.job('OK1'), pg_temp.token('OK1'), 'success', 1234, '2026-01-02 03:04:05+00'),
    true,
    'completing with the current lease token succeeds'
);
select results_eq(
    $$ select status, outcome, actual_bytes, source_timestamp, finished_at from private.api_call_queue_v2 where key = 'OK1' $$,
    $$ values ('completed'::text, 'success'::text, 1234::bigint, '2026-01-02 03:04:05+00'::timestamptz, now()) $$,
    'the job is completed with its outcome, actual bytes, source timestamp and finish time'
);
select results_eq(
    $$ select last_outcome, last_checked_at, next_eligible_at, last_success_at, consecutive_failures
       from private.refresh_state where data_type = 'quote' and key = 'OK1' $$,
    $$ values ('success'::text, now(), now() + interval '60 seconds', now(), 0) $$,
    'success: the key may be queued again after ttl_seconds (quote: 60 s)'
);
select is(
    public.complete_queue_job_v2(pg_temp.job('OK1'), pg_temp.token('OK1'), 'success', 1234, null),
    false,
    'a second completion of the same job is refused (exactly once)'
);

-- no_data and not_newer.
select is(public.complete_queue_job_v2(pg_temp.job('ND'), pg_temp.token('ND'), 'no_data', 2, null), true,
    'a job whose upstream returned [] completes');
select results_eq(
    $$ select last_outcome, next_eligible_at, last_success_at from private.refresh_state where key = 'ND' $$,
    $$ values ('no_data'::text, now() + interval '3600 seconds', null::timestamptz) $$,
    'no_data: the key waits empty_cooldown_seconds (quote: 3600 s) and has no success'
);
select is(public.complete_queue_job_v2(pg_temp.job('NN'), pg_temp.token('NN'), 'not_newer', 900, null), true,
    'a job whose data was not newer completes');
select results_eq(
    $$ select last_outcome, next_eligible_at from private.refresh_state where key = 'NN' $$,
    $$ values ('not_newer'::text, now() + interval '60 seconds') $$,
    'not_newer: the key waits ttl_seconds'
);
select results_eq(
    $$ select job_id, created from public.queue_refresh_if_not_exists_v2('quote', 'ND', null, null) $$,
    $$ values (null::bigint, false) $$,
    'a key in its no_data cooldown is not queued again'
);

-- Fencing.
select is(
    public.complete_queue_job_v2(pg_temp.job('STALE'), gen_random_uuid(), 'success', 1, null),
    false,
    'a stale lease token cannot complete the job'
);
select is(
    (select status from private.api_call_queue_v2 where key = 'STALE'),
    'processing',
    'the job stays processing after a refused completion'
);
select is(
    public.fail_queue_job_v2(pg_temp.job('STALE'), gen_random_uuid(), 'boom', 'transient'),
    null,
    'a stale lease token cannot fail the job (null)'
);
select is(
    public.complete_queue_job_v2(-1, gen_random_uuid(), 'success', 1, null),
    false,
    'an unknown job cannot be completed'
);

-- Batch completion: one statement, stale tokens left out, byte reconciliation.
create temporary table usage_before as
select reserved_bytes, bytes from private.provider_usage where provider = 'fmp' and width = 'day';
select is(
    public.complete_queue_jobs_v2(
        array[pg_temp.job('B1'), pg_temp.job('B2'), pg_temp.job('B3')],
        array[pg_temp.token('B1'), gen_random_uuid(), pg_temp.token('B3')],
        array['success', 'success', 'no_data'],
        array[1000, 1000, null]::bigint[],
        null
    ),
    array[pg_temp.job('B1'), pg_temp.job('B3')],
    'a batch completes the jobs with valid tokens and returns their ids'
);
select results_eq(
    $$ select key, outcome, actual_bytes from private.api_call_queue_v2 where key in ('B1', 'B2', 'B3') order by key $$,
    $$ values ('B1'::text, 'success'::text, 1000::bigint), ('B2', null, null), ('B3', 'no_data', null) $$,
    'each job gets the outcome and bytes from its own position; the stale one is untouched'
);
select results_eq(
    $$ select u.reserved_bytes, u.bytes from private.provider_usage as u where u.provider = 'fmp' and u.width = 'day' $$,
    $$ select b.reserved_bytes - 6000, b.bytes + 1000 + 3000 from usage_before as b $$,
    'completion releases the two reservations (3000 B each) and counts actual bytes (an unknown size counts its reservation)'
);
select throws_ok(
    $$ select public.complete_queue_jobs_v2(array[1, 2]::bigint[], array[gen_random_uuid()], array['success', 'success'], null, null) $$,
    '22023', 'p_job_ids, p_lease_tokens, p_outcomes, p_actual_bytes and p_source_timestamps must pair up by position',
    'arrays of different lengths are refused'
);
select throws_ok(
    $$ select public.complete_queue_job_v2(1, gen_random_uuid(), 'done', 1, null) $$,
    '22023', 'unknown outcome "done"',
    'an unknown outcome is refused'
);
select throws_ok(
    $$ select public.complete_queue_job_v2(1, gen_random_uuid(), 'success', -1, null) $$,
    '22023', 'actual bytes must not be negative',
    'negative bytes are refused'
);
select is(
    public.complete_queue_jobs_v2(array[]::bigint[], array[]::uuid[], array[]::text[], null, null),
    array[]::bigint[],
    'completing nothing returns an empty array'
);

-- Sampled estimate correction (exponential moving average, weight 0.2).
update private.queue_settings set estimate_sample_rate = 1;
select is(
    cardinality(public.complete_queue_jobs_v2(
        array[pg_temp.job('J1'), pg_temp.job('J2')], array[pg_temp.token('J1'), pg_temp.token('J2')],
        array['success', 'success'], array[1000, 3000]::bigint[], null)),
    2,
    'two quote jobs complete with 1000 and 3000 bytes'
);
select is(
    (select estimated_bytes from public.data_type_registry_v2 where data_type = 'quote'),
    2000,
    'estimated_bytes moved 20% towards the mean (0.8 * 2000 + 0.2 * 2000)'
);
select is(
    cardinality(public.complete_queue_jobs_v2(
        array[pg_temp.job('J3')], array[pg_temp.token('J3')], array['success'], array[7000]::bigint[], null)),
    1,
    'a quote job completes with 7000 bytes'
);
select is(
    (select estimated_bytes from public.data_type_registry_v2 where data_type = 'quote'),
    3000,
    'estimated_bytes follows: 0.8 * 2000 + 0.2 * 7000 = 3000'
);
select is(
    cardinality(public.complete_queue_jobs_v2(
        array[pg_temp.job('J4')], array[pg_temp.token('J4')], array['no_data'], array[2]::bigint[], null)),
    1,
    'an empty answer completes'
);
select is(
    (select estimated_bytes from public.data_type_registry_v2 where data_type = 'quote'),
    3000,
    'empty answers do not drag the estimate down'
);
update private.queue_settings set estimate_sample_rate = 0;
select is(
    cardinality(public.complete_queue_jobs_v2(
        array[pg_temp.job('J5')], array[pg_temp.token('J5')], array['success'], array[100000]::bigint[], null)),
    1,
    'with sampling off a large answer completes'
);
select is(
    (select estimated_bytes from public.data_type_registry_v2 where data_type = 'quote'),
    3000,
    'unsampled completions leave the estimate alone'
);

-- transient: backoff least(cap, base * 2^attempts) * (0.5 .. 1.5), base 10 s, cap 3600 s.
select is(public.fail_queue_job_v2(pg_temp.job('T1'), pg_temp.token('T1'), 'HTTP 503', 'transient'), 'pending',
    'a transient failure goes back to pending');
select results_eq(
    $$ select status, attempts, last_error, error_class, lease_token is null from private.api_call_queue_v2 where key = 'T1' $$,
    $$ values ('pending'::text, 1, 'HTTP 503'::text, 'transient'::text, true) $$,
    'it keeps its attempt count, error and class; the lease token is cleared'
);
create temporary table backoff as
select c.key, public.fail_queue_job_v2(c.id, c.lease_token, 'timeout', 'transient') as status
from claimed as c
where c.key in ('J6', 'J7', 'J8', 'J9', 'J10', 'J11', 'J12', 'J13', 'J14', 'J15', 'J16', 'J17', 'J18', 'J19', 'J20');
select ok(
    (select bool_and(q.not_before between now() + interval '10 seconds' and now() + interval '30 seconds')
     from private.api_call_queue_v2 as q join backoff as b on b.key = q.key),
    'after attempt 1 every retry waits between 10 s and 30 s (20 s with jitter 0.5..1.5)'
);
select ok(
    (select count(distinct q.not_before) > 1 from private.api_call_queue_v2 as q join backoff as b on b.key = q.key),
    'the retries are jittered, not all at the same moment'
);
update private.api_call_queue_v2_processing set attempts = 3 where id = pg_temp.job('TMAX');
update private.api_call_queue_v2_processing set attempts = 9, max_attempts = 20 where id = pg_temp.job('TCAP');
select is(public.fail_queue_job_v2(pg_temp.job('TCAP'), pg_temp.token('TCAP'), 'timeout', 'transient'), 'pending',
    'a transient failure at attempt 9 of 20 retries');
select ok(
    (select not_before between now() + interval '1800 seconds' and now() + interval '5400 seconds'
     from private.api_call_queue_v2 where key = 'TCAP'),
    'the wait is capped: 3600 s with jitter, not 10 * 2^9 s'
);
update private.api_call_queue_v2_processing set attempts = 5 where id = pg_temp.job('TMAX');
select is(public.fail_queue_job_v2(pg_temp.job('TMAX'), pg_temp.token('TMAX'), 'HTTP 500', 'transient'), 'failed',
    'a transient failure with max_attempts used fails the job');
select results_eq(
    $$ select last_outcome, consecutive_failures, last_error, next_eligible_at from private.refresh_state where key = 'TMAX' $$,
    $$ values ('failed'::text, 1, 'HTTP 500'::text, now() + interval '3600 seconds') $$,
    'the failed key waits empty_cooldown_seconds before it is queued again'
);

-- permanent.
select is(public.fail_queue_job_v2(pg_temp.job('PERM'), pg_temp.token('PERM'), 'HTTP 404: unknown symbol', 'permanent'), 'failed',
    'a permanent failure fails the job at once');
select results_eq(
    $$ select status, last_error, error_class, finished_at from private.api_call_queue_v2 where key = 'PERM' $$,
    $$ values ('failed'::text, 'HTTP 404: unknown symbol'::text, 'permanent'::text, now()) $$,
    'the failed job keeps its reason'
);
select results_eq(
    $$ select last_outcome, next_eligible_at from private.refresh_state where key = 'PERM' $$,
    $$ values ('failed'::text, now() + interval '3600 seconds') $$,
    'a permanent failure puts the key in cooldown'
);

-- rate_limited, bandwidth, invalid_key: pending, attempt not counted, provider paused.
select is(public.fail_queue_job_v2(pg_temp.job('RL'), pg_temp.token('RL'), 'Limit Reach', 'rate_limited'), 'pending',
    'a rate-limited job goes back to pending');
select results_eq(
    $$ select attempts, not_before from private.api_call_queue_v2 where key = 'RL' $$,
    $$ values (0, now()) $$,
    'its attempt is not counted'
);
select results_eq(
    $$ select state, state_until, state_reason from private.providers where provider = 'fmp' $$,
    $$ values ('rate_limited'::text, now() + interval '60 seconds', 'Limit Reach'::text) $$,
    'the provider is rate_limited for its short pause (60 s)'
);
select is(public.fail_queue_job_v2(pg_temp.job('BW'), pg_temp.token('BW'), 'Bandwidth Limit Reach', 'bandwidth'), 'pending',
    'a bandwidth-limited job goes back to pending');
select results_eq(
    $$ select state, state_until from private.providers where provider = 'fmp' $$,
    $$ values ('bandwidth_exhausted'::text, now() + interval '3600 seconds') $$,
    'the provider is bandwidth_exhausted for its long pause (1 h)'
);
select is(public.fail_queue_job_v2(pg_temp.job('IK'), pg_temp.token('IK'), 'HTTP 401', 'invalid_key'), 'pending',
    'an invalid key leaves the job pending');
select results_eq(
    $$ select status, attempts from private.api_call_queue_v2 where key = 'IK' $$,
    $$ values ('pending'::text, 0) $$,
    'an invalid key never fails the job nor counts its attempt'
);
select results_eq(
    $$ select p.state, p.state_until, c.state from private.providers as p
       join private.circuit_breaker as c on c.provider = p.provider where p.provider = 'fmp' $$,
    $$ values ('invalid_key'::text, null::timestamptz, 'open'::text) $$,
    'the provider is invalid_key until set back to ok, and its circuit is open'
);
select throws_ok(
    $$ select public.fail_queue_job_v2(1, gen_random_uuid(), 'x', 'weird') $$,
    '22023', 'unknown error class "weird"',
    'an unknown error class is refused'
);
select is(
    (select calls from private.provider_usage where provider = 'fmp' and width = 'minute'),
    38::bigint,
    'failed and completed jobs keep their charged calls (38 claimed)'
);
select public.set_provider_state_v2('fmp', 'ok', null, 'key rotated');

-- Stuck jobs: expired leases go back to pending, their reservation becomes usage.
delete from private.provider_usage;
update private.api_call_queue_v2_processing
set lease_expires_at = now() - interval '1 second', claimed_at = now()
where id in (pg_temp.job('STUCK'), pg_temp.job('STUCKMAX'));
update private.api_call_queue_v2_processing set attempts = 5 where id = pg_temp.job('STUCKMAX');
insert into private.provider_usage (provider, width, bucket, calls, bytes, reserved_bytes)
values ('fmp', 'day', date_trunc('day', now(), 'UTC'), 2, 0, 6000);
select is(public.recover_stuck_jobs_v2(), 2, 'two jobs with expired leases are rescued');
select results_eq(
    $$ select status, attempts, lease_token is null, error_class, not_before from private.api_call_queue_v2 where key = 'STUCK' $$,
    $$ values ('pending'::text, 1, true, 'lease_expired'::text, now()) $$,
    'a rescued job is pending and due, its attempt counted and its token cleared'
);
select is(
    (select status from private.api_call_queue_v2 where key = 'STUCKMAX'),
    'failed',
    'a rescued job that used all its attempts fails'
);
select results_eq(
    $$ select calls, bytes, reserved_bytes from private.provider_usage where provider = 'fmp' and width = 'day' $$,
    $$ values (2::bigint, 6000::bigint, 0::bigint) $$,
    'the rescued reservation became usage: calls stay, reserved bytes count as used'
);
select is(
    public.complete_queue_job_v2(pg_temp.job('STUCK'), pg_temp.token('STUCK'), 'success', 1, null),
    false,
    'the late worker of a rescued job cannot complete it'
);
select is(public.recover_stuck_jobs_v2(), 0, 'nothing left to rescue');

-- reset_job_immediate_v2.
select is(public.reset_job_immediate_v2(pg_temp.job('PERM')), true, 'a failed job is reset');
select results_eq(
    $$ select status, attempts, not_before from private.api_call_queue_v2 where key = 'PERM' $$,
    $$ values ('pending'::text, 0, now()) $$,
    'the reset job is pending, due now, with its attempts reset'
);
select is(public.reset_job_immediate_v2(pg_temp.job('T1')), true, 'a pending job in backoff is reset');
select results_eq(
    $$ select attempts, not_before from private.api_call_queue_v2 where key = 'T1' $$,
    $$ values (0, now()) $$,
    'it is due now with attempts reset'
);
select is(public.reset_job_immediate_v2(pg_temp.job('STALE')), false, 'a processing job is not reset');
select is(public.reset_job_immediate_v2(pg_temp.job('OK1')), false, 'a completed job is not reset');
select is(public.reset_job_immediate_v2(-1), false, 'an unknown job is not reset');
select is(
    (select created from public.queue_refresh_if_not_exists_v2('quote', 'TMAX', null, 100)),
    true,
    'a manual refresh queues the failed key again'
);
select is(public.reset_job_immediate_v2(pg_temp.job('TMAX')), false,
    'a failed job whose key has an active job again is not reset (no duplicate)');

-- maintain_queue_partitions_v2: bounded pruning.
update private.api_call_queue_v2_completed set finished_at = now() - interval '2 days' where key in ('OK1', 'ND', 'NN');
update private.api_call_queue_v2_failed set finished_at = now() - interval '8 days' where key = 'STUCKMAX';
insert into private.provider_usage (provider, width, bucket, calls)
values ('fmp', 'minute', now() - interval '2 days', 1), ('fmp', 'hour', now() - interval '4 days', 1);
insert into cron.job_run_details (jobid, runid, database, username, command, status, start_time, end_time)
values
    (0, nextval('cron.runid_seq'), 'postgres', 'postgres', 'select 1', 'succeeded', now() - interval '4 days', now() - interval '4 days'),
    (0, nextval('cron.runid_seq'), 'postgres', 'postgres', 'select 1', 'succeeded', now() - interval '1 hour', now() - interval '1 hour');
update private.queue_settings set maintenance_batch_limit = 2;
select is(
    public.maintain_queue_partitions_v2() - 'sync_runs' - 'processor_leases',
    '{"completed": 2, "failed": 1, "provider_usage": 2, "cron_job_run_details": 1, "more": true}'::jsonb,
    'maintenance prunes at most the limit per table (2 of 3 old completed jobs) and says there is more'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2_completed where finished_at < now() - interval '1 day'),
    1,
    'one old completed job is left for the next call'
);
select is(
    (public.maintain_queue_partitions_v2() ->> 'completed')::integer,
    1,
    'the next call prunes the rest'
);
select ok(
    exists (select 1 from private.api_call_queue_v2_completed where key = 'B1')
        and not exists (select 1 from cron.job_run_details where start_time < now() - interval '3 days'),
    'recent completed jobs stay; cron run details older than 3 days are gone'
);

-- Privileges.
select function_privs_are('public', 'complete_queue_job_v2', array['bigint', 'uuid', 'text', 'bigint', 'timestamp with time zone'],
    'anon', array[]::text[], 'anon cannot complete jobs');
select function_privs_are('public', 'complete_queue_job_v2', array['bigint', 'uuid', 'text', 'bigint', 'timestamp with time zone'],
    'authenticated', array[]::text[], 'authenticated cannot complete jobs');
select function_privs_are('public', 'complete_queue_job_v2', array['bigint', 'uuid', 'text', 'bigint', 'timestamp with time zone'],
    'service_role', array['EXECUTE'], 'service_role can complete jobs');
select is_empty(
    $$
        select r.role_name || ' ' || f.name
        from (values ('anon'), ('authenticated')) as r (role_name)
        cross join (values
            ('public.complete_queue_jobs_v2(bigint[], uuid[], text[], bigint[], timestamp with time zone[])'),
            ('public.fail_queue_job_v2(bigint, uuid, text, text)'),
            ('public.reset_job_immediate_v2(bigint)'),
            ('public.recover_stuck_jobs_v2()'),
            ('public.maintain_queue_partitions_v2()')
        ) as f (name)
        where has_function_privilege(r.role_name, f.name, 'EXECUTE')
    $$,
    'anon and authenticated cannot complete in batch, fail, reset, rescue or prune'
);
select ok(
    has_function_privilege('service_role', 'public.complete_queue_jobs_v2(bigint[], uuid[], text[], bigint[], timestamp with time zone[])', 'EXECUTE')
        and has_function_privilege('service_role', 'public.fail_queue_job_v2(bigint, uuid, text, text)', 'EXECUTE')
        and has_function_privilege('service_role', 'public.reset_job_immediate_v2(bigint)', 'EXECUTE')
        and has_function_privilege('service_role', 'public.recover_stuck_jobs_v2()', 'EXECUTE')
        and has_function_privilege('service_role', 'public.maintain_queue_partitions_v2()', 'EXECUTE'),
    'service_role can complete in batch, fail, reset, rescue and prune'
);
select is_empty(
    $$
        select r.role_name || ' ' || t.name || ' ' || p.privilege
        from (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        cross join (values ('private.refresh_state'), ('private.queue_settings')) as t (name)
        cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) as p (privilege)
        where has_table_privilege(r.role_name, t.name, p.privilege)
    $$,
    'no client role has any privilege on refresh_state or queue_settings'
);

select * from finish();
rollback;
