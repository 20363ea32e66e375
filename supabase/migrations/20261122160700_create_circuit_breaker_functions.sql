-- Circuit breaker functions (3.2): open on an invalid key, record a finished run, decide whether
-- the processor loop may start a run, and report the state. Transitions are documented in
-- 20261122160500_create_circuit_breaker.sql. The private functions are called only by other
-- keepfresh functions; get_circuit_state_v2 is for health-check and operators (service_role).

-- Opens the circuit of p_provider at once (invalid key), keeping opened_at when it is already
-- open. p_reason is kept (cut to 2000 characters). Creates the row if needed. Returns nothing.
create function private.open_circuit(p_provider text, p_reason text)
returns void
language sql
set search_path = ''
as $$
    insert into private.circuit_breaker as c (provider, state, opened_at, reason)
    values (p_provider, 'open', now(), pg_catalog.left(p_reason, 2000))
    on conflict (provider) do update
    set state = 'open',
        opened_at = case when c.state = 'open' then c.opened_at else now() end,
        half_opened_at = null,
        reason = excluded.reason
$$;

comment on function private.open_circuit(text, text) is
    'Opens the provider''s circuit now (kept open since opened_at if it already was), with a reason.';

-- Closes the circuit of p_provider and resets its failure count. Creates the row if needed.
create function private.close_circuit(p_provider text, p_reason text)
returns void
language sql
set search_path = ''
as $$
    insert into private.circuit_breaker as c (provider, state, reason)
    values (p_provider, 'closed', pg_catalog.left(p_reason, 2000))
    on conflict (provider) do update
    set state = 'closed',
        consecutive_failed_runs = 0,
        opened_at = null,
        half_opened_at = null,
        reason = excluded.reason
$$;

comment on function private.close_circuit(text, text) is
    'Closes the provider''s circuit and resets its consecutive failed runs.';

-- Feeds one finished run into the circuit of p_provider. p_status: succeeded, partial or
-- failed; p_succeeded: jobs the run completed. A failed run counts; at failure_threshold in a
-- row (or any failure while half open) the circuit opens. A run that completed at least one job
-- closes it. Anything else (nothing claimed) is inconclusive and changes nothing.
create function private.record_circuit_run(p_provider text, p_status text, p_succeeded integer, p_error text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    insert into private.circuit_breaker (provider) values (p_provider) on conflict (provider) do nothing;

    if p_status = 'failed' then
        update private.circuit_breaker as c
        set consecutive_failed_runs = c.consecutive_failed_runs + 1,
            state = case
                when c.state = 'half_open' or c.consecutive_failed_runs + 1 >= c.failure_threshold then 'open'
                else c.state
            end,
            opened_at = case
                when c.state = 'half_open'
                    or (c.state = 'closed' and c.consecutive_failed_runs + 1 >= c.failure_threshold)
                    then now()
                else c.opened_at
            end,
            half_opened_at = null,
            reason = pg_catalog.left(
                pg_catalog.format('%s consecutive failed runs; last error: %s',
                    c.consecutive_failed_runs + 1, coalesce(p_error, 'none')),
                2000
            )
        where c.provider = p_provider;
    elsif coalesce(p_succeeded, 0) > 0 then
        update private.circuit_breaker as c
        set consecutive_failed_runs = 0,
            state = 'closed',
            opened_at = null,
            half_opened_at = null,
            reason = case when c.state = 'closed' then c.reason else 'closed by a successful run' end
        where c.provider = p_provider
            and (c.state <> 'closed' or c.consecutive_failed_runs <> 0);
    end if;
end;
$$;

comment on function private.record_circuit_run(text, text, integer, text) is
    'Feeds a finished run into the provider''s circuit: failures count and open it, a run with successes closes it.';

-- Whether the circuit of p_provider lets a run start now: 'closed'; 'open' (cooling down);
-- 'probe' (cool-down over: one probe run may start); 'probing' (a probe started less than
-- cooldown_seconds ago and has not reported). No row means closed.
create function private.circuit_gate(p_provider text)
returns text
language sql
stable
set search_path = ''
as $$
    select coalesce((
        select case
            when c.state = 'closed' then 'closed'
            when c.state = 'open'
                and now() < c.opened_at + pg_catalog.make_interval(secs => c.cooldown_seconds) then 'open'
            when c.state = 'half_open'
                and now() < c.half_opened_at + pg_catalog.make_interval(secs => c.cooldown_seconds) then 'probing'
            else 'probe'
        end
        from private.circuit_breaker as c
        where c.provider = p_provider
    ), 'closed')
$$;

comment on function private.circuit_gate(text) is
    'closed, open (cooling down), probe (a half-open probe may start) or probing (a probe is in flight).';

-- Marks that a half-open probe run starts now for p_provider (state half_open, half_opened_at
-- now), so the next ticks wait for its result. Does nothing for a closed circuit.
create function private.start_circuit_probe(p_provider text)
returns void
language sql
set search_path = ''
as $$
    update private.circuit_breaker as c
    set state = 'half_open', half_opened_at = now()
    where c.provider = p_provider and c.state in ('open', 'half_open')
$$;

comment on function private.start_circuit_probe(text) is
    'Moves an open (cooled down) or timed-out half-open circuit to half_open with a fresh probe time.';

-- The circuit of p_provider as JSON for health-check and operators: state, consecutive failed
-- runs, threshold, cool-down, opened_at, half_opened_at, retry_at (when the next probe may
-- start, null when closed), allows_run (whether the processor loop would start a run now, as
-- far as the circuit is concerned) and reason. Raises 22023 for an unknown provider.
create function public.get_circuit_state_v2(p_provider text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_result jsonb;
begin
    perform private.require_provider(p_provider);

    select pg_catalog.jsonb_build_object(
        'provider', p_provider,
        'state', coalesce(c.state, 'closed'),
        'consecutive_failed_runs', coalesce(c.consecutive_failed_runs, 0),
        'failure_threshold', coalesce(c.failure_threshold, 3),
        'cooldown_seconds', coalesce(c.cooldown_seconds, 300),
        'opened_at', c.opened_at,
        'half_opened_at', c.half_opened_at,
        'retry_at', case
            when c.state = 'open' then c.opened_at + pg_catalog.make_interval(secs => c.cooldown_seconds)
            when c.state = 'half_open' then c.half_opened_at + pg_catalog.make_interval(secs => c.cooldown_seconds)
        end,
        'allows_run', private.circuit_gate(p_provider) in ('closed', 'probe'),
        'reason', c.reason
    )
    into v_result
    from (select 1) as one
    left join private.circuit_breaker as c on c.provider = p_provider;

    return v_result;
end;
$$;

comment on function public.get_circuit_state_v2(text) is
    'Circuit of a provider as JSON: state, failed runs, threshold, cool-down, retry_at, allows_run, reason.';

revoke all on function private.open_circuit(text, text) from public, anon, authenticated, service_role;
revoke all on function private.close_circuit(text, text) from public, anon, authenticated, service_role;
revoke all on function private.record_circuit_run(text, text, integer, text) from public, anon, authenticated, service_role;
revoke all on function private.circuit_gate(text) from public, anon, authenticated, service_role;
revoke all on function private.start_circuit_probe(text) from public, anon, authenticated, service_role;
revoke all on function public.get_circuit_state_v2(text) from public, anon, authenticated, service_role;
grant execute on function public.get_circuit_state_v2(text) to service_role;
