// track-subscription-v2 end to end, as a browser app calls it: supabase-js functions.invoke with
// a signed-in user's token → gateway (verify_jwt) → function → ONE database call → wake-up of
// queue-processor-v2 → FMP fixture → target table. Users are rows in auth.users, created here
// and deleted afterwards (their subscriptions go with them).
import assert from "node:assert/strict";
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { mintJwt } from "../scripts/local/jwt.ts";
import { waitFor } from "./_processor.ts";
import { connectDb, stack } from "./_stack.ts";

type Sql = ReturnType<typeof connectDb>;
type Reply = { status: number; body: Record<string, unknown> | null; headers: Headers | null };

const supabaseUrl = stack.functionsUrl.replace(/\/functions\/v1$/, "");

async function createUser(sql: Sql): Promise<{ id: string; client: SupabaseClient }> {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${id}, ${`track-${id}@test.local`})`;
  const token = await mintJwt({ role: "authenticated", sub: id, email: `track-${id}@test.local` });
  const client = createClient(supabaseUrl, stack.anonKey, {
    global: { headers: { Authorization: `Bearer ${token}` } },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  return { id, client };
}

async function deleteUser(sql: Sql, id: string) {
  await sql`delete from auth.users where id = ${id}`;
  await sql`delete from private.rate_limits where bucket = ${`track-subscription:${id}`}`;
}

async function invoke(
  client: SupabaseClient,
  body: unknown,
  headers?: Record<string, string>,
): Promise<Reply> {
  const { data, error } = await client.functions.invoke("track-subscription-v2", {
    body: body as Record<string, unknown>,
    headers,
  });
  if (!error) return { status: 200, body: data, headers: null };
  if (error instanceof FunctionsHttpError) {
    const res = error.context as Response;
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  }
  throw error;
}

/** Runs `work` with the named cron jobs unscheduled, then schedules them again as they were. */
async function withoutCronJobs(sql: Sql, names: string[], work: () => Promise<void>) {
  const saved = await sql<{ jobname: string; schedule: string; command: string }[]>`
    select jobname, schedule, command from cron.job where jobname = any(${names}::text[])
    order by jobname`;
  await sql`select cron.unschedule(jobid) from cron.job where jobname = any(${names}::text[])`;
  try {
    await work();
  } finally {
    for (const job of saved) {
      await sql`select cron.schedule(${job.jobname}, ${job.schedule}, ${job.command})`;
    }
  }
}

/** Runs `work` without provider limits (the free tier's 250 calls a day), then restores them. */
async function withoutQuotaLimits(sql: Sql, work: () => Promise<void>) {
  const [saved] = await sql`
    select calls_per_minute, calls_per_day, bytes_per_30d from private.providers where provider = 'fmp'`;
  await sql`
    update private.providers
    set calls_per_minute = null, calls_per_day = null, bytes_per_30d = null,
        state = 'ok', state_until = null
    where provider = 'fmp'`;
  try {
    await work();
  } finally {
    await sql`
      update private.providers
      set calls_per_minute = ${saved.calls_per_minute}, calls_per_day = ${saved.calls_per_day},
          bytes_per_30d = ${saved.bytes_per_30d}
      where provider = 'fmp'`;
  }
}

Deno.test("track-subscription-v2 - track alone (no cron) brings stale data fresh into the target table", async () => {
  const sql = connectDb();
  const user = await createUser(sql);
  try {
    await withoutQuotaLimits(sql, async () => {
      await withoutCronJobs(
        sql,
        ["keepfresh-presence", "keepfresh-scheduled", "keepfresh-processor"],
        async () => {
          await sql`delete from public.fmp_quote where symbol = 'JPM'`;
          await sql`delete from private.refresh_state where data_type = 'quote' and key = 'JPM'`;
          await sql`delete from private.api_call_queue_v2 where data_type = 'quote' and key = 'JPM'`;
          const [before] = await sql`select public.is_data_stale_v2('quote', 'JPM') as stale`;
          assert.equal(before.stale, true, "no row: stale");

          const first = await invoke(user.client, {
            symbols: ["jpm"],
            dataTypes: ["quote"],
            action: "track",
            clientId: "tab-1",
          });
          assert.equal(first.status, 200, JSON.stringify(first.body));
          const queued = first.body!.queued as Array<Record<string, unknown>>;
          assert.equal(queued.length, 1);
          assert.equal(queued[0].dataType, "quote");
          assert.equal(queued[0].key, "JPM");
          assert.equal(queued[0].created, true);
          assert.ok(Number(first.body!.heartbeatSeconds) > 0);

          const row = await waitFor("JPM quote in public.fmp_quote", async () => {
            const [found] = await sql`
              select q.symbol, q.price, public.is_data_stale_v2('quote', 'JPM') as stale
              from public.fmp_quote as q where q.symbol = 'JPM'`;
            return found && !found.stale ? found : undefined;
          }, 30_000);
          assert.ok(Number(row.price) > 0);

          const second = await invoke(user.client, {
            symbols: ["JPM"],
            dataTypes: ["quote"],
            action: "heartbeat",
            clientId: "tab-1",
          });
          assert.equal(second.status, 200);
          assert.deepEqual(second.body!.queued, []);
          const fresh = second.body!.fresh as Array<Record<string, unknown>>;
          assert.deepEqual(fresh.map((f) => [f.dataType, f.key]), [["quote", "JPM"]]);

          const [presence] = await sql`
            select count(*)::int as n from public.active_subscriptions_v2
            where user_id = ${user.id} and client_id = 'tab-1' and symbol = 'JPM'
              and expires_at > now()`;
          assert.equal(presence.n, 1, "the heartbeat keeps one live subscription");

          const gone = await invoke(user.client, {
            symbols: ["JPM"],
            action: "untrack",
            clientId: "tab-1",
          });
          assert.equal(gone.status, 200);
          assert.equal(gone.body!.untracked, 1);
        },
      );
    });
  } finally {
    await deleteUser(sql, user.id);
    await sql`delete from public.fmp_quote where symbol = 'JPM'`;
    await sql`delete from private.refresh_state where data_type = 'quote' and key = 'JPM'`;
    await sql`delete from private.api_call_queue_v2 where data_type = 'quote' and key = 'JPM'`;
    await sql.end();
  }
});

Deno.test("track-subscription-v2 - bad requests get 4xx and write nothing", async () => {
  const sql = connectDb();
  const user = await createUser(sql);
  try {
    const [{ jobs: jobsBefore }] =
      await sql`select count(*)::int as jobs from private.api_call_queue_v2`;
    const cases: Array<[string, unknown, Record<string, string> | undefined, number]> = [
      ["symbols of the wrong type", { symbols: "AAPL", action: "track" }, undefined, 400],
      ["a number as symbol", { symbols: [42], action: "track" }, undefined, 400],
      [
        "51 symbols",
        { symbols: Array.from({ length: 51 }, (_, i) => `S${i}`), action: "track" },
        undefined,
        400,
      ],
      [
        "an injection string",
        { symbols: ["AAPL'); delete from public.active_subscriptions_v2; --"], action: "track" },
        undefined,
        400,
      ],
      [
        "an injection in a data type",
        { symbols: ["AAPL"], dataTypes: ["quote'; drop table x; --"], action: "track" },
        undefined,
        400,
      ],
      ["an unknown action", { symbols: ["AAPL"], action: "delete" }, undefined, 400],
      [
        "someone else's user id",
        {
          symbols: ["AAPL"],
          action: "track",
          userId: crypto.randomUUID(),
        },
        undefined,
        400,
      ],
      [
        "an unknown data type",
        { symbols: ["AAPL"], dataTypes: ["nope"], action: "track" },
        undefined,
        400,
      ],
      [
        "a 1 MB body",
        { symbols: ["A".repeat(1024 * 1024)], action: "track" },
        undefined,
        413,
      ],
      ["a wrong content type", "symbols=AAPL&action=track", { "Content-Type": "text/plain" }, 415],
    ];
    for (const [name, body, headers, status] of cases) {
      const reply = await invoke(user.client, body, headers);
      assert.equal(reply.status, status, `${name}: ${JSON.stringify(reply.body)?.slice(0, 200)}`);
      assert.ok(typeof reply.body?.error === "string", `${name} says what is wrong`);
    }
    const unknownType = await invoke(user.client, {
      symbols: ["AAPL"],
      dataTypes: ["nope"],
      action: "track",
    });
    assert.match(JSON.stringify(unknownType.body), /unknown data type \\"nope\\"/);

    const [written] = await sql`
      select
        (select count(*)::int from public.active_subscriptions_v2 where user_id = ${user.id}) as presence,
        (select count(*)::int from private.rate_limits where bucket = ${`track-subscription:${user.id}`}) as limits,
        (select count(*)::int from private.api_call_queue_v2) as jobs`;
    assert.equal(written.presence, 0, "no subscription written");
    assert.equal(written.limits, 0, "not even a rate-limit count");
    assert.ok(written.jobs <= jobsBefore + 1, "no job queued by the bad requests"); // +1: a cron tick
  } finally {
    await deleteUser(sql, user.id);
    await sql.end();
  }
});

Deno.test("track-subscription-v2 - a user over the rate limit gets 429 with Retry-After, others do not", async () => {
  const sql = connectDb();
  const alice = await createUser(sql);
  const bob = await createUser(sql);
  const [saved] = await sql`select rate_limit_per_minute from private.presence_settings`;
  try {
    await sql`update private.presence_settings set rate_limit_per_minute = 3`;
    const body = { symbols: ["AAPL"], action: "untrack" };
    // Four calls in one calendar minute hit the limit; a minute boundary in between resets the
    // window, so allow a second round before giving up.
    let limited: Reply | undefined;
    for (let i = 0; i < 8 && !limited; i++) {
      const reply = await invoke(alice.client, body);
      if (reply.status === 429) limited = reply;
      else assert.equal(reply.status, 200);
    }
    assert.ok(limited, "the fourth call within a minute is refused");
    const retryAfter = Number(limited.headers!.get("retry-after"));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60);
    assert.equal(limited.body!.retryAfterSeconds, retryAfter);

    const other = await invoke(bob.client, body);
    assert.equal(other.status, 200, "the limit is per user");
  } finally {
    await sql`update private.presence_settings set rate_limit_per_minute = ${saved.rate_limit_per_minute}`;
    await deleteUser(sql, alice.id);
    await deleteUser(sql, bob.id);
    await sql.end();
  }
});

Deno.test("track-subscription-v2 - the gateway refuses calls without a user token", async () => {
  const res = await fetch(`${stack.functionsUrl}/track-subscription-v2`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ symbols: ["AAPL"], action: "track" }),
  });
  await res.body?.cancel();
  assert.equal(res.status, 401);
  const anon = await fetch(`${stack.functionsUrl}/track-subscription-v2`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${stack.anonKey}` },
    body: JSON.stringify({ symbols: ["AAPL"], action: "track" }),
  });
  await anon.body?.cancel();
  assert.equal(anon.status, 401, "the anon key is not a user");
});
