-- Claiming: get_queue_batch_v2 order (priority desc, then oldest, then id; not_before), the
-- lease (token, expiry, worker, attempts), the reservation on the job, gating by the
-- use_queue_system flag and the registry's enabled, the filtered variant, release of unstarted
-- jobs with their quota refunded, input errors, and privileges per role. SKIP LOCKED races and
-- "no job claimed twice": tests/queue_concurrency_test.ts.
begin;
set search_path = extensions, public;
select plan(40);

delete from private.api_call_queue_v2;
delete from private.provider_usage;
delete from private.refresh_state;
update private.providers
set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
where provider = 'fmp';
update public.data_type_registry_v2 set enabled = true where data_type in ('quote', 'profile', 'financial-statements');
update public.data_type_registry_v2 set enabled = false where data_type not in ('quote', 'profile', 'financial-statements');

select count(*) from public.queue_refresh_batch_v2('[
    {"data_type": "quote", "key": "OLD", "priority": 50},
    {"data_type": "quote", "key": "NEW", "priority": 50},
    {"data_type": "quote", "key": "TIE", "priority": 50},
    {"data_type": "profile", "key": "TOP", "priority": 80},
    {"data_type": "quote", "key": "LOW", "priority": -1},
    {"data_type": "quote", "key": "LATER", "priority": 100},
    {"data_type": "financial-statements", "key": "FS", "priority": 10}
]');
update private.api_call_queue_v2 set created_at = now() - interval '10 minutes' where key = 'OLD';
update private.api_call_queue_v2 set created_at = now() - interval '5 minutes' where key in ('NEW', 'TIE');
update private.api_call_queue_v2 set not_before = now() + interval '1 minute' where key = 'LATER';

create temporary table batch1 as select * from public.get_queue_batch_v2(4, 'pgtap-worker', 30);

select results_eq(
    $$ select key from batch1 $$,
    $$ values ('TOP'::text), ('OLD'), ('NEW'), ('TIE') $$,
    'claims by priority desc, then oldest, then id; a job not yet due is skipped'
);
select ok(
    (select bool_and(lease_token is not null) and count(distinct lease_token) = 4 from batch1),
    'every claimed job gets its own lease token'
);
select ok(
    (select bool_and(lease_expires_at = now() + interval '30 seconds') from batch1),
    'the lease expires lease_seconds after the claim'
);
select ok(
    (select bool_and(attempts = 1 and max_attempts = 5 and provider = 'fmp') from batch1),
    'a claim counts the attempt and names the provider'
);
select results_eq(
    $$ select key, params, priority, data_type from batch1 where key = 'TOP' $$,
    $$ values ('TOP'::text, '{}'::jsonb, 80, 'profile'::text) $$,
    'a claimed job carries its key, params, priority and data type'
);
select results_eq(
    $$ select q.status, q.worker_id, q.lease_token, q.claimed_at, q.reserved_calls, q.reserved_bytes
       from private.api_call_queue_v2 as q join batch1 as b on b.id = q.id where b.key = 'OLD' $$,
    $$ select 'processing'::text, 'pgtap-worker'::text, b.lease_token, now(), 1, 3000::bigint
       from batch1 as b where b.key = 'OLD' $$,
    'the claimed job is processing with worker, token, claim time and its reservation (1 call, 2000 B x 1.5)'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2_processing),
    4,
    'exactly the claimed jobs moved to the processing partition'
);
select results_eq(
    $$ select width, calls, reserved_bytes from private.provider_usage where provider = 'fmp' order by width $$,
    $$ values ('day'::text, 4::bigint, 21000::bigint), ('hour', 4::bigint, 0::bigint), ('minute', 4::bigint, 0::bigint) $$,
    'the claim charged 4 calls to the minute, hour and day buckets and reserved bytes in the day bucket'
);

create temporary table batch2 as select * from public.get_queue_batch_v2(10, 'pgtap-worker', 30);
select results_eq(
    $$ select key from batch2 $$,
    $$ values ('FS'::text), ('LOW') $$,
    'the next claim takes the rest in order and never a claimed job again'
);
select is(
    (select reserved_calls from private.api_call_queue_v2 where key = 'FS'),
    3,
    'a financial-statements job reserves its 3 calls'
);
select is(
    (select count(*)::integer from public.get_queue_batch_v2(10, 'pgtap-worker', 30)),
    0,
    'nothing is due any more: an empty batch'
);
update private.api_call_queue_v2 set not_before = now() where key = 'LATER';
select results_eq(
    $$ select key, attempts from public.get_queue_batch_v2(10, 'pgtap-worker', 30) $$,
    $$ values ('LATER'::text, 1) $$,
    'a job becomes claimable once not_before has come'
);

-- Gating.
select count(*) from public.queue_refresh_batch_v2('[{"data_type": "quote", "key": "GATE"}, {"data_type": "profile", "key": "GATE"}]');
update public.feature_flags set enabled = false where name = 'use_queue_system';
select is(
    (select count(*)::integer from public.get_queue_batch_v2(10, 'pgtap-worker', 30)),
    0,
    'nothing is claimed while use_queue_system is off'
);
update public.feature_flags set enabled = true where name = 'use_queue_system';
update public.data_type_registry_v2 set enabled = false where data_type = 'profile';
select results_eq(
    $$ select data_type from public.get_queue_batch_v2(10, 'pgtap-worker', 30) $$,
    $$ values ('quote'::text) $$,
    'jobs of a disabled data type are not claimed'
);
select is(
    (select status from private.api_call_queue_v2 where data_type = 'profile' and key = 'GATE'),
    'pending',
    'the disabled type''s job stays pending'
);
update public.data_type_registry_v2 set enabled = true where data_type = 'profile';

-- Filtered claims (manual selective sync).
select count(*) from public.queue_refresh_batch_v2('[
    {"data_type": "quote", "key": "F1"}, {"data_type": "quote", "key": "F2"},
    {"data_type": "profile", "key": "F1"}, {"data_type": "profile", "key": "F2"}
]');
select results_eq(
    $$ select data_type, key from public.get_queue_batch_filtered_v2(10, 'pgtap-worker', 30, array['quote'], array['F2']) $$,
    $$ values ('quote'::text, 'F2'::text) $$,
    'a filter on data types and keys claims only matching jobs'
);
select results_eq(
    $$ select data_type, key from public.get_queue_batch_filtered_v2(10, 'pgtap-worker', 30, null, array['F1']) $$,
    $$ values ('quote'::text, 'F1'::text), ('profile', 'F1') $$,
    'a null data-type filter with a key filter claims that key of every type, by priority'
);
select is(
    (select count(*)::integer from public.get_queue_batch_filtered_v2(10, 'pgtap-worker', 30, array[]::text[], null)),
    0,
    'an empty data-type filter matches nothing'
);
select results_eq(
    $$ select data_type, key from public.get_queue_batch_filtered_v2(10, 'pgtap-worker', 30, array['profile'], null) $$,
    $$ values ('profile'::text, 'GATE'::text), ('profile', 'F2') $$,
    'a data-type filter alone claims every due job of those types (same priority and age: by id)'
);

-- Release of jobs whose upstream call never started.
delete from private.provider_usage;
select count(*) from public.queue_refresh_batch_v2('[{"data_type": "quote", "key": "R1"}, {"data_type": "quote", "key": "R2"}]');
create temporary table to_release as select * from public.get_queue_batch_v2(10, 'pgtap-worker', 30);
select is((select count(*)::integer from to_release), 2, 'two jobs claimed to release');
select is(
    (select calls from private.provider_usage where provider = 'fmp' and width = 'minute'),
    2::bigint,
    'their calls are charged'
);
select is(
    public.release_queue_jobs_v2(
        (select array_agg(id order by id) from to_release),
        (select array_agg(case when key = 'R2' then gen_random_uuid() else lease_token end order by id) from to_release)
    ),
    (select array_agg(id) from to_release where key = 'R1'),
    'release hands back the job with a valid token and skips a stale token'
);
select results_eq(
    $$ select status, attempts, lease_token is null, not_before <= now() from private.api_call_queue_v2 where key = 'R1' $$,
    $$ values ('pending'::text, 0, true, true) $$,
    'a released job is pending, due now, its attempt not counted, its token cleared'
);
select results_eq(
    $$ select width, calls, reserved_bytes from private.provider_usage where provider = 'fmp' order by width $$,
    $$ values ('day'::text, 1::bigint, 3000::bigint), ('hour', 1::bigint, 0::bigint), ('minute', 1::bigint, 0::bigint) $$,
    'release refunds the released job''s call and byte reservation'
);
select is(
    public.release_queue_jobs_v2(array[]::bigint[], array[]::uuid[]),
    array[]::bigint[],
    'releasing nothing returns an empty array'
);
select throws_ok(
    $$ select public.release_queue_jobs_v2(array[1, 2]::bigint[], array[gen_random_uuid()]) $$,
    '22023', 'p_job_ids and p_lease_tokens must be arrays of the same length',
    'release refuses arrays of different lengths'
);

-- Input errors.
select throws_ok(
    $$ select * from public.get_queue_batch_v2(0, 'w', 30) $$,
    '22023', 'batch size must be from 1 to 1000, got 0',
    'a batch size of 0 is refused'
);
select throws_ok(
    $$ select * from public.get_queue_batch_v2(1001, 'w', 30) $$,
    '22023', 'batch size must be from 1 to 1000, got 1001',
    'a batch size above 1000 is refused'
);
select throws_ok(
    $$ select * from public.get_queue_batch_v2(10, 'w', 4) $$,
    '22023', 'lease must be from 5 to 3600 seconds, got 4',
    'a lease under 5 seconds is refused'
);
select throws_ok(
    $$ select * from public.get_queue_batch_v2(10, '', 30) $$,
    '22023', 'worker id must be 1 to 128 characters',
    'an empty worker id is refused'
);
select throws_ok(
    $$ select * from public.get_queue_batch_filtered_v2(10, 'w', 30, array['quote', 'nope'], null) $$,
    '22023', 'unknown data type "nope" in the filter',
    'an unknown data type in the filter is refused'
);

-- Privileges.
select function_privs_are('public', 'get_queue_batch_v2', array['integer', 'text', 'integer'],
    'anon', array[]::text[], 'anon cannot claim');
select function_privs_are('public', 'get_queue_batch_v2', array['integer', 'text', 'integer'],
    'authenticated', array[]::text[], 'authenticated cannot claim');
select function_privs_are('public', 'get_queue_batch_v2', array['integer', 'text', 'integer'],
    'service_role', array['EXECUTE'], 'service_role can claim');
select function_privs_are('public', 'get_queue_batch_filtered_v2', array['integer', 'text', 'integer', 'text[]', 'text[]'],
    'anon', array[]::text[], 'anon cannot claim filtered');
select function_privs_are('public', 'get_queue_batch_filtered_v2', array['integer', 'text', 'integer', 'text[]', 'text[]'],
    'authenticated', array[]::text[], 'authenticated cannot claim filtered');
select function_privs_are('public', 'get_queue_batch_filtered_v2', array['integer', 'text', 'integer', 'text[]', 'text[]'],
    'service_role', array['EXECUTE'], 'service_role can claim filtered');
select function_privs_are('public', 'release_queue_jobs_v2', array['bigint[]', 'uuid[]'],
    'anon', array[]::text[], 'anon cannot release jobs');
select function_privs_are('public', 'release_queue_jobs_v2', array['bigint[]', 'uuid[]'],
    'authenticated', array[]::text[], 'authenticated cannot release jobs');
select function_privs_are('public', 'release_queue_jobs_v2', array['bigint[]', 'uuid[]'],
    'service_role', array['EXECUTE'], 'service_role can release jobs');

select * from finish();
rollback;
