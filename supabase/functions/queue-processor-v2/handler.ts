// queue-processor-v2: called by pg_cron through pg_net (processor secret), by track-subscription-v2
// to wake it, or by an operator (service role) for a manual sync. Answers 202 at once and works in
// EdgeRuntime.waitUntil within its time budget.
import { isProcessorCaller } from "../_shared/auth.ts";
import { preflight } from "../_shared/cors.ts";
import { db, type Sql } from "../_shared/db.ts";
import { describeFailure } from "../_shared/errors.ts";
import { json, jsonError, methodNotAllowed } from "../_shared/http.ts";
import { readJsonBody } from "../_shared/request.ts";
import { processorRequestSchema } from "../_shared/processor_rules.ts";
import { startProcessorRun } from "../_shared/processor_entry.ts";
import { waitUntil } from "../_shared/runtime.ts";

type Deps = { sql: () => Sql; background: (work: Promise<unknown>) => void };

/** Builds the handler around its database client and the background-task hook. */
export function createHandler(deps: Deps) {
  return async function handler(req: Request): Promise<Response> {
    const early = preflight(req);
    if (early) return early;
    if (req.method !== "POST") return methodNotAllowed(["POST", "OPTIONS"]);
    if (!(await isProcessorCaller(req))) return jsonError(401, "unauthorized");

    const body = await readJsonBody(req, { allowEmpty: true, maxBytes: 16 * 1024 });
    if (!body.ok) return body.response;
    // No body at all is a plain tick; a JSON null or any other non-object is a bad request.
    const parsed = processorRequestSchema.safeParse(body.value === undefined ? {} : body.value);
    if (!parsed.success) {
      return jsonError(400, "invalid request body", { issues: parsed.error.issues });
    }

    try {
      const started = await startProcessorRun(deps.sql(), parsed.data);
      if (started.work) deps.background(started.work);
      return json(started.response, 202);
    } catch (thrown) {
      const failure = describeFailure(thrown, "queue-processor-v2");
      return jsonError(failure.status, failure.message);
    }
  };
}

export const handler = createHandler({
  sql: () => db("keepfresh-queue-processor"),
  background: waitUntil,
});
