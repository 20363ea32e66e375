-- Presence analytics (3.4): what is watched and by how many, rolled up per hour into
-- private.presence_analytics by refresh_analytics_from_presence_v2 (pg_cron job
-- keepfresh-analytics). Each call samples the live subscriptions and folds the sample into the
-- current hour's row per (data type, symbol): the peak and latest number of distinct users and
-- of clients, and how many samples saw it. Operators read it with SQL, for example the most
-- watched symbols of the last day:
--   select symbol, max(peak_users) from private.presence_analytics
--   where bucket_start > now() - interval '1 day' and data_type = 'quote'
--   group by symbol order by 2 desc limit 20;
-- Rows older than presence_settings.analytics_retention are deleted by the same function.
-- FILLFACTOR 70: the current hour's rows are updated in place by every sample (HOT).

create table private.presence_analytics (
    bucket_start timestamptz not null,
    data_type text not null,
    symbol text not null,
    peak_users integer not null,
    peak_clients integer not null,
    last_users integer not null,
    last_clients integer not null,
    samples integer not null default 1,
    first_seen_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    constraint presence_analytics_pkey primary key (bucket_start, data_type, symbol),
    constraint presence_analytics_counts_check check (
        peak_users >= 0 and peak_clients >= 0 and last_users >= 0 and last_clients >= 0 and samples >= 1
    )
)
with (fillfactor = 70);

alter table private.presence_analytics enable row level security;

comment on table private.presence_analytics is
    'Per hour, data type and symbol: peak and latest distinct users and clients watching, from presence samples.';
comment on column private.presence_analytics.bucket_start is
    'Start of the UTC hour the samples fall in.';

-- Samples the live subscriptions (an empty data_types array counts as the default data types)
-- into the current hour's rows, then deletes rows older than analytics_retention (at most
-- expire_batch_limit per call). Returns {"bucket_start", "pairs", "symbols", "users",
-- "clients", "pruned"}: pairs (data type, symbol) sampled, distinct symbols, users and
-- (user, client) pairs watching now.
create function public.refresh_analytics_from_presence_v2()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_settings private.presence_settings;
    v_bucket timestamptz := pg_catalog.date_trunc('hour', now(), 'UTC');
    v_pairs integer;
    v_totals record;
    v_pruned integer;
begin
    select s.* into v_settings from private.presence_settings as s;

    insert into private.presence_analytics as p (
        bucket_start, data_type, symbol, peak_users, peak_clients, last_users, last_clients
    )
    select v_bucket, w.data_type, w.symbol, w.users, w.clients, w.users, w.clients
    from (
        select
            t.data_type,
            a.symbol,
            count(distinct a.user_id)::integer as users,
            count(*)::integer as clients
        from public.active_subscriptions_v2 as a
        cross join lateral unnest(
            case when cardinality(a.data_types) = 0 then v_settings.default_data_types else a.data_types end
        ) as t (data_type)
        where a.expires_at > now()
        group by t.data_type, a.symbol
    ) as w
    order by w.data_type, w.symbol
    on conflict (bucket_start, data_type, symbol) do update
    set peak_users = greatest(p.peak_users, excluded.peak_users),
        peak_clients = greatest(p.peak_clients, excluded.peak_clients),
        last_users = excluded.last_users,
        last_clients = excluded.last_clients,
        samples = p.samples + 1,
        last_seen_at = now();
    get diagnostics v_pairs = row_count;

    select
        count(distinct a.symbol)::integer as symbols,
        count(distinct a.user_id)::integer as users,
        count(distinct (a.user_id, a.client_id))::integer as clients
    into v_totals
    from public.active_subscriptions_v2 as a
    where a.expires_at > now();

    delete from private.presence_analytics as p
    where p.ctid = any(array(
        select o.ctid
        from private.presence_analytics as o
        where o.bucket_start < now() - v_settings.analytics_retention
        order by o.bucket_start
        limit v_settings.expire_batch_limit
    ));
    get diagnostics v_pruned = row_count;

    return pg_catalog.jsonb_build_object(
        'bucket_start', v_bucket,
        'pairs', v_pairs,
        'symbols', v_totals.symbols,
        'users', v_totals.users,
        'clients', v_totals.clients,
        'pruned', v_pruned
    );
end;
$$;

comment on function public.refresh_analytics_from_presence_v2() is
    'pg_cron: folds a sample of live presence into hourly per (data type, symbol) watcher counts; prunes old hours.';

revoke all on table private.presence_analytics from public, anon, authenticated, service_role;
revoke all on function public.refresh_analytics_from_presence_v2() from public, anon, authenticated, service_role;
grant execute on function public.refresh_analytics_from_presence_v2() to service_role;
