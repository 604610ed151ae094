import { createReadStream } from 'node:fs';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import { openStore } from '../src/stores/openStore.js';
import { loadGraphql, loadLoop, type GraphqlWork, type LoadResult } from './load.js';
import type { LoadShape } from './queryBench.js';
import { combine, rawWork, sliceCount, startGateway } from './queryBench.js';
import { rawPgTenantDb } from './tenantDb.js';
import { makeWorkloads } from './postgraphile/queries.js';

export interface SourcesFigures {
  sources: number;
  load: LoadResult;
  /** The page's statements on a bare pool over the same sources, without the gateway: PostgreSQL's own share. */
  rawPg: LoadResult;
  gatewayRssBytes: number | null;
  bootstrapMsPerSource: number;
}

const DEMO = {
  consolidated: 'samples/demo/consolidated.csv',
  authors: 'samples/demo/authors.csv',
  bookmarks: 'samples/demo/bookmarks.csv',
};

const sourceName = (i: number) => `tenant_${String(i).padStart(4, '0')}`;

/** Bootstraps sources [from, to) and imports the demo library into each, in-process. */
async function addSources(databaseUrl: string, from: number, to: number): Promise<number> {
  const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: databaseUrl, SX_LOG_LEVEL: 'warn' });
  const opened = await openStore(config);
  const started = performance.now();
  try {
    for (let i = from; i < to; i++) {
      await importCsv(opened.store, sourceName(i), {
        consolidated: () => createReadStream(DEMO.consolidated),
        authors: () => createReadStream(DEMO.authors),
        bookmarks: () => createReadStream(DEMO.bookmarks),
      }, { create: true });
    }
  } finally {
    await opened.close();
  }
  return (performance.now() - started) / Math.max(1, to - from);
}

type Gateway = Awaited<ReturnType<typeof startGateway>>;

/**
 * The page's statements (the raw loop of the items queries) on a bare pool, each request on the next of the first
 * `count` sources: its schema set on the pooled session first, a round trip the one-source side makes too.
 */
function rawRotation(pool: pg.Pool, count: number): () => Promise<void> {
  const page = rawWork('page', '', '');
  let next = 0;
  return async () => {
    const sourceId = sourceName(next++ % count);
    const client = await pool.connect();
    try {
      const schemaName = `sx_${sourceId}`;
      await client.query(`SELECT set_config('search_path', $1, false)`, [pg.escapeIdentifier(schemaName)]);
      await page(rawPgTenantDb(client, sourceId, schemaName));
    } finally {
      client.release();
    }
  };
}

/**
 * A freshly started gateway, and the page workload spread round-robin over its first `count` sources, warmed up:
 * every source sent to every pooled connection a few times over, so the registry cache and each server process's
 * relation cache hold all of them before measuring (steady state, not first touches).
 */
async function warmGateway(databaseUrl: string, count: number, shape: LoadShape, poolMax: number): Promise<{ gateway: Gateway; rotate: () => GraphqlWork }> {
  const gateway = await startGateway({
    SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
    SX_POSTGRES_DSN: databaseUrl,
    SX_POSTGRES_POOL_MAX: String(poolMax),
  });
  const pages = Array.from({ length: count }, (_, i) => makeWorkloads(sourceName(i)).page.gateway);
  let next = 0;
  const rotate = () => pages[next++ % pages.length]!;
  const warmRequests = count * poolMax * 3;
  const warmSeconds = Math.max(shape.warmupSeconds, Math.min(90, Math.ceil(warmRequests / 400)));
  await loadGraphql(gateway.url, rotate, { connections: shape.connections, seconds: warmSeconds });
  return { gateway, rotate };
}

/**
 * p50 and RSS with the load on one source against the same load spread over `many`, once all of them exist: two
 * gateways on the same database, measured in alternating slices (one, many, one, many), so that a change in the
 * machine's speed during the run falls on both alike, as in the items queries. The raw loop runs the same page
 * over the same schemas without the gateway, in the same slices: how much of the difference is PostgreSQL's own
 * (a thousand schemas' relations, caches and pages against one's).
 */
export async function benchSources(databaseUrl: string, many: number, shape: LoadShape, poolMax: number): Promise<SourcesFigures[]> {
  const firstMs = await addSources(databaseUrl, 0, 1);
  const restMs = await addSources(databaseUrl, 1, many);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax });
  const one = await warmGateway(databaseUrl, 1, shape, poolMax);
  try {
    const all = await warmGateway(databaseUrl, many, shape, poolMax);
    try {
      const raw = { one: rawRotation(pool, 1), all: rawRotation(pool, many) };
      const workers = { workers: shape.connections };
      await loadLoop(raw.all, { ...workers, seconds: Math.max(shape.warmupSeconds, 10) });
      const sliceTotal = sliceCount(shape.seconds);
      const slice = { connections: shape.connections, seconds: shape.seconds / sliceTotal };
      const slices = { one: [] as LoadResult[], all: [] as LoadResult[], rawOne: [] as LoadResult[], rawAll: [] as LoadResult[] };
      for (let i = 0; i < sliceTotal; i++) {
        slices.one.push(await loadGraphql(one.gateway.url, one.rotate, slice));
        slices.all.push(await loadGraphql(all.gateway.url, all.rotate, slice));
        slices.rawOne.push(await loadLoop(raw.one, { ...workers, seconds: slice.seconds }));
        slices.rawAll.push(await loadLoop(raw.all, { ...workers, seconds: slice.seconds }));
      }
      return [
        { sources: 1, load: combine(slices.one), rawPg: combine(slices.rawOne), gatewayRssBytes: one.gateway.rssBytes(), bootstrapMsPerSource: firstMs },
        { sources: many, load: combine(slices.all), rawPg: combine(slices.rawAll), gatewayRssBytes: all.gateway.rssBytes(), bootstrapMsPerSource: restMs },
      ];
    } finally {
      await all.gateway.stop();
    }
  } finally {
    await one.gateway.stop();
    await pool.end();
  }
}
