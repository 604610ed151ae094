import { Transform, type TransformCallback } from 'node:stream';
import { parse as parseSync } from 'csv-parse/sync';
import { GatewayError, type ErrorCode } from '../errors.js';
import { Utf8Validator, firstInvalidUtf8 } from './utf8Check.js';

/**
 * A field larger than this is refused, counted in bytes as the file writes it (quotes included). The longest
 * legitimate value of an export (a caption, a signature, a URL list) is a few KB; one MiB leaves a wide margin
 * and keeps a hostile file from making the importer buffer tens of MB for one value (csv-parse holds a whole
 * record in memory, and the row's JSON copies it again).
 */
export const MAX_FIELD_BYTES = 1024 * 1024;
/** A record (all its fields together) larger than this is refused: bounds memory however many columns a header names. */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;

export type CsvErrorCode = Extract<ErrorCode, `CSV_${string}`>;

/** Where a problem is: 1-based physical line of the file and 1-based column (field) number. */
export interface CsvPosition {
  line: number;
  column: number | null;
}

const MIB = 1024 * 1024;
const sizeText = (bytes: number) => (bytes % MIB === 0 ? `${bytes / MIB} MiB` : `${bytes} bytes`);

/**
 * The one place CSV errors are worded: `<file>: line 7, column 3 ("caption"): <what>`. The column is named
 * when the header names it. `header` may be null when the problem comes before the header ends.
 */
export function csvError(
  file: string,
  header: readonly string[] | null,
  code: CsvErrorCode,
  at: CsvPosition,
  what: string,
  details: Record<string, unknown> = {},
): GatewayError {
  const columnName = at.column !== null ? (header?.[at.column - 1] ?? null) : null;
  let where = `line ${at.line}`;
  if (at.column !== null) where += `, column ${at.column}`;
  if (columnName) where += ` (${JSON.stringify(columnName)})`;
  return new GatewayError(code, `${file}: ${where}: ${what}`, {
    file,
    line: at.line,
    column: at.column,
    ...(columnName ? { columnName } : {}),
    ...details,
  });
}

export interface CsvCheckOptions {
  /** Names the file in errors: "consolidated", "authors" or "bookmarks". */
  label: string;
  requiredColumns: readonly string[];
  /** A file with a header and no rows is refused. */
  requireRows?: boolean;
  onBytes?: (bytes: number) => void;
}

// Formats that people upload by mistake, recognised by their first bytes so the error can say what the file is.
const SIGNATURES: { bytes: number[]; code: CsvErrorCode; what: string }[] = [
  { bytes: [0xff, 0xfe], code: 'CSV_ENCODING', what: 'the file is UTF-16 (it starts with a UTF-16 byte order mark); export it as UTF-8' },
  { bytes: [0xfe, 0xff], code: 'CSV_ENCODING', what: 'the file is UTF-16 (it starts with a UTF-16 byte order mark); export it as UTF-8' },
  { bytes: [0x1f, 0x8b], code: 'CSV_BINARY', what: 'the file is gzip-compressed; decompress it first' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], code: 'CSV_BINARY', what: 'the file is a ZIP archive (or a spreadsheet workbook), not CSV text' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], code: 'CSV_BINARY', what: 'the file is a PNG image, not CSV text' },
  { bytes: [0xff, 0xd8, 0xff], code: 'CSV_BINARY', what: 'the file is a JPEG image, not CSV text' },
  { bytes: [0x25, 0x50, 0x44, 0x46, 0x2d], code: 'CSV_BINARY', what: 'the file is a PDF document, not CSV text' },
];
const SNIFF_BYTES = 8;
const UTF8_BOM = [0xef, 0xbb, 0xbf];

const TEXT_AFTER_QUOTE = 'text after the closing quote of a quoted field (a quote inside it must be doubled)';

const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

// Where the scanner is inside a record.
export const FIELD_START = 0;
export const UNQUOTED = 1;
const QUOTED = 2;
/** Inside a quoted field, just after a quote: it closes the field, or escapes a second quote. */
const AFTER_QUOTE = 3;

// The record separator, decided like csv-parse does: by the first CR or LF outside a quoted field.
const UNKNOWN_BREAK = 0;
const CRLF_BREAK = 1;
export const LF_BREAK = 2;
const CR_BREAK = 3;

/**
 * Checks a CSV file's bytes on their way to csv-parse and fails on the first problem, naming the physical line
 * and column where it is: bytes that are not UTF-8, a NUL byte (binary data; PostgreSQL text cannot hold it),
 * a quote inside an unquoted field or text after a closing quote, a quote never closed, a row with more fields
 * than the header, a field or a record over the size limits, and a header with a duplicate, unnamed or missing
 * column. Every problem is found here, in file order, before csv-parse or any SQL sees the bytes, so the first
 * problem of a file is the one reported and no chunk that holds a problem is passed on.
 *
 * The syntax is csv-parse's with the options the reader uses: `"` quotes, `""` escapes, `,` separates, and the
 * record separator is the first of CRLF, LF or CR met outside quotes (the others are then field content, and
 * an error right after a closing quote). csv-parse's own line count is not used: it counts a CRLF inside
 * quotes twice. Lines here are what an editor shows: CRLF, LF and a lone CR each end one line.
 */
export class CsvCheck extends Transform {
  /** The header's column names (trimmed), once its record has been read. */
  header: string[] | null = null;

  private readonly options: CsvCheckOptions;
  private readonly utf8 = new Utf8Validator();
  /** The first bytes, held until there are enough to recognise a binary format. */
  private head: Buffer | null = Buffer.alloc(0);
  /** The last bytes of the previous chunk: a UTF-8 character may continue into the next chunk. */
  private tail: Buffer = Buffer.alloc(0);
  /** Bytes of the header record read so far (the header may span chunks). */
  private headerParts: Buffer[] = [];

  /** File offset of the first byte of the chunk being scanned (after a scan: of the next chunk). */
  protected offset = 0;
  protected state = FIELD_START;
  protected recordBreak = UNKNOWN_BREAK;
  private line = 1;
  protected column = 1;
  /** The previous byte was a CR: an LF now ends no further line. */
  private afterCr = false;
  /** A CR outside quotes ended the previous chunk; the next byte tells whether it starts a CRLF. */
  protected crPendingAt: number | null = null;
  protected recordStart = 0;
  protected recordLine = 1;
  protected fieldStart = 0;
  private fieldLine = 1;
  /** File offset of the first content byte that would break a size limit in the current field. */
  private limitAt = MAX_FIELD_BYTES;
  protected headerFields: number | null = null;
  protected headerLine = 1;
  /** Rows (records after the header, empty lines not counted) read so far. */
  protected rows = 0;
  /** Whether fieldEnded, lineBreakInField and lineBreakInQuotes are called (a call per field). */
  protected watchFields = false;

  constructor(options: CsvCheckOptions) {
    super();
    this.options = options;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.options.onBytes?.(chunk.length);
    let from = 0;
    if (this.head) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < SNIFF_BYTES) {
        done();
        return;
      }
      chunk = this.head;
      this.head = null;
      const error = this.sniff(chunk);
      if (error) {
        done(error);
        return;
      }
      from = this.recordStart;
    }
    const error = this.check(chunk, from);
    if (error) {
      done(error);
      return;
    }
    this.passOn(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.head) {
      const chunk = this.head;
      this.head = null;
      const error = this.sniff(chunk) ?? this.check(chunk, this.recordStart);
      if (error) {
        done(error);
        return;
      }
      this.passOn(chunk);
    }
    const error = this.finish();
    if (error) {
      done(error);
      return;
    }
    this.ended();
    done();
  }

  // What a subclass that rewrites the bytes hooks into; by default the checked bytes go on as they came.

  /** A chunk is about to be scanned; its first byte is at file offset `base`. */
  protected scanning(_chunk: Buffer, _base: number): void {}
  /** The chunk passed the check. */
  protected passOn(chunk: Buffer): void {
    this.push(chunk);
  }
  /** The whole file passed the check (after the last passOn). */
  protected ended(): void {}
  /** With watchFields: the field in `state` ends at file offset `at` (a comma or the record's end). */
  protected fieldEnded(_at: number): void {}
  /** With watchFields: a line break at file offset `at` that is content of an unquoted field. */
  protected lineBreakInField(_at: number): void {}
  /** With watchFields: a CR or LF (the byte) inside a quoted field. */
  protected lineBreakInQuotes(_byte: number): void {}
  /**
   * A record ended: its separator spans file offsets [endAt, nextStart); `column` is its field count, `recordLine`
   * its first line. Empty lines are records of kind 'empty'.
   */
  protected recordEnded(_kind: 'header' | 'row' | 'empty', _endAt: number, _nextStart: number): void {}

  private fail(code: CsvErrorCode, at: CsvPosition, what: string): GatewayError {
    return csvError(this.options.label, this.header, code, at, what);
  }

  private here(): CsvPosition {
    return { line: this.line, column: this.column };
  }

  private sniff(start: Buffer): GatewayError | undefined {
    for (const signature of SIGNATURES) {
      if (signature.bytes.every((byte, i) => start[i] === byte)) return this.fail(signature.code, { line: 1, column: 1 }, signature.what);
    }
    if (UTF8_BOM.every((byte, i) => start[i] === byte)) {
      // csv-parse drops the byte order mark; the first field starts after it.
      this.recordStart = UTF8_BOM.length;
      this.startField(UTF8_BOM.length);
    }
    return undefined;
  }

  /** Scans one chunk from byte `from` (past a byte order mark); returns the first problem in it. */
  private check(chunk: Buffer, from: number): GatewayError | undefined {
    const base = this.offset;
    this.scanning(chunk, base);
    // Only on the rare invalid path is the bad byte located; the structure before it is still checked first.
    const invalidAt = this.utf8.push(chunk) ? null : (firstInvalidUtf8(this.tail, chunk) ?? 0);
    const problem = this.scan(chunk, from, invalidAt === null ? chunk.length : Math.max(from, invalidAt));
    if (problem) return problem;
    if (invalidAt !== null) {
      const byte = invalidAt >= 0 ? chunk[invalidAt]! : this.tail[this.tail.length + invalidAt]!;
      return this.fail('CSV_ENCODING', this.here(), `not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')} at file offset ${base + invalidAt})`);
    }
    this.tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - 3)));
    if (this.headerFields === null) {
      const start = Math.max(0, this.recordStart - base);
      if (start < chunk.length) this.headerParts.push(Buffer.from(chunk.subarray(start)));
    }
    return undefined;
  }

  /** The state machine over bytes [from, end) of the chunk, whose first byte is at file offset `this.offset`. */
  private scan(chunk: Buffer, from: number, end: number): GatewayError | undefined {
    const base = this.offset;
    let i = from;
    if (this.crPendingAt !== null && i < end) {
      const crlf = chunk[i] === LF;
      const error = crlf ? this.crlf(chunk, base) : this.loneCr(chunk, base);
      if (error) return error;
      if (crlf) {
        i += 1;
        this.afterCr = false;
      }
    }
    for (; i < end; i++) {
      const c = chunk[i]!;
      const at = base + i;
      if (c > COMMA) {
        // Neither a separator, a quote, a line break nor NUL: field content, the bulk of every file.
        if (at >= this.limitAt) return this.tooLarge(at);
        if (this.state === FIELD_START) this.state = UNQUOTED;
        else if (this.state === AFTER_QUOTE) return this.fail('CSV_MALFORMED', this.here(), TEXT_AFTER_QUOTE);
        this.afterCr = false;
        continue;
      }
      if (c === NUL) return this.fail('CSV_BINARY', this.here(), 'NUL byte: the file holds binary data, not CSV text');
      const previousCr = this.afterCr;
      this.afterCr = c === CR;
      if (this.state === QUOTED) {
        if (at >= this.limitAt) return this.tooLarge(at);
        if (c === QUOTE) this.state = AFTER_QUOTE;
        else if (c === CR || c === LF) {
          if (c === CR || !previousCr) this.line += 1;
          if (this.watchFields) this.lineBreakInQuotes(c);
        }
        continue;
      }
      let error: GatewayError | undefined;
      if (c === QUOTE) {
        if (at >= this.limitAt) return this.tooLarge(at);
        if (this.state === UNQUOTED) return this.fail('CSV_MALFORMED', this.here(), 'a quote inside an unquoted field (quote the whole field and double the quote)');
        // At a field's start it opens a quoted field; right after a quote it is an escaped quote.
        this.state = QUOTED;
      } else if (c === COMMA) {
        if (at >= this.recordStart + MAX_RECORD_BYTES) return this.tooLarge(at);
        if (this.watchFields) this.fieldEnded(at);
        this.column += 1;
        if (this.headerFields !== null && this.column > this.headerFields) {
          return this.fail('CSV_COLUMN_COUNT', this.here(), `the row has more fields than the header's ${this.headerFields} columns`);
        }
        this.state = FIELD_START;
        this.startField(at + 1);
      } else if (c === LF) {
        if (!previousCr) this.line += 1;
        if (this.recordBreak === UNKNOWN_BREAK) this.recordBreak = LF_BREAK;
        error = this.recordBreak === LF_BREAK ? this.endRecord(chunk, base, at, at + 1) : this.content(at, true);
      } else if (c === CR) {
        this.line += 1;
        if (this.recordBreak === LF_BREAK) error = this.content(at, true);
        else if (this.recordBreak === CR_BREAK) error = this.endRecord(chunk, base, at, at + 1);
        else {
          // CRLF, or a lone CR: the next byte decides, and it may be in the next chunk.
          this.crPendingAt = at;
          if (i + 1 < end) {
            if (chunk[i + 1] === LF) {
              error = this.crlf(chunk, base);
              i += 1;
              this.afterCr = false;
            } else {
              error = this.loneCr(chunk, base);
            }
          }
        }
      } else {
        // Other control characters (tab, form feed …) are field content.
        error = this.content(at);
      }
      if (error) return error;
    }
    this.offset = base + end;
    return undefined;
  }

  /**
   * A byte of field content outside quotes. A line break that is not the record separator is content too; it
   * has already been counted as a line, so an error names the line it ends.
   */
  private content(at: number, lineBreak = false): GatewayError | undefined {
    if (at >= this.limitAt) return this.tooLarge(at);
    if (this.state === FIELD_START) this.state = UNQUOTED;
    else if (this.state === AFTER_QUOTE) {
      return this.fail('CSV_MALFORMED', { line: this.line - (lineBreak ? 1 : 0), column: this.column }, TEXT_AFTER_QUOTE);
    }
    if (lineBreak && this.watchFields) this.lineBreakInField(at);
    return undefined;
  }

  /** The pending CR is followed by LF: with CRLF as the separator (or no separator seen yet) the record ends. */
  private crlf(chunk: Buffer, base: number): GatewayError | undefined {
    const at = this.crPendingAt!;
    this.crPendingAt = null;
    if (this.recordBreak === UNKNOWN_BREAK) this.recordBreak = CRLF_BREAK;
    return this.endRecord(chunk, base, at, at + 2);
  }

  /** The pending CR is not followed by LF: a separator if none was seen yet, else content of a CRLF file. */
  private loneCr(chunk: Buffer, base: number): GatewayError | undefined {
    const at = this.crPendingAt!;
    this.crPendingAt = null;
    if (this.recordBreak === UNKNOWN_BREAK) this.recordBreak = CR_BREAK;
    return this.recordBreak === CR_BREAK ? this.endRecord(chunk, base, at, at + 1) : this.content(at, true);
  }

  private startField(at: number): void {
    this.fieldStart = at;
    this.fieldLine = this.line;
    this.limitAt = Math.min(at + MAX_FIELD_BYTES, this.recordStart + MAX_RECORD_BYTES);
  }

  private tooLarge(at: number): GatewayError {
    const position = { line: this.fieldLine, column: this.column };
    return this.fieldStart + MAX_FIELD_BYTES <= at
      ? this.fail('CSV_FIELD_TOO_LARGE', position, `field is larger than ${sizeText(MAX_FIELD_BYTES)}`)
      : this.fail('CSV_RECORD_TOO_LARGE', position, `the row is larger than ${sizeText(MAX_RECORD_BYTES)}`);
  }

  /**
   * A record's separator starts at file offset `endAt`; the next record starts at `nextStart`. `chunk` (whose
   * first byte is at `base`) holds the separator or the bytes after it.
   */
  private endRecord(chunk: Buffer, base: number, endAt: number, nextStart: number): GatewayError | undefined {
    const empty = this.column === 1 && endAt === this.recordStart;
    if (this.watchFields) this.fieldEnded(endAt);
    if (empty) {
      this.recordEnded('empty', endAt, nextStart);
    } else if (this.headerFields === null) {
      const inChunk = chunk.subarray(Math.max(0, this.recordStart - base), Math.max(0, endAt - base));
      const bytes = Buffer.concat([...this.headerParts, inChunk]).subarray(0, endAt - this.recordStart);
      const error = this.readHeader(bytes);
      if (error) return error;
      this.recordEnded('header', endAt, nextStart);
    } else {
      this.rows += 1;
      this.recordEnded('row', endAt, nextStart);
    }
    this.headerParts = [];
    this.state = FIELD_START;
    this.column = 1;
    this.recordStart = nextStart;
    this.recordLine = this.line;
    this.startField(nextStart);
    return undefined;
  }

  private readHeader(bytes: Buffer): GatewayError | undefined {
    const at = { line: this.recordLine, column: null };
    let fields: string[];
    try {
      [fields = []] = parseSync(bytes, { relax_column_count: true }) as string[][];
    } catch {
      // The bytes passed this check, so csv-parse and it disagree: report, do not guess.
      return this.fail('CSV_MALFORMED', at, 'the header cannot be read');
    }
    const names = fields.map((name) => name.trim());
    this.header = names;
    this.headerFields = names.length;
    this.headerLine = this.recordLine;
    const seen = new Set<string>();
    for (const [i, name] of names.entries()) {
      const column = { ...at, column: i + 1 };
      if (name === '') return this.fail('CSV_UNNAMED_COLUMN', column, 'the header names no column here (an empty name)');
      if (seen.has(name)) return this.fail('CSV_DUPLICATE_COLUMN', column, `the header names column ${JSON.stringify(name)} twice`);
      seen.add(name);
    }
    const missing = this.options.requiredColumns.filter((c) => !seen.has(c));
    if (missing.length) {
      return csvError(this.options.label, this.header, 'CSV_MISSING_COLUMN', at,
        `missing required column ${missing.map((m) => JSON.stringify(m)).join(', ')}`, { columnName: missing[0] });
    }
    return undefined;
  }

  /** End of file: a pending CR, an open quote, a cut UTF-8 character, the last record, no header or no rows. */
  private finish(): GatewayError | undefined {
    const pending = this.crPendingAt !== null ? this.loneCr(Buffer.alloc(0), this.offset) : undefined;
    if (pending) return pending;
    if (this.state === QUOTED) {
      return this.fail('CSV_UNTERMINATED_QUOTE', { line: this.fieldLine, column: this.column }, 'the quote opened here is never closed');
    }
    if (!this.utf8.end()) return this.fail('CSV_ENCODING', this.here(), 'the file ends inside a UTF-8 character');
    if (!(this.column === 1 && this.offset === this.recordStart)) {
      const error = this.endRecord(Buffer.alloc(0), this.offset, this.offset, this.offset);
      if (error) return error;
    }
    if (this.headerFields === null) return this.fail('CSV_EMPTY', { line: 1, column: 1 }, 'the file is empty (no header)');
    if (this.rows === 0 && this.options.requireRows) {
      // The position is where the first row should be; no column is named, as none is at fault.
      return csvError(this.options.label, null, 'CSV_EMPTY', { line: this.headerLine + 1, column: 1 }, 'the file has a header but no rows');
    }
    return undefined;
  }
}
