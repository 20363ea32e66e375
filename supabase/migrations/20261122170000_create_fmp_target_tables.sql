-- Creates the eleven FMP target tables (3.1): one per built-in data type, named by the
-- registry's target_table, filled by the queue processor through the fetchers in
-- supabase/functions/_shared/fmp/ (schemas.ts produces rows with exactly these columns).
--
-- Shape of every table:
--   * a natural primary key, so the processor's `insert ... on conflict (pk) do update` is
--     idempotent: re-processing a job never duplicates rows (3.7);
--   * typed columns for the fields apps read, and `data jsonb` where FMP sends dozens of line
--     items (statements, ratios, segments) so nothing FMP sends is lost;
--   * source_timestamp: the upstream's own timestamp when it has one (quote `timestamp`,
--     statement `acceptedDate`/`filingDate`, shares-float `date`), null otherwise. The upsert
--     never lets a payload with an older source_timestamp overwrite a newer row;
--   * fetched_at: when keepfresh last fetched the row; the registry's timestamp_column.
--
-- Access: market data is not per user. Authenticated users read every row (one select policy
-- per table); anon sees nothing; service_role reads. No client writes at all: the processor
-- writes as postgres, the table owner. Hosted default privileges grant anon and authenticated
-- ALL on new tables in public, so everything is revoked first and select granted back.
--
-- Sanity CHECKs repeat the fetchers' validation (symbols, periods, non-negative prices and
-- volumes) so that a bug there fails the write instead of storing nonsense.

-- quote ------------------------------------------------------------------------------------

create table public.fmp_quote (
    symbol text primary key,
    name text,
    price numeric not null,
    change numeric,
    change_percentage numeric,
    volume bigint,
    day_low numeric,
    day_high numeric,
    year_low numeric,
    year_high numeric,
    market_cap numeric,
    price_avg_50 numeric,
    price_avg_200 numeric,
    exchange text,
    open numeric,
    previous_close numeric,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    -- Upper case tickers with index (^GSPC), class (BRK-B) and exchange suffixes (RELIANCE.NS).
    constraint fmp_quote_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    constraint fmp_quote_price_check check (price >= 0),
    constraint fmp_quote_volume_check check (volume >= 0),
    constraint fmp_quote_market_cap_check check (market_cap >= 0)
);

alter table public.fmp_quote enable row level security;

comment on table public.fmp_quote is
    'FMP /stable/quote: latest price, change, volume and day range per symbol (data type quote).';
comment on column public.fmp_quote.source_timestamp is
    'FMP quote timestamp (unix seconds upstream): when the price was current.';
comment on column public.fmp_quote.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read quotes"
    on public.fmp_quote
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_quote from public, anon, authenticated, service_role;
grant select on table public.fmp_quote to authenticated, service_role;

-- profile ----------------------------------------------------------------------------------

create table public.fmp_profile (
    symbol text primary key,
    company_name text,
    price numeric,
    market_cap numeric,
    beta numeric,
    last_dividend numeric,
    range text,
    change numeric,
    change_percentage numeric,
    volume bigint,
    average_volume bigint,
    currency text,
    cik text,
    isin text,
    cusip text,
    exchange_full_name text,
    exchange text,
    industry text,
    sector text,
    country text,
    description text,
    ceo text,
    website text,
    phone text,
    address text,
    city text,
    state text,
    zip text,
    image text,
    ipo_date date,
    full_time_employees integer,
    default_image boolean,
    is_etf boolean,
    is_actively_trading boolean,
    is_adr boolean,
    is_fund boolean,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_profile_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    constraint fmp_profile_price_check check (price >= 0),
    constraint fmp_profile_market_cap_check check (market_cap >= 0),
    constraint fmp_profile_volume_check check (volume >= 0 and average_volume >= 0),
    constraint fmp_profile_full_time_employees_check check (full_time_employees >= 0)
);

alter table public.fmp_profile enable row level security;

comment on table public.fmp_profile is
    'FMP /stable/profile: company name, exchange, sector, description per symbol (data type profile).';
comment on column public.fmp_profile.exchange is
    'Short exchange code (NASDAQ, NYSE, LSE...): joins fmp_exchange_market_status for the market-closed TTL.';
comment on column public.fmp_profile.source_timestamp is
    'Always null: FMP profiles carry no timestamp of their own.';
comment on column public.fmp_profile.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read company profiles"
    on public.fmp_profile
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_profile from public, anon, authenticated, service_role;
grant select on table public.fmp_profile to authenticated, service_role;

-- financial statements ---------------------------------------------------------------------

create table public.fmp_financial_statement (
    symbol text not null,
    statement text not null,
    period text not null,
    date date not null,
    fiscal_year integer,
    reported_currency text,
    cik text,
    filing_date date,
    accepted_date timestamptz,
    revenue numeric,
    gross_profit numeric,
    operating_income numeric,
    net_income numeric,
    eps numeric,
    eps_diluted numeric,
    total_assets numeric,
    total_liabilities numeric,
    total_stockholders_equity numeric,
    total_debt numeric,
    cash_and_cash_equivalents numeric,
    operating_cash_flow numeric,
    capital_expenditure numeric,
    free_cash_flow numeric,
    data jsonb not null,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_financial_statement_pkey primary key (symbol, statement, period, date),
    constraint fmp_financial_statement_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    constraint fmp_financial_statement_statement_check
        check (statement in ('income', 'balance', 'cash_flow')),
    -- FMP reports annual rows as FY and quarterly rows as Q1..Q4.
    constraint fmp_financial_statement_period_check
        check (period in ('FY', 'Q1', 'Q2', 'Q3', 'Q4')),
    constraint fmp_financial_statement_data_check
        check (jsonb_typeof(data) = 'object')
);

alter table public.fmp_financial_statement enable row level security;

comment on table public.fmp_financial_statement is
    'FMP income, balance sheet and cash flow statements, one row per (symbol, statement, period, date) '
    '(data type financial-statements); every line item is in data, the common ones also typed.';
comment on column public.fmp_financial_statement.statement is
    'income (/stable/income-statement), balance (/stable/balance-sheet-statement) or '
    'cash_flow (/stable/cash-flow-statement).';
comment on column public.fmp_financial_statement.data is
    'Every line item FMP sent, under FMP''s own camelCase names.';
comment on column public.fmp_financial_statement.source_timestamp is
    'FMP acceptedDate (else filingDate): when the filing was accepted.';
comment on column public.fmp_financial_statement.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read financial statements"
    on public.fmp_financial_statement
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_financial_statement from public, anon, authenticated, service_role;
grant select on table public.fmp_financial_statement to authenticated, service_role;

-- ratios ttm -------------------------------------------------------------------------------

create table public.fmp_ratios_ttm (
    symbol text primary key,
    gross_profit_margin_ttm numeric,
    operating_profit_margin_ttm numeric,
    net_profit_margin_ttm numeric,
    current_ratio_ttm numeric,
    debt_to_equity_ratio_ttm numeric,
    price_to_earnings_ratio_ttm numeric,
    price_to_book_ratio_ttm numeric,
    dividend_yield_ttm numeric,
    data jsonb not null,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_ratios_ttm_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    constraint fmp_ratios_ttm_data_check
        check (jsonb_typeof(data) = 'object')
);

alter table public.fmp_ratios_ttm enable row level security;

comment on table public.fmp_ratios_ttm is
    'FMP /stable/ratios-ttm: trailing-twelve-month ratios per symbol (data type ratios-ttm); '
    'all of them in data, the common ones also typed.';
comment on column public.fmp_ratios_ttm.source_timestamp is
    'Always null: FMP ratios carry no timestamp of their own.';
comment on column public.fmp_ratios_ttm.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read ttm ratios"
    on public.fmp_ratios_ttm
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_ratios_ttm from public, anon, authenticated, service_role;
grant select on table public.fmp_ratios_ttm to authenticated, service_role;

-- dividends --------------------------------------------------------------------------------

create table public.fmp_dividend (
    symbol text not null,
    date date not null,
    record_date date,
    payment_date date,
    declaration_date date,
    adj_dividend numeric,
    dividend numeric,
    yield numeric,
    frequency text,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_dividend_pkey primary key (symbol, date),
    constraint fmp_dividend_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    constraint fmp_dividend_amount_check
        check (dividend >= 0 and adj_dividend >= 0)
);

alter table public.fmp_dividend enable row level security;

comment on table public.fmp_dividend is
    'FMP /stable/dividends: dividend history, one row per (symbol, ex-dividend date) '
    '(data type dividend-history).';
comment on column public.fmp_dividend.date is
    'Ex-dividend date.';
comment on column public.fmp_dividend.source_timestamp is
    'Always null: FMP dividends carry no timestamp of their own.';
comment on column public.fmp_dividend.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read dividends"
    on public.fmp_dividend
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_dividend from public, anon, authenticated, service_role;
grant select on table public.fmp_dividend to authenticated, service_role;

-- shares float -----------------------------------------------------------------------------

create table public.fmp_shares_float (
    symbol text primary key,
    free_float numeric,
    float_shares numeric,
    outstanding_shares numeric,
    source_url text,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_shares_float_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    -- free_float is a percentage of outstanding shares.
    constraint fmp_shares_float_free_float_check
        check (free_float between 0 and 100),
    constraint fmp_shares_float_shares_check
        check (float_shares >= 0 and outstanding_shares >= 0)
);

alter table public.fmp_shares_float enable row level security;

comment on table public.fmp_shares_float is
    'FMP /stable/shares-float: free float and share counts per symbol (data type shares-float).';
comment on column public.fmp_shares_float.free_float is
    'Free float as a percentage (0-100) of outstanding shares.';
comment on column public.fmp_shares_float.source_url is
    'The filing FMP took the figures from.';
comment on column public.fmp_shares_float.source_timestamp is
    'FMP date: when the figures were current.';
comment on column public.fmp_shares_float.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read shares float"
    on public.fmp_shares_float
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_shares_float from public, anon, authenticated, service_role;
grant select on table public.fmp_shares_float to authenticated, service_role;

-- revenue segmentation ---------------------------------------------------------------------

create table public.fmp_revenue_segmentation (
    symbol text not null,
    kind text not null,
    period text not null,
    date date not null,
    fiscal_year integer,
    reported_currency text,
    data jsonb not null,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_revenue_segmentation_pkey primary key (symbol, kind, period, date),
    constraint fmp_revenue_segmentation_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    constraint fmp_revenue_segmentation_kind_check
        check (kind in ('product', 'geographic')),
    constraint fmp_revenue_segmentation_period_check
        check (period in ('FY', 'Q1', 'Q2', 'Q3', 'Q4')),
    constraint fmp_revenue_segmentation_data_check
        check (jsonb_typeof(data) = 'object')
);

alter table public.fmp_revenue_segmentation enable row level security;

comment on table public.fmp_revenue_segmentation is
    'FMP revenue by product and by geography, one row per (symbol, kind, period, date) '
    '(data type revenue-segmentation).';
comment on column public.fmp_revenue_segmentation.kind is
    'product (/stable/revenue-product-segmentation) or geographic '
    '(/stable/revenue-geographic-segmentation).';
comment on column public.fmp_revenue_segmentation.data is
    'Segment name to revenue, in reported_currency.';
comment on column public.fmp_revenue_segmentation.source_timestamp is
    'Always null: FMP segments carry no timestamp of their own.';
comment on column public.fmp_revenue_segmentation.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read revenue segments"
    on public.fmp_revenue_segmentation
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_revenue_segmentation from public, anon, authenticated, service_role;
grant select on table public.fmp_revenue_segmentation to authenticated, service_role;

-- grades historical ------------------------------------------------------------------------

create table public.fmp_grades_historical (
    symbol text not null,
    date date not null,
    analyst_ratings_strong_buy integer,
    analyst_ratings_buy integer,
    analyst_ratings_hold integer,
    analyst_ratings_sell integer,
    analyst_ratings_strong_sell integer,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_grades_historical_pkey primary key (symbol, date),
    constraint fmp_grades_historical_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    constraint fmp_grades_historical_counts_check
        check (
            analyst_ratings_strong_buy >= 0
            and analyst_ratings_buy >= 0
            and analyst_ratings_hold >= 0
            and analyst_ratings_sell >= 0
            and analyst_ratings_strong_sell >= 0
        )
);

alter table public.fmp_grades_historical enable row level security;

comment on table public.fmp_grades_historical is
    'FMP /stable/grades-historical: analyst rating counts per (symbol, date) '
    '(data type grades-historical).';
comment on column public.fmp_grades_historical.source_timestamp is
    'Always null: FMP grades carry no timestamp beyond their date.';
comment on column public.fmp_grades_historical.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read historical grades"
    on public.fmp_grades_historical
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_grades_historical from public, anon, authenticated, service_role;
grant select on table public.fmp_grades_historical to authenticated, service_role;

-- exchange variants ------------------------------------------------------------------------

-- The same columns as fmp_profile: FMP sends exchange variants in the legacy profile shape,
-- which the fetcher normalises to the profile row.
create table public.fmp_exchange_variant (
    symbol text not null,
    variant_symbol text not null,
    company_name text,
    price numeric,
    market_cap numeric,
    beta numeric,
    last_dividend numeric,
    range text,
    change numeric,
    change_percentage numeric,
    volume bigint,
    average_volume bigint,
    currency text,
    cik text,
    isin text,
    cusip text,
    exchange_full_name text,
    exchange text,
    industry text,
    sector text,
    country text,
    description text,
    ceo text,
    website text,
    phone text,
    address text,
    city text,
    state text,
    zip text,
    image text,
    ipo_date date,
    full_time_employees integer,
    default_image boolean,
    is_etf boolean,
    is_actively_trading boolean,
    is_adr boolean,
    is_fund boolean,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_exchange_variant_pkey primary key (symbol, variant_symbol),
    constraint fmp_exchange_variant_symbol_check
        check (
            symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'
            and variant_symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'
        ),
    constraint fmp_exchange_variant_price_check check (price >= 0),
    constraint fmp_exchange_variant_market_cap_check check (market_cap >= 0),
    constraint fmp_exchange_variant_volume_check check (volume >= 0 and average_volume >= 0),
    constraint fmp_exchange_variant_full_time_employees_check check (full_time_employees >= 0)
);

alter table public.fmp_exchange_variant enable row level security;

comment on table public.fmp_exchange_variant is
    'FMP /stable/search-exchange-variants: listings of symbol on other exchanges, in the profile '
    'row shape (data type exchange-variants).';
comment on column public.fmp_exchange_variant.symbol is
    'The symbol that was looked up (the job key).';
comment on column public.fmp_exchange_variant.variant_symbol is
    'The listing''s own symbol, e.g. AAPL.MX for AAPL.';
comment on column public.fmp_exchange_variant.source_timestamp is
    'Always null: FMP exchange variants carry no timestamp of their own.';
comment on column public.fmp_exchange_variant.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read exchange variants"
    on public.fmp_exchange_variant
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_exchange_variant from public, anon, authenticated, service_role;
grant select on table public.fmp_exchange_variant to authenticated, service_role;

-- available exchanges ----------------------------------------------------------------------

create table public.fmp_available_exchange (
    exchange text primary key,
    name text,
    country_name text,
    country_code text,
    symbol_suffix text,
    delay text,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    -- Exchange codes are short (NASDAQ, XETRA, EURONEXT); 64 leaves room for odd ones.
    constraint fmp_available_exchange_exchange_check
        check (char_length(exchange) between 1 and 64)
);

alter table public.fmp_available_exchange enable row level security;

comment on table public.fmp_available_exchange is
    'FMP /stable/available-exchanges: exchanges FMP covers, with country and symbol suffix '
    '(data type available-exchanges).';
comment on column public.fmp_available_exchange.symbol_suffix is
    'Suffix of symbols listed there, e.g. .L for LSE; null when FMP says N/A.';
comment on column public.fmp_available_exchange.source_timestamp is
    'Always null: FMP reference data carries no timestamp of its own.';
comment on column public.fmp_available_exchange.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read available exchanges"
    on public.fmp_available_exchange
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_available_exchange from public, anon, authenticated, service_role;
grant select on table public.fmp_available_exchange to authenticated, service_role;

-- exchange market status -------------------------------------------------------------------

create table public.fmp_exchange_market_status (
    exchange text primary key,
    name text,
    opening_hour text,
    closing_hour text,
    timezone text,
    is_market_open boolean not null,
    source_timestamp timestamptz,
    fetched_at timestamptz not null default now(),
    constraint fmp_exchange_market_status_exchange_check
        check (char_length(exchange) between 1 and 64)
);

alter table public.fmp_exchange_market_status enable row level security;

comment on table public.fmp_exchange_market_status is
    'FMP /stable/all-exchange-market-hours: opening hours and open/closed state per exchange '
    '(data type exchange-market-status); decides the market-closed TTL.';
comment on column public.fmp_exchange_market_status.opening_hour is
    'As FMP sends it, e.g. 09:30 AM -04:00.';
comment on column public.fmp_exchange_market_status.is_market_open is
    'Whether the exchange was open when fetched_at was taken.';
comment on column public.fmp_exchange_market_status.source_timestamp is
    'Always null: FMP market hours carry no timestamp of their own.';
comment on column public.fmp_exchange_market_status.fetched_at is
    'When keepfresh last fetched this row (registry timestamp_column).';

create policy "Authenticated users can read exchange market status"
    on public.fmp_exchange_market_status
    for select
    to authenticated
    using (true);

revoke all on table public.fmp_exchange_market_status from public, anon, authenticated, service_role;
grant select on table public.fmp_exchange_market_status to authenticated, service_role;
