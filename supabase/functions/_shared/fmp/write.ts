// Writes a fetch outcome's rows to the target tables, inside the caller's transaction (the
// processor completes the job in the same one, 3.5). Idempotent: one
// `insert ... on conflict (primary key) do update` per table and chunk, so re-processing a job
// never duplicates rows (3.7), and the update is skipped when the stored row has a NEWER
// source_timestamp, so an older payload never overwrites newer data.
//
// Table and column names come only from the fixed allow-list in tables.ts and reach SQL through
// postgres.js identifier helpers; nothing from a job or an upstream answer becomes an identifier.
import type postgres from "postgres";
import type { FetchOutcome, QueueJob } from "./datatypes.ts";
import { type TableSpec, tableSpec } from "./tables.ts";

export type WriteResult = {
  /** Rows inserted or changed (data or source timestamp); identical re-writes do not count. */
  written: number;
  /**
   * True when the payload had rows but none of them was newer than what is stored: every row
   * was skipped as older, or matched the stored row exactly. The queue records such a job as
   * "not newer than stored" (3.2) instead of a success.
   */
  notNewer: boolean;
};

type Row = Record<string, unknown>;
type BindValue = string | number | boolean | Date | null | postgres.JSONValue;
type BoundRow = Record<string, BindValue>;

/**
 * Rows per statement: a statement row has 26 columns, so 500 rows stay far below the 65,535
 * bind parameters Postgres allows per statement while keeping round trips few.
 */
export const rowsPerStatement = 500;

/** A row's primary key as one comparable string. */
function keyOf(row: Row, primaryKey: readonly string[]): string {
  return JSON.stringify(primaryKey.map((column) => row[column]));
}

/** Converts a row to the bind values of `columns`: missing values become null. */
function bindRow(row: Row, table: TableSpec): BoundRow {
  for (const key of Object.keys(row)) {
    if (!table.columns.includes(key)) {
      throw new Error(`row for ${table.name} has column ${key}, which the table does not have`);
    }
  }
  const out: BoundRow = {};
  for (const column of table.columns) {
    const value = row[column];
    if (value === undefined || value === null) {
      if (table.primaryKey.includes(column)) {
        throw new Error(`row for ${table.name} has no value for key column ${column}`);
      }
      out[column] = null;
    } else if (typeof value === "number" && !Number.isFinite(value)) {
      throw new Error(`row for ${table.name} has a non-finite ${column}`);
    } else if (
      typeof value === "string" || typeof value === "number" || typeof value === "boolean" ||
      value instanceof Date
    ) {
      out[column] = value;
    } else if (typeof value === "object") {
      // jsonb: postgres.js serialises by the column type it learns from the server.
      out[column] = value as postgres.JSONValue;
    } else {
      throw new Error(`row for ${table.name} has a ${typeof value} in ${column}`);
    }
  }
  return out;
}

/**
 * One row per primary key (the first one wins: FMP lists newest first, and Postgres refuses
 * to update the same row twice in one statement), in key order, so that concurrent writers
 * lock rows in the same order.
 */
export function uniqueByKey(rows: Row[], primaryKey: readonly string[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const row of rows) {
    const key = keyOf(row, primaryKey);
    if (!byKey.has(key)) byKey.set(key, row);
  }
  return [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, row]) => row);
}

/** Upserts one chunk and reports how many rows it inserted or changed. */
async function upsertChunk(
  tx: postgres.TransactionSql,
  table: TableSpec,
  rows: BoundRow[],
): Promise<{ affected: number; changed: number }> {
  const columns = [...table.columns];
  const primaryKey = [...table.primaryKey];
  const bareName = table.name.split(".")[1];
  const updated = [...columns.filter((column) => !primaryKey.includes(column)), "fetched_at"];
  // postgres.js renders a helper by the LAST keyword before it in the same fragment (insert,
  // values, select, "(", ...). Each helper therefore sits in a fragment of its own, where the
  // keyword is unambiguous: a bare list of names renders as quoted identifiers.
  const names = (list: string[]) => tx`${tx(list)}`;
  const insert = tx`insert into ${tx(table.name)} ${tx(rows, columns)}`;
  // One statement: the CTE upserts; the outer query compares each upserted row with the row
  // as it was before the statement (all parts of one statement see the same snapshot).
  const [result] = await tx<{ affected: number; changed: number }[]>`
    with upserted as (
        ${insert}
        on conflict (${names(primaryKey)}) do update
        set (${names(updated)}) = row(${names(updated.map((column) => `excluded.${column}`))})
        where ${tx(bareName)}.source_timestamp is null
            or excluded.source_timestamp is null
            or excluded.source_timestamp >= ${tx(bareName)}.source_timestamp
        returning ${names(primaryKey)}, to_jsonb(${tx(bareName)}.*) - 'fetched_at' as content
    )
    select
        count(*)::integer as affected,
        (count(*) filter (where stored.content is distinct from upserted.content))::integer
            as changed
    from upserted
    left join lateral (
        select to_jsonb(previous.*) - 'fetched_at' as content
        from ${tx(table.name)} previous
        where (${names(primaryKey.map((column) => `previous.${column}`))})
            = (${names(primaryKey.map((column) => `upserted.${column}`))})
    ) stored on true`;
  return result;
}

/**
 * Writes the rows of a `data` outcome (nothing for `empty` and `error`). Throws on a row that
 * does not fit its allow-listed table (a fetcher bug) or on any database error; the caller's
 * transaction then rolls back and nothing of the job is written.
 */
export async function writeOutcome(
  tx: postgres.TransactionSql,
  job: QueueJob,
  outcome: FetchOutcome,
): Promise<WriteResult> {
  if (outcome.kind !== "data") return { written: 0, notNewer: false };
  let total = 0;
  let changed = 0;
  for (const [name, rows] of Object.entries(outcome.rows)) {
    const table = tableSpec(name);
    if (table === undefined) {
      throw new Error(`job ${job.id} (${job.data_type}): ${name} is not an FMP target table`);
    }
    const unique = uniqueByKey(rows, table.primaryKey).map((row) => bindRow(row, table));
    total += unique.length;
    for (let start = 0; start < unique.length; start += rowsPerStatement) {
      const result = await upsertChunk(tx, table, unique.slice(start, start + rowsPerStatement));
      changed += result.changed;
    }
  }
  return { written: changed, notNewer: total > 0 && changed === 0 };
}
