// What the database itself spends on what a first import leaves behind, with nothing read from a file: the rows
// of videos and csv_consolidated_raw copied from the tables the import has just filled into empty tables of the
// same shape, in one transaction, then their keys and indexes built after the rows, as the import builds them.
// No importer that stores the same rows and serves the same indexes can take less, so its time bounds the ratio
// any import could reach against `\copy`, `.import` or the row-by-row baseline on the same machine.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export interface FloorStep {
  name: string;
  ms: number;
}

export interface ImportFloor {
  /** videos rows the floor wrote (the consolidated file's distinct ids). */
  videos: number;
  steps: FloorStep[];
  ms: number;
}

/** The source tables a first import fills with a row per item: the ones the floor rebuilds. */
const TABLES = ['videos', 'csv_consolidated_raw'] as const;
const FLOOR_SCHEMA = 'bench_floor';

async function timed(steps: FloorStep[], name: string, work: () => Promise<unknown> | unknown): Promise<void> {
  const started = performance.now();
  await work();
  steps.push({ name, ms: performance.now() - started });
}

function floorOf(steps: FloorStep[], videos: number): ImportFloor {
  return { videos, steps, ms: steps.reduce((sum, step) => sum + step.ms, 0) };
}

/**
 * PostgreSQL: the tables copied with `LIKE … INCLUDING DEFAULTS INCLUDING GENERATED` (so the stored search vector
 * is computed again), rows written by `INSERT … SELECT` of the stored columns, then every unique key and index
 * of the source's tables rebuilt on the copies under the import's own maintenance_work_mem. The copies live in
 * the scratch schema bench_floor and are dropped afterwards.
 */
export async function postgresImportFloor(databaseUrl: string, schema: string): Promise<ImportFloor> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const q = (name: string) => pg.escapeIdentifier(name);
  const source = (table: string) => `${q(schema)}.${q(table)}`;
  const copy = (table: string) => `${q(FLOOR_SCHEMA)}.${q(table)}`;
  const steps: FloorStep[] = [];
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${q(FLOOR_SCHEMA)} CASCADE`);
    await client.query(`CREATE SCHEMA ${q(FLOOR_SCHEMA)}`);
    const builds: { name: string; sql: string }[] = [];
    const columns = new Map<string, string>();
    for (const table of TABLES) {
      const { rows: stored } = await client.query<{ name: string }>(
        `SELECT attname AS name FROM pg_attribute
          WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
          ORDER BY attnum`,
        [source(table)],
      );
      columns.set(table, stored.map((c) => q(c.name)).join(', '));
      // Keys as constraints, the other indexes from their definitions with the copy as their table.
      const { rows: keys } = await client.query<{ name: string; definition: string }>(
        `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
          WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY conname`,
        [source(table)],
      );
      for (const key of keys) builds.push({ name: key.name, sql: `ALTER TABLE ${copy(table)} ADD CONSTRAINT ${q(key.name)} ${key.definition}` });
      const { rows: indexes } = await client.query<{ name: string; method: string; rest: string }>(
        `SELECT c.relname AS name, am.amname AS method,
                substring(pg_get_indexdef(i.indexrelid) FROM ' USING \\w+ (.*)$') AS rest
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
          WHERE i.indrelid = $1::regclass
            AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
          ORDER BY c.relname`,
        [source(table)],
      );
      for (const index of indexes) {
        builds.push({ name: index.name, sql: `CREATE INDEX ${q(index.name)} ON ${copy(table)} USING ${index.method} ${index.rest}` });
      }
    }

    await client.query('BEGIN');
    for (const table of TABLES) {
      await client.query(`CREATE TABLE ${copy(table)} (LIKE ${source(table)} INCLUDING DEFAULTS INCLUDING GENERATED)`);
    }
    // The same bound the import sets for its index builds (src/queries/bulkLoad.ts).
    await client.query(`SELECT set_config('maintenance_work_mem', '256MB', true)`);
    for (const table of TABLES) {
      const list = columns.get(table)!;
      await timed(steps, `${table}: rows`, () => client.query(`INSERT INTO ${copy(table)} (${list}) SELECT ${list} FROM ${source(table)}`));
    }
    for (const build of builds) await timed(steps, build.name, () => client.query(build.sql));
    await timed(steps, 'COMMIT', () => client.query('COMMIT'));
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${copy('videos')}`);
    return floorOf(steps, Number(rows[0]!.n));
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${q(FLOOR_SCHEMA)} CASCADE`).catch(() => undefined);
    await client.end();
  }
}

/**
 * SQLite: a new file with the gateway's settings (WAL, synchronous NORMAL) and the tables, indexes and full-text
 * index of the file the import made, as that file's schema defines them; the rows inserted in key order with no
 * secondary index and no trigger, the indexes created after them and the full-text index rebuilt from its
 * content table, in one transaction, as the import does into an empty file.
 */
export async function sqliteImportFloor(gatewayFile: string): Promise<ImportFloor> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sx-bench-floor-'));
  const connection = new Database(path.join(dir, 'floor.db'));
  const steps: FloorStep[] = [];
  try {
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    connection.prepare('ATTACH DATABASE ? AS g').run(gatewayFile);
    const inList = (names: readonly string[]) => names.map(() => '?').join(', ');
    // The full-text index's shadow tables come with its CREATE VIRTUAL TABLE.
    const tables = connection
      .prepare(`SELECT sql FROM g.sqlite_master WHERE type = 'table' AND name IN (${inList([...TABLES, 'videos_fts'])}) ORDER BY name`)
      .pluck()
      .all(...TABLES, 'videos_fts') as string[];
    const indexes = connection
      .prepare(`SELECT name, sql FROM g.sqlite_master WHERE type = 'index' AND tbl_name IN (${inList(TABLES)}) AND sql IS NOT NULL ORDER BY name`)
      .all(...TABLES) as { name: string; sql: string }[];
    connection.exec('BEGIN IMMEDIATE');
    for (const text of tables) connection.exec(text);
    for (const table of TABLES) {
      const key = table === 'videos' ? 'source_id, id' : 'source_id, video_id';
      await timed(steps, `${table}: rows`, () => connection.exec(`INSERT INTO main.${table} SELECT * FROM g.${table} ORDER BY ${key}`));
    }
    for (const index of indexes) await timed(steps, index.name, () => connection.exec(index.sql));
    await timed(steps, 'full-text index', () => connection.exec(`INSERT INTO main.videos_fts (videos_fts) VALUES ('rebuild')`));
    await timed(steps, 'COMMIT', () => connection.exec('COMMIT'));
    const videos = connection.prepare('SELECT count(*) FROM main.videos').pluck().get() as number;
    return floorOf(steps, videos);
  } finally {
    connection.close();
    await rm(dir, { recursive: true, force: true });
  }
}
