-- Prepares kf_template, the keepfresh install every keepfresh measurement of scripts/bench/queue
-- copies. Bench cluster only; never a migration.
--   * pg_cron jobs inactive: nothing but the benchmark touches the queue (the copies have no
--     scheduler anyway: pg_cron runs in one database per cluster);
--   * quota ENFORCED but not binding: every claim still locks the provider row, reads the
--     windows and charges the usage buckets; the limits are just far above 20,000 jobs;
--   * the quote data type enabled (1 call per job): the bench jobs are quotes of synthetic
--     symbols B000001, B000002, ...
set client_min_messages = warning;

update cron.job set active = false;

update private.providers
set calls_per_minute = 1000000000,
    calls_per_day = 1000000000,
    bytes_per_30d = 1000000000000000,
    state = 'ok',
    state_until = null
where provider = 'fmp';

update public.data_type_registry_v2 set enabled = true where data_type = 'quote';

vacuum analyze;
