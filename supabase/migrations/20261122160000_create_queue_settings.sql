-- Creates the shared pieces of the queue API (3.2): keepfresh's advisory-lock namespace, the
-- dedup key and dedup lock bucket of a job, a counter of internal 40001 retries, and
-- private.queue_settings, the one row of tunables
-- (retry backoff, retention, maintenance bounds, processor concurrency, byte-estimate
-- correction) that the queue functions read instead of hard-coding them.
--
-- Advisory locks: keepfresh uses only the two-int form pg_advisory_xact_lock(namespace, n), with
-- namespace = 1950822802 (hashtext('keepfresh'), frozen as a literal so that it never changes
-- with a server version), and n:
--     42          presence scan (check_and_queue_stale_data_from_presence_v2)
--     43          scheduled refreshes (queue_scheduled_refreshes_v2)
--     44          processor loop tick (invoke_processor_loop_v2)
--     45          processor lease acquisition (acquire_processor_lease_v2)
--     50          vocabulary rebuild (public.rebuild_vocabulary)
--     64          health alerts evaluation (private.health_report)
--     1024..2047  enqueue dedup buckets: 1024 + (hashtext(dedup_key) & 1023)
-- One lock per bucket, not per key: one lock per key exhausts the shared lock table at about
-- 20,000 keys in one transaction (measured, SPEC 3.2), while a batch locks at most 1,024
-- buckets. Buckets start at 1024 so that they never collide with the named locks.

-- keepfresh's advisory-lock namespace: the first int of every two-int advisory lock it takes.
-- Returns 1950822802 (hashtext('keepfresh') on PostgreSQL 15, frozen). Never raises.
create function private.advisory_namespace()
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
    select 1950822802
$$;

comment on function private.advisory_namespace() is
    'First int of keepfresh''s two-int advisory locks: 1950822802 (hashtext(''keepfresh''), frozen). '
    'Second ints: 42 presence, 43 scheduled, 44 processor loop, 45 processor leases, 50 vocabulary rebuild, 64 health alerts, 1024..2047 dedup buckets.';

-- The dedup key of a job: exactly the expression of the generated column
-- private.api_call_queue_v2.dedup_key (21_queue_claim checks they agree). A null key renders as
-- NULL and any other key quoted, so a null key is one value. Null when data type or params is.
create function private.queue_dedup_key(p_data_type text, p_key text, p_params jsonb)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select p_data_type || ':' || pg_catalog.quote_nullable(p_key) || ':' || p_params::text
$$;

comment on function private.queue_dedup_key(text, text, jsonb) is
    'Dedup key of a job (data_type:quoted key or NULL:params), the same expression as the generated column.';

-- The second int of the advisory lock guarding a dedup key: 1024 + (hashtext(key) & 1023),
-- so 1,024 buckets in 1024..2047. Null for a null key.
create function private.dedup_bucket(p_dedup_key text)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
    select 1024 + (pg_catalog.hashtext(p_dedup_key) & 1023)
$$;

comment on function private.dedup_bucket(text) is
    'Advisory-lock bucket (1024..2047) of a dedup key: 1,024 buckets instead of one lock per key.';

-- Counts one internal retry after serialization_failure (40001) or deadlock_detected (40P01)
-- in the session setting keepfresh.serialization_retries, which tests and benchmarks read with
-- current_setting('keepfresh.serialization_retries', true). Called only on the retry path.
create function private.note_serialization_retry()
returns void
language sql
set search_path = ''
as $$
    select pg_catalog.set_config(
        'keepfresh.serialization_retries',
        (coalesce(nullif(pg_catalog.current_setting('keepfresh.serialization_retries', true), ''), '0')::bigint + 1)::text,
        false
    )
$$;

comment on function private.note_serialization_retry() is
    'Counts an internal 40001/40P01 retry in the session setting keepfresh.serialization_retries.';

create table private.queue_settings (
    id boolean primary key default true,
    -- Transient failures retry after least(cap, base * 2^attempts) seconds, times 0.5..1.5.
    backoff_base_seconds integer not null default 10,
    backoff_cap_seconds integer not null default 3600,
    -- Finished jobs are kept this long for inspection, then pruned by maintain_queue_partitions_v2.
    completed_retention interval not null default interval '1 day',
    failed_retention interval not null default interval '7 days',
    sync_runs_retention interval not null default interval '30 days',
    cron_run_details_retention interval not null default interval '3 days',
    -- Rows one maintenance or rescue call may touch per table, so a call stays short even after
    -- a long outage; the next tick continues.
    maintenance_batch_limit integer not null default 10000,
    -- invoke_processor_loop_v2 starts no processor while this many processor leases are live.
    max_processor_runs integer not null default 2,
    -- A run still 'running' after this long is marked failed (its processor died).
    abandoned_run_after interval not null default interval '15 minutes',
    -- estimated_bytes correction: at most this share of completion statements per data type
    -- update the registry row, moving it by this weight towards the mean of actual bytes.
    estimate_sample_rate double precision not null default 0.05,
    estimate_ema_weight double precision not null default 0.2,
    updated_at timestamptz not null default now(),
    constraint queue_settings_single_row_check check (id),
    constraint queue_settings_backoff_base_seconds_check check (backoff_base_seconds between 1 and 3600),
    constraint queue_settings_backoff_cap_seconds_check
        check (backoff_cap_seconds between backoff_base_seconds and 86400),
    constraint queue_settings_retention_check check (
        completed_retention >= interval '0' and failed_retention >= interval '0'
        and sync_runs_retention >= interval '0' and cron_run_details_retention >= interval '0'
    ),
    constraint queue_settings_maintenance_batch_limit_check
        check (maintenance_batch_limit between 1 and 1000000),
    constraint queue_settings_max_processor_runs_check check (max_processor_runs between 1 and 100),
    constraint queue_settings_abandoned_run_after_check check (abandoned_run_after >= interval '1 minute'),
    constraint queue_settings_estimate_sample_rate_check check (estimate_sample_rate between 0 and 1),
    constraint queue_settings_estimate_ema_weight_check check (estimate_ema_weight > 0 and estimate_ema_weight <= 1)
);

alter table private.queue_settings enable row level security;

comment on table private.queue_settings is
    'One row of queue tunables: backoff, retention, maintenance bounds, processor concurrency, estimate correction.';

create trigger set_updated_at
    before update on private.queue_settings
    for each row
    execute function private.tg__set_updated_at();

insert into private.queue_settings (id) values (true);

revoke all on table private.queue_settings from public, anon, authenticated, service_role;
revoke all on function private.advisory_namespace() from public, anon, authenticated, service_role;
revoke all on function private.queue_dedup_key(text, text, jsonb) from public, anon, authenticated, service_role;
revoke all on function private.dedup_bucket(text) from public, anon, authenticated, service_role;
revoke all on function private.note_serialization_retry() from public, anon, authenticated, service_role;
