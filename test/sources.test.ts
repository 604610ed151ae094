import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

const SOURCE_FIELDS = 'id label kind description enabled isDefault schemaName createdAt updatedAt';

describe.each(STORE_KINDS)('source management (%s)', (kind) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const code = (response: { body: { errors?: { extensions?: { code?: string } }[] } }) => response.body.errors?.[0]?.extensions?.code;
  const sources = async () => (await gateway.gql(`{ sources { ${SOURCE_FIELDS} } }`)).body.data.sources as any[];

  it('creates and updates sources; the first one becomes the default and is listed first', async () => {
    const created = await gateway.gql(`mutation { upsertSource(input: { sourceId: "zeta", label: "Zeta", kind: "profile" }) { ${SOURCE_FIELDS} } }`);
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data.upsertSource).toMatchObject({ id: 'zeta', label: 'Zeta', kind: 'profile', enabled: true, isDefault: true });
    expect(created.body.data.upsertSource.schemaName).toBe(kind === 'postgres' ? 'sx_zeta' : null);

    await gateway.gql('mutation { bootstrapSource(sourceId: "alpha") { id } }');
    const updated = await gateway.gql(`mutation { upsertSource(input: { sourceId: "alpha", description: "second", enabled: false }) { ${SOURCE_FIELDS} } }`);
    // Fields not given keep their value: the label stays the one bootstrap chose.
    expect(updated.body.data.upsertSource).toMatchObject({ id: 'alpha', label: 'alpha', description: 'second', enabled: false, isDefault: false });
    const list = await sources();
    expect(list.map((s) => s.id)).toEqual(['zeta', 'alpha']);
    expect(Date.parse(list[0].createdAt)).not.toBeNaN();
  });

  it('makes exactly one source the default', async () => {
    const activated = await gateway.gql('mutation { activateSource(sourceId: "alpha") { id isDefault } }');
    expect(activated.body.data.activateSource).toEqual({ id: 'alpha', isDefault: true });
    const list = await sources();
    expect(list.filter((s) => s.isDefault).map((s) => s.id)).toEqual(['alpha']);
    expect(list[0].id).toBe('alpha');
    const unknown = await gateway.gql('mutation { activateSource(sourceId: "nobody") { id } }');
    expect(code(unknown)).toBe('SOURCE_NOT_MAPPED');
  });

  it('refuses to delete the default source and a source holding items, and deletes an empty one', async () => {
    const defaultSource = await gateway.gql('mutation { deleteSource(sourceId: "alpha") { deleted } }');
    expect(code(defaultSource)).toBe('SOURCE_IS_DEFAULT');

    await uploadCsv(gateway, 'full', { consolidated: libraryCsv('full', 3) });
    const full = await gateway.gql('mutation { deleteSource(sourceId: "full") { deleted } }');
    expect(code(full)).toBe('SOURCE_HAS_DATA');
    expect((await gateway.gql('{ source(sourceId: "full") { stats { items } } }')).body.data.source.stats.items).toBe(3);

    // Warm the registry cache, then delete: the next request must not find the source.
    expect((await gateway.gql('{ source(sourceId: "zeta") { sourceId } }')).body.errors).toBeUndefined();
    const deleted = await gateway.gql('mutation { deleteSource(sourceId: "zeta") { sourceId deleted } }');
    expect(deleted.body.data.deleteSource).toEqual({ sourceId: 'zeta', deleted: true });
    const after = await gateway.gql('{ source(sourceId: "zeta") { sourceId } }');
    expect(after.status).toBe(400);
    expect(code(after)).toBe('SOURCE_NOT_MAPPED');
    expect((await sources()).map((s) => s.id)).not.toContain('zeta');
    if (kind === 'postgres') {
      const store = gateway.store as PostgresStore;
      const { rows } = await store.pool.query(
        `SELECT (SELECT count(*)::int FROM pg_namespace WHERE nspname = 'sx_zeta') AS schemas,
                (SELECT count(*)::int FROM public.sx_source_registry WHERE source_id = 'zeta') AS mappings`,
      );
      expect(rows[0]).toEqual({ schemas: 0, mappings: 0 });
    }
  });
});
