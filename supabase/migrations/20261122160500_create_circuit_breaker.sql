-- Creates private.circuit_breaker (3.2): per provider, whether the processor loop may start a
-- run. Fed by finish_sync_run_v2 and by an invalid-key failure:
--   closed     runs start normally; failure_threshold consecutive failed runs open it
--   open       no run starts until cooldown_seconds after opened_at
--   half_open  after the cool-down one probe run may start; a run that succeeds at least one
--              job closes the circuit, a failed run opens it again (opened_at = now()); if the
--              probe never reports within cooldown_seconds another probe may start
-- A run that claimed nothing is inconclusive and changes nothing. An invalid key opens the
-- circuit at once; setting the provider state back to ok closes it.
-- A provider without a row behaves as closed with the defaults; rows are created on demand.

create table private.circuit_breaker (
    provider text primary key references private.providers (provider) on delete cascade,
    state text not null default 'closed',
    consecutive_failed_runs integer not null default 0,
    opened_at timestamptz,
    half_opened_at timestamptz,
    cooldown_seconds integer not null default 300,
    failure_threshold integer not null default 3,
    reason text,
    updated_at timestamptz not null default now(),
    constraint circuit_breaker_state_check check (state in ('closed', 'open', 'half_open')),
    constraint circuit_breaker_opened_at_check check (state = 'closed' or opened_at is not null),
    constraint circuit_breaker_consecutive_failed_runs_check check (consecutive_failed_runs >= 0),
    constraint circuit_breaker_cooldown_seconds_check check (cooldown_seconds between 1 and 86400),
    constraint circuit_breaker_failure_threshold_check check (failure_threshold between 1 and 100),
    constraint circuit_breaker_reason_check check (char_length(reason) <= 2000)
);

alter table private.circuit_breaker enable row level security;

comment on table private.circuit_breaker is
    'Per provider: closed, open (after failed runs or an invalid key) or half_open (one probe run).';

create trigger set_updated_at
    before update on private.circuit_breaker
    for each row
    execute function private.tg__set_updated_at();

insert into private.circuit_breaker (provider)
select p.provider from private.providers as p order by 1;

revoke all on table private.circuit_breaker from public, anon, authenticated, service_role;
