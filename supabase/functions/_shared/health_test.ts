import assert from "node:assert/strict";
import { type HealthReport, healthStatus, httpStatusForHealth } from "./health.ts";

function report(overrides: Partial<HealthReport> = {}): HealthReport {
  return {
    database: { reachable: true },
    latest_migration: { version: "20261122150000", name: "create_health_report" },
    cron_jobs: [],
    cron_failing: 0,
    cron_late: 0,
    ...overrides,
  };
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

Deno.test("health - an unreachable database is down and answers 503", () => {
  assert.equal(healthStatus(report({ database: { reachable: false } })), "down");
  assert.equal(httpStatusForHealth("down"), 503);
});
