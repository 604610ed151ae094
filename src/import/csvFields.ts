import type { CsvRecord } from './csvRecords.js';
import { FIELD_RULES, compileRowRules, countValue, flagValue, rowHashOf, type FileKind, type RowValues } from './fieldRules.js';

/**
 * Rows as staged, for callers that build them one record at a time. The values come from the rules in
 * fieldRules.ts, the one definition the PostgreSQL import's SQL is generated from too.
 */
export interface ConsolidatedStageRow {
  seq: number;
  videoId: string | null;
  authorId: string | null;
  authorUniqueId: string | null;
  authorName: string | null;
  caption: string | null;
  platform: string;
  csvRowHash: string;
  videoPath: string | null;
  coverPath: string | null;
  rowJson: string;
}

export interface AuthorStageRow {
  seq: number;
  authorId: string | null;
  authorUniqueId: string | null;
  authorName: string | null;
  /** A count past 2^53 is a bigint, so SQLite stores every digit. */
  followers: number | bigint | null;
  hearts: number | bigint | null;
  videosCount: number | bigint | null;
  signature: string | null;
  isPrivate: number | null;
  rowJson: string;
}

export interface BookmarkStageRow {
  seq: number;
  videoId: string | null;
  bookmarkTimestamp: string | null;
  rowJson: string;
}

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

/** Rules compiled per file and header, for the few headers a process sees. */
const compiled = new Map<string, ReturnType<typeof compileRowRules>>();

/** The staged values of one record by staged column name, through rules compiled once per header. */
function stagedValues(file: FileKind, record: CsvRecord): Record<string, unknown> {
  const header = Object.keys(record);
  const columns = Object.keys(FIELD_RULES[file].columns);
  const key = `${file}\u0000${header.join('\u0000')}`;
  let rules = compiled.get(key);
  if (!rules) {
    if (compiled.size > 16) compiled.clear();
    rules = compileRowRules(file, header, columns);
    compiled.set(key, rules);
  }
  const values: RowValues = header.map((name) => record[name] ?? null);
  const tuple = rules(values, 0);
  return Object.fromEntries(columns.map((column, i) => [column, tuple[i]]));
}

/**
 * A hash that is the same for the same row in every process (the original's per-process hash never matched on
 * re-import): SHA-256 of the row as JSON, its [name, value] pairs sorted by name.
 */
export function stableRowHash(record: CsvRecord): string {
  const header = Object.keys(record);
  return rowHashOf(header)(header.map((name) => record[name] ?? null));
}

export function consolidatedRow(record: CsvRecord, seq: number): ConsolidatedStageRow {
  const v = stagedValues('consolidated', record);
  return {
    seq,
    videoId: v.video_id as string | null,
    authorId: v.author_id as string | null,
    authorUniqueId: v.author_unique_id as string | null,
    authorName: v.author_name as string | null,
    caption: v.caption as string | null,
    platform: v.platform as string,
    csvRowHash: v.csv_row_hash as string,
    videoPath: v.video_path as string | null,
    coverPath: v.cover_path as string | null,
    rowJson: v.row_json as string,
  };
}

export function authorRow(record: CsvRecord, seq: number): AuthorStageRow {
  const v = stagedValues('authors', record);
  return {
    seq,
    authorId: v.author_id as string | null,
    authorUniqueId: v.author_unique_id as string | null,
    authorName: v.author_name as string | null,
    followers: v.followers as number | bigint | null,
    hearts: v.hearts as number | bigint | null,
    videosCount: v.videos_count as number | bigint | null,
    signature: v.signature as string | null,
    isPrivate: v.is_private as number | null,
    rowJson: v.row_json as string,
  };
}

export function bookmarkRow(record: CsvRecord, seq: number): BookmarkStageRow {
  const v = stagedValues('bookmarks', record);
  return {
    seq,
    videoId: v.video_id as string | null,
    bookmarkTimestamp: v.bookmark_timestamp as string | null,
    rowJson: v.row_json as string,
  };
}
