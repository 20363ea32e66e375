-- Vocabulary sync structure (20261122200000..20261122201000): the five source tables, their
-- keys, RLS policies and column privileges; the private snapshot tables; the four statement
-- triggers per source table (one per event, with the transition tables that event has) and their
-- generated SECURITY DEFINER functions; the deferred commit trigger; the default mapping; and the
-- privileges of every role on the vocabulary functions and tables.
begin;
set search_path = extensions, public;
select plan(76);

-- Source tables.
select has_table('public', 'Project', 'public."Project" exists');
select columns_are(
    'public', 'Project', array['id', 'name', 'location', 'owner_id', 'created_at'],
    '"Project" has exactly the documented columns'
);
select has_table('public', 'Expenses', 'public."Expenses" exists');
select columns_are(
    'public', 'Expenses',
    array['id', 'project_id', 'file_name', 'category', 'amount', 'spent_on', 'owner_id', 'created_at'],
    '"Expenses" has exactly the documented columns'
);
select has_table('public', 'CashFlow', 'public."CashFlow" exists');
select columns_are(
    'public', 'CashFlow',
    array['id', 'project_id', 'file_name', 'category', 'amount', 'occurred_on', 'owner_id', 'created_at'],
    '"CashFlow" has exactly the documented columns'
);
select has_table('public', 'ExpensesColumn', 'public."ExpensesColumn" exists');
select columns_are(
    'public', 'ExpensesColumn', array['id', 'project_id', 'name', 'owner_id', 'created_at'],
    '"ExpensesColumn" has exactly the documented columns'
);
select has_table('public', 'CashFlowColumn', 'public."CashFlowColumn" exists');
select columns_are(
    'public', 'CashFlowColumn', array['id', 'project_id', 'name', 'owner_id', 'created_at'],
    '"CashFlowColumn" has exactly the documented columns'
);
select results_eq(
    $$
        select c.relname::text collate "default", a.attidentity::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid) collate "default"
        from pg_catalog.pg_class as c
        join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attname = 'owner_id'
        left join pg_catalog.pg_attrdef as d on d.adrelid = c.oid and d.adnum = a.attnum
        where c.oid in (
            'public."Project"'::regclass, 'public."Expenses"'::regclass, 'public."CashFlow"'::regclass,
            'public."ExpensesColumn"'::regclass, 'public."CashFlowColumn"'::regclass
        )
        order by 1
    $$,
    $$
        values
            ('CashFlow', '', 'auth.uid()'), ('CashFlowColumn', '', 'auth.uid()'), ('Expenses', '', 'auth.uid()'),
            ('ExpensesColumn', '', 'auth.uid()'), ('Project', '', 'auth.uid()')
    $$,
    'every source table defaults owner_id to the caller'
);
select is(
    (select pg_catalog.count(*)::integer from pg_catalog.pg_attribute
     where attname = 'id' and attidentity = 'a' and attrelid in (
         'public."Project"'::regclass, 'public."Expenses"'::regclass, 'public."CashFlow"'::regclass,
         'public."ExpensesColumn"'::regclass, 'public."CashFlowColumn"'::regclass
     )),
    5,
    'every source table is keyed by an identity id'
);
select fk_ok('public', 'Expenses', 'project_id', 'public', 'Project', 'id', 'expenses belong to a project');
select fk_ok('public', 'CashFlow', 'project_id', 'public', 'Project', 'id', 'cash flow belongs to a project');
select fk_ok('public', 'ExpensesColumn', 'project_id', 'public', 'Project', 'id', 'expense columns belong to a project');
select fk_ok('public', 'CashFlowColumn', 'project_id', 'public', 'Project', 'id', 'cash flow columns belong to a project');
select fk_ok('public', 'Project', 'owner_id', 'auth', 'users', 'id', 'projects belong to a user');
select col_is_unique('public', 'ExpensesColumn', array['project_id', 'name'], 'an expense column name is unique per project');
select col_is_unique('public', 'CashFlowColumn', array['project_id', 'name'], 'a cash flow column name is unique per project');

-- RLS and policies: one per command, for authenticated, owner-based.
select ok(
    (select pg_catalog.bool_and(c.relrowsecurity) from pg_catalog.pg_class as c
     where c.oid in (
         'public."Project"'::regclass, 'public."Expenses"'::regclass, 'public."CashFlow"'::regclass,
         'public."ExpensesColumn"'::regclass, 'public."CashFlowColumn"'::regclass
     )),
    'RLS is enabled on every source table'
);
select results_eq(
    $$
        select c.relname::text collate "default", p.polcmd::text, pg_catalog.count(*)::integer
        from pg_catalog.pg_policy as p
        join pg_catalog.pg_class as c on c.oid = p.polrelid
        where c.oid in (
            'public."Project"'::regclass, 'public."Expenses"'::regclass, 'public."CashFlow"'::regclass,
            'public."ExpensesColumn"'::regclass, 'public."CashFlowColumn"'::regclass
        )
            and p.polroles = array['authenticated'::regrole::oid]
        group by 1, 2
        order by 1, 2
    $$,
    $$
        select t.name, c.cmd, 1
        from (values ('CashFlow'), ('CashFlowColumn'), ('Expenses'), ('ExpensesColumn'), ('Project')) as t (name)
        cross join (values ('a'), ('d'), ('r'), ('w')) as c (cmd)
        order by 1, 2
    $$,
    'each source table has exactly one policy per command, for authenticated'
);
select policies_are(
    'public', 'Project',
    array[
        'Users can read their own projects', 'Users can create their own projects',
        'Users can update their own projects', 'Users can delete their own projects'
    ],
    '"Project" has its four owner policies'
);
select is_empty(
    $$
        select c.relname || ': ' || p.polname
        from pg_catalog.pg_policy as p
        join pg_catalog.pg_class as c on c.oid = p.polrelid
        where c.oid in (
            'public."Project"'::regclass, 'public."Expenses"'::regclass, 'public."CashFlow"'::regclass,
            'public."ExpensesColumn"'::regclass, 'public."CashFlowColumn"'::regclass
        )
            and pg_catalog.concat_ws(' ',
                pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
            ) not like '%( SELECT auth.uid() AS uid) = owner_id%'
        order by 1
    $$,
    'every source-table policy compares owner_id with (select auth.uid())'
);

-- Private tables.
select has_table('private', 'vocabulary_sources', 'private.vocabulary_sources exists');
select columns_are(
    'private', 'vocabulary_sources',
    array['id', 'field', 'source_schema', 'source_table', 'source_column', 'created_at'],
    'vocabulary_sources has exactly its columns'
);
select has_table('private', 'vocabulary_terms', 'private.vocabulary_terms exists');
select col_is_pk('private', 'vocabulary_terms', array['field', 'term'], 'the snapshot is keyed by (field, term)');
select columns_are('private', 'vocabulary_terms', array['field', 'term', 'refs'], 'vocabulary_terms has exactly its columns');
select has_table('private', 'vocabulary_state', 'private.vocabulary_state exists');
select is((select pg_catalog.count(*)::integer from private.vocabulary_state), 1, 'the state has exactly one row');
select has_table('private', 'vocabulary_settings', 'private.vocabulary_settings exists');
select results_eq(
    $$ select max_age_seconds, rebuild_lock_timeout_ms, realtime_topic, fail_points_enabled from private.vocabulary_settings $$,
    $$ values (3600, 5000, null::text, false) $$,
    'settings default to a 3600 s max age, a 5 s rebuild lock timeout, no Realtime topic, no fail points'
);
select has_table('private', 'vocabulary_pending', 'private.vocabulary_pending exists');
select is(
    (select relpersistence::text from pg_catalog.pg_class where oid = 'private.vocabulary_pending'::regclass),
    'u',
    'pending changes are unlogged'
);
select has_table('private', 'vocabulary_rebuilds', 'private.vocabulary_rebuilds exists');
select has_sequence('private', 'vocabulary_version_seq', 'versions come from private.vocabulary_version_seq');
select has_sequence('private', 'vocabulary_fallback_reads_seq', 'fallback reads are counted by a sequence');
select is(
    (select s.version from private.vocabulary_state as s) <= (select last_value from private.vocabulary_version_seq),
    true,
    'the current version was drawn from the version sequence'
);

-- Default mapping.
select results_eq(
    $$ select field, source_schema, source_table, source_column from private.vocabulary_sources order by id $$,
    $$
        values
            ('projects', 'public', 'Project', 'name'),
            ('project_locations', 'public', 'Project', 'location'),
            ('expense_files', 'public', 'Expenses', 'file_name'),
            ('cashflow_files', 'public', 'CashFlow', 'file_name'),
            ('expense_categories', 'public', 'ExpensesColumn', 'name'),
            ('expense_categories', 'public', 'Expenses', 'category'),
            ('cashflow_categories', 'public', 'CashFlowColumn', 'name'),
            ('cashflow_categories', 'public', 'CashFlow', 'category')
    $$,
    'the default mapping feeds the six fields from the five tables'
);
select is(
    (select pg_catalog.array_agg(distinct field order by field) from private.vocabulary_sources),
    (select pg_catalog.array_agg(f order by f) from pg_catalog.unnest(private.vocabulary_fields()) as f),
    'every field of the vocabulary has a source'
);

-- Triggers: one AFTER ... FOR EACH STATEMENT trigger per event on every source table, with the
-- transition tables of its event, calling tg_<table>__<event>.
select results_eq(
    $$
        select c.relname::text collate "default", t.tgname::text collate "default", t.tgtype::integer,
            coalesce(t.tgoldtable::text, '-') collate "default", coalesce(t.tgnewtable::text, '-') collate "default",
            p.oid::regprocedure::text collate "default", t.tgenabled::text
        from pg_catalog.pg_trigger as t
        join pg_catalog.pg_class as c on c.oid = t.tgrelid
        join pg_catalog.pg_proc as p on p.oid = t.tgfoid
        where c.relnamespace = 'public'::regnamespace and t.tgname like 'vocabulary\_%'
        order by 1, 2
    $$,
    $$
        select t.name, 'vocabulary_after_' || e.event, e.tgtype, e.old_table, e.new_table,
            'private.tg_' || pg_catalog.lower(t.name) || '__' || e.event || '()', 'O'
        from (values ('CashFlow'), ('CashFlowColumn'), ('Expenses'), ('ExpensesColumn'), ('Project')) as t (name)
        cross join (
            values
                ('delete', 8, 'old_rows', '-'),
                ('insert', 4, '-', 'new_rows'),
                ('truncate', 32, '-', '-'),
                ('update', 16, 'old_rows', 'new_rows')
        ) as e (event, tgtype, old_table, new_table)
        order by 1, 2
    $$,
    'each source table has four enabled AFTER statement triggers, one per event, with its transition tables'
);
select is_empty(
    $$
        select p.oid::regprocedure::text
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'private'::regnamespace
            and p.proname ~ '^tg_.*__(insert|update|delete|truncate)$'
            and not (p.prosecdef and 'search_path=""' = any (coalesce(p.proconfig, '{}')))
        order by 1
    $$,
    'every generated trigger function is SECURITY DEFINER with an empty search_path'
);
select is(
    (select pg_catalog.count(*)::integer from pg_catalog.pg_proc as p
     where p.pronamespace = 'private'::regnamespace
         and pg_catalog.obj_description(p.oid, 'pg_proc') like 'Generated by private.install\_vocabulary\_triggers()%'),
    20,
    'exactly 20 generated trigger functions (five tables, four events)'
);
select results_eq(
    $$
        select t.tgname::text collate "default", t.tgdeferrable, t.tginitdeferred, t.tgtype::integer,
            t.tgfoid::regprocedure::text collate "default"
        from pg_catalog.pg_trigger as t
        where t.tgrelid = 'private.vocabulary_pending'::regclass
    $$,
    $$ values ('vocabulary_apply_at_commit', true, true, 5, 'private.tg_vocabulary_pending__commit()') $$,
    'the commit step is a deferrable, initially deferred row trigger on pending inserts'
);
select trigger_is(
    'private', 'vocabulary_sources', 'rebuild_vocabulary_after_change', 'private', 'tg_vocabulary_sources__change',
    'a change of the mapping reinstalls the triggers and rebuilds'
);

-- SECURITY DEFINER: only where a client role's call needs the private schema.
select results_eq(
    $$
        select p.oid::regprocedure::text collate "default"
        from pg_catalog.pg_proc as p
        where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
            and p.prosecdef
            and (p.proname like '%vocabulary%' or pg_catalog.obj_description(p.oid, 'pg_proc') like 'Generated by private.install\_vocabulary\_triggers()%')
            and p.proname !~ '^tg_.*__(insert|update|delete|truncate)$'
        order by 1
    $$,
    $$
        values ('get_vocabulary()'), ('private.tg_vocabulary_pending__commit()'), ('rebuild_vocabulary()')
    $$,
    'besides the generated triggers, only get_vocabulary, rebuild_vocabulary and the commit step are SECURITY DEFINER'
);

-- Privileges: source tables.
select table_privs_are('public', 'Project', 'anon', array[]::text[], 'anon has no privilege on "Project"');
select table_privs_are('public', 'Project', 'authenticated', array['SELECT', 'INSERT', 'DELETE'], 'authenticated may read, insert and delete "Project" (update per column)');
select table_privs_are('public', 'Project', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role may read and write "Project"');
select table_privs_are('public', 'Expenses', 'anon', array[]::text[], 'anon has no privilege on "Expenses"');
select table_privs_are('public', 'Expenses', 'authenticated', array['SELECT', 'INSERT', 'DELETE'], 'authenticated may read, insert and delete "Expenses" (update per column)');
select table_privs_are('public', 'Expenses', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role may read and write "Expenses"');
select table_privs_are('public', 'CashFlow', 'anon', array[]::text[], 'anon has no privilege on "CashFlow"');
select table_privs_are('public', 'CashFlow', 'authenticated', array['SELECT', 'INSERT', 'DELETE'], 'authenticated may read, insert and delete "CashFlow" (update per column)');
select table_privs_are('public', 'CashFlow', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role may read and write "CashFlow"');
select table_privs_are('public', 'ExpensesColumn', 'anon', array[]::text[], 'anon has no privilege on "ExpensesColumn"');
select table_privs_are('public', 'ExpensesColumn', 'authenticated', array['SELECT', 'INSERT', 'DELETE'], 'authenticated may read, insert and delete "ExpensesColumn" (update per column)');
select table_privs_are('public', 'ExpensesColumn', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role may read and write "ExpensesColumn"');
select table_privs_are('public', 'CashFlowColumn', 'anon', array[]::text[], 'anon has no privilege on "CashFlowColumn"');
select table_privs_are('public', 'CashFlowColumn', 'authenticated', array['SELECT', 'INSERT', 'DELETE'], 'authenticated may read, insert and delete "CashFlowColumn" (update per column)');
select table_privs_are('public', 'CashFlowColumn', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role may read and write "CashFlowColumn"');
select results_eq(
    $$
        select c.relname::text collate "default", pg_catalog.array_agg(a.attname::text order by a.attnum) collate "default"
        from pg_catalog.pg_class as c
        join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.oid in (
            'public."Project"'::regclass, 'public."Expenses"'::regclass, 'public."CashFlow"'::regclass,
            'public."ExpensesColumn"'::regclass, 'public."CashFlowColumn"'::regclass
        )
            and pg_catalog.has_column_privilege('authenticated', c.oid, a.attnum, 'UPDATE')
        group by 1
        order by 1
    $$,
    $$
        values
            ('CashFlow', array['project_id', 'file_name', 'category', 'amount', 'occurred_on']),
            ('CashFlowColumn', array['name']),
            ('Expenses', array['project_id', 'file_name', 'category', 'amount', 'spent_on']),
            ('ExpensesColumn', array['name']),
            ('Project', array['name', 'location'])
    $$,
    'authenticated updates only content columns: never id, owner_id or created_at'
);
select is_empty(
    $$
        select c.relname || ' ' || r.role_name
        from pg_catalog.pg_class as c
        cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        where c.oid in (
            'public."Project_id_seq"'::regclass, 'public."Expenses_id_seq"'::regclass, 'public."CashFlow_id_seq"'::regclass,
            'public."ExpensesColumn_id_seq"'::regclass, 'public."CashFlowColumn_id_seq"'::regclass
        )
            and pg_catalog.has_sequence_privilege(r.role_name, c.oid, 'USAGE, SELECT, UPDATE')
        order by 1
    $$,
    'no client role holds a privilege on the identity sequences (identity needs none)'
);

-- Privileges: private tables and sequences, nothing for anyone.
select is_empty(
    $$
        select c.relname || ' ' || r.role_name || ' ' || v.privilege
        from pg_catalog.pg_class as c
        cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) as v (privilege)
        where c.relnamespace = 'private'::regnamespace
            and c.relname like 'vocabulary\_%'
            and c.relkind in ('r', 'p')
            and pg_catalog.has_table_privilege(r.role_name, c.oid, v.privilege)
        order by 1
    $$,
    'no client role holds a privilege on any private vocabulary table'
);
select is_empty(
    $$
        select c.relname || ' ' || r.role_name
        from pg_catalog.pg_class as c
        cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        where c.relnamespace = 'private'::regnamespace
            and c.relname like 'vocabulary\_%'
            and c.relkind = 'S'
            and pg_catalog.has_sequence_privilege(r.role_name, c.oid, 'USAGE, SELECT, UPDATE')
        order by 1
    $$,
    'no client role holds a privilege on the private vocabulary sequences'
);

-- Privileges: functions.
select function_privs_are('public', 'get_vocabulary', array[]::text[], 'anon', array[]::text[], 'anon cannot read the vocabulary');
select function_privs_are('public', 'get_vocabulary', array[]::text[], 'authenticated', array['EXECUTE'], 'signed-in users can read the vocabulary');
select function_privs_are('public', 'get_vocabulary', array[]::text[], 'service_role', array['EXECUTE'], 'service_role can read the vocabulary');
select function_privs_are('public', 'rebuild_vocabulary', array[]::text[], 'anon', array[]::text[], 'anon cannot rebuild the vocabulary');
select function_privs_are('public', 'rebuild_vocabulary', array[]::text[], 'authenticated', array[]::text[], 'signed-in users cannot rebuild the vocabulary');
select function_privs_are('public', 'rebuild_vocabulary', array[]::text[], 'service_role', array['EXECUTE'], 'service_role can rebuild the vocabulary');
select function_privs_are('private', 'vocabulary_health', array[]::text[], 'anon', array[]::text[], 'anon cannot call vocabulary_health');
select function_privs_are('private', 'vocabulary_health', array[]::text[], 'authenticated', array[]::text[], 'authenticated cannot call vocabulary_health');
select function_privs_are('private', 'vocabulary_health', array[]::text[], 'service_role', array[]::text[], 'service_role cannot call vocabulary_health (health-check reads it as the owner)');
select is_empty(
    $$
        select p.oid::regprocedure::text || ' ' || r.role_name
        from pg_catalog.pg_proc as p
        cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
        where p.pronamespace = 'private'::regnamespace
            and (
                p.proname like '%vocabulary%'
                or pg_catalog.obj_description(p.oid, 'pg_proc') like 'Generated by private.install\_vocabulary\_triggers()%'
            )
            and pg_catalog.has_function_privilege(r.role_name, p.oid, 'EXECUTE')
        order by 1
    $$,
    'no client role can execute any private vocabulary function, generated trigger functions included'
);
select is_empty(
    $$
        select p.oid::regprocedure::text
        from pg_catalog.pg_proc as p,
            lateral pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) as a
        where p.pronamespace = 'private'::regnamespace
            and pg_catalog.obj_description(p.oid, 'pg_proc') like 'Generated by private.install\_vocabulary\_triggers()%'
            and a.grantee = 0
        order by 1
    $$,
    'PUBLIC cannot execute the generated trigger functions'
);

select * from finish();
rollback;
