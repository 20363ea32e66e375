// Health report: read from Postgres (private.health_report) and summarised by pure rules.
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

export type HealthReport = {
  database: { reachable: boolean; server_version?: string; now?: string; error?: string };
  latest_migration: { version: string; name: string | null } | null;
  cron_jobs: CronJobHealth[];
  cron_failing: number;
  cron_late: number;
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

/** ok: all good; degraded: reachable but a cron job is failing or late; down: no database. */
export function healthStatus(report: HealthReport): HealthStatus {
  if (!report.database.reachable) return "down";
  if (report.cron_failing > 0 || report.cron_late > 0) return "degraded";
  return "ok";
}

/** 503 only when the database is down: a degraded system still answers. */
export function httpStatusForHealth(status: HealthStatus): number {
  return status === "down" ? 503 : 200;
}
