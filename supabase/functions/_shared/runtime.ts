// Background work after the response: EdgeRuntime.waitUntil on hosted Supabase and in the local
// gateway; outside either (unit tests) the promise simply runs on, with rejections logged.

type EdgeRuntimeLike = { waitUntil(promise: Promise<unknown>): void };

/** Keeps the worker alive until `work` settles, without holding the response. */
export function waitUntil(work: Promise<unknown>): void {
  const logged = work.catch((thrown) =>
    console.error(JSON.stringify({ level: "error", context: "background", error: String(thrown) }))
  );
  const runtime = (globalThis as { EdgeRuntime?: EdgeRuntimeLike }).EdgeRuntime;
  runtime?.waitUntil(logged);
}
