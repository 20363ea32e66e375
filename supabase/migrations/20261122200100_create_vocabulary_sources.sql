-- Creates private.vocabulary_sources (3.6): which (table, column) feeds which of the six fields
-- of the assistant's vocabulary, so that an app can point keepfresh at its own schema. A later
-- migration attaches a trigger that installs the per-table triggers and rebuilds the snapshot
-- whenever this table changes (docs/vocabulary.md shows how to map one's own tables).
--
-- Why private: get_vocabulary() reads the mapped columns as the table owner, across every user,
-- and hands the result to any signed-in user. Choosing what goes in there is therefore a
-- database-owner decision, like a migration: no API role may read or write this table, and
-- keepfresh's own and Supabase's internal schemas can never be mapped.
--
-- Names: the source tables keep the quoted mixed-case names apps already use ("Project"), so a
-- table or column name may contain upper-case letters. It must still be a plain identifier
-- (letters, digits, underscore, at most 63 bytes) whose lower-case form passes
-- public.is_valid_identifier, and every use quotes it with format('%I').

-- Whether p_name is an identifier that keepfresh may splice into SQL (always quoted with %I):
-- ^[A-Za-z_][A-Za-z0-9_]{0,62}$ whose lower-case form is valid per public.is_valid_identifier.
-- Returns false, never null and never an error, for any input.
create function private.is_valid_mixed_case_identifier(p_name text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select coalesce(
        p_name ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'
            and public.is_valid_identifier(pg_catalog.lower(p_name)),
        false
    )
$$;

comment on function private.is_valid_mixed_case_identifier(text) is
    'True when the name is ^[A-Za-z_][A-Za-z0-9_]{0,62}$ and its lower-case form passes '
    'public.is_valid_identifier (mixed case allowed, always quoted with %I); false otherwise.';

create table private.vocabulary_sources (
    id bigint generated always as identity primary key,
    field text not null,
    source_schema text not null default 'public',
    source_table text not null,
    source_column text not null,
    created_at timestamptz not null default now(),
    constraint vocabulary_sources_field_check check (
        field in (
            'projects', 'project_locations', 'expense_files', 'cashflow_files',
            'expense_categories', 'cashflow_categories'
        )
    ),
    -- Internal schemas hold secrets or keepfresh's own state: never vocabulary.
    constraint vocabulary_sources_source_schema_check check (
        public.is_valid_identifier(source_schema)
        and source_schema not in (
            'private', 'auth', 'vault', 'cron', 'net', 'extensions', 'storage', 'realtime',
            'graphql', 'graphql_public', 'pgsodium', 'supabase_functions', 'supabase_migrations',
            'pg_catalog', 'information_schema', 'pg_toast'
        )
    ),
    constraint vocabulary_sources_source_table_check
        check (private.is_valid_mixed_case_identifier(source_table)),
    constraint vocabulary_sources_source_column_check
        check (private.is_valid_mixed_case_identifier(source_column)),
    constraint vocabulary_sources_key unique (field, source_schema, source_table, source_column)
);

alter table private.vocabulary_sources enable row level security;

comment on table private.vocabulary_sources is
    'Which (schema, table, column) feeds which vocabulary field; changing it reinstalls the triggers and rebuilds.';
comment on column private.vocabulary_sources.field is
    'projects, project_locations, expense_files, cashflow_files, expense_categories or cashflow_categories.';
comment on column private.vocabulary_sources.source_column is
    'Column whose trimmed text value (1 to 200 characters) is a term of the field; any type, read as text.';

revoke all on table private.vocabulary_sources from public, anon, authenticated, service_role;
revoke all on function private.is_valid_mixed_case_identifier(text) from public, anon, authenticated, service_role;
