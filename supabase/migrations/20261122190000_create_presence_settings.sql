-- Creates private.presence_settings (3.4): the one row of tunables for presence, staleness and
-- scheduling, read by the functions of the following migrations instead of hard-coding them.
-- Operators change a value with a plain update, for example
--   update private.presence_settings set rate_limit_per_minute = 120;
-- and it applies from the next call.

create table private.presence_settings (
    id boolean primary key default true,
    -- A subscription stops counting as presence this long after its last track or heartbeat.
    -- Clients heartbeat well below it (the function suggests a third of it).
    subscription_ttl_seconds integer not null default 120,
    -- What a subscription with no data types (the empty array) watches.
    default_data_types text[] not null default '{quote,profile}',
    -- track-subscription-v2 calls per user per calendar minute (private.rate_limits).
    rate_limit_per_minute integer not null default 60,
    -- Stale (data type, key) pairs one presence scan queues at most; the next tick continues
    -- with the rest, most urgent data types first.
    presence_scan_max_items integer not null default 10000,
    -- Expired subscriptions and old rate-limit buckets one presence scan deletes at most.
    expire_batch_limit integer not null default 10000,
    -- queue_scheduled_refreshes_v2 does its work at most once per this many seconds.
    scheduled_min_interval_seconds integer not null default 60,
    -- Keys per scheduled data type one scheduler call queues at most (the stalest first), so a
    -- large key set is covered over successive calls instead of in one long transaction.
    scheduled_sample_size integer not null default 500,
    -- A market status older than this is not trusted: the market counts as open (the shorter
    -- TTL applies), because an exchange may have opened since.
    market_status_max_age_seconds integer not null default 900,
    -- Presence analytics buckets older than this are deleted.
    analytics_retention interval not null default interval '30 days',
    updated_at timestamptz not null default now(),
    constraint presence_settings_single_row_check check (id),
    -- The table constraint on active_subscriptions_v2 allows at most a day.
    constraint presence_settings_subscription_ttl_seconds_check
        check (subscription_ttl_seconds between 10 and 86400),
    constraint presence_settings_default_data_types_check
        check (cardinality(default_data_types) <= 32 and array_position(default_data_types, null) is null),
    constraint presence_settings_rate_limit_per_minute_check
        check (rate_limit_per_minute between 1 and 100000),
    -- queue_refresh_batch_v2 takes at most 10,000 items per call; a scan makes several calls.
    constraint presence_settings_presence_scan_max_items_check
        check (presence_scan_max_items between 1 and 100000),
    constraint presence_settings_expire_batch_limit_check
        check (expire_batch_limit between 1 and 1000000),
    constraint presence_settings_scheduled_min_interval_seconds_check
        check (scheduled_min_interval_seconds between 0 and 86400),
    constraint presence_settings_scheduled_sample_size_check
        check (scheduled_sample_size between 1 and 10000),
    constraint presence_settings_market_status_max_age_seconds_check
        check (market_status_max_age_seconds between 60 and 604800),
    constraint presence_settings_analytics_retention_check
        check (analytics_retention >= interval '1 hour')
);

alter table private.presence_settings enable row level security;

comment on table private.presence_settings is
    'One row of presence, staleness and scheduling tunables: subscription expiry, default data types, rate limit, scan and scheduler bounds.';

create trigger set_updated_at
    before update on private.presence_settings
    for each row
    execute function private.tg__set_updated_at();

insert into private.presence_settings (id) values (true);

revoke all on table private.presence_settings from public, anon, authenticated, service_role;
