// Upper bound for the import benchmark: psql's \copy of the consolidated file into a plain table with no
// index, no constraint and only text columns. No importer that also parses, validates and merges can beat it.
import { spawn } from 'node:child_process';
import { accessSync, constants, createReadStream } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { parse } from 'csv-parse';
import pg from 'pg';

export interface RawCopyResult {
  rows: number;
  ms: number;
  rowsPerSecond: number;
}

const SCHEMA = 'bench_rawcopy';
const TABLE = 'consolidated';

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** psql from SX_PG_BIN_DIR when set (a server install that is not on PATH), else the first one on PATH. */
export function findPsql(env: NodeJS.ProcessEnv = process.env): string {
  const names = process.platform === 'win32' ? ['psql.exe', 'psql'] : ['psql'];
  const binDir = env.SX_PG_BIN_DIR?.trim();
  const dirs = binDir ? [binDir] : (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const dir of dirs) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new Error(
    binDir
      ? `psql not found in SX_PG_BIN_DIR (${binDir}); the raw-copy upper bound needs the psql client`
      : 'psql not found on PATH; install the PostgreSQL client or set SX_PG_BIN_DIR to the directory holding psql',
  );
}

/** Column names as the file's header spells them (BOM dropped, trimmed), read without loading the file. */
async function readHeader(path: string): Promise<string[]> {
  const source = createReadStream(path);
  const parser = source.pipe(parse({ bom: true, to_line: 1 }));
  try {
    for await (const record of parser as AsyncIterable<string[]>) return record.map((name) => name.trim());
  } finally {
    source.destroy();
  }
  throw new Error(`${path}: empty file, no header to take column names from`);
}

async function recreateTable(client: pg.Client, columns: string[]): Promise<void> {
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(SCHEMA)} CASCADE`);
  await client.query(`CREATE SCHEMA ${quoteIdent(SCHEMA)}`);
  const definitions = columns.map((column) => `${quoteIdent(column)} text`).join(', ');
  await client.query(`CREATE TABLE ${quoteIdent(SCHEMA)}.${quoteIdent(TABLE)} (${definitions})`);
}

/** \copy takes the file name in single quotes, where a quote is written twice. */
function copyCommand(file: string): string {
  const literal = `'${file.replace(/'/g, "''")}'`;
  return `\\copy ${quoteIdent(SCHEMA)}.${quoteIdent(TABLE)} FROM ${literal} WITH (FORMAT csv, HEADER true)`;
}

function runPsql(psql: string, dsn: string, command: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    // -X: a user's ~/.psqlrc must not change what is measured; ON_ERROR_STOP: a failed copy must fail the run.
    const child = spawn(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-c', command], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`psql \\copy failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

/**
 * Loads the consolidated CSV with `psql \copy` into a fresh, unindexed all-text table in the scratch schema
 * bench_rawcopy (dropped and recreated on every call, left in place afterwards for inspection) and times the
 * whole psql process, start to exit.
 */
export async function rawCopyRowsPerSecond(dsn: string, consolidatedCsv: string): Promise<RawCopyResult> {
  const psql = findPsql();
  const file = resolve(consolidatedCsv);
  const columns = await readHeader(file);
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    await recreateTable(client, columns);
    const started = performance.now();
    await runPsql(psql, dsn, copyCommand(file));
    const ms = performance.now() - started;
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(SCHEMA)}.${quoteIdent(TABLE)}`);
    const count = Number(rows[0]!.n);
    return { rows: count, ms, rowsPerSecond: count / (ms / 1000) };
  } finally {
    await client.end();
  }
}
