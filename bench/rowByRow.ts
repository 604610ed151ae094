// Baseline importer for the benchmark, shaped like the original service's: every file is read into memory
// first, then each consolidated row costs a SELECT of the stored row, an INSERT or UPDATE, and an upsert of its
// raw JSON, one statement and one round trip at a time. It applies the original's rules (see the "CSV import"
// section of the origin API reference) so its results can be checked against the project's set-wise import.
//
// All statements run in ONE transaction: per-row autocommit would add a WAL flush to every row and make the
// baseline slower still, so one transaction is the kinder comparison (and keeps a failed import all-or-nothing).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse } from 'csv-parse';
import pg from 'pg';
// The fallback hash must equal the project's, or rows without csv_row_hash would never compare as unchanged
// between the two importers.
import { stableRowHash } from '../src/import/csvFields.js';

type CsvRecord = Record<string, string>;

export interface RowByRowFiles {
  consolidated: string;
  authors?: string;
  bookmarks?: string;
}

export interface RowByRowOptions {
  /** Import only the first N consolidated rows (rows/s of a prefix stands in for the whole file). */
  maxRows?: number;
}

export interface RowByRowResult {
  rows: number;
  inserted: number;
  updated: number;
  skipped: number;
  ms: number;
}

const VIDEO_COLUMNS = [
  'platform', 'author_id', 'author_unique_id', 'author_name', 'followers', 'hearts', 'videos_count', 'signature',
  'is_private', 'caption', 'bookmarked', 'bookmark_timestamp', 'video_path', 'cover_path', 'csv_row_hash',
] as const;
type VideoColumn = (typeof VIDEO_COLUMNS)[number];
type Value = string | number | null;
type Video = { id: string } & Record<VideoColumn, Value>;

/** A stored row whose values here all match the incoming row is "skipped"; caption and paths do not count. */
const COMPARED = [
  'csv_row_hash', 'bookmarked', 'bookmark_timestamp', 'followers', 'hearts', 'videos_count', 'signature', 'is_private',
] as const satisfies readonly VideoColumn[];

interface AuthorFields {
  uniqueId: string | null;
  name: string | null;
  followers: number | null;
  hearts: number | null;
  videosCount: number | null;
  signature: string | null;
  isPrivate: number | null;
}

interface RawRow {
  key: string;
  json: string;
}

// ---------------------------------------------------------------------------------------------------------
// Reading

interface ReadResult {
  records: CsvRecord[];
  /** Share of the file's bytes behind the records read: 1 when the whole file was read. */
  share: number;
}

async function readRecords(path: string, limit = Number.POSITIVE_INFINITY): Promise<ReadResult> {
  const source = createReadStream(path);
  const parser = source.pipe(
    parse({ bom: true, skip_empty_lines: true, info: true, columns: (header: string[]) => header.map((h) => h.trim()) }),
  );
  const records: CsvRecord[] = [];
  let bytes = 0;
  let complete = true;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: CsvRecord; info: { bytes: number } }>) {
      if (records.length >= limit) {
        complete = false;
        break;
      }
      records.push(record);
      bytes = info.bytes;
    }
  } finally {
    source.destroy();
  }
  return { records, share: complete ? 1 : bytes / (await stat(path)).size };
}

/** First non-blank value among the columns, trimmed; the original treated blank cells as missing. */
function field(record: CsvRecord, ...columns: string[]): string | null {
  for (const column of columns) {
    const value = record[column]?.trim();
    if (value) return value;
  }
  return null;
}

/** Plain decimal numbers only ("12.0" → 12); anything else is unparsable and stored as NULL. */
function count(value: string | undefined): number | null {
  const text = value?.trim() ?? '';
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null;
  const number = Number(text);
  return Number.isFinite(number) ? Math.trunc(number) : null;
}

function privateFlag(value: string | undefined): number | null {
  const text = value?.trim().toLowerCase();
  if (!text) return null;
  return ['1', 'true', 'yes', 'y'].includes(text) ? 1 : 0;
}

/** Later rows overwrite earlier ones in the maps, which is the original's "last row wins". */
function indexAuthors(records: CsvRecord[]): { byId: Map<string, AuthorFields>; raw: RawRow[] } {
  const byId = new Map<string, AuthorFields>();
  const raw: RawRow[] = [];
  for (const record of records) {
    const id = field(record, 'authors_id');
    if (id === null) continue;
    byId.set(id, {
      uniqueId: field(record, 'authors_uniqueids'),
      name: field(record, 'authors_nicknames'),
      followers: count(record.authors_followercount),
      hearts: count(record.authors_heartcount),
      videosCount: count(record.authors_videocount),
      signature: field(record, 'authors_signature'),
      isPrivate: privateFlag(record.authors_privateaccount),
    });
    raw.push({ key: id, json: JSON.stringify(record) });
  }
  return { byId, raw };
}

function indexBookmarks(records: CsvRecord[]): { byVideo: Map<string, string | null>; raw: RawRow[] } {
  const byVideo = new Map<string, string | null>();
  const raw: RawRow[] = [];
  for (const record of records) {
    const id = field(record, 'bookmarks_bookmark_id');
    if (id === null) continue;
    byVideo.set(id, field(record, 'bookmarks_timestamp'));
    raw.push({ key: id, json: JSON.stringify(record) });
  }
  return { byVideo, raw };
}

// ---------------------------------------------------------------------------------------------------------
// Row rules

function mediaPath(kind: 'videos' | 'covers', extension: string, id: string, authorId: string | null, bookmarked: boolean): string {
  if (bookmarked) return `Favorites/${kind}/${id}.${extension}`;
  return authorId ? `Following/${authorId}/${kind}/${id}.${extension}` : `Following/${kind}/${id}.${extension}`;
}

function toVideo(
  record: CsvRecord,
  authors: Map<string, AuthorFields>,
  bookmarks: Map<string, string | null>,
): Video | null {
  const id = field(record, 'c_videos_id');
  if (id === null) return null;
  const authorId = field(record, 'c_videos_authorid');
  const author = authorId === null ? undefined : authors.get(authorId);
  const bookmarked = bookmarks.has(id);
  return {
    id,
    platform: field(record, 'platform') ?? 'TikTok',
    author_id: authorId,
    // The authors file is the fresher scrape, so its handle and name win when it has them.
    author_unique_id: author?.uniqueId ?? field(record, 'c_authors_uniqueids'),
    author_name: author?.name ?? field(record, 'c_authors_nicknames'),
    followers: author?.followers ?? null,
    hearts: author?.hearts ?? null,
    videos_count: author?.videosCount ?? null,
    signature: author?.signature ?? null,
    is_private: author?.isPrivate ?? null,
    caption: field(record, 'c_texts_text_content', 'text'),
    bookmarked: bookmarked ? 1 : 0,
    bookmark_timestamp: bookmarks.get(id) ?? null,
    video_path: field(record, 'video_path', 'media.video') ?? mediaPath('videos', 'mp4', id, authorId, bookmarked),
    cover_path: field(record, 'cover_path', 'media.cover') ?? mediaPath('covers', 'jpg', id, authorId, bookmarked),
    csv_row_hash: field(record, 'csv_row_hash', 'source.csv_row_hash') ?? stableRowHash(record),
  };
}

// The driver hands bigint back as text and integers as numbers; comparing as text treats 12 and "12" alike.
const comparable = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

function unchanged(stored: Record<string, unknown>, incoming: Video): boolean {
  return COMPARED.every((column) => comparable(stored[column]) === comparable(incoming[column]));
}

// ---------------------------------------------------------------------------------------------------------
// Statements: unnamed parameterised queries, so the server parses each one again, like a driver without
// prepared statements

const SELECT_STORED = `SELECT ${COMPARED.join(', ')} FROM videos WHERE source_id = $1 AND id = $2`;
const INSERT_VIDEO = `INSERT INTO videos (source_id, id, ${VIDEO_COLUMNS.join(', ')}, updated_at)
  VALUES (${Array.from({ length: VIDEO_COLUMNS.length + 3 }, (_, i) => `$${i + 1}`).join(', ')})`;
const UPDATE_VIDEO = `UPDATE videos SET ${VIDEO_COLUMNS.map((c, i) => `${c} = $${i + 3}`).join(', ')},
  updated_at = $${VIDEO_COLUMNS.length + 3} WHERE source_id = $1 AND id = $2`;
// An unchanged raw row keeps its imported_at, so importing the same file twice writes nothing the second time.
const UPSERT_CONSOLIDATED_RAW = `INSERT INTO csv_consolidated_raw (source_id, video_id, row_json, csv_row_hash, imported_at)
  VALUES ($1, $2, $3::jsonb, $4, $5)
  ON CONFLICT (source_id, video_id) DO UPDATE
    SET row_json = excluded.row_json, csv_row_hash = excluded.csv_row_hash, imported_at = excluded.imported_at
    WHERE csv_consolidated_raw.row_json IS DISTINCT FROM excluded.row_json`;
const upsertKeyedRaw = (table: string, key: string) => `INSERT INTO ${table} (source_id, ${key}, row_json, imported_at)
  VALUES ($1, $2, $3::jsonb, $4)
  ON CONFLICT (source_id, ${key}) DO UPDATE SET row_json = excluded.row_json, imported_at = excluded.imported_at
    WHERE ${table}.row_json IS DISTINCT FROM excluded.row_json`;
const UPSERT_AUTHOR_RAW = upsertKeyedRaw('csv_authors_raw', 'author_id');
const UPSERT_BOOKMARK_RAW = upsertKeyedRaw('csv_bookmarks_raw', 'video_id');

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

type Outcome = 'inserted' | 'updated' | 'skipped';

async function importVideo(client: pg.Client, sourceId: string, video: Video, now: string): Promise<Outcome> {
  const stored = await client.query(SELECT_STORED, [sourceId, video.id]);
  const values = [sourceId, video.id, ...VIDEO_COLUMNS.map((c) => video[c]), now];
  if (stored.rowCount === 0) {
    await client.query(INSERT_VIDEO, values);
    return 'inserted';
  }
  if (unchanged(stored.rows[0] as Record<string, unknown>, video)) return 'skipped';
  await client.query(UPDATE_VIDEO, values);
  return 'updated';
}

/**
 * Imports the files into an already bootstrapped tenant schema, row by row. With `maxRows`, only that prefix
 * of the consolidated file is imported, and of the authors and bookmarks raw rows only the same share (by
 * bytes of the consolidated file read) is written, so the per-row cost still extrapolates to the whole import.
 * The lookups still see the whole authors and bookmarks files. `ms` runs from reading the consolidated rows to
 * the commit; reading the two lookup files comes before it.
 */
export async function importRowByRow(
  dsn: string,
  schema: string,
  sourceId: string,
  files: RowByRowFiles,
  options: RowByRowOptions = {},
): Promise<RowByRowResult> {
  // The lookup files cost the same whatever maxRows is; timing them would make short prefixes look slower per
  // row than a whole import, where they are a rounding error next to a million round trips.
  const authors = indexAuthors(files.authors ? (await readRecords(files.authors)).records : []);
  const bookmarks = indexBookmarks(files.bookmarks ? (await readRecords(files.bookmarks)).records : []);
  const started = performance.now();
  const consolidated = await readRecords(files.consolidated, options.maxRows);
  const share = (rows: RawRow[]) => rows.slice(0, Math.round(rows.length * consolidated.share));

  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  const counts = { inserted: 0, updated: 0, skipped: 0 };
  try {
    await client.query(`SET search_path TO ${quoteIdent(schema)}, public`);
    await client.query('BEGIN');
    const now = new Date().toISOString();
    for (const record of consolidated.records) {
      const video = toVideo(record, authors.byId, bookmarks.byVideo);
      if (video === null) {
        counts.skipped++;
        continue;
      }
      counts[await importVideo(client, sourceId, video, now)]++;
      await client.query(UPSERT_CONSOLIDATED_RAW, [sourceId, video.id, JSON.stringify(record), video.csv_row_hash, now]);
    }
    for (const row of share(authors.raw)) await client.query(UPSERT_AUTHOR_RAW, [sourceId, row.key, row.json, now]);
    for (const row of share(bookmarks.raw)) await client.query(UPSERT_BOOKMARK_RAW, [sourceId, row.key, row.json, now]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
  return { rows: consolidated.records.length, ...counts, ms: performance.now() - started };
}
