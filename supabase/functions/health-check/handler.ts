// health-check (verify_jwt off; SPEC 3.5, docs/operations.md). Routes by request; rendering lives in
// _shared/health_prometheus.ts and _shared/health_html.ts, the report in private.health_report().
//   GET                     anonymous: {status}; service role or monitoring token: full report
//   GET ?format=prometheus  metrics (service role or monitoring token)
//   GET ?format=html        operator page (service role, monitoring token, or ?token=<monitoring
//                           token>: a browser cannot set headers on a page load)
//   GET ?run=<id>           one sync run as JSON (service role or monitoring token), 404 unknown
//   POST ?action=sync       manual sync (service role or monitoring token): calls
//                           queue-processor-v2 with the processor secret, answers {run_id, ...}
// 200 while the database answers (degraded included), 503 when it does not.
import { isPrivilegedMonitor, secretMatches } from "../_shared/auth.ts";
import { preflight } from "../_shared/cors.ts";
import { db, type Sql } from "../_shared/db.ts";
import { env } from "../_shared/env.ts";
import { describeFailure } from "../_shared/errors.ts";
import {
  healthStatus,
  httpStatusForHealth,
  type ManualSyncResult,
  parseHealthFormat,
  parseRunId,
  readHealthReport,
  readSyncRun,
  requestManualSync,
} from "../_shared/health.ts";
import {
  healthPageHeaders,
  renderHealthPage,
  renderUnauthorizedPage,
} from "../_shared/health_html.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../_shared/health_prometheus.ts";
import { json, jsonError, methodNotAllowed } from "../_shared/http.ts";

type Deps = {
  sql: () => Sql;
  /** Starts a manual sync through queue-processor-v2. */
  startSync: () => Promise<ManualSyncResult>;
  /** Absolute URL of this function (for a saved copy of the page). */
  endpoint: string;
  /** The monitoring token accepted as ?token= on the HTML page. */
  monitoringToken?: string;
};

const noStore = { "cache-control": "no-store" };
const unauthorizedHeaders = { ...noStore, "www-authenticate": 'Bearer realm="health-check"' };

function nonce(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/** Builds the handler around its dependencies (tests pass their own). */
export function createHandler(deps: Deps) {
  async function htmlPage(req: Request, url: URL): Promise<Response> {
    const n = nonce();
    const allowed = (await isPrivilegedMonitor(req)) ||
      (await secretMatches(url.searchParams.get("token"), [deps.monitoringToken]));
    if (!allowed) {
      return new Response(renderUnauthorizedPage({ endpoint: deps.endpoint, nonce: n }), {
        status: 401,
        headers: { ...healthPageHeaders(n), ...unauthorizedHeaders },
      });
    }
    const report = await readHealthReport(deps.sql());
    const status = healthStatus(report);
    return new Response(renderHealthPage(report, status, { endpoint: deps.endpoint, nonce: n }), {
      status: httpStatusForHealth(status),
      headers: healthPageHeaders(n),
    });
  }

  async function syncRun(req: Request, url: URL): Promise<Response> {
    if (!(await isPrivilegedMonitor(req))) {
      return jsonError(401, "unauthorized", {}, unauthorizedHeaders);
    }
    const id = parseRunId(url.searchParams.get("run"));
    if (id === null) return jsonError(400, "run must be a positive integer id");
    try {
      const run = await readSyncRun(deps.sql(), id);
      if (run === null) return jsonError(404, "unknown sync run", {}, noStore);
      return json(run, 200, noStore);
    } catch (thrown) {
      const failure = describeFailure(thrown, "health-check run");
      return jsonError(failure.status, failure.message);
    }
  }

  async function manualSync(req: Request, url: URL): Promise<Response> {
    await req.body?.cancel();
    if (url.searchParams.get("action") !== "sync") {
      return jsonError(400, "unknown action", { hint: "POST ?action=sync starts a manual sync" });
    }
    if (!(await isPrivilegedMonitor(req))) {
      return jsonError(401, "unauthorized", {}, unauthorizedHeaders);
    }
    const result = await deps.startSync();
    if (!result.ok) return jsonError(result.status, result.error);
    const { accepted, run_id, reason } = result;
    return json({ accepted, run_id, reason }, accepted ? 202 : 200, noStore);
  }

  return async function handler(req: Request): Promise<Response> {
    const early = preflight(req);
    if (early) return early;
    const url = new URL(req.url);
    if (req.method === "POST") return await manualSync(req, url);
    if (req.method !== "GET") return methodNotAllowed(["GET", "POST", "OPTIONS"]);

    const format = parseHealthFormat(url.searchParams.get("format"));
    if (format === null) {
      return jsonError(400, "unknown format", { hint: "use format=json, prometheus or html" });
    }
    if (url.searchParams.has("run")) return await syncRun(req, url);
    if (format === "html") return await htmlPage(req, url);

    const privileged = await isPrivilegedMonitor(req);
    if (format === "prometheus" && !privileged) {
      return new Response("unauthorized: send the monitoring token as a bearer token\n", {
        status: 401,
        headers: { "content-type": "text/plain; charset=utf-8", ...unauthorizedHeaders },
      });
    }
    const report = await readHealthReport(deps.sql());
    const status = healthStatus(report);
    if (format === "prometheus") {
      return new Response(renderPrometheus(report, status), {
        status: httpStatusForHealth(status),
        headers: { "content-type": PROMETHEUS_CONTENT_TYPE, ...noStore },
      });
    }
    const body = privileged ? { status, ...report } : { status };
    return json(body, httpStatusForHealth(status), noStore);
  };
}

const functionsUrl = `${env.SUPABASE_URL}/functions/v1`;

export const handler = createHandler({
  sql: () => db("keepfresh-health-check"),
  startSync: () =>
    requestManualSync({ functionsUrl, processorSecret: env.KEEPFRESH_PROCESSOR_SECRET }),
  endpoint: `${functionsUrl}/health-check`,
  monitoringToken: env.KEEPFRESH_MONITORING_TOKEN,
});
