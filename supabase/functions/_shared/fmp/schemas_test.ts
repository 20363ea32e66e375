import assert from "node:assert/strict";
import {
  availableExchangesResponse,
  canonicaliseKeys,
  dividendsResponse,
  exchangeMarketHoursResponse,
  exchangeVariantsResponse,
  gradesHistoricalResponse,
  maxIssuesLength,
  maxYear,
  profileResponse,
  quoteResponse,
  ratiosTtmResponse,
  segmentationResponse,
  sharesFloatResponse,
  statementResponse,
  validate,
} from "./schemas.ts";
import { type TableSpec, targetTables } from "./tables.ts";

type Row = Record<string, unknown>;

/** Validates and returns the rows, failing the test with the issues otherwise. */
function rowsOf(schema: Parameters<typeof validate>[0], data: unknown): Row[] {
  const result = validate(schema, data, "test");
  if (!result.ok) assert.fail(result.message);
  return result.rows as Row[];
}

/** Validates and returns the error message, failing the test if the payload passed. */
function issuesOf(schema: Parameters<typeof validate>[0], data: unknown): string {
  const result = validate(schema, data, "test");
  if (result.ok) assert.fail(`expected rejection, got ${JSON.stringify(result.rows)}`);
  return result.message;
}

function assertColumns(row: Row, table: TableSpec) {
  assert.deepEqual(Object.keys(row).sort(), [...table.columns].sort(), table.name);
}

const quote = {
  symbol: "AAPL",
  name: "Apple Inc.",
  price: 232.8,
  changePercentage: 2.1008,
  change: 4.79,
  volume: 44489128,
  dayLow: 226.65,
  dayHigh: 233.13,
  yearHigh: 260.1,
  yearLow: 164.08,
  marketCap: 3500823120000,
  priceAvg50: 240.2,
  priceAvg200: 219.1,
  exchange: "NASDAQ",
  open: 227.25,
  previousClose: 228.01,
  timestamp: 1738702801,
};

const profile = {
  symbol: "AAPL",
  price: 232.8,
  marketCap: 3500823120000,
  beta: 1.24,
  lastDividend: 0.99,
  range: "164.08-260.1",
  change: 4.79,
  changePercentage: 2.1008,
  volume: 0,
  averageVolume: 50542058,
  companyName: "Apple Inc.",
  currency: "USD",
  cik: "0000320193",
  isin: "US0378331005",
  cusip: "037833100",
  exchangeFullName: "NASDAQ Global Select",
  exchange: "NASDAQ",
  industry: "Consumer Electronics",
  website: "https://www.apple.com",
  description: "Apple Inc. designs, manufactures, and markets smartphones.",
  ceo: "Mr. Timothy D. Cook",
  sector: "Technology",
  country: "US",
  fullTimeEmployees: "164000",
  phone: "(408) 996-1010",
  address: "One Apple Park Way",
  city: "Cupertino",
  state: "CA",
  zip: "95014",
  image: "https://images.financialmodelingprep.com/symbol/AAPL.png",
  ipoDate: "1980-12-12",
  defaultImage: false,
  isEtf: false,
  isActivelyTrading: true,
  isAdr: false,
  isFund: false,
};

const income = {
  date: "2024-09-28",
  symbol: "AAPL",
  reportedCurrency: "USD",
  cik: "0000320193",
  filingDate: "2024-11-01",
  acceptedDate: "2024-11-01 06:01:36",
  fiscalYear: "2024",
  period: "FY",
  revenue: 391035000000,
  costOfRevenue: 210352000000,
  grossProfit: 180683000000,
  netIncome: 93736000000,
  eps: 6.11,
  epsDiluted: 6.08,
};

Deno.test("schemas - a quote becomes a fmp_quote row; unix seconds become a Date", () => {
  const [row] = rowsOf(quoteResponse, [quote]);
  assertColumns(row, targetTables.quote);
  assert.equal(row.price, 232.8);
  assert.equal(row.change_percentage, 2.1008);
  assert.equal(row.market_cap, 3500823120000);
  assert.deepEqual(row.source_timestamp, new Date(1738702801 * 1000));
});

Deno.test("schemas - numbers sent as strings and legacy changesPercentage are normalised", () => {
  const { changePercentage: _, ...rest } = quote;
  const [row] = rowsOf(quoteResponse, [{
    ...rest,
    price: "232.80",
    volume: "44489128",
    changesPercentage: 2.5,
    timestamp: "1738702801",
  }]);
  assert.equal(row.price, 232.8);
  assert.equal(row.volume, 44489128);
  assert.equal(row.change_percentage, 2.5);
  assert.deepEqual(row.source_timestamp, new Date(1738702801 * 1000));
});

Deno.test("schemas - a quote timestamp in milliseconds is recognised", () => {
  const [row] = rowsOf(quoteResponse, [{ ...quote, timestamp: 1738702801123 }]);
  assert.deepEqual(row.source_timestamp, new Date(1738702801123));
});

Deno.test("schemas - insane quotes are rejected with the zod issues and paths", () => {
  const negative = issuesOf(quoteResponse, [{ ...quote, price: -1 }]);
  assert.match(negative, /invalid test response/);
  assert.match(negative, /must not be negative/);
  assert.match(negative, /\[0\]\.price/);
  assert.match(issuesOf(quoteResponse, [{ ...quote, timestamp: -5364662400 }]), /year 1800/);
  // 1e400 parses to Infinity: not a finite number.
  assert.match(issuesOf(quoteResponse, JSON.parse('[{"symbol":"AAPL","price":1e400}]')), /price/);
  assert.match(issuesOf(quoteResponse, [{ ...quote, price: null }]), /price/);
  assert.match(issuesOf(quoteResponse, [{ ...quote, symbol: "not a symbol!" }]), /symbol/);
  assert.match(issuesOf(quoteResponse, { symbol: "AAPL" }), /expected array/);
});

Deno.test("schemas - symbols are trimmed and upper-cased before the check", () => {
  const [row] = rowsOf(quoteResponse, [{ ...quote, symbol: " brk-b " }]);
  assert.equal(row.symbol, "BRK-B");
});

Deno.test("schemas - a profile row: fullTimeEmployees string to integer, blank texts to null", () => {
  const [row] = rowsOf(profileResponse, [{ ...profile, ceo: "", ipoDate: "" }]);
  assertColumns(row, targetTables.profile);
  assert.equal(row.full_time_employees, 164000);
  assert.equal(row.exchange, "NASDAQ");
  assert.equal(row.exchange_full_name, "NASDAQ Global Select");
  assert.equal(row.ceo, null);
  assert.equal(row.ipo_date, null);
  assert.equal(row.source_timestamp, null);
});

Deno.test("schemas - fullTimeEmployees: numbers, thousands separators and junk", () => {
  const employees = (value: unknown) =>
    rowsOf(profileResponse, [{ ...profile, fullTimeEmployees: value }])[0].full_time_employees;
  assert.equal(employees("164,000"), 164000);
  assert.equal(employees(164000), 164000);
  assert.equal(employees(""), null);
  assert.equal(employees("N/A"), null);
  assert.equal(employees(null), null);
  assert.equal(employees(-5), null);
});

Deno.test("schemas - exchange variants with legacy names give the profile row shape", () => {
  const legacy = {
    symbol: "AAPL.DE",
    price: 213.1,
    beta: 1.24,
    volAvg: 2721573,
    mktCap: 3434450000000,
    lastDiv: 0.99,
    range: "170.5-255.7",
    changes: 1.2,
    companyName: "Apple Inc.",
    currency: "EUR",
    isin: "US0378331005",
    exchange: "Deutsche Börse Xetra",
    exchangeShortName: "XETRA",
    fullTimeEmployees: "164000",
    dcf: 180.1,
    dcfDiff: 33,
    ipoDate: "1980-12-12",
    isEtf: false,
  };
  const [variant] = rowsOf(exchangeVariantsResponse("AAPL"), [legacy]);
  assertColumns(variant, targetTables.exchangeVariant);
  assert.equal(variant.symbol, "AAPL");
  assert.equal(variant.variant_symbol, "AAPL.DE");
  assert.equal(variant.market_cap, 3434450000000);
  assert.equal(variant.average_volume, 2721573);
  assert.equal(variant.last_dividend, 0.99);
  assert.equal(variant.change, 1.2);
  assert.equal(variant.exchange, "XETRA");
  assert.equal(variant.exchange_full_name, "Deutsche Börse Xetra");
  assert.equal(variant.full_time_employees, 164000);
  // The same listing through the modern profile names gives the same columns.
  const [modern] = rowsOf(profileResponse, [profile]);
  const { symbol: _s, variant_symbol: _v, ...variantColumns } = variant;
  const { symbol: _p, ...profileColumns } = modern;
  assert.deepEqual(Object.keys(variantColumns).sort(), Object.keys(profileColumns).sort());
});

Deno.test("schemas - statements: fiscalYear string or integer, line items in data", () => {
  const [row] = rowsOf(statementResponse("income"), [income]);
  assertColumns(row, targetTables.financialStatement);
  assert.equal(row.statement, "income");
  assert.equal(row.fiscal_year, 2024);
  assert.equal(row.period, "FY");
  assert.equal(row.date, "2024-09-28");
  assert.equal(row.filing_date, "2024-11-01");
  assert.deepEqual(row.accepted_date, new Date("2024-11-01T06:01:36Z"));
  assert.deepEqual(row.source_timestamp, new Date("2024-11-01T06:01:36Z"));
  assert.equal(row.revenue, 391035000000);
  assert.equal(row.eps_diluted, 6.08);
  assert.equal(row.total_assets, null);
  assert.deepEqual(row.data, {
    revenue: 391035000000,
    costOfRevenue: 210352000000,
    grossProfit: 180683000000,
    netIncome: 93736000000,
    eps: 6.11,
    epsDiluted: 6.08,
  });
  const [asInteger] = rowsOf(statementResponse("income"), [{ ...income, fiscalYear: 2024 }]);
  assert.equal(asInteger.fiscal_year, 2024);
});

Deno.test("schemas - statements: filingDate stands in for a blank acceptedDate", () => {
  const [row] = rowsOf(statementResponse("balance"), [{ ...income, acceptedDate: "" }]);
  assert.equal(row.accepted_date, null);
  assert.deepEqual(row.source_timestamp, new Date("2024-11-01T00:00:00Z"));
  assert.equal(row.statement, "balance");
});

Deno.test("schemas - insane statements are rejected: year 1800, impossible dates, bad periods", () => {
  const schema = statementResponse("income");
  assert.match(issuesOf(schema, [{ ...income, date: "1800-01-01" }]), /year 1800/);
  assert.match(issuesOf(schema, [{ ...income, fiscalYear: "1800" }]), /year 1800/);
  assert.match(issuesOf(schema, [{ ...income, fiscalYear: String(maxYear() + 1) }]), /year/);
  assert.match(issuesOf(schema, [{ ...income, date: "2024-02-30" }]), /calendar date/);
  assert.match(issuesOf(schema, [{ ...income, date: "" }]), /date/);
  assert.match(issuesOf(schema, [{ ...income, period: "H1" }]), /period/);
  assert.match(issuesOf(schema, [{ ...income, costOfRevenue: { nested: true } }]), /data/);
});

Deno.test("schemas - ratios keep every ratio in data and map legacy names", () => {
  const [row] = rowsOf(ratiosTtmResponse, [{
    symbol: "AAPL",
    grossProfitMarginTTM: 0.46,
    currentRatioTTM: 0.87,
    peRatioTTM: 37.2,
    enterpriseValueTTM: 3.6e12,
  }]);
  assertColumns(row, targetTables.ratiosTtm);
  assert.equal(row.gross_profit_margin_ttm, 0.46);
  assert.equal(row.price_to_earnings_ratio_ttm, 37.2);
  assert.equal(row.dividend_yield_ttm, null);
  assert.deepEqual(row.data, {
    grossProfitMarginTTM: 0.46,
    currentRatioTTM: 0.87,
    priceToEarningsRatioTTM: 37.2,
    enterpriseValueTTM: 3.6e12,
  });
  assert.match(issuesOf(ratiosTtmResponse, [{ symbol: "AAPL", currentRatioTTM: -2 }]), /negative/);
});

Deno.test("schemas - dividends: blank dates become null, the ex-date is required", () => {
  const dividend = {
    symbol: "KO",
    date: "2025-02-10",
    recordDate: "",
    paymentDate: "",
    declarationDate: "",
    adjDividend: 0.51,
    dividend: 0.51,
    yield: 2.9,
    frequency: "Quarterly",
  };
  const [row] = rowsOf(dividendsResponse, [dividend]);
  assertColumns(row, targetTables.dividend);
  assert.equal(row.date, "2025-02-10");
  assert.equal(row.record_date, null);
  assert.equal(row.payment_date, null);
  assert.equal(row.declaration_date, null);
  assert.match(issuesOf(dividendsResponse, [{ ...dividend, date: "" }]), /date/);
  assert.match(issuesOf(dividendsResponse, [{ ...dividend, dividend: -0.5 }]), /negative/);
});

Deno.test("schemas - dividends in the legacy {symbol, historical} wrapper are accepted", () => {
  const rows = rowsOf(dividendsResponse, {
    symbol: "KO",
    historical: [{ date: "2025-02-10", dividend: 0.51, adjDividend: 0.51 }],
  });
  assert.equal(rows.length, 1);
  assert.equal(rows[0].symbol, "KO");
});

Deno.test("schemas - shares float: date is the source timestamp, free float a percentage", () => {
  const float = {
    symbol: "AAPL",
    date: "2026-04-07 07:43:00",
    freeFloat: 99.77,
    floatShares: 14664480994,
    outstandingShares: 14697924749,
    source: "https://www.sec.gov/Archives/edgar/data/320193/x.htm",
  };
  const [row] = rowsOf(sharesFloatResponse, [float]);
  assertColumns(row, targetTables.sharesFloat);
  assert.deepEqual(row.source_timestamp, new Date("2026-04-07T07:43:00Z"));
  assert.equal(row.source_url, float.source);
  assert.match(issuesOf(sharesFloatResponse, [{ ...float, freeFloat: 140 }]), /percentage/);
});

Deno.test("schemas - segmentation: integer fiscalYear, kind tagged, segments kept", () => {
  const segment = {
    symbol: "AAPL",
    fiscalYear: 2025,
    period: "FY",
    reportedCurrency: "USD",
    date: "2025-09-27",
    data: { iPhone: 209586000000, Mac: 33708000000, Service: 109158000000 },
  };
  const [row] = rowsOf(segmentationResponse("geographic"), [segment]);
  assertColumns(row, targetTables.revenueSegmentation);
  assert.equal(row.kind, "geographic");
  assert.equal(row.fiscal_year, 2025);
  assert.deepEqual(row.data, segment.data);
  const [fromString] = rowsOf(segmentationResponse("product"), [{
    ...segment,
    fiscalYear: "2025",
  }]);
  assert.equal(fromString.fiscal_year, 2025);
  assert.match(
    issuesOf(segmentationResponse("product"), [{ ...segment, data: { Mac: "lots" } }]),
    /data/,
  );
});

Deno.test("schemas - grades: key casing drift (analystRatingsbuy) is matched case-insensitively", () => {
  const drifted = {
    symbol: "MSFT",
    date: "2025-02-01",
    analystRatingsStrongBuy: 3,
    analystRatingsbuy: 8,
    ANALYSTRATINGSHOLD: 14,
    analystRatingsSell: 2,
    analystratingsstrongsell: 1,
  };
  const [row] = rowsOf(gradesHistoricalResponse, [drifted]);
  assertColumns(row, targetTables.gradesHistorical);
  assert.equal(row.analyst_ratings_strong_buy, 3);
  assert.equal(row.analyst_ratings_buy, 8);
  assert.equal(row.analyst_ratings_hold, 14);
  assert.equal(row.analyst_ratings_sell, 2);
  assert.equal(row.analyst_ratings_strong_sell, 1);
  assert.match(issuesOf(gradesHistoricalResponse, [{ ...drifted, analystRatingsbuy: -3 }]), /buy/i);
});

Deno.test("schemas - canonicaliseKeys: the exact spelling wins over a drifted duplicate", () => {
  assert.deepEqual(
    canonicaliseKeys({ analystRatingsbuy: 1, analystRatingsBuy: 2, other: 3 }, [
      "analystRatingsBuy",
    ]),
    { analystRatingsBuy: 2, other: 3 },
  );
  assert.deepEqual(
    canonicaliseKeys({ mktCap: 1, marketCap: 2 }, ["marketCap"], { mktCap: "marketCap" }),
    { marketCap: 2 },
  );
  assert.equal(canonicaliseKeys("text", ["a"]), "text");
});

Deno.test("schemas - available exchanges: N/A suffix becomes null", () => {
  const rows = rowsOf(availableExchangesResponse, [
    {
      exchange: "AMEX",
      name: "New York Stock Exchange Arca",
      countryName: "United States of America",
      countryCode: "US",
      symbolSuffix: "N/A",
      delay: "Real-time",
    },
    { exchange: "LSE", name: "London Stock Exchange", symbolSuffix: ".L", delay: "15 min" },
  ]);
  assertColumns(rows[0], targetTables.availableExchange);
  assert.equal(rows[0].symbol_suffix, null);
  assert.equal(rows[1].symbol_suffix, ".L");
  assert.match(issuesOf(availableExchangesResponse, [{ name: "no code" }]), /exchange/);
});

Deno.test("schemas - market hours: isMarketOpen is required", () => {
  const hours = {
    exchange: "NASDAQ",
    name: "NASDAQ",
    openingHour: "09:30 AM -04:00",
    closingHour: "04:00 PM -04:00",
    timezone: "America/New_York",
    isMarketOpen: false,
  };
  const [row] = rowsOf(exchangeMarketHoursResponse, [hours]);
  assertColumns(row, targetTables.exchangeMarketStatus);
  assert.equal(row.is_market_open, false);
  const { isMarketOpen: _, ...withoutState } = hours;
  assert.match(issuesOf(exchangeMarketHoursResponse, [withoutState]), /isMarketOpen/);
});

Deno.test("schemas - the issues message is truncated", () => {
  const many = Array.from({ length: 200 }, () => ({ ...quote, price: -1, volume: -1 }));
  const message = issuesOf(quoteResponse, many);
  assert.ok(message.length <= maxIssuesLength, `message length ${message.length}`);
  assert.match(message, /^invalid test response: /);
});

Deno.test("schemas - absent optional fields become null, never undefined", () => {
  const [profileRow] = rowsOf(profileResponse, [{ symbol: "TINY" }]);
  assertColumns(profileRow, targetTables.profile);
  assert.ok(
    Object.entries(profileRow).every(([key, value]) => key === "symbol" || value === null),
    JSON.stringify(profileRow),
  );
  const [quoteRow] = rowsOf(quoteResponse, [{ symbol: "TINY", price: 1 }]);
  assert.equal(quoteRow.source_timestamp, null);
  assert.equal(quoteRow.volume, null);
});
