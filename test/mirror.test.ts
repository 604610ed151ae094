import net from 'node:net';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import type { TenantDb } from '../src/interfaces.js';
import { canonicalJson, tableChecksums } from '../src/queries/tableChecksums.js';
import { listen, type RunningGateway } from '../src/http/server.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { StatementCache, sqliteTenantDb } from '../src/stores/sqlite/sqliteBinding.js';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, csv, libraryCsv } from './support/csv.js';
import { createTestDatabase, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

const NOTICE = 'POSTGRES_MIRROR is transitional; migrate to POSTGRES_PRIMARY';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A PostgresStore straight on the database: the truth as PostgreSQL holds it, never through the mirror. */
async function openTruth(url: string): Promise<PostgresStore> {
  const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: url, SX_REGISTRY_CACHE_TTL_SEC: '0' });
  const store = new PostgresStore({ dsn: url, config });
  await store.prepare();
  return store;
}

function importInto(store: PostgresStore, sourceId: string, files: { consolidated: string; authors?: string; bookmarks?: string }) {
  const stream = (text: string | undefined) => (text === undefined ? null : () => Readable.from([Buffer.from(text)]));
  return importCsv(store, sourceId, {
    consolidated: stream(files.consolidated)!,
    authors: stream(files.authors),
    bookmarks: stream(files.bookmarks),
  }, { create: true });
}

/** The source's rows in the mirror's SQLite file, read on a connection of the test's own. */
async function inSqliteFile<T>(file: string, sourceId: string, fn: (db: TenantDb, connection: Database.Database) => Promise<T>): Promise<T> {
  const connection = new Database(file, { readonly: true });
  try {
    return await fn(sqliteTenantDb(new StatementCache(connection), sourceId), connection);
  } finally {
    connection.close();
  }
}

/** job_queue rows without their ids, which the mirror lets SQLite number. */
async function jobsWithoutIds(db: TenantDb): Promise<string[]> {
  const rows = await db.all<Record<string, unknown>>(sql`
    SELECT kind, payload_json, status, created_at, updated_at FROM job_queue WHERE source_id = ${db.sourceId}`);
  return rows
    .map((row) => {
      const payload = typeof row.payload_json === 'string' ? JSON.parse(row.payload_json) : row.payload_json;
      return canonicalJson({ ...row, payload_json: payload });
    })
    .sort();
}

/** How many pulls of the source the mirror began: each opens one REPEATABLE READ transaction in PostgreSQL. */
function pullsOf(gateway: TestGateway, sourceId: string): number {
  return gateway.statements.filter(
    (event) => event.dialect === 'postgres' && event.sourceId === sourceId && event.text.startsWith('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'),
  ).length;
}

const ITEMS_AND_STATS = `query Library($sourceId: ID!) {
  source(sourceId: $sourceId) {
    source { id label kind enabled isDefault }
    stats { items bookmarked authors lastUpdatedAt }
    items(first: 100) {
      totalCount
      nodes {
        id platform authorId authorUniqueId authorName followers hearts videosCount signature isPrivate caption
        bookmarked bookmarkTimestamp videoPath coverPath csvRowHash updatedAt
        meta { rating status statuses tags notes authorLinks updatedAt }
      }
    }
    authors { nodes { authorUniqueId itemsCount bookmarkedCount } }
  }
}`;

describe('POSTGRES_MIRROR: SQLite serves what it pulls from PostgreSQL', () => {
  const TTL_SEC = 2;
  let mirror: TestGateway;
  let truth: PostgresStore;
  /** A POSTGRES_PRIMARY gateway on the same database: what PostgreSQL answers to the same query. */
  let primary: RunningGateway;

  async function ask(url: string, query: string, variables: Record<string, unknown>) {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
  }

  beforeAll(async () => {
    mirror = await startTestGateway('mirror', { SX_DB_BACKEND_SYNC_TTL_SEC: String(TTL_SEC) });
    truth = await openTruth(mirror.databaseUrl);
    const primaryConfig = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: mirror.databaseUrl });
    primary = await listen(truth, primaryConfig, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await primary?.close();
    await truth?.close();
    await mirror?.close();
  });

  it('serves rows imported into PostgreSQL, and the SQLite file then holds the same rows', async () => {
    for (const sourceId of ['mir_a', 'mir_a2']) {
      await importInto(truth, sourceId, {
        consolidated: libraryCsv(sourceId, 7),
        authors: csv(AUTHORS_HEADER, [['a1', 'author1', 'Author One', '12', '340', '7', 'sig', 'yes']]),
        bookmarks: csv(BOOKMARKS_HEADER, [['v2', '2024-03-10T08:00:00Z'], ['v5', '2024-03-11T09:00:00Z']]),
      });
      // Tables the importer never fills, so every table of the layout is part of the copy.
      await truth.withTenant(sourceId, async (db) => {
        await db.run(sql`INSERT INTO user_meta (source_id, video_id, rating, status, statuses, tags, notes, updated_at)
                         VALUES (${sourceId}, 'v3', 4, 'reviewed', '|raw|reviewed|', 'a,b', 'kept', '2024-05-01T00:00:00Z')`);
        await db.run(sql`INSERT INTO video_notes (source_id, video_id, markdown, template_version, updated_at)
                         VALUES (${sourceId}, 'v3', '# note', 'user', '2024-05-01T00:00:00Z')`);
        await db.run(sql`INSERT INTO scheduling_artifacts (source_id, id, video_id, kind, payload_json, created_at)
                         VALUES (${sourceId}, 'art-1', 'v3', 'post', '{"at":"noon","n":[1,2]}', '2024-05-02T00:00:00Z')`);
        for (const kind of ['render', 'publish']) {
          await db.run(sql`INSERT INTO job_queue (source_id, kind, payload_json, status, created_at, updated_at)
                           VALUES (${sourceId}, ${kind}, ${`{"source":"${sourceId}"}`}, 'queued', '2024-05-03T00:00:00Z', '2024-05-03T00:00:00Z')`);
        }
      });
    }
    await truth.bootstrapSource({ sourceId: 'mir_a', label: 'Mirrored A', kind: 'export', description: 'from PG' });

    for (const sourceId of ['mir_a', 'mir_a2']) {
      const fromPostgres = await ask(primary.url, ITEMS_AND_STATS, { sourceId });
      const fromMirror = await mirror.gql(ITEMS_AND_STATS, { sourceId });
      expect(fromPostgres.errors).toBeUndefined();
      expect(fromMirror.body.errors).toBeUndefined();
      expect(fromPostgres.data.source.items.totalCount).toBe(7);
      expect(fromMirror.body.data).toEqual(fromPostgres.data);
    }
    expect((await mirror.gql('{ source(sourceId: "mir_a") { source { label } } }')).body.data.source.source.label).toBe('Mirrored A');

    // Within the TTL a read is SQLite's alone: not one statement for the source reaches PostgreSQL.
    const seen = mirror.statements.length;
    expect((await mirror.gql(ITEMS_AND_STATS, { sourceId: 'mir_a' })).body.data.source.items.totalCount).toBe(7);
    const again = mirror.statements.slice(seen).filter((event) => event.sourceId === 'mir_a');
    expect(again.filter((event) => event.dialect === 'sqlite').length).toBeGreaterThan(0);
    expect(again.filter((event) => event.dialect === 'postgres')).toEqual([]);

    for (const sourceId of ['mir_a', 'mir_a2']) {
      const postgresSums = await truth.withSnapshot(sourceId, (db) => tableChecksums(db));
      const { sqliteSums, sqliteJobs } = await inSqliteFile(mirror.sqlitePath!, sourceId, async (db) => ({
        sqliteSums: await tableChecksums(db),
        sqliteJobs: await jobsWithoutIds(db),
      }));
      const withoutJobs = (sums: typeof postgresSums) => sums.filter((sum) => sum.table !== 'job_queue');
      expect(withoutJobs(postgresSums).every((sum) => sum.rows > 0)).toBe(true);
      expect(withoutJobs(sqliteSums)).toEqual(withoutJobs(postgresSums));
      const postgresJobs = await truth.withSnapshot(sourceId, (db) => jobsWithoutIds(db));
      expect(postgresJobs).toHaveLength(2);
      expect(sqliteJobs).toEqual(postgresJobs);
    }
    // Both schemas numbered their jobs 1 and 2; the file holds all four, numbered by SQLite.
    await inSqliteFile(mirror.sqlitePath!, 'mir_a', async (_db, connection) => {
      const ids = connection.prepare('SELECT id FROM job_queue ORDER BY id').pluck().all();
      expect(new Set(ids).size).toBe(4);
    });
  });

  it('pulls again only when the TTL has passed', async () => {
    const sourceId = 'mir_b';
    await importInto(truth, sourceId, { consolidated: libraryCsv(sourceId, 3) });
    const caption = `{ source(sourceId: "${sourceId}") { item(id: "v1") { caption } } }`;
    expect((await mirror.gql(caption)).body.data.source.item.caption).toBe('caption of mir_b number 1');
    const pulledAt = Date.now();
    expect(pullsOf(mirror, sourceId)).toBe(1);

    await truth.withTenant(sourceId, (db) => db.run(sql`UPDATE videos SET caption = 'changed in PostgreSQL' WHERE source_id = ${sourceId} AND id = 'v1'`));
    const [inside] = await Promise.all([mirror.gql(caption), mirror.gql(caption), mirror.gql(caption)]);
    // Meaningful only if the reads came before the TTL ran out, which a 2 s TTL leaves ample room for.
    expect(Date.now() - pulledAt).toBeLessThan(TTL_SEC * 1000);
    expect(inside.body.data.source.item.caption).toBe('caption of mir_b number 1');
    expect(pullsOf(mirror, sourceId)).toBe(1);

    await sleep(TTL_SEC * 1000 + 100);
    // Concurrent reads of one source share one pull.
    const after = await Promise.all([mirror.gql(caption), mirror.gql(caption), mirror.gql(caption)]);
    expect(after.map((response) => response.body.data.source.item.caption)).toEqual(Array(3).fill('changed in PostgreSQL'));
    expect(pullsOf(mirror, sourceId)).toBe(2);
  });

  it('writes to PostgreSQL and serves the write right after, within the TTL', async () => {
    const sourceId = 'mir_c';
    await importInto(truth, sourceId, { consolidated: libraryCsv(sourceId, 2) });
    const meta = `{ source(sourceId: "${sourceId}") { item(id: "v2") { meta { rating status tags } } } }`;
    expect((await mirror.gql(meta)).body.data.source.item.meta).toEqual({ rating: null, status: null, tags: [] });
    const pulls = pullsOf(mirror, sourceId);

    const put = await mirror.gql(
      `mutation { setItemMeta(sourceId: "${sourceId}", itemId: "v2", input: { rating: 5, status: "reviewed", tags: ["kept"] }) { rating } }`,
    );
    expect(put.body.errors).toBeUndefined();
    const stored = await truth.withTenant(sourceId, (db) =>
      db.one<{ rating: number; status: string }>(sql`SELECT rating, status FROM user_meta WHERE source_id = ${sourceId} AND video_id = 'v2'`),
    );
    expect(stored).toEqual({ rating: 5, status: 'reviewed' });
    expect((await mirror.gql(meta)).body.data.source.item.meta).toEqual({ rating: 5, status: 'reviewed', tags: ['kept'] });
    expect(pullsOf(mirror, sourceId)).toBe(pulls + 1);

    // An import through the mirror creates the source in PostgreSQL; the next read serves it from SQLite.
    const imported = await uploadCsv(mirror, 'mir_new', { consolidated: libraryCsv('mir_new', 4) });
    expect(imported.body.errors).toBeUndefined();
    expect((await truth.resolveSource('mir_new')).schemaName).toBeTruthy();
    const inPostgres = await truth.withTenant('mir_new', (db) => db.one<{ n: number }>(sql`SELECT count(*) AS n FROM videos WHERE source_id = 'mir_new'`));
    expect(inPostgres!.n).toBe(4);
    const served = await mirror.gql('{ source(sourceId: "mir_new") { items { totalCount } } }');
    expect(served.body.data.source.items.totalCount).toBe(4);
    const inSqlite = await inSqliteFile(mirror.sqlitePath!, 'mir_new', (db) => db.one<{ n: number }>(sql`SELECT count(*) AS n FROM videos WHERE source_id = 'mir_new'`));
    expect(inSqlite!.n).toBe(4);
  });

  it('answers SOURCE_NOT_MAPPED for a source PostgreSQL does not know, and lists PostgreSQL’s sources', async () => {
    const unknown = await mirror.gql('{ source(sourceId: "mir_nowhere") { items { totalCount } } }');
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('SOURCE_NOT_MAPPED');
    const listed = await mirror.gql('{ sources { id } }');
    const truthIds = (await truth.listSources()).map((source) => source.id);
    expect(truthIds).toContain('mir_new');
    expect(listed.body.data.sources.map((source: { id: string }) => source.id)).toEqual(truthIds);
  });

  it('deletes in PostgreSQL and drops the SQLite copy', async () => {
    await truth.bootstrapSource({ sourceId: 'mir_gone' });
    expect((await mirror.gql('{ source(sourceId: "mir_gone") { items { totalCount } } }')).body.data.source.items.totalCount).toBe(0);
    const deleted = await mirror.gql('mutation { deleteSource(sourceId: "mir_gone") { deleted } }');
    expect(deleted.body.errors).toBeUndefined();
    await expect(truth.resolveSource('mir_gone')).rejects.toMatchObject({ code: 'SOURCE_NOT_MAPPED' });
    const left = await inSqliteFile(mirror.sqlitePath!, 'mir_gone', (db) => db.one<{ n: number }>(sql`SELECT count(*) AS n FROM sources WHERE id = 'mir_gone'`));
    expect(left!.n).toBe(0);
  });
});

/**
 * A TCP relay in front of the test database. Cut, it ends every connection at once, open or new, and counts the
 * attempts: a real outage as the mirror's driver sees it (its connections die, new ones are cut on connect),
 * while the test keeps a direct line to the same PostgreSQL.
 */
class Relay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;
  /** Connections refused while cut. */
  refused = 0;
  port = 0;

  constructor(private readonly target: net.NetConnectOpts) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      if (this.cutOff) {
        this.refused += 1;
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

function relayTarget(databaseUrl: string): net.NetConnectOpts {
  const url = new URL(databaseUrl);
  const port = Number(url.port || 5432);
  const socketDir = url.searchParams.get('host');
  return socketDir ? { path: `${socketDir}/.s.PGSQL.${port}` } : { host: url.hostname, port };
}

function viaRelay(databaseUrl: string, relay: Relay): string {
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(relay.port);
  url.searchParams.delete('host');
  return url.toString();
}

describe('POSTGRES_MIRROR when PostgreSQL goes away', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let relay: Relay;
  let truth: PostgresStore;
  let mirror: TestGateway;

  beforeAll(async () => {
    database = await createTestDatabase();
    truth = await openTruth(database.url);
    relay = new Relay(relayTarget(database.url));
    await relay.start();
    mirror = await startTestGateway('mirror', { SX_POSTGRES_DSN: viaRelay(database.url, relay), SX_DB_BACKEND_SYNC_TTL_SEC: '1' });
  });
  afterAll(async () => {
    await mirror?.close();
    await relay?.stop();
    await truth?.close();
    await database?.drop();
  });

  it('serves the SQLite copy, says so, and syncs again once PostgreSQL is back', async () => {
    await importInto(truth, 'out_a', { consolidated: libraryCsv('out_a', 3) });
    await truth.bootstrapSource({ sourceId: 'out_never_read' });
    const query = '{ source(sourceId: "out_a") { backend { backend deprecated notice } items { totalCount } item(id: "v1") { caption } } }';
    // Its own request: a health field next to a source field reads the backend context before the source's pull.
    const health = async () => (await mirror.gql('{ health { backend { notice } database { reachable error } } }')).body.data.health;
    const before = await mirror.gql(query);
    expect(before.body.errors).toBeUndefined();
    expect(before.body.data.source).toEqual({
      backend: { backend: 'postgres_mirror', deprecated: true, notice: NOTICE },
      items: { totalCount: 3 },
      item: { caption: 'caption of out_a number 1' },
    });
    expect((await health()).database).toEqual({ reachable: true, error: null });
    const syncedBy = Date.now();

    relay.cut();
    // A change PostgreSQL makes meanwhile cannot reach the copy.
    await truth.withTenant('out_a', (db) => db.run(sql`UPDATE videos SET caption = 'changed during the outage' WHERE source_id = 'out_a' AND id = 'v1'`));
    await sleep(1100);

    const during = await mirror.gql(query);
    expect(during.status).toBe(200);
    expect(during.body.errors).toBeUndefined();
    expect(during.body.data.source.items.totalCount).toBe(3);
    expect(during.body.data.source.item.caption).toBe('caption of out_a number 1');
    const notice: string = during.body.data.source.backend.notice;
    expect(notice.startsWith(NOTICE)).toBe(true);
    expect(notice).toContain('PostgreSQL unreachable');
    const syncedAt = /last synced at (\S+)$/.exec(notice)?.[1];
    expect(Date.parse(syncedAt!)).toBeLessThanOrEqual(syncedBy);
    const healthDuring = await health();
    expect(healthDuring.database.reachable).toBe(true);
    expect(healthDuring.database.error).toContain('PostgreSQL unreachable');
    expect(healthDuring.backend.notice).toContain('PostgreSQL unreachable');
    // Within the retry backoff (1 s with this TTL) reads do not knock on PostgreSQL's door again.
    const attempts = relay.refused;
    expect(attempts).toBeGreaterThan(0);
    for (let i = 0; i < 3; i += 1) expect((await mirror.gql(query)).body.data.source.items.totalCount).toBe(3);
    expect(relay.refused).toBe(attempts);
    const probe = await fetch(`${mirror.url}/health`);
    expect(probe.status).toBe(200);
    expect(await probe.json()).toMatchObject({ status: 'ok', database: { reachable: true } });

    // What SQLite never held cannot be served, and a write has nowhere to go.
    const never = await mirror.gql('{ source(sourceId: "out_never_read") { items { totalCount } } }');
    expect(never.body.errors?.[0]?.extensions?.code).toBe('DATABASE_UNAVAILABLE');
    const write = await mirror.gql('mutation { setItemMeta(sourceId: "out_a", itemId: "v1", input: { rating: 1 }) { rating } }');
    expect(write.body.errors?.[0]?.extensions?.code).toBe('DATABASE_UNAVAILABLE');

    relay.restore();
    await sleep(1100);
    const after = await mirror.gql(query);
    expect(after.body.errors).toBeUndefined();
    expect(after.body.data.source.item.caption).toBe('changed during the outage');
    expect(after.body.data.source.backend.notice).toBe(NOTICE);
    expect(await health()).toEqual({ backend: { notice: NOTICE }, database: { reachable: true, error: null } });
    expect((await mirror.gql('{ source(sourceId: "out_never_read") { items { totalCount } } }')).body.data.source.items.totalCount).toBe(0);
  });
});
