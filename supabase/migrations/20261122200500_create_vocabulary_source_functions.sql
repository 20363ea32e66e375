-- Creates the functions that define what the vocabulary IS, in one place each (3.6):
-- the six fields, the rule that turns a column value into a term, the vocabulary computed
-- straight from the source tables (the fallback, and what every rebuild stores), the document
-- readers get, the counts per field, and the check that the snapshot equals its sources.
--
-- Term rule: the value read as text, trimmed of spaces, tabs and line breaks; kept when 1 to 200
-- characters long (a longer value is not a name, and stays far below the btree limit of the
-- snapshot's key). Case and inner spacing are kept: "Acme" and "acme" are two terms.
--
-- The functions that read are STABLE, so that called from one statement they all see that
-- statement's snapshot: a version and the terms it labels are always read together.

-- The six fields of the vocabulary, in document order. Never raises.
create function private.vocabulary_fields()
returns text[]
language sql
immutable
parallel safe
set search_path = ''
as $$
    select array[
        'projects', 'project_locations', 'expense_files', 'cashflow_files',
        'expense_categories', 'cashflow_categories'
    ]
$$;

comment on function private.vocabulary_fields() is
    'The six vocabulary fields: projects, project_locations, expense_files, cashflow_files, expense_categories, cashflow_categories.';

-- The SQL expression (text) turning the SQL expression p_value_sql into its term: the value as
-- text, trimmed of spaces, tabs and line breaks, or null when that is empty or longer than 200
-- characters. The triggers' generated code and the fallback both use it, so they cannot differ.
create function private.vocabulary_term_sql(p_value_sql text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select pg_catalog.format(
        'case when pg_catalog.char_length(pg_catalog.btrim((%1$s)::text, E'' \t\r\n'')) between 1 and 200 '
        'then pg_catalog.btrim((%1$s)::text, E'' \t\r\n'') end',
        p_value_sql
    )
$$;

comment on function private.vocabulary_term_sql(text) is
    'SQL expression of the term of a value: trimmed text of 1 to 200 characters, else null (used by triggers and fallback).';

-- The vocabulary computed from the source tables, for the fields in p_fields (null: all): one row
-- per (field, term) with the number of source rows carrying it. Reads the tables as the function
-- owner (no RLS), across every user. Raises when a mapped table or column no longer exists.
create function private.vocabulary_source_terms(p_fields text[])
returns table (field text, term text, refs bigint)
language plpgsql
stable
set search_path = ''
as $$
declare
    v_sql text;
begin
    select pg_catalog.string_agg(
            pg_catalog.format(
                'select %L::text as field, %s as term from %I.%I as r',
                s.field,
                private.vocabulary_term_sql(pg_catalog.format('r.%I', s.source_column)),
                s.source_schema,
                s.source_table
            ),
            ' union all '
            order by s.id
        )
    into v_sql
    from private.vocabulary_sources as s
    where p_fields is null or s.field = any (p_fields);

    if v_sql is null then
        return;
    end if;
    return query execute
        'select t.field, t.term, pg_catalog.count(*) from (' || v_sql || ') as t '
        'where t.term is not null group by t.field, t.term';
end;
$$;

comment on function private.vocabulary_source_terms(text[]) is
    'The vocabulary computed from the mapped source tables: (field, term, refs) for the given fields, null for all.';

-- The vocabulary document: {projects: [...], project_locations: [...], ...}, every field present,
-- terms sorted by code point (collation "C", the same on every server). From the snapshot
-- (p_from_sources false: terms with refs > 0) or from the source tables (true: the fallback).
create function private.vocabulary_document(p_from_sources boolean)
returns jsonb
language sql
stable
set search_path = ''
as $$
    with t as (
        select s.field, s.term from private.vocabulary_source_terms(null) as s where p_from_sources
        union all
        select v.field, v.term from private.vocabulary_terms as v where not p_from_sources and v.refs > 0
    ),
    per_field as (
        select t.field, pg_catalog.jsonb_agg(t.term order by t.term collate "C") as terms
        from t
        group by t.field
    )
    select pg_catalog.jsonb_object_agg(f.field, coalesce(p.terms, '[]'::jsonb))
    from pg_catalog.unnest(private.vocabulary_fields()) as f (field)
    left join per_field as p on p.field = f.field
$$;

comment on function private.vocabulary_document(boolean) is
    'The six fields as sorted JSON arrays of terms, from the snapshot (false) or from the source tables (true).';

-- Number of terms per field in the snapshot: {projects: n, ...}, every field present.
create function private.vocabulary_counts()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_object_agg(f.field, coalesce(c.n, 0))
    from pg_catalog.unnest(private.vocabulary_fields()) as f (field)
    left join (
        select v.field, pg_catalog.count(*) as n
        from private.vocabulary_terms as v
        where v.refs > 0
        group by v.field
    ) as c on c.field = f.field
$$;

comment on function private.vocabulary_counts() is
    'Number of terms per field in the vocabulary snapshot, every field present.';

-- Whether the snapshot equals the vocabulary computed from the sources, counts included, in the
-- caller's snapshot. Raises when a mapped table or column no longer exists.
create function private.vocabulary_matches_sources()
returns boolean
language sql
stable
set search_path = ''
as $$
    with s as materialized (
        select x.field, x.term, x.refs from private.vocabulary_source_terms(null) as x
    ),
    t as materialized (
        select v.field, v.term, v.refs from private.vocabulary_terms as v where v.refs > 0
    )
    select not exists (select * from s except all select * from t)
        and not exists (select * from t except all select * from s)
$$;

comment on function private.vocabulary_matches_sources() is
    'True when the snapshot (terms and counts) equals the vocabulary computed from the source tables.';

revoke all on function private.vocabulary_fields() from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_term_sql(text) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_source_terms(text[]) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_document(boolean) from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_counts() from public, anon, authenticated, service_role;
revoke all on function private.vocabulary_matches_sources() from public, anon, authenticated, service_role;
