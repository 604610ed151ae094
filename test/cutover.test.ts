import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import sql from 'sql-template-tag';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type GatewayConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import type { Store, TenantDb } from '../src/interfaces.js';
import { putItemMeta } from '../src/queries/itemMeta.js';
import { putUserNote } from '../src/queries/itemNotes.js';
import { SOURCE_TABLES, tableChecksums, type TableChecksum } from '../src/queries/tableChecksums.js';
import { cutover, type CutoverReport } from '../src/tasks/cutover.js';
import { listen } from '../src/http/server.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { SqliteStore } from '../src/stores/sqlite/sqliteStore.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, csv, libraryCsv } from './support/csv.js';
import { createTestDatabase } from './support/gateway.js';
import { withPgClient } from './support/pgClient.js';

const stream = (text: string) => () => Readable.from([Buffer.from(text)]);

/**
 * Two sources, every table of each holding rows: imported CSVs (videos and the three raw tables), user meta
 * and a note, scheduling artifacts and jobs written through a binding. Job ids interleave across the sources
 * (SQLite numbers them file-wide), so a copy that renumbered them would not checksum alike.
 */
async function buildLibrary(file: string): Promise<void> {
  const store = new SqliteStore({ file });
  try {
    await store.bootstrapSource({ sourceId: 'b', label: 'Bee', kind: 'archive', description: 'the second library' });
    await importCsv(store, 'a', {
      consolidated: stream(libraryCsv('a', 12)),
      authors: stream(csv(AUTHORS_HEADER, [
        ['a1', 'author1', 'Author 1', '1200', '5000', '30', 'first, with "quotes"', 'no'],
        ['a2', 'author2', 'Äuthor 2', '45', '', '10', '', 'yes'],
        ['a3', 'author3', 'Author 3', 'n/a', '7', '', 'ünïcödé ✓', ''],
      ])),
      bookmarks: stream(csv(BOOKMARKS_HEADER, [['v1', '2025-01-02T03:04:05Z'], ['v4', '2025-02-03T04:05:06Z']])),
    }, { create: true });
    await importCsv(store, 'b', {
      consolidated: stream(libraryCsv('b', 7, 'hb')),
      authors: stream(csv(AUTHORS_HEADER, [['a1', 'author1', 'Bee Author', '3', '4', '5', 'sig', 'no']])),
      bookmarks: stream(csv(BOOKMARKS_HEADER, [['v2', '2025-03-04T05:06:07Z']])),
    }, { create: true });
    await store.withTenant('a', async (db) => {
      await putItemMeta(db, 'v1', { rating: 4, statuses: ['reviewing', 'draft'], tags: ['food', 'porto'], authorLinks: ['https://example.com/a1'] });
      await putItemMeta(db, 'v2', { rating: 2, notes: 'ünïcödé, "quoted"\nsecond line' });
      await putUserNote(db, 'v3', '# Written by hand\n\nkept across the cutover');
    });
    await store.withTenant('b', async (db) => {
      await putItemMeta(db, 'v5', { rating: 5, tags: ['b-only'] });
      await putUserNote(db, 'v1', 'note of b');
    });
    const job = (db: TenantDb, kind: string, payload: string) =>
      db.run(sql`INSERT INTO job_queue (source_id, kind, payload_json, status, created_at, updated_at)
                 VALUES (${db.sourceId}, ${kind}, ${payload}, 'queued', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')`);
    const artifact = (db: TenantDb, id: string, payload: string | null) =>
      db.run(sql`INSERT INTO scheduling_artifacts (source_id, id, video_id, kind, payload_json, created_at)
                 VALUES (${db.sourceId}, ${id}, 'v1', 'slot', ${payload}, '2025-01-01T00:00:00Z')`);
    await store.withTenant('a', (db) => job(db, 'render', '{"z":1,"a":[1,2,{"y":"ü","b":null}],"10":"x","9":"y"}'));
    await store.withTenant('b', (db) => job(db, 'render', '{"b":true}'));
    await store.withTenant('a', (db) => job(db, 'publish', 'not json at all'));
    await store.withTenant('a', (db) => artifact(db, 'art-1', '{"when":"2025-06-01","slots":[3,1,2]}'));
    await store.withTenant('a', (db) => artifact(db, 'art-2', null));
    await store.withTenant('b', (db) => artifact(db, 'art-1', '{"b":"own artifact"}'));
  } finally {
    await store.close();
  }
}

async function run(args: string[], env: Record<string, string>) {
  const cli = startCli(args, env);
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}


/**
 * Everything a write to the source would change: each row's xmin and ctid (an UPDATE or a delete-and-insert
 * gives a row a new one), the job id sequence, and the source's registry rows with their timestamps.
 */
function fingerprint(url: string, sourceId: string): Promise<string> {
  return withPgClient(url, async (client) => {
    const parts: string[] = [];
    const { rows: [mapping] } = await client.query(
      `SELECT r.schema_name, r.xmin::text AS rx, r.updated_at AS ru, s.xmin::text AS sx, s.updated_at AS su, s.label
         FROM public.sx_source_registry r JOIN public.sources s ON s.id = r.source_id WHERE r.source_id = $1`,
      [sourceId],
    );
    parts.push(JSON.stringify(mapping));
    for (const { table } of SOURCE_TABLES) {
      const { rows } = await client.query(
        `SELECT count(*)::int AS n, coalesce(string_agg(xmin::text || '@' || ctid::text, ',' ORDER BY ctid), '') AS versions
           FROM "${mapping.schema_name}".${table}`,
      );
      parts.push(`${table}: ${rows[0].n} ${rows[0].versions}`);
    }
    const { rows } = await client.query(`SELECT last_value, is_called FROM "${mapping.schema_name}".job_queue_id_seq`);
    parts.push(`sequence ${JSON.stringify(rows[0])}`);
    return parts.join('\n');
  });
}

const LIBRARY_QUERY = `query Library($sourceId: ID!) {
  source(sourceId: $sourceId) {
    sourceId
    source { id label kind description enabled }
    stats { items bookmarked authors lastUpdatedAt }
    items(first: 100) {
      totalCount
      nodes {
        id platform authorId authorUniqueId authorName followers hearts videosCount signature isPrivate caption
        bookmarked bookmarkTimestamp videoPath coverPath csvRowHash updatedAt
        meta { rating status statuses tags notes productLink authorLinks platformTargets workflowLog postUrl publishedTime updatedAt }
        note { markdown origin templateVersion updatedAt }
        raw { consolidated { row importedAt } author { row importedAt } bookmark { row importedAt } }
      }
    }
    bookmarked: items(first: 100, order: BOOKMARKED) { nodes { id } }
    byAuthor: items(first: 100, order: AUTHOR) { nodes { id } }
    authors(first: 50) { totalCount nodes { authorId authorUniqueId authorName itemsCount bookmarkedCount } }
  }
}`;

async function ask(url: string, sourceId: string): Promise<any> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: LIBRARY_QUERY, variables: { sourceId } }),
  });
  return { status: response.status, body: await response.json() };
}

function postgresConfig(url: string): GatewayConfig {
  return loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: url, SX_REGISTRY_CACHE_TTL_SEC: '0' });
}

async function postgresChecksums(store: Store, sourceId: string): Promise<TableChecksum[]> {
  const session = await store.openTenant(sourceId);
  try {
    return await tableChecksums(session.db);
  } finally {
    await session.finish(true);
  }
}

afterEach(() => killStartedProcesses());

describe('cutover from SQLite to PostgreSQL', () => {
  let dir: string;
  let file: string;
  let database: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;
  let sqlite: SqliteStore;
  let postgres: PostgresStore;
  const sqliteChecksums = (sourceId: string) => sqlite.withSnapshot(sourceId, (db) => tableChecksums(db));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-cutover-'));
    file = path.join(dir, 'library.db');
    await buildLibrary(file);
    database = await createTestDatabase();
    env = { SX_DB_PATH: file, SX_POSTGRES_DSN: database.url };
    sqlite = new SqliteStore({ file });
    postgres = new PostgresStore({ dsn: database.url, config: postgresConfig(database.url) });
  });
  afterAll(async () => {
    await postgres?.close();
    await sqlite?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts from a library where every table of both sources holds rows', async () => {
    for (const sourceId of ['a', 'b']) {
      const sums = await sqliteChecksums(sourceId);
      expect(sums.map((sum) => sum.table)).toEqual(SOURCE_TABLES.map((source) => source.table));
      for (const sum of sums) expect(sum.rows, `${sourceId}.${sum.table}`).toBeGreaterThan(0);
    }
  });

  it('dry run on a fresh database: reports what it would do and writes nothing at all', async () => {
    const dry = await run(['cutover', '--source', 'a', '--dry-run', '--json'], env);
    expect(dry.code).toBe(0);
    const report = JSON.parse(dry.stdout) as CutoverReport;
    expect(report).toMatchObject({ dryRun: true, action: 'copy', verified: false, schemaName: null, copiedRows: 0 });
    expect(report.tables.find((t) => t.table === 'videos')).toMatchObject({ sqliteRows: 12, postgresRows: null });
    expect(report.verdict).toMatch(/would bootstrap it and copy/);
    const left = await withPgClient(database.url, async (client) => ({
      tables: (await client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)).rows[0].n,
      schemas: (await client.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'sx%'`)).rows[0].n,
    }));
    expect(left).toEqual({ tables: 0, schemas: 0 });
  });

  it('refuses a missing SQLite file without creating it, and a source the file does not hold', async () => {
    const missing = path.join(dir, 'nowhere', 'missing.db');
    const noFile = await run(['cutover', '--source', 'a'], { ...env, SX_DB_PATH: missing });
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('SX_DB_PATH: no such file');
    expect(existsSync(missing)).toBe(false);
    const noSource = await run(['cutover', '--source', 'nope'], env);
    expect(noSource.code).toBe(1);
    expect(noSource.stderr).toContain('SOURCE_NOT_MAPPED');
    const noDsn = await run(['cutover', '--source', 'a'], { SX_DB_PATH: file });
    expect(noDsn.code).toBe(2);
    expect(noDsn.stderr).toContain('SX_POSTGRES_DSN');
  });

  it('copies source a (whatever SX_DB_BACKEND_MODE says), verified, with the checksums of SQLite', async () => {
    const result = await run(['cutover', '--source', 'a', '--json'], { ...env, SX_DB_BACKEND_MODE: 'SQLITE' });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as CutoverReport;
    expect(report).toMatchObject({ sourceId: 'a', schemaName: 'sx_a', action: 'copy', verified: true, bootstrapped: true });
    expect(report.tables.every((t) => t.equal)).toBe(true);
    const expected = await sqliteChecksums('a');
    expect(report.copiedRows).toBe(expected.reduce((sum, t) => sum + t.rows, 0));
    expect(await postgresChecksums(postgres, 'a')).toEqual(expected);
    // Source b was not asked for: PostgreSQL does not know it.
    await expect(postgres.resolveSource('b')).rejects.toMatchObject({ code: 'SOURCE_NOT_MAPPED' });
  });

  it('copies source b with its metadata; the human report says verified, progress goes to stderr', async () => {
    const before = await fingerprint(database.url, 'a');
    const result = await run(['cutover', '--source', 'b'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^verified: copied \d+ rows into schema sx_b; count and checksum equal in all 8 tables$/m);
    expect(result.stdout).toMatch(/^videos\s+7\s+0 -> 7\s+\w{12}\s+\w{12}\s+yes$/m);
    expect(result.stdout).toMatch(/^duration \d+\.\d\d s$/m);
    expect(result.stderr).toContain('copy videos: 7 rows');
    expect(result.stderr).toContain('verify job_queue: equal');
    expect(await postgresChecksums(postgres, 'b')).toEqual(await sqliteChecksums('b'));
    expect(await postgres.resolveSource('b')).toMatchObject({
      id: 'b', label: 'Bee', kind: 'archive', description: 'the second library', enabled: true, schemaName: 'sx_b',
    });
    expect(await fingerprint(database.url, 'a')).toBe(before);
  });

  it('a second run finds both sides equal, copies nothing and leaves PostgreSQL exactly as it was', async () => {
    const before = await fingerprint(database.url, 'a');
    const result = await run(['cutover', '--source', 'a'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^already identical, nothing copied/m);
    expect(result.stderr).not.toContain('copy videos');
    expect(await fingerprint(database.url, 'a')).toBe(before);
  });

  it('serves the same answers from POSTGRES_PRIMARY as the SQLITE gateway over the file', async () => {
    const fromPostgres = await listen(postgres, postgresConfig(database.url), { host: '127.0.0.1', port: 0 });
    const sqliteConfig = loadConfig({ SX_DB_PATH: file });
    const fromSqlite = await listen(sqlite, sqliteConfig, { host: '127.0.0.1', port: 0 });
    try {
      for (const sourceId of ['a', 'b']) {
        const primary = await ask(fromPostgres.url, sourceId);
        const embedded = await ask(fromSqlite.url, sourceId);
        expect(primary.status).toBe(200);
        expect(primary.body.errors).toBeUndefined();
        expect(primary.body.data.source.items.totalCount).toBe(sourceId === 'a' ? 12 : 7);
        expect(primary.body.data.source.items.nodes.some((item: any) => item.meta.rating !== null)).toBe(true);
        expect(primary.body).toEqual(embedded.body);
      }
    } finally {
      await fromPostgres.close();
      await fromSqlite.close();
    }
  });

  it('leaves the job id sequence after the copied ids', async () => {
    const maxCopied = Math.max(...(await withPgClient(database.url, (c) => c.query('SELECT id FROM sx_a.job_queue'))).rows.map((r) => Number(r.id)));
    const id = await postgres.withTenant('a', async (db) => {
      const row = await db.one<{ id: number }>(sql`INSERT INTO job_queue (source_id, kind, created_at, updated_at)
                                                  VALUES ('a', 'probe', 'now', 'now') RETURNING id`);
      throw Object.assign(new Error('roll back the probe'), { id: row!.id });
    }).catch((error: { id?: number }) => error.id);
    expect(id).toBeGreaterThan(maxCopied);
  });

  it('refuses a target that differs, naming tables and counts, and changes nothing; --force replaces it', async () => {
    await withPgClient(database.url, async (client) => {
      await client.query(`DELETE FROM sx_a.videos WHERE id = 'v12'`);
      await client.query(`UPDATE sx_a.video_notes SET markdown = 'edited in PostgreSQL'`);
    });
    const before = await fingerprint(database.url, 'a');
    const refused = await run(['cutover', '--source', 'a'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error CUTOVER_TARGET_DIFFERS');
    expect(refused.stderr).toContain('videos (SQLite 12 rows, PostgreSQL 11)');
    expect(refused.stderr).toContain('video_notes (SQLite 1 rows, PostgreSQL 1)');
    expect(refused.stderr).not.toMatch(/user_meta \(SQLite/);
    expect(refused.stdout).toMatch(/^videos\s+12\s+11\s+\w{12}\s+\w{12}\s+no$/m);
    expect(refused.stdout).toMatch(/^refused: /m);
    expect(await fingerprint(database.url, 'a')).toBe(before);

    const dry = await run(['cutover', '--source', 'a', '--dry-run'], env);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('a real run would refuse (CUTOVER_TARGET_DIFFERS)');
    const dryForced = await run(['cutover', '--source', 'a', '--dry-run', '--force'], env);
    expect(dryForced.code).toBe(0);
    expect(dryForced.stdout).toContain('a real run with --force would discard them');
    expect(await fingerprint(database.url, 'a')).toBe(before);

    const forced = await run(['cutover', '--source', 'a', '--force', '--json'], env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ action: 'replace', verified: true });
    expect(await postgresChecksums(postgres, 'a')).toEqual(await sqliteChecksums('a'));
    // The fingerprint sees a rewrite: the check above that it stayed equal could have failed.
    expect(await fingerprint(database.url, 'a')).not.toBe(before);
  });
});

describe('cutover verification', () => {
  let dir: string;
  let file: string;
  let database: { url: string; drop: () => Promise<void> };
  let sqlite: SqliteStore;
  let postgres: PostgresStore;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-cutover-verify-'));
    file = path.join(dir, 'library.db');
    await buildLibrary(file);
    database = await createTestDatabase();
    sqlite = new SqliteStore({ file });
    postgres = new PostgresStore({ dsn: database.url, config: postgresConfig(database.url) });
    await postgres.prepare();
  });
  afterAll(async () => {
    await postgres?.close();
    await sqlite?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a copy that does not match rolls back inside its transaction: VERIFICATION_FAILED, nothing half-written', async () => {
    // The same store, except that the copy's binding alters a note after COPY wrote it.
    const corrupting = Object.create(postgres) as PostgresStore;
    corrupting.withImport = (sourceId, fn) =>
      postgres.withImport(sourceId, (db, atomically) =>
        fn(
          {
            ...db,
            copyFrom: async (statement, lines) => {
              const copied = await db.copyFrom!(statement, lines);
              if (statement.sql.includes('video_notes')) await db.run(sql`UPDATE video_notes SET markdown = markdown || '!'`);
              return copied;
            },
          },
          atomically,
        ),
      );
    const failed = cutover({ sqlite, postgres: corrupting, sourceId: 'a' });
    await expect(failed).rejects.toMatchObject({ code: 'VERIFICATION_FAILED' });
    await failed.catch((error: { message: string; extensions: { tables: { table: string; equal: boolean }[] } }) => {
      expect(error.message).toContain('video_notes (SQLite 1 rows, PostgreSQL 1)');
      expect(error.extensions.tables.filter((t) => !t.equal).map((t) => t.table)).toEqual(['video_notes']);
    });
    const counts = await postgresChecksums(postgres, 'a');
    expect(counts.map((t) => t.rows)).toEqual(SOURCE_TABLES.map(() => 0));

    // The same run without the fault copies and verifies.
    const report = await cutover({ sqlite, postgres, sourceId: 'a' });
    expect(report).toMatchObject({ action: 'copy', verified: true, bootstrapped: false });
    expect(await postgresChecksums(postgres, 'a')).toEqual(await sqlite.withSnapshot('a', (db) => tableChecksums(db)));
  });

  it('reads SQLite from one snapshot: a write committed during the run is not seen by it', async () => {
    const count = (db: TenantDb) => db.one<{ n: number }>(sql`SELECT count(*) AS n FROM job_queue WHERE source_id = ${db.sourceId}`);
    const writer = new Database(file);
    try {
      const seen = await sqlite.withSnapshot('b', async (db) => {
        const first = (await count(db))!.n;
        writer
          .prepare(`INSERT INTO job_queue (source_id, kind, created_at, updated_at) VALUES ('b', 'late', 'now', 'now')`)
          .run();
        return { first, second: (await count(db))!.n };
      });
      expect(seen.second).toBe(seen.first);
      const after = await sqlite.withSnapshot('b', async (db) => (await count(db))!.n);
      expect(after).toBe(seen.first + 1);
    } finally {
      writer.close();
    }
  });
});
