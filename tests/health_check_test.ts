// health-check against the real stack: who sees what, the report's sections, each alert provoked
// (failing cron job, stuck job, old due job, exhausted quota, invalid key with open circuit),
// raised once even under concurrent calls and cleared on recovery, Prometheus, runs by id, and
// the manual sync through queue-processor-v2.
import assert from "node:assert/strict";
import { connectDb, stack } from "./_stack.ts";
import {
  healthUrl as url,
  lastAlertId,
  monitorHeaders,
  pauseKeepfreshCron,
  saveProvider,
} from "./_health.ts";

async function getHealth(headers: HeadersInit = {}, query = "") {
  const res = await fetch(`${url}${query}`, { headers });
  return { status: res.status, body: await res.json() };
}

async function getMetrics(headers: HeadersInit = monitorHeaders) {
  const res = await fetch(`${url}?format=prometheus`, { headers });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

/** The value of one sample in exposition text (name and label text exactly as rendered). */
function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

type Alert = { rule: string; subject: string; severity: string; id: number };

function activeKeys(body: { alerts: { active: Alert[] } }): string[] {
  return body.alerts.active.map((a) => `${a.rule}/${a.subject}`);
}

Deno.test("health-check - anonymous GET answers only the status", async () => {
  const { status, body } = await getHealth();
  assert.equal(status, 200);
  assert.deepEqual(Object.keys(body), ["status"]);
  assert.ok(["ok", "degraded"].includes(body.status));
});

Deno.test("health-check - a forged service token gets only the status", async () => {
  const forged = stack.serviceRoleKey.slice(0, -4) + "AAAA";
  const { body } = await getHealth({ authorization: `Bearer ${forged}` });
  assert.deepEqual(Object.keys(body), ["status"]);
});

Deno.test("health-check - the service role sees the database and the latest migration", async () => {
  const { status, body } = await getHealth({ authorization: `Bearer ${stack.serviceRoleKey}` });
  assert.equal(status, 200);
  assert.equal(body.database.reachable, true);
  const files = [...Deno.readDirSync(new URL("../supabase/migrations", import.meta.url))]
    .map((entry) => entry.name.split("_")[0]).sort();
  assert.equal(body.latest_migration.version, files.at(-1));
});

Deno.test("health-check - the monitoring token sees every section of the report", async () => {
  const { body } = await getHealth(monitorHeaders);
  for (
    const key of [
      "database",
      "cron_jobs",
      "queue",
      "providers",
      "processor",
      "vocabulary",
      "feature_flags",
      "alerts",
    ]
  ) {
    assert.ok(key in body, `report has ${key}`);
  }
  assert.ok(Array.isArray(body.cron_jobs));
  assert.deepEqual(Object.keys(body.queue.depth).sort(), [
    "completed",
    "failed",
    "pending",
    "processing",
  ]);
  const fmp = body.providers.find((p: { provider: string }) => p.provider === "fmp");
  assert.ok(fmp, "the fmp provider is listed");
  assert.deepEqual(fmp.windows.map((w: { name: string }) => w.name), [
    "calls_per_minute",
    "calls_per_day",
    "bytes_per_30d",
  ]);
  assert.ok(["closed", "open", "half_open"].includes(fmp.circuit.state));
  assert.ok("success_rate" in body.processor.stats_1h);
  assert.ok("mean_duration_seconds" in body.processor.stats_24h);
  assert.equal(body.alerts.persisted, true);
});

Deno.test("health-check - the queue depth matches the partitions", async () => {
  const sql = connectDb();
  const resume = await pauseKeepfreshCron(sql);
  try {
    await sql`
      insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, not_before)
      values ('pending', 'quote', 'KFHCDEPTH1', 3, now() + interval '1 hour'),
             ('pending', 'quote', 'KFHCDEPTH2', 3, now() + interval '1 hour')`;
    const [db] = await sql<{ depth: Record<string, number> }[]>`
      select jsonb_build_object(
        'pending', (select count(*) from private.api_call_queue_v2_pending),
        'processing', (select count(*) from private.api_call_queue_v2_processing),
        'completed', (select count(*) from private.api_call_queue_v2_completed),
        'failed', (select count(*) from private.api_call_queue_v2_failed)) as depth`;
    const { body } = await getHealth(monitorHeaders);
    assert.deepEqual(body.queue.depth, db.depth);
    assert.ok(body.queue.depth.pending >= 2);
  } finally {
    await sql`delete from private.api_call_queue_v2 where key like 'KFHCDEPTH%'`;
    await resume();
    await sql.end();
  }
});

Deno.test("health-check - POST without ?action=sync is a 400, other methods 405", async () => {
  const res = await fetch(url, { method: "POST", body: "{}" });
  assert.equal(res.status, 400);
  await res.body?.cancel();
  const put = await fetch(url, { method: "PUT", body: "{}" });
  assert.equal(put.status, 405);
  await put.body?.cancel();
});

Deno.test("health-check - a cron job shows its last run, and a failing job shows as failing", async () => {
  const sql = connectDb();
  const firstAlert = await lastAlertId(sql);
  try {
    const [ok] = await sql`select cron.schedule('kf-test-ok', '* * * * *', 'select 1') as id`;
    const [bad] = await sql`
      select cron.schedule('kf-test-failing', '*/5 * * * *', 'select 1/0') as id`;
    // pg_cron 1.4 runs at most once a minute: record run details as its scheduler would.
    await sql`
      insert into cron.job_run_details
        (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
      values
        (${ok.id}, nextval('cron.runid_seq'), 1, 'postgres', 'postgres', 'select 1', 'succeeded',
         'SELECT 1', now() - interval '5 seconds', now() - interval '4 seconds'),
        (${bad.id}, nextval('cron.runid_seq'), 2, 'postgres', 'postgres', 'select 1/0', 'failed',
         'ERROR:  division by zero', now() - interval '3 seconds', now() - interval '2 seconds')`;

    const { status, body } = await getHealth({ authorization: `Bearer ${stack.serviceRoleKey}` });
    assert.equal(status, 200);
    assert.equal(body.status, "degraded");
    const byName = Object.fromEntries(
      body.cron_jobs.map((job: { name: string }) => [job.name, job]),
    );
    assert.equal(byName["kf-test-ok"].schedule, "* * * * *");
    assert.equal(byName["kf-test-ok"].last_status, "succeeded");
    assert.equal(byName["kf-test-ok"].failing, false);
    assert.ok(byName["kf-test-ok"].last_started_at);
    assert.equal(byName["kf-test-failing"].last_status, "failed");
    assert.equal(byName["kf-test-failing"].failing, true);
    assert.match(byName["kf-test-failing"].last_message, /division by zero/);
    assert.ok(activeKeys(body).includes("cron_job_failing/kf-test-failing"));
  } finally {
    await sql`select cron.unschedule(jobid) from cron.job where jobname like 'kf-test-%'`;
    await sql`delete from cron.job_run_details where command in ('select 1', 'select 1/0')`;
  }
  try {
    // Anonymous calls evaluate the alerts too: the first one after the fix clears it.
    await getHealth();
    const rows = await sql<{ cleared: boolean }[]>`
      select cleared_at is not null as cleared from private.health_alerts
      where id > ${firstAlert} and rule = 'cron_job_failing' and subject = 'kf-test-failing'`;
    assert.deepEqual(rows.map((r) => r.cleared), [true]);
  } finally {
    await sql`delete from private.health_alerts where id > ${firstAlert}`;
    await sql.end();
  }
});

Deno.test("health-check - each breach is reported, alerted once under concurrent calls and cleared on recovery", async () => {
  const sql = connectDb(4);
  const resume = await pauseKeepfreshCron(sql);
  const restoreFmp = await saveProvider(sql, "fmp");
  const firstAlert = await lastAlertId(sql);
  const [{ hour }] = await sql<{ hour: Date }[]>`
    select date_trunc('hour', now(), 'UTC') as hour`;
  let addedCalls = 0;
  try {
    // 1. A failing cron job.
    const [job] = await sql`
      select cron.schedule('kf-health-failing', '* * * * *', 'select 1/0') as id`;
    await sql`
      insert into cron.job_run_details
        (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
      values (${job.id}, nextval('cron.runid_seq'), 3, 'postgres', 'postgres', 'select 1/0',
              'failed', 'ERROR:  division by zero', now() - interval '3 seconds', now())`;
    // 2. A stuck job (lease expired 10 minutes ago) and 3. a due job waiting for 20 minutes.
    await sql`
      insert into private.api_call_queue_v2
        (status, data_type, key, max_attempts, claimed_at, lease_expires_at, lease_token, worker_id)
      values ('processing', 'quote', 'KFHCSTUCK', 3, now() - interval '11 minutes',
              now() - interval '10 minutes', gen_random_uuid(), 'kf-health-test')`;
    await sql`
      insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, created_at, not_before)
      values ('pending', 'quote', 'KFHCOLD', 3, now() - interval '20 minutes', now() - interval '20 minutes')`;
    // 4. An exhausted daily quota: 10 calls used of 10.
    await sql`update private.providers set calls_per_day = 10 where provider = 'fmp'`;
    await sql`
      insert into private.provider_usage (provider, width, bucket, calls)
      values ('fmp', 'hour', ${hour}, 10)
      on conflict (provider, width, bucket) do update
      set calls = private.provider_usage.calls + excluded.calls`;
    addedCalls = 10;
    // 5. An invalid key, which opens the circuit.
    await sql`select public.set_provider_state_v2('fmp', 'invalid_key', null, 'health-check test')`;

    const expected = [
      "cron_job_failing/kf-health-failing",
      "queue_stuck_jobs/",
      "queue_oldest_pending/",
      "quota_high/fmp:calls_per_day",
      "provider_invalid_key/fmp",
      "circuit_open/fmp",
    ];

    const { status, body } = await getHealth(monitorHeaders);
    assert.equal(status, 200);
    assert.equal(body.status, "degraded");
    const failingJob = body.cron_jobs.find((j: { name: string }) => j.name === "kf-health-failing");
    assert.equal(failingJob.failing, true);
    assert.ok(body.queue.stuck_jobs >= 1);
    assert.ok(body.queue.oldest_stuck_seconds >= 590);
    assert.ok(body.queue.oldest_due_wait_seconds >= 1190);
    const fmp = body.providers.find((p: { provider: string }) => p.provider === "fmp");
    assert.equal(fmp.quota.state, "invalid_key");
    assert.equal(fmp.quota.exceeded, true);
    const day = fmp.windows.find((w: { name: string }) => w.name === "calls_per_day");
    assert.equal(day.limit, 10);
    assert.ok(day.used >= 10 && day.ratio >= 1);
    assert.equal(fmp.circuit.state, "open");
    for (const key of expected) assert.ok(activeKeys(body).includes(key), `alert ${key} is active`);
    const critical = body.alerts.active.find((a: Alert) => a.rule === "queue_stuck_jobs");
    assert.equal(critical.severity, "critical");

    // The same breach over many concurrent reports (function and direct calls): one alert each.
    await Promise.all([
      ...Array.from({ length: 6 }, () => getHealth()),
      ...Array.from({ length: 4 }, () => sql`select private.health_report()`),
    ]);
    const counts = await sql<{ key: string; n: string }[]>`
      select rule || '/' || subject as key, count(*) as n
      from private.health_alerts
      where id > ${firstAlert}
      group by 1
      order by 1`;
    for (const key of expected) {
      assert.equal(counts.find((c) => c.key === key)?.n, "1", `${key} raised exactly once`);
    }

    const metrics = await getMetrics();
    assert.equal(metrics.status, 200);
    assert.equal(metrics.type, "text/plain; version=0.0.4; charset=utf-8");
    assert.ok((metric(metrics.text, "keepfresh_queue_stuck_jobs") ?? 0) >= 1);
    assert.equal(metric(metrics.text, 'keepfresh_circuit_open{provider="fmp"}'), 1);
    assert.equal(
      metric(metrics.text, 'keepfresh_provider_state{provider="fmp",state="invalid_key"}'),
      1,
    );
    assert.equal(metric(metrics.text, 'keepfresh_cron_job_failing{job="kf-health-failing"}'), 1);
    assert.equal(
      metric(
        metrics.text,
        'keepfresh_alert_active{rule="provider_invalid_key",subject="fmp",severity="critical"}',
      ),
      1,
    );
    assert.equal(
      metric(metrics.text, 'keepfresh_quota_limit{provider="fmp",window="calls_per_day"}'),
      10,
    );

    // Recovery, one fix at a time undone in reverse.
    await sql`select public.set_provider_state_v2('fmp', 'ok', null, null)`;
    await sql`
      update private.provider_usage set calls = calls - ${addedCalls}
      where provider = 'fmp' and width = 'hour' and bucket = ${hour}`;
    addedCalls = 0;
    await restoreFmp();
    await sql`delete from private.api_call_queue_v2 where key in ('KFHCSTUCK', 'KFHCOLD')`;
    await sql`select cron.unschedule(jobid) from cron.job where jobname = 'kf-health-failing'`;

    const after = await getHealth(monitorHeaders);
    for (const key of expected) {
      assert.ok(!activeKeys(after.body).includes(key), `alert ${key} is cleared`);
    }
    const rows = await sql<{ key: string; cleared: boolean }[]>`
      select rule || '/' || subject as key, cleared_at is not null as cleared
      from private.health_alerts
      where id > ${firstAlert}
      order by id`;
    for (const key of expected) {
      assert.deepEqual(
        rows.filter((r) => r.key === key).map((r) => r.cleared),
        [true],
        `${key}: one row, cleared`,
      );
    }
    const cleared = after.body.alerts.recently_cleared.map((a: Alert) => `${a.rule}/${a.subject}`);
    for (const key of expected) assert.ok(cleared.includes(key), `${key} is listed as cleared`);
  } finally {
    if (addedCalls > 0) {
      await sql`
        update private.provider_usage set calls = calls - ${addedCalls}
        where provider = 'fmp' and width = 'hour' and bucket = ${hour}`;
    }
    await restoreFmp();
    await sql`delete from private.api_call_queue_v2 where key in ('KFHCSTUCK', 'KFHCOLD')`;
    await sql`select cron.unschedule(jobid) from cron.job where jobname = 'kf-health-failing'`;
    await sql`delete from cron.job_run_details where command = 'select 1/0'`;
    await sql`delete from private.health_alerts where id > ${firstAlert}`;
    await resume();
    await sql.end();
  }
});

Deno.test("health-check - a read-only transaction still reports, without recording alerts", async () => {
  const sql = connectDb();
  try {
    const report = await sql.begin("read only", async (tx) => {
      const [row] = await tx<{ report: { alerts: { persisted: boolean; error: string } } }[]>`
        select private.health_report() as report`;
      return row.report;
    });
    assert.equal(report.alerts.persisted, false);
    assert.match(report.alerts.error, /read-only transaction/);
  } finally {
    await sql.end();
  }
});

Deno.test("health-check - prometheus needs a token and counts finished runs", async () => {
  const anonymous = await getMetrics({});
  assert.equal(anonymous.status, 401);

  const sql = connectDb();
  let runId: number | undefined;
  try {
    const before = await getMetrics();
    assert.equal(before.status, 200);
    for (
      const family of [
        "keepfresh_jobs_completed_total",
        "keepfresh_jobs_failed_total",
        "keepfresh_upstream_calls_total",
        "keepfresh_upstream_bytes_total",
        "keepfresh_queue_jobs",
        "keepfresh_queue_oldest_pending_age_seconds",
        "keepfresh_quota_used",
        "keepfresh_circuit_open",
        "keepfresh_alerts_active",
        "keepfresh_sync_run_duration_seconds",
      ]
    ) {
      assert.match(before.text, new RegExp(`^# TYPE ${family} `, "m"), `${family} is exposed`);
    }
    const count = (text: string) => metric(text, "keepfresh_sync_run_duration_seconds_count") ?? 0;
    const calls = (text: string) => metric(text, "keepfresh_upstream_calls_total") ?? 0;

    const [run] = await sql<{ id: string }[]>`
      select public.start_sync_run_v2('test', null, 'kf-health-metrics') as id`;
    runId = Number(run.id);
    await sql`
      select public.finish_sync_run_v2(${runId}, 'succeeded',
        '{"claimed": 2, "succeeded": 2, "calls": 3, "bytes": 100, "providers": []}', null)`;
    const after = await getMetrics();
    assert.equal(count(after.text) - count(before.text), 1);
    assert.equal(calls(after.text) - calls(before.text), 3);
    assert.equal(
      metric(after.text, 'keepfresh_sync_run_duration_seconds_bucket{le="+Inf"}'),
      count(after.text),
    );
  } finally {
    if (runId !== undefined) await sql`delete from private.sync_runs where id = ${runId}`;
    await sql.end();
  }
});

Deno.test("health-check - a sync run's status by id", async () => {
  const sql = connectDb();
  let runId: number | undefined;
  try {
    const [run] = await sql<{ id: string }[]>`
      select public.start_sync_run_v2('test', null, 'kf-health-run') as id`;
    runId = Number(run.id);

    const anonymous = await fetch(`${url}?run=${runId}`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();

    const running = await getHealth(monitorHeaders, `?run=${runId}&format=json`);
    assert.equal(running.status, 200);
    assert.equal(running.body.id, runId);
    assert.equal(running.body.status, "running");

    await sql`
      select public.finish_sync_run_v2(${runId}, 'partial', '{"claimed": 3, "succeeded": 2,
        "failed": 1, "providers": []}', 'one job failed')`;
    const finished = await getHealth(
      { authorization: `Bearer ${stack.serviceRoleKey}` },
      `?run=${runId}`,
    );
    assert.equal(finished.body.status, "partial");
    assert.equal(finished.body.failed, 1);
    assert.equal(finished.body.error, "one job failed");

    const unknown = await getHealth(monitorHeaders, `?run=${runId + 1_000_000}`);
    assert.equal(unknown.status, 404);
    const bad = await getHealth(monitorHeaders, "?run=x");
    assert.equal(bad.status, 400);
  } finally {
    if (runId !== undefined) await sql`delete from private.sync_runs where id = ${runId}`;
    await sql.end();
  }
});

Deno.test("health-check - a manual sync runs the processor and reports its run", async () => {
  const sql = connectDb();
  let runId: number | undefined;
  try {
    const anonymous = await fetch(`${url}?action=sync`, { method: "POST" });
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();

    const res = await fetch(`${url}?action=sync`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.monitoringToken}` },
    });
    const started = await res.json();
    assert.equal(res.status, 202, JSON.stringify(started));
    assert.equal(started.accepted, true);
    runId = started.run_id;
    assert.equal(typeof runId, "number");

    const [row] = await sql<{ trigger: string }[]>`
      select trigger from private.sync_runs where id = ${runId!}`;
    assert.equal(row.trigger, "manual");

    const deadline = Date.now() + 30_000;
    let status = "running";
    while (status === "running" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await getHealth(monitorHeaders, `?run=${runId}&format=json`)).body.status;
    }
    assert.ok(["succeeded", "partial", "failed"].includes(status), `run finished: ${status}`);
  } finally {
    if (runId !== undefined) await sql`delete from private.sync_runs where id = ${runId}`;
    await sql.end();
  }
});
