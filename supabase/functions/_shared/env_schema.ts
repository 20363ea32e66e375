// The schema of the Edge Functions' environment and its pure parser (no I/O, no side effects),
// so it can be unit-tested. env.ts applies it once to the real environment at load.

import { z } from "zod";

/** Named API keys, as hosted injects them: JSON `{"default":"sb_secret_..."}`. */
const keyMap = z.string().transform((text, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: "custom", message: 'must be JSON like {"default":"sb_..."}' });
    return z.NEVER;
  }
  const result = z.record(z.string(), z.string().min(1)).safeParse(parsed);
  if (!result.success || Object.keys(result.data).length === 0) {
    ctx.addIssue({
      code: "custom",
      message: 'must be a JSON object of named, non-empty keys like {"default":"sb_..."}',
    });
    return z.NEVER;
  }
  return result.data;
});

/** A JSON Web Key Set, `{"keys":[...]}` or a bare array (what SUPABASE_JWKS holds on hosted). */
const jwks = z.string().transform((text, ctx) => {
  try {
    const parsed = JSON.parse(text);
    const keys = Array.isArray(parsed) ? parsed : parsed?.keys;
    if (Array.isArray(keys) && keys.every((k) => k && typeof k === "object")) {
      return { keys: keys as Record<string, unknown>[] };
    }
  } catch {
    // reported below
  }
  ctx.addIssue({ code: "custom", message: 'must be a JWKS: {"keys":[...]} or [...]' });
  return z.NEVER;
});

const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}, "must be an http(s) URL").transform((value) => value.replace(/\/+$/, ""));

const postgresUrl = z.string().regex(
  /^postgres(ql)?:\/\/\S+$/,
  "must be a postgres:// or postgresql:// connection URL",
);

const secret = (minLength: number) =>
  z.string().min(
    minLength,
    `must be at least ${minLength} characters (generate one with: openssl rand -hex 32)`,
  );

/** An optional integer setting within [min, max], `fallback` when unset. */
const int = (min: number, max: number, fallback: number) =>
  z.string()
    .regex(/^-?\d+$/, "must be an integer")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be >= ${min}`).max(max, `must be <= ${max}`))
    .default(fallback);

const schema = z.object({
  SUPABASE_URL: httpUrl,
  SUPABASE_DB_URL: postgresUrl,
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1),
  SUPABASE_ANON_KEY: z.string().min(1).optional(),
  SUPABASE_PUBLISHABLE_KEYS: keyMap.optional(),
  SUPABASE_SECRET_KEYS: keyMap.optional(),
  // Supabase requires a custom JWT secret to have at least 16 characters.
  SUPABASE_JWT_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  SUPABASE_JWKS: jwks.optional(),
  // Shared by pg_cron (through Vault) and queue-processor-v2; _NEXT accepts the new value
  // during a rotation.
  KEEPFRESH_PROCESSOR_SECRET: secret(16),
  KEEPFRESH_PROCESSOR_SECRET_NEXT: secret(16).optional(),
  KEEPFRESH_MONITORING_TOKEN: secret(16).optional(),
  FMP_API_KEY: z.string().min(1),
  FMP_BASE_URL: httpUrl.default("https://financialmodelingprep.com"),
  // queue-processor-v2 tuning (all optional). Bounds keep a typo from stalling or flooding.
  KEEPFRESH_PROCESSOR_BATCH_SIZE: int(1, 500, 10),
  KEEPFRESH_PROCESSOR_CONCURRENCY: int(1, 32, 4),
  KEEPFRESH_PROCESSOR_LEASE_SECONDS: int(5, 3_600, 60),
  // Jobs per invocation: hosted allows 2 s of CPU per request.
  KEEPFRESH_PROCESSOR_MAX_JOBS: int(1, 10_000, 100),
  // Wall-clock budget of one run: hosted stops a worker after 150 s (free) / 400 s (paid).
  KEEPFRESH_PROCESSOR_BUDGET_MS: int(1_000, 390_000, 50_000),
  KEEPFRESH_PROCESSOR_MAX_RUNS: int(1, 64, 2),
  // Per upstream call (SPEC 3.5: 10 s) and the cap on a response body.
  KEEPFRESH_UPSTREAM_TIMEOUT_MS: int(100, 120_000, 10_000),
  KEEPFRESH_UPSTREAM_MAX_BYTES: int(1_024, 256 * 1024 * 1024, 10 * 1024 * 1024),
});

/** The validated configuration. Optional values are `undefined` when unset. */
export type Env = z.infer<typeof schema>;

/** Every variable this module reads. */
export const ENV_NAMES = Object.keys(schema.shape) as (keyof typeof schema.shape)[];

/** Thrown when the environment is invalid; the message lists every problem. */
export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `invalid environment for keepfresh Edge Functions:\n` +
        problems.map((p) => `  - ${p}`).join("\n") +
        "\nSet them with `supabase secrets set NAME=value` (hosted) or export them locally" +
        " (scripts/lib/stack.sh kf_env).",
    );
    this.name = "EnvError";
  }
}

/**
 * Validates a record of environment variables (pure: pass `Deno.env.toObject()` or a test
 * record). Empty strings count as unset: a required variable that is empty is missing.
 */
export function parseEnv(record: Record<string, string | undefined>): Env {
  const input: Record<string, string> = {};
  for (const name of ENV_NAMES) {
    const value = record[name]?.trim();
    if (value) input[name] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? "environment");
    return input[name] === undefined
      ? `${name} is required but not set`
      : `${name} ${issue.message}`;
  });
  throw new EnvError(problems);
}
