-- private.api_call_queue_v2: rows route to the partition of their status, a status change
-- moves the row (same id), dedup keys are unique per active partition, CHECKs reject bad
-- jobs, and no client role can reach the queue at all.
begin;
set search_path = extensions, public;
select plan(31);

-- Routing.
insert into private.api_call_queue_v2 (status, data_type, key, max_attempts)
values ('pending', 'quote', 'AAPL', 5);
select results_eq(
    $$ select tableoid::regclass::text, status from private.api_call_queue_v2 where key = 'AAPL' $$,
    $$ values ('private.api_call_queue_v2_pending', 'pending') $$,
    'a pending job lands in the pending partition'
);
select set_config('kf.aapl_id', (select id::text from private.api_call_queue_v2 where key = 'AAPL'), true);
select is(
    (select dedup_key from private.api_call_queue_v2 where key = 'AAPL'),
    'quote:''AAPL'':{}',
    'dedup_key is data_type:quoted key:params'
);
select results_eq(
    $$ select priority, attempts, params, reserved_calls, reserved_bytes, not_before = now() from private.api_call_queue_v2 where key = 'AAPL' $$,
    $$ values (0, 0, '{}'::jsonb, 0, 0::bigint, true) $$,
    'a new job has priority 0, no attempts, empty params, nothing reserved and is due now'
);

update private.api_call_queue_v2
set status = 'processing', claimed_at = now(), lease_expires_at = now() + interval '30 seconds',
    lease_token = extensions.gen_random_uuid(), worker_id = 'test-worker'
where key = 'AAPL';
select is_empty(
    $$ select id from private.api_call_queue_v2_pending where key = 'AAPL' $$,
    'claiming moves the job out of pending'
);
select results_eq(
    $$ select id::text, worker_id from private.api_call_queue_v2_processing where key = 'AAPL' $$,
    $$ values (current_setting('kf.aapl_id'), 'test-worker') $$,
    'the job is in processing with the same id'
);

update private.api_call_queue_v2
set status = 'completed', finished_at = now(), outcome = 'success'
where key = 'AAPL';
select results_eq(
    $$ select id::text, outcome from private.api_call_queue_v2_completed where key = 'AAPL' $$,
    $$ values (current_setting('kf.aapl_id'), 'success') $$,
    'completing moves the job to completed, same id'
);

insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, finished_at, last_error, error_class)
values ('failed', 'profile', 'ZZZZ', 5, now(), 'HTTP 500', 'transient');
select results_eq(
    $$ select tableoid::regclass::text from private.api_call_queue_v2 where key = 'ZZZZ' $$,
    $$ values ('private.api_call_queue_v2_failed') $$,
    'a failed job lands in the failed partition'
);
select results_eq(
    $$
        select tableoid::regclass::text, count(*)
        from private.api_call_queue_v2
        group by 1
        order by 1
    $$,
    $$
        values ('private.api_call_queue_v2_completed', 1::bigint), ('private.api_call_queue_v2_failed', 1::bigint)
    $$,
    'each job is in exactly one partition'
);

select lives_ok(
    $$ insert into private.api_call_queue_v2_pending (status, data_type, key, max_attempts) values ('pending', 'quote', 'DIRECT', 5) $$,
    'a job inserted straight into a partition still gets an id'
);
select ok(
    (select id is not null from private.api_call_queue_v2 where key = 'DIRECT'),
    'the id comes from the shared sequence'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2_pending (status, data_type, key, max_attempts) values ('processing', 'quote', 'WRONG', 5) $$,
    '23514', 'new row for relation "api_call_queue_v2_pending" violates partition constraint',
    'a partition accepts only its own status'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('queued', 'quote', 'X', 5) $$,
    '23514', 'no partition of relation "api_call_queue_v2" found for row',
    'an unknown status is rejected'
);

-- Dedup: one pending and one processing job per key.
insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'quote', 'MSFT', 5);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'quote', 'MSFT', 5) $$,
    '23505', 'duplicate key value violates unique constraint "api_call_queue_v2_pending_dedup_key_idx"',
    'a second pending job for the same key is rejected'
);
select lives_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'profile', 'MSFT', 5) $$,
    'the same key for another data type is a different job'
);
select lives_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, params, max_attempts) values ('pending', 'quote', 'MSFT', '{"period": "annual"}', 5) $$,
    'the same key with other params is a different job'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, params, max_attempts) values ('pending', 'quote', 'MSFT', '{ "period":"annual" }', 5) $$,
    '23505', 'duplicate key value violates unique constraint "api_call_queue_v2_pending_dedup_key_idx"',
    'params are compared as jsonb, not as text'
);
insert into private.api_call_queue_v2 (status, data_type, key, max_attempts)
values ('pending', 'exchange-market-status', null, 5);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'exchange-market-status', null, 5) $$,
    '23505', 'duplicate key value violates unique constraint "api_call_queue_v2_pending_dedup_key_idx"',
    'a null key counts as one value: one pending keyless job per type'
);
select isnt(
    (select dedup_key from private.api_call_queue_v2 where data_type = 'exchange-market-status'),
    'exchange-market-status:''NULL'':{}',
    'a null key cannot collide with the key ''NULL'''
);
update private.api_call_queue_v2 set status = 'processing' where data_type = 'quote' and key = 'MSFT' and params = '{}';
select lives_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'quote', 'MSFT', 5) $$,
    'unique indexes do not span partitions: pending beside processing is left to the queue functions'
);
select throws_ok(
    $$ update private.api_call_queue_v2 set status = 'processing' where data_type = 'quote' and key = 'MSFT' and params = '{}' and status = 'pending' $$,
    '23505', 'duplicate key value violates unique constraint "api_call_queue_v2_processing_dedup_key_idx"',
    'processing: no second job for the same key (backstop)'
);
select lives_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, finished_at) values ('completed', 'quote', 'AAPL', 5, now()) $$,
    'finished jobs keep history: many completed jobs may share a key'
);

-- CHECKs and references.
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'no-such-type', 'X', 5) $$,
    '23503', 'insert or update on table "api_call_queue_v2_pending" violates foreign key constraint "api_call_queue_v2_data_type_fkey"',
    'a job needs a registered data type'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'quote', '', 5) $$,
    '23514', 'new row for relation "api_call_queue_v2_pending" violates check constraint "api_call_queue_v2_key_check"',
    'an empty key is rejected (keyless jobs use null)'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, params, max_attempts) values ('pending', 'quote', 'X', '[1]', 5) $$,
    '23514', 'new row for relation "api_call_queue_v2_pending" violates check constraint "api_call_queue_v2_params_check"',
    'params must be a JSON object'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, priority, max_attempts) values ('pending', 'quote', 'X', 101, 5) $$,
    '23514', 'new row for relation "api_call_queue_v2_pending" violates check constraint "api_call_queue_v2_priority_check"',
    'priority is between -1 and 100'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'quote', 'X', 0) $$,
    '23514', 'new row for relation "api_call_queue_v2_pending" violates check constraint "api_call_queue_v2_max_attempts_check"',
    'max_attempts is between 1 and 20'
);
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, reserved_calls) values ('pending', 'quote', 'X', 5, -1) $$,
    '23514', 'new row for relation "api_call_queue_v2_pending" violates check constraint "api_call_queue_v2_reserved_calls_check"',
    'reserved_calls cannot be negative'
);

-- No client role reaches the queue.
select tests.authenticate_as_anon();
select throws_ok(
    $$ select id from private.api_call_queue_v2 $$,
    '42501', 'permission denied for schema private',
    'anon cannot read the queue'
);
select tests.clear_authentication();
select tests.create_supabase_user('queue_user');
select tests.authenticate_as('queue_user');
select throws_ok(
    $$ insert into private.api_call_queue_v2 (status, data_type, key, max_attempts) values ('pending', 'quote', 'AAPL', 5) $$,
    '42501', 'permission denied for schema private',
    'authenticated cannot queue a job directly'
);
select throws_ok(
    $$ select id from private.api_call_queue_v2_pending $$,
    '42501', 'permission denied for schema private',
    'authenticated cannot read a partition'
);
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select throws_ok(
    $$ select id from private.api_call_queue_v2 $$,
    '42501', 'permission denied for schema private',
    'service_role cannot read the queue directly either (functions only)'
);
select tests.clear_authentication();

select * from finish();
rollback;
