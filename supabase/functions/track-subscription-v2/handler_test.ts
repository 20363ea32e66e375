import assert from "node:assert/strict";
import { mintJwt } from "../../../scripts/local/jwt.ts";
import { connect, type Sql } from "../_shared/db.ts";
import type { TrackResult } from "../_shared/presence_rules.ts";
import { createHandler } from "./handler.ts";

const url = "http://local/track-subscription-v2";

async function userToken(): Promise<string> {
  return await mintJwt({ role: "authenticated", sub: crypto.randomUUID() });
}

async function post(
  handler: (req: Request) => Promise<Response>,
  body: unknown,
  token: string | null,
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  return await handler(new Request(url, { method: "POST", headers, body: JSON.stringify(body) }));
}

/** A stand-in client answering every query with one row {result}; records the calls. */
function fakeSql(result: TrackResult, calls: unknown[][] = []): () => Sql {
  const sql = (...args: unknown[]) => {
    calls.push(args);
    return Promise.resolve([{ result }]);
  };
  return () => sql as unknown as Sql;
}

const noDatabase = () => assert.fail("the database must not be called") as never;

const tracked: TrackResult = {
  action: "track",
  client_id: "default",
  symbols: ["AAPL"],
  data_types: ["quote"],
  expires_at: "2026-11-22T12:00:00+00:00",
  heartbeat_seconds: 40,
  presence_tracking: true,
  queued: [{ data_type: "quote", key: "AAPL", job_id: 7, created: true }],
  fresh: [],
  skipped: { cooldown: [], quota_exceeded: [] },
  errors: [],
};

Deno.test("track-subscription-v2 handler - an unreachable database answers 200 degraded", async () => {
  // Port 1 on loopback refuses connections: a real connection failure, not a stub.
  const sql = connect("postgresql://postgres:postgres@127.0.0.1:1/postgres", "track-test");
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.map(String).join(" "));
  try {
    const handler = createHandler({ sql: () => sql, wake: () => assert.fail("no wake") });
    const res = await post(handler, { symbols: ["AAPL"], action: "track" }, await userToken());
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { degraded: true });
    assert.ok(errors.some((line) => line.includes("degraded")), "the failure is logged");
  } finally {
    console.error = original;
    await sql.end({ timeout: 1 });
  }
});

Deno.test("track-subscription-v2 handler - OPTIONS is a CORS preflight, GET is 405", async () => {
  const handler = createHandler({ sql: noDatabase });
  const pre = await handler(new Request(url, { method: "OPTIONS" }));
  await pre.body?.cancel();
  assert.ok(pre.status < 300);
  assert.ok(pre.headers.get("access-control-allow-origin"));
  const get = await handler(new Request(url, { headers: { authorization: "Bearer x" } }));
  await get.body?.cancel();
  assert.equal(get.status, 405);
});

Deno.test("track-subscription-v2 handler - no user token, the anon key or a bad token is 401", async () => {
  const handler = createHandler({ sql: noDatabase });
  const anon = await mintJwt({ role: "anon" });
  const expired = await mintJwt({ role: "authenticated", expiresIn: -60 });
  for (const token of [null, anon, expired, "not-a-jwt"]) {
    const res = await post(handler, { symbols: ["AAPL"], action: "track" }, token);
    await res.body?.cancel();
    assert.equal(res.status, 401, String(token).slice(0, 12));
  }
});

Deno.test("track-subscription-v2 handler - bad bodies are 4xx and never reach the database", async () => {
  const handler = createHandler({ sql: noDatabase });
  const token = await userToken();
  const bad: unknown[] = [
    { symbols: "AAPL", action: "track" },
    { symbols: Array.from({ length: 51 }, (_, i) => `S${i}`), action: "track" },
    { symbols: ["AAPL'); delete from auth.users; --"], action: "track" },
    { symbols: ["AAPL"], action: "drop" },
    { symbols: ["AAPL"], action: "track", dataTypes: [1] },
  ];
  for (const body of bad) {
    const res = await post(handler, body, token);
    assert.equal(res.status, 400, JSON.stringify(body).slice(0, 60));
    assert.ok((await res.json()).issues.length > 0);
  }
  const big = await handler(
    new Request(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ symbols: ["A".repeat(1024 * 1024)], action: "track" }),
    }),
  );
  await big.body?.cancel();
  assert.equal(big.status, 413);
  const text = await handler(
    new Request(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
      body: "symbols=AAPL",
    }),
  );
  await text.body?.cancel();
  assert.equal(text.status, 415);
});

Deno.test("track-subscription-v2 handler - over the rate limit is 429 with Retry-After", async () => {
  const handler = createHandler({
    sql: fakeSql({ rate_limited: true, retry_after_seconds: 17, limit_per_minute: 60 }),
    wake: () => assert.fail("no wake when rate limited"),
  });
  const res = await post(handler, { symbols: ["AAPL"], action: "track" }, await userToken());
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "17");
  assert.deepEqual(await res.json(), { error: "rate limit exceeded", retryAfterSeconds: 17 });
});

Deno.test("track-subscription-v2 handler - one query, the user's id, and a wake when a job was created", async () => {
  const calls: unknown[][] = [];
  let woken = 0;
  const background: Promise<unknown>[] = [];
  const handler = createHandler({
    sql: fakeSql(tracked, calls),
    wake: () => {
      woken++;
      return Promise.resolve();
    },
    background: (work) => background.push(work),
  });
  const sub = crypto.randomUUID();
  const token = await mintJwt({ role: "authenticated", sub });
  const res = await post(handler, { symbols: ["aapl", "AAPL"], action: "track" }, token);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.queued, [{ dataType: "quote", key: "AAPL", jobId: 7, created: true }]);
  assert.equal(calls.length, 1, "one database round trip");
  const values = calls[0].slice(1);
  assert.deepEqual(values, [sub, null, ["AAPL"], null, "track"]);
  await Promise.all(background);
  assert.equal(woken, 1);

  const quiet = createHandler({
    sql: fakeSql({ ...tracked, queued: [] } as TrackResult),
    wake: () => assert.fail("nothing created: no wake"),
    background: (work) => background.push(work),
  });
  const again = await post(quiet, { symbols: ["AAPL"], action: "heartbeat" }, token);
  assert.equal(again.status, 200);
  await again.body?.cancel();
});
