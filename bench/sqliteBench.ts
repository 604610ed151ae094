import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { metaByVideoIds } from '../src/queries/itemMeta.js';
import { listItems } from '../src/queries/listItems.js';
import { openSqliteConnection } from '../src/stores/sqlite/sqliteStore.js';
import type { DatasetFiles } from './dataset.js';
import { sqliteImportFloor, type ImportFloor } from './importFloor.js';
import { loadGraphql, loadLoop, type LoadResult } from './load.js';
import { makeWorkloads } from './postgraphile/queries.js';
import { runCli } from './processes.js';
import type { LoadShape } from './queryBench.js';
import { startGateway } from './queryBench.js';
import { rawSqliteTenantDb } from './tenantDb.js';

export interface SqliteImportRun {
  ms: number;
  rows: number;
  rowsPerSecond: number;
  peakRssBytes: number;
  inserted: number;
  updated: number;
  skipped: number;
}

export interface SqliteFigures {
  videos: number;
  /** The first import, into a new file: the figure the goal compares. */
  first: SqliteImportRun;
  /** The same files again into the file the first import made. */
  reimport: SqliteImportRun;
  /** sqlite3's `.import` of the same consolidated file into an unindexed table, right after the first import. */
  cliImport: { ms: number; rows: number; rowsPerSecond: number } | { missing: string };
  /** What SQLite alone spends on the rows and indexes the first import left (importFloor.ts). */
  floor: ImportFloor;
  gateway: LoadResult;
  direct: LoadResult;
}

interface CliSummary {
  inserted: number;
  updated: number;
  skipped: number;
  rows: { consolidated: number };
  peakRssBytes: number;
}

/** One `sx-gateway import --json` process in SQLITE mode, timed from spawn to exit. */
async function gatewayImport(files: DatasetFiles, env: NodeJS.ProcessEnv): Promise<SqliteImportRun> {
  const { stdout, ms } = await runCli(
    ['import', '--create', '--source', 'big', '--csv', files.consolidated, '--authors', files.authors, '--bookmarks', files.bookmarks, '--json'],
    { ...env, SX_LOG_LEVEL: 'warn' },
  );
  const summary = JSON.parse(stdout.trim().split('\n').pop()!) as CliSummary;
  const rows = summary.rows.consolidated;
  return {
    ms,
    rows,
    rowsPerSecond: rows / (ms / 1000),
    peakRssBytes: summary.peakRssBytes,
    inserted: summary.inserted,
    updated: summary.updated,
    skipped: summary.skipped,
  };
}

/** The sqlite3 command-line shell from the PATH (Debian package sqlite3), or why there is none. */
function findSqlite3(): string | { missing: string } {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'sqlite3');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return { missing: 'the sqlite3 shell is not on PATH (Debian package sqlite3), so its .import baseline was not measured' };
}

/**
 * The limit for an import into SQLite: the sqlite3 shell's `.import --csv` of the consolidated file into a new
 * table of a new database (all columns text, no index, no constraint), the commands on its stdin, timed from spawn
 * to exit like the gateway's import. Its own defaults (rollback journal, synchronous FULL) are left as they are.
 */
async function cliImport(sqlite3: string, consolidatedCsv: string): Promise<{ ms: number; rows: number; rowsPerSecond: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sx-bench-sqlite3-'));
  const file = path.join(dir, 'import.db');
  try {
    // A dot-command argument in double quotes takes backslash escapes.
    const quoted = `"${path.resolve(consolidatedCsv).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(sqlite3, ['-bail', file], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', reject);
      // -bail: a failed command ends the shell with a non-zero status (a short row is only a warning on stderr).
      child.once('close', (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error(`sqlite3 .import failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
      });
      child.stdin.end(`.import --csv ${quoted} consolidated\n`);
    });
    const ms = performance.now() - started;
    const connection = new Database(file, { readonly: true });
    try {
      const rows = connection.prepare('SELECT count(*) FROM consolidated').pluck().get() as number;
      return { ms, rows, rowsPerSecond: rows / (ms / 1000) };
    } finally {
      connection.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * SQLITE mode: the first import of the files into a new file, sqlite3's `.import` of the same consolidated file
 * right after it, SQLite's own floor for what the import stored, and a re-import; then the page workload against the gateway vs the same statements on
 * better-sqlite3 directly.
 */
export async function benchSqlite(dataDir: string, files: DatasetFiles, videos: number, shape: LoadShape): Promise<SqliteFigures> {
  const file = path.join(dataDir, `sqlite-${videos}.db`);
  await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(file + suffix, { force: true })));
  const env = { SX_DB_BACKEND_MODE: 'SQLITE', SX_DB_PATH: file, SX_DEMO_IMPORT: '0' };
  const sqlite3 = findSqlite3();
  if (typeof sqlite3 !== 'string') process.stderr.write(`[bench] notice: ${sqlite3.missing}; install it with apt-get install sqlite3\n`);
  const first = await gatewayImport(files, env);
  const cli = typeof sqlite3 === 'string' ? await cliImport(sqlite3, files.consolidated) : sqlite3;
  const floor = await sqliteImportFloor(file);
  const reimport = await gatewayImport(files, env);
  const gateway = await startGateway(env);
  let figures: LoadResult;
  try {
    const work = makeWorkloads('big').page.gateway;
    await loadGraphql(gateway.url, work, { connections: shape.connections, seconds: shape.warmupSeconds });
    figures = await loadGraphql(gateway.url, work, shape);
  } finally {
    await gateway.stop();
  }
  const connection = openSqliteConnection(file);
  try {
    const db = rawSqliteTenantDb(connection, 'big');
    // better-sqlite3 is synchronous: more than one loop would only take turns on the same thread.
    const once = async () => {
      const items = await listItems(db, {}, 'RECENT', { limit: 51, offset: 0 });
      await metaByVideoIds(db, items.slice(0, 50).map((i) => i.id));
    };
    await loadLoop(once, { workers: 1, seconds: shape.warmupSeconds });
    const direct = await loadLoop(once, { workers: 1, seconds: shape.seconds });
    return { videos, first, reimport, cliImport: cli, floor, gateway: figures, direct };
  } finally {
    connection.close();
  }
}
