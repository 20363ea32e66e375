-- Creates is_valid_identifier and is_valid_qualified_name (3.1). Every table and column name
-- that keepfresh reads from the registry and later splices into dynamic SQL passes these
-- checks first (as CHECK constraints on the registry) and is still quoted with format('%I.%I').
--
-- Decision on keywords: a valid identifier is one that quote_ident() returns unchanged, i.e. a
-- name that reads the same quoted or unquoted. quote_ident() is IMMUTABLE and consults the
-- server's compiled-in keyword list (the one pg_get_keywords() shows), so the functions are
-- honestly immutable and usable in CHECK constraints, without reading a catalog (reading
-- pg_get_keywords(), which is STABLE, from an immutable function would be a lie). It rejects
-- every keyword that is not unreserved: reserved ('R'), type/function ('T') and column-name
-- ('C') keywords such as "select", "left", "time". The keyword list changes only with a major
-- version; 04_identifiers.test.sql checks every R, T and C keyword against the running server.

-- Whether p_name is a plain lowercase Postgres identifier: ^[a-z_][a-z0-9_]{0,62}$ (63 bytes
-- is NAMEDATALEN - 1, longer names are silently truncated by Postgres) and not a keyword that
-- would need quoting. Returns false, never null and never an error, for any input.
create function public.is_valid_identifier(p_name text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select coalesce(
        p_name ~ '^[a-z_][a-z0-9_]{0,62}$'
            and pg_catalog.quote_ident(p_name) = p_name,
        false
    )
$$;

comment on function public.is_valid_identifier(text) is
    'True when the name is a lowercase unquoted Postgres identifier (^[a-z_][a-z0-9_]{0,62}$) '
    'that is not a keyword needing quotes; false for anything else, including null.';

-- Whether p_name is exactly schema.relation, both parts valid per is_valid_identifier.
-- Returns false, never null and never an error, for any input.
create function public.is_valid_qualified_name(p_name text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select coalesce(
        p_name ~ '^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$'
            and public.is_valid_identifier(pg_catalog.split_part(p_name, '.', 1))
            and public.is_valid_identifier(pg_catalog.split_part(p_name, '.', 2)),
        false
    )
$$;

comment on function public.is_valid_qualified_name(text) is
    'True when the name is schema.relation with both parts valid per is_valid_identifier; '
    'false for anything else, including null.';

-- service_role writes registry rows, whose CHECK constraints call these functions with the
-- writer's privileges. Clients never need them.
revoke all on function public.is_valid_identifier(text) from public, anon, authenticated, service_role;
revoke all on function public.is_valid_qualified_name(text) from public, anon, authenticated, service_role;
grant execute on function public.is_valid_identifier(text) to service_role;
grant execute on function public.is_valid_qualified_name(text) to service_role;
