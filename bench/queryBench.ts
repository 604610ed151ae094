import pg from 'pg';
import type { TenantDb } from '../src/interfaces.js';
import { metaByVideoIds } from '../src/queries/itemMeta.js';
import { listItems } from '../src/queries/listItems.js';
import { searchItems } from '../src/queries/searchItems.js';
import { loadGet, loadGraphql, loadLoop, type LoadResult } from './load.js';
import { compareWorkloads } from './postgraphile/check.js';
import { preparePostGraphileSchema } from './postgraphile/setup.js';
import { makeWorkloads, type GraphQLRequest, type WorkloadName } from './postgraphile/queries.js';
import { freePort, startNodeProcess, type Running } from './processes.js';
import { rawPgTenantDb } from './tenantDb.js';

export interface QueryFigures {
  workload: WorkloadName;
  gateway: LoadResult;
  postgraphile: LoadResult;
  rawPg: LoadResult;
  /**
   * Search only: one request at a time, so p50 is the time of one search rather than of a queue behind 32
   * connections on two cores; through the gateway without and with the count, and the raw statements.
   */
  alone?: { gateway: LoadResult; gatewayWithCount: LoadResult; rawPg: LoadResult };
}

/**
 * The plugin's table page over REST against the GraphQL query that answers the same: 50 items with every field
 * `GET /items` returns, their meta, and the total (which the REST route always counts, as the original did).
 */
export interface RestFigures {
  rest: LoadResult;
  graphql: LoadResult;
}

const SAME_AS_REST = `query RestPage($sourceId: ID!) {
  source(sourceId: $sourceId) {
    items(first: 50) {
      totalCount
      nodes {
        id platform authorId authorUniqueId authorName caption bookmarked videoPath coverPath updatedAt
        meta { rating status statuses tags notes productLink authorLinks platformTargets workflowLog postUrl publishedTime updatedAt }
      }
    }
  }
}`;

export interface LoadShape {
  connections: number;
  seconds: number;
  warmupSeconds: number;
}

export async function startGateway(env: NodeJS.ProcessEnv): Promise<Running> {
  const port = await freePort();
  const running = await startNodeProcess(
    'src/cli.ts',
    ['serve', '--host', '127.0.0.1', '--port', String(port)],
    { SX_DEMO_IMPORT: '0', SX_LOG_LEVEL: 'warn', ...env },
    /serving GraphiQL at (http:\/\/\S+\/graphql)/,
  );
  return running;
}

async function startPostGraphile(databaseUrl: string, schema: string): Promise<Running> {
  await preparePostGraphileSchema(databaseUrl, schema);
  const port = await freePort();
  return startNodeProcess(
    'bench/postgraphile/server.ts',
    ['--dsn', databaseUrl, '--schema', schema, '--port', String(port)],
    {},
    /listening (http:\/\/\S+\/graphql)/,
  );
}

/** The page the workload asks for, as the library's statements on a bare client: the limit the gateway is held to. */
export function rawWork(name: WorkloadName, author: string, term: string): (db: TenantDb) => Promise<void> {
  const page = { limit: 51, offset: 0 };
  const withMeta = async (db: TenantDb, ids: string[]) => {
    await metaByVideoIds(db, ids);
  };
  switch (name) {
    case 'page':
      return async (db) => withMeta(db, (await listItems(db, {}, 'RECENT', page)).slice(0, 50).map((i) => i.id));
    case 'author':
      return async (db) => withMeta(db, (await listItems(db, { authorUniqueIds: [author] }, 'RECENT', page)).slice(0, 50).map((i) => i.id));
    case 'search':
      return async (db) => withMeta(db, (await searchItems(db, term, page)).items.slice(0, 50).map((i) => i.id));
  }
}

/** The search workload with one connection: the latency of a single search, which the search goal is about. */
async function searchAlone(
  gatewayUrl: string,
  work: GraphQLRequest,
  rawOnce: () => Promise<void>,
  shape: LoadShape,
): Promise<NonNullable<QueryFigures['alone']>> {
  const one = { connections: 1, seconds: shape.seconds };
  const warm = { connections: 1, seconds: shape.warmupSeconds };
  const withCount = { ...work, query: work.query.replace(/search\(([^)]*)\) \{/, 'search($1) {\n      totalCount totalCountIsEstimate') };
  if (withCount.query === work.query) throw new Error('the search workload no longer has the shape the count variant extends');
  await loadGraphql(gatewayUrl, work, warm);
  const gateway = await loadGraphql(gatewayUrl, work, one);
  const gatewayWithCount = await loadGraphql(gatewayUrl, withCount, one);
  await loadLoop(rawOnce, { workers: 1, seconds: shape.warmupSeconds });
  const rawPg = await loadLoop(rawOnce, { workers: 1, seconds: shape.seconds });
  return { gateway, gatewayWithCount, rawPg };
}

/** Up to four slices of the measured seconds, each at least one second long. */
export function sliceCount(seconds: number): number {
  return Math.max(1, Math.min(4, Math.floor(seconds)));
}

/**
 * The slices of one side as one result: requests and failures added up, req/s over the slices' whole time, p50
 * and p99 the median of the slices' own (autocannon reports percentiles, not the samples to merge).
 */
export function combine(slices: LoadResult[]): LoadResult {
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  const requests = slices.reduce((sum, s) => sum + s.requests, 0);
  const seconds = slices.reduce((sum, s) => sum + s.requests / s.requestsPerSecond, 0);
  return {
    requestsPerSecond: requests / seconds,
    p50Ms: median(slices.map((s) => s.p50Ms)),
    p99Ms: median(slices.map((s) => s.p99Ms)),
    requests,
    failures: slices.reduce((sum, s) => sum + s.failures, 0),
  };
}

/** Gateway vs PostGraphile vs a raw pg loop on the same tenant schema, one workload after the other. */
export async function benchQueries(
  databaseUrl: string,
  sourceId: string,
  schemaName: string,
  author: string,
  term: string,
  shape: LoadShape,
  poolMax: number,
): Promise<{ queries: QueryFigures[]; rest: RestFigures }> {
  const gateway = await startGateway({
    SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
    SX_POSTGRES_DSN: databaseUrl,
    SX_POSTGRES_POOL_MAX: String(poolMax),
  });
  const postgraphile = await startPostGraphile(databaseUrl, schemaName).catch(async (error) => {
    await gateway.stop();
    throw error;
  });
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: poolMax,
    options: `-c search_path=${pg.escapeIdentifier(schemaName)},public`,
  });
  try {
    const workloads = makeWorkloads(sourceId);
    const byName = { page: workloads.page, author: workloads.author(author), search: workloads.search(term) };
    const fairness = await compareWorkloads(gateway.url, postgraphile.url, { sourceId, author, q: term });
    if (!fairness.ok) throw new Error(`PostGraphile and the gateway disagree on the rows:\n${JSON.stringify(fairness, null, 2)}`);

    const figures: QueryFigures[] = [];
    for (const name of ['page', 'author', 'search'] as const) {
      const work = byName[name];
      const warm = { connections: shape.connections, seconds: shape.warmupSeconds };
      const once = rawWork(name, author, term);
      const rawOnce = async () => {
        const client = await pool.connect();
        try {
          await once(rawPgTenantDb(client, sourceId, schemaName));
        } finally {
          client.release();
        }
      };
      await loadGraphql(gateway.url, work.gateway, warm);
      await loadGraphql(postgraphile.url, work.postgraphile, warm);
      await loadLoop(rawOnce, { workers: shape.connections, seconds: shape.warmupSeconds });
      // The measured seconds are cut into slices taken in turn (gateway, PostGraphile, raw loop, and again), so a
      // change in the machine's speed during the run (other tenants of the host) falls on the three alike.
      const sliceTotal = sliceCount(shape.seconds);
      const slice = { connections: shape.connections, seconds: shape.seconds / sliceTotal };
      const slices: { g: LoadResult[]; p: LoadResult[]; r: LoadResult[] } = { g: [], p: [], r: [] };
      for (let i = 0; i < sliceTotal; i++) {
        slices.g.push(await loadGraphql(gateway.url, work.gateway, slice));
        slices.p.push(await loadGraphql(postgraphile.url, work.postgraphile, slice));
        slices.r.push(await loadLoop(rawOnce, { workers: shape.connections, seconds: slice.seconds }));
      }
      const [g, p, r] = [combine(slices.g), combine(slices.p), combine(slices.r)];
      figures.push({ workload: name, gateway: g, postgraphile: p, rawPg: r });
      process.stderr.write(
        `[bench] ${name}: gateway ${g.requestsPerSecond.toFixed(0)} req/s p50 ${g.p50Ms} ms; postgraphile ${p.requestsPerSecond.toFixed(0)} req/s p50 ${p.p50Ms} ms; raw pg ${r.requestsPerSecond.toFixed(0)} req/s p50 ${r.p50Ms.toFixed(2)} ms\n`,
      );
      if (name === 'search') {
        const alone = await searchAlone(gateway.url, work.gateway, rawOnce, shape);
        figures.at(-1)!.alone = alone;
        process.stderr.write(
          `[bench] search, one request at a time: gateway p50 ${alone.gateway.p50Ms} ms (${alone.gateway.requestsPerSecond.toFixed(0)} req/s), ` +
            `with totalCount p50 ${alone.gatewayWithCount.p50Ms} ms; raw pg p50 ${alone.rawPg.p50Ms.toFixed(2)} ms\n`,
        );
      }
    }
    const warm = { connections: shape.connections, seconds: shape.warmupSeconds };
    const restUrl = `${gateway.url.replace(/\/graphql$/, '')}/items?limit=50&source_id=${encodeURIComponent(sourceId)}`;
    const sameAsRest = { query: SAME_AS_REST, variables: { sourceId } };
    await loadGet(restUrl, warm);
    await loadGraphql(gateway.url, sameAsRest, warm);
    // In alternating slices, as the workloads above: a change in the machine's speed falls on both routes alike.
    const sliceTotal = sliceCount(shape.seconds);
    const slice = { connections: shape.connections, seconds: shape.seconds / sliceTotal };
    const routeSlices = { rest: [] as LoadResult[], graphql: [] as LoadResult[] };
    for (let i = 0; i < sliceTotal; i++) {
      routeSlices.rest.push(await loadGet(restUrl, slice));
      routeSlices.graphql.push(await loadGraphql(gateway.url, sameAsRest, slice));
    }
    const [rest, graphql] = [combine(routeSlices.rest), combine(routeSlices.graphql)];
    process.stderr.write(
      `[bench] REST GET /items?limit=50 ${rest.requestsPerSecond.toFixed(0)} req/s p50 ${rest.p50Ms} ms; the same page over GraphQL ${graphql.requestsPerSecond.toFixed(0)} req/s p50 ${graphql.p50Ms} ms\n`,
    );
    return { queries: figures, rest: { rest, graphql } };
  } finally {
    await pool.end();
    await Promise.all([gateway.stop(), postgraphile.stop()]);
  }
}
