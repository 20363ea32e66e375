-- The vocabulary source tables under RLS, acting as anon, two users and service_role: a user
-- reads and writes only their own rows and only under their own projects, cannot hand a row to
-- someone else, and anon has no access. Writes by signed-in users still maintain the global
-- vocabulary (the triggers are SECURITY DEFINER), every signed-in user reads it, and only the
-- service role may rebuild it. A "commit" here is SET CONSTRAINTS ALL IMMEDIATE, which runs the
-- deferred commit step exactly as COMMIT would.
begin;
set search_path = extensions, public;
select plan(37);

select set_config('kf.alice', tests.create_supabase_user('vocab-alice')::text, true);
select set_config('kf.bob', tests.create_supabase_user('vocab-bob')::text, true);

-- Bob's project, created as bob.
select tests.authenticate_as('vocab-bob');
insert into public."Project" (name, location) values ('Bob Tower', 'Oslo');
select set_config('kf.bob_project', (select id::text from public."Project" where name = 'Bob Tower'), true);
insert into public."Expenses" (project_id, file_name, category, amount)
values (current_setting('kf.bob_project')::bigint, 'bob.pdf', 'Steel', 10);
select tests.clear_authentication();

-- alice.
select tests.authenticate_as('vocab-alice');
select lives_ok(
    $$ insert into public."Project" (name, location) values ('Alice Bridge', 'Lyon') $$,
    'alice can create a project; owner_id defaults to her'
);
select results_eq(
    $$ select name, owner_id from public."Project" order by name $$,
    $$ select 'Alice Bridge'::text, current_setting('kf.alice')::uuid $$,
    'alice sees only her own project'
);
select set_config('kf.alice_project', (select id::text from public."Project" where name = 'Alice Bridge'), true);
select lives_ok(
    $$
        insert into public."Expenses" (project_id, file_name, category, amount)
        values (current_setting('kf.alice_project')::bigint, 'alice.pdf', 'Concrete', 5)
    $$,
    'alice can add an expense to her project'
);
select lives_ok(
    $$
        insert into public."CashFlow" (project_id, file_name, category, amount)
        values (current_setting('kf.alice_project')::bigint, 'bank.csv', 'Grant', 100)
    $$,
    'alice can add cash flow to her project'
);
select lives_ok(
    $$ insert into public."ExpensesColumn" (project_id, name) values (current_setting('kf.alice_project')::bigint, 'Concrete') $$,
    'alice can add an expense column to her project'
);
select lives_ok(
    $$ insert into public."CashFlowColumn" (project_id, name) values (current_setting('kf.alice_project')::bigint, 'Grant') $$,
    'alice can add a cash flow column to her project'
);
select throws_ok(
    $$
        insert into public."Expenses" (project_id, file_name, category)
        values (current_setting('kf.bob_project')::bigint, 'x.pdf', 'Sneaky')
    $$,
    '42501', 'new row violates row-level security policy for table "Expenses"',
    'alice cannot add an expense to bob''s project'
);
select throws_ok(
    $$ insert into public."ExpensesColumn" (project_id, name) values (current_setting('kf.bob_project')::bigint, 'Sneaky') $$,
    '42501', 'new row violates row-level security policy for table "ExpensesColumn"',
    'alice cannot add a column to bob''s project'
);
select throws_ok(
    $$ insert into public."Project" (name, owner_id) values ('Fake', current_setting('kf.bob')::uuid) $$,
    '42501', 'new row violates row-level security policy for table "Project"',
    'alice cannot create a project on bob''s behalf'
);
select throws_ok(
    $$ update public."Project" set owner_id = current_setting('kf.bob')::uuid $$,
    '42501', 'permission denied for table Project',
    'alice cannot hand her project to bob'
);
select throws_ok(
    $$ update public."Expenses" set project_id = current_setting('kf.bob_project')::bigint $$,
    '42501', 'new row violates row-level security policy for table "Expenses"',
    'alice cannot move her expense under bob''s project'
);
select is_empty(
    $$ update public."Project" set name = 'Hijacked' where id = current_setting('kf.bob_project')::bigint returning id $$,
    'alice cannot rename bob''s project (no row matches)'
);
select is_empty(
    $$ delete from public."Expenses" where project_id = current_setting('kf.bob_project')::bigint returning id $$,
    'alice cannot delete bob''s expenses (no row matches)'
);
select results_eq(
    $$ update public."Project" set location = 'Lyon 2e' where id = current_setting('kf.alice_project')::bigint returning location $$,
    $$ values ('Lyon 2e') $$,
    'alice can update her own project'
);
select is_empty($$ select id from public."Expenses" where file_name = 'bob.pdf' $$, 'alice cannot read bob''s expenses');

-- Signed-in writes maintain the global vocabulary: commit them, then read as alice.
set constraints all immediate;
set constraints all deferred;
select results_eq(
    $$
        select v -> 'projects', v -> 'project_locations', v -> 'expense_categories', v ->> 'source'
        from public.get_vocabulary() as v
    $$,
    $$
        values (
            '["Alice Bridge", "Bob Tower"]'::jsonb, '["Lyon 2e", "Oslo"]'::jsonb,
            '["Concrete", "Steel"]'::jsonb, 'snapshot'
        )
    $$,
    'alice reads the global vocabulary, maintained from both users'' writes'
);
select throws_ok(
    $$ select public.rebuild_vocabulary() $$,
    '42501', 'permission denied for function rebuild_vocabulary',
    'a signed-in user cannot rebuild the vocabulary'
);
select throws_ok(
    $$ select * from private.vocabulary_terms $$,
    '42501', 'permission denied for schema private',
    'a signed-in user cannot read the snapshot table'
);
select throws_ok(
    $$ select private.vocabulary_health() $$,
    '42501', 'permission denied for schema private',
    'a signed-in user cannot call the private health function'
);
select throws_ok(
    $$ select private.tg_project__insert() $$,
    '42501', 'permission denied for schema private',
    'a signed-in user cannot call a generated trigger function'
);
select tests.clear_authentication();

-- bob.
select tests.authenticate_as('vocab-bob');
select results_eq(
    $$ select name from public."Project" $$,
    $$ values ('Bob Tower') $$,
    'bob sees only his project, untouched by alice'
);
select results_eq(
    $$ select file_name, category from public."Expenses" $$,
    $$ values ('bob.pdf', 'Steel') $$,
    'bob sees only his expense'
);
select is_empty($$ select id from public."CashFlow" $$, 'bob cannot read alice''s cash flow');
select is_empty($$ select id from public."ExpensesColumn" $$, 'bob cannot read alice''s expense columns');
select is_empty($$ delete from public."CashFlowColumn" returning id $$, 'bob cannot delete alice''s cash flow columns');
select results_eq(
    $$ delete from public."Project" where name = 'Bob Tower' returning name $$,
    $$ values ('Bob Tower') $$,
    'bob can delete his project (its expenses go with it)'
);
set constraints all immediate;
set constraints all deferred;
select results_eq(
    $$ select v -> 'projects', v -> 'expense_categories', v -> 'expense_files' from public.get_vocabulary() as v $$,
    $$ values ('["Alice Bridge"]'::jsonb, '["Concrete"]'::jsonb, '["alice.pdf"]'::jsonb) $$,
    'bob''s deletion (cascading to his expenses) removed his terms from the vocabulary'
);
select tests.clear_authentication();

-- anon: nothing.
select tests.authenticate_as_anon();
select throws_ok($$ select id from public."Project" $$, '42501', 'permission denied for table Project', 'anon cannot read projects');
select throws_ok(
    $$ insert into public."Project" (name) values ('Anon') $$,
    '42501', 'permission denied for table Project', 'anon cannot create projects'
);
select throws_ok($$ select id from public."Expenses" $$, '42501', 'permission denied for table Expenses', 'anon cannot read expenses');
select throws_ok($$ select id from public."CashFlow" $$, '42501', 'permission denied for table CashFlow', 'anon cannot read cash flow');
select throws_ok($$ select id from public."ExpensesColumn" $$, '42501', 'permission denied for table ExpensesColumn', 'anon cannot read expense columns');
select throws_ok($$ select id from public."CashFlowColumn" $$, '42501', 'permission denied for table CashFlowColumn', 'anon cannot read cash flow columns');
select throws_ok(
    $$ select public.get_vocabulary() $$,
    '42501', 'permission denied for function get_vocabulary',
    'anon cannot read the vocabulary'
);
select tests.clear_authentication();

-- service_role: every row, and the rebuild.
select tests.authenticate_as_service_role();
select results_eq(
    $$ select pg_catalog.count(*)::integer from public."Project" where name in ('Alice Bridge') $$,
    $$ values (1) $$,
    'service_role sees every user''s projects'
);
select throws_ok(
    $$ insert into public."Project" (name) values ('Nobody') $$,
    '23502', 'null value in column "owner_id" of relation "Project" violates not-null constraint',
    'service_role must name the owner: there is no auth.uid() to default to'
);
select results_eq(
    $$ select (r ->> 'success')::boolean, r -> 'vocabulary_counts' -> 'projects' from public.rebuild_vocabulary() as r $$,
    $$ values (true, '1'::jsonb) $$,
    'service_role can rebuild the vocabulary'
);
select tests.clear_authentication();

select * from finish();
rollback;
