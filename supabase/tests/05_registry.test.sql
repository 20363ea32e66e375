-- data_type_registry_v2: the eleven seeded FMP types, every CHECK constraint rejecting bad
-- input with its own name, and read-only access for clients (authenticated reads, anon has
-- nothing, service_role writes).
begin;
set search_path = extensions, public;
select plan(44);

-- Seeded rows.
select results_eq(
    $$
        select data_type, key_kind, target_table, calls_per_job, refresh_strategy, priority
        from public.data_type_registry_v2
        order by data_type
    $$,
    $$
        values
            ('available-exchanges', 'none', 'public.fmp_available_exchange', 1, 'on_demand', 10),
            ('dividend-history', 'symbol', 'public.fmp_dividend', 1, 'on_demand', 40),
            ('exchange-market-status', 'none', 'public.fmp_exchange_market_status', 1, 'scheduled', -1),
            ('exchange-variants', 'symbol', 'public.fmp_exchange_variant', 1, 'on_demand', 20),
            ('financial-statements', 'symbol', 'public.fmp_financial_statement', 3, 'on_demand', 50),
            ('grades-historical', 'symbol', 'public.fmp_grades_historical', 1, 'on_demand', 30),
            ('profile', 'symbol', 'public.fmp_profile', 1, 'on_demand', 80),
            ('quote', 'symbol', 'public.fmp_quote', 1, 'on_demand', 90),
            ('ratios-ttm', 'symbol', 'public.fmp_ratios_ttm', 1, 'on_demand', 60),
            ('revenue-segmentation', 'symbol', 'public.fmp_revenue_segmentation', 2, 'on_demand', 30),
            ('shares-float', 'symbol', 'public.fmp_shares_float', 1, 'on_demand', 40)
    $$,
    'the eleven FMP data types are seeded with their key kind, target, cost, strategy and priority'
);
-- The seed leaves every type disabled; the migration that ships a type's table and fetcher
-- enables it. Whatever is enabled must have its target table and timestamp column.
select is_empty(
    $$
        select r.data_type
        from public.data_type_registry_v2 as r
        where r.enabled
            and not exists (
                select 1
                from pg_catalog.pg_attribute as a
                where a.attrelid = pg_catalog.to_regclass(r.target_table)
                    and a.attname = r.timestamp_column
                    and not a.attisdropped
            )
        order by 1
    $$,
    'every enabled data type has its target table and timestamp column'
);
select is_empty(
    $$
        select data_type from public.data_type_registry_v2
        where provider <> 'fmp' or timestamp_column <> 'fetched_at'
        order by 1
    $$,
    'every seeded type is an fmp type stamped by fetched_at'
);
select results_eq(
    $$ select ttl_seconds, market_closed_ttl_seconds from public.data_type_registry_v2 where data_type = 'quote' $$,
    $$ values (60, 3600) $$,
    'quotes are fresh for 60 s, and for an hour while the market is closed'
);
select is_empty(
    $$
        select data_type from public.data_type_registry_v2
        where data_type <> 'quote' and market_closed_ttl_seconds is not null
        order by 1
    $$,
    'only quotes have a market-closed TTL'
);
select results_eq(
    $$
        select ttl_seconds, schedule_seconds
        from public.data_type_registry_v2
        where data_type = 'exchange-market-status'
    $$,
    $$ values (300, 300) $$,
    'market status is scheduled every 5 minutes'
);
select is_empty(
    $$
        select data_type from public.data_type_registry_v2
        where endpoint not like '/stable/%'
        order by 1
    $$,
    'every seeded endpoint is a /stable endpoint'
);

-- CHECK constraints, one by one, on a seeded row.
select throws_ok(
    $$ update public.data_type_registry_v2 set data_type = 'Bad Type' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_data_type_check"',
    'data_type must be a lowercase slug'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set data_type = 'q' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_data_type_check"',
    'data_type needs at least two characters'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set provider = 'FMP!' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_provider_check"',
    'provider must be a lowercase slug'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set key_kind = 'isin' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_key_kind_check"',
    'key_kind is symbol, exchange or none'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set target_table = 'public.fmp_quote; drop table public.feature_flags' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_target_table_check"',
    'a hostile target_table is rejected'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set target_table = 'fmp_quote' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_target_table_check"',
    'target_table must be schema-qualified'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set timestamp_column = 'fetched_at"; --' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_timestamp_column_check"',
    'a hostile timestamp_column is rejected'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set ttl_seconds = 0 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_ttl_seconds_check"',
    'ttl_seconds must be positive'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set market_closed_ttl_seconds = 0 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_market_closed_ttl_seconds_check"',
    'market_closed_ttl_seconds must be positive when set'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set calls_per_job = 0 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_calls_per_job_check"',
    'calls_per_job is at least 1'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set calls_per_job = 11 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_calls_per_job_check"',
    'calls_per_job is at most 10'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set refresh_strategy = 'sometimes' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_refresh_strategy_check"',
    'refresh_strategy is on_demand, scheduled or both'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set schedule_seconds = 0 where data_type = 'exchange-market-status' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_schedule_seconds_check"',
    'schedule_seconds must be positive when set'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set schedule_seconds = null where data_type = 'exchange-market-status' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_schedule_required_check"',
    'a scheduled type needs schedule_seconds'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set refresh_strategy = 'both' where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_schedule_required_check"',
    'a type refreshed on demand and on schedule needs schedule_seconds'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set priority = 101 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_priority_check"',
    'priority is at most 100'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set priority = -2 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_priority_check"',
    'priority is at least -1 (background)'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set estimated_bytes = 0 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_estimated_bytes_check"',
    'estimated_bytes must be positive'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set max_attempts = 0 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_max_attempts_check"',
    'max_attempts is at least 1'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set max_attempts = 21 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_max_attempts_check"',
    'max_attempts is at most 20'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set empty_cooldown_seconds = -1 where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_empty_cooldown_seconds_check"',
    'empty_cooldown_seconds cannot be negative'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set endpoint = repeat('x', 501) where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_endpoint_check"',
    'endpoint is at most 500 characters'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set description = repeat('x', 1001) where data_type = 'quote' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_description_check"',
    'description is at most 1000 characters'
);
select throws_ok(
    $$
        insert into public.data_type_registry_v2
            (data_type, key_kind, target_table, timestamp_column, refresh_strategy, estimated_bytes)
        values ('new-type', 'symbol', 'public.new_type', 'fetched_at', 'on_demand', 1000)
    $$,
    '23502', 'null value in column "ttl_seconds" of relation "data_type_registry_v2" violates not-null constraint',
    'ttl_seconds is required'
);

-- authenticated: read only.
select tests.create_supabase_user('registry_reader');
select tests.authenticate_as('registry_reader');
select is(
    (select count(*) from public.data_type_registry_v2), 11::bigint,
    'authenticated can read every registry row'
);
select throws_ok(
    $$
        insert into public.data_type_registry_v2
            (data_type, key_kind, target_table, timestamp_column, ttl_seconds, refresh_strategy, estimated_bytes)
        values ('sneaky', 'symbol', 'public.sneaky', 'fetched_at', 60, 'on_demand', 1000)
    $$,
    '42501', 'permission denied for table data_type_registry_v2',
    'authenticated cannot insert a data type'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set enabled = true $$,
    '42501', 'permission denied for table data_type_registry_v2',
    'authenticated cannot enable a data type'
);
select throws_ok(
    $$ delete from public.data_type_registry_v2 $$,
    '42501', 'permission denied for table data_type_registry_v2',
    'authenticated cannot delete a data type'
);
select throws_ok(
    $$ select public.is_valid_identifier('x') $$,
    '42501', 'permission denied for function is_valid_identifier',
    'authenticated cannot call is_valid_identifier'
);
select tests.clear_authentication();

-- anon: nothing.
select tests.authenticate_as_anon();
select throws_ok(
    $$ select data_type from public.data_type_registry_v2 $$,
    '42501', 'permission denied for table data_type_registry_v2',
    'anon cannot read the registry'
);
select throws_ok(
    $$ select public.is_valid_qualified_name('public.x') $$,
    '42501', 'permission denied for function is_valid_qualified_name',
    'anon cannot call is_valid_qualified_name'
);
select tests.clear_authentication();

-- service_role: writes; the CHECK constraints run with its privileges.
select tests.authenticate_as_service_role();
select lives_ok(
    $$
        insert into public.data_type_registry_v2 (
            data_type, key_kind, target_table, timestamp_column, ttl_seconds, refresh_strategy,
            schedule_seconds, estimated_bytes, updated_at
        )
        values ('test-type', 'exchange', 'public.test_type', 'fetched_at', 60, 'both', 600, 1000, '2000-01-01')
    $$,
    'service_role can register a data type'
);
select throws_ok(
    $$ update public.data_type_registry_v2 set target_table = 'public.x y' where data_type = 'test-type' $$,
    '23514', 'new row for relation "data_type_registry_v2" violates check constraint "data_type_registry_v2_target_table_check"',
    'service_role writes are validated too'
);
select lives_ok(
    $$ update public.data_type_registry_v2 set estimated_bytes = 1500 where data_type = 'test-type' $$,
    'service_role can correct estimated_bytes'
);
select results_eq(
    $$
        select provider, calls_per_job, priority, max_attempts, empty_cooldown_seconds, enabled,
            updated_at = now()
        from public.data_type_registry_v2
        where data_type = 'test-type'
    $$,
    $$ values ('fmp', 1, 0, 5, 3600, false, true) $$,
    'defaults apply (fmp, 1 call, priority 0, 5 attempts, 1 h cooldown, disabled) and updated_at is stamped'
);
select is(
    (select count(*) from public.data_type_registry_v2), 12::bigint,
    'service_role reads every row'
);
select lives_ok(
    $$ delete from public.data_type_registry_v2 where data_type = 'test-type' $$,
    'service_role can remove a data type'
);
select tests.clear_authentication();

select * from finish();
rollback;
