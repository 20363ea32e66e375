-- Creates private.processor_leases (3.2): one row per running queue-processor-v2 run, with an
-- expiry. acquire_processor_lease_v2 grants a lease only while fewer than N unexpired leases
-- exist, so at most N runs work at once; a run that dies simply lets its lease expire.

create table private.processor_leases (
    id bigint generated always as identity primary key,
    run_id bigint references private.sync_runs (id) on delete set null,
    worker_id text not null,
    acquired_at timestamptz not null default now(),
    expires_at timestamptz not null,
    constraint processor_leases_worker_id_check check (char_length(worker_id) between 1 and 128),
    constraint processor_leases_expires_at_check check (expires_at > acquired_at)
);

alter table private.processor_leases enable row level security;

comment on table private.processor_leases is
    'Live processor runs: at most N unexpired leases; a dead run''s lease just expires.';
comment on column private.processor_leases.run_id is
    'The sync run of the lease holder (start_sync_run_v2 attaches it by worker_id).';

revoke all on table private.processor_leases from public, anon, authenticated, service_role;
revoke all on sequence private.processor_leases_id_seq from public, anon, authenticated, service_role;
