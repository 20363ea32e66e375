// Integration tests of write.ts against a real database with keepfresh's migrations applied
// (scripts/test sets SUPABASE_DB_URL; without it these tests are skipped). Each test works in
// a transaction it rolls back, except the one that checks what a rollback leaves behind.
import assert from "node:assert/strict";
import postgres from "postgres";
import { startFixture } from "../../../../scripts/fixture/fmp.ts";
import { type FetchOutcome, handlerFor, knownDataTypes, type QueueJob } from "./datatypes.ts";
import { tableSpec, targetTableNames, targetTables } from "./tables.ts";
import { rowsPerStatement, uniqueByKey, writeOutcome } from "./write.ts";

const databaseUrl = Deno.env.get("SUPABASE_DB_URL");
const ignore = !databaseUrl;

type Row = Record<string, unknown>;

class Rollback extends Error {}

/** Runs `work` in a transaction that is always rolled back. */
async function inRollback(work: (tx: postgres.TransactionSql) => Promise<void>) {
  const sql = postgres(databaseUrl!, { prepare: false, max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      await work(tx);
      throw new Rollback();
    });
  } catch (thrown) {
    if (!(thrown instanceof Rollback)) throw thrown;
  } finally {
    await sql.end();
  }
}

function job(dataType: string, key: string | null): QueueJob {
  return { id: 1, data_type: dataType, key, params: {}, attempts: 0, lease_token: "lease" };
}

function data(rows: Record<string, Row[]>): FetchOutcome {
  return { kind: "data", rows, sourceTimestamp: null, bytes: 100, calls: 1 };
}

function quoteRow(symbol: string, price: number, at: string | null): Row {
  return {
    symbol,
    name: "Test Corp",
    price,
    change: 0.5,
    change_percentage: 1.25,
    volume: 1000,
    day_low: price - 1,
    day_high: price + 1,
    year_low: 1,
    year_high: 500,
    market_cap: 123456789,
    price_avg_50: price,
    price_avg_200: price,
    exchange: "NASDAQ",
    open: price,
    previous_close: price,
    source_timestamp: at === null ? null : new Date(at),
  };
}

const quoteJob = job("quote", "KFWRITE");
const quotes = targetTables.quote.name;

async function storedQuote(tx: postgres.TransactionSql, symbol: string) {
  return await tx<{ price: string; source_timestamp: Date | null; n: number }[]>`
    select price::text as price, source_timestamp, count(*) over ()::integer as n
    from public.fmp_quote where symbol = ${symbol}`;
}

Deno.test({
  name: "write - the allow-list matches the migrated tables, column for column",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      for (const name of targetTableNames()) {
        const spec = tableSpec(name)!;
        const [schema, table] = name.split(".");
        const columns = await tx<{ column_name: string }[]>`
          select column_name from information_schema.columns
          where table_schema = ${schema} and table_name = ${table} and column_name <> 'fetched_at'
          order by column_name`;
        assert.deepEqual(
          columns.map((column) => column.column_name),
          [...spec.columns].sort(),
          `${name} columns`,
        );
        const keys = await tx<{ attname: string }[]>`
          select a.attname
          from pg_catalog.pg_index as i
          join pg_catalog.pg_attribute as a
              on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
          where i.indrelid = ${name}::regclass and i.indisprimary
          order by array_position(i.indkey::int2[], a.attnum)`;
        assert.deepEqual(keys.map((key) => key.attname), [...spec.primaryKey], `${name} key`);
      }
    });
  },
});

Deno.test({
  name: "write - writing the same payload twice leaves one row and reports not newer",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      const outcome = data({ [quotes]: [quoteRow("KFWRITE", 10, "2026-01-02T15:00:00Z")] });
      assert.deepEqual(await writeOutcome(tx, quoteJob, outcome), {
        written: 1,
        notNewer: false,
      });
      assert.deepEqual(await writeOutcome(tx, quoteJob, outcome), {
        written: 0,
        notNewer: true,
      });
      const rows = await storedQuote(tx, "KFWRITE");
      assert.equal(rows.length, 1);
      assert.equal(Number(rows[0].price), 10);
    });
  },
});

Deno.test({
  name: "write - an older payload never overwrites newer data; a newer one does",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      const write = (price: number, at: string) =>
        writeOutcome(tx, quoteJob, data({ [quotes]: [quoteRow("KFWRITE", price, at)] }));
      await write(10, "2026-01-02T15:00:00Z");
      assert.deepEqual(await write(5, "2026-01-02T14:00:00Z"), { written: 0, notNewer: true });
      let [row] = await storedQuote(tx, "KFWRITE");
      assert.equal(Number(row.price), 10, "the older price was not written");
      assert.deepEqual(row.source_timestamp, new Date("2026-01-02T15:00:00Z"));

      assert.deepEqual(await write(11, "2026-01-02T15:00:01Z"), { written: 1, notNewer: false });
      [row] = await storedQuote(tx, "KFWRITE");
      assert.equal(Number(row.price), 11, "the newer price replaced it");

      // Same upstream timestamp, different data: a correction, written.
      assert.deepEqual(await write(12, "2026-01-02T15:00:01Z"), { written: 1, notNewer: false });
      [row] = await storedQuote(tx, "KFWRITE");
      assert.equal(Number(row.price), 12);
    });
  },
});

Deno.test({
  name: "write - rows without a source timestamp are replaced when their data changes",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      const write = (price: number) =>
        writeOutcome(tx, quoteJob, data({ [quotes]: [quoteRow("KFWRITE", price, null)] }));
      assert.deepEqual(await write(10), { written: 1, notNewer: false });
      assert.deepEqual(await write(10), { written: 0, notNewer: true });
      assert.deepEqual(await write(20), { written: 1, notNewer: false });
      const [row] = await storedQuote(tx, "KFWRITE");
      assert.equal(Number(row.price), 20);
    });
  },
});

Deno.test({
  name: "write - a rolled back transaction leaves nothing behind",
  ignore,
  async fn() {
    const sql = postgres(databaseUrl!, { prepare: false, max: 1, onnotice: () => {} });
    try {
      await assert.rejects(
        sql.begin(async (tx) => {
          const written = await writeOutcome(
            tx,
            quoteJob,
            data({ [quotes]: [quoteRow("KFROLLBACK", 10, "2026-01-02T15:00:00Z")] }),
          );
          assert.equal(written.written, 1);
          throw new Error("completion failed: stale lease");
        }),
        /stale lease/,
      );
      const rows = await sql`select 1 from public.fmp_quote where symbol = 'KFROLLBACK'`;
      assert.equal(rows.length, 0);
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "write - list types upsert every row; duplicate keys in one payload are merged",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      const dividends = targetTables.dividend.name;
      const start = Date.UTC(1950, 0, 1);
      const rows: Row[] = Array.from({ length: rowsPerStatement * 2 + 37 }, (_, i) => ({
        symbol: "KFDIV",
        date: new Date(start + i * 86_400_000).toISOString().slice(0, 10),
        dividend: 0.25,
        adj_dividend: 0.25,
        frequency: "Quarterly",
        source_timestamp: null,
      }));
      const withDuplicate = [...rows, { ...rows[0], dividend: 9 }];
      const outcome = data({ [dividends]: withDuplicate });
      const dividendJob = job("dividend-history", "KFDIV");
      assert.deepEqual(await writeOutcome(tx, dividendJob, outcome), {
        written: rows.length,
        notNewer: false,
      });
      assert.deepEqual(await writeOutcome(tx, dividendJob, outcome), {
        written: 0,
        notNewer: true,
      });
      const [count] = await tx<{ n: number; first: string }[]>`
        select count(*)::integer as n, min(dividend)::text as first
        from public.fmp_dividend where symbol = 'KFDIV'`;
      assert.equal(count.n, rows.length);
      assert.equal(Number(count.first), 0.25, "the first occurrence of a key wins");
    });
  },
});

Deno.test({
  name: "write - jsonb data is stored as an object, dates and timestamps keep their values",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      const table = targetTables.financialStatement.name;
      const row: Row = {
        symbol: "KFSTMT",
        statement: "income",
        period: "FY",
        date: "2025-09-27",
        fiscal_year: 2025,
        filing_date: "2025-10-31",
        accepted_date: new Date("2025-10-31T06:01:36Z"),
        revenue: 416161000000,
        data: { revenue: 416161000000, eps: 7.46 },
        source_timestamp: new Date("2025-10-31T06:01:36Z"),
      };
      await writeOutcome(tx, job("financial-statements", "KFSTMT"), data({ [table]: [row] }));
      const [stored] = await tx<
        { kind: string; eps: string; date: string; accepted: Date; revenue: string }[]
      >`
        select jsonb_typeof(data) as kind, data ->> 'eps' as eps, date::text as date,
               accepted_date as accepted, revenue::text as revenue
        from public.fmp_financial_statement where symbol = 'KFSTMT'`;
      assert.deepEqual(stored, {
        kind: "object",
        eps: "7.46",
        date: "2025-09-27",
        accepted: new Date("2025-10-31T06:01:36Z"),
        revenue: "416161000000",
      });
    });
  },
});

Deno.test({
  name: "write - rows that do not fit an allow-listed table are refused",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      await assert.rejects(
        writeOutcome(tx, quoteJob, data({ "public.feature_flags": [{ name: "x" }] })),
        /not an FMP target table/,
      );
      await assert.rejects(
        writeOutcome(tx, quoteJob, data({ [quotes]: [{ ...quoteRow("KFW", 1, null), evil: 1 }] })),
        /has column evil/,
      );
      await assert.rejects(
        writeOutcome(tx, quoteJob, data({ [quotes]: [{ price: 1 }] })),
        /no value for key column symbol/,
      );
    });
  },
});

Deno.test({
  name: "write - empty and error outcomes write nothing",
  ignore,
  async fn() {
    await inRollback(async (tx) => {
      assert.deepEqual(
        await writeOutcome(tx, quoteJob, { kind: "empty", bytes: 2, calls: 1 }),
        { written: 0, notNewer: false },
      );
      assert.deepEqual(
        await writeOutcome(tx, quoteJob, {
          kind: "error",
          errorClass: "transient",
          message: "HTTP 503",
          bytes: 0,
          calls: 1,
        }),
        { written: 0, notNewer: false },
      );
    });
  },
});

Deno.test({
  name: "write - every data type fetched from the fixture is written, and again without change",
  ignore,
  async fn() {
    const fixture = await startFixture({ port: 0 });
    try {
      const ctx = { baseUrl: fixture.url, apiKey: "k", timeoutMs: 5_000, maxBytes: 5_000_000 };
      await inRollback(async (tx) => {
        for (const dataType of knownDataTypes) {
          const keyless = dataType === "available-exchanges" ||
            dataType === "exchange-market-status";
          const fetchJob = job(dataType, keyless ? null : "KO");
          const outcome = await handlerFor(dataType).fetch(fetchJob, ctx);
          assert.equal(outcome.kind, "data", dataType);
          if (outcome.kind !== "data") continue;
          const [table, rows] = Object.entries(outcome.rows)[0];
          // Start from nothing stored for this key (other tests may have written it).
          if (keyless) await tx`delete from ${tx(table)}`;
          else await tx`delete from ${tx(table)} where symbol = 'KO'`;
          const first = await writeOutcome(tx, fetchJob, outcome);
          assert.equal(first.notNewer, false, dataType);
          const unique = uniqueByKey(rows, tableSpec(table)!.primaryKey).length;
          assert.ok(first.written <= unique && first.written > 0, `${dataType} written`);
          assert.deepEqual(await writeOutcome(tx, fetchJob, outcome), {
            written: 0,
            notNewer: true,
          }, dataType);
        }
      });
    } finally {
      await fixture.close();
    }
  },
});
