-- Enables pg_net, which the processor loop uses to call the queue-processor-v2 Edge Function
-- from pg_cron (3.2). Hosted Supabase ships pg_net; the local stack installs a compatible shim
-- under the same name (scripts/local/pg_net), so this statement runs unchanged on both.
-- Schema extensions, as on hosted, so the advisors do not report extension_in_public.

create extension if not exists pg_net with schema extensions;
