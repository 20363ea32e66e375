// The assistant vocabulary (SPEC 3.6): read it with its version, force a rebuild, and the pure
// ETag helpers of vocabulary-refresh. Everything else happens in Postgres (migrations
// 20261122200000..20261122201000): the triggers keep a snapshot current at every commit,
// public.get_vocabulary() serves it (or the fallback computed from the source tables) and
// public.rebuild_vocabulary() rebuilds it, one rebuild at a time, logging each.
import type { Sql } from "./db.ts";

/** The six fields of the vocabulary, in document order. */
export const VOCABULARY_FIELDS = [
  "projects",
  "project_locations",
  "expense_files",
  "cashflow_files",
  "expense_categories",
  "cashflow_categories",
] as const;

export type VocabularyField = typeof VOCABULARY_FIELDS[number];

export type VocabularyCounts = Record<VocabularyField, number>;

/** What public.get_vocabulary() returns: sorted terms per field, the version and where they came from. */
export type Vocabulary =
  & {
    version: number;
    source: "snapshot" | "fallback";
  }
  & Record<VocabularyField, string[]>;

/** What public.rebuild_vocabulary() returns. */
export type RebuildResult =
  | {
    success: true;
    version: number;
    changed: boolean;
    vocabulary_counts: VocabularyCounts;
    duration_ms: number;
  }
  | { success: false; error: string; version: number | null };

/** Reads the vocabulary (snapshot or fallback) with its version. Throws what the driver throws. */
export async function readVocabulary(sql: Sql): Promise<Vocabulary> {
  const [row] = await sql<{ vocabulary: Vocabulary }[]>`
    select public.get_vocabulary() as vocabulary`;
  return row.vocabulary;
}

/**
 * Forces a full rebuild. A rebuild that fails inside Postgres keeps the last good snapshot and
 * comes back as `{success: false, error}` (it is logged in private.vocabulary_rebuilds either
 * way); a database that cannot be reached throws.
 */
export async function rebuildVocabulary(sql: Sql): Promise<RebuildResult> {
  const [row] = await sql<{ result: RebuildResult }[]>`
    select public.rebuild_vocabulary() as result`;
  return row.result;
}

/** The strong ETag of a vocabulary version: `"<version>"`. */
export function etagFor(version: number): string {
  return `"${version}"`;
}

const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

/**
 * Whether an If-None-Match header matches `etag` (RFC 9110 13.1.2: weak comparison, so `W/"7"`
 * matches `"7"`; `*` matches any current representation). A missing or malformed header never
 * matches.
 */
export function ifNoneMatchHits(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  const opaque = (tag: string) => tag.replace(/^W\//, "");
  return (header.match(ENTITY_TAG) ?? []).some((tag) => opaque(tag) === opaque(etag));
}

/** The message of a successful rebuild. */
export function rebuildMessage(changed: boolean): string {
  return changed ? "vocabulary rebuilt: it had changed" : "vocabulary rebuilt: unchanged";
}
