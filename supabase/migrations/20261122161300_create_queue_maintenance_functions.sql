-- Queue upkeep (3.2, 5): reset a job to run now, rescue jobs whose lease expired (the top
-- complaint about job queues: stuck and orphaned jobs), and prune finished rows and
-- cron.job_run_details (pg_cron never cleans it), bounded per call so every call stays short.

-- Makes a pending or failed job due now with its attempts reset (operators, manual retry).
-- A failed job goes back to pending only when no other active job has its dedup key (it takes
-- that key's dedup lock, as enqueue does). Returns true when the job is now pending and due,
-- false when it is processing, completed, unknown, or a duplicate of an active job.
create function public.reset_job_immediate_v2(p_job_id bigint)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_job private.api_call_queue_v2;
    v_try integer := 0;
begin
    if p_job_id is null then
        return false;
    end if;

    loop
        begin
            update private.api_call_queue_v2_pending as q
            set not_before = now(), attempts = 0, updated_at = now()
            where q.id = p_job_id;
            if found then
                return true;
            end if;

            select * into v_job from private.api_call_queue_v2_failed as q where q.id = p_job_id;
            if not found then
                return false;
            end if;

            perform pg_catalog.pg_advisory_xact_lock(
                private.advisory_namespace(), private.dedup_bucket(v_job.dedup_key));
            if exists (
                select 1
                from private.api_call_queue_v2 as q
                where q.status in ('pending', 'processing') and q.dedup_key = v_job.dedup_key
            ) then
                return false;
            end if;

            delete from private.api_call_queue_v2_failed as q
            where q.id = p_job_id
            returning * into v_job;
            if not found then
                return false;
            end if;

            insert into private.api_call_queue_v2_pending (
                id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                actual_bytes, source_timestamp, sync_run_id
            )
            values (
                v_job.id, 'pending', v_job.data_type, v_job.key, v_job.params, v_job.priority, 0,
                v_job.max_attempts, now(), v_job.created_at, now(), null, null, null, null, null,
                v_job.last_error, v_job.error_class, null, 0, 0, null, null, v_job.sync_run_id
            );
            return true;
        exception
            when serialization_failure or deadlock_detected then
                v_try := v_try + 1;
                if v_try >= 5 then
                    raise;
                end if;
                perform private.note_serialization_retry();
        end;
    end loop;
end;
$$;

comment on function public.reset_job_immediate_v2(bigint) is
    'Makes a pending or failed job due now with attempts reset; false when processing, completed, unknown or a duplicate.';

-- Rescues jobs whose lease expired (the worker died or overran): back to pending, due now, or
-- to failed (with the refresh-state cooldown) once their attempts reached max_attempts. Their
-- lease token is cleared, so the late worker can no longer complete or fail them. Their quota
-- reservation becomes usage: the calls stay charged and the reserved bytes count as used (the
-- upstream probably answered and billed). Jobs locked by a worker finishing them right now are
-- skipped. At most queue_settings.maintenance_batch_limit jobs per call.
-- Returns the number of jobs rescued.
create function public.recover_stuck_jobs_v2()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_limit integer;
    v_count integer;
    v_try integer := 0;
begin
    select s.maintenance_batch_limit into v_limit from private.queue_settings as s;

    loop
        begin
            with stuck as (
                select q.id
                from private.api_call_queue_v2_processing as q
                where q.lease_expires_at < now()
                order by q.lease_expires_at
                limit v_limit
                for update skip locked
            ),
            moved as (
                delete from private.api_call_queue_v2_processing as q
                using stuck as s
                where q.id = s.id
                returning q.*
            ),
            back as (
                insert into private.api_call_queue_v2_pending (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                select
                    m.id, 'pending', m.data_type, m.key, m.params, m.priority, m.attempts,
                    m.max_attempts, now(), m.created_at, now(), null, null, null, null, null,
                    pg_catalog.format('lease of worker %s expired at %s', m.worker_id, m.lease_expires_at),
                    'lease_expired', null, 0, 0, null, null, m.sync_run_id
                from moved as m
                where m.attempts < m.max_attempts
            ),
            dead as (
                insert into private.api_call_queue_v2_failed (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                select
                    m.id, 'failed', m.data_type, m.key, m.params, m.priority, m.attempts,
                    m.max_attempts, m.not_before, m.created_at, now(), m.claimed_at,
                    m.lease_expires_at, null, m.worker_id, now(),
                    pg_catalog.format('lease of worker %s expired at %s; %s of %s attempts used',
                        m.worker_id, m.lease_expires_at, m.attempts, m.max_attempts),
                    'lease_expired', null, m.reserved_calls, m.reserved_bytes, null, null, m.sync_run_id
                from moved as m
                where m.attempts >= m.max_attempts
                returning data_type, key, last_error
            ),
            cooled as (
                insert into private.refresh_state as s (
                    data_type, key, last_checked_at, next_eligible_at, last_outcome,
                    consecutive_failures, last_error, updated_at
                )
                select distinct on (d.data_type, coalesce(d.key, ''))
                    d.data_type, coalesce(d.key, ''), now(),
                    now() + pg_catalog.make_interval(secs => r.empty_cooldown_seconds),
                    'failed', 1, d.last_error, now()
                from dead as d
                join public.data_type_registry_v2 as r on r.data_type = d.data_type
                order by d.data_type, coalesce(d.key, '')
                on conflict (data_type, key) do update
                set last_checked_at = excluded.last_checked_at,
                    next_eligible_at = excluded.next_eligible_at,
                    last_outcome = 'failed',
                    consecutive_failures = s.consecutive_failures + 1,
                    last_error = excluded.last_error,
                    updated_at = excluded.updated_at
            ),
            used as (
                update private.provider_usage as u
                set reserved_bytes = greatest(u.reserved_bytes - x.reserved_bytes, 0),
                    bytes = u.bytes + x.reserved_bytes
                from (
                    select r.provider, pg_catalog.date_trunc('day', m.claimed_at, 'UTC') as bucket,
                        sum(m.reserved_bytes) as reserved_bytes
                    from moved as m
                    join public.data_type_registry_v2 as r on r.data_type = m.data_type
                    group by 1, 2
                ) as x
                where u.provider = x.provider and u.width = 'day' and u.bucket = x.bucket
            )
            select count(*)::integer into v_count from moved;
            exit;
        exception
            when serialization_failure or deadlock_detected then
                v_try := v_try + 1;
                if v_try >= 5 then
                    raise;
                end if;
                perform private.note_serialization_retry();
        end;
    end loop;

    return v_count;
end;
$$;

comment on function public.recover_stuck_jobs_v2() is
    'Returns jobs with expired leases to pending (or failed when out of attempts), turning their reservation into usage; returns how many.';

-- Prunes, at most queue_settings.maintenance_batch_limit rows per table per call (oldest
-- first; the next call continues): completed jobs older than completed_retention (1 day),
-- failed jobs older than failed_retention (7 days), finished sync runs older than
-- sync_runs_retention (30 days), usage buckets no window reads any more (minute buckets after a
-- day, hour buckets after 3 days, day buckets after 62 days), expired processor leases, and
-- cron.job_run_details older than cron_run_details_retention (3 days; pg_cron never prunes it).
-- Returns the counts per table and "more": true when a limit was reached.
create function public.maintain_queue_partitions_v2()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_settings private.queue_settings;
    v_completed integer;
    v_failed integer;
    v_sync_runs integer;
    v_usage integer;
    v_leases integer;
    v_cron integer := 0;
    v_try integer := 0;
begin
    select * into v_settings from private.queue_settings as s;

    loop
        begin
            delete from private.api_call_queue_v2_completed as q
            where q.ctid = any(array(
                select c.ctid
                from private.api_call_queue_v2_completed as c
                where c.finished_at < now() - v_settings.completed_retention
                order by c.finished_at
                limit v_settings.maintenance_batch_limit
            ));
            get diagnostics v_completed = row_count;

            delete from private.api_call_queue_v2_failed as q
            where q.ctid = any(array(
                select f.ctid
                from private.api_call_queue_v2_failed as f
                where f.finished_at < now() - v_settings.failed_retention
                order by f.finished_at
                limit v_settings.maintenance_batch_limit
            ));
            get diagnostics v_failed = row_count;

            delete from private.sync_runs as r
            where r.id = any(array(
                select s.id
                from private.sync_runs as s
                where s.started_at < now() - v_settings.sync_runs_retention
                    and s.status <> 'running'
                order by s.started_at
                limit v_settings.maintenance_batch_limit
            ));
            get diagnostics v_sync_runs = row_count;

            delete from private.provider_usage as u
            where u.ctid = any(array(
                select o.ctid
                from private.provider_usage as o
                where (o.width = 'minute' and o.bucket < now() - interval '1 day')
                    or (o.width = 'hour' and o.bucket < now() - interval '3 days')
                    or (o.width = 'day' and o.bucket < now() - interval '62 days')
                limit v_settings.maintenance_batch_limit
            ));
            get diagnostics v_usage = row_count;

            delete from private.processor_leases as l
            where l.expires_at < now();
            get diagnostics v_leases = row_count;

            if pg_catalog.to_regclass('cron.job_run_details') is not null then
                execute
                    'delete from cron.job_run_details as d
                     where d.runid = any(array(
                         select o.runid
                         from cron.job_run_details as o
                         where coalesce(o.end_time, o.start_time) < now() - $1
                         order by o.runid
                         limit $2
                     ))'
                    using v_settings.cron_run_details_retention, v_settings.maintenance_batch_limit;
                get diagnostics v_cron = row_count;
            end if;
            exit;
        exception
            when serialization_failure or deadlock_detected then
                v_try := v_try + 1;
                if v_try >= 5 then
                    raise;
                end if;
                perform private.note_serialization_retry();
        end;
    end loop;

    return pg_catalog.jsonb_build_object(
        'completed', v_completed,
        'failed', v_failed,
        'sync_runs', v_sync_runs,
        'provider_usage', v_usage,
        'processor_leases', v_leases,
        'cron_job_run_details', v_cron,
        'more', greatest(v_completed, v_failed, v_sync_runs, v_usage, v_cron)
            >= v_settings.maintenance_batch_limit
    );
end;
$$;

comment on function public.maintain_queue_partitions_v2() is
    'Prunes old completed/failed jobs, sync runs, usage buckets, expired leases and cron.job_run_details, bounded per call; returns counts.';

revoke all on function public.reset_job_immediate_v2(bigint) from public, anon, authenticated, service_role;
revoke all on function public.recover_stuck_jobs_v2() from public, anon, authenticated, service_role;
revoke all on function public.maintain_queue_partitions_v2() from public, anon, authenticated, service_role;
grant execute on function public.reset_job_immediate_v2(bigint) to service_role;
grant execute on function public.recover_stuck_jobs_v2() to service_role;
grant execute on function public.maintain_queue_partitions_v2() to service_role;
