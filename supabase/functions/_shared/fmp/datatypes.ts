// The one switch (3.5): routes a queue job's data type to the fetcher that fills its target
// table. Each handler makes all the upstream calls its type needs (financial statements: 3,
// revenue segmentation: 2, everything else: 1), classifies every answer, validates it with
// the type's zod schema and returns rows keyed by target table, or `empty` when FMP answered
// `[]`, or one error whose class is the worst of the failed calls. Handlers never write:
// write.ts does, in the processor's transaction.
import type { z } from "zod";
import { classifyResponse, type ErrorClass, shorten, worstClass } from "./classify.ts";
import { type FetchContext, fetchFmp, FmpCallError } from "./client.ts";
import {
  availableExchangesResponse,
  dividendsResponse,
  exchangeMarketHoursResponse,
  exchangeVariantsResponse,
  gradesHistoricalResponse,
  profileResponse,
  quoteResponse,
  ratiosTtmResponse,
  segmentationResponse,
  sharesFloatResponse,
  statementResponse,
  symbolPattern,
  validate,
} from "./schemas.ts";
import { type TableSpec, targetTables } from "./tables.ts";

export type { ErrorClass } from "./classify.ts";
export type { FetchContext } from "./client.ts";

export type QueueJob = {
  id: number;
  data_type: string;
  key: string | null;
  params: Record<string, unknown>;
  attempts: number;
  lease_token: string;
};

export type FetchOutcome =
  | {
    kind: "data";
    /** Rows keyed by target table, e.g. "public.fmp_quote". */
    rows: Record<string, Record<string, unknown>[]>;
    /** The newest upstream timestamp among the rows, when the type has one. */
    sourceTimestamp: Date | null;
    bytes: number;
    calls: number;
  }
  /** FMP answered `[]` to every call: normal for dividends, grades and segments. */
  | { kind: "empty"; bytes: number; calls: number }
  | { kind: "error"; errorClass: ErrorClass; message: string; bytes: number; calls: number };

export interface DataTypeHandler {
  dataType: string;
  fetch(job: QueueJob, ctx: FetchContext): Promise<FetchOutcome>;
}

/** The data types handlerFor knows: the built-in FMP types of the registry seed. */
export const knownDataTypes = [
  "quote",
  "profile",
  "financial-statements",
  "ratios-ttm",
  "dividend-history",
  "shares-float",
  "revenue-segmentation",
  "grades-historical",
  "exchange-variants",
  "available-exchanges",
  "exchange-market-status",
] as const;

type Row = Record<string, unknown>;

/** One upstream request and how to read its answer. */
type Call = {
  path: string;
  params: Record<string, string | number | undefined>;
  schema: z.ZodType<Row[]>;
  table: TableSpec;
  /** Rows must carry this symbol (the job key); null for exchange-wide answers. */
  symbol: string | null;
};

type CallResult =
  | { ok: true; rows: Row[]; table: TableSpec; bytes: number; made: boolean }
  | { ok: false; errorClass: ErrorClass; message: string; bytes: number; made: boolean };

/** Makes one call: fetch, classify, validate, check the symbol. Never throws. */
async function runCall(call: Call, ctx: FetchContext): Promise<CallResult> {
  let response;
  try {
    response = await fetchFmp(call.path, call.params, ctx);
  } catch (thrown) {
    if (thrown instanceof FmpCallError) {
      return {
        ok: false,
        errorClass: thrown.errorClass,
        message: thrown.message,
        bytes: thrown.bytes,
        made: true,
      };
    }
    const reason = thrown instanceof Error ? thrown.message : String(thrown);
    return {
      ok: false,
      errorClass: "transient",
      message: `${call.path}: ${shorten(reason)}`,
      bytes: 0,
      made: false,
    };
  }
  const fail = (errorClass: ErrorClass, reason: string): CallResult => ({
    ok: false,
    errorClass,
    message: `${call.path}: ${reason}`,
    bytes: response.bytes,
    made: true,
  });
  const classified = classifyResponse(response.status, response.bodyText);
  if (!classified.ok) return fail(classified.errorClass, classified.reason);
  const validated = validate(call.schema, classified.data, call.path);
  if (!validated.ok) return fail("permanent", validated.message);
  if (call.symbol !== null) {
    const foreign = validated.rows.find((row) => row.symbol !== call.symbol);
    if (foreign !== undefined) {
      return fail(
        "permanent",
        `answer is for symbol ${String(foreign.symbol)}, asked for ${call.symbol}`,
      );
    }
  }
  return { ok: true, rows: validated.rows, table: call.table, bytes: response.bytes, made: true };
}

function newestTimestamp(rows: Row[]): Date | null {
  let newest: Date | null = null;
  for (const row of rows) {
    const value = row.source_timestamp;
    if (value instanceof Date && (newest === null || value > newest)) newest = value;
  }
  return newest;
}

/** Makes every call of a job (concurrently) and folds the answers into one outcome. */
export async function runCalls(calls: Call[], ctx: FetchContext): Promise<FetchOutcome> {
  const results = await Promise.all(calls.map((call) => runCall(call, ctx)));
  const bytes = results.reduce((sum, result) => sum + result.bytes, 0);
  const made = results.filter((result) => result.made).length;
  const failures = results.filter((result) => !result.ok);
  if (failures.length > 0) {
    return {
      kind: "error",
      errorClass: worstClass(failures.map((failure) => failure.errorClass)),
      message: failures.map((failure) => failure.message).join("; "),
      bytes,
      calls: made,
    };
  }
  const rows: Record<string, Row[]> = {};
  const all: Row[] = [];
  for (const result of results) {
    if (!result.ok || result.rows.length === 0) continue;
    (rows[result.table.name] ??= []).push(...result.rows);
    all.push(...result.rows);
  }
  if (all.length === 0) return { kind: "empty", bytes, calls: made };
  return { kind: "data", rows, sourceTimestamp: newestTimestamp(all), bytes, calls: made };
}

function invalid(message: string): FetchOutcome {
  return { kind: "error", errorClass: "permanent", message, bytes: 0, calls: 0 };
}

/** The job key as a symbol, or an error message. */
function symbolKey(job: QueueJob): string | { error: string } {
  if (typeof job.key !== "string" || !symbolPattern.test(job.key)) {
    return { error: `invalid symbol key ${JSON.stringify(job.key)} for ${job.data_type}` };
  }
  return job.key;
}

/** Statement and segmentation periods FMP's /stable API accepts. */
const periods = new Set(["annual", "quarter", "FY", "Q1", "Q2", "Q3", "Q4"]);

/** FMP returns at most 1,000 rows per request (statements, dividends, grades). */
const maxLimit = 1000;

type JobParams = { period?: string; limit?: number };

/** Reads the optional `period` and `limit` job params, or says what is wrong with them. */
function jobParams(job: QueueJob, allowed: { period: boolean; limit: boolean }): JobParams | {
  error: string;
} {
  const params = job.params ?? {};
  const out: JobParams = {};
  if (params.period !== undefined && params.period !== null) {
    if (!allowed.period || typeof params.period !== "string" || !periods.has(params.period)) {
      return { error: `invalid period ${JSON.stringify(params.period)} for ${job.data_type}` };
    }
    out.period = params.period;
  }
  if (params.limit !== undefined && params.limit !== null) {
    const limit = params.limit;
    if (
      !allowed.limit || typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 ||
      limit > maxLimit
    ) {
      return { error: `invalid limit ${JSON.stringify(limit)} for ${job.data_type}` };
    }
    out.limit = limit;
  }
  return out;
}

/** A handler for a symbol-keyed type: validates key and params, then runs the planned calls. */
function symbolHandler(
  dataType: string,
  allowed: { period: boolean; limit: boolean },
  plan: (symbol: string, params: JobParams) => Call[],
): DataTypeHandler {
  return {
    dataType,
    fetch(job, ctx) {
      const symbol = symbolKey(job);
      if (typeof symbol !== "string") return Promise.resolve(invalid(symbol.error));
      const params = jobParams(job, allowed);
      if ("error" in params) return Promise.resolve(invalid(params.error));
      return runCalls(plan(symbol, params), ctx);
    },
  };
}

/** A handler for a type without a key (exchange-wide reference data). */
function keylessHandler(dataType: string, call: Call): DataTypeHandler {
  return {
    dataType,
    fetch(job, ctx) {
      if (job.key !== null) {
        return Promise.resolve(invalid(`${dataType} takes no key, got ${JSON.stringify(job.key)}`));
      }
      return runCalls([call], ctx);
    },
  };
}

const noParams = { period: false, limit: false };

/**
 * The fetcher of a data type. Throws for a type without one: the registry may name types a
 * deployment added without a fetcher, and the processor fails such jobs with this message.
 */
export function handlerFor(dataType: string): DataTypeHandler {
  switch (dataType) {
    case "quote":
      return symbolHandler(dataType, noParams, (symbol) => [{
        path: "quote",
        params: { symbol },
        schema: quoteResponse,
        table: targetTables.quote,
        symbol,
      }]);
    case "profile":
      return symbolHandler(dataType, noParams, (symbol) => [{
        path: "profile",
        params: { symbol },
        schema: profileResponse,
        table: targetTables.profile,
        symbol,
      }]);
    case "financial-statements":
      return symbolHandler(dataType, { period: true, limit: true }, (symbol, params) =>
        ([
          ["income-statement", "income"],
          ["balance-sheet-statement", "balance"],
          ["cash-flow-statement", "cash_flow"],
        ] as const).map(([path, statement]) => ({
          path,
          params: { symbol, period: params.period, limit: params.limit },
          schema: statementResponse(statement),
          table: targetTables.financialStatement,
          symbol,
        })));
    case "ratios-ttm":
      return symbolHandler(dataType, noParams, (symbol) => [{
        path: "ratios-ttm",
        params: { symbol },
        schema: ratiosTtmResponse,
        table: targetTables.ratiosTtm,
        symbol,
      }]);
    case "dividend-history":
      return symbolHandler(dataType, { period: false, limit: true }, (symbol, params) => [{
        path: "dividends",
        params: { symbol, limit: params.limit },
        schema: dividendsResponse,
        table: targetTables.dividend,
        symbol,
      }]);
    case "shares-float":
      return symbolHandler(dataType, noParams, (symbol) => [{
        path: "shares-float",
        params: { symbol },
        schema: sharesFloatResponse,
        table: targetTables.sharesFloat,
        symbol,
      }]);
    case "revenue-segmentation":
      return symbolHandler(dataType, { period: true, limit: false }, (symbol, params) =>
        ([
          ["revenue-product-segmentation", "product"],
          ["revenue-geographic-segmentation", "geographic"],
        ] as const).map(([path, kind]) => ({
          path,
          params: { symbol, period: params.period, structure: "flat" },
          schema: segmentationResponse(kind),
          table: targetTables.revenueSegmentation,
          symbol,
        })));
    case "grades-historical":
      return symbolHandler(dataType, { period: false, limit: true }, (symbol, params) => [{
        path: "grades-historical",
        params: { symbol, limit: params.limit },
        schema: gradesHistoricalResponse,
        table: targetTables.gradesHistorical,
        symbol,
      }]);
    case "exchange-variants":
      return symbolHandler(dataType, noParams, (symbol) => [{
        path: "search-exchange-variants",
        params: { symbol },
        schema: exchangeVariantsResponse(symbol),
        table: targetTables.exchangeVariant,
        symbol,
      }]);
    case "available-exchanges":
      return keylessHandler(dataType, {
        path: "available-exchanges",
        params: {},
        schema: availableExchangesResponse,
        table: targetTables.availableExchange,
        symbol: null,
      });
    case "exchange-market-status":
      return keylessHandler(dataType, {
        path: "all-exchange-market-hours",
        params: {},
        schema: exchangeMarketHoursResponse,
        table: targetTables.exchangeMarketStatus,
        symbol: null,
      });
    default:
      throw new Error(
        `no fetcher for data type ${JSON.stringify(dataType)}: known types are ${
          knownDataTypes.join(", ")
        }`,
      );
  }
}

/** Most symbols one batch-quote request asks for: keeps the URL well under common limits. */
export const maxBatchSymbols = 100;

/**
 * Quotes for many symbols in ONE call (/stable/batch-quote): a cheaper path for later use.
 * Symbols FMP does not know are simply missing from the rows; all unknown gives `empty`.
 */
export function fetchQuotesBatch(symbols: string[], ctx: FetchContext): Promise<FetchOutcome> {
  const unique = [...new Set(symbols)];
  if (unique.length === 0) return Promise.resolve(invalid("batch quote needs at least one symbol"));
  if (unique.length > maxBatchSymbols) {
    return Promise.resolve(
      invalid(`batch quote takes at most ${maxBatchSymbols} symbols, got ${unique.length}`),
    );
  }
  const bad = unique.find((symbol) => !symbolPattern.test(symbol));
  if (bad !== undefined) return Promise.resolve(invalid(`invalid symbol ${JSON.stringify(bad)}`));
  const wanted = new Set(unique);
  const batchSchema = quoteResponse.refine(
    (rows) => rows.every((row) => wanted.has(row.symbol)),
    { message: "answer contains a symbol that was not asked for" },
  );
  return runCalls([{
    path: "batch-quote",
    params: { symbols: unique.join(",") },
    schema: batchSchema,
    table: targetTables.quote,
    symbol: null,
  }], ctx);
}
