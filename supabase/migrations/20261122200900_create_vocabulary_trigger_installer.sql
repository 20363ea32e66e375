-- Creates the installer of the vocabulary triggers (3.6) and runs it whenever the mapping
-- private.vocabulary_sources changes.
--
-- Postgres forbids transition tables on a trigger with several events, so every mapped table
-- gets four AFTER ... FOR EACH STATEMENT triggers: vocabulary_after_insert (new table
-- new_rows), vocabulary_after_update (old_rows and new_rows), vocabulary_after_delete (old_rows)
-- and vocabulary_after_truncate. Each calls its own generated function
-- private.tg_<table>__<event>() (tg_<schema>_<table>__<event> outside public, lower case), whose
-- SQL is static (so its plan is cached) and reads exactly the mapped columns. The functions are
-- SECURITY DEFINER with search_path '' because the writers are signed-in users who cannot touch
-- private; nobody may EXECUTE them (triggers need no grant).
--
-- A change of the mapping validates every row (the table exists and is a table, the column
-- exists: a clear error otherwise and nothing is written), drops the triggers and functions of
-- tables no longer mapped, (re)creates them for every mapped table, and rebuilds the snapshot in
-- the same transaction (trigger 'install' for the first build, else 'mapping').
-- private.uninstall_vocabulary_triggers() is the rollback: it drops them all and marks the
-- snapshot dirty, so readers keep working on the fallback.

-- Name of the generated trigger function of a source table and event ('insert', 'update',
-- 'delete', 'truncate'): tg_<table>__<event> in public, tg_<schema>_<table>__<event> elsewhere,
-- lower case. Never raises; the installer rejects names over 63 bytes.
create function private.vocabulary_trigger_function_name(p_schema text, p_table text, p_event text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select 'tg_'
        || case when p_schema = 'public' then '' else pg_catalog.lower(p_schema) || '_' end
        || pg_catalog.lower(p_table) || '__' || p_event
$$;

comment on function private.vocabulary_trigger_function_name(text, text, text) is
    'Name of the generated vocabulary trigger function: tg_<table>__<event> (tg_<schema>_<table>__<event> outside public).';

-- Name of a source table in notifications and pending rows: the table name in public,
-- schema.table elsewhere.
create function private.vocabulary_table_label(p_schema text, p_table text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case when p_schema = 'public' then p_table else p_schema || '.' || p_table end
$$;

comment on function private.vocabulary_table_label(text, text) is
    'Name of a vocabulary source table in notifications: table in public, schema.table elsewhere.';

-- Body (PL/pgSQL source) of the generated trigger function for table label p_label and event
-- p_event, for the mapped fields p_fields read from columns p_columns (parallel arrays).
-- INSERT, UPDATE and DELETE compute each (field, term)'s net change from the transition tables in
-- an exception block that writes nothing (so no subtransaction id is used), then append it;
-- TRUNCATE records the fields to recompute. A failure warns and is recorded (the snapshot becomes
-- dirty at commit); the user's statement always goes on.
create function private.vocabulary_trigger_body(
    p_label text,
    p_event text,
    p_fields text[],
    p_columns text[]
)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_parts text;
begin
    if p_event = 'truncate' then
        return pg_catalog.format($body$
begin
    begin
        perform private.vocabulary_fail_point('statement');
        perform private.vocabulary_record_truncate(%1$L, %2$L::text[]);
    exception when others then
        perform private.vocabulary_record_failure(%1$L, tg_op, sqlstate, sqlerrm);
    end;
    return null;
end;
$body$, p_label, p_fields);
    end if;

    select pg_catalog.string_agg(
            pg_catalog.format(
                'select %L::text as field, %s as term, %s::bigint as delta from %s as r',
                m.field,
                private.vocabulary_term_sql(pg_catalog.format('r.%I', m.source_column)),
                t.sign,
                t.transition
            ),
            E'\n            union all\n            '
            order by t.ord, m.ord
        )
    into v_parts
    from rows from (pg_catalog.unnest(p_fields), pg_catalog.unnest(p_columns)) with ordinality as m (field, source_column, ord)
    cross join (
        values (1, 'new_rows', 1), (2, 'old_rows', -1)
    ) as t (ord, transition, sign)
    where (t.transition = 'new_rows' and p_event in ('insert', 'update'))
        or (t.transition = 'old_rows' and p_event in ('update', 'delete'));

    if v_parts is null then
        raise exception 'unknown vocabulary trigger event %', coalesce(p_event, 'null') using errcode = '22023';
    end if;

    return pg_catalog.format($body$
declare
    v_fields text[];
    v_terms text[];
    v_deltas bigint[];
begin
    begin
        if pg_catalog.current_setting('keepfresh.vocabulary_fail', true) <> '' then
            perform private.vocabulary_fail_point('statement');
        end if;
        select pg_catalog.array_agg(d.field), pg_catalog.array_agg(d.term), pg_catalog.array_agg(d.delta)
        into v_fields, v_terms, v_deltas
        from (
            select s.field, s.term, pg_catalog.sum(s.delta)::bigint as delta
            from (
            %2$s
            ) as s
            where s.term is not null
            group by s.field, s.term
            having pg_catalog.sum(s.delta) <> 0
        ) as d;
    exception when others then
        perform private.vocabulary_record_failure(%1$L, tg_op, sqlstate, sqlerrm);
        return null;
    end;
    if v_fields is not null then
        perform private.vocabulary_record_deltas(%1$L, v_fields, v_terms, v_deltas);
    end if;
    return null;
end;
$body$, p_label, v_parts);
end;
$$;

comment on function private.vocabulary_trigger_body(text, text, text[], text[]) is
    'PL/pgSQL source of a generated vocabulary trigger function for one table and event.';

-- Validates the mapping and (re)installs the vocabulary triggers and their functions on every
-- mapped table, dropping those of tables no longer mapped. Returns the number of mapped tables.
-- Raises 42P01 (table missing), 42809 (not a table), 42703 (column missing), 42622 (generated
-- name too long) or 42723 (two tables would share a function name), changing nothing.
create function private.install_vocabulary_triggers()
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_source record;
    v_table record;
    v_stale record;
    v_relkind "char";
    v_event text;
    v_function text;
    v_functions text[] := '{}';
    v_count integer := 0;
begin
    for v_source in
        select s.source_schema, s.source_table, s.source_column
        from private.vocabulary_sources as s
        order by s.id
    loop
        select c.relkind into v_relkind
        from pg_catalog.pg_class as c
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = v_source.source_schema and c.relname = v_source.source_table;
        if not found then
            raise exception 'vocabulary source table %.% does not exist',
                    pg_catalog.quote_ident(v_source.source_schema), pg_catalog.quote_ident(v_source.source_table)
                using errcode = '42P01', hint = 'Create the table first, or correct private.vocabulary_sources.';
        end if;
        if v_relkind not in ('r', 'p') then
            raise exception 'vocabulary source %.% is not a table',
                    pg_catalog.quote_ident(v_source.source_schema), pg_catalog.quote_ident(v_source.source_table)
                using errcode = '42809', hint = 'Views and foreign tables cannot carry the vocabulary triggers; map the underlying table.';
        end if;
        if not exists (
            select 1
            from pg_catalog.pg_attribute as a
            where a.attrelid = pg_catalog.format('%I.%I', v_source.source_schema, v_source.source_table)::regclass
                and a.attname = v_source.source_column
                and a.attnum > 0
                and not a.attisdropped
        ) then
            raise exception 'column % of vocabulary source table %.% does not exist',
                    pg_catalog.quote_ident(v_source.source_column),
                    pg_catalog.quote_ident(v_source.source_schema), pg_catalog.quote_ident(v_source.source_table)
                using errcode = '42703', hint = 'Correct private.vocabulary_sources.source_column.';
        end if;
    end loop;

    select f.name into v_function
    from (
        select distinct s.source_schema, s.source_table,
            private.vocabulary_trigger_function_name(s.source_schema, s.source_table, 'truncate') as name
        from private.vocabulary_sources as s
    ) as f
    where pg_catalog.octet_length(f.name) > 63
    order by f.name
    limit 1;
    if found then
        raise exception 'the vocabulary trigger function name % would be longer than 63 bytes', v_function
            using errcode = '42622', hint = 'Map a table with a shorter name (or schema name).';
    end if;

    select f.name into v_function
    from (
        select distinct s.source_schema, s.source_table,
            private.vocabulary_trigger_function_name(s.source_schema, s.source_table, 'insert') as name
        from private.vocabulary_sources as s
    ) as f
    group by f.name
    having pg_catalog.count(*) > 1
    order by f.name
    limit 1;
    if found then
        raise exception 'two mapped tables would share the vocabulary trigger function %', v_function
            using errcode = '42723', hint = 'Table names that differ only in case cannot both be vocabulary sources.';
    end if;

    -- Tables no longer mapped: drop their triggers, then their functions.
    for v_stale in
        select pg_catalog.format('%I.%I', n.nspname, c.relname) as rel, t.tgname, t.tgfoid::regprocedure::text as fn
        from pg_catalog.pg_trigger as t
        join pg_catalog.pg_class as c on c.oid = t.tgrelid
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        join pg_catalog.pg_proc as p on p.oid = t.tgfoid
        where t.tgname in (
                'vocabulary_after_insert', 'vocabulary_after_update',
                'vocabulary_after_delete', 'vocabulary_after_truncate'
            )
            and p.pronamespace = 'private'::regnamespace
            and not exists (
                select 1 from private.vocabulary_sources as s
                where s.source_schema = n.nspname and s.source_table = c.relname
            )
        order by 1, 2
    loop
        execute pg_catalog.format('drop trigger %I on %s', v_stale.tgname, v_stale.rel);
        execute pg_catalog.format('drop function if exists %s', v_stale.fn);
    end loop;

    for v_table in
        select s.source_schema, s.source_table,
            pg_catalog.array_agg(s.field order by s.id) as fields,
            pg_catalog.array_agg(s.source_column order by s.id) as columns
        from private.vocabulary_sources as s
        group by s.source_schema, s.source_table
        order by s.source_schema, s.source_table
    loop
        foreach v_event in array array['insert', 'update', 'delete', 'truncate'] loop
            v_function := private.vocabulary_trigger_function_name(v_table.source_schema, v_table.source_table, v_event);
            v_functions := v_functions || v_function;
            execute pg_catalog.format(
                'create or replace function private.%I() returns trigger language plpgsql '
                'security definer set search_path = '''' as %L',
                v_function,
                private.vocabulary_trigger_body(
                    private.vocabulary_table_label(v_table.source_schema, v_table.source_table),
                    v_event, v_table.fields, v_table.columns
                )
            );
            execute pg_catalog.format(
                'comment on function private.%I() is %L',
                v_function,
                pg_catalog.format(
                    'Generated by private.install_vocabulary_triggers(): vocabulary maintenance after %s on %I.%I (%s).',
                    pg_catalog.upper(v_event), v_table.source_schema, v_table.source_table,
                    pg_catalog.array_to_string(v_table.fields, ', ')
                )
            );
            execute pg_catalog.format(
                'revoke all on function private.%I() from public, anon, authenticated, service_role', v_function
            );
            execute pg_catalog.format(
                'create or replace trigger %I after %s on %I.%I %s for each statement execute function private.%I()',
                'vocabulary_after_' || v_event,
                v_event,
                v_table.source_schema,
                v_table.source_table,
                case v_event
                    when 'insert' then 'referencing new table as new_rows'
                    when 'update' then 'referencing old table as old_rows new table as new_rows'
                    when 'delete' then 'referencing old table as old_rows'
                    else ''
                end,
                v_function
            );
        end loop;
        v_count := v_count + 1;
    end loop;

    -- Generated functions left without a table (their triggers were dropped by hand).
    for v_stale in
        select p.oid::regprocedure::text as fn
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'private'::regnamespace
            and pg_catalog.obj_description(p.oid, 'pg_proc') like 'Generated by private.install\_vocabulary\_triggers()%'
            and p.proname <> all (v_functions)
            and not exists (select 1 from pg_catalog.pg_trigger as t where t.tgfoid = p.oid)
        order by 1
    loop
        execute pg_catalog.format('drop function %s', v_stale.fn);
    end loop;
    return v_count;
end;
$$;

comment on function private.install_vocabulary_triggers() is
    'Validates private.vocabulary_sources and (re)installs the per-table vocabulary triggers and functions; returns the table count.';

-- Rollback of the vocabulary triggers: drops every vocabulary trigger and generated function and
-- marks the snapshot dirty, so that readers get the fallback (computed from the source tables)
-- from now on. Returns the number of triggers dropped. Reinstall with
-- private.install_vocabulary_triggers() followed by public.rebuild_vocabulary().
create function private.uninstall_vocabulary_triggers()
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_stale record;
    v_count integer := 0;
begin
    for v_stale in
        select pg_catalog.format('%I.%I', n.nspname, c.relname) as rel, t.tgname
        from pg_catalog.pg_trigger as t
        join pg_catalog.pg_class as c on c.oid = t.tgrelid
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        join pg_catalog.pg_proc as p on p.oid = t.tgfoid
        where t.tgname in (
                'vocabulary_after_insert', 'vocabulary_after_update',
                'vocabulary_after_delete', 'vocabulary_after_truncate'
            )
            and p.pronamespace = 'private'::regnamespace
        order by 1, 2
    loop
        execute pg_catalog.format('drop trigger %I on %s', v_stale.tgname, v_stale.rel);
        v_count := v_count + 1;
    end loop;
    for v_stale in
        select p.oid::regprocedure::text as fn
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'private'::regnamespace
            and pg_catalog.obj_description(p.oid, 'pg_proc') like 'Generated by private.install\_vocabulary\_triggers()%'
        order by 1
    loop
        execute pg_catalog.format('drop function %s', v_stale.fn);
    end loop;
    perform private.vocabulary_mark_dirty('vocabulary triggers removed (private.uninstall_vocabulary_triggers)');
    return v_count;
end;
$$;

comment on function private.uninstall_vocabulary_triggers() is
    'Rollback: drops all vocabulary triggers and generated functions and marks the snapshot dirty (readers use the fallback).';

-- Statement trigger function on private.vocabulary_sources: reinstalls the triggers and rebuilds
-- the snapshot in the same transaction (a mapping that cannot be built is not applied), logged
-- as 'install' for the first build and 'mapping' afterwards.
create function private.tg_vocabulary_sources__change()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    v_trigger text;
    v_started_at timestamptz;
    v_result jsonb;
begin
    perform private.install_vocabulary_triggers();
    perform pg_catalog.pg_advisory_xact_lock(private.advisory_namespace(), 50);
    v_trigger := case
        when exists (select 1 from private.vocabulary_state as s where s.id and s.built_at is not null)
            then 'mapping'
        else 'install'
    end;
    v_started_at := pg_catalog.clock_timestamp();
    v_result := private.rebuild_vocabulary_snapshot();
    perform private.log_vocabulary_rebuild(v_trigger, v_started_at, v_result, null);
    return null;
end;
$$;

comment on function private.tg_vocabulary_sources__change() is
    'After a change of private.vocabulary_sources: reinstalls the vocabulary triggers and rebuilds the snapshot.';

create trigger rebuild_vocabulary_after_change
    after insert or update or delete or truncate on private.vocabulary_sources
    for each statement
    execute function private.tg_vocabulary_sources__change();

revoke all on function private.vocabulary_trigger_function_name(text, text, text) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_table_label(text, text) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_trigger_body(text, text, text[], text[]) from public, anon, authenticated, service_role;
revoke all on function private.install_vocabulary_triggers() from public, anon, authenticated, service_role;
revoke all on function private.uninstall_vocabulary_triggers() from public, anon, authenticated, service_role;
revoke all on function private.tg_vocabulary_sources__change() from public, anon, authenticated, service_role;
