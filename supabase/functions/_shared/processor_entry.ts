// Starting a processor run: take a lease, open a sync run, queue a manual selection, and hand the
// loop back to run in the background. Settings come from the environment, read once in env.ts.
import type { Sql } from "./db.ts";
import { env } from "./env.ts";
import type { ProcessorRequest } from "./processor_rules.ts";
import {
  acquireLease,
  type ProcessorSettings,
  queueManual,
  runProcessor,
  startRun,
} from "./processor.ts";

/** Processor settings for this worker, from the validated environment. */
export function processorSettings(): ProcessorSettings {
  return {
    workerId: `qp-${crypto.randomUUID().slice(0, 8)}`,
    batchSize: env.KEEPFRESH_PROCESSOR_BATCH_SIZE,
    concurrency: env.KEEPFRESH_PROCESSOR_CONCURRENCY,
    leaseSeconds: env.KEEPFRESH_PROCESSOR_LEASE_SECONDS,
    maxJobsPerInvocation: env.KEEPFRESH_PROCESSOR_MAX_JOBS,
    budgetMs: env.KEEPFRESH_PROCESSOR_BUDGET_MS,
    maxConcurrentRuns: env.KEEPFRESH_PROCESSOR_MAX_RUNS,
    fetch: {
      baseUrl: env.FMP_BASE_URL,
      apiKey: env.FMP_API_KEY,
      timeoutMs: env.KEEPFRESH_UPSTREAM_TIMEOUT_MS,
      maxBytes: env.KEEPFRESH_UPSTREAM_MAX_BYTES,
    },
  };
}

/** Whether at least one provider with enabled data types has a closed circuit. */
async function anyCircuitClosed(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ allowed: boolean }[]>`
    select coalesce(bool_or(public.get_circuit_state_v2(p.provider) ->> 'state' = 'closed'), false)
      as allowed
    from (select distinct r.provider from public.data_type_registry_v2 as r where r.enabled) as p`;
  return row.allowed;
}

export type StartedRun = {
  response: { accepted: boolean; run_id?: number; queued?: number; reason?: string };
  work?: Promise<unknown>;
};

/** Opens a run for a request; `work` is the loop to keep alive with EdgeRuntime.waitUntil. */
export async function startProcessorRun(sql: Sql, request: ProcessorRequest): Promise<StartedRun> {
  const settings = processorSettings();
  let queued = 0;
  if (request.trigger === "manual" && request.symbols && request.dataTypes) {
    queued = await queueManual(sql, request.symbols, request.dataTypes);
  }
  // A wake (track-subscription-v2 after queueing) must not reach an upstream whose circuit is
  // open or probing: only the cron tick starts the half-open probe; manual syncs still run.
  if (request.trigger === "wake" && !(await anyCircuitClosed(sql))) {
    return { response: { accepted: false, queued, reason: "circuit open" } };
  }
  const leaseId = await acquireLease(sql, settings);
  if (leaseId === null) {
    return { response: { accepted: false, queued, reason: "maximum concurrent runs reached" } };
  }
  const filters = request.trigger === "manual"
    ? { dataTypes: request.dataTypes, symbols: request.symbols }
    : {};
  let runId: number;
  try {
    runId = await startRun(sql, request.trigger, filters, settings.workerId);
  } catch (thrown) {
    await sql`select public.release_processor_lease_v2(${leaseId})`.catch(() => {});
    throw thrown;
  }
  const work = runProcessor(
    sql,
    settings,
    runId,
    leaseId,
    filters,
    (request.lingerSeconds ?? 0) * 1000,
  ).catch((thrown) => console.error("processor run crashed", runId, String(thrown)));
  return { response: { accepted: true, run_id: runId, queued }, work };
}
