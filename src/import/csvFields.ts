import type { CsvRecord } from './csvRecords.js';
import { FIELD_RULES, countValue, flagValue, rowHashOf } from './fieldRules.js';

export const REQUIRED_COLUMNS = {
  consolidated: FIELD_RULES.consolidated.required,
  authors: FIELD_RULES.authors.required,
  bookmarks: FIELD_RULES.bookmarks.required,
} as const;

/** See COUNT_PATTERN in fieldRules.ts: "12.0" → 12, "1e3" → 1000; unparsable or out of bigint range → NULL. */
export function parseCount(value: string | null | undefined): number | bigint | null {
  return countValue(value);
}

/** 1/true/yes/y (ASCII case ignored) → 1, any other non-empty value → 0, empty → NULL. */
export function parsePrivate(value: string | null | undefined): number | null {
  return flagValue(value);
}

/**
 * A hash that is the same for the same row in every process (the original's per-process hash never matched on
 * re-import): SHA-256 of the row as JSON, its [name, value] pairs sorted by name.
 */
export function stableRowHash(record: CsvRecord): string {
  const header = Object.keys(record);
  return rowHashOf(header)(header.map((name) => record[name] ?? null));
}
