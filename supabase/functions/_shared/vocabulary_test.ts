import assert from "node:assert/strict";
import { etagFor, ifNoneMatchHits, rebuildMessage, VOCABULARY_FIELDS } from "./vocabulary.ts";

Deno.test("vocabulary - the ETag of a version is the quoted version", () => {
  assert.equal(etagFor(42), '"42"');
});

Deno.test("vocabulary - If-None-Match with the current ETag hits", () => {
  assert.equal(ifNoneMatchHits('"42"', '"42"'), true);
});

Deno.test("vocabulary - If-None-Match compares weakly and reads lists", () => {
  assert.equal(ifNoneMatchHits('W/"42"', '"42"'), true);
  assert.equal(ifNoneMatchHits('"7", W/"42" , "9"', '"42"'), true);
  assert.equal(ifNoneMatchHits("*", '"42"'), true);
});

Deno.test("vocabulary - another version, a missing or a malformed header misses", () => {
  assert.equal(ifNoneMatchHits('"41"', '"42"'), false);
  assert.equal(ifNoneMatchHits('"420"', '"42"'), false);
  assert.equal(ifNoneMatchHits(null, '"42"'), false);
  assert.equal(ifNoneMatchHits("42", '"42"'), false);
  assert.equal(ifNoneMatchHits("", '"42"'), false);
});

Deno.test("vocabulary - the six fields are the contract's, in order", () => {
  assert.deepEqual([...VOCABULARY_FIELDS], [
    "projects",
    "project_locations",
    "expense_files",
    "cashflow_files",
    "expense_categories",
    "cashflow_categories",
  ]);
});

Deno.test("vocabulary - the rebuild message says whether the vocabulary changed", () => {
  assert.match(rebuildMessage(true), /changed/);
  assert.match(rebuildMessage(false), /unchanged/);
});
