-- Feature flags: seeded defaults, is_feature_enabled semantics, the updated_at trigger, checks,
-- and read-only access for clients (authenticated reads, anon nothing, service_role writes).
begin;
set search_path = extensions, public;
select plan(22);

-- Seeded defaults.
select results_eq(
    $$ select name, enabled from public.feature_flags order by name $$,
    $$ values ('use_presence_tracking', true), ('use_queue_system', true) $$,
    'a fresh install has both flags, enabled'
);

-- is_feature_enabled.
select ok(public.is_feature_enabled('use_queue_system'), 'use_queue_system is enabled');
select ok(public.is_feature_enabled('use_presence_tracking'), 'use_presence_tracking is enabled');
select is(public.is_feature_enabled('no_such_flag'), false, 'an unknown flag is disabled');
select is(public.is_feature_enabled(null), false, 'a null name is disabled, not null');
select is(public.is_feature_enabled('USE_QUEUE_SYSTEM'), false, 'flag names are case sensitive');
select volatility_is('public', 'is_feature_enabled', array['text'], 'stable', 'is_feature_enabled is stable');

update public.feature_flags set enabled = false where name = 'use_queue_system';
select is(public.is_feature_enabled('use_queue_system'), false, 'a disabled flag reads as disabled');
select ok(public.is_feature_enabled('use_presence_tracking'), 'disabling one flag leaves the other');

-- updated_at trigger: any update stamps the transaction time, whatever the writer sets.
update public.feature_flags set updated_at = '2000-01-01' where name = 'use_presence_tracking';
select is(
    (select updated_at from public.feature_flags where name = 'use_presence_tracking'),
    now(),
    'an update sets updated_at to now(), overriding the value written'
);

-- Checks.
select throws_ok(
    $$ insert into public.feature_flags (name, description) values ('Bad Name', 'x') $$,
    '23514',
    'new row for relation "feature_flags" violates check constraint "feature_flags_name_check"',
    'a flag name must be a lowercase slug'
);
select throws_ok(
    $$ insert into public.feature_flags (name, description) values ('new_flag', '') $$,
    '23514',
    'new row for relation "feature_flags" violates check constraint "feature_flags_description_check"',
    'a flag needs a description'
);
select throws_ok(
    $$ insert into public.feature_flags (name) values ('new_flag') $$,
    '23502',
    'null value in column "description" of relation "feature_flags" violates not-null constraint',
    'description is required'
);

-- authenticated: read only.
select tests.create_supabase_user('flag_reader');
select tests.authenticate_as('flag_reader');
select results_eq(
    $$ select name from public.feature_flags order by name $$,
    $$ values ('use_presence_tracking'), ('use_queue_system') $$,
    'authenticated can read every flag'
);
select throws_ok(
    $$ insert into public.feature_flags (name, description) values ('sneaky', 'x') $$,
    '42501', 'permission denied for table feature_flags',
    'authenticated cannot insert a flag'
);
select throws_ok(
    $$ update public.feature_flags set enabled = true $$,
    '42501', 'permission denied for table feature_flags',
    'authenticated cannot update a flag'
);
select throws_ok(
    $$ delete from public.feature_flags $$,
    '42501', 'permission denied for table feature_flags',
    'authenticated cannot delete a flag'
);
select throws_ok(
    $$ select public.is_feature_enabled('use_queue_system') $$,
    '42501', 'permission denied for function is_feature_enabled',
    'authenticated cannot call is_feature_enabled'
);
select tests.clear_authentication();

-- anon: nothing.
select tests.authenticate_as_anon();
select throws_ok(
    $$ select name from public.feature_flags $$,
    '42501', 'permission denied for table feature_flags',
    'anon cannot read flags'
);
select tests.clear_authentication();

-- service_role: reads and writes; the trigger runs for it without any grant on private.
select tests.authenticate_as_service_role();
select ok(public.is_feature_enabled('use_presence_tracking'), 'service_role can call is_feature_enabled');
update public.feature_flags set enabled = true where name = 'use_queue_system';
select ok(public.is_feature_enabled('use_queue_system'), 'service_role can switch a flag back on');
insert into public.feature_flags (name, description, updated_at)
values ('kf_test_flag', 'A flag created by this test.', '2000-01-01');
update public.feature_flags set enabled = false where name = 'kf_test_flag';
select tests.clear_authentication();
select is(
    (select updated_at from public.feature_flags where name = 'kf_test_flag'),
    now(),
    'service_role can add a flag, and the updated_at trigger fires for its updates'
);

select * from finish();
rollback;
