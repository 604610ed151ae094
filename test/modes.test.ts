import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { listen } from '../src/http/server.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { libraryCsv } from './support/csv.js';
import { startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

describe('POSTGRES_MIRROR (transitional)', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway('mirror');
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('serves from SQLite and marks the mode deprecated in every backend context', async () => {
    await uploadCsv(gateway, 'mirrored', { consolidated: libraryCsv('mirrored', 2) });
    const response = await gateway.gql(`{
      health { mode backend { backend deprecated notice } }
      source(sourceId: "mirrored") { backend { backend deprecated notice } items { totalCount } }
    }`);
    expect(response.body.errors).toBeUndefined();
    const notice = 'POSTGRES_MIRROR is transitional; migrate to POSTGRES_PRIMARY';
    expect(response.body.data.health).toEqual({
      mode: 'POSTGRES_MIRROR',
      backend: { backend: 'postgres_mirror', deprecated: true, notice },
    });
    expect(response.body.data.source.backend).toEqual({ backend: 'postgres_mirror', deprecated: true, notice });
    expect(response.body.data.source.items.totalCount).toBe(2);
  });

  it('needs a PostgreSQL DSN, as POSTGRES_PRIMARY does', () => {
    expect(() => loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_MIRROR' })).toThrowError(ConfigError);
    expect(() => loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_MIRROR' })).toThrowError(/SX_POSTGRES_DSN: is required when SX_DB_BACKEND_MODE=POSTGRES_MIRROR/);
    const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_MIRROR', SX_POSTGRES_DSN: 'embedded', SX_DB_BACKEND_SYNC_TTL_SEC: '7' });
    expect(config.mirrorSyncTtlMs).toBe(7000);
    expect(loadConfig({}).mirrorSyncTtlMs).toBe(120_000);
  });
});

describe('response headers', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway('postgres');
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('name the request, the backend and the sources of the operation', async () => {
    await uploadCsv(gateway, 'hdr_1', { consolidated: libraryCsv('hdr_1', 1) });
    await uploadCsv(gateway, 'hdr_2', { consolidated: libraryCsv('hdr_2', 1) });
    const response = await gateway.gql(
      '{ a: source(sourceId: "hdr_1") { sourceId } b: source(sourceId: "hdr_2") { sourceId } }',
      {},
      { 'x-request-id': 'req-123' },
    );
    expect(response.headers.get('x-sx-backend')).toBe('postgres_primary');
    expect(response.headers.get('x-sx-request-id')).toBe('req-123');
    expect(response.headers.get('x-sx-source-id')).toBe('hdr_1,hdr_2');
    const plain = await gateway.gql('{ health { mode } }');
    expect(plain.headers.get('x-sx-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(plain.headers.get('x-sx-source-id')).toBeNull();
  });
});

describe('PostgreSQL out of reach', () => {
  it('answers DATABASE_UNAVAILABLE and a degraded health, without PostgreSQL error text', async () => {
    // Port 9 on loopback: nothing listens there, so every connection is refused at once.
    const dsn = 'postgres://nobody@127.0.0.1:9/none';
    const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: dsn });
    const store = new PostgresStore({ dsn, config });
    const gateway = await listen(store, config, { host: '127.0.0.1', port: 0 });
    try {
      const health = await fetch(`${gateway.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'degraded', database: { reachable: false } });
      const response = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
        body: JSON.stringify({ query: '{ source(sourceId: "any") { items { totalCount } } }' }),
      });
      const body = (await response.json()) as any;
      expect(response.status).toBe(503);
      expect(body.errors[0].extensions.code).toBe('DATABASE_UNAVAILABLE');
      expect(JSON.stringify(body)).not.toContain('ECONNREFUSED');
    } finally {
      await gateway.close();
      await store.close();
    }
  });
});
