// Queue concurrency: what one pgTAP session cannot show. Eight postgres.js connections, each
// its own session, race committed transactions against the SQL API:
//   (a) claim/complete: no job claimed twice, every job completed exactly once;
//   (b) enqueue of the same keys at once: never two active jobs for one dedup key;
//   (c) a tight quota: calls charged never above a window's limit, bytes overshoot bounded;
//   (d) everything at once (claims, completions, failures, enqueues, rescue): no 40001 or
//       deadlock surfaces; a worker killed mid-job is rescued and fenced; a tick skips while
//       another holds the processor-loop lock.
// The tests use their own provider (kftest) and data types (kf-test-*), and hold every
// processor-lease slot while they run, so the real processor never claims their jobs; all rows
// they commit are deleted afterwards. Needs SUPABASE_DB_URL (scripts/test sets it).
import assert from "node:assert/strict";
import fc from "fast-check";
import postgres from "postgres";

const dbUrl = Deno.env.get("SUPABASE_DB_URL");
if (!dbUrl) throw new Error("SUPABASE_DB_URL is not set: run the tests through scripts/test");

const WORKERS = 8;
const PROVIDER = "kftest";
const ONE = "kf-test-one"; // 1 call per job, 1000 bytes estimated
const THREE = "kf-test-three"; // 3 calls per job, 1000 bytes estimated
const NAMESPACE = 1950822802; // private.advisory_namespace()

type Sql = postgres.Sql;
type Claimed = { id: string; lease_token: string; data_type: string; key: string | null };

function connect(): Sql {
  return postgres(dbUrl!, { prepare: false, max: 1, connect_timeout: 5, onnotice: () => {} });
}

/** Opens n sessions, runs body, and always closes them. */
async function withSessions<T>(n: number, body: (sessions: Sql[]) => Promise<T>): Promise<T> {
  const sessions = Array.from({ length: n }, connect);
  try {
    return await body(sessions);
  } finally {
    await Promise.all(sessions.map((s) => s.end({ timeout: 5 })));
  }
}

async function removeTestRows(sql: Sql) {
  await sql`delete from private.api_call_queue_v2 where data_type in (${ONE}, ${THREE})`;
  await sql`delete from private.refresh_state where data_type in (${ONE}, ${THREE})`;
  await sql`delete from private.provider_usage where provider = ${PROVIDER}`;
  await sql`delete from private.processor_leases where worker_id like 'kf-test-%'`;
}

/**
 * Creates the test provider and data types, blocks new processor runs (100 live leases: more
 * than any run's maximum) and waits until no other run holds a lease, so nothing else claims.
 */
async function setUp(sql: Sql, limits: { perMinute?: number | null; bytes30d?: number | null }) {
  await removeTestRows(sql);
  await sql`
    insert into private.providers (provider, calls_per_minute, calls_per_day, bytes_per_30d)
    values (${PROVIDER}, ${limits.perMinute ?? null}, null, ${limits.bytes30d ?? null})
    on conflict (provider) do update
    set calls_per_minute = excluded.calls_per_minute, calls_per_day = null,
        bytes_per_30d = excluded.bytes_per_30d, state = 'ok', state_until = null`;
  await sql`
    insert into public.data_type_registry_v2 (
      data_type, provider, key_kind, target_table, timestamp_column, ttl_seconds,
      calls_per_job, refresh_strategy, priority, estimated_bytes, enabled)
    values
      (${ONE}, ${PROVIDER}, 'symbol', 'public.kf_test_target', 'fetched_at', 60, 1, 'on_demand', 0, 1000, true),
      (${THREE}, ${PROVIDER}, 'symbol', 'public.kf_test_target', 'fetched_at', 60, 3, 'on_demand', 0, 1000, true)
    on conflict (data_type) do update set enabled = true, estimated_bytes = 1000`;
  await sql`
    insert into private.processor_leases (worker_id, expires_at)
    select 'kf-test-block-' || g, now() + interval '10 minutes' from generate_series(1, 100) as g`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from private.processor_leases
      where worker_id not like 'kf-test-%' and expires_at > now()`;
    if (n === 0) break;
    if (Date.now() > deadline) throw new Error(`${n} processor runs still hold leases after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await sql`select set_config('keepfresh.serialization_retries', '0', false)`;
}

async function tearDown(sql: Sql) {
  await removeTestRows(sql);
  await sql`delete from public.data_type_registry_v2 where data_type in (${ONE}, ${THREE})`;
  await sql`delete from private.circuit_breaker where provider = ${PROVIDER}`;
  await sql`delete from private.providers where provider = ${PROVIDER}`;
}

async function enqueue(sql: Sql, dataType: string, keys: string[]) {
  const items = keys.map((key) => ({ data_type: dataType, key }));
  return await sql<{ key: string; job_id: string | null; created: boolean }[]>`
    select key, job_id, created from public.queue_refresh_batch_v2(${sql.json(items)})`;
}

async function claim(sql: Sql, worker: string, size: number): Promise<Claimed[]> {
  return await sql<Claimed[]>`
    select id, lease_token, data_type, key
    from public.get_queue_batch_filtered_v2(${size}, ${worker}, 60, ${[ONE, THREE]}, null)`;
}

async function complete(sql: Sql, jobs: Claimed[], bytes: (job: Claimed) => number) {
  const [row] = await sql<{ ids: string[] }[]>`
    select public.complete_queue_jobs_v2(
      ${jobs.map((j) => j.id)}::bigint[], ${jobs.map((j) => j.lease_token)}::uuid[],
      ${jobs.map(() => "success")}::text[], ${jobs.map(bytes)}::bigint[], null) as ids`;
  return row.ids;
}

async function retries(sessions: Sql[]) {
  let total = 0;
  for (const s of sessions) {
    const [{ n }] = await s<{ n: string }[]>`
      select coalesce(nullif(current_setting('keepfresh.serialization_retries', true), ''), '0') as n`;
    total += Number(n);
  }
  return total;
}

const keyArb = fc.stringMatching(/^[A-Z][A-Z0-9]{0,5}$/);

Deno.test("queue concurrency - 8 workers claim and complete: no job claimed twice, each completed once", async () => {
  const admin = connect();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 200, max: 1500 }),
        fc.integer({ min: 1, max: 60 }),
        async (jobCount, batchSize) => {
          await setUp(admin, {});
          try {
            const keys = Array.from({ length: jobCount }, (_, i) => `C${i}`);
            await enqueue(admin, ONE, keys);
            const claimedBy = new Map<string, number>();
            const completed: string[] = [];
            await withSessions(WORKERS, async (sessions) => {
              await Promise.all(sessions.map(async (sql, w) => {
                for (;;) {
                  const jobs = await claim(sql, `kf-test-w${w}`, batchSize);
                  if (jobs.length === 0) break;
                  for (const job of jobs) {
                    assert.equal(claimedBy.get(job.id), undefined, `job ${job.id} claimed twice`);
                    claimedBy.set(job.id, w);
                  }
                  completed.push(...await complete(sql, jobs, () => 10));
                }
              }));
            });
            assert.equal(claimedBy.size, jobCount, "every job was claimed exactly once");
            assert.equal(new Set(completed).size, jobCount, "every job was completed");
            assert.equal(completed.length, jobCount, "no completion counted twice");
            const rows = await admin<{ status: string; n: number }[]>`
              select status, count(*)::int as n from private.api_call_queue_v2
              where data_type = ${ONE} group by status`;
            assert.deepEqual([...rows], [{ status: "completed", n: jobCount }]);
          } finally {
            await removeTestRows(admin);
          }
        },
      ),
      { numRuns: 3 },
    );
  } finally {
    await tearDown(admin);
    await admin.end();
  }
});

Deno.test("queue concurrency - 8 sessions enqueue the same keys at once: one active job per key", async () => {
  const admin = connect();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(keyArb, { minLength: 20, maxLength: 120 }),
        fc.array(fc.integer(), { minLength: WORKERS, maxLength: WORKERS }),
        async (keys, seeds) => {
          await setUp(admin, {});
          try {
            await withSessions(WORKERS, async (sessions) => {
              // Each session asks for its own shuffled, overlapping subset; half also claim.
              const answers = await Promise.all(sessions.map(async (sql, w) => {
                const mine = keys.filter((_, i) => (i + seeds[w]) % 3 !== 0);
                const shuffled = [...mine].sort((a, b) =>
                  ((a.charCodeAt(0) * seeds[w]) % 7) - ((b.charCodeAt(0) * seeds[w]) % 7)
                );
                const first = await enqueue(sql, ONE, shuffled);
                if (w % 2 === 0) await claim(sql, `kf-test-w${w}`, 5);
                const second = await enqueue(sql, ONE, mine.slice(0, 10));
                return [...first, ...second];
              }));
              const created = answers.flat().filter((a) => a.created).length;
              const askedFor = new Set(
                keys.filter((_, i) => seeds.some((seed) => (i + seed) % 3 !== 0)),
              );
              assert.equal(created, askedFor.size, "exactly one job created per key");
              const byKey = new Map<string, string>();
              for (const answer of answers.flat()) {
                const seen = byKey.get(answer.key);
                if (seen !== undefined) assert.equal(answer.job_id, seen, `key ${answer.key}`);
                else if (answer.job_id !== null) byKey.set(answer.key, answer.job_id);
              }
            });
            const duplicates = await admin`
              select dedup_key from private.api_call_queue_v2
              where data_type = ${ONE} and status in ('pending', 'processing')
              group by dedup_key having count(*) > 1`;
            assert.equal(duplicates.length, 0, "no dedup key has two active jobs");
          } finally {
            await removeTestRows(admin);
          }
        },
      ),
      { numRuns: 4 },
    );
  } finally {
    await tearDown(admin);
    await admin.end();
  }
});

Deno.test("queue concurrency - 8 claimers under a tight quota never exceed the call limit", async () => {
  const admin = connect();
  const limit = 37;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: WORKERS, maxLength: WORKERS }),
        async (batchSizes) => {
          await setUp(admin, { perMinute: limit });
          try {
            // One- and three-call jobs interleaved (same age: claimed in id order).
            const items = Array.from({ length: 90 }, (_, i) => ({
              data_type: i % 3 === 2 ? THREE : ONE,
              key: `Q${i}`,
            }));
            await admin`select count(*) from public.queue_refresh_batch_v2(${admin.json(items)})`;
            await withSessions(WORKERS, async (sessions) => {
              await Promise.all(sessions.map(async (sql, w) => {
                for (let round = 0; round < 6; round++) {
                  const jobs = await claim(sql, `kf-test-w${w}`, batchSizes[w]);
                  if (jobs.length > 0) await complete(sql, jobs, () => 10);
                }
              }));
            });
            // Per minute bucket: the calls charged, and the calls of the jobs claimed in it.
            const rows = await admin<{ bucket: Date; charged: number; claimed: number }[]>`
              select u.bucket, u.calls::int as charged, coalesce(j.calls, 0)::int as claimed
              from private.provider_usage as u
              left join (
                select date_trunc('minute', q.claimed_at, 'UTC') as bucket, sum(q.reserved_calls) as calls
                from private.api_call_queue_v2 as q
                where q.data_type in (${ONE}, ${THREE}) and q.claimed_at is not null
                group by 1
              ) as j on j.bucket = u.bucket
              where u.provider = ${PROVIDER} and u.width = 'minute'`;
            assert.ok(rows.length >= 1);
            for (const row of rows) {
              assert.ok(row.charged <= limit, `${row.charged} calls charged in one minute`);
              assert.equal(row.claimed, row.charged, "charged calls are the claimed jobs' calls");
            }
            // Unless the run crossed a minute boundary, the limit was actually reached.
            if (rows.length === 1) assert.ok(rows[0].charged > limit - 3);
          } finally {
            await removeTestRows(admin);
          }
        },
      ),
      { numRuns: 4 },
    );
  } finally {
    await tearDown(admin);
    await admin.end();
  }
});

Deno.test("queue concurrency - bytes overshoot stays within the in-flight estimate error", async () => {
  const admin = connect();
  const bytesLimit = 60_000; // 40 reservations of 1500 bytes (1000 estimated x 1.5)
  const batch = 5;
  try {
    await setUp(admin, { bytes30d: bytesLimit });
    await enqueue(admin, ONE, Array.from({ length: 200 }, (_, i) => `B${i}`));
    await withSessions(WORKERS, async (sessions) => {
      await Promise.all(sessions.map(async (sql, w) => {
        for (;;) {
          const jobs = await claim(sql, `kf-test-w${w}`, batch);
          if (jobs.length === 0) break;
          // Actual sizes from 500 to 3000 bytes: up to twice a 1500-byte reservation.
          await complete(sql, jobs, (job) => 500 + (Number(job.id) * 7919) % 2501);
        }
      }));
    });
    // The largest amount by which one job exceeded its own reservation (the sampled estimate
    // correction may change later reservations, so read each job's).
    const [{ maxError }] = await admin<{ maxError: number }[]>`
      select coalesce(max(actual_bytes - reserved_bytes), 0)::float8 as "maxError"
      from private.api_call_queue_v2 where data_type = ${ONE} and status = 'completed'`;
    const [usage] = await admin<{ bytes: number; reserved: number }[]>`
      select coalesce(sum(bytes), 0)::bigint::float8 as bytes, coalesce(sum(reserved_bytes), 0)::float8 as reserved
      from private.provider_usage where provider = ${PROVIDER} and width = 'day'`;
    assert.equal(usage.reserved, 0, "every reservation was reconciled");
    const overshoot = Math.max(0, usage.bytes - bytesLimit);
    // At most the estimate error of the jobs in flight when the window filled: one batch per
    // worker, so WORKERS x batch jobs, each at most maxError over its reservation.
    assert.ok(
      overshoot <= WORKERS * batch * Math.max(0, maxError),
      `overshoot ${overshoot} above ${WORKERS} x ${batch} x ${maxError}`,
    );
    // The drain stopped because the window has no room for another job of this type (its
    // reservation may have grown with the sampled estimate correction, so compare with it).
    const [room] = await admin<{ remaining: number; reservation: number }[]>`
      select
        (public.get_quota_status_v2(${PROVIDER}) -> 'bytes_per_30d' ->> 'remaining')::float8
          as remaining,
        ceil(r.estimated_bytes * p.bytes_safety_factor)::float8 as reservation
      from public.data_type_registry_v2 as r
      join private.providers as p on p.provider = r.provider
      where r.data_type = ${ONE}`;
    assert.ok(
      room.remaining < room.reservation,
      `the byte window is used up: ${room.remaining} left, a job reserves ${room.reservation}`,
    );
  } finally {
    await tearDown(admin);
    await admin.end();
  }
});

Deno.test("queue concurrency - mixed load surfaces no 40001 or deadlock; a killed worker is rescued and fenced", async () => {
  const admin = connect();
  try {
    await setUp(admin, {});
    await enqueue(admin, ONE, Array.from({ length: 1500 }, (_, i) => `M${i}`));
    await enqueue(admin, THREE, Array.from({ length: 300 }, (_, i) => `N${i}`));

    // A worker claims and is killed (its backend terminated) before finishing.
    const doomed = connect();
    const lost = await claim(doomed, "kf-test-doomed", 20);
    assert.equal(lost.length, 20);
    const [{ pid }] = await doomed<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await admin`select pg_terminate_backend(${pid})`;
    await doomed.end({ timeout: 1 }).catch(() => {});

    const errors: unknown[] = [];
    let total = 0;
    await withSessions(WORKERS, async (sessions) => {
      await Promise.all(sessions.map(async (sql, w) => {
        try {
          for (let round = 0; round < 400; round++) {
            if (w === 7) {
              // One session keeps enqueueing overlapping keys and rescuing.
              await enqueue(
                sql,
                ONE,
                Array.from({ length: 50 }, (_, i) => `M${(round * 37 + i) % 1600}`),
              );
              await sql`select public.recover_stuck_jobs_v2()`;
              if (round > 40) break;
              continue;
            }
            const jobs = await claim(sql, `kf-test-w${w}`, 1 + (round * 7 + w) % 25);
            if (jobs.length === 0) break;
            const failing = jobs.filter((j) => Number(j.id) % 10 === 0);
            const passing = jobs.filter((j) => Number(j.id) % 10 !== 0);
            for (const job of failing) {
              await sql`select public.fail_queue_job_v2(${job.id}, ${job.lease_token}, 'flaky', 'transient')`;
            }
            await complete(sql, passing, () => 100);
            total += passing.length;
          }
        } catch (thrown) {
          errors.push(thrown);
        }
      }));
      const retried = await retries(sessions);
      console.log(`mixed load: ${total} completed, ${retried} internal 40001/40P01 retries`);
    });
    assert.deepEqual(errors, [], "no error surfaced to any worker");

    // The killed worker's jobs: still processing until their lease expires, then rescued.
    await admin`
      update private.api_call_queue_v2_processing set lease_expires_at = now() - interval '1 second'
      where worker_id = 'kf-test-doomed'`;
    const [{ rescued }] = await admin<
      { rescued: number }[]
    >`select public.recover_stuck_jobs_v2() as rescued`;
    assert.ok(rescued >= 20, `rescued ${rescued}`);
    const fenced = await complete(admin, lost, () => 1);
    assert.deepEqual(fenced, [], "the killed worker's tokens no longer complete anything");
    const [{ stuck }] = await admin<{ stuck: number }[]>`
      select count(*)::int as stuck from private.api_call_queue_v2
      where data_type in (${ONE}, ${THREE}) and status = 'processing'`;
    assert.equal(stuck, 0, "no job is left processing");
  } finally {
    await tearDown(admin);
    await admin.end();
  }
});

Deno.test("queue concurrency - a processor tick skips while another tick holds lock 44", async () => {
  await withSessions(2, async ([holder, other]) => {
    await holder.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${NAMESPACE}, 44)`;
      const [{ result }] = await other<{ result: { invoked: boolean; reason: string } }[]>`
        select public.invoke_processor_loop_v2() as result`;
      assert.equal(result.invoked, false);
      assert.equal(result.reason, "busy");
    });
  });
});
