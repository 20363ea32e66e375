import assert from "node:assert/strict";
import { connect } from "../_shared/db.ts";
import { createHandler } from "./handler.ts";

Deno.test("health-check handler - an unreachable database answers 503 down", async () => {
  // Port 1 on loopback refuses connections: a real connection failure, not a stub.
  const sql = connect("postgresql://postgres:postgres@127.0.0.1:1/postgres", "health-check-test");
  try {
    const handler = createHandler({ sql: () => sql });
    const res = await handler(new Request("http://local/health-check"));
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: "down" });
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test("health-check handler - OPTIONS is a CORS preflight", async () => {
  const handler = createHandler({ sql: () => assert.fail("no database for a preflight") });
  const res = await handler(new Request("http://local/health-check", { method: "OPTIONS" }));
  await res.body?.cancel();
  assert.ok(res.status < 300);
  assert.ok(res.headers.get("access-control-allow-origin"));
});
