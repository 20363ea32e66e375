-- Moves the queue's registry foreign key to the pending partition (issue 6, measured with
-- scripts/bench/queue): the registry foreign keys stop costing a check on every partition move.
--
-- Measured (docs/performance.md): the RI triggers are ~17% of a drain backend's CPU (perf,
-- AfterTriggerEndQuery), 3 checks per job (processing insert, completed insert, refresh_state
-- upsert), and at 8 workers the FOR KEY SHARE on the one registry row of a data type turns
-- into MultiXacts. A job's data type cannot change after enqueue, so one check at enqueue
-- (the pending partition) is enough:
--   * the queue's foreign key moves from the partitioned parent to the pending partition
--     (same name, so the error text stays: "insert or update on table
--     "api_call_queue_v2_pending" violates foreign key constraint
--     "api_call_queue_v2_data_type_fkey"");
--   * refresh_state loses its foreign key (ON DELETE CASCADE) for a trigger on the registry
--     that deletes a removed type's refresh state;
--   * deleting or renaming a data type that still has jobs in processing, completed or failed
--     is refused by a trigger (pending jobs are still refused by the foreign key). It is a
--     statement-time check, not a lock: disable the type and let its jobs finish first (the
--     documented way to retire a type).
-- pgTAP: 01_structure's fk_ok moves to the pending partition; refresh_state has no fk.

alter table private.api_call_queue_v2 drop constraint api_call_queue_v2_data_type_fkey;
alter table private.api_call_queue_v2_pending
    add constraint api_call_queue_v2_data_type_fkey
    foreign key (data_type) references public.data_type_registry_v2 (data_type);

alter table private.refresh_state drop constraint refresh_state_data_type_fkey;

-- Refuses to delete or rename a data type while jobs outside pending reference it, and
-- deletes a removed type's refresh state. Raises foreign_key_violation (23503).
create function private.tg_data_type_registry_v2__guard_references()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and new.data_type = old.data_type then
        return new;
    end if;
    if exists (select 1 from private.api_call_queue_v2_processing as q where q.data_type = old.data_type)
        or exists (select 1 from private.api_call_queue_v2_completed as q where q.data_type = old.data_type)
        or exists (select 1 from private.api_call_queue_v2_failed as q where q.data_type = old.data_type) then
        raise exception 'data type "%" still has jobs in the queue', old.data_type
            using errcode = '23503',
                hint = 'Disable the data type, let its jobs finish, and let retention prune them (or delete them) first.';
    end if;
    delete from private.refresh_state as s where s.data_type = old.data_type;
    return case when tg_op = 'DELETE' then old else new end;
end;
$$;

comment on function private.tg_data_type_registry_v2__guard_references() is
    'Refuses deleting or renaming a data type with jobs outside pending; deletes its refresh state.';

revoke all on function private.tg_data_type_registry_v2__guard_references() from public, anon, authenticated, service_role;

create trigger guard_references
    before delete or update of data_type on public.data_type_registry_v2
    for each row
    execute function private.tg_data_type_registry_v2__guard_references();
