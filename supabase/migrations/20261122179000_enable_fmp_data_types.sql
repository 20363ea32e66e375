-- Enables the eleven built-in FMP data types, which the registry seed left disabled until
-- their target tables (20261122170000_create_fmp_target_tables) and fetchers
-- (supabase/functions/_shared/fmp/) exist. From now on presence scans and the scheduler may
-- queue them. Only rows whose target table really exists are enabled, so a registry row that
-- points at a missing table stays off instead of failing every job it would queue.

update public.data_type_registry_v2
set enabled = true
where provider = 'fmp'
    and data_type in (
        'quote',
        'profile',
        'financial-statements',
        'ratios-ttm',
        'dividend-history',
        'shares-float',
        'revenue-segmentation',
        'grades-historical',
        'exchange-variants',
        'available-exchanges',
        'exchange-market-status'
    )
    and pg_catalog.to_regclass(target_table) is not null;
