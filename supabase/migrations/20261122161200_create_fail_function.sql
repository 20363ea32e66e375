-- Failure (3.2, 3.3): fail_queue_job_v2 classifies a failed job, fenced by its lease token.
--   transient     back to pending after least(cap, base * 2^attempts) seconds times a jitter
--                 of 0.5..1.5 (queue_settings: base 10 s, cap 1 h); once attempts reach
--                 max_attempts, failed, with the refresh-state cooldown
--   permanent     failed with its reason, refresh-state cooldown (empty_cooldown_seconds)
--   rate_limited  back to pending now, the attempt not counted; the provider pauses
--                 (rate_limited for its rate_limit_pause_seconds, 60 s by default)
--   bandwidth     back to pending now, the attempt not counted; the provider pauses
--                 (bandwidth_exhausted for its bandwidth_pause_seconds, 1 h by default)
--   invalid_key   back to pending now, the attempt not counted, never failed; the provider
--                 state becomes invalid_key (no claims until an operator sets it back to ok)
--                 and its circuit opens
-- Provider states only escalate here (a 429 never downgrades an invalid key). The calls of a
-- failed job stay charged (the upstream saw them); its byte reservation is released.

-- Fails one job. p_error: what happened (kept, cut to 2000 characters); p_error_class:
-- transient | permanent | rate_limited | bandwidth | invalid_key. Returns the job's new status
-- (pending or failed), or null for a stale lease token or a job that is not processing.
-- Raises 22023 for an unknown error class (nothing is written).
create function public.fail_queue_job_v2(
    p_job_id bigint,
    p_lease_token uuid,
    p_error text,
    p_error_class text
)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_job private.api_call_queue_v2;
    v_registry public.data_type_registry_v2;
    v_provider private.providers;
    v_settings private.queue_settings;
    v_error text := pg_catalog.left(coalesce(p_error, p_error_class), 2000);
    v_status text;
    v_attempts integer;
    v_not_before timestamptz;
    v_try integer := 0;
begin
    if p_error_class is null
        or p_error_class not in ('transient', 'permanent', 'rate_limited', 'bandwidth', 'invalid_key') then
        raise exception 'unknown error class "%"', coalesce(p_error_class, 'null')
            using errcode = '22023',
                hint = 'Use transient, permanent, rate_limited, bandwidth or invalid_key.';
    end if;

    select * into v_settings from private.queue_settings as s;

    loop
        begin
            delete from private.api_call_queue_v2_processing as q
            where q.id = p_job_id and q.lease_token = p_lease_token
            returning * into v_job;
            if not found then
                return null;
            end if;

            select * into v_registry from public.data_type_registry_v2 as r where r.data_type = v_job.data_type;
            select * into v_provider from private.providers as p where p.provider = v_registry.provider;

            v_attempts := v_job.attempts;
            v_not_before := now();
            if p_error_class = 'transient' then
                if v_job.attempts >= v_job.max_attempts then
                    v_status := 'failed';
                else
                    v_status := 'pending';
                    v_not_before := now() + pg_catalog.make_interval(secs =>
                        least(v_settings.backoff_cap_seconds,
                              v_settings.backoff_base_seconds * power(2, v_job.attempts))
                        * (0.5 + pg_catalog.random()));
                end if;
            elsif p_error_class = 'permanent' then
                v_status := 'failed';
            else
                v_status := 'pending';
                v_attempts := greatest(v_job.attempts - 1, 0);
            end if;

            if v_status = 'pending' then
                insert into private.api_call_queue_v2_pending (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                values (
                    v_job.id, 'pending', v_job.data_type, v_job.key, v_job.params, v_job.priority,
                    v_attempts, v_job.max_attempts, v_not_before, v_job.created_at, now(), null,
                    null, null, null, null, v_error, p_error_class, null, 0, 0, null, null,
                    v_job.sync_run_id
                );
            else
                insert into private.api_call_queue_v2_failed (
                    id, status, data_type, key, params, priority, attempts, max_attempts, not_before,
                    created_at, updated_at, claimed_at, lease_expires_at, lease_token, worker_id,
                    finished_at, last_error, error_class, outcome, reserved_calls, reserved_bytes,
                    actual_bytes, source_timestamp, sync_run_id
                )
                values (
                    v_job.id, 'failed', v_job.data_type, v_job.key, v_job.params, v_job.priority,
                    v_attempts, v_job.max_attempts, v_job.not_before, v_job.created_at, now(),
                    v_job.claimed_at, v_job.lease_expires_at, v_job.lease_token, v_job.worker_id,
                    now(), v_error, p_error_class, null, v_job.reserved_calls, v_job.reserved_bytes,
                    null, null, v_job.sync_run_id
                );

                insert into private.refresh_state as s (
                    data_type, key, last_checked_at, next_eligible_at, last_outcome,
                    consecutive_failures, last_error, updated_at
                )
                values (
                    v_job.data_type, coalesce(v_job.key, ''), now(),
                    now() + pg_catalog.make_interval(secs => v_registry.empty_cooldown_seconds),
                    'failed', 1, v_error, now()
                )
                on conflict (data_type, key) do update
                set last_checked_at = excluded.last_checked_at,
                    next_eligible_at = excluded.next_eligible_at,
                    last_outcome = 'failed',
                    consecutive_failures = s.consecutive_failures + 1,
                    last_error = excluded.last_error,
                    updated_at = excluded.updated_at;
            end if;

            -- Provider state first, usage second: the same lock order as a claim (provider row,
            -- then usage rows), so a failure and a claim never deadlock.
            if p_error_class = 'rate_limited' then
                perform private.escalate_provider_state(
                    v_registry.provider, 'rate_limited', v_provider.rate_limit_pause_seconds, v_error);
            elsif p_error_class = 'bandwidth' then
                perform private.escalate_provider_state(
                    v_registry.provider, 'bandwidth_exhausted', v_provider.bandwidth_pause_seconds, v_error);
            elsif p_error_class = 'invalid_key' then
                perform private.escalate_provider_state(v_registry.provider, 'invalid_key', null, v_error);
                perform private.open_circuit(v_registry.provider, 'invalid key: ' || v_error);
            end if;

            -- The calls stay charged; the byte reservation is released.
            update private.provider_usage as u
            set reserved_bytes = greatest(u.reserved_bytes - v_job.reserved_bytes, 0)
            where u.provider = v_registry.provider
                and u.width = 'day'
                and u.bucket = pg_catalog.date_trunc('day', v_job.claimed_at, 'UTC')
                and v_job.reserved_bytes > 0;
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

    return v_status;
end;
$$;

comment on function public.fail_queue_job_v2(bigint, uuid, text, text) is
    'Fails a job by class (transient, permanent, rate_limited, bandwidth, invalid_key); returns pending or failed, null for a stale token.';

revoke all on function public.fail_queue_job_v2(bigint, uuid, text, text) from public, anon, authenticated, service_role;
grant execute on function public.fail_queue_job_v2(bigint, uuid, text, text) to service_role;
