// Presence benchmark: prints figures, asserts nothing.
//
//   1. stale → fresh latency after track-subscription-v2: a signed-in user (supabase-js
//      functions.invoke through the gateway) tracks a symbol whose quote is missing; the clock
//      stops when the quote row is in public.fmp_quote. The event path alone: the presence,
//      scheduler and processor cron jobs are unscheduled meanwhile (restored afterwards), so
//      what is measured is track → enqueue → wake → processor → FMP fixture → write. The
//      fixture's latency is set through its control API (--latency-ms, default 50).
//   2. the presence scan (check_and_queue_stale_data_from_presence_v2) with 10,000 live
//      subscriptions (100 users × 100 symbols) × 5 data types: all fresh (the pure staleness
//      check, the steady state), all stale on the first pass (staleness + queueing
//      presence_scan_max_items jobs), and all stale with every job already queued.
//
// Run against a stack started with the helpers of scripts/lib/stack.sh (as scripts/test does):
//   source scripts/lib/stack.sh; kf_env <db port> <gateway port> <fixture port>
//   deno run -A scripts/bench/presence.ts [--runs 40] [--latency-ms 50] [--symbols 10000]
// Everything it writes (users, subscriptions, rows, jobs, settings) is removed or restored.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import postgres from "postgres";
import { mintJwt } from "../local/jwt.ts";

function env(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: export the stack's env (kf_env) first`);
  return value;
}

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const value = Number(Deno.args[i + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be an integer >= 0`);
  return value;
}

const runs = flag("runs", 40);
const latencyMs = flag("latency-ms", 50);
const symbolCount = flag("symbols", 10_000);
const supabaseUrl = env("SUPABASE_URL");
const fixtureUrl = env("FMP_BASE_URL");
const sql = postgres(env("SUPABASE_DB_URL"), { prepare: false, max: 2, onnotice: () => {} });

const benchTypes = ["quote", "profile", "ratios-ttm", "shares-float", "grades-historical"];
const cronJobs = ["keepfresh-presence", "keepfresh-scheduled", "keepfresh-processor"];

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

function summary(label: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1);
  return `${label}: n=${sorted.length} p50=${f(percentile(sorted, 50))} ms p95=${
    f(percentile(sorted, 95))
  } ms min=${f(sorted[0])} ms max=${f(sorted[sorted.length - 1])} ms`;
}

async function fixture(path: string, body: unknown, method = "POST") {
  const res = await fetch(`${fixtureUrl}/__control/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`fixture control ${path}: ${res.status}`);
}

async function sleep(ms: number) {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

type Saved = {
  jobs: { jobname: string; schedule: string; command: string }[];
  provider: Record<string, unknown>;
  settings: Record<string, unknown>;
};

async function prepare(): Promise<Saved> {
  const jobs = await sql<Saved["jobs"]>`
    select jobname, schedule, command from cron.job where jobname = any(${cronJobs}::text[])`;
  await sql`select cron.unschedule(jobid) from cron.job where jobname = any(${cronJobs}::text[])`;
  const [provider] = await sql`
    select calls_per_minute, calls_per_day, bytes_per_30d from private.providers where provider = 'fmp'`;
  await sql`
    update private.providers
    set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null, state = 'ok', state_until = null
    where provider = 'fmp'`;
  const [settings] = await sql`
    select rate_limit_per_minute, presence_scan_max_items from private.presence_settings`;
  await sql`update private.presence_settings set rate_limit_per_minute = 100000`;
  return { jobs, provider, settings };
}

async function restore(saved: Saved) {
  await sql`
    update private.providers
    set calls_per_minute = ${saved.provider.calls_per_minute as number | null},
        calls_per_day = ${saved.provider.calls_per_day as number | null},
        bytes_per_30d = ${saved.provider.bytes_per_30d as number | null}
    where provider = 'fmp'`;
  await sql`
    update private.presence_settings
    set rate_limit_per_minute = ${saved.settings.rate_limit_per_minute as number},
        presence_scan_max_items = ${saved.settings.presence_scan_max_items as number}`;
  for (const job of saved.jobs) {
    await sql`select cron.schedule(${job.jobname}, ${job.schedule}, ${job.command})`;
  }
}

async function trackLatency(): Promise<void> {
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}, ${`bench-${userId}@test.local`})`;
  const token = await mintJwt({ role: "authenticated", sub: userId });
  const client: SupabaseClient = createClient(supabaseUrl, env("SUPABASE_ANON_KEY"), {
    global: { headers: { Authorization: `Bearer ${token}` } },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  await fixture("faults", { fault: "latency", latency_ms: latencyMs, id: "bench-presence" });
  const latencies: number[] = [];
  const answers: number[] = [];
  let timeouts = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const symbol = `BL${String(i).padStart(4, "0")}`;
      await sql`delete from public.fmp_quote where symbol = ${symbol}`;
      await sql`delete from private.refresh_state where data_type = 'quote' and key = ${symbol}`;
      await sql`delete from private.api_call_queue_v2 where data_type = 'quote' and key = ${symbol}`;
      const started = performance.now();
      const { data, error } = await client.functions.invoke("track-subscription-v2", {
        body: { symbols: [symbol], dataTypes: ["quote"], action: "track" },
      });
      answers.push(performance.now() - started);
      if (error || !data?.queued?.[0]?.created) {
        throw new Error(`track ${symbol} failed: ${error ?? JSON.stringify(data)}`);
      }
      let done = false;
      while (performance.now() - started < 30_000) {
        const [row] = await sql`select 1 from public.fmp_quote where symbol = ${symbol}`;
        if (row) {
          done = true;
          break;
        }
        await sleep(5);
      }
      if (done) latencies.push(performance.now() - started);
      else timeouts++;
      // Let the processor run end, so each sample starts from the same state (no run lingering).
      await sleep(200);
    }
  } finally {
    await fixture("faults?id=bench-presence", undefined, "DELETE");
    await sql`delete from auth.users where id = ${userId}`;
    await sql`delete from private.rate_limits where bucket = ${`track-subscription:${userId}`}`;
    await sql`delete from public.fmp_quote where symbol like 'BL%'`;
    await sql`delete from private.refresh_state where key like 'BL%'`;
    await sql`delete from private.api_call_queue_v2 where key like 'BL%'`;
  }
  console.log(
    `\n1. stale → fresh after track-subscription-v2 (fixture latency ${latencyMs} ms per call)`,
  );
  console.log(`   ${summary("track-subscription-v2 response", answers)}`);
  console.log(`   ${summary("quote row written", latencies)}`);
  if (timeouts > 0) console.log(`   not fresh within 30 s: ${timeouts} of ${runs}`);
}

async function timeScan(label: string, repeat: number): Promise<Record<string, unknown>> {
  const times: number[] = [];
  let last: Record<string, unknown> = {};
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    const [row] = await sql<{ r: Record<string, unknown> }[]>`
      select public.check_and_queue_stale_data_from_presence_v2() as r`;
    times.push(performance.now() - started);
    last = row.r;
  }
  console.log(`   ${summary(label, times)}`);
  return last;
}

async function scanBenchmark(): Promise<void> {
  const users = Math.max(1, Math.ceil(symbolCount / 100));
  const [{ count: before }] = await sql`
    select count(*)::int as count from public.active_subscriptions_v2 where expires_at > now()`;
  await sql`
    insert into auth.users (id, email)
    select ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'bench-scan-' || g || '@test.local'
    from generate_series(1, ${users}) as g`;
  try {
    await sql`
      insert into public.active_subscriptions_v2 (user_id, client_id, symbol, data_types, last_seen_at, expires_at)
      select ('00000000-0000-4000-8000-' || lpad((1 + (g - 1) / 100)::text, 12, '0'))::uuid, 'bench',
             'PB' || lpad(g::text, 5, '0'), ${benchTypes}::text[], now(), now() + interval '1 hour'
      from generate_series(1, ${symbolCount}) as g`;
    await sql`analyze public.active_subscriptions_v2`;
    console.log(
      `\n2. presence scan: ${symbolCount} live subscriptions (${users} users) × ${benchTypes.length} data types` +
        ` (${before} other live subscriptions)`,
    );

    // All stale, first pass: staleness of every pair plus queueing the capped number of jobs.
    await sql`delete from private.api_call_queue_v2 where key like 'PB%'`;
    const first = await timeScan("all stale, first pass (queues up to presence_scan_max_items)", 1);
    console.log(
      `     pairs=${first.pairs} stale=${first.stale} queued=${first.queued} more=${first.more}`,
    );
    // All stale, every job already active: the steady state while the processor catches up.
    await sql`update private.presence_settings set presence_scan_max_items = 100000`;
    await timeScan("all stale, queueing the rest (up to 100,000 items)", 1);
    const queuedAll = await timeScan("all stale, every job already queued", 5);
    console.log(`     stale without an active job=${queuedAll.stale} queued=${queuedAll.queued}`);
    await sql`delete from private.api_call_queue_v2 where key like 'PB%'`;
    // Reclaim the 50,000 deleted jobs now, so autovacuum does not compete with what follows.
    await sql`vacuum (analyze) private.api_call_queue_v2`;

    // All fresh: the pure staleness check.
    await sql`
      insert into public.fmp_quote (symbol, price, fetched_at)
      select 'PB' || lpad(g::text, 5, '0'), 1, now() from generate_series(1, ${symbolCount}) as g`;
    await sql`
      insert into public.fmp_profile (symbol, exchange, fetched_at)
      select 'PB' || lpad(g::text, 5, '0'), 'NASDAQ', now() from generate_series(1, ${symbolCount}) as g`;
    await sql`
      insert into public.fmp_ratios_ttm (symbol, data, fetched_at)
      select 'PB' || lpad(g::text, 5, '0'), '{}', now() from generate_series(1, ${symbolCount}) as g`;
    await sql`
      insert into public.fmp_shares_float (symbol, fetched_at)
      select 'PB' || lpad(g::text, 5, '0'), now() from generate_series(1, ${symbolCount}) as g`;
    await sql`
      insert into public.fmp_grades_historical (symbol, date, fetched_at)
      select 'PB' || lpad(g::text, 5, '0'), d::date, now()
      from generate_series(1, ${symbolCount}) as g
      cross join generate_series(date '2026-01-01', date '2026-01-10', interval '1 day') as d`;
    await sql`analyze public.fmp_quote, public.fmp_profile, public.fmp_ratios_ttm,
      public.fmp_shares_float, public.fmp_grades_historical`;
    const fresh = await timeScan("all fresh (grades: 10 rows per symbol)", 5);
    console.log(`     pairs=${fresh.pairs} stale=${fresh.stale} queued=${fresh.queued}`);
  } finally {
    await sql`delete from private.api_call_queue_v2 where key like 'PB%'`;
    await sql`delete from private.refresh_state where key like 'PB%'`;
    for (const table of ["fmp_quote", "fmp_profile", "fmp_ratios_ttm", "fmp_shares_float"]) {
      await sql`delete from public.${sql(table)} where symbol like 'PB%'`;
    }
    await sql`delete from public.fmp_grades_historical where symbol like 'PB%'`;
    await sql`
      delete from auth.users where id in (
        select ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid
        from generate_series(1, ${users}) as g
      )`;
  }
}

const saved = await prepare();
try {
  const [machine] = await sql`select version() as version`;
  console.log(
    `keepfresh presence benchmark — ${
      machine.version.split(",")[0]
    }, ${navigator.hardwareConcurrency} cores`,
  );
  if (runs > 0) await trackLatency();
  if (symbolCount > 0) await scanBenchmark();
} finally {
  await restore(saved);
  await sql.end();
}
