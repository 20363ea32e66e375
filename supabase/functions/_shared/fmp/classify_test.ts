import assert from "node:assert/strict";
import { classifyResponse, classifyThrown, type ErrorClass, worstClass } from "./classify.ts";

const limitText =
  "Limit Reach . Please upgrade your plan or visit our documentation for more details at https://site.financialmodelingprep.com/";
const bandwidthText = "Bandwidth Limit Reach . Please upgrade your plan";
const invalidKeyText =
  "Invalid API KEY. Feel free to create a Free API Key or visit https://site.financialmodelingprep.com/faqs?search=why-is-my-api-key-invalid for more information.";
const errorBody = (text: string, key = "Error Message") => JSON.stringify({ [key]: text });

function classOf(status: number, body: string): ErrorClass | "ok" {
  const result = classifyResponse(status, body);
  return result.ok ? "ok" : result.errorClass;
}

Deno.test("classify - a JSON array on 200 is ok and carries the parsed rows", () => {
  const result = classifyResponse(200, '[{"symbol":"AAPL","price":1}]');
  assert.deepEqual(result, { ok: true, data: [{ symbol: "AAPL", price: 1 }] });
  assert.deepEqual(classifyResponse(200, "[]"), { ok: true, data: [] });
});

Deno.test("classify - 429 is rate_limited whatever the body says", () => {
  assert.equal(classOf(429, errorBody(limitText)), "rate_limited");
  assert.equal(classOf(429, "Too Many Requests"), "rate_limited");
  assert.equal(classOf(429, ""), "rate_limited");
});

Deno.test("classify - a Limit Reach body on 200 is rate_limited, not data", () => {
  assert.equal(classOf(200, errorBody(limitText)), "rate_limited");
  // Any status, any of the keys the SDKs read, even plain text.
  assert.equal(classOf(403, errorBody(limitText)), "rate_limited");
  assert.equal(classOf(200, errorBody(limitText, "message")), "rate_limited");
  assert.equal(classOf(200, errorBody(limitText, "error")), "rate_limited");
  assert.equal(classOf(503, limitText), "rate_limited");
});

Deno.test("classify - Bandwidth Limit Reach is bandwidth, checked before the generic Limit Reach", () => {
  assert.equal(classOf(429, errorBody(bandwidthText)), "bandwidth");
  assert.equal(classOf(200, errorBody(bandwidthText)), "bandwidth");
  assert.equal(classOf(200, errorBody(bandwidthText.toUpperCase(), "message")), "bandwidth");
});

Deno.test("classify - 401 or an Invalid API KEY body is invalid_key", () => {
  assert.equal(classOf(401, errorBody(invalidKeyText)), "invalid_key");
  assert.equal(classOf(401, ""), "invalid_key");
  assert.equal(classOf(200, errorBody(invalidKeyText)), "invalid_key");
  assert.equal(classOf(403, errorBody(invalidKeyText)), "invalid_key");
});

Deno.test("classify - plan-gated and legacy endpoints (402/403) are permanent with a reason", () => {
  const cases: Array<[number, string, string]> = [
    [402, "Premium Query Parameter: This value set for 'symbol' is not available", "premium"],
    [403, "Special Endpoint : This endpoint is not available under your plan", "special"],
    [403, "Exclusive Endpoint : This endpoint is not available", "exclusive"],
    [403, "Legacy Endpoint : Due to Legacy endpoints being no longer supported", "legacy"],
    [403, "Forbidden", "forbidden"],
  ];
  for (const [status, text, word] of cases) {
    const result = classifyResponse(status, errorBody(text));
    assert.equal(result.ok, false, text);
    if (result.ok) continue;
    assert.equal(result.errorClass, "permanent", text);
    assert.match(result.reason, new RegExp(word, "i"));
    assert.match(result.reason, new RegExp(`HTTP ${status}`));
  }
});

Deno.test("classify - 5xx and 408 are transient", () => {
  for (const status of [500, 502, 503, 504, 408]) {
    assert.equal(classOf(status, "<html>Bad Gateway</html>"), "transient", String(status));
  }
});

Deno.test("classify - other 4xx are permanent", () => {
  assert.equal(classOf(404, errorBody("Unknown endpoint")), "permanent");
  assert.equal(classOf(400, errorBody("Invalid or missing query parameter: symbol")), "permanent");
});

Deno.test("classify - malformed JSON on 200 is permanent with a short reason", () => {
  const body = `[{"symbol":"AAPL","price":${"1".repeat(5000)}`;
  const result = classifyResponse(200, body);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.errorClass, "permanent");
  assert.match(result.reason, /^malformed JSON/);
  assert.ok(result.reason.length <= 200, `reason is short (${result.reason.length})`);
  assert.equal(classOf(200, ""), "permanent");
});

Deno.test("classify - an unknown Error Message on 200 is permanent and quotes the text", () => {
  const result = classifyResponse(200, errorBody("Something odd happened"));
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.errorClass, "permanent");
  assert.match(result.reason, /Something odd happened/);
  assert.equal(classOf(200, errorBody("odd", "message")), "permanent");
  assert.equal(classOf(200, errorBody("odd", "error")), "permanent");
  assert.equal(classOf(200, JSON.stringify("just a string")), "permanent");
});

Deno.test("classify - an object without error keys on 200 is data for the schema to judge", () => {
  assert.deepEqual(classifyResponse(200, '{"symbol":"AAPL"}'), {
    ok: true,
    data: { symbol: "AAPL" },
  });
});

Deno.test("classify - long upstream texts are cut in the reason", () => {
  const result = classifyResponse(403, errorBody(`Premium ${"x".repeat(5000)}`));
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.ok(result.reason.length < 300, `reason length ${result.reason.length}`);
});

Deno.test("classify - timeouts and network errors are transient", () => {
  assert.deepEqual(classifyThrown(new DOMException("signal timed out", "TimeoutError")), {
    errorClass: "transient",
    reason: "timeout",
  });
  assert.equal(classifyThrown(new TypeError("error sending request")).errorClass, "transient");
  assert.equal(classifyThrown(new DOMException("aborted", "AbortError")).errorClass, "transient");
  assert.equal(classifyThrown("weird").errorClass, "transient");
});

Deno.test("classify - worstClass: provider states dominate transient, transient dominates permanent", () => {
  assert.equal(worstClass(["permanent", "transient"]), "transient");
  assert.equal(worstClass(["transient", "rate_limited", "permanent"]), "rate_limited");
  assert.equal(worstClass(["rate_limited", "bandwidth"]), "bandwidth");
  assert.equal(worstClass(["bandwidth", "invalid_key", "transient"]), "invalid_key");
  assert.equal(worstClass(["permanent"]), "permanent");
  assert.throws(() => worstClass([]));
});
