-- Creates private.api_call_queue_v2 (3.2): the refresh job queue, LIST-partitioned by status
-- (pending, processing, completed, failed) so that the claim path scans only pending rows and
-- retention prunes finished rows without touching active ones. A status change is a partition
-- move (delete + insert), never an in-place update: no FILLFACTOR on these partitions.
--
-- Indexes are per partition and only what the claim, rescue, dedup and retention paths use,
-- because every index costs a write on every move:
--   pending:    (priority desc, created_at, id) for the claim order; unique (dedup_key)
--   processing: unique (dedup_key); (lease_expires_at) for recovering expired leases
--   completed, failed: (finished_at) for retention
-- A unique index cannot span partitions: the queue functions (a later migration) enforce one
-- active job per dedup key with an advisory lock on the key's hash bucket plus a check of both
-- active partitions; the per-partition unique indexes are the backstop. The foreign key to the
-- registry has no index of its own on purpose (the advisors list it as INFO): a data type is
-- deleted almost never, a job moves on every state change.
--
-- Ids come from an explicit sequence, not an identity column: in PostgreSQL 15 an identity
-- column on a partitioned table does not apply to inserts addressed to a partition.
-- Private and locked: RLS on the parent and every partition, no policies, no grants. Clients
-- and service_role reach jobs only through functions.

create sequence private.api_call_queue_v2_id_seq as bigint;

create table private.api_call_queue_v2 (
    id bigint not null default nextval('private.api_call_queue_v2_id_seq'),
    status text not null,
    data_type text not null references public.data_type_registry_v2 (data_type),
    key text,
    params jsonb not null default '{}',
    -- One value per (data type, key, params). quote_nullable() renders a null key as NULL and
    -- any other key quoted, so a null key is one value and no key can imitate another; jsonb
    -- text is canonical (sorted keys, no duplicates, normalised spacing).
    dedup_key text not null generated always as (
        data_type || ':' || pg_catalog.quote_nullable(key) || ':' || params::text
    ) stored,
    priority integer not null default 0,
    attempts integer not null default 0,
    max_attempts integer not null,
    not_before timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    claimed_at timestamptz,
    lease_expires_at timestamptz,
    lease_token uuid,
    worker_id text,
    finished_at timestamptz,
    last_error text,
    error_class text,
    outcome text,
    reserved_calls integer not null default 0,
    reserved_bytes bigint not null default 0,
    actual_bytes bigint,
    source_timestamp timestamptz,
    sync_run_id bigint,
    constraint api_call_queue_v2_pkey primary key (id, status),
    -- Symbols and exchange codes; no empty key (a keyless job has a null key).
    constraint api_call_queue_v2_key_check
        check (char_length(key) between 1 and 64),
    constraint api_call_queue_v2_params_check
        check (jsonb_typeof(params) = 'object'),
    constraint api_call_queue_v2_priority_check
        check (priority between -1 and 100),
    constraint api_call_queue_v2_attempts_check
        check (attempts >= 0),
    constraint api_call_queue_v2_max_attempts_check
        check (max_attempts between 1 and 20),
    constraint api_call_queue_v2_reserved_calls_check
        check (reserved_calls >= 0),
    constraint api_call_queue_v2_reserved_bytes_check
        check (reserved_bytes >= 0),
    constraint api_call_queue_v2_actual_bytes_check
        check (actual_bytes >= 0)
) partition by list (status);

alter table private.api_call_queue_v2 enable row level security;

alter sequence private.api_call_queue_v2_id_seq owned by private.api_call_queue_v2.id;

comment on table private.api_call_queue_v2 is
    'Refresh jobs, LIST-partitioned by status; reached only through the queue functions.';
comment on column private.api_call_queue_v2.dedup_key is
    'data_type:quoted key or NULL:params; at most one pending-or-processing job per value.';
comment on column private.api_call_queue_v2.lease_token is
    'Set at claim; completion and failure must present it, so a worker whose lease expired cannot finish a re-claimed job.';

create table private.api_call_queue_v2_pending
    partition of private.api_call_queue_v2 for values in ('pending');
alter table private.api_call_queue_v2_pending enable row level security;

create table private.api_call_queue_v2_processing
    partition of private.api_call_queue_v2 for values in ('processing');
alter table private.api_call_queue_v2_processing enable row level security;

create table private.api_call_queue_v2_completed
    partition of private.api_call_queue_v2 for values in ('completed');
alter table private.api_call_queue_v2_completed enable row level security;

create table private.api_call_queue_v2_failed
    partition of private.api_call_queue_v2 for values in ('failed');
alter table private.api_call_queue_v2_failed enable row level security;

-- Claim order: priority desc, then oldest (id breaks ties deterministically).
create index api_call_queue_v2_pending_claim_idx
    on private.api_call_queue_v2_pending (priority desc, created_at, id);
create unique index api_call_queue_v2_pending_dedup_key_idx
    on private.api_call_queue_v2_pending (dedup_key);

create unique index api_call_queue_v2_processing_dedup_key_idx
    on private.api_call_queue_v2_processing (dedup_key);
-- Rescue: leases that have expired.
create index api_call_queue_v2_processing_lease_expires_at_idx
    on private.api_call_queue_v2_processing (lease_expires_at);

-- Retention: oldest finished rows first.
create index api_call_queue_v2_completed_finished_at_idx
    on private.api_call_queue_v2_completed (finished_at);
create index api_call_queue_v2_failed_finished_at_idx
    on private.api_call_queue_v2_failed (finished_at);

revoke all on table private.api_call_queue_v2 from public, anon, authenticated, service_role;
revoke all on table private.api_call_queue_v2_pending from public, anon, authenticated, service_role;
revoke all on table private.api_call_queue_v2_processing from public, anon, authenticated, service_role;
revoke all on table private.api_call_queue_v2_completed from public, anon, authenticated, service_role;
revoke all on table private.api_call_queue_v2_failed from public, anon, authenticated, service_role;
revoke all on sequence private.api_call_queue_v2_id_seq from public, anon, authenticated, service_role;
