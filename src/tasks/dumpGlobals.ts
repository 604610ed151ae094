import type pg from 'pg';
import sql from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import { qualified } from '../sources/identifiers.js';
import { inTransaction, runSql, type Queryable } from '../stores/postgres/transaction.js';
import { runPgTool, type PgTool } from './pgTools.js';

/**
 * A per-source dump holds the source's schema only; its rows of the global tables (`public.sources` and the
 * registry) lived in the manifest alone, so a dump separated from its manifest could not be restored. They now
 * travel inside the dump too, in this table of the source's schema.
 *
 * Why a table written before the snapshot: pg_dump reads one exported snapshot (`--snapshot`), and that
 * transaction is read-only, so nothing written in it or after it reaches the dump. The rows are written in a short
 * transaction of their own just before the snapshot is exported, then compared, inside the snapshot, with the
 * global rows the manifest is read from; a metadata change in between is noticed and the backup starts over.
 * A second archive entry was the alternative, but pg_dump writes one archive per run, and a file stitched
 * together from two would no longer be something `pg_restore` reads as it is.
 *
 * The table is not one of SOURCE_TABLES: no checksum, copy, cutover, migration or emptiness check counts it, and
 * the gateway never reads it while serving. It stays in the live schema between backups (one row, overwritten by
 * the next per-source backup), so concurrent backups never drop it under each other.
 */
export const DUMP_GLOBALS_TABLE = 'sx_source_globals';

export interface DumpGlobals {
  /** The source's row of public.sources, column by column. */
  sourceRow: Record<string, unknown>;
  /** Its row of the registry. */
  registryRow: Record<string, unknown>;
  writtenAt: string;
}

/** Writes (replaces) the source's global rows into its schema's globals table, committed before the snapshot. */
export async function writeDumpGlobals(pool: pg.Pool, registryTable: string, sourceId: string, schemaName: string): Promise<void> {
  const table = qualified(schemaName, DUMP_GLOBALS_TABLE);
  const registry = qualified('public', registryTable);
  await inTransaction(pool, async (client) => {
    // Two backups of one source at once: the second waits here instead of racing the first's CREATE TABLE.
    await runSql(client, sql`SELECT pg_advisory_xact_lock(hashtext(${`sx-gateway:source-globals:${schemaName}`}))`);
    await runSql(client, sql`
      CREATE TABLE IF NOT EXISTS ${table} (
        source_row   jsonb NOT NULL,
        registry_row jsonb NOT NULL,
        written_at   timestamptz NOT NULL DEFAULT now()
      )`);
    await runSql(client, sql`
      COMMENT ON TABLE ${table} IS 'The source''s rows of public.sources and the registry, written by a per-source backup just before its snapshot so that its dump restores without the manifest. Not read while serving.'`);
    await runSql(client, sql`DELETE FROM ${table}`);
    await runSql(client, sql`
      INSERT INTO ${table} (source_row, registry_row)
      SELECT to_jsonb(s), to_jsonb(r) FROM public.sources s JOIN ${registry} r ON r.source_id = s.id WHERE s.id = ${sourceId}`);
  });
}

/**
 * True when the globals table holds exactly the global rows `via` (the backup's snapshot) sees. The two sides are
 * read apart and compared here: on a Citus coordinator the table lives on a worker, and a join with the
 * coordinator's own tables would render their rows there, under the worker's settings (its TimeZone, say).
 */
export async function dumpGlobalsCurrent(via: Queryable, registryTable: string, sourceId: string, schemaName: string): Promise<boolean> {
  const table = qualified(schemaName, DUMP_GLOBALS_TABLE);
  const registry = qualified('public', registryTable);
  const written = (await runSql(via, sql`SELECT source_row, registry_row FROM ${table}`)).rows;
  const current = (await runSql(via, sql`
    SELECT to_jsonb(s) AS source_row, to_jsonb(r) AS registry_row
      FROM public.sources s JOIN ${registry} r ON r.source_id = s.id
     WHERE s.id = ${sourceId}`)).rows;
  return written.length === 1 && current.length === 1 && JSON.stringify(written[0]) === JSON.stringify(current[0]);
}

export interface DumpListing {
  /** `Dumped from database version` and `Dumped by pg_dump version`, as the archive's header says them. */
  serverVersion: string | null;
  dumpedBy: string | null;
  /** Tables of each schema the dump holds. */
  tables: Map<string, string[]>;
}

/** What the archive holds, read from its table of contents (`pg_restore --list`) without restoring anything. */
export async function listDump(pgRestore: PgTool, dumpFile: string): Promise<DumpListing> {
  let stdout: string;
  try {
    ({ stdout } = await runPgTool(pgRestore, ['--list', dumpFile]));
  } catch (error) {
    throw new GatewayError('BACKUP_INVALID', `${dumpFile} is not a dump pg_restore can read: ${(error as Error).message}`, { file: dumpFile });
  }
  const header = (name: string) => new RegExp(`^;\\s+${name}:\\s+(\\S+)`, 'm').exec(stdout)?.[1] ?? null;
  const tables = new Map<string, string[]>();
  // `215; 1259 16390 TABLE sx_alpha videos owner`: our schema and table names hold no spaces.
  for (const match of stdout.matchAll(/^\d+; \d+ \d+ TABLE (\S+) (\S+) /gm)) {
    tables.set(match[1]!, [...(tables.get(match[1]!) ?? []), match[2]!]);
  }
  return { serverVersion: header('Dumped from database version'), dumpedBy: header('Dumped by pg_dump version'), tables };
}

/** The globals table's one row, read out of the dump by pg_restore (a COPY block in its script). */
export async function readDumpGlobals(pgRestore: PgTool, dumpFile: string, schemaName: string): Promise<DumpGlobals> {
  const invalid = (why: string) =>
    new GatewayError('BACKUP_INVALID', `${dumpFile}: the source's global rows (${schemaName}.${DUMP_GLOBALS_TABLE}) ${why}`, { file: dumpFile });
  let stdout: string;
  try {
    ({ stdout } = await runPgTool(pgRestore, ['--data-only', `--schema=${schemaName}`, `--table=${DUMP_GLOBALS_TABLE}`, '--file=-', dumpFile]));
  } catch (error) {
    throw invalid(`cannot be read: ${(error as Error).message}`);
  }
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith('COPY ') && line.includes(`.${DUMP_GLOBALS_TABLE} (`));
  if (start < 0) throw invalid('are missing');
  const columns = /\(([^)]*)\) FROM stdin;$/.exec(lines[start]!)?.[1]?.split(', ') ?? [];
  const end = lines.indexOf('\\.', start + 1);
  const rows = lines.slice(start + 1, end < 0 ? undefined : end);
  if (end < 0 || rows.length !== 1) throw invalid(`hold ${end < 0 ? 'an unfinished COPY block' : `${rows.length} rows, expected 1`}`);
  const fields = rows[0]!.split('\t').map(copyTextField);
  const value = (name: string) => fields[columns.indexOf(name)] ?? null;
  try {
    const sourceRow = JSON.parse(value('source_row') ?? 'null') as unknown;
    const registryRow = JSON.parse(value('registry_row') ?? 'null') as unknown;
    const writtenAt = value('written_at');
    if (!isObject(sourceRow) || !isObject(registryRow) || writtenAt === null) throw new Error('a column is empty');
    return { sourceRow, registryRow, writtenAt };
  } catch (error) {
    throw invalid(`are not readable: ${(error as Error).message}`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const COPY_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** One field of COPY's text format: `\N` is NULL; backslash sequences as PostgreSQL writes them. */
export function copyTextField(field: string): string | null {
  if (field === '\\N') return null;
  return field.replace(/\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))/gs, (_match, octal: string, hex: string, other: string) => {
    if (octal !== undefined) return String.fromCharCode(parseInt(octal, 8));
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    return COPY_ESCAPES[other] ?? other;
  });
}
