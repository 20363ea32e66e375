-- Creates private.tg__set_updated_at(), the one BEFORE UPDATE trigger function that keeps an
-- updated_at column current on every keepfresh table that has one (feature flags, registry,
-- later state tables). Kept private: triggers call it by oid, so no role needs EXECUTE on it
-- (Postgres checks EXECUTE on a trigger function only when the trigger is created).

-- Trigger function: sets new.updated_at to the transaction time on every UPDATE.
-- Returns the modified row; raises nothing.
create function private.tg__set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

comment on function private.tg__set_updated_at() is
    'BEFORE UPDATE trigger function: sets updated_at to now() on the updated row.';

revoke all on function private.tg__set_updated_at() from public, anon, authenticated, service_role;
