-- Creates private.sync_runs (3.7): one row per processor run and manual sync, with its trigger,
-- timings, job counts, bytes and calls, and final status. Success rate and mean duration come
-- from queries over it (get_sync_stats_v2), and the circuit breaker is fed from it (never from
-- net._http_response). Written only through start_sync_run_v2 and finish_sync_run_v2.

create table private.sync_runs (
    id bigint generated always as identity primary key,
    trigger text not null,
    status text not null default 'running',
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    claimed integer not null default 0,
    succeeded integer not null default 0,
    failed integer not null default 0,
    retried integer not null default 0,
    bytes bigint not null default 0,
    calls integer not null default 0,
    error text,
    filters jsonb,
    worker_id text,
    constraint sync_runs_trigger_check check (trigger in ('cron', 'manual', 'wake', 'test')),
    constraint sync_runs_status_check check (status in ('running', 'succeeded', 'failed', 'partial')),
    constraint sync_runs_finished_check check ((status = 'running') = (finished_at is null)),
    constraint sync_runs_finished_at_check check (finished_at >= started_at),
    constraint sync_runs_counts_check check (
        claimed >= 0 and succeeded >= 0 and failed >= 0 and retried >= 0 and bytes >= 0 and calls >= 0
    ),
    constraint sync_runs_error_check check (char_length(error) <= 2000),
    constraint sync_runs_filters_check check (jsonb_typeof(filters) = 'object'),
    constraint sync_runs_worker_id_check check (char_length(worker_id) between 1 and 128)
);

alter table private.sync_runs enable row level security;

comment on table private.sync_runs is
    'Processor runs and manual syncs: trigger, timings, claimed/succeeded/failed/retried, bytes, calls, status.';
comment on column private.sync_runs.filters is
    'Selective manual sync filters, e.g. {"dataTypes": [...], "symbols": [...]}; null for a full run.';

-- Stats over a time window and retention scan by start time.
create index sync_runs_started_at_idx on private.sync_runs (started_at);
-- Abandoned-run sweep: only the few rows still running.
create index sync_runs_running_idx on private.sync_runs (started_at) where status = 'running';

revoke all on table private.sync_runs from public, anon, authenticated, service_role;
revoke all on sequence private.sync_runs_id_seq from public, anon, authenticated, service_role;
