import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { GatewayError } from '../errors.js';
import { CsvCheck, MAX_RECORD_BYTES, csvError } from './csvCheck.js';

/**
 * One row keyed by the header's names. A row with fewer fields than the header is accepted and its missing
 * trailing fields are null, as Python's csv.DictReader (the original importer) filled them with None; a row
 * with more fields is refused (CSV_COLUMN_COUNT).
 */
export type CsvRecord = Record<string, string | null>;

export interface CsvReadOptions {
  /** Names the file in errors: "consolidated", "authors" or "bookmarks". */
  label: string;
  requiredColumns: readonly string[];
  /** A file with a header and no rows is refused (the consolidated export must hold something). */
  requireRows?: boolean;
  onBytes?: (bytes: number) => void;
}

/**
 * csv-parse only ever sees bytes CsvCheck has passed, so its own errors mean the two disagree about the
 * syntax. Its line count is kept as a hint (it counts a CRLF inside quotes as two lines); its text is not shown.
 */
function parserFailure(label: string, header: readonly string[] | null, error: CsvError): GatewayError {
  const line = typeof error.lines === 'number' ? error.lines : 1;
  const column = typeof error.index === 'number' ? error.index + 1 : null;
  return csvError(label, header, 'CSV_MALFORMED', { line, column }, 'the row cannot be read as CSV');
}

/**
 * Streams the rows of one CSV file (UTF-8, optional BOM, CRLF, LF or CR line ends) as arrays in header order,
 * after CsvCheck has checked its bytes and header; `onHeader` gets the header's (trimmed) names first. A missing
 * trailing field is null. Memory stays bounded by the largest record, never the file.
 */
export async function* readCsvRows(
  input: Readable,
  options: CsvReadOptions & { onHeader?: (header: readonly string[]) => void },
): AsyncGenerator<(string | null)[]> {
  const { label } = options;
  const check = new CsvCheck(options);
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    // Short rows are filled below; long rows never get here (CsvCheck refuses them).
    relax_column_count: true,
    // CsvCheck enforces the limit in bytes first; this bounds csv-parse's buffer should the two ever disagree.
    // (No `info` and the default record separator detection: either option makes parsing markedly slower.)
    max_record_size: MAX_RECORD_BYTES,
  });
  // Errors of the source or the check must reach the consumer of the parser, which is the only one awaited.
  input.once('error', (error) => parser.destroy(error));
  check.once('error', (error) => parser.destroy(error));
  input.pipe(check).pipe(parser);

  let header: string[] | null = null;
  try {
    for await (const record of parser as AsyncIterable<(string | null)[]>) {
      if (header === null) {
        // CsvCheck has validated the header (the same record) before any row reached the parser.
        header = (record as string[]).map((name) => name.trim());
        options.onHeader?.(header);
        continue;
      }
      if (record.length > header.length) {
        throw csvError(label, header, 'CSV_COLUMN_COUNT', { line: parser.info.lines, column: header.length + 1 },
          `the row has more fields than the header's ${header.length} columns`);
      }
      while (record.length < header.length) record.push(null);
      yield record;
    }
  } catch (error) {
    if (error instanceof CsvError) throw parserFailure(label, header, error);
    throw error;
  } finally {
    // After a failure (here or in the consumer, a failed COPY) the rest of the file is not wanted.
    input.destroy();
  }
}

/** The rows of readCsvRows keyed by the header's names (objects without a prototype: any name is a plain key). */
export async function* readCsvRecords(input: Readable, options: CsvReadOptions): AsyncGenerator<CsvRecord> {
  let header: readonly string[] = [];
  for await (const values of readCsvRows(input, { ...options, onHeader: (names) => (header = names) })) {
    const row: CsvRecord = Object.create(null) as CsvRecord;
    for (let i = 0; i < header.length; i++) row[header[i]!] = values[i]!;
    yield row;
  }
}
