// The presence scan (advisory lock 42) and the scheduler (lock 43) are exclusive: while one
// session runs either in an open transaction, a second session's call skips at once with
// "busy" instead of waiting (overdue cron runs would pile up), and once the first commits the
// second runs. One does not block the other. Needs two connections, so it is not in pgTAP.
import assert from "node:assert/strict";
import { connectDb } from "./_stack.ts";

type Sql = ReturnType<typeof connectDb>;
type Tick = { ran: boolean; reason?: string };

const functions = [
  { lock: 42, name: "check_and_queue_stale_data_from_presence_v2" },
  { lock: 43, name: "queue_scheduled_refreshes_v2" },
] as const;

async function call(sql: Sql, name: string): Promise<Tick> {
  const [row] = await sql<{ tick: Tick }[]>`select public.${sql(name)}() as tick`;
  return row.tick;
}

/** A second session that fails instead of waiting: a blocked call hits the statement timeout. */
function impatientSession(): Sql {
  return connectDb(1);
}

/** Turns the scheduler's throttle off (it would answer before the lock matters); returns the old value. */
async function setUp(sql: Sql): Promise<number> {
  const [saved] = await sql<{ seconds: number }[]>`
    select scheduled_min_interval_seconds as seconds from private.presence_settings`;
  await sql`update private.presence_settings set scheduled_min_interval_seconds = 0`;
  return saved.seconds;
}

async function tearDown(sql: Sql, seconds: number) {
  await sql`update private.presence_settings set scheduled_min_interval_seconds = ${seconds}`;
}

for (const { lock, name } of functions) {
  Deno.test(`presence locks - ${name} skips with busy while another session holds lock ${lock}`, async () => {
    const first = connectDb(1);
    const second = impatientSession();
    const saved = await setUp(first);
    try {
      await second`set statement_timeout = '5s'`;
      await first.begin(async (tx) => {
        const mine = await call(tx as unknown as Sql, name);
        assert.notEqual(mine.reason, "busy", `the first session runs: ${JSON.stringify(mine)}`);
        const [held] = await tx<{ held: boolean }[]>`
          select exists (
            select 1 from pg_catalog.pg_locks
            where locktype = 'advisory' and pid = pg_catalog.pg_backend_pid()
              and classid = private.advisory_namespace()::oid and objid = ${lock}::oid
              and objsubid = 2
          ) as held`;
        assert.equal(held.held, true, `the first session holds (namespace, ${lock})`);

        const theirs = await call(second, name);
        assert.deepEqual(
          { ran: theirs.ran, reason: theirs.reason },
          { ran: false, reason: "busy" },
          "the second session skips without waiting",
        );
        const other = functions.find((f) => f.lock !== lock)!;
        const unaffected = await call(second, other.name);
        assert.notEqual(unaffected.reason, "busy", `lock ${lock} does not block ${other.name}`);
      });

      // Committed: the lock is gone. A cron tick may take it for a moment, so retry briefly.
      let after: Tick | undefined;
      for (let i = 0; i < 20; i++) {
        after = await call(second, name);
        if (after.reason !== "busy") break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.notEqual(after?.reason, "busy", "after the first commits, the second runs");
    } finally {
      await tearDown(first, saved);
      await first.end();
      await second.end();
    }
  });
}

Deno.test("presence locks - two concurrent presence scans: exactly one runs", async () => {
  const sessions = [connectDb(1), connectDb(1)];
  try {
    // Both start a transaction, then both call the scan before either commits.
    const gate = Promise.withResolvers<void>();
    const results: Tick[] = [];
    const runs = sessions.map((sql) =>
      sql.begin(async (tx) => {
        await tx`select 1`;
        await gate.promise;
        results.push(await call(tx as unknown as Sql, functions[0].name));
        await new Promise((resolve) => setTimeout(resolve, 300));
      })
    );
    gate.resolve();
    await Promise.all(runs);
    const busy = results.filter((r) => r.reason === "busy").length;
    // A cron tick could hold the lock too and make both skip; never may both run.
    assert.ok(busy >= 1, `at most one ran: ${JSON.stringify(results)}`);
  } finally {
    await Promise.all(sessions.map((sql) => sql.end()));
  }
});

Deno.test("presence locks - the scan skips an expired subscription another session holds, never waits", async () => {
  const holder = connectDb(1);
  const scanner = impatientSession();
  const userId = crypto.randomUUID();
  try {
    await holder`insert into auth.users (id, email) values (${userId}, ${`locks-${userId}@test.local`})`;
    await holder`
      insert into public.active_subscriptions_v2 (user_id, client_id, symbol, last_seen_at, expires_at)
      values (${userId}, 'locks', 'KFL1', now() - interval '10 minutes', now() - interval '1 second'),
             (${userId}, 'locks', 'KFL2', now() - interval '10 minutes', now() - interval '1 second')`;
    await scanner`set statement_timeout = '5s'`;
    const live = async () =>
      (await holder<{ symbol: string }[]>`
        select symbol from public.active_subscriptions_v2 where user_id = ${userId} order by symbol`)
        .map((row) => row.symbol);

    await holder.begin(async (tx) => {
      // A track call renewing KFL1 right now holds its row.
      await tx`
        select id from public.active_subscriptions_v2
        where user_id = ${userId} and symbol = 'KFL1' for update`;
      let scanned: Tick | undefined;
      for (let i = 0; i < 20; i++) {
        scanned = await call(scanner, functions[0].name);
        if (scanned.reason !== "busy") break; // a cron tick may hold lock 42 for a moment
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.notEqual(scanned?.reason, "busy");
    });
    assert.deepEqual(await live(), ["KFL1"], "the held row was skipped, the other one expired");

    let after: string[] = [];
    for (let i = 0; i < 20; i++) {
      await call(scanner, functions[0].name);
      after = await live();
      if (after.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.deepEqual(after, [], "once released, the next scan expires it");
  } finally {
    await holder`delete from auth.users where id = ${userId}`;
    await holder.end();
    await scanner.end();
  }
});
