import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Store } from '../interfaces.js';
import {
  authorTuple,
  bookmarkTuple,
  consolidatedTuple,
  createStaging,
  mergeStaged,
  stageRows,
  type ImportCounts,
} from '../queries/importMerge.js';
import { mergeStagedSqlite } from '../queries/importMergeSqlite.js';
import { readCsvRecords, type CsvRecord } from './csvRecords.js';
import { REQUIRED_COLUMNS, authorRow, bookmarkRow, consolidatedRow } from './csvFields.js';

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

/** The file's records as batches of staged tuples, reporting progress after each batch. */
async function* stagedBatches(
  open: () => Readable,
  label: ImportProgress['file'],
  required: readonly string[],
  toTuple: (record: CsvRecord, seq: number) => unknown[],
  counted: { rows: number },
  onProgress: ((progress: ImportProgress) => void) | undefined,
  requireRows = false,
): AsyncGenerator<unknown[][]> {
  let batch: unknown[][] = [];
  let bytes = 0;
  for await (const record of readCsvRecords(open(), {
    label,
    requiredColumns: required,
    requireRows,
    onBytes: (n) => (bytes += n),
  })) {
    counted.rows += 1;
    batch.push(toTuple(record, counted.rows));
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
      onProgress?.({ file: label, rows: counted.rows, bytes });
    }
  }
  yield batch;
  onProgress?.({ file: label, rows: counted.rows, bytes });
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
    let withoutId = 0;
    const authors = { rows: 0 };
    const bookmarks = { rows: 0 };
    const consolidated = { rows: 0 };
    if (files.authors) {
      await stageRows(db, 'stage_authors', stagedBatches(files.authors, 'authors', REQUIRED_COLUMNS.authors,
        (record, seq) => authorTuple(authorRow(record, seq)), authors, onProgress));
    }
    if (files.bookmarks) {
      await stageRows(db, 'stage_bookmarks', stagedBatches(files.bookmarks, 'bookmarks', REQUIRED_COLUMNS.bookmarks,
        (record, seq) => bookmarkTuple(bookmarkRow(record, seq)), bookmarks, onProgress));
    }
    await stageRows(db, 'stage_consolidated', stagedBatches(files.consolidated, 'consolidated', REQUIRED_COLUMNS.consolidated,
      (record, seq) => {
        const row = consolidatedRow(record, seq);
        if (row.videoId === null) withoutId += 1;
        return consolidatedTuple(row);
      },
      consolidated, onProgress, true));
    // The same rules and counts in both stores; SQLite's statements are shaped for its planner and its search index.
    const merge = db.dialect === 'sqlite' ? mergeStagedSqlite : mergeStaged;
    const counts = await runAtomically(() => merge(db, new Date().toISOString()));
    onProgress?.({ file: 'merge', rows: consolidated.rows, bytes: 0 });
    return {
      sourceId,
      ...counts,
      skipped: counts.skipped + withoutId,
      rows: { consolidated: consolidated.rows, authors: authors.rows, bookmarks: bookmarks.rows },
      withoutId,
      durationMs: performance.now() - started,
    };
  });
}
