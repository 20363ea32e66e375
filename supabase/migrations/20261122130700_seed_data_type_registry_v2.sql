-- Seeds the eleven built-in FMP data types (3.1), all disabled: each is enabled by the
-- migration that ships its target table and fetcher, so nothing is queued for a type that
-- cannot be processed yet. /stable endpoints only (legacy v3/v4 answer 403 to new keys).
--
-- How the numbers were chosen:
--   * ttl_seconds: quotes move every second while the market is open (60 s); company data,
--     statements and ratios change at most daily (1 day); segments, exchange variants and the
--     exchange list change rarely (7 days); market status is polled every 5 minutes.
--   * market_closed_ttl_seconds: only quotes; a closed market's price does not move.
--   * priority (higher is more urgent): what a user is looking at right now first (quote,
--     profile), then what a detail page shows, then reference data; market status is
--     background work (-1), queued by the scheduler.
--   * estimated_bytes: an upper estimate of one job's response bodies (all its calls), from
--     FMP's documented shapes with the default row limits; reconciled with actual bytes later.
--   * empty_cooldown_seconds: `[]` is normal for dividends, grades and segments of many
--     symbols, so those wait a day before asking again; the rest an hour.

insert into public.data_type_registry_v2 (
    data_type,
    provider,
    key_kind,
    target_table,
    timestamp_column,
    ttl_seconds,
    market_closed_ttl_seconds,
    calls_per_job,
    refresh_strategy,
    schedule_seconds,
    priority,
    estimated_bytes,
    max_attempts,
    empty_cooldown_seconds,
    endpoint,
    description,
    enabled
)
values
    (
        'quote', 'fmp', 'symbol', 'public.fmp_quote', 'fetched_at',
        60, 3600, 1, 'on_demand', null, 90, 2000, 5, 3600,
        '/stable/quote?symbol={symbol}',
        'Latest price, change, volume and day range.', false
    ),
    (
        'profile', 'fmp', 'symbol', 'public.fmp_profile', 'fetched_at',
        86400, null, 1, 'on_demand', null, 80, 8000, 5, 3600,
        '/stable/profile?symbol={symbol}',
        'Company profile: name, exchange, sector, description; also the source of a symbol''s exchange.',
        false
    ),
    (
        'financial-statements', 'fmp', 'symbol', 'public.fmp_financial_statement', 'fetched_at',
        86400, null, 3, 'on_demand', null, 50, 120000, 5, 86400,
        '/stable/income-statement, /stable/balance-sheet-statement, /stable/cash-flow-statement (?symbol={symbol})',
        'Income statement, balance sheet and cash flow statement (three calls per job).', false
    ),
    (
        'ratios-ttm', 'fmp', 'symbol', 'public.fmp_ratios_ttm', 'fetched_at',
        86400, null, 1, 'on_demand', null, 60, 8000, 5, 3600,
        '/stable/ratios-ttm?symbol={symbol}',
        'Trailing-twelve-month financial ratios.', false
    ),
    (
        'dividend-history', 'fmp', 'symbol', 'public.fmp_dividend', 'fetched_at',
        86400, null, 1, 'on_demand', null, 40, 60000, 5, 86400,
        '/stable/dividends?symbol={symbol}',
        'Dividend history: ex-date, record, payment and declaration dates, amounts.', false
    ),
    (
        'shares-float', 'fmp', 'symbol', 'public.fmp_shares_float', 'fetched_at',
        86400, null, 1, 'on_demand', null, 40, 2000, 5, 3600,
        '/stable/shares-float?symbol={symbol}',
        'Free float, float shares and outstanding shares.', false
    ),
    (
        'revenue-segmentation', 'fmp', 'symbol', 'public.fmp_revenue_segmentation', 'fetched_at',
        604800, null, 2, 'on_demand', null, 30, 40000, 5, 86400,
        '/stable/revenue-product-segmentation, /stable/revenue-geographic-segmentation (?symbol={symbol})',
        'Revenue by product and by geography (two calls per job).', false
    ),
    (
        'grades-historical', 'fmp', 'symbol', 'public.fmp_grades_historical', 'fetched_at',
        86400, null, 1, 'on_demand', null, 30, 30000, 5, 86400,
        '/stable/grades-historical?symbol={symbol}',
        'Historical analyst rating counts (buy, hold, sell).', false
    ),
    (
        'exchange-variants', 'fmp', 'symbol', 'public.fmp_exchange_variant', 'fetched_at',
        604800, null, 1, 'on_demand', null, 20, 20000, 5, 86400,
        '/stable/search-exchange-variants?symbol={symbol}',
        'Listings of the same company on other exchanges.', false
    ),
    (
        'available-exchanges', 'fmp', 'none', 'public.fmp_available_exchange', 'fetched_at',
        604800, null, 1, 'on_demand', null, 10, 30000, 5, 3600,
        '/stable/available-exchanges',
        'Exchanges FMP covers, with country and symbol suffix.', false
    ),
    (
        'exchange-market-status', 'fmp', 'none', 'public.fmp_exchange_market_status', 'fetched_at',
        300, null, 1, 'scheduled', 300, -1, 30000, 5, 300,
        '/stable/all-exchange-market-hours',
        'Opening hours and open/closed state of every exchange; decides the market-closed TTL.',
        false
    );
