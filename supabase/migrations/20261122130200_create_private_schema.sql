-- Creates the private schema for keepfresh internals (queue, usage, circuit, leases, sync
-- internals). It is not exposed through the API: clients reach it only through functions in
-- public. No role but its owner may use it; a later migration grants usage to a role only when
-- that role needs it, and only for named objects.

create schema private;

comment on schema private is
    'keepfresh internals: queue, quota, leases, sync state. Not exposed; reached through functions.';

revoke all on schema private from public, anon, authenticated, service_role;
