import sql, { empty, join, raw, type Sql } from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import type { TenantDb } from '../interfaces.js';
import { ident } from '../sources/identifiers.js';
import { columnList, updateOnConflict } from './columnLists.js';
import { containsPattern } from './dialect.js';
import type { MetaRow } from './itemMeta.js';
import { USER_TEMPLATE_VERSION } from './itemNotes.js';
import { itemConditions, type ItemFilter } from './listItems.js';
import { columnNames, USER_META, VIDEO_NOTES } from '../tables/sourceTables.js';

/**
 * The user's own data of a source, read, written back and reset as rows: the meta (user_meta) and the notes the
 * user wrote (video_notes rows of template version 'user'). The other video_notes rows are cached renders, which
 * a reset may delete but an export never carries: the gateway renders them again.
 */

/** What a reset deletes: user meta, user-written notes, cached renders. */
export const USER_DATA_KINDS = ['meta', 'notes', 'cached'] as const;
export type UserDataKind = (typeof USER_DATA_KINDS)[number];

export type { MetaRow } from './itemMeta.js';
/** A user-written note as the file carries it; its template version is always 'user'. */
export interface UserNoteRow {
  video_id: string;
  markdown: string;
  updated_at: string;
}

export interface UserDataCounts {
  meta: number;
  notes: number;
}

// Rows per statement: bounded memory for a source of a million items, few round trips for a small one.
const READ_BATCH = 2000;
// A multi-row upsert binds rows × columns parameters; 500 × 14 stays far below both stores' limits.
const WRITE_BATCH = 500;
/** Item ids one reset may name: each is a bound parameter. */
export const MAX_RESET_ITEM_IDS = 10_000;

const META_COLUMNS = columnNames(USER_META);
const NOTE_COLUMNS = ['video_id', 'markdown', 'updated_at'] as const;

const userNotes = (db: TenantDb): Sql => sql`source_id = ${db.sourceId} AND template_version = ${USER_TEMPLATE_VERSION}`;

export async function countUserData(db: TenantDb): Promise<UserDataCounts> {
  const row = await db.one<{ meta: number | string; notes: number | string }>(sql`
    SELECT (SELECT count(*) FROM user_meta WHERE source_id = ${db.sourceId}) AS meta,
           (SELECT count(*) FROM video_notes WHERE ${userNotes(db)}) AS notes`);
  return { meta: Number(row?.meta ?? 0), notes: Number(row?.notes ?? 0) };
}

let cursors = 0;

/**
 * Rows of one table of the source in batches, by video_id in byte order (PostgreSQL's "C" collation, which is how
 * SQLite compares text), so both stores give the same rows in the same order. As in sourceRows.ts, PostgreSQL reads
 * through one cursor in the caller's transaction (one plan for the whole table, never a sort per page) and SQLite
 * pages by its primary key.
 */
async function* batchesByVideoId<Row extends { video_id: string }>(
  db: TenantDb,
  select: Sql,
  table: 'user_meta' | 'video_notes',
  where: Sql,
  batchSize: number,
): AsyncGenerator<Row[]> {
  const from = ident(table);
  if (db.dialect === 'postgres') {
    const cursor = ident(`sx_user_data_${++cursors}`);
    await db.run(sql`DECLARE ${cursor} NO SCROLL CURSOR FOR
      SELECT ${select} FROM ${from} WHERE ${where} ORDER BY video_id COLLATE "C"`);
    try {
      for (;;) {
        const batch = await db.all<Row>(sql`FETCH FORWARD ${raw(String(Math.trunc(batchSize)))} FROM ${cursor}`);
        if (batch.length > 0) yield batch;
        if (batch.length < batchSize) return;
      }
    } finally {
      // An aborted transaction refuses the CLOSE and ends the cursor with itself.
      await db.run(sql`CLOSE ${cursor}`).catch(() => undefined);
    }
  }
  let last: string | null = null;
  for (;;) {
    const after = last === null ? empty : sql`AND video_id > ${last}`;
    const batch: Row[] = await db.all<Row>(sql`
      SELECT ${select} FROM ${from} WHERE ${where} ${after} ORDER BY video_id LIMIT ${batchSize}`);
    if (batch.length > 0) yield batch;
    if (batch.length < batchSize) return;
    last = batch[batch.length - 1]!.video_id;
  }
}

/** The source's user_meta rows, every column, by video_id. */
export function userMetaBatches(db: TenantDb, batchSize = READ_BATCH): AsyncGenerator<MetaRow[]> {
  return batchesByVideoId<MetaRow>(db, columnList(USER_META), 'user_meta', sql`source_id = ${db.sourceId}`, batchSize);
}

/** The source's user-written notes, by video_id; cached renders are left out. */
export function userNoteBatches(db: TenantDb, batchSize = READ_BATCH): AsyncGenerator<UserNoteRow[]> {
  return batchesByVideoId<UserNoteRow>(db, join(NOTE_COLUMNS.map((name) => ident(name)), ', '), 'video_notes', userNotes(db), batchSize);
}

/** Which of `videoIds` the source holds as items, asked in batches. */
export async function existingItemIds(db: TenantDb, videoIds: Iterable<string>): Promise<Set<string>> {
  const found = new Set<string>();
  const ask = async (batch: string[]) => {
    const rows = await db.all<{ id: string }>(sql`
      SELECT id FROM videos WHERE source_id = ${db.sourceId} AND id IN (${join(batch)})`);
    for (const row of rows) found.add(row.id);
  };
  let batch: string[] = [];
  for (const id of videoIds) {
    batch.push(id);
    if (batch.length === READ_BATCH) {
      await ask(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await ask(batch);
  return found;
}

/**
 * Writes meta rows as given, every column (updated_at too), replacing an item's existing meta. Runs in the
 * caller's transaction; the items must exist (the foreign key refuses others).
 */
export async function upsertUserMeta(db: TenantDb, rows: readonly MetaRow[]): Promise<number> {
  let written = 0;
  for (let start = 0; start < rows.length; start += WRITE_BATCH) {
    const tuples = rows.slice(start, start + WRITE_BATCH).map((row) => sql`(${join([db.sourceId, ...META_COLUMNS.map((name) => row[name])])})`);
    written += await db.run(sql`
      INSERT INTO user_meta (source_id, ${columnList(USER_META)}) VALUES ${join(tuples, ', ')}
      ${updateOnConflict(USER_META)}`);
  }
  return written;
}

/** Writes user notes (template version 'user'), replacing whatever note, user-written or cached, the item had. */
export async function upsertUserNotes(db: TenantDb, rows: readonly UserNoteRow[]): Promise<number> {
  let written = 0;
  for (let start = 0; start < rows.length; start += WRITE_BATCH) {
    const tuples = rows
      .slice(start, start + WRITE_BATCH)
      .map((row) => sql`(${join([db.sourceId, row.video_id, row.markdown, USER_TEMPLATE_VERSION, row.updated_at])})`);
    written += await db.run(sql`
      INSERT INTO video_notes (source_id, ${columnList(VIDEO_NOTES)}) VALUES ${join(tuples, ', ')}
      ${updateOnConflict(VIDEO_NOTES)}`);
  }
  return written;
}

export interface UserDataFilter {
  /** Only these items; null or empty: every item of the source. */
  itemIds?: readonly string[] | null;
  /**
   * The original's status filter: an item matches when its primary status equals a value or its packed list
   * holds it (case-insensitive); "" matches items with neither a status nor a list (items without meta too).
   * Null or empty: no status filter.
   */
  statuses?: readonly string[] | null;
  /** The items filter of GET /items (the REST reset's `filters`); its own statuses are not read, `statuses` is. */
  items?: ItemFilter | null;
}

export interface ResetCounts {
  /** Items the filter matched. */
  matched: number;
  meta: number;
  notes: number;
  cached: number;
}

/**
 * The matched items, as a subquery of ids. It reads user_meta, so a reset deletes meta last: the notes' deletes
 * must see the same items the counts saw.
 */
function matchedItems(db: TenantDb, filter: UserDataFilter): { from: Sql; where: Sql } {
  const where: Sql[] = [sql`v.source_id = ${db.sourceId}`];
  if (filter.itemIds?.length) where.push(sql`v.id IN (${join(filter.itemIds)})`);
  const statuses = filter.statuses?.map((status) => status.trim()) ?? [];
  if (statuses.length) {
    const either: Sql[] = [];
    if (statuses.includes('')) {
      // Unassigned as the original has it: neither a primary status nor a packed list.
      either.push(sql`((m.status IS NULL OR m.status = '') AND (m.statuses IS NULL OR m.statuses = ''))`);
    }
    const named = [...new Set(statuses.filter(Boolean))];
    if (named.length) {
      either.push(sql`m.status IN (${join(named)})`);
      for (const status of named) either.push(sql`lower(m.statuses) LIKE ${containsPattern(`|${status}|`)} ESCAPE '\\'`);
    }
    where.push(sql`(${join(either, ' OR ')})`);
  }
  if (filter.items) where.push(itemConditions(db, { ...filter.items, statuses: null }));
  const from = statuses.length || filter.items
    ? sql`videos v LEFT JOIN user_meta m ON m.source_id = v.source_id AND m.video_id = v.id`
    : sql`videos v`;
  return { from, where: join(where, ' AND ') };
}

/** Each kind's rows of the matched items, as `FROM … WHERE …`, the same text for the count and the delete. */
function kindRows(db: TenantDb, kind: UserDataKind, items: Sql): Sql {
  switch (kind) {
    case 'meta':
      return sql`user_meta WHERE source_id = ${db.sourceId} AND video_id IN (${items})`;
    case 'notes':
      return sql`video_notes WHERE ${userNotes(db)} AND video_id IN (${items})`;
    case 'cached':
      return sql`video_notes WHERE source_id = ${db.sourceId} AND template_version <> ${USER_TEMPLATE_VERSION} AND video_id IN (${items})`;
  }
}

// Meta last: the item set reads user_meta (the status filter), so the notes go while it is still there.
const DELETE_ORDER: readonly UserDataKind[] = ['notes', 'cached', 'meta'];

/**
 * Deletes the chosen kinds of user data of the items the filter matches, in the caller's transaction, and says
 * how many rows of each it deleted. A dry run counts the same rows with the same WHERE and deletes nothing.
 * A kind not chosen counts 0.
 */
export async function resetUserRows(
  db: TenantDb,
  filter: UserDataFilter,
  kinds: readonly UserDataKind[],
  dryRun: boolean,
): Promise<ResetCounts> {
  if ((filter.itemIds?.length ?? 0) > MAX_RESET_ITEM_IDS) {
    throw new GatewayError('BAD_USER_INPUT', `A reset names at most ${MAX_RESET_ITEM_IDS} item ids, got ${filter.itemIds!.length}; filter by status instead`);
  }
  const { from, where } = matchedItems(db, filter);
  const items = sql`SELECT v.id FROM ${from} WHERE ${where}`;
  const matched = await db.one<{ n: number | string }>(sql`SELECT count(*) AS n FROM ${from} WHERE ${where}`);
  const counts: ResetCounts = { matched: Number(matched?.n ?? 0), meta: 0, notes: 0, cached: 0 };
  for (const kind of DELETE_ORDER) {
    if (!kinds.includes(kind)) continue;
    if (dryRun) {
      const row = await db.one<{ n: number | string }>(sql`SELECT count(*) AS n FROM ${kindRows(db, kind, items)}`);
      counts[kind] = Number(row?.n ?? 0);
    } else {
      counts[kind] = await db.run(sql`DELETE FROM ${kindRows(db, kind, items)}`);
    }
  }
  return counts;
}
