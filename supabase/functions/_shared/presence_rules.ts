// Pure rules of track-subscription-v2 (no I/O): what a request may say, and how the answer of
// public.track_subscription_v2 becomes the HTTP response.
import { z } from "zod";
import { dataTypePattern, symbolPattern } from "./identifiers.ts";

export { dataTypePattern, symbolPattern };
/** A tab or device id: a uuid or a readable name, nothing that needs escaping anywhere. */
export const clientIdPattern = /^[A-Za-z0-9._:@-]{1,64}$/;

/** SPEC 3.5: at most 50 symbols per request (one screen's worth). */
export const MAX_SYMBOLS = 50;
/** The limit of active_subscriptions_v2.data_types. */
export const MAX_DATA_TYPES = 32;
/** Largest accepted body: 50 symbols of 20 characters and 32 types fit in well under 8 KiB. */
export const MAX_BODY_BYTES = 16 * 1024;

/** The body of a track-subscription-v2 request. */
export const trackRequestSchema = z.strictObject({
  symbols: z.array(
    z.string().max(64, "invalid symbol").trim().toUpperCase().regex(
      symbolPattern,
      "invalid symbol",
    ),
  ).min(1, "at least one symbol is required").max(MAX_SYMBOLS, `at most ${MAX_SYMBOLS} symbols`),
  dataTypes: z.array(z.string().regex(dataTypePattern, "invalid data type")).max(
    MAX_DATA_TYPES,
    `at most ${MAX_DATA_TYPES} data types`,
  ).optional(),
  action: z.enum(["track", "untrack", "heartbeat"]),
  clientId: z.string().regex(clientIdPattern, "clientId must be 1 to 64 of A-Z a-z 0-9 . _ : @ -")
    .optional(),
});

export type TrackRequest = z.infer<typeof trackRequestSchema>;

/** Symbols once each, in first-seen order (after upper-casing). */
export function uniqueSymbols(symbols: readonly string[]): string[] {
  return [...new Set(symbols)];
}

type SqlItem = { data_type: string; key: string | null };
type SqlQueued = SqlItem & { job_id: number | string; created: boolean };
type SqlFresh = SqlItem & { fresh_at: string | null };

/** What public.track_subscription_v2 returns (jsonb), in its three shapes. */
export type TrackResult =
  | { rate_limited: true; retry_after_seconds: number; limit_per_minute: number }
  | {
    action: "untrack";
    client_id: string;
    symbols: string[];
    untracked: number;
  }
  | {
    action: "track" | "heartbeat";
    client_id: string;
    symbols: string[];
    data_types: string[];
    expires_at: string;
    heartbeat_seconds: number;
    presence_tracking: boolean;
    queued: SqlQueued[];
    fresh: SqlFresh[];
    skipped: { cooldown: SqlItem[]; quota_exceeded: SqlItem[] };
    errors?: unknown[];
  };

type Item = { dataType: string; key: string | null };

/** The JSON body a client gets for a successful (not rate-limited) call. */
export type TrackResponse =
  | { action: "untrack"; clientId: string; symbols: string[]; untracked: number }
  | {
    action: "track" | "heartbeat";
    clientId: string;
    symbols: string[];
    dataTypes: string[];
    expiresAt: string;
    heartbeatSeconds: number;
    presenceTracking: boolean;
    queued: Array<Item & { jobId: number; created: boolean }>;
    fresh: Array<Item & { freshAt: string | null }>;
    skipped: { cooldown: Item[]; quotaExceeded: Item[] };
  };

const item = (row: SqlItem): Item => ({ dataType: row.data_type, key: row.key });

/** Maps the database answer to the client's camelCase body (internal errors are not exposed). */
export function toTrackResponse(
  result: Exclude<TrackResult, { rate_limited: true }>,
): TrackResponse {
  if (result.action === "untrack") {
    return {
      action: "untrack",
      clientId: result.client_id,
      symbols: result.symbols,
      untracked: result.untracked,
    };
  }
  return {
    action: result.action,
    clientId: result.client_id,
    symbols: result.symbols,
    dataTypes: result.data_types,
    expiresAt: result.expires_at,
    heartbeatSeconds: result.heartbeat_seconds,
    presenceTracking: result.presence_tracking,
    queued: result.queued.map((row) => ({
      ...item(row),
      jobId: Number(row.job_id),
      created: row.created,
    })),
    fresh: result.fresh.map((row) => ({ ...item(row), freshAt: row.fresh_at })),
    skipped: {
      cooldown: result.skipped.cooldown.map(item),
      quotaExceeded: result.skipped.quota_exceeded.map(item),
    },
  };
}

/** Whether the database refused the call for the user's rate limit. */
export function isRateLimited(
  result: TrackResult,
): result is Extract<TrackResult, { rate_limited: true }> {
  return "rate_limited" in result && result.rate_limited === true;
}

/** Whether the call created a job, so the processor should be woken now. */
export function shouldWakeProcessor(result: TrackResult): boolean {
  if (isRateLimited(result) || result.action === "untrack") return false;
  return result.queued.some((row) => row.created);
}

/** Retry-After in whole seconds, 1..60 (the rate limit's window is a minute). */
export function retryAfterSeconds(value: unknown): number {
  const n = Math.ceil(Number(value));
  return Number.isFinite(n) ? Math.min(60, Math.max(1, n)) : 60;
}
