import { createHash } from 'node:crypto';
import type { CsvRecord } from './csvRecords.js';

/** Rows as staged: the original importer's column rules, applied once, before any SQL. */
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
  followers: number | null;
  hearts: number | null;
  videosCount: number | null;
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
  consolidated: ['c_videos_id'],
  authors: ['authors_id'],
  bookmarks: ['bookmarks_bookmark_id'],
} as const;

function text(record: CsvRecord, ...columns: string[]): string | null {
  for (const column of columns) {
    const value = record[column]?.trim();
    if (value) return value;
  }
  return null;
}

/** "12.0" → 12; anything that is not a finite number → NULL. */
export function parseCount(value: string | null | undefined): number | null {
  const trimmed = value?.trim();
  if (!trimmed) return null;
  const number = Number(trimmed);
  return Number.isFinite(number) ? Math.trunc(number) : null;
}

/** 1/true/yes/y → 1, any other non-empty value → 0, empty → NULL. */
export function parsePrivate(value: string | null | undefined): number | null {
  const trimmed = value?.trim().toLowerCase();
  if (!trimmed) return null;
  return ['1', 'true', 'yes', 'y'].includes(trimmed) ? 1 : 0;
}

/**
 * A hash that is the same for the same row in every process (the original's per-process hash never matched
 * on re-import): SHA-256 of the row as JSON with its keys sorted.
 */
export function stableRowHash(record: CsvRecord): string {
  const canonical = JSON.stringify(Object.keys(record).sort().map((k) => [k, record[k]]));
  return createHash('sha256').update(canonical).digest('hex');
}

export function consolidatedRow(record: CsvRecord, seq: number): ConsolidatedStageRow {
  return {
    seq,
    videoId: text(record, 'c_videos_id'),
    authorId: text(record, 'c_videos_authorid'),
    authorUniqueId: text(record, 'c_authors_uniqueids'),
    authorName: text(record, 'c_authors_nicknames'),
    caption: text(record, 'c_texts_text_content', 'text'),
    platform: text(record, 'platform') ?? 'TikTok',
    csvRowHash: text(record, 'csv_row_hash', 'source.csv_row_hash') ?? stableRowHash(record),
    videoPath: text(record, 'video_path', 'media.video'),
    coverPath: text(record, 'cover_path', 'media.cover'),
    rowJson: JSON.stringify(record),
  };
}

export function authorRow(record: CsvRecord, seq: number): AuthorStageRow {
  return {
    seq,
    authorId: text(record, 'authors_id'),
    authorUniqueId: text(record, 'authors_uniqueids'),
    authorName: text(record, 'authors_nicknames'),
    followers: parseCount(record.authors_followercount),
    hearts: parseCount(record.authors_heartcount),
    videosCount: parseCount(record.authors_videocount),
    signature: text(record, 'authors_signature'),
    isPrivate: parsePrivate(record.authors_privateaccount),
    rowJson: JSON.stringify(record),
  };
}

export function bookmarkRow(record: CsvRecord, seq: number): BookmarkStageRow {
  return {
    seq,
    videoId: text(record, 'bookmarks_bookmark_id'),
    bookmarkTimestamp: text(record, 'bookmarks_timestamp'),
    rowJson: JSON.stringify(record),
  };
}
