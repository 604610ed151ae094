import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaNameFor } from '../src/sources/identifiers.js';
import type { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

const SOURCES = Array.from({ length: 20 }, (_, i) => `tenant_${i + 1}`);
const IDS_PER_SOURCE = 12;

const PAGE = `query Page($sourceId: ID!, $first: Int) {
  source(sourceId: $sourceId) {
    sourceId
    items(first: $first) { totalCount nodes { id caption meta { status } note { origin } } }
  }
}`;

describe.each(STORE_KINDS)('tenancy (%s)', (kind) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    // Every source holds the same item ids; only the captions say whose row it is.
    for (const sourceId of SOURCES) {
      const result = await uploadCsv(gateway, sourceId, { consolidated: libraryCsv(sourceId, IDS_PER_SOURCE) });
      expect(result.body.errors).toBeUndefined();
    }
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('answers the same item id in two sources each with its own row', async () => {
    const query = `{ a: source(sourceId: "tenant_1") { item(id: "v3") { id caption } }
                     b: source(sourceId: "tenant_2") { item(id: "v3") { id caption } } }`;
    const response = await gateway.gql(query);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.a.item.caption).toBe('caption of tenant_1 number 3');
    expect(response.body.data.b.item.caption).toBe('caption of tenant_2 number 3');
  });

  it('never returns a foreign row to 20 sources queried concurrently and interleaved, also through aliases', async () => {
    const requests: Promise<void>[] = [];
    let checkedRows = 0;
    for (let round = 0; round < 8; round += 1) {
      for (let i = 0; i < SOURCES.length; i += 1) {
        const mine = SOURCES[(i * 7 + round) % SOURCES.length];
        const other = SOURCES[(i * 3 + round + 1) % SOURCES.length];
        if (round % 2 === 0) {
          requests.push(
            gateway.gql(PAGE, { sourceId: mine, first: 50 }).then((response) => {
              expect(response.body.errors).toBeUndefined();
              const nodes = response.body.data.source.items.nodes as { caption: string }[];
              expect(nodes).toHaveLength(IDS_PER_SOURCE);
              for (const node of nodes) expect(node.caption).toMatch(new RegExp(`^caption of ${mine} number`));
              checkedRows += nodes.length;
            }),
          );
        } else {
          const query = `query Two($a: ID!, $b: ID!) {
            a: source(sourceId: $a) { items(first: 50) { nodes { caption meta { status } } } search(query: "caption") { nodes { caption } } }
            b: source(sourceId: $b) { items(first: 50) { nodes { caption meta { status } } } stats { items } }
          }`;
          requests.push(
            gateway.gql(query, { a: mine, b: other }).then((response) => {
              expect(response.body.errors).toBeUndefined();
              const { a, b } = response.body.data;
              for (const node of [...a.items.nodes, ...a.search.nodes]) expect(node.caption).toMatch(new RegExp(`^caption of ${mine} number`));
              for (const node of b.items.nodes) expect(node.caption).toMatch(new RegExp(`^caption of ${other} number`));
              expect(b.stats.items).toBe(IDS_PER_SOURCE);
              checkedRows += a.items.nodes.length + b.items.nodes.length;
            }),
          );
        }
      }
    }
    await Promise.all(requests);
    expect(checkedRows).toBeGreaterThanOrEqual(160 * IDS_PER_SOURCE);
  });

  it('answers an unknown source with SOURCE_NOT_MAPPED and HTTP 400, with no fallback', async () => {
    const response = await gateway.gql(PAGE, { sourceId: 'never_bootstrapped' });
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0].extensions?.code).toBe('SOURCE_NOT_MAPPED');
    expect(response.body.data?.source ?? null).toBeNull();
    // A read never brings a source into being.
    const sources = await gateway.gql('{ sources { id } }');
    expect(sources.body.data.sources.map((s: { id: string }) => s.id)).not.toContain('never_bootstrapped');
  });

  it.each([
    ['empty', ''],
    ['space', 'a b'],
    ['quote', "a'; DROP SCHEMA public CASCADE; --"],
    ['slash', 'a/b'],
    ['NUL', 'a\u0000b'],
    ['look-alike', 'tenant_１'],
    ['65 characters', 'x'.repeat(65)],
  ])('rejects an invalid source id (%s) with SOURCE_ID_INVALID and HTTP 400', async (_name, sourceId) => {
    const response = await gateway.gql(PAGE, { sourceId });
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0].extensions?.code).toBe('SOURCE_ID_INVALID');
    const mutation = await gateway.gql('mutation($s: ID!) { bootstrapSource(sourceId: $s) { id } }', { s: sourceId });
    expect(mutation.body.errors?.[0].extensions?.code).toBe('SOURCE_ID_INVALID');
  });

  it('checks X-SX-Profile-Index against the trailing index of every source id', async () => {
    const ok = await gateway.gql(PAGE, { sourceId: 'tenant_2' }, { 'X-SX-Profile-Index': '2' });
    expect(ok.body.errors).toBeUndefined();
    const mismatch = await gateway.gql(PAGE, { sourceId: 'tenant_2' }, { 'X-SX-Profile-Index': '3' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.errors?.[0].extensions?.code).toBe('PROFILE_SOURCE_MISMATCH');
  });

  it('runs a bounded number of statements for a page of 50 items with meta and note, whatever the page size', async () => {
    const source = 'bounded';
    const BINDING = /^SELECT set_config\('search_path', '"sx_bounded", public', true\), set_config\('statement_timeout', '\d+', true\), set_config\('transaction_read_only', 'on', true\)$/;
    await uploadCsv(gateway, source, { consolidated: libraryCsv(source, 60) });
    const count = async (first: number) => {
      gateway.statements.length = 0;
      const response = await gateway.gql(PAGE, { sourceId: source, first });
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data.source.items.nodes).toHaveLength(first);
      const sent = gateway.statements.filter((s) => s.sourceId === source);
      if (kind === 'postgres') {
        // PostgreSQL: every statement travels behind the setup that binds the source's schema for it alone.
        sent.forEach((statement, index) => expect(BINDING.test(statement.text)).toBe(index % 2 === 0));
        return sent.length / 2;
      }
      return sent.length;
    };
    const forFifty = await count(50);
    const forFive = await count(5);
    // the page with its meta joined in + count + one note batch.
    expect(forFifty).toBe(3);
    expect(forFive).toBe(forFifty);

    // Meta asked for through edges and a fragment is joined into the page too, and answers the same.
    gateway.statements.length = 0;
    const viaEdges = await gateway.gql(
      `query($sourceId: ID!) { source(sourceId: $sourceId) { items(first: 5) { edges { node { ...M } } } } }
       fragment M on Item { id meta { status rating } }`,
      { sourceId: source },
    );
    expect(viaEdges.body.errors).toBeUndefined();
    expect(viaEdges.body.data.source.items.edges).toHaveLength(5);
    expect(gateway.statements.filter((s) => s.sourceId === source && /user_meta/.test(s.text))).toHaveLength(1);
    // The page alone (behind its binding in PostgreSQL).
    expect(gateway.statements.filter((s) => s.sourceId === source).length).toBe(kind === 'postgres' ? 2 : 1);
  });
});

describe.each(STORE_KINDS)('admin rights (%s)', (kind) => {
  let gateway: TestGateway;
  const token = 'a-long-enough-admin-token-for-tests';
  beforeAll(async () => {
    gateway = await startTestGateway(kind, { SX_ADMIN_TOKEN: token });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('refuses admin mutations without the bearer token and allows them with it', async () => {
    const bootstrap = 'mutation { bootstrapSource(sourceId: "guarded") { id } }';
    const refused = await gateway.gql(bootstrap);
    expect(refused.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const wrong = await gateway.gql(bootstrap, {}, { authorization: 'Bearer not-the-token-at-all-nope' });
    expect(wrong.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const upload = await uploadCsv(gateway, 'guarded', { consolidated: libraryCsv('guarded', 1) });
    expect(upload.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const allowed = await gateway.gql(bootstrap, {}, { authorization: `Bearer ${token}` });
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data.bootstrapSource.id).toBe('guarded');
  });
});

describe('PostgreSQL schema per source', () => {
  let gateway: TestGateway;
  let store: PostgresStore;
  beforeAll(async () => {
    gateway = await startTestGateway('postgres');
    store = gateway.store as PostgresStore;
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const bootstrap = (sourceId: string) =>
    gateway.gql('mutation($s: ID!) { bootstrapSource(sourceId: $s) { id schemaName migrationVersion } }', { s: sourceId });

  it('gives ids that differ only in case, dots, dashes or length schemas of their own', async () => {
    const long = 'L'.repeat(60) + 'abcd';
    const ids = ['a_b', 'a.b', 'a-b', 'A_B', long, `${long.slice(0, 63)}e`];
    const schemas = new Set<string>();
    for (const id of ids) {
      const response = await bootstrap(id);
      expect(response.body.errors).toBeUndefined();
      const schemaName: string = response.body.data.bootstrapSource.schemaName;
      expect(schemaName).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
      expect(Buffer.byteLength(schemaName)).toBeLessThanOrEqual(63);
      schemas.add(schemaName);
    }
    expect(schemas.size).toBe(ids.length);
    const { rows } = await store.pool.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ANY($1)`, [[...schemas]]);
    expect(rows[0].n).toBe(ids.length);
  });

  it('refuses a source whose schema name is already taken by another source', async () => {
    await bootstrap('x.y');
    const taken = schemaNameFor('x.y', 'sx');
    const squatter = taken.slice('sx_'.length);
    const response = await bootstrap(squatter);
    expect(response.status).toBe(409);
    expect(response.body.errors?.[0].extensions?.code).toBe('SCHEMA_NAME_TAKEN');
    const { rows } = await store.pool.query('SELECT source_id FROM public.sx_source_registry WHERE schema_name = $1', [taken]);
    expect(rows).toEqual([{ source_id: 'x.y' }]);
  });

  it('bootstraps idempotently, also when two run at once', async () => {
    const [one, two] = await Promise.all([bootstrap('twice'), bootstrap('twice')]);
    expect(one.body.errors).toBeUndefined();
    expect(two.body.errors).toBeUndefined();
    expect(one.body.data.bootstrapSource.schemaName).toBe(two.body.data.bootstrapSource.schemaName);
    const again = await bootstrap('twice');
    expect(again.body.data.bootstrapSource).toEqual(one.body.data.bootstrapSource);
    const { rows } = await store.pool.query(`SELECT count(*)::int AS n FROM public.sx_source_registry WHERE source_id = 'twice'`);
    expect(rows[0].n).toBe(1);
    // Two different sources at once, on a fresh database, also serialise instead of colliding.
    const many = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((s) => bootstrap(s)));
    for (const response of many) expect(response.body.errors).toBeUndefined();
  });

  it('keeps the search_path transaction-local and leaks no pooled client', async () => {
    await uploadCsv(gateway, 'pathcheck', { consolidated: libraryCsv('pathcheck', 3) });
    for (let i = 0; i < 5; i += 1) {
      const response = await gateway.gql(PAGE, { sourceId: 'pathcheck' });
      expect(response.body.errors).toBeUndefined();
    }
    const meta = await gateway.gql(`mutation { setItemMeta(sourceId: "pathcheck", itemId: "v1", input: { rating: 3 }) { rating } }`);
    expect(meta.body.errors).toBeUndefined();
    // Every pooled connection of both pools (reads, writes), once back, has the server default search_path.
    for (const pool of [store.pool, store.writePool]) {
      expect(pool.totalCount).toBeGreaterThan(0);
      const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
      try {
        for (const client of clients) {
          const { rows } = await client.query('SHOW search_path');
          expect(rows[0].search_path).toBe('"$user", public');
        }
      } finally {
        for (const client of clients) client.release();
      }
      expect(pool.waitingCount).toBe(0);
      expect(pool.idleCount).toBe(pool.totalCount);
    }
  });

  it('releases the binding when an operation fails half way', async () => {
    await uploadCsv(gateway, 'halfway', { consolidated: libraryCsv('halfway', 3) });
    const response = await gateway.gql(`{ ok: source(sourceId: "halfway") { items { totalCount } }
                                          bad: source(sourceId: "not_there") { items { totalCount } } }`);
    expect(response.body.errors?.[0].extensions?.code).toBe('SOURCE_NOT_MAPPED');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.pool.idleCount).toBe(store.pool.totalCount);
  });

  it('answers SOURCE_NOT_MAPPED when the schema vanished under a cached mapping, and recovers on bootstrap', async () => {
    await uploadCsv(gateway, 'vanishing', { consolidated: libraryCsv('vanishing', 2) });
    const warm = await gateway.gql(PAGE, { sourceId: 'vanishing' });
    expect(warm.body.data.source.items.totalCount).toBe(2);
    // Another gateway process deleting the source: this process still has the mapping cached.
    await store.pool.query('DROP SCHEMA sx_vanishing CASCADE');
    const gone = await gateway.gql(PAGE, { sourceId: 'vanishing' });
    expect(gone.status).toBe(400);
    expect(gone.body.errors?.[0].extensions?.code).toBe('SOURCE_NOT_MAPPED');
    expect(JSON.stringify(gone.body)).not.toMatch(/relation|does not exist/);
    expect((await bootstrap('vanishing')).body.errors).toBeUndefined();
    const back = await gateway.gql(PAGE, { sourceId: 'vanishing' });
    expect(back.body.data.source.items.totalCount).toBe(0);
  });

  it('runs tenant queries in the source schema, with the registry naming it', async () => {
    const response = await gateway.gql('{ source(sourceId: "pathcheck") { backend { backend schema searchPath } source { schemaName } } }');
    expect(response.body.data.source.backend).toEqual({
      backend: 'postgres_primary',
      schema: 'sx_pathcheck',
      searchPath: '"sx_pathcheck", public',
    });
    const { rows } = await store.pool.query('SELECT count(*)::int AS n FROM sx_pathcheck.videos');
    expect(rows[0].n).toBe(3);
  });
});
