import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import pg from 'pg';
import sql, { raw, type Sql } from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureDataset } from '../bench/dataset.js';
import { FIELD_RULES, TRIMMED_CHARACTERS, compileRowRules, rowRulesSql, type FileKind } from '../src/import/fieldRules.js';
import { importCsv, type ImportFiles, type ImportSummary } from '../src/import/importCsv.js';
import { loadConfig } from '../src/config.js';
import type { Store, TenantDb } from '../src/interfaces.js';
import { STAGED_COLUMNS } from '../src/queries/importMerge.js';
import { tableChecksums } from '../src/queries/tableChecksums.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { columnNames, VIDEOS } from '../src/tables/sourceTables.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The field rules exist in two forms generated from one definition (src/import/fieldRules.ts): TypeScript, which
 * the SQLite import runs after csv-parse, and SQL, which the PostgreSQL import runs after PostgreSQL's own COPY
 * has parsed the file. These tests hold the two imports to the same stored rows, value for value.
 */

type FileBytes = Partial<Record<FileKind, Buffer>>;

// ---------------------------------------------------------------------------------------------------------
// Random exports

/** Whitespace, including what JavaScript trims beyond ASCII, and two look-alikes it does not trim. */
const SPACES = [' ', '\t', '\v', '\f', '\u00a0', '\u1680', '\u2000', '\u2007', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f',
  '\u3000', '\ufeff', '\u180e', '\u200b'];
const PIECES = [...SPACES, 'a', 'Z', 'é', '日本', '🎸', 'İ', 'ı', '\u212a', '"', '""', ',', '\r', '\n', '\r\n', '\\', 'N', '.', '\\N',
  '\\.', '\u0001', '\u001f', '\u007f', 'null', '{"k":1}', '</', '\u00e9\u0301'];
const NUMBERS = [' 12.0', '12', '1e3', '1E3', '-0.5', '0x10', '1.9999999999999999999', '-1.9999999999999999999', '9223372036854775807',
  '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '92233720368547758070e-1', '1e18', '1e19', '1e400', '1e-400',
  '1e99999999999999', '0e99999999999999', '+.5e1', '.5', '5.', '.', '+', '-', '1_000', 'Infinity', '-Infinity', 'NaN', '١٢', '１２',
  '\u00a012\u3000', '0000123', '00.00', '-0', '1e+02', '1e-02', '12e', 'e3', '1.2.3', ' 7 ', 'n/a', '', '9007199254740993'];
const FLAGS = ['1', '0', 'true', 'TRUE', 'True', 'yes', 'yEs', 'Y', 'y', ' y ', 'no', 'false', 'İ', 'ｙ', 'yes!', '\u3000YES\u3000', '', '\\N'];
const IDS = ['v1', 'v2', 'v3', ' v1', 'v1\u3000', 'v2\t', '', '  ', '\u00a0', '\\N', 'é4', 'v"5', 'v,6'];
const AUTHOR_IDS = ['a1', 'a2', ' a1 ', '', 'a3\u2028', 'a4'];

const textValue = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...PIECES), { maxLength: 6 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
);
const padded = (values: string[]) =>
  fc.tuple(fc.constantFrom(...values), fc.constantFrom('', ...SPACES), fc.constantFrom('', ...SPACES)).map(([v, before, after]) => before + v + after);

/** What a column of each file holds; unknown columns hold any text. */
function valueFor(column: string): fc.Arbitrary<string> {
  if (column === 'c_videos_id' || column === 'bookmarks_bookmark_id') return padded(IDS);
  if (column === 'c_videos_authorid' || column === 'authors_id') return padded(AUTHOR_IDS);
  if (/count$/.test(column)) return fc.oneof(padded(NUMBERS), fc.bigInt({ min: -(10n ** 21n), max: 10n ** 21n }).map(String), textValue);
  if (column === 'authors_privateaccount') return fc.oneof(padded(FLAGS), textValue);
  if (column === 'platform') return fc.oneof(fc.constantFrom('', ' ', 'YouTube', '\u3000'), textValue);
  if (/hash$/.test(column)) return fc.oneof(fc.constantFrom('', ' ', '\u00a0', 'h1', 'h2'), textValue);
  return textValue;
}

const KNOWN: Record<FileKind, string[]> = {
  consolidated: ['c_videos_authorid', 'c_authors_uniqueids', 'c_authors_nicknames', 'c_texts_text_content', 'text', 'platform',
    'csv_row_hash', 'source.csv_row_hash', 'video_path', 'media.video', 'cover_path', 'media.cover'],
  authors: ['authors_uniqueids', 'authors_nicknames', 'authors_followercount', 'authors_heartcount', 'authors_videocount',
    'authors_signature', 'authors_privateaccount'],
  bookmarks: ['bookmarks_timestamp'],
};
/** Names JavaScript objects treat specially (prototype, integer-like keys sort first), and names that need quoting. */
const EXTRA_COLUMNS = ['__proto__', 'constructor', '10', '2', 'naïve', 'a b', 'x"y', 'k,1', '\\N', 'line\nbreak', '🎸'];

interface GeneratedFile {
  header: string[];
  rows: string[][];
}

function fileArbitrary(file: FileKind): fc.Arbitrary<GeneratedFile> {
  const header = fc
    .tuple(fc.subarray(KNOWN[file]), fc.subarray(EXTRA_COLUMNS, { maxLength: 3 }))
    .chain(([known, extra]) => fc.shuffledSubarray([...known, ...extra, FIELD_RULES[file].required[0]!], { minLength: known.length + extra.length + 1 }));
  return header.chain((names) => {
    const full = fc.tuple(...names.map(valueFor));
    // Short rows: the missing trailing fields are NULL (a present empty field is '').
    const row = fc.oneof({ weight: 4, arbitrary: full }, { weight: 1, arbitrary: fc.tuple(full, fc.nat(names.length)).map(([values, n]) => values.slice(0, Math.max(1, n))) });
    return fc.array(row, { minLength: 1, maxLength: 10 }).map((rows) => ({ header: names, rows }));
  });
}

interface Layout {
  eol: '\n' | '\r\n' | '\r';
  bom: boolean;
  /** Per record: quote fields that need no quotes; empty lines before it. */
  quoteAll: boolean[];
  blankLines: number[];
  finalEol: boolean;
}

const layoutArbitrary = fc.record({
  eol: fc.constantFrom<Layout['eol']>('\n', '\r\n', '\r'),
  bom: fc.boolean(),
  quoteAll: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  blankLines: fc.array(fc.nat(2), { minLength: 12, maxLength: 12 }),
  finalEol: fc.boolean(),
});

/**
 * A field written without quotes when the syntax allows it: no quote, no comma, and no line break that would end
 * the record. A line break of another style is field content (a lone LF in a CRLF or CR file, a CR in an LF file):
 * csv-parse reads it so, and COPY must be made to.
 */
function canStayUnquoted(value: string, eol: Layout['eol']): boolean {
  return !/[",]/.test(value) && !value.includes(eol === '\r\n' ? '\r\n' : eol);
}

/** The file, and the line (CRLF, LF and a lone CR each end one) where each row starts. */
function writeCsvLines({ header, rows }: GeneratedFile, layout: Layout): { bytes: Buffer; rowLines: number[] } {
  const field = (value: string, quote: boolean) =>
    quote || !canStayUnquoted(value, layout.eol) ? `"${value.replace(/"/g, '""')}"` : value;
  let text = header.map((name) => field(name, !/^[A-Za-z0-9_.]+$/.test(name))).join(',');
  const rowLines: number[] = [];
  rows.forEach((values, i) => {
    text += layout.eol.repeat(1 + layout.blankLines[i % 12]!);
    rowLines.push((text.match(/\r\n|\r|\n/g) ?? []).length + 1);
    text += values.map((value) => field(value, layout.quoteAll[i % 12]!)).join(',');
  });
  if (layout.finalEol) text += layout.eol;
  return { bytes: Buffer.from((layout.bom ? '\ufeff' : '') + text), rowLines };
}

const writeCsv = (file: GeneratedFile, layout: Layout) => writeCsvLines(file, layout).bytes;

/** The bytes in pieces of `size` (or whole): the PostgreSQL feed must make the same edits however a file is cut. */
const inPieces = (bytes: Buffer, size: number) => () =>
  Readable.from(size <= 0 ? [bytes] : Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)));

function importFiles(files: FileBytes, pieceSize = 0): ImportFiles {
  return {
    consolidated: inPieces(files.consolidated!, pieceSize),
    authors: files.authors ? inPieces(files.authors, pieceSize) : null,
    bookmarks: files.bookmarks ? inPieces(files.bookmarks, pieceSize) : null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// What the stores hold

const VIDEO_COLUMNS = columnNames(VIDEOS).filter((column) => column !== 'updated_at');
const asText = (columns: string[]) => raw(columns.map((c) => `CAST(${c} AS TEXT) AS ${c}`).join(', '));
const json = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value);
const sorted = <T>(rows: T[]) => rows.map((row) => [JSON.stringify(row), row] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);

/** Every row an import writes, with the times left out (each store stamps its own clock). */
async function storedRows(store: Store, sourceId: string) {
  return store.withTenant(sourceId, async (db) => {
    const source = db.sourceId;
    const rawRows = async (table: string, key: string, extra = '') =>
      sorted((await db.all<Record<string, unknown>>(sql`SELECT ${raw(key)} AS key, row_json ${raw(extra)} FROM ${raw(table)} WHERE source_id = ${source}`))
        .map((row) => ({ ...row, row_json: json(row.row_json) })));
    return {
      videos: sorted(await db.all(sql`SELECT ${asText(VIDEO_COLUMNS)} FROM videos WHERE source_id = ${source}`)),
      consolidated: await rawRows('csv_consolidated_raw', 'video_id', ', csv_row_hash'),
      authors: await rawRows('csv_authors_raw', 'author_id'),
      bookmarks: await rawRows('csv_bookmarks_raw', 'video_id'),
    };
  });
}

const counts = (summary: ImportSummary) => ({
  inserted: summary.inserted, updated: summary.updated, skipped: summary.skipped, rows: summary.rows, withoutId: summary.withoutId,
});

async function outcome(promise: Promise<ImportSummary>): Promise<{ counts: ReturnType<typeof counts> } | { error: Record<string, unknown> }> {
  try {
    return { counts: counts(await promise) };
  } catch (error) {
    const extensions = (error as { extensions?: Record<string, unknown> }).extensions;
    if (!extensions) throw error;
    const { code, file, line, column, columnName } = extensions;
    return { error: { code, file, line, column, columnName } };
  }
}

describe('the field rules in TypeScript and in SQL', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway('postgres');
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('trim exactly what String.prototype.trim trims', () => {
    const trimmed: number[] = [];
    for (let code = 0; code <= 0xffff; code++) if (String.fromCharCode(code).trim() === '') trimmed.push(code);
    expect(trimmed).toEqual([...TRIMMED_CHARACTERS].sort((a, b) => a - b));
  });

  /** The SQL form run by PostgreSQL over rows of text, next to the TypeScript form run in Node. */
  async function bothForms(file: FileKind, header: string[], rows: (string | null)[][]) {
    const staged = STAGED_COLUMNS[FIELD_RULES[file].table];
    const client = await (gateway.store as PostgresStore).pool.connect();
    try {
      await client.query('BEGIN');
      const columns = header.map((_, i) => `c${i + 1}`);
      await client.query(`CREATE TEMP TABLE probe (seq integer, ${columns.map((c) => `${c} text`).join(', ')}) ON COMMIT DROP`);
      const arrays = [rows.map((_, i) => i + 1), ...columns.map((_, k) => rows.map((row) => row[k] ?? null))];
      await client.query(`INSERT INTO probe SELECT * FROM unnest(${arrays.map((_, i) => `$${i + 1}::${i === 0 ? 'integer' : 'text'}[]`).join(', ')})`, arrays);
      const select = sql`SELECT ${rowRulesSql(file, header, columns.map((c) => raw(`r.${c}`)), staged, sql`r.seq`)} FROM probe r ORDER BY r.seq`;
      // Every value as PostgreSQL's text, so no bigint goes through a JavaScript number.
      const asText = { getTypeParser: () => (value: string) => value };
      const result = await client.query({ text: select.text, values: select.values, rowMode: 'array', types: asText });
      // Row JSON is compared as the value it spells: PostgreSQL's jsonb orders the keys and spaces them its own way.
      const jsonAt = staged.indexOf('row_json');
      const canonical = (json: string) => JSON.stringify(Object.entries(JSON.parse(json) as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const normal = (row: unknown[]) => row.map((v, k) => (v === null ? null : k === jsonAt ? canonical(String(v)) : String(v)));
      const inSql = (result.rows as unknown[][]).map(normal);
      const rules = compileRowRules(file, header, staged);
      const inTs = rows.map((row, i) => normal(rules(row, i + 1)));
      return { inSql, inTs, staged };
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('give the same staged values for the same fields', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<FileKind>('consolidated', 'authors', 'bookmarks').chain((file) => fileArbitrary(file).map((generated) => ({ file, generated }))),
        async ({ file, generated }) => {
        const rows = generated.rows.map((values) => generated.header.map((_, i) => values[i] ?? null));
        const { inSql, inTs, staged } = await bothForms(file, generated.header, rows);
        for (let i = 0; i < rows.length; i++) {
          const differences = staged.filter((_, k) => inSql[i]![k] !== inTs[i]![k]);
          expect(differences, `row ${JSON.stringify(rows[i])}: SQL ${JSON.stringify(inSql[i])}, TS ${JSON.stringify(inTs[i])}`).toEqual([]);
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('agree on the edge cases of counts, flags and hashes', async () => {
    const header = ['authors_id', 'authors_followercount', 'authors_privateaccount', 'authors_signature'];
    const rows = NUMBERS.flatMap((n, i) => [[`a${i}`, n, FLAGS[i % FLAGS.length]!, n], [` a${i}`, ` ${n}\u3000`, null, null]]);
    const { inSql, inTs } = await bothForms('authors', header, rows);
    expect(inSql).toEqual(inTs);
    const followers = Object.fromEntries(rows.filter((row) => row[0]!.startsWith('a')).map((row, i) => [row[1], inTs[2 * i]![4]]));
    expect(followers).toMatchObject({
      ' 12.0': '12', '1e3': '1000', '-0.5': '0', '0x10': null, '1.9999999999999999999': '1', '-1.9999999999999999999': '-1',
      '9223372036854775807': '9223372036854775807', '9223372036854775808': null, '-9223372036854775808': '-9223372036854775808',
      '92233720368547758070e-1': '9223372036854775807', '1e400': null, '1e-400': '0', '1e99999999999999': null,
      '0e99999999999999': '0', '+.5e1': '5', '.': null, '1_000': null, 'Infinity': null, '١٢': null, '\u00a012\u3000': '12',
      '9007199254740993': '9007199254740993', '': null,
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('imports into SQLite and PostgreSQL store the same rows', () => {
  let sqlite: TestGateway;
  let postgres: TestGateway;
  let run = 0;
  beforeAll(async () => {
    [sqlite, postgres] = await Promise.all([startTestGateway('sqlite'), startTestGateway('postgres')]);
  });
  afterAll(async () => {
    await Promise.all([sqlite?.close(), postgres?.close()]);
  });

  /** Imports the files twice into both stores; the outcomes and the stored rows must be the same. */
  async function compareImports(files: FileBytes, pieceSize = 0) {
    const sourceId = `p${++run}`;
    const stores = [sqlite.store, postgres.store];
    const first = await Promise.all(stores.map((store, i) => outcome(importCsv(store, sourceId, importFiles(files, i === 1 ? pieceSize : 0), { create: true }))));
    expect(first[1]).toEqual(first[0]);
    if ('error' in first[0]!) return first[0];
    const [inSqlite, inPostgres] = await Promise.all(stores.map((store) => storedRows(store, sourceId)));
    expect(inPostgres).toEqual(inSqlite);
    const again = await Promise.all(stores.map((store) => outcome(importCsv(store, sourceId, importFiles(files, pieceSize)))));
    expect(again[1]).toEqual(again[0]);
    return { first: first[0], rows: inSqlite };
  }

  it('on the benchmark generator\'s exports (several seeds)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sx-rules-'));
    try {
      for (const [videos, seed] of [[300, 1], [700, 2], [1500, 3]] as const) {
        const set = await ensureDataset(path.join(dir, `${videos}-${seed}`), { videos, seed, authors: Math.ceil(videos / 20) });
        const files = { consolidated: await readFile(set.consolidated), authors: await readFile(set.authors), bookmarks: await readFile(set.bookmarks) };
        postgres.statements.length = 0;
        const result = await compareImports(files);
        // PostgreSQL parsed the files itself.
        for (const file of ['consolidated', 'authors', 'bookmarks']) {
          expect(postgres.statements.some((e) => e.text.startsWith(`COPY stage_${file}_csv `))).toBe(true);
        }
        expect(result).toMatchObject({ first: { counts: { rows: { consolidated: expect.any(Number) } } } });
        const { rows } = result as { rows: Awaited<ReturnType<typeof storedRows>> };
        expect(rows.videos.length).toBe(videos);
        // The generator's authors file has "n/a" and "1200.0" counts and every spelling of the private flag.
        expect(rows.videos.some((v) => (v as { followers: string | null }).followers === '1200')).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('on random exports: odd whitespace, numbers, flags, quotes, line breaks, short rows, \\N, \\., BOM, every line end', async () => {
    await fc.assert(
      fc.asyncProperty(
        fileArbitrary('consolidated'),
        fc.option(fileArbitrary('authors'), { nil: null }),
        fc.option(fileArbitrary('bookmarks'), { nil: null }),
        layoutArbitrary,
        fc.constantFrom(0, 1, 2, 3, 7, 64),
        async (consolidated, authors, bookmarks, layout, pieceSize) => {
          const files: FileBytes = {
            consolidated: writeCsv(consolidated, layout),
            ...(authors ? { authors: writeCsv(authors, layout) } : {}),
            ...(bookmarks ? { bookmarks: writeCsv(bookmarks, { ...layout, bom: !layout.bom }) } : {}),
          };
          await compareImports(files, pieceSize);
        },
      ),
      { numRuns: 60 },
    );
  }, 300_000);

  it('on the lines COPY reads in its own way: \\. alone, \\N, CR-only files, line breaks of another style', async () => {
    const cases: Record<string, string> = {
      'a line that is exactly \\. (one-column file)': 'c_videos_id\nv1\n\\.\nv2\n',
      '\\. and \\N as fields': 'c_videos_id,c_texts_text_content,x\nv1,\\.,\\N\n\\.\n\\N,\\N\nv2,"\\N","\\."\n',
      'CR-only, with LF inside fields': 'c_videos_id,c_texts_text_content\rv1,one\ntwo\rv2,"three\r\nfour"\r\nv3,x\r',
      'CRLF with lone CR and LF in unquoted fields': 'c_videos_id,c_texts_text_content\r\nv1,a\nb\r\nv2,c\rd\r\n\nv3,e\r\n',
      'LF with CR in unquoted fields': 'c_videos_id,c_texts_text_content\nv1,a\rb\nv2,\r\nv3,\rx\r\n',
      'BOM, blank lines, short rows, no final line end': '\ufeffc_videos_id,c_authors_uniqueids,platform\n\n\nv1\n\nv2,,\nv3, h ,\u3000',
    };
    for (const [name, text] of Object.entries(cases)) {
      for (const pieceSize of [0, 1, 2, 5]) {
        const result = await compareImports({ consolidated: Buffer.from(text) }, pieceSize);
        expect(result, name).toHaveProperty('first.counts');
      }
    }
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------------------

describe('a broken file in the PostgreSQL import', () => {
  let sqlite: TestGateway;
  let postgres: TestGateway;
  beforeAll(async () => {
    [sqlite, postgres] = await Promise.all([startTestGateway('sqlite'), startTestGateway('postgres')]);
    const library = Buffer.from('c_videos_id,c_texts_text_content\nk1,kept\nk2,kept too\n');
    for (const gateway of [sqlite, postgres]) await importCsv(gateway.store, 'kept', importFiles({ consolidated: library }), { create: true });
  });
  afterAll(async () => {
    await Promise.all([sqlite?.close(), postgres?.close()]);
  });

  const FAULTS: Record<string, (field: string) => string | Buffer> = {
    'a NUL byte': (field) => `${field}\u0000x`,
    'a quote inside an unquoted field': (field) => `${field}x"y`,
    'text after a closing quote': () => '"quoted"after',
    'an extra field': (field) => `${field},extra`,
    'bytes that are not UTF-8': (field) => Buffer.concat([Buffer.from(field), Buffer.from([0xc3, 0x28])]),
    'a quote never closed': () => '"never closed',
  };

  it('fails with the code, file, line and column the SQLite import reports, and changes nothing', async () => {
    const before = await Promise.all([sqlite, postgres].map((g) => g.store.withTenant('kept', (db) => tableChecksums(db))));
    await fc.assert(
      fc.asyncProperty(fileArbitrary('consolidated'), layoutArbitrary, fc.constantFrom(...Object.keys(FAULTS)), fc.nat(), fc.constantFrom(0, 1, 7),
        async (generated, layout, fault, columnPick, pieceSize) => {
          // The fault goes into a row of plain fields near the end, after the random rows and before one more.
          const token = (i: number) => `Qfault${i}Q`;
          const rows = [...generated.rows, generated.header.map((_, i) => token(i)), generated.header.map(() => 'z')];
          const file = writeCsv({ header: generated.header, rows }, { ...layout, quoteAll: layout.quoteAll.map(() => false) });
          const needle = token(columnPick % generated.header.length);
          const at = file.lastIndexOf(needle);
          const broken = FAULTS[fault]!(needle);
          const bytes = Buffer.concat([file.subarray(0, at), Buffer.isBuffer(broken) ? broken : Buffer.from(broken), file.subarray(at + needle.length)]);
          const results = await Promise.all([sqlite, postgres].map((g, i) => outcome(importCsv(g.store, 'kept', importFiles({ consolidated: bytes }, i === 1 ? pieceSize : 0)))));
          expect(results[0]).toHaveProperty('error.code');
          expect(results[1]).toEqual(results[0]);
        }),
      { numRuns: 40 },
    );
    const after = await Promise.all([sqlite, postgres].map((g) => g.store.withTenant('kept', (db) => tableChecksums(db))));
    expect(after).toEqual(before);
  }, 300_000);

  /**
   * COPY refuses nothing the check has passed. To see the path taken when it does, one column of the table COPY
   * fills is narrowed to three characters, so a longer value there is refused by PostgreSQL alone.
   */
  function narrowedStore(column: number): Store {
    return new Proxy(postgres.store, {
      get(target, property) {
        if (property === 'withImport') {
          return (sourceId: string, fn: (db: TenantDb, runAtomically: <R>(merge: () => Promise<R>) => Promise<R>) => Promise<unknown>) =>
            target.withImport(sourceId, (db, runAtomically) => {
              const narrow = new RegExp(`\\bc${column} text\\b`);
              const run = (query: Sql) =>
                query.text.startsWith('CREATE TEMP TABLE stage_consolidated_csv') ? db.run(raw(query.text.replace(narrow, `c${column} varchar(3)`))) : db.run(query);
              return fn({ ...db, run }, runAtomically);
            });
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  async function refusal(store: Store, bytes: Buffer, pieceSize = 0) {
    return importCsv(store, 'kept', importFiles({ consolidated: bytes }, pieceSize)).then(
      () => null,
      (failure: { message: string; extensions?: Record<string, unknown> }) => failure,
    );
  }

  it('turns a refusal by COPY itself into an error naming the file, the line and the column', async () => {
    const before = await postgres.store.withTenant('kept', (db) => tableChecksums(db));
    // Lines 3-4 hold one caption, line 5 is blank: the refused row starts on line 6 (and ends on line 7).
    const file = 'c_videos_id,c_texts_text_content\r\nk3,abc\r\nk4,"a\r\n"\r\n\r\nk5,"too\r\nlong"\r\nk6,ok\r\n';
    const error = await refusal(narrowedStore(2), Buffer.from(file));
    expect(error?.extensions).toMatchObject({ code: 'CSV_MALFORMED', file: 'consolidated', line: 6, column: 2, columnName: 'c_texts_text_content' });
    expect(error?.message).toBe('consolidated: line 6, column 2 ("c_texts_text_content"): the database refused this row');
    expect(await postgres.store.withTenant('kept', (db) => tableChecksums(db))).toEqual(before);
  });

  it('names the line where the refused row starts, whatever the line ends and multi-line fields before it', async () => {
    await fc.assert(
      fc.asyncProperty(fileArbitrary('consolidated'), layoutArbitrary, fc.nat(), fc.nat(), fc.constantFrom(0, 1, 5),
        async (generated, layout, columnPick, rowPick, pieceSize) => {
          const column = columnPick % generated.header.length;
          const target = rowPick % generated.rows.length;
          const short = (value: string) => [...value].slice(0, 3).join('');
          const rows = generated.rows.map((values, i) =>
            i === target
              ? generated.header.map((_, k) => (k === column ? `long${values[k] ?? ''}` : (values[k] ?? '')))
              : values.map((value, k) => (k === column ? short(value) : value)));
          const { bytes, rowLines } = writeCsvLines({ header: generated.header, rows }, layout);
          const error = await refusal(narrowedStore(column + 1), bytes, pieceSize);
          expect(error?.extensions).toMatchObject({ code: 'CSV_MALFORMED', file: 'consolidated', line: rowLines[target], column: column + 1 });
        }),
      { numRuns: 40 },
    );
  }, 300_000);

  it('refuses a header wider than a PostgreSQL table can be, naming the first column past the limit', async () => {
    const header = ['c_videos_id', ...Array.from({ length: 1599 }, (_, i) => `x${i + 1}`)];
    const file = Buffer.from(`\n${header.join(',')}\nw1${',v'.repeat(1599)}\n`);
    const result = await outcome(importCsv(postgres.store, 'kept', importFiles({ consolidated: file })));
    expect(result).toEqual({ error: { code: 'CSV_COLUMN_COUNT', file: 'consolidated', line: 2, column: 1600, columnName: 'x1599' } });
  });

  it('reads the rows in Node in a database whose encoding is not UTF-8', async () => {
    const adminUrl = inject('postgresAdminUrl');
    const name = `sx_test_euc_jp_${process.pid}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}" ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const statements: string[] = [];
    const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: url.toString() });
    const store = new PostgresStore({ dsn: url.toString(), config, observer: (event) => statements.push(event.text) });
    try {
      await store.prepare();
      const summary = await importCsv(store, 'eucjp', importFiles({ consolidated: Buffer.from('c_videos_id,c_texts_text_content\ne1,日本\ne2, x \n') }), { create: true });
      expect(summary).toMatchObject({ inserted: 2, rows: { consolidated: 2 } });
      expect(statements.some((text) => text.startsWith('COPY stage_consolidated ('))).toBe(true);
    } finally {
      await store.close();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
