import assert from "node:assert/strict";
import { EnvError, parseEnv } from "./env_schema.ts";

const valid = {
  SUPABASE_URL: "http://127.0.0.1:54321/",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
  SUPABASE_SERVICE_ROLE_KEY: "service-role-key",
  KEEPFRESH_PROCESSOR_SECRET: "local-processor-secret-not-for-production",
  FMP_API_KEY: "local-fixture-key",
};

function problemsOf(record: Record<string, string | undefined>): string[] {
  try {
    parseEnv(record);
  } catch (error) {
    assert.ok(error instanceof EnvError, `expected EnvError, got ${error}`);
    return error.problems;
  }
  assert.fail("parseEnv accepted an invalid environment");
}

Deno.test("parseEnv - accepts the minimal environment and applies defaults", () => {
  const env = parseEnv(valid);
  assert.equal(env.SUPABASE_URL, "http://127.0.0.1:54321", "trailing slash removed");
  assert.equal(env.FMP_BASE_URL, "https://financialmodelingprep.com");
  assert.equal(env.SUPABASE_ANON_KEY, undefined);
  assert.equal(env.SUPABASE_SECRET_KEYS, undefined);
  assert.equal(env.SUPABASE_JWT_SECRET, undefined);
  assert.equal(env.KEEPFRESH_PROCESSOR_SECRET_NEXT, undefined);
  assert.equal(env.KEEPFRESH_MONITORING_TOKEN, undefined);
  assert.equal(env.KEEPFRESH_UPSTREAM_TIMEOUT_MS, 10_000);
  assert.equal(env.KEEPFRESH_PROCESSOR_BATCH_SIZE, 10);
});

Deno.test("parseEnv - parses the key maps, JWKS and optional values", () => {
  const env = parseEnv({
    ...valid,
    SUPABASE_ANON_KEY: "anon",
    SUPABASE_SECRET_KEYS: '{"default":"sb_secret_a","internal":"sb_secret_b"}',
    SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_a"}',
    SUPABASE_JWT_SECRET: "super-secret-jwt-token-with-at-least-32-characters-long",
    SUPABASE_JWKS: '[{"kty":"EC","crv":"P-256","x":"x","y":"y"}]',
    KEEPFRESH_PROCESSOR_SECRET_NEXT: "next-processor-secret-value",
    KEEPFRESH_MONITORING_TOKEN: "monitoring-token-value",
    FMP_BASE_URL: "http://127.0.0.1:56399",
    KEEPFRESH_PROCESSOR_BATCH_SIZE: "25",
  });
  assert.deepEqual(env.SUPABASE_SECRET_KEYS, { default: "sb_secret_a", internal: "sb_secret_b" });
  assert.deepEqual(env.SUPABASE_PUBLISHABLE_KEYS, { default: "sb_publishable_a" });
  assert.equal(env.SUPABASE_JWKS?.keys.length, 1);
  assert.equal(env.KEEPFRESH_PROCESSOR_SECRET_NEXT, "next-processor-secret-value");
  assert.equal(env.FMP_BASE_URL, "http://127.0.0.1:56399");
  assert.equal(env.KEEPFRESH_PROCESSOR_BATCH_SIZE, 25);
});

Deno.test("parseEnv - names every missing required variable at once", () => {
  const problems = problemsOf({});
  for (
    const name of [
      "SUPABASE_URL",
      "SUPABASE_DB_URL",
      "SUPABASE_SERVICE_ROLE_KEY",
      "KEEPFRESH_PROCESSOR_SECRET",
      "FMP_API_KEY",
    ]
  ) {
    assert.ok(problems.includes(`${name} is required but not set`), `${name} in ${problems}`);
  }
  assert.equal(problems.length, 5);
});

Deno.test("parseEnv - an empty required variable counts as missing, an empty optional as unset", () => {
  assert.deepEqual(problemsOf({ ...valid, FMP_API_KEY: "  " }), [
    "FMP_API_KEY is required but not set",
  ]);
  assert.equal(
    parseEnv({ ...valid, KEEPFRESH_MONITORING_TOKEN: "" }).KEEPFRESH_MONITORING_TOKEN,
    undefined,
  );
});

Deno.test("parseEnv - rejects malformed values with the reason", () => {
  const problems = problemsOf({
    ...valid,
    SUPABASE_URL: "not a url",
    SUPABASE_DB_URL: "mysql://x",
    SUPABASE_SECRET_KEYS: "sb_secret_plain",
    SUPABASE_PUBLISHABLE_KEYS: "{}",
    SUPABASE_JWT_SECRET: "short",
    KEEPFRESH_PROCESSOR_SECRET: "short",
    KEEPFRESH_PROCESSOR_BATCH_SIZE: "ten",
    KEEPFRESH_PROCESSOR_MAX_RUNS: "0",
  });
  const text = problems.join("\n");
  assert.match(text, /SUPABASE_URL must be an http\(s\) URL/);
  assert.match(text, /SUPABASE_DB_URL must be a postgres:\/\//);
  assert.match(text, /SUPABASE_SECRET_KEYS must be JSON/);
  assert.match(text, /SUPABASE_PUBLISHABLE_KEYS must be a JSON object of named/);
  assert.match(text, /SUPABASE_JWT_SECRET must be at least 16 characters/);
  assert.match(text, /KEEPFRESH_PROCESSOR_SECRET must be at least 16 characters/);
  assert.match(text, /KEEPFRESH_PROCESSOR_BATCH_SIZE must be an integer/);
  assert.match(text, /KEEPFRESH_PROCESSOR_MAX_RUNS must be >= 1/);
  assert.equal(problems.length, 8);
});

Deno.test("parseEnv - the error message says how to fix it and never echoes values", () => {
  try {
    parseEnv({ ...valid, KEEPFRESH_PROCESSOR_SECRET: "tiny-secret" });
    assert.fail("expected an error");
  } catch (error) {
    const message = (error as Error).message;
    assert.match(message, /invalid environment for keepfresh Edge Functions/);
    assert.match(message, /supabase secrets set/);
    assert.ok(!message.includes("tiny-secret"), "the secret value is not in the message");
  }
});

Deno.test("env.ts - importing it without configuration fails at load with the problems", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `await import(${JSON.stringify(new URL("./env.ts", import.meta.url).href)})`],
    clearEnv: true,
    env: { HOME: Deno.env.get("HOME") ?? "/tmp", DENO_NO_UPDATE_CHECK: "1" },
    cwd: new URL("../../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.notEqual(out.code, 0);
  assert.match(stderr, /FMP_API_KEY is required but not set/);
  assert.match(stderr, /SUPABASE_DB_URL is required but not set/);
});
