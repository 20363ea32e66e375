-- FMP target tables (20261122170000_create_fmp_target_tables): structure (primary keys,
-- exact columns, source_timestamp and fetched_at), RLS with one read policy each, privileges
-- per role, and behaviour: authenticated and service_role read, nobody but the table owner
-- writes, anon sees nothing; plus the registry wiring and the sanity CHECKs.
begin;
set search_path = extensions, public;
select plan(228);

-- fmp_quote -------------------------------------------------------------------------------
select has_table('public', 'fmp_quote', 'fmp_quote exists');
select col_is_pk('public', 'fmp_quote', array['symbol'], 'fmp_quote is keyed by (symbol)');
select columns_are(
    'public', 'fmp_quote',
    array[
        'symbol', 'name', 'price', 'change', 'change_percentage', 'volume', 'day_low', 'day_high',
        'year_low', 'year_high', 'market_cap', 'price_avg_50', 'price_avg_200', 'exchange', 'open',
        'previous_close', 'source_timestamp', 'fetched_at'
    ],
    'fmp_quote has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_quote', 'source_timestamp', 'timestamp with time zone', 'fmp_quote.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_quote', 'fetched_at', 'now()', 'fmp_quote.fetched_at defaults to now()');
select col_not_null('public', 'fmp_quote', 'fetched_at', 'fmp_quote.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_quote'::regclass),
    'RLS is enabled on fmp_quote'
);
select policies_are('public', 'fmp_quote', array['Authenticated users can read quotes'], 'fmp_quote has only its read policy');
select policy_roles_are('public', 'fmp_quote', 'Authenticated users can read quotes', array['authenticated'], 'the read policy of fmp_quote applies to authenticated only');
select policy_cmd_is('public', 'fmp_quote', 'Authenticated users can read quotes', 'select', 'the read policy of fmp_quote is for select');
select table_privs_are('public', 'fmp_quote', 'anon', array[]::text[], 'anon has no privileges on fmp_quote');
select table_privs_are('public', 'fmp_quote', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_quote');
select table_privs_are('public', 'fmp_quote', 'service_role', array['SELECT'], 'service_role may only select from fmp_quote');
insert into public.fmp_quote (symbol, price) values ('KFTEST', 1);
set local role authenticated;
select is((select count(*)::integer from public.fmp_quote where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_quote');
select throws_ok(
    $$ insert into public.fmp_quote (symbol, price) values ('KFTEST', 1) $$,
    '42501', 'permission denied for table fmp_quote', 'authenticated cannot insert into fmp_quote'
);
select throws_ok(
    $$ update public.fmp_quote set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_quote', 'authenticated cannot update fmp_quote'
);
select throws_ok(
    $$ delete from public.fmp_quote $$,
    '42501', 'permission denied for table fmp_quote', 'authenticated cannot delete from fmp_quote'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_quote $$,
    '42501', 'permission denied for table fmp_quote', 'anon cannot read fmp_quote'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_quote where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_quote');
select throws_ok(
    $$ delete from public.fmp_quote $$,
    '42501', 'permission denied for table fmp_quote', 'service_role cannot delete from fmp_quote: only the processor writes'
);
reset role;

-- fmp_profile -----------------------------------------------------------------------------
select has_table('public', 'fmp_profile', 'fmp_profile exists');
select col_is_pk('public', 'fmp_profile', array['symbol'], 'fmp_profile is keyed by (symbol)');
select columns_are(
    'public', 'fmp_profile',
    array[
        'symbol', 'company_name', 'price', 'market_cap', 'beta', 'last_dividend', 'range', 'change',
        'change_percentage', 'volume', 'average_volume', 'currency', 'cik', 'isin', 'cusip',
        'exchange_full_name', 'exchange', 'industry', 'sector', 'country', 'description', 'ceo',
        'website', 'phone', 'address', 'city', 'state', 'zip', 'image', 'ipo_date',
        'full_time_employees', 'default_image', 'is_etf', 'is_actively_trading', 'is_adr', 'is_fund',
        'source_timestamp', 'fetched_at'
    ],
    'fmp_profile has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_profile', 'source_timestamp', 'timestamp with time zone', 'fmp_profile.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_profile', 'fetched_at', 'now()', 'fmp_profile.fetched_at defaults to now()');
select col_not_null('public', 'fmp_profile', 'fetched_at', 'fmp_profile.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_profile'::regclass),
    'RLS is enabled on fmp_profile'
);
select policies_are('public', 'fmp_profile', array['Authenticated users can read company profiles'], 'fmp_profile has only its read policy');
select policy_roles_are('public', 'fmp_profile', 'Authenticated users can read company profiles', array['authenticated'], 'the read policy of fmp_profile applies to authenticated only');
select policy_cmd_is('public', 'fmp_profile', 'Authenticated users can read company profiles', 'select', 'the read policy of fmp_profile is for select');
select table_privs_are('public', 'fmp_profile', 'anon', array[]::text[], 'anon has no privileges on fmp_profile');
select table_privs_are('public', 'fmp_profile', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_profile');
select table_privs_are('public', 'fmp_profile', 'service_role', array['SELECT'], 'service_role may only select from fmp_profile');
insert into public.fmp_profile (symbol) values ('KFTEST');
set local role authenticated;
select is((select count(*)::integer from public.fmp_profile where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_profile');
select throws_ok(
    $$ insert into public.fmp_profile (symbol) values ('KFTEST') $$,
    '42501', 'permission denied for table fmp_profile', 'authenticated cannot insert into fmp_profile'
);
select throws_ok(
    $$ update public.fmp_profile set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_profile', 'authenticated cannot update fmp_profile'
);
select throws_ok(
    $$ delete from public.fmp_profile $$,
    '42501', 'permission denied for table fmp_profile', 'authenticated cannot delete from fmp_profile'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_profile $$,
    '42501', 'permission denied for table fmp_profile', 'anon cannot read fmp_profile'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_profile where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_profile');
select throws_ok(
    $$ delete from public.fmp_profile $$,
    '42501', 'permission denied for table fmp_profile', 'service_role cannot delete from fmp_profile: only the processor writes'
);
reset role;

-- fmp_financial_statement -----------------------------------------------------------------
select has_table('public', 'fmp_financial_statement', 'fmp_financial_statement exists');
select col_is_pk('public', 'fmp_financial_statement', array['symbol', 'statement', 'period', 'date'], 'fmp_financial_statement is keyed by (symbol, statement, period, date)');
select columns_are(
    'public', 'fmp_financial_statement',
    array[
        'symbol', 'statement', 'period', 'date', 'fiscal_year', 'reported_currency', 'cik',
        'filing_date', 'accepted_date', 'revenue', 'gross_profit', 'operating_income', 'net_income',
        'eps', 'eps_diluted', 'total_assets', 'total_liabilities', 'total_stockholders_equity',
        'total_debt', 'cash_and_cash_equivalents', 'operating_cash_flow', 'capital_expenditure',
        'free_cash_flow', 'data', 'source_timestamp', 'fetched_at'
    ],
    'fmp_financial_statement has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_financial_statement', 'source_timestamp', 'timestamp with time zone', 'fmp_financial_statement.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_financial_statement', 'fetched_at', 'now()', 'fmp_financial_statement.fetched_at defaults to now()');
select col_not_null('public', 'fmp_financial_statement', 'fetched_at', 'fmp_financial_statement.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_financial_statement'::regclass),
    'RLS is enabled on fmp_financial_statement'
);
select policies_are('public', 'fmp_financial_statement', array['Authenticated users can read financial statements'], 'fmp_financial_statement has only its read policy');
select policy_roles_are('public', 'fmp_financial_statement', 'Authenticated users can read financial statements', array['authenticated'], 'the read policy of fmp_financial_statement applies to authenticated only');
select policy_cmd_is('public', 'fmp_financial_statement', 'Authenticated users can read financial statements', 'select', 'the read policy of fmp_financial_statement is for select');
select table_privs_are('public', 'fmp_financial_statement', 'anon', array[]::text[], 'anon has no privileges on fmp_financial_statement');
select table_privs_are('public', 'fmp_financial_statement', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_financial_statement');
select table_privs_are('public', 'fmp_financial_statement', 'service_role', array['SELECT'], 'service_role may only select from fmp_financial_statement');
insert into public.fmp_financial_statement (symbol, statement, period, date, data) values ('KFTEST', 'income', 'FY', '2025-09-30', '{}');
set local role authenticated;
select is((select count(*)::integer from public.fmp_financial_statement where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_financial_statement');
select throws_ok(
    $$ insert into public.fmp_financial_statement (symbol, statement, period, date, data) values ('KFTEST', 'income', 'FY', '2025-09-30', '{}') $$,
    '42501', 'permission denied for table fmp_financial_statement', 'authenticated cannot insert into fmp_financial_statement'
);
select throws_ok(
    $$ update public.fmp_financial_statement set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_financial_statement', 'authenticated cannot update fmp_financial_statement'
);
select throws_ok(
    $$ delete from public.fmp_financial_statement $$,
    '42501', 'permission denied for table fmp_financial_statement', 'authenticated cannot delete from fmp_financial_statement'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_financial_statement $$,
    '42501', 'permission denied for table fmp_financial_statement', 'anon cannot read fmp_financial_statement'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_financial_statement where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_financial_statement');
select throws_ok(
    $$ delete from public.fmp_financial_statement $$,
    '42501', 'permission denied for table fmp_financial_statement', 'service_role cannot delete from fmp_financial_statement: only the processor writes'
);
reset role;

-- fmp_ratios_ttm --------------------------------------------------------------------------
select has_table('public', 'fmp_ratios_ttm', 'fmp_ratios_ttm exists');
select col_is_pk('public', 'fmp_ratios_ttm', array['symbol'], 'fmp_ratios_ttm is keyed by (symbol)');
select columns_are(
    'public', 'fmp_ratios_ttm',
    array[
        'symbol', 'gross_profit_margin_ttm', 'operating_profit_margin_ttm', 'net_profit_margin_ttm',
        'current_ratio_ttm', 'debt_to_equity_ratio_ttm', 'price_to_earnings_ratio_ttm',
        'price_to_book_ratio_ttm', 'dividend_yield_ttm', 'data', 'source_timestamp', 'fetched_at'
    ],
    'fmp_ratios_ttm has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_ratios_ttm', 'source_timestamp', 'timestamp with time zone', 'fmp_ratios_ttm.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_ratios_ttm', 'fetched_at', 'now()', 'fmp_ratios_ttm.fetched_at defaults to now()');
select col_not_null('public', 'fmp_ratios_ttm', 'fetched_at', 'fmp_ratios_ttm.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_ratios_ttm'::regclass),
    'RLS is enabled on fmp_ratios_ttm'
);
select policies_are('public', 'fmp_ratios_ttm', array['Authenticated users can read ttm ratios'], 'fmp_ratios_ttm has only its read policy');
select policy_roles_are('public', 'fmp_ratios_ttm', 'Authenticated users can read ttm ratios', array['authenticated'], 'the read policy of fmp_ratios_ttm applies to authenticated only');
select policy_cmd_is('public', 'fmp_ratios_ttm', 'Authenticated users can read ttm ratios', 'select', 'the read policy of fmp_ratios_ttm is for select');
select table_privs_are('public', 'fmp_ratios_ttm', 'anon', array[]::text[], 'anon has no privileges on fmp_ratios_ttm');
select table_privs_are('public', 'fmp_ratios_ttm', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_ratios_ttm');
select table_privs_are('public', 'fmp_ratios_ttm', 'service_role', array['SELECT'], 'service_role may only select from fmp_ratios_ttm');
insert into public.fmp_ratios_ttm (symbol, data) values ('KFTEST', '{}');
set local role authenticated;
select is((select count(*)::integer from public.fmp_ratios_ttm where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_ratios_ttm');
select throws_ok(
    $$ insert into public.fmp_ratios_ttm (symbol, data) values ('KFTEST', '{}') $$,
    '42501', 'permission denied for table fmp_ratios_ttm', 'authenticated cannot insert into fmp_ratios_ttm'
);
select throws_ok(
    $$ update public.fmp_ratios_ttm set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_ratios_ttm', 'authenticated cannot update fmp_ratios_ttm'
);
select throws_ok(
    $$ delete from public.fmp_ratios_ttm $$,
    '42501', 'permission denied for table fmp_ratios_ttm', 'authenticated cannot delete from fmp_ratios_ttm'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_ratios_ttm $$,
    '42501', 'permission denied for table fmp_ratios_ttm', 'anon cannot read fmp_ratios_ttm'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_ratios_ttm where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_ratios_ttm');
select throws_ok(
    $$ delete from public.fmp_ratios_ttm $$,
    '42501', 'permission denied for table fmp_ratios_ttm', 'service_role cannot delete from fmp_ratios_ttm: only the processor writes'
);
reset role;

-- fmp_dividend ----------------------------------------------------------------------------
select has_table('public', 'fmp_dividend', 'fmp_dividend exists');
select col_is_pk('public', 'fmp_dividend', array['symbol', 'date'], 'fmp_dividend is keyed by (symbol, date)');
select columns_are(
    'public', 'fmp_dividend',
    array[
        'symbol', 'date', 'record_date', 'payment_date', 'declaration_date', 'adj_dividend',
        'dividend', 'yield', 'frequency', 'source_timestamp', 'fetched_at'
    ],
    'fmp_dividend has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_dividend', 'source_timestamp', 'timestamp with time zone', 'fmp_dividend.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_dividend', 'fetched_at', 'now()', 'fmp_dividend.fetched_at defaults to now()');
select col_not_null('public', 'fmp_dividend', 'fetched_at', 'fmp_dividend.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_dividend'::regclass),
    'RLS is enabled on fmp_dividend'
);
select policies_are('public', 'fmp_dividend', array['Authenticated users can read dividends'], 'fmp_dividend has only its read policy');
select policy_roles_are('public', 'fmp_dividend', 'Authenticated users can read dividends', array['authenticated'], 'the read policy of fmp_dividend applies to authenticated only');
select policy_cmd_is('public', 'fmp_dividend', 'Authenticated users can read dividends', 'select', 'the read policy of fmp_dividend is for select');
select table_privs_are('public', 'fmp_dividend', 'anon', array[]::text[], 'anon has no privileges on fmp_dividend');
select table_privs_are('public', 'fmp_dividend', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_dividend');
select table_privs_are('public', 'fmp_dividend', 'service_role', array['SELECT'], 'service_role may only select from fmp_dividend');
insert into public.fmp_dividend (symbol, date) values ('KFTEST', '2025-02-10');
set local role authenticated;
select is((select count(*)::integer from public.fmp_dividend where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_dividend');
select throws_ok(
    $$ insert into public.fmp_dividend (symbol, date) values ('KFTEST', '2025-02-10') $$,
    '42501', 'permission denied for table fmp_dividend', 'authenticated cannot insert into fmp_dividend'
);
select throws_ok(
    $$ update public.fmp_dividend set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_dividend', 'authenticated cannot update fmp_dividend'
);
select throws_ok(
    $$ delete from public.fmp_dividend $$,
    '42501', 'permission denied for table fmp_dividend', 'authenticated cannot delete from fmp_dividend'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_dividend $$,
    '42501', 'permission denied for table fmp_dividend', 'anon cannot read fmp_dividend'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_dividend where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_dividend');
select throws_ok(
    $$ delete from public.fmp_dividend $$,
    '42501', 'permission denied for table fmp_dividend', 'service_role cannot delete from fmp_dividend: only the processor writes'
);
reset role;

-- fmp_shares_float ------------------------------------------------------------------------
select has_table('public', 'fmp_shares_float', 'fmp_shares_float exists');
select col_is_pk('public', 'fmp_shares_float', array['symbol'], 'fmp_shares_float is keyed by (symbol)');
select columns_are(
    'public', 'fmp_shares_float',
    array[
        'symbol', 'free_float', 'float_shares', 'outstanding_shares', 'source_url',
        'source_timestamp', 'fetched_at'
    ],
    'fmp_shares_float has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_shares_float', 'source_timestamp', 'timestamp with time zone', 'fmp_shares_float.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_shares_float', 'fetched_at', 'now()', 'fmp_shares_float.fetched_at defaults to now()');
select col_not_null('public', 'fmp_shares_float', 'fetched_at', 'fmp_shares_float.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_shares_float'::regclass),
    'RLS is enabled on fmp_shares_float'
);
select policies_are('public', 'fmp_shares_float', array['Authenticated users can read shares float'], 'fmp_shares_float has only its read policy');
select policy_roles_are('public', 'fmp_shares_float', 'Authenticated users can read shares float', array['authenticated'], 'the read policy of fmp_shares_float applies to authenticated only');
select policy_cmd_is('public', 'fmp_shares_float', 'Authenticated users can read shares float', 'select', 'the read policy of fmp_shares_float is for select');
select table_privs_are('public', 'fmp_shares_float', 'anon', array[]::text[], 'anon has no privileges on fmp_shares_float');
select table_privs_are('public', 'fmp_shares_float', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_shares_float');
select table_privs_are('public', 'fmp_shares_float', 'service_role', array['SELECT'], 'service_role may only select from fmp_shares_float');
insert into public.fmp_shares_float (symbol) values ('KFTEST');
set local role authenticated;
select is((select count(*)::integer from public.fmp_shares_float where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_shares_float');
select throws_ok(
    $$ insert into public.fmp_shares_float (symbol) values ('KFTEST') $$,
    '42501', 'permission denied for table fmp_shares_float', 'authenticated cannot insert into fmp_shares_float'
);
select throws_ok(
    $$ update public.fmp_shares_float set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_shares_float', 'authenticated cannot update fmp_shares_float'
);
select throws_ok(
    $$ delete from public.fmp_shares_float $$,
    '42501', 'permission denied for table fmp_shares_float', 'authenticated cannot delete from fmp_shares_float'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_shares_float $$,
    '42501', 'permission denied for table fmp_shares_float', 'anon cannot read fmp_shares_float'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_shares_float where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_shares_float');
select throws_ok(
    $$ delete from public.fmp_shares_float $$,
    '42501', 'permission denied for table fmp_shares_float', 'service_role cannot delete from fmp_shares_float: only the processor writes'
);
reset role;

-- fmp_revenue_segmentation ----------------------------------------------------------------
select has_table('public', 'fmp_revenue_segmentation', 'fmp_revenue_segmentation exists');
select col_is_pk('public', 'fmp_revenue_segmentation', array['symbol', 'kind', 'period', 'date'], 'fmp_revenue_segmentation is keyed by (symbol, kind, period, date)');
select columns_are(
    'public', 'fmp_revenue_segmentation',
    array[
        'symbol', 'kind', 'period', 'date', 'fiscal_year', 'reported_currency', 'data',
        'source_timestamp', 'fetched_at'
    ],
    'fmp_revenue_segmentation has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_revenue_segmentation', 'source_timestamp', 'timestamp with time zone', 'fmp_revenue_segmentation.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_revenue_segmentation', 'fetched_at', 'now()', 'fmp_revenue_segmentation.fetched_at defaults to now()');
select col_not_null('public', 'fmp_revenue_segmentation', 'fetched_at', 'fmp_revenue_segmentation.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_revenue_segmentation'::regclass),
    'RLS is enabled on fmp_revenue_segmentation'
);
select policies_are('public', 'fmp_revenue_segmentation', array['Authenticated users can read revenue segments'], 'fmp_revenue_segmentation has only its read policy');
select policy_roles_are('public', 'fmp_revenue_segmentation', 'Authenticated users can read revenue segments', array['authenticated'], 'the read policy of fmp_revenue_segmentation applies to authenticated only');
select policy_cmd_is('public', 'fmp_revenue_segmentation', 'Authenticated users can read revenue segments', 'select', 'the read policy of fmp_revenue_segmentation is for select');
select table_privs_are('public', 'fmp_revenue_segmentation', 'anon', array[]::text[], 'anon has no privileges on fmp_revenue_segmentation');
select table_privs_are('public', 'fmp_revenue_segmentation', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_revenue_segmentation');
select table_privs_are('public', 'fmp_revenue_segmentation', 'service_role', array['SELECT'], 'service_role may only select from fmp_revenue_segmentation');
insert into public.fmp_revenue_segmentation (symbol, kind, period, date, data) values ('KFTEST', 'product', 'FY', '2025-09-30', '{}');
set local role authenticated;
select is((select count(*)::integer from public.fmp_revenue_segmentation where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_revenue_segmentation');
select throws_ok(
    $$ insert into public.fmp_revenue_segmentation (symbol, kind, period, date, data) values ('KFTEST', 'product', 'FY', '2025-09-30', '{}') $$,
    '42501', 'permission denied for table fmp_revenue_segmentation', 'authenticated cannot insert into fmp_revenue_segmentation'
);
select throws_ok(
    $$ update public.fmp_revenue_segmentation set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_revenue_segmentation', 'authenticated cannot update fmp_revenue_segmentation'
);
select throws_ok(
    $$ delete from public.fmp_revenue_segmentation $$,
    '42501', 'permission denied for table fmp_revenue_segmentation', 'authenticated cannot delete from fmp_revenue_segmentation'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_revenue_segmentation $$,
    '42501', 'permission denied for table fmp_revenue_segmentation', 'anon cannot read fmp_revenue_segmentation'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_revenue_segmentation where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_revenue_segmentation');
select throws_ok(
    $$ delete from public.fmp_revenue_segmentation $$,
    '42501', 'permission denied for table fmp_revenue_segmentation', 'service_role cannot delete from fmp_revenue_segmentation: only the processor writes'
);
reset role;

-- fmp_grades_historical -------------------------------------------------------------------
select has_table('public', 'fmp_grades_historical', 'fmp_grades_historical exists');
select col_is_pk('public', 'fmp_grades_historical', array['symbol', 'date'], 'fmp_grades_historical is keyed by (symbol, date)');
select columns_are(
    'public', 'fmp_grades_historical',
    array[
        'symbol', 'date', 'analyst_ratings_strong_buy', 'analyst_ratings_buy',
        'analyst_ratings_hold', 'analyst_ratings_sell', 'analyst_ratings_strong_sell',
        'source_timestamp', 'fetched_at'
    ],
    'fmp_grades_historical has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_grades_historical', 'source_timestamp', 'timestamp with time zone', 'fmp_grades_historical.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_grades_historical', 'fetched_at', 'now()', 'fmp_grades_historical.fetched_at defaults to now()');
select col_not_null('public', 'fmp_grades_historical', 'fetched_at', 'fmp_grades_historical.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_grades_historical'::regclass),
    'RLS is enabled on fmp_grades_historical'
);
select policies_are('public', 'fmp_grades_historical', array['Authenticated users can read historical grades'], 'fmp_grades_historical has only its read policy');
select policy_roles_are('public', 'fmp_grades_historical', 'Authenticated users can read historical grades', array['authenticated'], 'the read policy of fmp_grades_historical applies to authenticated only');
select policy_cmd_is('public', 'fmp_grades_historical', 'Authenticated users can read historical grades', 'select', 'the read policy of fmp_grades_historical is for select');
select table_privs_are('public', 'fmp_grades_historical', 'anon', array[]::text[], 'anon has no privileges on fmp_grades_historical');
select table_privs_are('public', 'fmp_grades_historical', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_grades_historical');
select table_privs_are('public', 'fmp_grades_historical', 'service_role', array['SELECT'], 'service_role may only select from fmp_grades_historical');
insert into public.fmp_grades_historical (symbol, date) values ('KFTEST', '2025-02-01');
set local role authenticated;
select is((select count(*)::integer from public.fmp_grades_historical where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_grades_historical');
select throws_ok(
    $$ insert into public.fmp_grades_historical (symbol, date) values ('KFTEST', '2025-02-01') $$,
    '42501', 'permission denied for table fmp_grades_historical', 'authenticated cannot insert into fmp_grades_historical'
);
select throws_ok(
    $$ update public.fmp_grades_historical set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_grades_historical', 'authenticated cannot update fmp_grades_historical'
);
select throws_ok(
    $$ delete from public.fmp_grades_historical $$,
    '42501', 'permission denied for table fmp_grades_historical', 'authenticated cannot delete from fmp_grades_historical'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_grades_historical $$,
    '42501', 'permission denied for table fmp_grades_historical', 'anon cannot read fmp_grades_historical'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_grades_historical where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_grades_historical');
select throws_ok(
    $$ delete from public.fmp_grades_historical $$,
    '42501', 'permission denied for table fmp_grades_historical', 'service_role cannot delete from fmp_grades_historical: only the processor writes'
);
reset role;

-- fmp_exchange_variant --------------------------------------------------------------------
select has_table('public', 'fmp_exchange_variant', 'fmp_exchange_variant exists');
select col_is_pk('public', 'fmp_exchange_variant', array['symbol', 'variant_symbol'], 'fmp_exchange_variant is keyed by (symbol, variant_symbol)');
select columns_are(
    'public', 'fmp_exchange_variant',
    array[
        'symbol', 'variant_symbol', 'company_name', 'price', 'market_cap', 'beta', 'last_dividend',
        'range', 'change', 'change_percentage', 'volume', 'average_volume', 'currency', 'cik',
        'isin', 'cusip', 'exchange_full_name', 'exchange', 'industry', 'sector', 'country',
        'description', 'ceo', 'website', 'phone', 'address', 'city', 'state', 'zip', 'image',
        'ipo_date', 'full_time_employees', 'default_image', 'is_etf', 'is_actively_trading',
        'is_adr', 'is_fund', 'source_timestamp', 'fetched_at'
    ],
    'fmp_exchange_variant has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_exchange_variant', 'source_timestamp', 'timestamp with time zone', 'fmp_exchange_variant.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_exchange_variant', 'fetched_at', 'now()', 'fmp_exchange_variant.fetched_at defaults to now()');
select col_not_null('public', 'fmp_exchange_variant', 'fetched_at', 'fmp_exchange_variant.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_exchange_variant'::regclass),
    'RLS is enabled on fmp_exchange_variant'
);
select policies_are('public', 'fmp_exchange_variant', array['Authenticated users can read exchange variants'], 'fmp_exchange_variant has only its read policy');
select policy_roles_are('public', 'fmp_exchange_variant', 'Authenticated users can read exchange variants', array['authenticated'], 'the read policy of fmp_exchange_variant applies to authenticated only');
select policy_cmd_is('public', 'fmp_exchange_variant', 'Authenticated users can read exchange variants', 'select', 'the read policy of fmp_exchange_variant is for select');
select table_privs_are('public', 'fmp_exchange_variant', 'anon', array[]::text[], 'anon has no privileges on fmp_exchange_variant');
select table_privs_are('public', 'fmp_exchange_variant', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_exchange_variant');
select table_privs_are('public', 'fmp_exchange_variant', 'service_role', array['SELECT'], 'service_role may only select from fmp_exchange_variant');
insert into public.fmp_exchange_variant (symbol, variant_symbol) values ('KFTEST', 'KFTEST.DE');
set local role authenticated;
select is((select count(*)::integer from public.fmp_exchange_variant where symbol = 'KFTEST'), 1, 'authenticated reads the rows of fmp_exchange_variant');
select throws_ok(
    $$ insert into public.fmp_exchange_variant (symbol, variant_symbol) values ('KFTEST', 'KFTEST.DE') $$,
    '42501', 'permission denied for table fmp_exchange_variant', 'authenticated cannot insert into fmp_exchange_variant'
);
select throws_ok(
    $$ update public.fmp_exchange_variant set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_exchange_variant', 'authenticated cannot update fmp_exchange_variant'
);
select throws_ok(
    $$ delete from public.fmp_exchange_variant $$,
    '42501', 'permission denied for table fmp_exchange_variant', 'authenticated cannot delete from fmp_exchange_variant'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_exchange_variant $$,
    '42501', 'permission denied for table fmp_exchange_variant', 'anon cannot read fmp_exchange_variant'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_exchange_variant where symbol = 'KFTEST'), 1, 'service_role reads the rows of fmp_exchange_variant');
select throws_ok(
    $$ delete from public.fmp_exchange_variant $$,
    '42501', 'permission denied for table fmp_exchange_variant', 'service_role cannot delete from fmp_exchange_variant: only the processor writes'
);
reset role;

-- fmp_available_exchange ------------------------------------------------------------------
select has_table('public', 'fmp_available_exchange', 'fmp_available_exchange exists');
select col_is_pk('public', 'fmp_available_exchange', array['exchange'], 'fmp_available_exchange is keyed by (exchange)');
select columns_are(
    'public', 'fmp_available_exchange',
    array[
        'exchange', 'name', 'country_name', 'country_code', 'symbol_suffix', 'delay',
        'source_timestamp', 'fetched_at'
    ],
    'fmp_available_exchange has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_available_exchange', 'source_timestamp', 'timestamp with time zone', 'fmp_available_exchange.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_available_exchange', 'fetched_at', 'now()', 'fmp_available_exchange.fetched_at defaults to now()');
select col_not_null('public', 'fmp_available_exchange', 'fetched_at', 'fmp_available_exchange.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_available_exchange'::regclass),
    'RLS is enabled on fmp_available_exchange'
);
select policies_are('public', 'fmp_available_exchange', array['Authenticated users can read available exchanges'], 'fmp_available_exchange has only its read policy');
select policy_roles_are('public', 'fmp_available_exchange', 'Authenticated users can read available exchanges', array['authenticated'], 'the read policy of fmp_available_exchange applies to authenticated only');
select policy_cmd_is('public', 'fmp_available_exchange', 'Authenticated users can read available exchanges', 'select', 'the read policy of fmp_available_exchange is for select');
select table_privs_are('public', 'fmp_available_exchange', 'anon', array[]::text[], 'anon has no privileges on fmp_available_exchange');
select table_privs_are('public', 'fmp_available_exchange', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_available_exchange');
select table_privs_are('public', 'fmp_available_exchange', 'service_role', array['SELECT'], 'service_role may only select from fmp_available_exchange');
insert into public.fmp_available_exchange (exchange) values ('KFTEST');
set local role authenticated;
select is((select count(*)::integer from public.fmp_available_exchange where exchange = 'KFTEST'), 1, 'authenticated reads the rows of fmp_available_exchange');
select throws_ok(
    $$ insert into public.fmp_available_exchange (exchange) values ('KFTEST') $$,
    '42501', 'permission denied for table fmp_available_exchange', 'authenticated cannot insert into fmp_available_exchange'
);
select throws_ok(
    $$ update public.fmp_available_exchange set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_available_exchange', 'authenticated cannot update fmp_available_exchange'
);
select throws_ok(
    $$ delete from public.fmp_available_exchange $$,
    '42501', 'permission denied for table fmp_available_exchange', 'authenticated cannot delete from fmp_available_exchange'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_available_exchange $$,
    '42501', 'permission denied for table fmp_available_exchange', 'anon cannot read fmp_available_exchange'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_available_exchange where exchange = 'KFTEST'), 1, 'service_role reads the rows of fmp_available_exchange');
select throws_ok(
    $$ delete from public.fmp_available_exchange $$,
    '42501', 'permission denied for table fmp_available_exchange', 'service_role cannot delete from fmp_available_exchange: only the processor writes'
);
reset role;

-- fmp_exchange_market_status --------------------------------------------------------------
select has_table('public', 'fmp_exchange_market_status', 'fmp_exchange_market_status exists');
select col_is_pk('public', 'fmp_exchange_market_status', array['exchange'], 'fmp_exchange_market_status is keyed by (exchange)');
select columns_are(
    'public', 'fmp_exchange_market_status',
    array[
        'exchange', 'name', 'opening_hour', 'closing_hour', 'timezone', 'is_market_open',
        'source_timestamp', 'fetched_at'
    ],
    'fmp_exchange_market_status has exactly the columns the fetchers write (tables.ts) plus fetched_at'
);
select col_type_is('public', 'fmp_exchange_market_status', 'source_timestamp', 'timestamp with time zone', 'fmp_exchange_market_status.source_timestamp is a timestamptz');
select col_default_is('public', 'fmp_exchange_market_status', 'fetched_at', 'now()', 'fmp_exchange_market_status.fetched_at defaults to now()');
select col_not_null('public', 'fmp_exchange_market_status', 'fetched_at', 'fmp_exchange_market_status.fetched_at is not null');
select ok(
    (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'public.fmp_exchange_market_status'::regclass),
    'RLS is enabled on fmp_exchange_market_status'
);
select policies_are('public', 'fmp_exchange_market_status', array['Authenticated users can read exchange market status'], 'fmp_exchange_market_status has only its read policy');
select policy_roles_are('public', 'fmp_exchange_market_status', 'Authenticated users can read exchange market status', array['authenticated'], 'the read policy of fmp_exchange_market_status applies to authenticated only');
select policy_cmd_is('public', 'fmp_exchange_market_status', 'Authenticated users can read exchange market status', 'select', 'the read policy of fmp_exchange_market_status is for select');
select table_privs_are('public', 'fmp_exchange_market_status', 'anon', array[]::text[], 'anon has no privileges on fmp_exchange_market_status');
select table_privs_are('public', 'fmp_exchange_market_status', 'authenticated', array['SELECT'], 'authenticated may only select from fmp_exchange_market_status');
select table_privs_are('public', 'fmp_exchange_market_status', 'service_role', array['SELECT'], 'service_role may only select from fmp_exchange_market_status');
insert into public.fmp_exchange_market_status (exchange, is_market_open) values ('KFTEST', true);
set local role authenticated;
select is((select count(*)::integer from public.fmp_exchange_market_status where exchange = 'KFTEST'), 1, 'authenticated reads the rows of fmp_exchange_market_status');
select throws_ok(
    $$ insert into public.fmp_exchange_market_status (exchange, is_market_open) values ('KFTEST', true) $$,
    '42501', 'permission denied for table fmp_exchange_market_status', 'authenticated cannot insert into fmp_exchange_market_status'
);
select throws_ok(
    $$ update public.fmp_exchange_market_status set fetched_at = now() $$,
    '42501', 'permission denied for table fmp_exchange_market_status', 'authenticated cannot update fmp_exchange_market_status'
);
select throws_ok(
    $$ delete from public.fmp_exchange_market_status $$,
    '42501', 'permission denied for table fmp_exchange_market_status', 'authenticated cannot delete from fmp_exchange_market_status'
);
reset role;
set local role anon;
select throws_ok(
    $$ select * from public.fmp_exchange_market_status $$,
    '42501', 'permission denied for table fmp_exchange_market_status', 'anon cannot read fmp_exchange_market_status'
);
reset role;
set local role service_role;
select is((select count(*)::integer from public.fmp_exchange_market_status where exchange = 'KFTEST'), 1, 'service_role reads the rows of fmp_exchange_market_status');
select throws_ok(
    $$ delete from public.fmp_exchange_market_status $$,
    '42501', 'permission denied for table fmp_exchange_market_status', 'service_role cannot delete from fmp_exchange_market_status: only the processor writes'
);
reset role;

-- registry and sanity checks ----------------------------------------------------------------
select is_empty(
    $$
        select r.data_type
        from public.data_type_registry_v2 as r
        where r.provider = 'fmp'
            and (not r.enabled or pg_catalog.to_regclass(r.target_table) is null)
        order by 1
    $$,
    'every FMP data type is enabled and its target table exists'
);
select results_eq(
    $$
        select count(*)::integer
        from public.data_type_registry_v2 as r
        join pg_catalog.pg_attribute as a
            on a.attrelid = pg_catalog.to_regclass(r.target_table)
            and a.attname = r.timestamp_column
            and not a.attisdropped
        where r.provider = 'fmp'
    $$,
    $$ values (11) $$,
    'the timestamp column of all eleven FMP types exists in its target table'
);
select throws_ok(
    $$ insert into public.fmp_quote (symbol, price) values ('KFNEG', -1) $$,
    '23514', null, 'a negative price is rejected'
);
select throws_ok(
    $$ insert into public.fmp_quote (symbol, price) values ('aapl', 1) $$,
    '23514', null, 'a lower case symbol is rejected'
);
select throws_ok(
    $$ insert into public.fmp_financial_statement (symbol, statement, period, date, data)
       values ('KFSTMT', 'income', 'annual', '2025-09-30', '{}') $$,
    '23514', null, 'a statement period other than FY or Q1..Q4 is rejected'
);
select throws_ok(
    $$ insert into public.fmp_revenue_segmentation (symbol, kind, period, date, data)
       values ('KFSEG', 'product', 'FY', '2025-09-30', '[]') $$,
    '23514', null, 'segment data that is not a JSON object is rejected'
);
select throws_ok(
    $$ insert into public.fmp_shares_float (symbol, free_float) values ('KFFLT', 101) $$,
    '23514', null, 'a free float above 100 percent is rejected'
);
select throws_ok(
    $$ insert into public.fmp_exchange_market_status (exchange) values ('KFX') $$,
    '23502', null, 'market status needs is_market_open'
);

select * from finish();
rollback;
