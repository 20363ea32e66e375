import assert from "node:assert/strict";
import {
  isRateLimited,
  retryAfterSeconds,
  shouldWakeProcessor,
  toTrackResponse,
  trackRequestSchema,
  type TrackResult,
  uniqueSymbols,
} from "./presence_rules.ts";

Deno.test("presence rules - symbols are trimmed and upper-cased; SPEC 3.1 forms pass", () => {
  const parsed = trackRequestSchema.parse({
    symbols: [" aapl ", "brk-b", "^gspc", "reliance.ns"],
    action: "track",
  });
  assert.deepEqual(parsed.symbols, ["AAPL", "BRK-B", "^GSPC", "RELIANCE.NS"]);
});

Deno.test("presence rules - bad bodies are rejected with issues", () => {
  const cases: Array<[string, unknown]> = [
    ["no symbols", { symbols: [], action: "track" }],
    ["51 symbols", { symbols: Array.from({ length: 51 }, (_, i) => `S${i}`), action: "track" }],
    ["injection", { symbols: ["AAPL'; drop table x; --"], action: "track" }],
    ["symbol too long", { symbols: ["A".repeat(21)], action: "track" }],
    ["number symbol", { symbols: [42], action: "track" }],
    ["symbols not an array", { symbols: "AAPL", action: "track" }],
    ["unknown action", { symbols: ["AAPL"], action: "subscribe" }],
    ["missing action", { symbols: ["AAPL"] }],
    ["bad data type", { symbols: ["AAPL"], dataTypes: ["Quote;"], action: "track" }],
    ["too many types", {
      symbols: ["AAPL"],
      dataTypes: Array.from({ length: 33 }, (_, i) => `t-${i}`),
      action: "track",
    }],
    ["bad client id", { symbols: ["AAPL"], action: "track", clientId: "a b" }],
    ["long client id", { symbols: ["AAPL"], action: "track", clientId: "x".repeat(65) }],
    ["unknown field", { symbols: ["AAPL"], action: "track", userId: "someone-else" }],
    ["not an object", ["AAPL"]],
  ];
  for (const [name, body] of cases) {
    const result = trackRequestSchema.safeParse(body);
    assert.equal(result.success, false, name);
    assert.ok(result.error!.issues.length > 0, name);
  }
});

Deno.test("presence rules - 50 symbols, optional types and a client id are accepted", () => {
  const parsed = trackRequestSchema.parse({
    symbols: Array.from({ length: 50 }, (_, i) => `S${i}`),
    dataTypes: ["quote", "ratios-ttm"],
    action: "heartbeat",
    clientId: "tab-1:9f2c",
  });
  assert.equal(parsed.symbols.length, 50);
  assert.equal(parsed.clientId, "tab-1:9f2c");
});

Deno.test("presence rules - duplicate symbols count once, first occurrence order", () => {
  assert.deepEqual(uniqueSymbols(["MSFT", "AAPL", "MSFT"]), ["MSFT", "AAPL"]);
});

const tracked: TrackResult = {
  action: "track",
  client_id: "default",
  symbols: ["AAPL"],
  data_types: ["profile", "quote"],
  expires_at: "2026-11-22T12:00:00+00:00",
  heartbeat_seconds: 40,
  presence_tracking: true,
  queued: [{ data_type: "quote", key: "AAPL", job_id: "12", created: true }],
  fresh: [{ data_type: "profile", key: "AAPL", fresh_at: "2026-11-22T11:00:00+00:00" }],
  skipped: { cooldown: [], quota_exceeded: [{ data_type: "ratios-ttm", key: "AAPL" }] },
  errors: [{ data_type: "x", error: "internal detail" }],
};

Deno.test("presence rules - the database answer becomes a camelCase body without internals", () => {
  assert.ok(!isRateLimited(tracked));
  const body = toTrackResponse(tracked as Exclude<TrackResult, { rate_limited: true }>);
  assert.deepEqual(body, {
    action: "track",
    clientId: "default",
    symbols: ["AAPL"],
    dataTypes: ["profile", "quote"],
    expiresAt: "2026-11-22T12:00:00+00:00",
    heartbeatSeconds: 40,
    presenceTracking: true,
    queued: [{ dataType: "quote", key: "AAPL", jobId: 12, created: true }],
    fresh: [{ dataType: "profile", key: "AAPL", freshAt: "2026-11-22T11:00:00+00:00" }],
    skipped: { cooldown: [], quotaExceeded: [{ dataType: "ratios-ttm", key: "AAPL" }] },
  });
});

Deno.test("presence rules - the processor is woken only when a job was created", () => {
  assert.equal(shouldWakeProcessor(tracked), true);
  const existing = {
    ...tracked,
    queued: [{ data_type: "quote", key: "AAPL", job_id: 12, created: false }],
  } as TrackResult;
  assert.equal(shouldWakeProcessor(existing), false);
  assert.equal(
    shouldWakeProcessor({ action: "untrack", client_id: "d", symbols: ["A"], untracked: 1 }),
    false,
  );
  assert.equal(
    shouldWakeProcessor({ rate_limited: true, retry_after_seconds: 5, limit_per_minute: 60 }),
    false,
  );
});

Deno.test("presence rules - Retry-After is whole seconds between 1 and 60", () => {
  assert.equal(retryAfterSeconds(12.2), 13);
  assert.equal(retryAfterSeconds(0), 1);
  assert.equal(retryAfterSeconds(500), 60);
  assert.equal(retryAfterSeconds("nonsense"), 60);
});
