/**
 * Local pg_net worker: performs the requests that the local pg_net shim
 * (scripts/local/pg_net/pg_net--0.14.0.sql) queues, like pg_net's C background worker does on
 * hosted Supabase.
 *
 * - Wakes on NOTIFY pg_net_worker_wake (sent by an insert trigger, so delivered at commit) and
 *   polls slowly as a fallback; only committed rows are ever visible to it.
 * - Claims queued rows in batches (`delete ... returning` over `for update skip locked`, so
 *   several workers never take the same row), performs up to PG_NET_WORKER_CONCURRENCY requests
 *   at once with fetch and a per-request timeout, and writes one net._http_response row per
 *   request with the request's id: status, content type, headers and body text, or
 *   timed_out/error_msg with curl's wording.
 * - Deletes responses older than pg_net.ttl (default 6 hours).
 * - Survives Postgres restarts (reconnects with backoff and listens again), never exits on a
 *   failed request, logs one line per problem (not per request), stops cleanly on SIGTERM/SIGINT.
 *
 * Run: SUPABASE_DB_URL=postgresql://... deno run --allow-net --allow-env --allow-read
 *      --allow-run --allow-sys scripts/local/pg_net_worker.ts
 * Optional: PG_NET_WORKER_CONCURRENCY (default 200), PG_NET_WORKER_POLL_MS (default 5000),
 *           PG_NET_WORKER_PRUNE_MS (default 5000).
 */
import postgres from "postgres";

/** Version of pg_net whose API the shim copies; sent in User-Agent like pg_net does. */
export const PG_NET_VERSION = "0.14.0";
/** NOTIFY channel of the shim's insert trigger. */
export const WAKE_CHANNEL = "pg_net_worker_wake";
/** Prefix of the worker's application_name; net.check_worker_is_up and net.worker_restart use it. */
export const APPLICATION_NAME_PREFIX = "pg_net worker";

const LOG_PREFIX = "[pg_net worker]";
/** Rows claimed per query at most (pg_net.batch_size's default). */
const CLAIM_BATCH = 200;
/** Expired responses deleted per prune at most. */
const PRUNE_BATCH = 1000;
/** Responses written per insert at most, and bytes of JSON per insert at most. */
const FLUSH_ROWS = 500;
const FLUSH_BYTES = 8 * 1024 * 1024;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 2000;
/** How long in-flight requests may finish after SIGTERM before they are aborted. */
const SHUTDOWN_GRACE_MS = 3000;
/** How long the final flush of responses may take on shutdown. */
const SHUTDOWN_FLUSH_MS = 1500;

/** A claimed request, as the claim query returns it. */
export interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  timeout_milliseconds: number;
  /** JSON array of [name, value] pairs, or null when the headers column is not a JSON object. */
  headers: string | null;
  body: Uint8Array<ArrayBuffer> | null;
}

/** A row of net._http_response, as the worker writes it. */
export interface ResponseRow {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
}

/** Reads an optional positive integer setting from the environment. */
function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

/** Text, truncated at the first NUL like pg_net's C strings (Postgres text cannot hold NUL). */
function cString(text: string): string {
  const nul = text.indexOf("\0");
  return nul === -1 ? text : text.slice(0, nul);
}

/** The innermost message of an error and its causes. */
function innermostMessage(error: unknown): string {
  let current: unknown = error;
  let message = String(error);
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    message = current instanceof Error ? current.message : String(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return message;
}

/**
 * Turns a fetch failure into the message pg_net records: curl's curl_easy_strerror text for
 * the common causes, else the underlying message. Pure, exported for tests.
 */
export function describeFetchError(error: unknown): string {
  const detail = innermostMessage(error);
  const all = `${error instanceof Error ? error.message : String(error)} ${detail}`;
  if (/connection refused|tcp connect error|no route to host|network is unreachable/i.test(all)) {
    return "Couldn't connect to server";
  }
  if (/dns error|failed to lookup address|name or service not known/i.test(all)) {
    return "Couldn't resolve host name";
  }
  if (/certificate/i.test(all)) return "SSL peer certificate or SSH remote key was not OK";
  if (/\btls\b|\bssl\b|handshake/i.test(all)) return "SSL connect error";
  if (/connection (closed|reset)|incomplete ?message|unexpected eof|broken pipe/i.test(all)) {
    return "Failure when receiving data from the peer";
  }
  return cString(detail);
}

/** The message pg_net records for a timeout (without curl's per-phase timings). */
export function timeoutMessage(timeoutMs: number, elapsedMs: number): string {
  return `Timeout of ${timeoutMs} ms reached. Total time: ${elapsedMs.toFixed(6)} ms`;
}

function errorRow(id: string, message: string, timedOut = false): ResponseRow {
  return {
    id,
    status_code: null,
    content_type: null,
    headers: null,
    content: null,
    timed_out: timedOut,
    error_msg: message,
  };
}

/**
 * Performs one claimed request and returns its response row; never throws.
 * shutdown: aborts the request when the worker stops.
 */
export async function performRequest(
  request: QueuedRequest,
  shutdown: AbortSignal,
): Promise<ResponseRow> {
  const id = request.id;
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return errorRow(id, "URL using bad/illegal format or missing URL");
  }
  // fetch would also read file: and data: URLs; pg_net only speaks HTTP(S).
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return errorRow(id, "Unsupported protocol");
  }
  const timeoutMs = request.timeout_milliseconds;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    return errorRow(id, `timeout_milliseconds must be greater than 0, got ${timeoutMs}`);
  }
  if (request.headers === null) return errorRow(id, "headers must be a JSON object");

  const headers = new Headers();
  try {
    for (const [name, value] of JSON.parse(request.headers) as [string, string][]) {
      headers.append(name, value);
    }
  } catch (error) {
    return errorRow(id, `invalid request header: ${innermostMessage(error)}`);
  }
  if (!headers.has("user-agent")) headers.set("user-agent", `pg_net/${PG_NET_VERSION}`);

  const method = request.method.toUpperCase();
  // curl sends a POST without a body as an empty body (Content-Length: 0).
  const body = request.body ?? (method === "POST" ? new Uint8Array() : undefined);
  const timeout = AbortSignal.timeout(timeoutMs);
  const started = performance.now();
  try {
    // One signal covers connecting, sending and reading the body, like CURLOPT_TIMEOUT_MS.
    const response = await fetch(url, {
      method,
      headers,
      body,
      redirect: "follow",
      signal: AbortSignal.any([timeout, shutdown]),
    });
    const text = await response.text();
    return {
      id,
      status_code: response.status,
      content_type: response.headers.get("content-type"),
      headers: Object.fromEntries(response.headers),
      content: text === "" ? null : cString(text),
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    if (timeout.aborted) {
      return errorRow(id, timeoutMessage(timeoutMs, performance.now() - started), true);
    }
    if (shutdown.aborted) {
      return errorRow(
        id,
        "Request aborted: the local pg_net worker was stopped before it completed",
      );
    }
    return errorRow(id, describeFetchError(error));
  }
}

/** One waiter at a time; a notify without a waiter is remembered until the next wait. */
class Wakeup {
  #pending = false;
  #resolve: (() => void) | null = null;

  notify(): void {
    const resolve = this.#resolve;
    if (resolve) {
      this.#resolve = null;
      resolve();
    } else {
      this.#pending = true;
    }
  }

  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = null;
        resolve();
      }, ms);
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Logs one line when a problem starts and one when it ends, never one per occurrence. */
class Problems {
  #active = new Set<string>();

  report(key: string, message: string): void {
    if (this.#active.has(key)) return;
    this.#active.add(key);
    console.error(`${LOG_PREFIX} ${message}`);
  }

  resolve(key: string, message: string): void {
    if (!this.#active.delete(key)) return;
    console.error(`${LOG_PREFIX} ${message}`);
  }
}

/** True for errors that mean "Postgres is unreachable right now" rather than a bad query. */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return true;
  return code.startsWith("08") || code.startsWith("57P") || code.startsWith("CONNECT") ||
    code.startsWith("E") || code === "53300";
}

function describeDbError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === "string" ? `${message} (${code})` : message;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The running worker: connections, in-flight requests and buffered responses. */
class Worker {
  readonly #concurrency: number;
  readonly #pollMs: number;
  readonly #pruneMs: number;
  readonly #sql: postgres.Sql;
  readonly #listenSql: postgres.Sql;
  readonly #wake = new Wakeup();
  readonly #flushWake = new Wakeup();
  readonly #problems = new Problems();
  readonly #shutdown = new AbortController();
  #stopping = false;
  #listening = false;
  #connectedOnce = false;
  #inFlight = 0;
  #pending: ResponseRow[] = [];
  #lastPrune = 0;

  constructor(url: string, concurrency: number, pollMs: number, pruneMs: number) {
    this.#concurrency = concurrency;
    this.#pollMs = pollMs;
    this.#pruneMs = pruneMs;
    const common = {
      connect_timeout: 5,
      // postgres.js waits 3^n / 100 s (up to 20 s) between failed connects: cap it at 1 s so
      // the worker is back soon after Postgres restarts.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: `${APPLICATION_NAME_PREFIX} (local shim, pid ${Deno.pid})` },
    };
    this.#sql = postgres(url, { ...common, max: 4, idle_timeout: 60 });
    // A dedicated session for LISTEN, re-established by the main loop whenever it closes.
    // sql.listen() is not used: its automatic re-listen gives up silently when the first
    // reconnect fails (Postgres still down). postgres.js forwards `onnotify` to its connections
    // (its own listen() relies on it) but does not declare it in its types.
    const listenOptions = {
      ...common,
      max: 1,
      max_lifetime: null,
      onnotify: () => this.#wake.notify(),
      onclose: () => {
        this.#listening = false;
        this.#wake.notify();
      },
    };
    this.#listenSql = postgres(url, listenOptions as postgres.Options<Record<string, never>>);
  }

  /** Runs until stop() is called; the promise settles once everything is closed. */
  async run(): Promise<void> {
    const flusher = this.#flushLoop();
    let backoff = BACKOFF_MIN_MS;
    while (!this.#stopping) {
      try {
        if (!this.#listening) {
          await this.#listenSql`listen ${this.#listenSql(WAKE_CHANNEL)}`;
          this.#listening = true;
          console.error(
            `${LOG_PREFIX} ${this.#connectedOnce ? "listening again" : "connected, listening"} ` +
              `on ${WAKE_CHANNEL}`,
          );
          this.#connectedOnce = true;
        }
        const free = this.#concurrency - this.#inFlight;
        const claimed = free > 0 ? await this.#claim(Math.min(free, CLAIM_BATCH)) : 0;
        this.#problems.resolve("db", "connected to Postgres again");
        this.#problems.resolve("claim", "claiming requests works again");
        backoff = BACKOFF_MIN_MS;
        await this.#maybePrune();
        if (this.#stopping) break;
        // More rows may be queued when a full batch came back and slots remain: claim again.
        if (
          claimed > 0 && claimed === Math.min(free, CLAIM_BATCH) &&
          this.#inFlight < this.#concurrency
        ) {
          continue;
        }
        await this.#wake.wait(this.#pollMs);
      } catch (error) {
        if (this.#stopping) break;
        if (isConnectionError(error)) {
          this.#listening = false;
          this.#problems.report(
            "db",
            `cannot reach Postgres, retrying with backoff: ${describeDbError(error)}`,
          );
        } else {
          const hint = ["42P01", "3F000"].includes(String((error as { code?: unknown }).code))
            ? " (is the extension created? create extension pg_net with schema extensions)"
            : "";
          this.#problems.report(
            "claim",
            `claiming requests failed, retrying: ${describeDbError(error)}${hint}`,
          );
        }
        await this.#wake.wait(backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
    await this.#drainInFlight();
    this.#flushWake.notify();
    await flusher;
    await Promise.allSettled([this.#listenSql.end({ timeout: 1 }), this.#sql.end({ timeout: 1 })]);
  }

  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#wake.notify();
  }

  /** Claims up to `limit` committed requests and starts them; returns how many were claimed. */
  async #claim(limit: number): Promise<number> {
    const rows = await this.#sql<QueuedRequest[]>`
      with claimed as (
          select q.ctid
          from net.http_request_queue as q
          order by q.id
          limit ${limit}
          for update skip locked
      )
      delete from net.http_request_queue as q
      using claimed
      where q.ctid = claimed.ctid
      returning
          q.id::text as id,
          q.method::text as method,
          q.url,
          q.timeout_milliseconds,
          case
              when pg_catalog.jsonb_typeof(q.headers) = 'object' then coalesce(
                  (
                      select pg_catalog.json_agg(pg_catalog.json_build_array(h.key, h.value))
                      from pg_catalog.jsonb_each_text(q.headers) as h
                      where h.value is not null
                  ),
                  '[]'::json
              )::text
          end as headers,
          q.body
    `;
    for (const row of rows) this.#start(row);
    return rows.length;
  }

  #start(request: QueuedRequest): void {
    this.#inFlight++;
    performRequest(request, this.#shutdown.signal)
      .catch((error) => errorRow(request.id, describeFetchError(error)))
      .then((row) => {
        this.#pending.push(row);
        this.#flushWake.notify();
      })
      .finally(() => {
        this.#inFlight--;
        if (this.#inFlight === this.#concurrency - 1 || this.#inFlight === 0) this.#wake.notify();
      });
  }

  /** Deletes responses older than pg_net.ttl, at most every PG_NET_WORKER_PRUNE_MS. */
  async #maybePrune(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPrune < this.#pruneMs) return;
    this.#lastPrune = now;
    try {
      await this.#sql`
        with expired as (
            select r.ctid
            from net._http_response as r
            where r.created < pg_catalog.now()
                - coalesce(nullif(pg_catalog.current_setting('pg_net.ttl', true), ''), '6 hours')::interval
            order by r.created
            limit ${PRUNE_BATCH}
        )
        delete from net._http_response as r
        using expired
        where r.ctid = expired.ctid
      `;
      this.#problems.resolve("prune", "deleting expired responses works again");
    } catch (error) {
      if (isConnectionError(error)) throw error;
      this.#problems.report(
        "prune",
        `deleting expired responses failed: ${describeDbError(error)}`,
      );
    }
  }

  /** Writes buffered responses until stopped and empty; retries while Postgres is away. */
  async #flushLoop(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    let deadline = Infinity;
    while (true) {
      const done = this.#stopping && this.#inFlight === 0;
      if (done && deadline === Infinity) deadline = Date.now() + SHUTDOWN_FLUSH_MS;
      if (this.#pending.length === 0) {
        if (done) return;
        await this.#flushWake.wait(this.#pollMs);
        continue;
      }
      if (Date.now() > deadline) {
        console.error(
          `${LOG_PREFIX} stopping with ${this.#pending.length} response(s) not written: Postgres is unreachable`,
        );
        return;
      }
      const batch = this.#takeBatch();
      try {
        await this.#insert(batch);
        this.#problems.resolve("write", "writing responses works again");
        backoff = BACKOFF_MIN_MS;
      } catch (error) {
        if (isConnectionError(error)) {
          this.#pending.unshift(...batch);
          this.#problems.report(
            "write",
            `cannot write responses, keeping ${this.#pending.length} in memory: ${
              describeDbError(error)
            }`,
          );
          await sleep(done ? Math.min(backoff, 200) : backoff);
          backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        } else {
          await this.#insertOneByOne(batch);
        }
      }
    }
  }

  #takeBatch(): ResponseRow[] {
    const batch: ResponseRow[] = [];
    let bytes = 0;
    while (this.#pending.length > 0 && batch.length < FLUSH_ROWS && bytes < FLUSH_BYTES) {
      const row = this.#pending.shift()!;
      bytes += (row.content?.length ?? 0) + 512;
      batch.push(row);
    }
    return batch;
  }

  async #insert(rows: ResponseRow[]): Promise<void> {
    await this.#sql`
      insert into net._http_response
          (id, status_code, content_type, headers, content, timed_out, error_msg)
      select r.id, r.status_code, r.content_type, r.headers, r.content, r.timed_out, r.error_msg
      -- ::text first: with ::jsonb alone postgres.js would JSON-encode the string once more.
      from pg_catalog.jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as r(
          id bigint,
          status_code integer,
          content_type text,
          headers jsonb,
          content text,
          timed_out boolean,
          error_msg text
      )
    `;
  }

  /** Fallback when a batch is rejected: isolates the bad row(s), records an error for them. */
  async #insertOneByOne(rows: ResponseRow[]): Promise<void> {
    for (const row of rows) {
      try {
        await this.#insert([row]);
      } catch (error) {
        if (isConnectionError(error)) {
          this.#pending.unshift(row);
          continue;
        }
        this.#problems.report(
          "row",
          `a response could not be stored as received, stored as an error instead: ${
            describeDbError(error)
          }`,
        );
        const message = `the local pg_net worker could not store the response: ${
          describeDbError(error)
        }`;
        await this.#insert([errorRow(row.id, message)]).catch(() => {});
      }
    }
  }

  /** Waits for in-flight requests, aborting them after SHUTDOWN_GRACE_MS. */
  async #drainInFlight(): Promise<void> {
    const deadline = Date.now() + SHUTDOWN_GRACE_MS;
    while (this.#inFlight > 0 && Date.now() < deadline) await sleep(25);
    if (this.#inFlight > 0) this.#shutdown.abort();
    while (this.#inFlight > 0) await sleep(10);
  }
}

/** Entry point: reads the environment, runs the worker until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const url = Deno.env.get("SUPABASE_DB_URL");
  if (url === undefined || url.trim() === "") {
    console.error(
      `${LOG_PREFIX} error: SUPABASE_DB_URL is not set; set it to the local database URL, ` +
        "e.g. postgresql://postgres:postgres@127.0.0.1:54322/postgres",
    );
    Deno.exit(2);
  }
  let concurrency: number, pollMs: number, pruneMs: number;
  try {
    concurrency = envInt("PG_NET_WORKER_CONCURRENCY", 200, 1, 10_000);
    pollMs = envInt("PG_NET_WORKER_POLL_MS", 5000, 10, 600_000);
    pruneMs = envInt("PG_NET_WORKER_PRUNE_MS", 5000, 10, 86_400_000);
  } catch (error) {
    console.error(`${LOG_PREFIX} error: ${(error as Error).message}`);
    Deno.exit(2);
  }

  const worker = new Worker(url, concurrency, pollMs, pruneMs);
  const onSignal = () => worker.stop();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  console.error(
    `${LOG_PREFIX} started (pid ${Deno.pid}): up to ${concurrency} requests at once, ` +
      `wake-ups on ${WAKE_CHANNEL}, poll every ${pollMs} ms`,
  );
  await worker.run();
  Deno.removeSignalListener("SIGTERM", onSignal);
  Deno.removeSignalListener("SIGINT", onSignal);
  console.error(`${LOG_PREFIX} stopped`);
  // Idle keep-alive sockets of fetch must not keep the process alive.
  Deno.exit(0);
}

if (import.meta.main) await main();
