// Fetchers against the FMP fixture upstream, started in-process on a free port: every data type
// for a known and an unknown symbol, and every fault class through the fixture's control API.
import assert from "node:assert/strict";
import { type Fixture, startFixture } from "../../../../scripts/fixture/fmp.ts";
import {
  type FetchContext,
  type FetchOutcome,
  fetchQuotesBatch,
  handlerFor,
  knownDataTypes,
  type QueueJob,
} from "./datatypes.ts";
import { targetTables } from "./tables.ts";

const apiKey = "test-key";

/** Each type's target table and the upstream calls one job makes. */
const expected: Record<string, { table: string; calls: number; timestamped: boolean }> = {
  "quote": { table: targetTables.quote.name, calls: 1, timestamped: true },
  "profile": { table: targetTables.profile.name, calls: 1, timestamped: false },
  "financial-statements": {
    table: targetTables.financialStatement.name,
    calls: 3,
    timestamped: true,
  },
  "ratios-ttm": { table: targetTables.ratiosTtm.name, calls: 1, timestamped: false },
  "dividend-history": { table: targetTables.dividend.name, calls: 1, timestamped: false },
  "shares-float": { table: targetTables.sharesFloat.name, calls: 1, timestamped: true },
  "revenue-segmentation": {
    table: targetTables.revenueSegmentation.name,
    calls: 2,
    timestamped: false,
  },
  "grades-historical": { table: targetTables.gradesHistorical.name, calls: 1, timestamped: false },
  "exchange-variants": { table: targetTables.exchangeVariant.name, calls: 1, timestamped: false },
  "available-exchanges": {
    table: targetTables.availableExchange.name,
    calls: 1,
    timestamped: false,
  },
  "exchange-market-status": {
    table: targetTables.exchangeMarketStatus.name,
    calls: 1,
    timestamped: false,
  },
};

const keyless = new Set(["available-exchanges", "exchange-market-status"]);

function job(dataType: string, key: string | null, params: Record<string, unknown> = {}): QueueJob {
  return { id: 1, data_type: dataType, key, params, attempts: 0, lease_token: "lease" };
}

function keyFor(dataType: string, symbol: string): string | null {
  return keyless.has(dataType) ? null : symbol;
}

async function withFixture(
  work: (fixture: Fixture, ctx: FetchContext) => Promise<void>,
  ctxOverrides: Partial<FetchContext> = {},
) {
  const fixture = await startFixture({ port: 0 });
  try {
    const ctx: FetchContext = {
      baseUrl: fixture.url,
      apiKey,
      timeoutMs: 5_000,
      maxBytes: 5 * 1024 * 1024,
      ...ctxOverrides,
    };
    await work(fixture, ctx);
  } finally {
    await fixture.close();
  }
}

async function control(fixture: Fixture, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${fixture.url}/__control/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `control ${path}: ${text}`);
}

async function upstreamRequests(fixture: Fixture): Promise<number> {
  const response = await fetch(`${fixture.url}/__control/stats`);
  const stats = await response.json() as { requests: number };
  return stats.requests;
}

function assertError(outcome: FetchOutcome, errorClass: string, pattern?: RegExp) {
  assert.equal(outcome.kind, "error", `expected ${errorClass}, got ${JSON.stringify(outcome)}`);
  if (outcome.kind !== "error") return;
  assert.equal(outcome.errorClass, errorClass, outcome.message);
  if (pattern) assert.match(outcome.message, pattern);
  assert.ok(!outcome.message.includes(apiKey), "the API key never appears in a message");
}

Deno.test("datatypes - every type fetches rows for a known symbol into its own table", async () => {
  await withFixture(async (fixture, ctx) => {
    for (const dataType of knownDataTypes) {
      const before = await upstreamRequests(fixture);
      const outcome = await handlerFor(dataType).fetch(
        job(dataType, keyFor(dataType, "AAPL")),
        ctx,
      );
      const want = expected[dataType];
      assert.equal(outcome.kind, "data", `${dataType}: ${JSON.stringify(outcome).slice(0, 300)}`);
      if (outcome.kind !== "data") continue;
      assert.deepEqual(Object.keys(outcome.rows), [want.table], dataType);
      assert.ok(outcome.rows[want.table].length > 0, dataType);
      assert.equal(outcome.calls, want.calls, `${dataType} calls`);
      assert.equal(await upstreamRequests(fixture) - before, want.calls, `${dataType} requests`);
      assert.ok(outcome.bytes > 0, `${dataType} bytes`);
      assert.equal(outcome.sourceTimestamp instanceof Date, want.timestamped, dataType);
      const columns = [...targetTables[tableKey(want.table)].columns].sort();
      for (const row of outcome.rows[want.table]) {
        assert.deepEqual(Object.keys(row).sort(), columns, `${dataType} row columns`);
      }
    }
  });
});

function tableKey(name: string): keyof typeof targetTables {
  const entry = Object.entries(targetTables).find(([, spec]) => spec.name === name);
  if (!entry) throw new Error(`no table ${name}`);
  return entry[0] as keyof typeof targetTables;
}

Deno.test("datatypes - the byte count equals what the upstream sent", async () => {
  await withFixture(async (fixture, ctx) => {
    await fetch(`${fixture.url}/__control/stats`, { method: "DELETE" }).then((r) =>
      r.body?.cancel()
    );
    const outcome = await handlerFor("financial-statements").fetch(
      job("financial-statements", "MSFT"),
      ctx,
    );
    const stats = await (await fetch(`${fixture.url}/__control/stats`)).json() as {
      bytes: number;
    };
    assert.equal(outcome.kind, "data");
    assert.equal(outcome.bytes, stats.bytes);
  });
});

Deno.test("datatypes - financial statements carry all three statements", async () => {
  await withFixture(async (_fixture, ctx) => {
    const outcome = await handlerFor("financial-statements").fetch(
      job("financial-statements", "AAPL", { period: "quarter", limit: 4 }),
      ctx,
    );
    assert.equal(outcome.kind, "data");
    if (outcome.kind !== "data") return;
    const rows = outcome.rows[targetTables.financialStatement.name];
    const kinds = new Set(rows.map((row) => row.statement));
    assert.deepEqual([...kinds].sort(), ["balance", "cash_flow", "income"]);
    assert.equal(rows.length, 12, "limit 4 per statement");
    assert.ok(rows.every((row) => /^Q[1-4]$/.test(String(row.period))), "quarterly periods");
    assert.ok(rows.every((row) => typeof row.fiscal_year === "number"), "fiscalYear as integer");
  });
});

Deno.test("datatypes - unknown symbol: FMP answers [] and the outcome is empty", async () => {
  await withFixture(async (_fixture, ctx) => {
    for (const dataType of knownDataTypes.filter((type) => !keyless.has(type))) {
      const outcome = await handlerFor(dataType).fetch(job(dataType, "ZZUNKNOWN"), ctx);
      assert.equal(outcome.kind, "empty", `${dataType}: ${JSON.stringify(outcome)}`);
      assert.equal(outcome.calls, expected[dataType].calls, dataType);
      assert.ok(outcome.bytes > 0, `${dataType}: "[]" is two bytes per call`);
    }
  });
});

Deno.test("datatypes - fixture drift arrives normalised (grade casing, blank dates, variants)", async () => {
  await withFixture(async (_fixture, ctx) => {
    // MSFT's grades come with analystRatingsbuy in the fixture.
    const grades = await handlerFor("grades-historical").fetch(
      job("grades-historical", "MSFT"),
      ctx,
    );
    assert.equal(grades.kind, "data");
    if (grades.kind !== "data") return;
    const gradeRows = grades.rows[targetTables.gradesHistorical.name];
    assert.ok(gradeRows.every((row) => typeof row.analyst_ratings_buy === "number"));
    // KO's oldest dividends have "" dates.
    const dividends = await handlerFor("dividend-history").fetch(
      job("dividend-history", "KO"),
      ctx,
    );
    assert.equal(dividends.kind, "data");
    if (dividends.kind !== "data") return;
    const dividendRows = dividends.rows[targetTables.dividend.name];
    assert.ok(dividendRows.some((row) => row.record_date === null), "blank dates become null");
    assert.ok(dividendRows.every((row) => typeof row.date === "string"), "ex-dates kept");
    // Exchange variants come with legacy names; exchange is the short code.
    const variants = await handlerFor("exchange-variants").fetch(
      job("exchange-variants", "AAPL"),
      ctx,
    );
    assert.equal(variants.kind, "data");
    if (variants.kind !== "data") return;
    const variantRows = variants.rows[targetTables.exchangeVariant.name];
    assert.ok(variantRows.length > 1);
    for (const row of variantRows) {
      assert.equal(row.symbol, "AAPL");
      assert.ok(typeof row.market_cap === "number" && row.market_cap > 0);
      assert.match(String(row.exchange), /^[A-Z]+$/);
    }
  });
});

/** One fault rule on `endpoint`, then the outcome of a job of `dataType` for AAPL. */
async function withFault(
  rule: Record<string, unknown>,
  dataType: string,
  check: (outcome: FetchOutcome) => void,
  ctxOverrides: Partial<FetchContext> = {},
) {
  await withFixture(async (fixture, ctx) => {
    await control(fixture, "faults", rule);
    check(await handlerFor(dataType).fetch(job(dataType, keyFor(dataType, "AAPL")), ctx));
  }, ctxOverrides);
}

Deno.test("datatypes - 429 and a Limit Reach body on 200 are rate_limited", async () => {
  await withFault({ fault: "429", endpoint: "quote" }, "quote", (outcome) => {
    assertError(outcome, "rate_limited", /quote/);
    assert.equal(outcome.calls, 1);
  });
  await withFault({ fault: "limit200", endpoint: "profile" }, "profile", (outcome) => {
    assertError(outcome, "rate_limited", /Limit Reach/);
  });
});

Deno.test("datatypes - Bandwidth Limit Reach is bandwidth", async () => {
  await withFault({ fault: "bandwidth", endpoint: "dividends" }, "dividend-history", (outcome) => {
    assertError(outcome, "bandwidth");
  });
});

Deno.test("datatypes - 401 and a rejected key are invalid_key, without leaking the key", async () => {
  await withFault({ fault: "401", endpoint: "quote" }, "quote", (outcome) => {
    assertError(outcome, "invalid_key");
  });
  await withFixture(async (fixture, ctx) => {
    await control(fixture, "keys", { invalid: [apiKey] });
    assertError(await handlerFor("quote").fetch(job("quote", "AAPL"), ctx), "invalid_key");
  });
});

Deno.test("datatypes - 402 and 403 are permanent", async () => {
  await withFault({ fault: "402", endpoint: "ratios-ttm" }, "ratios-ttm", (outcome) => {
    assertError(outcome, "permanent", /premium/i);
  });
  await withFault({ fault: "403", endpoint: "shares-float" }, "shares-float", (outcome) => {
    assertError(outcome, "permanent", /special endpoint/i);
  });
});

Deno.test("datatypes - 500, 502 and 503 are transient", async () => {
  for (const fault of ["500", "502", "503"]) {
    await withFault({ fault, endpoint: "grades-historical" }, "grades-historical", (outcome) => {
      assertError(outcome, "transient", new RegExp(`HTTP ${fault}`));
    });
  }
});

Deno.test("datatypes - an upstream that does not answer in time is transient", async () => {
  await withFault(
    { fault: "timeout", endpoint: "profile", hold_ms: 10_000 },
    "profile",
    (outcome) => {
      assertError(outcome, "transient", /timeout after 300 ms/);
      assert.equal(outcome.calls, 1);
    },
    { timeoutMs: 300 },
  );
});

Deno.test("datatypes - malformed JSON is permanent", async () => {
  await withFault({ fault: "malformed", endpoint: "quote" }, "quote", (outcome) => {
    assertError(outcome, "permanent", /malformed JSON/);
    assert.ok(outcome.bytes > 0);
  });
});

Deno.test("datatypes - a body over the byte cap is aborted: permanent, oversized", async () => {
  await withFault(
    { fault: "oversized", endpoint: "grades-historical", size_mb: 2 },
    "grades-historical",
    (outcome) => {
      assertError(outcome, "permanent", /oversized body/);
      assert.ok(outcome.bytes > 100_000, `counted what was read: ${outcome.bytes}`);
      assert.ok(outcome.bytes < 2 * 1024 * 1024, "stopped reading well before the end");
    },
    { maxBytes: 100_000 },
  );
});

Deno.test("datatypes - an injected empty answer is empty, insane values are rejected", async () => {
  await withFault({ fault: "empty", endpoint: "profile" }, "profile", (outcome) => {
    assert.equal(outcome.kind, "empty");
  });
  for (
    const [endpoint, dataType] of [["quote", "quote"], ["income-statement", "financial-statements"]]
  ) {
    await withFault({ fault: "insane", endpoint }, dataType, (outcome) => {
      assertError(outcome, "permanent", /invalid .* response/);
    });
  }
});

Deno.test("datatypes - one failed call fails a multi-call job with the worst class", async () => {
  await withFixture(async (fixture, ctx) => {
    await control(fixture, "faults", [
      { fault: "500", endpoint: "cash-flow-statement" },
      { fault: "429", endpoint: "balance-sheet-statement" },
    ]);
    const outcome = await handlerFor("financial-statements").fetch(
      job("financial-statements", "AAPL"),
      ctx,
    );
    assertError(outcome, "rate_limited", /balance-sheet-statement: rate limit/);
    assert.match(outcome.kind === "error" ? outcome.message : "", /cash-flow-statement: HTTP 500/);
    assert.equal(outcome.calls, 3, "all three calls were made");
  });
  await withFixture(async (fixture, ctx) => {
    await control(fixture, "faults", [
      { fault: "403", endpoint: "revenue-product-segmentation" },
      { fault: "503", endpoint: "revenue-geographic-segmentation" },
    ]);
    const outcome = await handlerFor("revenue-segmentation").fetch(
      job("revenue-segmentation", "AAPL"),
      ctx,
    );
    assertError(outcome, "transient");
    assert.equal(outcome.calls, 2);
  });
  await withFixture(async (fixture, ctx) => {
    await control(fixture, "faults", { fault: "insane", endpoint: "income-statement" });
    const outcome = await handlerFor("financial-statements").fetch(
      job("financial-statements", "AAPL"),
      ctx,
    );
    assertError(outcome, "permanent", /income-statement/);
  });
});

Deno.test("datatypes - bad keys and params fail permanently without calling upstream", async () => {
  await withFixture(async (fixture, ctx) => {
    const cases: Array<[string, string | null, Record<string, unknown>]> = [
      ["quote", null, {}],
      ["quote", "aapl lower", {}],
      ["financial-statements", "AAPL", { period: "weekly" }],
      ["financial-statements", "AAPL", { limit: 5000 }],
      ["dividend-history", "AAPL", { period: "annual" }],
      ["available-exchanges", "AAPL", {}],
    ];
    for (const [dataType, key, params] of cases) {
      const outcome = await handlerFor(dataType).fetch(job(dataType, key, params), ctx);
      assertError(outcome, "permanent");
      assert.equal(outcome.calls, 0, `${dataType} ${key} ${JSON.stringify(params)}`);
    }
    assert.equal(await upstreamRequests(fixture), 0);
  });
});

Deno.test("datatypes - an unknown data type has no handler", () => {
  assert.throws(() => handlerFor("crypto-prices"), /no fetcher for data type "crypto-prices"/);
});

Deno.test("datatypes - an unreachable upstream is transient", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const ctx: FetchContext = {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey,
    timeoutMs: 2_000,
    maxBytes: 1_000_000,
  };
  const outcome = await handlerFor("quote").fetch(job("quote", "AAPL"), ctx);
  assertError(outcome, "transient", /network error/);
});

Deno.test("datatypes - batch quotes: one call, known symbols only", async () => {
  await withFixture(async (fixture, ctx) => {
    const outcome = await fetchQuotesBatch(["AAPL", "MSFT", "ZZNONE"], ctx);
    assert.equal(outcome.kind, "data");
    if (outcome.kind !== "data") return;
    assert.equal(outcome.calls, 1);
    assert.equal(await upstreamRequests(fixture), 1);
    const symbols = outcome.rows[targetTables.quote.name].map((row) => row.symbol).sort();
    assert.deepEqual(symbols, ["AAPL", "MSFT"]);
    assert.equal((await fetchQuotesBatch(["ZZNONE"], ctx)).kind, "empty");
    assertError(await fetchQuotesBatch([], ctx), "permanent");
    assertError(await fetchQuotesBatch(["bad symbol"], ctx), "permanent");
  });
});
