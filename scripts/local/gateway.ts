// keepfresh local functions gateway: a stand-in for hosted Supabase's functions gateway plus
// edge-runtime, because `supabase functions serve` needs Docker.
//
//   deno run --allow-net --allow-env --allow-read --allow-run --allow-sys --allow-write \
//     scripts/local/gateway.ts --port 54321 [--hostname 127.0.0.1] \
//     [--functions-dir supabase/functions] [--config supabase/config.toml] [--lazy]
//
// - `/functions/v1/<name>[/...]` goes to `<functions-dir>/<name>/index.ts` (folders whose names
//   start with a letter; `_shared` never is a function); the function sees the path
//   `/<name>/...` with the query, method, headers and a streamed body, as on hosted.
// - Each function runs in its OWN OS process (scripts/local/function_runner.ts), so a crash,
//   `Deno.exit` or `kill -9` of one function never affects the gateway or the others.
//   Processes start when the gateway starts (warm, like a deployed function after its first
//   call; `--lazy` starts each on its first request instead). A process that dies is restarted
//   on the next request for it, with exponential backoff while it keeps crashing. Requests in
//   flight when it dies get 502 {"code":"WORKER_ERROR","error":"function crashed"}.
// - `verify_jwt` per function from config.toml (default true, as hosted): an HS256 JWT signed
//   with SUPABASE_JWT_SECRET (ES256/RS256 when SUPABASE_JWKS holds the keys), or an opaque key
//   from SUPABASE_PUBLISHABLE_KEYS / SUPABASE_SECRET_KEYS on Authorization or apikey.
//   OPTIONS (CORS preflight) is never checked: functions answer their own CORS.
// - `GET /health` answers 200; `GET /_gateway/functions` lists functions with pid and restarts.
// - SIGTERM / SIGINT stop every function process, then the gateway exits.

import { parse as parseToml } from "smol-toml";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from "jose";

const ROOT = new URL("../../", import.meta.url);
const RUNNER = new URL("./function_runner.ts", import.meta.url);
const READY_MARKER = "KF_RUNNER_READY ";
// Supabase's well-known local JWT secret (CLI default), used when SUPABASE_JWT_SECRET is unset.
const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
// Hop-by-hop headers (RFC 9110 7.6.1) are never forwarded by a proxy.
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
];
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

export interface GatewayOptions {
  port: number;
  hostname: string;
  functionsDir: string;
  configPath: string;
  /** True when --config was given: a missing file is then an error. */
  configExplicit: boolean;
  lazy: boolean;
  /** How long a function process may take to call Deno.serve. */
  bootTimeoutMs: number;
  /** Time to the response headers before 504, like hosted's 150 s request idle timeout. */
  requestTimeoutMs: number;
  /** V8 heap cap per function (hosted: 256 MB per worker). */
  memoryMb: number;
}

export interface FunctionSpec {
  name: string;
  entry: string;
  verifyJwt: boolean;
  /** deno.json used by the function process (its own, else the repository's). */
  denoConfig: string | null;
}

// ---------------------------------------------------------------------------------------------
// Arguments and configuration

/** The local path of a file: URL. */
function filePath(url: URL): string {
  return decodeURIComponent(url.pathname);
}

function usage(message: string): never {
  console.error(`gateway: ${message}`);
  console.error(
    "usage: gateway.ts --port N [--hostname H] [--functions-dir DIR] [--config FILE] [--lazy]" +
      " [--boot-timeout-ms N] [--request-timeout-ms N] [--memory-mb N]",
  );
  Deno.exit(2);
}

/** Parses the command line; paths default relative to the repository root. */
export function parseArgs(args: string[]): GatewayOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) usage(`unexpected argument ${arg}`);
    const eq = arg.indexOf("=");
    const key = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (key === "lazy") {
      flags.add(key);
      continue;
    }
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined) usage(`--${key} needs a value`);
    values.set(key, value);
  }
  const known = [
    "port",
    "hostname",
    "functions-dir",
    "config",
    "boot-timeout-ms",
    "request-timeout-ms",
    "memory-mb",
  ];
  for (const key of values.keys()) if (!known.includes(key)) usage(`unknown option --${key}`);
  const int = (key: string, fallback: number, min: number): number => {
    const text = values.get(key);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) usage(`--${key} must be an integer >= ${min}`);
    return n;
  };
  const rootPath = (path: string) =>
    path.startsWith("/") ? path : filePath(new URL(path, ROOT)).replace(/\/$/, "");
  const cwdPath = (path: string) => path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  if (!values.has("port")) usage("--port is required");
  return {
    port: int("port", 54321, 0),
    hostname: values.get("hostname") ?? "127.0.0.1",
    functionsDir: values.has("functions-dir")
      ? cwdPath(values.get("functions-dir")!)
      : rootPath("supabase/functions"),
    configPath: values.has("config") ? cwdPath(values.get("config")!) : rootPath(
      "supabase/config.toml",
    ),
    configExplicit: values.has("config"),
    lazy: flags.has("lazy"),
    bootTimeoutMs: int("boot-timeout-ms", 60_000, 100),
    requestTimeoutMs: int("request-timeout-ms", 150_000, 100),
    memoryMb: int("memory-mb", 256, 16),
  };
}

interface FunctionConfig {
  enabled?: boolean;
  verify_jwt?: boolean;
  entrypoint?: string;
  import_map?: string;
}

/** Reads `[functions.<name>]` tables from config.toml; a missing file means defaults. */
export async function readFunctionsConfig(
  configPath: string,
  required: boolean,
): Promise<Record<string, FunctionConfig>> {
  let text: string;
  try {
    text = await Deno.readTextFile(configPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !required) return {};
    throw new Error(`cannot read ${configPath}`, { cause: error });
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${configPath} is not valid TOML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const functions = parsed.functions;
  if (functions === undefined) return {};
  if (typeof functions !== "object" || functions === null || Array.isArray(functions)) {
    throw new Error(`${configPath}: [functions] must be a table of [functions.<name>] tables`);
  }
  const out: Record<string, FunctionConfig> = {};
  for (const [name, raw] of Object.entries(functions)) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new Error(`${configPath}: [functions.${name}] must be a table`);
    }
    const table = raw as Record<string, unknown>;
    for (const key of ["enabled", "verify_jwt"] as const) {
      if (table[key] !== undefined && typeof table[key] !== "boolean") {
        throw new Error(`${configPath}: functions.${name}.${key} must be true or false`);
      }
    }
    for (const key of ["entrypoint", "import_map"] as const) {
      if (table[key] !== undefined && typeof table[key] !== "string") {
        throw new Error(`${configPath}: functions.${name}.${key} must be a string`);
      }
    }
    out[name] = table as FunctionConfig;
  }
  return out;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Finds the functions: `<dir>/<name>/index.ts` (or config's entrypoint), minus disabled ones. */
export async function discoverFunctions(
  functionsDir: string,
  config: Record<string, FunctionConfig>,
  configPath: string,
): Promise<Map<string, FunctionSpec>> {
  const specs = new Map<string, FunctionSpec>();
  const configDir = dirname(configPath);
  const rootConfig = filePath(new URL("deno.json", ROOT));
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(functionsDir)) {
      if (entry.isDirectory && FUNCTION_NAME.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    throw new Error(`cannot list functions in ${functionsDir}`, { cause: error });
  }
  names.sort();
  for (const name of names) {
    const fnConfig = config[name] ?? {};
    if (fnConfig.enabled === false) continue;
    const folder = `${functionsDir}/${name}`;
    const entry = fnConfig.entrypoint
      ? (fnConfig.entrypoint.startsWith("/")
        ? fnConfig.entrypoint
        : filePath(new URL(fnConfig.entrypoint, `file://${configDir}/`)))
      : `${folder}/index.ts`;
    if (!(await isFile(entry))) continue;
    let denoConfig: string | null = null;
    if (fnConfig.import_map) {
      denoConfig = fnConfig.import_map.startsWith("/")
        ? fnConfig.import_map
        : filePath(new URL(fnConfig.import_map, `file://${configDir}/`));
    } else {
      for (const candidate of [`${folder}/deno.json`, `${folder}/deno.jsonc`, rootConfig]) {
        if (await isFile(candidate)) {
          denoConfig = candidate;
          break;
        }
      }
    }
    specs.set(name, { name, entry, verifyJwt: fnConfig.verify_jwt ?? true, denoConfig });
  }
  return specs;
}

// ---------------------------------------------------------------------------------------------
// JWT / API key check (the hosted gateway's verify_jwt)

function parseKeyMap(name: string): string[] {
  const raw = Deno.env.get(name);
  if (!raw) return [];
  try {
    const parsed = JSON.parse(raw);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      return Object.values(parsed).filter((v): v is string => typeof v === "string" && v !== "");
    }
  } catch {
    // fall through to the warning
  }
  console.error(`[gateway] ${name} is not a JSON object of named keys; ignoring it`);
  return [];
}

/** Verifies what the hosted gateway verifies; caches good tokens until they expire. */
export class JwtGate {
  #secret: Uint8Array;
  #jwks: JWTVerifyGetKey | null;
  #apiKeys: Set<string>;
  #cache = new Map<string, number>();

  constructor(secret: string, apiKeys: string[], jwks: JWTVerifyGetKey | null) {
    this.#secret = new TextEncoder().encode(secret);
    this.#apiKeys = new Set(apiKeys);
    this.#jwks = jwks;
  }

  static fromEnv(): JwtGate {
    let jwks: JWTVerifyGetKey | null = null;
    const rawJwks = Deno.env.get("SUPABASE_JWKS");
    if (rawJwks) {
      try {
        const parsed = JSON.parse(rawJwks);
        jwks = createLocalJWKSet(Array.isArray(parsed) ? { keys: parsed } : parsed);
      } catch (error) {
        console.error("[gateway] SUPABASE_JWKS is not a JWKS; asymmetric JWTs will fail:", error);
      }
    }
    return new JwtGate(
      Deno.env.get("SUPABASE_JWT_SECRET") || LOCAL_JWT_SECRET,
      [...parseKeyMap("SUPABASE_PUBLISHABLE_KEYS"), ...parseKeyMap("SUPABASE_SECRET_KEYS")],
      jwks,
    );
  }

  async #validJwt(token: string): Promise<boolean> {
    const now = Date.now() / 1000;
    const cachedExp = this.#cache.get(token);
    if (cachedExp !== undefined) {
      if (cachedExp > now) return true;
      this.#cache.delete(token);
      return false;
    }
    try {
      const { alg } = decodeProtectedHeader(token);
      let payload;
      if (alg === "HS256") {
        ({ payload } = await jwtVerify(token, this.#secret, { algorithms: ["HS256"] }));
      } else if ((alg === "ES256" || alg === "RS256") && this.#jwks) {
        ({ payload } = await jwtVerify(token, this.#jwks, { algorithms: ["ES256", "RS256"] }));
      } else {
        return false;
      }
      if (this.#cache.size >= 10_000) this.#cache.clear();
      this.#cache.set(token, typeof payload.exp === "number" ? payload.exp : Infinity);
      return true;
    } catch {
      return false;
    }
  }

  /** Returns null when the request may pass, else the 401 response hosted would send. */
  async check(req: Request): Promise<Response | null> {
    const authorization = req.headers.get("authorization");
    const apikey = req.headers.get("apikey");
    if (authorization) {
      const match = /^bearer\s+(\S+)\s*$/i.exec(authorization);
      if (match) {
        const token = match[1];
        if (token.startsWith("sb_") ? this.#apiKeys.has(token) : await this.#validJwt(token)) {
          return null;
        }
      }
      return unauthorized("Invalid JWT");
    }
    if (apikey && apikey.startsWith("sb_")) {
      return this.#apiKeys.has(apikey) ? null : unauthorized("Invalid JWT");
    }
    return unauthorized("Missing authorization header");
  }
}

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function unauthorized(message: string): Response {
  return json({ code: 401, message }, 401);
}

// ---------------------------------------------------------------------------------------------
// Function processes

class BootError extends Error {}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Forwards a child's output line by line, prefixed with the function name. */
async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) !== -1) {
        onLine(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
      if (buffer.length > 65_536) {
        onLine(buffer);
        buffer = "";
      }
    }
  } catch {
    // The pipe broke with the process: nothing more to forward.
  }
  buffer += decoder.decode();
  if (buffer) onLine(buffer);
}

/** One running OS process of a function. */
class FunctionProcess {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly startedAt = Date.now();
  port = 0;
  alive = true;
  inflight = 0;
  /** Aborted when the process exits; in-flight requests listen to it. */
  readonly exitController = new AbortController();
  readonly ready: Promise<number>;
  readonly exited: Promise<Deno.CommandStatus>;
  /** Set when the gateway itself stops the process (not a crash). */
  stopping = false;

  constructor(spec: FunctionSpec, options: GatewayOptions) {
    const args = [
      "run",
      "--no-prompt",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      // Hosted functions may write to /tmp (ephemeral storage) and nowhere else.
      "--allow-write=/tmp",
      `--v8-flags=--max-old-space-size=${options.memoryMb}`,
    ];
    if (spec.denoConfig) args.push("--config", spec.denoConfig);
    args.push(filePath(RUNNER), spec.name, spec.entry, "0");
    this.child = new Deno.Command(Deno.execPath(), {
      args,
      env: {
        KF_RUNNER_PARENT_PIPE: "1",
        SB_EXECUTION_ID: crypto.randomUUID(),
        DENO_NO_UPDATE_CHECK: "1",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.child.pid;
    const prefix = `[${spec.name}]`;
    let resolveReady!: (port: number) => void;
    this.ready = new Promise<number>((resolve) => (resolveReady = resolve));
    pumpLines(this.child.stdout, (line) => {
      if (this.port === 0 && line.startsWith(READY_MARKER)) {
        try {
          const { port } = JSON.parse(line.slice(READY_MARKER.length));
          this.port = port;
          resolveReady(port);
          return;
        } catch {
          // not ours: print it
        }
      }
      console.log(`${prefix} ${line}`);
    });
    pumpLines(this.child.stderr, (line) => console.error(`${prefix} ${line}`));
    this.exited = this.child.status.then((status) => {
      this.alive = false;
      this.exitController.abort(new Error("function process exited"));
      return status;
    });
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (!this.alive) return;
    try {
      this.child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const done = await Promise.race([
      this.exited.then(() => true),
      delay(graceMs).then(() => false),
    ]);
    if (!done) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await this.exited;
    }
  }
}

/** A function and its current process: starts, restarts with backoff, reports. */
class FunctionSlot {
  spec: FunctionSpec;
  current: FunctionProcess | null = null;
  starting: Promise<FunctionProcess> | null = null;
  starts = 0;
  /** Consecutive quick failures (exit within 10 s of start, or boot failure). */
  failures = 0;
  lastExitAt = 0;
  closed = false;

  constructor(spec: FunctionSpec, private options: GatewayOptions) {
    this.spec = spec;
  }

  acquire(): Promise<FunctionProcess> {
    const current = this.current;
    if (current && current.alive && current.port) return Promise.resolve(current);
    if (!this.starting) {
      this.starting = this.#start().finally(() => (this.starting = null));
    }
    return this.starting;
  }

  async #start(): Promise<FunctionProcess> {
    if (this.closed) throw new BootError("gateway is shutting down");
    if (this.failures > 1) {
      const backoff = Math.min(250 * 2 ** (this.failures - 2), 5_000);
      const wait = this.lastExitAt + backoff - Date.now();
      if (wait > 0) await delay(wait);
    }
    const proc = new FunctionProcess(this.spec, this.options);
    this.starts++;
    this.current = proc;
    proc.exited.then((status) => {
      const lived = Date.now() - proc.startedAt;
      this.lastExitAt = Date.now();
      if (this.current === proc) this.current = null;
      if (proc.stopping) return;
      this.failures = lived < 10_000 ? this.failures + 1 : 1;
      console.error(
        `[gateway] function ${this.spec.name} (pid ${proc.pid}) exited` +
          (status.signal ? ` on ${status.signal}` : ` with code ${status.code}`) +
          "; it restarts on its next request",
      );
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      proc.ready.then(() => "ready" as const),
      proc.exited.then(() => "exited" as const),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), this.options.bootTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === "ready") return proc;
    if (outcome === "timeout") {
      console.error(
        `[gateway] function ${this.spec.name} did not serve within ${this.options.bootTimeoutMs} ms`,
      );
      await proc.stop(500);
      this.failures++;
      this.lastExitAt = Date.now();
    }
    throw new BootError(`function ${this.spec.name} failed to start`);
  }

  describe() {
    const proc = this.current;
    return {
      name: this.spec.name,
      verify_jwt: this.spec.verifyJwt,
      state: proc?.alive ? (proc.port ? "running" : "starting") : "stopped",
      pid: proc?.alive ? proc.pid : null,
      port: proc?.alive && proc.port ? proc.port : null,
      starts: this.starts,
      restarts: Math.max(0, this.starts - 1),
      inflight: proc?.inflight ?? 0,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => undefined);
    await this.current?.stop(2_000);
  }
}

// ---------------------------------------------------------------------------------------------
// Proxy

export class Gateway {
  readonly slots = new Map<string, FunctionSlot>();
  readonly jwt: JwtGate;
  #client = Deno.createHttpClient({ allowHost: true, http2: false });
  #lastScan = 0;
  #scanning: Promise<void> | null = null;

  constructor(readonly options: GatewayOptions) {
    this.jwt = JwtGate.fromEnv();
  }

  /** Loads config.toml and the functions folder; adds new functions, updates verify_jwt. */
  rescan(): Promise<void> {
    if (!this.#scanning) {
      this.#scanning = (async () => {
        const config = await readFunctionsConfig(
          this.options.configPath,
          this.options.configExplicit,
        );
        const specs = await discoverFunctions(
          this.options.functionsDir,
          config,
          this.options.configPath,
        );
        for (const [name, spec] of specs) {
          const slot = this.slots.get(name);
          if (slot) slot.spec = spec;
          else this.slots.set(name, new FunctionSlot(spec, this.options));
        }
        this.#lastScan = Date.now();
      })().finally(() => (this.#scanning = null));
    }
    return this.#scanning;
  }

  async #findSlot(name: string): Promise<FunctionSlot | undefined> {
    const slot = this.slots.get(name);
    if (slot || !FUNCTION_NAME.test(name)) return slot;
    // A function added while the gateway runs is picked up (at most one rescan per second).
    if (Date.now() - this.#lastScan > 1_000) {
      try {
        await this.rescan();
      } catch (error) {
        console.error("[gateway] rescan failed:", error);
      }
    }
    return this.slots.get(name);
  }

  /** Starts every function process (the default, warm start). */
  async warmAll(): Promise<void> {
    await Promise.all(
      [...this.slots.values()].map((slot) =>
        slot.acquire().catch((error) => console.error(`[gateway] ${error.message}`))
      ),
    );
  }

  handle = async (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/health") return json({ status: "ok" }, 200);
    if (path === "/_gateway/functions") {
      return json({ functions: [...this.slots.values()].map((slot) => slot.describe()) }, 200);
    }
    if (!path.startsWith("/functions/v1/")) {
      return json({ code: "NOT_FOUND", message: "Route not found" }, 404);
    }
    const rest = path.slice("/functions/v1/".length);
    const slash = rest.indexOf("/");
    const name = slash === -1 ? rest : rest.slice(0, slash);
    const slot = this.slots.get(name) ?? await this.#findSlot(name);
    if (!slot) return json({ code: "NOT_FOUND", message: "Requested function was not found" }, 404);
    if (slot.spec.verifyJwt && req.method !== "OPTIONS") {
      const denied = await this.jwt.check(req);
      if (denied) return denied;
    }
    return await this.#proxy(req, slot, `/${rest}${url.search}`, info.remoteAddr.hostname);
  };

  async #proxy(
    req: Request,
    slot: FunctionSlot,
    target: string,
    remote: string,
  ): Promise<Response> {
    let proc: FunctionProcess;
    try {
      proc = await slot.acquire();
    } catch (error) {
      console.error(`[gateway] ${(error as Error).message}`);
      return json({
        code: "BOOT_ERROR",
        error: "function failed to start",
        message: "Function failed to start (please check logs)",
      }, 503);
    }
    const headers = new Headers(req.headers);
    for (const name of HOP_BY_HOP) headers.delete(name);
    const forwardedFor = req.headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", forwardedFor ? `${forwardedFor}, ${remote}` : remote);
    if (!headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", "http");
    const host = req.headers.get("host");
    if (host && !headers.has("x-forwarded-host")) headers.set("x-forwarded-host", host);

    const controller = new AbortController();
    const onExit = () => controller.abort(new Error("function process exited"));
    proc.exitController.signal.addEventListener("abort", onExit);
    // req.signal is not watched: Deno 2.9 warns that it aborts after every response, and a
    // client that leaves mid-body breaks the streamed request body anyway.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error("request idle timeout"));
    }, this.options.requestTimeoutMs);
    proc.inflight++;
    const cleanup = () => {
      clearTimeout(timer);
      proc.exitController.signal.removeEventListener("abort", onExit);
      proc.inflight--;
    };
    let upstream: Response;
    try {
      upstream = await fetch(`http://127.0.0.1:${proc.port}${target}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
        signal: controller.signal,
        client: this.#client,
      });
    } catch (error) {
      cleanup();
      if (timedOut) {
        return json({
          code: "IDLE_TIMEOUT",
          error: "function timed out",
          message: "Function did not respond within the request idle timeout",
        }, 504);
      }
      // A kill -9 can break the connection a moment before the exit is observed.
      await Promise.race([proc.exited, delay(250)]);
      if (!proc.alive) {
        return json({
          code: "WORKER_ERROR",
          error: "function crashed",
          message: "Function exited due to an error (please check logs)",
        }, 502);
      }
      console.error(`[gateway] ${slot.spec.name}: proxy error:`, error);
      return json({
        code: "WORKER_ERROR",
        error: "function unreachable",
        message: "Function did not answer (please check logs)",
      }, 502);
    }
    cleanup();
    const out = new Headers(upstream.headers);
    for (const name of HOP_BY_HOP) out.delete(name);
    // fetch decodes gzip and br bodies unless the request asked for identity, but keeps the
    // header: drop it, and the now wrong length, so the client gets a consistent response.
    const encoding = out.get("content-encoding")?.toLowerCase();
    if (
      (encoding === "gzip" || encoding === "br") &&
      headers.get("accept-encoding")?.trim().toLowerCase() !== "identity"
    ) {
      out.delete("content-encoding");
      out.delete("content-length");
    }
    const body = NULL_BODY_STATUS.has(upstream.status) ? null : upstream.body;
    return new Response(body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: out,
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.slots.values()].map((slot) => slot.close()));
    this.#client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const options = parseArgs(Deno.args);
  // Like edge-runtime: nothing a request does may take the gateway down.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error("[gateway] unhandled promise rejection:", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    console.error("[gateway] uncaught exception:", event.error ?? event.message);
  });

  const gateway = new Gateway(options);
  try {
    await gateway.rescan();
  } catch (error) {
    console.error(`[gateway] ${(error as Error).message}`, (error as Error).cause ?? "");
    Deno.exit(1);
  }

  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen({ hostname, port }) {
      const names = [...gateway.slots.keys()];
      console.log(
        `[gateway] serving ${names.length} function(s) on http://${hostname}:${port}/functions/v1/` +
          `<name> (${names.join(", ") || "none"}); ${options.lazy ? "lazy" : "warm"} start`,
      );
    },
    onError(error) {
      console.error("[gateway] request failed:", error);
      return json({ code: "INTERNAL_ERROR", message: "Gateway error (please check logs)" }, 500);
    },
  }, gateway.handle);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[gateway] ${signal}: stopping function processes`);
    await Promise.race([server.shutdown(), delay(1_000)]);
    await gateway.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => shutdown("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => shutdown("SIGINT"));

  if (!options.lazy) await gateway.warmAll();
}

if (import.meta.main) {
  await main();
}
