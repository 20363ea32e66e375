-- Creates the alert store of health-check (3.5): private.health_alert_settings, one row of
-- thresholds operators may tune, and private.health_alerts, one row per breach of a rule.
-- private.health_report() evaluates the rules every time it runs (a later migration): a breach
-- that starts raises ONE row (raised_at), later reports of the same breach leave it alone, and
-- the first report without the breach sets cleared_at. A partial unique index allows at most
-- one active (uncleared) alert per rule and subject, so concurrent reports cannot raise twice.
-- docs/operations.md lists the rules and what to do when each fires.

create table private.health_alert_settings (
    id boolean primary key default true,
    -- queue_oldest_pending: a due pending job has waited longer than this.
    oldest_due_wait_seconds integer not null default 600,
    -- queue_stuck_jobs: a processing job's lease expired longer ago than this and the processor
    -- loop (which rescues expired leases every tick) has not returned it to pending.
    stuck_job_grace_seconds integer not null default 120,
    -- quota_high: share of the calls_per_day or bytes_per_30d window in use (the minute window
    -- is a rate limit the processor is meant to run into under load, so it never alerts).
    quota_ratio numeric(4, 3) not null default 0.9,
    -- processor_success_rate_low: share of finished runs in the last hour that succeeded, only
    -- once at least success_rate_min_runs runs finished (one failed run is not a trend).
    success_rate_min numeric(4, 3) not null default 0.9,
    success_rate_min_runs integer not null default 3,
    -- Cleared alerts are kept this long for the record, then deleted by the evaluation.
    cleared_retention interval not null default interval '30 days',
    updated_at timestamptz not null default now(),
    constraint health_alert_settings_single_row_check check (id),
    constraint health_alert_settings_oldest_due_wait_seconds_check
        check (oldest_due_wait_seconds between 1 and 604800),
    constraint health_alert_settings_stuck_job_grace_seconds_check
        check (stuck_job_grace_seconds between 0 and 86400),
    constraint health_alert_settings_quota_ratio_check check (quota_ratio > 0 and quota_ratio <= 1),
    constraint health_alert_settings_success_rate_min_check
        check (success_rate_min >= 0 and success_rate_min <= 1),
    constraint health_alert_settings_success_rate_min_runs_check
        check (success_rate_min_runs between 1 and 10000),
    constraint health_alert_settings_cleared_retention_check
        check (cleared_retention >= interval '0')
);

alter table private.health_alert_settings enable row level security;

comment on table private.health_alert_settings is
    'One row of health-check alert thresholds (pending wait, stuck grace, quota share, success rate, retention).';

create trigger set_updated_at
    before update on private.health_alert_settings
    for each row
    execute function private.tg__set_updated_at();

insert into private.health_alert_settings (id) values (true);

create table private.health_alerts (
    id bigint generated always as identity primary key,
    rule text not null,
    -- What the rule is about: a cron job name, a provider, provider:window; '' for global rules.
    subject text not null default '',
    severity text not null,
    raised_at timestamptz not null default now(),
    cleared_at timestamptz,
    -- The measurement that raised it (the report shows the current one).
    detail jsonb not null default '{}',
    constraint health_alerts_rule_check check (rule ~ '^[a-z][a-z0-9_]{0,62}$'),
    constraint health_alerts_subject_check check (char_length(subject) <= 200),
    constraint health_alerts_severity_check check (severity in ('critical', 'warning')),
    constraint health_alerts_cleared_at_check check (cleared_at >= raised_at),
    constraint health_alerts_detail_check check (jsonb_typeof(detail) = 'object')
);

alter table private.health_alerts enable row level security;

comment on table private.health_alerts is
    'Health-check alerts: one row per breach of a rule (raised_at), cleared_at set on recovery.';
comment on column private.health_alerts.detail is
    'What was measured when the alert was raised; health_report() shows the current measurement.';

-- At most one active alert per rule and subject: the backstop of the evaluation's lock.
create unique index health_alerts_active_idx
    on private.health_alerts (rule, subject)
    where cleared_at is null;
-- Recently cleared alerts for the report, and retention.
create index health_alerts_cleared_at_idx
    on private.health_alerts (cleared_at)
    where cleared_at is not null;

revoke all on table private.health_alert_settings from public, anon, authenticated, service_role;
revoke all on table private.health_alerts from public, anon, authenticated, service_role;
revoke all on sequence private.health_alerts_id_seq from public, anon, authenticated, service_role;
