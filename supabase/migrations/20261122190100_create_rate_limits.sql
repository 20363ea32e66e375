-- Creates private.rate_limits and private.consume_rate_limit (3.3, 3.5): request rate limits
-- kept in Postgres, so every Edge Function instance agrees on them. A fixed window per calendar
-- minute: one row per (bucket, minute), incremented in place by an upsert, so concurrent requests
-- of one user serialize on that row only and different users never touch the same row.
-- The presence scan (check_and_queue_stale_data_from_presence_v2) deletes windows that ended.
-- FILLFACTOR 70: rows are updated in place and only the non-indexed counter changes (HOT).

create table private.rate_limits (
    bucket text not null,
    window_start timestamptz not null,
    requests integer not null default 0,
    constraint rate_limits_pkey primary key (bucket, window_start),
    -- A name such as track-subscription:<uuid>.
    constraint rate_limits_bucket_check check (char_length(bucket) between 1 and 200),
    constraint rate_limits_requests_check check (requests >= 0)
)
with (fillfactor = 70);

alter table private.rate_limits enable row level security;

comment on table private.rate_limits is
    'Requests per rate-limit bucket (e.g. track-subscription:<user id>) per calendar minute.';

-- Counts one request against p_bucket in the current calendar minute (UTC) and says whether it
-- is within p_limit requests per minute. The request is counted even when refused, so a caller
-- hammering the limit stays limited. Returns allowed, requests so far in this minute and
-- retry_after_seconds (1..60: until the next minute starts; 0 when allowed).
-- Raises 22023 for a missing bucket or a limit below 1.
create function private.consume_rate_limit(p_bucket text, p_limit integer)
returns table (allowed boolean, requests integer, retry_after_seconds integer)
language plpgsql
set search_path = ''
as $$
declare
    v_window timestamptz := pg_catalog.date_trunc('minute', now(), 'UTC');
    v_requests integer;
begin
    if p_bucket is null or p_bucket = '' then
        raise exception 'rate limit bucket must not be empty' using errcode = '22023';
    end if;
    if p_limit is null or p_limit < 1 then
        raise exception 'rate limit must be at least 1 request per minute, got %', coalesce(p_limit::text, 'null')
            using errcode = '22023';
    end if;

    insert into private.rate_limits as r (bucket, window_start, requests)
    values (p_bucket, v_window, 1)
    on conflict (bucket, window_start) do update
    set requests = r.requests + 1
    returning r.requests into v_requests;

    return query
    select
        v_requests <= p_limit,
        v_requests,
        case
            when v_requests <= p_limit then 0
            else greatest(1, pg_catalog.ceil(extract(epoch from v_window + interval '1 minute' - now()))::integer)
        end;
end;
$$;

comment on function private.consume_rate_limit(text, integer) is
    'Counts a request in the bucket''s current minute; returns allowed, requests so far and retry_after_seconds.';

revoke all on table private.rate_limits from public, anon, authenticated, service_role;
revoke all on function private.consume_rate_limit(text, integer) from public, anon, authenticated, service_role;
