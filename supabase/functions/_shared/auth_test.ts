import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { bearerToken, createAuth, secretMatches } from "./auth_core.ts";
import { mintJwt } from "../../../scripts/local/jwt.ts";

// Supabase's well-known local values (scripts/lib/stack.sh): not secrets.
const SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const ANON_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const SERVICE_ROLE_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const PROCESSOR_SECRET = "local-processor-secret-not-for-production";
const PROCESSOR_SECRET_NEXT = "next-processor-secret-for-rotation";
const MONITORING_TOKEN = "local-monitoring-token-not-for-production";
const USER_ID = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
const ISSUER = "http://127.0.0.1:54321/auth/v1";

const auth = createAuth({
  jwtSecret: SECRET,
  serviceRoleKey: SERVICE_ROLE_KEY,
  secretKeys: [SECRET_KEY],
  processorSecrets: [PROCESSOR_SECRET, PROCESSOR_SECRET_NEXT],
  monitoringToken: MONITORING_TOKEN,
});

function request(headers: Record<string, string>): Request {
  return new Request("http://127.0.0.1/fn", { headers });
}

const bearer = (token: string) => request({ authorization: `Bearer ${token}` });

function userToken(options: { expiresIn?: number; secret?: string } = {}): Promise<string> {
  return mintJwt({
    role: "authenticated",
    sub: USER_ID,
    email: "ada@example.com",
    issuer: ISSUER,
    secret: options.secret ?? SECRET,
    expiresIn: options.expiresIn,
  });
}

Deno.test("bearerToken - reads the Bearer scheme case-insensitively and nothing else", () => {
  assert.equal(bearerToken(bearer("abc.def.ghi")), "abc.def.ghi");
  assert.equal(bearerToken(request({ authorization: "bearer tok" })), "tok");
  assert.equal(bearerToken(request({ authorization: "Basic dXNlcjpwYXNz" })), null);
  assert.equal(bearerToken(request({ authorization: "Bearer" })), null);
  assert.equal(bearerToken(request({})), null);
});

Deno.test("secretMatches - matches exact candidates only, ignoring empty ones", async () => {
  assert.equal(await secretMatches("abc", [undefined, "", "abc"]), true);
  assert.equal(await secretMatches("abc", ["abcd", "ab"]), false);
  assert.equal(await secretMatches("", [""]), false);
  assert.equal(await secretMatches(null, ["abc"]), false);
});

Deno.test("verifyUserJwt - returns the claims of a valid user token", async () => {
  const claims = await auth.verifyUserJwt(bearer(await userToken()));
  assert.deepEqual(claims, { sub: USER_ID, role: "authenticated", email: "ada@example.com" });
});

Deno.test("verifyUserJwt - refuses expired, forged, keyless and malformed tokens", async () => {
  const expired = await userToken({ expiresIn: -60 });
  const forged = await userToken({ secret: "another-secret-of-at-least-32-characters!!" });
  const unsigned = [
    btoa(JSON.stringify({ alg: "none", typ: "JWT" })),
    btoa(JSON.stringify({ sub: USER_ID, role: "authenticated" })),
    "",
  ].join(".").replaceAll("=", "");
  for (const token of [expired, forged, unsigned, "not-a-jwt", "a.b.c", PUBLISHABLE_KEY]) {
    assert.equal(await auth.verifyUserJwt(bearer(token)), null, token.slice(0, 20));
  }
  assert.equal(await auth.verifyUserJwt(request({})), null);
});

Deno.test("verifyUserJwt - the anon and service-role keys name no user", async () => {
  assert.equal(await auth.verifyUserJwt(bearer(ANON_KEY)), null);
  assert.equal(await auth.verifyUserJwt(bearer(SERVICE_ROLE_KEY)), null);
});

Deno.test("verifyUserJwt - without a JWT secret HS256 tokens are refused", async () => {
  const noSecret = createAuth({});
  assert.equal(await noSecret.verifyUserJwt(bearer(await userToken())), null);
});

Deno.test("verifyUserJwt - verifies ES256 tokens against an inline JWKS (hosted signing keys)", async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "key-1", alg: "ES256", use: "sig" };
  const token = await new SignJWT({ role: "authenticated", email: "ada@example.com" })
    .setProtectedHeader({ alg: "ES256", kid: "key-1", typ: "JWT" })
    .setSubject(USER_ID)
    .setAudience("authenticated")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(privateKey);
  const withJwks = createAuth({ jwks: { keys: [jwk] } });
  assert.equal((await withJwks.verifyUserJwt(bearer(token)))?.sub, USER_ID);
  assert.equal(await createAuth({ jwtSecret: SECRET }).verifyUserJwt(bearer(token)), null);
});

Deno.test("verifyUserJwt - uses the symmetric JWKS key named by the token's kid", async () => {
  const k = btoa("kid-specific-secret-with-at-least-32-chars").replaceAll("=", "")
    .replaceAll("+", "-").replaceAll("/", "_");
  const withOct = createAuth({ jwks: { keys: [{ kty: "oct", kid: "hs-1", alg: "HS256", k }] } });
  const token = await new SignJWT({ role: "authenticated" })
    .setProtectedHeader({ alg: "HS256", kid: "hs-1" })
    .setSubject(USER_ID)
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode("kid-specific-secret-with-at-least-32-chars"));
  assert.equal((await withOct.verifyUserJwt(bearer(token)))?.sub, USER_ID);
});

Deno.test("verifyUserJwt - without a key, asks the Auth server about HS256 user tokens", async () => {
  const good = await userToken();
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname} ${req.headers.get("apikey")}`);
    return bearerToken(req) === good
      ? Response.json({ id: USER_ID, role: "authenticated", email: "ada@example.com" })
      : Response.json({ msg: "invalid JWT" }, { status: 401 });
  });
  try {
    const viaAuth = createAuth({
      authServer: { url: `http://127.0.0.1:${server.addr.port}/auth/v1`, apiKey: PUBLISHABLE_KEY },
    });
    const claims = await viaAuth.verifyUserJwt(bearer(good));
    assert.deepEqual(claims, { sub: USER_ID, role: "authenticated", email: "ada@example.com" });
    assert.deepEqual(await viaAuth.verifyUserJwt(bearer(good)), claims, "cached");
    assert.equal(seen.length, 1, "the second check used the cache");
    assert.equal(seen[0], `GET /auth/v1/user ${PUBLISHABLE_KEY}`);
    const other = await userToken({ secret: "another-secret-of-at-least-32-characters!!" });
    assert.equal(await viaAuth.verifyUserJwt(bearer(other)), null, "Auth said 401");
    assert.equal(await viaAuth.verifyUserJwt(bearer(ANON_KEY)), null, "no sub: not asked");
    assert.equal(seen.length, 2);
  } finally {
    await server.shutdown();
  }
});

Deno.test("isServiceRole - accepts the service-role key and secret keys on either header", async () => {
  assert.equal(await auth.isServiceRole(bearer(SERVICE_ROLE_KEY)), true);
  assert.equal(await auth.isServiceRole(request({ apikey: SERVICE_ROLE_KEY })), true);
  assert.equal(await auth.isServiceRole(request({ apikey: SECRET_KEY })), true);
  assert.equal(await auth.isServiceRole(bearer(SECRET_KEY)), true);
});

Deno.test("isServiceRole - accepts a freshly minted service_role JWT", async () => {
  const token = await mintJwt({ role: "service_role", secret: SECRET, issuer: ISSUER });
  assert.equal(await auth.isServiceRole(bearer(token)), true);
});

Deno.test("isServiceRole - refuses anon, users, publishable keys, forgeries and nothing", async () => {
  const forged = await mintJwt({
    role: "service_role",
    secret: "another-secret-of-at-least-32-characters!!",
    issuer: ISSUER,
  });
  const expired = await mintJwt({
    role: "service_role",
    secret: SECRET,
    issuer: ISSUER,
    expiresIn: -5,
  });
  const cases: Request[] = [
    bearer(ANON_KEY),
    bearer(await userToken()),
    request({ apikey: PUBLISHABLE_KEY }),
    bearer(forged),
    bearer(expired),
    bearer(`${SECRET_KEY}x`),
    request({ authorization: SERVICE_ROLE_KEY }),
    request({}),
  ];
  for (const [i, req] of cases.entries()) {
    assert.equal(await auth.isServiceRole(req), false, `case ${i}`);
  }
});

Deno.test("isProcessorCaller - accepts the current and next processor secrets and the service role", async () => {
  assert.equal(await auth.isProcessorCaller(bearer(PROCESSOR_SECRET)), true);
  assert.equal(await auth.isProcessorCaller(bearer(PROCESSOR_SECRET_NEXT)), true);
  assert.equal(await auth.isProcessorCaller(bearer(SERVICE_ROLE_KEY)), true);
  assert.equal(await auth.isProcessorCaller(bearer("wrong-secret")), false);
  assert.equal(await auth.isProcessorCaller(bearer(ANON_KEY)), false);
  assert.equal(await auth.isProcessorCaller(request({})), false);
  const noSecrets = createAuth({ jwtSecret: SECRET });
  assert.equal(await noSecrets.isProcessorCaller(bearer(PROCESSOR_SECRET)), false);
});

Deno.test("isPrivilegedMonitor - accepts the monitoring token and the service role only", async () => {
  assert.equal(
    await auth.isPrivilegedMonitor(request({ "x-monitoring-token": MONITORING_TOKEN })),
    true,
  );
  assert.equal(await auth.isPrivilegedMonitor(bearer(MONITORING_TOKEN)), true);
  assert.equal(await auth.isPrivilegedMonitor(request({ apikey: SECRET_KEY })), true);
  assert.equal(await auth.isPrivilegedMonitor(request({ "x-monitoring-token": "nope" })), false);
  assert.equal(await auth.isPrivilegedMonitor(bearer(ANON_KEY)), false);
  assert.equal(await auth.isPrivilegedMonitor(bearer(PROCESSOR_SECRET)), false);
});

Deno.test("auth.ts - binds the checks to the environment", async () => {
  const user = await userToken();
  const script = `
    const auth = await import(${JSON.stringify(new URL("./auth.ts", import.meta.url).href)});
    const req = (h) => new Request("http://127.0.0.1/fn", { headers: h });
    console.log(JSON.stringify({
      user: await auth.verifyUserJwt(req({ authorization: "Bearer ${user}" })),
      service: await auth.isServiceRole(req({ apikey: "${SECRET_KEY}" })),
      anon: await auth.isServiceRole(req({ authorization: "Bearer ${ANON_KEY}" })),
      processor: await auth.isProcessorCaller(req({ authorization: "Bearer ${PROCESSOR_SECRET}" })),
    }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    clearEnv: true,
    env: {
      HOME: Deno.env.get("HOME") ?? "/tmp",
      DENO_NO_UPDATE_CHECK: "1",
      SUPABASE_URL: "http://127.0.0.1:56399",
      SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:56398/postgres",
      SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
      SUPABASE_JWT_SECRET: SECRET,
      KEEPFRESH_PROCESSOR_SECRET: PROCESSOR_SECRET,
      FMP_API_KEY: "test-key",
    },
    cwd: new URL("../../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
    user: { sub: USER_ID, role: "authenticated", email: "ada@example.com" },
    service: true,
    anon: false,
    processor: true,
  });
});
