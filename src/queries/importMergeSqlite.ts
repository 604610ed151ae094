import sql, { join, raw } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';
import { ident } from '../sources/identifiers.js';
import {
  INCOMING_COLUMNS,
  PREVIOUS_VALUES,
  VIDEO_COLUMNS,
  outcomeOf,
  upsertLatestRaw,
  type ImportCounts,
} from './importMerge.js';

/**
 * SQLite's merge of the staged files: the same rules, rows and counts as `mergeStaged` (the statements PostgreSQL
 * runs), in statements shaped for SQLite, whose joins are nested loops over a small page cache. What differs, and
 * why (1M-row first import, each measured against the shared statements on the same staged rows):
 * - the intermediate tables are keyed by (id, seq) and filled in that order, so the windows read them without
 *   sorting, every write into `videos` and `csv_consolidated_raw` comes in primary-key order, and the raw JSON is
 *   read in order instead of looked up row by row (the lookup built an automatic index holding every row's JSON);
 * - the full-text index gets the changed rows in one statement while its triggers are set aside (the triggers
 *   cost 26 s row by row, one statement 4 s);
 * - a load at least as large as the table builds its secondary indexes afterwards (see bulkLoad).
 * Everything runs inside the caller's IMMEDIATE transaction: a failure rolls back the rows, the index entries and
 * the dropped triggers and indexes alike.
 */
export async function mergeStagedSqlite(db: TenantDb, importedAt: string): Promise<ImportCounts> {
  const { sourceId } = db;
  for (const table of SQLITE_STAGING) await db.run(sql`DROP TABLE IF EXISTS ${ident(table)}`);

  // The last row of each author and of each bookmark, keyed for the lookups of the join below.
  await db.run(sql`
    CREATE TEMP TABLE stage_author_last (
      author_id TEXT PRIMARY KEY, author_unique_id TEXT, author_name TEXT, followers INTEGER, hearts INTEGER,
      videos_count INTEGER, signature TEXT, is_private INTEGER) WITHOUT ROWID`);
  await db.run(sql`
    INSERT INTO stage_author_last
    SELECT author_id, author_unique_id, author_name, followers, hearts, videos_count, signature, is_private
      FROM (SELECT s.*, row_number() OVER (PARTITION BY author_id ORDER BY seq DESC) AS rn
              FROM stage_authors s WHERE author_id IS NOT NULL)
     WHERE rn = 1`);
  await db.run(sql`CREATE TEMP TABLE stage_bookmark_last (video_id TEXT PRIMARY KEY, bookmark_timestamp TEXT) WITHOUT ROWID`);
  await db.run(sql`
    INSERT INTO stage_bookmark_last
    SELECT video_id, bookmark_timestamp
      FROM (SELECT s.*, row_number() OVER (PARTITION BY video_id ORDER BY seq DESC) AS rn
              FROM stage_bookmarks s WHERE video_id IS NOT NULL)
     WHERE rn = 1`);

  // The rows as they would be stored, with their JSON, in (id, seq) order: sorted once here, read in order from
  // then on (the windows below, and the writes, which then come in the order of the primary keys).
  await db.run(sql`
    CREATE TEMP TABLE stage_incoming (
      seq INTEGER NOT NULL, id TEXT NOT NULL, platform TEXT, author_id TEXT, author_unique_id TEXT, author_name TEXT,
      followers INTEGER, hearts INTEGER, videos_count INTEGER, signature TEXT, is_private INTEGER, caption TEXT,
      bookmarked INTEGER, bookmark_timestamp TEXT, video_path TEXT, cover_path TEXT, csv_row_hash TEXT, row_json TEXT,
      PRIMARY KEY (id, seq)) WITHOUT ROWID`);
  await db.run(sql`
    INSERT INTO stage_incoming
    SELECT ${INCOMING_COLUMNS}, c.row_json
      FROM stage_consolidated c
      LEFT JOIN stage_author_last a ON a.author_id = c.author_id
      LEFT JOIN stage_bookmark_last b ON b.video_id = c.video_id
     WHERE c.video_id IS NOT NULL
     ORDER BY c.video_id, c.seq`);

  // outcome: the row-by-row verdict; is_last: the row of its id that is kept.
  await db.run(sql`
    CREATE TEMP TABLE stage_classified (
      id TEXT NOT NULL, seq INTEGER NOT NULL, outcome TEXT NOT NULL, is_last INTEGER NOT NULL,
      PRIMARY KEY (id, seq)) WITHOUT ROWID`);
  await db.run(sql`
    INSERT INTO stage_classified
    SELECT i.id, i.seq,
           ${outcomeOf('sqlite')} AS outcome,
           CASE WHEN i.next_seq IS NULL THEN 1 ELSE 0 END AS is_last
      FROM (SELECT s.*, lag(seq) OVER w AS prev_seq, lead(seq) OVER w AS next_seq, ${PREVIOUS_VALUES}
              FROM stage_incoming s
            WINDOW w AS (PARTITION BY id ORDER BY seq)) i
      LEFT JOIN videos v ON v.source_id = ${sourceId} AND v.id = i.id`);

  const counts: ImportCounts = { inserted: 0, updated: 0, skipped: 0 };
  for (const row of await db.all<{ outcome: keyof ImportCounts; n: number }>(
    sql`SELECT outcome, count(*) AS n FROM stage_classified GROUP BY outcome`,
  )) {
    counts[row.outcome] = Number(row.n);
  }

  // The rows written to videos: the last row of each id of which some row changed something (an id whose rows
  // were all skipped is not written at all).
  await db.run(sql`CREATE TEMP TABLE stage_written (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID`);
  await db.run(sql`
    INSERT INTO stage_written
    SELECT c.id, c.seq
      FROM stage_classified c
     WHERE c.is_last = 1
       AND EXISTS (SELECT 1 FROM stage_classified o WHERE o.id = c.id AND o.outcome <> 'skipped')`);
  const written = (await db.one<{ n: number }>(sql`SELECT count(*) AS n FROM stage_written`))!.n;

  const searchTriggers = await dropSchemaObjects(db, 'trigger', 'videos', SEARCH_TRIGGERS);
  // What the full-text index holds for the rows about to change (their text as stored), and the new rows.
  await db.run(sql`
    CREATE TEMP TABLE stage_search AS
    SELECT c.id, v.rowid AS old_rowid, v.caption, v.author_unique_id, v.author_name
      FROM stage_written w
      JOIN stage_incoming c ON c.id = w.id AND c.seq = w.seq
      LEFT JOIN videos v ON v.source_id = ${sourceId} AND v.id = c.id
     WHERE v.rowid IS NULL
        OR NOT (v.caption IS c.caption AND v.author_unique_id IS c.author_unique_id AND v.author_name IS c.author_name)`);
  // FTS5 flushes its pending terms whenever a rowid is not above the last one written: ascending order keeps
  // them in memory.
  await db.run(sql`
    INSERT INTO videos_fts (videos_fts, rowid, caption, author_unique_id, author_name)
    SELECT 'delete', old_rowid, caption, author_unique_id, author_name
      FROM stage_search
     WHERE old_rowid IS NOT NULL
     ORDER BY old_rowid`);

  const rebuilt = await bulkLoad(db, written)
    ? [
        ...(await dropSchemaObjects(db, 'index', 'videos')),
        ...(await dropSchemaObjects(db, 'index', 'csv_consolidated_raw')),
      ]
    : [];

  const columns = raw(VIDEO_COLUMNS.join(', '));
  const selected = raw(VIDEO_COLUMNS.map((column) => `c.${column}`).join(', '));
  const assignments = raw([...VIDEO_COLUMNS, 'updated_at'].map((column) => `${column} = excluded.${column}`).join(', '));
  // WHERE true: without it SQLite would read ON CONFLICT as a join constraint of the SELECT.
  await db.run(sql`
    INSERT INTO videos (source_id, id, ${columns}, updated_at)
    SELECT ${sourceId}, c.id, ${selected}, ${importedAt}
      FROM stage_written w
      JOIN stage_incoming c ON c.id = w.id AND c.seq = w.seq
     WHERE true
    ON CONFLICT (source_id, id) DO UPDATE SET ${assignments}`);
  await db.run(sql`
    INSERT INTO csv_consolidated_raw (source_id, video_id, row_json, csv_row_hash, imported_at)
    SELECT ${sourceId}, i.id, i.row_json, i.csv_row_hash, ${importedAt}
      FROM stage_classified c
      JOIN stage_incoming i ON i.id = c.id AND i.seq = c.seq
     WHERE c.is_last = 1
    ON CONFLICT (source_id, video_id) DO UPDATE
      SET row_json = excluded.row_json, csv_row_hash = excluded.csv_row_hash, imported_at = excluded.imported_at
      WHERE NOT (csv_consolidated_raw.row_json IS excluded.row_json)`);
  // The definitions come from this file's own schema, not from input.
  for (const index of rebuilt) await db.run(raw(index.definition));

  await db.run(sql`
    INSERT INTO videos_fts (rowid, caption, author_unique_id, author_name)
    SELECT v.rowid, v.caption, v.author_unique_id, v.author_name
      FROM stage_search s
      JOIN videos v ON v.source_id = ${sourceId} AND v.id = s.id
     ORDER BY v.rowid`);
  for (const trigger of searchTriggers) await db.run(raw(trigger.definition));

  await upsertLatestRaw(db, 'csv_authors_raw', 'author_id', 'stage_authors', importedAt);
  await upsertLatestRaw(db, 'csv_bookmarks_raw', 'video_id', 'stage_bookmarks', importedAt);
  return counts;
}

/** The temporary tables only this merge makes; a failed import on the same connection may have left them. */
const SQLITE_STAGING = ['stage_author_last', 'stage_bookmark_last', 'stage_written', 'stage_search'];

/** The triggers of layout.sql that keep videos_fts in step with videos, row by row. */
const SEARCH_TRIGGERS = ['videos_fts_insert', 'videos_fts_update', 'videos_fts_delete'];

// Below this many written rows, maintaining the indexes row by row is cheaper than building them again.
const BULK_LOAD_ROWS = 20_000;

/**
 * Building an index sorts every row of the table (of every source: SQLite keeps them all in one file), while
 * keeping it up to date costs a page lookup per written row, and a page write whenever the cache is short, which
 * at this size is nearly always: 1M new rows took 117 s with the four indexes in place, against 12 s without them
 * and 10 s to build them afterwards. So they are built afterwards when the rows written are at least as many as
 * the rows already there.
 */
async function bulkLoad(db: TenantDb, written: number): Promise<boolean> {
  if (written < BULK_LOAD_ROWS) return false;
  const { n } = (await db.one<{ n: number }>(sql`SELECT count(*) AS n FROM videos`))!;
  return written >= n;
}

/**
 * Drops the indexes (other than primary keys: ON CONFLICT needs them) or the named triggers of a table and
 * returns their definitions, to be run again before the transaction commits. DDL is transactional in SQLite:
 * other connections go on seeing them until then, and a rollback restores them.
 */
async function dropSchemaObjects(
  db: TenantDb,
  type: 'index' | 'trigger',
  table: string,
  names?: readonly string[],
): Promise<{ name: string; definition: string }[]> {
  const objects = await db.all<{ name: string; definition: string }>(sql`
    SELECT name, sql AS definition
      FROM sqlite_master
     WHERE type = ${type} AND tbl_name = ${table} AND sql IS NOT NULL
       ${names ? sql`AND name IN (${join([...names])})` : sql``}
     ORDER BY name`);
  for (const object of objects) await db.run(sql`DROP ${raw(type === 'index' ? 'INDEX' : 'TRIGGER')} ${ident(object.name)}`);
  return objects;
}
