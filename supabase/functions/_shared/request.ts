// Reading request bodies safely: JSON only, size-capped before parsing, depth-limited.
import { jsonError } from "./http.ts";

export type BodyResult = { ok: true; value: unknown } | { ok: false; response: Response };

/** Deepest nesting of arrays/objects in a parsed JSON value. */
export function jsonDepth(value: unknown, limit = 64): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** Reads a JSON body: 415 for another content type, 413 over maxBytes, 400 for bad or deep JSON. */
export async function readJsonBody(
  req: Request,
  options: { maxBytes: number; allowEmpty?: boolean; maxDepth?: number },
): Promise<BodyResult> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > options.maxBytes) {
    await req.body?.cancel();
    return { ok: false, response: jsonError(413, "request body too large") };
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > options.maxBytes) {
        await reader.cancel();
        return { ok: false, response: jsonError(413, "request body too large") };
      }
      chunks.push(value);
    }
  }
  if (size === 0) {
    if (options.allowEmpty) return { ok: true, value: undefined };
    return { ok: false, response: jsonError(400, "request body required") };
  }
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    return { ok: false, response: jsonError(415, "content-type must be application/json") };
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, response: jsonError(400, "request body is not valid JSON") };
  }
  if (jsonDepth(value, options.maxDepth ?? 16) > (options.maxDepth ?? 16)) {
    return { ok: false, response: jsonError(400, "request body is nested too deeply") };
  }
  return { ok: true, value };
}
