// The Edge Functions' configuration, read and validated ONCE when this module loads. A missing
// or malformed variable stops the function at boot with a message naming every problem, instead
// of failing later on the first request that needs it (no `?? ''` anywhere).
//
// Hosted Supabase injects SUPABASE_URL, SUPABASE_DB_URL, SUPABASE_ANON_KEY,
// SUPABASE_SERVICE_ROLE_KEY, SUPABASE_PUBLISHABLE_KEYS, SUPABASE_SECRET_KEYS and SUPABASE_JWKS;
// KEEPFRESH_* and FMP_* are set with `supabase secrets set`. SUPABASE_JWT_SECRET cannot be set
// on hosted (the SUPABASE_ prefix is reserved for secrets) and is not needed there: user JWTs
// are verified against the project's JWKS. Locally (scripts/lib/stack.sh) it holds the
// well-known local secret, because there is no Auth server to publish a JWKS.

import { type Env, ENV_NAMES, parseEnv } from "./env_schema.ts";

export { type Env, ENV_NAMES, EnvError, parseEnv } from "./env_schema.ts";

function readEnv(): Env {
  const record: Record<string, string | undefined> = {};
  for (const name of ENV_NAMES) record[name] = Deno.env.get(name);
  return parseEnv(record);
}

/** The functions' configuration; importing this module fails fast when it is invalid. */
export const env: Readonly<Env> = Object.freeze(readEnv());
