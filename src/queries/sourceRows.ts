import { Readable } from 'node:stream';
import sql, { bulk, empty, raw } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';
import { copyTextLine } from './copyText.js';
import { recordItemCount } from './itemCount.js';
import { SOURCE_TABLES, type ColumnKind, type SourceTable } from '../tables/sourceTables.js';

// Rows per statement: bounded memory for a large source, few round trips for a small one.
const BATCH = 2000;
// A multi-row INSERT binds rows × columns parameters; SQLite allows 32,766 and PostgreSQL 65,535 per statement.
const MAX_PARAMETERS = 30_000;

let cursors = 0;

/**
 * A source's rows of one table in batches, in primary-key order by byte (PostgreSQL's "C" collation, which is how
 * SQLite compares text), so both stores yield the same rows in the same order.
 *
 * PostgreSQL reads through one cursor in the caller's transaction: a single plan for the whole table. Keyset
 * pages (`key > last … LIMIT n`), planned each on its own, go quadratic on a table without statistics (right after
 * a bulk load, before ANALYZE): the planner, taking the table for small, sorts every row of the source for each
 * page. A caller that needs one instant reads in a REPEATABLE READ transaction or keeps writers away; the cursor
 * itself already sees its statement's snapshot. SQLite plans by the primary key whatever its statistics, so it
 * pages by key.
 */
export async function* sourceRowBatches(db: TenantDb, source: SourceTable, batchSize = BATCH): AsyncGenerator<Record<string, unknown>[]> {
  // Identifiers come from the SOURCE_TABLES constant, never from input.
  const select = raw(Object.keys(source.columns).join(', '));
  const table = raw(source.table);
  const textKey = source.columns[source.key] === 'text';
  const key = raw(textKey && db.dialect === 'postgres' ? `${source.key} COLLATE "C"` : source.key);
  if (db.dialect === 'postgres') {
    const cursor = raw(`sx_source_rows_${++cursors}`);
    await db.run(sql`DECLARE ${cursor} NO SCROLL CURSOR FOR
      SELECT ${select} FROM ${table} WHERE source_id = ${db.sourceId} ORDER BY ${key}`);
    try {
      for (;;) {
        const batch = await db.all<Record<string, unknown>>(sql`FETCH FORWARD ${raw(String(Math.trunc(batchSize)))} FROM ${cursor}`);
        if (batch.length > 0) yield batch;
        if (batch.length < batchSize) return;
      }
    } finally {
      // Left open by a reader that stopped early, it would last until the transaction ends; an aborted
      // transaction refuses the CLOSE, and ends the cursor with itself.
      await db.run(sql`CLOSE ${cursor}`).catch(() => undefined);
    }
  }
  let last: unknown = null;
  for (;;) {
    const after = last === null ? empty : sql`AND ${key} > ${last}`;
    const batch = await db.all<Record<string, unknown>>(sql`
      SELECT ${select} FROM ${table}
       WHERE source_id = ${db.sourceId} ${after}
       ORDER BY ${key}
       LIMIT ${batchSize}`);
    if (batch.length > 0) yield batch;
    if (batch.length < batchSize) return;
    last = batch[batch.length - 1]![source.key];
  }
}

export interface CopiedTable {
  table: string;
  rows: number;
}

export interface CopyOptions {
  /**
   * job_queue ids: `copy` keeps them (a cutover, so both copies checksum alike); `renumber` lets the target
   * assign them, for SQLite, whose AUTOINCREMENT ids are shared by every source of the file and would collide.
   */
  jobIds: 'copy' | 'renumber';
  onTable?: (copied: CopiedTable) => void;
}

/**
 * Makes `to` hold exactly the rows `from` holds for its source: every table of the source is emptied, then
 * refilled from `from` in batches. Runs in the caller's transaction on `to`, which commits or rolls back the
 * whole replacement. `from` and `to` may be bound to different source ids: each side filters by its own.
 */
export async function replaceSourceRows(from: TenantDb, to: TenantDb, options: CopyOptions): Promise<CopiedTable[]> {
  // Children first would also work; videos alone suffices for user_meta and video_notes (ON DELETE CASCADE),
  // but every table is named so the statement count does not depend on the foreign keys.
  for (const source of [...SOURCE_TABLES].reverse()) {
    await to.run(sql`DELETE FROM ${raw(source.table)} WHERE source_id = ${to.sourceId}`);
  }
  const copied: CopiedTable[] = [];
  for (const source of SOURCE_TABLES) {
    const renumber = source.table === 'job_queue' && options.jobIds === 'renumber';
    const columns = Object.keys(source.columns).filter((name) => !(renumber && name === 'id'));
    const rows = await insertRows(to, source, columns, sourceRowBatches(from, source));
    if (source.table === 'job_queue' && !renumber && to.dialect === 'postgres') {
      // Copied ids leave the schema's sequence behind them; the next generated id must come after the last.
      // Two statements: on Citus, one that also reads the distributed table would run on the worker holding it,
      // where the table name inside pg_get_serial_sequence's text argument is resolved without the transaction's
      // search_path; the sequence that numbers inserts is the coordinator's.
      const last = (await to.one<{ id: number | null }>(sql`SELECT max(id) AS id FROM job_queue`))?.id ?? null;
      await to.one(sql`SELECT setval(pg_get_serial_sequence('job_queue', 'id'), ${Math.max(last ?? 1, 1)}, ${last !== null})`);
    }
    const result = { table: source.table, rows };
    options.onTable?.(result);
    copied.push(result);
  }
  // The copy replaced every item: the recorded count of the old ones would be wrong.
  await recordItemCount(to);
  return copied;
}

async function insertRows(
  to: TenantDb,
  source: SourceTable,
  columns: string[],
  batches: AsyncIterable<Record<string, unknown>[]>,
): Promise<number> {
  const tuple = (row: Record<string, unknown>) => [to.sourceId, ...columns.map((name) => storable(row[name], source.columns[name]!))];
  const names = raw(['source_id', ...columns].join(', '));
  const table = raw(source.table);
  let count = 0;
  if (to.copyFrom) {
    const lines = Readable.from(
      (async function* () {
        for await (const batch of batches) {
          count += batch.length;
          yield batch.map((row) => copyTextLine(tuple(row))).join('');
        }
      })(),
      { objectMode: false },
    );
    await to.copyFrom(sql`COPY ${table} (${names}) FROM STDIN`, lines);
    return count;
  }
  const rowsPerStatement = Math.max(1, Math.floor(MAX_PARAMETERS / (columns.length + 1)));
  for await (const batch of batches) {
    for (let i = 0; i < batch.length; i += rowsPerStatement) {
      const rows = batch.slice(i, i + rowsPerStatement).map(tuple);
      await to.run(sql`INSERT INTO ${table} (${names}) VALUES ${bulk(rows)}`);
    }
    count += batch.length;
  }
  return count;
}

/**
 * A value as the target column takes it. JSON columns: PostgreSQL hands back jsonb parsed, SQLite hands back
 * its text; both go in as text. SQLite does not check that such text is JSON, and jsonb would refuse it, so text
 * that does not parse is stored as a JSON string, which is also how the checksums read it.
 */
function storable(value: unknown, kind: ColumnKind): unknown {
  if (value === null || value === undefined) return null;
  if (kind !== 'json') return value;
  if (typeof value !== 'string') return JSON.stringify(value);
  try {
    JSON.parse(value);
    return value;
  } catch {
    return JSON.stringify(value);
  }
}
