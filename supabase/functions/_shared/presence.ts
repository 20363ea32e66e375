// Presence for track-subscription-v2: the one database round trip that records what a user looks
// at and queues what is stale (public.track_subscription_v2), and the wake-up call that starts the
// processor at once instead of on the next cron tick.
import type { Sql } from "./db.ts";
import { type TrackRequest, type TrackResult, uniqueSymbols } from "./presence_rules.ts";

/** Records presence for the user and queues stale data: ONE statement, one transaction. */
export async function trackSubscription(
  sql: Sql,
  userId: string,
  request: TrackRequest,
): Promise<TrackResult> {
  const [row] = await sql<{ result: TrackResult }[]>`
    select public.track_subscription_v2(
      ${userId}::uuid,
      ${request.clientId ?? null}::text,
      ${uniqueSymbols(request.symbols)}::text[],
      ${request.dataTypes ?? null}::text[],
      ${request.action}::text
    ) as result`;
  return row.result;
}

export type WakeOptions = {
  /** The project URL (SUPABASE_URL); the processor is at /functions/v1/queue-processor-v2. */
  supabaseUrl: string;
  /** The processor secret (never the service-role key). */
  processorSecret: string;
  /** Gives up after this long: the processor answers 202 at once, so a slow answer is a fault. */
  timeoutMs?: number;
  fetch?: typeof fetch;
};

/** Asks queue-processor-v2 to run now ({"trigger":"wake"}); logs and swallows failures. */
export async function wakeProcessor(options: WakeOptions): Promise<void> {
  const doFetch = options.fetch ?? fetch;
  try {
    const res = await doFetch(`${options.supabaseUrl}/functions/v1/queue-processor-v2`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${options.processorSecret}`,
        "content-type": "application/json",
      },
      body: '{"trigger":"wake"}',
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
    });
    await res.body?.cancel();
    if (!res.ok) {
      console.error(JSON.stringify({
        level: "warn",
        context: "track-subscription-v2 wake",
        status: res.status,
      }));
    }
  } catch (thrown) {
    console.error(JSON.stringify({
      level: "warn",
      context: "track-subscription-v2 wake",
      error: String(thrown),
    }));
  }
}
