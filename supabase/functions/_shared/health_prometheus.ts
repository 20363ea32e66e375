// The health report in Prometheus' text exposition format 0.0.4 (pure: report in, text out).
// Every family has # HELP and # TYPE once, its samples together; label values escaped.
// Counters come from private.sync_run_counters (totals of every finished run, never decreasing
// even when sync_runs is pruned); gauges from the current report; the run-duration histogram
// has cumulative buckets ending in +Inf, as Prometheus expects. docs/operations.md lists them.
import type { HealthReport, HealthStatus } from "./health.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;
type MetricType = "counter" | "gauge" | "histogram";
type Family = { name: string; type: MetricType; help: string; samples: string[] };

/** A label value escaped for the exposition format: backslash, double quote, newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escaped for the exposition format: backslash and newline. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value: integers and decimals as is, NaN and infinities as Prometheus spells them. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

class Exposition {
  #families = new Map<string, Family>();

  family(name: string, type: MetricType, help: string): Family {
    let family = this.#families.get(name);
    if (!family) {
      family = { name, type, help, samples: [] };
      this.#families.set(name, family);
    }
    return family;
  }

  /** Adds a sample to family `name`; `sampleName` differs for histogram _bucket/_sum/_count. */
  sample(
    name: string,
    type: MetricType,
    help: string,
    value: number | null | undefined,
    labels: Labels = {},
    sampleName = name,
  ) {
    if (value === null || value === undefined) return;
    const line = `${sampleName}${labelText(labels)} ${formatValue(value)}`;
    this.family(name, type, help).samples.push(line);
  }

  text(): string {
    const lines: string[] = [];
    for (const family of this.#families.values()) {
      if (family.samples.length === 0) continue;
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
      lines.push(`# TYPE ${family.name} ${family.type}`);
      lines.push(...family.samples);
    }
    return lines.join("\n") + "\n";
  }
}

function num(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
    return Number(value);
  }
  return null;
}

const PROVIDER_STATES = ["ok", "rate_limited", "bandwidth_exhausted", "invalid_key"];
const CIRCUIT_STATES = ["closed", "open", "half_open"];
const HEALTH_STATUSES: HealthStatus[] = ["ok", "degraded", "down"];

/** Renders the report (and its overall status) as Prometheus text exposition 0.0.4. */
export function renderPrometheus(report: HealthReport, status: HealthStatus): string {
  const out = new Exposition();
  const g = (name: string, help: string, value: number | null | undefined, labels?: Labels) =>
    out.sample(`keepfresh_${name}`, "gauge", help, value, labels);
  const c = (name: string, help: string, value: number | null | undefined, labels?: Labels) =>
    out.sample(`keepfresh_${name}`, "counter", help, value, labels);

  g(
    "up",
    "1 when health-check could read the database, else 0.",
    report.database.reachable ? 1 : 0,
  );
  for (const s of HEALTH_STATUSES) {
    g(
      "health_status",
      "Overall status: 1 for the current one of ok, degraded, down.",
      s === status ? 1 : 0,
      {
        status: s,
      },
    );
  }
  if (!report.database.reachable) return out.text();

  g("database_size_bytes", "Size of the database in bytes.", report.database.size_bytes);
  g("database_connections", "Connections to the database.", report.database.connections);

  const queue = report.queue;
  if (queue) {
    for (const [partition, depth] of Object.entries(queue.depth)) {
      g("queue_jobs", "Jobs in the queue per status (partition).", depth, { status: partition });
    }
    g("queue_due_jobs", "Pending jobs that are due now.", queue.due);
    g(
      "queue_oldest_pending_age_seconds",
      "Age of the oldest pending job (0 when none).",
      queue.oldest_pending_age_seconds ?? 0,
    );
    g(
      "queue_oldest_due_wait_seconds",
      "How long the longest-waiting due job has been due (0 when none).",
      queue.oldest_due_wait_seconds ?? 0,
    );
    g("queue_stuck_jobs", "Processing jobs whose lease has expired.", queue.stuck_jobs);
  }

  for (const p of report.providers ?? []) {
    for (const w of p.windows) {
      g(
        "quota_used",
        "Quota used per provider and window (calls, or bytes incl. reservations).",
        w.used,
        {
          provider: p.provider,
          window: w.name,
        },
      );
    }
    for (const w of p.windows) {
      g("quota_limit", "Quota limit per provider and window (absent when unlimited).", w.limit, {
        provider: p.provider,
        window: w.name,
      });
    }
    g(
      "quota_exceeded",
      "1 when a claim for the provider would get nothing now.",
      p.quota.exceeded ? 1 : 0,
      {
        provider: p.provider,
      },
    );
    for (const s of PROVIDER_STATES) {
      g(
        "provider_state",
        "Provider state in force: 1 for the current one.",
        p.quota.state === s ? 1 : 0,
        {
          provider: p.provider,
          state: s,
        },
      );
    }
    g(
      "circuit_open",
      "1 while the provider's circuit is open or half open (probing), else 0.",
      p.circuit.state === "closed" ? 0 : 1,
      { provider: p.provider },
    );
    for (const s of CIRCUIT_STATES) {
      g("circuit_state", "Circuit state: 1 for the current one.", p.circuit.state === s ? 1 : 0, {
        provider: p.provider,
        state: s,
      });
    }
  }

  for (const job of report.cron_jobs) {
    const labels = { job: job.name ?? String(job.jobid) };
    g("cron_job_failing", "1 when the cron job's latest run failed.", job.failing ? 1 : 0, labels);
    g(
      "cron_job_late",
      "1 when the cron job has not started for 3 intervals.",
      job.late ? 1 : 0,
      labels,
    );
    if (job.last_started_at) {
      g(
        "cron_job_last_start_timestamp_seconds",
        "Unix time the cron job's latest run started.",
        Date.parse(job.last_started_at) / 1000,
        labels,
      );
    }
  }

  const alerts = report.alerts?.active ?? [];
  g("alerts_active", "Active health alerts.", alerts.length);
  for (const a of alerts) {
    g("alert_active", "1 per active health alert.", 1, {
      rule: a.rule,
      subject: a.subject,
      severity: a.severity,
    });
  }

  const processor = report.processor;
  if (processor) {
    g("processor_live_leases", "Processor runs holding a live lease.", processor.live_leases);
    g("processor_max_runs", "Maximum concurrent processor runs.", processor.max_runs);
    for (
      const [window, stats] of [["1h", processor.stats_1h], ["24h", processor.stats_24h]] as const
    ) {
      g(
        "processor_success_ratio",
        "Share of finished sync runs that succeeded in the window.",
        num(stats.success_rate),
        { window },
      );
      g(
        "processor_mean_duration_seconds",
        "Mean duration of finished sync runs in the window.",
        num(stats.mean_duration_seconds),
        { window },
      );
    }

    const totals = processor.totals;
    for (const s of ["succeeded", "partial", "failed"]) {
      c("sync_runs_total", "Finished sync runs by final status.", totals.runs[s] ?? 0, {
        status: s,
      });
    }
    c("jobs_completed_total", "Jobs completed by the processor.", totals.jobs.succeeded);
    c("jobs_failed_total", "Jobs that failed for good.", totals.jobs.failed);
    c(
      "jobs_retried_total",
      "Jobs that failed transiently and were scheduled again.",
      totals.jobs.retried,
    );
    c("upstream_calls_total", "Calls made to upstream providers.", totals.calls);
    c("upstream_bytes_total", "Response bytes received from upstream providers.", totals.bytes);

    const name = "keepfresh_sync_run_duration_seconds";
    const help = "Duration of finished sync runs.";
    for (const bucket of totals.duration.buckets) {
      const le = bucket.le === "+Inf" ? "+Inf" : formatValue(bucket.le);
      out.sample(name, "histogram", help, bucket.count, { le }, `${name}_bucket`);
    }
    out.sample(name, "histogram", help, totals.duration.sum, {}, `${name}_sum`);
    out.sample(name, "histogram", help, totals.duration.count, {}, `${name}_count`);
  }

  const vocabulary = report.vocabulary;
  if (vocabulary && typeof vocabulary === "object") {
    g("vocabulary_version", "Current vocabulary snapshot version.", num(vocabulary.version));
    g("vocabulary_age_seconds", "Age of the vocabulary snapshot.", num(vocabulary.age_seconds));
    if (typeof vocabulary.dirty === "boolean") {
      g(
        "vocabulary_dirty",
        "1 while the vocabulary snapshot is marked dirty.",
        vocabulary.dirty ? 1 : 0,
      );
    }
  }

  for (const [flag, enabled] of Object.entries(report.feature_flags ?? {})) {
    g("feature_enabled", "1 when the feature flag is enabled.", enabled ? 1 : 0, { flag });
  }

  return out.text();
}
