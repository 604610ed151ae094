import Database from 'better-sqlite3';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCsvRows } from '../src/import/csvRecords.js';
import { FIELD_RULES, compileRowRules } from '../src/import/fieldRules.js';
import type { TenantDb } from '../src/interfaces.js';
import { STAGED_COLUMNS, createStaging, stageRows } from '../src/queries/importMerge.js';
import { mergeStagedSqlite } from '../src/queries/importMergeSqlite.js';
import { tableChecksums } from '../src/queries/tableChecksums.js';
import { AUTHORS_HEADER, CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

// A SQLite import keeps the full-text index in bulk, with its triggers set aside for the merge (and, on a large
// load, the secondary indexes too). Searches must find exactly what the rows hold after a first import, a
// re-import and a failed one, and the triggers and indexes must be back as layout.sql defines them.

const SEARCH = `query Search($sourceId: ID!, $query: String!) {
  source(sourceId: $sourceId) { search(query: $query, first: 2000) { totalCount nodes { id } } }
}`;

/** A consolidated row: id, author id, handle, name, caption, hash. */
type Row = [string, string, string, string, string, string];
const row = (i: number, caption = `caption number ${i}`, hash = `h-${i}`): Row =>
  [`v${i}`, `a${i % 3}`, `handle${i % 3}`, `Name ${i % 3}`, caption, hash];
const consolidated = (rows: Row[]) => csv(CONSOLIDATED_HEADER, rows);

/** What the layout defines on videos and csv_consolidated_raw: an import may set it aside, never lose it. */
function schemaOf(file: string): string[] {
  const connection = new Database(file, { readonly: true });
  try {
    return connection
      .prepare(`SELECT type || ' ' || name || ': ' || sql FROM sqlite_master
                 WHERE tbl_name IN ('videos', 'csv_consolidated_raw') AND sql IS NOT NULL ORDER BY type, name`)
      .pluck()
      .all() as string[];
  } finally {
    connection.close();
  }
}

/** FTS5's own check of an external-content index against the rows of its content table; throws on a difference. */
function checkSearchIndex(file: string): void {
  const connection = new Database(file);
  try {
    connection.exec(`INSERT INTO videos_fts (videos_fts, rank) VALUES ('integrity-check', 1)`);
  } finally {
    connection.close();
  }
}

/** A consolidated file staged the way importCsv stages it, for driving the merge directly. */
async function stageConsolidated(db: TenantDb, text: string): Promise<void> {
  await createStaging(db);
  const batches = async function* () {
    let batch: unknown[][] = [];
    let seq = 0;
    let rules: ReturnType<typeof compileRowRules> | null = null;
    const rows = readCsvRows(Readable.from([text]), {
      label: 'consolidated',
      requiredColumns: FIELD_RULES.consolidated.required,
      onHeader: (header) => (rules = compileRowRules('consolidated', header, STAGED_COLUMNS.stage_consolidated)),
    });
    for await (const values of rows) {
      batch.push(rules!(values, ++seq));
      if (batch.length === 500) {
        yield batch;
        batch = [];
      }
    }
    yield batch;
  };
  await stageRows(db, 'stage_consolidated', batches());
}

describe('full-text index across SQLite imports', () => {
  let gateway: TestGateway;
  let file: string;
  let layout: string[];

  beforeAll(async () => {
    gateway = await startTestGateway('sqlite');
    file = gateway.databaseUrl;
    layout = schemaOf(file);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  async function found(sourceId: string, query: string): Promise<{ totalCount: number; ids: string[] }> {
    const response = await gateway.gql(SEARCH, { sourceId, query });
    expect(response.body.errors).toBeUndefined();
    const { totalCount, nodes } = response.body.data.source.search as { totalCount: number; nodes: { id: string }[] };
    return { totalCount, ids: nodes.map((node) => node.id).sort() };
  }
  const search = async (sourceId: string, query: string) => (await found(sourceId, query)).ids;

  async function upload(sourceId: string, files: { consolidated: string; authors?: string }) {
    const response = await uploadCsv(gateway, sourceId, files);
    expect(response.body.errors).toBeUndefined();
    return response.body.data.importCsv as { inserted: number; updated: number; skipped: number };
  }

  it('finds captions, handles and names after a first import', async () => {
    const counts = await upload('fts', {
      consolidated: consolidated([row(1, 'walnut bread at dawn'), row(2, 'a walnut tart'), row(3, 'harbour lights'), row(4)]),
    });
    expect(counts).toMatchObject({ inserted: 4, updated: 0, skipped: 0 });
    expect(await search('fts', 'walnut')).toEqual(['v1', 'v2']);
    expect(await search('fts', 'harbour')).toEqual(['v3']);
    expect(await search('fts', 'handle1')).toEqual(['v1', 'v4']);
    expect(await search('fts', 'name 2')).toEqual(['v2']);
    checkSearchIndex(file);
    expect(schemaOf(file)).toEqual(layout);
  });

  it('follows changed, unchanged and new rows on a re-import', async () => {
    const authors = csv(AUTHORS_HEADER, [['a1', 'renamedhandle', 'Renamed Person', '10', '20', '3', '', 'no']]);
    const rows = [
      row(1, 'walnut bread at dawn'), // same row, but the authors file renames its author
      row(2, 'a hazelnut tart', 'h-2-edited'), // caption changed
      row(3, 'harbour lights'), // unchanged
      row(4), // same row, same renamed author as v1
      row(5, 'another walnut loaf'), // new
    ];
    const counts = await upload('fts', { consolidated: consolidated(rows), authors });
    expect(counts).toMatchObject({ inserted: 1, updated: 3, skipped: 1 });
    expect(await search('fts', 'walnut')).toEqual(['v1', 'v5']);
    expect(await search('fts', 'hazelnut')).toEqual(['v2']);
    expect(await search('fts', 'tart')).toEqual(['v2']);
    expect(await search('fts', 'harbour')).toEqual(['v3']);
    // v1 and v4 now carry the authors file's handle and name; their old ones are gone from the index.
    expect(await search('fts', 'renamedhandle')).toEqual(['v1', 'v4']);
    expect(await search('fts', 'renamed person')).toEqual(['v1', 'v4']);
    expect(await search('fts', 'handle1')).toEqual([]);
    checkSearchIndex(file);

    const again = await upload('fts', { consolidated: consolidated(rows), authors });
    expect(again).toMatchObject({ inserted: 0, updated: 0, skipped: 5 });
    expect(await search('fts', 'walnut')).toEqual(['v1', 'v5']);
    checkSearchIndex(file);
    expect(schemaOf(file)).toEqual(layout);
  });

  it('changes nothing, the index included, when a file is refused after a good prefix', async () => {
    const before = await gateway.store.withTenant('fts', (db) => tableChecksums(db));
    const good = consolidated([...Array.from({ length: 600 }, (_, k) => row(100 + k, `pumpkin soup ${k}`)), row(2, 'pumpkin pie')]);
    const response = await uploadCsv(gateway, 'fts', { consolidated: `${good}v7,a1,handle1,"an unclosed quote\n` });
    expect(response.body.errors?.[0]?.extensions?.code).toMatch(/^CSV_/);
    expect(await search('fts', 'pumpkin')).toEqual([]);
    expect(await search('fts', 'hazelnut')).toEqual(['v2']);
    expect(await gateway.store.withTenant('fts', (db) => tableChecksums(db))).toEqual(before);
    checkSearchIndex(file);
    expect(schemaOf(file)).toEqual(layout);
  });

  it('leaves the triggers keeping the index for writes after an import', async () => {
    const connection = new Database(file);
    try {
      connection.prepare(`UPDATE videos SET caption = 'zucchini fritters' WHERE source_id = 'fts' AND id = 'v3'`).run();
    } finally {
      connection.close();
    }
    expect(await search('fts', 'zucchini')).toEqual(['v3']);
    expect(await search('fts', 'harbour')).toEqual([]);
    checkSearchIndex(file);
  });

  it('sets the triggers aside once per merge and fills the index with one statement', async () => {
    gateway.statements.length = 0;
    await upload('few', { consolidated: consolidated([row(1, 'fig'), row(2, 'fig')]) });
    const texts = gateway.statements.map((event) => event.text);
    expect(texts.filter((text) => /DROP TRIGGER/.test(text))).toHaveLength(3);
    expect(texts.filter((text) => /^\s*INSERT INTO videos_fts \(rowid/.test(text))).toHaveLength(1);
    expect(texts.filter((text) => /DROP INDEX/.test(text))).toHaveLength(0);
    expect(await search('few', 'fig')).toEqual(['v1', 'v2']);
  });

  describe('a large import, which builds the secondary indexes afterwards', () => {
    const rows = 25_000;
    const big = (caption: (i: number) => string, hash = (i: number) => `h-${i}`) =>
      consolidated(Array.from({ length: rows }, (_, k) => row(k + 1, caption(k + 1), hash(k + 1))));

    it('rolls back rows, index entries, indexes and triggers when the merge fails at its last step', async () => {
      await gateway.store.bootstrapSource({ sourceId: 'bulk' });
      const before = await gateway.store.withTenant('bulk', (db) => tableChecksums(db));
      const seen: string[] = [];
      const failing = (db: TenantDb): TenantDb => ({
        ...db,
        run: (query) => {
          seen.push(query.sql);
          if (query.sql.includes('CREATE TRIGGER')) throw new Error('injected failure before the triggers are back');
          return db.run(query);
        },
      });
      await expect(
        gateway.store.withImport('bulk', async (db, runAtomically) => {
          await stageConsolidated(db, big((i) => `rhubarb crumble ${i}`));
          await runAtomically(() => mergeStagedSqlite(failing(db), new Date().toISOString()));
        }),
      ).rejects.toThrow('injected failure');
      // It failed on the bulk path, after the indexes were dropped, rebuilt, and the index filled.
      expect(seen.some((text) => /DROP INDEX/.test(text))).toBe(true);
      expect(seen.some((text) => /^\s*INSERT INTO videos_fts \(rowid/.test(text))).toBe(true);
      expect(await search('bulk', 'rhubarb')).toEqual([]);
      expect(await search('fts', 'hazelnut')).toEqual(['v2']);
      expect(await gateway.store.withTenant('bulk', (db) => tableChecksums(db))).toEqual(before);
      checkSearchIndex(file);
      expect(schemaOf(file)).toEqual(layout);
    });

    it('finds every row after it, and leaves the other sources as they were', async () => {
      gateway.statements.length = 0;
      const counts = await upload('bulk', { consolidated: big((i) => (i % 1000 === 0 ? `quince jam ${i}` : `caption number ${i}`)) });
      expect(counts).toMatchObject({ inserted: rows, updated: 0, skipped: 0 });
      expect(gateway.statements.some((event) => /DROP INDEX/.test(event.text))).toBe(true);
      expect((await found('bulk', 'quince')).totalCount).toBe(rows / 1000);
      expect((await found('bulk', 'handle2')).totalCount).toBe(Math.floor((rows + 1) / 3));
      expect(await search('fts', 'walnut')).toEqual(['v1', 'v5']);
      expect(await search('fts', 'quince')).toEqual([]);
      checkSearchIndex(file);
      expect(schemaOf(file)).toEqual(layout);
    });

    it('follows a re-import that changes every row', async () => {
      const counts = await upload('bulk', { consolidated: big((i) => `damson ${i}`, (i) => `h-${i}-edited`) });
      expect(counts).toMatchObject({ inserted: 0, updated: rows, skipped: 0 });
      expect((await found('bulk', 'damson')).totalCount).toBe(rows);
      expect(await search('bulk', 'quince')).toEqual([]);
      expect(await search('bulk', 'damson 12345')).toEqual(['v12345']);
      checkSearchIndex(file);
      expect(schemaOf(file)).toEqual(layout);
    });
  });
});
