import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { createTestDatabase, startTestGateway, type TestGateway } from './support/gateway.js';
import type { SchemaMigrationReport } from '../src/interfaces.js';

// The files as they are on disk, read here rather than through the module under test, so a wrong checksum or a
// skipped file in the migrator cannot agree with itself.
const folder = path.resolve(import.meta.dirname, '..', 'src', 'stores', 'postgres', 'migrations');
const FILES = readdirSync(folder)
  .filter((file) => /^\d{3}_.+\.sql$/.test(file))
  .sort()
  .map((file) => ({
    version: Number(file.slice(0, 3)),
    name: file.slice(4, -4),
    checksum: createHash('sha256').update(readFileSync(path.join(folder, file), 'utf8')).digest('hex'),
  }));
const LATEST = FILES.at(-1)!.version;
const ALL = FILES.map((file) => file.version);
const after = (version: number) => ALL.filter((v) => v > version);
/** The index migration 004 creates: present in a schema exactly when 004 ran there. */
const INDEX_004 = 'videos_author_id_recent_idx';

interface RecordRow {
  version: number;
  name: string;
  checksum: string;
  inferred: boolean;
  applied_at: Date;
}

type Report = SchemaMigrationReport;

function openPostgres(url: string): Promise<PostgresStore> {
  const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: url, SX_REGISTRY_CACHE_TTL_SEC: '0' });
  const store = new PostgresStore({ dsn: url, config });
  return store.prepare().then(() => store);
}

async function migrate(url: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  const cli = startCli(['migrate', ...args], { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: url });
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr(), seconds: (performance.now() - started) / 1000 };
}

function reportsOf(stdout: string): Map<string, Report> {
  const result = JSON.parse(stdout) as { schemas: Report[] };
  return new Map(result.schemas.map((report) => [report.sourceId, report]));
}

async function recorded(client: pg.Client, schemaName: string): Promise<RecordRow[]> {
  const { rows } = await client.query<RecordRow>(
    `SELECT version, name, checksum, inferred, applied_at FROM ${pg.escapeIdentifier(schemaName)}.sx_schema_migrations ORDER BY version`,
  );
  return rows;
}

async function registryVersions(client: pg.Client): Promise<Map<string, number>> {
  const { rows } = await client.query('SELECT source_id, migration_version FROM public.sx_source_registry');
  return new Map(rows.map((row) => [row.source_id as string, row.migration_version as number]));
}

async function schemasWithIndex(client: pg.Client, indexName: string): Promise<Set<string>> {
  const { rows } = await client.query('SELECT schemaname FROM pg_indexes WHERE indexname = $1', [indexName]);
  return new Set(rows.map((row) => row.schemaname as string));
}

/** Each file recorded once, in order, with the checksum of its text. */
function expectFullRecord(rows: RecordRow[], upTo = LATEST, inferredUpTo = 0): void {
  expect(rows.map((row) => ({ version: row.version, name: row.name, checksum: row.checksum, inferred: row.inferred }))).toEqual(
    FILES.filter((file) => file.version <= upTo).map((file) => ({ ...file, inferred: file.version <= inferredUpTo })),
  );
}

describe('tenant schema migrations through the CLI', () => {
  let database: { url: string; drop: () => Promise<void> };
  let store: PostgresStore;
  let client: pg.Client;
  beforeAll(async () => {
    database = await createTestDatabase();
    store = await openPostgres(database.url);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });
  afterAll(async () => {
    killStartedProcesses();
    await client?.end();
    await store?.close();
    await database?.drop();
  });

  it('brings 100 schemas from version 1 to the latest, records each file once, and a second run applies nothing', async () => {
    expect(LATEST).toBeGreaterThanOrEqual(4);
    const ids = Array.from({ length: 100 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    for (const id of ids) await store.registry.bootstrap({ sourceId: id }, { targetVersion: 1 });
    const schemas = ids.map((id) => `sx_${id}`);
    // The starting point is really version 1: registry, record and layout agree.
    expect([...(await registryVersions(client)).values()]).toEqual(ids.map(() => 1));
    expectFullRecord(await recorded(client, schemas[0]), 1);
    expect(await schemasWithIndex(client, INDEX_004)).toEqual(new Set());

    const run = await migrate(database.url, ['--all', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { durationMs: number; concurrency: number; failed: number };
    process.stderr.write(
      `[migrations] 100 schemas 1→${LATEST} in ${(result.durationMs / 1000).toFixed(2)} s (process ${run.seconds.toFixed(2)} s), concurrency ${result.concurrency}\n`,
    );
    expect(result.failed).toBe(0);
    const reports = reportsOf(run.stdout);
    expect(reports.size).toBe(100);
    for (const id of ids) {
      expect(reports.get(id)).toMatchObject({ from: 1, to: LATEST, applied: after(1), inferred: [], drifted: [] });
      expect(reports.get(id)!.error).toBeUndefined();
    }
    const registry = await registryVersions(client);
    for (const id of ids) expect(registry.get(id)).toBe(LATEST);
    for (const schemaName of schemas) expectFullRecord(await recorded(client, schemaName));
    expect(await schemasWithIndex(client, INDEX_004)).toEqual(new Set(schemas));
    const searchColumns = await client.query(
      `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = ANY($1) AND table_name = 'videos' AND column_name = 'search_tsv'`,
      [schemas],
    );
    expect(searchColumns.rows[0].n).toBe(100);

    const before = await client.query(`SELECT max(applied_at) AS last FROM sx_t000.sx_schema_migrations`);
    const again = await migrate(database.url, ['--all', '--json']);
    expect(again.code, again.stderr).toBe(0);
    for (const report of reportsOf(again.stdout).values()) expect(report).toMatchObject({ from: LATEST, to: LATEST, applied: [] });
    expectFullRecord(await recorded(client, 'sx_t000'));
    const afterwards = await client.query(`SELECT max(applied_at) AS last FROM sx_t000.sx_schema_migrations`);
    expect(afterwards.rows[0].last).toEqual(before.rows[0].last);
  }, 600_000);

  it('gives each migration to exactly one of two runs started at once', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    for (const id of ids) await store.registry.bootstrap({ sourceId: id }, { targetVersion: 1 });
    // Hold the locks of the first schemas both runs reach, so that both are provably inside their runs and waiting
    // on the same schemas before either can migrate one: the overlap does not depend on process start-up times.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    let one: ReturnType<typeof migrate>;
    let two: ReturnType<typeof migrate>;
    try {
      await holder.query('BEGIN');
      for (const id of ids.slice(0, 4)) await holder.query(`SELECT pg_advisory_xact_lock(hashtext('sx-gateway:migrate:sx_' || $1))`, [id]);
      one = migrate(database.url, ['--all', '--json', '--concurrency', '4']);
      two = migrate(database.url, ['--all', '--json', '--concurrency', '4']);
      const deadline = Date.now() + 60_000;
      let waiting = 0;
      while (waiting < 8 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const { rows } = await client.query(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
            WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted`,
        );
        waiting = rows[0].n;
      }
      expect(waiting).toBe(8);
    } finally {
      await holder.query('COMMIT').catch(() => undefined);
      await holder.end();
    }
    const [first, second] = await Promise.all([one!, two!]);
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const firstReports = reportsOf(first.stdout);
    const secondReports = reportsOf(second.stdout);
    for (const id of ids) {
      const a = firstReports.get(id)!;
      const b = secondReports.get(id)!;
      // One schema is one transaction: a run applies all its pending files or none of them.
      expect([a.applied, b.applied].sort((x, y) => y.length - x.length)).toEqual([after(1), []]);
      expectFullRecord(await recorded(client, `sx_${id}`));
    }
    const registry = await registryVersions(client);
    for (const id of ids) expect(registry.get(id)).toBe(LATEST);
  }, 300_000);
});

describe('a failing schema, schemas from before the record, bootstrap, drift', () => {
  let database: { url: string; drop: () => Promise<void> };
  let store: PostgresStore;
  let client: pg.Client;
  beforeAll(async () => {
    database = await createTestDatabase();
    store = await openPostgres(database.url);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });
  afterAll(async () => {
    killStartedProcesses();
    await client?.end();
    await store?.close();
    await database?.drop();
  });

  it('rolls back only the failing schema, names it with MIGRATION_FAILED, migrates the others and exits 1', async () => {
    const good = ['f0', 'f1', 'f2', 'f3', 'f4'];
    for (const id of [...good, 'f_bad']) await store.registry.bootstrap({ sourceId: id }, { targetVersion: LATEST - 1 });
    // The last migration indexes videos: without the table it cannot run.
    await client.query('DROP TABLE sx_f_bad.videos CASCADE');

    const run = await migrate(database.url, ['--all', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('MIGRATION_FAILED');
    expect(run.stderr).toContain('sx_f_bad');
    const reports = reportsOf(run.stdout);
    const bad = reports.get('f_bad')!;
    expect(bad).toMatchObject({ schemaName: 'sx_f_bad', from: LATEST - 1, to: LATEST - 1, applied: [] });
    expect(bad.error).toMatchObject({ code: 'MIGRATION_FAILED', version: LATEST });
    expect(bad.error!.message).toContain('sx_f_bad');
    expect(bad.error!.message).toContain(`${String(LATEST).padStart(3, '0')}_${FILES.at(-1)!.name}`);
    expect(bad.error!.message).toContain('relation "videos" does not exist');
    for (const id of good) expect(reports.get(id)).toMatchObject({ from: LATEST - 1, to: LATEST, applied: [LATEST] });

    const registry = await registryVersions(client);
    expect(registry.get('f_bad')).toBe(LATEST - 1);
    for (const id of good) expect(registry.get(id)).toBe(LATEST);
    expectFullRecord(await recorded(client, 'sx_f_bad'), LATEST - 1);
    for (const id of good) expectFullRecord(await recorded(client, `sx_${id}`));
    expect(await schemasWithIndex(client, INDEX_004)).toEqual(new Set(good.map((id) => `sx_${id}`)));

    // The lines a person reads say the same.
    const text = await migrate(database.url, ['--all']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^FAILED sx_f_bad \(f_bad\): at \d+, MIGRATION_FAILED .*relation "videos" does not exist/m);
    expect(text.stdout).toMatch(/^ok +sx_f0 \(f0\): \d+, up to date/m);
    expect(text.stdout).toMatch(/migrate FAILED: 0 schemas to version \d+, 5 up to date, 1 failed/);
  }, 300_000);

  it('infers the version of a schema from before the record from the registry, records it, and runs only what follows', async () => {
    await store.registry.bootstrap({ sourceId: 'old' }, { targetVersion: LATEST - 1 });
    // What a schema made by the previous gateway looks like: the layout of version LATEST-1, the registry saying so,
    // no record. The canary is an index migration 003 drops: it survives only if 003 is not run again.
    await client.query('DROP TABLE sx_old.sx_schema_migrations');
    await client.query('CREATE INDEX videos_author_unique_id_idx ON sx_old.videos (source_id, author_unique_id, id)');
    expect((await registryVersions(client)).get('old')).toBe(LATEST - 1);

    const dry = await migrate(database.url, ['--source', 'old', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(reportsOf(dry.stdout).get('old')).toMatchObject({ from: LATEST - 1, to: LATEST, applied: [LATEST], inferred: ALL.slice(0, -1) });
    const recordTable = await client.query(`SELECT to_regclass('sx_old.sx_schema_migrations') AS t`);
    expect(recordTable.rows[0].t).toBeNull();

    const run = await migrate(database.url, ['--source', 'old', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(reportsOf(run.stdout).get('old')).toMatchObject({ from: LATEST - 1, to: LATEST, applied: [LATEST], inferred: ALL.slice(0, -1) });
    expectFullRecord(await recorded(client, 'sx_old'), LATEST, LATEST - 1);
    expect((await registryVersions(client)).get('old')).toBe(LATEST);
    expect(await schemasWithIndex(client, 'videos_author_unique_id_idx')).toEqual(new Set(['sx_old']));
    expect((await schemasWithIndex(client, INDEX_004)).has('sx_old')).toBe(true);
  }, 120_000);

  it('bootstraps a new source at the latest version with every file recorded, also when its schema was dropped', async () => {
    const source = await store.bootstrapSource({ sourceId: 'fresh' });
    expect(source.migrationVersion).toBe(LATEST);
    expectFullRecord(await recorded(client, 'sx_fresh'));
    expect((await registryVersions(client)).get('fresh')).toBe(LATEST);
    expect((await schemasWithIndex(client, INDEX_004)).has('sx_fresh')).toBe(true);
    const first = await recorded(client, 'sx_fresh');
    await store.bootstrapSource({ sourceId: 'fresh', label: 'again' });
    expect(await recorded(client, 'sx_fresh')).toEqual(first);

    // A registry row left behind by a dropped schema must not pass for migrations the new schema never ran.
    await client.query('DROP SCHEMA sx_fresh CASCADE');
    await store.bootstrapSource({ sourceId: 'fresh' });
    expectFullRecord(await recorded(client, 'sx_fresh'));
    expect((await schemasWithIndex(client, INDEX_004)).has('sx_fresh')).toBe(true);
  });

  it('reports a recorded file that changed since it ran, and does not run it again', async () => {
    await client.query(`UPDATE sx_fresh.sx_schema_migrations SET checksum = 'edited' WHERE version = 2`);
    const status = (await store.migrationStatus()).find((entry) => entry.sourceId === 'fresh');
    expect(status).toMatchObject({ registryVersion: LATEST, recordedVersion: LATEST, behind: false, drifted: [2] });
    const run = await migrate(database.url, ['--source', 'fresh']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/sx_fresh \(fresh\): \d+, up to date .*WARNING: the files of 2 changed since they ran \(not re-run\)/);
    const rows = await recorded(client, 'sx_fresh');
    expect(rows.find((row) => row.version === 2)!.checksum).toBe('edited');
  });

  it('refuses bad usage with exit code 2 and an unknown source with SOURCE_NOT_MAPPED', async () => {
    const neither = await migrate(database.url, []);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('exactly one of --all or --source');
    const both = await migrate(database.url, ['--all', '--source', 'fresh']);
    expect(both.code).toBe(2);
    const zero = await migrate(database.url, ['--all', '--concurrency', '0']);
    expect(zero.code).toBe(2);
    const unknown = await migrate(database.url, ['--source', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('SOURCE_NOT_MAPPED');
  });
});

describe('health names schemas behind', () => {
  let gateway: TestGateway;
  let sqlite: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway('postgres');
    sqlite = await startTestGateway('sqlite');
  });
  afterAll(async () => {
    await gateway?.close();
    await sqlite?.close();
  });

  const HEALTH = '{ health { status migrations { latestVersion behindCount schemasBehind { sourceId schemaName version } } } }';

  it('reports a schema below the latest version in GraphQL and /health, keeps status ok, and clears once migrated', async () => {
    const store = gateway.store as PostgresStore;
    await store.bootstrapSource({ sourceId: 'current' });
    await store.registry.bootstrap({ sourceId: 'lagging' }, { targetVersion: 2 });
    const expected = { latestVersion: LATEST, behindCount: 1, schemasBehind: [{ sourceId: 'lagging', schemaName: 'sx_lagging', version: 2 }] };

    const response = await gateway.gql(HEALTH);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.health).toEqual({ status: 'ok', migrations: expected });
    const probe = await fetch(`${gateway.url}/health`);
    expect(probe.status).toBe(200);
    const body = (await probe.json()) as { status: string; migrations: unknown };
    expect(body.status).toBe('ok');
    expect(body.migrations).toEqual(expected);

    const [report] = await store.migrateAll({ sourceIds: ['lagging'], concurrency: 1 });
    expect(report).toMatchObject({ from: 2, to: LATEST, applied: after(2) });
    const cleared = await gateway.gql(HEALTH);
    expect(cleared.body.data.health.migrations).toEqual({ latestVersion: LATEST, behindCount: 0, schemasBehind: [] });
  });

  it('reports none behind in SQLite mode, and the command says there is nothing to migrate', async () => {
    const response = await sqlite.gql(HEALTH);
    expect(response.body.data.health).toEqual({ status: 'ok', migrations: { latestVersion: null, behindCount: 0, schemasBehind: [] } });
    const dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-migrate-'));
    try {
      const cli = startCli(['migrate', '--all'], { SX_DB_PATH: path.join(dir, 'library.db') });
      const { code } = await cli.exited;
      expect(code).toBe(0);
      expect(cli.stdout()).toContain('SQLITE: SQLite has no versioned schemas');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
