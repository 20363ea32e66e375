// Error handling shared by every function: unknown throwables become Error with a cause,
// SQLSTATE and driver codes map to HTTP status in ONE place, the client gets a stable message
// and the cause goes to the log, never into the response.

/** Turns anything thrown into an Error, keeping the original as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === "string") return new Error(thrown);
  return new Error("non-error thrown", { cause: thrown });
}

/** The SQLSTATE of a postgres.js error, or a driver code such as CONNECT_TIMEOUT. */
export function errorCode(thrown: unknown): string | undefined {
  if (typeof thrown !== "object" || thrown === null) return undefined;
  const code = (thrown as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

const unavailableDriverCodes = new Set([
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
]);

/** True when the database could not be reached or is shutting down (retry later). */
export function isDatabaseUnavailable(thrown: unknown): boolean {
  const code = errorCode(thrown);
  if (code === undefined) return false;
  return unavailableDriverCodes.has(code) || code.startsWith("08") || code.startsWith("57P") ||
    code.startsWith("53");
}

/** True for errors a retry of the same transaction can cure (serialization, deadlock). */
export function isRetryableTransactionError(thrown: unknown): boolean {
  const code = errorCode(thrown);
  return code === "40001" || code === "40P01";
}

/** Maps an error to the HTTP status a client should see. */
export function httpStatusFor(thrown: unknown): number {
  const code = errorCode(thrown);
  if (code === undefined) return 500;
  if (isDatabaseUnavailable(thrown) || isRetryableTransactionError(thrown)) return 503;
  if (code === "57014") return 503; // statement timeout
  if (code === "42501") return 403; // insufficient privilege
  if (code === "P0002") return 404; // no data found
  if (code.startsWith("22") || code.startsWith("23")) return 400; // bad data, constraint
  return 500;
}

const stableMessages: Record<number, string> = {
  400: "invalid request",
  403: "forbidden",
  404: "not found",
  500: "internal error",
  503: "service temporarily unavailable",
};

/** The message a client sees for a status: never the cause, never a stack trace. */
export function stableMessage(status: number): string {
  return stableMessages[status] ?? "internal error";
}

/** Logs the cause with context and returns the status and stable message for the client. */
export function describeFailure(
  thrown: unknown,
  context: string,
): { status: number; message: string } {
  const error = coerceError(thrown);
  const status = httpStatusFor(thrown);
  console.error(
    JSON.stringify({
      level: "error",
      context,
      status,
      code: errorCode(thrown),
      message: error.message,
    }),
  );
  return { status, message: stableMessage(status) };
}
