-- Local-only bootstrap: makes a plain PostgreSQL 15 cluster look like a hosted Supabase
-- database before migrations run. Never part of supabase/migrations: hosted Supabase already
-- has all of this. Idempotent: scripts/dev and scripts/test run it on every start.
--
-- What it mirrors:
--   * roles anon, authenticated, service_role (bypassrls) and authenticator;
--   * auth.uid(), auth.role(), auth.jwt() reading request.jwt.claims, and a minimal auth.users;
--   * schema extensions (pgtap lives there), pg_cron in pg_catalog;
--   * hosted's DEFAULT PRIVILEGES on schema public: anon, authenticated and service_role get
--     ALL on new tables, sequences and functions. Migrations must revoke explicitly, exactly as
--     they must on hosted (revoking from PUBLIC alone is not enough there);
--   * a Vault shim: vault.secrets, vault.decrypted_secrets, vault.create_secret,
--     vault.update_secret (same names, no encryption: local secrets are not secret).

set client_min_messages = warning;

do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit password 'postgres';
    end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on tables to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on functions to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on sequences to anon, authenticated, service_role;

create extension if not exists pg_cron with schema pg_catalog;
create extension if not exists pgtap with schema extensions;
create extension if not exists pgcrypto with schema extensions;

-- auth: the parts of GoTrue's schema that SQL in migrations and policies relies on.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
    id uuid primary key,
    email text unique,
    raw_user_meta_data jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
);

create or replace function auth.uid() returns uuid
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;

-- hosted Supabase's defaults on schema public.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

-- Vault shim (hosted: the supabase_vault extension).
create schema if not exists vault;
revoke all on schema vault from public;

create table if not exists vault.secrets (
    id uuid primary key default gen_random_uuid(),
    name text unique,
    description text not null default '',
    secret text not null,
    key_id uuid,
    nonce bytea,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
revoke all on vault.secrets from public;

create or replace view vault.decrypted_secrets as
select id, name, description, secret, secret as decrypted_secret, key_id, nonce, created_at, updated_at
from vault.secrets;
revoke all on vault.decrypted_secrets from public;

create or replace function vault.create_secret(
    new_secret text,
    new_name text default null,
    new_description text default '',
    new_key_id uuid default null
) returns uuid
language sql
set search_path = ''
as $$
    insert into vault.secrets (secret, name, description, key_id)
    values (new_secret, new_name, coalesce(new_description, ''), new_key_id)
    returning id
$$;

create or replace function vault.update_secret(
    secret_id uuid,
    new_secret text default null,
    new_name text default null,
    new_description text default null,
    new_key_id uuid default null
) returns void
language sql
set search_path = ''
as $$
    update vault.secrets
    set secret = coalesce(new_secret, secret),
        name = coalesce(new_name, name),
        description = coalesce(new_description, description),
        key_id = coalesce(new_key_id, key_id),
        updated_at = now()
    where id = secret_id
$$;
revoke all on function vault.create_secret(text, text, text, uuid) from public;
revoke all on function vault.update_secret(uuid, text, text, text, uuid) from public;
