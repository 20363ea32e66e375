-- Presence: track_subscription_v2 (track, heartbeat, untrack, validation, the per-user rate
-- limit), the presence scan check_and_queue_stale_data_from_presence_v2 (expiry, set-based
-- queueing, the feature flag, quota, the per-scan cap, housekeeping), presence analytics, RLS as
-- two users on the rows the function writes, and privileges per role. The skip under a
-- concurrent scan (lock 42) needs two sessions: tests/presence_locks_test.ts.
begin;
set search_path = extensions, public;
set client_min_messages = error;
select plan(46);

-- Hold the scan lock ourselves (re-entrant in this session) so the cron job stays out.
select pg_advisory_xact_lock(private.advisory_namespace(), 42);

delete from private.api_call_queue_v2;
delete from private.refresh_state;
delete from private.rate_limits;
delete from public.active_subscriptions_v2;
delete from private.presence_analytics;
update private.providers
set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
where provider = 'fmp';
update private.presence_settings
set subscription_ttl_seconds = 120, default_data_types = '{quote,profile}', rate_limit_per_minute = 60,
    presence_scan_max_items = 10000;
update public.feature_flags set enabled = true where name = 'use_presence_tracking';
update public.data_type_registry_v2 set enabled = true where data_type in ('quote', 'profile', 'ratios-ttm');
delete from public.fmp_quote where symbol like 'KF%';
delete from public.fmp_profile where symbol like 'KF%';

select set_config('kf.alice', tests.create_supabase_user('alice')::text, true);
select set_config('kf.bob', tests.create_supabase_user('bob')::text, true);

-- track.
create temporary table t1 as
select public.track_subscription_v2(current_setting('kf.alice')::uuid, null, '{KFA,KFB,KFA}', null, 'track') as r;
select results_eq(
    $$ select r ->> 'action', r ->> 'client_id', r -> 'symbols', r -> 'data_types', (r ->> 'heartbeat_seconds')::integer,
              (r ->> 'presence_tracking')::boolean
       from t1 $$,
    $$ values ('track'::text, 'default'::text, '["KFA", "KFB"]'::jsonb, '["profile", "quote"]'::jsonb, 40, true) $$,
    'track answers the client, deduplicated symbols, the default data types and the heartbeat interval'
);
select results_eq(
    $$ select symbol, data_types, expires_at - last_seen_at
       from public.active_subscriptions_v2 where user_id = current_setting('kf.alice')::uuid order by symbol $$,
    $$ values ('KFA'::text, '{}'::text[], interval '120 seconds'), ('KFB', '{}', interval '120 seconds') $$,
    'track writes one row per symbol, empty data types meaning the default set, expiring after subscription_ttl_seconds'
);
select is(
    (select count(*)::integer from t1, jsonb_array_elements(r -> 'queued') as e where (e ->> 'created')::boolean),
    4,
    'track queues what is stale at once: quote and profile of both symbols'
);

-- heartbeat.
update public.active_subscriptions_v2
set last_seen_at = now() - interval '100 seconds', expires_at = now() + interval '20 seconds'
where user_id = current_setting('kf.alice')::uuid;
select is(
    public.track_subscription_v2(current_setting('kf.alice')::uuid, 'default', '{KFA}', null, 'heartbeat') -> 'queued' -> 0 ->> 'created',
    'false',
    'a heartbeat reports the jobs that already exist'
);
select results_eq(
    $$ select symbol, expires_at > now() + interval '100 seconds'
       from public.active_subscriptions_v2 where user_id = current_setting('kf.alice')::uuid order by symbol $$,
    $$ values ('KFA'::text, true), ('KFB', false) $$,
    'a heartbeat renews only the symbols it names'
);
select public.track_subscription_v2(current_setting('kf.alice')::uuid, 'default', '{KFB}', '{ratios-ttm}', 'track');
select public.track_subscription_v2(current_setting('kf.alice')::uuid, 'default', '{KFB}', null, 'heartbeat');
select is(
    (select data_types from public.active_subscriptions_v2 where user_id = current_setting('kf.alice')::uuid and symbol = 'KFB'),
    '{ratios-ttm}'::text[],
    'track replaces the data types; a heartbeat without types keeps them'
);
select public.track_subscription_v2(current_setting('kf.alice')::uuid, 'tab-2', '{KFC}', '{quote}', 'heartbeat');
select ok(
    exists (select 1 from public.active_subscriptions_v2 where client_id = 'tab-2' and symbol = 'KFC'),
    'a heartbeat for a subscription that expired meanwhile creates it again'
);

-- untrack.
select is(
    public.track_subscription_v2(current_setting('kf.alice')::uuid, 'tab-2', '{KFC,KFA}', null, 'untrack'),
    '{"action": "untrack", "client_id": "tab-2", "symbols": ["KFC", "KFA"], "untracked": 1}'::jsonb,
    'untrack deletes only the named client''s rows'
);
select results_eq(
    $$ select client_id, symbol from public.active_subscriptions_v2 where user_id = current_setting('kf.alice')::uuid order by 1, 2 $$,
    $$ values ('default'::text, 'KFA'::text), ('default', 'KFB') $$,
    'the other client''s rows stay'
);

-- use_presence_tracking off: presence is recorded, nothing is queued.
update public.feature_flags set enabled = false where name = 'use_presence_tracking';
select results_eq(
    $$ select (r ->> 'presence_tracking')::boolean, r -> 'queued'
       from public.track_subscription_v2(current_setting('kf.bob')::uuid, null, '{KFD}', '{quote}', 'track') as r $$,
    $$ values (false, '[]'::jsonb) $$,
    'with use_presence_tracking off track records presence but queues nothing'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2 where key = 'KFD'),
    0,
    'no job for the symbol'
);
update public.feature_flags set enabled = true where name = 'use_presence_tracking';

-- Validation: a clear error and nothing written.
select throws_ok(
    $$ select public.track_subscription_v2(current_setting('kf.alice')::uuid, null, '{KFA}', null, 'subscribe') $$,
    '22023', 'unknown action "subscribe"', 'an unknown action is rejected'
);
select throws_ok(
    $$ select public.track_subscription_v2(current_setting('kf.alice')::uuid, null,
           (select array_agg('S' || g) from generate_series(1, 51) as g), null, 'track') $$,
    '22023', 'symbols must hold 1 to 50 symbols, got 51', '51 symbols are rejected'
);
select throws_ok(
    $$ select public.track_subscription_v2(current_setting('kf.alice')::uuid, null, '{"KF A"}', null, 'track') $$,
    '22023', 'invalid symbol "KF A"', 'a malformed symbol is rejected'
);
select throws_ok(
    $$ select public.track_subscription_v2(current_setting('kf.alice')::uuid, null, '{KFA}', '{nope}', 'track') $$,
    '22023', 'unknown data type "nope"', 'an unknown data type is rejected'
);
select throws_ok(
    $$ select public.track_subscription_v2(current_setting('kf.alice')::uuid, repeat('x', 65), '{KFA}', null, 'track') $$,
    '22023', 'client id must be 1 to 64 characters, got 65', 'a long client id is rejected'
);
select throws_ok(
    $$ select public.track_subscription_v2(null, null, '{KFA}', null, 'track') $$,
    '22023', 'user id is required', 'a missing user is rejected'
);
select is(
    (select count(*)::integer from public.active_subscriptions_v2 where user_id = current_setting('kf.alice')::uuid),
    2,
    'rejected calls wrote nothing'
);

-- The per-user rate limit.
update private.presence_settings set rate_limit_per_minute = 2;
delete from private.rate_limits;
select public.track_subscription_v2(current_setting('kf.bob')::uuid, null, '{KFE}', null, 'untrack') from generate_series(1, 2);
create temporary table limited as
select public.track_subscription_v2(current_setting('kf.bob')::uuid, null, '{KFE}', '{quote}', 'track') as r;
select results_eq(
    $$ select (r ->> 'rate_limited')::boolean, (r ->> 'retry_after_seconds')::integer between 1 and 60,
              (r ->> 'limit_per_minute')::integer from limited $$,
    $$ values (true, true, 2) $$,
    'the third call in a minute is rate limited, with a retry-after of at most a minute'
);
select ok(
    not exists (select 1 from public.active_subscriptions_v2 where symbol = 'KFE'),
    'a rate-limited call does nothing'
);
select is(
    public.track_subscription_v2(current_setting('kf.alice')::uuid, null, '{KFE}', null, 'untrack') ->> 'action',
    'untrack',
    'other users are not limited'
);
select is(
    (select requests from private.rate_limits where bucket = 'track-subscription:' || current_setting('kf.bob')),
    3,
    'refused calls are counted too'
);
update private.presence_settings set rate_limit_per_minute = 60;

-- RLS: each user sees and changes only their own rows, whoever wrote them.
select tests.authenticate_as('alice');
select results_eq(
    $$ select symbol from public.active_subscriptions_v2 order by symbol $$,
    $$ values ('KFA'::text), ('KFB') $$,
    'alice sees her own subscriptions only'
);
select is_empty(
    $$ delete from public.active_subscriptions_v2 where symbol = 'KFD' returning id $$,
    'alice cannot delete bob''s subscription'
);
select throws_ok(
    $$ select public.track_subscription_v2(auth.uid(), null, '{KFA}', null, 'track') $$,
    '42501', 'permission denied for function track_subscription_v2',
    'a signed-in user cannot call track_subscription_v2 directly (it trusts its user id)'
);
select tests.clear_authentication();
select tests.authenticate_as('bob');
select results_eq(
    $$ select symbol from public.active_subscriptions_v2 order by symbol $$,
    $$ values ('KFD'::text) $$,
    'bob sees his own subscription only'
);
select tests.clear_authentication();
select tests.authenticate_as_anon();
select throws_ok(
    $$ select count(*) from public.active_subscriptions_v2 $$,
    '42501', 'permission denied for table active_subscriptions_v2',
    'anon cannot read subscriptions'
);
select tests.clear_authentication();

-- The presence scan: expiry.
delete from private.api_call_queue_v2;
update public.active_subscriptions_v2
set last_seen_at = now() - interval '10 minutes', expires_at = now() - interval '1 second'
where user_id = current_setting('kf.alice')::uuid and symbol = 'KFB';
create temporary table scan1 as select public.check_and_queue_stale_data_from_presence_v2() as r;
select is((select (r ->> 'expired')::integer from scan1), 1, 'the scan expires the subscription nobody renewed');
select results_eq(
    $$ select user_id::text, symbol from public.active_subscriptions_v2 order by symbol $$,
    $$ values (current_setting('kf.alice'), 'KFA'::text), (current_setting('kf.bob'), 'KFD') $$,
    'live subscriptions stay'
);
select is((select (r ->> 'subscriptions')::integer from scan1), 2, 'the scan sees the two live subscriptions');

-- The presence scan: set-based queueing of what the live rows watch.
select results_eq(
    $$ select data_type, key, priority from private.api_call_queue_v2 where status = 'pending' order by data_type, key $$,
    $$ values ('profile'::text, 'KFA'::text, 80), ('quote', 'KFA', 90), ('quote', 'KFD', 90) $$,
    'the scan queues the stale data of live subscriptions only (KFA: the default set, KFD: quote)'
);
select results_eq(
    $$ select (r ->> 'pairs')::integer, (r ->> 'stale')::integer, (r ->> 'queued')::integer, (r ->> 'more')::boolean from scan1 $$,
    $$ values (3, 3, 3, false) $$,
    'it reports pairs checked, stale and queued'
);
select results_eq(
    $$ select (r ->> 'stale')::integer, (r ->> 'queued')::integer from public.check_and_queue_stale_data_from_presence_v2() as r $$,
    $$ values (0, 0) $$,
    'a second scan finds the active jobs and queues nothing twice'
);
delete from private.api_call_queue_v2;
insert into public.fmp_quote (symbol, price, fetched_at) values ('KFA', 1, now()), ('KFD', 1, now());
insert into public.fmp_profile (symbol, fetched_at) values ('KFA', now());
select is(
    (select (r ->> 'stale')::integer from public.check_and_queue_stale_data_from_presence_v2() as r),
    0,
    'fresh data is not queued'
);
update public.fmp_quote set fetched_at = now() - interval '1 hour' where symbol like 'KF%';

-- The cap per scan, most urgent first.
update private.presence_settings set presence_scan_max_items = 1;
select results_eq(
    $$ select (r ->> 'stale')::integer, (r ->> 'queued')::integer, (r ->> 'more')::boolean
       from public.check_and_queue_stale_data_from_presence_v2() as r $$,
    $$ values (2, 1, true) $$,
    'the scan queues at most presence_scan_max_items and says there is more'
);
select is(
    (select count(*)::integer from private.api_call_queue_v2 where data_type = 'quote'),
    1,
    'the one it queued is a quote'
);
update private.presence_settings set presence_scan_max_items = 10000;

-- Quota and the flag.
delete from private.api_call_queue_v2;
update private.providers set calls_per_minute = 0 where provider = 'fmp';
select results_eq(
    $$ select (r ->> 'queued')::integer, r -> 'quota_exceeded' from public.check_and_queue_stale_data_from_presence_v2() as r $$,
    $$ values (0, '["fmp"]'::jsonb) $$,
    'out of quota: the scan queues nothing and says why'
);
update private.providers set calls_per_minute = null where provider = 'fmp';
update public.feature_flags set enabled = false where name = 'use_presence_tracking';
select is(
    public.check_and_queue_stale_data_from_presence_v2() - 'expired',
    '{"ran": false, "reason": "disabled"}'::jsonb,
    'with use_presence_tracking off the scan stops after expiry'
);
update public.feature_flags set enabled = true where name = 'use_presence_tracking';
select is((select count(*)::integer from private.api_call_queue_v2), 0, 'and queues nothing');

-- Housekeeping: rate-limit windows that ended are pruned.
insert into private.rate_limits (bucket, window_start, requests) values ('kf-old', now() - interval '5 minutes', 1);
select cmp_ok(
    (public.check_and_queue_stale_data_from_presence_v2() ->> 'rate_limit_windows_pruned')::integer,
    '>=', 1,
    'the scan prunes rate-limit windows that ended'
);
select is_empty(
    $$ select bucket from private.rate_limits where bucket = 'kf-old' $$,
    'the old window is gone'
);

-- Analytics.
select public.track_subscription_v2(current_setting('kf.bob')::uuid, 'phone', '{KFA}', '{quote}', 'track');
create temporary table stats as select public.refresh_analytics_from_presence_v2() as r;
select results_eq(
    $$ select (r ->> 'symbols')::integer, (r ->> 'users')::integer, (r ->> 'clients')::integer from stats $$,
    $$ values (2, 2, 3) $$,
    'analytics counts symbols, users and clients watching now'
);
select results_eq(
    $$ select data_type, symbol, peak_users, last_clients, samples from private.presence_analytics order by 1, 2 $$,
    $$ values ('profile'::text, 'KFA'::text, 1, 1, 1), ('quote', 'KFA', 2, 2, 1), ('quote', 'KFD', 1, 1, 1) $$,
    'per data type and symbol: how many users and clients watch it'
);
delete from public.active_subscriptions_v2 where client_id = 'phone';
select public.refresh_analytics_from_presence_v2();
select results_eq(
    $$ select peak_users, last_users, samples from private.presence_analytics where data_type = 'quote' and symbol = 'KFA' $$,
    $$ values (2, 1, 2) $$,
    'a later sample keeps the hour''s peak and updates the latest count'
);

-- Privileges per role.
select ok(
    not exists (
        select 1
        from (values
            ('public.track_subscription_v2(uuid, text, text[], text[], text)'::regprocedure),
            ('public.check_and_queue_stale_data_from_presence_v2()'::regprocedure),
            ('public.refresh_analytics_from_presence_v2()'::regprocedure)
        ) as f (oid)
        cross join (values ('anon'), ('authenticated')) as r (role_name)
        where has_function_privilege(r.role_name, f.oid, 'execute')
    )
    and has_function_privilege('service_role', 'public.track_subscription_v2(uuid, text, text[], text[], text)', 'execute')
    and has_function_privilege('service_role', 'public.check_and_queue_stale_data_from_presence_v2()', 'execute')
    and has_function_privilege('service_role', 'public.refresh_analytics_from_presence_v2()', 'execute'),
    'presence functions: service_role only'
);
select ok(
    not exists (
        select 1
        from (values ('private.rate_limits'::regclass), ('private.presence_analytics'::regclass), ('private.presence_settings'::regclass)) as t (oid)
        cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        cross join (values ('select'), ('insert'), ('update'), ('delete')) as p (privilege)
        where has_table_privilege(r.role_name, t.oid, p.privilege)
    )
    and not has_function_privilege('service_role', 'private.consume_rate_limit(text, integer)', 'execute'),
    'the rate limits, analytics and settings tables are private to their functions'
);

select * from finish();
rollback;
