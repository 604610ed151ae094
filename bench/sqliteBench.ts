import { rm } from 'node:fs/promises';
import path from 'node:path';
import { metaByVideoIds } from '../src/queries/itemMeta.js';
import { listItems } from '../src/queries/listItems.js';
import { openSqliteConnection } from '../src/stores/sqlite/sqliteStore.js';
import type { DatasetFiles } from './dataset.js';
import { loadGraphql, loadLoop, type LoadResult } from './load.js';
import { makeWorkloads } from './postgraphile/queries.js';
import { runNodeScript } from './processes.js';
import type { LoadShape } from './queryBench.js';
import { startGateway } from './queryBench.js';
import { rawSqliteTenantDb } from './tenantDb.js';

export interface SqliteFigures {
  videos: number;
  importMs: number;
  gateway: LoadResult;
  direct: LoadResult;
}

/** SQLITE mode: the page workload through the gateway vs the same statements on better-sqlite3 directly. */
export async function benchSqlite(dataDir: string, files: DatasetFiles, videos: number, shape: LoadShape): Promise<SqliteFigures> {
  const file = path.join(dataDir, `sqlite-${videos}.db`);
  await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(file + suffix, { force: true })));
  const env = { SX_DB_BACKEND_MODE: 'SQLITE', SX_DB_PATH: file, SX_DEMO_IMPORT: '0' };
  const imported = await runNodeScript(
    'src/cli.ts',
    ['import', '--create', '--source', 'big', '--csv', files.consolidated, '--authors', files.authors, '--bookmarks', files.bookmarks, '--json'],
    env,
  );
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
    return { videos, importMs: imported.ms, gateway: figures, direct };
  } finally {
    connection.close();
  }
}
