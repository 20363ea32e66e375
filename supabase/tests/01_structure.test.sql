-- Structure of the core schema: tables and columns, queue partitions and their bounds and
-- indexes, keys, triggers, policies; and the generic rules every later migration must keep:
-- RLS on every table and partition of public and private, search_path '' on every function,
-- private not usable by client roles.
begin;
set search_path = extensions, public;
select plan(60);

-- Schemas.
select has_schema('private', 'schema private exists');
select has_extension('extensions', 'pg_net', 'pg_net is installed in schema extensions');

-- Tables and columns.
select has_table('public', 'feature_flags', 'public.feature_flags exists');
select columns_are(
    'public', 'feature_flags',
    array['name', 'enabled', 'description', 'updated_at'],
    'public.feature_flags has exactly the contract columns'
);
select col_is_pk('public', 'feature_flags', 'name', 'feature_flags is keyed by name');

select has_table('public', 'data_type_registry_v2', 'public.data_type_registry_v2 exists');
select columns_are(
    'public', 'data_type_registry_v2',
    array[
        'data_type', 'provider', 'key_kind', 'target_table', 'timestamp_column', 'ttl_seconds',
        'market_closed_ttl_seconds', 'calls_per_job', 'refresh_strategy', 'schedule_seconds',
        'priority', 'estimated_bytes', 'max_attempts', 'empty_cooldown_seconds', 'endpoint',
        'description', 'enabled', 'created_at', 'updated_at'
    ],
    'public.data_type_registry_v2 has exactly the contract columns'
);
select col_is_pk('public', 'data_type_registry_v2', 'data_type', 'the registry is keyed by data_type');
select col_default_is(
    'public', 'data_type_registry_v2', 'enabled', 'false',
    'a new registry row is disabled until its fetcher exists'
);

select has_table('public', 'active_subscriptions_v2', 'public.active_subscriptions_v2 exists');
select columns_are(
    'public', 'active_subscriptions_v2',
    array['id', 'user_id', 'client_id', 'symbol', 'data_types', 'last_seen_at', 'expires_at', 'created_at'],
    'public.active_subscriptions_v2 has exactly the contract columns'
);
select col_is_pk('public', 'active_subscriptions_v2', 'id', 'subscriptions are keyed by id');
select is(
    (select attidentity::text from pg_catalog.pg_attribute
     where attrelid = 'public.active_subscriptions_v2'::regclass and attname = 'id'),
    'a',
    'active_subscriptions_v2.id is generated always as identity'
);
select col_default_is(
    'public', 'active_subscriptions_v2', 'user_id', 'auth.uid()',
    'user_id defaults to the caller'
);
select fk_ok(
    'public', 'active_subscriptions_v2', 'user_id', 'auth', 'users', 'id',
    'subscriptions reference auth.users'
);
select is(
    (select confdeltype::text from pg_catalog.pg_constraint
     where conrelid = 'public.active_subscriptions_v2'::regclass and contype = 'f'),
    'c',
    'deleting a user deletes their subscriptions'
);
select col_is_unique(
    'public', 'active_subscriptions_v2', array['user_id', 'client_id', 'symbol'],
    'one subscription per user, client and symbol'
);
select has_index(
    'public', 'active_subscriptions_v2', 'active_subscriptions_v2_expires_at_idx', array['expires_at'],
    'subscriptions have an index for expiry scans'
);

select has_table('private', 'api_call_queue_v2', 'private.api_call_queue_v2 exists');
select columns_are(
    'private', 'api_call_queue_v2',
    array[
        'id', 'status', 'data_type', 'key', 'params', 'dedup_key', 'priority', 'attempts',
        'max_attempts', 'not_before', 'created_at', 'updated_at', 'claimed_at', 'lease_expires_at',
        'lease_token', 'worker_id', 'finished_at', 'last_error', 'error_class', 'outcome',
        'reserved_calls', 'reserved_bytes', 'actual_bytes', 'source_timestamp', 'sync_run_id'
    ],
    'private.api_call_queue_v2 has exactly the contract columns'
);
select col_is_pk('private', 'api_call_queue_v2', array['id', 'status'], 'queue primary key is (id, status)');
select fk_ok(
    'private', 'api_call_queue_v2_pending', 'data_type', 'public', 'data_type_registry_v2', 'data_type',
    'every job references a registered data type when it is enqueued (checked once, on pending)'
);
select col_default_is(
    'private', 'api_call_queue_v2', 'id', $$nextval('private.api_call_queue_v2_id_seq'::regclass)$$,
    'queue ids come from private.api_call_queue_v2_id_seq'
);
select is(
    (select attgenerated::text from pg_catalog.pg_attribute
     where attrelid = 'private.api_call_queue_v2'::regclass and attname = 'dedup_key'),
    's',
    'dedup_key is a stored generated column'
);

-- Queue partitions.
select is_partitioned('private', 'api_call_queue_v2', 'the queue is partitioned');
select is(
    (select pg_catalog.pg_get_partkeydef('private.api_call_queue_v2'::regclass)),
    'LIST (status)',
    'the queue is LIST-partitioned by status'
);
select partitions_are(
    'private', 'api_call_queue_v2',
    array[
        'private.api_call_queue_v2_completed', 'private.api_call_queue_v2_failed',
        'private.api_call_queue_v2_pending', 'private.api_call_queue_v2_processing'
    ],
    'the queue has exactly four partitions'
);
select results_eq(
    $$
        select c.relname::text collate "default", pg_catalog.pg_get_expr(c.relpartbound, c.oid) collate "default"
        from pg_catalog.pg_inherits as i
        join pg_catalog.pg_class as c on c.oid = i.inhrelid
        where i.inhparent = 'private.api_call_queue_v2'::regclass
        order by c.relname
    $$,
    $$
        values
            ('api_call_queue_v2_completed', 'FOR VALUES IN (''completed'')'),
            ('api_call_queue_v2_failed', 'FOR VALUES IN (''failed'')'),
            ('api_call_queue_v2_pending', 'FOR VALUES IN (''pending'')'),
            ('api_call_queue_v2_processing', 'FOR VALUES IN (''processing'')')
    $$,
    'each partition holds exactly its status'
);
select is_empty(
    $$
        select c.relname
        from pg_catalog.pg_class as c
        where c.relnamespace = 'private'::regnamespace
            and c.relname like 'api_call\_queue\_v2%'
            and c.relkind in ('r', 'p')
            and c.reloptions is not null
        order by c.relname
    $$,
    'no storage options (no fillfactor) on the queue: rows never update in place'
);

-- Queue indexes: exactly what the claim, rescue, dedup and retention paths use.
select indexes_are(
    'private', 'api_call_queue_v2_pending',
    array[
        'api_call_queue_v2_pending_pkey', 'api_call_queue_v2_pending_claim_idx',
        'api_call_queue_v2_pending_dedup_key_idx'
    ],
    'pending has only its key, the claim index and the dedup index'
);
select is(
    (select pg_catalog.pg_get_indexdef('private.api_call_queue_v2_pending_claim_idx'::regclass)),
    'CREATE INDEX api_call_queue_v2_pending_claim_idx ON private.api_call_queue_v2_pending USING btree (priority DESC, created_at, id)',
    'the claim index orders by priority desc, then oldest, then id'
);
select index_is_unique(
    'private', 'api_call_queue_v2_pending', 'api_call_queue_v2_pending_dedup_key_idx',
    'pending dedup_key is unique'
);
select indexes_are(
    'private', 'api_call_queue_v2_processing',
    array[
        'api_call_queue_v2_processing_pkey', 'api_call_queue_v2_processing_dedup_key_idx',
        'api_call_queue_v2_processing_lease_expires_at_idx'
    ],
    'processing has only its key, the dedup index and the lease index'
);
select index_is_unique(
    'private', 'api_call_queue_v2_processing', 'api_call_queue_v2_processing_dedup_key_idx',
    'processing dedup_key is unique'
);
select has_index(
    'private', 'api_call_queue_v2_processing', 'api_call_queue_v2_processing_lease_expires_at_idx',
    array['lease_expires_at'],
    'processing has an index on lease_expires_at for the rescue path'
);
select indexes_are(
    'private', 'api_call_queue_v2_completed',
    array['api_call_queue_v2_completed_pkey', 'api_call_queue_v2_completed_finished_at_idx'],
    'completed has only its key and the retention index'
);
select has_index(
    'private', 'api_call_queue_v2_completed', 'api_call_queue_v2_completed_finished_at_idx',
    array['finished_at'],
    'completed has an index on finished_at for retention'
);
select indexes_are(
    'private', 'api_call_queue_v2_failed',
    array['api_call_queue_v2_failed_pkey', 'api_call_queue_v2_failed_finished_at_idx'],
    'failed has only its key and the retention index'
);
select has_index(
    'private', 'api_call_queue_v2_failed', 'api_call_queue_v2_failed_finished_at_idx',
    array['finished_at'],
    'failed has an index on finished_at for retention'
);

-- updated_at triggers.
select trigger_is(
    'public', 'feature_flags', 'set_updated_at', 'private', 'tg__set_updated_at',
    'feature_flags keeps updated_at current'
);
select trigger_is(
    'public', 'data_type_registry_v2', 'set_updated_at', 'private', 'tg__set_updated_at',
    'data_type_registry_v2 keeps updated_at current'
);

-- Policies: one per command and role, named as sentences.
select policies_are(
    'public', 'feature_flags',
    array['Authenticated users can read feature flags'],
    'feature_flags has only the read policy'
);
select policy_roles_are(
    'public', 'feature_flags', 'Authenticated users can read feature flags', array['authenticated'],
    'the feature flag read policy applies to authenticated only'
);
select policies_are(
    'public', 'data_type_registry_v2',
    array['Authenticated users can read the data type registry'],
    'data_type_registry_v2 has only the read policy'
);
select policy_roles_are(
    'public', 'data_type_registry_v2', 'Authenticated users can read the data type registry',
    array['authenticated'],
    'the registry read policy applies to authenticated only'
);
select policies_are(
    'public', 'active_subscriptions_v2',
    array[
        'Users can read their own subscriptions', 'Users can create their own subscriptions',
        'Users can update their own subscriptions', 'Users can delete their own subscriptions'
    ],
    'active_subscriptions_v2 has one policy per command'
);
select results_eq(
    $$
        select p.polname::text collate "default", p.polcmd::text, pg_catalog.array_to_string(
            array(select r.rolname from pg_catalog.pg_roles as r where r.oid = any (p.polroles) order by 1), ','
        ) collate "default"
        from pg_catalog.pg_policy as p
        where p.polrelid = 'public.active_subscriptions_v2'::regclass
        order by p.polname
    $$,
    $$
        values
            ('Users can create their own subscriptions', 'a', 'authenticated'),
            ('Users can delete their own subscriptions', 'd', 'authenticated'),
            ('Users can read their own subscriptions', 'r', 'authenticated'),
            ('Users can update their own subscriptions', 'w', 'authenticated')
    $$,
    'each subscription policy covers one command for authenticated'
);
select is_empty(
    $$
        select p.polname
        from pg_catalog.pg_policy as p
        where p.polrelid = 'public.active_subscriptions_v2'::regclass
            and pg_catalog.concat_ws(' ',
                pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
            ) not like '%( SELECT auth.uid() AS uid)%'
        order by 1
    $$,
    'every subscription policy calls auth.uid() once per statement via (select auth.uid())'
);
select is_empty(
    $$
        select c.relname
        from pg_catalog.pg_policy as p
        join pg_catalog.pg_class as c on c.oid = p.polrelid
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where n.nspname in ('public', 'private')
            and 0 = any (p.polroles)
        order by 1
    $$,
    'no policy in public or private applies to PUBLIC (every policy names its role)'
);

-- Generic: RLS on every table and partition of public and private.
select is_empty(
    $$ select * from tests.tables_without_rls('public') $$,
    'every table in public has RLS enabled'
);
select is_empty(
    $$ select * from tests.tables_without_rls('private') $$,
    'every table and partition in private has RLS enabled'
);
select ok(
    tests.rls_enabled('public') and tests.rls_enabled('private'),
    'tests.rls_enabled agrees for public and private'
);
select ok(
    (select pg_catalog.bool_and(c.relrowsecurity)
     from pg_catalog.pg_class as c
     where c.oid in (
         'private.api_call_queue_v2'::regclass, 'private.api_call_queue_v2_pending'::regclass,
         'private.api_call_queue_v2_processing'::regclass, 'private.api_call_queue_v2_completed'::regclass,
         'private.api_call_queue_v2_failed'::regclass
     )),
    'the queue parent and all four partitions have RLS enabled'
);

-- Generic: every function in public and private pins an empty search_path.
select is_empty(
    $$
        select pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes))
        from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        where n.nspname in ('public', 'private')
            and not exists (
                select 1 from pg_catalog.pg_depend as d
                where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
            )
            and not ('search_path=""' = any (coalesce(p.proconfig, '{}')))
        order by 1
    $$,
    'every function in public and private has set search_path = '''''
);
select is_empty(
    $$
        select pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes))
        from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        where n.nspname in ('public', 'private')
            and pg_catalog.obj_description(p.oid, 'pg_proc') is null
        order by 1
    $$,
    'every function in public and private has a comment'
);

-- Generic: private is not usable by client roles, nor by PUBLIC.
select schema_privs_are('private', 'anon', array[]::text[], 'anon has no privilege on schema private');
select schema_privs_are(
    'private', 'authenticated', array[]::text[], 'authenticated has no privilege on schema private'
);
select schema_privs_are(
    'private', 'service_role', array[]::text[], 'service_role has no privilege on schema private'
);
select is_empty(
    $$
        select a.privilege_type
        from pg_catalog.pg_namespace as n,
            lateral pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) as a
        where n.nspname = 'private' and a.grantee = 0
        order by 1
    $$,
    'PUBLIC has no privilege on schema private'
);

-- The tests schema itself is locked down.
select is_empty(
    $$
        select p.oid::regprocedure::text
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'tests'::regnamespace
            and p.proname <> 'clear_authentication'
            and (
                pg_catalog.has_function_privilege('anon', p.oid, 'execute')
                or pg_catalog.has_function_privilege('authenticated', p.oid, 'execute')
                or pg_catalog.has_function_privilege('service_role', p.oid, 'execute')
            )
        order by 1
    $$,
    'client roles can call no tests helper but clear_authentication'
);

select * from finish();
rollback;
