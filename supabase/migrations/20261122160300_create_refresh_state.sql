-- Creates private.refresh_state (3.2): per (data type, key), when it was last checked upstream,
-- how that went, and when it may be queued again. Completion and failure write it; enqueue and
-- the staleness scans read it, so a key whose fetch returned no data, was not newer than what
-- is stored, or failed for good is not re-queued every tick:
--   success    next_eligible_at = now() + ttl_seconds
--   not_newer  next_eligible_at = now() + ttl_seconds
--   no_data    next_eligible_at = now() + empty_cooldown_seconds
--   failed     (permanent, or transient with attempts used up)
--              next_eligible_at = now() + empty_cooldown_seconds
-- Keyless data types (key_kind none, a null key in the queue) are stored with key '' so that
-- the key can be part of the primary key; the queue forbids '' as a real key.
-- FILLFACTOR 70: a row is updated in place on every refresh of its key and only non-indexed
-- columns change, so the updates are HOT.

create table private.refresh_state (
    data_type text not null references public.data_type_registry_v2 (data_type) on delete cascade,
    key text not null,
    last_checked_at timestamptz not null,
    next_eligible_at timestamptz not null,
    last_outcome text not null,
    last_success_at timestamptz,
    consecutive_failures integer not null default 0,
    last_error text,
    updated_at timestamptz not null default now(),
    constraint refresh_state_pkey primary key (data_type, key),
    constraint refresh_state_key_check check (char_length(key) <= 64),
    constraint refresh_state_last_outcome_check
        check (last_outcome in ('success', 'no_data', 'not_newer', 'failed')),
    constraint refresh_state_consecutive_failures_check check (consecutive_failures >= 0),
    constraint refresh_state_last_error_check check (char_length(last_error) <= 2000)
)
with (fillfactor = 70);

alter table private.refresh_state enable row level security;

comment on table private.refresh_state is
    'Per (data type, key): last upstream check, its outcome and when the key may be queued again.';
comment on column private.refresh_state.key is
    'The job key; '''' for keyless data types (key_kind none), whose queue key is null.';
comment on column private.refresh_state.next_eligible_at is
    'Until then enqueue skips the key (created false, job_id null) unless priority is 100 (manual).';
comment on column private.refresh_state.consecutive_failures is
    'Failed checks (permanent, or retries used up) since the last answer from upstream.';

revoke all on table private.refresh_state from public, anon, authenticated, service_role;
