import { Readable } from 'node:stream';
import sql, { bulk, raw, type Sql } from 'sql-template-tag';
import type { Dialect, TenantDb } from '../interfaces.js';
import { copyTextLine } from './copyText.js';
import { withKeysBuiltAfter } from './bulkLoad.js';
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
  // PostgreSQL stages a row's JSON as the jsonb the raw tables hold, built from the fields (the field rules'
  // jsonb_object) instead of written as text and parsed again: 1.2 s on 1M rows where the text cost 1.5 s and its
  // parse 2.1 s more. SQLite keeps JSON as text.
  const json = raw(db.dialect === 'postgres' ? 'jsonb' : 'text');
  // In SQLite the file order is the rowid: the merge finds a staged row by seq without an index of its own.
  const seq = raw(db.dialect === 'sqlite' ? 'INTEGER PRIMARY KEY' : 'integer NOT NULL');
  for (const table of STAGING) await db.run(sql`DROP TABLE IF EXISTS ${raw(table)}`);
  await db.run(tempTable(db.dialect, 'stage_consolidated', sql`(
    seq ${seq}, video_id ${key}, author_id ${key}, author_unique_id ${key}, author_name text,
    caption text, platform text, csv_row_hash text, video_path text, cover_path text, row_json ${json}
    ${db.dialect === 'postgres' ? sql`, raw_a bigint, raw_b bigint` : sql``})`));
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
 * Where each compared field of an incoming row comes from: the staged consolidated row `c`, the last row of its
 * author `a`, or the last row of its bookmark `b` (bookmarked is whether `b` exists). The digest of a row is built
 * from these, so a field added to COMPARED must be placed here too (checked below, when the module loads).
 */
const DIGESTED = {
  consolidated: ['csv_row_hash'],
  author: ['followers', 'hearts', 'videos_count', 'signature', 'is_private'],
  bookmark: ['bookmarked', 'bookmark_timestamp'],
} as const;
const undigested = COMPARED.filter((field) => !Object.values(DIGESTED).some((fields) => (fields as readonly string[]).includes(field)));
if (undigested.length) throw new Error(`Compared fields left out of the import digest: ${undigested.join(', ')}`);

/**
 * One of the two 64-bit halves of a row's digest (`import_row_digests`): its consolidated part, and the digest
 * parts its author and bookmark rows carry (see stageLastRows), combined by XOR. Every part has a seed of its own,
 * so the same text in two parts cannot cancel out; a part that is missing counts as 0. The consolidated part is
 * the digest of the row's fields as the file holds them where COPY parsed the file (`c.raw_a`, `c.raw_b`, see
 * UnstagedRows), and otherwise (rows read in Node) of its staged JSON and csv_row_hash: the two kinds never
 * match, which costs a full comparison once should a source change from one to the other.
 */
function digestHalf(half: 'a' | 'b', ofFields: boolean): Sql {
  const seed = half === 'a' ? 1 : 2;
  const consolidated = ofFields
    ? `c.raw_${half}`
    : `coalesce(jsonb_hash_extended(c.row_json, ${10 + seed}), 0)
              # coalesce(hashtextextended(c.${DIGESTED.consolidated[0]}, ${20 + seed}), 0)`;
  return raw(`${consolidated} # coalesce(a.digest_${half}, 0) # coalesce(b.digest_${half}, 0)`);
}

/** A part of a digest made from a few columns: their row's text keeps NULL and '' apart. */
function partDigest(columns: readonly string[], half: 'a' | 'b', seed: number): Sql {
  return raw(`hashtextextended(ROW(${columns.join(', ')})::text, ${seed + (half === 'a' ? 1 : 2)}) AS digest_${half}`);
}

/**
 * The consolidated file parsed but not yet through its field rules (PostgreSQL's import, where COPY parses the
 * file into a table of text columns). The rows are judged by digest first and the rules run for the rows the
 * merge compares or writes only: on a re-import of an unchanged file, a few percent of them.
 */
export interface UnstagedRows {
  /**
   * A select of each row's `seq`, the staged columns KEY_INPUTS (by the field rules), and `raw_a`, `raw_b`: the
   * two halves of a digest of the row's fields as the file holds them.
   */
  keyColumns: Sql;
  /**
   * Runs the field rules into stage_consolidated for the rows `only` admits (a condition on `r.seq`), or all;
   * with `digests`, the rows' `raw_a` and `raw_b` too.
   */
  stage: (options?: { only?: Sql; digests?: boolean }) => Promise<unknown>;
}

/** The staged columns a row is joined by before its rules run (stageKeys). */
export const KEY_INPUTS = ['video_id', 'author_id'] as const;

// The hash tables over a million staged keys (the stored digests, the repeated ids: up to 160 MB with the default
// hash_mem_multiplier of 2) fit in memory with this; the default 4 MB writes them out to temporary files in
// batches. Set for the import's transaction only.
const MERGE_WORK_MEM = '128MB';

// Below this many new rows, maintaining the keys and indexes row by row is cheaper than building them afterwards.
const BULK_LOAD_ROWS = 20_000;

/**
 * Set-wise merge of the staged files into the source's tables, with the original importer's counts:
 * rows are judged in file order, each against the row before it with the same id (or the stored row for the
 * first one), exactly as a row-by-row import would; the last row of an id is the one that is kept.
 * User meta is never written here. PostgreSQL runs these statements; SQLite runs `mergeStagedSqlite`
 * (importMergeSqlite.ts), the same rules in statements shaped for SQLite.
 *
 * Most rows of a re-import are judged without those comparisons: an id whose rows all have the digest stored for
 * it (import_row_digests) would have every row "skipped" and nothing written, so its rows are counted and left
 * alone. The other rows (candidates: new, changed, and every row of their ids) get the full comparison. Into an
 * empty source every row of an id the file holds once is "inserted", and the rows are written with plain INSERTs,
 * without looking for stored rows. A schema not yet migrated to the digests (005) is merged by full comparison.
 * With `unstaged` the digests are taken before the consolidated rows are staged, and only the rows the merge
 * reads are staged. Returns the counts and how many consolidated rows have an id (`keyed`).
 */
export async function mergeStaged(db: TenantDb, importedAt: string, unstaged?: UnstagedRows): Promise<ImportCounts & { keyed: number }> {
  await db.run(sql`SELECT set_config('work_mem', ${MERGE_WORK_MEM}, true)`);
  await stageLastRows(db);
  const stored = await storedState(db);
  // Into an empty source every row is staged anyway, with its digest (the kind a re-import compares with); a
  // schema without digests compares every row in full. Either way the rows are staged first, as rows read in Node
  // are, and only a re-import with digests judges its rows before staging them.
  const judgeFirst = unstaged !== undefined && stored.digests && !stored.empty;
  if (unstaged && !judgeFirst) await unstaged.stage({ digests: stored.digests });
  const keysFrom = judgeFirst ? unstaged.keyColumns : unstaged && stored.digests ? 'staged with digests' : 'staged';
  const rows = await stageKeys(db, stored, keysFrom);
  const candidates = await stageCandidates(db, stored.empty);
  if (judgeFirst) await stageCandidateRows(db, unstaged);

  const counts: ImportCounts = { inserted: 0, updated: 0, skipped: 0 };
  if (candidates > 0) {
    await classifyCandidates(db);
    for (const row of await db.all<{ outcome: keyof ImportCounts; n: number }>(
      sql`SELECT outcome, count(*) AS n FROM stage_classified GROUP BY outcome`,
    )) {
      counts[row.outcome] = Number(row.n);
    }
  }
  // The rows left out of the comparison: into an empty source, each one alone with its id, so "inserted";
  // otherwise rows whose digest matched, as did every other row of their id, so "skipped".
  counts[stored.empty ? 'inserted' : 'skipped'] += rows - candidates;

  if (stored.empty) {
    const load = () => loadEmptySource(db, importedAt, { repeats: candidates > 0, digests: stored.digests });
    const tables = ['videos', 'csv_consolidated_raw', ...(stored.digests ? ['import_row_digests'] : [])];
    // Statistics for all three: a re-import joins its few changed rows with the raw rows and the digests, and
    // without them the planner takes a source's rows for 0.5% of the table and hashes all of it (2.2 s on 1M rows
    // where the index finds the 7,000 in milliseconds).
    if (counts.inserted >= BULK_LOAD_ROWS) await withKeysBuiltAfter(db, tables, load, { analyze: tables });
    else await load();
  } else if (candidates > 0) {
    await writeCandidates(db, importedAt, stored.digests);
  }
  await upsertLastRaw(db, 'csv_authors_raw', 'author_id', 'stage_author_last', importedAt);
  await upsertLastRaw(db, 'csv_bookmarks_raw', 'video_id', 'stage_bookmark_last', importedAt);
  return { ...counts, keyed: rows };
}

/**
 * The last staged row of each author and of each bookmark, with the digest parts of the compared fields they
 * give an incoming row. Analyzed: without statistics the planner takes an author for a thousand rows and sorts
 * the million staged rows to merge-join them, where one small hash table does.
 */
async function stageLastRows(db: TenantDb): Promise<void> {
  const authorFields = DIGESTED.author;
  await db.run(tempTableAs('postgres', 'stage_author_last', sql`
    SELECT DISTINCT ON (author_id) author_id, author_unique_id, author_name, ${raw(authorFields.join(', '))}, row_json,
           ${partDigest(authorFields, 'a', 30)}, ${partDigest(authorFields, 'b', 30)}
      FROM stage_authors
     WHERE author_id IS NOT NULL
     ORDER BY author_id, seq DESC`));
  // bookmarked is 1 for every row here, and 0 (no row, part 0) otherwise.
  const bookmarkFields = DIGESTED.bookmark.filter((field) => field !== 'bookmarked');
  await db.run(tempTableAs('postgres', 'stage_bookmark_last', sql`
    SELECT DISTINCT ON (video_id) video_id, ${raw(bookmarkFields.join(', '))}, row_json,
           ${partDigest(bookmarkFields, 'a', 40)}, ${partDigest(bookmarkFields, 'b', 40)}
      FROM stage_bookmarks
     WHERE video_id IS NOT NULL
     ORDER BY video_id, seq DESC`));
  await db.run(sql`ANALYZE stage_author_last`);
  await db.run(sql`ANALYZE stage_bookmark_last`);
}

interface StoredState {
  /** The tables the merge fills hold no row at all (the digests go with the videos they belong to). */
  empty: boolean;
  /** The schema has import_row_digests (migration 005). */
  digests: boolean;
}

async function storedState(db: TenantDb): Promise<StoredState> {
  const stored = await db.one<{ empty: boolean }>(sql`
    SELECT NOT EXISTS (SELECT 1 FROM videos) AND NOT EXISTS (SELECT 1 FROM csv_consolidated_raw) AS empty`);
  // A statement of its own: on Citus a statement that reads the source's tables runs on the worker that holds
  // them, where the name would resolve against the worker's shards instead of the schema's table.
  const migrated = await db.one<{ digests: boolean }>(sql`SELECT to_regclass('import_row_digests') IS NOT NULL AS digests`);
  return { empty: stored!.empty, digests: migrated!.digests };
}

/**
 * One narrow row per staged row with an id: where it is (its ctid: a later statement fetches the few rows it
 * needs by address instead of scanning the whole staged table again), its digest, and whether that equals the
 * digest stored for its id (`unchanged`; never in an empty source or without stored digests). The one pass over
 * the staged rows every import makes, and the one join with the stored digests a re-import needs. Returns how
 * many rows have an id. The rows come from stage_consolidated, whose digest is taken from the staged JSON
 * (`staged`) or was staged with it (`staged with digests`, see UnstagedRows), or from a select of UnstagedRows:
 * those are read before they are staged, and have no address yet.
 */
function stageKeys(db: TenantDb, stored: StoredState, from: 'staged' | 'staged with digests' | Sql): Promise<number> {
  const compare = !stored.empty && stored.digests
    ? {
        join: sql`LEFT JOIN import_row_digests d ON d.source_id = ${db.sourceId} AND d.video_id = k.id`,
        unchanged: sql`coalesce(d.digest_a = k.digest_a AND d.digest_b = k.digest_b, false)`,
      }
    : { join: sql``, unchanged: sql`false` };
  const unstaged = typeof from !== 'string';
  const rows = unstaged ? { from: sql`(${from} OFFSET 0) c`, tid: sql`NULL::tid` } : { from: sql`stage_consolidated c`, tid: sql`c.ctid` };
  const ofFields = from !== 'staged';
  // OFFSET 0 keeps the subquery a step of its own, so each digest is computed once: pulled up into the outer
  // query, its expression would be repeated wherever the comparison uses it.
  return db.run(tempTableAs('postgres', 'stage_keys', sql`
    SELECT k.*, ${compare.unchanged} AS unchanged
      FROM (SELECT c.seq, ${rows.tid} AS tid, c.video_id AS id,
                   ${digestHalf('a', ofFields)} AS digest_a, ${digestHalf('b', ofFields)} AS digest_b
              FROM ${rows.from}
              LEFT JOIN stage_author_last a ON a.author_id = c.author_id
              LEFT JOIN stage_bookmark_last b ON b.video_id = c.video_id
             WHERE c.video_id IS NOT NULL
            OFFSET 0) k
      ${compare.join}`));
}

/**
 * The rows that need the full comparison, all rows of an id together. In a source with rows: every row of an id
 * with a row whose digest differs from the stored one, or has none. An id whose rows all match (repeated in the
 * file or not) is left out: each of its rows equals the stored row in every compared field, so each would be
 * "skipped", and the kept row has the stored JSON. Into an empty source: the ids the file repeats, whose rows after
 * the first are judged against each other. Returns how many.
 */
function stageCandidates(db: TenantDb, empty: boolean): Promise<number> {
  const ids = empty
    ? sql`SELECT id FROM stage_keys GROUP BY id HAVING count(*) > 1`
    : sql`SELECT id FROM stage_keys WHERE NOT unchanged`;
  return db.run(tempTableAs('postgres', 'stage_candidates', sql`SELECT k.* FROM stage_keys k WHERE k.id IN (${ids})`));
}

/** Runs the field rules for the candidates of rows judged before they ran, and gives each its staged row's address. */
async function stageCandidateRows(db: TenantDb, unstaged: UnstagedRows): Promise<void> {
  await unstaged.stage({ only: sql`r.seq IN (SELECT seq FROM stage_candidates)` });
  await db.run(sql`UPDATE stage_candidates k SET tid = c.ctid FROM stage_consolidated c WHERE c.seq = k.seq`);
}

/**
 * The candidates as rows of `videos` would hold them, each with its row-by-row verdict (outcome), whether it is
 * the row of its id that is kept (is_last), and whether that row is written (write_row: an id whose rows were
 * all skipped is not written at all).
 */
async function classifyCandidates(db: TenantDb): Promise<void> {
  await db.run(tempTableAs('postgres', 'stage_incoming', sql`
    SELECT ${INCOMING_COLUMNS}, k.tid, k.digest_a, k.digest_b
      FROM stage_candidates k
      JOIN stage_consolidated c ON c.ctid = k.tid
      LEFT JOIN stage_author_last a ON a.author_id = c.author_id
      LEFT JOIN stage_bookmark_last b ON b.video_id = c.video_id`));
  await db.run(tempTableAs('postgres', 'stage_classified', sql`
    SELECT j.*, CASE WHEN j.is_last = 1 AND max(CASE WHEN j.outcome <> 'skipped' THEN 1 ELSE 0 END) OVER (PARTITION BY j.id) = 1
                     THEN 1 ELSE 0 END AS write_row
      FROM (SELECT i.*,
                   ${outcomeOf('postgres')} AS outcome,
                   CASE WHEN i.next_seq IS NULL THEN 1 ELSE 0 END AS is_last
              FROM (SELECT s.*, lag(seq) OVER w AS prev_seq, lead(seq) OVER w AS next_seq, ${PREVIOUS_VALUES}
                      FROM stage_incoming s
                    WINDOW w AS (PARTITION BY id ORDER BY seq)) i
              LEFT JOIN videos v ON v.source_id = ${db.sourceId} AND v.id = i.id) j`));
}

const VIDEO_LIST = raw(VIDEO_COLUMNS.join(', '));

/**
 * An empty source gets the kept row of every id with plain INSERTs: each id's only row, or the last row of a
 * repeated id (the candidates, all of them then; its first row is "inserted", so the last one is written).
 */
async function loadEmptySource(db: TenantDb, importedAt: string, options: { repeats: boolean; digests: boolean }): Promise<void> {
  const { sourceId } = db;
  const superseded = options.repeats ? sql`c.seq IN (SELECT seq FROM stage_classified WHERE is_last = 0)` : sql`false`;
  await db.run(sql`
    INSERT INTO videos (source_id, id, ${VIDEO_LIST}, updated_at)
    SELECT ${sourceId}, i.id, ${raw(VIDEO_COLUMNS.map((c) => `i.${c}`).join(', '))}, ${importedAt}
      FROM (SELECT ${INCOMING_COLUMNS}
              FROM stage_consolidated c
              LEFT JOIN stage_author_last a ON a.author_id = c.author_id
              LEFT JOIN stage_bookmark_last b ON b.video_id = c.video_id
             WHERE c.video_id IS NOT NULL AND NOT ${superseded}) i`);
  await db.run(sql`
    INSERT INTO csv_consolidated_raw (source_id, video_id, row_json, csv_row_hash, imported_at)
    SELECT ${sourceId}, c.video_id, c.row_json, c.csv_row_hash, ${importedAt}
      FROM stage_consolidated c
     WHERE c.video_id IS NOT NULL AND NOT ${superseded}`);
  if (!options.digests) return;
  await db.run(sql`
    INSERT INTO import_row_digests (source_id, video_id, digest_a, digest_b)
    SELECT ${sourceId}, c.id, c.digest_a, c.digest_b
      FROM stage_keys c
     WHERE NOT ${superseded}`);
}

/**
 * The candidates' changes: the written rows into `videos`, the kept rows into `csv_consolidated_raw` where their
 * JSON differs from the stored one (parsed for these rows only), and their digests where they changed. Rows that
 * would not change are filtered out before the INSERT: ON CONFLICT DO UPDATE locks, and so writes, every row it
 * finds, also one its WHERE then leaves alone.
 */
async function writeCandidates(db: TenantDb, importedAt: string, digests: boolean): Promise<void> {
  const { sourceId } = db;
  const assignments = raw([...VIDEO_COLUMNS, 'updated_at'].map((c) => `${c} = excluded.${c}`).join(', '));
  await db.run(sql`
    INSERT INTO videos (source_id, id, ${VIDEO_LIST}, updated_at)
    SELECT ${sourceId}, c.id, ${raw(VIDEO_COLUMNS.map((c) => `c.${c}`).join(', '))}, ${importedAt}
      FROM stage_classified c
     WHERE c.write_row = 1
    ON CONFLICT (source_id, id) DO UPDATE SET ${assignments}`);
  // The kept rows' JSON fetched by address first, in a statement over temporary tables alone: Citus plans a
  // statement that also names a distributed table by subqueries that cannot carry a ctid.
  await db.run(tempTableAs('postgres', 'stage_kept_json', sql`
    SELECT c.id, c.csv_row_hash, s.row_json
      FROM stage_classified c
      JOIN stage_consolidated s ON s.ctid = c.tid
     WHERE c.is_last = 1`));
  await db.run(sql`
    INSERT INTO csv_consolidated_raw (source_id, video_id, row_json, csv_row_hash, imported_at)
    SELECT ${sourceId}, s.id, s.row_json, s.csv_row_hash, ${importedAt}
      FROM stage_kept_json s
      LEFT JOIN csv_consolidated_raw r ON r.source_id = ${sourceId} AND r.video_id = s.id
     WHERE r.video_id IS NULL OR r.row_json <> s.row_json
    ON CONFLICT (source_id, video_id) DO UPDATE
      SET row_json = excluded.row_json, csv_row_hash = excluded.csv_row_hash, imported_at = excluded.imported_at`);
  if (!digests) return;
  await db.run(sql`
    INSERT INTO import_row_digests (source_id, video_id, digest_a, digest_b)
    SELECT ${sourceId}, c.id, c.digest_a, c.digest_b
      FROM stage_classified c
      LEFT JOIN import_row_digests d ON d.source_id = ${sourceId} AND d.video_id = c.id
     WHERE c.is_last = 1 AND (d.video_id IS NULL OR d.digest_a <> c.digest_a OR d.digest_b <> c.digest_b)
    ON CONFLICT (source_id, video_id) DO UPDATE SET digest_a = excluded.digest_a, digest_b = excluded.digest_b`);
}

/**
 * The last staged row per key into a raw table (PostgreSQL): new keys inserted, changed JSON replaced with a new
 * imported_at, unchanged rows left as they are. As upsertLatestRaw, with the unchanged rows filtered out first so
 * that ON CONFLICT neither locks nor rewrites them.
 */
async function upsertLastRaw(
  db: TenantDb,
  table: 'csv_authors_raw' | 'csv_bookmarks_raw',
  key: 'author_id' | 'video_id',
  last: 'stage_author_last' | 'stage_bookmark_last',
  importedAt: string,
): Promise<void> {
  const [target, column] = [raw(table), raw(key)];
  await db.run(sql`
    INSERT INTO ${target} (source_id, ${column}, row_json, imported_at)
    SELECT ${db.sourceId}, s.${column}, s.row_json, ${importedAt}
      FROM ${raw(last)} s
      LEFT JOIN ${target} r ON r.source_id = ${db.sourceId} AND r.${column} = s.${column}
     WHERE r.${column} IS NULL OR r.row_json <> s.row_json
    ON CONFLICT (source_id, ${column}) DO UPDATE SET row_json = excluded.row_json, imported_at = excluded.imported_at`);
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
