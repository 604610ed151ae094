import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import sql from 'sql-template-tag';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_FIELD_BYTES, MAX_RECORD_BYTES } from '../src/import/csvCheck.js';
import { REQUIRED_COLUMNS } from '../src/import/csvFields.js';
import { readCsvRecords } from '../src/import/csvRecords.js';
import { importCsv, type ImportFiles } from '../src/import/importCsv.js';
import type { Store } from '../src/interfaces.js';
import { putItemMeta } from '../src/queries/itemMeta.js';
import { putUserNote } from '../src/queries/itemNotes.js';
import { SOURCE_TABLES, canonicalJson, tableChecksums, type TableChecksum } from '../src/queries/tableChecksums.js';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, CONSOLIDATED_HEADER, csv, libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

type FileName = 'consolidated' | 'authors' | 'bookmarks';
/** A file's bytes, or a stream for the one too large to build in memory. */
type FileBody = Buffer | (() => Readable);

// The library every broken import runs against: videos, authors, bookmarks, one user meta and one note.
const LIBRARY = Buffer.from(libraryCsv('corpus', 30));
const AUTHORS = Buffer.from(csv(AUTHORS_HEADER, [
  ['a1', 'author1', 'Author 1', '1200', '5000', '30', 'first signature', 'no'],
  ['a2', 'author2', 'Author 2', '45', '', '10', '', 'yes'],
  ['a3', 'author3', 'Author 3', 'n/a', '7', '', 'third, with a comma', ''],
]));
const BOOKMARKS = Buffer.from(csv(BOOKMARKS_HEADER, [['v1', '2025-01-02T03:04:05Z'], ['v2', '2025-02-03T04:05:06Z']]));

const HEADER = CONSOLIDATED_HEADER.join(',');
/** A good consolidated row (six columns: id, author id, handle, name, caption, hash). */
const row = (i: number) => `v${i},a${(i % 3) + 1},author${(i % 3) + 1},Author ${(i % 3) + 1},caption ${i},h-${i}`;
const rows = (first: number, count: number, eol = '\n') =>
  Array.from({ length: count }, (_, k) => row(first + k) + eol).join('');
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))));

/** The consolidated file with one field of `size` bytes, streamed: never held in memory whole. */
function hugeField(size: number): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        yield Buffer.from(`${HEADER}\n${rows(1, 1)}v2,a1,author1,Author 1,"`);
        const block = Buffer.alloc(64 * 1024, 'x');
        for (let sent = 0; sent < size; sent += block.length) yield block;
        yield Buffer.from('",h-2\n');
      })(),
    );
}

/** Ten extra columns of 900 KiB each: every field is under the field limit, the row is over the row limit. */
function hugeRecord(): Buffer {
  const extra = Array.from({ length: 10 }, (_, i) => `extra${i + 1}`);
  const big = 'y'.repeat(900 * 1024);
  return Buffer.from(`${[HEADER, ...extra].join(',')}\n${row(1)}${`,${big}`.repeat(10)}\n`);
}

interface BrokenCase {
  name: string;
  /** The files of the import; a missing consolidated file means the valid library. */
  files: Partial<Record<FileName, FileBody>>;
  code: string;
  file?: FileName;
  line: number;
  column: number | null;
  columnName?: string;
  /** Also sent as a multipart upload through the importCsv mutation. */
  http?: boolean;
}

const CORPUS: BrokenCase[] = [
  { name: 'missing required column', files: { consolidated: bytes('video,caption\nv1,x\n') },
    code: 'CSV_MISSING_COLUMN', line: 1, column: null, columnName: 'c_videos_id', http: true },
  { name: 'unterminated quote', files: { consolidated: bytes(`${HEADER}\n${rows(1, 3)}v4,a1,author1,Author 1,"never closed,h-4\n${rows(5, 2)}`) },
    code: 'CSV_UNTERMINATED_QUOTE', line: 5, column: 5, columnName: 'c_texts_text_content', http: true },
  { name: 'invalid UTF-8 (a Latin-1 byte)', files: { consolidated: bytes(`${HEADER}\n${rows(1, 2)}v3,a1,author1,Author 1,caf`, [0xe9], ' au lait,h-3\n') },
    code: 'CSV_ENCODING', line: 4, column: 5, columnName: 'c_texts_text_content', http: true },
  { name: 'binary file (PNG image)', files: { consolidated: bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]) },
    code: 'CSV_BINARY', line: 1, column: 1 },
  { name: 'binary file of no known format (NUL bytes)', files: { consolidated: bytes([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0]) },
    code: 'CSV_BINARY', line: 1, column: 1 },
  { name: 'empty file', files: { consolidated: bytes('') }, code: 'CSV_EMPTY', line: 1, column: 1, http: true },
  { name: 'header only', files: { consolidated: bytes(`${HEADER}\n`) }, code: 'CSV_EMPTY', line: 2, column: 1 },
  { name: '50 MB field', files: { consolidated: hugeField(50 * 1024 * 1024) },
    code: 'CSV_FIELD_TOO_LARGE', line: 3, column: 5, columnName: 'c_texts_text_content' },
  { name: 'row over the record limit, every field under the field limit', files: { consolidated: hugeRecord() },
    code: 'CSV_RECORD_TOO_LARGE', line: 2, column: 16, columnName: 'extra10' },
  { name: 'too many columns in a row', files: { consolidated: bytes(`${HEADER}\n${rows(1, 2)}${row(3)},extra\n`) },
    code: 'CSV_COLUMN_COUNT', line: 4, column: 7, http: true },
  { name: 'duplicate header names', files: { consolidated: bytes(`${HEADER},c_texts_text_content\n${rows(1, 2)}`) },
    code: 'CSV_DUPLICATE_COLUMN', line: 1, column: 7, columnName: 'c_texts_text_content', http: true },
  { name: 'header with an unnamed column (trailing comma)', files: { consolidated: bytes(`${HEADER},\n${row(1)},\n`) },
    code: 'CSV_UNNAMED_COLUMN', line: 1, column: 7 },
  { name: 'UTF-16 file with a byte order mark', files: { consolidated: Buffer.from(`\uFEFF${HEADER}\n${rows(1, 2)}`, 'utf16le') },
    code: 'CSV_ENCODING', line: 1, column: 1 },
  { name: 'UTF-16 file without a byte order mark', files: { consolidated: Buffer.from(`${HEADER}\n${rows(1, 2)}`, 'utf16le') },
    code: 'CSV_BINARY', line: 1, column: 1 },
  { name: 'multibyte character cut off at the end of the file', files: { consolidated: bytes(`${HEADER}\n${rows(1, 2)}v3,a1,author1,Author 1,caption 3,h-caf`, [0xc3]) },
    code: 'CSV_ENCODING', line: 4, column: 6, columnName: 'csv_row_hash' },
  { name: 'quote inside an unquoted field', files: { consolidated: bytes(`${HEADER}\n${rows(1, 2)}v3,a1,author1,Author 1,say "hi",h-3\n`) },
    code: 'CSV_MALFORMED', line: 4, column: 5, columnName: 'c_texts_text_content' },
  { name: 'text after a closing quote', files: { consolidated: bytes(`${HEADER}\n${rows(1, 2)}v3,a1,author1,Author 1,"quoted" and more,h-3\n`) },
    code: 'CSV_MALFORMED', line: 4, column: 5, columnName: 'c_texts_text_content' },
  { name: 'NUL byte in one field', files: { consolidated: bytes(`${HEADER}\n${rows(1, 2)}v3,a1,author1,Author`, [0], ` 1,caption 3,h-3\n`) },
    code: 'CSV_BINARY', line: 4, column: 4, columnName: 'c_authors_nicknames' },
  { name: 'gzip-compressed CSV', files: { consolidated: gzipSync(LIBRARY) }, code: 'CSV_BINARY', line: 1, column: 1, http: true },
  { name: 'broken row deep in the file, after staging began', files: { consolidated: bytes(`${HEADER}\n${rows(1, 3000)}${row(3001)},extra\n`) },
    code: 'CSV_COLUMN_COUNT', line: 3002, column: 7 },
  { name: 'lines counted across multi-line quoted captions (CRLF)',
    files: { consolidated: bytes(`${HEADER}\r\nv1,a1,author1,Author 1,"line one\r\nline two\r\nline three",h-1\r\nv2,a1,author1,Author 1,caption 2,"h-2"x\r\n`) },
    code: 'CSV_MALFORMED', line: 5, column: 6, columnName: 'csv_row_hash' },
  { name: 'CR-only line ends with a stray quote', files: { consolidated: bytes(`${HEADER}\r${rows(1, 2, '\r')}v3,a1,author1,Author 1,say "hi",h-3\r`) },
    code: 'CSV_MALFORMED', line: 4, column: 5, columnName: 'c_texts_text_content' },
  { name: 'broken authors file (NUL byte), consolidated fine',
    files: { authors: bytes(`${AUTHORS_HEADER.join(',')}\na1,author1,Author 1,1,2,3,sig,no\na2,author2,Author`, [0], ` 2,1,2,3,sig,no\n`) },
    code: 'CSV_BINARY', file: 'authors', line: 3, column: 3, columnName: 'authors_nicknames' },
  { name: 'authors file without its required column', files: { authors: bytes('author,followers\na1,12\n') },
    code: 'CSV_MISSING_COLUMN', file: 'authors', line: 1, column: null, columnName: 'authors_id', http: true },
  { name: 'broken bookmarks file (unterminated quote), consolidated fine',
    files: { bookmarks: bytes(`${BOOKMARKS_HEADER.join(',')}\nv1,2025-01-02T03:04:05Z\n"v2,2025-02-03T04:05:06Z\n`) },
    code: 'CSV_UNTERMINATED_QUOTE', file: 'bookmarks', line: 3, column: 1, columnName: 'bookmarks_bookmark_id' },
];

const SOURCE = 'corpus';

function importFiles(files: BrokenCase['files']): ImportFiles {
  const open = (body: FileBody) => (Buffer.isBuffer(body) ? () => Readable.from([body]) : body);
  return {
    consolidated: open(files.consolidated ?? LIBRARY),
    authors: files.authors ? open(files.authors) : null,
    bookmarks: files.bookmarks ? open(files.bookmarks) : null,
  };
}

async function seedLibrary(store: Store, sourceId: string): Promise<void> {
  await importCsv(store, sourceId, importFiles({ authors: AUTHORS, bookmarks: BOOKMARKS }), { create: true });
  await store.withTenant(sourceId, (db) => putItemMeta(db, 'v1', { rating: 4, statuses: ['reviewing'], tags: ['food', 'porto'], authorLinks: ['https://example.com/a2'] }));
  await store.withTenant(sourceId, (db) => putUserNote(db, 'v2', '# Written by hand\n\nkept across imports'));
}

const checksums = (store: Store, sourceId: string) => store.withTenant(sourceId, (db) => tableChecksums(db));

async function failure(promise: Promise<unknown>): Promise<{ message: string; extensions: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as { message: string; extensions: Record<string, unknown> };
  }
  throw new Error('the import was expected to fail');
}

describe.each(STORE_KINDS)('broken CSV files (%s)', (kind) => {
  let gateway: TestGateway;
  let before: TableChecksum[];
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    await seedLibrary(gateway.store, SOURCE);
    before = await checksums(gateway.store, SOURCE);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('starts from a source where every table the corpus guards holds rows', () => {
    const counts = Object.fromEntries(before.map((t) => [t.table, t.rows]));
    // The author links set on v1 are copied to the other nine items of its author: ten meta rows.
    expect(counts).toMatchObject({
      videos: 30, user_meta: 10, video_notes: 1, csv_consolidated_raw: 30, csv_authors_raw: 3, csv_bookmarks_raw: 2,
    });
  });

  it.each(CORPUS)('$name → $code at line $line, column $column', async (broken) => {
    const file = broken.file ?? 'consolidated';
    const error = await failure(importCsv(gateway.store, SOURCE, importFiles(broken.files), { create: true }));
    expect(error.extensions).toMatchObject({ code: broken.code, file, line: broken.line, column: broken.column });
    expect(error.extensions.columnName).toBe(broken.columnName);
    // The message names file, line and column (and the column's name) in the gateway's words only.
    const where = `${file}: line ${broken.line}${broken.column === null ? '' : `, column ${broken.column}`}`;
    expect(error.message.startsWith(where)).toBe(true);
    if (broken.columnName && broken.column !== null) expect(error.message).toContain(`(${JSON.stringify(broken.columnName)})`);
    expect(error.message).not.toMatch(/postgres|sqlite|COPY|syntax error|invalid byte sequence|csv-parse|Invalid (Opening|Closing)/i);
    expect(await checksums(gateway.store, SOURCE)).toEqual(before);
  });

  it.each(CORPUS.filter((c) => c.http))('over HTTP: $name → 400 $code', async (broken) => {
    const files = Object.fromEntries(
      Object.entries({ consolidated: LIBRARY, ...broken.files }).map(([name, body]) => [name, new Uint8Array(body as Buffer)]),
    ) as Record<FileName, Uint8Array<ArrayBuffer>>;
    const response = await uploadCsv(gateway, SOURCE, files);
    expect(response.status).toBe(400);
    expect(response.body.data?.importCsv ?? null).toBeNull();
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors?.[0]?.extensions).toMatchObject({
      code: broken.code,
      file: broken.file ?? 'consolidated',
      line: broken.line,
      column: broken.column,
    });
    expect(await checksums(gateway.store, SOURCE)).toEqual(before);
  });

  it('imports the valid oddities: BOM, CRLF, multi-line captions, short rows, unparsable counts, blank lines', async () => {
    const consolidated =
      '\uFEFF' +
      csv([...CONSOLIDATED_HEADER, 'platform'], [
        ['o1', 'a9', 'handle9', 'Name 9', 'first line\r\nsecond line, "quoted"\r\n\r\nlast line', 'k1', 'YouTube'],
        ['o2', 'a9', 'handle9', 'Name 9', 'caption, two', 'k2', ''],
      ], '\r\n') +
      // A short row: the missing trailing fields are NULL, as csv.DictReader made them None.
      'o3,a8\r\n' +
      '\r\n\r\n';
    const authors = csv(AUTHORS_HEADER, [
      ['a9', 'real9', 'Real Name 9', '12.0', 'n/a', '', 'sig', 'no'],
      ['a8', 'real8', 'Real Name 8', '1e3', '-', '7.9', '', 'TRUE'],
    ], '\r\n') + '\r\n';
    const bookmarks = `${csv(BOOKMARKS_HEADER, [['o1', '2025-03-14T09:26:53Z']], '\r\n')}\r\n`;
    const summary = await importCsv(gateway.store, 'oddities', importFiles({
      consolidated: Buffer.from(consolidated), authors: Buffer.from(authors), bookmarks: Buffer.from(bookmarks),
    }), { create: true });
    expect(summary).toMatchObject({ inserted: 3, rows: { consolidated: 3, authors: 2, bookmarks: 1 } });

    const item = async (id: string) => {
      const response = await gateway.gql(`query($id: ID!) { source(sourceId: "oddities") { item(id: $id) {
        id platform caption authorUniqueId authorName followers hearts videosCount isPrivate bookmarked bookmarkTimestamp
        raw { consolidated { row } } } } }`, { id });
      expect(response.body.errors).toBeUndefined();
      return response.body.data.source.item;
    };
    expect(await item('o1')).toMatchObject({
      platform: 'YouTube',
      caption: 'first line\r\nsecond line, "quoted"\r\n\r\nlast line',
      authorUniqueId: 'real9',
      authorName: 'Real Name 9',
      followers: 12,
      hearts: null,
      videosCount: null,
      isPrivate: false,
      bookmarked: true,
      bookmarkTimestamp: '2025-03-14T09:26:53Z',
    });
    expect(await item('o2')).toMatchObject({ platform: 'TikTok', caption: 'caption, two', bookmarked: false });
    const short = await item('o3');
    expect(short).toMatchObject({ caption: null, authorUniqueId: 'real8', followers: 1000, hearts: null, videosCount: 7, isPrivate: true });
    expect(short.raw.consolidated.row).toEqual({
      c_videos_id: 'o3', c_videos_authorid: 'a8', c_authors_uniqueids: null, c_authors_nicknames: null,
      c_texts_text_content: null, csv_row_hash: null, platform: null,
    });
  });

  it('imports a file whose lines end in a lone CR', async () => {
    const summary = await importCsv(gateway.store, 'oddities-cr', importFiles({ consolidated: Buffer.from(`${HEADER}\r${rows(1, 3, '\r')}`) }), { create: true });
    expect(summary).toMatchObject({ inserted: 3, rows: { consolidated: 3 } });
  });

  it('accepts a field of exactly the limit and refuses one byte more', async () => {
    const field = (size: number) => Buffer.from(`${HEADER}\nv1,a1,author1,Author 1,${'z'.repeat(size)},h-1\n`);
    await expect(importCsv(gateway.store, 'limits', importFiles({ consolidated: field(MAX_FIELD_BYTES) }), { create: true })).resolves.toMatchObject({ inserted: 1 });
    const error = await failure(importCsv(gateway.store, 'limits', importFiles({ consolidated: field(MAX_FIELD_BYTES + 1) }), { create: true }));
    expect(error.extensions).toMatchObject({ code: 'CSV_FIELD_TOO_LARGE', line: 2, column: 5 });
    expect(MAX_RECORD_BYTES).toBeGreaterThan(MAX_FIELD_BYTES);
  });
});

describe('chunk boundaries', () => {
  const inChunksOf = (body: Buffer, size: number) =>
    Readable.from(Array.from({ length: Math.ceil(body.length / size) }, (_, i) => body.subarray(i * size, (i + 1) * size)));
  const read = async (file: FileName, input: Readable) => {
    const records: unknown[] = [];
    for await (const record of readCsvRecords(input, { label: file, requiredColumns: REQUIRED_COLUMNS[file], requireRows: file === 'consolidated' })) {
      records.push(record);
    }
    return records;
  };
  const small = CORPUS.filter((c) => Object.values(c.files).every((body) => Buffer.isBuffer(body) && body.length < 64 * 1024));

  // Chunks of 1 and 7 bytes split CRLF pairs, UTF-8 characters, quotes and the byte order mark every way.
  it.each(small)('$name: the same position however the file is cut', async (broken) => {
    const file = broken.file ?? 'consolidated';
    const body = broken.files[file] as Buffer;
    for (const size of [1, 7]) {
      const error = await failure(read(file, inChunksOf(body, size)));
      expect(error.extensions).toMatchObject({ code: broken.code, line: broken.line, column: broken.column });
    }
  });

  it('reads the same records from a valid file however it is cut', async () => {
    const body = Buffer.from(`\uFEFF${csv([...CONSOLIDATED_HEADER, 'note'], [
      ['é1', 'a1', 'hañdle', 'Nâme', 'line one\r\nline "two"\r\n', 'h1', '€'],
      ['é2', 'a2', '', '', '', '', ''],
    ], '\r\n')}é3,a3\r\n\r\n`);
    const whole = await read('consolidated', Readable.from([body]));
    expect(whole).toHaveLength(3);
    for (const size of [1, 2, 3, 7]) expect(await read('consolidated', inChunksOf(body, size))).toEqual(whole);
  });
});

describe('table checksums', () => {
  const gateways: TestGateway[] = [];
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
  });

  it('cover every table of the layout, in one fixed list', () => {
    expect(SOURCE_TABLES.map((t) => t.table)).toEqual([
      'videos', 'user_meta', 'video_notes', 'csv_consolidated_raw', 'csv_authors_raw', 'csv_bookmarks_raw',
      'scheduling_artifacts', 'job_queue',
    ]);
  });

  it('are equal for the same data in SQLite and PostgreSQL, and follow a change of one value', async () => {
    const results: TableChecksum[][] = [];
    for (const kind of STORE_KINDS) {
      const gateway = await startTestGateway(kind);
      gateways.push(gateway);
      // The import and the meta writes stamp the time; the same clock makes the same rows.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2026-01-02T03:04:05.678Z'));
      await seedLibrary(gateway.store, 'same');
      vi.useRealTimers();
      // Another source in the same database must not count.
      await importCsv(gateway.store, 'other', importFiles({ consolidated: Buffer.from(libraryCsv('other', 5)) }), { create: true });
      results.push(await checksums(gateway.store, 'same'));
    }
    const [sqlite, postgres] = results;
    expect(sqlite!.find((t) => t.table === 'videos')).toMatchObject({ rows: 30 });
    expect(postgres).toEqual(sqlite);

    for (const gateway of gateways) {
      const byTable = (list: TableChecksum[]) => Object.fromEntries(list.map((t) => [t.table, t.checksum]));
      const start = byTable(await checksums(gateway.store, 'same'));
      await gateway.store.withTenant('same', (db) =>
        db.run(sql`UPDATE videos SET caption = 'caption of corpus number 3!' WHERE source_id = ${db.sourceId} AND id = 'v3'`));
      const changed = byTable(await checksums(gateway.store, 'same'));
      expect(changed.videos).not.toBe(start.videos);
      expect({ ...changed, videos: null }).toEqual({ ...start, videos: null });
      await gateway.store.withTenant('same', (db) =>
        db.run(sql`UPDATE videos SET caption = 'caption of corpus number 3' WHERE source_id = ${db.sourceId} AND id = 'v3'`));
      expect(byTable(await checksums(gateway.store, 'same'))).toEqual(start);
    }
  });

  it('spell JSON one way whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { '10': [1, { z: null, y: 'é' }], '9': true } })).toBe('{"a":{"10":[1,{"y":"é","z":null}],"9":true},"b":1}');
  });
});
