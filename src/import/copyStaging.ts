import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import sql, { join, raw, type Sql } from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import type { TenantDb } from '../interfaces.js';
import { tempTable } from '../queries/dialect.js';
import { STAGED_COLUMNS } from '../queries/importMerge.js';
import { CsvCheck, FIELD_START, LF_BREAK, UNQUOTED, csvError, type CsvCheckOptions } from './csvCheck.js';
import { FIELD_RULES, rowRulesSql, stagedColumnList, type FileKind } from './fieldRules.js';

const QUOTE = Buffer.from('"');
const MISSING_FIELD = Buffer.from(',\\N');
const BACKSLASH = 0x5c;
const CR = 0x0d;
const LF = 0x0a;
const CAPITAL_N = 0x4e;
const PERIOD = 0x2e;
/** PostgreSQL's limit is 1600 columns a table, and the table COPY fills has `seq` besides the file's. */
const MAX_COPY_COLUMNS = 1599;
/** Rows between two progress reports while a file streams (the SQLite path reports per batch of this size too). */
const PROGRESS_ROWS = 500;

export interface CopyFeedOptions extends CsvCheckOptions {
  /** Rows read so far, every PROGRESS_ROWS rows. */
  onRows?: (rows: number) => void;
}

/**
 * CsvCheck's validation, with the checked bytes rewritten into what PostgreSQL's `COPY … (FORMAT csv, NULL '\N')`
 * reads as the same rows csv-parse (the SQLite path) reads:
 * - the byte order mark, the header and empty lines are left out (csv-parse skips them; COPY would not);
 * - a short row gets `,\N` for each missing trailing field: NULL, as csv.DictReader gave None, while a present
 *   empty field stays '';
 * - an unquoted field that is literally `\N` or `\.` is quoted: the first is COPY's NULL, the second alone on a
 *   line ends COPY's data;
 * - an unquoted field holding a line break that is not the file's record separator (csv-parse reads it as
 *   content) is quoted: COPY wants one newline style per file and refuses a stray CR or LF outside quotes.
 * Records keep their own separator (CRLF, LF or CR), which then is the only one outside quotes. Everything else
 * goes through as slices of the input chunks: the common chunk is passed on as it came.
 */
export class CopyFeed extends CsvCheck {
  /** Input chunks not yet wholly passed on, with the file offset of their first byte. */
  private held: { base: number; bytes: Buffer }[] = [];
  /** File offset up to which the input has been passed on (or left out). */
  private doneTo = 0;
  private out: Buffer[] = [];
  /** The current unquoted field has been opened with a quote (it holds a line break). */
  private quoting = false;
  /**
   * Where COPY's lines are in the file, to name the file's line when COPY refuses a row. COPY numbers lines as it
   * reads them: one per record, plus one for each record-separator character inside quotes (LF when the records
   * end in LF, else CR; CR while the first record is read, whose end tells which). Segments of records where
   * both `copyEnd - record` (COPY's line at the record's end) and `fileStart - record` (the file's line where the
   * record starts) stay the same: a new one starts at a multi-line record or after an empty line.
   */
  private segments: { record: number; copyShift: number; fileShift: number }[] = [];
  private copyLine = 0;
  /** Record-separator characters COPY will count inside quotes in the current record. */
  private copyBreaks = 0;
  /** The byte COPY counts inside quotes: CR until the first record sent has ended. */
  private countedBreak = CR;
  private readonly onRows: ((rows: number) => void) | undefined;

  constructor(options: CopyFeedOptions) {
    super(options);
    this.onRows = options.onRows;
    this.watchFields = true;
  }

  /** Data rows read so far. */
  get rowCount(): number {
    return this.rows;
  }

  /** The file line of the header. */
  get headerAt(): number {
    return this.headerLine;
  }

  /** The file line where the record starts that COPY's line `line` (as its errors number them) belongs to. */
  fileLineOf(line: number): number {
    for (const [i, segment] of this.segments.entries()) {
      const next = this.segments[i + 1];
      if (next && line > next.record - 1 + segment.copyShift) continue;
      return Math.max(segment.record, line - segment.copyShift) + segment.fileShift;
    }
    return line;
  }

  protected override scanning(chunk: Buffer, base: number): void {
    this.held.push({ base, bytes: chunk });
  }

  protected override fieldEnded(at: number): void {
    if (this.headerFields === null) return;
    if (this.quoting) {
      this.insert(at, QUOTE);
      this.quoting = false;
    } else if (this.state === UNQUOTED && at - this.fieldStart === 2 && this.byteAt(this.fieldStart) === BACKSLASH) {
      const second = this.byteAt(this.fieldStart + 1);
      if (second === CAPITAL_N || second === PERIOD) {
        this.insert(this.fieldStart, QUOTE);
        this.insert(at, QUOTE);
      }
    }
  }

  protected override lineBreakInField(at: number): void {
    if (this.headerFields === null) return;
    // Once quoted, COPY counts it like any line break inside quotes.
    if (this.byteAt(at) === this.countedBreak) this.copyBreaks += 1;
    if (this.quoting) return;
    this.insert(this.fieldStart, QUOTE);
    this.quoting = true;
  }

  protected override lineBreakInQuotes(byte: number): void {
    if (this.headerFields !== null && byte === this.countedBreak) this.copyBreaks += 1;
  }

  protected override recordEnded(kind: 'header' | 'row' | 'empty', endAt: number, nextStart: number): void {
    if (kind === 'header') {
      this.skip(this.doneTo, nextStart);
      this.emit('header', this.header);
      return;
    }
    if (kind === 'empty') {
      this.skip(endAt, nextStart);
      return;
    }
    const missing = this.headerFields! - this.column;
    if (missing > 0) this.insert(endAt, missing === 1 ? MISSING_FIELD : Buffer.concat(Array(missing).fill(MISSING_FIELD)));
    this.copyLine += 1 + this.copyBreaks;
    this.copyBreaks = 0;
    if (endAt < nextStart) this.countedBreak = this.recordBreak === LF_BREAK ? LF : CR;
    const last = this.segments.at(-1);
    const copyShift = this.copyLine - this.rows;
    const fileShift = this.recordLine - this.rows;
    if (last?.copyShift !== copyShift || last.fileShift !== fileShift) this.segments.push({ record: this.rows, copyShift, fileShift });
    if (this.rows % PROGRESS_ROWS === 0) this.onRows?.(this.rows);
  }

  protected override passOn(_chunk: Buffer): void {
    // Bytes that a later edit may still precede stay held: an unquoted field (it may need quoting), a CR whose
    // next byte decides whether it ends the record, and everything before the header's end.
    let safe = this.offset;
    if (this.headerFields === null) safe = this.doneTo;
    if (this.state === FIELD_START || this.state === UNQUOTED) safe = Math.min(safe, this.fieldStart);
    if (this.crPendingAt !== null) safe = Math.min(safe, this.crPendingAt);
    this.pass(Math.max(safe, this.doneTo));
    this.flushOut();
  }

  protected override ended(): void {
    this.pass(this.offset);
    this.flushOut();
  }

  private flushOut(): void {
    if (this.out.length === 0) return;
    this.push(this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out));
    this.out = [];
  }

  private byteAt(at: number): number | undefined {
    for (const { base, bytes } of this.held) if (at >= base && at < base + bytes.length) return bytes[at - base];
    return undefined;
  }

  /** Passes the input on up to file offset `to`. */
  private pass(to: number): void {
    while (this.doneTo < to && this.held.length) {
      const { base, bytes } = this.held[0]!;
      const end = Math.min(to, base + bytes.length);
      if (end > this.doneTo) this.out.push(this.doneTo === base && end === base + bytes.length ? bytes : bytes.subarray(this.doneTo - base, end - base));
      this.doneTo = Math.max(this.doneTo, end);
      if (this.doneTo >= base + bytes.length) this.held.shift();
      else break;
    }
    this.doneTo = Math.max(this.doneTo, to);
  }

  private insert(at: number, bytes: Buffer): void {
    this.pass(at);
    this.out.push(bytes);
  }

  /** Leaves the input in [from, to) out. */
  private skip(from: number, to: number): void {
    this.pass(from);
    this.doneTo = to;
    while (this.held.length && this.held[0]!.base + this.held[0]!.bytes.length <= to) this.held.shift();
  }
}

/**
 * Whether this database can take a file through COPY: a PostgreSQL handle that can COPY, in a UTF-8 database. The
 * rules' SQL carries characters (the trimmed set) that other server encodings cannot hold; there the rows are
 * read in Node instead, as they are for SQLite.
 */
export async function canStageByCopy(db: TenantDb): Promise<boolean> {
  if (db.dialect !== 'postgres' || !db.copyFrom) return false;
  const row = await db.one<{ encoding: string }>(sql`SELECT current_setting('server_encoding') AS encoding`);
  return row?.encoding === 'UTF8';
}

/** The table COPY fills: the file's fields as text, `c1`…`cN` in header order, `seq` in file order. */
const csvTable = (file: FileKind) => `${FIELD_RULES[file].table}_csv`;

export interface CopyStaged {
  rows: number;
}

/** A file COPY has parsed into its text table (csvTable) whose field rules have not run yet. */
export interface CopiedCsv {
  file: FileKind;
  header: string[];
  /** Data rows in the file. */
  rows: number;
}

const textColumns = (header: readonly string[]): Sql[] => header.map((_, i) => raw(`r.c${i + 1}`));

/**
 * Stages one file in PostgreSQL: its header is read in Node, its bytes go through CopyFeed into COPY, and one
 * INSERT … SELECT generated from the field rules fills the file's stage table. A problem in the file aborts the
 * COPY (CopyFail), so the import's transaction rolls back.
 */
export async function stageByCopy(
  db: TenantDb,
  file: FileKind,
  input: Readable,
  options: { requireRows?: boolean; onProgress?: (rows: number, bytes: number) => void },
): Promise<CopyStaged> {
  return stageCopied(db, await copyCsv(db, file, input, options));
}

/**
 * The COPY half of stageByCopy: the file's fields land in its text table, `c1`…`cN` in header order and `seq` in
 * file order, where they stay until stageCopied applies the rules (or the transaction ends).
 */
export async function copyCsv(
  db: TenantDb,
  file: FileKind,
  input: Readable,
  options: { requireRows?: boolean; onProgress?: (rows: number, bytes: number) => void },
): Promise<CopiedCsv> {
  if (!db.copyFrom) throw new Error('copyCsv needs a TenantDb that can COPY');
  let bytes = 0;
  const feed = new CopyFeed({
    label: file,
    requiredColumns: FIELD_RULES[file].required,
    requireRows: options.requireRows,
    onBytes: (n) => (bytes += n),
    onRows: (rows) => options.onProgress?.(rows, bytes),
  });
  input.once('error', (error) => feed.destroy(error));
  // The feed may fail while the table is being created, before COPY listens to it: the failure is kept here.
  const feedFailure: { error: Error | null } = { error: null };
  feed.on('error', (error) => (feedFailure.error ??= error));
  try {
    const header = await headerOf(feed, input);
    if (header.length > MAX_COPY_COLUMNS) {
      throw csvError(file, header, 'CSV_COLUMN_COUNT', { line: feed.headerAt, column: MAX_COPY_COLUMNS + 1 },
        `the header names ${header.length} columns; an import into PostgreSQL takes at most ${MAX_COPY_COLUMNS}`);
    }
    const table = csvTable(file);
    const columns = header.map((_, i) => raw(`c${i + 1}`));
    await db.run(sql`DROP TABLE IF EXISTS ${raw(table)}`);
    await db.run(tempTable(db.dialect, table, sql`(seq integer GENERATED ALWAYS AS IDENTITY, ${join(columns.map((c) => sql`${c} text`), ', ')})`));
    // No FREEZE: on a temporary table (no WAL, cheap hint bits) it measured no faster, and it fails in a
    // transaction that already holds a snapshot (REPEATABLE READ).
    const copy = sql`COPY ${raw(table)} (${join(columns)}) FROM STDIN (FORMAT csv, NULL '\\N')`;
    try {
      if (feedFailure.error) throw feedFailure.error;
      await db.copyFrom(copy, feed);
    } catch (error) {
      throw copyFailure(feedFailure.error ?? error, file, feed);
    }
    options.onProgress?.(feed.rowCount, bytes);
    return { file, header, rows: feed.rowCount };
  } finally {
    input.destroy();
  }
}

/**
 * The field rules over a copied file's rows, into the file's stage table: all of them, or those whose `seq` the
 * condition `only` (over `r.seq`) admits; with `digests`, each row's `raw_a` and `raw_b` too (rawDigestSql). The
 * text table is dropped once all rows are staged: it would hold its disk until the transaction ends.
 */
export async function stageCopied(db: TenantDb, copied: CopiedCsv, options: { only?: Sql; digests?: boolean } = {}): Promise<CopyStaged> {
  const { file, header } = copied;
  const table = raw(csvTable(file));
  const stagedColumns = STAGED_COLUMNS[FIELD_RULES[file].table];
  const digest = options.digests ? rawDigestSql(copied) : null;
  const digests = digest
    ? { columns: sql`, raw_a, raw_b`, values: sql`, ${digest.a}, ${digest.b}` }
    : { columns: sql``, values: sql`` };
  await db.run(sql`
    INSERT INTO ${raw(FIELD_RULES[file].table)} (${stagedColumnList(stagedColumns)}${digests.columns})
    SELECT ${rowRulesSql(file, header, textColumns(header), stagedColumns, sql`r.seq`)}${digests.values}
      FROM ${table} r
     WHERE ${options.only ?? sql`true`}`);
  if (!options.only) await db.run(sql`DROP TABLE ${table}`);
  return { rows: copied.rows };
}

/**
 * A select over a copied file's text table (as `r`) of each row's `seq`, the staged columns named (by the same
 * rules stageCopied applies) and its fields' digest (`raw_a`, `raw_b`, see rawDigestSql): what a re-import judges
 * its rows by before their rules run.
 */
export function copiedKeysSql(copied: CopiedCsv, stagedColumns: readonly string[]): Sql {
  const { file, header } = copied;
  const digest = rawDigestSql(copied);
  return sql`SELECT ${rowRulesSql(file, header, textColumns(header), ['seq', ...stagedColumns], sql`r.seq`, { partial: true })},
                    ${digest.a} AS raw_a, ${digest.b} AS raw_b
               FROM ${raw(csvTable(file))} r`;
}

/** Changed when the digest below changes meaning: every stored digest then differs, which only costs a full comparison. */
const RAW_DIGEST_VERSION = 1;

/**
 * The two 64-bit halves of the digest of a row's fields as the file holds them: each a hash of each field with a
 * seed of its own, combined by XOR, a missing trailing field (NULL) with a constant of its own. The seeds come
 * from the header and the rules' generated SQL, so the same fields under another header, or under rules that have
 * changed, give another digest: the staged row is a function of exactly these. One hash call per field cost 0.4 s
 * on 1M rows where building the row's JSON text to hash it cost 1.5 s.
 */
function rawDigestSql(copied: CopiedCsv): { a: Sql; b: Sql } {
  const { file, header } = copied;
  const stagedColumns = STAGED_COLUMNS[FIELD_RULES[file].table];
  const rules = rowRulesSql(file, header, textColumns(header), stagedColumns, sql`r.seq`);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([RAW_DIGEST_VERSION, file, header, rules.sql, rules.values]))
    .digest('hex');
  const half = (name: 'a' | 'b'): Sql => {
    const seed = (...parts: (string | number)[]) =>
      createHash('sha256').update([fingerprint, name, ...parts].join(':')).digest().readBigInt64BE(0).toString();
    const fields = textColumns(header).map(
      (column, i) => sql`coalesce(hashtextextended(${column}, ${seed(i)}::bigint), ${seed(i, 'null')}::bigint)`,
    );
    return fields.length ? join(fields, ' # ') : sql`0::bigint`;
  };
  return { a: half('a'), b: half('b') };
}

/** Pipes the input into the feed and waits until the feed has read and checked the header. */
function headerOf(feed: CopyFeed, input: Readable): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(error);
    feed.once('error', failed);
    feed.once('header', (header: string[]) => {
      feed.off('error', failed);
      resolve(header);
    });
    input.pipe(feed);
  });
}

/**
 * COPY refused bytes CopyFeed had passed (this should not happen): the database's words are not shown, only the
 * file, the line and the column it names. A problem of the file itself (CsvCheck's) is passed on as it is.
 */
function copyFailure(error: unknown, file: FileKind, feed: CopyFeed): unknown {
  if (error instanceof GatewayError) return error;
  const where = (error as { where?: unknown })?.where;
  const at = typeof where === 'string' ? /^COPY \w+, line (\d+)(?:, column c(\d+))?/.exec(where) : null;
  if (!at) return error;
  const column = at[2] ? Number(at[2]) : null;
  const sqlState = (error as { code?: unknown }).code;
  const untranslatable = sqlState === '22P05' || sqlState === '22021';
  return csvError(file, feed.header, untranslatable ? 'CSV_ENCODING' : 'CSV_MALFORMED', { line: feed.fileLineOf(Number(at[1])), column },
    untranslatable ? 'the row holds a character the database cannot store' : 'the database refused this row');
}
