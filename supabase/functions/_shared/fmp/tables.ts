// The FMP target tables as the fetchers see them: name, primary key and the columns a fetcher
// writes (every column except fetched_at, which the database sets). Pure data, no I/O.
// This is the fixed allow-list write.ts takes table and column names from: nothing read from a
// job or an upstream answer ever becomes an identifier. It must match
// supabase/migrations/20261122170000_create_fmp_target_tables.sql; write_test.ts and
// 30_target_tables.test.sql check that it does.

export type TableSpec = {
  /** Schema-qualified table name, as in data_type_registry_v2.target_table. */
  name: string;
  primaryKey: readonly string[];
  /** Columns a fetcher writes, primary key first; fetched_at is left to its default. */
  columns: readonly string[];
};

const profileColumns = [
  "company_name",
  "price",
  "market_cap",
  "beta",
  "last_dividend",
  "range",
  "change",
  "change_percentage",
  "volume",
  "average_volume",
  "currency",
  "cik",
  "isin",
  "cusip",
  "exchange_full_name",
  "exchange",
  "industry",
  "sector",
  "country",
  "description",
  "ceo",
  "website",
  "phone",
  "address",
  "city",
  "state",
  "zip",
  "image",
  "ipo_date",
  "full_time_employees",
  "default_image",
  "is_etf",
  "is_actively_trading",
  "is_adr",
  "is_fund",
] as const;

function spec(name: string, primaryKey: readonly string[], rest: readonly string[]): TableSpec {
  return { name, primaryKey, columns: [...primaryKey, ...rest, "source_timestamp"] };
}

export const targetTables = {
  quote: spec("public.fmp_quote", ["symbol"], [
    "name",
    "price",
    "change",
    "change_percentage",
    "volume",
    "day_low",
    "day_high",
    "year_low",
    "year_high",
    "market_cap",
    "price_avg_50",
    "price_avg_200",
    "exchange",
    "open",
    "previous_close",
  ]),
  profile: spec("public.fmp_profile", ["symbol"], profileColumns),
  financialStatement: spec(
    "public.fmp_financial_statement",
    ["symbol", "statement", "period", "date"],
    [
      "fiscal_year",
      "reported_currency",
      "cik",
      "filing_date",
      "accepted_date",
      "revenue",
      "gross_profit",
      "operating_income",
      "net_income",
      "eps",
      "eps_diluted",
      "total_assets",
      "total_liabilities",
      "total_stockholders_equity",
      "total_debt",
      "cash_and_cash_equivalents",
      "operating_cash_flow",
      "capital_expenditure",
      "free_cash_flow",
      "data",
    ],
  ),
  ratiosTtm: spec("public.fmp_ratios_ttm", ["symbol"], [
    "gross_profit_margin_ttm",
    "operating_profit_margin_ttm",
    "net_profit_margin_ttm",
    "current_ratio_ttm",
    "debt_to_equity_ratio_ttm",
    "price_to_earnings_ratio_ttm",
    "price_to_book_ratio_ttm",
    "dividend_yield_ttm",
    "data",
  ]),
  dividend: spec("public.fmp_dividend", ["symbol", "date"], [
    "record_date",
    "payment_date",
    "declaration_date",
    "adj_dividend",
    "dividend",
    "yield",
    "frequency",
  ]),
  sharesFloat: spec("public.fmp_shares_float", ["symbol"], [
    "free_float",
    "float_shares",
    "outstanding_shares",
    "source_url",
  ]),
  revenueSegmentation: spec(
    "public.fmp_revenue_segmentation",
    ["symbol", "kind", "period", "date"],
    ["fiscal_year", "reported_currency", "data"],
  ),
  gradesHistorical: spec("public.fmp_grades_historical", ["symbol", "date"], [
    "analyst_ratings_strong_buy",
    "analyst_ratings_buy",
    "analyst_ratings_hold",
    "analyst_ratings_sell",
    "analyst_ratings_strong_sell",
  ]),
  exchangeVariant: spec(
    "public.fmp_exchange_variant",
    ["symbol", "variant_symbol"],
    profileColumns,
  ),
  availableExchange: spec("public.fmp_available_exchange", ["exchange"], [
    "name",
    "country_name",
    "country_code",
    "symbol_suffix",
    "delay",
  ]),
  exchangeMarketStatus: spec("public.fmp_exchange_market_status", ["exchange"], [
    "name",
    "opening_hour",
    "closing_hour",
    "timezone",
    "is_market_open",
  ]),
} as const satisfies Record<string, TableSpec>;

export type TargetTableName = (typeof targetTables)[keyof typeof targetTables]["name"];

const byName = new Map<string, TableSpec>(
  Object.values(targetTables).map((table) => [table.name, table]),
);

/** The spec of an allow-listed target table, or undefined for any other name. */
export function tableSpec(name: string): TableSpec | undefined {
  return byName.get(name);
}

/** Every allow-listed target table name, sorted. */
export function targetTableNames(): string[] {
  return [...byName.keys()].sort();
}
