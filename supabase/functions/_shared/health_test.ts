import assert from "node:assert/strict";
import {
  type HealthReport,
  healthStatus,
  httpStatusForHealth,
  parseHealthFormat,
  parseRunId,
  requestManualSync,
} from "./health.ts";
import { sampleReport } from "./health_sample.ts";

function report(overrides: Partial<HealthReport> = {}): HealthReport {
  return sampleReport(overrides);
}

Deno.test("health - a reachable database with healthy jobs is ok", () => {
  assert.equal(healthStatus(report()), "ok");
  assert.equal(httpStatusForHealth("ok"), 200);
});

Deno.test("health - a failing or late cron job degrades but still answers 200", () => {
  assert.equal(healthStatus(report({ cron_failing: 1 })), "degraded");
  assert.equal(healthStatus(report({ cron_late: 2 })), "degraded");
  assert.equal(httpStatusForHealth("degraded"), 200);
});

Deno.test("health - an active alert degrades", () => {
  const alert = {
    id: 1,
    rule: "circuit_open",
    subject: "fmp",
    severity: "critical" as const,
    raised_at: "2026-11-22T12:00:00Z",
    detail: {},
  };
  const alerts = { persisted: true, active: [alert], recently_cleared: [] };
  assert.equal(healthStatus(report({ alerts })), "degraded");
  assert.equal(healthStatus(report({ alerts: { ...alerts, active: [] } })), "ok");
});

Deno.test("health - an unreachable database is down and answers 503", () => {
  assert.equal(healthStatus(report({ database: { reachable: false } })), "down");
  assert.equal(httpStatusForHealth("down"), 503);
});

Deno.test("health - format defaults to json and rejects unknown values", () => {
  assert.equal(parseHealthFormat(null), "json");
  assert.equal(parseHealthFormat(""), "json");
  assert.equal(parseHealthFormat("json"), "json");
  assert.equal(parseHealthFormat("prometheus"), "prometheus");
  assert.equal(parseHealthFormat("html"), "html");
  assert.equal(parseHealthFormat("HTML"), null);
  assert.equal(parseHealthFormat("xml"), null);
});

Deno.test("health - run ids are positive safe integers only", () => {
  assert.equal(parseRunId("1"), 1);
  assert.equal(parseRunId("9007199254740991"), 9007199254740991);
  for (const bad of [null, "", "0", "-1", "1.5", "01", "1e3", "abc", "9007199254740993", " 1"]) {
    assert.equal(parseRunId(bad), null, `rejects ${bad}`);
  }
});

Deno.test("health - a manual sync posts {trigger: manual} with the processor secret", async () => {
  const seen: { url: string; init: RequestInit }[] = [];
  const fake = ((url: string, init: RequestInit) => {
    seen.push({ url, init });
    return Promise.resolve(
      Response.json({ accepted: true, run_id: 42, queued: 0 }, { status: 202 }),
    );
  }) as unknown as typeof fetch;
  const result = await requestManualSync(
    { functionsUrl: "http://fn/functions/v1", processorSecret: "processor-secret-123" },
    fake,
  );
  assert.deepEqual(result, { ok: true, accepted: true, run_id: 42, reason: null });
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, "http://fn/functions/v1/queue-processor-v2");
  assert.equal(seen[0].init.method, "POST");
  assert.equal(
    new Headers(seen[0].init.headers).get("authorization"),
    "Bearer processor-secret-123",
  );
  assert.deepEqual(JSON.parse(String(seen[0].init.body)), { trigger: "manual" });
});

Deno.test("health - a declined manual sync passes the reason on", async () => {
  const fake = (() =>
    Promise.resolve(
      Response.json({ accepted: false, queued: 0, reason: "maximum concurrent runs reached" }, {
        status: 202,
      }),
    )) as unknown as typeof fetch;
  const result = await requestManualSync({ functionsUrl: "http://fn", processorSecret: "s" }, fake);
  assert.deepEqual(result, {
    ok: true,
    accepted: false,
    run_id: null,
    reason: "maximum concurrent runs reached",
  });
});

Deno.test("health - a processor error or outage is a 502 without details", async () => {
  const failing = (() =>
    Promise.resolve(
      Response.json({ error: "unauthorized" }, { status: 401 }),
    )) as unknown as typeof fetch;
  assert.deepEqual(
    await requestManualSync({ functionsUrl: "http://fn", processorSecret: "s" }, failing),
    { ok: false, status: 502, error: "the processor answered 401" },
  );
  const down =
    (() => Promise.reject(new TypeError("connection refused"))) as unknown as typeof fetch;
  const result = await requestManualSync({ functionsUrl: "http://fn", processorSecret: "s" }, down);
  assert.deepEqual(result, { ok: false, status: 502, error: "the processor could not be reached" });
});
