-- keepfresh local stand-in for Supabase's pg_net 0.14.0 (https://github.com/supabase/pg_net).
--
-- Same SQL API as the real extension: schema net, domain net.http_method, the unlogged tables
-- net.http_request_queue and net._http_response, net.http_get / net.http_post /
-- net.http_delete with the same parameters and defaults, net.http_collect_response, the same
-- grants (schema, tables and sequences open to PUBLIC since 0.12, functions security invoker).
-- The real extension sends requests from a C background worker; here a NOTIFY at commit wakes
-- scripts/local/pg_net_worker.ts, which claims committed rows, performs them and writes
-- net._http_response. Only what the real extension does not have is named in comments
-- starting with "shim:". Local only: never copied into supabase/migrations.

\echo Use "create extension pg_net with schema extensions" to load this file. \quit

create schema if not exists net;

-- HTTP methods the worker can send (pg_net 0.7+: get, post, delete, any case).
create domain net.http_method as text
    check (value ilike 'get' or value ilike 'post' or value ilike 'delete');

-- Pending requests. The worker deletes rows as it claims them, so the table is empty when idle.
create unlogged table net.http_request_queue (
    id bigserial,
    method net.http_method not null,
    url text not null,
    headers jsonb not null,
    body bytea,
    timeout_milliseconds integer not null
);

comment on table net.http_request_queue is
    'pg_net: requests waiting for the worker (local shim: scripts/local/pg_net_worker.ts)';

-- Responses, kept for pg_net.ttl (default 6 hours) and then deleted by the worker.
create unlogged table net._http_response (
    id bigint,
    status_code integer,
    content_type text,
    headers jsonb,
    content text,
    timed_out boolean,
    error_msg text,
    created timestamptz not null default now()
);

create index on net._http_response (created);

comment on table net._http_response is
    'pg_net: one row per performed request, same id as the request; pruned after pg_net.ttl';

-- Lifecycle states of a request, as returned by net.http_collect_response.
create type net.request_status as enum ('PENDING', 'SUCCESS', 'ERROR');

-- A response from an HTTP server.
create type net.http_response as (
    status_code integer,
    headers jsonb,
    body text
);

-- State wrapper around responses.
create type net.http_response_result as (
    status net.request_status,
    message text,
    response net.http_response
);

-- Percent-encodes a string like curl_escape: every byte of its UTF-8 form except the
-- unreserved characters A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex).
-- string: the text to encode. Returns the encoded text ('' for '').
create function net._urlencode_string(string varchar)
    returns text
    language sql
    immutable
    strict
    set search_path = ''
as $$
    select coalesce(
        pg_catalog.string_agg(
            case
                when v_byte between 48 and 57
                    or v_byte between 65 and 90
                    or v_byte between 97 and 122
                    or v_byte in (45, 46, 95, 126)
                    then pg_catalog.chr(v_byte)
                else '%' || pg_catalog.upper(pg_catalog.lpad(pg_catalog.to_hex(v_byte), 2, '0'))
            end,
            ''
            order by v_pos
        ),
        ''
    )
    from (
        select v_pos, pg_catalog.get_byte(v_bytes, v_pos) as v_byte
        from (select pg_catalog.convert_to(string, 'UTF8') as v_bytes) as v_input,
            pg_catalog.generate_series(0, pg_catalog.length(v_bytes) - 1) as v_pos
    ) as v_encoded
$$;

comment on function net._urlencode_string(varchar) is
    'pg_net: percent-encodes a string like curl_escape (unreserved characters kept)';

-- Appends already-encoded key=value pairs to a URL's query string, like curl_url with
-- CURLU_APPENDQUERY: joined by '&', after an existing query, before a #fragment; an empty path
-- becomes '/'. url: an absolute URL with a scheme and a host. params_array: 'key=value' items
-- (nulls skipped). Returns the full URL. Errors: curl's message for a malformed URL.
create function net._encode_url_with_params_array(url text, params_array text[])
    returns text
    language plpgsql
    immutable
    strict
    set search_path = ''
as $$
declare
    v_parts text[];
    v_query text;
    v_params text;
begin
    v_parts := pg_catalog.regexp_match(
        url,
        '^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#[:space:]]+)([^?#[:space:]]*)(\?[^#[:space:]]*)?(#[^[:space:]]*)?$'
    );
    if v_parts is null then
        raise exception 'URL using bad/illegal format or missing URL'
            using errcode = '22023',
                detail = pg_catalog.format('url: %s', url),
                hint = 'pass an absolute URL with a scheme and a host, such as https://example.com/path';
    end if;

    v_query := nullif(pg_catalog.substr(coalesce(v_parts[4], ''), 2), '');
    v_params := nullif(pg_catalog.array_to_string(params_array, '&'), '');
    if v_params is not null then
        v_query := pg_catalog.concat_ws('&', v_query, v_params);
    end if;

    return pg_catalog.lower(v_parts[1]) || '://' || v_parts[2]
        || coalesce(nullif(v_parts[3], ''), '/')
        || coalesce('?' || v_query, '')
        || coalesce(v_parts[5], '');
end;
$$;

comment on function net._encode_url_with_params_array(text, text[]) is
    'pg_net: appends encoded key=value pairs to the query string of a URL';

-- Queues an asynchronous GET, sent after the calling transaction commits.
-- url: target; params: key/value pairs url-encoded into the query string; headers: request
-- headers; timeout_milliseconds: limit for the whole request. Returns the request id, the id
-- of its row in net._http_response once performed. Strict: a null argument queues nothing.
create function net.http_get(
    url text,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{}'::jsonb,
    timeout_milliseconds integer default 5000
)
    returns bigint
    language plpgsql
    strict
    volatile
    parallel unsafe
    security invoker
    set search_path = ''
as $$
declare
    v_request_id bigint;
    v_params_array text[];
begin
    select coalesce(
        pg_catalog.array_agg(net._urlencode_string(p.key) || '=' || net._urlencode_string(p.value)),
        '{}'
    )
    into v_params_array
    from pg_catalog.jsonb_each_text(http_get.params) as p;

    insert into net.http_request_queue (method, url, headers, timeout_milliseconds)
    values (
        'GET',
        net._encode_url_with_params_array(http_get.url, v_params_array),
        http_get.headers,
        http_get.timeout_milliseconds
    )
    returning id into v_request_id;

    return v_request_id;
end;
$$;

comment on function net.http_get(text, jsonb, jsonb, integer) is
    'pg_net: queues a GET sent after commit; returns the request id (see net._http_response)';

-- Queues an asynchronous POST with a JSON body, sent after the calling transaction commits.
-- url: target; body: JSON sent as the request body; params: key/value pairs url-encoded into
-- the query string; headers: request headers, Content-Type added as application/json when
-- missing; timeout_milliseconds: limit for the whole request. Returns the request id.
-- Errors: a Content-Type other than application/json; a body over 64 KB (shim, see
-- net._tg_http_request_queue__check_body_size).
create function net.http_post(
    url text,
    body jsonb default '{}'::jsonb,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds integer default 5000
)
    returns bigint
    language plpgsql
    volatile
    parallel unsafe
    security invoker
    set search_path = ''
as $$
declare
    v_request_id bigint;
    v_params_array text[];
    v_content_type text;
    v_headers jsonb := http_post.headers;
begin
    select h.value
    into v_content_type
    from pg_catalog.jsonb_each_text(coalesce(v_headers, '{}'::jsonb)) as h
    where pg_catalog.lower(h.key) = 'content-type'
    limit 1;

    if v_content_type is null then
        v_headers := v_headers || '{"Content-Type": "application/json"}'::jsonb;
    end if;

    if v_content_type <> 'application/json' then
        raise exception 'Content-Type header must be "application/json"';
    end if;

    select coalesce(
        pg_catalog.array_agg(net._urlencode_string(p.key) || '=' || net._urlencode_string(p.value)),
        '{}'
    )
    into v_params_array
    from pg_catalog.jsonb_each_text(http_post.params) as p;

    insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    values (
        'POST',
        net._encode_url_with_params_array(http_post.url, v_params_array),
        v_headers,
        pg_catalog.convert_to(http_post.body::text, 'UTF8'),
        http_post.timeout_milliseconds
    )
    returning id into v_request_id;

    return v_request_id;
end;
$$;

comment on function net.http_post(text, jsonb, jsonb, jsonb, integer) is
    'pg_net: queues a POST of a JSON body sent after commit; returns the request id';

-- Queues an asynchronous DELETE, sent after the calling transaction commits.
-- url: target; params: key/value pairs url-encoded into the query string; headers: request
-- headers; timeout_milliseconds: limit for the whole request. Returns the request id.
create function net.http_delete(
    url text,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{}'::jsonb,
    timeout_milliseconds integer default 5000
)
    returns bigint
    language plpgsql
    strict
    volatile
    parallel unsafe
    security invoker
    set search_path = ''
as $$
declare
    v_request_id bigint;
    v_params_array text[];
begin
    select coalesce(
        pg_catalog.array_agg(net._urlencode_string(p.key) || '=' || net._urlencode_string(p.value)),
        '{}'
    )
    into v_params_array
    from pg_catalog.jsonb_each_text(http_delete.params) as p;

    insert into net.http_request_queue (method, url, headers, timeout_milliseconds)
    values (
        'DELETE',
        net._encode_url_with_params_array(http_delete.url, v_params_array),
        http_delete.headers,
        http_delete.timeout_milliseconds
    )
    returning id into v_request_id;

    return v_request_id;
end;
$$;

comment on function net.http_delete(text, jsonb, jsonb, integer) is
    'pg_net: queues a DELETE sent after commit; returns the request id';

-- Blocks until the response of a request exists, polling every 50 ms. Never returns for a
-- request queued in the same, still open transaction (it is only sent after commit).
-- request_id: the id returned by net.http_*. Returns true.
create function net._await_response(request_id bigint)
    returns boolean
    language plpgsql
    volatile
    parallel unsafe
    strict
    set search_path = ''
as $$
declare
    v_found boolean := false;
begin
    while not v_found loop
        select exists (select 1 from net._http_response as r where r.id = _await_response.request_id)
        into v_found;
        if not v_found then
            perform pg_catalog.pg_sleep(0.05);
        end if;
    end loop;
    return true;
end;
$$;

comment on function net._await_response(bigint) is
    'pg_net: waits until net._http_response has a row for the request';

-- Returns the response of a request wrapped in a result: ('SUCCESS', 'ok', response) once
-- performed, ('ERROR', 'request matching request_id not found', null) while pending or for an
-- unknown id. request_id: the id returned by net.http_*; async: false waits for the response.
create function net._http_collect_response(request_id bigint, async boolean default true)
    returns net.http_response_result
    language plpgsql
    volatile
    parallel unsafe
    strict
    security invoker
    set search_path = ''
as $$
declare
    v_rec net._http_response;
begin
    if not _http_collect_response.async then
        perform net._await_response(_http_collect_response.request_id);
    end if;

    select r.*
    into v_rec
    from net._http_response as r
    where r.id = _http_collect_response.request_id;

    if not found then
        return ('ERROR', 'request matching request_id not found', null)::net.http_response_result;
    end if;

    return (
        'SUCCESS',
        'ok',
        (v_rec.status_code, v_rec.headers, v_rec.content)::net.http_response
    )::net.http_response_result;
end;
$$;

comment on function net._http_collect_response(bigint, boolean) is
    'pg_net: the response of a request as net.http_response_result';

-- Deprecated alias of net._http_collect_response, kept by pg_net for old callers; raises a
-- notice. Same parameters and result.
create function net.http_collect_response(request_id bigint, async boolean default true)
    returns net.http_response_result
    language plpgsql
    volatile
    parallel unsafe
    strict
    security invoker
    set search_path = ''
as $$
begin
    raise notice 'The net.http_collect_response function is deprecated.';
    return net._http_collect_response(http_collect_response.request_id, http_collect_response.async);
end;
$$;

comment on function net.http_collect_response(bigint, boolean) is
    'pg_net: deprecated, use net._http_response or net._http_collect_response';

-- Raises an exception when no worker is connected. shim: the worker is recognised by its
-- application_name ('pg_net worker ...') instead of a background worker backend_type.
create function net.check_worker_is_up()
    returns void
    language plpgsql
    set search_path = ''
as $$
begin
    if not exists (
        select 1
        from pg_catalog.pg_stat_activity as a
        where a.application_name like 'pg_net worker%'
    ) then
        raise exception using
            message = 'the pg_net background worker is not up',
            detail = 'no session of scripts/local/pg_net_worker.ts is connected to this database',
            hint = 'start it: deno run --allow-net --allow-env --allow-read --allow-run --allow-sys scripts/local/pg_net_worker.ts';
    end if;
end;
$$;

comment on function net.check_worker_is_up() is
    'raises an exception if the pg_net background worker is not up, otherwise it doesn''t return anything';

-- Restarts the worker. shim: terminates the worker's sessions; it reconnects with backoff and
-- listens again. Security definer because terminating them needs the owner's rights. Returns
-- true when at least one session was signalled.
create function net.worker_restart()
    returns boolean
    language sql
    security definer
    set search_path = ''
as $$
    select coalesce(pg_catalog.bool_or(pg_catalog.pg_terminate_backend(a.pid)), false)
    from pg_catalog.pg_stat_activity as a
    where a.application_name like 'pg_net worker%'
        and a.pid <> pg_catalog.pg_backend_pid()
$$;

comment on function net.worker_restart() is
    'pg_net: restarts the worker (local shim: terminates its sessions, it reconnects)';

-- shim: rejects a request body over 64 KB. Hosted pg_net does not send such bodies (the request
-- hangs until it times out, supabase/pg_net#225); failing at enqueue time makes that visible
-- locally instead of passing here and failing silently on hosted.
create function net._tg_http_request_queue__check_body_size()
    returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    if pg_catalog.octet_length(new.body) > 65536 then
        raise exception 'pg_net request body of % bytes is over the 64 KB (65536 bytes) that hosted pg_net can send',
            pg_catalog.octet_length(new.body)
            using errcode = '54000',
                hint = 'send a small body (an id or a cursor) and let the receiver read the data; see supabase/pg_net#225';
    end if;
    return new;
end;
$$;

comment on function net._tg_http_request_queue__check_body_size() is
    'local pg_net shim: rejects request bodies over 64 KB, which hosted pg_net cannot send';

create trigger check_body_size
    before insert on net.http_request_queue
    for each row
    execute function net._tg_http_request_queue__check_body_size();

-- shim: wakes the worker. NOTIFY is delivered at commit and dropped on rollback, so the worker
-- only ever hears about committed requests; it also polls slowly in case a wake-up is missed.
create function net._tg_http_request_queue__wake_worker()
    returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    perform pg_catalog.pg_notify('pg_net_worker_wake', '');
    return null;
end;
$$;

comment on function net._tg_http_request_queue__wake_worker() is
    'local pg_net shim: notifies the worker (channel pg_net_worker_wake), delivered at commit';

create trigger wake_worker
    after insert on net.http_request_queue
    for each statement
    execute function net._tg_http_request_queue__wake_worker();

-- Grants of pg_net 0.12+: the schema, its tables and sequences are open to PUBLIC (any role can
-- read the queue, headers included) and the functions are executable by PUBLIC.
grant usage on schema net to public;
grant all privileges on all sequences in schema net to public;
grant all privileges on all tables in schema net to public;
