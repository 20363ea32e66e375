-- Creates private.providers (3.3): one row per upstream provider with its quota windows and its
-- current state. Claims lock the provider row (FOR NO KEY UPDATE) while they reserve calls, so
-- claims for one provider run one at a time and no interleaving can exceed a call window.
--
-- Windows (null = no limit):
--   calls_per_minute  calls charged in the current UTC calendar minute
--   calls_per_day     calls charged in the trailing 24 hours (hour buckets: the current hour plus
--                     the 24 before it, so between 24 and 25 hours: never more than the upstream
--                     allows in any 24 hours, whether it counts a rolling or a calendar day)
--   bytes_per_30d     response bytes in the trailing 30 days (day buckets: today plus the 30
--                     days before), in-flight reservations included
-- A claim reserves calls_per_job calls and ceil(estimated_bytes * bytes_safety_factor) bytes
-- per job (private.provider_usage).
--
-- States (each visible in health-check): ok; rate_limited (429 or a "Limit Reach" body: short
-- pause); bandwidth_exhausted ("Bandwidth Limit Reach": long pause); invalid_key (401: no
-- claims, the circuit opens, jobs stay pending; state_until null means until an operator sets
-- the state back to ok). A state whose state_until has passed counts as ok.
--
-- Seed: fmp with FMP free-tier-like defaults, to be raised for a paid plan:
--   update private.providers set calls_per_minute = 750, calls_per_day = null,
--       bytes_per_30d = null where provider = 'fmp';
--   250 calls/day (FMP free), 300 calls/minute, 500 MB per 30 days counted as 500,000,000
--   bytes (the decimal reading, the smaller one). The bytes safety factor 1.5 matches the
--   +-50% spread of FMP response sizes around the mean that estimated_bytes converges to.

create table private.providers (
    provider text primary key,
    calls_per_minute integer,
    calls_per_day integer,
    bytes_per_30d bigint,
    bytes_safety_factor numeric(4, 2) not null default 1.5,
    rate_limit_pause_seconds integer not null default 60,
    bandwidth_pause_seconds integer not null default 3600,
    state text not null default 'ok',
    state_until timestamptz,
    state_reason text,
    updated_at timestamptz not null default now(),
    constraint providers_provider_check check (provider ~ '^[a-z][a-z0-9_-]{0,62}$'),
    constraint providers_calls_per_minute_check check (calls_per_minute >= 0),
    constraint providers_calls_per_day_check check (calls_per_day >= 0),
    constraint providers_bytes_per_30d_check check (bytes_per_30d >= 0),
    -- Below 1 the reservation would be smaller than the estimate; 10 is already absurd.
    constraint providers_bytes_safety_factor_check check (bytes_safety_factor between 1 and 10),
    constraint providers_rate_limit_pause_seconds_check check (rate_limit_pause_seconds between 1 and 86400),
    constraint providers_bandwidth_pause_seconds_check check (bandwidth_pause_seconds between 1 and 2592000),
    constraint providers_state_check
        check (state in ('ok', 'rate_limited', 'bandwidth_exhausted', 'invalid_key')),
    constraint providers_state_until_check check (state <> 'ok' or state_until is null),
    constraint providers_state_reason_check check (char_length(state_reason) <= 2000)
);

alter table private.providers enable row level security;

comment on table private.providers is
    'Upstream providers: quota windows (null = unlimited), bytes safety factor, pauses and current state.';
comment on column private.providers.calls_per_day is
    'Calls in the trailing 24 hours (current hour bucket plus the 24 before it).';
comment on column private.providers.bytes_per_30d is
    'Response bytes in the trailing 30 days (today plus the 30 days before), reservations included.';
comment on column private.providers.bytes_safety_factor is
    'A claim reserves ceil(estimated_bytes * factor) bytes per job; completion replaces it with actual bytes.';
comment on column private.providers.state_until is
    'When a non-ok state ends by itself; null with invalid_key: until an operator sets ok.';

create trigger set_updated_at
    before update on private.providers
    for each row
    execute function private.tg__set_updated_at();

insert into private.providers (provider, calls_per_minute, calls_per_day, bytes_per_30d)
values ('fmp', 300, 250, 500000000);

-- Every provider the registry already names gets a row (no limits, state ok), so that its jobs
-- can be claimed; a provider without a row is never claimed.
insert into private.providers (provider)
select distinct r.provider
from public.data_type_registry_v2 as r
where r.provider <> 'fmp'
order by 1
on conflict (provider) do nothing;

-- The state that applies now: a non-ok state whose state_until has passed counts as ok.
create function private.provider_effective_state(p_state text, p_state_until timestamptz)
returns text
language sql
stable
parallel safe
set search_path = ''
as $$
    select case
        when p_state <> 'ok' and p_state_until is not null and p_state_until <= now() then 'ok'
        else p_state
    end
$$;

comment on function private.provider_effective_state(text, timestamptz) is
    'The provider state in force now: ok once state_until has passed.';

-- Raises invalid_parameter_value (22023) with a hint unless p_provider has a row in
-- private.providers. Returns nothing.
create function private.require_provider(p_provider text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if p_provider is null or not exists (
        select 1 from private.providers as p where p.provider = p_provider
    ) then
        raise exception 'unknown provider "%"', coalesce(p_provider, 'null')
            using errcode = '22023',
                hint = 'Providers are the rows of private.providers; a data type''s provider is data_type_registry_v2.provider.';
    end if;
end;
$$;

comment on function private.require_provider(text) is
    'Raises 22023 (unknown provider) unless the provider has a row in private.providers.';

revoke all on table private.providers from public, anon, authenticated, service_role;
revoke all on function private.require_provider(text) from public, anon, authenticated, service_role;
revoke all on function private.provider_effective_state(text, timestamptz) from public, anon, authenticated, service_role;
