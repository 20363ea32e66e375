// Helpers for tests that drive queue-processor-v2 through the gateway and the FMP fixture.
import assert from "node:assert/strict";
import { type connectDb, stack } from "./_stack.ts";

export type Sql = ReturnType<typeof connectDb>;

export const processorUrl = `${stack.functionsUrl}/queue-processor-v2`;

/** Calls the fixture's control API (faults, reset, stats). */
export async function control(path: string, body?: unknown, method = "POST") {
  const res = await fetch(`${stack.fixtureUrl}/__control/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `fixture control ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** POSTs to queue-processor-v2 with the processor secret (or another credential). */
export async function invoke(body: unknown, auth = stack.processorSecret) {
  const res = await fetch(processorUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${auth}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Polls `probe` until it returns a value, or fails after `ms`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Empties the queue and resets provider, circuit, leases and the fixture. */
export async function resetState(sql: Sql) {
  await control("reset");
  await sql`delete from private.api_call_queue_v2`;
  await sql`delete from private.refresh_state`;
  await sql`update private.providers set state = 'ok', state_until = null, state_reason = null`;
  await sql`update private.circuit_breaker set state = 'closed', consecutive_failed_runs = 0`;
  await sql`delete from private.processor_leases`;
}

/** Queues one job at priority 50 and returns its id. */
export async function enqueue(sql: Sql, dataType: string, key: string | null) {
  const [row] = await sql<{ job_id: string }[]>`
    select job_id from public.queue_refresh_if_not_exists_v2(${dataType}, ${key}, '{}'::jsonb, 50)`;
  assert.ok(row.job_id, `queued ${dataType} ${key}`);
  return Number(row.job_id);
}

export async function jobState(sql: Sql, id: number) {
  const [row] = await sql<{ status: string; error_class: string | null; outcome: string | null }[]>`
    select status, error_class, outcome from private.api_call_queue_v2 where id = ${id}`;
  return row;
}

/** Wakes the processor until the job reaches one of the `settled` statuses. */
export async function runUntilSettled(sql: Sql, id: number, settled: string[]) {
  return await waitFor(`job ${id} to settle`, async () => {
    const started = await invoke({ trigger: "wake" });
    assert.equal(started.status, 202);
    const state = await jobState(sql, id);
    return settled.includes(state.status) ? state : undefined;
  });
}
