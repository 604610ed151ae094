import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordItemCount } from '../src/queries/itemCount.js';
import { replaceSourceRows } from '../src/queries/sourceRows.js';
import type { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

const TOTAL = `query Total($sourceId: ID!, $filter: ItemFilter) {
  source(sourceId: $sourceId) { items(first: 1, filter: $filter) { totalCount } }
}`;

/** The unfiltered (or filtered) totalCount over GraphQL. */
async function totalOf(gateway: TestGateway, sourceId: string, filter?: Record<string, unknown>): Promise<number> {
  const response = await gateway.gql(TOTAL, { sourceId, filter });
  expect(response.body.errors).toBeUndefined();
  return response.body.data.source.items.totalCount as number;
}

/** The plugin's table total over REST. */
async function restTotalOf(gateway: TestGateway, sourceId: string): Promise<number> {
  const response = await fetch(`${gateway.url}/items?source_id=${sourceId}&limit=1`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { total: number }).total;
}

describe.each(STORE_KINDS)('recorded item counts (%s)', (kind) => {
  let gateway: TestGateway;
  const source = 'counted';

  const total = (sourceId: string, filter?: Record<string, unknown>) => totalOf(gateway, sourceId, filter);
  const restTotal = (sourceId: string) => restTotalOf(gateway, sourceId);
  const recorded = (sourceId: string) =>
    gateway.store.withTenant(sourceId, (db) => db.one<{ items: number }>(sql`SELECT items FROM item_counts WHERE source_id = ${sourceId}`));

  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    const result = await uploadCsv(gateway, source, { consolidated: libraryCsv(source, 30) });
    expect(result.body.errors).toBeUndefined();
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('answers an unfiltered total from the recorded count, and counts again once an import wrote newer items', async () => {
    // The import recorded its count in its own transaction.
    expect(Number((await recorded(source))?.items)).toBe(30);
    expect(await total(source)).toBe(30);
    expect(await gateway.store.withTenant(source, (db) => recordItemCount(db))).toBe(30);
    expect(Number((await recorded(source))?.items)).toBe(30);

    // The total answers with the record while it holds: made visibly wrong here, it shows through both faces.
    await gateway.store.withTenant(source, (db) => db.run(sql`UPDATE item_counts SET items = 999 WHERE source_id = ${source}`));
    expect(await total(source)).toBe(999);
    expect(await restTotal(source)).toBe(999);
    // A filter is always counted.
    expect(await total(source, { authorUniqueIds: ['author1'] })).toBe(10);
    expect(await total(source, { q: '' })).toBe(999);

    // An import stamps what it writes with its own time: a count recorded before it is not used after it, whether
    // the import recorded a new one or not.
    const again = await uploadCsv(gateway, source, { consolidated: libraryCsv(source, 40, 'h2') });
    expect(again.body.errors).toBeUndefined();
    expect(await total(source)).toBe(40);
    expect(await restTotal(source)).toBe(40);
    expect(Number((await recorded(source))?.items)).toBe(40);
    expect(await gateway.store.withTenant(source, (db) => recordItemCount(db))).toBe(40);
    expect(await total(source)).toBe(40);
  });

  it('records the count of a source whose rows a copy replaced', async () => {
    const target = 'count_copy';
    const copied = await total(source);
    const created = await gateway.gql('mutation($s: ID!) { bootstrapSource(sourceId: $s) { id } }', { s: target });
    expect(created.body.errors).toBeUndefined();
    // An admin task's binding (no operation): the copy reads through a cursor, which needs its transaction.
    const from = await gateway.store.openTenant(source);
    try {
      await gateway.store.withTenant(target, (to) => replaceSourceRows(from.db, to, { jobIds: 'renumber' }));
    } finally {
      await from.finish(true);
    }
    expect(Number((await recorded(target))?.items)).toBe(copied);
    expect(await total(target)).toBe(copied);
  });

  it('answers 0 for a source without items, recorded or not', async () => {
    const empty = 'count_empty';
    const created = await gateway.gql('mutation($s: ID!) { bootstrapSource(sourceId: $s) { id } }', { s: empty });
    expect(created.body.errors).toBeUndefined();
    expect(await total(empty)).toBe(0);
    expect(await gateway.store.withTenant(empty, (db) => recordItemCount(db))).toBe(0);
    expect(await total(empty)).toBe(0);
  });
});

// SQLite applies its whole layout at every start, so only PostgreSQL has schemas behind.
describe('recorded item counts on a schema from before them (postgres)', () => {
  let gateway: TestGateway;
  const total = (sourceId: string) => totalOf(gateway, sourceId);
  const restTotal = (sourceId: string) => restTotalOf(gateway, sourceId);

  beforeAll(async () => {
    gateway = await startTestGateway('postgres');
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('counts the items, and the import records none', async () => {
    const behind = 'count_behind';
    // 005: the last layout without item_counts; a schema behind still serves.
    await (gateway.store as PostgresStore).registry.bootstrap({ sourceId: behind }, { targetVersion: 5 });
    const result = await uploadCsv(gateway, behind, { consolidated: libraryCsv(behind, 12) });
    expect(result.body.errors).toBeUndefined();
    expect(await total(behind)).toBe(12);
    expect(await restTotal(behind)).toBe(12);
    const table = await gateway.store.withTenant(behind, (db) => db.one<{ found: string | null }>(sql`SELECT to_regclass('item_counts')::text AS found`));
    expect(table?.found).toBeNull();
  });
});
