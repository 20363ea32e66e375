-- Creates the vocabulary snapshot (3.6): per-term reference counts, its state row (version,
-- dirty flag, build and verification times), the settings row, the version sequence and the
-- fallback-read counter.
--
-- - private.vocabulary_terms: one row per (field, term) with the number of source rows that
--   carry it. A term is in the vocabulary while refs > 0. Writers only touch the rows of the
--   terms they change, at commit, so there is no single row every writer updates.
-- - private.vocabulary_state: the one row readers use to label what they read. Its version comes
--   from private.vocabulary_version_seq and is bumped only when the vocabulary changes (a term
--   appears or disappears), by the committing transaction, so it is visible exactly at commit.
--   dirty means a maintenance step failed: readers then get the fallback (the same data
--   computed from the source tables) until a rebuild clears it.
-- - private.vocabulary_settings: max_age_seconds (readers re-check a snapshot that no rebuild or
--   check has confirmed for that long), the rebuild's lock timeout, an optional Realtime topic,
--   and the switch that lets tests force maintenance failures.
-- - private.vocabulary_fallback_reads_seq: counts reads served from the fallback. A sequence, so
--   that counting takes no row lock and survives the reader's rollback.

create sequence private.vocabulary_version_seq as bigint;

comment on sequence private.vocabulary_version_seq is
    'Versions of the vocabulary snapshot: one value per change of the vocabulary.';

create sequence private.vocabulary_fallback_reads_seq as bigint;

comment on sequence private.vocabulary_fallback_reads_seq is
    'Counter of vocabulary reads served from the fallback (dirty, missing or unconfirmed snapshot).';

-- refs is updated in place on every change of a term's count: leave room for HOT updates.
create table private.vocabulary_terms (
    field text not null,
    term text not null,
    -- Never negative once a commit step ends: private.vocabulary_apply_deltas raises when a
    -- count would go below 0 (the snapshot lost track) and the snapshot is marked dirty instead.
    -- Not a CHECK: INSERT ... ON CONFLICT checks the proposed row, which carries the delta.
    refs bigint not null,
    constraint vocabulary_terms_pkey primary key (field, term)
) with (fillfactor = 80);

alter table private.vocabulary_terms enable row level security;

comment on table private.vocabulary_terms is
    'Vocabulary snapshot: how many source rows carry each (field, term); a term is in the vocabulary while refs > 0.';

create table private.vocabulary_state (
    id boolean primary key default true,
    version bigint not null,
    dirty boolean not null default false,
    dirty_since timestamptz,
    dirty_reason text,
    built_at timestamptz,
    verified_at timestamptz,
    changed_at timestamptz,
    constraint vocabulary_state_single_row_check check (id),
    constraint vocabulary_state_dirty_check check (dirty = (dirty_since is not null))
);

alter table private.vocabulary_state enable row level security;

comment on table private.vocabulary_state is
    'One row: version of the vocabulary snapshot, whether it is dirty, and when it was built, confirmed and changed.';
comment on column private.vocabulary_state.built_at is
    'Last successful full rebuild; null until the first one (the snapshot is then missing).';
comment on column private.vocabulary_state.verified_at is
    'Last time the snapshot was confirmed equal to its sources (rebuild, or a reader''s check after max_age_seconds).';
comment on column private.vocabulary_state.changed_at is 'Last time the version changed.';

insert into private.vocabulary_state (id, version)
values (true, pg_catalog.nextval('private.vocabulary_version_seq'));

create table private.vocabulary_settings (
    id boolean primary key default true,
    max_age_seconds integer not null default 3600,
    rebuild_lock_timeout_ms integer not null default 5000,
    realtime_topic text,
    fail_points_enabled boolean not null default false,
    updated_at timestamptz not null default now(),
    constraint vocabulary_settings_single_row_check check (id),
    -- From a minute (tests and eager checks) to a week (a snapshot nobody confirms for longer
    -- than that is not worth serving).
    constraint vocabulary_settings_max_age_seconds_check check (max_age_seconds between 60 and 604800),
    -- The rebuild blocks writers' commits while it holds the snapshot: give up rather than
    -- queue them for long behind a slow lock.
    constraint vocabulary_settings_rebuild_lock_timeout_ms_check
        check (rebuild_lock_timeout_ms between 100 and 60000),
    -- Realtime topic names: letters, digits and . _ : - (Supabase channel names).
    constraint vocabulary_settings_realtime_topic_check
        check (realtime_topic ~ '^[A-Za-z0-9_.:-]{1,100}$')
);

alter table private.vocabulary_settings enable row level security;

comment on table private.vocabulary_settings is
    'One row of vocabulary tunables: max age before readers re-check, rebuild lock timeout, Realtime topic, test fail points.';
comment on column private.vocabulary_settings.max_age_seconds is
    'A snapshot not confirmed by a rebuild or check for this long is re-checked against its sources by the next reader.';
comment on column private.vocabulary_settings.realtime_topic is
    'When set and realtime.send exists (hosted), every version change is also broadcast on this public topic.';
comment on column private.vocabulary_settings.fail_points_enabled is
    'Tests only: lets keepfresh.vocabulary_fail (statement, commit, rebuild) force maintenance failures.';

create trigger set_updated_at
    before update on private.vocabulary_settings
    for each row
    execute function private.tg__set_updated_at();

insert into private.vocabulary_settings (id) values (true);

revoke all on table private.vocabulary_terms from public, anon, authenticated, service_role;
revoke all on table private.vocabulary_state from public, anon, authenticated, service_role;
revoke all on table private.vocabulary_settings from public, anon, authenticated, service_role;
revoke all on sequence private.vocabulary_version_seq from public, anon, authenticated, service_role;
revoke all on sequence private.vocabulary_fallback_reads_seq from public, anon, authenticated, service_role;
