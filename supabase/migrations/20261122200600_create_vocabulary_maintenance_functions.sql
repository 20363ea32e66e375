-- Creates the incremental maintenance of the vocabulary snapshot (3.6): what the statement
-- triggers on the source tables call, and the commit step that applies a transaction's changes.
--
-- Flow: a statement trigger computes the net change of each (field, term) from its transition
-- tables inside an exception block, then appends it to private.vocabulary_pending (the first
-- append of a transaction also inserts a 'round' row). At commit, the deferred constraint
-- trigger on that 'round' row runs private.tg_vocabulary_pending__commit(), which in one
-- exception block: applies the deltas to private.vocabulary_terms in (field, term) order,
-- deletes terms whose count reached 0, recomputes fields of truncated tables, and, when a term
-- appeared or disappeared, bumps the version and notifies `vocabulary_changed` with the name of
-- each table the transaction changed. Identical notifications coalesce; payloads stay far below
-- Postgres's 8,000-byte cap (table names).
--
-- Failures never fail the user's write: a failed statement step or commit step raises a
-- WARNING, marks the snapshot dirty (readers get the fallback until a rebuild) and bumps the
-- version so that ETags change. Only the appends to the unlogged pending table and the commit
-- step's final cleanup of it run outside an exception block: they fail only when the database
-- cannot write at all, and then neither can the user's statement.
--
-- Consistency with rebuilds: the commit step holds ROW EXCLUSIVE on private.vocabulary_terms
-- (EXCLUSIVE when it recomputes), a rebuild holds EXCLUSIVE while it reads the sources and
-- replaces the terms, so a rebuild sees either all of a transaction's rows and counts or none.
-- The version bump updates the state row during the commit only, so versions follow commit order.
--
-- Fail points for tests: with private.vocabulary_settings.fail_points_enabled, the setting
-- keepfresh.vocabulary_fail = 'on' or 'statement' fails the statement step, 'commit' the commit
-- step and 'rebuild' a rebuild.

-- Raises when the fail point p_stage ('statement', 'commit' or 'rebuild') is switched on by
-- keepfresh.vocabulary_fail ('on' means 'statement') and fail points are enabled in the
-- settings. The settings row is read only when the setting is present, so the normal path reads
-- nothing.
create function private.vocabulary_fail_point(p_stage text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_setting text := nullif(pg_catalog.current_setting('keepfresh.vocabulary_fail', true), '');
begin
    if v_setting is null or v_setting = 'off' then
        return;
    end if;
    if (v_setting = p_stage or (v_setting = 'on' and p_stage = 'statement'))
        and (select s.fail_points_enabled from private.vocabulary_settings as s where s.id) then
        raise exception 'keepfresh: forced vocabulary failure at the % step (keepfresh.vocabulary_fail)', p_stage
            using errcode = 'P0001';
    end if;
end;
$$;

comment on function private.vocabulary_fail_point(text) is
    'Tests: raises at the given step (statement, commit, rebuild) when keepfresh.vocabulary_fail asks and fail points are enabled.';

-- Opens the current round of the calling transaction once: inserts its 'round' row, whose
-- deferred trigger runs the commit step, unless the transaction already has one (the partial
-- unique index on round rows makes that one statement). The commit step deletes the round row,
-- so changes made after it (by later deferred triggers) open a new round; a savepoint rolled
-- back takes its round row with it, and the next statement opens the round again.
create function private.vocabulary_open_round(p_table text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    insert into private.vocabulary_pending (kind, source_table)
    values ('round', p_table)
    on conflict (txid) where kind = 'round' do nothing;
end;
$$;

comment on function private.vocabulary_open_round(text) is
    'Inserts the transaction''s round row (once per round) whose deferred trigger applies its vocabulary changes at commit.';

-- Appends the net changes of one statement on p_table (parallel arrays of field, term, delta) to
-- the pending changes of the transaction, opening its round if needed: one statement, because
-- it runs for every writing statement on a source table.
create function private.vocabulary_record_deltas(
    p_table text,
    p_fields text[],
    p_terms text[],
    p_deltas bigint[]
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    with round as (
        insert into private.vocabulary_pending (kind, source_table)
        values ('round', p_table)
        on conflict (txid) where kind = 'round' do nothing
    )
    insert into private.vocabulary_pending (kind, source_table, field, term, delta)
    select 'delta', p_table, d.field, d.term, d.delta
    from rows from (
        pg_catalog.unnest(p_fields), pg_catalog.unnest(p_terms), pg_catalog.unnest(p_deltas)
    ) as d (field, term, delta);
end;
$$;

comment on function private.vocabulary_record_deltas(text, text[], text[], bigint[]) is
    'Appends one statement''s term deltas (parallel arrays) to the transaction''s pending vocabulary changes.';

-- Records that p_table was truncated: its fields p_fields are recomputed from the sources at commit.
create function private.vocabulary_record_truncate(p_table text, p_fields text[])
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform private.vocabulary_open_round(p_table);
    insert into private.vocabulary_pending (kind, source_table, field)
    select distinct 'recompute', p_table, f.field
    from pg_catalog.unnest(p_fields) as f (field);
end;
$$;

comment on function private.vocabulary_record_truncate(text, text[]) is
    'Records a TRUNCATE of a source table: its fields are recomputed from the sources at commit.';

-- Records that the maintenance of a statement failed (the user's write goes on): raises a
-- WARNING and appends a 'failed' row, so that the commit marks the snapshot dirty. If even that
-- fails, warns again and gives up (the next reader check after max_age_seconds finds the drift).
create function private.vocabulary_record_failure(
    p_table text,
    p_operation text,
    p_sqlstate text,
    p_message text
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_detail text := pg_catalog.format('%s on %s failed (%s: %s)', p_operation, p_table, p_sqlstate, p_message);
begin
    raise warning 'keepfresh: vocabulary maintenance: %; the write is kept, the snapshot will be marked dirty', v_detail
        using hint = 'Readers get the vocabulary computed from the source tables until public.rebuild_vocabulary() runs.';
    begin
        perform private.vocabulary_open_round(p_table);
        insert into private.vocabulary_pending (kind, source_table, detail)
        values ('failed', p_table, v_detail);
    exception when others then
        raise warning 'keepfresh: could not record the vocabulary failure (%: %)', sqlstate, sqlerrm;
    end;
end;
$$;

comment on function private.vocabulary_record_failure(text, text, text, text) is
    'Warns that a statement''s vocabulary maintenance failed and records it, so the commit marks the snapshot dirty.';

-- Bumps the version (the vocabulary changed) and returns it; null when the state row is missing.
create function private.vocabulary_bump_version()
returns bigint
language sql
volatile
set search_path = ''
as $$
    update private.vocabulary_state as s
    set version = pg_catalog.nextval('private.vocabulary_version_seq'), changed_at = now()
    where s.id
    returning s.version
$$;

comment on function private.vocabulary_bump_version() is
    'Bumps the vocabulary version (a term appeared or disappeared) and returns it.';

-- Marks the snapshot dirty with p_reason (kept from the first failure until a rebuild), bumps the
-- version so that ETags change, and returns it. Readers get the fallback from now on.
create function private.vocabulary_mark_dirty(p_reason text)
returns bigint
language sql
volatile
set search_path = ''
as $$
    update private.vocabulary_state as s
    set dirty = true,
        dirty_since = coalesce(s.dirty_since, now()),
        dirty_reason = coalesce(s.dirty_reason, pg_catalog.left(p_reason, 1000)),
        version = pg_catalog.nextval('private.vocabulary_version_seq'),
        changed_at = now()
    where s.id
    returning s.version
$$;

comment on function private.vocabulary_mark_dirty(text) is
    'Marks the vocabulary snapshot dirty (readers use the fallback until a rebuild), bumps and returns the version.';

-- Tells consumers that the vocabulary changed to p_version: NOTIFY vocabulary_changed with each
-- name in p_tables, and, when a Realtime topic is configured and realtime.send exists (hosted
-- Supabase), a broadcast {version, tables} on that topic. Delivered at commit.
create function private.vocabulary_publish(p_tables text[], p_version bigint)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_table text;
    v_topic text;
begin
    foreach v_table in array coalesce(p_tables, '{}'::text[]) loop
        perform pg_catalog.pg_notify('vocabulary_changed', v_table);
    end loop;
    select s.realtime_topic into v_topic from private.vocabulary_settings as s where s.id;
    if v_topic is not null
        and pg_catalog.to_regprocedure('realtime.send(jsonb, text, text, boolean)') is not null then
        -- A broadcast that fails costs consumers one push, not the snapshot: warn and go on.
        begin
            execute 'select realtime.send($1, $2, $3, false)'
                using pg_catalog.jsonb_build_object('version', p_version, 'tables', pg_catalog.to_jsonb(p_tables)),
                    'vocabulary_changed', v_topic;
        exception when others then
            raise warning 'keepfresh: the vocabulary Realtime broadcast failed (%: %)', sqlstate, sqlerrm;
        end;
    end if;
end;
$$;

comment on function private.vocabulary_publish(text[], bigint) is
    'NOTIFY vocabulary_changed with each changed table, plus a Realtime broadcast when a topic is configured.';

-- Applies the pending deltas of transaction p_txid (except fields in p_skip_fields, which are
-- recomputed) to the snapshot in (field, term) order, and deletes terms whose count reached 0.
-- Returns whether a term appeared or disappeared. Raises 23514 when a count would go negative:
-- the snapshot lost track and must be rebuilt.
create function private.vocabulary_apply_deltas(p_txid xid8, p_skip_fields text[])
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_appeared bigint;
    v_negative text;
    v_gone_fields text[];
    v_gone_terms text[];
begin
    with d as (
        select p.field, p.term, pg_catalog.sum(p.delta)::bigint as delta
        from private.vocabulary_pending as p
        where p.txid = p_txid
            and p.kind = 'delta'
            and (p_skip_fields is null or p.field <> all (p_skip_fields))
        group by p.field, p.term
        having pg_catalog.sum(p.delta) <> 0
    ),
    u as (
        insert into private.vocabulary_terms as t (field, term, refs)
        select d.field, d.term, d.delta from d order by d.field, d.term
        on conflict (field, term) do update set refs = t.refs + excluded.refs
        -- xmax = 0 on the new row version only for a plain insert: the term appeared (a row
        -- at 0 never outlives the commit step that brought it to 0).
        returning t.field, t.term, t.refs, (t.xmax = 0) as inserted
    )
    select pg_catalog.count(*) filter (where u.inserted and u.refs > 0),
        pg_catalog.min(pg_catalog.format('%s %s', u.field, pg_catalog.quote_literal(u.term))) filter (where u.refs < 0),
        pg_catalog.array_agg(u.field) filter (where u.refs = 0),
        pg_catalog.array_agg(u.term) filter (where u.refs = 0)
    into v_appeared, v_negative, v_gone_fields, v_gone_terms
    from u;

    if v_negative is not null then
        raise exception 'vocabulary count of % would go below 0: the snapshot lost track', v_negative
            using errcode = '23514';
    end if;

    if v_gone_fields is not null then
        delete from private.vocabulary_terms as t
        using rows from (pg_catalog.unnest(v_gone_fields), pg_catalog.unnest(v_gone_terms)) as g (field, term)
        where t.field = g.field and t.term = g.term and t.refs = 0;
    end if;
    return v_appeared > 0 or v_gone_fields is not null;
end;
$$;

comment on function private.vocabulary_apply_deltas(xid8, text[]) is
    'Applies a transaction''s pending term deltas to the snapshot in term order; true when a term appeared or disappeared.';

-- Replaces the snapshot's terms of the fields p_fields (null: all) with the vocabulary computed
-- from the sources, touching only rows that differ. Returns whether a term appeared or
-- disappeared. The caller holds EXCLUSIVE on private.vocabulary_terms, so no commit step runs
-- meanwhile and the sources read are exactly what the applied deltas describe.
create function private.vocabulary_replace_terms(p_fields text[])
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_removed bigint;
    v_added bigint;
begin
    with s as materialized (
        select x.field, x.term, x.refs from private.vocabulary_source_terms(p_fields) as x
    ),
    removed as (
        delete from private.vocabulary_terms as t
        where (p_fields is null or t.field = any (p_fields))
            and not exists (select 1 from s where s.field = t.field and s.term = t.term)
        returning 1
    ),
    upserted as (
        insert into private.vocabulary_terms as t (field, term, refs)
        select s.field, s.term, s.refs from s order by s.field, s.term
        on conflict (field, term) do update set refs = excluded.refs
            where t.refs is distinct from excluded.refs
        returning (t.xmax = 0) as inserted
    )
    select (select pg_catalog.count(*) from removed),
        (select pg_catalog.count(*) from upserted where upserted.inserted)
    into v_removed, v_added;
    return v_removed > 0 or v_added > 0;
end;
$$;

comment on function private.vocabulary_replace_terms(text[]) is
    'Replaces the snapshot terms of the given fields (null: all) with those computed from the sources; true when the vocabulary changed.';

-- Deferred constraint trigger function on the 'round' row of private.vocabulary_pending: the
-- commit step of one transaction (see the header). SECURITY DEFINER: it runs at the writer's
-- commit, as the writer (authenticated), and needs the private tables. Never raises for a
-- maintenance problem: it warns and marks the snapshot dirty instead.
create function private.tg_vocabulary_pending__commit()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_txid xid8 := new.txid;
    v_tables text[];
    v_failed text;
    v_recompute text[];
    v_has_deltas boolean;
    v_dirty boolean;
    v_changed boolean := false;
    v_version bigint;
begin
    select pg_catalog.array_agg(distinct p.source_table order by p.source_table),
        pg_catalog.string_agg(p.detail, '; ') filter (where p.kind = 'failed'),
        pg_catalog.array_agg(distinct p.field) filter (where p.kind = 'recompute'),
        coalesce(pg_catalog.bool_or(p.kind = 'delta'), false)
    into v_tables, v_failed, v_recompute, v_has_deltas
    from private.vocabulary_pending as p
    where p.txid = v_txid;

    if v_failed is null then
        begin
            perform private.vocabulary_fail_point('commit');
            if v_recompute is not null then
                -- Recomputing reads the sources: only a READ COMMITTED statement sees every
                -- commit that the counts already contain.
                if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
                    raise exception 'TRUNCATE of a vocabulary source in a % transaction', pg_catalog.current_setting('transaction_isolation')
                        using errcode = '0A000';
                end if;
                lock table private.vocabulary_terms in exclusive mode;
            else
                lock table private.vocabulary_terms in row exclusive mode;
            end if;
            select s.dirty into v_dirty from private.vocabulary_state as s where s.id;
            if v_dirty is distinct from false then
                -- Counts are not trusted (or there is no snapshot): readers use the fallback,
                -- which changes with every write, so every write changes the version.
                v_changed := v_has_deltas or v_recompute is not null;
            else
                if v_recompute is not null then
                    v_changed := private.vocabulary_replace_terms(v_recompute);
                end if;
                if v_has_deltas then
                    v_changed := private.vocabulary_apply_deltas(v_txid, v_recompute) or v_changed;
                end if;
            end if;
            if v_changed then
                v_version := private.vocabulary_bump_version();
                perform private.vocabulary_publish(v_tables, v_version);
            end if;
        exception when others then
            v_failed := pg_catalog.format('commit step failed (%s: %s)', sqlstate, sqlerrm);
            raise warning 'keepfresh: vocabulary maintenance: %; the write is kept, the snapshot is marked dirty', v_failed
                using hint = 'Readers get the vocabulary computed from the source tables until public.rebuild_vocabulary() runs.';
        end;
    end if;

    if v_failed is not null then
        begin
            v_version := private.vocabulary_mark_dirty(v_failed);
            perform private.vocabulary_publish(v_tables, v_version);
        exception when others then
            raise warning 'keepfresh: could not mark the vocabulary snapshot dirty (%: %)', sqlstate, sqlerrm;
        end;
    end if;

    delete from private.vocabulary_pending as p where p.txid = v_txid;
    return null;
end;
$$;

comment on function private.tg_vocabulary_pending__commit() is
    'Deferred trigger: applies a transaction''s vocabulary changes at commit, bumps the version and notifies; marks dirty on failure.';

-- One event per transaction round, fired at commit (or at SET CONSTRAINTS ... IMMEDIATE).
create constraint trigger vocabulary_apply_at_commit
    after insert on private.vocabulary_pending
    deferrable initially deferred
    for each row
    when (new.kind = 'round')
    execute function private.tg_vocabulary_pending__commit();

revoke all on function private.vocabulary_fail_point(text) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_open_round(text) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_record_deltas(text, text[], text[], bigint[]) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_record_truncate(text, text[]) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_record_failure(text, text, text, text) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_bump_version() from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_mark_dirty(text) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_publish(text[], bigint) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_apply_deltas(xid8, text[]) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_replace_terms(text[]) from public, anon, authenticated, service_role;
revoke all on function private.tg_vocabulary_pending__commit() from public, anon, authenticated, service_role;
