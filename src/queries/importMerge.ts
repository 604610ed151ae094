import { Readable } from 'node:stream';
import sql, { bulk, join, raw, type Sql } from 'sql-template-tag';
import type { Dialect, TenantDb } from '../interfaces.js';
import type { AuthorStageRow, BookmarkStageRow, ConsolidatedStageRow } from '../import/csvFields.js';
import { copyTextLine } from './copyText.js';
import { ident } from '../sources/identifiers.js';
import { asJson, sameValue, tempTable, tempTableAs } from './dialect.js';

export interface ImportCounts {
  inserted: number;
  updated: number;
  skipped: number;
}

// Keys are compared with the "C"-collated columns of the PostgreSQL layout; SQLite has no such collation name.
const keyText = (dialect: Dialect): Sql => raw(dialect === 'postgres' ? 'text COLLATE "C"' : 'TEXT');

const STAGING = ['stage_consolidated', 'stage_authors', 'stage_bookmarks', 'stage_incoming', 'stage_classified'];

export async function createStaging(db: TenantDb): Promise<void> {
  // Two imports into one source would classify rows against a table the other is changing; the second waits.
  // (SQLite's merge already runs under BEGIN IMMEDIATE, which serialises writers.)
  if (db.dialect === 'postgres') await db.run(sql`SELECT pg_advisory_xact_lock(hashtext(${`sx-import:${db.sourceId}`}))`);
  const key = keyText(db.dialect);
  // JSON stays text while staged: only the rows that reach the raw tables pay for parsing it.
  const json = raw('text');
  // In SQLite the file order is the rowid: the merge finds a staged row by seq without an index of its own.
  const seq = raw(db.dialect === 'sqlite' ? 'INTEGER PRIMARY KEY' : 'integer NOT NULL');
  for (const table of STAGING) await db.run(sql`DROP TABLE IF EXISTS ${raw(table)}`);
  await db.run(tempTable(db.dialect, 'stage_consolidated', sql`(
    seq ${seq}, video_id ${key}, author_id ${key}, author_unique_id ${key}, author_name text,
    caption text, platform text, csv_row_hash text, video_path text, cover_path text, row_json ${json})`));
  await db.run(tempTable(db.dialect, 'stage_authors', sql`(
    seq ${seq}, author_id ${key}, author_unique_id ${key}, author_name text, followers bigint, hearts bigint,
    videos_count bigint, signature text, is_private integer, row_json ${json})`));
  await db.run(tempTable(db.dialect, 'stage_bookmarks', sql`(
    seq ${seq}, video_id ${key}, bookmark_timestamp text, row_json ${json})`));
}

/** The staged tables and their columns, in the order rows are handed to `stageRows`. */
export const STAGED_COLUMNS = {
  stage_consolidated: ['seq', 'video_id', 'author_id', 'author_unique_id', 'author_name', 'caption', 'platform',
    'csv_row_hash', 'video_path', 'cover_path', 'row_json'],
  stage_authors: ['seq', 'author_id', 'author_unique_id', 'author_name', 'followers', 'hearts', 'videos_count',
    'signature', 'is_private', 'row_json'],
  stage_bookmarks: ['seq', 'video_id', 'bookmark_timestamp', 'row_json'],
} as const;
export type StagedTable = keyof typeof STAGED_COLUMNS;

export const consolidatedTuple = (r: ConsolidatedStageRow): unknown[] =>
  [r.seq, r.videoId, r.authorId, r.authorUniqueId, r.authorName, r.caption, r.platform, r.csvRowHash, r.videoPath, r.coverPath, r.rowJson];
export const authorTuple = (r: AuthorStageRow): unknown[] =>
  [r.seq, r.authorId, r.authorUniqueId, r.authorName, r.followers, r.hearts, r.videosCount, r.signature, r.isPrivate, r.rowJson];
export const bookmarkTuple = (r: BookmarkStageRow): unknown[] => [r.seq, r.videoId, r.bookmarkTimestamp, r.rowJson];

/**
 * Streams batches of rows into a staging table. PostgreSQL takes them through COPY, whose backpressure reaches
 * back to the CSV reader; SQLite through one prepared multi-row INSERT per full batch.
 */
export async function stageRows(db: TenantDb, table: StagedTable, batches: AsyncIterable<unknown[][]>): Promise<void> {
  const columns = raw(STAGED_COLUMNS[table].join(', '));
  if (db.copyFrom) {
    const lines = Readable.from(
      (async function* () {
        for await (const batch of batches) if (batch.length) yield batch.map(copyTextLine).join('');
      })(),
      { objectMode: false },
    );
    await db.copyFrom(sql`COPY ${raw(table)} (${columns}) FROM STDIN`, lines);
    return;
  }
  for await (const batch of batches) {
    if (batch.length) await db.run(sql`INSERT INTO ${raw(table)} (${columns}) VALUES ${bulk(batch)}`);
  }
}

/** The fields whose change makes a row "updated"; the original compared exactly these. */
export const COMPARED = ['csv_row_hash', 'bookmarked', 'bookmark_timestamp', 'followers', 'hearts', 'videos_count', 'signature', 'is_private'];

/** The columns of `videos` an import writes (besides source_id, id and updated_at). */
export const VIDEO_COLUMNS = [
  'platform', 'author_id', 'author_unique_id', 'author_name', 'followers', 'hearts', 'videos_count', 'signature',
  'is_private', 'caption', 'bookmarked', 'bookmark_timestamp', 'video_path', 'cover_path', 'csv_row_hash',
];

export function unchangedAgainst(dialect: Dialect, prefix: string): Sql {
  const parts = COMPARED.map((column) => sameValue(dialect, raw(`i.${column}`), raw(`${prefix}${column}`)));
  return raw(parts.map((p) => p.sql).join(' AND '));
}

/**
 * A staged consolidated row `c` completed from the last row of its author `a` and of its bookmark `b` (either
 * may be missing): the columns of stage_incoming, in this order.
 */
export const INCOMING_COLUMNS = raw(`c.seq, c.video_id AS id, c.platform, c.author_id,
           coalesce(a.author_unique_id, c.author_unique_id) AS author_unique_id,
           coalesce(a.author_name, c.author_name) AS author_name,
           a.followers, a.hearts, a.videos_count, a.signature, a.is_private, c.caption,
           CASE WHEN b.video_id IS NULL THEN 0 ELSE 1 END AS bookmarked,
           b.bookmark_timestamp,
           coalesce(c.video_path, CASE WHEN b.video_id IS NOT NULL THEN 'Favorites/videos/' || c.video_id || '.mp4'
                                       WHEN c.author_id IS NOT NULL THEN 'Following/' || c.author_id || '/videos/' || c.video_id || '.mp4'
                                       ELSE 'Following/videos/' || c.video_id || '.mp4' END) AS video_path,
           coalesce(c.cover_path, CASE WHEN b.video_id IS NOT NULL THEN 'Favorites/covers/' || c.video_id || '.jpg'
                                       WHEN c.author_id IS NOT NULL THEN 'Following/' || c.author_id || '/covers/' || c.video_id || '.jpg'
                                       ELSE 'Following/covers/' || c.video_id || '.jpg' END) AS cover_path,
           c.csv_row_hash`);

/** `lag(column) OVER w AS prev_column` for each compared field: what the row before in the same id held. */
export const PREVIOUS_VALUES = raw(COMPARED.map((column) => `lag(${column}) OVER w AS prev_${column}`).join(', '));

/**
 * The row-by-row verdict of a row `i` of stage_incoming carrying its window (prev_seq and the prev_ values), with
 * `v` the stored row of its id (all NULL when there is none).
 */
export function outcomeOf(dialect: Dialect): Sql {
  return sql`CASE WHEN i.prev_seq IS NULL AND v.id IS NULL THEN 'inserted'
                        WHEN i.prev_seq IS NOT NULL AND ${unchangedAgainst(dialect, 'i.prev_')} THEN 'skipped'
                        WHEN i.prev_seq IS NULL AND ${unchangedAgainst(dialect, 'v.')} THEN 'skipped'
                        ELSE 'updated' END`;
}

/**
 * Set-wise merge of the staged files into the source's tables, with the original importer's counts:
 * rows are judged in file order, each against the row before it with the same id (or the stored row for the
 * first one), exactly as a row-by-row import would; the last row of an id is the one that is kept.
 * User meta is never written here. PostgreSQL runs these statements; SQLite runs `mergeStagedSqlite`
 * (importMergeSqlite.ts), the same rules in statements shaped for SQLite.
 */
export async function mergeStaged(db: TenantDb, importedAt: string): Promise<ImportCounts> {
  const { dialect, sourceId } = db;
  // PostgreSQL hashes and sorts these joins; SQLite's nested loops want the indexes.
  if (dialect === 'sqlite') await db.run(sql`CREATE INDEX stage_consolidated_video ON stage_consolidated (video_id, seq)`);
  await db.run(sql`CREATE INDEX stage_authors_author ON stage_authors (author_id, seq)`);
  await db.run(sql`CREATE INDEX stage_bookmarks_video ON stage_bookmarks (video_id, seq)`);

  await db.run(tempTableAs(dialect, 'stage_incoming', sql`
    WITH a AS (
      SELECT * FROM (SELECT s.*, row_number() OVER (PARTITION BY author_id ORDER BY seq DESC) AS rn
                       FROM stage_authors s WHERE author_id IS NOT NULL) x WHERE rn = 1
    ), b AS (
      SELECT * FROM (SELECT s.*, row_number() OVER (PARTITION BY video_id ORDER BY seq DESC) AS rn
                       FROM stage_bookmarks s WHERE video_id IS NOT NULL) x WHERE rn = 1
    )
    SELECT ${INCOMING_COLUMNS}
      FROM stage_consolidated c
      LEFT JOIN a ON a.author_id = c.author_id
      LEFT JOIN b ON b.video_id = c.video_id
     WHERE c.video_id IS NOT NULL`));

  // outcome: the row-by-row verdict; is_last: the row of its id that is kept; write_row: is_last, and some row
  // of the id changed something (an id whose rows were all skipped is not written at all).
  await db.run(tempTableAs(dialect, 'stage_classified', sql`
    SELECT j.*, CASE WHEN j.is_last = 1 AND max(CASE WHEN j.outcome <> 'skipped' THEN 1 ELSE 0 END) OVER (PARTITION BY j.id) = 1
                     THEN 1 ELSE 0 END AS write_row
      FROM (SELECT i.*,
                   ${outcomeOf(dialect)} AS outcome,
                   CASE WHEN i.next_seq IS NULL THEN 1 ELSE 0 END AS is_last
              FROM (SELECT s.*, lag(seq) OVER w AS prev_seq, lead(seq) OVER w AS next_seq, ${PREVIOUS_VALUES}
                      FROM stage_incoming s
                    WINDOW w AS (PARTITION BY id ORDER BY seq)) i
              LEFT JOIN videos v ON v.source_id = ${sourceId} AND v.id = i.id) j`));

  const counts: ImportCounts = { inserted: 0, updated: 0, skipped: 0 };
  for (const row of await db.all<{ outcome: keyof ImportCounts; n: number }>(
    sql`SELECT outcome, count(*) AS n FROM stage_classified GROUP BY outcome`,
  )) {
    counts[row.outcome] = Number(row.n);
  }

  const columns = raw(VIDEO_COLUMNS.join(', '));
  const selected = raw(VIDEO_COLUMNS.map((c) => `c.${c}`).join(', '));
  const assignments = raw([...VIDEO_COLUMNS, 'updated_at'].map((c) => `${c} = excluded.${c}`).join(', '));
  await withIndexesRebuiltIfBulk(db, ['videos', 'csv_consolidated_raw'], counts.inserted, async () => {
    await db.run(sql`
      INSERT INTO videos (source_id, id, ${columns}, updated_at)
      SELECT ${sourceId}, c.id, ${selected}, ${importedAt}
        FROM stage_classified c
       WHERE c.write_row = 1
      ON CONFLICT (source_id, id) DO UPDATE SET ${assignments}`);
    await db.run(sql`
      INSERT INTO csv_consolidated_raw (source_id, video_id, row_json, csv_row_hash, imported_at)
      SELECT ${sourceId}, c.id, ${asJson(dialect, raw('s.row_json'))}, c.csv_row_hash, ${importedAt}
        FROM stage_classified c JOIN stage_consolidated s ON s.seq = c.seq
       WHERE c.is_last = 1
      ON CONFLICT (source_id, video_id) DO UPDATE
        SET row_json = excluded.row_json, csv_row_hash = excluded.csv_row_hash, imported_at = excluded.imported_at
        WHERE NOT ${sameValue(dialect, raw('csv_consolidated_raw.row_json'), raw('excluded.row_json'))}`);
  });
  await upsertLatestRaw(db, 'csv_authors_raw', 'author_id', 'stage_authors', importedAt);
  await upsertLatestRaw(db, 'csv_bookmarks_raw', 'video_id', 'stage_bookmarks', importedAt);
  return counts;
}

// Below this many new rows, maintaining the indexes row by row is cheaper than rebuilding them.
const BULK_LOAD_ROWS = 20_000;

/**
 * A large load into empty tables (a source's first import) is faster when the secondary indexes are built
 * once afterwards than maintained row by row, as pg_restore does it. The primary keys stay: ON CONFLICT needs
 * them. Dropping an index locks its table until the import commits, so this only happens while the source has
 * no rows to serve; PostgreSQL only.
 */
async function withIndexesRebuiltIfBulk(db: TenantDb, tables: string[], newRows: number, load: () => Promise<void>): Promise<void> {
  const empty = async (table: string) => !(await db.one(sql`SELECT 1 AS found FROM ${ident(table)} LIMIT 1`));
  if (db.dialect !== 'postgres' || newRows < BULK_LOAD_ROWS || !(await Promise.all(tables.map(empty))).every(Boolean)) {
    await load();
    return;
  }
  const indexes = await db.all<{ name: string; definition: string }>(sql`
    SELECT i.indexname AS name, i.indexdef AS definition
      FROM pg_indexes i
     WHERE i.schemaname = current_schema() AND i.tablename IN (${join(tables)})
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)`);
  for (const index of indexes) await db.run(sql`DROP INDEX ${ident(index.name)}`);
  await load();
  // Index builds sort in memory up to this bound; the default 64 MB spills a million-row GIN build to disk.
  await db.run(sql`SELECT set_config('maintenance_work_mem', '256MB', true)`);
  // The definitions come from the catalog of this very schema, not from input.
  for (const index of indexes) await db.run(raw(index.definition));
  // Statistics for the tables just filled, committed with them: until autovacuum gets there, the source's first
  // queries would be planned for the empty tables the planner last saw.
  for (const table of tables) await db.run(sql`ANALYZE ${ident(table)}`);
}

/** Keeps the last staged row per key; an unchanged row keeps its imported_at, so a re-import writes nothing. */
export async function upsertLatestRaw(
  db: TenantDb,
  table: 'csv_authors_raw' | 'csv_bookmarks_raw',
  key: 'author_id' | 'video_id',
  stage: 'stage_authors' | 'stage_bookmarks',
  importedAt: string,
): Promise<void> {
  const [target, column, staged] = [raw(table), raw(key), raw(stage)];
  await db.run(sql`
    INSERT INTO ${target} (source_id, ${column}, row_json, imported_at)
    SELECT ${db.sourceId}, s.${column}, ${asJson(db.dialect, raw('s.row_json'))}, ${importedAt}
      FROM (SELECT ${column}, row_json, row_number() OVER (PARTITION BY ${column} ORDER BY seq DESC) AS rn
              FROM ${staged} WHERE ${column} IS NOT NULL) s
     WHERE s.rn = 1
    ON CONFLICT (source_id, ${column}) DO UPDATE SET row_json = excluded.row_json, imported_at = excluded.imported_at
      WHERE NOT ${sameValue(db.dialect, raw(`${table}.row_json`), raw('excluded.row_json'))}`);
}
