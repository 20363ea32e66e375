-- One status line for scripts/dev: queue depth per partition, jobs finished in the last
-- minute, and active subscriptions. Later issues add quota use and the circuit state.
select pg_catalog.format(
    'queue pending=%s processing=%s completed=%s failed=%s | done/min=%s | watched symbols=%s | cron jobs=%s',
    (select pg_catalog.count(*) from private.api_call_queue_v2_pending),
    (select pg_catalog.count(*) from private.api_call_queue_v2_processing),
    (select pg_catalog.count(*) from private.api_call_queue_v2_completed),
    (select pg_catalog.count(*) from private.api_call_queue_v2_failed),
    (select pg_catalog.count(*) from private.api_call_queue_v2_completed
        where finished_at > now() - interval '1 minute'),
    (select pg_catalog.count(distinct symbol) from public.active_subscriptions_v2
        where expires_at > now()),
    (select pg_catalog.count(*) from cron.job)
);
