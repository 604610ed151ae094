import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type GatewayConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import { putItemMeta } from '../src/queries/itemMeta.js';
import { putUserNote } from '../src/queries/itemNotes.js';
import { SOURCE_TABLES, tableChecksums, type TableChecksum } from '../src/queries/tableChecksums.js';
import type { CutoverReport } from '../src/tasks/cutover.js';
import { listen, type RunningGateway } from '../src/http/server.js';
import { latestTenantVersion } from '../src/stores/postgres/migrationFiles.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { moveSchema } from '../src/stores/postgres/citus.js';
import { SqliteStore } from '../src/stores/sqlite/sqliteStore.js';
import { citusMissingBanner, citusRequired, findCitus, startCitusCluster, type CitusCluster } from './support/citusCluster.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { findTestPgTools } from './support/pgTools.js';
import { libraryCsv } from './support/csv.js';
import { createTestDatabase, uploadCsv, type GraphQLResponse, type TestGateway } from './support/gateway.js';
import { findPgBouncer, pgBouncerMissingBanner, startPgBouncer } from './support/pgbouncer.js';
import type { SchemaMigrationReport } from '../src/interfaces.js';
import { withPgClient } from './support/pgClient.js';

/**
 * POSTGRES_PRIMARY through the coordinator of a Citus cluster (a coordinator and two workers, schema-based
 * sharding on): every source's schema is a distributed schema whose tables live together on one worker. Two
 * sources with the same item ids sit on different workers; a source's schema moves to the other worker while
 * the gateway serves it. Skipped with a banner where Citus is not installed; SX_TEST_REQUIRE_CITUS=1 fails instead.
 */
const CITUS = findCitus();
const REQUIRED = citusRequired();
if (!CITUS.installed) process.stderr.write(citusMissingBanner(CITUS, 'the Citus cluster tests (test/citus.test.ts)'));

const ITEMS = 300;
const SOURCES = ['north', 'south'] as const;
/** The source the cutover brings from SQLite: the same ids v1… as the others. */
const LITE_ITEMS = 40;
const ISOLATION_SOURCES = [
  { id: 'north', items: ITEMS },
  { id: 'south', items: ITEMS },
  { id: 'lite', items: LITE_ITEMS },
];
/** Items v1..vMARKED of every source carry a status and a note that name it. */
const MARKED = 8;
const ISOLATION_REQUESTS = 600;

interface Placement {
  schema: string;
  colocationIds: number[];
  ports: number[];
}

describe.skipIf(!CITUS.installed && !REQUIRED)('POSTGRES_PRIMARY on a Citus cluster', () => {
  let cluster: CitusCluster;
  let store: PostgresStore;
  let config: GatewayConfig;
  let server: RunningGateway;
  let admin: pg.Client;
  let dir: string;

  const gql = async <T = any>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>> => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse<T>['body'] };
  };

  /** Where a schema's tables are: one colocation group and one worker port when the schema is distributed. */
  const placementOf = async (schema: string): Promise<Placement> => {
    const { rows } = await admin.query<{ colocation_id: number; nodeport: number }>(
      `SELECT DISTINCT s.colocation_id, sh.nodeport
         FROM citus_schemas s JOIN citus_shards sh ON sh.colocation_id = s.colocation_id
        WHERE s.schema_name = $1::regnamespace`,
      [schema],
    );
    return {
      schema,
      colocationIds: [...new Set(rows.map((r) => r.colocation_id))],
      ports: [...new Set(rows.map((r) => r.nodeport))],
    };
  };

  /** The environment of a CLI process that talks to the coordinator as the gateway does. */
  const gatewayEnv = () => ({
    SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
    SX_POSTGRES_DSN: cluster.coordinatorUrl,
    SX_DB_PATH: path.join(dir, 'unused.db'),
  });

  const cli = async (args: string[], env: Record<string, string>) => {
    const child = startCli(args, env);
    const { code } = await child.exited;
    return { code, stdout: child.stdout(), stderr: child.stderr() };
  };

  const checksumsOf = (sourceId: string): Promise<TableChecksum[]> => store.withSnapshot(sourceId, (db) => tableChecksums(db));

  beforeAll(async () => {
    if (!CITUS.installed) throw new Error(citusMissingBanner(CITUS, 'the Citus cluster tests'));
    const started = performance.now();
    cluster = await startCitusCluster();
    process.stderr.write(
      `[tests] ${cluster.version}: coordinator :${cluster.coordinator.port}, workers ${cluster.workers.map((w) => `:${w.port}`).join(', ')} ` +
        `(started in ${Math.round(performance.now() - started)} ms)\n`,
    );
    dir = await mkdtemp(path.join(tmpdir(), 'sx-citus-test-'));
    config = loadConfig({
      SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
      SX_POSTGRES_DSN: cluster.coordinatorUrl,
      SX_DB_PATH: path.join(dir, 'unused.db'),
      SX_POSTGRES_POOL_MAX: '8',
      SX_REGISTRY_CACHE_TTL_SEC: '0',
    });
    store = new PostgresStore({ dsn: cluster.coordinatorUrl, config });
    await store.prepare();
    server = await listen(store, config, { host: '127.0.0.1', port: 0 });
    admin = new pg.Client({ connectionString: cluster.coordinatorUrl });
    await admin.connect();
  }, 180_000);

  afterAll(async () => {
    killStartedProcesses();
    await admin?.end().catch(() => undefined);
    await server?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('bootstraps each source as a distributed schema, colocated on one worker, the two on different workers', async () => {
    for (const sourceId of SOURCES) {
      const started = performance.now();
      const answer = await gql(`mutation ($id: ID!) { bootstrapSource(sourceId: $id) { id schemaName migrationVersion } }`, { id: sourceId });
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data.bootstrapSource).toMatchObject({ id: sourceId, schemaName: `sx_${sourceId}`, migrationVersion: latestTenantVersion });
      process.stderr.write(`[tests] citus: bootstrap of ${sourceId} took ${Math.round(performance.now() - started)} ms\n`);
    }
    const placements = await Promise.all(SOURCES.map((id) => placementOf(`sx_${id}`)));
    for (const placement of placements) {
      // Every table of the schema in one colocation group, on one worker.
      expect(placement.colocationIds).toHaveLength(1);
      expect(placement.ports).toHaveLength(1);
      expect(cluster.workers.map((w) => w.port)).toContain(placement.ports[0]);
    }
    if (placements[0]!.ports[0] === placements[1]!.ports[0]) {
      // Placement is round-robin over the workers; a cluster with other schemas may put both on one. Spread them.
      const other = cluster.workers.find((w) => w.port !== placements[0]!.ports[0])!;
      await admin.query(`SELECT citus_schema_move($1::regnamespace, $2, $3, shard_transfer_mode := 'force_logical')`, [
        `sx_${SOURCES[1]}`, other.name, other.port,
      ]);
    }
    const [north, south] = await Promise.all(SOURCES.map((id) => placementOf(`sx_${id}`)));
    expect(north!.ports[0]).not.toBe(south!.ports[0]);
    // The globals stay plain tables of the coordinator: not in Citus's metadata.
    const globals = await admin.query(
      `SELECT logicalrelid::text AS name FROM pg_dist_partition WHERE logicalrelid IN ('public.sources'::regclass, $1::regclass)`,
      [`public.${config.postgres.registryTable}`],
    );
    expect(globals.rows).toEqual([]);
  });

  it('imports through the CLI and through GraphQL, and reads each source from its own worker', async () => {
    const file = path.join(dir, 'north.csv');
    await writeFile(file, libraryCsv('north', ITEMS));
    const cli = startCli(['import', '--source', 'north', '--csv', file, '--json'], {
      SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
      SX_POSTGRES_DSN: cluster.coordinatorUrl,
      SX_DB_PATH: path.join(dir, 'unused.db'),
    });
    const exit = await cli.exited;
    expect(exit.code, cli.stderr()).toBe(0);
    expect(JSON.parse(cli.stdout())).toMatchObject({ sourceId: 'north', inserted: ITEMS });

    const uploaded = await uploadCsv({ url: server.url } as TestGateway, 'south', { consolidated: libraryCsv('south', ITEMS) });
    expect(uploaded.body.errors).toBeUndefined();
    expect(uploaded.body.data.importCsv).toMatchObject({ inserted: ITEMS, updated: 0, skipped: 0 });
    // A second import of the same file changes nothing.
    const again = await uploadCsv({ url: server.url } as TestGateway, 'south', { consolidated: libraryCsv('south', ITEMS) });
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data.importCsv).toMatchObject({ inserted: 0, updated: 0, skipped: ITEMS });
    // Changed rows go through the full comparison and are rewritten on the source's worker.
    const changed = await uploadCsv({ url: server.url } as TestGateway, 'south', { consolidated: libraryCsv('south', ITEMS, 'h2') });
    expect(changed.body.errors).toBeUndefined();
    expect(changed.body.data.importCsv).toMatchObject({ inserted: 0, updated: ITEMS, skipped: 0 });

    const read = await gql(`{
      n: source(sourceId: "north") { ...page }
      s: source(sourceId: "south") { ...page }
    }
    fragment page on SourceScope {
      backend { schema }
      stats { items authors }
      items(first: 50) { totalCount edges { node { id caption } } }
      search(query: "caption", first: 20) { totalCount edges { node { caption } } }
      authors(first: 10) { totalCount }
    }`);
    expect(read.body.errors).toBeUndefined();
    for (const [alias, sourceId] of [['n', 'north'], ['s', 'south']] as const) {
      const scope = read.body.data[alias];
      expect(scope.backend.schema).toBe(`sx_${sourceId}`);
      expect(scope.stats).toEqual({ items: ITEMS, authors: 3 });
      expect(scope.items.totalCount).toBe(ITEMS);
      expect(scope.authors.totalCount).toBe(3);
      expect(scope.search.totalCount).toBe(ITEMS);
      // The same ids in both sources: every caption must name the source its alias asked for.
      const captions = [...scope.items.edges, ...scope.search.edges].map((edge: { node: { caption: string } }) => edge.node.caption);
      expect(captions.length).toBe(70);
      for (const caption of captions) expect(caption).toMatch(new RegExp(`^caption of ${sourceId} number \\d+$`));
    }
  });

  it('writes meta and notes to the right worker, and the source list, health and search_path stay right', async () => {
    const write = await gql(`mutation {
      a: setItemMeta(sourceId: "north", itemId: "v1", input: { status: "north-status", rating: 3 }) { status rating }
      b: setItemMeta(sourceId: "south", itemId: "v1", input: { status: "south-status", rating: 5 }) { status rating }
      c: setItemNote(sourceId: "south", itemId: "v2", markdown: "# south note") { markdown }
    }`);
    expect(write.body.errors).toBeUndefined();
    const read = await gql(`{
      n: source(sourceId: "north") { item(id: "v1") { meta { status rating } } v2: item(id: "v2") { note { markdown } } }
      s: source(sourceId: "south") { item(id: "v1") { meta { status rating } } v2: item(id: "v2") { note { markdown } } }
      sources { id schemaName }
      health { status database { reachable } migrations { behindCount } }
    }`);
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data.n.item.meta).toEqual({ status: 'north-status', rating: 3 });
    expect(read.body.data.s.item.meta).toEqual({ status: 'south-status', rating: 5 });
    expect(read.body.data.s.v2.note.markdown).toBe('# south note');
    expect(read.body.data.n.v2.note.markdown).not.toBe('# south note');
    expect(read.body.data.sources.map((s: { id: string }) => s.id).sort()).toEqual(['north', 'south']);
    expect(read.body.data.health).toEqual({ status: 'ok', database: { reachable: true }, migrations: { behindCount: 0 } });
    // The transaction-local search_path is gone after the operation: the pool's sessions keep the default.
    const { rows } = await store.pool.query<{ path: string }>("SELECT current_setting('search_path') AS path");
    expect(rows[0]!.path).toBe('"$user", public');
  });

  it("moves a source's schema to the other worker while it serves: no errors, no foreign rows, same checksums", async () => {
    const moving = 'south';
    const schema = `sx_${moving}`;
    const before = await placementOf(schema);
    const target = cluster.workers.find((w) => w.port !== before.ports[0])!;
    // The tables the load does not write keep their checksums across the move.
    const unwritten = (sums: TableChecksum[]) => sums.filter((sum) => sum.table !== 'user_meta');
    const sumsBefore = await checksumsOf(moving);

    let stop = false;
    const stats = { requests: 0, errors: [] as string[], foreign: 0, writes: new Map<string, string>(), slowestMs: 0 };
    const load = async (worker: number) => {
      for (let i = 0; !stop; i += 1) {
        // Each load worker writes its own items, so the last acknowledged status of an item is known.
        const item = `v${worker * (ITEMS / 4) + (i % (ITEMS / 4)) + 1}`;
        const status = `w${worker}-${i}`;
        const sent = performance.now();
        const answer = await gql(
          `mutation ($item: ID!, $status: String!) { setItemMeta(sourceId: "${moving}", itemId: $item, input: { status: $status }) { status } }`,
          { item, status },
        ).then(
          (write) =>
            write.body.errors
              ? write
              : gql(`{ n: source(sourceId: "north") { items(first: 20) { edges { node { caption } } } }
                       s: source(sourceId: "south") { items(first: 20) { edges { node { caption } } } stats { items } } }`),
        );
        stats.requests += 2;
        stats.slowestMs = Math.max(stats.slowestMs, performance.now() - sent);
        if (answer.body.errors) {
          stats.errors.push(answer.body.errors.map((e) => `${e.extensions?.code}: ${e.message}`).join('; '));
          continue;
        }
        stats.writes.set(item, status);
        for (const [alias, sourceId] of [['n', 'north'], ['s', 'south']] as const) {
          for (const edge of answer.body.data[alias].items.edges as { node: { caption: string } }[]) {
            if (!edge.node.caption.startsWith(`caption of ${sourceId} `)) stats.foreign += 1;
          }
        }
      }
    };
    const running = [0, 1, 2, 3].map(load);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    await moveSchema(admin, schema, target, 'force_logical');
    const moveMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop = true;
    await Promise.all(running);
    process.stderr.write(
      `[tests] citus: moved ${schema} :${before.ports[0]} → :${target.port} in ${Math.round(moveMs)} ms under load: ` +
        `${stats.requests} requests, ${stats.errors.length} errors, ${stats.foreign} foreign rows, ${stats.writes.size} items written, slowest write+read ${Math.round(stats.slowestMs)} ms\n`,
    );

    expect(stats.errors).toEqual([]);
    expect(stats.foreign).toBe(0);
    expect(stats.requests).toBeGreaterThan(20);
    const after = await placementOf(schema);
    expect(after.ports).toEqual([target.port]);
    expect(after.colocationIds).toEqual(before.colocationIds);
    expect(unwritten(await checksumsOf(moving))).toEqual(unwritten(sumsBefore));
    // Every acknowledged write is there after the move.
    const stored = await store.withSnapshot(moving, (db) =>
      db.all<{ video_id: string; status: string }>(sql`SELECT video_id, status FROM user_meta WHERE source_id = ${moving}`),
    );
    const statuses = new Map(stored.map((row) => [row.video_id, row.status]));
    for (const [item, status] of stats.writes) expect(statuses.get(item), item).toBe(status);
  }, 120_000);
  it.skipIf(!findPgBouncer() && process.env.SX_TEST_REQUIRE_PGBOUNCER !== '1')(
    'keeps the sources apart through PgBouncer in transaction mode in front of the coordinator',
    async () => {
      if (!findPgBouncer()) throw new Error(pgBouncerMissingBanner());
      const bouncer = await startPgBouncer(cluster.coordinatorUrl, { poolSize: 3 });
      const viaBouncer = new PostgresStore({ dsn: bouncer.url, config: { ...config, postgres: { ...config.postgres, poolMax: 6 } } });
      const gateway = await listen(viaBouncer, config, { host: '127.0.0.1', port: 0 });
      try {
        const ask = async (query: string) => {
          const response = await fetch(`${gateway.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
            body: JSON.stringify({ query }),
          });
          return (await response.json()) as GraphQLResponse['body'];
        };
        const shapes = [
          `{ a: source(sourceId: "north") { items(first: 10) { edges { node { caption } } } } b: source(sourceId: "south") { items(first: 10) { edges { node { caption } } } } }`,
          `{ a: source(sourceId: "south") { items(first: 10, order: BOOKMARKED) { edges { node { caption } } } } }`,
          `{ a: source(sourceId: "north") { search(query: "caption", first: 10) { edges { node { caption } } } } }`,
        ];
        let errors = 0;
        let foreign = 0;
        let rows = 0;
        let next = 0;
        const REQUESTS = 300;
        await Promise.all(
          Array.from({ length: 24 }, async () => {
            while (next < REQUESTS) {
              const shape = shapes[next++ % shapes.length]!;
              const body = await ask(shape);
              if (body.errors) {
                errors += 1;
                continue;
              }
              // Each alias asks one source; its source's name comes first in the query text after the alias.
              for (const [alias, scope] of Object.entries(body.data as Record<string, Record<string, { edges: { node: { caption: string } }[] }>>)) {
                const sourceId = new RegExp(`${alias}: source\\(sourceId: "(\\w+)"`).exec(shape)![1]!;
                for (const connection of Object.values(scope)) {
                  for (const edge of connection.edges) {
                    rows += 1;
                    if (!edge.node.caption.startsWith(`caption of ${sourceId} `)) foreign += 1;
                  }
                }
              }
            }
          }),
        );
        process.stderr.write(`[tests] citus via ${bouncer.version} (pool ${bouncer.poolSize}): ${REQUESTS} requests, ${errors} errors, ${rows} rows, ${foreign} foreign\n`);
        expect(errors).toBe(0);
        expect(foreign).toBe(0);
        expect(rows).toBeGreaterThan(REQUESTS * 10);
      } finally {
        await gateway.close();
        await viaBouncer.close();
        await bouncer.stop();
      }
    },
    120_000,
  );

  it('cuts a source over from a SQLite file into the cluster: verified, distributed, and a second run copies nothing', async () => {
    const file = path.join(dir, 'library.db');
    const sqlite = new SqliteStore({ file });
    try {
      const text = libraryCsv('lite', LITE_ITEMS);
      await importCsv(sqlite, 'lite', { consolidated: () => Readable.from([Buffer.from(text)]) }, { create: true });
      await sqlite.withTenant('lite', async (db) => {
        await putItemMeta(db, 'v3', { rating: 4, tags: ['lite-tag'] });
        await putUserNote(db, 'v4', '# lite note');
        for (const kind of ['render', 'publish']) {
          await db.run(sql`INSERT INTO job_queue (source_id, kind, payload_json, status, created_at, updated_at)
                           VALUES (${db.sourceId}, ${kind}, '{"n":1}', 'queued', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')`);
        }
      });
      const expected = await sqlite.withSnapshot('lite', (db) => tableChecksums(db));
      const env = { SX_DB_PATH: file, SX_POSTGRES_DSN: cluster.coordinatorUrl, SX_DB_BACKEND_MODE: 'SQLITE' };

      const first = await cli(['cutover', '--source', 'lite', '--json'], env);
      expect(first.code, first.stderr).toBe(0);
      const report = JSON.parse(first.stdout) as CutoverReport;
      expect(report).toMatchObject({ sourceId: 'lite', schemaName: 'sx_lite', action: 'copy', verified: true, bootstrapped: true });
      expect(report.tables.map((t) => t.equal)).toEqual(SOURCE_TABLES.map(() => true));
      expect(report.copiedRows).toBe(expected.reduce((sum, t) => sum + t.rows, 0));
      expect(await checksumsOf('lite')).toEqual(expected);
      const placement = await placementOf('sx_lite');
      expect(placement.colocationIds).toHaveLength(1);
      expect(placement.ports).toHaveLength(1);
      process.stderr.write(`[tests] citus: cutover of lite copied ${report.copiedRows} rows to :${placement.ports[0]} in ${report.durationMs} ms\n`);

      const second = await cli(['cutover', '--source', 'lite', '--json'], env);
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ action: 'none', verified: true, copiedRows: 0, bootstrapped: false });
      expect(await checksumsOf('lite')).toEqual(expected);
      // The job id sequence was set on the coordinator, after the copied ids (not pushed down to the worker).
      const [job] = await store.withTenant('lite', (db) =>
        db.all<{ id: string }>(sql`INSERT INTO job_queue (source_id, kind, status, created_at, updated_at)
                                   VALUES ('lite', 'after', 'queued', '2025-01-02T00:00:00Z', '2025-01-02T00:00:00Z') RETURNING id`),
      );
      expect(Number(job!.id)).toBe(3);
    } finally {
      await sqlite.close();
    }
  }, 120_000);

  it('keeps the sources apart under mixed concurrent reads through the coordinator, the same ids on two workers', async () => {
    // The move above put south beside north; move-source puts it back, so the workload spans both workers.
    const north = await placementOf('sx_north');
    const other = cluster.workers.find((w) => w.port !== north.ports[0])!;
    const moved = await cli(['move-source', '--source', 'south', '--to', `${other.name}:${other.port}`, '--json'], gatewayEnv());
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({
      sourceId: 'south', schemaName: 'sx_south', mode: 'force_logical', after: { nodes: [{ name: other.name, port: other.port }] },
    });
    expect((await placementOf('sx_south')).ports).toEqual([other.port]);

    // Markers the checks know exactly: a status and a note naming the source, on items every source holds.
    // One mutation per source and kind: an operation holds at most SX_MAX_ALIASES (15) aliases.
    const markers = ISOLATION_SOURCES.flatMap(({ id }) => [
      Array.from({ length: MARKED }, (_, i) => `m${i}: setItemMeta(sourceId: "${id}", itemId: "v${i + 1}", input: { status: "${id}-marker" }) { status }`),
      Array.from({ length: MARKED }, (_, i) => `n${i}: setItemNote(sourceId: "${id}", itemId: "v${i + 1}", markdown: "# ${id} v${i + 1}") { markdown }`),
    ]).map((aliases) => aliases.join('\n'));
    for (const mutation of markers) {
      const marked = await gql(`mutation { ${mutation} }`);
      expect(marked.body.errors).toBeUndefined();
    }

    const summary = await isolationWorkload(gql, ISOLATION_REQUESTS, 24);
    process.stderr.write(
      `[tests] citus isolation: ${summary.requests} requests (${summary.twoSource} naming several sources), ${summary.errors.length} errors, ` +
        `${summary.rows} rows checked, ${summary.foreign} foreign, ${Math.round(summary.ms)} ms\n`,
    );
    expect(summary.errors).toEqual([]);
    expect(summary.problems).toEqual([]);
    expect(summary.foreign).toBe(0);
    expect(summary.rows).toBeGreaterThan(ISOLATION_REQUESTS * 10);
  }, 120_000);

  it('migrates schemas on both workers from version 1 with migrate --all; a second run applies nothing', async () => {
    const ids = ['old_1', 'old_2', 'old_3', 'old_4'];
    for (const id of ids) await store.registry.bootstrap({ sourceId: id }, { targetVersion: 1 });
    // One query after the other: `admin` is one connection.
    const placements = async () => {
      const found: Placement[] = [];
      for (const id of ids) found.push(await placementOf(`sx_${id}`));
      return found;
    };
    const ports = async () => new Set((await placements()).map((p) => p.ports[0]));
    if ((await ports()).size < 2) {
      // New schemas alternate between the workers; should both land on one, spread them.
      const first = await placementOf('sx_old_1');
      const other = cluster.workers.find((w) => w.port !== first.ports[0])!;
      await moveSchema(admin, 'sx_old_2', other, 'force_logical');
    }
    expect(await ports()).toEqual(new Set(cluster.workers.map((w) => w.port)));
    // Rows written at version 1, so 002's generated column is computed over existing rows on the worker.
    await admin.query(`INSERT INTO sx_old_1.videos (source_id, id, caption, updated_at)
                       SELECT 'old_1', 'v' || g, 'caption of old_1 number ' || g, '2025-01-01' FROM generate_series(1, 50) g`);
    const versions = await admin.query(`SELECT source_id, migration_version FROM public.${pg.escapeIdentifier(config.postgres.registryTable)} WHERE source_id = ANY($1)`, [ids]);
    expect(versions.rows.map((r) => r.migration_version)).toEqual(ids.map(() => 1));

    const run = await cli(['migrate', '--all', '--json'], gatewayEnv());
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { schemas: SchemaMigrationReport[]; failed: number; durationMs: number; concurrency: number };
    process.stderr.write(`[tests] citus: migrate --all over ${result.schemas.length} schemas in ${result.durationMs} ms (concurrency ${result.concurrency})\n`);
    expect(result.failed).toBe(0);
    const reports = new Map(result.schemas.map((report) => [report.sourceId, report]));
    const later = Array.from({ length: latestTenantVersion - 1 }, (_, i) => i + 2);
    for (const id of ids) expect(reports.get(id), id).toMatchObject({ from: 1, to: latestTenantVersion, applied: later });
    for (const id of ['north', 'south', 'lite']) expect(reports.get(id), id).toMatchObject({ from: latestTenantVersion, applied: [] });

    // The DDL reached each schema's shards on its own worker: the index 004 creates, with the shard's suffix.
    const placed = await placements();
    for (const worker of cluster.workers) {
      const { rows } = await withPgClient(worker.url, async (client) => {
        // A worker hides its shards from the catalog views unless asked.
        await client.query('SET citus.override_table_visibility = off');
        return client.query<{ schemaname: string }>(
          `SELECT DISTINCT schemaname FROM pg_indexes WHERE indexname ~ '^videos_author_id_recent_idx_[0-9]+$' AND schemaname LIKE 'sx\\_old\\_%'`,
        );
      });
      const here = placed.filter((p) => p.ports[0] === worker.port).map((p) => p.schema);
      expect(rows.map((r) => r.schemaname).sort()).toEqual(here.sort());
    }
    const search = await gql(`{ source(sourceId: "old_1") { search(query: "caption", first: 5) { totalCount } } health { migrations { behindCount } } }`);
    expect(search.body.errors).toBeUndefined();
    expect(search.body.data).toEqual({ source: { search: { totalCount: 50 } }, health: { migrations: { behindCount: 0 } } });

    const again = await cli(['migrate', '--all', '--json'], gatewayEnv());
    expect(again.code, again.stderr).toBe(0);
    for (const report of (JSON.parse(again.stdout) as { schemas: SchemaMigrationReport[] }).schemas) {
      expect(report, report.sourceId).toMatchObject({ from: latestTenantVersion, to: latestTenantVersion, applied: [] });
    }
  }, 180_000);

  it('backs up one source while it is written (writers wait), and the dump restores verified by checksums elsewhere', async () => {
    const tools = await findTestPgTools();
    if (!tools.tools) {
      process.stderr.write(`${tools.banner}\n`);
      if (process.env.SX_TEST_REQUIRE_PG_TOOLS === '1') throw new Error('pg_dump, pg_restore and psql are required');
      return;
    }
    const SET = `mutation($id: ID!, $notes: String) { setItemMeta(sourceId: "north", itemId: $id, input: { notes: $notes }) { notes } }`;
    let writing = true;
    let writes = 0;
    const failures: string[] = [];
    // A writer of the source keeps going during the whole backup; on a coordinator its writes wait for the dump.
    const writer = (async () => {
      while (writing) {
        const response = await gql(SET, { id: `v${(writes % ITEMS) + 1}`, notes: `write ${writes}` });
        if (response.body.errors) failures.push(JSON.stringify(response.body.errors));
        writes += 1;
      }
    })();
    const out = path.join(dir, 'backups');
    const backup = await cli(['backup', '--source', 'north', '--out', out, '--json'], gatewayEnv());
    writing = false;
    await writer;
    expect(backup.code, backup.stderr).toBe(0);
    expect(failures).toEqual([]);
    expect(writes).toBeGreaterThan(0);
    const report = JSON.parse(backup.stdout) as { dumpFile: string; sources: { tables: TableChecksum[] }[] };

    // Restored into a plain PostgreSQL database: the manifest's checksums (taken on the cluster) must hold there.
    const target = await createTestDatabase();
    try {
      const restored = await cli(['restore', report.dumpFile, '--dsn', target.url, '--json'], gatewayEnv());
      expect(restored.code, restored.stderr + restored.stdout.slice(0, 3000)).toBe(0);
      expect(JSON.parse(restored.stdout).ok).toBe(true);
    } finally {
      await target.drop();
    }
    process.stderr.write(`[tests] citus: backup of north under ${writes} writes restored verified\n`);
  });

  it('passes the smoke checks over every source through the coordinator', async () => {
    const smoke = await cli(['smoke', '--url', server.url, '--json'], {});
    expect(smoke.code, smoke.stdout.slice(0, 2000)).toBe(0);
    const report = JSON.parse(smoke.stdout) as { sources: { sourceId?: string; id?: string; ok?: boolean; passed?: boolean }[] };
    expect(report.sources.length).toBeGreaterThanOrEqual(3);
  });

  it('doctor prints the citus line with both workers and no warning; health answers the Citus version', async () => {
    const env = { ...gatewayEnv(), SX_BACKUP_DIR: path.join(dir, 'backups') };
    const [text, json] = await Promise.all([cli(['doctor'], env), cli(['doctor', '--json'], env)]);
    expect(text.code, text.stderr).toBe(0);
    expect(json.code, json.stderr).toBe(0);
    const { rows } = await admin.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'citus'");
    const version = rows[0]!.extversion;
    const schemas = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM public.${pg.escapeIdentifier(config.postgres.registryTable)}`)).rows[0]!.n;
    const lines = text.stdout.split('\n');
    const line = lines.find((l) => /^\w+\s+citus\s/.test(l));
    process.stderr.write(`[tests] citus: doctor says: ${line}\n`);
    expect(line).toMatch(
      new RegExp(`^OK +citus +Citus ${version.replace(/\./g, '\\.')} coordinator, 2 worker\\(s\\), schema-based sharding on; ${schemas} of ${schemas} schema\\(s\\) distributed \\(.+\\)$`),
    );
    for (const worker of cluster.workers) expect(line).toMatch(new RegExp(`${worker.name.replace(/\./g, '\\.')}:${worker.port} \\d+`));
    // No hint follows the line: hints are how doctor says what to do about a warning.
    expect(lines[lines.indexOf(line!) + 1]).not.toMatch(/^\s+→/);
    const check = (JSON.parse(json.stdout) as { checks: { check: string; status: string; hint?: string }[] }).checks.find((c) => c.check === 'citus');
    expect(check).toMatchObject({ status: 'ok' });
    expect(check!.hint).toBeUndefined();

    const health = await gql(`{ health { status database { reachable citus } } }`);
    expect(health.body.errors).toBeUndefined();
    expect(health.body.data.health.database).toEqual({ reachable: true, citus: version });
  }, 120_000);
});

interface WorkloadSummary {
  requests: number;
  twoSource: number;
  rows: number;
  foreign: number;
  errors: string[];
  problems: string[];
  ms: number;
}

type Ask = (query: string) => Promise<GraphQLResponse>;

/**
 * Mixed reads against the sources of ISOLATION_SOURCES (the same ids v1… in each): pages in every order, an
 * author filter, search, single items with their meta and note, and stats, one to three sources per operation,
 * from `concurrency` clients at once. A row whose caption, status or note names another source is foreign.
 */
async function isolationWorkload(ask: Ask, requests: number, concurrency: number): Promise<WorkloadSummary> {
  let seed = 20_240_601;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return (seed >>> 8) % n;
  };
  const orders = ['RECENT', 'BOOKMARKED', 'AUTHOR', 'STATUS', 'RATING'];
  const node = 'id caption meta { status }';
  const shapes = [
    (order: string) => `items(first: 25, order: ${order}) { edges { node { ${node} } } }`,
    () => `items(first: 20, filter: { authorUniqueIds: ["author2"] }) { edges { node { ${node} } } }`,
    () => `search(query: "caption", first: 15) { edges { node { ${node} } } }`,
    () => `item(id: "v${random(MARKED) + 1}") { ${node} note { markdown } }`,
    () => `stats { items }`,
  ];
  const plans = Array.from({ length: requests }, () => {
    const count = 1 + random(3);
    return Array.from({ length: count }, (_, i) => {
      const source = ISOLATION_SOURCES[random(ISOLATION_SOURCES.length)]!;
      const field = shapes[random(shapes.length)]!(orders[random(orders.length)]!);
      return { alias: `s${i}`, source, text: `s${i}: source(sourceId: "${source.id}") { ${field} }` };
    });
  });
  const summary: WorkloadSummary = { requests, twoSource: 0, rows: 0, foreign: 0, errors: [], problems: [], ms: 0 };
  const markerOwner = (value: string | null | undefined) => /^(\w+)-marker$/.exec(value ?? '')?.[1] ?? /^# (\w+) v\d+$/.exec(value ?? '')?.[1];
  type Row = { id: string; caption: string; meta: { status: string | null } | null; note?: { markdown: string } };
  const checkRow = (sourceId: string, row: Row) => {
    summary.rows += 1;
    const owner = /^caption of (\w+) number (\d+)$/.exec(row.caption);
    const statusOwner = markerOwner(row.meta?.status);
    if (!owner || owner[1] !== sourceId || `v${owner[2]}` !== row.id || (statusOwner && statusOwner !== sourceId)) summary.foreign += 1;
    if (row.note && row.note.markdown !== `# ${sourceId} ${row.id}`) summary.foreign += 1;
  };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < plans.length) {
        const plan = plans[next++]!;
        if (new Set(plan.map((p) => p.source.id)).size > 1) summary.twoSource += 1;
        const answer = await ask(`{ ${plan.map((p) => p.text).join('\n')} }`);
        if (answer.body.errors) {
          summary.errors.push(answer.body.errors.map((e) => `${e.extensions?.code}: ${e.message}`).join('; '));
          continue;
        }
        for (const { alias, source } of plan) {
          const scope = answer.body.data[alias];
          if (scope.items || scope.search) for (const edge of (scope.items ?? scope.search).edges) checkRow(source.id, edge.node);
          else if (scope.item) checkRow(source.id, scope.item);
          else if (scope.stats) {
            summary.rows += 1;
            if (scope.stats.items !== source.items) summary.problems.push(`${source.id}: stats.items ${scope.stats.items}, expected ${source.items}`);
          } else summary.problems.push(`${alias} of ${source.id}: nothing answered`);
        }
      }
    }),
  );
  summary.ms = performance.now() - started;
  return summary;
}

