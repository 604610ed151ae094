import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import type { Store } from '../src/interfaces.js';
import { tableChecksums } from '../src/queries/tableChecksums.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { SqliteStore } from '../src/stores/sqlite/sqliteStore.js';
import { killStartedProcesses, startCli, type CliProcess } from './support/cliProcess.js';
import { libraryCsv } from './support/csv.js';
import { createTestDatabase } from './support/gateway.js';

async function serve(env: Record<string, string>): Promise<{ run: CliProcess; url: string }> {
  const run = startCli(['serve', '--port', '0'], { SX_DEMO_IMPORT: '0', ...env });
  const serving = await run.waitFor('stdout', /serving GraphiQL at (\S+)\/graphql/).catch((error: unknown) => {
    run.child.kill('SIGKILL');
    throw error;
  });
  return { run, url: serving[1] };
}

async function stop(run: CliProcess): Promise<number | null> {
  run.child.kill('SIGTERM');
  return (await run.exited).code;
}

async function ask(url: string): Promise<any> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: '{ health { mode backend { backend } } source(sourceId: "lib") { stats { items } items(first: 50) { nodes { id caption } } } }',
    }),
  });
  return response.json();
}

async function checksums(store: Store): Promise<unknown> {
  return store.withTenant('lib', (db) => tableChecksums(db));
}

const load = (store: Store, tag: string, items: number) =>
  importCsv(store, 'lib', { consolidated: () => Readable.from([libraryCsv(tag, items)]), authors: null, bookmarks: null }, { create: true });

/**
 * The seed's fast rollback: SX_DB_BACKEND_MODE=SQLITE and a restart. The SQLite file serves what it holds, and
 * PostgreSQL, left for forensic replay, is not written to.
 */
describe('fast rollback (mode switch and restart)', () => {
  let work: string;
  let database: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'sx-rollback-'));
    database = await createTestDatabase();
    const file = path.join(work, 'library.db');
    env = { SX_DB_PATH: file, SX_POSTGRES_DSN: database.url };
    // The two stores hold different libraries, so an answer shows which one served it.
    const sqlite = new SqliteStore({ file });
    await load(sqlite, 'sqlite', 3);
    await sqlite.close();
    const postgres = new PostgresStore({ dsn: database.url, config: loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url }) });
    await postgres.prepare();
    await load(postgres, 'postgres', 5);
    await postgres.close();
  });

  afterAll(async () => {
    killStartedProcesses();
    await database?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves the SQLite data after the switch, and leaves both databases as they were', async () => {
    const postgres = new PostgresStore({ dsn: database.url, config: loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url }) });
    const sqlite = new SqliteStore({ file: env.SX_DB_PATH! });
    try {
      const postgresBefore = await checksums(postgres);
      const sqliteBefore = await checksums(sqlite);

      const primary = await serve({ ...env, SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY' });
      const before = await ask(primary.url);
      expect(before.data.health).toEqual({ mode: 'POSTGRES_PRIMARY', backend: { backend: 'postgres_primary' } });
      expect(before.data.source.stats.items).toBe(5);
      expect(before.data.source.items.nodes[0].caption).toMatch(/^caption of postgres number/);
      expect(await stop(primary.run)).toBe(0);

      const rolledBack = await serve({ ...env, SX_DB_BACKEND_MODE: 'SQLITE' });
      const after = await ask(rolledBack.url);
      expect(after.data.health).toEqual({ mode: 'SQLITE', backend: { backend: 'sqlite' } });
      expect(after.data.source.stats.items).toBe(3);
      expect(after.data.source.items.nodes.map((n: { caption: string }) => n.caption).sort()).toEqual([
        'caption of sqlite number 1',
        'caption of sqlite number 2',
        'caption of sqlite number 3',
      ]);
      expect(await stop(rolledBack.run)).toBe(0);

      expect(await checksums(postgres)).toEqual(postgresBefore);
      expect(await checksums(sqlite)).toEqual(sqliteBefore);
    } finally {
      await postgres.close();
      await sqlite.close();
    }
  });
});
