// Tests of the local functions gateway (scripts/local/gateway.ts) against the test-only
// functions in tests/fixtures/functions. Each test starts its own gateway subprocess on a free
// port and stops it at the end. No database needed.
//
//   deno test --allow-net --allow-env --allow-read --allow-run --allow-write tests/gateway_test.ts

import assert from "node:assert/strict";
import { mintJwt } from "../scripts/local/jwt.ts";
import { discoverFunctions, readFunctionsConfig } from "../scripts/local/gateway.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURES = `${ROOT}tests/fixtures`;
// Supabase's well-known local values (scripts/lib/stack.sh): not secrets.
const JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const ANON_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

interface FunctionInfo {
  name: string;
  verify_jwt: boolean;
  state: string;
  pid: number | null;
  restarts: number;
  inflight: number;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A gateway subprocess serving the fixtures, with its output collected. */
class TestGateway {
  logs: string[] = [];
  base = "";
  #child: Deno.ChildProcess;
  #pumps: Promise<void>[];

  constructor(extraArgs: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-run",
        "--allow-sys",
        "--allow-write",
        `${ROOT}scripts/local/gateway.ts`,
        "--port",
        "0",
        "--functions-dir",
        `${FIXTURES}/functions`,
        "--config",
        `${FIXTURES}/config.toml`,
        ...extraArgs,
      ],
      env: {
        SUPABASE_JWT_SECRET: JWT_SECRET,
        SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE_KEY }),
        SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
        SUPABASE_URL: "http://127.0.0.1:54321",
        DENO_NO_UPDATE_CHECK: "1",
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = [this.#pump(this.#child.stdout), this.#pump(this.#child.stderr)];
  }

  get pid(): number {
    return this.#child.pid;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      this.logs.push(...lines);
    }
    if (buffer) this.logs.push(buffer);
  }

  /** Waits for the "serving" line and learns the port. */
  async ready(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      for (const line of this.logs) {
        const match = /serving .* on http:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
        if (match) {
          this.base = `http://127.0.0.1:${match[1]}`;
          return;
        }
      }
      await delay(25);
    }
    throw new Error(`gateway did not start:\n${this.logs.join("\n")}`);
  }

  async call(path: string, init: RequestInit = {}): Promise<Reply> {
    const res = await fetch(`${this.base}${path}`, init);
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  async functions(): Promise<Map<string, FunctionInfo>> {
    const reply = await this.call("/_gateway/functions");
    assert.equal(reply.status, 200);
    return new Map(reply.json.functions.map((f: FunctionInfo) => [f.name, f]));
  }

  async info(name: string): Promise<FunctionInfo> {
    const info = (await this.functions()).get(name);
    assert.ok(info, `function ${name} listed`);
    return info;
  }

  /** SIGTERM and wait; returns the exit status. Safe to call twice. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already exited
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // already exited
      }
    }, 10_000);
    const status = await this.#child.status;
    clearTimeout(timer);
    await Promise.all(this.#pumps);
    return status;
  }
}

/** Runs `body` against a fresh gateway (lazy start unless told otherwise), always stopping it. */
async function withGateway(
  body: (gw: TestGateway) => Promise<void>,
  extraArgs: string[] = ["--lazy"],
): Promise<void> {
  const gw = new TestGateway(extraArgs);
  try {
    await gw.ready();
    await body(gw);
  } catch (error) {
    console.error(`gateway output:\n${gw.logs.join("\n")}`);
    throw error;
  } finally {
    await gw.stop();
  }
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function processGone(pid: number, withinMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    try {
      const status = await Deno.readTextFile(`/proc/${pid}/stat`);
      // A zombie (state Z) has exited and waits to be reaped: it runs nothing.
      if (/^\d+ \(.*\) Z/.test(status)) return true;
    } catch {
      return true;
    }
    await delay(50);
  }
  return false;
}

Deno.test("gateway config - verify_jwt defaults to true, enabled = false hides a function", async () => {
  const config = await readFunctionsConfig(`${FIXTURES}/config.toml`, true);
  assert.equal(config.echo.verify_jwt, true);
  assert.equal(config.open.verify_jwt, false);
  const specs = await discoverFunctions(`${FIXTURES}/functions`, config, `${FIXTURES}/config.toml`);
  assert.deepEqual([...specs.keys()], ["background", "broken", "crash", "echo", "open"]);
  const noConfig = await discoverFunctions(`${FIXTURES}/functions`, {}, "/nonexistent/config.toml");
  assert.equal(noConfig.get("open")?.verifyJwt, true, "hosted default is verify_jwt = true");
  assert.ok(noConfig.has("disabled"));
  assert.ok(!noConfig.has("_shared"));
  await assert.rejects(
    readFunctionsConfig(`${FIXTURES}/missing.toml`, true),
    /cannot read/,
  );
  assert.deepEqual(await readFunctionsConfig(`${FIXTURES}/missing.toml`, false), {});
});

Deno.test("gateway - /health answers 200 and warm start runs every function in its own process", async () => {
  await withGateway(async (gw) => {
    assert.equal((await gw.call("/health")).status, 200);
    let functions = await gw.functions();
    const deadline = Date.now() + 30_000;
    while ([...functions.values()].some((f) => f.name !== "broken" && f.state !== "running")) {
      assert.ok(Date.now() < deadline, "functions did not start");
      await delay(100);
      functions = await gw.functions();
    }
    assert.deepEqual([...functions.keys()], ["background", "broken", "crash", "echo", "open"]);
    const pids = ["background", "crash", "echo", "open"].map((n) => functions.get(n)!.pid);
    assert.equal(new Set(pids).size, 4, "one OS process per function");
    for (const pid of pids) assert.ok(pid && pid !== gw.pid);
    assert.equal(functions.get("echo")!.verify_jwt, true);
    assert.equal(functions.get("open")!.verify_jwt, false);
    const open = await gw.call("/functions/v1/open");
    assert.equal(open.json.pid, functions.get("open")!.pid);
  }, []);
});

Deno.test("gateway - unknown functions, _shared and disabled functions are 404 JSON", async () => {
  await withGateway(async (gw) => {
    for (const path of ["/functions/v1/nope", "/functions/v1/_shared", "/functions/v1/disabled"]) {
      const reply = await gw.call(path, { headers: auth(ANON_KEY) });
      assert.equal(reply.status, 404, path);
      assert.equal(reply.headers.get("content-type"), "application/json");
      assert.equal(reply.json.code, "NOT_FOUND");
    }
    assert.equal((await gw.call("/rest/v1/anything")).status, 404);
  });
});

Deno.test("gateway - verify_jwt: no Authorization header is 401 before the function runs", async () => {
  await withGateway(async (gw) => {
    const reply = await gw.call("/functions/v1/echo", { method: "POST", body: "x" });
    assert.equal(reply.status, 401);
    assert.deepEqual(reply.json, { code: 401, message: "Missing authorization header" });
    assert.equal((await gw.info("echo")).state, "stopped", "the function never started");
  });
});

Deno.test("gateway - verify_jwt: forged, expired and malformed tokens are 401 Invalid JWT", async () => {
  await withGateway(async (gw) => {
    const forged = await mintJwt({
      role: "authenticated",
      secret: "not-the-local-secret-but-long-enough-to-sign",
    });
    const expired = await mintJwt({ role: "authenticated", secret: JWT_SECRET, expiresIn: -10 });
    const cases: Record<string, string>[] = [
      auth(forged),
      auth(expired),
      auth("not.a.jwt"),
      auth(`${SECRET_KEY}-wrong`),
      { authorization: ANON_KEY },
      { apikey: "sb_secret_wrong" },
    ];
    for (const headers of cases) {
      const reply = await gw.call("/functions/v1/echo", { headers });
      assert.equal(reply.status, 401, JSON.stringify(headers).slice(0, 60));
      assert.deepEqual(reply.json, { code: 401, message: "Invalid JWT" });
    }
  });
});

Deno.test("gateway - verify_jwt: anon key, user token and opaque API keys pass", async () => {
  await withGateway(async (gw) => {
    const user = await mintJwt({
      role: "authenticated",
      sub: "0b7c9f1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e",
      secret: JWT_SECRET,
    });
    const cases: Record<string, string>[] = [
      auth(ANON_KEY),
      auth(user),
      { apikey: SECRET_KEY },
      { apikey: PUBLISHABLE_KEY },
      auth(SECRET_KEY),
      { ...auth(user), apikey: PUBLISHABLE_KEY },
    ];
    for (const headers of cases) {
      const reply = await gw.call("/functions/v1/echo", { headers });
      assert.equal(reply.status, 200, `${JSON.stringify(headers).slice(0, 60)}: ${reply.text}`);
      assert.equal(reply.json.path, "/echo");
    }
  });
});

Deno.test("gateway - verify_jwt off: the function answers without credentials", async () => {
  await withGateway(async (gw) => {
    const reply = await gw.call("/functions/v1/open/any/path");
    assert.equal(reply.status, 200);
    assert.deepEqual({ ok: reply.json.ok, path: reply.json.path }, {
      ok: true,
      path: "/open/any/path",
    });
  });
});

Deno.test("gateway - CORS preflight reaches the function without auth and gets its headers", async () => {
  await withGateway(async (gw) => {
    const reply = await gw.call("/functions/v1/echo", {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "ok");
    assert.equal(reply.headers.get("access-control-allow-origin"), "*");
    assert.match(reply.headers.get("access-control-allow-headers") ?? "", /authorization/);
    assert.match(reply.headers.get("access-control-allow-headers") ?? "", /apikey/);
    assert.match(reply.headers.get("access-control-allow-methods") ?? "", /POST/);
    const post = await gw.call("/functions/v1/echo", { method: "POST", headers: auth(ANON_KEY) });
    assert.equal(post.headers.get("access-control-allow-origin"), "*", "responses carry CORS too");
  });
});

Deno.test("gateway - forwards method, path, query, headers and body; streams both ways", async () => {
  await withGateway(async (gw) => {
    const reply = await gw.call("/functions/v1/echo/a/b%20c?x=1&y=two", {
      method: "PUT",
      headers: { ...auth(ANON_KEY), "content-type": "text/plain", "x-custom": "kept" },
      body: "hello body",
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.method, "PUT");
    assert.equal(reply.json.path, "/echo/a/b%20c");
    assert.deepEqual(reply.json.query, { x: "1", y: "two" });
    assert.equal(reply.json.body, "hello body");
    assert.equal(reply.json.headers["x-custom"], "kept");
    assert.equal(reply.json.headers["authorization"], `Bearer ${ANON_KEY}`);
    assert.equal(reply.json.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(reply.json.env.SUPABASE_URL, "http://127.0.0.1:54321", "env is inherited");

    // A 2 MB request body streamed from a ReadableStream arrives whole.
    const chunk = "0123456789abcdef".repeat(4096);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 32) return controller.close();
        sent++;
        controller.enqueue(new TextEncoder().encode(chunk));
      },
    });
    const big = await gw.call("/functions/v1/echo/big", {
      method: "POST",
      headers: auth(ANON_KEY),
      body,
    });
    assert.equal(big.status, 200);
    assert.equal(big.json.body.length, chunk.length * 32);

    // A streamed response arrives chunk by chunk, the first before the function finished.
    const res = await fetch(`${gw.base}/functions/v1/echo/stream?n=5`, { headers: auth(ANON_KEY) });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    assert.match(first.value ?? "", /^chunk-0\n/);
    let all = first.value ?? "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) all += r.value;
    assert.equal(all, "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n");

    // A body the function compressed itself reaches the client intact.
    const gz = await gw.call("/functions/v1/echo/gzip", {
      headers: { ...auth(ANON_KEY), "accept-encoding": "gzip" },
    });
    assert.equal(gz.status, 200);
    assert.equal(gz.text, "compressed ".repeat(100));
  });
});

Deno.test("gateway - EdgeRuntime.waitUntil work completes after the response", async () => {
  const received: string[] = [];
  let notify = () => {};
  const arrived = new Promise<void>((resolve) => (notify = resolve));
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push(await req.text());
    notify();
    return new Response("thanks");
  });
  const file = await Deno.makeTempFile({ dir: "/tmp", prefix: "kf-gateway-test-" });
  try {
    await withGateway(async (gw) => {
      const text = `job-${crypto.randomUUID()}`;
      const started = Date.now();
      const reply = await gw.call("/functions/v1/background", {
        method: "POST",
        body: JSON.stringify({
          url: `http://127.0.0.1:${receiver.addr.port}/done`,
          file,
          text,
          delayMs: 500,
        }),
      });
      const answeredAfter = Date.now() - started;
      assert.equal(reply.status, 202);
      assert.deepEqual(reply.json, { accepted: true });
      assert.equal(received.length, 0, "the response did not wait for the background work");
      await Promise.race([
        arrived,
        delay(10_000).then(() => assert.fail("background work never called back")),
      ]);
      assert.deepEqual(received, [text]);
      assert.equal(await Deno.readTextFile(file), text, "background work wrote under /tmp");
      assert.ok(answeredAfter < Date.now() - started, "callback came after the response");
    });
  } finally {
    await receiver.shutdown();
    await Deno.remove(file).catch(() => {});
  }
});

Deno.test("gateway - kill -9 of a function: in-flight 5xx, restart on next request, others unaffected", async () => {
  await withGateway(async (gw) => {
    assert.equal((await gw.call("/functions/v1/echo", { headers: auth(ANON_KEY) })).status, 200);
    assert.equal((await gw.call("/functions/v1/open")).status, 200);
    const before = await gw.info("echo");
    assert.ok(before.pid);

    // Another function keeps answering throughout.
    const openStatuses: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        openStatuses.push((await gw.call("/functions/v1/open")).status);
        await delay(20);
      }
    })();

    const inFlight = gw.call("/functions/v1/echo/sleep?ms=20000", { headers: auth(ANON_KEY) });
    const deadline = Date.now() + 10_000;
    while ((await gw.info("echo")).inflight === 0) {
      assert.ok(Date.now() < deadline, "request never reached the function");
      await delay(20);
    }
    await delay(100);
    Deno.kill(before.pid, "SIGKILL");

    const crashed = await inFlight;
    assert.ok(crashed.status >= 500 && crashed.status < 600, `status ${crashed.status}`);
    assert.equal(crashed.json.error, "function crashed");

    const next = await gw.call("/functions/v1/echo", { headers: auth(ANON_KEY) });
    assert.equal(next.status, 200);
    assert.notEqual(next.json.pid, before.pid, "served by a new process");
    const after = await gw.info("echo");
    assert.equal(after.pid, next.json.pid);
    assert.equal(after.restarts, before.restarts + 1);

    polling = false;
    await poller;
    assert.ok(openStatuses.length > 3, "the other function was exercised");
    assert.ok(openStatuses.every((s) => s === 200), `open statuses ${openStatuses}`);
    assert.equal((await gw.call("/health")).status, 200);
    assert.ok(gw.logs.some((l) => l.includes(`(pid ${before.pid}) exited on SIGKILL`)));
  });
});

Deno.test("gateway - a function calling Deno.exit answers 502 and comes back on the next request", async () => {
  await withGateway(async (gw) => {
    const first = await gw.call("/functions/v1/crash");
    assert.equal(first.status, 200);
    const exited = await gw.call("/functions/v1/crash/exit");
    assert.equal(exited.status, 502);
    assert.equal(exited.json.code, "WORKER_ERROR");
    const again = await gw.call("/functions/v1/crash");
    assert.equal(again.status, 200);
    assert.notEqual(again.json.pid, first.json.pid);
    assert.equal((await gw.call("/health")).status, 200);
  });
});

Deno.test("gateway - unhandled rejections and uncaught errors do not kill the function", async () => {
  await withGateway(async (gw) => {
    const first = await gw.call("/functions/v1/crash");
    for (const path of ["/functions/v1/crash/reject", "/functions/v1/crash/throw"]) {
      const reply = await gw.call(path);
      assert.equal(reply.status, 200, path);
    }
    await delay(200);
    const after = await gw.call("/functions/v1/crash");
    assert.equal(after.status, 200);
    assert.equal(after.json.pid, first.json.pid, "same process");
    assert.equal((await gw.info("crash")).restarts, 0);
    assert.ok(gw.logs.some((l) => l.includes("[crash] unhandled promise rejection")));
    assert.ok(gw.logs.some((l) => l.includes("[crash] uncaught exception")));
  });
});

Deno.test("gateway - a function that fails to boot is 503 BOOT_ERROR and the others still work", async () => {
  await withGateway(async (gw) => {
    const reply = await gw.call("/functions/v1/broken");
    assert.equal(reply.status, 503);
    assert.equal(reply.json.code, "BOOT_ERROR");
    assert.ok(gw.logs.some((l) => l.includes("[broken] failed to load")));
    assert.equal((await gw.call("/functions/v1/open")).status, 200);
  });
});

Deno.test("gateway - SIGTERM stops every function process and exits", async () => {
  const gw = new TestGateway([]);
  try {
    await gw.ready();
    let functions = await gw.functions();
    const deadline = Date.now() + 30_000;
    while ([...functions.values()].some((f) => f.name !== "broken" && f.state !== "running")) {
      assert.ok(Date.now() < deadline, "functions did not start");
      await delay(100);
      functions = await gw.functions();
    }
    // "broken" may still be booting (and about to fail): its pid counts too when listed.
    const pids = [...functions.values()].map((f) => f.pid).filter((p): p is number => !!p);
    assert.ok(pids.length >= 4, `pids ${pids}`);
    const status = await gw.stop();
    assert.equal(status.code, 0);
    for (const pid of pids) assert.ok(await processGone(pid), `function pid ${pid} still runs`);
  } finally {
    await gw.stop();
  }
});

Deno.test("gateway - SIGKILL of the gateway leaves no orphaned function processes", async () => {
  const gw = new TestGateway([]);
  try {
    await gw.ready();
    assert.equal((await gw.call("/functions/v1/open")).status, 200);
    const pid = (await gw.info("open")).pid!;
    Deno.kill(gw.pid, "SIGKILL");
    await gw.stop();
    assert.ok(await processGone(pid), `function pid ${pid} outlived its gateway`);
  } finally {
    await gw.stop();
  }
});
