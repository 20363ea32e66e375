-- Failures never fail a user's write and never make readers wrong: a forced failure in the
-- statement step or the commit step keeps the write, marks the snapshot dirty and bumps the
-- version, and get_vocabulary() then serves the exact fallback until a rebuild clears it; a failed
-- rebuild keeps the last good snapshot and is logged; a snapshot that drifted from its tables
-- (triggers disabled, dropped) is caught by the reader check after max_age_seconds; a count that
-- would go negative marks the snapshot dirty; fail points are inert unless enabled; read-only
-- readers check and count nothing. "Commit" = SET CONSTRAINTS ALL IMMEDIATE (the deferred commit
-- step runs exactly as at COMMIT); Deno tests repeat the forced failure with real commits.
begin;
set search_path = extensions, public;
set local client_min_messages = error;
select plan(45);

select set_config('kf.alice', tests.create_supabase_user('vocab-fail-alice')::text, true);
insert into public."Project" (name, location, owner_id)
values ('Alpha', 'Paris', current_setting('kf.alice')::uuid);
set constraints all immediate;
set constraints all deferred;
update private.vocabulary_settings set fail_points_enabled = true;

create temporary table marks (name text primary key, version bigint, reads bigint);
insert into marks
select 'start', s.version, (private.vocabulary_health() ->> 'fallback_reads')::bigint
from private.vocabulary_state as s;

-- A forced failure in the statement step, as a signed-in user.
select tests.authenticate_as('vocab-fail-alice');
select set_config('keepfresh.vocabulary_fail', 'on', true);
select lives_ok(
    $$ insert into public."Project" (name, location) values ('Bravo', 'Rome') $$,
    'the write goes on when its vocabulary maintenance fails'
);
select set_config('keepfresh.vocabulary_fail', 'off', true);
select tests.clear_authentication();
select results_eq(
    $$ select kind, source_table from private.vocabulary_pending where kind <> 'round' $$,
    $$ values ('failed', 'Project') $$,
    'the failure is recorded for the commit step, no delta'
);
set constraints all immediate;
set constraints all deferred;
select is(
    (select pg_catalog.count(*)::integer from public."Project" where name = 'Bravo'),
    1,
    'the user''s row is there after the commit step'
);
select ok(
    (select dirty and dirty_reason like '%forced vocabulary failure at the statement step%' from private.vocabulary_state),
    'the snapshot is dirty, with the failure as its reason'
);
select ok(
    (select s.version > m.version from private.vocabulary_state as s, marks as m where m.name = 'start'),
    'marking the snapshot dirty bumped the version'
);
select tests.authenticate_as('vocab-fail-alice');
select results_eq(
    $$ select v ->> 'source', v -> 'projects', v -> 'project_locations' from public.get_vocabulary() as v $$,
    $$ values ('fallback', '["Alpha", "Bravo"]'::jsonb, '["Paris", "Rome"]'::jsonb) $$,
    'a signed-in reader gets the fallback, which has the new row'
);
select tests.clear_authentication();
select is(
    public.get_vocabulary() - 'version' - 'source',
    private.vocabulary_document(true),
    'the fallback is exactly the vocabulary computed from the tables'
);
select is(
    (public.get_vocabulary() ->> 'version')::bigint,
    (select version from private.vocabulary_state),
    'the fallback carries the current version'
);
select ok(
    (select (private.vocabulary_health() ->> 'fallback_reads')::bigint - m.reads = 3 from marks as m where m.name = 'start'),
    'each fallback read is counted (three so far)'
);
select results_eq(
    $$ select (h ->> 'dirty')::boolean, h ? 'age_seconds', h ? 'version' from private.vocabulary_health() as h $$,
    $$ values (true, true, true) $$,
    'vocabulary_health reports dirty, age_seconds and version'
);

-- While dirty, every write that touches a mapped column changes the version (the fallback
-- changes with it); an unmapped column does not.
insert into marks select 'dirty', version, null from private.vocabulary_state;
insert into public."Project" (name, owner_id) values ('Alpha', current_setting('kf.alice')::uuid);
set constraints all immediate;
set constraints all deferred;
select ok(
    (select s.version > m.version from private.vocabulary_state as s, marks as m where m.name = 'dirty'),
    'while dirty, a write of an existing term still changes the version'
);
update marks set version = (select version from private.vocabulary_state) where name = 'dirty';
insert into public."Expenses" (project_id, amount, owner_id)
select id, 1, owner_id from public."Project" where name = 'Bravo';
update public."Expenses" set amount = 2;
set constraints all immediate;
set constraints all deferred;
select ok(
    (select s.version = m.version from private.vocabulary_state as s, marks as m where m.name = 'dirty'),
    'while dirty, writes of unmapped columns (or null terms) keep the version'
);

-- A rebuild clears it.
select tests.authenticate_as_service_role();
select results_eq(
    $$ select (r ->> 'success')::boolean, (r ->> 'changed')::boolean, r -> 'vocabulary_counts' -> 'projects' from public.rebuild_vocabulary() as r $$,
    $$ values (true, true, '2'::jsonb) $$,
    'the rebuild succeeds and brings the missed term in'
);
select tests.clear_authentication();
select ok(not (select dirty from private.vocabulary_state), 'the rebuild cleared dirty');
select is(public.get_vocabulary() ->> 'source', 'snapshot', 'readers are back on the snapshot');
select ok(private.vocabulary_matches_sources(), 'the rebuilt snapshot equals its sources');

-- A forced failure in the commit step.
insert into marks select 'commit', version, null from private.vocabulary_state;
select set_config('keepfresh.vocabulary_fail', 'commit', true);
insert into public."Project" (name, owner_id) values ('Charlie', current_setting('kf.alice')::uuid);
set constraints all immediate;
set constraints all deferred;
select set_config('keepfresh.vocabulary_fail', 'off', true);
select ok(
    (select dirty and dirty_reason like 'commit step failed%forced vocabulary failure at the commit step%' from private.vocabulary_state),
    'a failed commit step marks the snapshot dirty'
);
select is(
    (select pg_catalog.count(*)::integer from public."Project" where name = 'Charlie'),
    1,
    'the write of the failed commit step is kept'
);
select is(
    (select pg_catalog.count(*)::integer from private.vocabulary_pending),
    0,
    'the failed commit step still cleaned up its pending rows'
);
select results_eq(
    $$ select v ->> 'source', v -> 'projects' from public.get_vocabulary() as v $$,
    $$ values ('fallback', '["Alpha", "Bravo", "Charlie"]'::jsonb) $$,
    'readers get the exact fallback'
);
select ok((public.rebuild_vocabulary() ->> 'success')::boolean, 'a rebuild repairs it');

-- Fail points are inert unless enabled in the settings.
update private.vocabulary_settings set fail_points_enabled = false;
select set_config('keepfresh.vocabulary_fail', 'on', true);
insert into public."Project" (name, owner_id) values ('Delta', current_setting('kf.alice')::uuid);
set constraints all immediate;
set constraints all deferred;
select set_config('keepfresh.vocabulary_fail', 'off', true);
select ok(
    not (select dirty from private.vocabulary_state) and public.get_vocabulary() -> 'projects' ? 'Delta',
    'with fail points disabled, keepfresh.vocabulary_fail changes nothing'
);
update private.vocabulary_settings set fail_points_enabled = true;

-- A failed rebuild keeps the last good snapshot, and is logged.
create temporary table good_terms as select * from private.vocabulary_terms;
insert into marks select 'good', version, null from private.vocabulary_state;
select set_config('keepfresh.vocabulary_fail', 'rebuild', true);
select results_eq(
    $$ select (r ->> 'success')::boolean, r ->> 'error', (r ->> 'version')::bigint from public.rebuild_vocabulary() as r $$,
    $$
        select false, 'P0001: keepfresh: forced vocabulary failure at the rebuild step (keepfresh.vocabulary_fail)',
            (select version from marks where name = 'good')
    $$,
    'a failed rebuild answers success false with the error and the version it kept'
);
select set_config('keepfresh.vocabulary_fail', 'off', true);
select is_empty(
    $$
        (select field, term, refs from private.vocabulary_terms except select field, term, refs from good_terms)
        union all
        (select field, term, refs from good_terms except select field, term, refs from private.vocabulary_terms)
    $$,
    'the failed rebuild left the snapshot''s terms untouched'
);
select results_eq(
    $$ select s.version, s.dirty from private.vocabulary_state as s $$,
    $$ select version, false from marks where name = 'good' $$,
    'the failed rebuild left the version and the dirty flag untouched'
);
select results_eq(
    $$ select trigger, status, error like '%forced vocabulary failure%', version from private.vocabulary_rebuilds order by id desc limit 1 $$,
    $$ values ('manual', 'failed', true, null::bigint) $$,
    'the failed rebuild is logged'
);
select is(
    private.vocabulary_health() #>> '{last_rebuild,status}',
    'failed',
    'vocabulary_health shows the failed rebuild'
);

-- Drift: a write that bypasses the triggers is caught by the reader check after max age.
alter table public."Project" disable trigger vocabulary_after_insert;
insert into public."Project" (name, owner_id) values ('Untracked', current_setting('kf.alice')::uuid);
alter table public."Project" enable trigger vocabulary_after_insert;
set constraints all immediate;
set constraints all deferred;
select results_eq(
    $$ select v ->> 'source', v -> 'projects' ? 'Untracked' from public.get_vocabulary() as v $$,
    $$ values ('snapshot', false) $$,
    'within max age, a recently confirmed snapshot is served as it is'
);
insert into marks select 'drift', version, null from private.vocabulary_state;
update private.vocabulary_state set verified_at = now() - interval '2 hours';
select results_eq(
    $$ select v ->> 'source', v -> 'projects' ? 'Untracked' from public.get_vocabulary() as v $$,
    $$ values ('fallback', true) $$,
    'after max age the reader checks the snapshot, finds the drift and serves the fallback'
);
select ok(
    (select s.dirty and s.dirty_reason like '%no longer matches its source tables%' and s.version > m.version
     from private.vocabulary_state as s, marks as m where m.name = 'drift'),
    'the drifted snapshot is marked dirty and the version bumped'
);
select ok((public.rebuild_vocabulary() ->> 'success')::boolean, 'a rebuild repairs the drift');

-- A stale but correct snapshot is confirmed by the first reader and served.
update private.vocabulary_state set verified_at = now() - interval '2 hours';
insert into marks select 'stale', version, (private.vocabulary_health() ->> 'fallback_reads')::bigint from private.vocabulary_state;
select is(public.get_vocabulary() ->> 'source', 'snapshot', 'a stale but correct snapshot is confirmed and served');
select ok(
    (select s.verified_at = now() and not s.dirty and s.version = m.version
     from private.vocabulary_state as s, marks as m where m.name = 'stale'),
    'the check set verified_at and changed neither dirty nor the version'
);
select ok(
    (select (private.vocabulary_health() ->> 'fallback_reads')::bigint = m.reads from marks as m where m.name = 'stale'),
    'a confirmed snapshot is not counted as a fallback read'
);

-- A count that would go negative (the snapshot lost track) marks it dirty; the write is kept.
delete from private.vocabulary_terms where field = 'projects' and term = 'Delta';
delete from public."Project" where name = 'Delta';
set constraints all immediate;
set constraints all deferred;
select ok(
    (select dirty and dirty_reason like '%projects ''Delta'' would go below 0%' from private.vocabulary_state),
    'a count going below 0 marks the snapshot dirty'
);
select is((select pg_catalog.count(*)::integer from public."Project" where name = 'Delta'), 0, 'the delete is kept');
select ok((public.rebuild_vocabulary() ->> 'success')::boolean, 'a rebuild repairs the counts');

-- Rollback of the triggers: readers keep working on the fallback.
select is(private.uninstall_vocabulary_triggers(), 20, 'uninstalling drops the 20 vocabulary triggers');
select is_empty(
    $$ select tgname from pg_catalog.pg_trigger where tgname like 'vocabulary\_after\_%' $$,
    'no vocabulary trigger is left'
);
insert into public."Project" (name, owner_id) values ('Echo', current_setting('kf.alice')::uuid);
set constraints all immediate;
set constraints all deferred;
select results_eq(
    $$ select v ->> 'source', v -> 'projects' ? 'Echo' from public.get_vocabulary() as v $$,
    $$ values ('fallback', true) $$,
    'without triggers readers get the fallback, which follows the tables'
);
select is(private.install_vocabulary_triggers(), 5, 'reinstalling puts the triggers back on the five tables');
select ok((public.rebuild_vocabulary() ->> 'success')::boolean, 'a rebuild after reinstalling succeeds');
select results_eq(
    $$ select v ->> 'source', v -> 'projects' ? 'Echo' from public.get_vocabulary() as v $$,
    $$ values ('snapshot', true) $$,
    'after reinstall and rebuild readers are back on an exact snapshot'
);

-- Read-only transactions (PostgREST GET) neither check nor count: they get the fallback.
update private.vocabulary_state set verified_at = now() - interval '2 hours';
insert into marks select 'read only', version, (private.vocabulary_health() ->> 'fallback_reads')::bigint from private.vocabulary_state;
set transaction read only;
select is(public.get_vocabulary() ->> 'source', 'fallback', 'a read-only reader of a stale snapshot gets the fallback');
select ok(
    (select s.verified_at < now() - interval '1 hour' and (private.vocabulary_health() ->> 'fallback_reads')::bigint = m.reads
     from private.vocabulary_state as s, marks as m where m.name = 'read only'),
    'a read-only reader changed nothing: no check, no count'
);

select * from finish();
rollback;
