import type { Readable } from 'node:stream';
import type { Store } from '../interfaces.js';
import { createStaging, mergeStaged, stageAuthors, stageBookmarks, stageConsolidated, type ImportCounts } from '../library/importMerge.js';
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

// Rows per multi-row INSERT: below SQLite's bound-parameter limit and PostgreSQL's 65535 at 11 columns.
const BATCH = 500;

async function stageFile<Row>(
  open: () => Readable,
  label: ImportProgress['file'],
  required: readonly string[],
  toRow: (record: CsvRecord, seq: number) => Row,
  write: (rows: Row[]) => Promise<void>,
  onProgress: ((progress: ImportProgress) => void) | undefined,
  requireRows = false,
): Promise<{ rows: number }> {
  let batch: Row[] = [];
  let seq = 0;
  let bytes = 0;
  for await (const { record } of readCsvRecords(open(), {
    label,
    requiredColumns: required,
    requireRows,
    onBytes: (n) => (bytes += n),
  })) {
    seq += 1;
    batch.push(toRow(record, seq));
    if (batch.length >= BATCH) {
      await write(batch);
      batch = [];
      onProgress?.({ file: label, rows: seq, bytes });
    }
  }
  await write(batch);
  onProgress?.({ file: label, rows: seq, bytes });
  return { rows: seq };
}

/**
 * Streams the files into staging tables and merges them in one transaction: all or nothing. The source is
 * bootstrapped first when it does not exist yet (an import is one of the two ways a source comes into being).
 */
export async function importCsv(
  store: Store,
  sourceId: string,
  files: ImportFiles,
  onProgress?: (progress: ImportProgress) => void,
): Promise<ImportSummary> {
  const started = performance.now();
  await store.resolveSource(sourceId).catch(async (error: { code?: string }) => {
    if (error.code !== 'SOURCE_NOT_MAPPED') throw error;
    await store.bootstrapSource({ sourceId });
  });
  return store.withImport(sourceId, async (db, runAtomically) => {
    await createStaging(db);
    let withoutId = 0;
    const authors = files.authors
      ? await stageFile(files.authors, 'authors', REQUIRED_COLUMNS.authors, authorRow, (rows) => stageAuthors(db, rows), onProgress)
      : { rows: 0 };
    const bookmarks = files.bookmarks
      ? await stageFile(files.bookmarks, 'bookmarks', REQUIRED_COLUMNS.bookmarks, bookmarkRow, (rows) => stageBookmarks(db, rows), onProgress)
      : { rows: 0 };
    const consolidated = await stageFile(
      files.consolidated,
      'consolidated',
      REQUIRED_COLUMNS.consolidated,
      (record, seq) => {
        const row = consolidatedRow(record, seq);
        if (row.videoId === null) withoutId += 1;
        return row;
      },
      (rows) => stageConsolidated(db, rows),
      onProgress,
      true,
    );
    const counts = await runAtomically(() => mergeStaged(db, new Date().toISOString()));
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
