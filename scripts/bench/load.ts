// Load benchmark (the seed's load test): N items (symbols × data types) refreshed end to end
// through queue-processor-v2 and the FMP fixture upstream, driven as production drives it, plus 3
// concurrent manual syncs. Prints figures beside the seed's targets and writes
// results/load-<timestamp>.json. Asserts nothing (benchmarks print figures).
//
//   enqueue  100 items: a signed-in user tracks 20 symbols × 5 data types through
//            track-subscription-v2 (which queues what is stale and wakes the processor);
//            larger sizes: one public.queue_refresh_batch_v2 call, as the presence scan does
//   wake     a few concurrent POSTs {"trigger":"wake"} to queue-processor-v2 with the processor
//            secret, only while fewer than max_processor_runs runs hold a lease and the quota is
//            not spent (what invoke_processor_loop_v2 checks before its net.http_post)
//   manual   right after the enqueue, 3 concurrent selective manual syncs (service role, each 10
//            other symbols × quote, profile) compete with the load for runs and quota
//   measure  until every job is completed or failed: wall time, success and error rates, runs,
//            upstream calls and bytes (fixture /__control/stats, sampled every second for the
//            busiest calendar minute) against the quota (public.get_quota_status_v2)
//
// Run through scripts/bench/load (it starts its own stack); against a stack started with
// scripts/lib/stack.sh it also works: deno run -A scripts/bench/load.ts [--sizes 100,1000]
// [--latency-ms 50] [--jitter-ms 25] [--calls-per-minute 750]. Each size uses its own symbols; its
// rows are deleted afterwards, and the pg_cron jobs it pauses are re-activated.
import postgres from "postgres";
import { mintJwt } from "../local/jwt.ts";

function env(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: export the stack's env (kf_env) first`);
  return value;
}

function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? undefined : Deno.args[i + 1];
}

function intFlag(name: string, fallback: number, min: number): number {
  const text = flag(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`--${name} must be an integer >= ${min}, got ${text}`);
  }
  return value;
}

const sizes = (flag("sizes") ?? "100,1000").split(",").map((s) => {
  const n = Number(s.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < 5 || n % 5 !== 0) {
    throw new Error(`--sizes takes multiples of 5 (symbols × 5 data types), got ${s}`);
  }
  return n;
});
const latencyMs = intFlag("latency-ms", 50, 0);
const jitterMs = intFlag("jitter-ms", 25, 0);
const callsPerMinute = intFlag("calls-per-minute", 750, 1);

const supabaseUrl = env("SUPABASE_URL");
const functionsUrl = `${supabaseUrl}/functions/v1`;
const fixtureUrl = env("FMP_BASE_URL");
const processorSecret = env("KEEPFRESH_PROCESSOR_SECRET");
const serviceRoleKey = env("SUPABASE_SERVICE_ROLE_KEY");
const anonKey = env("SUPABASE_ANON_KEY");
const sql = postgres(env("SUPABASE_DB_URL"), { prepare: false, max: 3, onnotice: () => {} });

/** 5 data types: 1 + 1 + 3 + 1 + 1 = 7 upstream calls per symbol, 1.4 per item. */
const dataTypes = ["quote", "profile", "financial-statements", "ratios-ttm", "dividend-history"];
const manualTypes = ["quote", "profile"];
const targets: Record<number, number> = { 100: 30, 1000: 300, 10000: 1800 };
const targetSuccess = 0.99;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function fixture(path: string, body?: unknown, method = "POST") {
  const res = await fetch(`${fixtureUrl}/__control/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`fixture control ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function post(name: string, auth: string, body: unknown, apikey?: string) {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    authorization: `Bearer ${auth}`,
  };
  if (apikey) headers.apikey = apikey;
  const res = await fetch(`${functionsUrl}/${name}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const symbolsFor = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, "0")}`);

/** Deletes what one size wrote for its symbols. */
async function removeRows(prefix: string) {
  const like = `${prefix}%`;
  await sql`delete from private.api_call_queue_v2 where key like ${like}`;
  await sql`delete from private.refresh_state where key like ${like}`;
  for (
    const table of ["fmp_quote", "fmp_profile", "fmp_financial_statement", "fmp_ratios_ttm"]
  ) {
    await sql`delete from ${sql("public")}.${sql(table)} where symbol like ${like}`;
  }
  await sql`delete from public.fmp_dividend where symbol like ${like}`;
}

type Counts = { total: number; open: number; completed: number; failed: number; noData: number };

async function counts(like: string): Promise<Counts> {
  const [row] = await sql<Counts[]>`
    select count(*)::int as total,
           count(*) filter (where status in ('pending', 'processing'))::int as open,
           count(*) filter (where status = 'completed')::int as completed,
           count(*) filter (where status = 'failed')::int as failed,
           count(*) filter (where outcome = 'no_data')::int as "noData"
    from private.api_call_queue_v2 where key like ${like}`;
  return row;
}

/** Live processor runs and whether the provider can be claimed now (the tick's checks). */
async function capacity(): Promise<{ live: number; max: number; exceeded: boolean }> {
  const [row] = await sql<{ live: number; max: number; exceeded: boolean }[]>`
    select (select count(*)::int from private.processor_leases where expires_at > now()) as live,
           (select max_processor_runs from private.queue_settings) as max,
           public.is_quota_exceeded_v2('fmp') as exceeded`;
  return row;
}

type ManualResult = {
  runId: number | null;
  accepted: boolean;
  queued: number;
  seconds: number | null;
  status: string | null;
};

/** A selective manual sync (service role); resolves when its jobs have settled. */
async function manualSync(prefix: string): Promise<ManualResult> {
  const symbols = symbolsFor(prefix, 10);
  const started = performance.now();
  const res = await post(
    "queue-processor-v2",
    serviceRoleKey,
    { trigger: "manual", symbols, dataTypes: manualTypes },
  );
  if (res.status !== 202) throw new Error(`manual sync: ${res.status} ${JSON.stringify(res.body)}`);
  const result: ManualResult = {
    runId: res.body.run_id ?? null,
    accepted: res.body.accepted,
    queued: res.body.queued,
    seconds: null,
    status: null,
  };
  const deadline = Date.now() + 30 * 60_000;
  while (Date.now() < deadline) {
    const c = await counts(`${prefix}%`);
    if (c.total > 0 && c.open === 0) {
      result.seconds = (performance.now() - started) / 1000;
      break;
    }
    await sleep(200);
  }
  if (result.runId !== null) {
    for (let i = 0; i < 100; i++) {
      const [row] = await sql<{ run: { status: string } | null }[]>`
        select public.get_sync_run_v2(${result.runId}) as run`;
      result.status = row.run?.status ?? null;
      if (result.status !== "running") break;
      await sleep(200);
    }
  }
  return result;
}

/** Queues the size's items; 100 goes through track-subscription-v2 as a signed-in user. */
async function enqueue(symbols: string[]): Promise<{ queued: number; via: string }> {
  if (symbols.length <= 50) {
    const userId = crypto.randomUUID();
    await sql`insert into auth.users (id, email) values (${userId}, ${`load-${userId}@bench.local`})`;
    try {
      const token = await mintJwt({ role: "authenticated", sub: userId });
      const res = await post(
        "track-subscription-v2",
        token,
        { symbols, dataTypes, action: "track", clientId: "load-bench" },
        anonKey,
      );
      if (res.status !== 200 || res.body?.degraded) {
        throw new Error(`track: ${res.status} ${JSON.stringify(res.body)}`);
      }
      return { queued: res.body.queued.length, via: "track-subscription-v2" };
    } finally {
      await sql`delete from auth.users where id = ${userId}`;
      await sql`delete from private.rate_limits where bucket = ${`track-subscription:${userId}`}`;
    }
  }
  const items = dataTypes.flatMap((data_type) =>
    symbols.map((key) => ({ data_type, key, priority: 50 }))
  );
  const [{ queued }] = await sql<{ queued: number }[]>`
    select count(*) filter (where created)::int as queued
    from public.queue_refresh_batch_v2(${sql.json(items)})`;
  return { queued, via: "queue_refresh_batch_v2" };
}

type Stats = { requests: number; bytes: number; by_status: Record<string, number> };

async function runSize(n: number, index: number) {
  const prefix = `LD${index}`;
  const manualPrefixes = [0, 1, 2].map((m) => `LM${index}${m}`);
  const symbols = symbolsFor(prefix, n / dataTypes.length);
  for (const p of [prefix, ...manualPrefixes]) await removeRows(p);
  await fixture("reset");
  await fixture("faults", {
    fault: "latency",
    latency_ms: latencyMs - jitterMs,
    jitter_ms: 2 * jitterMs,
    id: "load",
  });
  const [{ max_run: maxRunBefore }] = await sql<{ max_run: string }[]>`
    select coalesce(max(id), 0) as max_run from private.sync_runs`;

  // Upstream calls per calendar minute, sampled every second from the fixture's counters.
  const perMinute = new Map<string, number>();
  let sampling = true;
  let last = 0;
  const sampler = (async () => {
    while (sampling) {
      const stats: Stats = await fixture("stats", undefined, "GET");
      const minute = new Date().toISOString().slice(0, 16);
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + stats.requests - last);
      last = stats.requests;
      await sleep(1_000);
    }
  })();

  const started = performance.now();
  const { queued, via } = await enqueue(symbols);
  const enqueueSeconds = (performance.now() - started) / 1000;
  const manual = Promise.all(manualPrefixes.map((p) => manualSync(p)));

  let wakes = 0;
  let refused = 0;
  const like = `${prefix}%`;
  const deadline = Date.now() + 60 * 60_000;
  let settled = await counts(like);
  while (settled.open > 0 || settled.total < queued) {
    if (Date.now() > deadline) throw new Error(`size ${n}: not settled within an hour`);
    const cap = await capacity();
    if (!cap.exceeded && cap.live < cap.max) {
      const answers = await Promise.all(
        Array.from(
          { length: Math.min(3, cap.max - cap.live) },
          () => post("queue-processor-v2", processorSecret, { trigger: "wake" }),
        ),
      );
      wakes += answers.length;
      refused += answers.filter((a) => !a.body?.accepted).length;
    }
    await sleep(500);
    settled = await counts(like);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const manualResults = await manual;
  sampling = false;
  await sampler;

  const stats: Stats = await fixture("stats", undefined, "GET");
  const [usage] = await sql<
    { charged_calls: number; stored_bytes: number; reserved_bytes: number }[]
  >`
    select coalesce(sum(reserved_calls), 0)::int as charged_calls,
           coalesce(sum(actual_bytes), 0)::bigint::float8 as stored_bytes,
           coalesce(sum(reserved_bytes), 0)::bigint::float8 as reserved_bytes
    from private.api_call_queue_v2 where key like ${like}`;
  const [{ quota, runs }] = await sql<
    { quota: Record<string, unknown>; runs: Record<string, number> }[]
  >`
    select public.get_quota_status_v2('fmp') as quota,
           (select jsonb_build_object(
              'runs', count(*),
              'succeeded', count(*) filter (where status = 'succeeded'),
              'partial', count(*) filter (where status = 'partial'),
              'failed', count(*) filter (where status = 'failed'),
              'mean_seconds', round(avg(extract(epoch from finished_at - started_at))::numeric, 2))
            from private.sync_runs where id > ${maxRunBefore}) as runs`;
  const peakMinute = Math.max(0, ...perMinute.values());
  const successRate = settled.completed / settled.total;
  const errorRate = settled.failed / settled.total;
  const target = targets[n];
  const result = {
    items: n,
    symbols: symbols.length,
    data_types: dataTypes,
    enqueued_via: via,
    queued,
    enqueue_seconds: round(enqueueSeconds),
    wall_seconds: round(wallSeconds),
    items_per_second: round(n / wallSeconds),
    completed: settled.completed,
    no_data: settled.noData,
    failed: settled.failed,
    success_rate: successRate,
    error_rate: errorRate,
    target_seconds: target ?? null,
    meets_time_target: target === undefined ? null : wallSeconds < target,
    meets_success_target: successRate > targetSuccess,
    wakes,
    wakes_refused: refused,
    runs,
    manual_syncs: manualResults,
    upstream: {
      calls: stats.requests,
      bytes: stats.bytes,
      by_status: stats.by_status,
      calls_charged: usage.charged_calls,
      calls_per_minute_peak: peakMinute,
      calls_per_minute_limit: callsPerMinute,
      calls_per_minute: Object.fromEntries(perMinute),
      quota_floor_seconds: round(
        Math.max(0, Math.ceil(usage.charged_calls / callsPerMinute) - 1) * 60,
      ),
    },
    bytes: { stored_actual: usage.stored_bytes, reserved_at_claim: usage.reserved_bytes },
    quota_after: quota,
  };
  print(result);
  for (const p of [prefix, ...manualPrefixes]) await removeRows(p);
  return result;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function print(r: Record<string, unknown> & { [key: string]: unknown }) {
  // deno-lint-ignore no-explicit-any
  const x = r as any;
  const target = x.target_seconds === null
    ? "no seed target"
    : `target < ${x.target_seconds} s: ${x.meets_time_target ? "met" : "MISSED"}`;
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const mb = (v: number) => `${(v / 1e6).toFixed(2)} MB`;
  console.log(
    `\n== ${x.items} items (${x.symbols} symbols × ${x.data_types.length} data types) ==`,
  );
  console.log(
    `wall time        ${x.wall_seconds} s (${target}); enqueue ${x.enqueue_seconds} s via ${x.enqueued_via}; ${x.items_per_second} items/s`,
  );
  console.log(
    `outcome          ${x.completed} completed (${x.no_data} no data), ${x.failed} failed: success ${
      pct(x.success_rate)
    } (target > 99%: ${x.meets_success_target ? "met" : "MISSED"}), errors ${pct(x.error_rate)}`,
  );
  console.log(
    `processor        ${x.runs.runs} runs (${x.runs.succeeded} succeeded, ${x.runs.partial} partial, ${x.runs.failed} failed), mean ${x.runs.mean_seconds} s; ${x.wakes} wake POSTs (${x.wakes_refused} refused: max runs)`,
  );
  console.log(
    `upstream calls   ${x.upstream.calls} made, ${x.upstream.calls_charged} charged; busiest minute ${x.upstream.calls_per_minute_peak} of ${x.upstream.calls_per_minute_limit}/min; quota floor ≈ ${x.upstream.quota_floor_seconds} s`,
  );
  const q = x.quota_after;
  console.log(
    `upstream bytes   ${mb(x.upstream.bytes)} served, ${
      mb(x.bytes.stored_actual)
    } counted; 30-day window ${mb(Number(q.bytes_per_30d.used))} of ${
      q.bytes_per_30d.limit === null ? "unlimited" : mb(Number(q.bytes_per_30d.limit))
    }`,
  );
  for (const [i, m] of x.manual_syncs.entries()) {
    console.log(
      `manual sync ${i + 1}    run ${m.runId ?? "-"} (${
        m.accepted ? "accepted" : "queued only: runs busy"
      }), ${m.queued} queued, settled in ${m.seconds === null ? "-" : round(m.seconds)} s, run ${
        m.status ?? "-"
      }`,
    );
  }
}

async function main() {
  const paused = await sql<{ jobid: string }[]>`
    select j.jobid, cron.alter_job(j.jobid, active := false)
    from cron.job as j where j.jobname like 'keepfresh%' and j.active order by j.jobid`;
  const [saved] = await sql<{ calls_per_minute: number | null }[]>`
    select calls_per_minute from private.providers where provider = 'fmp'`;
  await sql`
    update private.providers set calls_per_minute = ${callsPerMinute}, state = 'ok', state_until = null
    where provider = 'fmp'`;
  const [settings] = await sql`
    select q.max_processor_runs, p.calls_per_day, p.bytes_per_30d
    from private.queue_settings as q, private.providers as p where p.provider = 'fmp'`;
  const config = {
    fixture_latency_ms: `${latencyMs} ± ${jitterMs}`,
    calls_per_minute: callsPerMinute,
    calls_per_day: settings.calls_per_day,
    bytes_per_30d: settings.bytes_per_30d,
    max_processor_runs: settings.max_processor_runs,
    processor_env: Object.fromEntries(
      [
        "KEEPFRESH_PROCESSOR_MAX_RUNS",
        "KEEPFRESH_PROCESSOR_BATCH_SIZE",
        "KEEPFRESH_PROCESSOR_CONCURRENCY",
        "KEEPFRESH_PROCESSOR_MAX_JOBS",
        "KEEPFRESH_PROCESSOR_BUDGET_MS",
        "KEEPFRESH_UPSTREAM_TIMEOUT_MS",
      ].map((name) => [name, Deno.env.get(name) ?? "(default)"]),
    ),
  };
  console.log(`load benchmark: sizes ${sizes.join(", ")}; ${JSON.stringify(config)}`);
  const results = [];
  try {
    for (const [i, n] of sizes.entries()) results.push(await runSize(n, i));
  } finally {
    await fixture("reset").catch(() => {});
    await sql`update private.providers set calls_per_minute = ${saved.calls_per_minute} where provider = 'fmp'`;
    for (const { jobid } of paused) {
      await sql`select cron.alter_job(${jobid}::bigint, active := true)`;
    }
  }
  const dir = new URL("../../results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const file = new URL(
    `load-${new Date().toISOString().replaceAll(":", "-").replace(".", "-")}.json`,
    dir,
  );
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      { at: new Date().toISOString(), host: Deno.hostname(), config, results },
      null,
      2,
    ),
  );
  console.log(`\nresults written to ${decodeURIComponent(file.pathname)}`);
  await sql.end();
}

await main();
