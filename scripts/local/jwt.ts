// keepfresh local token minting: HS256 JWTs signed with the local JWT secret, carrying the
// claims Supabase Auth (GoTrue) puts in its access tokens, so tests and the demo can act as a
// user, anon or service_role without an Auth server. Never used on hosted Supabase, where
// tokens come from Supabase Auth.

import { SignJWT } from "jose";

/** Supabase's well-known local JWT secret (CLI default). */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

export interface MintOptions {
  /** Postgres role the token grants: "authenticated", "anon", "service_role", ... */
  role: string;
  /** User id (uuid). Users get a random one when omitted. */
  sub?: string;
  email?: string;
  /** Lifetime in seconds from now (default 3600); negative mints an already expired token. */
  expiresIn?: number;
  /** Defaults to SUPABASE_JWT_SECRET, else the well-known local secret. */
  secret?: string;
  /** Defaults to `${SUPABASE_URL}/auth/v1`, else the local CLI's URL. */
  issuer?: string;
  /** Extra claims, merged last. */
  claims?: Record<string, unknown>;
}

function envOr(name: string, fallback: string): string {
  try {
    return Deno.env.get(name) || fallback;
  } catch {
    // No --allow-env: use the local default.
    return fallback;
  }
}

/**
 * Mints an HS256 JWT. For role "authenticated" the claims mirror a GoTrue access token
 * (aud "authenticated", sub, email, phone, app_metadata, user_metadata, aal, amr,
 * session_id, is_anonymous); other roles get iss, role, iat, exp (and sub when given),
 * like Supabase's legacy anon/service_role keys.
 */
export async function mintJwt(options: MintOptions): Promise<string> {
  const { role } = options;
  if (!role) throw new Error("mintJwt: role is required");
  const now = Math.floor(Date.now() / 1000);
  const expiresIn = options.expiresIn ?? 3600;
  if (!Number.isFinite(expiresIn)) throw new Error("mintJwt: expiresIn must be a number");
  const secret = options.secret ?? envOr("SUPABASE_JWT_SECRET", LOCAL_JWT_SECRET);
  const issuer = options.issuer ??
    `${envOr("SUPABASE_URL", "http://127.0.0.1:54321").replace(/\/$/, "")}/auth/v1`;
  const isUser = role === "authenticated";
  const payload: Record<string, unknown> = { role };
  if (isUser) {
    Object.assign(payload, {
      aud: "authenticated",
      sub: options.sub ?? crypto.randomUUID(),
      email: options.email ?? "",
      phone: "",
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: options.email ? { email: options.email } : {},
      aal: "aal1",
      amr: [{ method: "password", timestamp: now }],
      session_id: crypto.randomUUID(),
      is_anonymous: false,
    });
  } else {
    if (options.sub) payload.sub = options.sub;
    if (options.email) payload.email = options.email;
  }
  Object.assign(payload, options.claims ?? {});
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.trunc(expiresIn))
    .sign(new TextEncoder().encode(secret));
}
