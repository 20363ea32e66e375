-- Keeps a provider's circuit open while its key is invalid (3.3: "invalid key (401: circuit open,
-- jobs stay pending, nothing marked failed)"). fail_queue_job_v2 opens the circuit on a 401, but
-- the run that met it usually completed other jobs of the same batch before the 401 stopped it,
-- and private.record_circuit_run closed the circuit again on any run with successes: health-check
-- then showed a closed circuit for a provider in invalid_key. A run with successes now closes
-- the circuit only while the provider's state in force is not invalid_key; setting the provider
-- back to ok (set_provider_state_v2) still closes it. Found by tests/fault_suite_test.ts.

create or replace function private.record_circuit_run(p_provider text, p_status text, p_succeeded integer, p_error text)
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
    elsif coalesce(p_succeeded, 0) > 0 and not exists (
        -- An invalid key keeps the circuit open until an operator sets the provider back to ok,
        -- even when jobs of the same batch succeeded before the 401.
        select 1 from private.providers as p
        where p.provider = p_provider
            and private.provider_effective_state(p.state, p.state_until) = 'invalid_key'
    ) then
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
    'Feeds a finished run into the provider''s circuit: failures count and open it, a run with successes closes it unless the key is invalid.';
revoke all on function private.record_circuit_run(text, text, integer, text) from public, anon, authenticated, service_role;
