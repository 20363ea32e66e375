// Response helpers: JSON with CORS headers, and the stable error shape every function uses.
import { corsHeaders } from "./cors.ts";

/** A JSON response with CORS headers. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...corsHeaders, "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** A JSON error response `{error}` (plus optional details such as validation issues). */
export function jsonError(
  status: number,
  message: string,
  extra: Record<string, unknown> = {},
  headers: HeadersInit = {},
): Response {
  return json({ error: message, ...extra }, status, headers);
}

/** 405 with the Allow header. */
export function methodNotAllowed(allowed: string[]): Response {
  return jsonError(405, "method not allowed", {}, { allow: allowed.join(", ") });
}
