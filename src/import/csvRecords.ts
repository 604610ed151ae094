import { Transform, type Readable } from 'node:stream';
import { parse, type CsvError } from 'csv-parse';
import { GatewayError } from '../errors.js';

export type CsvRecord = Record<string, string>;

export interface CsvReadOptions {
  /** Names the file in errors: "consolidated", "authors" or "bookmarks". */
  label: string;
  requiredColumns: readonly string[];
  /** A file with a header and no rows is refused (the consolidated export must hold something). */
  requireRows?: boolean;
  onBytes?: (bytes: number) => void;
}

/** Fails on the first byte sequence that is not UTF-8 instead of importing U+FFFD into the library. */
function utf8Guard(label: string, onBytes?: (bytes: number) => void): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        decoder.decode(chunk, { stream: true });
      } catch {
        done(new GatewayError('CSV_ENCODING', `${label}: not valid UTF-8 near byte ${offset}`, { file: label, byte: offset }));
        return;
      }
      offset += chunk.length;
      onBytes?.(chunk.length);
      done(null, chunk);
    },
    flush(done) {
      try {
        decoder.decode();
        done();
      } catch {
        done(new GatewayError('CSV_ENCODING', `${label}: ends inside a UTF-8 character`, { file: label, byte: offset }));
      }
    },
  });
}

function csvFailure(label: string, error: CsvError | Error): GatewayError {
  if (error instanceof GatewayError) return error;
  const csv = error as CsvError & { lines?: number; index?: number; column?: string | number };
  const line = typeof csv.lines === 'number' ? csv.lines : null;
  const where = line === null ? '' : ` at line ${line}`;
  return new GatewayError('CSV_MALFORMED', `${label}: ${error.message.replace(/^Invalid \w+ \w+:?\s*/, '')}${where}`, {
    file: label,
    line,
    column: csv.column ?? null,
    reason: csv.code ?? null,
  });
}

/**
 * Streams the records of one CSV file (UTF-8, optional BOM, CRLF or LF), checking its header first.
 * Memory stays bounded by the largest record, never the file.
 */
export async function* readCsvRecords(input: Readable, options: CsvReadOptions): AsyncGenerator<CsvRecord> {
  const { label } = options;
  let headerRead = false;
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    max_record_size: 64 * 1024 * 1024,
    columns: (header: string[]) => {
      headerRead = true;
      const names = header.map((h) => h.trim());
      const seen = new Set<string>();
      for (const name of names) {
        if (seen.has(name)) {
          throw new GatewayError('CSV_MALFORMED', `${label}: header names column "${name}" twice`, { file: label, line: 1, column: name });
        }
        seen.add(name);
      }
      const missing = options.requiredColumns.filter((c) => !seen.has(c));
      if (missing.length) {
        throw new GatewayError('CSV_MISSING_COLUMN', `${label}: missing required column ${missing.map((m) => `"${m}"`).join(', ')}`, {
          file: label,
          line: 1,
          column: missing[0],
        });
      }
      return names;
    },
  });
  const guarded = input.pipe(utf8Guard(label, options.onBytes));
  // Errors of the source or the guard must reach the consumer of the parser, which is the only one awaited.
  input.once('error', (error) => parser.destroy(error));
  guarded.once('error', (error) => parser.destroy(error));
  guarded.pipe(parser);

  let rows = 0;
  try {
    // Records come in the parser's chunks; yielding them one by one keeps memory at one chunk.
    for await (const record of parser as AsyncIterable<CsvRecord>) {
      rows += 1;
      yield record;
    }
  } catch (error) {
    throw csvFailure(label, error as Error);
  }
  if (!headerRead) {
    throw new GatewayError('CSV_EMPTY', `${label}: the file is empty (no header)`, { file: label });
  }
  if (rows === 0 && options.requireRows) {
    throw new GatewayError('CSV_EMPTY', `${label}: the file has a header but no rows`, { file: label, line: 1 });
  }
}
