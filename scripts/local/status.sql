-- One status line for scripts/dev: queue depth per partition, jobs finished per second over the
-- last minute, FMP quota use per window and provider state, circuit, watched symbols.
select pg_catalog.format(
    'queue pending=%s processing=%s completed=%s failed=%s | %s jobs/s | fmp calls %s/min %s/day, %s MB/30d, state %s | circuit %s | watched %s',
    (select pg_catalog.count(*) from private.api_call_queue_v2_pending),
    (select pg_catalog.count(*) from private.api_call_queue_v2_processing),
    (select pg_catalog.count(*) from private.api_call_queue_v2_completed),
    (select pg_catalog.count(*) from private.api_call_queue_v2_failed),
    (select pg_catalog.round(pg_catalog.count(*) / 60.0, 1) from private.api_call_queue_v2_completed
        where finished_at > now() - interval '1 minute'),
    q -> 'calls_per_minute' ->> 'used', q -> 'calls_per_day' ->> 'used',
    pg_catalog.round(coalesce((q -> 'bytes_per_30d' ->> 'used')::numeric, 0) / 1e6, 1),
    q ->> 'state',
    public.get_circuit_state_v2('fmp') ->> 'state',
    (select pg_catalog.count(distinct symbol) from public.active_subscriptions_v2 where expires_at > now())
)
from (select public.get_quota_status_v2('fmp') as q) as quota;
