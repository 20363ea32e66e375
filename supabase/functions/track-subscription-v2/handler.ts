// track-subscription-v2: a signed-in user says which symbols (and data types) a view shows.
// POST {symbols[], dataTypes?, action: "track" | "heartbeat" | "untrack", clientId?} with the
// user's JWT. One database round trip records presence and queues what is stale, then the
// processor is woken without holding the response. Database trouble answers 200
// {degraded: true} (logged) so that clients back off quietly instead of seeing a 5xx storm.
import { type UserClaims, verifyUserJwt } from "../_shared/auth.ts";
import { preflight } from "../_shared/cors.ts";
import { db, type Sql } from "../_shared/db.ts";
import { env } from "../_shared/env.ts";
import { coerceError, describeFailure, errorCode } from "../_shared/errors.ts";
import { json, jsonError, methodNotAllowed } from "../_shared/http.ts";
import { trackSubscription, wakeProcessor } from "../_shared/presence.ts";
import {
  isRateLimited,
  MAX_BODY_BYTES,
  retryAfterSeconds,
  shouldWakeProcessor,
  toTrackResponse,
  trackRequestSchema,
} from "../_shared/presence_rules.ts";
import { readJsonBody } from "../_shared/request.ts";
import { waitUntil } from "../_shared/runtime.ts";

type Deps = {
  sql: () => Sql;
  verifyUser?: (req: Request) => Promise<UserClaims | null>;
  wake?: () => Promise<void>;
  background?: (work: Promise<unknown>) => void;
};

/** SQLSTATEs of bad input raised by the database: the client must change the request. */
function isInvalidInput(thrown: unknown): boolean {
  const code = errorCode(thrown);
  return code !== undefined && (code.startsWith("22") || code.startsWith("23"));
}

/** Builds the handler around its database client (and, for tests, auth and the wake-up). */
export function createHandler(deps: Deps) {
  const verifyUser = deps.verifyUser ?? verifyUserJwt;
  const wake = deps.wake ?? (() =>
    wakeProcessor({
      supabaseUrl: env.SUPABASE_URL,
      processorSecret: env.KEEPFRESH_PROCESSOR_SECRET,
    }));
  const background = deps.background ?? waitUntil;

  return async function handler(req: Request): Promise<Response> {
    const early = preflight(req);
    if (early) return early;
    if (req.method !== "POST") return methodNotAllowed(["POST", "OPTIONS"]);
    const user = await verifyUser(req);
    if (!user) return jsonError(401, "a signed-in user's access token is required");

    const body = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES });
    if (!body.ok) return body.response;
    const parsed = trackRequestSchema.safeParse(body.value);
    if (!parsed.success) {
      return jsonError(400, "invalid request body", { issues: parsed.error.issues });
    }

    let result;
    try {
      result = await trackSubscription(deps.sql(), user.sub, parsed.data);
    } catch (thrown) {
      if (errorCode(thrown) === "22023") {
        // Raised by keepfresh's own validation (unknown or disabled data type...): actionable.
        const error = coerceError(thrown) as Error & { hint?: string };
        return jsonError(400, "invalid request body", {
          issues: [{ message: error.message, hint: error.hint }],
        });
      }
      if (isInvalidInput(thrown)) {
        const failure = describeFailure(thrown, "track-subscription-v2");
        return jsonError(400, failure.message);
      }
      describeFailure(thrown, "track-subscription-v2 degraded");
      return json({ degraded: true });
    }

    if (isRateLimited(result)) {
      const seconds = retryAfterSeconds(result.retry_after_seconds);
      return jsonError(429, "rate limit exceeded", { retryAfterSeconds: seconds }, {
        "retry-after": String(seconds),
        "access-control-expose-headers": "retry-after",
      });
    }
    if (shouldWakeProcessor(result)) background(wake());
    return json(toTrackResponse(result));
  };
}

export const handler = createHandler({ sql: () => db("keepfresh-track-subscription") });
