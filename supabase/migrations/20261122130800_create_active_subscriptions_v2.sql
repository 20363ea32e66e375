-- Creates public.active_subscriptions_v2 (3.4): which user (and which of their clients) is
-- looking at which symbol and data types right now. Clients renew a row with a heartbeat;
-- presence scans queue stale data for rows that have not expired.
-- RLS: a user reads and writes only their own rows; anon has no access; service_role (the
-- Edge Functions) bypasses RLS. Authenticated users may update only the heartbeat columns, so
-- a row can never be moved to another user, client or symbol.

create table public.active_subscriptions_v2 (
    id bigint generated always as identity primary key,
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    client_id text not null default 'default',
    symbol text not null,
    data_types text[] not null default '{}',
    last_seen_at timestamptz not null default now(),
    expires_at timestamptz not null,
    created_at timestamptz not null default now(),
    constraint active_subscriptions_v2_user_client_symbol_key unique (user_id, client_id, symbol),
    -- One tab or device per client id; 64 characters is plenty for a uuid or a readable name.
    constraint active_subscriptions_v2_client_id_check
        check (char_length(client_id) between 1 and 64),
    -- Upper case tickers with index (^GSPC), class (BRK-B) and exchange suffixes (RELIANCE.NS).
    constraint active_subscriptions_v2_symbol_check
        check (symbol ~ '^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$'),
    -- No nulls; 32 is well above the 11 built-in data types.
    constraint active_subscriptions_v2_data_types_check
        check (cardinality(data_types) <= 32 and array_position(data_types, null) is null),
    -- Presence is a heartbeat: a row nobody renews within a day is not presence.
    constraint active_subscriptions_v2_expires_at_check
        check (expires_at > last_seen_at and expires_at - last_seen_at <= interval '1 day')
);

alter table public.active_subscriptions_v2 enable row level security;

comment on table public.active_subscriptions_v2 is
    'Presence: which user and client watches which symbol and data types, renewed by heartbeat.';
comment on column public.active_subscriptions_v2.data_types is
    'Data types the client shows for the symbol; empty means the default set.';
comment on column public.active_subscriptions_v2.expires_at is
    'When the subscription stops counting as presence unless a heartbeat renews it.';

-- Presence scans and expiry cleanup read only unexpired (or just expired) rows.
create index active_subscriptions_v2_expires_at_idx
    on public.active_subscriptions_v2 (expires_at);

create policy "Users can read their own subscriptions"
    on public.active_subscriptions_v2
    for select
    to authenticated
    using ((select auth.uid()) = user_id);

create policy "Users can create their own subscriptions"
    on public.active_subscriptions_v2
    for insert
    to authenticated
    with check ((select auth.uid()) = user_id);

create policy "Users can update their own subscriptions"
    on public.active_subscriptions_v2
    for update
    to authenticated
    using ((select auth.uid()) = user_id)
    with check ((select auth.uid()) = user_id);

create policy "Users can delete their own subscriptions"
    on public.active_subscriptions_v2
    for delete
    to authenticated
    using ((select auth.uid()) = user_id);

revoke all on table public.active_subscriptions_v2 from public, anon, authenticated, service_role;
grant select, insert, delete on table public.active_subscriptions_v2 to authenticated;
grant update (data_types, last_seen_at, expires_at) on table public.active_subscriptions_v2 to authenticated;
grant select, insert, update, delete on table public.active_subscriptions_v2 to service_role;

-- The identity sequence: inserts draw from it without any grant, so nobody needs one.
revoke all on sequence public.active_subscriptions_v2_id_seq from public, anon, authenticated, service_role;
