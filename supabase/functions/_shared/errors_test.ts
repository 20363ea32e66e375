import assert from "node:assert/strict";
import {
  coerceError,
  httpStatusFor,
  isDatabaseUnavailable,
  isRetryableTransactionError,
  stableMessage,
} from "./errors.ts";

Deno.test("errors - coerceError keeps an Error and wraps anything else with its cause", () => {
  const original = new Error("boom");
  assert.equal(coerceError(original), original);
  assert.equal(coerceError("text").message, "text");
  const wrapped = coerceError({ odd: true });
  assert.deepEqual(wrapped.cause, { odd: true });
});

Deno.test("errors - SQLSTATE classes map to HTTP status in one place", () => {
  const cases: Array<[string | undefined, number]> = [
    ["23505", 400],
    ["23514", 400],
    ["22P02", 400],
    ["42501", 403],
    ["P0002", 404],
    ["40001", 503],
    ["40P01", 503],
    ["57014", 503],
    ["57P01", 503],
    ["08006", 503],
    ["53300", 503],
    ["CONNECT_TIMEOUT", 503],
    ["ECONNREFUSED", 503],
    ["XX000", 500],
    [undefined, 500],
  ];
  for (const [code, status] of cases) {
    assert.equal(httpStatusFor(code === undefined ? new Error("x") : { code }), status, `${code}`);
  }
});

Deno.test("errors - unavailable and retryable are told apart", () => {
  assert.equal(isDatabaseUnavailable({ code: "ECONNREFUSED" }), true);
  assert.equal(isDatabaseUnavailable({ code: "23505" }), false);
  assert.equal(isRetryableTransactionError({ code: "40001" }), true);
  assert.equal(isRetryableTransactionError({ code: "08006" }), false);
});

Deno.test("errors - stable messages never leak details", () => {
  assert.equal(stableMessage(500), "internal error");
  assert.equal(stableMessage(418), "internal error");
  assert.equal(stableMessage(503), "service temporarily unavailable");
});
