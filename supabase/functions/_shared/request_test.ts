import assert from "node:assert/strict";
import { jsonDepth, readJsonBody } from "./request.ts";

function post(body: BodyInit | null, type = "application/json") {
  return new Request("http://local/x", {
    method: "POST",
    body,
    headers: type ? { "content-type": type } : {},
  });
}

Deno.test("request - a small JSON body is parsed", async () => {
  const result = await readJsonBody(post('{"a":[1,2]}'), { maxBytes: 1024 });
  assert.deepEqual(result, { ok: true, value: { a: [1, 2] } });
});

Deno.test("request - wrong content type is 415, oversize 413, broken JSON 400", async () => {
  const cases: Array<[Request, number]> = [
    [post('{"a":1}', "text/plain"), 415],
    [post("x".repeat(2048)), 413],
    [post("{not json"), 400],
    [post(null), 400],
  ];
  for (const [req, status] of cases) {
    const result = await readJsonBody(req, { maxBytes: 1024 });
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.response.status, status);
  }
});

Deno.test("request - deep JSON is refused before it reaches validation", async () => {
  const deep = "[".repeat(40) + "]".repeat(40);
  const result = await readJsonBody(post(deep), { maxBytes: 1024 });
  assert.equal(result.ok, false);
  if (!result.ok) assert.equal(result.response.status, 400);
  assert.equal(jsonDepth({ a: { b: [1] } }), 3);
});

Deno.test("request - an empty body may be allowed", async () => {
  assert.deepEqual(await readJsonBody(post(null, ""), { maxBytes: 10, allowEmpty: true }), {
    ok: true,
    value: undefined,
  });
});
