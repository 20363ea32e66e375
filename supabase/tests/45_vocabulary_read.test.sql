-- What readers get and when the version moves: the document's shape (the six fields, version,
-- source), the term rule (trimmed, 1 to 200 characters, case kept, deduplicated across tables,
-- sorted by code point), a version that stays put while the vocabulary does not change and moves
-- when a term appears or disappears; rebuild_vocabulary()'s result (counts that match the tables,
-- version kept when nothing changed) and its log; vocabulary_health(); and the Realtime broadcast
-- when a topic is configured and realtime.send exists (a stand-in here; hosted has the real one).
begin;
set search_path = extensions, public;
-- The failing-broadcast case warns on purpose.
set local client_min_messages = error;
select plan(27);

select set_config('kf.owner', tests.create_supabase_user('vocab-reader')::text, true);

-- Start from empty source tables (rolled back at the end).
truncate public."Project" cascade;
set constraints all immediate;
set constraints all deferred;

select is(
    (select pg_catalog.array_agg(k order by k) from pg_catalog.jsonb_object_keys(public.get_vocabulary()) as k),
    array[
        'cashflow_categories', 'cashflow_files', 'expense_categories', 'expense_files', 'project_locations',
        'projects', 'source', 'version'
    ],
    'the document has the six fields, version and source'
);
select is(
    public.get_vocabulary() - 'version' - 'source',
    '{"projects": [], "project_locations": [], "expense_files": [], "cashflow_files": [], "expense_categories": [], "cashflow_categories": []}'::jsonb,
    'empty tables give six empty arrays'
);

-- The term rule.
insert into public."Project" (name, location, owner_id)
values
    (' Zeta ', E'\tParis\n', current_setting('kf.owner')::uuid),
    ('alpha', '', current_setting('kf.owner')::uuid),
    ('Alpha', pg_catalog.repeat('x', 200), current_setting('kf.owner')::uuid),
    ('Ärger', '   ', current_setting('kf.owner')::uuid),
    ('Zeta', null, current_setting('kf.owner')::uuid);
insert into public."Expenses" (project_id, file_name, category, owner_id)
select id, f, c, owner_id
from public."Project", (values (pg_catalog.repeat('f', 201), 'Travel'), ('a.pdf', ' Travel')) as v (f, c)
where name = 'Alpha';
insert into public."ExpensesColumn" (project_id, name, owner_id)
select id, 'Travel', owner_id from public."Project" where name = 'Alpha';
insert into public."CashFlowColumn" (project_id, name, owner_id)
select id, 'Grant', owner_id from public."Project" where name = 'Alpha';
insert into public."CashFlow" (project_id, file_name, category, owner_id)
select id, 'bank.csv', 'Loan', owner_id from public."Project" where name = 'Alpha';
set constraints all immediate;
set constraints all deferred;
select results_eq(
    $$
        select v -> 'projects', v -> 'project_locations', v -> 'expense_files', v -> 'expense_categories',
            v -> 'cashflow_files', v -> 'cashflow_categories', v ->> 'source'
        from public.get_vocabulary() as v
    $$,
    $$
        values (
            '["Alpha", "Zeta", "alpha", "Ärger"]'::jsonb,
            pg_catalog.jsonb_build_array('Paris', pg_catalog.repeat('x', 200)),
            '["a.pdf"]'::jsonb,
            '["Travel"]'::jsonb,
            '["bank.csv"]'::jsonb,
            '["Grant", "Loan"]'::jsonb,
            'snapshot'
        )
    $$,
    'terms are trimmed, kept at 1 to 200 characters, case-sensitive, deduplicated across tables and sorted by code point'
);
select results_eq(
    $$ select refs from private.vocabulary_terms where field = 'expense_categories' and term = 'Travel' $$,
    $$ values (3::bigint) $$,
    'a term''s count adds up its rows across every source of the field'
);

-- The version moves only when the vocabulary does.
select set_config('kf.v', (select version::text from private.vocabulary_state), true);
insert into public."Project" (name, owner_id) values ('Zeta', current_setting('kf.owner')::uuid);
set constraints all immediate;
set constraints all deferred;
select is((select version from private.vocabulary_state), current_setting('kf.v')::bigint, 'another row with an existing term keeps the version');
update public."Expenses" set amount = 42;
set constraints all immediate;
set constraints all deferred;
select is((select version from private.vocabulary_state), current_setting('kf.v')::bigint, 'an update of unmapped columns keeps the version');
update public."Project" set name = name || '' where name = 'Zeta';
set constraints all immediate;
set constraints all deferred;
select is((select version from private.vocabulary_state), current_setting('kf.v')::bigint, 'rewriting a term with itself keeps the version');
insert into public."Project" (name, owner_id) values ('Transient', current_setting('kf.owner')::uuid);
delete from public."Project" where name = 'Transient';
set constraints all immediate;
set constraints all deferred;
select is((select version from private.vocabulary_state), current_setting('kf.v')::bigint, 'a term added and removed in one transaction keeps the version');
delete from public."Project" where name = 'Zeta' and location is null;
set constraints all immediate;
set constraints all deferred;
select is((select version from private.vocabulary_state), current_setting('kf.v')::bigint, 'removing one of several references keeps the version');
select is(
    (select pg_catalog.count(*)::integer from public.get_vocabulary() as v, pg_catalog.jsonb_array_elements_text(v -> 'projects') as t where t = 'Zeta'),
    1,
    'a term still referenced stays'
);

insert into public."Project" (name, owner_id) values ('Omega', current_setting('kf.owner')::uuid);
set constraints all immediate;
set constraints all deferred;
select ok((select version from private.vocabulary_state) > current_setting('kf.v')::bigint, 'a new term changes the version');
select ok(public.get_vocabulary() -> 'projects' ? 'Omega', 'the new term is in the vocabulary');
select set_config('kf.v', (select version::text from private.vocabulary_state), true);
delete from public."Project" where pg_catalog.btrim(name) = 'Zeta';
set constraints all immediate;
set constraints all deferred;
select ok((select version from private.vocabulary_state) > current_setting('kf.v')::bigint, 'removing a term''s last reference changes the version');
select ok(not public.get_vocabulary() -> 'projects' ? 'Zeta', 'the removed term is gone');
select is(
    (select pg_catalog.count(*)::integer from private.vocabulary_terms where refs = 0),
    0,
    'no zero-count row is left in the snapshot'
);
select is(
    (public.get_vocabulary() ->> 'version')::bigint,
    (select version from private.vocabulary_state),
    'get_vocabulary carries the state''s version'
);

-- rebuild_vocabulary().
select set_config('kf.v', (select version::text from private.vocabulary_state), true);
select tests.authenticate_as_service_role();
select results_eq(
    $$
        select (r ->> 'success')::boolean, (r ->> 'changed')::boolean, (r ->> 'version')::bigint, r -> 'vocabulary_counts',
            (r ->> 'duration_ms')::numeric >= 0
        from public.rebuild_vocabulary() as r
    $$,
    $$
        -- Expected counts computed here, independently of keepfresh's functions.
        with v (field, value) as (
            select 'projects', name from public."Project"
            union all select 'project_locations', location from public."Project"
            union all select 'expense_files', file_name from public."Expenses"
            union all select 'cashflow_files', file_name from public."CashFlow"
            union all select 'expense_categories', category from public."Expenses"
            union all select 'expense_categories', name from public."ExpensesColumn"
            union all select 'cashflow_categories', category from public."CashFlow"
            union all select 'cashflow_categories', name from public."CashFlowColumn"
        ),
        t as (
            select v.field, pg_catalog.btrim(v.value, E' \t\r\n') as term from v
        )
        select true, false, current_setting('kf.v')::bigint,
            (
                select pg_catalog.jsonb_object_agg(f.field, (
                    select pg_catalog.count(distinct t.term) from t
                    where t.field = f.field and pg_catalog.char_length(t.term) between 1 and 200
                ))
                from (values ('projects'), ('project_locations'), ('expense_files'), ('cashflow_files'),
                    ('expense_categories'), ('cashflow_categories')) as f (field)
            ),
            true
    $$,
    'a rebuild of an unchanged vocabulary keeps the version and returns counts that match the tables'
);
select tests.clear_authentication();
select results_eq(
    $$ select trigger, status, changed, version from private.vocabulary_rebuilds order by id desc limit 1 $$,
    $$ values ('manual', 'succeeded', false, current_setting('kf.v')::bigint) $$,
    'the manual rebuild is logged'
);
delete from private.vocabulary_terms where field = 'projects' and term = 'Omega';
update private.vocabulary_terms set refs = refs + 5 where field = 'cashflow_categories';
select results_eq(
    $$ select (r ->> 'changed')::boolean, (r ->> 'version')::bigint > current_setting('kf.v')::bigint from public.rebuild_vocabulary() as r $$,
    $$ values (true, true) $$,
    'a rebuild that restores a lost term changes the version'
);
select ok(private.vocabulary_matches_sources(), 'the rebuild repaired the terms and the counts');
select throws_ok(
    $$ select private.rebuild_vocabulary('nightly') $$,
    '22023', 'unknown vocabulary rebuild trigger: nightly',
    'an unknown rebuild trigger is refused'
);

-- vocabulary_health().
select is(
    (select pg_catalog.array_agg(k order by k) from pg_catalog.jsonb_object_keys(private.vocabulary_health()) as k),
    array[
        'age_seconds', 'built_at', 'changed_at', 'dirty', 'dirty_reason', 'dirty_since', 'fallback_reads',
        'last_rebuild', 'max_age_seconds', 'pending_transactions', 'stale', 'version', 'vocabulary_counts'
    ],
    'vocabulary_health has its documented keys'
);
select results_eq(
    $$
        select (h ->> 'version')::bigint, (h ->> 'dirty')::boolean, (h ->> 'stale')::boolean,
            (h ->> 'age_seconds')::numeric < 5, h #>> '{last_rebuild,status}'
        from private.vocabulary_health() as h
    $$,
    $$ select (select version from private.vocabulary_state), false, false, true, 'succeeded' $$,
    'vocabulary_health reports the version, a clean and fresh snapshot, and the last rebuild'
);

-- Realtime broadcast (hosted Supabase's realtime.send), with a stand-in that records calls.
create schema realtime;
create table realtime.sent (payload jsonb, event text, topic text, private boolean);
create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void language sql as $$ insert into realtime.sent values (payload, event, topic, private) $$;
insert into public."Project" (name, owner_id) values ('Quiet', current_setting('kf.owner')::uuid);
set constraints all immediate;
set constraints all deferred;
select is_empty($$ select topic from realtime.sent $$, 'without a configured topic nothing is broadcast');
update private.vocabulary_settings set realtime_topic = 'vocabulary';
insert into public."Project" (name, owner_id) values ('Loud', current_setting('kf.owner')::uuid);
set constraints all immediate;
set constraints all deferred;
select results_eq(
    $$ select (payload ->> 'version')::bigint, payload -> 'tables', event, topic, private from realtime.sent $$,
    $$ select (select version from private.vocabulary_state), '["Project"]'::jsonb, 'vocabulary_changed', 'vocabulary', false $$,
    'with a topic, a version change is broadcast with the version and the changed tables'
);
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void language plpgsql as $$ begin raise exception 'realtime is down'; end $$;
select set_config('kf.v', (select version::text from private.vocabulary_state), true);
insert into public."Project" (name, owner_id) values ('Unheard', current_setting('kf.owner')::uuid);
set constraints all immediate;
set constraints all deferred;
select ok(
    (select not dirty and version > current_setting('kf.v')::bigint from private.vocabulary_state)
        and public.get_vocabulary() -> 'projects' ? 'Unheard',
    'a failing broadcast only warns: the snapshot stays clean and current'
);
select throws_ok(
    $$ update private.vocabulary_settings set realtime_topic = 'bad topic!' $$,
    '23514', 'new row for relation "vocabulary_settings" violates check constraint "vocabulary_settings_realtime_topic_check"',
    'a topic that is not a channel name is refused'
);

select * from finish();
rollback;
