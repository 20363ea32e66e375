// The queue benchmark driver (issue 6); scripts/bench/queue builds the cluster and calls it.
//
// Systems, each on a FRESH database of the same cluster, with the same settings:
//   keepfresh  the SQL API: dedup enqueue (queue_refresh_batch_v2, chunks of 1,000), claim
//              (get_queue_batch_v2(batch, worker, 60)) and batch completion
//              (complete_queue_jobs_v2, outcome success, 512 bytes), with the fmp quota
//              enforced (limits far above the run); copies of kf_template (a full install)
//   pgboss     pg-boss: insert() in chunks of 1,000; work() with batchSize, localConcurrency =
//              workers, burstWhenBatchFull (fetch again at once while batches come back full),
//              pollingIntervalSeconds 0.5 (its minimum); maintenance and cron off
//   graphile   graphile-worker: addJobs() in chunks of 1,000; run() with concurrency =
//              workers, localQueue {size: batch}, completeJobBatchDelay 0, failJobBatchDelay 0,
//              prepared statements (its documented batching settings)
//   ceiling    pgbench on a bare queue: insert 1,000 rows per transaction; claim/delete
//              `... limit batch for update skip locked` per transaction, -c workers
//   kf+NAME    keepfresh with candidate SQL applied to its template (--candidate), for
//              measuring a proposed fix-forward migration against the same run
// Every job handler is a no-op. A figure counts only once every job is verified done exactly
// once (see each system's verify step). Runs are interleaved: each repetition runs every
// system at every worker count, the system order rotated by one per repetition.
//
// Per measurement: enqueue jobs/s, drain jobs/s, WAL bytes per job (pg_current_wal_lsn
// around the phase: cluster-wide, so autovacuum or checkpoints in the window count too),
// statements per job (pg_stat_statements top-level calls in the measured database, deferred
// foreign-key checks left out; each is one client round trip, BEGIN and COMMIT included,
// since none of the drivers pipeline), WAL fsync time (pg_stat_wal, track_wal_io_timing),
// server CPU per job (the measured database's backends, /proc) and client CPU per job (this
// process). A CHECKPOINT precedes every measurement, so each starts with the same
// full-page-image cost.
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import pg from "pg";
import { PgBoss } from "pg-boss";
import process from "node:process";
import postgres from "postgres";

type BaseSystem = "keepfresh" | "pgboss" | "graphile" | "ceiling";
/** A base system, or "kf+<name>": keepfresh with a candidate SQL change (--candidate). */
type System = BaseSystem | `kf+${string}`;
const SYSTEMS: BaseSystem[] = ["keepfresh", "pgboss", "graphile", "ceiling"];
const PEERS: System[] = ["pgboss", "graphile"];

type Options = {
  dbUrl: string;
  pgbench: string;
  stateDir: string;
  jobs: number;
  reps: number;
  workers: number[];
  only: System[];
  /** Candidate SQL changes, each measured as its own system on copies of kf_template. */
  candidates: { system: System; files: string[] }[];
  batch: number;
  /** graphile-worker's localQueue.size (default: the batch size). */
  graphileLocalQueue: number;
  profile: boolean;
};

/** Counters around one phase (enqueue or drain). */
type Phase = {
  seconds: number;
  jobsPerSecond: number;
  walBytes: number;
  statements: number;
  walSyncMs: number;
  /** CPU of the measured database's backends per job (see Meter); null for pgbench. */
  serverCpuUsPerJob: number | null;
  /** CPU of this Deno process (driver and, for peers, their library) per job. */
  clientCpuUsPerJob: number | null;
  /** Share of the machine's CPU busy during the phase, all processes (others' too). */
  machineBusy: number;
  topStatements: { query: string; calls: number; meanMs: number; totalMs: number }[];
};

type Sample = {
  system: System;
  workers: number;
  rep: number;
  database: string;
  enqueue: Phase;
  drain: Phase;
  /** Statements the driver itself sent during the drain (keepfresh only), per job. */
  driverStatementsPerJob?: number;
  /** keepfresh: SQLSTATE 40001/40P01 retries done inside the queue functions. */
  serializationRetries?: number;
  verified: string;
  /** 1-minute load average before the measurement (the machine may be shared). */
  loadBefore: number;
};

const ENQUEUE_CHUNK = 1000;
const MONITOR_TAG = "/* kf-bench-monitor */";
const quietLogger = new Logger(() => () => {});

function usage(message: string): never {
  console.error(`error: ${message}
usage: scripts/bench/queue [--jobs N] [--reps N] [--workers 1,8] [--batch 100]
                           [--only keepfresh,pgboss,graphile,ceiling] [--profile]
                           [--candidate FILE[,FILE...]]... [--graphile-local-queue N]`);
  Deno.exit(2);
}

function parseOptions(args: string[]): Options {
  const o: Options = {
    dbUrl: "",
    pgbench: "",
    stateDir: "",
    jobs: 20000,
    reps: 5,
    workers: [1, 8],
    only: [...SYSTEMS],
    candidates: [],
    batch: 100,
    graphileLocalQueue: 0,
    profile: false,
  };
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${name} needs an integer >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    switch (a) {
      case "--db-url":
        o.dbUrl = v, i++;
        break;
      case "--pgbench":
        o.pgbench = v, i++;
        break;
      case "--state-dir":
        o.stateDir = v, i++;
        break;
      case "--jobs":
        o.jobs = int(a, v, 1000), i++;
        break;
      case "--reps":
        o.reps = int(a, v, 1), i++;
        break;
      case "--batch":
        o.batch = int(a, v, 1), i++;
        break;
      case "--workers":
        o.workers = (v ?? "").split(",").map((w) => int(a, w, 1)), i++;
        break;
      case "--only":
        o.only = (v ?? "").split(",").map((s) => {
          if (!SYSTEMS.includes(s as BaseSystem)) {
            usage(`unknown system ${s} (${SYSTEMS.join(", ")})`);
          }
          return s as System;
        }), i++;
        break;
      case "--candidate": {
        // FILE[,FILE...]: applied in order to one copy of kf_template.
        if (!v) usage("--candidate needs SQL files");
        const files = v.split(",");
        const name = files
          .map((f) => f.replace(/^.*\//, "").replace(/\.sql$/, "").replace(/[^a-z0-9_]/gi, "_"))
          .join("+")
          .toLowerCase();
        o.candidates.push({ system: `kf+${name}`, files }), i++;
        break;
      }
      case "--graphile-local-queue":
        o.graphileLocalQueue = int(a, v, 2), i++;
        break;
      case "--profile":
        o.profile = true;
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  if (!o.dbUrl || !o.pgbench || !o.stateDir) usage("run it through scripts/bench/queue");
  o.only.push(...o.candidates.map((c) => c.system));
  if (!o.graphileLocalQueue) o.graphileLocalQueue = o.batch;
  if (o.batch > 1000) usage("--batch is at most 1000 (get_queue_batch_v2's limit)");
  if (o.jobs % ENQUEUE_CHUNK !== 0) usage(`--jobs must be a multiple of ${ENQUEUE_CHUNK}`);
  for (const w of o.workers) {
    // pgbench -t is per client: every client runs the same number of full batches.
    if (o.jobs % (o.batch * w) !== 0) {
      usage(`--jobs must be a multiple of batch x workers (${o.batch} x ${w})`);
    }
  }
  return o;
}

function urlFor(base: string, database: string): string {
  const u = new URL(base);
  u.pathname = `/${database}`;
  return u.toString();
}

function connect(url: string, max = 1) {
  return postgres(url, { max, prepare: false, onnotice: () => {}, connect_timeout: 5 });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads /proc files through the server (pg_read_file as superuser): the driver needs no
 * filesystem permission for them, and the backends are the server's own processes. A file that
 * is gone (a backend that exited) reads as ''.
 */
async function readProc(admin: postgres.Sql, paths: string[]) {
  const rows = await admin<{ text: string | null }[]>`
    select pg_read_file(p, 0, 65536, true) as text
    from unnest(${paths}::text[]) with ordinality as f (p, n)
    order by f.n`;
  return rows.map((r) => r.text ?? "");
}

/** CPU ticks (user + system, 1/100 s) of each process; 0 for one that is gone. */
async function processTicks(admin: postgres.Sql, pids: number[]) {
  const stats = await readProc(admin, pids.map((pid) => `/proc/${pid}/stat`));
  return stats.map((stat) => {
    if (!stat) return 0;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  });
}

/** Busy and total ticks of the whole machine (every process, ours or not). */
async function machineTicks(admin: postgres.Sql) {
  const [stat] = await readProc(admin, ["/proc/stat"]);
  const cpu = stat.split("\n")[0].split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

type Mark = {
  database: string;
  lsn: string;
  syncMs: number;
  t: number;
  backendTicks: Map<number, number>;
  client: { user: number; system: number };
  machine: { busy: number; total: number };
};

/**
 * The counters a phase is measured with. WAL and fsync time are cluster-wide; statements and
 * server CPU are those of the measured database: CPU is summed over the backends connected to
 * it at the end of the phase (a backend that connected during the phase counts from zero; one
 * that exited during it is missed: pgbench's, so the ceiling has no server CPU figure).
 */
class Meter {
  constructor(private admin: postgres.Sql) {}

  private async backends(database: string) {
    const rows = await this.admin<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = ${database} and backend_type = 'client backend'`;
    const ticks = await processTicks(this.admin, rows.map((r) => r.pid));
    return new Map(rows.map((r, i) => [r.pid, ticks[i]]));
  }

  async start(database: string): Promise<Mark> {
    await this.admin`select pg_stat_statements_reset()`;
    const [r] = await this.admin<{ lsn: string; sync_ms: number }[]>`
      select pg_current_wal_lsn()::text as lsn, wal_sync_time as sync_ms from pg_stat_wal`;
    const backendTicks = await this.backends(database);
    const machine = await machineTicks(this.admin);
    const client = process.cpuUsage();
    return {
      database,
      lsn: r.lsn,
      syncMs: Number(r.sync_ms),
      backendTicks,
      client,
      machine,
      t: performance.now(),
    };
  }

  async stop(mark: Mark, jobs: number, end = performance.now()): Promise<Phase> {
    const seconds = (end - mark.t) / 1000;
    const client = process.cpuUsage(mark.client);
    const machine = await machineTicks(this.admin);
    const after = await this.backends(mark.database);
    let ticks = 0;
    for (const [pid, t] of after) ticks += t - (mark.backendTicks.get(pid) ?? 0);
    // Backends publish WAL statistics at transaction end or when idle: give them a moment.
    await sleep(50);
    const [w] = await this.admin<{ wal: string; sync_ms: number }[]>`
      select pg_wal_lsn_diff(pg_current_wal_lsn(), ${mark.lsn}::pg_lsn)::text as wal,
        wal_sync_time as sync_ms
      from pg_stat_wal`;
    const rows = await this.admin<{ query: string; calls: string; mean: number; total: number }[]>`
      select s.query, s.calls::text as calls, s.mean_exec_time as mean, s.total_exec_time as total
      from pg_stat_statements as s
      join pg_database as d on d.oid = s.dbid
      where d.datname = ${mark.database} and s.query not like ${"%" + MONITOR_TAG + "%"}
      order by s.total_exec_time desc`;
    // Deferred foreign-key checks run at COMMIT outside any statement, so pg_stat_statements
    // lists them as top-level: they are not client round trips.
    const isRi = (q: string) =>
      /^SELECT .* FROM ONLY "[^"]+"\."[^"]+" x WHERE .* FOR KEY SHARE OF x$/s.test(q);
    const statements = rows.filter((r) => !isRi(r.query)).reduce((n, r) => n + Number(r.calls), 0);
    return {
      seconds,
      jobsPerSecond: jobs / seconds,
      walBytes: Number(w.wal),
      statements,
      walSyncMs: Number(w.sync_ms) - mark.syncMs,
      serverCpuUsPerJob: ticks * 10_000 / jobs,
      clientCpuUsPerJob: (client.user + client.system) / jobs,
      machineBusy: (machine.busy - mark.machine.busy) / (machine.total - mark.machine.total),
      topStatements: rows.slice(0, 6).map((r) => ({
        query: r.query.replace(/\s+/g, " ").slice(0, 160),
        calls: Number(r.calls),
        meanMs: Number(r.mean.toFixed(3)),
        totalMs: Number(r.total.toFixed(1)),
      })),
    };
  }
}

function assertExactlyOnce(seen: Uint8Array, what: string) {
  let missing = 0;
  let twice = 0;
  for (const n of seen) {
    if (n === 0) missing++;
    else if (n > 1) twice++;
  }
  if (missing || twice) {
    throw new Error(`${what}: ${missing} jobs never handled, ${twice} handled more than once`);
  }
}

/** keepfresh: dedup enqueue, claim with quota, batch completion, all through the SQL API. */
async function runKeepfresh(o: Options, meter: Meter, db: string, url: string, workers: number) {
  const main = connect(url);
  const sessions = Array.from({ length: workers }, () => connect(url));
  try {
    await Promise.all([main, ...sessions].map((s) => s`select 1`));
    const symbol = (i: number) => "B" + String(i + 1).padStart(6, "0");

    let mark = await meter.start(db);
    let created = 0;
    for (let i = 0; i < o.jobs; i += ENQUEUE_CHUNK) {
      const items = Array.from({ length: ENQUEUE_CHUNK }, (_, k) => ({
        data_type: "quote",
        key: symbol(i + k),
      }));
      const [r] = await main<{ n: number }[]>`
        select count(*) filter (where created)::int as n
        from public.queue_refresh_batch_v2(${main.json(items)})`;
      created += r.n;
    }
    const enqueue = await meter.stop(mark, o.jobs);
    if (created !== o.jobs) throw new Error(`keepfresh enqueue created ${created} of ${o.jobs}`);

    const claimed = new Uint8Array(o.jobs + 1); // by job id (1..N: a fresh sequence)
    const completed = new Uint8Array(o.jobs + 1);
    let statements = 0;
    mark = await meter.start(db);
    await Promise.all(sessions.map(async (sql, w) => {
      for (;;) {
        statements++;
        const jobs = await sql<{ id: string; lease_token: string }[]>`
          select id, lease_token from public.get_queue_batch_v2(${o.batch}, ${"bench-" + w}, 60)`;
        if (jobs.length === 0) return;
        for (const j of jobs) claimed[Number(j.id)]++;
        statements++;
        const [r] = await sql<{ ids: string[] }[]>`
          select public.complete_queue_jobs_v2(
            ${jobs.map((j) => j.id)}::bigint[], ${jobs.map((j) => j.lease_token)}::uuid[],
            ${jobs.map(() => "success")}::text[], ${jobs.map(() => 512)}::bigint[], null) as ids`;
        for (const id of r.ids) completed[Number(id)]++;
        if (r.ids.length !== jobs.length) {
          throw new Error(`completion returned ${r.ids.length} of ${jobs.length} ids`);
        }
      }
    }));
    const drain = await meter.stop(mark, o.jobs);

    assertExactlyOnce(claimed.subarray(1), "keepfresh claims");
    assertExactlyOnce(completed.subarray(1), "keepfresh completions");
    const [v] = await main<{ completed: number; other: number; keys: number }[]>`
      select count(*) filter (where status = 'completed')::int as completed,
        count(*) filter (where status <> 'completed')::int as other,
        count(distinct key)::int as keys
      from private.api_call_queue_v2`;
    if (v.completed !== o.jobs || v.other !== 0 || v.keys !== o.jobs) {
      throw new Error(`keepfresh verify: ${JSON.stringify(v)}`);
    }
    let retries = 0;
    for (const s of sessions) {
      const [r] = await s<{ n: string }[]>`
        select coalesce(nullif(current_setting('keepfresh.serialization_retries', true), ''), '0') as n`;
      retries += Number(r.n);
    }
    return {
      enqueue,
      drain,
      driverStatementsPerJob: statements / o.jobs,
      serializationRetries: retries,
      verified:
        `${o.jobs} claimed once and completed once (driver), ${v.completed} rows in completed, none elsewhere`,
    };
  } finally {
    await Promise.all([main, ...sessions].map((s) => s.end({ timeout: 5 })));
  }
}

/** Polls (tagged, so not counted) until done() is true; returns when it saw it. */
async function waitFor(
  sql: postgres.Sql,
  query: string,
  done: (row: Record<string, unknown>) => boolean,
) {
  const deadline = performance.now() + 120_000;
  for (;;) {
    const [row] = await sql.unsafe(`${MONITOR_TAG} ${query}`);
    if (done(row)) return performance.now();
    if (performance.now() > deadline) throw new Error(`timed out waiting for: ${query}`);
    await sleep(2);
  }
}

/** pg-boss: insert() in chunks, work() in batches with localConcurrency = workers. */
async function runPgBoss(o: Options, meter: Meter, db: string, url: string, workers: number) {
  const boss = new PgBoss({
    connectionString: url,
    max: workers + 2,
    // Maintenance and cron off during the measurement: neither has work to do here.
    supervise: false,
    schedule: false,
  });
  const errors: unknown[] = [];
  boss.on("error", (e) => errors.push(e));
  const monitor = connect(url);
  try {
    await boss.start();
    await boss.createQueue("bench");
    await monitor`select 1`;

    let mark = await meter.start(db);
    for (let i = 0; i < o.jobs; i += ENQUEUE_CHUNK) {
      await boss.insert(
        "bench",
        Array.from({ length: ENQUEUE_CHUNK }, (_, k) => ({ data: { i: i + k } })),
      );
    }
    const enqueue = await meter.stop(mark, o.jobs);

    const seen = new Uint8Array(o.jobs);
    let handled = 0;
    let allHandled!: () => void;
    const handledAll = new Promise<void>((resolve) => (allHandled = resolve));
    mark = await meter.start(db);
    await boss.work<{ i: number }>("bench", {
      batchSize: o.batch,
      localConcurrency: workers,
      pollingIntervalSeconds: 0.5,
      burstWhenBatchFull: true,
    }, (jobs) => {
      for (const job of jobs) seen[job.data.i]++;
      handled += jobs.length;
      if (handled >= o.jobs) allHandled();
      return Promise.resolve();
    });
    await handledAll;
    // Completion is the statement after the handler: the drain ends when the last one commits.
    const end = await waitFor(
      monitor,
      `select count(*) filter (where state = 'completed')::int as done from pgboss.job where name = 'bench'`,
      (r) => r.done === o.jobs,
    );
    const drain = await meter.stop(mark, o.jobs, end);
    await boss.stop({ graceful: true, close: true, timeout: 10_000 });

    assertExactlyOnce(seen, "pg-boss handler calls");
    const [v] = await monitor<{ completed: number; other: number }[]>`
      select count(*) filter (where state = 'completed')::int as completed,
        count(*) filter (where state <> 'completed')::int as other
      from pgboss.job where name = 'bench'`;
    if (v.completed !== o.jobs || v.other !== 0) {
      throw new Error(`pg-boss verify: ${JSON.stringify(v)}`);
    }
    if (errors.length) throw new Error("pg-boss reported errors", { cause: errors[0] });
    return {
      enqueue,
      drain,
      verified: `each job handled once (handler), ${v.completed} rows completed in pgboss.job`,
    };
  } finally {
    await boss.stop({ graceful: false, close: true, timeout: 1000 }).catch(() => {});
    await monitor.end({ timeout: 5 });
  }
}

/** graphile-worker: addJobs() in chunks, run() with a local queue and batched completion. */
async function runGraphile(o: Options, meter: Meter, db: string, url: string, workers: number) {
  const utils = await makeWorkerUtils({ connectionString: url, logger: quietLogger });
  // The documented pool size: max(10, concurrency + 2), connected before the clock starts.
  const pool = new pg.Pool({ connectionString: url, max: Math.max(10, workers + 2) });
  const poolErrors: unknown[] = [];
  pool.on("error", (e) => poolErrors.push(e));
  pool.on("connect", (client) => client.on("error", (e) => poolErrors.push(e)));
  const monitor = connect(url);
  try {
    await utils.migrate();
    await monitor`select 1`;
    const clients = await Promise.all(
      Array.from({ length: Math.max(10, workers + 2) }, () => pool.connect()),
    );
    clients.forEach((c) => c.release());

    let mark = await meter.start(db);
    for (let i = 0; i < o.jobs; i += ENQUEUE_CHUNK) {
      await utils.addJobs(
        Array.from({ length: ENQUEUE_CHUNK }, (_, k) => ({
          identifier: "noop",
          payload: { i: i + k },
        })),
      );
    }
    const enqueue = await meter.stop(mark, o.jobs);

    const seen = new Uint8Array(o.jobs);
    let handled = 0;
    let allHandled!: () => void;
    const handledAll = new Promise<void>((resolve) => (allHandled = resolve));
    mark = await meter.start(db);
    const runner = await run({
      pgPool: pool,
      concurrency: workers,
      noHandleSignals: true,
      pollInterval: 2000,
      logger: quietLogger,
      crontab: "",
      preset: {
        worker: {
          preparedStatements: true,
          localQueue: { size: o.graphileLocalQueue },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      },
      taskList: {
        noop: (payload) => {
          seen[(payload as { i: number }).i]++;
          if (++handled >= o.jobs) allHandled();
          return Promise.resolve();
        },
      },
    });
    await handledAll;
    // graphile-worker deletes a job when it completes: the drain ends when the table is empty.
    const end = await waitFor(
      monitor,
      `select count(*)::int as left from graphile_worker._private_jobs`,
      (r) => r.left === 0,
    );
    const drain = await meter.stop(mark, o.jobs, end);
    await runner.stop();

    assertExactlyOnce(seen, "graphile-worker task calls");
    const [v] = await monitor<{ left: number }[]>`
      select count(*)::int as left from graphile_worker._private_jobs`;
    if (v.left !== 0) throw new Error(`graphile-worker verify: ${v.left} jobs left`);
    if (poolErrors.length) throw new Error("graphile-worker pool error", { cause: poolErrors[0] });
    return {
      enqueue,
      drain,
      verified: "each job handled once (task), jobs table empty (completed jobs are deleted)",
    };
  } finally {
    await utils.release();
    await pool.end().catch(() => {});
    await monitor.end({ timeout: 5 });
  }
}

async function pgbench(o: Options, db: string, script: string, clients: number, txns: number) {
  const u = new URL(o.dbUrl);
  const file = `${o.stateDir}/pgbench-${crypto.randomUUID()}.sql`;
  await Deno.writeTextFile(file, script);
  try {
    const out = await new Deno.Command(o.pgbench, {
      args: [
        "-n",
        "-h",
        u.hostname,
        "-p",
        u.port,
        "-U",
        decodeURIComponent(u.username),
        "-c",
        String(clients),
        "-j",
        String(Math.min(clients, 2)),
        "-t",
        String(txns),
        "-f",
        file,
        db,
      ],
      env: { PGPASSWORD: decodeURIComponent(u.password) },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(text);
    if (!out.success || !tps) {
      throw new Error(`pgbench failed: ${text}${new TextDecoder().decode(out.stderr)}`);
    }
    return Number(tps[1]);
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

/** pgbench's backends and process are gone when the phase ends: no CPU figures. */
const PGBENCH_CPU = { serverCpuUsPerJob: null, clientCpuUsPerJob: null };

/** The ceiling: a bare SKIP LOCKED claim/delete queue driven by pgbench. */
async function runCeiling(o: Options, meter: Meter, db: string, url: string, workers: number) {
  const sql = connect(url);
  try {
    await sql`create table q (id bigserial primary key, payload int)`;
    let mark = await meter.start(db);
    const enqTps = await pgbench(
      o,
      db,
      `insert into q (payload) select g from generate_series(1, ${ENQUEUE_CHUNK}) as g;\n`,
      1,
      o.jobs / ENQUEUE_CHUNK,
    );
    const enqueue = { ...await meter.stop(mark, o.jobs), ...PGBENCH_CPU };
    enqueue.jobsPerSecond = enqTps * ENQUEUE_CHUNK;
    enqueue.seconds = o.jobs / enqueue.jobsPerSecond;

    mark = await meter.start(db);
    const tps = await pgbench(
      o,
      db,
      `with c as (select id from q order by id limit ${o.batch} for update skip locked)\n` +
        `delete from q using c where q.id = c.id;\n`,
      workers,
      o.jobs / o.batch / workers,
    );
    const drain = { ...await meter.stop(mark, o.jobs), ...PGBENCH_CPU };
    drain.jobsPerSecond = tps * o.batch;
    drain.seconds = o.jobs / drain.jobsPerSecond;

    // A row can be deleted once; every row enqueued must be gone, and N deletes counted.
    let v = { left: -1, deleted: -1, last: -1 };
    for (let i = 0; i < 40; i++) {
      [v] = await sql<{ left: number; deleted: number; last: number }[]>`
        select (select count(*)::int from q) as left,
          (select n_tup_del::int from pg_stat_user_tables where relname = 'q') as deleted,
          (select last_value::int from q_id_seq) as last`;
      if (v.deleted === o.jobs) break;
      await sleep(50);
    }
    if (v.left !== 0 || v.deleted !== o.jobs || v.last !== o.jobs) {
      throw new Error(`ceiling verify: ${JSON.stringify(v)}`);
    }
    return {
      enqueue,
      drain,
      verified: `${o.jobs} rows inserted and ${v.deleted} deleted, table empty`,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const RUNNERS = {
  keepfresh: runKeepfresh,
  pgboss: runPgBoss,
  graphile: runGraphile,
  ceiling: runCeiling,
};

/** The database a system's measurement copies: keepfresh's install, a candidate's, or empty. */
function templateOf(system: System) {
  if (system === "keepfresh") return "kf_template";
  if (system.startsWith("kf+")) return dbName(system, "template");
  return "template0";
}

/** A database name for a system's measurement (at most 63 bytes: long candidate names hash). */
function dbName(system: System, suffix: string) {
  let name = system.replace(/[^a-z0-9_]/g, "_");
  if (name.length > 40) {
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    name = `${name.slice(0, 30)}_${h.toString(16)}`;
  }
  return `bench_${name}_${suffix}`;
}

/** Builds each candidate's template: a copy of kf_template with the candidate SQL applied. */
async function prepareCandidates(o: Options, admin: postgres.Sql) {
  for (const c of o.candidates) {
    const db = templateOf(c.system);
    await admin.unsafe(`drop database if exists ${db} with (force)`);
    await admin.unsafe(`create database ${db} template kf_template`);
    const sql = connect(urlFor(o.dbUrl, db));
    try {
      for (const file of c.files) await sql.unsafe(await Deno.readTextFile(file));
      await sql`vacuum analyze`;
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
}

async function dropCandidates(o: Options, admin: postgres.Sql) {
  for (const c of o.candidates) {
    await admin.unsafe(`drop database if exists ${templateOf(c.system)} with (force)`);
  }
}

async function measure(
  o: Options,
  admin: postgres.Sql,
  system: System,
  workers: number,
  rep: number,
) {
  const db = dbName(system, `w${workers}_r${rep}`);
  const runner = system.startsWith("kf+") ? runKeepfresh : RUNNERS[system as BaseSystem];
  await admin.unsafe(`drop database if exists ${db} with (force)`);
  await admin.unsafe(`create database ${db} template ${templateOf(system)}`);
  try {
    await admin`checkpoint`;
    const loadBefore = Deno.loadavg()[0];
    const r = await runner(o, new Meter(admin), db, urlFor(o.dbUrl, db), workers);
    return { system, workers, rep, database: db, ...r, loadBefore } as Sample;
  } finally {
    await dropWhenIdle(admin, db);
  }
}

/**
 * Drops a measurement's database once the clients that measured it have disconnected (the
 * peers' pools close asynchronously), forcing after 10 s.
 */
async function dropWhenIdle(admin: postgres.Sql, db: string) {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const [r] = await admin<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where datname = ${db}`;
    if (r.n === 0) break;
    await sleep(20);
  }
  await admin.unsafe(`drop database if exists ${db} with (force)`);
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

type Summary = {
  system: System;
  workers: number;
  n: number;
  enqueue: { median: number; min: number; max: number };
  drain: { median: number; min: number; max: number };
  drainVsBestPeer: number | null;
  drainVsCeiling: number | null;
  walBytesPerJob: { enqueue: number; drain: number };
  statementsPerJob: { enqueue: number; drain: number };
  walSyncMsPerThousandJobs: number;
  cpuUsPerJob: { server: number | null; client: number | null };
  machineBusy: number;
};

function summarise(o: Options, samples: Sample[]): Summary[] {
  const out: Summary[] = [];
  for (const w of o.workers) {
    for (const system of o.only) {
      const s = samples.filter((x) => x.system === system && x.workers === w);
      if (!s.length) continue;
      const stat = (f: (x: Sample) => number) => {
        const xs = s.map(f);
        return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
      };
      out.push({
        system,
        workers: w,
        n: s.length,
        enqueue: stat((x) => x.enqueue.jobsPerSecond),
        drain: stat((x) => x.drain.jobsPerSecond),
        drainVsBestPeer: null,
        drainVsCeiling: null,
        walBytesPerJob: {
          enqueue: median(s.map((x) => x.enqueue.walBytes / o.jobs)),
          drain: median(s.map((x) => x.drain.walBytes / o.jobs)),
        },
        statementsPerJob: {
          enqueue: median(s.map((x) => x.enqueue.statements / o.jobs)),
          drain: median(s.map((x) => x.drain.statements / o.jobs)),
        },
        walSyncMsPerThousandJobs: median(s.map((x) => x.drain.walSyncMs / o.jobs * 1000)),
        cpuUsPerJob: {
          server: s[0].drain.serverCpuUsPerJob === null
            ? null
            : median(s.map((x) => x.drain.serverCpuUsPerJob ?? 0)),
          client: s[0].drain.clientCpuUsPerJob === null
            ? null
            : median(s.map((x) => x.drain.clientCpuUsPerJob ?? 0)),
        },
        machineBusy: median(s.map((x) => x.drain.machineBusy)),
      });
    }
    const rows = out.filter((r) => r.workers === w);
    const peers = rows.filter((r) => PEERS.includes(r.system)).map((r) => r.drain.median);
    const best = peers.length ? Math.max(...peers) : null;
    const ceiling = rows.find((r) => r.system === "ceiling")?.drain.median ?? null;
    for (const r of rows) {
      r.drainVsBestPeer = best ? r.drain.median / best : null;
      r.drainVsCeiling = ceiling ? r.drain.median / ceiling : null;
    }
  }
  return out;
}

function fmtRate(s: { median: number; min: number; max: number }) {
  const k = (x: number) => Math.round(x).toLocaleString("en-US");
  return `${k(s.median)} (${k(s.min)}-${k(s.max)})`;
}

function table(rows: Summary[]) {
  const head = [
    "system",
    "workers",
    "enqueue jobs/s median (min-max)",
    "drain jobs/s median (min-max)",
    "drain/best peer",
    "drain/ceiling",
    "WAL B/job enq / drain",
    "stmts/job enq / drain",
    "fsync ms/1k jobs",
    "CPU us/job server / client",
    "machine busy",
  ];
  const body = rows.map((r) => [
    r.system,
    String(r.workers),
    fmtRate(r.enqueue),
    fmtRate(r.drain),
    r.drainVsBestPeer === null ? "-" : `${r.drainVsBestPeer.toFixed(2)}x`,
    r.drainVsCeiling === null ? "-" : `${r.drainVsCeiling.toFixed(2)}x`,
    `${Math.round(r.walBytesPerJob.enqueue)} / ${Math.round(r.walBytesPerJob.drain)}`,
    `${r.statementsPerJob.enqueue.toFixed(3)} / ${r.statementsPerJob.drain.toFixed(3)}`,
    r.walSyncMsPerThousandJobs.toFixed(1),
    `${r.cpuUsPerJob.server?.toFixed(0) ?? "-"} / ${r.cpuUsPerJob.client?.toFixed(0) ?? "-"}`,
    `${Math.round(r.machineBusy * 100)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") +
    " |";
  return [
    line(head),
    "|" +
    widths.map((w, i) => (i < 2 ? ":" : "") + "-".repeat(w + 1) + (i < 2 ? "" : ":")).join("|") +
    "|",
    ...body.map(line),
  ].join("\n");
}

/**
 * --profile, for keepfresh and each candidate, on fresh copies:
 *   * one worker, explicit transactions: how a claim's and a completion's time splits between
 *     the statement and its COMMIT (the WAL flush);
 *   * the plans of the statements over 1 ms inside one claim and one completion half-way
 *     through the drain (auto_explain: nested statements, ANALYZE, BUFFERS, triggers);
 *   * at the largest worker count: pg_stat_activity sampled every 5 ms during the drain, as the
 *     share of active-backend samples per wait event and call (claim or completion).
 */
async function profileKeepfresh(o: Options, admin: postgres.Sql, system: System) {
  const db = dbName(system, "profile");
  const url = urlFor(o.dbUrl, db);
  const fresh = async () => {
    await admin.unsafe(`drop database if exists ${db} with (force)`);
    await admin.unsafe(`create database ${db} template ${templateOf(system)}`);
  };
  const enqueue = async (sql: postgres.Sql) => {
    for (let i = 0; i < o.jobs; i += ENQUEUE_CHUNK) {
      const items = Array.from({ length: ENQUEUE_CHUNK }, (_, k) => ({
        data_type: "quote",
        key: "P" + String(i + k + 1).padStart(6, "0"),
      }));
      await sql`select count(*) from public.queue_refresh_batch_v2(${sql.json(items)})`;
    }
  };

  // 1. Statement and commit per call, one worker; plans half-way through.
  await fresh();
  const plans: string[] = [];
  const sql = postgres(url, {
    max: 1,
    prepare: false,
    onnotice: (n) => plans.push(String(n.message)),
  });
  const timing = { claimStmt: 0, claimCommit: 0, completeStmt: 0, completeCommit: 0, n: 0 };
  try {
    await enqueue(sql);
    const explainAt = Math.floor(o.jobs / o.batch / 2);
    for (let round = 0;; round++) {
      const explain = round === explainAt;
      if (explain) {
        await sql`load 'auto_explain'`;
        await sql.unsafe(`set auto_explain.log_min_duration = 1;
          set auto_explain.log_nested_statements = on; set auto_explain.log_analyze = on;
          set auto_explain.log_buffers = on; set auto_explain.log_triggers = on;
          set auto_explain.log_timing = off; set auto_explain.log_level = notice`);
      }
      await sql`begin`;
      const t1 = performance.now();
      const jobs = await sql<{ id: string; lease_token: string }[]>`
        select id, lease_token from public.get_queue_batch_v2(${o.batch}, 'profile', 60)`;
      const t2 = performance.now();
      await sql`commit`;
      const t3 = performance.now();
      if (jobs.length === 0) break;
      await sql`begin`;
      const t4 = performance.now();
      await sql`
        select public.complete_queue_jobs_v2(
          ${jobs.map((j) => j.id)}::bigint[], ${jobs.map((j) => j.lease_token)}::uuid[],
          ${jobs.map(() => "success")}::text[], ${jobs.map(() => 512)}::bigint[], null)`;
      const t5 = performance.now();
      await sql`commit`;
      const t6 = performance.now();
      if (explain) {
        await sql`set auto_explain.log_min_duration = -1`;
      } else {
        timing.claimStmt += t2 - t1;
        timing.claimCommit += t3 - t2;
        timing.completeStmt += t5 - t4;
        timing.completeCommit += t6 - t5;
        timing.n++;
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }

  // 2. Wait events at the largest worker count.
  const workers = Math.max(...o.workers);
  await fresh();
  const counts = new Map<string, number>();
  let total = 0;
  const sampler = connect(o.dbUrl);
  let sampling = true;
  const sampled = (async () => {
    while (sampling) {
      const rows = await sampler<{ k: string }[]>`
        select coalesce(wait_event_type || ':' || wait_event, 'CPU') || ' in ' ||
          case when query like '%get_queue_batch_v2%' then 'claim'
            when query like '%complete_queue_jobs_v2%' then 'completion'
            when query like '%queue_refresh_batch_v2%' then 'enqueue' else 'other' end as k
        from pg_stat_activity
        where datname = ${db} and state = 'active' and backend_type = 'client backend'`;
      for (const r of rows) counts.set(r.k, (counts.get(r.k) ?? 0) + 1);
      total += rows.length;
      await sleep(5);
    }
  })();
  try {
    await runKeepfresh(o, new Meter(admin), db, url, workers);
  } finally {
    sampling = false;
    await sampled;
    await sampler.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists ${db} with (force)`);
  }
  const per = (x: number) => Number((x / timing.n).toFixed(3));
  return {
    system,
    batch: o.batch,
    msPerCall: {
      claimStatement: per(timing.claimStmt),
      claimCommit: per(timing.claimCommit),
      completeStatement: per(timing.completeStmt),
      completeCommit: per(timing.completeCommit),
    },
    waits: {
      workers,
      samples: total,
      shares: Object.fromEntries(
        [...counts.entries()].sort((x, y) => y[1] - x[1]).map((
          [k, n],
        ) => [k, Number((n / total).toFixed(3))]),
      ),
    },
    plans,
  };
}

async function environment(admin: postgres.Sql) {
  const [r] = await admin<{ version: string; settings: Record<string, string> }[]>`
    select version() as version, jsonb_object_agg(name, setting) as settings
    from pg_settings
    where name in ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size',
      'checkpoint_timeout', 'max_connections', 'work_mem', 'wal_sync_method',
      'track_wal_io_timing', 'autovacuum')`;
  const [cpu] = await readProc(admin, ["/proc/cpuinfo"]);
  // Some VMs have no "model name": fall back to vendor, family and model numbers.
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(cpu)?.[1];
  const model = field("model name") ??
    `${field("vendor_id") ?? "unknown"} family ${field("cpu family")} model ${field("model")}`;
  return {
    postgres: r.version,
    settings: r.settings,
    cpu: model,
    cores: navigator.hardwareConcurrency,
    memGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    deno: Deno.version.deno,
  };
}

/** The pinned npm specifiers of the drivers and peers, from deno.json. */
async function versions() {
  const imports = JSON.parse(await Deno.readTextFile("deno.json")).imports as Record<
    string,
    string
  >;
  return Object.fromEntries(
    ["pg-boss", "graphile-worker", "pg", "postgres"].map((name) => [name, imports[name]]),
  );
}

async function main() {
  const o = parseOptions(Deno.args);
  const admin = connect(o.dbUrl);
  const started = performance.now();
  try {
    const env = await environment(admin);
    console.log(
      `queue benchmark: ${o.jobs} jobs, batch ${o.batch}, workers ${o.workers.join(",")}, ` +
        `${o.reps} reps, systems ${
          o.only.join(",")
        }\n${env.cpu} x${env.cores}, ${env.memGiB} GiB; ` +
        `${env.postgres.split(" on ")[0]}`,
    );
    const load = Deno.loadavg()[0];
    if (load > 0.5) {
      console.log(
        `note: load average ${load.toFixed(2)} before the run: other processes share the CPU, ` +
          `so absolute figures are noisy (the interleaved ratios less so; see "machine busy")`,
      );
    }
    await prepareCandidates(o, admin);
    const samples: Sample[] = [];
    for (let rep = 0; rep < o.reps; rep++) {
      const order = o.only.map((_, i) => o.only[(i + rep) % o.only.length]);
      for (const system of order) {
        for (const w of o.workers) {
          const s = await measure(o, admin, system, w, rep);
          samples.push(s);
          console.log(
            `  rep ${rep + 1}/${o.reps} ${system.padEnd(9)} w=${w}: enqueue ${
              Math.round(s.enqueue.jobsPerSecond)
            }/s, drain ${Math.round(s.drain.jobsPerSecond)}/s (${s.drain.seconds.toFixed(2)} s), ` +
              `${(s.drain.walBytes / o.jobs).toFixed(0)} WAL B/job, ` +
              `${(s.drain.statements / o.jobs).toFixed(3)} stmts/job, CPU us/job ${
                s.drain.serverCpuUsPerJob?.toFixed(0) ?? "-"
              } server ${s.drain.clientCpuUsPerJob?.toFixed(0) ?? "-"} client, machine ${
                Math.round(s.drain.machineBusy * 100)
              }% busy` +
              (s.serializationRetries ? `, ${s.serializationRetries} 40001 retries` : ""),
          );
        }
      }
    }
    const summary = summarise(o, samples);
    const profile = [];
    if (o.profile) {
      for (const system of o.only.filter((x) => x === "keepfresh" || x.startsWith("kf+"))) {
        profile.push(await profileKeepfresh(o, admin, system));
      }
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`\n${table(summary)}\n`);
    console.log(
      `keepfresh: state copied from a full install per measurement, quota enforced (not binding); ` +
        `peers: fresh databases, handlers no-op, their enqueue has no dedup.\n` +
        `stmts/job: pg_stat_statements top-level calls in the measured database (one round trip ` +
        `each); WAL: cluster-wide LSN delta; drain/best peer: against the faster of pg-boss and ` +
        `graphile-worker at the same worker count. ${samples.length} measurements in ${
          seconds.toFixed(0)
        } s.`,
    );
    for (const p of profile) {
      console.log(
        `\nprofile ${p.system} (1 worker, batch ${p.batch}, ms per call): ${
          JSON.stringify(p.msPerCall)
        }\nwait events at ${p.waits.workers} workers (share of samples of active backends): ${
          JSON.stringify(p.waits.shares)
        }\nplans of the statements over 1 ms inside one claim and one completion, mid-drain:\n`,
      );
      console.log(p.plans.join("\n\n"));
    }
    await Deno.mkdir("results", { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const file = `results/queue-${stamp}.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify(
        {
          benchmark: "queue",
          at: new Date().toISOString(),
          seconds,
          options: { ...o, dbUrl: undefined, stateDir: undefined },
          versions: await versions(),
          environment: env,
          summary,
          samples,
          profile,
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`wrote ${file}`);
  } finally {
    await dropCandidates(o, admin).catch(() => {});
    await admin.end({ timeout: 5 });
  }
}

if (import.meta.main) {
  // A peer's pool client still open when its database is dropped (forced after 10 s) emits
  // 57P01 (admin_shutdown) with no listener left: harmless once the figures are taken.
  globalThis.addEventListener("error", (e) => {
    const err = e.error as { code?: string } | undefined;
    if (err?.code === "57P01") {
      console.error("note: a peer connection was closed by the database drop (57P01)");
      e.preventDefault();
    }
  });
  await main();
}
