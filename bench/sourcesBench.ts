import { createReadStream } from 'node:fs';
import { loadConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import { openStore } from '../src/stores/openStore.js';
import { loadGraphql, type LoadResult } from './load.js';
import type { LoadShape } from './queryBench.js';
import { startGateway } from './queryBench.js';
import { makeWorkloads } from './postgraphile/queries.js';

export interface SourcesFigures {
  sources: number;
  load: LoadResult;
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

/** The page workload spread round-robin over `count` sources, against a freshly started gateway. */
async function measure(databaseUrl: string, count: number, shape: LoadShape, poolMax: number): Promise<{ load: LoadResult; rss: number | null }> {
  const gateway = await startGateway({
    SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
    SX_POSTGRES_DSN: databaseUrl,
    SX_POSTGRES_POOL_MAX: String(poolMax),
  });
  try {
    const pages = Array.from({ length: count }, (_, i) => makeWorkloads(sourceName(i)).page.gateway);
    let next = 0;
    const rotate = () => pages[next++ % pages.length]!;
    // The warm-up sends every source to every pooled connection a few times over, so the registry cache and each
    // server process's relation cache hold all of them before measuring (steady state, not first touches).
    const warmRequests = count * poolMax * 3;
    const warmSeconds = Math.max(shape.warmupSeconds, Math.min(90, Math.ceil(warmRequests / 400)));
    await loadGraphql(gateway.url, rotate, { connections: shape.connections, seconds: warmSeconds });
    const load = await loadGraphql(gateway.url, rotate, shape);
    return { load, rss: gateway.rssBytes() };
  } finally {
    await gateway.stop();
  }
}

/** p50 and RSS with one source, then with `many` sources, the load spread over all of them. */
export async function benchSources(databaseUrl: string, many: number, shape: LoadShape, poolMax: number): Promise<SourcesFigures[]> {
  const firstMs = await addSources(databaseUrl, 0, 1);
  const one = await measure(databaseUrl, 1, shape, poolMax);
  const restMs = await addSources(databaseUrl, 1, many);
  const all = await measure(databaseUrl, many, shape, poolMax);
  return [
    { sources: 1, load: one.load, gatewayRssBytes: one.rss, bootstrapMsPerSource: firstMs },
    { sources: many, load: all.load, gatewayRssBytes: all.rss, bootstrapMsPerSource: restMs },
  ];
}
