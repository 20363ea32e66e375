// The one place keepfresh calls FMP: GET `${baseUrl}/stable/${path}` with the API key, a
// timeout (10 s by default, 3.5) and a byte cap on the body (5 MB by default), counting the body
// bytes actually read so the bandwidth quota can be reconciled (3.3). No retries here: the
// queue decides what happens next from the error class.
import { classifyThrown, type ErrorClass, shorten } from "./classify.ts";

export type FetchContext = {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  maxBytes: number;
  /** Injected fetch, for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
};

export type FmpResponse = { status: number; bodyText: string; bytes: number };

/** Per-call timeout: one slow upstream call must not eat a processor's wall-clock budget. */
export const defaultTimeoutMs = 10_000;

/** Body cap: far above any single FMP response keepfresh asks for (1,000 statement rows). */
export const defaultMaxBytes = 5 * 1024 * 1024;

/** A call that produced no usable HTTP answer, with its class and the body bytes read. */
export class FmpCallError extends Error {
  constructor(
    readonly errorClass: ErrorClass,
    message: string,
    readonly bytes: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "FmpCallError";
  }
}

/** Endpoint paths are fixed strings in datatypes.ts; this keeps anything else out of the URL. */
const pathPattern = /^[a-z0-9][a-z0-9-]{0,99}$/;

/** Builds the request URL. The key is a query parameter, as FMP documents. */
export function fmpUrl(
  path: string,
  params: Record<string, string | number | undefined>,
  ctx: Pick<FetchContext, "baseUrl" | "apiKey">,
): URL {
  if (!pathPattern.test(path)) throw new Error(`invalid FMP path: ${path}`);
  const url = new URL(`${ctx.baseUrl.replace(/\/+$/, "")}/stable/${path}`);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  url.searchParams.set("apikey", ctx.apiKey);
  return url;
}

/** Removes the API key from text that may quote the URL (network errors do). */
function redact(text: string, apiKey: string): string {
  if (apiKey === "") return text;
  return text.split(apiKey).join("***").split(encodeURIComponent(apiKey)).join("***");
}

/**
 * Calls one FMP endpoint. Resolves with the status, body text and body bytes for ANY HTTP
 * status (classifyResponse decides what it means). Throws FmpCallError when there is no usable
 * answer: timeout or network error (transient), body over ctx.maxBytes (permanent,
 * "oversized body"); its `bytes` counts what was read before the failure.
 */
export async function fetchFmp(
  path: string,
  params: Record<string, string | number | undefined>,
  ctx: FetchContext,
): Promise<FmpResponse> {
  const url = fmpUrl(path, params, ctx);
  const timeoutMs = ctx.timeoutMs > 0 ? ctx.timeoutMs : defaultTimeoutMs;
  const maxBytes = ctx.maxBytes > 0 ? ctx.maxBytes : defaultMaxBytes;
  const signal = AbortSignal.timeout(timeoutMs);
  const failure = (thrown: unknown, bytes: number) => {
    const { errorClass, reason } = classifyThrown(thrown);
    const detail = reason === "timeout" ? `timeout after ${timeoutMs} ms` : reason;
    return new FmpCallError(errorClass, `${path}: ${redact(detail, ctx.apiKey)}`, bytes, {
      cause: thrown,
    });
  };
  const oversized = (bytes: number) =>
    new FmpCallError("permanent", `${path}: oversized body (more than ${maxBytes} bytes)`, bytes);

  let response: Response;
  try {
    response = await (ctx.fetch ?? fetch)(url, {
      signal,
      headers: { accept: "application/json" },
    });
  } catch (thrown) {
    throw failure(thrown, 0);
  }

  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw oversized(0);
  }
  if (response.body === null) return { status: response.status, bodyText: "", bytes: 0 };

  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (bytes > maxBytes) {
        await reader.cancel().catch(() => {});
        throw oversized(bytes);
      }
      chunks.push(value);
    }
  } catch (thrown) {
    if (thrown instanceof FmpCallError) throw thrown;
    await reader.cancel().catch(() => {});
    throw failure(thrown, bytes);
  }

  const body = new Uint8Array(bytes);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { status: response.status, bodyText: new TextDecoder().decode(body), bytes };
}

/** A short, key-free description of any failure, for job error messages. */
export function describeCallFailure(thrown: unknown, apiKey: string): string {
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return shorten(redact(message, apiKey));
}
