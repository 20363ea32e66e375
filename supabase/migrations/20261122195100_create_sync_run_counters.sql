-- Creates private.sync_run_counters (3.5, 3.7): running totals of every finished sync run for
-- the Prometheus counters of health-check (runs per status, jobs, upstream calls and bytes) and
-- its run-duration histogram. Prometheus counters must never go down, and sync_runs is pruned
-- after queue_settings.sync_runs_retention, so the totals cannot be sums over sync_runs: a
-- trigger adds each run once, when it finishes (status leaves 'running', or it is inserted
-- finished). One row per final status spreads the writes; a run finishes at most a few times a
-- minute, so these rows are never hot. FILLFACTOR 70: updated in place, no indexed column
-- changes, so the updates are HOT.

-- Upper bounds (seconds) of the sync-run duration histogram buckets, in ascending order; a last
-- +Inf bucket is implied. Processor runs last from well under a second (nothing due) to the
-- hosted wall-clock limit (150 s free, 400 s paid).
create function private.sync_run_duration_buckets()
returns double precision[]
language sql
immutable
parallel safe
set search_path = ''
as $$
    select array[0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 150, 400]::double precision[]
$$;

comment on function private.sync_run_duration_buckets() is
    'Upper bounds in seconds of the sync-run duration histogram buckets (a +Inf bucket is implied).';

-- The 1-based bucket of a duration of p_seconds: the first bound it does not exceed, or
-- cardinality + 1 (the +Inf bucket) above the last bound. Null for null.
create function private.sync_run_duration_bucket(p_seconds double precision)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case when p_seconds is not null then (
        select pg_catalog.count(*)::integer + 1
        from pg_catalog.unnest(private.sync_run_duration_buckets()) as b (bound)
        where b.bound < p_seconds
    ) end
$$;

comment on function private.sync_run_duration_bucket(double precision) is
    'Index (1-based) of the histogram bucket of a run duration; cardinality + 1 is the +Inf bucket.';

create table private.sync_run_counters (
    status text primary key,
    runs bigint not null default 0,
    claimed bigint not null default 0,
    succeeded bigint not null default 0,
    failed bigint not null default 0,
    retried bigint not null default 0,
    calls bigint not null default 0,
    bytes bigint not null default 0,
    duration_seconds_sum double precision not null default 0,
    -- Runs per bucket of private.sync_run_duration_buckets() plus +Inf (not cumulative).
    duration_bucket_counts bigint[] not null
        default pg_catalog.array_fill(0::bigint, array[pg_catalog.cardinality(private.sync_run_duration_buckets()) + 1]),
    updated_at timestamptz not null default now(),
    constraint sync_run_counters_status_check check (status in ('succeeded', 'failed', 'partial')),
    constraint sync_run_counters_counts_check check (
        runs >= 0 and claimed >= 0 and succeeded >= 0 and failed >= 0 and retried >= 0
        and calls >= 0 and bytes >= 0 and duration_seconds_sum >= 0
    ),
    constraint sync_run_counters_buckets_check check (
        pg_catalog.cardinality(duration_bucket_counts) = pg_catalog.cardinality(private.sync_run_duration_buckets()) + 1
    )
)
with (fillfactor = 70);

alter table private.sync_run_counters enable row level security;

comment on table private.sync_run_counters is
    'Totals of every finished sync run per final status (never decrease): runs, jobs, calls, bytes, duration histogram.';

-- Runs that finished before this migration count too.
insert into private.sync_run_counters (status)
values ('succeeded'), ('failed'), ('partial');

update private.sync_run_counters as c
set runs = t.runs,
    claimed = t.claimed,
    succeeded = t.succeeded,
    failed = t.failed,
    retried = t.retried,
    calls = t.calls,
    bytes = t.bytes,
    duration_seconds_sum = t.duration_seconds_sum,
    duration_bucket_counts = t.duration_bucket_counts
from (
    select
        r.status,
        pg_catalog.count(*) as runs,
        sum(r.claimed) as claimed,
        sum(r.succeeded) as succeeded,
        sum(r.failed) as failed,
        sum(r.retried) as retried,
        sum(r.calls) as calls,
        sum(r.bytes) as bytes,
        coalesce(sum(extract(epoch from r.finished_at - r.started_at)::double precision), 0) as duration_seconds_sum,
        (
            select pg_catalog.array_agg(coalesce(x.n, 0) order by i.i)
            from pg_catalog.generate_series(1, pg_catalog.cardinality(private.sync_run_duration_buckets()) + 1) as i (i)
            left join (
                select
                    private.sync_run_duration_bucket(extract(epoch from s.finished_at - s.started_at)::double precision) as bucket,
                    pg_catalog.count(*) as n
                from private.sync_runs as s
                where s.status = r.status
                group by 1
            ) as x on x.bucket = i.i
        ) as duration_bucket_counts
    from private.sync_runs as r
    where r.status <> 'running'
    group by r.status
) as t
where c.status = t.status;

-- Trigger function: adds a sync run to private.sync_run_counters when it finishes: inserted with
-- a final status, or updated from 'running' to one. Returns null (AFTER ROW trigger).
create function private.tg_sync_runs__count_finished()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    v_bucket integer;
    v_seconds double precision;
begin
    if new.status = 'running' or (tg_op = 'UPDATE' and old.status <> 'running') then
        return null;
    end if;
    v_seconds := greatest(extract(epoch from new.finished_at - new.started_at)::double precision, 0);
    v_bucket := private.sync_run_duration_bucket(v_seconds);
    update private.sync_run_counters as c
    set runs = c.runs + 1,
        claimed = c.claimed + new.claimed,
        succeeded = c.succeeded + new.succeeded,
        failed = c.failed + new.failed,
        retried = c.retried + new.retried,
        calls = c.calls + new.calls,
        bytes = c.bytes + new.bytes,
        duration_seconds_sum = c.duration_seconds_sum + v_seconds,
        duration_bucket_counts[v_bucket] = c.duration_bucket_counts[v_bucket] + 1,
        updated_at = now()
    where c.status = new.status;
    return null;
end;
$$;

comment on function private.tg_sync_runs__count_finished() is
    'Adds a finished sync run to private.sync_run_counters (runs, jobs, calls, bytes, duration bucket).';

create trigger count_finished_on_insert
    after insert on private.sync_runs
    for each row
    when (new.status <> 'running')
    execute function private.tg_sync_runs__count_finished();

create trigger count_finished_on_update
    after update of status on private.sync_runs
    for each row
    when (old.status = 'running' and new.status <> 'running')
    execute function private.tg_sync_runs__count_finished();

-- The totals as JSON for health-check: runs {succeeded, failed, partial}, jobs {claimed,
-- succeeded, failed, retried}, calls, bytes, and duration {sum, count, buckets: [{le, count}]}
-- with cumulative counts (Prometheus histogram semantics) and a last {"le": "+Inf"} bucket.
create function private.sync_run_totals()
returns jsonb
language sql
stable
set search_path = ''
as $$
    with totals as (
        select
            pg_catalog.jsonb_object_agg(c.status, c.runs order by c.status) as runs,
            sum(c.runs) as run_count,
            sum(c.claimed) as claimed,
            sum(c.succeeded) as succeeded,
            sum(c.failed) as failed,
            sum(c.retried) as retried,
            sum(c.calls) as calls,
            sum(c.bytes) as bytes,
            sum(c.duration_seconds_sum) as duration_sum
        from private.sync_run_counters as c
    ),
    per_bucket as (
        select b.i, sum(c.duration_bucket_counts[b.i]) as n
        from pg_catalog.generate_series(1, pg_catalog.cardinality(private.sync_run_duration_buckets()) + 1) as b (i)
        cross join private.sync_run_counters as c
        group by b.i
    ),
    cumulative as (
        select
            p.i,
            (private.sync_run_duration_buckets())[p.i] as bound,
            sum(p.n) over (order by p.i) as n
        from per_bucket as p
    )
    select pg_catalog.jsonb_build_object(
        'runs', t.runs,
        'jobs', pg_catalog.jsonb_build_object(
            'claimed', t.claimed, 'succeeded', t.succeeded, 'failed', t.failed, 'retried', t.retried),
        'calls', t.calls,
        'bytes', t.bytes,
        'duration', pg_catalog.jsonb_build_object(
            'sum', t.duration_sum,
            'count', t.run_count,
            'buckets', (
                select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'le', coalesce(pg_catalog.to_jsonb(c.bound), '"+Inf"'::jsonb), 'count', c.n)
                    order by c.i)
                from cumulative as c
            )
        )
    )
    from totals as t
$$;

comment on function private.sync_run_totals() is
    'Totals of all finished sync runs as JSON: runs per status, jobs, calls, bytes, cumulative duration histogram.';

revoke all on table private.sync_run_counters from public, anon, authenticated, service_role;
revoke all on function private.sync_run_duration_buckets() from public, anon, authenticated, service_role;
revoke all on function private.sync_run_duration_bucket(double precision) from public, anon, authenticated, service_role;
revoke all on function private.tg_sync_runs__count_finished() from public, anon, authenticated, service_role;
revoke all on function private.sync_run_totals() from public, anon, authenticated, service_role;
