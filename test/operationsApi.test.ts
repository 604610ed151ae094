import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv } from '../src/import/importCsv.js';
import { tableChecksums } from '../src/queries/tableChecksums.js';
import { latestTenantVersion } from '../src/stores/postgres/migrationFiles.js';
import { SqliteStore } from '../src/stores/sqlite/sqliteStore.js';
import { libraryCsv } from './support/csv.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { findTestPgTools } from './support/pgTools.js';

const TOKEN = 'operations-test-token-0123456789';
const admin = { authorization: `Bearer ${TOKEN}` };
const found = await findTestPgTools();
const itWithTools = found.tools || process.env.SX_TEST_REQUIRE_PG_TOOLS === '1' ? it : it.skip;

const load = (store: SqliteStore | TestGateway['store'], sourceId: string, items: number) =>
  importCsv(store, sourceId, { consolidated: () => Readable.from([libraryCsv(sourceId, items)]), authors: null, bookmarks: null }, { create: true });

describe('operations as admin mutations (POSTGRES_PRIMARY)', () => {
  let gateway: TestGateway;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'sx-ops-api-'));
    const sqlite = new SqliteStore({ file: path.join(work, 'library.db') });
    await load(sqlite, 'legacy', 12);
    await sqlite.close();
    gateway = await startTestGateway('postgres', {
      SX_ADMIN_TOKEN: TOKEN,
      SX_BACKUP_DIR: path.join(work, 'backups'),
      SX_DB_PATH: path.join(work, 'library.db'),
    });
    await load(gateway.store, 'live', 7);
  });
  afterAll(async () => {
    await gateway?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('are refused without admin rights, and change nothing', async () => {
    for (const mutation of [
      'mutation { createBackup { dumpFile } }',
      'mutation { cutoverSource(sourceId: "legacy") { verified } }',
      'mutation { migrateSchemas { schemaName } }',
    ]) {
      const response = await gateway.gql(mutation, {}, { authorization: 'Bearer wrong-token-wrong-token' });
      expect(response.status, mutation).toBe(403);
      expect(response.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    await expect(readFile(path.join(work, 'backups'))).rejects.toThrow();
    const legacy = await gateway.gql('{ sources { id } }');
    expect(legacy.body.data.sources.map((s: { id: string }) => s.id)).toEqual(['live']);
  });

  it('cutoverSource copies a source of the SQLite file and verifies it; a second call copies nothing', async () => {
    const query = 'mutation { cutoverSource(sourceId: "legacy") { action verified copiedRows verdict tables { table sqliteRows postgresRows equal } } }';
    const first = await gateway.gql(query, {}, admin);
    expect(first.body.errors).toBeUndefined();
    expect(first.body.data.cutoverSource).toMatchObject({ action: 'copy', verified: true, copiedRows: 24 });
    expect(first.body.data.cutoverSource.tables.find((t: { table: string }) => t.table === 'videos')).toEqual({
      table: 'videos', sqliteRows: 12, postgresRows: 12, equal: true,
    });
    const items = await gateway.gql('{ source(sourceId: "legacy") { items { totalCount } } }');
    expect(items.body.data.source.items.totalCount).toBe(12);
    const second = await gateway.gql(query, {}, admin);
    expect(second.body.data.cutoverSource).toMatchObject({ action: 'none', verified: true, copiedRows: 0 });
  });

  it('migrateSchemas reports every schema at the latest version', async () => {
    const response = await gateway.gql('mutation { migrateSchemas { sourceId from to applied error } }', {}, admin);
    expect(response.body.errors).toBeUndefined();
    const bySource = Object.fromEntries(response.body.data.migrateSchemas.map((m: { sourceId: string }) => [m.sourceId, m]));
    expect(Object.keys(bySource).sort()).toEqual(['legacy', 'live']);
    for (const report of Object.values(bySource)) {
      expect(report).toMatchObject({ from: latestTenantVersion, to: latestTenantVersion, applied: [], error: null });
    }
  });

  itWithTools('createBackup writes a dump and a manifest into SX_BACKUP_DIR, whose checksums are the source\'s', async () => {
    const response = await gateway.gql(
      'mutation { createBackup(sourceId: "live", keep: 2) { kind dumpFile manifestFile bytes sources { sourceId schemaName tables { table rows checksum } } } }',
      {},
      admin,
    );
    expect(response.body.errors).toBeUndefined();
    const backup = response.body.data.createBackup;
    expect(backup.kind).toBe('source');
    expect(path.dirname(backup.dumpFile)).toBe(path.join(work, 'backups'));
    expect(backup.bytes).toBeGreaterThan(1000);
    const manifest = JSON.parse(await readFile(backup.manifestFile, 'utf8'));
    const expected = await gateway.store.withTenant('live', (db) => tableChecksums(db));
    expect(manifest.sources[0].tables).toEqual(expected);
    expect(backup.sources[0].tables).toEqual(expected);
  });
});

describe('operations as admin mutations in SQLITE mode', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway('sqlite');
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('say that they need POSTGRES_PRIMARY', async () => {
    const response = await gateway.gql('mutation { createBackup { dumpFile } }');
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: 'A backup needs SX_DB_BACKEND_MODE=POSTGRES_PRIMARY; this gateway runs SQLITE',
    });
  });
});
