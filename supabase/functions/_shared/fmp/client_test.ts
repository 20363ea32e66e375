import assert from "node:assert/strict";
import { type FetchContext, fetchFmp, FmpCallError, fmpUrl } from "./client.ts";

const apiKey = "secret-key-123";

function ctxWith(fetchImpl: typeof fetch, overrides: Partial<FetchContext> = {}): FetchContext {
  return {
    baseUrl: "http://fmp.test/",
    apiKey,
    timeoutMs: 1_000,
    maxBytes: 1_000,
    fetch: fetchImpl,
    ...overrides,
  };
}

/** A fetch that answers with a body streamed in chunks and no content-length. */
function streaming(chunks: string[], status = 200): typeof fetch {
  return () => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    });
    return Promise.resolve(new Response(body, { status }));
  };
}

async function rejection(promise: Promise<unknown>): Promise<FmpCallError> {
  try {
    await promise;
  } catch (thrown) {
    assert.ok(thrown instanceof FmpCallError, `expected FmpCallError, got ${thrown}`);
    return thrown;
  }
  assert.fail("expected the call to fail");
}

Deno.test("client - the URL is /stable/<path> with the params and the key", () => {
  const url = fmpUrl("income-statement", { symbol: "BRK-B", period: undefined, limit: 5 }, {
    baseUrl: "http://fmp.test/",
    apiKey,
  });
  assert.equal(url.origin + url.pathname, "http://fmp.test/stable/income-statement");
  assert.equal(url.searchParams.get("symbol"), "BRK-B");
  assert.equal(url.searchParams.get("limit"), "5");
  assert.equal(url.searchParams.has("period"), false);
  assert.equal(url.searchParams.get("apikey"), apiKey);
  assert.throws(() => fmpUrl("../api/v3/quote", {}, { baseUrl: "http://x", apiKey }), /path/);
});

Deno.test("client - any status resolves with the body and the bytes read", async () => {
  const body = '[{"name":"Société Générale"}]';
  const response = await fetchFmp("profile", { symbol: "GLE.PA" }, ctxWith(streaming([body], 429)));
  assert.equal(response.status, 429);
  assert.equal(response.bodyText, body);
  assert.equal(response.bytes, new TextEncoder().encode(body).length);
  assert.ok(response.bytes > body.length, "bytes are UTF-8 bytes, not characters");
});

Deno.test("client - a declared content-length over the cap is refused before reading", async () => {
  let cancelled = false;
  const fetchImpl: typeof fetch = () => {
    const body = new ReadableStream<Uint8Array>({
      cancel() {
        cancelled = true;
      },
    });
    return Promise.resolve(new Response(body, { headers: { "content-length": "50000" } }));
  };
  const error = await rejection(fetchFmp("quote", { symbol: "AAPL" }, ctxWith(fetchImpl)));
  assert.equal(error.errorClass, "permanent");
  assert.match(error.message, /oversized body \(more than 1000 bytes\)/);
  assert.equal(error.bytes, 0);
  assert.ok(cancelled, "the body stream was cancelled");
});

Deno.test("client - a streamed body over the cap is aborted and counted", async () => {
  const chunks = Array.from({ length: 10 }, () => "x".repeat(300));
  const error = await rejection(fetchFmp("quote", { symbol: "AAPL" }, ctxWith(streaming(chunks))));
  assert.equal(error.errorClass, "permanent");
  assert.match(error.message, /oversized body/);
  assert.equal(error.bytes, 1_200, "reading stopped at the first chunk over the cap");
});

Deno.test("client - a body exactly at the cap is read", async () => {
  const response = await fetchFmp("quote", {}, ctxWith(streaming(["y".repeat(1_000)])));
  assert.equal(response.bytes, 1_000);
});

Deno.test("client - a slow upstream times out as transient", async () => {
  const hanging: typeof fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
    });
  const error = await rejection(
    fetchFmp("quote", { symbol: "AAPL" }, ctxWith(hanging, { timeoutMs: 50 })),
  );
  assert.equal(error.errorClass, "transient");
  assert.match(error.message, /quote: timeout after 50 ms/);
});

Deno.test("client - network errors are transient and never quote the key", async () => {
  const failing: typeof fetch = (input) =>
    Promise.reject(new TypeError(`error sending request for url (${String(input)})`));
  const error = await rejection(fetchFmp("quote", { symbol: "AAPL" }, ctxWith(failing)));
  assert.equal(error.errorClass, "transient");
  assert.match(error.message, /network error/);
  assert.ok(!error.message.includes(apiKey), error.message);
  assert.match(error.message, /apikey=\*\*\*/);
});
