-- Processor concurrency (3.2): a run of queue-processor-v2 acquires a lease before it works and
-- releases it when done; at most N unexpired leases exist at once. Acquisition is serialized
-- with the transaction advisory lock (private.advisory_namespace(), 45), so two runs starting
-- at the same moment cannot both take the last slot. A run that dies lets its lease expire.

-- Acquires a processor lease for p_worker_id (1..128 characters) lasting p_ttl_seconds
-- (5..3600) unless p_max_concurrent (1..100) unexpired leases exist. Expired leases are removed
-- first. Returns the lease id, or null when all slots are taken. Raises 22023 for bad input.
create function public.acquire_processor_lease_v2(
    p_worker_id text,
    p_max_concurrent integer,
    p_ttl_seconds integer
)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_id bigint;
begin
    if p_worker_id is null or char_length(p_worker_id) not between 1 and 128 then
        raise exception 'worker id must be 1 to 128 characters'
            using errcode = '22023',
                hint = 'Pass a name for the processor instance.';
    end if;
    if p_max_concurrent is null or p_max_concurrent not between 1 and 100 then
        raise exception 'max concurrent runs must be from 1 to 100, got %', coalesce(p_max_concurrent::text, 'null')
            using errcode = '22023',
                hint = 'private.queue_settings.max_processor_runs is the value the processor loop uses.';
    end if;
    if p_ttl_seconds is null or p_ttl_seconds not between 5 and 3600 then
        raise exception 'lease must be from 5 to 3600 seconds, got %', coalesce(p_ttl_seconds::text, 'null')
            using errcode = '22023',
                hint = 'Pass the run''s wall-clock budget plus a margin.';
    end if;

    perform pg_catalog.pg_advisory_xact_lock(private.advisory_namespace(), 45);

    delete from private.processor_leases as l where l.expires_at <= now();

    if (select count(*) from private.processor_leases as l) >= p_max_concurrent then
        return null;
    end if;

    insert into private.processor_leases (worker_id, expires_at)
    values (p_worker_id, now() + pg_catalog.make_interval(secs => p_ttl_seconds))
    returning id into v_id;
    return v_id;
end;
$$;

comment on function public.acquire_processor_lease_v2(text, integer, integer) is
    'Takes a processor lease (id) unless max concurrent unexpired leases exist (null).';

-- Releases processor lease p_lease_id; nothing happens for an unknown or expired one.
create function public.release_processor_lease_v2(p_lease_id bigint)
returns void
language sql
security definer
set search_path = ''
as $$
    delete from private.processor_leases as l where l.id = p_lease_id
$$;

comment on function public.release_processor_lease_v2(bigint) is
    'Releases a processor lease; no-op for an unknown one.';

revoke all on function public.acquire_processor_lease_v2(text, integer, integer) from public, anon, authenticated, service_role;
revoke all on function public.release_processor_lease_v2(bigint) from public, anon, authenticated, service_role;
grant execute on function public.acquire_processor_lease_v2(text, integer, integer) to service_role;
grant execute on function public.release_processor_lease_v2(bigint) to service_role;
