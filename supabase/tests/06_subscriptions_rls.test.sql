-- active_subscriptions_v2 under RLS, acting as anon, two users and service_role: a user sees
-- and changes only their own rows, cannot write rows for someone else or move a row, and
-- every CHECK rejects bad input.
begin;
set search_path = extensions, public;
select plan(35);

-- User ids in transaction-local settings, readable whatever role a test acts as.
select set_config('kf.alice', tests.create_supabase_user('alice')::text, true);
select set_config('kf.bob', tests.create_supabase_user('bob')::text, true);

-- Seed one row each as service_role (it bypasses RLS, so it names the user).
select tests.authenticate_as_service_role();
insert into public.active_subscriptions_v2 (user_id, symbol, data_types, expires_at)
values
    (current_setting('kf.alice')::uuid, 'AAPL', '{quote,profile}', now() + interval '5 minutes'),
    (current_setting('kf.bob')::uuid, 'MSFT', '{quote}', now() + interval '5 minutes');
select is(
    (select count(*) from public.active_subscriptions_v2), 2::bigint,
    'service_role sees every subscription'
);
select tests.clear_authentication();

-- alice.
select tests.authenticate_as('alice');
select results_eq(
    $$ select symbol from public.active_subscriptions_v2 order by symbol $$,
    $$ values ('AAPL') $$,
    'alice sees only her own subscription'
);
select lives_ok(
    $$
        insert into public.active_subscriptions_v2 (symbol, expires_at)
        values ('^GSPC', now() + interval '5 minutes')
    $$,
    'alice can subscribe; user_id defaults to her'
);
select results_eq(
    $$ select user_id, client_id, data_types from public.active_subscriptions_v2 where symbol = '^GSPC' $$,
    $$ select current_setting('kf.alice')::uuid, 'default'::text, '{}'::text[] $$,
    'the new row belongs to alice, with the default client and no data types'
);
select lives_ok(
    $$
        insert into public.active_subscriptions_v2 (client_id, symbol, data_types, expires_at)
        values ('tab-2', 'BRK-B', '{quote}', now() + interval '5 minutes'),
               ('tab-2', 'RELIANCE.NS', '{quote}', now() + interval '5 minutes')
    $$,
    'alice can subscribe to class and exchange-suffixed symbols from another client'
);
select throws_ok(
    $$
        insert into public.active_subscriptions_v2 (user_id, symbol, expires_at)
        values (current_setting('kf.bob')::uuid, 'TSLA', now() + interval '5 minutes')
    $$,
    '42501', 'new row violates row-level security policy for table "active_subscriptions_v2"',
    'alice cannot subscribe on bob''s behalf'
);
select is_empty(
    $$ update public.active_subscriptions_v2 set data_types = '{ratios-ttm}' where symbol = 'MSFT' returning id $$,
    'alice cannot update bob''s subscription (no row matches)'
);
select is_empty(
    $$ delete from public.active_subscriptions_v2 where symbol = 'MSFT' returning id $$,
    'alice cannot delete bob''s subscription (no row matches)'
);
select throws_ok(
    $$ update public.active_subscriptions_v2 set user_id = current_setting('kf.bob')::uuid where symbol = 'AAPL' $$,
    '42501', 'permission denied for table active_subscriptions_v2',
    'alice cannot hand her subscription to bob'
);
select throws_ok(
    $$ update public.active_subscriptions_v2 set symbol = 'MSFT' where symbol = 'AAPL' $$,
    '42501', 'permission denied for table active_subscriptions_v2',
    'alice cannot change the symbol of a subscription'
);
select results_eq(
    $$
        update public.active_subscriptions_v2
        set data_types = '{quote,profile,ratios-ttm}', last_seen_at = now(), expires_at = now() + interval '10 minutes'
        where symbol = 'AAPL'
        returning symbol, data_types
    $$,
    $$ values ('AAPL', '{quote,profile,ratios-ttm}'::text[]) $$,
    'alice can renew her own subscription (heartbeat columns)'
);
select results_eq(
    $$
        insert into public.active_subscriptions_v2 (symbol, data_types, expires_at)
        values ('AAPL', '{quote}', now() + interval '5 minutes')
        on conflict (user_id, client_id, symbol) do update
            set data_types = excluded.data_types, last_seen_at = excluded.last_seen_at,
                expires_at = excluded.expires_at
        returning symbol, data_types
    $$,
    $$ values ('AAPL', '{quote}'::text[]) $$,
    'alice can upsert her subscription by (user, client, symbol)'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('AAPL', now() + interval '5 minutes') $$,
    '23505', 'duplicate key value violates unique constraint "active_subscriptions_v2_user_client_symbol_key"',
    'one subscription per user, client and symbol'
);

-- CHECK constraints, as alice.
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('aapl', now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_symbol_check"',
    'a lower-case symbol is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('AAPL; DROP', now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_symbol_check"',
    'a symbol with a space or separator is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('', now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_symbol_check"',
    'an empty symbol is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values (repeat('A', 21), now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_symbol_check"',
    'a symbol longer than 20 characters is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('-AAPL', now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_symbol_check"',
    'a symbol starting with punctuation other than ^ is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (client_id, symbol, expires_at) values ('', 'IBM', now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_client_id_check"',
    'an empty client id is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (client_id, symbol, expires_at) values (repeat('c', 65), 'IBM', now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_client_id_check"',
    'a client id longer than 64 characters is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, data_types, expires_at) values ('IBM', '{quote,NULL}', now() + interval '5 minutes') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_data_types_check"',
    'a null data type is rejected'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('IBM', now() - interval '1 second') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_expires_at_check"',
    'a subscription cannot expire before it was last seen'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('IBM', now() + interval '2 days') $$,
    '23514', 'new row for relation "active_subscriptions_v2" violates check constraint "active_subscriptions_v2_expires_at_check"',
    'a heartbeat cannot keep a subscription alive for more than a day'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol) values ('IBM') $$,
    '23502', 'null value in column "expires_at" of relation "active_subscriptions_v2" violates not-null constraint',
    'expires_at is required'
);
select tests.clear_authentication();

-- bob.
select tests.authenticate_as('bob');
select results_eq(
    $$ select symbol, data_types from public.active_subscriptions_v2 order by symbol $$,
    $$ values ('MSFT', '{quote}'::text[]) $$,
    'bob sees only his own subscription, unchanged by alice'
);
select is_empty(
    $$ delete from public.active_subscriptions_v2 where symbol = 'AAPL' returning id $$,
    'bob cannot delete alice''s subscription'
);
select results_eq(
    $$ delete from public.active_subscriptions_v2 where symbol = 'MSFT' returning symbol $$,
    $$ values ('MSFT') $$,
    'bob can delete his own subscription'
);
select tests.clear_authentication();

-- anon: no access at all.
select tests.authenticate_as_anon();
select throws_ok(
    $$ select symbol from public.active_subscriptions_v2 $$,
    '42501', 'permission denied for table active_subscriptions_v2',
    'anon cannot read subscriptions'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('AAPL', now() + interval '5 minutes') $$,
    '42501', 'permission denied for table active_subscriptions_v2',
    'anon cannot subscribe'
);
select throws_ok(
    $$ delete from public.active_subscriptions_v2 $$,
    '42501', 'permission denied for table active_subscriptions_v2',
    'anon cannot delete subscriptions'
);
select tests.clear_authentication();

-- service_role: everything, for every user.
select tests.authenticate_as_service_role();
select results_eq(
    $$
        select symbol from public.active_subscriptions_v2 order by symbol
    $$,
    $$ values ('AAPL'), ('BRK-B'), ('RELIANCE.NS'), ('^GSPC') $$,
    'service_role sees every remaining subscription'
);
select lives_ok(
    $$
        update public.active_subscriptions_v2
        set user_id = current_setting('kf.bob')::uuid
        where symbol = '^GSPC'
    $$,
    'service_role can reassign a subscription'
);
select throws_ok(
    $$ insert into public.active_subscriptions_v2 (symbol, expires_at) values ('NVDA', now() + interval '5 minutes') $$,
    '23502', 'null value in column "user_id" of relation "active_subscriptions_v2" violates not-null constraint',
    'service_role must name the user: there is no auth.uid() to default to'
);
select lives_ok(
    $$ delete from public.active_subscriptions_v2 where expires_at < now() + interval '1 hour' $$,
    'service_role can delete expired subscriptions of every user'
);
select tests.clear_authentication();

-- Deleting a user deletes their subscriptions.
insert into public.active_subscriptions_v2 (user_id, symbol, expires_at)
values (current_setting('kf.bob')::uuid, 'AMD', now() + interval '5 minutes');
delete from auth.users where id = current_setting('kf.bob')::uuid;
select is_empty(
    $$ select id from public.active_subscriptions_v2 where user_id = current_setting('kf.bob')::uuid $$,
    'deleting bob from auth.users deletes his subscriptions'
);

select * from finish();
rollback;
