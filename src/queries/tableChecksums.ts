import { createHash } from 'node:crypto';
import type { TenantDb } from '../interfaces.js';
import { sourceRowBatches } from './sourceRows.js';
import { SOURCE_TABLES, type ColumnKind, type SourceTable } from '../tables/sourceTables.js';

export { SOURCE_TABLES };

export interface TableChecksum {
  table: string;
  rows: number;
  /** SHA-256 (hex) over the column names, then every row in primary-key order, one canonical JSON line each. */
  checksum: string;
}

/**
 * A checksum of every table of the source, to show that a failed import changed nothing, that a backup or a
 * cutover copied everything, or where two copies of a source differ. Same data, same checksums, in SQLite and
 * PostgreSQL (job_queue aside, see above).
 *
 * Rows are read in batches in primary-key order, by byte order of the key (PostgreSQL's "C" collation, which
 * is how SQLite compares text), so both stores hash the rows in the same order. In PostgreSQL each batch is its
 * own snapshot of a READ COMMITTED transaction: the caller keeps writers away (an import of the same source
 * waits for none of this) when the figures must describe one instant.
 */
export async function tableChecksums(db: TenantDb): Promise<TableChecksum[]> {
  const result: TableChecksum[] = [];
  for (const source of SOURCE_TABLES) result.push(await tableChecksum(db, source));
  return result;
}

async function tableChecksum(db: TenantDb, source: SourceTable): Promise<TableChecksum> {
  const names = Object.keys(source.columns);
  const kinds = Object.values(source.columns);
  const hash = createHash('sha256').update(`${JSON.stringify(names)}\n`);
  let rows = 0;
  for await (const batch of sourceRowBatches(db, source)) {
    for (const row of batch) {
      hash.update(`${JSON.stringify(names.map((name, i) => normalised(row[name], kinds[i]!)))}\n`);
    }
    rows += batch.length;
  }
  return { table: source.table, rows, checksum: hash.digest('hex') };
}

function normalised(value: unknown, kind: ColumnKind): string | null {
  if (value === null || value === undefined) return null;
  if (kind === 'json') return canonicalJson(typeof value === 'string' ? parseJson(value) : value);
  if (kind === 'integer') return typeof value === 'bigint' ? value.toString() : String(value);
  return typeof value === 'string' ? value : String(value);
}

/** SQLite does not check that a JSON column holds JSON; text that is not JSON is hashed as a JSON string. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * JSON with the keys of every object sorted and no whitespace, so equal values have one spelling. Written out
 * by hand: a JavaScript object would put integer-like keys ("10", "9") first whatever order they are added in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const members = Object.keys(object).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
