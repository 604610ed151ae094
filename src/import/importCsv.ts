import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Store, TenantDb } from '../interfaces.js';
import { KEY_INPUTS, STAGED_COLUMNS, createStaging, mergeStaged, stageRows, type ImportCounts, type UnstagedRows } from '../queries/importMerge.js';
import { mergeStagedSqlite } from '../queries/importMergeSqlite.js';
import { recordItemCount } from '../queries/itemCount.js';
import { canStageByCopy, copiedKeysSql, copyCsv, stageByCopy, stageCopied } from './copyStaging.js';
import { readCsvRows } from './csvRecords.js';
import { FIELD_RULES, compileRowRules, type FileKind } from './fieldRules.js';

export interface ImportFiles {
  consolidated: () => Readable;
  authors?: (() => Readable) | null;
  bookmarks?: (() => Readable) | null;
}

export interface ImportProgress {
  file: 'consolidated' | 'authors' | 'bookmarks' | 'merge';
  rows: number;
  bytes: number;
}

export interface ImportSummary extends ImportCounts {
  sourceId: string;
  rows: { consolidated: number; authors: number; bookmarks: number };
  /** Consolidated rows without c_videos_id: skipped, and included in `skipped`. */
  withoutId: number;
  durationMs: number;
}

// Rows per batch: below SQLite's bound-parameter limit at 11 columns, and a few hundred KB of COPY text.
const BATCH = 500;

interface Staged {
  rows: number;
  /** Rows without the file's key (FileRules.key): the merge skips them. Counted here when Node applies the rules. */
  withoutKey?: number;
}

/**
 * The file's rows as batches of staged tuples, the field rules applied in Node (the TypeScript form of
 * fieldRules.ts), reporting progress after each batch.
 */
async function* stagedBatches(
  open: () => Readable,
  file: FileKind,
  counted: Required<Staged>,
  onProgress: ((progress: ImportProgress) => void) | undefined,
  requireRows = false,
): AsyncGenerator<unknown[][]> {
  const { table, required, key } = FIELD_RULES[file];
  const columns = STAGED_COLUMNS[table];
  const keyAt = (columns as readonly string[]).indexOf(key);
  let toTuple: ReturnType<typeof compileRowRules> | null = null;
  let batch: unknown[][] = [];
  let bytes = 0;
  for await (const values of readCsvRows(open(), {
    label: file,
    requiredColumns: required,
    requireRows,
    onBytes: (n) => (bytes += n),
    onHeader: (header) => (toTuple = compileRowRules(file, header, columns)),
  })) {
    counted.rows += 1;
    const tuple = toTuple!(values, counted.rows);
    if (tuple[keyAt] === null) counted.withoutKey += 1;
    batch.push(tuple);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
      onProgress?.({ file, rows: counted.rows, bytes });
    }
  }
  yield batch;
  onProgress?.({ file, rows: counted.rows, bytes });
}

/**
 * Stages one file. PostgreSQL parses the CSV itself (COPY … FORMAT csv of the file's checked bytes) and applies the
 * rules in one generated INSERT … SELECT; SQLite (or a PostgreSQL handle that cannot, see canStageByCopy) reads the
 * rows with csv-parse and applies the same rules in Node.
 */
async function stageFile(
  db: TenantDb,
  byCopy: boolean,
  file: FileKind,
  open: () => Readable,
  onProgress: ((progress: ImportProgress) => void) | undefined,
  requireRows = false,
): Promise<Staged> {
  if (byCopy) {
    return stageByCopy(db, file, open(), { requireRows, onProgress: (rows, bytes) => onProgress?.({ file, rows, bytes }) });
  }
  const counted: Required<Staged> = { rows: 0, withoutKey: 0 };
  await stageRows(db, FIELD_RULES[file].table, stagedBatches(open, file, counted, onProgress, requireRows));
  return counted;
}

/**
 * The consolidated file through COPY, its rules left for the merge (UnstagedRows): a re-import runs them only
 * for the rows its digests do not settle. Its rows without an id are counted by the merge.
 */
async function copyConsolidated(
  db: TenantDb,
  open: () => Readable,
  onProgress: ((progress: ImportProgress) => void) | undefined,
): Promise<Staged & { unstaged: UnstagedRows }> {
  const copied = await copyCsv(db, 'consolidated', open(), { requireRows: true, onProgress: (rows, bytes) => onProgress?.({ file: 'consolidated', rows, bytes }) });
  const unstaged: UnstagedRows = { keyColumns: copiedKeysSql(copied, KEY_INPUTS), stage: (options) => stageCopied(db, copied, options) };
  return { rows: copied.rows, unstaged };
}

export interface ImportOptions {
  /**
   * Create the source when it does not exist. Off by default: a mistyped source id must not become a new tenant
   * holding the data, so an unknown source is refused (SOURCE_NOT_MAPPED) unless the caller asks for it.
   */
  create?: boolean;
  onProgress?: (progress: ImportProgress) => void;
}

/**
 * Streams the files into staging tables and merges them in one transaction: all or nothing. The source must
 * exist, or `create` must be set (then it is bootstrapped first); the check comes before a byte of the files is
 * read or anything is written.
 */
export async function importCsv(store: Store, sourceId: string, files: ImportFiles, options: ImportOptions = {}): Promise<ImportSummary> {
  const started = performance.now();
  const { onProgress } = options;
  await store.resolveSource(sourceId).catch(async (error: { code?: string }) => {
    if (error.code !== 'SOURCE_NOT_MAPPED') throw error;
    if (!options.create) {
      throw new GatewayError(
        'SOURCE_NOT_MAPPED',
        `Unknown source_id=${sourceId}: nothing was imported. An import creates a source only when asked ` +
          '(--create on the command line, create: true in importCsv)',
        { sourceId },
      );
    }
    await store.bootstrapSource({ sourceId });
  });
  return store.withImport(sourceId, async (db, runAtomically) => {
    await createStaging(db);
    const none: Staged = { rows: 0 };
    const byCopy = await canStageByCopy(db);
    const authors = files.authors ? await stageFile(db, byCopy, 'authors', files.authors, onProgress) : none;
    const bookmarks = files.bookmarks ? await stageFile(db, byCopy, 'bookmarks', files.bookmarks, onProgress) : none;
    const consolidated = byCopy
      ? await copyConsolidated(db, files.consolidated, onProgress)
      : { ...(await stageFile(db, byCopy, 'consolidated', files.consolidated, onProgress, true)), unstaged: undefined };
    const importedAt = new Date().toISOString();
    const counts = await runAtomically(async () => {
      // The same rules and counts in both stores; SQLite's statements are shaped for its planner and its search index.
      const merged: ImportCounts & { keyed?: number } =
        db.dialect === 'sqlite' ? await mergeStagedSqlite(db, importedAt) : await mergeStaged(db, importedAt, consolidated.unstaged);
      // Committed with the rows it counts, so an unfiltered total reads one row instead of counting them all.
      await recordItemCount(db);
      return merged;
    });
    const withoutId = consolidated.withoutKey ?? consolidated.rows - (counts.keyed ?? consolidated.rows);
    onProgress?.({ file: 'merge', rows: consolidated.rows, bytes: 0 });
    return {
      sourceId,
      inserted: counts.inserted,
      updated: counts.updated,
      skipped: counts.skipped + withoutId,
      rows: { consolidated: consolidated.rows, authors: authors.rows, bookmarks: bookmarks.rows },
      withoutId,
      durationMs: performance.now() - started,
    };
  });
}
