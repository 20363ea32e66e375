-- Staleness: is_data_stale_v2 / is_profile_stale_v2 edge cases (no row, exactly at the TTL, in
-- cooldown, market closed, broken registry rows, keyless types), the set-based
-- check_and_queue_stale_batch_v2 (what it queues, reports fresh, skips for cooldown and quota,
-- rejects), and privileges per role. Test symbols start with KF and the test exchange is KFX,
-- so no fixture data is involved. Locks 42 and 43 keep the cron scans out of this transaction.
begin;
set search_path = extensions, public;
-- is_data_stale_v2 logs every error it turns into "stale" as a WARNING; not needed here.
set client_min_messages = error;
select plan(54);

select pg_advisory_xact_lock(private.advisory_namespace(), 42);
select pg_advisory_xact_lock(private.advisory_namespace(), 43);

delete from private.api_call_queue_v2;
delete from private.refresh_state;
delete from private.provider_usage;
update private.providers
set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
where provider = 'fmp';
update private.presence_settings set market_status_max_age_seconds = 900, default_data_types = '{quote,profile}';
-- quote: ttl 60 s, market-closed ttl 3600 s (the seed's values, restated so the test reads alone).
update public.data_type_registry_v2
set ttl_seconds = 60, market_closed_ttl_seconds = 3600, enabled = true
where data_type = 'quote';
update public.data_type_registry_v2 set ttl_seconds = 86400, enabled = true where data_type = 'profile';

-- Signatures: no DEFAULT arguments.
select is(
    (select p.pronargdefaults::integer from pg_catalog.pg_proc as p where p.oid = 'public.is_data_stale_v2(text, text)'::regprocedure),
    0,
    'is_data_stale_v2 has no DEFAULT arguments'
);
select is(
    (select p.pronargdefaults::integer from pg_catalog.pg_proc as p where p.oid = 'public.is_profile_stale_v2(text)'::regprocedure),
    0,
    'is_profile_stale_v2 has no DEFAULT arguments'
);
select ok(
    (select p.prosecdef from pg_catalog.pg_proc as p where p.oid = 'public.check_and_queue_stale_batch_v2(text[], text[])'::regprocedure),
    'check_and_queue_stale_batch_v2 is SECURITY DEFINER'
);

-- Missing data.
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'no row and no refresh state: stale');

-- TTL boundaries (now() is fixed within the transaction).
insert into public.fmp_quote (symbol, price, fetched_at) values ('KFA', 10, now());
select is(public.is_data_stale_v2('quote', 'KFA'), false, 'a row fetched now is fresh');
update public.fmp_quote set fetched_at = now() - interval '59 seconds' where symbol = 'KFA';
select is(public.is_data_stale_v2('quote', 'KFA'), false, 'one second before the TTL: fresh');
update public.fmp_quote set fetched_at = now() - interval '60 seconds' where symbol = 'KFA';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'exactly at the TTL: stale');
update public.fmp_quote set fetched_at = now() - interval '1 day' where symbol = 'KFA';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'long past the TTL: stale');

-- Cooldown.
insert into private.refresh_state (data_type, key, last_checked_at, next_eligible_at, last_outcome)
values ('quote', 'KFB', now(), now() + interval '1 hour', 'no_data');
select is(public.is_data_stale_v2('quote', 'KFB'), false, 'no row but in cooldown (upstream had no data): not stale');
insert into private.refresh_state (data_type, key, last_checked_at, next_eligible_at, last_outcome)
values ('quote', 'KFA', now(), now() + interval '1 minute', 'not_newer');
select is(public.is_data_stale_v2('quote', 'KFA'), false, 'an old row in cooldown (upstream not newer): not stale');
update private.refresh_state set next_eligible_at = now() where data_type = 'quote' and key = 'KFA';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'cooldown ending now: stale again');
delete from private.refresh_state where key in ('KFA', 'KFB');

-- Market closed: the symbol's exchange comes from its profile.
insert into public.fmp_profile (symbol, exchange, fetched_at) values ('KFA', 'KFX', now());
insert into public.fmp_exchange_market_status (exchange, is_market_open, fetched_at) values ('KFX', false, now());
update public.fmp_quote set fetched_at = now() - interval '30 minutes' where symbol = 'KFA';
select is(public.is_data_stale_v2('quote', 'KFA'), false, 'market closed: a 30-minute-old quote is fresh (closed TTL 1 h)');
update public.fmp_quote set fetched_at = now() - interval '1 hour' where symbol = 'KFA';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'market closed: stale at the closed TTL');
update public.fmp_quote set fetched_at = now() - interval '30 minutes' where symbol = 'KFA';
update public.fmp_exchange_market_status set is_market_open = true where exchange = 'KFX';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'market open: the normal TTL applies');
update public.fmp_exchange_market_status set is_market_open = false, fetched_at = now() - interval '2 hours' where exchange = 'KFX';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'a market status older than market_status_max_age_seconds is not trusted');
update public.fmp_exchange_market_status set fetched_at = now() where exchange = 'KFX';
update public.data_type_registry_v2 set market_closed_ttl_seconds = null where data_type = 'quote';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'no market-closed TTL in the registry: the normal TTL applies');
update public.data_type_registry_v2 set market_closed_ttl_seconds = 3600 where data_type = 'quote';
select is(public.is_data_stale_v2('quote', 'KFC'), true, 'market closed but no row for the symbol: stale');

-- Profiles.
select is(public.is_profile_stale_v2('KFA'), false, 'a profile fetched now is fresh');
select is(public.is_profile_stale_v2('KFZ'), true, 'no profile: stale');
update public.fmp_profile set fetched_at = now() - interval '1 day' where symbol = 'KFA';
select is(public.is_profile_stale_v2('KFA'), true, 'a profile exactly a day old: stale');

-- Keyless data types: the whole table is the data.
delete from public.fmp_available_exchange;
update public.data_type_registry_v2 set enabled = true where data_type = 'available-exchanges';
select is(public.is_data_stale_v2('available-exchanges', null), true, 'keyless type with an empty table: stale');
insert into public.fmp_available_exchange (exchange, fetched_at) values ('KFX', now());
select is(public.is_data_stale_v2('available-exchanges', 'IGNORED'), false, 'keyless type with a fresh row: fresh, the symbol is ignored');

-- Errors count as stale, never fresh.
select is(public.is_data_stale_v2('no-such-type', 'KFA'), true, 'an unknown data type counts as stale');
select is(public.is_data_stale_v2('quote', null), true, 'a null symbol counts as stale');
select is(public.is_data_stale_v2(null, null), true, 'null arguments count as stale');
update public.fmp_quote set fetched_at = now() where symbol = 'KFA';
update public.fmp_exchange_market_status set is_market_open = true where exchange = 'KFX';
select is(public.is_data_stale_v2('quote', 'KFA'), false, 'control: the quote is fresh');
update public.data_type_registry_v2 set target_table = 'public.kf_no_such_table' where data_type = 'quote';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'a registry row pointing at a missing table: stale');
update public.data_type_registry_v2 set target_table = 'public.fmp_quote', timestamp_column = 'no_such_column' where data_type = 'quote';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'a registry row naming a missing column: stale');
update public.data_type_registry_v2 set timestamp_column = 'symbol' where data_type = 'quote';
select is(public.is_data_stale_v2('quote', 'KFA'), true, 'a timestamp column that is not a timestamp: stale');
update public.data_type_registry_v2 set timestamp_column = 'fetched_at' where data_type = 'quote';
select is(public.is_data_stale_v2('quote', 'KFA'), false, 'repaired registry row: fresh again');

-- The set-based core: one call for many keys.
insert into public.fmp_quote (symbol, price, fetched_at)
values ('KFD', 1, now() - interval '10 minutes'), ('KFE', 1, now());
select results_eq(
    $$ select key, fresh, stale from private.stale_keys('quote', '{KFE,KFD,KFA,KFN,KFD,NULL}', null) order by key $$,
    $$ values ('KFA'::text, true, false), ('KFD', false, true), ('KFE', true, false), ('KFN', false, true) $$,
    'stale_keys answers many keys (deduplicated, nulls dropped) in one call'
);
select is(
    (select ttl_seconds from private.stale_keys('quote', '{KFD}', 86400)),
    86400,
    'a max-age override replaces the TTL (the scheduler uses schedule_seconds)'
);

-- check_and_queue_stale_batch_v2.
create temporary table batch as
select public.check_and_queue_stale_batch_v2('{KFA,KFD,KFN,KFD}', '{quote}') as r;
select results_eq(
    $$ select e ->> 'key', (e ->> 'created')::boolean from batch, jsonb_array_elements(r -> 'queued') as e order by 1 $$,
    $$ values ('KFD'::text, true), ('KFN', true) $$,
    'the batch queues the stale keys once each'
);
select results_eq(
    $$ select e ->> 'key' from batch, jsonb_array_elements(r -> 'fresh') as e order by 1 $$,
    $$ values ('KFA'::text) $$,
    'and reports the fresh one'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2 where data_type = 'quote' and key in ('KFD', 'KFN') and status = 'pending' and priority = 90),
    2,
    'the jobs are pending at the registry priority'
);
select results_eq(
    $$ select e ->> 'key', (e ->> 'created')::boolean
       from jsonb_array_elements(public.check_and_queue_stale_batch_v2('{KFD}', '{quote}') -> 'queued') as e $$,
    $$ values ('KFD'::text, false) $$,
    'asking again reports the existing job, created false'
);
insert into private.refresh_state (data_type, key, last_checked_at, next_eligible_at, last_outcome)
values ('quote', 'KFM', now(), now() + interval '1 hour', 'no_data');
select is(
    public.check_and_queue_stale_batch_v2('{KFM}', '{quote}') - 'errors',
    '{"queued": [], "fresh": [], "skipped": {"cooldown": [{"data_type": "quote", "key": "KFM"}], "quota_exceeded": []}}'::jsonb,
    'a key in cooldown is skipped as cooldown'
);
select is(
    jsonb_array_length(public.check_and_queue_stale_batch_v2('{KFA}', null) -> 'fresh'),
    1,
    'null data types: the default set (quote is fresh; profile was queued)'
);
select ok(
    exists (select 1 from private.api_call_queue_v2 where data_type = 'profile' and key = 'KFA'),
    'the default set includes profile'
);

update private.providers set calls_per_minute = 0 where provider = 'fmp';
select is(
    public.check_and_queue_stale_batch_v2('{KFQ}', '{quote}') -> 'skipped' -> 'quota_exceeded',
    '[{"data_type": "quote", "key": "KFQ"}]'::jsonb,
    'out of quota: the stale key is reported as skipped'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2 where key = 'KFQ'),
    0,
    'and nothing is queued'
);
update private.providers set calls_per_minute = null where provider = 'fmp';

update public.data_type_registry_v2 set target_table = 'public.kf_no_such_table' where data_type = 'ratios-ttm';
update public.data_type_registry_v2 set enabled = true where data_type = 'ratios-ttm';
create temporary table broken as
select public.check_and_queue_stale_batch_v2('{KFA}', '{ratios-ttm}') as r;
select is(
    (select jsonb_array_length(r -> 'errors') from broken),
    1,
    'a broken registry row is reported in errors'
);
select is(
    (select r -> 'queued' -> 0 ->> 'key' from broken),
    'KFA',
    'and its keys count as stale: queued'
);
update public.data_type_registry_v2 set target_table = 'public.fmp_ratios_ttm' where data_type = 'ratios-ttm';

-- Bad input: a clear error and nothing written.
select throws_ok(
    $$ select public.check_and_queue_stale_batch_v2('{AAPL,aapl}', '{quote}') $$,
    '22023', 'invalid symbol "aapl"',
    'a lower-case symbol is rejected'
);
select throws_ok(
    $$ select public.check_and_queue_stale_batch_v2('{"AAPL''; drop table x; --"}', '{quote}') $$,
    '22023', 'invalid symbol "AAPL''; drop table x; --"',
    'an injection string is just an invalid symbol'
);
select throws_ok(
    $$ select public.check_and_queue_stale_batch_v2('{}', '{quote}') $$,
    '22023', 'symbols must hold 1 to 1000 symbols, got none',
    'no symbols is rejected'
);
select throws_ok(
    $$ select public.check_and_queue_stale_batch_v2('{AAPL}', '{quote,nope}') $$,
    '22023', 'unknown data type "nope"',
    'an unknown data type is rejected'
);
update public.data_type_registry_v2 set enabled = false where data_type = 'shares-float';
select throws_ok(
    $$ select public.check_and_queue_stale_batch_v2('{AAPL}', '{shares-float}') $$,
    '22023', 'data type "shares-float" is disabled',
    'a disabled data type is rejected'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2 where key = 'AAPL'),
    0,
    'rejected calls queued nothing'
);

-- Privileges per role.
select ok(
    not has_function_privilege('anon', 'public.is_data_stale_v2(text, text)', 'execute')
    and not has_function_privilege('authenticated', 'public.is_data_stale_v2(text, text)', 'execute')
    and has_function_privilege('service_role', 'public.is_data_stale_v2(text, text)', 'execute'),
    'is_data_stale_v2: service_role only'
);
select ok(
    not has_function_privilege('anon', 'public.is_profile_stale_v2(text)', 'execute')
    and not has_function_privilege('authenticated', 'public.is_profile_stale_v2(text)', 'execute')
    and has_function_privilege('service_role', 'public.is_profile_stale_v2(text)', 'execute'),
    'is_profile_stale_v2: service_role only'
);
select ok(
    not has_function_privilege('anon', 'public.check_and_queue_stale_batch_v2(text[], text[])', 'execute')
    and not has_function_privilege('authenticated', 'public.check_and_queue_stale_batch_v2(text[], text[])', 'execute')
    and has_function_privilege('service_role', 'public.check_and_queue_stale_batch_v2(text[], text[])', 'execute'),
    'check_and_queue_stale_batch_v2: service_role only'
);
select tests.authenticate_as_service_role();
select is(public.is_data_stale_v2('quote', 'KFA'), false, 'service_role can ask for staleness');
select tests.clear_authentication();
select ok(
    not exists (
        select 1
        from pg_catalog.pg_proc as p
        cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        where p.oid in (
            'private.data_type_target(text)'::regprocedure,
            'private.stale_keys(text, text[], integer)'::regprocedure,
            'private.require_symbols(text[], integer)'::regprocedure,
            'private.require_data_types(text[])'::regprocedure
        )
            and has_function_privilege(r.role_name, p.oid, 'execute')
    ),
    'no client role may call the private staleness helpers'
);

select * from finish();
rollback;
