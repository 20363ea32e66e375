-- Quota: claims refused per window (calls per minute, calls per trailing day, bytes per 30 days),
-- calls_per_job counted, priority order kept at the limit, the stated bytes overshoot bound,
-- provider states pausing claims and expiring, set_provider_state_v2 and escalation,
-- get_quota_status_v2, and privileges per role. The hard limit under concurrent claims:
-- tests/queue_concurrency_test.ts.
begin;
set search_path = extensions, public;
select plan(50);

-- The seed: FMP free-tier-like defaults (read before this test changes them).
select results_eq(
    $$ select calls_per_minute, calls_per_day, bytes_per_30d, bytes_safety_factor, rate_limit_pause_seconds, bandwidth_pause_seconds
       from private.providers where provider = 'fmp' $$,
    $$ values (300, 250, 500000000::bigint, 1.5::numeric, 60, 3600) $$,
    'fmp is seeded with 300 calls/minute, 250 calls/day, 500 MB per 30 days, safety 1.5, pauses 60 s and 1 h'
);

delete from private.api_call_queue_v2;
delete from private.provider_usage;
delete from private.refresh_state;
update private.providers
set calls_per_minute = 3, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
where provider = 'fmp';
update private.circuit_breaker set state = 'closed', opened_at = null, consecutive_failed_runs = 0 where provider = 'fmp';
update private.queue_settings set estimate_sample_rate = 0;
update public.data_type_registry_v2 set enabled = true where data_type in ('quote', 'financial-statements');
update public.data_type_registry_v2 set enabled = false where data_type not in ('quote', 'financial-statements');
update public.data_type_registry_v2 set estimated_bytes = 2000 where data_type = 'quote';

-- Enqueues n quote jobs with fresh keys.
create function pg_temp.enqueue(p_prefix text, p_n integer) returns bigint language sql as $$
    select count(*) from public.queue_refresh_batch_v2((
        select jsonb_agg(jsonb_build_object('data_type', 'quote', 'key', p_prefix || g)) from generate_series(1, p_n) as g
    ))
$$;
create function pg_temp.claim(p_n integer) returns integer language sql as $$
    select count(*)::integer from public.get_queue_batch_v2(p_n, 'pgtap', 30)
$$;

-- Calls per minute.
select pg_temp.enqueue('M', 10);
select is(public.is_quota_exceeded_v2('fmp'), false, 'a fresh minute is not exceeded');
select is(pg_temp.claim(10), 3, 'a claim of 10 gets 3 jobs with 3 calls per minute');
select is(pg_temp.claim(10), 0, 'the next claim in the same minute gets nothing');
select is(public.is_quota_exceeded_v2('fmp'), true, 'the quota is exceeded');
select results_eq(
    $$ select (s -> 'calls_per_minute' ->> 'used')::integer, (s -> 'calls_per_minute' ->> 'limit')::integer,
              (s -> 'calls_per_minute' ->> 'remaining')::integer, (s ->> 'exceeded')::boolean
       from public.get_quota_status_v2('fmp') as s $$,
    $$ values (3, 3, 0, true) $$,
    'the status shows 3 of 3 calls used this minute, none left'
);
update private.provider_usage set bucket = bucket - interval '1 minute' where width = 'minute';
select is(pg_temp.claim(10), 3, 'calls of the previous minute do not count against this one');

-- Calls per trailing day (hour buckets: the current hour and the 24 before it).
delete from private.provider_usage;
update private.providers set calls_per_minute = null, calls_per_day = 10 where provider = 'fmp';
insert into private.provider_usage (provider, width, bucket, calls)
values
    ('fmp', 'hour', date_trunc('hour', now(), 'UTC') - interval '24 hours', 6),
    ('fmp', 'hour', date_trunc('hour', now(), 'UTC') - interval '26 hours', 100);
select is(pg_temp.claim(10), 4, 'calls 24 hours ago count, 26 hours ago not: 4 of 10 left');
select is(pg_temp.claim(10), 0, 'then the day window refuses');
select results_eq(
    $$ select (s -> 'calls_per_day' ->> 'used')::integer, (s -> 'calls_per_day' ->> 'remaining')::integer
       from public.get_quota_status_v2('fmp') as s $$,
    $$ values (10, 0) $$,
    'the status shows 10 of 10 calls used in the trailing day'
);

-- Bytes per 30 days: reservations of ceil(estimated_bytes * 1.5) count.
delete from private.provider_usage;
delete from private.api_call_queue_v2;
update private.providers set calls_per_day = null, bytes_per_30d = 10000 where provider = 'fmp';
insert into private.provider_usage (provider, width, bucket, bytes)
values
    ('fmp', 'day', date_trunc('day', now(), 'UTC') - interval '31 days', 1000000),
    ('fmp', 'day', date_trunc('day', now(), 'UTC') - interval '30 days', 1000);
select pg_temp.enqueue('B', 10);
create temporary table bytes_batch as select * from public.get_queue_batch_v2(10, 'pgtap', 30);
select is(
    (select count(*)::integer from bytes_batch),
    3,
    'with 9000 bytes left (1000 used 30 days ago, 31 days ago not counted) 3 reservations of 3000 fit'
);
select is(pg_temp.claim(10), 0, 'the byte window refuses the next claim');
select is(public.is_quota_exceeded_v2('fmp'), true, '0 bytes left is less than one quote reservation: exceeded');
select results_eq(
    $$ select (s -> 'bytes_per_30d' ->> 'used')::bigint, (s -> 'bytes_per_30d' ->> 'reserved')::bigint,
              (s -> 'bytes_per_30d' ->> 'remaining')::bigint
       from public.get_quota_status_v2('fmp') as s $$,
    $$ values (1000::bigint, 9000::bigint, 0::bigint) $$,
    'the status shows used and reserved bytes'
);

-- Overshoot bound: at most the estimate error of the jobs in flight (here one batch).
select is(
    cardinality(public.complete_queue_jobs_v2(
        (select array_agg(id order by id) from bytes_batch),
        (select array_agg(lease_token order by id) from bytes_batch),
        array['success', 'success', 'success'],
        array[6000, 6000, 6000]::bigint[],
        null
    )),
    3,
    'the batch completes with twice its reserved bytes each'
);
select results_eq(
    $$ select (s -> 'bytes_per_30d' ->> 'used')::bigint - 10000, (s -> 'bytes_per_30d' ->> 'reserved')::bigint
       from public.get_quota_status_v2('fmp') as s $$,
    $$ values (9000::bigint, 0::bigint) $$,
    'the window overshoots by exactly the batch''s estimate error, 3 x (6000 - 3000)'
);
select ok(
    (select (s -> 'bytes_per_30d' ->> 'used')::bigint - 10000 <= (
        select sum(greatest(0, q.actual_bytes - q.reserved_bytes))
        from private.api_call_queue_v2 as q where q.key like 'B%' and q.status = 'completed')
     from public.get_quota_status_v2('fmp') as s),
    'overshoot <= sum(max(0, actual - reserved)) of the jobs in flight when the window filled'
);
select is(pg_temp.claim(10), 0, 'after an overshoot nothing more is claimed');

-- calls_per_job, and priority order kept at the limit.
delete from private.provider_usage;
delete from private.api_call_queue_v2;
update private.providers set calls_per_minute = 7, bytes_per_30d = null where provider = 'fmp';
select count(*) from public.queue_refresh_batch_v2('[
    {"data_type": "quote", "key": "Q1"}, {"data_type": "quote", "key": "Q2"},
    {"data_type": "financial-statements", "key": "F1"}, {"data_type": "financial-statements", "key": "F2"},
    {"data_type": "quote", "key": "LOW", "priority": -1}
]');
select results_eq(
    $$ select key from public.get_queue_batch_v2(10, 'pgtap', 30) $$,
    $$ values ('Q1'::text), ('Q2'), ('F1') $$,
    'two quotes (1 call each) and one statements job (3 calls) fit in 7 calls; the second needs 8'
);
select is(
    (select calls from private.provider_usage where width = 'minute'),
    5::bigint,
    'the claim charged 5 calls'
);
select is(pg_temp.claim(10), 0,
    'the 2 calls left do not fit the next job (3 calls): a cheaper job behind it waits, priority order is kept');
select is(public.is_quota_exceeded_v2('fmp'), false,
    'the quota is not exceeded: 2 calls still cover the cheapest type (quote)');

-- Provider states.
delete from private.provider_usage;
delete from private.api_call_queue_v2;
update private.providers set calls_per_minute = null where provider = 'fmp';
select pg_temp.enqueue('S', 10);
select results_eq(
    $$ select s ->> 'state', s ->> 'stored_state', (s ->> 'state_until')::timestamptz, s ->> 'state_reason'
       from public.set_provider_state_v2('fmp', 'rate_limited', null, '429 Too Many Requests') as s $$,
    $$ values ('rate_limited'::text, 'rate_limited'::text, now() + interval '60 seconds', '429 Too Many Requests'::text) $$,
    'rate_limited without a pause uses the provider''s short pause (60 s) and keeps the reason'
);
select is(pg_temp.claim(10), 0, 'a rate-limited provider claims nothing');
select is(public.is_quota_exceeded_v2('fmp'), true, 'a paused provider counts as exceeded');
update private.providers set state_until = now() - interval '1 second' where provider = 'fmp';
select results_eq(
    $$ select s ->> 'state', s ->> 'stored_state' from public.get_quota_status_v2('fmp') as s $$,
    $$ values ('ok'::text, 'rate_limited'::text) $$,
    'once state_until has passed the state in force is ok'
);
select is(pg_temp.claim(1), 1, 'and claims resume');
select is(
    (select (s ->> 'state_until')::timestamptz from public.set_provider_state_v2('fmp', 'bandwidth_exhausted', null, 'Bandwidth Limit Reach') as s),
    now() + interval '3600 seconds',
    'bandwidth_exhausted without a pause uses the long pause (1 h)'
);
select is(pg_temp.claim(10), 0, 'a bandwidth-exhausted provider claims nothing');
select is(
    (select (s ->> 'state_until')::timestamptz from public.set_provider_state_v2('fmp', 'rate_limited', 120, null) as s),
    now() + interval '120 seconds',
    'an explicit pause overrides the default'
);
select is(
    (select s ->> 'state_until' from public.set_provider_state_v2('fmp', 'invalid_key', null, 'HTTP 401') as s),
    null,
    'invalid_key without a pause lasts until set back to ok'
);
select is(pg_temp.claim(10), 0, 'an invalid key claims nothing');
select is(
    (select state from private.circuit_breaker where provider = 'fmp'),
    'open',
    'setting invalid_key opens the circuit'
);
select is(
    (select s ->> 'state' from public.set_provider_state_v2('fmp', 'ok', null, 'key rotated') as s),
    'ok',
    'an operator sets the provider back to ok'
);
select results_eq(
    $$ select p.state_until, c.state from private.providers as p join private.circuit_breaker as c using (provider) where p.provider = 'fmp' $$,
    $$ values (null::timestamptz, 'closed'::text) $$,
    'ok clears state_until and closes the circuit the invalid key opened'
);
select is(pg_temp.claim(1), 1, 'claims resume after the key is fixed');

-- Escalation (the failure path): never downgrades, extends the same state.
select public.set_provider_state_v2('fmp', 'invalid_key', null, 'HTTP 401');
select private.escalate_provider_state('fmp', 'rate_limited', 60, 'Limit Reach');
select is((select state from private.providers where provider = 'fmp'), 'invalid_key',
    'a rate limit does not downgrade an invalid key');
select public.set_provider_state_v2('fmp', 'rate_limited', 300, 'first');
select private.escalate_provider_state('fmp', 'rate_limited', 60, 'second');
select results_eq(
    $$ select state, state_until, state_reason from private.providers where provider = 'fmp' $$,
    $$ values ('rate_limited'::text, now() + interval '300 seconds', 'second'::text) $$,
    'the same state keeps the later end'
);
select private.escalate_provider_state('fmp', 'bandwidth_exhausted', 3600, 'bw');
select is((select state from private.providers where provider = 'fmp'), 'bandwidth_exhausted',
    'a more severe state replaces a milder one');
update private.providers set state = 'invalid_key', state_until = now() - interval '1 second' where provider = 'fmp';
select private.escalate_provider_state('fmp', 'rate_limited', 60, 'after expiry');
select is((select state from private.providers where provider = 'fmp'), 'rate_limited',
    'an expired state no longer blocks a milder one');
select public.set_provider_state_v2('fmp', 'ok', null, null);

-- Errors.
select throws_ok(
    $$ select public.set_provider_state_v2('nope', 'ok', null, null) $$,
    '22023', 'unknown provider "nope"',
    'an unknown provider is refused'
);
select throws_ok(
    $$ select public.set_provider_state_v2('fmp', 'sleeping', null, null) $$,
    '22023', 'unknown provider state "sleeping"',
    'an unknown state is refused'
);
select throws_ok(
    $$ select public.set_provider_state_v2('fmp', 'rate_limited', 0, null) $$,
    '22023', 'pause of 0 seconds is out of range',
    'a pause of 0 seconds is refused'
);
select throws_ok(
    $$ select public.get_quota_status_v2('nope') $$,
    '22023', 'unknown provider "nope"',
    'quota status of an unknown provider is refused'
);
select throws_ok(
    $$ select public.is_quota_exceeded_v2('nope') $$,
    '22023', 'unknown provider "nope"',
    'is_quota_exceeded_v2 of an unknown provider is refused'
);
select is(
    (select array_agg(k order by k) from jsonb_object_keys(public.get_quota_status_v2('fmp')) as k),
    array['bytes_per_30d', 'bytes_safety_factor', 'calls_per_day', 'calls_per_minute', 'exceeded',
          'provider', 'state', 'state_reason', 'state_until', 'stored_state'],
    'the quota status has its documented keys'
);

-- Privileges.
select is_empty(
    $$
        select r.role_name || ' ' || f.name
        from (values ('anon'), ('authenticated')) as r (role_name)
        cross join (values
            ('public.is_quota_exceeded_v2(text)'),
            ('public.get_quota_status_v2(text)'),
            ('public.set_provider_state_v2(text, text, integer, text)')
        ) as f (name)
        where has_function_privilege(r.role_name, f.name, 'EXECUTE')
    $$,
    'anon and authenticated cannot read quota or set provider states'
);
select ok(
    has_function_privilege('service_role', 'public.is_quota_exceeded_v2(text)', 'EXECUTE')
        and has_function_privilege('service_role', 'public.get_quota_status_v2(text)', 'EXECUTE')
        and has_function_privilege('service_role', 'public.set_provider_state_v2(text, text, integer, text)', 'EXECUTE'),
    'service_role can read quota and set provider states'
);
select is_empty(
    $$
        select r.role_name || ' ' || t.name || ' ' || p.privilege
        from (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        cross join (values ('private.providers'), ('private.provider_usage')) as t (name)
        cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) as p (privilege)
        where has_table_privilege(r.role_name, t.name, p.privilege)
    $$,
    'no client role has any privilege on providers or provider_usage'
);
select tests.authenticate_as_anon();
select throws_ok(
    $$ select public.get_quota_status_v2('fmp') $$,
    '42501', 'permission denied for function get_quota_status_v2',
    'anon calling get_quota_status_v2 is refused'
);
select tests.clear_authentication();

select * from finish();
rollback;
