// Vocabulary benchmark (issue 5): prints figures beside the seed's targets, asserts nothing.
//
//   1. commit → consumer has the new version: a writer commits a new project name (one
//      autocommit INSERT); a consumer LISTENing on vocabulary_changed reads public.get_vocabulary()
//      on each notification; the clock runs from just before the INSERT is sent until the
//      consumer holds a vocabulary that contains the name. p50/p95/p99 over --writes writes
//      (default 500), on top of the data set of 2.
//   2. full rebuild (public.rebuild_vocabulary()) at 1,000 projects, 500 categories and 200 files
//      (5,000 expense and 2,000 cash-flow lines): median and max of --rebuilds runs of an
//      unchanged vocabulary, and one "cold" run after the snapshot's terms were deleted. Also the
//      read path: get_vocabulary() from the snapshot and from the fallback.
//   3. trigger overhead: a 10,000-row INSERT ... SELECT into "Project" (all new names, and 100
//      distinct names), 1,000 single-row autocommit INSERTs into "Project" (new names: every one
//      changes the version), and 1,000 into "Expenses" whose file and category already exist
//      (the common case: counts change, the version does not), each with the vocabulary
//      triggers and with them disabled (ALTER TABLE ... DISABLE TRIGGER, in the measured
//      transaction for the bulk insert, for the whole run for the single rows). Timed: the
//      INSERT plus its COMMIT (the commit step runs at commit). Runs alternate, medians shown.
//
// Needs SUPABASE_DB_URL (a database with keepfresh installed that you may write to: the stack of
// scripts/test or a scratch one; never production: it disables the "Project" and "Expenses"
// triggers while it measures). Starts nothing.
//   source scripts/lib/stack.sh; kf_env <db port> <gateway port> <fixture port>
//   deno run --allow-env --allow-net scripts/bench/vocabulary.ts [--writes 500] [--rebuilds 10] [--reps 5]
// Everything it writes is removed (its auth user and, by cascade, its rows); the triggers are
// re-enabled and the snapshot rebuilt before it exits.
import postgres from "postgres";

type Sql = postgres.Sql;

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const value = Number(Deno.args[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const dbUrl = Deno.env.get("SUPABASE_DB_URL");
if (!dbUrl) throw new Error("SUPABASE_DB_URL is not set: export the stack's env (kf_env) first");
const WRITES = flag("writes", 500);
const REBUILDS = flag("rebuilds", 10);
const REPS = flag("reps", 5);
const TRIGGERS = ["insert", "update", "delete", "truncate"].map((e) => `vocabulary_after_${e}`);

function connect(max = 1): Sql {
  return postgres(dbUrl!, { prepare: false, max, onnotice: () => {} });
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const median = (samples: number[]) => percentile(samples, 50);
const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
}

/** Disables (or enables) the vocabulary triggers of a source table in a session or transaction. */
async function setTriggers(
  sql: Sql | postgres.TransactionSql,
  enabled: boolean,
  table = "Project",
) {
  for (const trigger of TRIGGERS) {
    await sql.unsafe(
      `alter table public."${table}" ${enabled ? "enable" : "disable"} trigger ${trigger}`,
    );
  }
}

/** Seeds 1,000 projects, 500 categories and 200 files (with their lines) for the owner. */
async function seed(sql: Sql, owner: string, tag: string) {
  await sql`
    insert into public."Project" (name, location, owner_id)
    select 'Bench project ' || g || ' ' || ${tag}, 'City ' || (g % 100) || ' ' || ${tag}, ${owner}
    from generate_series(1, 1000) as g`;
  await sql`
    insert into public."ExpensesColumn" (project_id, name, owner_id)
    select p.id, 'Expense category ' || g || ' ' || ${tag}, ${owner}
    from generate_series(1, 250) as g
    join (select id, row_number() over (order by id) as n from public."Project" where owner_id = ${owner}) as p
      on p.n = g`;
  await sql`
    insert into public."CashFlowColumn" (project_id, name, owner_id)
    select p.id, 'Cash category ' || g || ' ' || ${tag}, ${owner}
    from generate_series(1, 250) as g
    join (select id, row_number() over (order by id) as n from public."Project" where owner_id = ${owner}) as p
      on p.n = g`;
  await sql`
    insert into public."Expenses" (project_id, file_name, category, amount, owner_id)
    select p.id, 'expenses-' || (g % 100) || '-' || ${tag} || '.pdf',
      'Expense category ' || (1 + g % 250) || ' ' || ${tag}, g, ${owner}
    from generate_series(1, 5000) as g
    join (select id, row_number() over (order by id) as n from public."Project" where owner_id = ${owner}) as p
      on p.n = 1 + g % 1000`;
  await sql`
    insert into public."CashFlow" (project_id, file_name, category, amount, owner_id)
    select p.id, 'bank-' || (g % 100) || '-' || ${tag} || '.csv',
      'Cash category ' || (1 + g % 250) || ' ' || ${tag}, g, ${owner}
    from generate_series(1, 2000) as g
    join (select id, row_number() over (order by id) as n from public."Project" where owner_id = ${owner}) as p
      on p.n = 1 + g % 1000`;
}

/** 1. commit → consumer has the new version. */
async function latency(owner: string, tag: string): Promise<number[]> {
  const writer = connect();
  const listener = connect();
  const reader = connect();
  let want: string | null = null;
  let done: ((at: number) => void) | null = null;
  let reading = false;
  let again = false;
  // The consumer: on every notification, read the vocabulary (one read at a time; a notification
  // that arrives during a read triggers one more read after it).
  const consume = async () => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    do {
      again = false;
      const [row] = await reader<
        { v: { projects: string[] } }[]
      >`select public.get_vocabulary() as v`;
      if (want !== null && row.v.projects.includes(want)) {
        const resolve = done;
        want = null;
        done = null;
        resolve?.(performance.now());
      }
    } while (again);
    reading = false;
  };
  await listener.listen("vocabulary_changed", () => void consume());
  const samples: number[] = [];
  try {
    for (let i = 0; i < WRITES; i++) {
      const name = `Latency ${i} ${tag}`;
      const seen = new Promise<number>((resolve) => (done = resolve));
      want = name;
      const started = performance.now();
      await writer`insert into public."Project" (name, owner_id) values (${name}, ${owner})`;
      samples.push((await seen) - started);
    }
  } finally {
    await Promise.all([writer.end(), listener.end(), reader.end()]);
  }
  return samples;
}

/** 3a. One 10,000-row INSERT ... SELECT plus its COMMIT, with or without the triggers (ms). */
async function bulkInsert(
  sql: Sql,
  owner: string,
  tag: string,
  distinctNames: number,
  triggers: boolean,
): Promise<number> {
  let started = 0;
  await sql.begin(async (tx) => {
    if (!triggers) await setTriggers(tx, false);
    started = performance.now();
    await tx`
      insert into public."Project" (name, location, owner_id)
      select 'Bulk ' || (g % ${distinctNames}) || ' ' || ${tag}, 'Bulk city ' || (g % 50), ${owner}
      from generate_series(1, 10000) as g`;
  });
  return performance.now() - started;
}

async function main() {
  const admin = connect(2);
  const owner = crypto.randomUUID();
  const tag = owner.slice(0, 8);
  const [{ server }] = await admin<{ server: string }[]>`select version() as server`;
  console.log(
    `keepfresh vocabulary benchmark: ${
      server.split(",")[0]
    }; ${navigator.hardwareConcurrency} CPUs`,
  );
  await admin`insert into auth.users (id, email) values (${owner}, ${`vocab-bench-${owner}@bench.local`})`;
  try {
    // 2. Data set and rebuild.
    const [seedMs] = await timed(() => seed(admin, owner, tag));
    const first = await admin<{ r: { vocabulary_counts: Record<string, number> } }[]>`
      select public.rebuild_vocabulary() as r`;
    const counts = first[0].r.vocabulary_counts;
    const rebuilds: number[] = [];
    for (let i = 0; i < REBUILDS; i++) {
      const [elapsed] = await timed(() => admin`select public.rebuild_vocabulary()`);
      rebuilds.push(elapsed);
    }
    await admin`delete from private.vocabulary_terms`;
    const [cold] = await timed(() => admin`select public.rebuild_vocabulary()`);
    const snapshotReads: number[] = [];
    for (let i = 0; i < 20; i++) {
      snapshotReads.push((await timed(() => admin`select public.get_vocabulary()`))[0]);
    }
    await admin`update private.vocabulary_state set dirty = true, dirty_since = now(), dirty_reason = 'benchmark'`;
    const fallbackReads: number[] = [];
    for (let i = 0; i < 20; i++) {
      fallbackReads.push((await timed(() => admin`select public.get_vocabulary()`))[0]);
    }
    await admin`select public.rebuild_vocabulary()`;

    // 1. Commit → consumer.
    const latencies = await latency(owner, tag);

    // 3. Trigger overhead.
    const bulk: Record<string, number[]> = {
      "new:on": [],
      "new:off": [],
      "dup:on": [],
      "dup:off": [],
    };
    const single: Record<string, number[]> = { on: [], off: [] };
    const existing: Record<string, number[]> = { on: [], off: [] };
    const [{ last }] = await admin<{ last: string }[]>`
      select coalesce(max(id), 0) as last from public."Expenses"`;
    const lastExpense = Number(last);
    const projectIds = (await admin<{ id: string }[]>`
      select id from public."Project" where owner_id = ${owner} and name like 'Bench project %' order by id`)
      .map((row) => row.id);
    const writer = connect();
    for (let rep = 0; rep < REPS; rep++) {
      for (const triggers of rep % 2 === 0 ? [true, false] : [false, true]) {
        for (const [key, distinct] of [["new", 10000], ["dup", 100]] as const) {
          bulk[`${key}:${triggers ? "on" : "off"}`].push(
            await bulkInsert(writer, owner, tag, distinct, triggers),
          );
          await writer.begin(async (tx) => {
            if (!triggers) await setTriggers(tx, false);
            await tx`delete from public."Project" where owner_id = ${owner} and name like 'Bulk %'`;
          });
        }
        if (!triggers) await setTriggers(admin, false);
        try {
          const [total] = await timed(async () => {
            for (let i = 0; i < 1000; i++) {
              await writer`
                insert into public."Project" (name, owner_id) values (${`Single ${rep} ${i} ${tag}`}, ${owner})`;
            }
          });
          single[triggers ? "on" : "off"].push(total);
          await admin`delete from public."Project" where owner_id = ${owner} and name like 'Single %'`;
        } finally {
          if (!triggers) await setTriggers(admin, true);
        }
        // The common case: a new expense line whose file and category already exist.
        if (!triggers) await setTriggers(admin, false, "Expenses");
        try {
          const [total] = await timed(async () => {
            for (let i = 0; i < 1000; i++) {
              await writer`
                insert into public."Expenses" (project_id, file_name, category, amount, owner_id)
                values (${projectIds[i % projectIds.length]}, ${`expenses-${i % 100}-${tag}.pdf`},
                  ${`Expense category ${1 + (i % 250)} ${tag}`}, ${i}, ${owner})`;
            }
          });
          existing[triggers ? "on" : "off"].push(total);
          await admin`delete from public."Expenses" where owner_id = ${owner} and id > ${lastExpense}`;
        } finally {
          if (!triggers) await setTriggers(admin, true, "Expenses");
        }
      }
    }
    await writer.end();

    const overhead = (on: number[], off: number[]) => {
      const extra = median(on) - median(off);
      return `${ms(median(off))} without, ${ms(median(on))} with: +${ms(extra)} (+${
        ((extra / median(off)) * 100).toFixed(0)
      }%)`;
    };
    console.log("");
    console.log(`data set: seeded in ${ms(seedMs)}; vocabulary counts ${JSON.stringify(counts)}`);
    console.log("");
    console.log(
      "figure                                               measured                          seed target",
    );
    console.log(
      `commit → consumer has the new version (${latencies.length} writes)   ` +
        `p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))}, ` +
        `p99 ${ms(percentile(latencies, 99))}, max ${ms(Math.max(...latencies))}    p95 < 2 s`,
    );
    console.log(
      `full rebuild, unchanged (${REBUILDS} runs)                     ` +
        `median ${ms(median(rebuilds))}, max ${ms(Math.max(...rebuilds))}            < 5 s`,
    );
    console.log(
      `full rebuild, cold (every term rewritten)            ${
        ms(cold)
      }                          < 5 s`,
    );
    console.log(
      `get_vocabulary() from the snapshot (20 reads)        median ${ms(median(snapshotReads))}`,
    );
    console.log(
      `get_vocabulary() from the fallback (20 reads)        median ${ms(median(fallbackReads))}`,
    );
    console.log(
      `10,000-row INSERT, all names new (${REPS} reps)          ${
        overhead(bulk["new:on"], bulk["new:off"])
      }`,
    );
    console.log(
      `10,000-row INSERT, 100 distinct names (${REPS} reps)     ${
        overhead(bulk["dup:on"], bulk["dup:off"])
      }`,
    );
    console.log(
      `1,000 single-row INSERTs, new names (${REPS} reps)       ${overhead(single.on, single.off)}`,
    );
    console.log(
      `  per single-row INSERT + COMMIT                     ` +
        `${ms(median(single.off) / 1000)} without, ${ms(median(single.on) / 1000)} with`,
    );
    console.log(
      `1,000 single-row INSERTs, existing terms (${REPS} reps) ${
        overhead(existing.on, existing.off)
      }`,
    );
    console.log(
      `  per single-row INSERT + COMMIT                     ` +
        `${ms(median(existing.off) / 1000)} without, ${ms(median(existing.on) / 1000)} with`,
    );
  } finally {
    await setTriggers(admin, true);
    await admin`delete from auth.users where id = ${owner}`;
    const [check] = await admin<{ r: { success: boolean }; matches: boolean }[]>`
      select public.rebuild_vocabulary() as r, private.vocabulary_matches_sources() as matches`;
    console.log("");
    console.log(
      `cleanup: bench rows removed, rebuild ${
        check.r.success ? "ok" : "FAILED"
      }, snapshot exact: ${check.matches}`,
    );
    await admin.end();
  }
}

await main();
