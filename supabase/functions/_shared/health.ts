// Health report: read from Postgres (private.health_report, which also raises and clears alerts),
// summarised by pure rules, plus the two other things health-check does: read one sync run, and
// start a manual sync through queue-processor-v2 with the processor secret (server side only).
import type { Sql } from "./db.ts";

export type CronJobHealth = {
  jobid: number;
  name: string | null;
  schedule: string;
  active: boolean;
  last_started_at: string | null;
  last_finished_at: string | null;
  last_status: string | null;
  last_message: string | null;
  failing: boolean;
  late: boolean;
};

export type QueueHealth = {
  depth: { pending: number; processing: number; completed: number; failed: number };
  due: number;
  oldest_pending_age_seconds: number | null;
  oldest_due_wait_seconds: number | null;
  stuck_jobs: number;
  oldest_stuck_seconds: number | null;
  next_due_at: string | null;
};

export type QuotaWindow = {
  name: "calls_per_minute" | "calls_per_day" | "bytes_per_30d";
  used: number;
  limit: number | null;
  ratio: number | null;
};

export type ProviderHealth = {
  provider: string;
  enabled_data_types: number;
  quota: {
    state: string;
    stored_state: string;
    state_until: string | null;
    state_reason: string | null;
    exceeded: boolean;
    [key: string]: unknown;
  };
  windows: QuotaWindow[];
  circuit: {
    state: "closed" | "open" | "half_open";
    consecutive_failed_runs: number;
    failure_threshold: number;
    opened_at: string | null;
    retry_at: string | null;
    allows_run: boolean;
    reason: string | null;
    [key: string]: unknown;
  };
};

export type SyncRun = {
  id: number;
  trigger: string;
  status: "running" | "succeeded" | "failed" | "partial";
  started_at: string;
  finished_at: string | null;
  duration_seconds: number | null;
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  bytes: number;
  calls: number;
  error: string | null;
  filters: Record<string, unknown> | null;
  worker_id: string | null;
};

export type SyncStats = {
  window_seconds: number;
  runs: number;
  running: number;
  succeeded: number;
  partial: number;
  failed: number;
  success_rate: number | null;
  mean_duration_seconds: number | null;
  jobs: { claimed: number; succeeded: number; failed: number; retried: number };
  job_success_rate: number | null;
  bytes: number;
  calls: number;
  last_started_at: string | null;
};

export type SyncTotals = {
  runs: Record<string, number>;
  jobs: { claimed: number; succeeded: number; failed: number; retried: number };
  calls: number;
  bytes: number;
  duration: { sum: number; count: number; buckets: { le: number | "+Inf"; count: number }[] };
};

export type ProcessorHealth = {
  live_leases: number;
  max_runs: number;
  last_runs: SyncRun[];
  stats_1h: SyncStats;
  stats_24h: SyncStats;
  totals: SyncTotals;
};

export type HealthAlert = {
  id: number | null;
  rule: string;
  subject: string;
  severity: "critical" | "warning";
  raised_at: string | null;
  detail: Record<string, unknown>;
  raised_detail?: Record<string, unknown> | null;
  cleared_at?: string;
};

export type HealthReport = {
  generated_at?: string;
  database: {
    reachable: boolean;
    server_version?: string;
    now?: string;
    size_bytes?: number;
    connections?: number;
    max_connections?: number;
    error?: string;
  };
  latest_migration: { version: string; name: string | null } | null;
  cron_jobs: CronJobHealth[];
  cron_failing: number;
  cron_late: number;
  queue?: QueueHealth;
  providers?: ProviderHealth[];
  processor?: ProcessorHealth;
  vocabulary?: Record<string, unknown> | null;
  feature_flags?: Record<string, boolean>;
  alerts?: {
    persisted: boolean;
    error?: string;
    active: HealthAlert[];
    recently_cleared: HealthAlert[];
  };
};

export type HealthStatus = "ok" | "degraded" | "down";

/** Reads the report from the database; a database that cannot be reached yields a "down" report. */
export async function readHealthReport(sql: Sql): Promise<HealthReport> {
  try {
    const [row] = await sql<{ report: HealthReport }[]>`select private.health_report() as report`;
    return row.report;
  } catch (thrown) {
    console.error(
      JSON.stringify({ level: "error", context: "health-check", error: String(thrown) }),
    );
    return {
      database: { reachable: false, error: "database unreachable" },
      latest_migration: null,
      cron_jobs: [],
      cron_failing: 0,
      cron_late: 0,
    };
  }
}

/** ok: all good; degraded: reachable but an alert is active or a cron job failing/late; down: no database. */
export function healthStatus(report: HealthReport): HealthStatus {
  if (!report.database.reachable) return "down";
  if (report.cron_failing > 0 || report.cron_late > 0) return "degraded";
  if ((report.alerts?.active.length ?? 0) > 0) return "degraded";
  return "ok";
}

/** 503 only when the database is down: a degraded system still answers. */
export function httpStatusForHealth(status: HealthStatus): number {
  return status === "down" ? 503 : 200;
}

export type HealthFormat = "json" | "prometheus" | "html";

/** The format a `format` query value asks for (absent: json), or null when unknown. */
export function parseHealthFormat(value: string | null): HealthFormat | null {
  if (value === null || value === "" || value === "json") return "json";
  if (value === "prometheus" || value === "html") return value;
  return null;
}

/** A sync-run id from a query value: a positive integer below 2^53, else null. */
export function parseRunId(value: string | null): number | null {
  if (value === null || !/^[1-9][0-9]{0,15}$/.test(value)) return null;
  const id = Number(value);
  return Number.isSafeInteger(id) ? id : null;
}

/** One sync run by id (public.get_sync_run_v2), or null when there is no such run. */
export async function readSyncRun(sql: Sql, id: number): Promise<SyncRun | null> {
  const [row] = await sql<{ run: SyncRun | null }[]>`select public.get_sync_run_v2(${id}) as run`;
  return row?.run ?? null;
}

/** What queue-processor-v2 answered to a manual sync. */
export type ManualSyncResult =
  | { ok: true; accepted: boolean; run_id: number | null; reason: string | null }
  | { ok: false; status: number; error: string };

/**
 * Starts a manual sync: POST `{trigger: "manual"}` to queue-processor-v2 with the processor
 * secret, which never leaves the server. The processor answers 202 at once with the run id (or
 * accepted: false and a reason, e.g. the maximum of concurrent runs).
 */
export async function requestManualSync(
  options: { functionsUrl: string; processorSecret: string; timeoutMs?: number },
  fetchImpl: typeof fetch = fetch,
): Promise<ManualSyncResult> {
  let res: Response;
  try {
    res = await fetchImpl(`${options.functionsUrl}/queue-processor-v2`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${options.processorSecret}`,
      },
      body: JSON.stringify({ trigger: "manual" }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (thrown) {
    console.error(
      JSON.stringify({ level: "error", context: "health-check sync", error: String(thrown) }),
    );
    return { ok: false, status: 502, error: "the processor could not be reached" };
  }
  const body = await res.json().catch(() => null) as
    | { accepted?: unknown; run_id?: unknown; reason?: unknown }
    | null;
  if (!res.ok || body === null || typeof body.accepted !== "boolean") {
    console.error(
      JSON.stringify({ level: "error", context: "health-check sync", status: res.status }),
    );
    return { ok: false, status: 502, error: `the processor answered ${res.status}` };
  }
  return {
    ok: true,
    accepted: body.accepted,
    run_id: typeof body.run_id === "number" ? body.run_id : null,
    reason: typeof body.reason === "string" ? body.reason : null,
  };
}
