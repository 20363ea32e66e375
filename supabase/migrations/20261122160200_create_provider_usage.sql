-- Creates private.provider_usage (3.3): upstream usage per provider in time buckets, never one
-- hot row. Three bucket widths, one per window that reads them:
--   minute  calls, for calls_per_minute (the current UTC minute)
--   hour    calls, for calls_per_day (the current hour plus the 24 before it)
--   day     calls, bytes and reserved_bytes, for bytes_per_30d (today plus the 30 days before)
-- A claim charges calls_per_job calls to the three buckets of the claim time and reserves its
-- upper byte estimate in the day bucket; completion moves the job's reservation to actual bytes
-- in the day bucket of its claim. Calls are charged at claim and never refunded once the
-- upstream may have been called (success, failure or an expired lease alike), so there is no
-- separate reserved_calls: only bytes have a reservation to reconcile.
-- FILLFACTOR 70: rows are updated in place many times a minute and only non-indexed columns
-- change, so the updates are HOT and leave the index alone.

create table private.provider_usage (
    provider text not null references private.providers (provider) on delete cascade,
    width text not null,
    bucket timestamptz not null,
    calls bigint not null default 0,
    bytes bigint not null default 0,
    reserved_bytes bigint not null default 0,
    constraint provider_usage_pkey primary key (provider, width, bucket),
    constraint provider_usage_width_check check (width in ('minute', 'hour', 'day')),
    constraint provider_usage_calls_check check (calls >= 0),
    constraint provider_usage_bytes_check check (bytes >= 0),
    constraint provider_usage_reserved_bytes_check check (reserved_bytes >= 0)
)
with (fillfactor = 70);

alter table private.provider_usage enable row level security;

comment on table private.provider_usage is
    'Upstream calls and bytes per provider in minute, hour and day buckets (UTC); updated in place (HOT).';
comment on column private.provider_usage.bucket is
    'Start of the bucket: date_trunc(width, time, ''UTC'').';
comment on column private.provider_usage.reserved_bytes is
    'Upper byte estimates of jobs claimed in this bucket and not yet finished (day buckets only).';

-- Usage of p_provider in its three windows at the current time: calls in the current minute,
-- calls in the trailing day, bytes and reserved bytes in the trailing 30 days. Zeros when there
-- is no usage (and for an unknown provider). Reads at most 1 + 25 + 31 rows by primary key.
-- plpgsql rather than sql: its plan is cached per session (a SQL function with its own
-- search_path is planned again on every call, about 1 ms of every claim).
create function private.provider_window_usage(p_provider text)
returns table (minute_calls bigint, day_calls bigint, bytes_30d bigint, reserved_bytes_30d bigint)
language plpgsql
stable
set search_path = ''
as $$
begin
    return query
    select
        coalesce(sum(u.calls) filter (where u.width = 'minute'), 0)::bigint,
        coalesce(sum(u.calls) filter (where u.width = 'hour'), 0)::bigint,
        coalesce(sum(u.bytes) filter (where u.width = 'day'), 0)::bigint,
        coalesce(sum(u.reserved_bytes) filter (where u.width = 'day'), 0)::bigint
    from private.provider_usage as u
    where u.provider = p_provider
        and (
            (u.width = 'minute' and u.bucket = pg_catalog.date_trunc('minute', now(), 'UTC'))
            or (u.width = 'hour'
                and u.bucket >= pg_catalog.date_trunc('hour', now(), 'UTC') - interval '24 hours')
            or (u.width = 'day'
                and u.bucket >= pg_catalog.date_trunc('day', now(), 'UTC') - interval '30 days')
        );
end;
$$;

comment on function private.provider_window_usage(text) is
    'Calls this minute, calls in the trailing day, bytes and reserved bytes in the trailing 30 days.';

-- How much p_provider may still spend now: calls (the smaller of the minute and day windows)
-- and bytes (30-day window, reservations counted), with the state in force and the bytes safety
-- factor. 0 for both while the provider is paused (rate_limited, bandwidth_exhausted or
-- invalid_key in force); a very large number for a window without a limit. No row for an
-- unknown provider.
create function private.provider_budget(p_provider text)
returns table (provider text, state text, calls_left bigint, bytes_left bigint, bytes_safety_factor numeric)
language plpgsql
stable
set search_path = ''
as $$
begin
    return query
    select
        p.provider,
        s.state,
        case
            when s.state <> 'ok' then 0::bigint
            else greatest(0, least(
                coalesce(p.calls_per_minute - w.minute_calls, 9223372036854775807),
                coalesce(p.calls_per_day - w.day_calls, 9223372036854775807)
            ))
        end,
        case
            when s.state <> 'ok' then 0::bigint
            else greatest(0, coalesce(
                p.bytes_per_30d - w.bytes_30d - w.reserved_bytes_30d, 9223372036854775807
            ))
        end,
        p.bytes_safety_factor
    from private.providers as p
    cross join lateral private.provider_window_usage(p.provider) as w
    cross join lateral (
        select case
            when p.state <> 'ok' and p.state_until is not null and p.state_until <= now() then 'ok'
            else p.state
        end as state
    ) as s
    where p.provider = p_provider;
end;
$$;

comment on function private.provider_budget(text) is
    'Calls and bytes the provider may still spend now (0 while paused; huge when unlimited), its state and safety factor.';

revoke all on table private.provider_usage from public, anon, authenticated, service_role;
revoke all on function private.provider_window_usage(text) from public, anon, authenticated, service_role;
revoke all on function private.provider_budget(text) from public, anon, authenticated, service_role;
