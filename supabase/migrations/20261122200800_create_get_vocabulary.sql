-- Creates the readers of the vocabulary (3.6): public.get_vocabulary() for signed-in users and
-- the service role, and private.vocabulary_health() for health-check.
--
-- get_vocabulary() returns {version, source, projects, project_locations, expense_files,
-- cashflow_files, expense_categories, cashflow_categories}: the snapshot ('snapshot'), or the
-- same data computed from the source tables ('fallback') when the snapshot is dirty, missing
-- (never built), or was not confirmed for vocabulary_settings.max_age_seconds. In the last case
-- the reader first checks the snapshot against the sources: equal, it is confirmed and served;
-- different (triggers were dropped, disabled or bypassed, e.g. session_replication_role =
-- replica), it is marked dirty, the version is bumped and the fallback served. Only one reader
-- checks at a time (the others do not wait: they get the fallback meanwhile), and read-only
-- transactions (PostgREST GET) check nothing and count nothing.
--
-- The version and the terms it labels are read in one statement (one snapshot), so a version
-- never labels older terms than it names: a client that caches by version (ETag) cannot keep a
-- stale copy under a current version.
--
-- The vocabulary is global: every signed-in user reads the terms of every user's rows (that is
-- what the assistant matches against). docs/vocabulary.md says so; map only columns that every
-- signed-in user may see.

-- Confirms the snapshot read at (p_version, p_built_at) against its sources when no other reader
-- or writer holds the state row (never waits). Returns true when it was confirmed (verified_at
-- set to now), false when it was not checked or differs; a difference marks the snapshot dirty
-- (unless a rebuild happened meanwhile), bumps the version and warns.
create function private.vocabulary_check_snapshot(p_version bigint, p_built_at timestamptz)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_matches boolean;
    v_version bigint;
    v_built_at timestamptz;
    v_dirty boolean;
begin
    -- Sources and snapshot in one statement: both as of the same commit.
    select private.vocabulary_matches_sources(), s.version, s.built_at, s.dirty
    into v_matches, v_version, v_built_at, v_dirty
    from private.vocabulary_state as s
    where s.id;
    if not found or v_dirty or v_built_at is distinct from p_built_at then
        return false;
    end if;

    if v_matches then
        update private.vocabulary_state as s
        set verified_at = now()
        where s.id = (
            select l.id from private.vocabulary_state as l where l.id for update skip locked
        );
        return found;
    end if;

    update private.vocabulary_state as s
    set dirty = true,
        dirty_since = now(),
        dirty_reason = 'the snapshot no longer matches its source tables (triggers dropped, disabled or bypassed?)',
        version = pg_catalog.nextval('private.vocabulary_version_seq'),
        changed_at = now()
    where s.id = (
        select l.id from private.vocabulary_state as l
        where l.id and not l.dirty and l.built_at = p_built_at
        for update skip locked
    )
    returning s.version into v_version;
    if found then
        raise warning 'keepfresh: the vocabulary snapshot does not match its source tables; marked dirty (version %)', v_version
            using hint = 'Were the vocabulary triggers dropped, disabled or bypassed? Run public.rebuild_vocabulary().';
        perform private.vocabulary_publish(array['check'], v_version);
    end if;
    return false;
end;
$$;

comment on function private.vocabulary_check_snapshot(bigint, timestamptz) is
    'Reader check of an unconfirmed snapshot against its sources: confirms it, or marks it dirty on a difference.';

-- The vocabulary with its version and source ('snapshot' or 'fallback'); see the header.
-- SECURITY DEFINER: the snapshot and the mapping live in private, and the fallback reads every
-- user's rows. Raises only when the fallback itself cannot be computed (a mapped table is gone).
create function public.get_vocabulary()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_read_only boolean := pg_catalog.current_setting('transaction_read_only')::boolean;
    v_max_age interval;
    v_condition text;
    v_version bigint;
    v_built_at timestamptz;
    v_document jsonb;
begin
    v_max_age := pg_catalog.make_interval(secs => coalesce(
        (select s.max_age_seconds from private.vocabulary_settings as s where s.id), 3600
    ));

    for v_attempt in 1..2 loop
        select case
                when s.id is null or s.built_at is null then 'missing'
                when s.dirty then 'dirty'
                when s.verified_at < now() - v_max_age then 'stale'
                else 'fresh'
            end,
            s.version,
            s.built_at,
            case when s.built_at is not null and not s.dirty and s.verified_at >= now() - v_max_age
                then private.vocabulary_document(false) end
        into v_condition, v_version, v_built_at, v_document
        from (select) as one
        left join private.vocabulary_state as s on s.id;

        if v_condition = 'fresh' then
            return pg_catalog.jsonb_build_object('version', v_version, 'source', 'snapshot') || v_document;
        end if;
        -- Not fresh: only a stale snapshot may be confirmed, once, outside read-only transactions.
        if v_condition <> 'stale' or v_read_only or v_attempt = 2 then
            exit;
        end if;
        if not private.vocabulary_check_snapshot(v_version, v_built_at) then
            exit;
        end if;
    end loop;

    if not v_read_only then
        perform pg_catalog.nextval('private.vocabulary_fallback_reads_seq');
    end if;
    select coalesce(s.version, 0), private.vocabulary_document(true)
    into v_version, v_document
    from (select) as one
    left join private.vocabulary_state as s on s.id;
    return pg_catalog.jsonb_build_object('version', v_version, 'source', 'fallback') || v_document;
end;
$$;

comment on function public.get_vocabulary() is
    'The assistant vocabulary {version, source, projects, project_locations, expense_files, cashflow_files, '
    'expense_categories, cashflow_categories}: the snapshot, or the fallback from the source tables.';

-- Vocabulary section of health-check: {version, age_seconds (since the snapshot was last built or
-- confirmed), max_age_seconds, stale, dirty, dirty_since, dirty_reason, built_at, changed_at,
-- fallback_reads, vocabulary_counts, pending_transactions, last_rebuild {status, trigger,
-- started_at, duration_ms, error}}. Never raises for a missing state row (nulls).
create function private.vocabulary_health()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'version', s.version,
        'age_seconds', pg_catalog.round(extract(epoch from now() - s.verified_at)::numeric, 3),
        'max_age_seconds', c.max_age_seconds,
        'stale', coalesce(s.verified_at < now() - pg_catalog.make_interval(secs => c.max_age_seconds), true),
        'dirty', coalesce(s.dirty, true),
        'dirty_since', s.dirty_since,
        'dirty_reason', s.dirty_reason,
        'built_at', s.built_at,
        'changed_at', s.changed_at,
        'fallback_reads', (
            select case when q.is_called then q.last_value else 0 end
            from private.vocabulary_fallback_reads_seq as q
        ),
        'vocabulary_counts', private.vocabulary_counts(),
        'pending_transactions', (
            select pg_catalog.count(*) from private.vocabulary_pending as p where p.kind = 'round'
        ),
        'last_rebuild', (
            select pg_catalog.jsonb_build_object(
                'status', r.status, 'trigger', r.trigger, 'started_at', r.started_at,
                'duration_ms', r.duration_ms, 'error', r.error
            )
            from private.vocabulary_rebuilds as r
            order by r.started_at desc, r.id desc
            limit 1
        )
    )
    from (select) as one
    left join private.vocabulary_state as s on s.id
    left join private.vocabulary_settings as c on c.id
$$;

comment on function private.vocabulary_health() is
    'Vocabulary health for health-check: version, age_seconds, stale, dirty, fallback_reads, counts, last rebuild.';

revoke all on function private.vocabulary_check_snapshot(bigint, timestamptz) from public, anon, authenticated, service_role;
revoke all on function public.get_vocabulary() from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_health() from public, anon, authenticated, service_role;
grant execute on function public.get_vocabulary() to authenticated, service_role;
