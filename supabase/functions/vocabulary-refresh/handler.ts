// vocabulary-refresh (verify_jwt on; SPEC 3.5, docs/vocabulary.md).
//   GET   a signed-in user or the service role: the vocabulary {version, source, projects, ...}
//         with its version as ETag; 304 when If-None-Match names the current version.
//   POST  the service role only: forces a full rebuild (logged in private.vocabulary_rebuilds)
//         and answers 200 {success, message, vocabulary_counts, version}, or 500
//         {success: false, error} with the cause logged.
// The gateway lets any valid JWT through, the anon key included, so the function checks the
// caller itself: 401 without a user or service-role credential, 403 for a user on POST.
import { isServiceRole, type UserClaims, verifyUserJwt } from "../_shared/auth.ts";
import { corsHeaders, preflight } from "../_shared/cors.ts";
import { db, type Sql } from "../_shared/db.ts";
import { describeFailure } from "../_shared/errors.ts";
import { json, jsonError, methodNotAllowed } from "../_shared/http.ts";
import {
  etagFor,
  ifNoneMatchHits,
  readVocabulary,
  rebuildMessage,
  rebuildVocabulary,
} from "../_shared/vocabulary.ts";

type Deps = {
  sql: () => Sql;
  verifyUser?: (req: Request) => Promise<UserClaims | null>;
  isService?: (req: Request) => Promise<boolean>;
};

// Private: the vocabulary is for signed-in users; no-cache: revalidate (cheaply, with the ETag).
const cacheHeaders = { "cache-control": "private, no-cache", vary: "authorization, apikey" };

/** Builds the handler around its database client (tests pass one for an unreachable database). */
export function createHandler(deps: Deps) {
  const verifyUser = deps.verifyUser ?? verifyUserJwt;
  const isService = deps.isService ?? isServiceRole;

  async function read(req: Request): Promise<Response> {
    if (!(await isService(req)) && (await verifyUser(req)) === null) {
      return jsonError(401, "a signed-in user's access token or the service role is required");
    }
    try {
      const vocabulary = await readVocabulary(deps.sql());
      const etag = etagFor(vocabulary.version);
      if (ifNoneMatchHits(req.headers.get("if-none-match"), etag)) {
        return new Response(null, {
          status: 304,
          headers: { ...corsHeaders, ...cacheHeaders, etag },
        });
      }
      return json(vocabulary, 200, { ...cacheHeaders, etag });
    } catch (thrown) {
      const { status, message } = describeFailure(thrown, "vocabulary-refresh GET");
      return jsonError(status, message, {}, { "cache-control": "no-store" });
    }
  }

  async function rebuild(req: Request): Promise<Response> {
    await req.body?.cancel();
    if (!(await isService(req))) {
      const user = await verifyUser(req);
      return user === null
        ? json({ success: false, error: "the service role is required" }, 401)
        : json({ success: false, error: "only the service role may rebuild the vocabulary" }, 403);
    }
    try {
      const result = await rebuildVocabulary(deps.sql());
      if (!result.success) {
        console.error(JSON.stringify({
          level: "error",
          context: "vocabulary-refresh POST",
          message: "rebuild failed; the last good snapshot is kept",
          cause: result.error,
          version: result.version,
        }));
        return json({ success: false, error: "vocabulary rebuild failed" }, 500);
      }
      console.log(JSON.stringify({
        level: "info",
        context: "vocabulary-refresh POST",
        message: "manual rebuild",
        version: result.version,
        changed: result.changed,
        duration_ms: result.duration_ms,
      }));
      return json({
        success: true,
        message: rebuildMessage(result.changed),
        vocabulary_counts: result.vocabulary_counts,
        version: result.version,
      });
    } catch (thrown) {
      // The contract answers every failed rebuild with 500; the message still says why.
      const { message } = describeFailure(thrown, "vocabulary-refresh POST");
      return json({ success: false, error: message }, 500);
    }
  }

  return async function handler(req: Request): Promise<Response> {
    const early = preflight(req);
    if (early) return early;
    if (req.method === "GET") return await read(req);
    if (req.method === "POST") return await rebuild(req);
    return methodNotAllowed(["GET", "POST", "OPTIONS"]);
  };
}

export const handler = createHandler({ sql: () => db("keepfresh-vocabulary-refresh") });
