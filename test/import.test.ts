import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv, type ImportProgress } from '../src/import/importCsv.js';
import sql from 'sql-template-tag';
import { loadConfig } from '../src/config.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { STORE_KINDS, createTestDatabase, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

const ITEMS = `query Items($sourceId: ID!, $first: Int) {
  source(sourceId: $sourceId) {
    items(first: $first, order: AUTHOR) {
      totalCount
      nodes { id authorUniqueId authorName caption bookmarked bookmarkTimestamp followers hearts isPrivate videoPath coverPath csvRowHash
              meta { rating status statuses tags notes authorLinks } }
    }
  }
}`;

describe.each(STORE_KINDS)('CSV import (%s)', (kind) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  async function items(sourceId: string) {
    const response = await gateway.gql(ITEMS, { sourceId, first: 100 });
    expect(response.body.errors).toBeUndefined();
    return response.body.data.source.items as { totalCount: number; nodes: any[] };
  }

  it('inserts, skips unchanged rows, updates changed ones, and re-import changes nothing', async () => {
    const first = csv(CONSOLIDATED_HEADER, [
      ['1', 'a1', 'ann', 'Ann', 'first caption', 'h1'],
      ['2', 'a1', 'ann', 'Ann', 'second caption', 'h2'],
      ['3', 'a2', 'bob', 'Bob', 'third caption', 'h3'],
    ]);
    const one = await uploadCsv(gateway, 'counts', { consolidated: first });
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data.importCsv).toMatchObject({ inserted: 3, updated: 0, skipped: 0 });

    const again = await uploadCsv(gateway, 'counts', { consolidated: first });
    expect(again.body.data.importCsv).toMatchObject({ inserted: 0, updated: 0, skipped: 3 });

    const changed = csv(CONSOLIDATED_HEADER, [
      ['1', 'a1', 'ann', 'Ann', 'first caption', 'h1'],
      ['2', 'a1', 'ann', 'Ann', 'second caption, edited', 'h2-b'],
      ['3', 'a2', 'bob', 'Bob', 'third caption', 'h3'],
      ['4', 'a2', 'bob', 'Bob', 'fourth caption', 'h4'],
    ]);
    const three = await uploadCsv(gateway, 'counts', { consolidated: changed });
    expect(three.body.data.importCsv).toMatchObject({ inserted: 1, updated: 1, skipped: 2 });
    const list = await items('counts');
    expect(list.totalCount).toBe(4);
    expect(list.nodes.find((n) => n.id === '2').caption).toBe('second caption, edited');
  });

  it('keeps the last row of a duplicated id, skips rows without an id, and counts like a row-by-row import', async () => {
    const file = csv(CONSOLIDATED_HEADER, [
      ['10', 'a1', 'ann', 'Ann', 'early version', 'x1'],
      ['', 'a1', 'ann', 'Ann', 'row without id', 'x0'],
      ['11', 'a1', 'ann', 'Ann', 'other', 'x2'],
      ['10', 'a1', 'ann', 'Ann', 'late version', 'x3'],
      ['10', 'a1', 'ann', 'Ann', 'late version', 'x3'],
    ]);
    const result = await uploadCsv(gateway, 'dupes', { consolidated: file });
    expect(result.body.errors).toBeUndefined();
    // 10: inserted, then updated (x1→x3), then skipped (x3 again); 11 inserted; the id-less row skipped.
    expect(result.body.data.importCsv).toMatchObject({ inserted: 2, updated: 1, skipped: 2, withoutId: 1 });
    const list = await items('dupes');
    expect(list.totalCount).toBe(2);
    expect(list.nodes.find((n) => n.id === '10').caption).toBe('late version');
  });

  it('reads a BOM, CRLF line ends and multi-line quoted captions, and joins authors and bookmarks', async () => {
    const consolidated =
      '\uFEFF' +
      csv(
        [...CONSOLIDATED_HEADER, 'platform', 'video_path'],
        [
          ['20', 'a9', 'consolidated_handle', 'Consolidated Name', 'line one\r\nline two, with "quotes"', '', '', ''],
          ['21', '', 'solo', 'Solo', 'no author id', 'k21', 'YouTube', 'Custom/21.mp4'],
        ],
        '\r\n',
      );
    const authors = csv(AUTHORS_HEADER, [['a9', 'real_handle', 'Real Name', '12.0', 'n/a', '7', 'sig, "quoted"', 'Yes']], '\r\n');
    const bookmarks = csv(BOOKMARKS_HEADER, [['20', '2025-03-14T09:26:53Z']], '\r\n');
    const result = await uploadCsv(gateway, 'oddities', { consolidated, authors, bookmarks });
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.importCsv).toMatchObject({ inserted: 2, rows: { consolidated: 2, authors: 1, bookmarks: 1 } });
    const list = await items('oddities');
    const twenty = list.nodes.find((n) => n.id === '20');
    expect(twenty).toMatchObject({
      authorUniqueId: 'real_handle',
      authorName: 'Real Name',
      caption: 'line one\r\nline two, with "quotes"',
      bookmarked: true,
      bookmarkTimestamp: '2025-03-14T09:26:53Z',
      followers: 12,
      hearts: null,
      isPrivate: true,
      videoPath: 'Favorites/videos/20.mp4',
      coverPath: 'Favorites/covers/20.jpg',
    });
    // No hash column value: a stable SHA-256 of the row, the same on every import.
    expect(twenty.csvRowHash).toMatch(/^[0-9a-f]{64}$/);
    const twentyOne = list.nodes.find((n) => n.id === '21');
    expect(twentyOne).toMatchObject({ bookmarked: false, videoPath: 'Custom/21.mp4', coverPath: 'Following/covers/21.jpg' });

    const again = await uploadCsv(gateway, 'oddities', { consolidated, authors, bookmarks });
    expect(again.body.data.importCsv).toMatchObject({ inserted: 0, updated: 0, skipped: 2 });
  });

  it('never overwrites user meta on re-import', async () => {
    const file = csv(CONSOLIDATED_HEADER, [['30', 'a1', 'ann', 'Ann', 'caption', 'm1']]);
    await uploadCsv(gateway, 'metasafe', { consolidated: file });
    const set = await gateway.gql(
      `mutation { setItemMeta(sourceId: "metasafe", itemId: "30", input: { rating: 4, status: "reviewing", tags: ["a", "b"], notes: "keep me" }) { rating } }`,
    );
    expect(set.body.errors).toBeUndefined();
    const changed = csv(CONSOLIDATED_HEADER, [['30', 'a1', 'ann', 'Ann', 'caption changed', 'm2']]);
    const result = await uploadCsv(gateway, 'metasafe', { consolidated: changed });
    expect(result.body.data.importCsv).toMatchObject({ updated: 1 });
    const list = await items('metasafe');
    expect(list.nodes[0].caption).toBe('caption changed');
    expect(list.nodes[0].meta).toMatchObject({ rating: 4, status: 'reviewing', tags: ['a', 'b'], notes: 'keep me' });
  });

  it('refuses a file without the required column and leaves the source as it was', async () => {
    const good = csv(CONSOLIDATED_HEADER, [['40', 'a1', 'ann', 'Ann', 'kept', 'g1']]);
    await uploadCsv(gateway, 'atomic', { consolidated: good });
    const missing = csv(['video', 'caption'], [['41', 'x']]);
    const refused = await uploadCsv(gateway, 'atomic', { consolidated: missing });
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0].extensions?.code).toBe('CSV_MISSING_COLUMN');
    expect(refused.body.errors?.[0].message).toContain('c_videos_id');

    // A broken row late in a file: the rows before it must not land either.
    const rows = Array.from({ length: 1200 }, (_, i) => `${1000 + i},a1,ann,Ann,row ${i},r${i}`);
    const broken = `${CONSOLIDATED_HEADER.join(',')}\n${rows.join('\n')}\n"1999,a1,ann,Ann,unterminated quote,r\n`;
    const failed = await uploadCsv(gateway, 'atomic', { consolidated: broken });
    expect(failed.status).toBe(400);
    expect(failed.body.errors?.[0].extensions?.code).toBe('CSV_UNTERMINATED_QUOTE');
    const list = await items('atomic');
    expect(list.totalCount).toBe(1);
    expect(list.nodes[0].caption).toBe('kept');
  });

  it('refuses invalid UTF-8 with CSV_ENCODING', async () => {
    const bytes = Buffer.concat([Buffer.from(`${CONSOLIDATED_HEADER.join(',')}\n50,a1,ann,Ann,`), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from(',e1\n')]);
    const result = await uploadCsv(gateway, 'encoding', { consolidated: new Uint8Array(bytes) });
    expect(result.body.errors?.[0].extensions?.code).toBe('CSV_ENCODING');
  });

  it('carries tabs, backslashes, \N and line breaks in values through staging unchanged', async () => {
    const awkward = ['tab\there', 'back\\slash \\N and \\t', '\\N', 'line one\nline two\r\nline three', 'ends with backslash\\'];
    const file = csv(CONSOLIDATED_HEADER, awkward.map((caption, i) => [`w${i}`, 'a1', 'ann', 'Ann\tTab', caption, `hw${i}`]));
    const result = await uploadCsv(gateway, 'awkward', { consolidated: file });
    expect(result.body.errors).toBeUndefined();
    const list = await items('awkward');
    expect(list.nodes.map((n) => n.caption).sort()).toEqual([...awkward].sort());
    expect(new Set(list.nodes.map((n) => n.authorName))).toEqual(new Set(['Ann\tTab']));
    const again = await uploadCsv(gateway, 'awkward', { consolidated: file });
    expect(again.body.data.importCsv).toMatchObject({ inserted: 0, updated: 0, skipped: awkward.length });
  });

  it('reports progress in rows and bytes, ending at the whole file', async () => {
    const rows = Array.from({ length: 1_234 }, (_, i) => [`p${i}`, 'a1', 'ann', 'Ann', `caption ${i}`, `hp${i}`]);
    const file = csv(CONSOLIDATED_HEADER, rows);
    const seen: ImportProgress[] = [];
    const summary = await importCsv(gateway.store, 'progress', { consolidated: () => Readable.from([Buffer.from(file)]) }, { create: true, onProgress: (p) => seen.push(p) });
    expect(summary.inserted).toBe(1_234);
    const staged = seen.filter((p) => p.file === 'consolidated');
    expect(staged.length).toBeGreaterThan(2);
    expect(staged.map((p) => p.rows)).toEqual([...staged.map((p) => p.rows)].sort((a, b) => a - b));
    expect(staged.at(-1)).toMatchObject({ rows: 1_234, bytes: Buffer.byteLength(file) });
    expect(seen.at(-1)?.file).toBe('merge');
  });
});


describe('a large first import (postgres)', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway('postgres');
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const indexes = async (schema: string) => {
    const { rows } = await (gateway.store as PostgresStore).pool.query<{ name: string; def: string }>(
      `SELECT indexname AS name, replace(indexdef, $1, 'S') AS def FROM pg_indexes WHERE schemaname = $2 ORDER BY 1`,
      [`${schema}.`, schema],
    );
    return rows;
  };

  it('rebuilds the secondary indexes after loading an empty source, leaving the same indexes as bootstrap', async () => {
    const bootstrapped = await gateway.gql(`mutation { bootstrapSource(sourceId: "layout") { id } }`);
    expect(bootstrapped.body.errors).toBeUndefined();
    const rows = Array.from({ length: 21_000 }, (_, i) => [`b${i}`, `a${i % 50}`, `author${i % 50}`, 'Name', `caption ${i} porto`, `hb${i}`]);
    const statements: string[] = [];
    gateway.statements.length = 0;
    const result = await uploadCsv(gateway, 'bulk', { consolidated: csv(CONSOLIDATED_HEADER, rows) });
    statements.push(...gateway.statements.filter((e) => e.sourceId === 'bulk').map((e) => e.text));
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.importCsv).toMatchObject({ inserted: 21_000, updated: 0, skipped: 0 });
    expect(statements.some((t) => t.startsWith('DROP INDEX'))).toBe(true);
    expect(await indexes('sx_bulk')).toEqual(await indexes('sx_layout'));
    // Analyzed in the import's transaction: the planner knows the table's size before autovacuum comes by.
    const analyzed = await (gateway.store as PostgresStore).pool.query<{ columns: number }>(
      "SELECT count(*)::int AS columns FROM pg_stats WHERE schemaname = 'sx_bulk' AND tablename = 'videos'",
    );
    expect(analyzed.rows[0]!.columns).toBeGreaterThan(10);
    const search = await gateway.gql(`{ source(sourceId: "bulk") { search(query: "porto", first: 1) { mode totalCount } } }`);
    expect(search.body.data.source.search).toEqual({ mode: 'FULL_TEXT', totalCount: 21_000 });

    // The second import finds rows in place and maintains the indexes as it goes.
    gateway.statements.length = 0;
    const again = await uploadCsv(gateway, 'bulk', { consolidated: csv(CONSOLIDATED_HEADER, rows) });
    expect(again.body.data.importCsv).toMatchObject({ inserted: 0, skipped: 21_000 });
    expect(gateway.statements.some((e) => e.text.startsWith('DROP INDEX'))).toBe(false);
  });
});

describe('a slow upload (postgres)', () => {
  it('is not cut short by the per-request statement timeout, which still bounds reads', async () => {
    const database = await createTestDatabase();
    const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url });
    const store = new PostgresStore({ dsn: database.url, config, statementTimeoutMs: 300 });
    try {
      await store.prepare();
      const rows = Array.from({ length: 40 }, (_, i) => [`s${i}`, 'a1', 'ann', 'Ann', `caption ${i}`, `hs${i}`]);
      const lines = csv(CONSOLIDATED_HEADER, rows).split(/(?<=\n)/);
      // About a second of trickling file: the COPY statement stays open three times longer than the timeout.
      async function* trickle() {
        for (const line of lines) {
          await new Promise((resolve) => setTimeout(resolve, 25));
          yield Buffer.from(line);
        }
      }
      const summary = await importCsv(store, 'slow', { consolidated: () => Readable.from(trickle()) }, { create: true });
      expect(summary.inserted).toBe(40);
      const session = await store.openTenant('slow');
      try {
        await expect(session.db.all(sql`SELECT pg_sleep(1)`)).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
      } finally {
        await session.finish(false);
      }
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
