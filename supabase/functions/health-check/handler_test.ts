import assert from "node:assert/strict";
import { connect, type Sql } from "../_shared/db.ts";
import type { ManualSyncResult } from "../_shared/health.ts";
import { createHandler } from "./handler.ts";

// The monitoring token the environment configures (auth.ts reads it once from env.ts).
const monitoringToken = Deno.env.get("KEEPFRESH_MONITORING_TOKEN");
const base = "http://local/health-check";

/** A handler over an unreachable database: port 1 on loopback refuses connections (real failure). */
function withUnreachableDb(
  test: (sql: Sql) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const sql = connect("postgresql://postgres:postgres@127.0.0.1:1/postgres", "health-check-test");
    try {
      await test(sql);
    } finally {
      await sql.end({ timeout: 1 });
    }
  };
}

function handlerFor(
  sql: () => Sql,
  startSync: () => Promise<ManualSyncResult> = () => assert.fail("no sync expected"),
) {
  return createHandler({ sql, startSync, endpoint: base, monitoringToken });
}

const noDb = () => assert.fail("no database expected");

Deno.test(
  "health-check handler - an unreachable database answers 503 down",
  withUnreachableDb(async (sql) => {
    const res = await handlerFor(() => sql)(new Request(base));
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: "down" });
  }),
);

Deno.test("health-check handler - OPTIONS is a CORS preflight", async () => {
  const res = await handlerFor(noDb)(new Request(base, { method: "OPTIONS" }));
  await res.body?.cancel();
  assert.ok(res.status < 300);
  assert.ok(res.headers.get("access-control-allow-origin"));
});

Deno.test("health-check handler - an unknown format is a 400", async () => {
  const res = await handlerFor(noDb)(new Request(`${base}?format=xml`));
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "unknown format");
});

Deno.test("health-check handler - prometheus needs the monitoring token", async () => {
  const res = await handlerFor(noDb)(new Request(`${base}?format=prometheus`));
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
  await res.body?.cancel();
});

Deno.test("health-check handler - the html page without a token is a 401 page", async () => {
  const res = await handlerFor(noDb)(new Request(`${base}?format=html&token=wrong-token-123`));
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(await res.text(), /needs the monitoring token/);
});

Deno.test(
  "health-check handler - the html page accepts ?token= and shows a down database",
  withUnreachableDb(async (sql) => {
    assert.ok(monitoringToken, "KEEPFRESH_MONITORING_TOKEN is set");
    const res = await handlerFor(() => sql)(
      new Request(`${base}?format=html&token=${encodeURIComponent(monitoringToken)}`),
    );
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    const html = await res.text();
    assert.match(html, /id="overall-status"[^>]*>down</);
    assert.ok(!html.includes(monitoringToken), "the page never echoes the token");
  }),
);

Deno.test(
  "health-check handler - ?token= is honoured for the html page only",
  withUnreachableDb(async (sql) => {
    assert.ok(monitoringToken);
    const res = await handlerFor(() => sql)(
      new Request(`${base}?token=${encodeURIComponent(monitoringToken)}`),
    );
    assert.deepEqual(await res.json(), { status: "down" });
  }),
);

Deno.test("health-check handler - a run needs the token and a valid id", async () => {
  const handler = handlerFor(noDb);
  const anonymous = await handler(new Request(`${base}?run=1`));
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  const bad = await handler(
    new Request(`${base}?run=abc`, { headers: { "x-monitoring-token": monitoringToken ?? "" } }),
  );
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
});

Deno.test("health-check handler - POST needs ?action=sync and the token", async () => {
  const handler = handlerFor(noDb);
  const noAction = await handler(new Request(base, { method: "POST", body: "{}" }));
  assert.equal(noAction.status, 400);
  await noAction.body?.cancel();
  const anonymous = await handler(new Request(`${base}?action=sync`, { method: "POST" }));
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
});

Deno.test("health-check handler - a manual sync answers the run id", async () => {
  let calls = 0;
  const handler = handlerFor(noDb, () => {
    calls++;
    return Promise.resolve({ ok: true, accepted: true, run_id: 17, reason: null });
  });
  const res = await handler(
    new Request(`${base}?action=sync`, {
      method: "POST",
      headers: { authorization: `Bearer ${monitoringToken}` },
    }),
  );
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { accepted: true, run_id: 17, reason: null });
  assert.equal(calls, 1);
});

Deno.test("health-check handler - a processor outage is a 502", async () => {
  const handler = handlerFor(
    noDb,
    () => Promise.resolve({ ok: false, status: 502, error: "the processor could not be reached" }),
  );
  const res = await handler(
    new Request(`${base}?action=sync`, {
      method: "POST",
      headers: { "x-monitoring-token": monitoringToken ?? "" },
    }),
  );
  assert.equal(res.status, 502);
  assert.deepEqual(await res.json(), { error: "the processor could not be reached" });
});

Deno.test("health-check handler - PUT is refused with 405", async () => {
  const res = await handlerFor(noDb)(new Request(base, { method: "PUT", body: "{}" }));
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET, POST, OPTIONS");
  await res.body?.cancel();
});
