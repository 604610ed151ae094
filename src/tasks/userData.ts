import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { GatewayError } from '../errors.js';
import type { Store, TenantDb } from '../interfaces.js';
import {
  USER_DATA_KINDS,
  countUserData,
  existingItemIds,
  resetUserRows,
  upsertUserMeta,
  upsertUserNotes,
  userMetaBatches,
  userNoteBatches,
  type MetaRow,
  type ResetCounts,
  type UserDataCounts,
  type UserDataFilter,
  type UserDataKind,
  type UserNoteRow,
} from '../queries/userData.js';
import { columnNames, USER_META } from '../tables/sourceTables.js';

/**
 * A source's user data (meta and user-written notes) as JSON Lines, and back; and its reset.
 *
 * The file: line 1 is a header, `{"format":"sx-gateway-user-data","version":1,"source_id":…,"exported_at":…,
 * "counts":{"meta":n,"notes":m}}`; then one line per user_meta row, `{"kind":"meta",…}` with the table's columns
 * under the original's snake_case names, values as stored (statuses packed `|a|b|`, author_links a JSON array
 * text), and one line per user-written note, `{"kind":"note","video_id","markdown","updated_at"}`. Rows come in
 * video_id order (byte order in both stores), meta first, so the same data always gives the same lines.
 */

export const USER_DATA_FORMAT = 'sx-gateway-user-data';
export const USER_DATA_VERSION = 1;
/** Shown with a refused item list: enough to recognise the ids, short enough for one error line. */
const LISTED_IDS = 20;
// Lines larger than this are refused: a note or a meta field of many megabytes is not user data.
const MAX_LINE_CHARS = 16 * 1024 * 1024;
const WRITE_BATCH = 500;

export interface UserDataHeader {
  format: typeof USER_DATA_FORMAT;
  version: number;
  source_id: string;
  exported_at: string;
  counts: UserDataCounts;
}

export type MetaLine = { kind: 'meta' } & MetaRow;
export type NoteLine = { kind: 'note' } & UserNoteRow;

const META_COLUMNS = columnNames(USER_META);
const NOTE_FIELDS = ['video_id', 'markdown', 'updated_at'] as const;

// ---------------------------------------------------------------------------------------------------------
// Export

export interface UserDataExportReport {
  sourceId: string;
  exportedAt: string;
  counts: UserDataCounts;
}

function metaLine(row: MetaRow): string {
  const line: Record<string, unknown> = { kind: 'meta' };
  for (const column of META_COLUMNS) line[column] = row[column];
  return JSON.stringify(line);
}

function noteLine(row: UserNoteRow): string {
  return JSON.stringify({ kind: 'note', video_id: row.video_id, markdown: row.markdown, updated_at: row.updated_at });
}

/**
 * Reads the source at one instant where the store can (a snapshot), else in a transaction of its own. Without a
 * snapshot (the mirror store) a write between the count and the rows would make the header disagree with the
 * lines; that export is refused rather than written wrong.
 */
function readSource<T>(store: Store, sourceId: string, fn: (db: TenantDb) => Promise<T>): Promise<T> {
  return store.withSnapshot ? store.withSnapshot(sourceId, (db) => fn(db)) : store.withTenant(sourceId, fn);
}

/** Writes the export line by line (without the newline) to `write`, which may apply backpressure. */
export async function exportUserData(
  store: Store,
  sourceId: string,
  write: (line: string) => void | Promise<void>,
  now: Date = new Date(),
): Promise<UserDataExportReport> {
  return readSource(store, sourceId, async (db) => {
    const counts = await countUserData(db);
    const header: UserDataHeader = {
      format: USER_DATA_FORMAT,
      version: USER_DATA_VERSION,
      source_id: db.sourceId,
      exported_at: now.toISOString(),
      counts,
    };
    await write(JSON.stringify(header));
    const written = { meta: 0, notes: 0 };
    for await (const batch of userMetaBatches(db)) {
      for (const row of batch) await write(metaLine(row));
      written.meta += batch.length;
    }
    for await (const batch of userNoteBatches(db)) {
      for (const row of batch) await write(noteLine(row));
      written.notes += batch.length;
    }
    if (written.meta !== counts.meta || written.notes !== counts.notes) {
      throw new GatewayError(
        'VERIFICATION_FAILED',
        `The user data of source ${db.sourceId} changed during the export (counted ${counts.meta} meta / ${counts.notes} notes, ` +
          `read ${written.meta} / ${written.notes}); nothing was kept, run it again`,
      );
    }
    return { sourceId: db.sourceId, exportedAt: header.exported_at, counts };
  });
}

/** The export into a file: written under a temporary name and renamed when whole, so a file on disk is complete. */
export async function exportUserDataToFile(
  store: Store,
  sourceId: string,
  file: string,
): Promise<UserDataExportReport & { file: string; bytes: number }> {
  const target = path.resolve(file);
  const partial = `${target}.partial-${process.pid}`;
  const out = createWriteStream(partial, { encoding: 'utf8' });
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  try {
    const report = await exportUserData(store, sourceId, async (line) => {
      if (!out.write(`${line}\n`)) await Promise.race([once(out, 'drain'), failed]);
    });
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
    const bytes = out.bytesWritten;
    await rename(partial, target);
    return { ...report, file: target, bytes };
  } catch (error) {
    out.destroy();
    await rm(partial, { force: true });
    throw error;
  }
}

/** The export as one text, for a GraphQL answer; refused once it grows past `maxBytes`. */
export async function exportUserDataText(store: Store, sourceId: string, maxBytes: number): Promise<string> {
  const lines: string[] = [];
  let bytes = 0;
  await exportUserData(store, sourceId, (line) => {
    bytes += Buffer.byteLength(line) + 1;
    if (bytes > maxBytes) {
      throw new GatewayError(
        'QUERY_LIMIT_EXCEEDED',
        `The user data of source ${sourceId} is larger than ${maxBytes} bytes, the most one GraphQL answer carries: ` +
          `export it with the command line, sx-gateway user-data export --source ${sourceId} --out FILE`,
        { limit: 'userDataExportBytes', max: maxBytes, actual: null },
      );
    }
    lines.push(line);
  });
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------
// Reading a file

/** The lines of a file, read as it streams. */
export function fileLines(file: string): () => AsyncIterable<string> {
  return async function* () {
    const input = createReadStream(file, { encoding: 'utf8' });
    try {
      yield* createInterface({ input, crlfDelay: Infinity });
    } finally {
      // readline leaves its input open when a reader stops early (a refused line).
      input.destroy();
    }
  };
}

/** The lines of a text held in memory (an upload). */
export function textLines(text: string): () => Iterable<string> {
  return () => text.split(/\r?\n/);
}

function invalid(line: number, problem: string, details: Record<string, unknown> = {}): GatewayError {
  return new GatewayError('USER_DATA_INVALID', `line ${line}: ${problem}`, { line, ...details });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function parseJson(text: string, line: number): Record<string, unknown> {
  if (text.length > MAX_LINE_CHARS) throw invalid(line, `the line is longer than ${MAX_LINE_CHARS} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(line, `not JSON (${(error as Error).message})`);
  }
  if (!isObject(value)) throw invalid(line, 'expected a JSON object');
  return value;
}

const count = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 0;

function parseHeader(text: string, line: number): UserDataHeader {
  const value = parseJson(text.replace(/^\uFEFF/, ''), line);
  if (value.format !== USER_DATA_FORMAT) {
    throw invalid(line, `not a user-data file: the first line must be its header, {"format":"${USER_DATA_FORMAT}",…}`);
  }
  if (value.version !== USER_DATA_VERSION) {
    throw invalid(line, `format version ${JSON.stringify(value.version)} is not one this gateway reads (${USER_DATA_VERSION})`);
  }
  if (typeof value.source_id !== 'string' || typeof value.exported_at !== 'string') {
    throw invalid(line, 'the header needs source_id and exported_at as strings');
  }
  const counts = value.counts;
  if (!isObject(counts) || !count(counts.meta) || !count(counts.notes)) {
    throw invalid(line, 'the header needs counts {"meta": n, "notes": n} as whole numbers');
  }
  return {
    format: USER_DATA_FORMAT,
    version: USER_DATA_VERSION,
    source_id: value.source_id,
    exported_at: value.exported_at,
    counts: { meta: counts.meta as number, notes: counts.notes as number },
  };
}

/** PostgreSQL's text cannot hold NUL; SQLite's can, so a file must not carry one into either. */
function text(value: unknown, field: string, line: number, nullable: boolean): string | null {
  if (value === null || value === undefined) {
    if (nullable) return null;
    throw invalid(line, `${field} is required`);
  }
  if (typeof value !== 'string') throw invalid(line, `${field} must be a string${nullable ? ' or null' : ''}, got ${JSON.stringify(value)}`);
  if (value.includes('\u0000')) throw invalid(line, `${field} contains a NUL character`);
  return value;
}

function unknownFields(value: Record<string, unknown>, known: readonly string[], kind: string, line: number): void {
  const extra = Object.keys(value).filter((key) => key !== 'kind' && !known.includes(key));
  if (extra.length) throw invalid(line, `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((key) => JSON.stringify(key)).join(', ')} in a ${kind} line`);
}

type ParsedLine = MetaLine | NoteLine;

function parseRecord(raw: string, line: number): ParsedLine {
  const value = parseJson(raw, line);
  const videoId = text(value.video_id, 'video_id', line, false)!;
  if (videoId === '') throw invalid(line, 'video_id must not be empty');
  const updatedAt = text(value.updated_at, 'updated_at', line, false)!;
  if (value.kind === 'meta') {
    unknownFields(value, META_COLUMNS, 'meta', line);
    const rating = value.rating ?? null;
    if (rating !== null && !(typeof rating === 'number' && Number.isInteger(rating) && rating >= 0 && rating <= 5)) {
      throw invalid(line, `rating must be a whole number from 0 to 5 or null, got ${JSON.stringify(rating)}`);
    }
    const row: Record<string, unknown> = { kind: 'meta' };
    for (const column of META_COLUMNS) {
      if (column === 'rating') row.rating = rating;
      else row[column] = text(value[column], column, line, true);
    }
    row.video_id = videoId;
    row.updated_at = updatedAt;
    return row as MetaLine;
  }
  if (value.kind === 'note') {
    unknownFields(value, NOTE_FIELDS, 'note', line);
    return { kind: 'note', video_id: videoId, markdown: text(value.markdown, 'markdown', line, false)!, updated_at: updatedAt };
  }
  throw invalid(line, `kind must be "meta" or "note", got ${JSON.stringify(value.kind)}`);
}

interface ReadFile {
  header: UserDataHeader;
  counts: UserDataCounts;
  /** Every item the file names, meta or note. */
  itemIds: Set<string>;
}

/**
 * One pass over the file: the header, every line's shape, no item twice per kind, and the header's counts. Only
 * the item ids are kept, so a file of a million items is checked in little memory. `onRecord` sees each record.
 */
async function readUserDataFile(lines: AsyncIterable<string> | Iterable<string>, onRecord?: (record: ParsedLine) => Promise<void>): Promise<ReadFile> {
  let header: UserDataHeader | null = null;
  let number = 0;
  const seen = { meta: new Map<string, number>(), note: new Map<string, number>() };
  const itemIds = new Set<string>();
  for await (const raw of lines) {
    number += 1;
    if (number === 1) {
      header = parseHeader(raw, number);
      continue;
    }
    // A blank line (the end of the file, an editor's habit) carries nothing.
    if (raw.trim() === '') continue;
    const record = parseRecord(raw, number);
    const first = seen[record.kind].get(record.video_id);
    if (first !== undefined) throw invalid(number, `a second ${record.kind} line for item ${record.video_id} (the first is line ${first})`);
    seen[record.kind].set(record.video_id, number);
    itemIds.add(record.video_id);
    await onRecord?.(record);
  }
  if (!header) throw invalid(1, 'the file is empty; its first line must be the header');
  const counts = { meta: seen.meta.size, notes: seen.note.size };
  if (counts.meta !== header.counts.meta || counts.notes !== header.counts.notes) {
    throw invalid(
      1,
      `the header counts ${header.counts.meta} meta and ${header.counts.notes} note lines, the file holds ${counts.meta} and ${counts.notes} (cut short?)`,
    );
  }
  return { header, counts, itemIds };
}

// ---------------------------------------------------------------------------------------------------------
// Import

export interface UserDataImportOptions {
  /**
   * Lines naming items the target source does not have: refused by default (nothing is written, the error names
   * them); with skipMissing they are left out and reported, and the rest is imported.
   */
  skipMissing?: boolean;
}

export interface UserDataImportReport {
  sourceId: string;
  /** The source the file was exported from (its header). */
  fromSourceId: string;
  /** Rows written (inserted, or replacing the item's row). */
  meta: number;
  notes: number;
  skipped: {
    /** Items of the file the source does not have (only with skipMissing). */
    items: number;
    /** Their lines, meta and note. */
    lines: number;
    /** The first 20 of them, in file order. */
    itemIds: string[];
  };
  durationMs: number;
}

/**
 * Imports a user-data file into a source: every line is checked first (USER_DATA_INVALID names the line and the
 * problem), then, in one transaction, the items are looked up and the rows upserted. An error anywhere writes
 * nothing. Rows are written as the file has them (updated_at too), so export → import → export gives the same
 * lines. The file is read twice: once to check it, once inside the transaction to write it; `openLines` opens it
 * afresh each time. In SQLite the transaction holds the shared connection, so the server passes text it already
 * holds in memory, never a stream that would wait on I/O inside it.
 */
export async function importUserData(
  store: Store,
  sourceId: string,
  openLines: () => AsyncIterable<string> | Iterable<string>,
  options: UserDataImportOptions = {},
): Promise<UserDataImportReport> {
  const started = performance.now();
  const checked = await readUserDataFile(openLines());
  return store.withTenant(sourceId, async (db) => {
    const existing = await existingItemIds(db, checked.itemIds);
    const missing = [...checked.itemIds].filter((id) => !existing.has(id));
    if (missing.length > 0 && !options.skipMissing) {
      const listed = missing.slice(0, LISTED_IDS).join(', ');
      throw new GatewayError(
        'USER_DATA_INVALID',
        `${missing.length} item(s) of the file are not in source ${db.sourceId}: ${listed}${missing.length > LISTED_IDS ? `, … (first ${LISTED_IDS})` : ''}. ` +
          'Nothing was imported; import the items first, or leave these out with --skip-missing (GraphQL: skipMissing: true)',
        { missingCount: missing.length, missingItemIds: missing.slice(0, LISTED_IDS) },
      );
    }
    const skip = new Set(missing);
    let skippedLines = 0;
    const written = { meta: 0, notes: 0 };
    const pending = { meta: [] as MetaRow[], notes: [] as UserNoteRow[] };
    const flush = async () => {
      written.meta += await upsertUserMeta(db, pending.meta.splice(0));
      written.notes += await upsertUserNotes(db, pending.notes.splice(0));
    };
    const again = await readUserDataFile(openLines(), async (record) => {
      if (skip.has(record.video_id)) {
        skippedLines += 1;
        return;
      }
      const { kind, ...row } = record;
      if (kind === 'meta') pending.meta.push(row as MetaRow);
      else pending.notes.push(row as UserNoteRow);
      if (pending.meta.length + pending.notes.length >= WRITE_BATCH) await flush();
    });
    await flush();
    if (again.counts.meta !== checked.counts.meta || again.counts.notes !== checked.counts.notes || again.itemIds.size !== checked.itemIds.size) {
      throw new GatewayError('USER_DATA_INVALID', 'The file changed while it was imported; nothing was imported');
    }
    return {
      sourceId: db.sourceId,
      fromSourceId: checked.header.source_id,
      meta: written.meta,
      notes: written.notes,
      skipped: { items: missing.length, lines: skippedLines, itemIds: missing.slice(0, LISTED_IDS) },
      durationMs: performance.now() - started,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Reset

export interface UserDataResetOptions {
  filter?: UserDataFilter;
  /** What to delete; omitted or empty: all three. */
  kinds?: readonly UserDataKind[] | null;
  dryRun: boolean;
}

export interface UserDataResetReport extends ResetCounts {
  sourceId: string;
  dryRun: boolean;
  kinds: UserDataKind[];
}

/**
 * Deletes user data of the matched items in one transaction, or with dryRun counts what it would delete (the same
 * statements' WHERE, in the same kind of transaction, so both answer alike in every mode).
 */
export async function resetUserData(store: Store, sourceId: string, options: UserDataResetOptions): Promise<UserDataResetReport> {
  const kinds = options.kinds?.length ? USER_DATA_KINDS.filter((kind) => options.kinds!.includes(kind)) : [...USER_DATA_KINDS];
  const counts = await store.withTenant(sourceId, (db) => resetUserRows(db, options.filter ?? {}, kinds, options.dryRun));
  return { sourceId, dryRun: options.dryRun, kinds, ...counts };
}
