// Authentication checks for the Edge Functions, built from an explicit configuration (no
// environment access, so tests build their own). auth.ts binds them to env.ts. See docs/auth.md
// for why this uses `jose` directly rather than @supabase/server.
//
// - verifyUserJwt(req): the caller's user, from `Authorization: Bearer <access token>`.
// - isServiceRole(req): a trusted backend caller: the service-role key, a secret key
//   (sb_secret_...) on Authorization or apikey, or a valid JWT whose role is service_role.
// - isProcessorCaller(req): pg_cron/pg_net or another function waking queue-processor-v2:
//   `Authorization: Bearer <KEEPFRESH_PROCESSOR_SECRET>` (or _NEXT during a rotation), or the
//   service role.
// - isPrivilegedMonitor(req): the full health report: the service role, or
//   KEEPFRESH_MONITORING_TOKEN on `x-monitoring-token` or as the bearer token.
// - bearerToken(req): the raw bearer token.
//
// JWTs are verified locally, without calling the Auth server: HS256 with SUPABASE_JWT_SECRET
// (the local stack, legacy projects) or with a symmetric key of SUPABASE_JWKS matching the
// token's kid; ES256/RS256 with SUPABASE_JWKS (injected on hosted), else the project's
// published JWKS at SUPABASE_URL/auth/v1/.well-known/jwks.json (fetched once, cached by jose).

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";

export interface AuthConfig {
  /** HS256 secret (local stack, legacy projects). */
  jwtSecret?: string;
  /** Inline JWKS (hosted injects SUPABASE_JWKS). */
  jwks?: { keys: Record<string, unknown>[] };
  /** Where to fetch the JWKS when there is no inline one. */
  jwksUrl?: string;
  /** The legacy service-role key (a JWT), accepted verbatim. */
  serviceRoleKey?: string;
  /** Opaque secret keys (sb_secret_...), accepted verbatim. */
  secretKeys?: string[];
  /**
   * Last resort for HS256 user tokens when no key is configured (a hosted project still on the
   * legacy JWT secret, which functions cannot read): ask Supabase Auth (`GET <url>/user`), as
   * supabase-js getClaims() does for symmetric projects. Answers are cached for a minute.
   */
  authServer?: { url: string; apiKey: string };
  /** Processor secrets: current and, during a rotation, next. */
  processorSecrets?: string[];
  /** Token for monitoring systems (full health report, nothing else). */
  monitoringToken?: string;
}

export interface UserClaims {
  sub: string;
  role: string;
  email: string | null;
}

export interface Auth {
  /** The verified payload of a JWT, or null when it is not valid now. */
  verifyJwt(token: string): Promise<JWTPayload | null>;
  verifyUserJwt(req: Request): Promise<UserClaims | null>;
  isServiceRole(req: Request): Promise<boolean>;
  isProcessorCaller(req: Request): Promise<boolean>;
  isPrivilegedMonitor(req: Request): Promise<boolean>;
}

const ASYMMETRIC = new Set(["ES256", "RS256"]);

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive), else null. */
export function bearerToken(req: Request): string | null {
  const header = req.headers.get("authorization");
  if (!header) return null;
  const match = /^bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/**
 * True when `presented` equals one of `candidates` (undefined/empty candidates ignored).
 * Compares SHA-256 digests in constant time, so neither content nor length leaks by timing.
 */
export async function secretMatches(
  presented: string | null | undefined,
  candidates: readonly (string | null | undefined)[],
): Promise<boolean> {
  if (!presented) return false;
  const digest = await sha256(presented);
  let matched = false;
  for (const candidate of candidates) {
    if (!candidate) continue;
    const other = await sha256(candidate);
    let diff = 0;
    for (let i = 0; i < digest.length; i++) diff |= digest[i] ^ other[i];
    if (diff === 0) matched = true;
  }
  return matched;
}

function looksLikeJwt(token: string): boolean {
  return !token.startsWith("sb_") && token.split(".").length === 3;
}

/** Builds the checks for one configuration (no I/O beyond the optional JWKS / Auth lookups). */
export function createAuth(config: AuthConfig): Auth {
  const hsSecret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : null;
  const localJwks = config.jwks ? createLocalJWKSet(config.jwks as { keys: JWK[] }) : null;
  let remoteJwks: JWTVerifyGetKey | null = null;
  const directSecrets = [config.serviceRoleKey, ...(config.secretKeys ?? [])];
  const authServerCache = new Map<string, { payload: JWTPayload; until: number }>();

  async function askAuthServer(token: string): Promise<JWTPayload | null> {
    const server = config.authServer;
    // Only user tokens (with a sub) can be looked up; the anon/service keys never could.
    if (!server || typeof decodeJwt(token).sub !== "string") return null;
    const now = Date.now();
    const cached = authServerCache.get(token);
    if (cached && cached.until > now) return cached.payload;
    const res = await fetch(`${server.url}/user`, {
      headers: { apikey: server.apiKey, authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    const user = await res.json() as { id?: unknown; role?: unknown; email?: unknown };
    if (typeof user.id !== "string") return null;
    const { exp } = decodeJwt(token);
    const payload: JWTPayload = { sub: user.id, role: user.role, email: user.email, exp };
    if (authServerCache.size >= 1_000) authServerCache.clear();
    const until = Math.min(now + 60_000, typeof exp === "number" ? exp * 1000 : Infinity);
    authServerCache.set(token, { payload, until });
    return payload;
  }

  async function hsKey(kid: string | undefined): Promise<Uint8Array | CryptoKey | null> {
    if (kid && config.jwks) {
      const jwk = config.jwks.keys.find((key) =>
        key.kty === "oct" && key.kid === kid && typeof key.k === "string"
      );
      if (jwk) return await importJWK(jwk as JWK, "HS256") as CryptoKey;
    }
    return hsSecret;
  }

  async function verifyJwt(token: string): Promise<JWTPayload | null> {
    if (!looksLikeJwt(token)) return null;
    try {
      const { alg, kid } = decodeProtectedHeader(token);
      if (alg === "HS256") {
        const key = await hsKey(kid);
        if (!key) return await askAuthServer(token);
        return (await jwtVerify(token, key, { algorithms: ["HS256"] })).payload;
      }
      if (alg && ASYMMETRIC.has(alg)) {
        let keys: JWTVerifyGetKey | null = localJwks;
        if (!keys && config.jwksUrl) {
          remoteJwks ??= createRemoteJWKSet(new URL(config.jwksUrl));
          keys = remoteJwks;
        }
        if (!keys) return null;
        return (await jwtVerify(token, keys, { algorithms: [alg] })).payload;
      }
      return null;
    } catch {
      // Expired, forged, malformed, unknown kid, JWKS or Auth unreachable: all "not valid".
      return null;
    }
  }

  async function verifyUserJwt(req: Request): Promise<UserClaims | null> {
    const token = bearerToken(req);
    if (!token) return null;
    const payload = await verifyJwt(token);
    // A user token names its user; the anon and service-role keys carry no sub.
    if (!payload || typeof payload.sub !== "string" || payload.sub === "") return null;
    return {
      sub: payload.sub,
      role: typeof payload.role === "string" ? payload.role : "authenticated",
      email: typeof payload.email === "string" && payload.email !== "" ? payload.email : null,
    };
  }

  async function isServiceRole(req: Request): Promise<boolean> {
    const presented = [bearerToken(req), req.headers.get("apikey")].filter(
      (value): value is string => !!value,
    );
    for (const token of presented) {
      if (await secretMatches(token, directSecrets)) return true;
    }
    for (const token of presented) {
      const payload = await verifyJwt(token);
      if (payload?.role === "service_role") return true;
    }
    return false;
  }

  async function isProcessorCaller(req: Request): Promise<boolean> {
    if (await secretMatches(bearerToken(req), config.processorSecrets ?? [])) return true;
    return await isServiceRole(req);
  }

  async function isPrivilegedMonitor(req: Request): Promise<boolean> {
    const token = config.monitoringToken;
    if (token) {
      if (await secretMatches(req.headers.get("x-monitoring-token"), [token])) return true;
      if (await secretMatches(bearerToken(req), [token])) return true;
    }
    return await isServiceRole(req);
  }

  return { verifyJwt, verifyUserJwt, isServiceRole, isProcessorCaller, isPrivilegedMonitor };
}
