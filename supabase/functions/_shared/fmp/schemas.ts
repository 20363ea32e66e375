// zod schemas for every FMP /stable response keepfresh stores. Pure: no I/O.
//
// Each schema validates shape and sanity (finite numbers, non-negative prices and volumes,
// real calendar dates, years within 1900..next year) and normalises FMP's drift
// (reference 1.2) into rows whose keys are exactly the target table's columns (tables.ts):
//   * key casing drifts (`analystRatingsbuy`): keys are matched case-insensitively;
//   * legacy names (`mktCap`, `volAvg`, `lastDiv`, `changes`, `exchangeShortName`, as exchange
//     variants still send them) map to the profile's names;
//   * fiscalYear arrives as a string or an integer; numbers sometimes arrive as strings;
//   * `""` dates and texts become null; `fullTimeEmployees` is a string;
//   * quote `timestamp` is unix seconds.
// A payload that fails validation yields an error message listing the zod issues (truncated);
// the caller writes nothing for that job.
import { z } from "zod";
import { shorten } from "./classify.ts";
import { symbolPattern } from "../identifiers.ts";

export { symbolPattern };

/** Earliest year any FMP date may carry; older dates are garbage, not history. */
export const minYear = 1900;

/** Latest plausible year: next year (fiscal years and declared dividends run ahead). */
export function maxYear(now: Date = new Date()): number {
  return now.getUTCFullYear() + 1;
}

/** Longest validation message kept: the first issues are what a person needs. */
export const maxIssuesLength = 1000;

type Row = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" &&
    value.trim() === "");
}

const numericText = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

// Field schemas built on z.unknown() are marked optional() before their transform: without it
// zod v4 reports a missing key as "expected nonoptional" instead of handing the transform
// undefined (which it turns into null).

// ---------------------------------------------------------------------------------------------
// Field schemas

/** A finite number or null; numeric strings are accepted, blanks become null. */
const num = z.preprocess((value) => {
  if (isBlank(value)) return null;
  if (typeof value === "string" && numericText.test(value.trim())) return Number(value.trim());
  return value;
}, z.number().nullable());

/** Like num, but never negative (prices, market caps, amounts). */
const nonNegative = num.refine((value) => value === null || value >= 0, {
  message: "must not be negative",
});

/** A number that may be absent: an absent key stays absent (it is not a null line item). */
const optionalNum = num.optional();

/** A required non-negative number. */
const requiredNonNegative = nonNegative.pipe(z.number());

/** A non-negative whole count (volumes, ratings); fractional input is rounded. */
const count = nonNegative
  .transform((value) => value === null ? null : Math.round(value))
  .refine((value) => value === null || Number.isSafeInteger(value), {
    message: "must be a safe integer",
  });

/** Free text: trimmed, blank becomes null, numbers become text. */
function text(max = 500) {
  return z.preprocess((value) => {
    if (isBlank(value)) return null;
    if (typeof value === "number" && Number.isFinite(value)) return String(value);
    return typeof value === "string" ? value.trim() : value;
  }, z.string().max(max).nullable());
}

/** A boolean; "true"/"false" and 0/1 are accepted, blanks become null. */
const bool = z.preprocess((value) => {
  if (isBlank(value)) return null;
  if (value === "true" || value === 1) return true;
  if (value === "false" || value === 0) return false;
  return value;
}, z.boolean().nullable());

/** A ticker: trimmed, upper-cased, then checked against symbolPattern. */
const symbol = z.preprocess(
  (value) => typeof value === "string" ? value.trim().toUpperCase() : value,
  z.string().regex(symbolPattern, { message: "not a valid symbol" }),
);

function checkYear(year: number, ctx: z.RefinementCtx): boolean {
  if (year < minYear || year > maxYear()) {
    ctx.addIssue({ code: "custom", message: `year ${year} outside ${minYear}..${maxYear()}` });
    return false;
  }
  return true;
}

const datePattern = /^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])/;

/** A calendar date as YYYY-MM-DD (a time part is dropped); blank becomes null. */
const dateOnly = z.unknown().optional().transform((value, ctx): string | null => {
  if (isBlank(value)) return null;
  const match = typeof value === "string" ? datePattern.exec(value.trim()) : null;
  if (match === null) {
    ctx.addIssue({ code: "custom", message: `not a date: ${shorten(String(value), 40)}` });
    return z.NEVER;
  }
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const parsed = new Date(Date.UTC(year, month - 1, day));
  if (parsed.getUTCMonth() !== month - 1 || parsed.getUTCDate() !== day) {
    ctx.addIssue({ code: "custom", message: `not a calendar date: ${match[0].trim()}` });
    return z.NEVER;
  }
  if (!checkYear(year, ctx)) return z.NEVER;
  return `${match[1]}-${match[2]}-${match[3]}`;
});

/** A required calendar date. */
const requiredDate = dateOnly.pipe(z.string({ error: "date is required" }));

const dateTimePattern =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A point in time from "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS" or ISO 8601; blank becomes null.
 * FMP sends filing times without a zone: they are read as UTC.
 */
const dateTime = z.unknown().optional().transform((value, ctx): Date | null => {
  if (isBlank(value)) return null;
  const match = typeof value === "string" ? dateTimePattern.exec(value.trim()) : null;
  if (match === null) {
    ctx.addIssue({ code: "custom", message: `not a date-time: ${shorten(String(value), 40)}` });
    return z.NEVER;
  }
  const [, y, mo, d, h = "00", mi = "00", s = "00", zone] = match;
  const zoneText = zone === undefined || zone === "Z"
    ? "Z"
    : zone.length === 5
    ? `${zone.slice(0, 3)}:${zone.slice(3)}`
    : zone;
  const parsed = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}${zoneText}`);
  if (Number.isNaN(parsed.getTime()) || Number(mo) > 12 || Number(d) > 31) {
    ctx.addIssue({ code: "custom", message: `not a date-time: ${shorten(String(value), 40)}` });
    return z.NEVER;
  }
  if (!checkYear(parsed.getUTCFullYear(), ctx)) return z.NEVER;
  return parsed;
});

/** Unix seconds (milliseconds are recognised by size) as a Date; blank becomes null. */
const unixTime = num.transform((value, ctx): Date | null => {
  if (value === null) return null;
  // Seconds reach 1e11 only in the year 5138; anything that large is milliseconds.
  const parsed = new Date(value > 1e11 ? value : value * 1000);
  if (Number.isNaN(parsed.getTime())) {
    ctx.addIssue({ code: "custom", message: `not a unix time: ${value}` });
    return z.NEVER;
  }
  if (!checkYear(parsed.getUTCFullYear(), ctx)) return z.NEVER;
  return parsed;
});

/** A fiscal year from a string ("2025") or an integer (2025); blank becomes null. */
const fiscalYear = num.transform((value, ctx): number | null => {
  if (value === null) return null;
  if (!Number.isInteger(value)) {
    ctx.addIssue({ code: "custom", message: `fiscal year is not a whole number: ${value}` });
    return z.NEVER;
  }
  if (!checkYear(value, ctx)) return z.NEVER;
  return value;
});

/** FMP's period: FY or Q1..Q4 (case-insensitive). */
const period = z.preprocess(
  (value) => typeof value === "string" ? value.trim().toUpperCase() : value,
  z.enum(["FY", "Q1", "Q2", "Q3", "Q4"]),
);

/** Largest employee count kept: above the int4 column and any real company. */
const maxEmployees = 100_000_000;

/** fullTimeEmployees: a string ("164,000") or a number; anything unreadable becomes null. */
const employees = z.unknown().optional().transform((value): number | null => {
  let parsed: number | null = null;
  if (typeof value === "number") parsed = value;
  if (typeof value === "string") {
    const digits = value.replace(/[,\s_]/g, "");
    if (/^\d+(\.\d+)?$/.test(digits)) parsed = Number(digits);
  }
  if (parsed === null || !Number.isFinite(parsed) || parsed < 0 || parsed > maxEmployees) {
    return null;
  }
  return Math.round(parsed);
});

/** A JSON object of line items: string keys, finite numbers, texts, booleans or nulls. */
const lineItems = z.record(
  z.string().max(200),
  z.union([z.number(), z.string().max(2000), z.boolean(), z.null()]),
);

// ---------------------------------------------------------------------------------------------
// Case-insensitive objects

/**
 * Renames keys to the schema's spelling, case-insensitively, then legacy aliases. An exactly
 * spelled key wins over a drifted duplicate, and a canonical name wins over its alias. Keys
 * the schema does not know are kept under their own names.
 */
export function canonicaliseKeys(
  input: unknown,
  keys: readonly string[],
  aliases: Readonly<Record<string, string>> = {},
): unknown {
  if (!isRecord(input)) return input;
  const canonical = new Map(keys.map((key) => [key.toLowerCase(), key]));
  const aliased = new Map(
    Object.entries(aliases).map(([alias, key]) => [alias.toLowerCase(), key]),
  );
  const entries = Object.entries(input);
  const out: Row = {};
  for (const [key, value] of entries) {
    if (canonical.get(key.toLowerCase()) === key) out[key] = value;
  }
  for (const [key, value] of entries) {
    const name = canonical.get(key.toLowerCase());
    if (name !== undefined && !(name in out)) out[name] = value;
  }
  for (const [key, value] of entries) {
    const name = aliased.get(key.toLowerCase());
    if (name !== undefined && !(name in out)) out[name] = value;
  }
  for (const [key, value] of entries) {
    const lower = key.toLowerCase();
    if (!canonical.has(lower) && !aliased.has(lower) && !(key in out)) out[key] = value;
  }
  return out;
}

function ciObject<S extends z.ZodRawShape>(shape: S, aliases: Record<string, string> = {}) {
  const keys = Object.keys(shape);
  return z.preprocess((input) => canonicaliseKeys(input, keys, aliases), z.object(shape));
}

function ciLooseObject<S extends z.ZodRawShape>(shape: S, aliases: Record<string, string> = {}) {
  const keys = Object.keys(shape);
  return z.preprocess((input) => canonicaliseKeys(input, keys, aliases), z.looseObject(shape));
}

/** Re-reports issues of the line items under the path data. */
function addDataIssues(ctx: z.RefinementCtx, issues: z.core.$ZodIssue[]): void {
  for (const issue of issues) {
    ctx.addIssue({ code: "custom", message: issue.message, path: ["data", ...issue.path] });
  }
}

/** The remaining keys of a loose object once the named ones are taken out. */
function rest(input: Row, taken: readonly string[]): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(input)) {
    if (!taken.includes(key)) out[key] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Quote: /stable/quote, /stable/batch-quote

const quoteRow = ciObject({
  symbol,
  name: text(),
  price: requiredNonNegative,
  change: num,
  changePercentage: num,
  volume: count,
  dayLow: nonNegative,
  dayHigh: nonNegative,
  yearLow: nonNegative,
  yearHigh: nonNegative,
  marketCap: nonNegative,
  priceAvg50: nonNegative,
  priceAvg200: nonNegative,
  exchange: text(64),
  open: nonNegative,
  previousClose: nonNegative,
  timestamp: unixTime,
}, { changesPercentage: "changePercentage" }).transform((q) => ({
  symbol: q.symbol,
  name: q.name,
  price: q.price,
  change: q.change,
  change_percentage: q.changePercentage,
  volume: q.volume,
  day_low: q.dayLow,
  day_high: q.dayHigh,
  year_low: q.yearLow,
  year_high: q.yearHigh,
  market_cap: q.marketCap,
  price_avg_50: q.priceAvg50,
  price_avg_200: q.priceAvg200,
  exchange: q.exchange,
  open: q.open,
  previous_close: q.previousClose,
  source_timestamp: q.timestamp,
}));

export const quoteResponse = z.array(quoteRow);

// ---------------------------------------------------------------------------------------------
// Profile: /stable/profile; exchange variants share its row shape

const profileShape = {
  symbol,
  companyName: text(),
  price: nonNegative,
  marketCap: nonNegative,
  beta: num,
  lastDividend: num,
  range: text(64),
  change: num,
  changePercentage: num,
  volume: count,
  averageVolume: count,
  currency: text(16),
  cik: text(32),
  isin: text(32),
  cusip: text(32),
  exchangeFullName: text(),
  exchange: text(),
  exchangeShortName: text(64),
  industry: text(),
  sector: text(),
  country: text(64),
  description: text(20_000),
  ceo: text(),
  website: text(1000),
  phone: text(64),
  address: text(),
  city: text(),
  state: text(),
  zip: text(32),
  image: text(1000),
  ipoDate: dateOnly,
  fullTimeEmployees: employees,
  defaultImage: bool,
  isEtf: bool,
  isActivelyTrading: bool,
  isAdr: bool,
  isFund: bool,
};

/** Legacy (v3) profile names, still sent by /stable/search-exchange-variants. */
const profileAliases = {
  mktCap: "marketCap",
  volAvg: "averageVolume",
  lastDiv: "lastDividend",
  changes: "change",
  changesPercentage: "changePercentage",
};

type ProfileInput = z.output<z.ZodObject<typeof profileShape>>;

/** The profile row without its key, shared by profiles and exchange variants. */
function profileColumns(p: ProfileInput) {
  // Legacy rows put the full name in `exchange` and the code in `exchangeShortName`.
  const legacy = p.exchangeShortName !== null;
  return {
    company_name: p.companyName,
    price: p.price,
    market_cap: p.marketCap,
    beta: p.beta,
    last_dividend: p.lastDividend,
    range: p.range,
    change: p.change,
    change_percentage: p.changePercentage,
    volume: p.volume,
    average_volume: p.averageVolume,
    currency: p.currency,
    cik: p.cik,
    isin: p.isin,
    cusip: p.cusip,
    exchange_full_name: p.exchangeFullName ?? (legacy ? p.exchange : null),
    exchange: legacy ? p.exchangeShortName : p.exchange,
    industry: p.industry,
    sector: p.sector,
    country: p.country,
    description: p.description,
    ceo: p.ceo,
    website: p.website,
    phone: p.phone,
    address: p.address,
    city: p.city,
    state: p.state,
    zip: p.zip,
    image: p.image,
    ipo_date: p.ipoDate,
    full_time_employees: p.fullTimeEmployees,
    default_image: p.defaultImage,
    is_etf: p.isEtf,
    is_actively_trading: p.isActivelyTrading,
    is_adr: p.isAdr,
    is_fund: p.isFund,
  };
}

const profileInput = ciObject(profileShape, profileAliases);

export const profileResponse = z.array(
  profileInput.transform((p) => ({
    symbol: p.symbol,
    ...profileColumns(p),
    source_timestamp: null,
  })),
);

/** /stable/search-exchange-variants for `lookedUp`: one row per listing, keyed by both symbols. */
export function exchangeVariantsResponse(lookedUp: string) {
  return z.array(
    profileInput.transform((p) => ({
      symbol: lookedUp,
      variant_symbol: p.symbol,
      ...profileColumns(p),
      source_timestamp: null,
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// Financial statements: /stable/income-statement, balance-sheet-statement, cash-flow-statement

export type StatementKind = "income" | "balance" | "cash_flow";

const statementHeader = {
  symbol,
  date: requiredDate,
  period,
  fiscalYear,
  reportedCurrency: text(16),
  cik: text(32),
  filingDate: dateOnly,
  acceptedDate: dateTime,
};

/** Line items that also get a typed column (the ones apps list and sort by). */
const statementTyped = {
  revenue: optionalNum,
  grossProfit: optionalNum,
  operatingIncome: optionalNum,
  netIncome: optionalNum,
  eps: optionalNum,
  epsDiluted: optionalNum,
  totalAssets: optionalNum,
  totalLiabilities: optionalNum,
  totalStockholdersEquity: optionalNum,
  totalDebt: optionalNum,
  cashAndCashEquivalents: optionalNum,
  operatingCashFlow: optionalNum,
  capitalExpenditure: optionalNum,
  freeCashFlow: optionalNum,
};

const statementHeaderKeys = Object.keys(statementHeader);

/** One statement endpoint's response, rows tagged with their statement kind. */
export function statementResponse(statement: StatementKind) {
  return z.array(
    ciLooseObject({ ...statementHeader, ...statementTyped }, {
      netCashProvidedByOperatingActivities: "operatingCashFlow",
    }).transform((s, ctx) => {
      const items = lineItems.safeParse(rest(s, statementHeaderKeys));
      if (!items.success) {
        addDataIssues(ctx, items.error.issues);
        return z.NEVER;
      }
      return {
        symbol: s.symbol,
        statement,
        period: s.period,
        date: s.date,
        fiscal_year: s.fiscalYear,
        reported_currency: s.reportedCurrency,
        cik: s.cik,
        filing_date: s.filingDate,
        accepted_date: s.acceptedDate,
        revenue: s.revenue ?? null,
        gross_profit: s.grossProfit ?? null,
        operating_income: s.operatingIncome ?? null,
        net_income: s.netIncome ?? null,
        eps: s.eps ?? null,
        eps_diluted: s.epsDiluted ?? null,
        total_assets: s.totalAssets ?? null,
        total_liabilities: s.totalLiabilities ?? null,
        total_stockholders_equity: s.totalStockholdersEquity ?? null,
        total_debt: s.totalDebt ?? null,
        cash_and_cash_equivalents: s.cashAndCashEquivalents ?? null,
        operating_cash_flow: s.operatingCashFlow ?? null,
        capital_expenditure: s.capitalExpenditure ?? null,
        free_cash_flow: s.freeCashFlow ?? null,
        data: items.data,
        source_timestamp: s.acceptedDate ??
          (s.filingDate === null ? null : new Date(`${s.filingDate}T00:00:00Z`)),
      };
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Ratios TTM: /stable/ratios-ttm

const ratiosTyped = {
  grossProfitMarginTTM: optionalNum,
  operatingProfitMarginTTM: optionalNum,
  netProfitMarginTTM: optionalNum,
  // A current ratio is assets over liabilities: never negative.
  currentRatioTTM: nonNegative.optional(),
  debtToEquityRatioTTM: optionalNum,
  priceToEarningsRatioTTM: optionalNum,
  priceToBookRatioTTM: optionalNum,
  dividendYieldTTM: optionalNum,
};

export const ratiosTtmResponse = z.array(
  ciLooseObject({ symbol, ...ratiosTyped }, {
    // Legacy v3 names for the same ratios.
    peRatioTTM: "priceToEarningsRatioTTM",
    priceBookValueRatioTTM: "priceToBookRatioTTM",
    debtEquityRatioTTM: "debtToEquityRatioTTM",
  }).transform((r, ctx) => {
    const items = lineItems.safeParse(rest(r, ["symbol"]));
    if (!items.success) {
      addDataIssues(ctx, items.error.issues);
      return z.NEVER;
    }
    return {
      symbol: r.symbol,
      gross_profit_margin_ttm: r.grossProfitMarginTTM ?? null,
      operating_profit_margin_ttm: r.operatingProfitMarginTTM ?? null,
      net_profit_margin_ttm: r.netProfitMarginTTM ?? null,
      current_ratio_ttm: r.currentRatioTTM ?? null,
      debt_to_equity_ratio_ttm: r.debtToEquityRatioTTM ?? null,
      price_to_earnings_ratio_ttm: r.priceToEarningsRatioTTM ?? null,
      price_to_book_ratio_ttm: r.priceToBookRatioTTM ?? null,
      dividend_yield_ttm: r.dividendYieldTTM ?? null,
      data: items.data,
      source_timestamp: null,
    };
  }),
);

// ---------------------------------------------------------------------------------------------
// Dividends: /stable/dividends

const dividendRow = ciObject({
  symbol,
  date: requiredDate,
  recordDate: dateOnly,
  paymentDate: dateOnly,
  declarationDate: dateOnly,
  adjDividend: nonNegative,
  dividend: nonNegative,
  yield: num,
  frequency: text(32),
}).transform((d) => ({
  symbol: d.symbol,
  date: d.date,
  record_date: d.recordDate,
  payment_date: d.paymentDate,
  declaration_date: d.declarationDate,
  adj_dividend: d.adjDividend,
  dividend: d.dividend,
  yield: d.yield,
  frequency: d.frequency,
  source_timestamp: null,
}));

/** Accepts the stable array and the legacy `{symbol, historical: [...]}` wrapper. */
export const dividendsResponse = z.preprocess((input) => {
  if (isRecord(input) && Array.isArray(input.historical)) {
    return input.historical.map((row) => isRecord(row) ? { symbol: input.symbol, ...row } : row);
  }
  return input;
}, z.array(dividendRow));

// ---------------------------------------------------------------------------------------------
// Shares float: /stable/shares-float

export const sharesFloatResponse = z.array(
  ciObject({
    symbol,
    date: dateTime,
    freeFloat: nonNegative.refine((value) => value === null || value <= 100, {
      message: "free float is a percentage: at most 100",
    }),
    floatShares: nonNegative,
    outstandingShares: nonNegative,
    source: text(2000),
  }).transform((f) => ({
    symbol: f.symbol,
    free_float: f.freeFloat,
    float_shares: f.floatShares,
    outstanding_shares: f.outstandingShares,
    source_url: f.source,
    source_timestamp: f.date,
  })),
);

// ---------------------------------------------------------------------------------------------
// Revenue segmentation: /stable/revenue-product-segmentation, revenue-geographic-segmentation

export type SegmentKind = "product" | "geographic";

/** One segmentation endpoint's response, rows tagged with their kind. */
export function segmentationResponse(kind: SegmentKind) {
  return z.array(
    ciObject({
      symbol,
      fiscalYear,
      period,
      reportedCurrency: text(16),
      date: requiredDate,
      data: z.record(z.string().max(200), z.number().nullable()),
    }).transform((s) => ({
      symbol: s.symbol,
      kind,
      period: s.period,
      date: s.date,
      fiscal_year: s.fiscalYear,
      reported_currency: s.reportedCurrency,
      data: s.data,
      source_timestamp: null,
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// Grades historical: /stable/grades-historical (key casing drifts: analystRatingsbuy)

export const gradesHistoricalResponse = z.array(
  ciObject({
    symbol,
    date: requiredDate,
    analystRatingsStrongBuy: count,
    analystRatingsBuy: count,
    analystRatingsHold: count,
    analystRatingsSell: count,
    analystRatingsStrongSell: count,
  }).transform((g) => ({
    symbol: g.symbol,
    date: g.date,
    analyst_ratings_strong_buy: g.analystRatingsStrongBuy,
    analyst_ratings_buy: g.analystRatingsBuy,
    analyst_ratings_hold: g.analystRatingsHold,
    analyst_ratings_sell: g.analystRatingsSell,
    analyst_ratings_strong_sell: g.analystRatingsStrongSell,
    source_timestamp: null,
  })),
);

// ---------------------------------------------------------------------------------------------
// Exchanges: /stable/available-exchanges, /stable/all-exchange-market-hours

const exchangeCode = z.preprocess(
  (value) => typeof value === "string" ? value.trim() : value,
  z.string().min(1).max(64),
);

export const availableExchangesResponse = z.array(
  ciObject({
    exchange: exchangeCode,
    name: text(),
    countryName: text(),
    countryCode: text(8),
    symbolSuffix: text(16),
    delay: text(64),
  }).transform((e) => ({
    exchange: e.exchange,
    name: e.name,
    country_name: e.countryName,
    country_code: e.countryCode,
    // FMP writes "N/A" where an exchange's symbols carry no suffix.
    symbol_suffix: e.symbolSuffix === null || e.symbolSuffix.toUpperCase() === "N/A"
      ? null
      : e.symbolSuffix,
    delay: e.delay,
    source_timestamp: null,
  })),
);

export const exchangeMarketHoursResponse = z.array(
  ciObject({
    exchange: exchangeCode,
    name: text(),
    openingHour: text(64),
    closingHour: text(64),
    timezone: text(64),
    isMarketOpen: bool.pipe(z.boolean({ error: "isMarketOpen is required" })),
  }).transform((m) => ({
    exchange: m.exchange,
    name: m.name,
    opening_hour: m.openingHour,
    closing_hour: m.closingHour,
    timezone: m.timezone,
    is_market_open: m.isMarketOpen,
    source_timestamp: null,
  })),
);

// ---------------------------------------------------------------------------------------------
// Running a schema

export type Validated<T> = { ok: true; rows: T[] } | { ok: false; message: string };

/**
 * Validates one response body against a schema. On failure the message names the endpoint and
 * lists the zod issues with their paths, truncated to maxIssuesLength.
 */
export function validate<T>(
  schema: z.ZodType<T[]>,
  data: unknown,
  label: string,
): Validated<T> {
  const result = schema.safeParse(data);
  if (result.success) return { ok: true, rows: result.data };
  const issues = z.prettifyError(result.error).replace(/\n\s*/g, " ").trim();
  return {
    ok: false,
    message: shorten(`invalid ${label} response: ${issues}`, maxIssuesLength),
  };
}
