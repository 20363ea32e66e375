-- pgTAP helpers for keepfresh, in the spirit of supabase-test-helpers: create auth users, act
-- as anon, a user or service_role inside a test transaction, and check RLS coverage.
-- Applied by the test runner before pg_prove (never a migration: hosted databases do not get
-- it). Idempotent: safe to apply again to a database that already has it.
--
-- Locked down: anon, authenticated and service_role may use the schema only to call
-- tests.clear_authentication() (a test that has switched to one of those roles calls it to
-- switch back); every other helper is executable by the test owner (postgres) alone.
-- Role switches use set_config(..., true): they last until the end of the test transaction.

set client_min_messages = warning;

create schema if not exists tests;

revoke all on schema tests from public, anon, authenticated, service_role;
grant usage on schema tests to anon, authenticated, service_role;

-- Creates an auth user for a test and returns its id. identifier names the user in later
-- helper calls (stored in raw_user_meta_data.test_identifier); email defaults to
-- <identifier>@test.local. Raises unique_violation when the identifier or email is taken.
create or replace function tests.create_supabase_user(
    p_identifier text,
    p_email text default null
)
returns uuid
language plpgsql
security invoker
set search_path = ''
as $$
declare
    v_id uuid := extensions.gen_random_uuid();
begin
    if p_identifier is null or p_identifier = '' then
        raise exception 'tests.create_supabase_user: identifier must not be empty';
    end if;
    if exists (
        select 1 from auth.users as u where u.raw_user_meta_data ->> 'test_identifier' = p_identifier
    ) then
        raise exception using
            errcode = 'unique_violation',
            message = pg_catalog.format('tests.create_supabase_user: user %L already exists', p_identifier);
    end if;
    insert into auth.users (id, email, raw_user_meta_data)
    values (
        v_id,
        coalesce(p_email, p_identifier || '@test.local'),
        pg_catalog.jsonb_build_object('test_identifier', p_identifier)
    );
    return v_id;
end;
$$;

comment on function tests.create_supabase_user(text, text) is
    'Test helper: creates an auth user named by identifier and returns its id.';

-- The id of the test user created with identifier. Raises no_data_found for an unknown one.
create or replace function tests.get_supabase_uid(p_identifier text)
returns uuid
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    v_id uuid;
begin
    select u.id into v_id
    from auth.users as u
    where u.raw_user_meta_data ->> 'test_identifier' = p_identifier;
    if v_id is null then
        raise exception using
            errcode = 'no_data_found',
            message = pg_catalog.format('tests.get_supabase_uid: no test user %L; create it with tests.create_supabase_user', p_identifier);
    end if;
    return v_id;
end;
$$;

comment on function tests.get_supabase_uid(text) is
    'Test helper: id of the test user created with identifier; raises when unknown.';

-- Acts as the test user: role authenticated and request.jwt.claims with sub, role, email and
-- aud, as PostgREST would set them, until the end of the transaction.
-- Raises no_data_found for an unknown identifier.
create or replace function tests.authenticate_as(p_identifier text)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
    v_id uuid;
    v_email text;
begin
    -- Look the user up before the role switch: authenticated cannot read auth.users.
    v_id := tests.get_supabase_uid(p_identifier);
    select u.email into v_email from auth.users as u where u.id = v_id;
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.jsonb_build_object(
        'sub', v_id,
        'role', 'authenticated',
        'email', v_email,
        'aud', 'authenticated'
    )::text, true);
    perform pg_catalog.set_config('role', 'authenticated', true);
end;
$$;

comment on function tests.authenticate_as(text) is
    'Test helper: role authenticated with JWT claims of the named test user, until end of transaction.';

-- Acts as an anonymous client: role anon and claims {"role": "anon"}.
create or replace function tests.authenticate_as_anon()
returns void
language plpgsql
security invoker
set search_path = ''
as $$
begin
    perform pg_catalog.set_config('request.jwt.claims', '{"role": "anon"}', true);
    perform pg_catalog.set_config('role', 'anon', true);
end;
$$;

comment on function tests.authenticate_as_anon() is
    'Test helper: role anon with anonymous JWT claims, until end of transaction.';

-- Acts as the service role: role service_role (bypasses RLS) and claims {"role": "service_role"}.
create or replace function tests.authenticate_as_service_role()
returns void
language plpgsql
security invoker
set search_path = ''
as $$
begin
    perform pg_catalog.set_config('request.jwt.claims', '{"role": "service_role"}', true);
    perform pg_catalog.set_config('role', 'service_role', true);
end;
$$;

comment on function tests.authenticate_as_service_role() is
    'Test helper: role service_role with service JWT claims, until end of transaction.';

-- Back to the session role (the test owner) with no JWT claims.
create or replace function tests.clear_authentication()
returns void
language plpgsql
security invoker
set search_path = ''
as $$
begin
    perform pg_catalog.set_config('role', 'none', true);
    perform pg_catalog.set_config('request.jwt.claims', '', true);
end;
$$;

comment on function tests.clear_authentication() is
    'Test helper: back to the session role with no JWT claims.';

-- Tables (partitioned tables and partitions included) of p_schema without RLS enabled, by name.
create or replace function tests.tables_without_rls(p_schema name)
returns setof text
language sql
stable
security invoker
set search_path = ''
as $$
    select pg_catalog.format('%I.%I', n.nspname, c.relname)
    from pg_catalog.pg_class as c
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = p_schema
        and c.relkind in ('r', 'p')
        and not c.relrowsecurity
    order by 1
$$;

comment on function tests.tables_without_rls(name) is
    'Test helper: tables and partitions of a schema that do not have RLS enabled.';

-- Whether every table of p_schema, partitioned tables and partitions included, has RLS enabled.
-- True for a schema without tables.
create or replace function tests.rls_enabled(p_schema name)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
    select not exists (select 1 from tests.tables_without_rls(p_schema))
$$;

comment on function tests.rls_enabled(name) is
    'Test helper: true when every table and partition of the schema has RLS enabled.';

revoke all on all functions in schema tests from public, anon, authenticated, service_role;
grant execute on function tests.clear_authentication() to anon, authenticated, service_role;
