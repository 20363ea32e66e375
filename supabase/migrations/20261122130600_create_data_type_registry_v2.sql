-- Creates public.data_type_registry_v2 (3.1): one row per data type that keepfresh can refresh,
-- saying where its rows live, how long they stay fresh, what a job costs in upstream calls and
-- bytes, and how urgent it is. Everything that later builds dynamic SQL from this table reads
-- target_table and timestamp_column, so both are validated here by CHECK constraints and are
-- still quoted with format('%I.%I') where used.
-- Read-only to clients: authenticated users may read it (apps list what they can track), anon
-- sees nothing, and only postgres and service_role write it.

create table public.data_type_registry_v2 (
    data_type text primary key,
    provider text not null default 'fmp',
    key_kind text not null,
    target_table text not null,
    timestamp_column text not null,
    ttl_seconds integer not null,
    market_closed_ttl_seconds integer,
    calls_per_job integer not null default 1,
    refresh_strategy text not null,
    schedule_seconds integer,
    priority integer not null default 0,
    estimated_bytes integer not null,
    max_attempts integer not null default 5,
    empty_cooldown_seconds integer not null default 3600,
    endpoint text,
    description text,
    enabled boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- A slug: it appears in URLs, job payloads and logs.
    constraint data_type_registry_v2_data_type_check
        check (data_type ~ '^[a-z][a-z0-9-]{1,62}$'),
    constraint data_type_registry_v2_provider_check
        check (provider ~ '^[a-z][a-z0-9_-]{0,62}$'),
    constraint data_type_registry_v2_key_kind_check
        check (key_kind in ('symbol', 'exchange', 'none')),
    constraint data_type_registry_v2_target_table_check
        check (public.is_valid_qualified_name(target_table)),
    constraint data_type_registry_v2_timestamp_column_check
        check (public.is_valid_identifier(timestamp_column)),
    constraint data_type_registry_v2_ttl_seconds_check
        check (ttl_seconds > 0),
    constraint data_type_registry_v2_market_closed_ttl_seconds_check
        check (market_closed_ttl_seconds > 0),
    -- The most endpoints one job fans out to is 3 today (financial statements); 10 leaves room
    -- without letting a typo reserve a day's free quota in one claim.
    constraint data_type_registry_v2_calls_per_job_check
        check (calls_per_job between 1 and 10),
    constraint data_type_registry_v2_refresh_strategy_check
        check (refresh_strategy in ('on_demand', 'scheduled', 'both')),
    constraint data_type_registry_v2_schedule_seconds_check
        check (schedule_seconds > 0),
    -- A scheduled type without a schedule would never be queued by the scheduler.
    constraint data_type_registry_v2_schedule_required_check
        check (refresh_strategy = 'on_demand' or schedule_seconds is not null),
    -- Higher is more urgent; -1 is background work (scheduled refreshes).
    constraint data_type_registry_v2_priority_check
        check (priority between -1 and 100),
    constraint data_type_registry_v2_estimated_bytes_check
        check (estimated_bytes > 0),
    constraint data_type_registry_v2_max_attempts_check
        check (max_attempts between 1 and 20),
    constraint data_type_registry_v2_empty_cooldown_seconds_check
        check (empty_cooldown_seconds >= 0),
    constraint data_type_registry_v2_endpoint_check
        check (char_length(endpoint) <= 500),
    constraint data_type_registry_v2_description_check
        check (char_length(description) <= 1000)
);

alter table public.data_type_registry_v2 enable row level security;

comment on table public.data_type_registry_v2 is
    'One row per refreshable data type: target table, TTLs, cost per job, priority; read-only to clients.';
comment on column public.data_type_registry_v2.target_table is
    'Schema-qualified table the fetcher writes (checked by is_valid_qualified_name).';
comment on column public.data_type_registry_v2.timestamp_column is
    'Column of target_table holding when a row was fetched (checked by is_valid_identifier).';
comment on column public.data_type_registry_v2.market_closed_ttl_seconds is
    'TTL used instead of ttl_seconds while the exchange of the symbol is closed; null: always ttl_seconds.';
comment on column public.data_type_registry_v2.calls_per_job is
    'Upstream calls one job makes; reserved against the provider quota when a job is claimed.';
comment on column public.data_type_registry_v2.priority is
    'Higher is more urgent; -1 is background work.';
comment on column public.data_type_registry_v2.estimated_bytes is
    'Upper estimate of response bytes per job, reserved at claim and corrected from actual bytes.';
comment on column public.data_type_registry_v2.empty_cooldown_seconds is
    'Seconds before a key whose fetch returned no data is checked again.';
comment on column public.data_type_registry_v2.endpoint is
    'Upstream endpoint(s), documentation only: fetchers own the real URLs.';

create policy "Authenticated users can read the data type registry"
    on public.data_type_registry_v2
    for select
    to authenticated
    using (true);

create trigger set_updated_at
    before update on public.data_type_registry_v2
    for each row
    execute function private.tg__set_updated_at();

revoke all on table public.data_type_registry_v2 from public, anon, authenticated, service_role;
grant select on table public.data_type_registry_v2 to authenticated;
grant select, insert, update, delete on table public.data_type_registry_v2 to service_role;
