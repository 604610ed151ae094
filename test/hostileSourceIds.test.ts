import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv } from '../src/import/importCsv.js';
import { CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, type GraphQLResponse, type TestGateway } from './support/gateway.js';
import { INVALID_SOURCE_IDS } from './support/hostileIds.js';

const INVALID = INVALID_SOURCE_IDS;

/** Ids that are valid however they look: each must get a schema of its own, never a system schema. */
const VALID: [string, string][] = [
  ['public', 'public'],
  ['pg_catalog', 'pg_catalog'],
  ['information_schema', 'information_schema'],
  ['pg_toast', 'pg_toast'],
  ['pg_temp', 'pg_temp'],
  ['the schema prefix itself', 'sx'],
  ['prefix with separator', 'sx_'],
  ['another source schema name', 'sx_public'],
  ['case A', 'Assets_1'],
  ['case a', 'assets_1'],
  ['dot', 'assets.1'],
  ['dash', 'assets-1'],
  ['double dot', 'assets..1'],
  ['single dot', '.'],
  ['single dash', '-'],
  ['single underscore', '_'],
  ['SQL comment dashes', '--'],
  ['digits only', '0'],
  ['64 characters', 'a'.repeat(64)],
  ['64 characters, last differs', `${'a'.repeat(63)}b`],
  ['NULL', 'NULL'],
  ['null', 'null'],
];

// PostgreSQL's own wording; none of it may reach a client.
const POSTGRES_TEXT = /syntax error at or near|does not exist|violates|SQLSTATE|duplicate key|invalid byte sequence|unterminated|permission denied|current transaction is aborted/i;

function expectClean(response: GraphQLResponse): void {
  expect(response.status).not.toBe(500);
  expect(JSON.stringify(response.body)).not.toMatch(POSTGRES_TEXT);
  for (const error of response.body.errors ?? []) expect(error.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
}

describe.each(STORE_KINDS)('hostile source ids (%s)', (kind) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('the corpus holds at least 40 ids', () => {
    expect(INVALID.length + VALID.length).toBeGreaterThanOrEqual(40);
  });

  it.each(INVALID)('refuses %s with SOURCE_ID_INVALID on reads, bootstrap and import, never 500', async (_name, sourceId) => {
    const read = await gateway.gql('query($s: ID!) { source(sourceId: $s) { stats { items } } }', { s: sourceId });
    const bootstrap = await gateway.gql('mutation($s: ID!) { bootstrapSource(sourceId: $s) { id } }', { s: sourceId });
    const activate = await gateway.gql('mutation($s: ID!) { activateSource(sourceId: $s) { id } }', { s: sourceId });
    for (const response of [read, bootstrap, activate]) {
      expectClean(response);
      expect(response.status).toBe(400);
      expect(response.body.errors?.[0].extensions?.code).toBe('SOURCE_ID_INVALID');
    }
    await expect(importCsv(gateway.store, sourceId, { consolidated: () => Readable.from(['c_videos_id\nv1\n']) }, { create: true })).rejects.toMatchObject({
      code: 'SOURCE_ID_INVALID',
    });
  });

  it('maps each valid id, however it looks, to a source of its own', async () => {
    for (const [, sourceId] of VALID) {
      const unknown = await gateway.gql('query($s: ID!) { source(sourceId: $s) { stats { items } } }', { s: sourceId });
      expectClean(unknown);
      expect(unknown.body.errors?.[0].extensions?.code).toBe('SOURCE_NOT_MAPPED');
      const created = await gateway.gql('mutation($s: ID!) { bootstrapSource(sourceId: $s) { id schemaName } }', { s: sourceId });
      expectClean(created);
      expect(created.body.errors).toBeUndefined();
      expect(created.body.data.bootstrapSource.id).toBe(sourceId);
      await importCsv(gateway.store, sourceId, {
        consolidated: () => Readable.from([csv(CONSOLIDATED_HEADER, [['v1', 'a1', 'h', 'H', `owned by ${sourceId}`, 'x1']])]),
      }, { create: true });
    }
    // Every source answers with its own row: no two ids landed in one place.
    for (const [, sourceId] of VALID) {
      const read = await gateway.gql('query($s: ID!) { source(sourceId: $s) { items { nodes { caption } } backend { schema } } }', { s: sourceId });
      expectClean(read);
      expect(read.body.errors).toBeUndefined();
      expect(read.body.data.source.items.nodes).toEqual([{ caption: `owned by ${sourceId}` }]);
    }
    const sources = await gateway.store.listSources();
    expect(sources.filter((s) => VALID.some(([, id]) => id === s.id))).toHaveLength(VALID.length);
    if (kind === 'postgres') {
      const schemas = sources.map((s) => s.schemaName!);
      expect(new Set(schemas).size).toBe(schemas.length);
      for (const schema of schemas) {
        expect(schema).toMatch(/^sx_[a-z0-9_]+$/);
        expect(Buffer.byteLength(schema)).toBeLessThanOrEqual(63);
      }
      // The system schemas are untouched: nothing of a source was created in them.
      const client = new pg.Client({ connectionString: gateway.databaseUrl });
      await client.connect();
      try {
        const stray = await client.query(
          `SELECT table_schema, table_name FROM information_schema.tables
            WHERE table_schema IN ('public', 'pg_catalog', 'information_schema') AND table_name IN ('videos', 'user_meta', 'authors')`,
        );
        expect(stray.rows).toEqual([]);
        const created = await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sx\\_%' ORDER BY 1`);
        expect(created.rows.map((r) => r.nspname).sort()).toEqual([...schemas].sort());
      } finally {
        await client.end();
      }
    }
  });

  it('refuses a hostile X-SX-Profile-Index with PROFILE_SOURCE_MISMATCH, never 500', async () => {
    // '-1' (below 1: absent) and '+1' (1) are valid values in the original, as here; '2' disagrees with assets_1.
    for (const header of ["1' OR '1'='1", '1e3', 'NaN', '\u00A01', '01x', '0x1', '2']) {
      const response = await gateway.gql('{ source(sourceId: "assets_1") { stats { items } } }', {}, { 'x-sx-profile-index': header });
      expectClean(response);
      expect(response.status).toBe(400);
      expect(response.body.errors?.[0].extensions?.code).toBe('PROFILE_SOURCE_MISMATCH');
    }
  });
});
