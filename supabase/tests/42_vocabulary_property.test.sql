-- Property: after any sequence of writes to the five source tables, the vocabulary snapshot
-- equals the vocabulary computed from the tables (terms and counts), and the version changes
-- exactly when the vocabulary does (a term appears or disappears).
--
-- 150 random "transactions" (setseed, so every run replays the same ones) of 1 to 5 statements
-- each: multi-row inserts, updates of mapped and unmapped columns, swaps that cancel out,
-- deletes (cascading from projects), truncates, statements that fail on a unique constraint and
-- savepoints rolled back after their writes. Values come from small pools with padded, blank,
-- null, case-variant and over-long (201+ characters) variants, so terms collide, come and go.
-- Each transaction ends with SET CONSTRAINTS ALL IMMEDIATE, which runs the deferred commit step
-- exactly as COMMIT does (Deno tests cover real commits).
begin;
set search_path = extensions, public;
-- TRUNCATE ... CASCADE notices would drown the TAP output.
set local client_min_messages = warning;
select plan(9);

create temporary table property_cases (
    case_no integer primary key,
    statements integer not null,
    kinds text[] not null,
    snapshot_matches boolean not null,
    document_matches boolean not null,
    vocabulary_changed boolean not null,
    version_changed boolean not null,
    source text not null
);

do $$
declare
    v_owners uuid[] := array[
        tests.create_supabase_user('vocab-property-1'), tests.create_supabase_user('vocab-property-2')
    ];
    v_names text[] := array['Alpha', 'Beta', 'Gamma', ' Alpha ', 'alpha', 'Ω-mega', E'Beta\t', 'Delta'];
    v_places text[] := array['Paris', ' Paris', 'Lyon', null, '', '   ', 'Berlin', pg_catalog.repeat('p', 200)];
    v_files text[] := array['a.pdf', 'b.xlsx', ' a.pdf', null, '', pg_catalog.repeat('f', 230), 'c.csv', 'A.pdf'];
    v_categories text[] := array['Travel', 'Food', ' Travel', null, '', 'Rent', 'travel', 'Fuel'];
    v_columns text[] := array['Travel', 'Food', 'Rent', 'Fuel', ' Food', 'Tools'];
    v_case integer;
    v_statement integer;
    v_count integer;
    v_kind integer;
    v_kinds text[];
    v_before jsonb;
    v_after jsonb;
    v_version_before bigint;
    v_version_after bigint;
    v_snapshot jsonb;
begin
    perform pg_catalog.setseed(0.4242);

    for v_case in 1..150 loop
        v_before := private.vocabulary_document(true);
        select s.version into v_version_before from private.vocabulary_state as s;
        v_count := 1 + pg_catalog.floor(pg_catalog.random() * 5)::integer;
        v_kinds := '{}';

        for v_statement in 1..v_count loop
            v_kind := pg_catalog.floor(pg_catalog.random() * 15)::integer;
            -- Truncates are rarer, so that the tables fill up between them.
            if v_kind = 13 and pg_catalog.random() < 0.6 then
                v_kind := 0;
            end if;
            begin
                case v_kind
                when 0 then
                    v_kinds := v_kinds || 'insert projects'::text;
                    insert into public."Project" (name, location, owner_id)
                    select v_names[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer],
                        v_places[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer],
                        v_owners[1 + pg_catalog.floor(pg_catalog.random() * 2)::integer]
                    from pg_catalog.generate_series(1, 1 + pg_catalog.floor(pg_catalog.random() * 4)::integer);
                when 1 then
                    v_kinds := v_kinds || 'insert expenses'::text;
                    insert into public."Expenses" (project_id, file_name, category, amount, owner_id)
                    select p.id, v_files[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer],
                        v_categories[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer], 1, p.owner_id
                    from (select id, owner_id from public."Project" order by pg_catalog.random() limit 4) as p;
                when 2 then
                    v_kinds := v_kinds || 'insert cash flow'::text;
                    insert into public."CashFlow" (project_id, file_name, category, amount, owner_id)
                    select p.id, v_files[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer],
                        v_categories[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer], -1, p.owner_id
                    from (select id, owner_id from public."Project" order by pg_catalog.random() limit 4) as p;
                when 3 then
                    v_kinds := v_kinds || 'insert columns'::text;
                    insert into public."ExpensesColumn" (project_id, name, owner_id)
                    select p.id, v_columns[1 + pg_catalog.floor(pg_catalog.random() * 6)::integer], p.owner_id
                    from (select id, owner_id from public."Project" order by pg_catalog.random() limit 3) as p
                    on conflict (project_id, name) do nothing;
                    insert into public."CashFlowColumn" (project_id, name, owner_id)
                    select p.id, v_columns[1 + pg_catalog.floor(pg_catalog.random() * 6)::integer], p.owner_id
                    from (select id, owner_id from public."Project" order by pg_catalog.random() limit 3) as p
                    on conflict (project_id, name) do nothing;
                when 4 then
                    v_kinds := v_kinds || 'update projects'::text;
                    update public."Project"
                    set name = v_names[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer],
                        location = case when pg_catalog.random() < 0.5
                            then v_places[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer] else location end
                    where pg_catalog.random() < 0.3;
                when 5 then
                    v_kinds := v_kinds || 'update expenses'::text;
                    update public."Expenses"
                    set category = v_categories[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer],
                        file_name = case when pg_catalog.random() < 0.5
                            then v_files[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer] else file_name end
                    where pg_catalog.random() < 0.4;
                    update public."CashFlow"
                    set file_name = v_files[1 + pg_catalog.floor(pg_catalog.random() * 8)::integer]
                    where pg_catalog.random() < 0.4;
                when 6 then
                    v_kinds := v_kinds || 'update unmapped'::text;
                    update public."Expenses" set amount = amount + 1 where pg_catalog.random() < 0.5;
                    update public."CashFlow" set occurred_on = current_date where pg_catalog.random() < 0.5;
                when 7 then
                    v_kinds := v_kinds || 'swap names'::text;
                    update public."Project"
                    set name = case name when 'Alpha' then 'Beta' when 'Beta' then 'Alpha' else name end;
                when 8 then
                    v_kinds := v_kinds || 'delete projects'::text;
                    delete from public."Project" where pg_catalog.random() < 0.2;
                when 9 then
                    v_kinds := v_kinds || 'delete lines'::text;
                    delete from public."Expenses" where pg_catalog.random() < 0.3;
                    delete from public."CashFlow" where pg_catalog.random() < 0.3;
                when 10 then
                    v_kinds := v_kinds || 'delete columns'::text;
                    delete from public."ExpensesColumn" where pg_catalog.random() < 0.3;
                    delete from public."CashFlowColumn" where pg_catalog.random() < 0.3;
                when 11 then
                    -- Renaming columns can hit (project_id, name) uniqueness: the failed
                    -- statement must leave no trace in the snapshot.
                    v_kinds := v_kinds || 'rename columns'::text;
                    update public."ExpensesColumn"
                    set name = v_columns[1 + pg_catalog.floor(pg_catalog.random() * 6)::integer]
                    where pg_catalog.random() < 0.5;
                when 12 then
                    v_kinds := v_kinds || 'rolled back savepoint'::text;
                    begin
                        insert into public."Project" (name, location, owner_id)
                        values ('Ghost', 'Nowhere', v_owners[1]);
                        update public."Expenses" set category = 'Ghost category';
                        delete from public."CashFlowColumn";
                        raise exception 'roll back to the savepoint' using errcode = 'P0001';
                    exception when sqlstate 'P0001' then
                        null;
                    end;
                when 13 then
                    v_kinds := v_kinds || 'truncate'::text;
                    if pg_catalog.random() < 0.25 then
                        truncate public."Project" cascade;
                    elsif pg_catalog.random() < 0.5 then
                        truncate public."ExpensesColumn", public."CashFlow";
                    else
                        truncate public."Expenses";
                    end if;
                else
                    v_kinds := v_kinds || 'insert and delete'::text;
                    insert into public."Project" (name, location, owner_id)
                    values ('Transient', 'Temp', v_owners[2]);
                    delete from public."Project" where name = 'Transient';
                end case;
            exception when unique_violation then
                v_kinds := v_kinds || 'failed on a unique constraint'::text;
            end;
        end loop;

        -- The commit point.
        set constraints all immediate;
        set constraints all deferred;

        v_after := private.vocabulary_document(true);
        v_snapshot := public.get_vocabulary();
        select s.version into v_version_after from private.vocabulary_state as s;
        insert into property_cases
        values (
            v_case,
            v_count,
            v_kinds,
            private.vocabulary_matches_sources(),
            v_snapshot - 'version' - 'source' = v_after and (v_snapshot ->> 'version')::bigint = v_version_after,
            v_after <> v_before,
            v_version_after <> v_version_before,
            v_snapshot ->> 'source'
        );
    end loop;
end
$$;

select is((select pg_catalog.count(*)::integer from property_cases), 150, '150 random transactions ran');
select ok(
    (select pg_catalog.count(*) from property_cases where statements >= 3) >= 50,
    'at least 50 transactions had three or more statements'
);
select is(
    (select pg_catalog.count(distinct k)::integer from property_cases, pg_catalog.unnest(kinds) as k),
    16,
    'every kind of statement ran, failed unique-constraint statements included'
);
select is_empty(
    $$ select case_no, kinds from property_cases where not snapshot_matches order by case_no $$,
    'after every transaction the snapshot (terms and counts) equals the vocabulary computed from the tables'
);
select is_empty(
    $$ select case_no, kinds from property_cases where not document_matches order by case_no $$,
    'after every transaction get_vocabulary() returns the fallback''s data under the current version'
);
select is_empty(
    $$ select case_no, source from property_cases where source <> 'snapshot' order by case_no $$,
    'get_vocabulary() served the snapshot every time (it never went dirty)'
);
select is_empty(
    $$
        select case_no, kinds, vocabulary_changed, version_changed
        from property_cases
        where vocabulary_changed <> version_changed
        order by case_no
    $$,
    'the version changed exactly when the vocabulary changed'
);
select ok(
    (select pg_catalog.count(*) filter (where vocabulary_changed) >= 30
        and pg_catalog.count(*) filter (where not vocabulary_changed) >= 30
     from property_cases),
    'both kinds of transactions were common: at least 30 changed the vocabulary and 30 did not'
);
select is(
    (select pg_catalog.count(*)::integer from private.vocabulary_pending),
    0,
    'no pending change is left behind'
);

select * from finish();
rollback;
