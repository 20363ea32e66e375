-- Creates public.feature_flags and public.is_feature_enabled (3.1): global switches that the
-- queue functions read on every tick, so turning one off stops that path within one tick.
-- use_queue_system gates claiming, use_presence_tracking gates presence-driven queueing; both
-- are enabled on a fresh install (there is no legacy system to protect).
-- Read-only to clients: authenticated users may read the flags, anon sees nothing, and only
-- postgres and service_role write them.

create table public.feature_flags (
    name text primary key,
    enabled boolean not null default true,
    description text not null,
    updated_at timestamptz not null default now(),
    constraint feature_flags_name_check check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    constraint feature_flags_description_check check (char_length(description) between 1 and 500)
);

alter table public.feature_flags enable row level security;

comment on table public.feature_flags is
    'Global keepfresh switches read by the queue functions on every tick; read-only to clients.';

create policy "Authenticated users can read feature flags"
    on public.feature_flags
    for select
    to authenticated
    using (true);

create trigger set_updated_at
    before update on public.feature_flags
    for each row
    execute function private.tg__set_updated_at();

revoke all on table public.feature_flags from public, anon, authenticated, service_role;
grant select on table public.feature_flags to authenticated;
grant select, insert, update, delete on table public.feature_flags to service_role;

insert into public.feature_flags (name, enabled, description)
values
    ('use_queue_system', true, 'Workers may claim jobs from the refresh queue.'),
    ('use_presence_tracking', true, 'Client presence (active subscriptions) queues stale data.');

-- Whether the flag p_name is enabled. Unknown names are disabled (false), so a typo never turns
-- a path on. Never null, never raises.
create function public.is_feature_enabled(p_name text)
returns boolean
language sql
stable
parallel safe
set search_path = ''
as $$
    select coalesce(
        (select f.enabled from public.feature_flags as f where f.name = p_name),
        false
    )
$$;

comment on function public.is_feature_enabled(text) is
    'True when the named feature flag exists and is enabled; false for unknown names and null.';

-- Called by the queue functions (as their owner) and by Edge Functions as service_role.
revoke all on function public.is_feature_enabled(text) from public, anon, authenticated, service_role;
grant execute on function public.is_feature_enabled(text) to service_role;
