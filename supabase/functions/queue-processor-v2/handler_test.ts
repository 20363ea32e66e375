import assert from "node:assert/strict";
import { connect } from "../_shared/db.ts";
import { env } from "../_shared/env.ts";
import { createHandler } from "./handler.ts";

// A real client for a port that refuses connections: requests that reach the database fail.
const deadUrl = "postgresql://postgres:postgres@127.0.0.1:1/postgres";

function post(body: BodyInit | null, headers: HeadersInit = {}) {
  return new Request("http://local/queue-processor-v2", { method: "POST", body, headers });
}

const withSecret = {
  authorization: `Bearer ${env.KEEPFRESH_PROCESSOR_SECRET}`,
  "content-type": "application/json",
};

Deno.test("queue-processor-v2 handler - refuses bad methods, callers and bodies before any work", async () => {
  const sql = connect(deadUrl, "processor-handler-test");
  const started: Promise<unknown>[] = [];
  const handler = createHandler({ sql: () => sql, background: (work) => started.push(work) });
  try {
    const cases: Array<[Request, number]> = [
      [new Request("http://local/queue-processor-v2"), 405],
      [post("{}", { "content-type": "application/json" }), 401],
      [post("{}", { ...withSecret, authorization: "Bearer not-the-secret" }), 401],
      [post("null", withSecret), 400],
      [post("[]", withSecret), 400],
      [post('{"trigger":"cron","symbols":["AAPL"]}', withSecret), 400],
      [post('{"trigger":"manual"}', { ...withSecret, "content-type": "text/plain" }), 415],
      [post("x".repeat(20_000), withSecret), 413],
    ];
    for (const [req, status] of cases) {
      const res = await handler(req);
      const text = await res.text();
      assert.equal(res.status, status, `${req.method} ${status}: ${text}`);
      assert.doesNotMatch(text, /at file:|\.ts:\d+/, "no stack trace in the response");
    }
    assert.equal(started.length, 0, "no background work was started");
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test("queue-processor-v2 handler - a database outage is a 503 with a stable message", async () => {
  const sql = connect(deadUrl, "processor-handler-test");
  try {
    const handler = createHandler({ sql: () => sql, background: () => {} });
    const res = await handler(post('{"trigger":"wake"}', withSecret));
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: "service temporarily unavailable" });
  } finally {
    await sql.end({ timeout: 1 });
  }
});
