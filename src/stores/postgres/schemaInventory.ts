import sql from 'sql-template-tag';
import { qualified } from '../../sources/identifiers.js';
import { runSql, type Queryable } from './transaction.js';

/** What a schema holds: its tables and their exact row counts. Null when there is no such schema. */
export async function schemaRowCounts(client: Queryable, schemaName: string): Promise<{ table: string; rows: number }[] | null> {
  const exists = sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schemaName}`;
  if ((await runSql(client, exists)).rowCount === 0) return null;
  const list = sql`SELECT tablename FROM pg_tables WHERE schemaname = ${schemaName} ORDER BY tablename`;
  const tables = (await runSql(client, list)).rows as { tablename: string }[];
  const counts: { table: string; rows: number }[] = [];
  for (const { tablename } of tables) {
    const count = sql`SELECT count(*)::int AS n FROM ${qualified(schemaName, tablename)}`;
    counts.push({ table: tablename, rows: (await runSql(client, count)).rows[0].n as number });
  }
  return counts;
}

/** Schemas whose name starts with `<prefix>_`: the candidates for tenant schemas, mapped or not. */
export async function prefixedSchemas(client: Queryable, prefix: string): Promise<string[]> {
  const query = sql`SELECT nspname FROM pg_namespace WHERE starts_with(nspname, ${`${prefix}_`}) ORDER BY nspname`;
  return ((await runSql(client, query)).rows as { nspname: string }[]).map((row) => row.nspname);
}
