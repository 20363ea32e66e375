// queue-processor-v2 end to end: pg queue → gateway → function process → FMP fixture → target
// tables, for every data type, and each upstream fault class ending in the right state.
import assert from "node:assert/strict";
import { connectDb, stack } from "./_stack.ts";
import {
  control,
  enqueue,
  invoke,
  jobState,
  resetState,
  runUntilSettled,
  waitFor,
} from "./_processor.ts";

const types: Array<[string, string | null, string]> = [
  ["quote", "AAPL", "public.fmp_quote"],
  ["profile", "AAPL", "public.fmp_profile"],
  ["financial-statements", "AAPL", "public.fmp_financial_statement"],
  ["ratios-ttm", "AAPL", "public.fmp_ratios_ttm"],
  ["dividend-history", "AAPL", "public.fmp_dividend"],
  ["shares-float", "AAPL", "public.fmp_shares_float"],
  ["revenue-segmentation", "AAPL", "public.fmp_revenue_segmentation"],
  ["grades-historical", "AAPL", "public.fmp_grades_historical"],
  ["exchange-variants", "AAPL", "public.fmp_exchange_variant"],
  ["available-exchanges", null, "public.fmp_available_exchange"],
  ["exchange-market-status", null, "public.fmp_exchange_market_status"],
];

Deno.test("queue-processor-v2 - refuses callers without the processor secret or service role", async () => {
  for (const auth of ["", "wrong-secret", stack.anonKey]) {
    const res = await invoke({ trigger: "wake" }, auth);
    assert.equal(res.status, 401, `auth ${auth.slice(0, 8)}`);
  }
  const service = await invoke({ trigger: "wake" }, stack.serviceRoleKey);
  assert.equal(service.status, 202);
});

Deno.test("queue-processor-v2 - a bad body is 400 with the validation issues", async () => {
  const res = await invoke({ trigger: "manual", symbols: ["AAPL; drop table x"] });
  assert.equal(res.status, 400);
  assert.ok(Array.isArray(res.body.issues) && res.body.issues.length > 0);
});

Deno.test("queue-processor-v2 - every data type is fetched and written end to end", async () => {
  const sql = connectDb();
  try {
    await resetState(sql);
    for (const [dataType, key, table] of types) {
      const [schema, name] = table.split(".");
      await sql`delete from ${sql(schema)}.${sql(name)}`;
      const id = await enqueue(sql, dataType, key);
      const state = await runUntilSettled(sql, id, ["completed", "failed"]);
      assert.equal(state.status, "completed", `${dataType}: ${JSON.stringify(state)}`);
      const [{ count }] = await sql<{ count: string }[]>`
        select count(*) from ${sql(schema)}.${sql(name)}`;
      assert.ok(Number(count) > 0, `${dataType} wrote rows to ${table}`);
    }
  } finally {
    await sql.end();
  }
});

Deno.test("queue-processor-v2 - manual selective sync queues and processes what it names", async () => {
  const sql = connectDb();
  try {
    await resetState(sql);
    await sql`delete from public.fmp_quote where symbol in ('MSFT', 'NVDA')`;
    const res = await invoke({
      trigger: "manual",
      symbols: ["msft", "nvda"],
      dataTypes: ["quote"],
    });
    assert.equal(res.status, 202);
    assert.equal(res.body.queued, 2);
    const runId = res.body.run_id;
    assert.ok(Number.isInteger(runId));
    const rows = await waitFor("manual quotes", async () => {
      const found = await sql`select symbol from public.fmp_quote where symbol in ('MSFT', 'NVDA')`;
      return found.length === 2 ? found : undefined;
    });
    assert.equal(rows.length, 2);
    const run = await waitFor("run finished", async () => {
      const [row] = await sql<{ run: { status: string; succeeded: number } }[]>`
        select public.get_sync_run_v2(${runId}) as run`;
      return row.run.status === "running" ? undefined : row.run;
    });
    assert.equal(run.status, "succeeded");
  } finally {
    await sql.end();
  }
});

type FaultCase = {
  fault: string;
  jobStatus: string;
  errorClass: string;
  providerState?: string;
};

const faults: FaultCase[] = [
  { fault: "429", jobStatus: "pending", errorClass: "rate_limited", providerState: "rate_limited" },
  {
    fault: "limit200",
    jobStatus: "pending",
    errorClass: "rate_limited",
    providerState: "rate_limited",
  },
  {
    fault: "bandwidth",
    jobStatus: "pending",
    errorClass: "bandwidth",
    providerState: "bandwidth_exhausted",
  },
  { fault: "401", jobStatus: "pending", errorClass: "invalid_key", providerState: "invalid_key" },
  { fault: "403", jobStatus: "failed", errorClass: "permanent" },
  { fault: "500", jobStatus: "pending", errorClass: "transient" },
  { fault: "timeout", jobStatus: "pending", errorClass: "transient" },
  { fault: "malformed", jobStatus: "failed", errorClass: "permanent" },
  { fault: "oversized", jobStatus: "failed", errorClass: "permanent" },
  { fault: "insane", jobStatus: "failed", errorClass: "permanent" },
];

for (const testCase of faults) {
  Deno.test(`queue-processor-v2 - upstream ${testCase.fault} ends as ${testCase.jobStatus}/${testCase.errorClass} and keeps stored data`, async () => {
    const sql = connectDb();
    try {
      await resetState(sql);
      // Stored data first, from a clean fetch.
      await sql`delete from public.fmp_quote where symbol = 'IBM'`;
      const first = await enqueue(sql, "quote", "IBM");
      await runUntilSettled(sql, first, ["completed"]);
      const [before] = await sql`select * from public.fmp_quote where symbol = 'IBM'`;
      assert.ok(before, "stored quote exists");

      await sql`update private.refresh_state set next_eligible_at = now() - interval '1 second'`;
      // The test stack's upstream timeout is 2 s (scripts/test): hold longer than that.
      const extra = testCase.fault === "timeout"
        ? { hold_ms: 4_000 }
        : testCase.fault === "oversized"
        ? { size_mb: 12 }
        : {};
      await control("faults", { rules: [{ fault: testCase.fault, count: 1000, ...extra }] });
      const id = await enqueue(sql, "quote", "IBM");
      const state = await waitFor(`job after ${testCase.fault}`, async () => {
        await invoke({ trigger: "wake" });
        const row = await jobState(sql, id);
        return row.error_class !== null || row.status === "failed" ? row : undefined;
      });
      assert.equal(state.status, testCase.jobStatus);
      assert.equal(state.error_class, testCase.errorClass);
      if (testCase.providerState) {
        const [provider] = await sql`select state from private.providers where provider = 'fmp'`;
        assert.equal(provider.state, testCase.providerState);
      }
      const [after] = await sql`select * from public.fmp_quote where symbol = 'IBM'`;
      assert.deepEqual(after, before, "stored data untouched");
    } finally {
      await control("faults", undefined, "DELETE").catch(() => {});
      await sql.end();
    }
  });
}
