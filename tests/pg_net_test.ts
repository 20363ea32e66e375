/**
 * Integration tests of the local pg_net shim (scripts/local/pg_net/) and its worker
 * (scripts/local/pg_net_worker.ts).
 *
 * Needs SUPABASE_DB_URL pointing at a database where `create extension pg_net with schema
 * extensions` ran and a worker is running (scripts/test sets both up). By hand:
 *   SUPABASE_DB_URL=postgresql://postgres:postgres@127.0.0.1:PORT/postgres \
 *     deno test -A tests/pg_net_test.ts
 * Every test starts its own HTTP target on a random port and closes it, and only looks at the
 * requests it queued itself, so the file can share a database with other tests.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  APPLICATION_NAME_PREFIX,
  describeFetchError,
  PG_NET_VERSION,
  timeoutMessage,
} from "../scripts/local/pg_net_worker.ts";

const DB_URL = Deno.env.get("SUPABASE_DB_URL") ?? "";
const WORKER_PATH = new URL("../scripts/local/pg_net_worker.ts", import.meta.url).pathname;
const REPO_ROOT = new URL("..", import.meta.url).pathname;
/** Upper bound for one response to show up; the worker normally answers in milliseconds. */
const RESPONSE_DEADLINE_MS = 15_000;

type Sql = postgres.Sql;

interface ResponseRow {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
}

interface QueuedRow {
  method: string;
  url: string;
  headers: Record<string, string>;
  timeout: number;
  body: string | null;
}

interface Hit {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
}

interface Target {
  url: string;
  hits: Hit[];
  close(): Promise<void>;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs fn with a fresh connection pool that is always closed afterwards. */
async function withDb<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  if (DB_URL === "") {
    throw new Error("SUPABASE_DB_URL is not set: point it at a database with pg_net and a worker");
  }
  const sql = postgres(DB_URL, { max: 4, connect_timeout: 5, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Starts an HTTP server on a random port that records every request it receives. */
function startTarget(
  reply: (request: Request) => Response | Promise<Response> = () => new Response("ok"),
): Target {
  const hits: Hit[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const body = await request.text();
    hits.push({
      method: request.method,
      path: url.pathname,
      search: url.search,
      headers: request.headers,
      body,
    });
    return await reply(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    hits,
    close: () => server.shutdown(),
  };
}

/** Waits (bounded) until net._http_response has a row for every id; returns them by id. */
async function waitForResponses(
  sql: Sql,
  ids: string[],
  deadlineMs = RESPONSE_DEADLINE_MS,
): Promise<Map<string, ResponseRow>> {
  const deadline = Date.now() + deadlineMs;
  while (true) {
    const rows = await sql<ResponseRow[]>`
      select id::text as id, status_code, content_type, headers, content, timed_out, error_msg
      from net._http_response
      where id in ${sql(ids)}
      order by id
    `;
    const byId = new Map(rows.map((row) => [row.id, row]));
    if (ids.every((id) => byId.has(id))) return byId;
    if (Date.now() > deadline) {
      const missing = ids.filter((id) => !byId.has(id));
      throw new Error(
        `no response after ${deadlineMs} ms for ${missing.length} request(s) (e.g. ${
          missing[0]
        }): ` +
          "is scripts/local/pg_net_worker.ts running against this database?",
      );
    }
    await delay(50);
  }
}

async function waitForResponse(sql: Sql, id: string, deadlineMs?: number): Promise<ResponseRow> {
  return (await waitForResponses(sql, [id], deadlineMs)).get(id)!;
}

/** A port on 127.0.0.1 that nothing listens on (just released by the OS). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts an extra worker process against the test database. */
function spawnWorker(env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-run",
      "--allow-sys",
      WORKER_PATH,
    ],
    cwd: REPO_ROOT,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Waits until the worker with this pid has a session in Postgres. */
async function waitForWorkerSession(sql: Sql, pid: number): Promise<void> {
  const name = `${APPLICATION_NAME_PREFIX} (local shim, pid ${pid})`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_catalog.pg_stat_activity where application_name = ${name}
    `;
    if (n > 0) return;
    await delay(100);
  }
  throw new Error(`worker pid ${pid} did not connect within 30 s`);
}

/** Sends SIGTERM and waits (bounded) for the exit; returns its code and stderr. */
async function stopWorker(child: Deno.ChildProcess): Promise<{ code: number; stderr: string }> {
  child.kill("SIGTERM");
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, 15_000);
  try {
    const output = await child.output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
  } finally {
    clearTimeout(killer);
  }
}

Deno.test("worker errors - a refused connection reads like curl's message", () => {
  const error = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://127.0.0.1:4/): client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  });
  assert.equal(describeFetchError(error), "Couldn't connect to server");
  const dns = new TypeError("fetch failed", {
    cause: new Error("client error (Connect): dns error: failed to lookup address information"),
  });
  assert.equal(describeFetchError(dns), "Couldn't resolve host name");
  assert.equal(describeFetchError(new Error("something else\0hidden")), "something else");
  assert.match(timeoutMessage(300, 301.5), /^Timeout of 300 ms reached\. Total time: 301\.5/);
});

Deno.test("http_post - sends the JSON body, headers and params as given and records the response", async () => {
  const target = startTarget(() =>
    new Response(JSON.stringify({ ok: true }), {
      status: 200,
      headers: { "content-type": "application/json; charset=utf-8", "x-reply": "yes" },
    })
  );
  try {
    await withDb(async (sql) => {
      const [{ id }] = await sql<{ id: string }[]>`
        select net.http_post(
            url := ${target.url + "/hook"},
            body := ${sql.json({ n: 1, s: "é ü" })},
            params := ${sql.json({ a: "1", "b c": "d&e" })},
            headers := ${sql.json({ "Content-Type": "application/json", "X-Kf": "42" })}
        )::text as id
      `;
      const row = await waitForResponse(sql, id);
      assert.equal(row.status_code, 200);
      assert.equal(row.content, '{"ok":true}');
      assert.equal(row.content_type, "application/json; charset=utf-8");
      assert.equal(row.headers?.["x-reply"], "yes");
      assert.equal(row.timed_out, false);
      assert.equal(row.error_msg, null);

      assert.equal(target.hits.length, 1);
      const [hit] = target.hits;
      assert.equal(hit.method, "POST");
      assert.equal(hit.path, "/hook");
      assert.equal(hit.search, "?a=1&b%20c=d%26e");
      assert.equal(hit.headers.get("content-type"), "application/json");
      assert.equal(hit.headers.get("x-kf"), "42");
      assert.equal(hit.headers.get("user-agent"), `pg_net/${PG_NET_VERSION}`);
      assert.deepEqual(JSON.parse(hit.body), { n: 1, s: "é ü" });
    });
  } finally {
    await target.close();
  }
});

Deno.test("http_post - default headers add Content-Type application/json and the default body is {}", async () => {
  const target = startTarget();
  try {
    await withDb(async (sql) => {
      const [{ id }] = await sql<{ id: string }[]>`
        select net.http_post(url := ${target.url}, headers := '{"X-Only": "1"}'::jsonb)::text as id
      `;
      await waitForResponse(sql, id);
      assert.equal(target.hits.length, 1);
      assert.equal(target.hits[0].headers.get("content-type"), "application/json");
      assert.equal(target.hits[0].headers.get("x-only"), "1");
      assert.equal(target.hits[0].body, "{}");
      assert.equal(target.hits[0].path, "/");
    });
  } finally {
    await target.close();
  }
});

Deno.test("http_get - sends a GET with params and headers and no body", async () => {
  const target = startTarget(() => new Response("hello"));
  try {
    await withDb(async (sql) => {
      const [{ id }] = await sql<{ id: string }[]>`
        select net.http_get(
            ${target.url + "/items?fixed=yes"},
            params := ${sql.json({ symbol: "BRK.B", q: "a/b" })},
            headers := ${sql.json({ Authorization: "Bearer t" })}
        )::text as id
      `;
      const row = await waitForResponse(sql, id);
      assert.equal(row.status_code, 200);
      assert.equal(row.content, "hello");
      assert.equal(row.content_type, "text/plain;charset=UTF-8");
      assert.equal(target.hits.length, 1);
      assert.equal(target.hits[0].method, "GET");
      assert.equal(target.hits[0].search, "?fixed=yes&q=a%2Fb&symbol=BRK.B");
      assert.equal(target.hits[0].headers.get("authorization"), "Bearer t");
      assert.equal(target.hits[0].body, "");
    });
  } finally {
    await target.close();
  }
});

Deno.test("http_delete - sends a DELETE and an empty body is recorded as null content", async () => {
  const target = startTarget(() => new Response(null, { status: 204 }));
  try {
    await withDb(async (sql) => {
      const [{ id }] = await sql<{ id: string }[]>`
        select net.http_delete(${target.url + "/things/7"})::text as id
      `;
      const row = await waitForResponse(sql, id);
      assert.equal(row.status_code, 204);
      assert.equal(row.content, null);
      assert.equal(target.hits[0]?.method, "DELETE");
      assert.equal(target.hits[0]?.path, "/things/7");
    });
  } finally {
    await target.close();
  }
});

Deno.test("worker - an HTTP 500 is recorded as status_code 500, not as an error", async () => {
  const target = startTarget(() => new Response("boom", { status: 500 }));
  try {
    await withDb(async (sql) => {
      const [{ id }] = await sql<{ id: string }[]>`select net.http_get(${target.url})::text as id`;
      const row = await waitForResponse(sql, id);
      assert.equal(row.status_code, 500);
      assert.equal(row.content, "boom");
      assert.equal(row.timed_out, false);
      assert.equal(row.error_msg, null);
    });
  } finally {
    await target.close();
  }
});

Deno.test("worker - a request slower than timeout_milliseconds is recorded as timed out", async () => {
  const target = startTarget(async () => {
    await delay(2000);
    return new Response("too late");
  });
  try {
    await withDb(async (sql) => {
      const started = Date.now();
      const [{ id }] = await sql<{ id: string }[]>`
        select net.http_get(${target.url + "/slow"}, timeout_milliseconds := 300)::text as id
      `;
      const row = await waitForResponse(sql, id);
      assert.ok(Date.now() - started < 1500, "the timeout must end the request, not the server");
      assert.equal(row.timed_out, true);
      assert.match(row.error_msg ?? "", /^Timeout of 300 ms reached\./);
      assert.equal(row.status_code, null);
      assert.equal(row.content, null);
      assert.equal(target.hits.length, 1);
    });
  } finally {
    await target.close();
  }
});

Deno.test("worker - a refused connection is recorded with curl's message", async () => {
  await withDb(async (sql) => {
    const [{ id }] = await sql<{ id: string }[]>`
      select net.http_post(${`http://127.0.0.1:${closedPort()}/nothing`})::text as id
    `;
    const row = await waitForResponse(sql, id);
    assert.equal(row.error_msg, "Couldn't connect to server");
    assert.equal(row.timed_out, false);
    assert.equal(row.status_code, null);
  });
});

Deno.test("worker - a scheme other than http(s) is not fetched", async () => {
  await withDb(async (sql) => {
    const [{ id }] = await sql<{ id: string }[]>`
      select net.http_get('ftp://127.0.0.1/file')::text as id
    `;
    const row = await waitForResponse(sql, id);
    assert.equal(row.error_msg, "Unsupported protocol");
    assert.equal(row.status_code, null);
  });
});

Deno.test("after commit - a queued request is sent only once its transaction commits", async () => {
  const target = startTarget();
  try {
    await withDb(async (sql) => {
      let id = "";
      await sql.begin(async (tx) => {
        [{ id }] = await tx<{ id: string }[]>`select net.http_get(${
          target.url + "/tx"
        })::text as id`;
        await delay(1000);
        assert.equal(target.hits.length, 0, "sent before commit");
        const [{ n }] = await sql<{ n: number }[]>`
          select count(*)::int as n from net.http_request_queue where id = ${id}
        `;
        assert.equal(n, 0, "the uncommitted row must be invisible to other sessions");
      });
      await waitForResponse(sql, id);
      assert.equal(target.hits.length, 1);
      assert.equal(target.hits[0].path, "/tx");
    });
  } finally {
    await target.close();
  }
});

Deno.test("after commit - a rolled-back request is never sent", async () => {
  const target = startTarget();
  try {
    await withDb(async (sql) => {
      let rolledBack = "";
      await assert.rejects(
        sql.begin(async (tx) => {
          [{ id: rolledBack }] = await tx<{ id: string }[]>`
            select net.http_get(${target.url + "/rolled-back"})::text as id
          `;
          throw new Error("roll back");
        }),
        /roll back/,
      );
      // A committed request after it: once it is answered, the worker has scanned the queue.
      const [{ id: marker }] = await sql<{ id: string }[]>`
        select net.http_get(${target.url + "/marker"})::text as id
      `;
      await waitForResponse(sql, marker);
      await delay(300);
      assert.deepEqual(target.hits.map((hit) => hit.path), ["/marker"]);
      const [{ n }] = await sql<{ n: number }[]>`
        select count(*)::int as n from net._http_response where id = ${rolledBack}
      `;
      assert.equal(n, 0);
    });
  } finally {
    await target.close();
  }
});

Deno.test("after commit - a commit wakes the worker without waiting for its slow poll", async () => {
  const target = startTarget();
  try {
    await withDb(async (sql) => {
      // The poll runs every 5 s; three answers in under 1.5 s each mean NOTIFY woke the worker.
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const [{ id }] = await sql<{ id: string }[]>`
          select net.http_get(${`${target.url}/wake/${i}`})::text as id
        `;
        await waitForResponse(sql, id, 1500);
        assert.ok(Date.now() - started < 1500);
      }
      assert.equal(target.hits.length, 3);
    });
  } finally {
    await target.close();
  }
});

Deno.test("many requests - 200 at once with three racing workers are each sent and answered exactly once", async () => {
  const counts = new Map<string, number>();
  const target = startTarget(async (request) => {
    const n = new URL(request.url).searchParams.get("n") ?? "?";
    counts.set(n, (counts.get(n) ?? 0) + 1);
    await delay(100);
    return new Response(`done ${n}`);
  });
  const workers: Deno.ChildProcess[] = [];
  try {
    await withDb(async (sql) => {
      for (let i = 0; i < 2; i++) workers.push(spawnWorker({ SUPABASE_DB_URL: DB_URL }));
      for (const worker of workers) await waitForWorkerSession(sql, worker.pid);

      const ids = (await sql<{ id: string }[]>`
        select net.http_post(
            url := ${target.url + "/bulk"},
            body := pg_catalog.jsonb_build_object('n', g),
            params := pg_catalog.jsonb_build_object('n', g::text)
        )::text as id
        from pg_catalog.generate_series(1, 200) as g
      `).map((row) => row.id);
      assert.equal(ids.length, 200);

      const responses = await waitForResponses(sql, ids, 30_000);
      const [{ rows, distinct }] = await sql<{ rows: number; distinct: number }[]>`
        select count(*)::int as rows, count(distinct id)::int as distinct
        from net._http_response
        where id in ${sql(ids)}
      `;
      assert.equal(rows, 200, "one response row per request");
      assert.equal(distinct, 200);
      for (const row of responses.values()) assert.equal(row.status_code, 200);
      assert.equal(counts.size, 200);
      for (const [n, count] of counts) {
        assert.equal(count, 1, `request n=${n} was sent ${count} times`);
      }
    });
  } finally {
    const stopped = await Promise.all(workers.map(stopWorker));
    await target.close();
    for (const { code, stderr } of stopped) {
      assert.equal(code, 0, `a worker did not stop cleanly on SIGTERM:\n${stderr}`);
      assert.match(stderr, /stopped/);
    }
  }
});

Deno.test("worker_restart - the worker reconnects, listens again and keeps answering", async () => {
  const target = startTarget();
  try {
    await withDb(async (sql) => {
      const [{ restarted }] = await sql<{ restarted: boolean }[]>`
        select net.worker_restart() as restarted
      `;
      assert.equal(restarted, true);
      // Reconnects with backoff: wait for it to be up again, then expect the NOTIFY path.
      const deadline = Date.now() + 15_000;
      while (true) {
        try {
          await sql`select net.check_worker_is_up()`;
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await delay(100);
        }
      }
      const [{ id }] = await sql<{ id: string }[]>`
        select net.http_get(${target.url + "/after-restart"})::text as id
      `;
      const row = await waitForResponse(sql, id);
      assert.equal(row.status_code, 200);
      assert.equal(target.hits.length, 1);
    });
  } finally {
    await target.close();
  }
});

Deno.test("ttl - responses older than pg_net.ttl (6 hours) are deleted, younger ones kept", async () => {
  await withDb(async (sql) => {
    const base = -1_000_000 - Math.floor(Math.random() * 1_000_000_000);
    const old = String(base);
    const young = String(base - 1);
    await sql`
      insert into net._http_response (id, status_code, created)
      values (${old}, 200, pg_catalog.now() - interval '7 hours'),
             (${young}, 200, pg_catalog.now() - interval '1 hour')
    `;
    try {
      const deadline = Date.now() + 20_000;
      while (true) {
        const rows = await sql<{ id: string }[]>`
          select id::text as id from net._http_response where id in (${old}, ${young})
        `;
        if (!rows.some((row) => row.id === old)) {
          assert.deepEqual(rows.map((row) => row.id), [young]);
          break;
        }
        assert.ok(Date.now() < deadline, "the expired response was not deleted within 20 s");
        await delay(200);
      }
    } finally {
      await sql`delete from net._http_response where id in (${old}, ${young})`;
    }
  });
});

Deno.test("sql api - defaults, URL encoding and validation match pg_net", async () => {
  await withDb(async (sql) => {
    await assert.rejects(
      sql.begin(async (tx) => {
        // The function's insert is only visible to the next statement, so queue, then read.
        const queued = async (call: Promise<{ id: string }[]>) => {
          const [{ id }] = await call;
          const [row] = await tx<QueuedRow[]>`
            select q.method::text as method, q.url, q.headers, q.timeout_milliseconds as timeout,
                pg_catalog.convert_from(q.body, 'UTF8') as body
            from net.http_request_queue as q
            where q.id = ${id}
          `;
          return row;
        };

        const get = await queued(tx`
          select net.http_get(
              'HTTP://h.invalid/p?x=1#frag',
              params := '{"a b": "é&", "skip": null}'::jsonb
          )::text as id
        `);
        assert.deepEqual(get, {
          method: "GET",
          url: "http://h.invalid/p?x=1&a%20b=%C3%A9%26#frag",
          headers: {},
          timeout: 5000,
          body: null,
        });

        const post = await queued(tx`
          select net.http_post('http://h.invalid', '{"k": [1, 2]}'::jsonb)::text as id
        `);
        assert.deepEqual(post, {
          method: "POST",
          url: "http://h.invalid/",
          headers: { "Content-Type": "application/json" },
          timeout: 5000,
          body: '{"k": [1, 2]}',
        });

        const del = await queued(tx`select net.http_delete('http://h.invalid/x')::text as id`);
        assert.equal(del.method, "DELETE");
        assert.equal(del.timeout, 5000);

        await assert.rejects(
          tx.savepoint((sp) =>
            sp`select net.http_post('http://h.invalid', headers := '{"content-type": "text/plain"}')`
          ),
          /Content-Type header must be "application\/json"/,
        );
        await assert.rejects(
          tx.savepoint((sp) => sp`select net.http_get('not a url')`),
          /URL using bad\/illegal format or missing URL/,
        );
        await assert.rejects(
          tx.savepoint((sp) =>
            sp`
              select net.http_post(
                  'http://h.invalid',
                  pg_catalog.jsonb_build_object('big', pg_catalog.repeat('x', 70000))
              )
            `
          ),
          /over the 64 KB \(65536 bytes\) that hosted pg_net can send/,
        );
        const [{ exactly }] = await tx<{ exactly: string }[]>`
          select net.http_post('http://h.invalid', pg_catalog.jsonb_build_object(
              'b', pg_catalog.repeat('x', 65536 - 9)
          ))::text as exactly
        `;
        assert.ok(exactly, "a body of exactly 64 KB is accepted");
        throw new Error("roll back");
      }),
      /roll back/,
    );
  });
});

Deno.test("privileges - like pg_net 0.12+, any role can queue requests and read the queue", async () => {
  await withDb(async (sql) => {
    await assert.rejects(
      sql.begin(async (tx) => {
        await tx`set local role anon`;
        const [{ id }] = await tx<{ id: string }[]>`
          select net.http_get('http://h.invalid/', headers := '{"apikey": "visible"}')::text as id
        `;
        const [{ headers }] = await tx<{ headers: Record<string, string> }[]>`
          select headers from net.http_request_queue where id = ${id}
        `;
        assert.deepEqual(headers, { apikey: "visible" });
        await tx`select count(*) from net._http_response`;
        throw new Error("roll back");
      }),
      /roll back/,
    );
  });
});

Deno.test("worker - exits with a clear message when SUPABASE_DB_URL is empty", async () => {
  const child = spawnWorker({ SUPABASE_DB_URL: "" });
  const output = await child.output();
  assert.equal(output.code, 2);
  assert.match(new TextDecoder().decode(output.stderr), /SUPABASE_DB_URL is not set/);
});
