-- Privileges per role on every table, sequence and function of the core schema, and generic
-- guards over public and private: nothing is granted to anon, authenticated or service_role
-- unless it is in the allow-list below, and nothing at all to PUBLIC. A later migration that
-- grants something must add it to the allow-list here, consciously.
begin;
set search_path = extensions, public;
select plan(55);

-- The allow-list: every privilege a client role may hold on a function or relation in public
-- or private. UPDATE on active_subscriptions_v2 is column-level (see column_privs_are below).
create temporary table allowed_grants (role_name text, object_name text, privilege text);
insert into allowed_grants (role_name, object_name, privilege)
values
    ('service_role', 'public.is_valid_identifier(text)', 'EXECUTE'),
    ('service_role', 'public.is_valid_qualified_name(text)', 'EXECUTE'),
    ('service_role', 'public.is_feature_enabled(text)', 'EXECUTE'),
    ('authenticated', 'public.feature_flags', 'SELECT'),
    ('service_role', 'public.feature_flags', 'SELECT'),
    ('service_role', 'public.feature_flags', 'INSERT'),
    ('service_role', 'public.feature_flags', 'UPDATE'),
    ('service_role', 'public.feature_flags', 'DELETE'),
    ('authenticated', 'public.data_type_registry_v2', 'SELECT'),
    ('service_role', 'public.data_type_registry_v2', 'SELECT'),
    ('service_role', 'public.data_type_registry_v2', 'INSERT'),
    ('service_role', 'public.data_type_registry_v2', 'UPDATE'),
    ('service_role', 'public.data_type_registry_v2', 'DELETE'),
    ('authenticated', 'public.active_subscriptions_v2', 'SELECT'),
    ('authenticated', 'public.active_subscriptions_v2', 'INSERT'),
    ('authenticated', 'public.active_subscriptions_v2', 'UPDATE'),
    ('authenticated', 'public.active_subscriptions_v2', 'DELETE'),
    ('service_role', 'public.active_subscriptions_v2', 'SELECT'),
    ('service_role', 'public.active_subscriptions_v2', 'INSERT'),
    ('service_role', 'public.active_subscriptions_v2', 'UPDATE'),
    ('service_role', 'public.active_subscriptions_v2', 'DELETE');

-- 20261122170000_create_fmp_target_tables: the synced FMP data, read-only to signed-in users;
-- the processor writes it as the table owner.
insert into allowed_grants (role_name, object_name, privilege)
select r.role_name, 'public.' || t.table_name, 'SELECT'
from (values ('authenticated'), ('service_role')) as r (role_name)
cross join (
    values
        ('fmp_quote'), ('fmp_profile'), ('fmp_financial_statement'), ('fmp_ratios_ttm'),
        ('fmp_dividend'), ('fmp_shares_float'), ('fmp_revenue_segmentation'),
        ('fmp_grades_historical'), ('fmp_exchange_variant'), ('fmp_available_exchange'),
        ('fmp_exchange_market_status')
) as t (table_name);

-- 2026112216xxxx queue API: the processor and cron call these as postgres; service_role (an
-- operator with the secret key) may call them too; anon and authenticated never.
insert into allowed_grants (role_name, object_name, privilege)
select 'service_role', f.signature, 'EXECUTE'
from (
    values
        ('public.acquire_processor_lease_v2(text, integer, integer)'),
        ('public.complete_queue_job_v2(bigint, uuid, text, bigint, timestamp with time zone)'),
        ('public.complete_queue_jobs_v2(bigint[], uuid[], text[], bigint[], timestamp with time zone[])'),
        ('public.fail_queue_job_v2(bigint, uuid, text, text)'),
        ('public.finish_sync_run_v2(bigint, text, jsonb, text)'),
        ('public.get_circuit_state_v2(text)'),
        ('public.get_queue_batch_filtered_v2(integer, text, integer, text[], text[])'),
        ('public.get_queue_batch_v2(integer, text, integer)'),
        ('public.get_quota_status_v2(text)'),
        ('public.get_sync_run_v2(bigint)'),
        ('public.get_sync_stats_v2(interval)'),
        ('public.invoke_processor_loop_v2()'),
        ('public.is_quota_exceeded_v2(text)'),
        ('public.maintain_queue_partitions_v2()'),
        ('public.queue_refresh_batch_v2(jsonb)'),
        ('public.queue_refresh_if_not_exists_v2(text, text, jsonb, integer)'),
        ('public.recover_stuck_jobs_v2()'),
        ('public.release_processor_lease_v2(bigint)'),
        ('public.release_queue_jobs_v2(bigint[], uuid[])'),
        ('public.reset_job_immediate_v2(bigint)'),
        ('public.set_provider_state_v2(text, text, integer, text)'),
        ('public.start_sync_run_v2(text, jsonb, text)'),
        -- 2026112219xxxx staleness and presence: track-subscription-v2 and cron call them.
        ('public.is_data_stale_v2(text, text)'),
        ('public.is_profile_stale_v2(text)'),
        ('public.check_and_queue_stale_batch_v2(text[], text[])'),
        ('public.track_subscription_v2(uuid, text, text[], text[], text)'),
        ('public.check_and_queue_stale_data_from_presence_v2()'),
        ('public.queue_scheduled_refreshes_v2()'),
        ('public.refresh_analytics_from_presence_v2()')
) as f (signature);

-- 2026112220xxxx vocabulary: readers call get_vocabulary; only the service role rebuilds. The
-- source tables are the app's own: owners write their rows under RLS.
insert into allowed_grants (role_name, object_name, privilege)
values
    ('authenticated', 'public.get_vocabulary()', 'EXECUTE'),
    ('service_role', 'public.get_vocabulary()', 'EXECUTE'),
    ('service_role', 'public.rebuild_vocabulary()', 'EXECUTE');
insert into allowed_grants (role_name, object_name, privilege)
select r.role_name, pg_catalog.format('public.%I', t.table_name), p.privilege
from (values ('authenticated'), ('service_role')) as r (role_name)
cross join (
    values ('Project'), ('Expenses'), ('CashFlow'), ('ExpensesColumn'), ('CashFlowColumn')
) as t (table_name)
cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) as p (privilege);

-- Every privilege anon, authenticated and service_role hold on a function or relation of
-- public or private (PUBLIC grants and column-level grants included), one row each.
create temporary view actual_grants as
    select r.role_name, pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
            pg_catalog.oidvectortypes(p.proargtypes)) as object_name,
        'EXECUTE' as privilege
    from pg_catalog.pg_proc as p
    join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
    cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
    where n.nspname in ('public', 'private')
        and not exists (
            select 1 from pg_catalog.pg_depend as d
            where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
        )
        and pg_catalog.has_function_privilege(r.role_name, p.oid, 'EXECUTE')
    union all
    select r.role_name, pg_catalog.format('%I.%I', n.nspname, c.relname), v.privilege
    from pg_catalog.pg_class as c
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
    cross join (
        values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')
    ) as v (privilege)
    where n.nspname in ('public', 'private')
        and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and (
            pg_catalog.has_table_privilege(r.role_name, c.oid, v.privilege)
            or (
                v.privilege in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                and pg_catalog.has_any_column_privilege(r.role_name, c.oid, v.privilege)
            )
        )
    union all
    select r.role_name, pg_catalog.format('%I.%I', n.nspname, c.relname), v.privilege
    from pg_catalog.pg_class as c
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
    cross join (values ('USAGE'), ('SELECT'), ('UPDATE')) as v (privilege)
    where n.nspname in ('public', 'private')
        and c.relkind = 'S'
        and pg_catalog.has_sequence_privilege(r.role_name, c.oid, v.privilege);

-- Generic guards.
select is_empty(
    $$
        select a.role_name || ' has ' || a.privilege || ' on ' || a.object_name
        from actual_grants as a
        where a.privilege = 'EXECUTE'
            and not exists (
                select 1 from allowed_grants as g
                where g.role_name = a.role_name and g.object_name = a.object_name and g.privilege = a.privilege
            )
        order by 1
    $$,
    'no function in public or private is executable by anon, authenticated or service_role unless allow-listed'
);
select is_empty(
    $$
        select pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
            pg_catalog.oidvectortypes(p.proargtypes))
        from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace,
            lateral pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) as a
        where n.nspname in ('public', 'private')
            and a.grantee = 0
        order by 1
    $$,
    'no function in public or private is executable by PUBLIC'
);
select is_empty(
    $$
        select a.role_name || ' has ' || a.privilege || ' on ' || a.object_name
        from actual_grants as a
        where a.privilege <> 'EXECUTE'
            and not exists (
                select 1 from allowed_grants as g
                where g.role_name = a.role_name and g.object_name = a.object_name and g.privilege = a.privilege
            )
        order by 1
    $$,
    'no table, view or sequence in public or private grants anon, authenticated or service_role anything unless allow-listed'
);
select is_empty(
    $$
        select pg_catalog.format('%I.%I', n.nspname, c.relname) || ' ' || a.privilege_type
        from pg_catalog.pg_class as c
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace,
            lateral pg_catalog.aclexplode(c.relacl) as a
        where n.nspname in ('public', 'private')
            and a.grantee = 0
        order by 1
    $$,
    'no table, view or sequence in public or private grants PUBLIC anything'
);
select is_empty(
    $$
        select g.role_name || ' ' || g.privilege || ' on ' || g.object_name
        from allowed_grants as g
        where not exists (
            select 1 from actual_grants as a
            where a.role_name = g.role_name and a.object_name = g.object_name and a.privilege = g.privilege
        )
        order by 1
    $$,
    'every allow-list entry is actually granted (the list has no stale entries)'
);

-- Tables in public.
select table_privs_are('public', 'feature_flags', 'anon', array[]::text[], 'anon has no privilege on feature_flags');
select table_privs_are(
    'public', 'feature_flags', 'authenticated', array['SELECT'],
    'authenticated may only read feature_flags'
);
select table_privs_are(
    'public', 'feature_flags', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    'service_role may read and write feature_flags'
);
select table_privs_are(
    'public', 'data_type_registry_v2', 'anon', array[]::text[],
    'anon has no privilege on data_type_registry_v2'
);
select table_privs_are(
    'public', 'data_type_registry_v2', 'authenticated', array['SELECT'],
    'authenticated may only read data_type_registry_v2'
);
select table_privs_are(
    'public', 'data_type_registry_v2', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    'service_role may read and write data_type_registry_v2'
);
select table_privs_are(
    'public', 'active_subscriptions_v2', 'anon', array[]::text[],
    'anon has no privilege on active_subscriptions_v2'
);
select table_privs_are(
    'public', 'active_subscriptions_v2', 'authenticated', array['SELECT', 'INSERT', 'DELETE'],
    'authenticated may read, insert and delete active_subscriptions_v2 (update is per column)'
);
select table_privs_are(
    'public', 'active_subscriptions_v2', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    'service_role may read and write active_subscriptions_v2'
);

-- Column privileges of authenticated on active_subscriptions_v2: only heartbeat columns update.
select column_privs_are(
    'public', 'active_subscriptions_v2', 'id', 'authenticated', array['SELECT', 'INSERT'],
    'authenticated cannot update id'
);
select column_privs_are(
    'public', 'active_subscriptions_v2', 'user_id', 'authenticated', array['SELECT', 'INSERT'],
    'authenticated cannot move a subscription to another user'
);
select column_privs_are(
    'public', 'active_subscriptions_v2', 'client_id', 'authenticated', array['SELECT', 'INSERT'],
    'authenticated cannot change the client of a subscription'
);
select column_privs_are(
    'public', 'active_subscriptions_v2', 'symbol', 'authenticated', array['SELECT', 'INSERT'],
    'authenticated cannot change the symbol of a subscription'
);
select column_privs_are(
    'public', 'active_subscriptions_v2', 'created_at', 'authenticated', array['SELECT', 'INSERT'],
    'authenticated cannot update created_at'
);
select column_privs_are(
    'public', 'active_subscriptions_v2', 'data_types', 'authenticated', array['SELECT', 'INSERT', 'UPDATE'],
    'authenticated may update data_types'
);
select column_privs_are(
    'public', 'active_subscriptions_v2', 'last_seen_at', 'authenticated', array['SELECT', 'INSERT', 'UPDATE'],
    'authenticated may update last_seen_at'
);
select column_privs_are(
    'public', 'active_subscriptions_v2', 'expires_at', 'authenticated', array['SELECT', 'INSERT', 'UPDATE'],
    'authenticated may update expires_at'
);

-- Tables in private: nothing for anyone but the owner.
select table_privs_are('private', 'api_call_queue_v2', 'anon', array[]::text[], 'anon has no privilege on the queue');
select table_privs_are(
    'private', 'api_call_queue_v2', 'authenticated', array[]::text[],
    'authenticated has no privilege on the queue'
);
select table_privs_are(
    'private', 'api_call_queue_v2', 'service_role', array[]::text[],
    'service_role has no privilege on the queue (functions only)'
);
select table_privs_are(
    'private', 'api_call_queue_v2_pending', 'anon', array[]::text[],
    'anon has no privilege on the pending partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_pending', 'authenticated', array[]::text[],
    'authenticated has no privilege on the pending partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_pending', 'service_role', array[]::text[],
    'service_role has no privilege on the pending partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_processing', 'anon', array[]::text[],
    'anon has no privilege on the processing partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_processing', 'authenticated', array[]::text[],
    'authenticated has no privilege on the processing partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_processing', 'service_role', array[]::text[],
    'service_role has no privilege on the processing partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_completed', 'anon', array[]::text[],
    'anon has no privilege on the completed partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_completed', 'authenticated', array[]::text[],
    'authenticated has no privilege on the completed partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_completed', 'service_role', array[]::text[],
    'service_role has no privilege on the completed partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_failed', 'anon', array[]::text[],
    'anon has no privilege on the failed partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_failed', 'authenticated', array[]::text[],
    'authenticated has no privilege on the failed partition'
);
select table_privs_are(
    'private', 'api_call_queue_v2_failed', 'service_role', array[]::text[],
    'service_role has no privilege on the failed partition'
);

-- Sequences.
select sequence_privs_are(
    'public', 'active_subscriptions_v2_id_seq', 'anon', array[]::text[],
    'anon has no privilege on the subscription id sequence'
);
select sequence_privs_are(
    'public', 'active_subscriptions_v2_id_seq', 'authenticated', array[]::text[],
    'authenticated has no privilege on the subscription id sequence (identity needs none)'
);
select sequence_privs_are(
    'public', 'active_subscriptions_v2_id_seq', 'service_role', array[]::text[],
    'service_role has no privilege on the subscription id sequence (identity needs none)'
);
select sequence_privs_are(
    'private', 'api_call_queue_v2_id_seq', 'anon', array[]::text[],
    'anon has no privilege on the queue id sequence'
);
select sequence_privs_are(
    'private', 'api_call_queue_v2_id_seq', 'authenticated', array[]::text[],
    'authenticated has no privilege on the queue id sequence'
);
select sequence_privs_are(
    'private', 'api_call_queue_v2_id_seq', 'service_role', array[]::text[],
    'service_role has no privilege on the queue id sequence'
);

-- Functions.
select function_privs_are(
    'public', 'is_valid_identifier', array['text'], 'anon', array[]::text[],
    'anon cannot execute is_valid_identifier'
);
select function_privs_are(
    'public', 'is_valid_identifier', array['text'], 'authenticated', array[]::text[],
    'authenticated cannot execute is_valid_identifier'
);
select function_privs_are(
    'public', 'is_valid_identifier', array['text'], 'service_role', array['EXECUTE'],
    'service_role can execute is_valid_identifier (registry CHECK constraints run as the writer)'
);
select function_privs_are(
    'public', 'is_valid_qualified_name', array['text'], 'anon', array[]::text[],
    'anon cannot execute is_valid_qualified_name'
);
select function_privs_are(
    'public', 'is_valid_qualified_name', array['text'], 'authenticated', array[]::text[],
    'authenticated cannot execute is_valid_qualified_name'
);
select function_privs_are(
    'public', 'is_valid_qualified_name', array['text'], 'service_role', array['EXECUTE'],
    'service_role can execute is_valid_qualified_name (registry CHECK constraints run as the writer)'
);
select function_privs_are(
    'public', 'is_feature_enabled', array['text'], 'anon', array[]::text[],
    'anon cannot execute is_feature_enabled'
);
select function_privs_are(
    'public', 'is_feature_enabled', array['text'], 'authenticated', array[]::text[],
    'authenticated cannot execute is_feature_enabled'
);
select function_privs_are(
    'public', 'is_feature_enabled', array['text'], 'service_role', array['EXECUTE'],
    'service_role can execute is_feature_enabled'
);
select function_privs_are(
    'private', 'tg__set_updated_at', array[]::text[], 'anon', array[]::text[],
    'anon cannot execute tg__set_updated_at'
);
select function_privs_are(
    'private', 'tg__set_updated_at', array[]::text[], 'authenticated', array[]::text[],
    'authenticated cannot execute tg__set_updated_at'
);
select function_privs_are(
    'private', 'tg__set_updated_at', array[]::text[], 'service_role', array[]::text[],
    'service_role cannot execute tg__set_updated_at (triggers need no grant)'
);

select * from finish();
rollback;
