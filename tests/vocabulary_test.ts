// Vocabulary sync with committed transactions, what one pgTAP transaction cannot show:
// NOTIFY is delivered at commit to LISTENing sessions; versions seen by concurrent consumers;
// vocabulary-refresh through the gateway (GET with ETag and 304, POST rebuilds, ten at once);
// concurrent writers racing on the same terms; a forced maintenance failure with real commits.
// Each test creates its own auth user and source rows and deletes them afterwards (the rows go
// with the user). The LISTEN test truncates the five source tables, so it checks first that they
// hold nothing but its own rows (true on the stack scripts/test builds).
import assert from "node:assert/strict";
import postgres from "postgres";
import { mintJwt } from "../scripts/local/jwt.ts";
import { connectDb, stack } from "./_stack.ts";

type Sql = postgres.Sql;
type Vocabulary = Record<string, unknown> & { version: number; source: string; projects: string[] };

const endpoint = `${stack.functionsUrl}/vocabulary-refresh`;
const SOURCE_TABLES = ["Project", "Expenses", "CashFlow", "ExpensesColumn", "CashFlowColumn"];
const CHILD_TABLES = SOURCE_TABLES.slice(1);

function tag(): string {
  return crypto.randomUUID().slice(0, 8);
}

async function createUser(sql: Sql): Promise<string> {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${id}, ${`vocab-${id}@test.local`})`;
  return id;
}

/** Deletes the user; their projects and every row under them go with it (cascade). */
async function deleteUser(sql: Sql, id: string) {
  await sql`delete from auth.users where id = ${id}`;
}

async function createProject(
  sql: Sql,
  owner: string,
  name: string,
  location: string | null = null,
) {
  const [row] = await sql<{ id: string }[]>`
    insert into public."Project" (name, location, owner_id) values (${name}, ${location}, ${owner})
    returning id`;
  return row.id;
}

/** Payloads of vocabulary_changed received by one LISTENing session, in order. */
class Inbox {
  #items: string[] = [];
  #wake: (() => void) | null = null;

  push(payload: string) {
    this.#items.push(payload);
    this.#wake?.();
  }

  /** The next payload, waiting at most timeoutMs. */
  async take(timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.#items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no vocabulary_changed notification within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    return this.#items.shift()!;
  }

  /** Payloads up to and including the first one equal to `payload` (fails after timeoutMs). */
  async takeUntil(payload: string, timeoutMs = 5_000): Promise<string[]> {
    const seen: string[] = [];
    for (;;) {
      const next = await this.take(timeoutMs);
      seen.push(next);
      if (next === payload) return seen;
    }
  }
}

/** A session LISTENing on vocabulary_changed (its own connection: LISTEN needs a session). */
async function listener(): Promise<{ inbox: Inbox; close: () => Promise<void> }> {
  const sql = postgres(stack.dbUrl, { max: 1, onnotice: () => {} });
  const inbox = new Inbox();
  await sql.listen("vocabulary_changed", (payload) => inbox.push(payload));
  return { inbox, close: () => sql.end({ timeout: 5 }) };
}

async function vocabulary(sql: Sql): Promise<Vocabulary> {
  const [row] = await sql<{ v: Vocabulary }[]>`select public.get_vocabulary() as v`;
  return row.v;
}

async function snapshotIsExact(sql: Sql): Promise<{ matches: boolean; dirty: boolean }> {
  const [row] = await sql<{ matches: boolean; dirty: boolean }[]>`
    select private.vocabulary_matches_sources() as matches, s.dirty
    from private.vocabulary_state as s`;
  return row;
}

async function call(method: "GET" | "POST", headers: Record<string, string> = {}) {
  const res = await fetch(endpoint, { method, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const service = { authorization: `Bearer ${stack.serviceRoleKey}` };

Deno.test("vocabulary - a LISTENing session gets vocabulary_changed with the table name for every table and operation", async () => {
  const sql = connectDb();
  const { inbox, close } = await listener();
  const owner = await createUser(sql);
  const t = tag();
  const received: string[] = [];
  try {
    const [{ foreign }] = await sql<{ foreign: number }[]>`
      select (select count(*) from public."Project" where owner_id <> ${owner})
        + (select count(*) from public."Expenses" where owner_id <> ${owner})
        + (select count(*) from public."CashFlow" where owner_id <> ${owner})
        + (select count(*) from public."ExpensesColumn" where owner_id <> ${owner})
        + (select count(*) from public."CashFlowColumn" where owner_id <> ${owner}) as foreign`;
    assert.equal(
      Number(foreign),
      0,
      "this test truncates the source tables: they must hold only its rows",
    );

    const expect = async (table: string, operation: string, write: () => Promise<unknown>) => {
      await write();
      const got = await inbox.take();
      assert.equal(got, table, `${operation} on ${table}`);
      received.push(`${operation} ${got}`);
    };

    const project = await createProject(sql, owner, `P-${t}`, `L-${t}`);
    assert.equal(await inbox.take(), "Project");
    const insertChild: Record<string, (v: string) => Promise<unknown>> = {
      Expenses: (v) =>
        sql`insert into public."Expenses" (project_id, file_name, category, owner_id)
            values (${project}, ${v}, ${v}, ${owner})`,
      CashFlow: (v) =>
        sql`insert into public."CashFlow" (project_id, file_name, category, owner_id)
            values (${project}, ${v}, ${v}, ${owner})`,
      ExpensesColumn: (v) =>
        sql`insert into public."ExpensesColumn" (project_id, name, owner_id) values (${project}, ${v}, ${owner})`,
      CashFlowColumn: (v) =>
        sql`insert into public."CashFlowColumn" (project_id, name, owner_id) values (${project}, ${v}, ${owner})`,
    };
    const term: Record<string, string> = {
      Expenses: "file_name",
      CashFlow: "file_name",
      ExpensesColumn: "name",
      CashFlowColumn: "name",
    };
    for (const table of CHILD_TABLES) {
      const column = term[table];
      await expect(table, "insert", () => insertChild[table](`${table}-1-${t}`));
      await expect(
        table,
        "update",
        () =>
          sql`update public.${sql(table)} set ${
            sql(column)
          } = ${`${table}-2-${t}`} where owner_id = ${owner}`,
      );
      await expect(
        table,
        "delete",
        () => sql`delete from public.${sql(table)} where owner_id = ${owner}`,
      );
      await insertChild[table](`${table}-3-${t}`);
      assert.equal(await inbox.take(), table);
      await expect(table, "truncate", () => sql`truncate public.${sql(table)}`);
    }
    await expect("Project", "insert", () => createProject(sql, owner, `Q-${t}`));
    await expect(
      "Project",
      "update",
      () => sql`update public."Project" set name = ${`R-${t}`} where name = ${`Q-${t}`}`,
    );
    await expect(
      "Project",
      "delete",
      () => sql`delete from public."Project" where name = ${`R-${t}`}`,
    );
    // TRUNCATE ... CASCADE truncates the four child tables too: one notification per table.
    await sql`truncate public."Project" cascade`;
    assert.deepEqual(
      (await Promise.all(SOURCE_TABLES.map(() => inbox.take()))).sort(),
      [...SOURCE_TABLES].sort(),
    );
    received.push("truncate Project");

    assert.equal(received.length, 20, "five tables times four operations");
    assert.deepEqual(await snapshotIsExact(sql), { matches: true, dirty: false });
  } finally {
    await deleteUser(sql, owner);
    await close();
    await sql.end();
  }
});

Deno.test("vocabulary - a commit that leaves the vocabulary unchanged notifies nobody", async () => {
  const sql = connectDb();
  const { inbox, close } = await listener();
  const owner = await createUser(sql);
  const t = tag();
  try {
    const project = await createProject(sql, owner, `Same-${t}`);
    assert.equal(await inbox.take(), "Project");
    // No new term, then unmapped columns only, then a term in and out in one transaction.
    await createProject(sql, owner, `Same-${t}`);
    await sql`insert into public."Expenses" (project_id, amount, owner_id) values (${project}, 1, ${owner})`;
    await sql`update public."Expenses" set amount = 2 where owner_id = ${owner}`;
    await sql.begin(async (tx) => {
      await tx`insert into public."Project" (name, owner_id) values (${`Gone-${t}`}, ${owner})`;
      await tx`delete from public."Project" where name = ${`Gone-${t}`}`;
    });
    // Notifications arrive in commit order: the next one must be this sentinel's.
    await sql`insert into public."CashFlowColumn" (project_id, name, owner_id) values (${project}, ${`Sentinel-${t}`}, ${owner})`;
    assert.equal(await inbox.take(), "CashFlowColumn");
  } finally {
    await deleteUser(sql, owner);
    await close();
    await sql.end();
  }
});

Deno.test("vocabulary - two concurrent consumers see the same version after each commit", async () => {
  const sql = connectDb();
  const consumers = await Promise.all([listener(), listener()]);
  const readers = [connectDb(1), connectDb(1)];
  const owner = await createUser(sql);
  const t = tag();
  try {
    for (let i = 0; i < 5; i++) {
      const name = `Shared-${i}-${t}`;
      await createProject(sql, owner, name);
      const [{ version }] = await sql<
        { version: string }[]
      >`select version from private.vocabulary_state`;
      const seen = await Promise.all(consumers.map(async ({ inbox }, n) => {
        await inbox.takeUntil("Project");
        return await vocabulary(readers[n]);
      }));
      for (const v of seen) {
        assert.ok(v.projects.includes(name), "each consumer has the new term");
        assert.equal(v.version, Number(version), "each consumer has the committed version");
      }
      assert.deepEqual(seen[0], seen[1], "both consumers hold the same vocabulary");
    }
  } finally {
    await deleteUser(sql, owner);
    await Promise.all(consumers.map(({ close }) => close()));
    await Promise.all(readers.map((r) => r.end()));
    await sql.end();
  }
});

Deno.test("vocabulary-refresh - POST rebuilds and its counts match the tables", async () => {
  const sql = connectDb();
  const owner = await createUser(sql);
  const t = tag();
  try {
    const a = await createProject(sql, owner, `Count A ${t}`, "Basel");
    const b = await createProject(sql, owner, ` Count B ${t} `, " Basel ");
    await sql`
      insert into public."Expenses" (project_id, file_name, category, owner_id)
      values (${a}, ${`e1-${t}.pdf`}, ${`Cat-${t}`}, ${owner}), (${b}, ${`e1-${t}.pdf`}, ${`Other-${t}`}, ${owner})`;
    await sql`
      insert into public."ExpensesColumn" (project_id, name, owner_id) values (${a}, ${`Cat-${t}`}, ${owner})`;
    await sql`
      insert into public."CashFlow" (project_id, file_name, category, owner_id)
      values (${a}, ${`c1-${t}.csv`}, ${`In-${t}`}, ${owner})`;
    await sql`
      insert into public."CashFlowColumn" (project_id, name, owner_id) values (${b}, ${`Out-${t}`}, ${owner})`;
    const [{ before }] = await sql<{ before: string }[]>`
      select count(*) as before from private.vocabulary_rebuilds where trigger = 'manual'`;

    const { status, body } = await call("POST", service);
    assert.equal(status, 200);
    assert.equal(body.success, true);
    assert.equal(typeof body.message, "string");

    // Expected counts, computed here independently of keepfresh's SQL functions.
    const rows = await sql<{ field: string; n: string }[]>`
      with v (field, value) as (
        select 'projects', name from public."Project"
        union all select 'project_locations', location from public."Project"
        union all select 'expense_files', file_name from public."Expenses"
        union all select 'cashflow_files', file_name from public."CashFlow"
        union all select 'expense_categories', category from public."Expenses"
        union all select 'expense_categories', name from public."ExpensesColumn"
        union all select 'cashflow_categories', category from public."CashFlow"
        union all select 'cashflow_categories', name from public."CashFlowColumn"
      )
      select f.field, (
        select count(distinct btrim(v.value, E' \t\r\n')) from v
        where v.field = f.field and char_length(btrim(v.value, E' \t\r\n')) between 1 and 200
      ) as n
      from (values ('projects'), ('project_locations'), ('expense_files'), ('cashflow_files'),
        ('expense_categories'), ('cashflow_categories')) as f (field)`;
    const expected = Object.fromEntries(rows.map((r) => [r.field, Number(r.n)]));
    assert.deepEqual(body.vocabulary_counts, expected);
    assert.ok(expected.projects >= 2 && expected.expense_categories >= 2);

    const [{ version, after }] = await sql<{ version: string; after: string }[]>`
      select s.version,
        (select count(*) from private.vocabulary_rebuilds where trigger = 'manual') as after
      from private.vocabulary_state as s`;
    assert.equal(body.version, Number(version));
    assert.equal(Number(after), Number(before) + 1, "the manual refresh is logged");
  } finally {
    await deleteUser(sql, owner);
    await sql.end();
  }
});

Deno.test("vocabulary-refresh - ten concurrent POSTs all succeed and leave one consistent snapshot", async () => {
  const sql = connectDb();
  const owner = await createUser(sql);
  const t = tag();
  try {
    await createProject(sql, owner, `Ten-${t}`);
    const first = await call("POST", service);
    assert.equal(first.status, 200);

    const replies = await Promise.all(Array.from({ length: 10 }, () => call("POST", service)));
    for (const reply of replies) {
      assert.equal(reply.status, 200);
      assert.equal(reply.body.success, true);
    }
    assert.equal(new Set(replies.map((r) => r.body.version)).size, 1, "one version for all ten");
    assert.equal(new Set(replies.map((r) => JSON.stringify(r.body.vocabulary_counts))).size, 1);
    assert.equal(
      replies[0].body.version,
      first.body.version,
      "nothing changed, so neither did the version",
    );

    // Ten more, while a writer commits new terms between them.
    const writer = connectDb(1);
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing && i < 200; i++) {
        await writer`insert into public."Project" (name, owner_id) values (${`Race-${i}-${t}`}, ${owner})`;
      }
    })();
    const racing = await Promise.all(Array.from({ length: 10 }, () => call("POST", service)));
    writing = false;
    await writes;
    await writer.end();
    for (const reply of racing) assert.equal(reply.status, 200);
    assert.deepEqual(await snapshotIsExact(sql), { matches: true, dirty: false });
    const [{ failed }] = await sql<{ failed: string }[]>`
      select count(*) as failed from private.vocabulary_rebuilds
      where status = 'failed' and started_at > now() - interval '5 minutes'`;
    assert.equal(Number(failed), 0);
  } finally {
    await deleteUser(sql, owner);
    await sql.end();
  }
});

Deno.test("vocabulary-refresh - GET returns the vocabulary with its version as ETag and 304 on If-None-Match", async () => {
  const sql = connectDb();
  const owner = await createUser(sql);
  const t = tag();
  try {
    const token = await mintJwt({ role: "authenticated", sub: owner });
    const user = { authorization: `Bearer ${token}` };
    await createProject(sql, owner, `Etag-${t}`);

    const first = await call("GET", user);
    assert.equal(first.status, 200);
    assert.equal(first.body.source, "snapshot");
    assert.ok(first.body.projects.includes(`Etag-${t}`));
    assert.equal(first.headers.get("etag"), `"${first.body.version}"`);
    assert.match(first.headers.get("cache-control") ?? "", /no-cache/);

    const again = await call("GET", { ...user, "if-none-match": first.headers.get("etag")! });
    assert.equal(again.status, 304);
    assert.equal(again.body, null);
    assert.equal(again.headers.get("etag"), first.headers.get("etag"));

    await createProject(sql, owner, `Etag-2-${t}`);
    const changed = await call("GET", { ...user, "if-none-match": first.headers.get("etag")! });
    assert.equal(changed.status, 200);
    assert.ok(changed.body.version > first.body.version);
    assert.ok(changed.body.projects.includes(`Etag-2-${t}`));
    assert.equal(changed.headers.get("etag"), `"${changed.body.version}"`);

    const byService = await call("GET", service);
    assert.equal(byService.status, 200);
    assert.equal(byService.body.version, changed.body.version);
  } finally {
    await deleteUser(sql, owner);
    await sql.end();
  }
});

Deno.test("vocabulary-refresh - GET needs a user or the service role, POST the service role", async () => {
  const token = await mintJwt({ role: "authenticated" });
  const none = await call("GET");
  assert.equal(none.status, 401, "the gateway refuses a request without a JWT");
  const anon = await call("GET", { authorization: `Bearer ${stack.anonKey}` });
  assert.equal(anon.status, 401, "the anon key is not a user");
  const userPost = await call("POST", { authorization: `Bearer ${token}` });
  assert.equal(userPost.status, 403);
  assert.deepEqual(userPost.body, {
    success: false,
    error: "only the service role may rebuild the vocabulary",
  });
  const anonPost = await call("POST", { authorization: `Bearer ${stack.anonKey}` });
  assert.equal(anonPost.status, 401);
});

Deno.test("vocabulary - concurrent writers racing on the same terms leave the snapshot equal to the tables", async () => {
  const sql = connectDb();
  const owner = await createUser(sql);
  const t = tag();
  const writers = Array.from({ length: 6 }, () => connectDb(1));
  try {
    const pool = ["Travel", "Food", "Rent", "Fuel", "Tools"].map((w) => `${w}-${t}`);
    const projects = await Promise.all(
      ["A", "B", "C"].map((p) => createProject(sql, owner, `Race ${p} ${t}`)),
    );
    // A seeded generator: every run replays the same interleaving choices.
    let seed = 20261122;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
    const plans = writers.map(() =>
      Array.from({ length: 40 }, () =>
        Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
          kind: pick(["insert", "insert", "update", "delete"]),
          project: pick(projects),
          term: pick(pool),
          other: pick(pool),
        })))
    );
    let deadlocks = 0;
    await Promise.all(writers.map(async (writer, w) => {
      for (const transaction of plans[w]) {
        await writer.begin(async (tx) => {
          for (const step of transaction) {
            if (step.kind === "insert") {
              await tx`
                insert into public."Expenses" (project_id, file_name, category, owner_id)
                values (${step.project}, ${step.other}, ${step.term}, ${owner})`;
            } else if (step.kind === "update") {
              await tx`
                update public."Expenses" set category = ${step.other}
                where id = (select id from public."Expenses" where owner_id = ${owner} and category = ${step.term} limit 1)`;
            } else {
              await tx`
                delete from public."Expenses"
                where id = (select id from public."Expenses" where owner_id = ${owner} and category = ${step.term} limit 1)`;
            }
          }
        }).catch((thrown) => {
          // Two transactions updating the same expense rows in opposite orders deadlock in the
          // app's own statements; the loser rolls back, and so do its vocabulary changes.
          if ((thrown as { code?: string }).code !== "40P01") throw thrown;
          deadlocks++;
        });
      }
    }));
    console.log(`concurrent writers: ${deadlocks} app-level deadlocks rolled back`);
    assert.deepEqual(await snapshotIsExact(sql), { matches: true, dirty: false });
    const v = await vocabulary(sql);
    assert.equal(v.source, "snapshot");
  } finally {
    await Promise.all(writers.map((w) => w.end()));
    await deleteUser(sql, owner);
    await sql.end();
  }
});

Deno.test("vocabulary - a forced maintenance failure keeps the committed write; readers get the exact fallback until a rebuild", async () => {
  const sql = connectDb();
  const owner = await createUser(sql);
  const t = tag();
  try {
    await sql`update private.vocabulary_settings set fail_points_enabled = true`;
    const [{ version: before }] = await sql<
      { version: string }[]
    >`select version from private.vocabulary_state`;
    // As a signed-in user, in a committed transaction.
    await sql.begin(async (tx) => {
      await tx`select set_config('keepfresh.vocabulary_fail', 'on', true)`;
      await tx`select set_config('request.jwt.claims', ${
        JSON.stringify({ sub: owner, role: "authenticated" })
      }, true)`;
      await tx`set local role authenticated`;
      await tx`insert into public."Project" (name) values (${`Failing-${t}`})`;
    });
    const other = connectDb(1);
    try {
      const [{ n }] = await other<{ n: string }[]>`
        select count(*) as n from public."Project" where name = ${`Failing-${t}`}`;
      assert.equal(Number(n), 1, "the write is committed");
      const [state] = await other<{ dirty: boolean; version: string }[]>`
        select dirty, version from private.vocabulary_state`;
      assert.equal(state.dirty, true);
      assert.ok(Number(state.version) > Number(before));
      const token = await mintJwt({ role: "authenticated", sub: owner });
      const read = await call("GET", { authorization: `Bearer ${token}` });
      assert.equal(read.status, 200);
      assert.equal(read.body.source, "fallback");
      assert.ok(read.body.projects.includes(`Failing-${t}`));
      assert.equal(read.headers.get("etag"), `"${state.version}"`);
    } finally {
      await other.end();
    }
    const rebuilt = await call("POST", service);
    assert.equal(rebuilt.status, 200);
    assert.deepEqual(await snapshotIsExact(sql), { matches: true, dirty: false });
    assert.equal((await vocabulary(sql)).source, "snapshot");
  } finally {
    await sql`update private.vocabulary_settings set fail_points_enabled = false`;
    await deleteUser(sql, owner);
    await sql.end();
  }
});
