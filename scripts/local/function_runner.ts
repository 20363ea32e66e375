// keepfresh local edge runtime: runs ONE Edge Function in its own OS process, the way Supabase's
// edge-runtime runs one function per worker. Started by scripts/local/gateway.ts as
//
//   deno run <permissions> scripts/local/function_runner.ts <name> <entry> <port>
//
// It provides what the hosted runtime provides and plain Deno lacks:
// - `globalThis.EdgeRuntime.waitUntil(promise)`: background work after the response; the
//   process keeps running it, rejections are logged.
// - unhandled rejections and uncaught errors are logged and never end the process (hosted
//   edge-runtime keeps the worker alive too).
// - `Deno.serve(handler)`, called by the function's index.ts without options, listens on
//   127.0.0.1:<port> (0 = any free port). When it listens, the runner prints one line
//   `KF_RUNNER_READY {"port":N}` on stdout, which the gateway waits for.
// - the process exits when its stdin closes (when KF_RUNNER_PARENT_PIPE=1, set by the gateway),
//   so a gateway killed with SIGKILL leaves no orphans.
// Log lines carry no function name: the gateway prefixes every line with `[<name>]`.
//
// Exit codes: 0 after stdin closed, 1 when the entry could not be loaded or never served.

export const READY_MARKER = "KF_RUNNER_READY ";

type ServeArgs = Parameters<typeof Deno.serve>;
type ServeHandler = Deno.ServeHandler<Deno.NetAddr>;

/** Parses `<name> <entry> <port>`, exiting with a usage message when they are wrong. */
function parseArgs(args: string[]): { name: string; entry: string; port: number } {
  const [name, entry, portText] = args;
  const port = Number(portText);
  if (!name || !entry || portText === undefined || !Number.isInteger(port) || port < 0) {
    console.error("usage: function_runner.ts <name> <entry> <port>");
    Deno.exit(2);
  }
  return { name, entry, port };
}

/**
 * Installs `globalThis.EdgeRuntime` with the part of the hosted API functions use; returns a
 * function that waits (at most `ms`) for the background tasks still running.
 */
function installEdgeRuntime(): (ms: number) => Promise<void> {
  const pending = new Set<Promise<unknown>>();
  const edgeRuntime = {
    waitUntil(work: Promise<unknown>): Promise<unknown> {
      const tracked: Promise<unknown> = Promise.resolve(work)
        .catch((error: unknown) => {
          console.error("EdgeRuntime.waitUntil task rejected:", error);
        })
        .finally(() => pending.delete(tracked));
      pending.add(tracked);
      return tracked;
    },
    /** Number of background tasks still running (local extra, for diagnostics). */
    get pendingTasks(): number {
      return pending.size;
    },
  };
  Object.defineProperty(globalThis, "EdgeRuntime", {
    value: edgeRuntime,
    writable: false,
    configurable: false,
  });
  return async (ms: number) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...pending]),
      new Promise((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  };
}

/** Logs unhandled rejections and uncaught errors instead of letting them end the process. */
function installCrashGuards(): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error("unhandled promise rejection:", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    console.error("uncaught exception:", event.error ?? event.message);
  });
}

/**
 * Replaces Deno.serve so the function's server listens on the runner's loopback port and the
 * gateway learns when it is ready. Accepts every Deno.serve overload; only the address and
 * onListen are overridden (hosted ignores a function's own port too).
 */
function installServe(name: string, port: number): { served: () => boolean } {
  const originalServe = Deno.serve.bind(Deno);
  let served = false;
  const serve = (...args: unknown[]): Deno.HttpServer<Deno.NetAddr> => {
    let options: Record<string, unknown> = {};
    let handler: ServeHandler | undefined;
    if (typeof args[0] === "function") {
      handler = args[0] as ServeHandler;
    } else if (args[0] && typeof args[0] === "object") {
      options = { ...(args[0] as Record<string, unknown>) };
      handler = typeof args[1] === "function"
        ? args[1] as ServeHandler
        : options.handler as ServeHandler | undefined;
    }
    if (!handler) throw new TypeError(`[${name}] Deno.serve needs a handler`);
    if (served) throw new Error(`[${name}] Deno.serve was called twice: a function serves once`);
    served = true;
    const userOnListen = options.onListen as ((addr: Deno.NetAddr) => void) | undefined;
    delete options.handler;
    delete options.path;
    delete options.cert;
    delete options.key;
    const serveOptions = {
      ...options,
      hostname: "127.0.0.1",
      port,
      onListen(addr: Deno.NetAddr) {
        console.log(`${READY_MARKER}${JSON.stringify({ port: addr.port })}`);
        userOnListen?.(addr);
      },
    };
    return originalServe(serveOptions as Deno.ServeTcpOptions, handler) as Deno.HttpServer<
      Deno.NetAddr
    >;
  };
  (Deno as unknown as { serve: (...args: ServeArgs) => unknown }).serve = serve as (
    ...args: ServeArgs
  ) => unknown;
  return { served: () => served };
}

/** Exits once stdin reaches EOF: the gateway holds the other end open for our whole life. */
async function exitWhenParentGoes(): Promise<void> {
  try {
    for await (const _chunk of Deno.stdin.readable) {
      // The gateway never writes; anything read is ignored.
    }
  } catch {
    // A broken pipe means the same as EOF.
  }
  Deno.exit(0);
}

async function main(): Promise<void> {
  const { name, entry, port } = parseArgs(Deno.args);
  const drain = installEdgeRuntime();
  installCrashGuards();
  const serve = installServe(name, port);
  // Like hosted shutdown: announce it (`beforeunload`, detail.reason), give background tasks a
  // moment (the gateway allows 2 s before SIGKILL), then exit.
  Deno.addSignalListener("SIGTERM", async () => {
    try {
      globalThis.dispatchEvent(
        new CustomEvent("beforeunload", { detail: { reason: "termination" } }),
      );
    } catch (error) {
      console.error("beforeunload listener failed:", error);
    }
    await drain(1_500);
    Deno.exit(0);
  });
  // Only under the gateway (which sets this): a manual run with stdin at /dev/null would
  // otherwise exit at once.
  if (Deno.env.get("KF_RUNNER_PARENT_PIPE") === "1") exitWhenParentGoes();

  const entryUrl = entry.startsWith("file:") ? entry : new URL(entry, `file://${Deno.cwd()}/`).href;
  try {
    await import(entryUrl);
  } catch (error) {
    console.error(`failed to load ${entry}:`, error);
    Deno.exit(1);
  }
  // Give a function that starts serving asynchronously a moment, then give up: a module that
  // never calls Deno.serve is a boot error on hosted as well.
  const deadline = Date.now() + 10_000;
  while (!serve.served() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!serve.served()) {
    console.error(`${entry} never called Deno.serve(handler)`);
    Deno.exit(1);
  }
}

if (import.meta.main) {
  await main();
}
