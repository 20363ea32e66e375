// Classifies FMP answers into the outcome classes the queue acts on (3.2, 3.3). Pure: no I/O.
//
// FMP signals trouble inconsistently (reference 1.4): a limit hit is a 429 OR any "Limit Reach"
// text, even on HTTP 200; a bad key is a 401 or an "Invalid API KEY" body; plan-gated and
// legacy endpoints answer 402/403. Error texts come under "Error Message", "message" or
// "error", like the SDKs read them. Order matters: "Bandwidth Limit Reach" also contains
// "Limit Reach", so bandwidth is checked first.

export type ErrorClass = "transient" | "permanent" | "rate_limited" | "bandwidth" | "invalid_key";

export type Classified =
  | { ok: true; data: unknown }
  | { ok: false; errorClass: ErrorClass; reason: string };

/** Longest reason kept: enough to recognise the upstream text, short enough for a log line. */
export const maxReasonLength = 200;

const errorKeys = ["Error Message", "message", "error"] as const;

/** Trims and shortens text for a reason. */
export function shorten(text: string, max = maxReasonLength): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** The error text of an FMP error object (`{"Error Message": ...}` and the like), if any. */
export function upstreamErrorText(parsed: unknown): string | null {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  const record = parsed as Record<string, unknown>;
  for (const key of errorKeys) {
    const value = record[key];
    if (typeof value === "string" && value.trim() !== "") return value;
  }
  return null;
}

function parseJson(bodyText: string): { ok: true; value: unknown } | { ok: false; why: string } {
  try {
    return { ok: true, value: JSON.parse(bodyText) };
  } catch (thrown) {
    return { ok: false, why: thrown instanceof Error ? thrown.message : String(thrown) };
  }
}

/** Classes by text alone, for any status; null when the text says nothing we recognise. */
function classifyText(text: string): { errorClass: ErrorClass; reason: string } | null {
  const lower = text.toLowerCase();
  if (lower.includes("bandwidth limit reach")) {
    return { errorClass: "bandwidth", reason: `bandwidth limit reached: ${shorten(text)}` };
  }
  if (lower.includes("limit reach")) {
    return { errorClass: "rate_limited", reason: `rate limit reached: ${shorten(text)}` };
  }
  if (lower.includes("invalid api key")) {
    return { errorClass: "invalid_key", reason: `invalid API key: ${shorten(text)}` };
  }
  return null;
}

const planGatedPatterns: Array<[RegExp, string]> = [
  [/legacy endpoint/i, "legacy endpoint"],
  [/special endpoint/i, "special endpoint"],
  [/exclusive endpoint/i, "exclusive endpoint"],
  [/premium/i, "premium only"],
];

/**
 * Classifies one HTTP answer from FMP. ok carries the parsed JSON; anything else carries an
 * error class and a short reason (never the whole body).
 */
export function classifyResponse(status: number, bodyText: string): Classified {
  const parsed = parseJson(bodyText);
  const errorText = parsed.ok
    ? upstreamErrorText(parsed.value) ?? (typeof parsed.value === "string" ? parsed.value : null)
    : null;
  // Limit and key texts win over the status: FMP sends them on 200 as well as on 4xx.
  const byText = classifyText(errorText ?? (parsed.ok ? "" : bodyText));
  if (byText !== null) return { ok: false, ...byText };
  if (status === 429) {
    return { ok: false, errorClass: "rate_limited", reason: `HTTP 429: ${shorten(bodyText)}` };
  }
  if (status === 401) {
    return { ok: false, errorClass: "invalid_key", reason: `HTTP 401: ${shorten(bodyText)}` };
  }
  if (status === 402 || status === 403) {
    const text = errorText ?? bodyText;
    const kind = planGatedPatterns.find(([pattern]) => pattern.test(text))?.[1] ?? "forbidden";
    return {
      ok: false,
      errorClass: "permanent",
      reason: `HTTP ${status} ${kind}: ${shorten(text)}`,
    };
  }
  // 408 (request timeout) is the upstream's own timeout: worth another try like a 5xx.
  if (status >= 500 || status === 408) {
    return { ok: false, errorClass: "transient", reason: `HTTP ${status}: ${shorten(bodyText)}` };
  }
  if (status < 200 || status >= 300) {
    return {
      ok: false,
      errorClass: "permanent",
      reason: `HTTP ${status}: ${shorten(errorText ?? bodyText)}`,
    };
  }
  if (!parsed.ok) {
    return {
      ok: false,
      errorClass: "permanent",
      reason: `malformed JSON (${shorten(parsed.why, 80)}): ${shorten(bodyText, 80)}`,
    };
  }
  if (errorText !== null) {
    const kind = planGatedPatterns.find(([pattern]) => pattern.test(errorText))?.[1];
    return {
      ok: false,
      errorClass: "permanent",
      reason: `upstream error${kind ? ` (${kind})` : ""}: ${shorten(errorText)}`,
    };
  }
  return { ok: true, data: parsed.value };
}

/** Classifies a failure to get an answer at all: timeouts and network errors are transient. */
export function classifyThrown(thrown: unknown): { errorClass: ErrorClass; reason: string } {
  if (thrown instanceof DOMException && thrown.name === "TimeoutError") {
    return { errorClass: "transient", reason: "timeout" };
  }
  if (thrown instanceof DOMException && thrown.name === "AbortError") {
    return { errorClass: "transient", reason: "aborted" };
  }
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return { errorClass: "transient", reason: `network error: ${shorten(message)}` };
}

const severity: Record<ErrorClass, number> = {
  permanent: 0,
  transient: 1,
  rate_limited: 2,
  bandwidth: 3,
  invalid_key: 4,
};

/**
 * The class that decides a job whose calls failed differently: provider-wide states
 * (invalid_key, bandwidth, rate_limited) pause every job, so they dominate; a transient failure
 * dominates a permanent one, because retrying may still succeed.
 */
export function worstClass(classes: ErrorClass[]): ErrorClass {
  if (classes.length === 0) throw new Error("worstClass needs at least one class");
  return classes.reduce((worst, next) => severity[next] > severity[worst] ? next : worst);
}
