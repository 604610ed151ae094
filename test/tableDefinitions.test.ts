import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnNames, SOURCE_TABLES } from '../src/tables/sourceTables.js';
import { STORE_KINDS, startTestGateway, type TestGateway } from './support/gateway.js';

// The table definitions are the one list of each table's columns the code derives from; the DDL lives in each
// layout's SQL files. Both must name the same columns, or a derived SELECT or INSERT would fail at run time.
// Left out: the source_id every SQLite table carries, and PostgreSQL's generated search column.
const NOT_DEFINED = new Set(['source_id', 'search_tsv']);

describe.each(STORE_KINDS)('table definitions against the %s layout', (kind) => {
  let gateway: TestGateway;
  let columnsOf: (table: string) => Promise<string[]>;
  let close: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    await gateway.gql('mutation { bootstrapSource(sourceId: "layout") { id } }');
    if (kind === 'postgres') {
      const client = new pg.Client({ connectionString: gateway.databaseUrl });
      await client.connect();
      close = () => client.end();
      columnsOf = async (table) =>
        (
          await client.query<{ column_name: string }>(
            'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
            ['sx_layout', table],
          )
        ).rows.map((row) => row.column_name);
    } else {
      const db = new Database(gateway.databaseUrl, { readonly: true });
      close = async () => {
        db.close();
      };
      columnsOf = async (table) => (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((row) => row.name);
    }
  });
  afterAll(async () => {
    await close();
    await gateway?.close();
  });

  it.each(SOURCE_TABLES.map((table) => [table.table, table] as const))('%s has exactly the defined columns', async (_name, table) => {
    const stored = (await columnsOf(table.table)).filter((name) => !NOT_DEFINED.has(name));
    expect(stored.length).toBeGreaterThan(0);
    expect([...stored].sort()).toEqual([...columnNames(table)].sort());
  });
});
