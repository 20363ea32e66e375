-- Creates the full rebuild of the vocabulary snapshot (3.6): private.rebuild_vocabulary_snapshot()
-- does the work and raises on failure; private.rebuild_vocabulary(trigger) serializes rebuilds,
-- keeps the last good snapshot when one fails, and logs every attempt in
-- private.vocabulary_rebuilds; public.rebuild_vocabulary() is what the service role calls
-- (vocabulary-refresh POST, SQL, a cron job).
--
-- Serialization: rebuilds queue on the transaction-scoped advisory lock
-- (private.advisory_namespace(), 50) (second ints 42-45 and 64 belong to the queue, processor and
-- health functions), so ten concurrent calls all succeed one after another and each leaves a
-- consistent snapshot. Inside, the rebuild takes EXCLUSIVE on private.vocabulary_terms: it waits
-- for commit steps in progress, holds new ones at their commit until it is done (typically
-- milliseconds; bounded by vocabulary_settings.rebuild_lock_timeout_ms while it waits for
-- locks), and reads the sources in a statement that starts after that, so it sees every write
-- whose counts the snapshot holds and none whose counts are still pending.
-- The version changes only when a term appears or disappears; a rebuild also clears dirty.

-- Rebuilds the whole snapshot from the source tables in the caller's transaction and returns
-- {version, changed, vocabulary_counts}. Raises 25000 outside READ COMMITTED (a fixed snapshot
-- could miss commits that the counts already hold), and whatever the sources raise (a mapped
-- table or column that no longer exists). The caller holds the rebuild advisory lock.
create function private.rebuild_vocabulary_snapshot()
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_changed boolean;
    v_version bigint;
begin
    if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'the vocabulary can only be rebuilt in a READ COMMITTED transaction, not %',
                pg_catalog.current_setting('transaction_isolation')
            using errcode = '25000',
                hint = 'Run the rebuild in its own transaction at the default isolation level.';
    end if;
    perform private.vocabulary_fail_point('rebuild');

    lock table private.vocabulary_terms in exclusive mode;
    insert into private.vocabulary_state (id, version)
    values (true, pg_catalog.nextval('private.vocabulary_version_seq'))
    on conflict (id) do nothing;
    perform 1 from private.vocabulary_state as s where s.id for update;

    v_changed := private.vocabulary_replace_terms(null);

    update private.vocabulary_state as s
    set version = case when v_changed then pg_catalog.nextval('private.vocabulary_version_seq') else s.version end,
        changed_at = case when v_changed then now() else s.changed_at end,
        dirty = false,
        dirty_since = null,
        dirty_reason = null,
        built_at = now(),
        verified_at = now()
    where s.id
    returning s.version into v_version;

    -- Rows of transactions that committed without their commit step cleaning up (it failed even
    -- at that): nothing reads them any more.
    delete from private.vocabulary_pending as p
    where p.txid <> pg_catalog.pg_current_xact_id()
        and pg_catalog.pg_xact_status(p.txid) is distinct from 'in progress';

    if v_changed then
        perform private.vocabulary_publish(array['rebuild'], v_version);
    end if;
    return pg_catalog.jsonb_build_object(
        'version', v_version,
        'changed', v_changed,
        'vocabulary_counts', private.vocabulary_counts()
    );
end;
$$;

comment on function private.rebuild_vocabulary_snapshot() is
    'Rebuilds the vocabulary snapshot from the sources (READ COMMITTED only); raises on failure. Caller holds the rebuild lock.';

-- Appends one row to the rebuild log: p_result is rebuild_vocabulary_snapshot()'s result, or null
-- with p_error set. Prunes rows older than 30 days.
create function private.log_vocabulary_rebuild(
    p_trigger text,
    p_started_at timestamptz,
    p_result jsonb,
    p_error text
)
returns void
language sql
volatile
set search_path = ''
as $$
    insert into private.vocabulary_rebuilds
        (trigger, status, started_at, finished_at, duration_ms, changed, version, vocabulary_counts, error)
    values (
        p_trigger,
        case when p_error is null then 'succeeded' else 'failed' end,
        p_started_at,
        pg_catalog.clock_timestamp(),
        pg_catalog.round(
            (extract(epoch from pg_catalog.clock_timestamp() - p_started_at) * 1000)::numeric, 3
        ),
        (p_result ->> 'changed')::boolean,
        (p_result ->> 'version')::bigint,
        p_result -> 'vocabulary_counts',
        p_error
    );
    delete from private.vocabulary_rebuilds as r where r.started_at < now() - interval '30 days';
$$;

comment on function private.log_vocabulary_rebuild(text, timestamptz, jsonb, text) is
    'Logs one vocabulary rebuild (result or error) in private.vocabulary_rebuilds; prunes rows older than 30 days.';

-- Rebuilds the snapshot for p_trigger ('manual', 'install' or 'mapping'), one rebuild at a time.
-- Returns {success: true, version, changed, vocabulary_counts, duration_ms} or, when the rebuild
-- failed, {success: false, error, version} with the last good snapshot kept (the failed attempt is
-- rolled back to a savepoint) and a WARNING raised. Either way the attempt is logged. Raises 22023
-- for an unknown trigger.
create function private.rebuild_vocabulary(p_trigger text)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_started_at timestamptz;
    v_saved_lock_timeout text := pg_catalog.current_setting('lock_timeout');
    v_result jsonb;
    v_error text;
begin
    if p_trigger is null or p_trigger not in ('manual', 'install', 'mapping') then
        raise exception 'unknown vocabulary rebuild trigger: %', coalesce(p_trigger, 'null')
            using errcode = '22023', hint = 'Use manual, install or mapping.';
    end if;
    perform pg_catalog.pg_advisory_xact_lock(private.advisory_namespace(), 50);
    v_started_at := pg_catalog.clock_timestamp();
    begin
        perform pg_catalog.set_config(
            'lock_timeout',
            coalesce(
                (select s.rebuild_lock_timeout_ms from private.vocabulary_settings as s where s.id), 5000
            )::text,
            true
        );
        v_result := private.rebuild_vocabulary_snapshot();
        perform pg_catalog.set_config('lock_timeout', v_saved_lock_timeout, true);
    exception when others then
        v_error := sqlstate || ': ' || sqlerrm;
        raise warning 'keepfresh: vocabulary rebuild failed (%); the last good snapshot is kept', v_error;
    end;
    perform private.log_vocabulary_rebuild(p_trigger, v_started_at, v_result, v_error);
    if v_error is not null then
        return pg_catalog.jsonb_build_object(
            'success', false,
            'error', v_error,
            'version', (select s.version from private.vocabulary_state as s where s.id)
        );
    end if;
    return pg_catalog.jsonb_build_object(
        'success', true,
        'duration_ms', pg_catalog.round(
            (extract(epoch from pg_catalog.clock_timestamp() - v_started_at) * 1000)::numeric, 3
        )
    ) || v_result;
end;
$$;

comment on function private.rebuild_vocabulary(text) is
    'Serialized, logged rebuild of the vocabulary snapshot; {success, version, changed, vocabulary_counts} or {success: false, error}.';

-- The service role's manual rebuild (vocabulary-refresh POST, SQL editor, cron):
-- private.rebuild_vocabulary('manual'). SECURITY DEFINER: the snapshot lives in private.
create function public.rebuild_vocabulary()
returns jsonb
language sql
volatile
security definer
set search_path = ''
as $$
    select private.rebuild_vocabulary('manual')
$$;

comment on function public.rebuild_vocabulary() is
    'Service role: rebuilds the vocabulary snapshot now; {success, version, changed, vocabulary_counts, duration_ms} or {success: false, error}.';

revoke all on function private.rebuild_vocabulary_snapshot() from public, anon, authenticated, service_role;
revoke all on function private.log_vocabulary_rebuild(text, timestamptz, jsonb, text) from public, anon, authenticated, service_role;
revoke all on function private.rebuild_vocabulary(text) from public, anon, authenticated, service_role;
revoke all on function public.rebuild_vocabulary() from public, anon, authenticated, service_role;
grant execute on function public.rebuild_vocabulary() to service_role;
