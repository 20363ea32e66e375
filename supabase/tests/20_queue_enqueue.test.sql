-- Enqueue: queue_refresh_if_not_exists_v2 and queue_refresh_batch_v2. Dedup per (data type,
-- key, params) across pending and processing (a null key too), priority raise, refresh-state
-- cooldown and the manual bypass, validation with exact errors and nothing written, and
-- privileges per role. Concurrent enqueues of the same keys: tests/queue_concurrency_test.ts.
begin;
set search_path = extensions, public;
select plan(49);

-- A known state for this transaction (rolled back at the end).
delete from private.api_call_queue_v2;
delete from private.refresh_state;
update public.data_type_registry_v2 set enabled = true where data_type = 'quote';
update public.data_type_registry_v2 set enabled = true where data_type = 'available-exchanges';
update public.data_type_registry_v2 set enabled = true where data_type = 'financial-statements';
update public.data_type_registry_v2 set enabled = false where data_type = 'profile';

create temporary table first_job as
select * from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', null, null);

select is((select created from first_job), true, 'a new key creates a job');
select isnt((select job_id from first_job), null, 'the new job has an id');
select results_eq(
    $$ select status, data_type, key, params, priority, attempts, max_attempts
       from private.api_call_queue_v2 where id = (select job_id from first_job) $$,
    $$ values ('pending'::text, 'quote'::text, 'AAPL'::text, '{}'::jsonb, 90, 0, 5) $$,
    'the job is pending with the registry''s priority and max_attempts, params {} and no attempts'
);
select ok(
    (select not_before <= now() from private.api_call_queue_v2 where id = (select job_id from first_job)),
    'a new job is due at once'
);
select results_eq(
    $$ select job_id, created from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', null, null) $$,
    $$ select job_id, false from first_job $$,
    'the same key again returns the existing job, created false'
);
select results_eq(
    $$ select job_id, created from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', '{}', null) $$,
    $$ select job_id, false from first_job $$,
    'params null and {} are the same dedup key'
);
select is(
    (select created from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', '{"limit": 5}', null)),
    true,
    'different params are a different job'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2 where key = 'AAPL'),
    2,
    'two active AAPL quote jobs: one per params'
);

-- A null key (key_kind none) is one value.
select is(
    (select created from public.queue_refresh_if_not_exists_v2('available-exchanges', null, null, null)),
    true,
    'a keyless job is created'
);
select is(
    (select created from public.queue_refresh_if_not_exists_v2('available-exchanges', null, null, null)),
    false,
    'a second keyless job for the same type is deduplicated'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2 where data_type = 'available-exchanges'),
    1,
    'exactly one keyless job exists'
);

-- The dedup key helper is the generated column's expression; buckets are 1024..2047.
select is_empty(
    $$ select id from private.api_call_queue_v2
       where dedup_key <> private.queue_dedup_key(data_type, key, params) $$,
    'private.queue_dedup_key agrees with the generated dedup_key column'
);
select is(
    private.queue_dedup_key('available-exchanges', null, '{}'),
    'available-exchanges:NULL:{}',
    'a null key renders as NULL in the dedup key'
);
select ok(
    (select bool_and(private.dedup_bucket(md5(g::text)) between 1024 and 2047)
     from generate_series(1, 2000) as g),
    'dedup buckets stay within 1024..2047, clear of the named locks 42..45'
);

-- A processing job dedups too.
update private.api_call_queue_v2 set priority = 100 where key = 'AAPL' and params = '{}';
select is(
    (select count(*)::integer from public.get_queue_batch_filtered_v2(1, 'pgtap', 60, array['quote'], array['AAPL'])),
    1,
    'the AAPL job is claimed'
);
select results_eq(
    $$ select job_id, created from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', null, null) $$,
    $$ select job_id, false from first_job $$,
    'a processing job counts as active: no second job'
);

-- Priority raise.
select is(
    (select created from public.queue_refresh_if_not_exists_v2('quote', 'MSFT', null, -1)),
    true,
    'a background job is queued with priority -1'
);
select is(
    (select created from public.queue_refresh_if_not_exists_v2('quote', 'MSFT', null, 70)),
    false,
    'asking again with a higher priority creates nothing'
);
select is(
    (select priority from private.api_call_queue_v2 where key = 'MSFT'),
    70,
    'the waiting job moved up to the higher priority'
);
select is(
    (select created from public.queue_refresh_if_not_exists_v2('quote', 'MSFT', null, 10)),
    false,
    'asking with a lower priority creates nothing'
);
select is(
    (select priority from private.api_call_queue_v2 where key = 'MSFT'),
    70,
    'a lower priority never lowers a waiting job'
);

-- Batch: input order, duplicates once, existing and new mixed.
select results_eq(
    $$ select data_type, key, created from public.queue_refresh_batch_v2('[
           {"data_type": "quote", "key": "NVDA"},
           {"data_type": "quote", "key": "MSFT"},
           {"data_type": "financial-statements", "key": "BRK-B", "params": {}},
           {"data_type": "quote", "key": "NVDA", "priority": 95},
           {"data_type": "available-exchanges", "key": null}
       ]') $$,
    $$ values
           ('quote'::text, 'NVDA'::text, true),
           ('quote', 'MSFT', false),
           ('financial-statements', 'BRK-B', true),
           ('available-exchanges', null, false) $$,
    'a batch answers once per distinct item, in input order, created only for new jobs'
);
select is(
    (select priority from private.api_call_queue_v2 where key = 'NVDA'),
    95,
    'a key twice in one batch is queued once with its highest priority'
);
select is(
    (select count(*)::integer from public.queue_refresh_batch_v2('[]')),
    0,
    'an empty batch answers nothing'
);

-- Cooldown from the refresh state, and the manual bypass.
insert into private.refresh_state (data_type, key, last_checked_at, next_eligible_at, last_outcome)
values
    ('quote', 'TSLA', now(), now() + interval '1 hour', 'no_data'),
    ('quote', 'AMZN', now() - interval '2 hours', now() - interval '1 hour', 'success'),
    ('available-exchanges', '', now(), now() + interval '1 day', 'success');
select results_eq(
    $$ select job_id, created from public.queue_refresh_if_not_exists_v2('quote', 'TSLA', null, null) $$,
    $$ values (null::bigint, false) $$,
    'a key in cooldown is not queued: job_id null, created false'
);
select is(
    (select created from public.queue_refresh_if_not_exists_v2('quote', 'AMZN', null, null)),
    true,
    'a key whose cooldown has passed is queued'
);
select is(
    (select created from public.queue_refresh_if_not_exists_v2('quote', 'TSLA', null, 100)),
    true,
    'priority 100 (manual) skips the cooldown'
);
delete from private.api_call_queue_v2 where data_type = 'available-exchanges';
select results_eq(
    $$ select job_id, created from public.queue_refresh_if_not_exists_v2('available-exchanges', null, null, null) $$,
    $$ values (null::bigint, false) $$,
    'a keyless type in cooldown (refresh-state key '''') is not queued'
);

-- Validation: exact errors, nothing written.
create temporary table job_count as select count(*) as n from private.api_call_queue_v2;
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('nope', 'AAPL', null, null) $$,
    '22023', 'unknown data type "nope"',
    'an unknown data type is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('profile', 'AAPL', null, null) $$,
    '22023', 'data type "profile" is disabled',
    'a disabled data type is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('quote', 'aapl', null, null) $$,
    '22023', 'invalid symbol "aapl"',
    'a lower-case symbol is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('quote', 'AAPL; drop table x', null, null) $$,
    '22023', 'invalid symbol "AAPL; drop table x"',
    'a symbol with other characters is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('quote', null, null, null) $$,
    '22023', 'data type "quote" needs a symbol as key',
    'a symbol type without a key is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('available-exchanges', 'NYSE', null, null) $$,
    '22023', 'data type "available-exchanges" takes no key, got "NYSE"',
    'a keyless type with a key is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', '[1]', null) $$,
    '22023', 'params must be a JSON object or null',
    'params that are not an object are refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2('quote', 'AAPL', null, 101) $$,
    '22023', 'priority must be an integer from -1 to 100, got 101',
    'a priority above 100 is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_if_not_exists_v2(null, 'AAPL', null, null) $$,
    '22023', 'data_type is required and must be a string',
    'a null data type is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_batch_v2('{"data_type": "quote"}') $$,
    '22023', 'p_items must be a JSON array of items',
    'a batch that is not an array is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_batch_v2('[{"data_type": "quote", "symbol": "AAPL"}]') $$,
    '22023', 'unknown field "symbol" in item',
    'an unknown field (symbol instead of key) is refused'
);
select throws_ok(
    $$ select * from public.queue_refresh_batch_v2('[{"data_type": "quote", "key": "ZZZZ"}, {"data_type": "quote", "key": "bad"}]') $$,
    '22023', 'invalid symbol "bad"',
    'one bad item refuses the whole batch'
);
select throws_ok(
    $$ select * from public.queue_refresh_batch_v2((select jsonb_agg(jsonb_build_object('data_type', 'quote', 'key', 'K' || g)) from generate_series(1, 10001) as g)) $$,
    '22023', 'p_items has 10001 items, at most 10000 are allowed per call',
    'a batch above 10,000 items is refused'
);
select is(
    (select count(*) from private.api_call_queue_v2),
    (select n from job_count),
    'refused calls wrote nothing (the good item before the bad one included)'
);
select throws_like(
    $$ select * from public.queue_refresh_batch_v2('[{"data_type": "quote", "key": "ZZZZ"}, 5]') $$,
    'item must be a JSON object',
    'an item that is not an object is refused'
);

-- Privileges.
select function_privs_are('public', 'queue_refresh_if_not_exists_v2', array['text', 'text', 'jsonb', 'integer'],
    'anon', array[]::text[], 'anon cannot enqueue');
select function_privs_are('public', 'queue_refresh_if_not_exists_v2', array['text', 'text', 'jsonb', 'integer'],
    'authenticated', array[]::text[], 'authenticated cannot enqueue directly');
select function_privs_are('public', 'queue_refresh_if_not_exists_v2', array['text', 'text', 'jsonb', 'integer'],
    'service_role', array['EXECUTE'], 'service_role can enqueue');
select function_privs_are('public', 'queue_refresh_batch_v2', array['jsonb'],
    'anon', array[]::text[], 'anon cannot batch-enqueue');
select function_privs_are('public', 'queue_refresh_batch_v2', array['jsonb'],
    'authenticated', array[]::text[], 'authenticated cannot batch-enqueue directly');
select function_privs_are('public', 'queue_refresh_batch_v2', array['jsonb'],
    'service_role', array['EXECUTE'], 'service_role can batch-enqueue');

select * from finish();
rollback;
