import assert from "node:assert/strict";
import {
  emptyStats,
  mayClaimMore,
  nextBatchSize,
  processorRequestSchema,
  runStatus,
  stopsRun,
} from "./processor_rules.ts";

Deno.test("processor rules - a run is judged by what ended", () => {
  assert.equal(runStatus(emptyStats(), false), "succeeded");
  assert.equal(runStatus({ ...emptyStats(), claimed: 3, succeeded: 3 }, false), "succeeded");
  assert.equal(runStatus({ ...emptyStats(), claimed: 3, failed: 3 }, false), "failed");
  assert.equal(
    runStatus({ ...emptyStats(), claimed: 3, succeeded: 1, failed: 2 }, false),
    "partial",
  );
  assert.equal(runStatus({ ...emptyStats(), claimed: 2, retried: 2 }, false), "failed");
  assert.equal(
    runStatus({ ...emptyStats(), claimed: 2, retried: 2 }, false, "rate_limited"),
    "partial",
  );
  assert.equal(
    runStatus({ ...emptyStats(), claimed: 2, retried: 2 }, false, "invalid_key"),
    "failed",
  );
  assert.equal(runStatus({ ...emptyStats(), claimed: 3, succeeded: 3 }, true), "failed");
});

Deno.test("processor rules - the budget stops claims by time and by job cap", () => {
  const budget = { deadline: 10_000, maxJobs: 100 };
  assert.equal(mayClaimMore(budget, 1_000, 0, 2_000), true);
  assert.equal(mayClaimMore(budget, 8_500, 0, 2_000), false);
  assert.equal(mayClaimMore(budget, 1_000, 100, 2_000), false);
  assert.equal(nextBatchSize(25, 100, 90), 10);
  assert.equal(nextBatchSize(25, 100, 120), 0);
});

Deno.test("processor rules - provider-wide errors stop the run, job errors do not", () => {
  assert.equal(stopsRun("rate_limited"), true);
  assert.equal(stopsRun("invalid_key"), true);
  assert.equal(stopsRun("bandwidth"), true);
  assert.equal(stopsRun("transient"), false);
  assert.equal(stopsRun("permanent"), false);
});

Deno.test("processor rules - request bodies are validated and normalised", () => {
  assert.deepEqual(processorRequestSchema.parse({}), { trigger: "cron" });
  const manual = processorRequestSchema.parse({
    trigger: "manual",
    symbols: ["aapl", "brk-b", "^gspc"],
    dataTypes: ["quote"],
  });
  assert.deepEqual(manual.symbols, ["AAPL", "BRK-B", "^GSPC"]);
  for (
    const bad of [
      { trigger: "sometimes" },
      { trigger: "manual", symbols: ["AAPL; drop table x"] },
      { trigger: "manual", symbols: Array.from({ length: 51 }, (_, i) => `S${i}`) },
      { trigger: "cron", symbols: ["AAPL"] },
      { trigger: "manual", dataTypes: ["Quote!"] },
      { trigger: "manual", extra: 1 },
    ]
  ) {
    assert.equal(processorRequestSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
