// CORS for Edge Functions called from browsers, following Supabase's documented pattern: the
// gateway forwards OPTIONS preflights without checking JWTs, and each function answers them
// itself and adds these headers to every response.
//
// The header values come from supabase-js (`@supabase/supabase-js/cors`, v2.95+), which lists
// every header its clients send, so a new client header never breaks preflights.

import { corsHeaders as supabaseCorsHeaders } from "@supabase/supabase-js/cors";

/** Headers to add to every response of a browser-callable function. */
export const corsHeaders: Readonly<Record<string, string>> = Object.freeze({
  ...supabaseCorsHeaders,
});

/**
 * Answers a CORS preflight: returns the response for an OPTIONS request, else null.
 *
 * @example
 * Deno.serve((req) => preflight(req) ?? handler(req));
 */
export function preflight(req: Request): Response | null {
  if (req.method !== "OPTIONS") return null;
  return new Response("ok", { headers: corsHeaders });
}

/** Returns a copy of `response` with the CORS headers added (existing values win). */
export function withCors(response: Response): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(corsHeaders)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}
