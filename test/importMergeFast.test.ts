import { Readable } from 'node:stream';
import fc from 'fast-check';
import pg from 'pg';
import sql, { raw } from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv, type ImportFiles, type ImportSummary } from '../src/import/importCsv.js';
import type { Store } from '../src/interfaces.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The PostgreSQL merge judges most rows of a re-import by a digest (import_row_digests) and loads an empty source
 * without looking for stored rows. These tests hold it to the rules it replaces: the same counts and the same
 * stored rows as the SQLite store's merge, which compares every row, and no write where nothing changed.
 */

interface Files {
  consolidated: string;
  authors?: string;
  bookmarks?: string;
}

const CONSOLIDATED = [...CONSOLIDATED_HEADER, 'c_videos_diggcount'];

const asFiles = (files: Files): ImportFiles => ({
  consolidated: () => Readable.from([Buffer.from(files.consolidated)]),
  authors: files.authors ? () => Readable.from([Buffer.from(files.authors!)]) : null,
  bookmarks: files.bookmarks ? () => Readable.from([Buffer.from(files.bookmarks!)]) : null,
});

const countsOf = (summary: ImportSummary) => ({ inserted: summary.inserted, updated: summary.updated, skipped: summary.skipped });

type Snapshot = Record<string, Map<string, { row: string; at: string }>>;

/** JSON with its keys in order: PostgreSQL's jsonb and SQLite's text spell the same row differently. */
function canonical(value: unknown): string {
  const parsed = (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;
  return JSON.stringify(parsed, Object.keys(parsed).sort());
}

/** Every stored row an import writes, by table and key, with the time the import stamped on it. */
async function snapshot(store: Store, sourceId: string): Promise<Snapshot> {
  return store.withTenant(sourceId, async (db) => {
    const videos = await db.all<Record<string, unknown>>(sql`
      SELECT id, platform, author_id, author_unique_id, author_name, CAST(followers AS TEXT) AS followers,
             CAST(hearts AS TEXT) AS hearts, CAST(videos_count AS TEXT) AS videos_count, signature,
             CAST(is_private AS TEXT) AS is_private, caption, CAST(bookmarked AS TEXT) AS bookmarked,
             bookmark_timestamp, video_path, cover_path, csv_row_hash, updated_at
        FROM videos WHERE source_id = ${db.sourceId}`);
    const rawRows = async (table: string, key: string) => {
      const rows = await db.all<{ key: string; row_json: unknown; imported_at: string }>(sql`
        SELECT ${raw(key)} AS key, row_json, imported_at FROM ${raw(table)} WHERE source_id = ${db.sourceId}`);
      return new Map(rows.map((r) => [r.key, { row: canonical(r.row_json), at: r.imported_at }]));
    };
    return {
      videos: new Map(videos.map(({ updated_at, ...rest }) => [String(rest.id), { row: JSON.stringify(rest), at: String(updated_at) }])),
      consolidated: await rawRows('csv_consolidated_raw', 'video_id'),
      authors: await rawRows('csv_authors_raw', 'author_id'),
      bookmarks: await rawRows('csv_bookmarks_raw', 'video_id'),
    };
  });
}

/** The rows of each table and which keys the last import wrote (their time changed). */
/**
 * What an import left and what it wrote: the rows, and the keys stamped anew. A raw row counts as written when its
 * value changed (or it is new): SQLite compares the raw JSON as text and PostgreSQL as jsonb, so the same fields
 * under columns in another order give SQLite's raw row a new imported_at and leave PostgreSQL's as it was. That
 * an identical file writes nothing at all is checked on its own (xmin, below).
 */
function describeStep(before: Snapshot | null, after: Snapshot) {
  const written = (table: string, key: string, value: { row: string; at: string }) => {
    const previous = before?.[table]?.get(key);
    return previous?.at !== value.at && (table === 'videos' || previous?.row !== value.row);
  };
  return Object.fromEntries(
    Object.entries(after).map(([table, rows]) => [
      table,
      {
        rows: [...rows.entries()].map(([key, value]) => [key, value.row]).sort(),
        written: [...rows.entries()].filter(([key, value]) => written(table, key, value)).map(([key]) => key).sort(),
      },
    ]),
  );
}

const ids = ['v1', 'v2', 'v3', 'v4', 'v5'];
// A value padded with spaces stages as the trimmed one: the row's fields differ (and so does its digest, taken
// before the rules run), its compared fields do not.
const row = fc.tuple(
  fc.constantFrom(...ids, '', ' v1'),
  fc.constantFrom('a1', 'a2', ''),
  fc.constantFrom('first caption', 'second caption', 'first caption '),
  fc.constantFrom('h1', 'h2', ''),
  fc.constantFrom('1', '2'),
).map(([id, author, caption, hash, diggs]) => [id, author, author && `handle_${author}`, author && `Name ${author}`, caption, hash, diggs]);
const authorRow = fc.tuple(fc.constantFrom('a1', 'a2'), fc.constantFrom('10', '20', 'n/a'), fc.constantFrom('sig', ''), fc.constantFrom('true', 'false'))
  .map(([id, followers, signature, isPrivate]) => [id, `handle_${id}`, `Name ${id}`, followers, '5', '3', signature, isPrivate]);
const bookmarkRow = fc.tuple(fc.constantFrom(...ids), fc.constantFrom('2024-01-01T00:00:00Z', '2024-02-02T00:00:00Z'));
// The same fields under the header in another order: the same rows, with digests of their own.
const reversed = (rows: string[][]) => csv([...CONSOLIDATED].reverse(), rows.map((values) => [...values].reverse()));
const files: fc.Arbitrary<Files> = fc.record({
  consolidated: fc.tuple(fc.array(row, { minLength: 1, maxLength: 9 }), fc.boolean())
    .map(([rows, reverse]) => (reverse ? reversed(rows) : csv(CONSOLIDATED, rows))),
  authors: fc.option(fc.array(authorRow, { maxLength: 4 }).map((rows) => csv(AUTHORS_HEADER, rows)), { nil: undefined }),
  bookmarks: fc.option(fc.array(bookmarkRow, { maxLength: 4 }).map((rows) => csv(BOOKMARKS_HEADER, rows)), { nil: undefined }),
});

/** 40 items of 4 authors, two of them bookmarked; `repeatLast` repeats the last row exactly. */
const library = (caption: (i: number) => string, repeatLast = false) => {
  const rows = Array.from({ length: 40 }, (_, i) => [`w${i}`, `a${i % 4}`, `handle${i % 4}`, `Name ${i % 4}`, caption(i), `hw${i}`, String(i)]);
  if (repeatLast) rows.push([...rows.at(-1)!]);
  return {
    consolidated: csv(CONSOLIDATED, rows),
    authors: csv(AUTHORS_HEADER, Array.from({ length: 4 }, (_, i) => [`a${i}`, `handle${i}`, `Name ${i}`, '100', '5', '3', 'sig', 'false'])),
    bookmarks: csv(BOOKMARKS_HEADER, [['w1', '2024-01-01T00:00:00Z'], ['w2', '2024-01-02T00:00:00Z']]),
  };
};

/** Random sequences of imports (files picked from a pool, so some come again) give both stores the same counts and rows. */
async function sameAsSqlite(postgres: Store, sqlite: Store, nextSource: () => string, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(files, { minLength: 1, maxLength: 2 }), fc.array(fc.nat(1), { minLength: 2, maxLength: 4 }), async (pool, order) => {
      const sourceId = nextSource();
      let before: Record<'postgres' | 'sqlite', Snapshot | null> = { postgres: null, sqlite: null };
      for (const pick of order) {
        const file = pool[pick % pool.length]!;
        const [inPostgres, inSqlite] = await Promise.all([
          importCsv(postgres, sourceId, asFiles(file), { create: true }),
          importCsv(sqlite, sourceId, asFiles(file), { create: true }),
        ]);
        expect(countsOf(inPostgres)).toEqual(countsOf(inSqlite));
        const after = { postgres: await snapshot(postgres, sourceId), sqlite: await snapshot(sqlite, sourceId) };
        expect(describeStep(before.postgres, after.postgres)).toEqual(describeStep(before.sqlite, after.sqlite));
        before = after;
      }
    }),
    { numRuns },
  );
}

describe('the PostgreSQL merge with digests, against the SQLite merge', () => {
  let postgres: TestGateway;
  let sqlite: TestGateway;
  let admin: pg.Client;
  let sources = 0;
  beforeAll(async () => {
    [postgres, sqlite] = await Promise.all([startTestGateway('postgres'), startTestGateway('sqlite')]);
    admin = new pg.Client({ connectionString: postgres.databaseUrl });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await Promise.all([postgres?.close(), sqlite?.close()]);
  });

  it('gives the same counts and writes the same rows over random sequences of imports, repeated files included', async () => {
    await sameAsSqlite(postgres.store, sqlite.store, () => `prop${sources++}`, 25);
  }, 240_000);

  const xmins = async (schema: string) => {
    const result: Record<string, string[]> = {};
    for (const table of ['videos', 'csv_consolidated_raw', 'csv_authors_raw', 'csv_bookmarks_raw', 'import_row_digests']) {
      const { rows } = await admin.query(`SELECT xmin::text AS x FROM ${pg.escapeIdentifier(schema)}.${table} ORDER BY ctid`);
      result[table] = rows.map((r) => r.x as string);
    }
    return result;
  };

  it('writes nothing when the same files come again, an exact repeat of a row included', async () => {
    const files = library((i) => `caption ${i}`, true);
    expect(countsOf(await importCsv(postgres.store, 'still', asFiles(files), { create: true }))).toEqual({ inserted: 40, updated: 0, skipped: 1 });
    const before = await xmins('sx_still');
    expect(before.import_row_digests).toHaveLength(40);
    expect(countsOf(await importCsv(postgres.store, 'still', asFiles(files)))).toEqual({ inserted: 0, updated: 0, skipped: 41 });
    expect(await xmins('sx_still')).toEqual(before);
  });

  it('compares in full where a digest is missing or does not match, and puts the right one back', async () => {
    const files = library((i) => `caption ${i}`);
    await importCsv(postgres.store, 'stale', asFiles(files), { create: true });
    const digests = async () => (await admin.query('SELECT video_id, digest_a, digest_b FROM sx_stale.import_row_digests ORDER BY video_id')).rows;
    const right = await digests();
    // As after migration 005 on a schema imported before it, and a digest that no longer fits its row.
    await admin.query(`DELETE FROM sx_stale.import_row_digests WHERE video_id < 'w2'`);
    await admin.query(`UPDATE sx_stale.import_row_digests SET digest_a = digest_a # 1 WHERE video_id = 'w30'`);
    const videos = async () => (await admin.query('SELECT id, updated_at FROM sx_stale.videos ORDER BY id')).rows;
    const stamped = await videos();
    const changed = library((i) => (i === 5 ? 'caption five, edited' : `caption ${i}`));
    // w5's caption is not compared (its csv_row_hash stayed), so it is skipped; only its raw row changes.
    expect(countsOf(await importCsv(postgres.store, 'stale', asFiles(changed)))).toEqual({ inserted: 0, updated: 0, skipped: 40 });
    expect(await videos()).toEqual(stamped);
    const raw = await admin.query(`SELECT row_json->>'c_texts_text_content' AS caption FROM sx_stale.csv_consolidated_raw WHERE video_id = 'w5'`);
    expect(raw.rows[0].caption).toBe('caption five, edited');
    const again = await digests();
    expect(again.map((d) => d.video_id)).toEqual(right.map((d) => d.video_id));
    expect(again.filter((d) => d.video_id !== 'w5')).toEqual(right.filter((d) => d.video_id !== 'w5'));
  });

  it('follows a change of an author to every item of the author, and leaves their raw rows as they were', async () => {
    const files = library((i) => `caption ${i}`);
    await importCsv(postgres.store, 'authors', asFiles(files), { create: true });
    const rawAt = async () => (await admin.query('SELECT video_id, imported_at FROM sx_authors.csv_consolidated_raw ORDER BY video_id')).rows;
    const before = await rawAt();
    const followers = { ...files, authors: files.authors.replace('a1,handle1,Name 1,100', 'a1,handle1,Name 1,101') };
    expect(countsOf(await importCsv(postgres.store, 'authors', asFiles(followers)))).toEqual({ inserted: 0, updated: 10, skipped: 30 });
    expect(await rawAt()).toEqual(before);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM sx_authors.videos WHERE author_id = 'a1' AND followers = 101`);
    expect(rows[0].n).toBe(10);
  });

  it('merges by full comparison into a schema from before the digests, and uses them once it is migrated', async () => {
    const store = postgres.store as PostgresStore;
    // 004: the last layout without import_row_digests.
    await store.registry.bootstrap({ sourceId: 'behind' }, { targetVersion: 4 });
    const files = library((i) => `caption ${i}`, true);
    expect(countsOf(await importCsv(store, 'behind', asFiles(files)))).toEqual({ inserted: 40, updated: 0, skipped: 1 });
    const changed = library((i) => `caption ${i}`.replace('caption 7', 'caption seven'), true);
    expect(countsOf(await importCsv(store, 'behind', asFiles({ ...changed, consolidated: changed.consolidated.replace(',hw7,', ',hw7-b,') }))))
      .toEqual({ inserted: 0, updated: 1, skipped: 40 });
    const migrated = await store.migrateAll({ sourceIds: ['behind'], concurrency: 1 });
    expect(migrated[0]!.error).toBeUndefined();
    expect(migrated[0]!.to).toBe(store.latestVersion);
    // The first import after the migration compares in full and records the digests; the next one uses them.
    expect(countsOf(await importCsv(store, 'behind', asFiles(files)))).toEqual({ inserted: 0, updated: 1, skipped: 40 });
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM sx_behind.import_row_digests');
    expect(rows[0].n).toBe(40);
    const before = await xmins('sx_behind');
    expect(countsOf(await importCsv(store, 'behind', asFiles(files)))).toEqual({ inserted: 0, updated: 0, skipped: 41 });
    expect(await xmins('sx_behind')).toEqual(before);
  });

  it('forgets the digests of items a copy deletes', async () => {
    await importCsv(postgres.store, 'copied', asFiles(library((i) => `caption ${i}`)), { create: true });
    await admin.query('DELETE FROM sx_copied.videos');
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM sx_copied.import_row_digests');
    expect(rows[0].n).toBe(0);
  });
});

describe('a large first import with repeated ids (postgres)', () => {
  let gateway: TestGateway;
  let admin: pg.Client;
  beforeAll(async () => {
    gateway = await startTestGateway('postgres');
    admin = new pg.Client({ connectionString: gateway.databaseUrl });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await gateway?.close();
  });

  const layout = async (schema: string) => {
    const { rows: indexes } = await admin.query(
      `SELECT indexname AS name, replace(indexdef, $1, 'S') AS def FROM pg_indexes WHERE schemaname = $2 ORDER BY 1`,
      [`${schema}.`, schema],
    );
    const { rows: constraints } = await admin.query(
      `SELECT conrelid::regclass::text AS tbl, conname, replace(pg_get_constraintdef(oid), $1, 'S') AS def, convalidated
         FROM pg_constraint WHERE connamespace = $2::regnamespace ORDER BY 2`,
      [`${schema}.`, schema],
    );
    return { indexes, constraints: constraints.map((c) => ({ ...c, tbl: c.tbl.replace(`${schema}.`, '') })) };
  };

  it('counts the repeats row by row, keeps their last rows, and leaves the layout as bootstrap made it', async () => {
    await (gateway.store as PostgresStore).bootstrapSource({ sourceId: 'plain' });
    const rows: string[][] = Array.from({ length: 21_000 }, (_, i) => [`b${i}`, `a${i % 50}`, `author${i % 50}`, 'Name', `caption ${i}`, `hb${i}`, '1']);
    // b1 three times (changed, then the same again), b2 twice unchanged.
    rows.push(['b1', 'a1', 'author1', 'Name', 'caption 1, later', 'hb1-later', '1'], ['b1', 'a1', 'author1', 'Name', 'caption 1, later', 'hb1-later', '1']);
    rows.push([...rows[2]!]);
    const file = { consolidated: csv(CONSOLIDATED, rows) };
    const first = await importCsv(gateway.store, 'bulkrepeats', asFiles(file), { create: true });
    expect(countsOf(first)).toEqual({ inserted: 21_000, updated: 1, skipped: 2 });
    const b1 = await admin.query(`SELECT v.caption, r.row_json->>'c_texts_text_content' AS raw FROM sx_bulkrepeats.videos v
                                    JOIN sx_bulkrepeats.csv_consolidated_raw r ON r.video_id = v.id WHERE v.id = 'b1'`);
    expect(b1.rows).toEqual([{ caption: 'caption 1, later', raw: 'caption 1, later' }]);
    expect(await layout('sx_bulkrepeats')).toEqual(await layout('sx_plain'));
    const { rows: counted } = await admin.query('SELECT (SELECT count(*) FROM sx_bulkrepeats.videos)::int AS v, (SELECT count(*) FROM sx_bulkrepeats.import_row_digests)::int AS d');
    expect(counted[0]).toEqual({ v: 21_000, d: 21_000 });

    // Again: b1's first row differs from the stored (last) one, its second from its first; everything else is skipped.
    const again = await importCsv(gateway.store, 'bulkrepeats', asFiles(file));
    expect(countsOf(again)).toEqual({ inserted: 0, updated: 2, skipped: 21_001 });
  }, 120_000);
});

describe('a PostgreSQL database outside UTF-8, whose files are read in Node', () => {
  let postgres: TestGateway;
  let sqlite: TestGateway;
  let sources = 0;
  beforeAll(async () => {
    [postgres, sqlite] = await Promise.all([startTestGateway('postgres', {}, { encoding: 'SQL_ASCII' }), startTestGateway('sqlite')]);
  });
  afterAll(async () => {
    await Promise.all([postgres?.close(), sqlite?.close()]);
  });

  it('stages rows without COPY … FORMAT csv and gives the same counts and rows as SQLite', async () => {
    await sameAsSqlite(postgres.store, sqlite.store, () => `ascii${sources++}`, 25);
    const statements = postgres.statements.map((event) => event.text);
    expect(statements.some((text) => text.startsWith('COPY stage_consolidated ('))).toBe(true);
    expect(statements.some((text) => /FORMAT csv/.test(text))).toBe(false);
  }, 240_000);

  it('judges a re-import by the digest of the staged JSON: an edited caption under the same row hash reaches the raw row', async () => {
    const files = library((i) => `caption ${i}`);
    await importCsv(postgres.store, 'edited', asFiles(files), { create: true });
    const changed = library((i) => (i === 5 ? 'caption five, edited' : `caption ${i}`));
    expect(countsOf(await importCsv(postgres.store, 'edited', asFiles(changed)))).toEqual({ inserted: 0, updated: 0, skipped: 40 });
    const rows = await postgres.store.withTenant('edited', (db) =>
      db.all<{ caption: string }>(sql`SELECT row_json->>'c_texts_text_content' AS caption FROM csv_consolidated_raw WHERE video_id = 'w5'`));
    expect(rows[0]?.caption).toBe('caption five, edited');
  });
});
