// Helpers shared by the health-check integration tests (health_check_test.ts, health_page_test.ts).
import type postgres from "postgres";
import { stack } from "./_stack.ts";

export const healthUrl = `${stack.functionsUrl}/health-check`;
export const monitorHeaders = { "x-monitoring-token": stack.monitoringToken };

type Sql = postgres.Sql;

/**
 * Pauses every active keepfresh pg_cron job (processor loop, presence scans, maintenance) so that
 * nothing claims, rescues or queues jobs while a test sets up a state; returns the function that
 * re-activates exactly the jobs it paused.
 */
export async function pauseKeepfreshCron(sql: Sql): Promise<() => Promise<void>> {
  const paused = await sql<{ jobid: string }[]>`
    select j.jobid, cron.alter_job(j.jobid, active := false)
    from cron.job as j
    where j.jobname like 'keepfresh%' and j.active
    order by j.jobid`;
  return async () => {
    for (const { jobid } of paused) {
      await sql`select cron.alter_job(${jobid}::bigint, active := true)`;
    }
  };
}

/**
 * Saves the provider and circuit rows of `provider` and returns the function that puts them
 * back exactly (state, limits, circuit), whatever the test did in between.
 */
export async function saveProvider(sql: Sql, provider: string): Promise<() => Promise<void>> {
  const [saved] = await sql<{ p: unknown; c: unknown }[]>`
    select to_jsonb(p) as p, (select to_jsonb(c) from private.circuit_breaker as c
                              where c.provider = p.provider) as c
    from private.providers as p
    where p.provider = ${provider}`;
  return async () => {
    await sql`
      update private.providers as p
      set (calls_per_minute, calls_per_day, bytes_per_30d, state, state_until, state_reason) = (
        select r.calls_per_minute, r.calls_per_day, r.bytes_per_30d, r.state, r.state_until, r.state_reason
        from jsonb_populate_record(null::private.providers, ${sql.json(saved.p as never)}) as r)
      where p.provider = ${provider}`;
    if (saved.c) {
      await sql`
        update private.circuit_breaker as c
        set (state, consecutive_failed_runs, opened_at, half_opened_at, reason) = (
          select r.state, r.consecutive_failed_runs, r.opened_at, r.half_opened_at, r.reason
          from jsonb_populate_record(null::private.circuit_breaker, ${
        sql.json(saved.c as never)
      }) as r)
        where c.provider = ${provider}`;
    }
  };
}

/** The highest health alert id now: alerts a test raises have larger ids. */
export async function lastAlertId(sql: Sql): Promise<number> {
  const [row] = await sql<{ id: string }[]>`
    select coalesce(max(id), 0) as id from private.health_alerts`;
  return Number(row.id);
}
