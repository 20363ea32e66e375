// health-check: anonymous GET answers only {status}; the service role or the monitoring token
// gets the full report. 200 while the database answers, 503 when it does not.
import { isPrivilegedMonitor } from "../_shared/auth.ts";
import { preflight } from "../_shared/cors.ts";
import { db, type Sql } from "../_shared/db.ts";
import { healthStatus, httpStatusForHealth, readHealthReport } from "../_shared/health.ts";
import { json, methodNotAllowed } from "../_shared/http.ts";

/** Builds the handler around a database client (tests pass one for an unreachable database). */
export function createHandler(deps: { sql: () => Sql }) {
  return async function handler(req: Request): Promise<Response> {
    const early = preflight(req);
    if (early) return early;
    if (req.method !== "GET") return methodNotAllowed(["GET", "OPTIONS"]);

    const report = await readHealthReport(deps.sql());
    const status = healthStatus(report);
    const body = (await isPrivilegedMonitor(req)) ? { status, ...report } : { status };
    return json(body, httpStatusForHealth(status), { "cache-control": "no-store" });
  };
}

export const handler = createHandler({ sql: () => db("keepfresh-health-check") });
