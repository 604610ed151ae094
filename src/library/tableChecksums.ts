import { createHash } from 'node:crypto';
import sql, { empty, raw } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';

/**
 * How a column's value is written into the checksum, so that the same data gives the same text in both stores:
 * - `text`: as stored. Timestamps (updated_at, imported_at, bookmark_timestamp …) are TEXT in both layouts and
 *   hold ISO-8601 strings the gateway wrote or the CSV carried; they are compared as that text, not reparsed.
 * - `integer`: decimal text. PostgreSQL's bigint arrives as a number (the pool's INT8 parser), SQLite's INTEGER as
 *   a number; the flags (bookmarked, is_private) are integers 0/1 in both, never booleans.
 * - `json`: canonical JSON (keys sorted at every level, no whitespace). PostgreSQL's jsonb arrives parsed and has
 *   already dropped duplicate keys and reordered the rest; SQLite's TEXT is parsed here the same way.
 */
type ColumnKind = 'text' | 'integer' | 'json';

interface SourceTable {
  readonly table: string;
  /** The primary key within a source (both layouts also key every table by source_id, which is left out). */
  readonly key: string;
  /** Every column but source_id, in the order they are hashed. */
  readonly columns: Readonly<Record<string, ColumnKind>>;
}

/**
 * Every table that holds a source's rows, in both layouts (the PostgreSQL migrations and the SQLite layout).
 * Derived data is left out: PostgreSQL's generated `videos.search_tsv` and SQLite's `videos_fts` index are
 * rebuilt from the columns hashed here.
 */
export const SOURCE_TABLES: readonly SourceTable[] = [
  {
    table: 'videos',
    key: 'id',
    columns: {
      id: 'text', platform: 'text', author_id: 'text', author_unique_id: 'text', author_name: 'text',
      followers: 'integer', hearts: 'integer', videos_count: 'integer', signature: 'text', is_private: 'integer',
      caption: 'text', bookmarked: 'integer', bookmark_timestamp: 'text', video_path: 'text', cover_path: 'text',
      csv_row_hash: 'text', updated_at: 'text',
    },
  },
  {
    table: 'user_meta',
    key: 'video_id',
    columns: {
      video_id: 'text', rating: 'integer', status: 'text', statuses: 'text', tags: 'text', notes: 'text',
      product_link: 'text', author_links: 'text', platform_targets: 'text', workflow_log: 'text', post_url: 'text',
      published_time: 'text', updated_at: 'text',
    },
  },
  {
    table: 'video_notes',
    key: 'video_id',
    columns: { video_id: 'text', markdown: 'text', template_version: 'text', updated_at: 'text' },
  },
  {
    table: 'csv_consolidated_raw',
    key: 'video_id',
    columns: { video_id: 'text', row_json: 'json', csv_row_hash: 'text', imported_at: 'text' },
  },
  {
    table: 'csv_authors_raw',
    key: 'author_id',
    columns: { author_id: 'text', row_json: 'json', imported_at: 'text' },
  },
  {
    table: 'csv_bookmarks_raw',
    key: 'video_id',
    columns: { video_id: 'text', row_json: 'json', imported_at: 'text' },
  },
  {
    table: 'scheduling_artifacts',
    key: 'id',
    columns: { id: 'text', video_id: 'text', kind: 'text', payload_json: 'json', created_at: 'text' },
  },
  {
    // The one table whose rows the two stores cannot agree on by themselves: its id comes from PostgreSQL's
    // per-schema sequence, or from SQLite's AUTOINCREMENT counter, which all sources of the file share. Equal
    // checksums need the ids to have been copied, not generated (a cutover copies them).
    table: 'job_queue',
    key: 'id',
    columns: { id: 'integer', kind: 'text', payload_json: 'json', status: 'text', created_at: 'text', updated_at: 'text' },
  },
];

export interface TableChecksum {
  table: string;
  rows: number;
  /** SHA-256 (hex) over the column names, then every row in primary-key order, one canonical JSON line each. */
  checksum: string;
}

// Rows per statement: bounded memory for a large source, few round trips for a small one.
const BATCH = 2000;

/**
 * A checksum of every table of the source, to show that a failed import changed nothing, that a backup or a
 * cutover copied everything, or where two copies of a source differ. Same data, same checksums, in SQLite and
 * PostgreSQL (job_queue aside, see above).
 *
 * Rows are read in batches in primary-key order, by byte order of the key (PostgreSQL's "C" collation, which
 * is how SQLite compares text), so both stores hash the rows in the same order. In PostgreSQL each batch is its
 * own snapshot of a READ COMMITTED transaction: the caller keeps writers away (an import of the same source
 * waits for none of this) when the figures must describe one instant.
 */
export async function tableChecksums(db: TenantDb): Promise<TableChecksum[]> {
  const result: TableChecksum[] = [];
  for (const source of SOURCE_TABLES) result.push(await tableChecksum(db, source));
  return result;
}

async function tableChecksum(db: TenantDb, source: SourceTable): Promise<TableChecksum> {
  const names = Object.keys(source.columns);
  const kinds = Object.values(source.columns);
  const hash = createHash('sha256').update(`${JSON.stringify(names)}\n`);
  // Identifiers come from the constant above, never from input.
  const select = raw(names.join(', '));
  const table = raw(source.table);
  const textKey = source.columns[source.key] === 'text';
  const key = raw(textKey && db.dialect === 'postgres' ? `${source.key} COLLATE "C"` : source.key);
  let rows = 0;
  let last: unknown = null;
  for (;;) {
    const after = last === null ? empty : sql`AND ${key} > ${last}`;
    const batch = await db.all<Record<string, unknown>>(sql`
      SELECT ${select} FROM ${table}
       WHERE source_id = ${db.sourceId} ${after}
       ORDER BY ${key}
       LIMIT ${BATCH}`);
    for (const row of batch) {
      hash.update(`${JSON.stringify(names.map((name, i) => normalised(row[name], kinds[i]!)))}\n`);
    }
    rows += batch.length;
    if (batch.length < BATCH) break;
    last = batch[batch.length - 1]![source.key];
  }
  return { table: source.table, rows, checksum: hash.digest('hex') };
}

function normalised(value: unknown, kind: ColumnKind): string | null {
  if (value === null || value === undefined) return null;
  if (kind === 'json') return canonicalJson(typeof value === 'string' ? parseJson(value) : value);
  if (kind === 'integer') return typeof value === 'bigint' ? value.toString() : String(value);
  return typeof value === 'string' ? value : String(value);
}

/** SQLite does not check that a JSON column holds JSON; text that is not JSON is hashed as a JSON string. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * JSON with the keys of every object sorted and no whitespace, so equal values have one spelling. Written out
 * by hand: a JavaScript object would put integer-like keys ("10", "9") first whatever order they are added in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const members = Object.keys(object).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
