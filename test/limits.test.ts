import { Readable } from 'node:stream';
import fc from 'fast-check';
import { getIntrospectionQuery } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv } from '../src/import/importCsv.js';
import type { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type GraphQLResponse, type TestGateway } from './support/gateway.js';

const SOURCE = 'limits_1';
const OTHER = 'limits_2';

async function seed(gateway: TestGateway): Promise<void> {
  for (const source of [SOURCE, OTHER]) {
    await importCsv(gateway.store, source, { consolidated: () => Readable.from([libraryCsv(source, 30)]) }, { create: true });
  }
}

function codeOf(response: GraphQLResponse): string | undefined {
  return response.body.errors?.[0]?.extensions?.code as string | undefined;
}

/** A refused operation must not have opened a binding or sent a statement. */
async function refusedBeforeDatabase(gateway: TestGateway, send: () => Promise<GraphQLResponse>) {
  gateway.statements.length = 0;
  const response = await send();
  expect(gateway.statements).toEqual([]);
  return response;
}

describe.each(STORE_KINDS)('GraphQL limits (%s)', (kind) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(kind, {
      SX_MAX_QUERY_DEPTH: '5',
      SX_MAX_QUERY_COST: '5000',
      SX_MAX_QUERY_FIELDS: '40',
      SX_MAX_ALIASES: '4',
      SX_MAX_QUERY_TOKENS: '400',
      SX_MAX_BATCH: '3',
      SX_MAX_QUERY_BYTES: '4096',
      SX_MAX_UPLOAD_MB: '1',
    });
    await seed(gateway);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('refuses a query nested deeper than the limit, and serves one at the limit', async () => {
    const deep = await refusedBeforeDatabase(gateway, () =>
      gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 1) { edges { node { meta { status } } } } } }`),
    );
    expect(deep.status).toBe(400);
    expect(codeOf(deep)).toBe('QUERY_LIMIT_EXCEEDED');
    expect(deep.body.errors?.[0].extensions).toMatchObject({ limit: 'depth', max: 5, actual: 6 });
    expect(deep.body.errors?.[0].message).toMatch(/SX_MAX_QUERY_DEPTH/);
    const atLimit = await gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 1) { edges { node { meta { status } } } } } }`.replace('edges { node { meta { status } } }', 'nodes { meta { status } }'));
    expect(atLimit.body.errors).toBeUndefined();
  });

  it('counts page sizes in the cost: a large page of many fields is refused, a small one served', async () => {
    const fields = 'id caption authorUniqueId bookmarked meta { status tags }';
    const big = await refusedBeforeDatabase(gateway, () =>
      gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 1000) { nodes { ${fields} } } } }`),
    );
    expect(codeOf(big)).toBe('QUERY_LIMIT_EXCEEDED');
    expect(big.body.errors?.[0].extensions).toMatchObject({ limit: 'cost', max: 5000 });
    expect(big.body.errors?.[0].extensions?.actual as number).toBeGreaterThan(5000);
    // Variables count as well as literals.
    const viaVariable = await refusedBeforeDatabase(gateway, () =>
      gateway.gql(`query($n: Int) { source(sourceId: "${SOURCE}") { items(first: $n) { nodes { ${fields} } } } }`, { n: 1000 }),
    );
    expect(codeOf(viaVariable)).toBe('QUERY_LIMIT_EXCEEDED');
    const small = await gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 20) { nodes { ${fields} } } } }`);
    expect(small.body.errors).toBeUndefined();
    expect(small.body.data.source.items.nodes).toHaveLength(20);
  });

  it('refuses an oversized page before any database work', async () => {
    const response = await refusedBeforeDatabase(gateway, () =>
      gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 2001) { nodes { id } } } }`),
    );
    expect(codeOf(response)).toBe('PAGE_SIZE_TOO_LARGE');
  });

  it('refuses too many fields in one operation', async () => {
    const wide = Array.from({ length: 6 }, () => 'id caption authorUniqueId authorName bookmarked').join(' ');
    const refused = await refusedBeforeDatabase(gateway, () =>
      gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 1) { nodes { ${wide} } } search(query: "x", first: 1) { nodes { ${wide} } } } }`),
    );
    expect(codeOf(refused)).toBe('QUERY_LIMIT_EXCEEDED');
    expect(refused.body.errors?.[0].extensions?.limit).toBe('fields');
    const narrow = await gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 1) { nodes { ${wide} } } } }`);
    expect(narrow.body.errors).toBeUndefined();
  });

  it('refuses more aliases than the limit, fragments included', async () => {
    const five = Array.from({ length: 5 }, (_, i) => `s${i}: source(sourceId: "${SOURCE}") { stats { items } }`).join(' ');
    const response = await refusedBeforeDatabase(gateway, () => gateway.gql(`{ ${five} }`));
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe('QUERY_LIMIT_EXCEEDED');
    expect(response.body.errors?.[0].extensions).toMatchObject({ limit: 'aliases', max: 4, actual: 5 });
    const viaFragment = await refusedBeforeDatabase(gateway, () =>
      gateway.gql(`{ source(sourceId: "${SOURCE}") { ...f } } fragment f on SourceScope { a: stats { items } b: stats { items } c: stats { items } d: stats { items } e: stats { items } }`),
    );
    expect(codeOf(viaFragment)).toBe('QUERY_LIMIT_EXCEEDED');
    const two = await gateway.gql(`{ a: source(sourceId: "${SOURCE}") { stats { items } } b: source(sourceId: "${OTHER}") { stats { items } } }`);
    expect(two.body.errors).toBeUndefined();
    expect(two.body.data.a.stats.items).toBe(30);
  });

  it('refuses a document with more tokens than the limit while parsing it', async () => {
    const long = `{ health { ${Array.from({ length: 500 }, () => 'status').join(' ')} } }`;
    const response = await refusedBeforeDatabase(gateway, () => gateway.gql(long));
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe('QUERY_LIMIT_EXCEEDED');
    expect(response.body.errors?.[0].extensions?.limit).toBe('tokens');
  });

  it('refuses a request body larger than the query limit by its Content-Length', async () => {
    const response = await refusedBeforeDatabase(gateway, () =>
      gateway.gql('query($pad: String) { health { status } }', { pad: 'x'.repeat(5000) }),
    );
    expect(response.status).toBe(413);
    expect(codeOf(response)).toBe('REQUEST_TOO_LARGE');
    expect(response.body.errors?.[0].extensions).toMatchObject({ limit: 'queryBytes', max: 4096 });
  });

  it('limits batched operations; each operation of a batch has its own bindings', async () => {
    const post = (body: unknown) =>
      fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      });
    const op = (source: string) => ({ query: `{ source(sourceId: "${source}") { items(first: 2) { nodes { caption } } } }` });
    gateway.statements.length = 0;
    const refused = await post([op(SOURCE), op(OTHER), op(SOURCE), op(OTHER)]);
    expect(refused.status).toBe(413);
    expect(JSON.stringify(await refused.json())).toMatch(/limited to 3 operations/);
    expect(gateway.statements).toEqual([]);

    const served = await post([op(SOURCE), op(OTHER), op(SOURCE)]);
    expect(served.status).toBe(200);
    const results = (await served.json()) as { data: { source: { items: { nodes: { caption: string }[] } } } }[];
    expect(results).toHaveLength(3);
    expect(results.map((r) => r.data.source.items.nodes[0].caption.split(' ')[2])).toEqual([SOURCE, OTHER, SOURCE]);
    expect(served.headers.get('x-sx-source-id')?.split(',').sort()).toEqual([SOURCE, OTHER].sort());
    if (kind === 'postgres') {
      const store = gateway.store as PostgresStore;
      expect(store.pool.totalCount - store.pool.idleCount).toBe(0);
    }
  });

  it('refuses an upload larger than the upload limit and keeps the source as it was', async () => {
    const before = await gateway.gql(`{ source(sourceId: "${SOURCE}") { stats { items } } }`);
    const big = libraryCsv(SOURCE, 30) + 'x'.repeat(1024 * 1024 + 10);
    const response = await refusedBeforeDatabase(gateway, () => uploadCsv(gateway, SOURCE, { consolidated: big }));
    expect(response.status).toBe(413);
    expect(codeOf(response)).toBe('REQUEST_TOO_LARGE');
    expect(response.body.errors?.[0].extensions).toMatchObject({ limit: 'uploadBytes', max: 1024 * 1024 });
    const after = await gateway.gql(`{ source(sourceId: "${SOURCE}") { stats { items } } }`);
    expect(after.body.data).toEqual(before.body.data);
  });
});

describe('statement_timeout bounds each transaction (postgres)', () => {
  let gateway: TestGateway;
  let blocker: pg.Client;
  beforeAll(async () => {
    gateway = await startTestGateway('postgres', { SX_STATEMENT_TIMEOUT_MS: '300', SX_POSTGRES_POOL_MAX: '2' });
    await seed(gateway);
    blocker = new pg.Client({ connectionString: gateway.databaseUrl });
    await blocker.connect();
  });
  afterAll(async () => {
    await blocker?.end();
    await gateway?.close();
  });

  it('cancels a statement that waits past the limit with QUERY_TIMEOUT, frees the client, and serves again', async () => {
    const schema = (await gateway.store.resolveSource(SOURCE)).schemaName!;
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE "${schema}".videos IN ACCESS EXCLUSIVE MODE`);
    const started = performance.now();
    const slow = await gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 5) { nodes { id } } } }`);
    const waited = performance.now() - started;
    await blocker.query('ROLLBACK');
    expect(slow.status).toBe(504);
    expect(codeOf(slow)).toBe('QUERY_TIMEOUT');
    expect(JSON.stringify(slow.body)).not.toMatch(/canceling statement|SQLSTATE|57014/);
    expect(waited).toBeGreaterThanOrEqual(250);
    const store = gateway.store as PostgresStore;
    expect(store.pool.totalCount - store.pool.idleCount).toBe(0);
    const again = await gateway.gql(`{ source(sourceId: "${SOURCE}") { items(first: 5) { nodes { id } } } }`);
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data.source.items.nodes).toHaveLength(5);
  });
});

/** Every error code a client may get for a filter it chose; anything else is a defect. */
const INPUT_ERRORS = new Set(['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED', 'PAGE_SIZE_TOO_LARGE', 'QUERY_LIMIT_EXCEEDED']);

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', ' ', '%', '_', '\\', "'", '"', '\u0000', "'; DROP TABLE videos; --", '-', '--', '""', '*', 'NEAR(', 'a OR b', '^', '\uFFFF', '\uD800'),
);
// Mostly absent, so that most generated requests are valid enough to reach the database.
const maybe = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
const filterArbitrary = fc.record(
  {
    q: maybe(text),
    captionQ: maybe(text),
    bookmarkedOnly: maybe(fc.boolean()),
    bookmarkFrom: maybe(fc.oneof(text, fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)), fc.constantFrom('2024-13-45', '0000-00-00', '9999-99-99'))),
    bookmarkTo: maybe(fc.oneof(text, fc.constantFrom('2024-02-30', '1970-01-01'))),
    authorUniqueIds: maybe(fc.array(text, { maxLength: 4 })),
    authorIds: maybe(fc.array(text, { maxLength: 4 })),
    statuses: maybe(fc.array(text, { maxLength: 4 })),
    // Ratings are numbers from 0 to 5: mostly in range (real queries), sometimes out of it or not finite-looking.
    ratingMin: maybe(fc.oneof({ weight: 4, arbitrary: fc.double({ min: 0, max: 5, noNaN: true }) }, fc.integer(), fc.constantFrom(-2147483648, 2147483647, -0.5, 5.5))),
    ratingMax: maybe(fc.oneof({ weight: 4, arbitrary: fc.double({ min: 0, max: 5, noNaN: true }) }, fc.integer(), fc.constantFrom(1e308, -1e-9))),
    tag: maybe(text),
    tags: maybe(fc.array(text, { maxLength: 3 })),
    hasNotes: maybe(fc.boolean()),
  },
  { requiredKeys: [] },
);

describe.each(STORE_KINDS)('random filter values find no error but validation (%s)', (kind) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    await seed(gateway);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('the default limits let GraphiQL introspect the schema and a full page of a source be read', async () => {
    const introspection = await gateway.gql(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, oneOf: true }));
    expect(introspection.body.errors).toBeUndefined();
    expect(introspection.body.data.__schema.queryType.name).toBe('Query');
    const fullPage = await gateway.gql(`{ source(sourceId: "${SOURCE}") {
      items(first: 2000) { totalCount edges { cursor node { id caption authorUniqueId authorName bookmarked meta { status statuses tags rating } note { markdown } } } pageInfo { hasNextPage } }
      stats { items bookmarked authors } } }`);
    expect(fullPage.body.errors).toBeUndefined();
    expect(fullPage.body.data.source.items.edges).toHaveLength(30);
  });

  it('items, search and authors answer data or an input error, never anything else', async () => {
    const query = `query($source: ID!, $filter: ItemFilter, $order: ItemOrder, $first: Int, $after: String, $search: String!, $q: String) {
      source(sourceId: $source) {
        items(filter: $filter, order: $order, first: $first, after: $after) { totalCount nodes { id caption meta { status } } }
        search(query: $search, first: $first) { totalCount mode nodes { id } }
        authors(q: $q, first: $first) { totalCount nodes { authorUniqueId } }
      }
    }`;
    let answered = 0;
    const seen: unknown[] = [];
    await fc.assert(
      fc.asyncProperty(
        filterArbitrary,
        fc.oneof({ weight: 9, arbitrary: fc.constantFrom('RECENT', 'BOOKMARKED', 'AUTHOR', 'STATUS', 'RATING') }, { weight: 1, arbitrary: fc.constant('NOPE') }),
        maybe(fc.oneof(fc.integer({ min: -5, max: 2100 }), fc.constant(2147483647))),
        maybe(fc.oneof(text, fc.constantFrom('YXJyYXljb25uZWN0aW9uOjA=', 'YXJyYXljb25uZWN0aW9uOi0x', 'YXJyYXljb25uZWN0aW9uOjFlOTk='))),
        text,
        maybe(text),
        async (filter, order, first, after, search, q) => {
          const response = await gateway.gql(query, { source: SOURCE, filter, order, first, after, search, q });
          seen.push(response.body.errors?.[0]?.extensions?.code ?? 'ok');
          expect(response.status, JSON.stringify(response.body)).toBeLessThan(500);
          for (const error of response.body.errors ?? []) {
            expect(INPUT_ERRORS.has(String(error.extensions?.code)), JSON.stringify({ error, filter, search, q, after })).toBe(true);
          }
          if (!response.body.errors) {
            answered += 1;
            for (const node of response.body.data.source.items.nodes) expect(node.caption).toContain(SOURCE);
          }
        },
      ),
      { numRuns: Number(process.env.SX_FC_RUNS ?? 150), seed: Number(process.env.SX_FC_SEED ?? 20261125) },
    );
    // The property must have exercised real queries, not only refusals.
    expect(answered, JSON.stringify(seen)).toBeGreaterThan(40);
  });
});
