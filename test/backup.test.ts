import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import type { Store } from '../src/interfaces.js';
import { putItemMeta } from '../src/queries/itemMeta.js';
import { putUserNote } from '../src/queries/itemNotes.js';
import { tableChecksums, type TableChecksum } from '../src/queries/tableChecksums.js';
import { listen } from '../src/http/server.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, csv, libraryCsv } from './support/csv.js';
import { createTestDatabase } from './support/gateway.js';
import { findTestPgTools } from './support/pgTools.js';

const found = await findTestPgTools();
process.stderr.write(`${found.banner}\n`);
const describeWithTools = found.tools || process.env.SX_TEST_REQUIRE_PG_TOOLS === '1' ? describe : describe.skip;

type Database = { url: string; drop: () => Promise<void> };

function storeOn(url: string): PostgresStore {
  const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: url, SX_REGISTRY_CACHE_TTL_SEC: '0' });
  return new PostgresStore({ dsn: url, config });
}

async function withStoreOn<T>(url: string, fn: (store: PostgresStore) => Promise<T>): Promise<T> {
  const store = storeOn(url);
  try {
    await store.prepare();
    return await fn(store);
  } finally {
    await store.close();
  }
}

const checksumsOf = (url: string, sourceId: string) =>
  withStoreOn(url, (store) => store.withTenant(sourceId, (db) => tableChecksums(db)));

async function seed(store: Store, sourceId: string, items: number, hash = 'h1'): Promise<void> {
  const authors = csv(AUTHORS_HEADER, [['a1', 'author1', 'Author 1', 10, 20, 3, 'sig', 'no']]);
  const bookmarks = csv(BOOKMARKS_HEADER, [['v1', '2024-01-02T03:04:05Z']]);
  await importCsv(store, sourceId, {
    consolidated: () => Readable.from([libraryCsv(sourceId, items, hash)]),
    authors: () => Readable.from([authors]),
    bookmarks: () => Readable.from([bookmarks]),
  }, { create: true });
}

/** Rows in every table of the source, so a table the backup forgot would show. */
async function seedEveryTable(store: Store, sourceId: string): Promise<void> {
  await store.withTenant(sourceId, async (db) => {
    await putItemMeta(db, 'v1', { rating: 4, statuses: ['reviewing'], tags: ['food'], authorLinks: ['https://example.com/a'] });
    await putUserNote(db, 'v2', '# by hand');
    await db.run(sql`INSERT INTO scheduling_artifacts (source_id, id, video_id, kind, payload_json, created_at)
                     VALUES (${sourceId}, 'art-1', 'v1', 'plan', ${'{"at":"2024-05-01","n":[1,2]}'}, '2024-04-01T00:00:00Z')`);
    await db.run(sql`INSERT INTO job_queue (source_id, kind, payload_json, created_at, updated_at)
                     VALUES (${sourceId}, 'render', ${'{"video":"v1"}'}, '2024-04-01T00:00:00Z', '2024-04-01T00:00:00Z')`);
  });
}

async function sql1(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, env);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

const envFor = (url: string, extra: Record<string, string> = {}) => ({
  SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
  SX_POSTGRES_DSN: url,
  SX_DEMO_IMPORT: '0',
  ...(process.env.SX_PG_BIN_DIR ? { SX_PG_BIN_DIR: process.env.SX_PG_BIN_DIR } : {}),
  ...extra,
});

async function dumpsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.dump')).sort();
}

describeWithTools('backup and restore with pg_dump / pg_restore', () => {
  let db1: Database;
  let work: string;
  let alpha: TableChecksum[];
  let beta: TableChecksum[];
  let fullBackup: string;

  beforeAll(async () => {
    if (!found.tools) throw new Error(found.banner);
    db1 = await createTestDatabase();
    work = await mkdtemp(path.join(tmpdir(), 'sx-backup-test-'));
    await withStoreOn(db1.url, async (store) => {
      await seed(store, 'alpha', 40);
      await seedEveryTable(store, 'alpha');
      await seed(store, 'beta.2', 25);
    });
    alpha = await checksumsOf(db1.url, 'alpha');
    beta = await checksumsOf(db1.url, 'beta.2');
    expect(alpha.every((t) => t.rows > 0)).toBe(true);
  });

  afterAll(async () => {
    killStartedProcesses();
    await db1?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('backup --all, every schema and the globals dropped, restore: identical checksums, mappings and answers', async () => {
    const out = path.join(work, 'full');
    const backup = await cli(['backup', '--all', '--out', out, '--json'], envFor(db1.url));
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const report = JSON.parse(backup.stdout);
    fullBackup = report.dumpFile;
    const manifest = JSON.parse(await readFile(report.manifestFile, 'utf8'));
    expect(manifest.kind).toBe('all');
    expect(manifest.server.version).toMatch(/^\d+\.\d+/);
    expect(manifest.sources.map((s: { id: string }) => s.id).sort()).toEqual(['alpha', 'beta.2']);
    expect(manifest.sources.find((s: { id: string }) => s.id === 'alpha').tables).toEqual(alpha);
    expect(manifest.sources.find((s: { id: string }) => s.id === 'beta.2').tables).toEqual(beta);
    const schemas = manifest.sources.map((s: { schemaName: string }) => s.schemaName);

    await sql1(db1.url, `DROP SCHEMA ${schemas.map((s: string) => `"${s}"`).join(', ')} CASCADE; DROP TABLE public.sx_source_registry, public.sources`);
    await expect(checksumsOf(db1.url, 'alpha')).rejects.toThrow(/mapping missing/);

    const restore = await cli(['restore', fullBackup], envFor(db1.url));
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain('restore verified: 2 source(s)');
    expect(restore.stdout).toMatch(/gateway: health ok, stats.items 40, items.totalCount 40, first page 5 ids {2}ok/);
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(alpha);
    expect(await checksumsOf(db1.url, 'beta.2')).toEqual(beta);
    const sources = await withStoreOn(db1.url, (store) => store.listSources());
    expect(sources.map((s) => [s.id, s.schemaName, s.isDefault])).toEqual(
      manifest.sources.map((s: { id: string; schemaName: string; isDefault: boolean }) => [s.id, s.schemaName, s.isDefault]),
    );
  });

  it('backup --source, then restore of that source only, beside a source that changed meanwhile', async () => {
    const out = path.join(work, 'alpha-only');
    const backup = await cli(['backup', '--source', 'alpha', '--out', out, '--json'], envFor(db1.url));
    expect(backup.code, backup.stderr).toBe(0);
    const report = JSON.parse(backup.stdout);
    const manifest = JSON.parse(await readFile(report.manifestFile, 'utf8'));
    expect(manifest.kind).toBe('source');
    expect(manifest.sources).toHaveLength(1);
    expect(manifest.sources[0]).toMatchObject({ id: 'alpha', label: 'alpha', isDefault: true, tables: alpha });

    await withStoreOn(db1.url, (store) => seed(store, 'beta.2', 30, 'h2'));
    const betaChanged = await checksumsOf(db1.url, 'beta.2');
    expect(betaChanged).not.toEqual(beta);
    await sql1(db1.url, `DROP SCHEMA "${manifest.sources[0].schemaName}" CASCADE`);

    const restore = await cli(['restore', report.dumpFile], envFor(db1.url));
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain('restore verified: 1 source(s)');
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(alpha);
    expect(await checksumsOf(db1.url, 'beta.2')).toEqual(betaChanged);
  });

  it('a per-source dump separated from its manifest restores alone: same rows, same mapping, and it says what it could not check', async () => {
    await withStoreOn(db1.url, (store) =>
      store.bootstrapSource({ sourceId: 'alpha', label: 'Alpha library', description: 'kept in the dump', media: { vaultRoot: '/vaults/alpha', pathStyle: 'linux' } }),
    );
    const out = path.join(work, 'alone');
    const backup = await cli(['backup', '--source', 'alpha', '--out', out, '--json'], envFor(db1.url));
    expect(backup.code, backup.stderr).toBe(0);
    const report = JSON.parse(backup.stdout);
    // The dump travels without its manifest, under another name.
    const separated = path.join(work, 'separated');
    await mkdir(separated, { recursive: true });
    const dump = path.join(separated, 'alpha-copy.dump');
    await writeFile(dump, await readFile(report.dumpFile));
    const expected = await withStoreOn(db1.url, (store) => store.resolveSource('alpha'));

    const db5 = await createTestDatabase();
    try {
      const restore = await cli(['restore', dump, '--dsn', db5.url], envFor(db1.url));
      expect(restore.code, restore.stdout + restore.stderr).toBe(0);
      expect(restore.stdout).toContain(`note: no manifest beside ${dump}: the dump's SHA-256 and the checksums recorded at backup time cannot be checked`);
      expect(restore.stdout).toContain('note: the source\'s global rows came from the dump itself (sx_alpha.sx_source_globals');
      expect(restore.stdout).toMatch(/videos +40 rows {2}checksum [0-9a-f]{16} \(restored; no manifest to compare with\)/);
      expect(restore.stdout).toMatch(/gateway: health ok, stats.items 40, items.totalCount 40, first page 5 ids {2}ok/);
      expect(restore.stdout).toContain('restore verified: 1 source(s)');
      expect(await checksumsOf(db5.url, 'alpha')).toEqual(alpha);
      const restored = await withStoreOn(db5.url, (store) => store.resolveSource('alpha'));
      const fields = (s: typeof expected) => [s.id, s.label, s.description, s.enabled, s.schemaName, s.migrationVersion, s.media];
      expect(fields(restored)).toEqual(fields(expected));
      expect(restored.schemaName).toBe('sx_alpha');

      // With --json the report says the manifest was missing.
      const again = await cli(['restore', dump, '--dsn', db5.url, '--force', '--json'], envFor(db1.url));
      expect(again.code, again.stderr).toBe(0);
      const json = JSON.parse(again.stdout);
      expect(json.backup.manifest).toBeNull();
      expect(json.sources[0].checksums).toEqual(alpha);
    } finally {
      await db5.drop();
    }

    // Beside its manifest, the same dump is still checked against it.
    const checked = await cli(['restore', report.dumpFile, '--source', 'alpha', '--force'], envFor(db1.url));
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).not.toContain('no manifest');
    expect(checked.stdout).toMatch(/videos +40 rows {2}checksum ok/);
  });

  it('refuses to overwrite a schema holding rows without --force and changes nothing; --force replaces it', async () => {
    await sql1(db1.url, 'DELETE FROM sx_alpha.user_meta');
    const changed = await checksumsOf(db1.url, 'alpha');
    expect(changed).not.toEqual(alpha);
    const refused = await cli(['restore', fullBackup, '--source', 'alpha'], envFor(db1.url));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/RESTORE_TARGET_NOT_EMPTY: Schema sx_alpha in the target holds rows \(.*videos: 40.*\); pass --force/);
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(changed);

    const forced = await cli(['restore', fullBackup, '--source', 'alpha', '--force'], envFor(db1.url));
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('alpha: globals, then schema sx_alpha (replaced)');
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(alpha);
  });

  it('a restore that fails part-way (pg_restore dies mid-stream) commits nothing: the replaced schema is as it was', async () => {
    const bin = path.join(work, 'broken-bin');
    await mkdir(bin, { recursive: true });
    await symlink(found.tools!.psql.path, path.join(bin, 'psql'));
    // The real pg_restore, whose script is cut after 3,000 bytes (past the DROP SCHEMA of the globals step).
    await writeFile(
      path.join(bin, 'pg_restore'),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec "${found.tools!.pg_restore.path}" --version; fi\n` +
        `"${found.tools!.pg_restore.path}" "$@" | head -c 3000\nexit 1\n`,
    );
    await chmod(path.join(bin, 'pg_restore'), 0o755);
    await sql1(db1.url, "UPDATE sx_alpha.videos SET caption = 'edited after the backup' WHERE id = 'v3'");
    const edited = await checksumsOf(db1.url, 'alpha');
    const failed = await cli(['restore', fullBackup, '--source', 'alpha', '--force'], envFor(db1.url, { SX_PG_BIN_DIR: bin }));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/pg_restore failed \(exit code 1\)/);
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(edited);
    const leftOver = await sql1(db1.url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'psql'");
    expect(leftOver.rows[0].n).toBe(0);
  });

  it('a backup taken while rows are being written describes exactly what its dump holds', async () => {
    // A writer commits a row every few milliseconds for the whole backup. Had the manifest and the dump been read
    // at different instants, the restored copy would differ from the manifest and the verification would fail.
    const writer = new pg.Client({ connectionString: db1.url });
    await writer.connect();
    let writing = true;
    let written = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query(
          "INSERT INTO sx_alpha.job_queue (source_id, kind, created_at, updated_at) VALUES ('alpha', 'busy', now()::text, now()::text)",
        );
        written++;
      }
    })();
    const out = path.join(work, 'busy');
    let backup;
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      backup = await cli(['backup', '--all', '--out', out, '--json'], envFor(db1.url));
    } finally {
      writing = false;
      await writes;
      await writer.end();
    }
    expect(backup.code, backup.stderr).toBe(0);
    const report = JSON.parse(backup.stdout);
    const recorded = report.sources.find((s: { id: string }) => s.id === 'alpha').tables.find((t: { table: string }) => t.table === 'job_queue').rows;
    expect(written).toBeGreaterThan(0);
    const db4 = await createTestDatabase();
    try {
      const restore = await cli(['restore', report.dumpFile, '--dsn', db4.url], envFor(db1.url));
      expect(restore.code, restore.stdout + restore.stderr).toBe(0);
      expect(restore.stdout).toMatch(new RegExp(`job_queue +${recorded} rows  checksum ok`));
      // The writer went on after the snapshot: the live table has more rows than the backup recorded.
      expect((await sql1(db1.url, 'SELECT count(*)::int AS n FROM sx_alpha.job_queue')).rows[0].n).toBeGreaterThan(recorded);
    } finally {
      await db4.drop();
    }
    await sql1(db1.url, "DELETE FROM sx_alpha.job_queue WHERE kind = 'busy'");
  });

  it('a backup of an older layout is restored and brought to the latest migration', async () => {
    await withStoreOn(db1.url, async (store) => {
      await store.registry.bootstrap({ sourceId: 'old' }, { targetVersion: 3 });
      await seed(store, 'old', 6);
    });
    const before = await checksumsOf(db1.url, 'old');
    const out = path.join(work, 'old');
    const backup = await cli(['backup', '--source', 'old', '--out', out, '--json'], envFor(db1.url));
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout).sources[0].migrationVersion).toBe(3);
    await sql1(db1.url, 'DROP SCHEMA sx_old CASCADE');
    const restore = await cli(['restore', JSON.parse(backup.stdout).dumpFile], envFor(db1.url));
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/old: globals, then schema sx_old, migrated 3 → \d+/);
    expect(await checksumsOf(db1.url, 'old')).toEqual(before);
    const versions = await sql1(db1.url, 'SELECT max(version)::int AS v FROM sx_old.sx_schema_migrations');
    const registry = await sql1(db1.url, "SELECT migration_version AS v FROM public.sx_source_registry WHERE source_id = 'old'");
    expect(versions.rows[0].v).toBe(registry.rows[0].v);
    expect(versions.rows[0].v).toBeGreaterThan(3);
  });

  it('refuses a damaged dump (BACKUP_INVALID) before touching the database', async () => {
    const dir = path.join(work, 'damaged');
    await mkdir(dir, { recursive: true });
    const base = path.basename(fullBackup, '.dump');
    const copy = path.join(dir, `${base}.dump`);
    await writeFile(copy, await readFile(fullBackup));
    await writeFile(path.join(dir, `${base}.manifest.json`), await readFile(fullBackup.replace(/\.dump$/, '.manifest.json')));
    await truncate(copy, 2000);
    const before = await checksumsOf(db1.url, 'alpha');
    const refused = await cli(['restore', copy, '--force'], envFor(db1.url));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/BACKUP_INVALID: The dump .* does not match its manifest/);
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(before);
    await rm(path.join(dir, `${base}.manifest.json`));
    const alone = await cli(['restore', copy], envFor(db1.url));
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/BACKUP_INVALID: .* is not a dump pg_restore can read/);
    // Whole, a full dump still needs its manifest: the global rows it would restore from are not in its schemas.
    await writeFile(copy, await readFile(fullBackup));
    const whole = await cli(['restore', copy], envFor(db1.url));
    expect(whole.code).toBe(1);
    expect(whole.stderr).toMatch(/BACKUP_INVALID: No manifest beside .*, which is a whole-database dump: restore it with its manifest/);
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(before);

    // An edited manifest is held to the gateway's own rules before anything reaches SQL or psql.
    const edited = JSON.parse(await readFile(fullBackup.replace(/\.dump$/, '.manifest.json'), 'utf8'));
    edited.sources[0].id = "alpha'; DROP TABLE public.sources; --";
    await writeFile(path.join(dir, `${base}.manifest.json`), JSON.stringify(edited));
    await writeFile(copy, await readFile(fullBackup));
    const hostile = await cli(['restore', copy, '--force'], envFor(db1.url));
    expect(hostile.code).toBe(1);
    expect(hostile.stderr).toMatch(/BACKUP_INVALID: Manifest .* is not an sx-gateway backup manifest: sources\.0\.id: not a valid source id/);
    expect(await checksumsOf(db1.url, 'alpha')).toEqual(before);
  });

  it('--keep N leaves the N newest backups of that kind and source', async () => {
    const out = path.join(work, 'rotation');
    const made: string[] = [];
    for (let i = 0; i < 4; i++) {
      const run = await cli(['backup', '--all', '--out', out, '--keep', '2', '--json'], envFor(db1.url));
      expect(run.code, run.stderr).toBe(0);
      made.push(path.basename(JSON.parse(run.stdout).dumpFile));
    }
    const single = await cli(['backup', '--source', 'beta.2', '--out', out, '--keep', '2'], envFor(db1.url));
    expect(single.code, single.stderr).toBe(0);
    const dumps = await dumpsIn(out);
    expect(dumps.filter((d) => d.startsWith('sx-all-'))).toEqual(made.slice(2).sort());
    expect(dumps.filter((d) => d.startsWith('sx-source-beta.2-'))).toHaveLength(1);
    expect((await readdir(out)).filter((n) => n.endsWith('.manifest.json'))).toHaveLength(3);
    const bad = await cli(['backup', '--all', '--out', out, '--keep', '0'], envFor(db1.url));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--keep must be a positive integer');
  });

  it('export / import-schema move a source to another database; the source must not exist there yet, or --force', async () => {
    const db2 = await createTestDatabase();
    try {
      const out = path.join(work, 'export');
      const exported = await cli(['export', '--source', 'alpha', '--out', out, '--json'], envFor(db1.url));
      expect(exported.code, exported.stderr).toBe(0);
      const file = JSON.parse(exported.stdout).dumpFile;
      const imported = await cli(['import-schema', file, '--dsn', db2.url], envFor(db1.url));
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toContain('restore verified: 1 source(s)');
      expect(await checksumsOf(db2.url, 'alpha')).toEqual(await checksumsOf(db1.url, 'alpha'));
      expect((await withStoreOn(db2.url, (store) => store.listSources())).map((s) => s.id)).toEqual(['alpha']);

      await withStoreOn(db2.url, (store) => store.bootstrapSource({ sourceId: 'alpha', label: 'renamed there' }));
      const again = await cli(['import-schema', file, '--dsn', db2.url], envFor(db1.url));
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('SOURCE_EXISTS: source_id=alpha already exists in the target; pass --force');
      expect((await withStoreOn(db2.url, (store) => store.resolveSource('alpha'))).label).toBe('renamed there');
      const forced = await cli(['import-schema', file, '--dsn', db2.url, '--force'], envFor(db1.url));
      expect(forced.code, forced.stderr).toBe(0);
      expect((await withStoreOn(db2.url, (store) => store.resolveSource('alpha'))).label).toBe('alpha');
    } finally {
      await db2.drop();
    }
  });

  it('controlled rollback: the newest whole backup into another database, bootstrap only for a missing mapping, then served', async () => {
    const db3 = await createTestDatabase();
    try {
      // The target already knows a source that has no mapping: the seed's "re-run bootstrap only for missing mappings".
      await withStoreOn(db3.url, async () => undefined);
      await sql1(db3.url, "INSERT INTO public.sources (id, label) VALUES ('gamma', 'gamma')");
      // And a source whose registry row outlived its schema: its mapping is missing too.
      await withStoreOn(db3.url, (store) => store.bootstrapSource({ sourceId: 'delta' }));
      await sql1(db3.url, 'DROP SCHEMA sx_delta CASCADE');
      const rollback = await cli(['rollback', '--from', path.join(work, 'rotation'), '--dsn', db3.url], envFor(db1.url));
      expect(rollback.code, rollback.stderr).toBe(0);
      expect(rollback.stdout).toContain('restore verified: 3 source(s)');
      expect(rollback.stdout).toContain('bootstrapped missing mappings: delta (schema sx_delta was gone), gamma (no mapping)');
      expect(rollback.stdout).toMatch(/next: set SX_POSTGRES_DSN=postgres:\/\/.*\/sx_test_/);
      // Nothing wrote to alpha in db1 since the rotation's backups were taken.
      expect(await checksumsOf(db3.url, 'alpha')).toEqual(await checksumsOf(db1.url, 'alpha'));
      const store = storeOn(db3.url);
      await store.prepare();
      const gateway = await listen(store, loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: db3.url }), { host: '127.0.0.1', port: 0 });
      try {
        const response = await fetch(`${gateway.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query: '{ a: source(sourceId: "alpha") { items(first: 2) { totalCount } } g: source(sourceId: "gamma") { backend { schema } items { totalCount } } ' +
              'd: source(sourceId: "delta") { backend { schema } items { totalCount } } }',
          }),
        });
        const body = await response.json();
        expect(body).toEqual({
          data: {
            a: { items: { totalCount: 40 } },
            g: { backend: { schema: 'sx_gamma' }, items: { totalCount: 0 } },
            d: { backend: { schema: 'sx_delta' }, items: { totalCount: 0 } },
          },
        });
      } finally {
        await gateway.close();
        await store.close();
      }
    } finally {
      await db3.drop();
    }
  });
});

describe('missing or old PostgreSQL client tools', () => {
  let db: Database;
  let work: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    work = await mkdtemp(path.join(tmpdir(), 'sx-tools-test-'));
  });
  afterAll(async () => {
    killStartedProcesses();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('says which tool is missing and where it looked, and writes nothing', async () => {
    const empty = path.join(work, 'empty-bin');
    await mkdir(empty, { recursive: true });
    const out = path.join(work, 'out');
    const run = await cli(['backup', '--all', '--out', out], envFor(db.url, { SX_PG_BIN_DIR: empty }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error TOOL_MISSING: pg_dump not found in SX_PG_BIN_DIR=${empty}`);
    expect(run.stderr).toContain('apt-get install postgresql-client');
    expect(await readdir(out).catch(() => [])).toEqual([]);
    const onPath = await cli(['backup', '--all', '--out', out], { ...envFor(db.url), PATH: empty });
    expect(onPath.stderr).toContain('error TOOL_MISSING: pg_dump not found on PATH');
  });

  it('refuses a tool older than the server', async () => {
    const old = path.join(work, 'old-bin');
    await mkdir(old, { recursive: true });
    for (const name of ['pg_dump', 'pg_restore', 'psql']) {
      await writeFile(path.join(old, name), `#!/bin/sh\necho "${name} (PostgreSQL) 9.6.24"\n`);
      await chmod(path.join(old, name), 0o755);
    }
    const run = await cli(['backup', '--all', '--out', path.join(work, 'out2')], envFor(db.url, { SX_PG_BIN_DIR: old }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/error TOOL_TOO_OLD: .*pg_dump is version 9\.6, older than the server's major version \d+/);
  });
});
