// Authentication inside the Edge Functions, configured from the validated environment (env.ts).
// The checks themselves live in auth_core.ts; docs/auth.md explains the choices.

import { type AuthConfig, createAuth, type UserClaims } from "./auth_core.ts";
import { type Env, env } from "./env.ts";

export { bearerToken, secretMatches, type UserClaims } from "./auth_core.ts";

/** The auth configuration the environment describes. */
export function authConfigFromEnv(e: Env): AuthConfig {
  const apiKey = e.SUPABASE_PUBLISHABLE_KEYS?.default ?? e.SUPABASE_ANON_KEY;
  return {
    jwtSecret: e.SUPABASE_JWT_SECRET,
    jwks: e.SUPABASE_JWKS,
    jwksUrl: `${e.SUPABASE_URL}/auth/v1/.well-known/jwks.json`,
    serviceRoleKey: e.SUPABASE_SERVICE_ROLE_KEY,
    secretKeys: Object.values(e.SUPABASE_SECRET_KEYS ?? {}),
    processorSecrets: [e.KEEPFRESH_PROCESSOR_SECRET, e.KEEPFRESH_PROCESSOR_SECRET_NEXT].filter(
      (value): value is string => !!value,
    ),
    monitoringToken: e.KEEPFRESH_MONITORING_TOKEN,
    // Only consulted for HS256 tokens when SUPABASE_JWT_SECRET is unset (hosted, legacy secret).
    authServer: apiKey ? { url: `${e.SUPABASE_URL}/auth/v1`, apiKey } : undefined,
  };
}

const auth = createAuth(authConfigFromEnv(env));

/** The caller's user from a valid access token (must carry a sub), else null. */
export const verifyUserJwt: (req: Request) => Promise<UserClaims | null> = auth.verifyUserJwt;

/** True for the service-role key, a secret key, or a valid service_role JWT. */
export const isServiceRole: (req: Request) => Promise<boolean> = auth.isServiceRole;

/** True for the processor secret (current or next) as bearer token, or the service role. */
export const isProcessorCaller: (req: Request) => Promise<boolean> = auth.isProcessorCaller;

/** True for the monitoring token (x-monitoring-token or bearer), or the service role. */
export const isPrivilegedMonitor: (req: Request) => Promise<boolean> = auth.isPrivilegedMonitor;
