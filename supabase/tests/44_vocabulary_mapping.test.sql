-- private.vocabulary_sources points the vocabulary at an app's own tables: bad mapping rows are
-- refused with a clear error and change nothing; a new mapping installs the four triggers on its
-- table (tg_<table>__<event>, schema-qualified outside public), builds the snapshot from the rows
-- that already exist and maintains it from then on; removing it drops its triggers and functions
-- and its terms.
begin;
set search_path = extensions, public;
set local client_min_messages = warning;
select plan(22);

-- Validation: CHECK constraints.
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_table, source_column) values ('people', 'Project', 'name') $$,
    '23514', 'new row for relation "vocabulary_sources" violates check constraint "vocabulary_sources_field_check"',
    'an unknown field is refused'
);
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_schema, source_table, source_column) values ('projects', 'auth', 'users', 'email') $$,
    '23514', 'new row for relation "vocabulary_sources" violates check constraint "vocabulary_sources_source_schema_check"',
    'internal schemas such as auth can never be mapped'
);
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_schema, source_table, source_column) values ('projects', 'private', 'vocabulary_terms', 'term') $$,
    '23514', 'new row for relation "vocabulary_sources" violates check constraint "vocabulary_sources_source_schema_check"',
    'keepfresh''s private schema can never be mapped'
);
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_table, source_column) values ('projects', 'Project"; drop table x; --', 'name') $$,
    '23514', 'new row for relation "vocabulary_sources" violates check constraint "vocabulary_sources_source_table_check"',
    'a table name that is not a plain identifier is refused'
);
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_table, source_column) values ('projects', 'Project', 'select') $$,
    '23514', 'new row for relation "vocabulary_sources" violates check constraint "vocabulary_sources_source_column_check"',
    'a keyword as column name is refused'
);
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_table, source_column) values ('projects', 'Project', 'name') $$,
    '23505', 'duplicate key value violates unique constraint "vocabulary_sources_key"',
    'the same source cannot feed a field twice'
);

-- Validation: the installer.
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_table, source_column) values ('projects', 'no_such_table', 'name') $$,
    '42P01', 'vocabulary source table public.no_such_table does not exist',
    'a missing table is refused with its name'
);
create table public.kf_vocab_sites (id bigint generated always as identity primary key, title text, city varchar(80));
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_table, source_column) values ('projects', 'kf_vocab_sites', 'name') $$,
    '42703', 'column name of vocabulary source table public.kf_vocab_sites does not exist',
    'a missing column is refused with its name'
);
create view public.kf_vocab_sites_view as select title from public.kf_vocab_sites;
select throws_ok(
    $$ insert into private.vocabulary_sources (field, source_table, source_column) values ('projects', 'kf_vocab_sites_view', 'title') $$,
    '42809', 'vocabulary source public.kf_vocab_sites_view is not a table',
    'a view is refused'
);
select is((select pg_catalog.count(*)::integer from private.vocabulary_sources), 8, 'refused rows changed nothing');

-- An app's own table, with rows that exist before it is mapped.
insert into public.kf_vocab_sites (title, city) values ('Site A', 'Rome'), ('Site B', ' Rome '), (null, 'Turin');
select set_config('kf.version', (select version::text from private.vocabulary_state), true);
select lives_ok(
    $$
        insert into private.vocabulary_sources (field, source_table, source_column)
        values ('projects', 'kf_vocab_sites', 'title'), ('project_locations', 'kf_vocab_sites', 'city')
    $$,
    'an app maps its own table to two fields'
);
select results_eq(
    $$
        select t.tgname::text collate "default", t.tgfoid::regprocedure::text collate "default"
        from pg_catalog.pg_trigger as t
        where t.tgrelid = 'public.kf_vocab_sites'::regclass
        order by 1
    $$,
    $$
        values
            ('vocabulary_after_delete', 'private.tg_kf_vocab_sites__delete()'),
            ('vocabulary_after_insert', 'private.tg_kf_vocab_sites__insert()'),
            ('vocabulary_after_truncate', 'private.tg_kf_vocab_sites__truncate()'),
            ('vocabulary_after_update', 'private.tg_kf_vocab_sites__update()')
    $$,
    'the mapped table got its four triggers and generated functions'
);
select results_eq(
    $$ select v -> 'projects', v -> 'project_locations', v ->> 'source' from public.get_vocabulary() as v $$,
    $$ values ('["Site A", "Site B"]'::jsonb, '["Rome", "Turin"]'::jsonb, 'snapshot') $$,
    'the snapshot was rebuilt from the rows that already existed'
);
select ok(
    (select version > current_setting('kf.version')::bigint from private.vocabulary_state),
    'the rebuild that added terms changed the version'
);
select results_eq(
    $$ select trigger, status from private.vocabulary_rebuilds order by id desc limit 1 $$,
    $$ values ('mapping', 'succeeded') $$,
    'the mapping rebuild is logged'
);
update public.kf_vocab_sites set title = 'Site C' where title = 'Site A';
delete from public.kf_vocab_sites where city = 'Turin';
set constraints all immediate;
set constraints all deferred;
select results_eq(
    $$ select v -> 'projects', v -> 'project_locations' from public.get_vocabulary() as v $$,
    $$ values ('["Site B", "Site C"]'::jsonb, '["Rome"]'::jsonb) $$,
    'writes to the mapped table maintain the vocabulary'
);
select ok(private.vocabulary_matches_sources(), 'the snapshot equals its sources, new table included');

-- Another schema: function names carry the schema, notifications name schema.table.
create schema kf_vocab_tenant;
create table kf_vocab_tenant."Sites" (id integer primary key, label text);
insert into private.vocabulary_sources (field, source_schema, source_table, source_column)
values ('expense_files', 'kf_vocab_tenant', 'Sites', 'label');
select is(
    (select pg_catalog.array_agg(t.tgfoid::regprocedure::text order by t.tgfoid::regprocedure::text) from pg_catalog.pg_trigger as t
     where t.tgrelid = 'kf_vocab_tenant."Sites"'::regclass),
    array[
        'private.tg_kf_vocab_tenant_sites__delete()', 'private.tg_kf_vocab_tenant_sites__insert()',
        'private.tg_kf_vocab_tenant_sites__truncate()', 'private.tg_kf_vocab_tenant_sites__update()'
    ],
    'a table outside public gets tg_<schema>_<table>__<event> functions'
);
insert into kf_vocab_tenant."Sites" values (1, 'tenant.pdf');
select results_eq(
    $$ select source_table from private.vocabulary_pending where kind = 'delta' $$,
    $$ values ('kf_vocab_tenant.Sites') $$,
    'its changes are labelled schema.table'
);

-- Unmapping drops the triggers, the functions and the terms.
delete from private.vocabulary_sources where source_table in ('kf_vocab_sites', 'Sites');
select is_empty(
    $$
        select t.tgname from pg_catalog.pg_trigger as t
        where t.tgrelid in ('public.kf_vocab_sites'::regclass, 'kf_vocab_tenant."Sites"'::regclass)
    $$,
    'unmapped tables lose their vocabulary triggers'
);
select is_empty(
    $$ select proname from pg_catalog.pg_proc where proname like 'tg\_kf\_vocab\_%' $$,
    'and their generated functions'
);
select results_eq(
    $$ select v -> 'projects', v -> 'project_locations', v -> 'expense_files' from public.get_vocabulary() as v $$,
    $$ values ('[]'::jsonb, '[]'::jsonb, '[]'::jsonb) $$,
    'and their terms leave the vocabulary'
);

select * from finish();
rollback;
