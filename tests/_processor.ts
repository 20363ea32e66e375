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

/** The gateway's base URL (without /functions/v1): `/_gateway/functions` lists function pids. */
export const gatewayUrl = stack.functionsUrl.replace(/\/functions\/v1$/, "");

/** The pid of a function's process as the gateway lists it, or null while it has none. */
export async function functionPid(name = "queue-processor-v2"): Promise<number | null> {
  const res = await fetch(`${gatewayUrl}/_gateway/functions`);
  const { functions } = await res.json();
  const slot = functions.find((f: { name: string }) => f.name === name);
  return slot?.pid ?? null;
}

/** kill -9 of a function's process; resolves once the gateway no longer lists that pid. */
export async function killFunction(name = "queue-processor-v2"): Promise<number> {
  const pid = await functionPid(name);
  assert.ok(pid, `${name} has a process`);
  Deno.kill(pid, "SIGKILL");
  await waitFor(`the gateway to see ${name} (pid ${pid}) gone`, async () => {
    return (await functionPid(name)) !== pid ? true : undefined;
  });
  return pid;
}

/**
 * Lets time pass for runs that died: the leases of their jobs whose key is LIKE `keyLike`, and
 * every processor lease, expire now (as they would after KEEPFRESH_PROCESSOR_LEASE_SECONDS and
 * the run's budget), so recover_stuck_jobs_v2 and new runs can take over. Returns the jobs whose
 * lease it expired.
 */
export async function expireDeadRuns(sql: Sql, keyLike: string): Promise<number> {
  const expired = await sql`
    update private.api_call_queue_v2_processing
    set lease_expires_at = now() - interval '1 second'
    where key like ${keyLike} and lease_expires_at > now() - interval '1 second'
    returning id`;
  await sql`
    update private.processor_leases
    set acquired_at = least(acquired_at, now() - interval '2 minutes'),
        expires_at = now() - interval '1 second'`;
  return expired.length;
}
