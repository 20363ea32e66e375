// The processor loop behind queue-processor-v2. Stateless: every decision several workers must
// agree on (claims, leases, quota, fencing, retries, circuit) is a call to keepfresh's SQL API.
// One job = fetch upstream (at-least-once), then write rows and complete the job in ONE
// transaction (exactly-once completion: a stale lease token rolls the write back).
import type { Sql } from "./db.ts";
import { errorCode, isRetryableTransactionError } from "./errors.ts";
import {
  type FetchContext,
  type FetchOutcome,
  handlerFor,
  type QueueJob,
} from "./fmp/datatypes.ts";
import { writeOutcome } from "./fmp/write.ts";
import { mapWithConcurrency } from "./pool.ts";
import {
  type Budget,
  emptyStats,
  mayClaimMore,
  nextBatchSize,
  type RunStats,
  runStatus,
  stopsRun,
} from "./processor_rules.ts";

export type ProcessorSettings = {
  workerId: string;
  batchSize: number;
  concurrency: number;
  leaseSeconds: number;
  maxJobsPerInvocation: number;
  budgetMs: number;
  maxConcurrentRuns: number;
  fetch: FetchContext;
};

export type RunFilters = { dataTypes?: string[]; symbols?: string[] };

type ClaimedJob = QueueJob & { max_attempts: number; priority: number; provider: string };

class StaleLeaseError extends Error {
  constructor(jobId: number) {
    super(`lease of job ${jobId} is no longer ours: write rolled back`);
  }
}

/** Retries a transaction on serialization failures and deadlocks (bounded). */
async function withTxRetry<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await work();
    } catch (thrown) {
      if (!isRetryableTransactionError(thrown) || attempt >= attempts) throw thrown;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt * Math.random()));
    }
  }
}

/** Takes a processor lease (null when the maximum number of runs already hold one). */
export async function acquireLease(sql: Sql, settings: ProcessorSettings): Promise<number | null> {
  const ttl = Math.ceil(settings.budgetMs / 1000) + 30;
  const [row] = await sql<{ id: string | null }[]>`
    select public.acquire_processor_lease_v2(
      ${settings.workerId}, ${settings.maxConcurrentRuns}, ${ttl}) as id`;
  return row.id === null ? null : Number(row.id);
}

/** Opens a sync run and returns its id. */
export async function startRun(
  sql: Sql,
  trigger: string,
  filters: RunFilters,
  workerId: string,
): Promise<number> {
  const [row] = await sql<{ id: string }[]>`
    select public.start_sync_run_v2(${trigger}, ${sql.json(filters)}, ${workerId}) as id`;
  return Number(row.id);
}

/** Queues a manual selective sync: every symbol × data type asked for, at priority 100 (skips cooldowns). */
export async function queueManual(sql: Sql, symbols: string[], dataTypes: string[]) {
  const items = dataTypes.flatMap((dataType) =>
    symbols.map((key) => ({ data_type: dataType, key, priority: 100 }))
  );
  if (items.length === 0) return 0;
  const rows = await sql<{ created: boolean }[]>`
    select created from public.queue_refresh_batch_v2(${sql.json(items)})`;
  return rows.filter((row) => row.created).length;
}

async function claim(
  sql: Sql,
  settings: ProcessorSettings,
  size: number,
  filters: RunFilters,
): Promise<ClaimedJob[]> {
  const rows = filters.dataTypes || filters.symbols
    ? await sql<ClaimedJob[]>`
        select * from public.get_queue_batch_filtered_v2(
          ${size}, ${settings.workerId}, ${settings.leaseSeconds},
          ${filters.dataTypes ?? null}, ${filters.symbols ?? null})`
    : await sql<ClaimedJob[]>`
        select * from public.get_queue_batch_v2(${size}, ${settings.workerId}, ${settings.leaseSeconds})`;
  return rows.map((row) => ({ ...row, id: Number(row.id) }));
}

type JobResult = { status: "completed" | "failed" | "retried" | "stale"; errorClass?: string };

/** Writes (if any) and completes one job in a single transaction. */
async function finishJob(sql: Sql, job: ClaimedJob, outcome: FetchOutcome): Promise<JobResult> {
  if (outcome.kind === "error") {
    const [row] = await withTxRetry(() =>
      sql<{ status: string | null }[]>`
        select public.fail_queue_job_v2(
          ${job.id}, ${job.lease_token}, ${outcome.message.slice(0, 2000)}, ${outcome.errorClass}
        ) as status`
    );
    if (row.status === null) return { status: "stale", errorClass: outcome.errorClass };
    return {
      status: row.status === "failed" ? "failed" : "retried",
      errorClass: outcome.errorClass,
    };
  }
  try {
    await withTxRetry(() =>
      sql.begin(async (tx) => {
        let result = "no_data";
        let sourceTimestamp: Date | null = null;
        if (outcome.kind === "data") {
          const written = await writeOutcome(tx, job, outcome);
          result = written.notNewer ? "not_newer" : "success";
          sourceTimestamp = outcome.sourceTimestamp;
        }
        const [row] = await tx<{ ok: boolean }[]>`
          select public.complete_queue_job_v2(
            ${job.id}, ${job.lease_token}, ${result}, ${outcome.bytes}, ${sourceTimestamp}) as ok`;
        if (!row.ok) throw new StaleLeaseError(job.id);
      })
    );
    return { status: "completed" };
  } catch (thrown) {
    if (thrown instanceof StaleLeaseError) return { status: "stale" };
    throw thrown;
  }
}

/** Processes one claimed job end to end; unexpected errors fail it as transient. */
async function processJob(sql: Sql, settings: ProcessorSettings, job: ClaimedJob) {
  let outcome: FetchOutcome;
  try {
    outcome = await handlerFor(job.data_type).fetch(job, settings.fetch);
  } catch (thrown) {
    outcome = {
      kind: "error",
      errorClass: "transient",
      message: `fetcher crashed: ${thrown instanceof Error ? thrown.message : String(thrown)}`,
      bytes: 0,
      calls: 0,
    };
  }
  try {
    return { outcome, result: await finishJob(sql, job, outcome) };
  } catch (thrown) {
    // The write failed: record it against the job, never lose it. Bad data (22xxx) and constraint
    // violations (23xxx) can only fail again, so they are permanent; anything else may pass later.
    const message = `write failed: ${thrown instanceof Error ? thrown.message : String(thrown)}`;
    console.error(JSON.stringify({ level: "error", context: "processor", job: job.id, message }));
    const code = errorCode(thrown) ?? "";
    const failed: FetchOutcome = {
      kind: "error",
      errorClass: code.startsWith("22") || code.startsWith("23") ? "permanent" : "transient",
      message,
      bytes: outcome.bytes,
      calls: outcome.calls,
    };
    return { outcome, result: await finishJob(sql, job, failed) };
  }
}

/** Claims and processes batches until the queue is empty, the budget is spent, or the provider pauses. */
export async function runProcessor(
  sql: Sql,
  settings: ProcessorSettings,
  runId: number,
  leaseId: number | null,
  filters: RunFilters,
  lingerMs = 0,
  now: () => number = Date.now,
): Promise<RunStats & { status: string }> {
  const stats = emptyStats();
  const budget: Budget = {
    deadline: now() + settings.budgetMs,
    maxJobs: settings.maxJobsPerInvocation,
  };
  let crashed = false;
  let stopReason: string | null = null;
  let lastBatchMs = 1_000;
  // On pg_cron 1.4 (one tick a minute) a cron run lingers, polling for new work, until lingerUntil.
  const lingerUntil = now() + Math.min(lingerMs, settings.budgetMs - 5_000);
  try {
    while (mayClaimMore(budget, now(), stats.claimed, lastBatchMs)) {
      const size = nextBatchSize(settings.batchSize, budget.maxJobs, stats.claimed);
      const started = now();
      const jobs = await claim(sql, settings, size, filters);
      if (jobs.length === 0) {
        if (now() + 1_000 >= lingerUntil) break;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      stats.claimed += jobs.length;
      const results = await mapWithConcurrency(
        jobs,
        settings.concurrency,
        (job) => processJob(sql, settings, job),
      );
      for (const { outcome, result } of results) {
        stats.bytes += outcome.bytes;
        stats.calls += outcome.calls;
        if (result.status === "completed") stats.succeeded++;
        else if (result.status === "failed") stats.failed++;
        else if (result.status === "retried") stats.retried++;
        if (result.errorClass && stopsRun(result.errorClass)) stopReason = result.errorClass;
      }
      lastBatchMs = Math.max(250, now() - started);
      if (stopReason) break;
    }
  } catch (thrown) {
    crashed = true;
    stopReason = thrown instanceof Error ? thrown.message : String(thrown);
    console.error(
      JSON.stringify({ level: "error", context: "processor", run: runId, error: stopReason }),
    );
  } finally {
    const status = runStatus(stats, crashed, stopReason);
    await sql`
      select public.finish_sync_run_v2(${runId}, ${status}, ${sql.json(stats)}, ${stopReason})`
      .catch((thrown) => console.error("could not finish sync run", runId, String(thrown)));
    if (leaseId !== null) {
      await sql`select public.release_processor_lease_v2(${leaseId})`
        .catch((thrown) => console.error("could not release lease", leaseId, String(thrown)));
    }
  }
  return { ...stats, status: runStatus(stats, crashed, stopReason) };
}
