import assert from "node:assert/strict";
import { mapWithConcurrency } from "./pool.ts";

Deno.test("pool - never runs more than the limit at once and keeps order", async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapWithConcurrency([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((resolve) => setTimeout(resolve, n));
    inFlight--;
    return n * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30, 0, 60]);
  assert.equal(peak, 3);
});

Deno.test("pool - an empty list resolves at once and a bad limit is refused", async () => {
  assert.deepEqual(await mapWithConcurrency([], 4, () => Promise.resolve(1)), []);
  await assert.rejects(() => mapWithConcurrency([1], 0, () => Promise.resolve(1)), RangeError);
});
