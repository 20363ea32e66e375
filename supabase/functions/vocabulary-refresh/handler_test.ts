import assert from "node:assert/strict";
import { mintJwt } from "../../../scripts/local/jwt.ts";
import { connect, type Sql } from "../_shared/db.ts";
import { createHandler } from "./handler.ts";

const url = "http://local/vocabulary-refresh";
// Port 1 on loopback refuses connections: a real connection failure, not a stub.
const DEAD_DATABASE = "postgresql://postgres:postgres@127.0.0.1:1/postgres";
const noDatabase = (): Sql => assert.fail("this request must not reach the database");

function serviceRoleKey(): string {
  const key = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY");
  assert.ok(key, "SUPABASE_SERVICE_ROLE_KEY must be set (run through scripts/test)");
  return key;
}

async function withDeadDatabase(run: (sql: Sql) => Promise<void>): Promise<void> {
  const sql = connect(DEAD_DATABASE, "vocabulary-refresh-test");
  try {
    await run(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

Deno.test("vocabulary-refresh handler - POST with an unreachable database answers 500 success false", async () => {
  await withDeadDatabase(async (sql) => {
    const handler = createHandler({ sql: () => sql });
    const res = await handler(
      new Request(url, {
        method: "POST",
        headers: { authorization: `Bearer ${serviceRoleKey()}` },
      }),
    );
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.equal(body.success, false);
    assert.equal(typeof body.error, "string");
    assert.doesNotMatch(
      body.error,
      /ECONNREFUSED|127\.0\.0\.1|at /,
      "no cause or stack in the response",
    );
  });
});

Deno.test("vocabulary-refresh handler - GET with an unreachable database answers 503", async () => {
  await withDeadDatabase(async (sql) => {
    const handler = createHandler({ sql: () => sql });
    const token = await mintJwt({ role: "authenticated" });
    const res = await handler(new Request(url, { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: "service temporarily unavailable" });
  });
});

Deno.test("vocabulary-refresh handler - POST by a signed-in user is forbidden", async () => {
  const handler = createHandler({ sql: noDatabase });
  const token = await mintJwt({ role: "authenticated" });
  const res = await handler(
    new Request(url, { method: "POST", headers: { authorization: `Bearer ${token}` } }),
  );
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), {
    success: false,
    error: "only the service role may rebuild the vocabulary",
  });
});

Deno.test("vocabulary-refresh handler - POST without credentials is unauthorized", async () => {
  const handler = createHandler({ sql: noDatabase });
  const res = await handler(new Request(url, { method: "POST" }));
  assert.equal(res.status, 401);
  assert.equal((await res.json()).success, false);
});

Deno.test("vocabulary-refresh handler - GET with the anon key (no user) is unauthorized", async () => {
  const handler = createHandler({ sql: noDatabase });
  const anon = await mintJwt({ role: "anon" });
  const res = await handler(new Request(url, { headers: { authorization: `Bearer ${anon}` } }));
  assert.equal(res.status, 401);
  await res.body?.cancel();
});

Deno.test("vocabulary-refresh handler - a forged user token is unauthorized", async () => {
  const handler = createHandler({ sql: noDatabase });
  const forged = await mintJwt({
    role: "authenticated",
    secret: "not-the-project-secret-not-the-project",
  });
  const res = await handler(new Request(url, { headers: { authorization: `Bearer ${forged}` } }));
  assert.equal(res.status, 401);
  await res.body?.cancel();
});

Deno.test("vocabulary-refresh handler - other methods get 405 with Allow", async () => {
  const handler = createHandler({ sql: noDatabase });
  const res = await handler(new Request(url, { method: "PUT", body: "{}" }));
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET, POST, OPTIONS");
  await res.body?.cancel();
});

Deno.test("vocabulary-refresh handler - OPTIONS is a CORS preflight", async () => {
  const handler = createHandler({ sql: noDatabase });
  const res = await handler(new Request(url, { method: "OPTIONS" }));
  await res.body?.cancel();
  assert.ok(res.status < 300);
  assert.ok(res.headers.get("access-control-allow-origin"));
});
