-- Creates private.vocabulary_rebuilds (3.6): one row per rebuild of the vocabulary snapshot,
-- successful or not, so every manual refresh (vocabulary-refresh POST, rebuild_vocabulary())
-- leaves a trace: who asked (trigger), how long it took, whether the vocabulary changed, the
-- counts and version it left, or the error that made it keep the last good snapshot.
-- Rows older than 30 days are pruned by the rebuild itself.

create table private.vocabulary_rebuilds (
    id bigint generated always as identity primary key,
    trigger text not null,
    status text not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    duration_ms numeric(12, 3) not null,
    changed boolean,
    version bigint,
    vocabulary_counts jsonb,
    error text,
    -- manual: rebuild_vocabulary() (vocabulary-refresh POST, SQL, cron); install: first build;
    -- mapping: private.vocabulary_sources changed.
    constraint vocabulary_rebuilds_trigger_check check (trigger in ('manual', 'install', 'mapping')),
    constraint vocabulary_rebuilds_status_check check (status in ('succeeded', 'failed')),
    constraint vocabulary_rebuilds_error_check check ((status = 'failed') = (error is not null)),
    constraint vocabulary_rebuilds_duration_check check (finished_at >= started_at and duration_ms >= 0)
);

alter table private.vocabulary_rebuilds enable row level security;

comment on table private.vocabulary_rebuilds is
    'Log of vocabulary snapshot rebuilds: trigger, timing, outcome, counts and version, or the error.';

-- Pruning and "last rebuild" both go by start time.
create index vocabulary_rebuilds_started_at_idx on private.vocabulary_rebuilds (started_at);

revoke all on table private.vocabulary_rebuilds from public, anon, authenticated, service_role;
revoke all on sequence private.vocabulary_rebuilds_id_seq from public, anon, authenticated, service_role;
