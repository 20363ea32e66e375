// kill -9 of queue-processor-v2's process in the middle of a batch, several times: every job is
// still completed exactly once (one queue row, completed; one target row per symbol), none is
// lost, and the upstream fetch is at-least-once.
import assert from "node:assert/strict";
import { connectDb, stack } from "./_stack.ts";
import { control, invoke, resetState, waitFor } from "./_processor.ts";

const gatewayUrl = stack.functionsUrl.replace(/\/functions\/v1$/, "");
const symbols = Array.from({ length: 40 }, (_, i) => `KX${String(i).padStart(3, "0")}`);

async function processorPid(): Promise<number | null> {
  const res = await fetch(`${gatewayUrl}/_gateway/functions`);
  const { functions } = await res.json();
  const slot = functions.find((f: { name: string }) => f.name === "queue-processor-v2");
  return slot?.pid ?? null;
}

Deno.test("queue-processor-v2 - kill -9 mid-batch, three times: every job completes exactly once", async () => {
  const sql = connectDb();
  try {
    await resetState(sql);
    await sql`delete from public.fmp_quote where symbol like 'KX%'`;
    // Slow upstream, so each batch is still in flight when the process dies.
    await control("faults", { rules: [{ fault: "latency", endpoint: "quote", latency_ms: 400 }] });
    await sql`
      select public.queue_refresh_batch_v2(
        (select jsonb_agg(jsonb_build_object('data_type', 'quote', 'key', s))
         from unnest(${symbols}::text[]) as s))`;

    let kills = 0;
    for (let round = 0; round < 3; round++) {
      assert.equal((await invoke({ trigger: "wake" })).status, 202);
      await waitFor("jobs in flight", async () => {
        const [{ n }] = await sql<{ n: number }[]>`
          select count(*)::int as n from private.api_call_queue_v2_processing where key like 'KX%'`;
        return n > 0 ? n : undefined;
      });
      const pid = await processorPid();
      assert.ok(pid, "the processor has a process");
      Deno.kill(pid, "SIGKILL");
      kills++;
      await waitFor("the gateway to see the process gone", async () => {
        const now = await processorPid();
        return now !== pid ? true : undefined;
      });
      // Time passes for the dead run: its job leases and its processor lease expire.
      await sql`
        update private.api_call_queue_v2_processing
        set lease_expires_at = now() - interval '1 second' where key like 'KX%'`;
      await sql`
        update private.processor_leases
        set acquired_at = now() - interval '2 minutes', expires_at = now() - interval '1 second'`;
      const [{ recovered }] = await sql<{ recovered: number }[]>`
        select public.recover_stuck_jobs_v2() as recovered`;
      assert.ok(recovered > 0, `round ${round}: the killed batch is rescued`);
    }

    await control("faults", undefined, "DELETE");
    await waitFor("every job to complete", async () => {
      await invoke({ trigger: "wake" });
      const [{ open }] = await sql<{ open: number }[]>`
        select count(*)::int as open from private.api_call_queue_v2
        where key like 'KX%' and status <> 'completed'`;
      return open === 0 ? true : undefined;
    }, 60_000);

    const jobs = await sql<{ key: string; status: string; attempts: number }[]>`
      select key, status, attempts from private.api_call_queue_v2 where key like 'KX%'`;
    assert.equal(jobs.length, symbols.length, "one queue row per symbol: nothing duplicated");
    assert.deepEqual(new Set(jobs.map((j) => j.key)), new Set(symbols), "no job lost");
    assert.ok(jobs.every((j) => j.status === "completed"), "every job completed");
    assert.ok(jobs.some((j) => j.attempts > 1), "killed jobs were claimed again");

    const [{ rows, distinct }] = await sql<{ rows: number; distinct: number }[]>`
      select count(*)::int as rows, count(distinct symbol)::int as distinct
      from public.fmp_quote where symbol like 'KX%'`;
    assert.equal(rows, symbols.length, "one target row per symbol");
    assert.equal(distinct, symbols.length);

    const stats = await control("stats", undefined, "GET");
    const fetched = symbols.filter((s) => (stats.by_symbol[s]?.requests ?? 0) >= 1);
    assert.equal(fetched.length, symbols.length, "every symbol was fetched at least once");
    const refetched = symbols.filter((s) => stats.by_symbol[s].requests > 1);
    assert.ok(refetched.length > 0, "killed jobs were fetched again (at-least-once upstream)");
    assert.equal(kills, 3);
  } finally {
    await control("faults", undefined, "DELETE").catch(() => {});
    await sql.end();
  }
});
