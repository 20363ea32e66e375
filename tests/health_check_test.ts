import assert from "node:assert/strict";
import { connectDb, stack } from "./_stack.ts";

const url = `${stack.functionsUrl}/health-check`;

async function getHealth(headers: HeadersInit = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
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

Deno.test("health-check - the monitoring token sees the full report", async () => {
  const { body } = await getHealth({ "x-monitoring-token": stack.monitoringToken });
  assert.ok(Array.isArray(body.cron_jobs));
});

Deno.test("health-check - POST is refused with 405", async () => {
  const res = await fetch(url, { method: "POST", body: "{}" });
  await res.body?.cancel();
  assert.equal(res.status, 405);
});

Deno.test("health-check - a cron job shows its last run, and a failing job shows as failing", async () => {
  const sql = connectDb();
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
  } finally {
    await sql`select cron.unschedule(jobid) from cron.job where jobname like 'kf-test-%'`;
    await sql`delete from cron.job_run_details where command in ('select 1', 'select 1/0')`;
    await sql.end();
  }
  const { body } = await getHealth();
  assert.equal(body.status, "ok");
});
