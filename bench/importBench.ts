import path from 'node:path';
import { ensureDataset, type DatasetFiles } from './dataset.js';
import { postgresImportFloor, type ImportFloor } from './importFloor.js';
import { runCli } from './processes.js';
import { rawCopyRowsPerSecond } from './rawCopy.js';
import { importRowByRow } from './rowByRow.js';

export interface ImportFigures {
  videos: number;
  rawCopy: { rowsPerSecond: number; ms: number } | { missing: string };
  first: { ms: number; rows: number; rowsPerSecond: number; peakRssBytes: number; inserted: number };
  reimport: { ms: number; rowsPerSecond: number; peakRssBytes: number; skipped: number };
  /** What PostgreSQL alone spends on the rows and indexes the first import left (importFloor.ts), when asked for. */
  floor?: ImportFloor;
}

interface CliSummary {
  inserted: number;
  updated: number;
  skipped: number;
  rows: { consolidated: number };
  peakRssBytes: number;
}

/** One `sx-gateway import --json` process, timed from spawn to exit like the psql process it is compared with. */
async function cliImport(databaseUrl: string, sourceId: string, files: DatasetFiles) {
  const { stdout, ms } = await runCli(
    ['import', '--create', '--source', sourceId, '--csv', files.consolidated, '--authors', files.authors, '--bookmarks', files.bookmarks, '--json'],
    { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: databaseUrl, SX_LOG_LEVEL: 'warn' },
  );
  const summary = JSON.parse(stdout.trim().split('\n').pop()!) as CliSummary;
  return { ms, summary, rowsPerSecond: summary.rows.consolidated / (ms / 1000) };
}

export async function datasetFor(dataDir: string, videos: number): Promise<DatasetFiles> {
  return ensureDataset(path.join(dataDir, `videos-${videos}`), { videos });
}

/**
 * First import into an empty source, then the same files again, beside psql's \copy of the consolidated file;
 * with `floorSchema` (the source's schema), then the database's own floor for what the first import stored there.
 */
export async function benchImport(
  databaseUrl: string,
  files: DatasetFiles,
  videos: number,
  sourceId: string,
  options: { floorSchema?: string } = {},
): Promise<ImportFigures> {
  const rawCopy = await rawCopyRowsPerSecond(databaseUrl, files.consolidated).catch((error: Error) => ({ missing: error.message }));
  const first = await cliImport(databaseUrl, sourceId, files);
  const again = await cliImport(databaseUrl, sourceId, files);
  const floor = options.floorSchema ? await postgresImportFloor(databaseUrl, options.floorSchema) : undefined;
  return {
    videos,
    rawCopy: 'missing' in rawCopy ? rawCopy : { rowsPerSecond: rawCopy.rowsPerSecond, ms: rawCopy.ms },
    first: { ms: first.ms, rows: first.summary.rows.consolidated, rowsPerSecond: first.rowsPerSecond, peakRssBytes: first.summary.peakRssBytes, inserted: first.summary.inserted },
    reimport: { ms: again.ms, rowsPerSecond: again.rowsPerSecond, peakRssBytes: again.summary.peakRssBytes, skipped: again.summary.skipped },
    ...(floor ? { floor } : {}),
  };
}

/** The original's way (whole files in memory, a SELECT then an INSERT or UPDATE per row) on a prefix. */
export async function benchRowByRow(databaseUrl: string, files: DatasetFiles, rows: number): Promise<{ rowsPerSecond: number; rows: number; ms: number }> {
  await runCli(['pg-bootstrap', '--source', 'rowbyrow'], {
    SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
    SX_POSTGRES_DSN: databaseUrl,
  });
  const result = await importRowByRow(databaseUrl, 'sx_rowbyrow', 'rowbyrow', files, { maxRows: rows });
  return { rowsPerSecond: result.rows / (result.ms / 1000), rows: result.rows, ms: result.ms };
}
