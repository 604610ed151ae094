import pg from 'pg';
import type { Sql } from 'sql-template-tag';
import { searchPathFor } from '../../sources/identifiers.js';

const { escapeLiteral } = pg;

/** Anything that runs a parameterised statement: a pool, a client, or an operation's shared read transaction. */
export interface Queryable {
  query(text: string, values: unknown[]): Promise<pg.QueryResult>;
}

export function runSql(client: Queryable, query: Sql): Promise<pg.QueryResult> {
  return client.query(query.text, query.values as unknown[]);
}

/**
 * The one place a source's schema is bound: the select-list item that puts `<schema>, public` first on the
 * search_path for the rest of the current transaction. Transaction-local (`true`), never a session-level SET: a
 * pooled connection is reused by other sources, and behind PgBouncer in transaction mode a session setting would
 * reach another client's statements. Callers write `SELECT ${bindSchema(name)}`, alone or beside other settings,
 * so that a binding can travel in the same message as the BEGIN before it. The schema name comes from the
 * registry and is validated as an identifier before it is quoted as a literal.
 */
export function bindSchema(schemaName: string): string {
  return `set_config('search_path', ${escapeLiteral(searchPathFor(schemaName))}, true)`;
}

/**
 * Runs fn inside one transaction on a client of its own: committed when fn resolves (rolled back instead with
 * `rollbackOnly`, for a dry run), rolled back when it throws. Every PostgreSQL write path that is not a source
 * binding goes through here; bindings end through `endTransaction` below.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: { begin?: string; rollbackOnly?: boolean } = {},
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(options.begin ?? 'BEGIN');
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
  let result: T;
  try {
    result = await fn(client);
  } catch (error) {
    await endTransaction(client, false);
    throw error;
  }
  await endTransaction(client, !options.rollbackOnly);
  return result;
}

/**
 * Commit or roll back, and hand the client back. A client whose transaction state is unknown (the COMMIT or
 * ROLLBACK itself failed) is destroyed instead of returned to the pool. A failed commit throws; a failed rollback
 * does not, since the caller is already reporting what made it roll back.
 */
export async function endTransaction(client: pg.PoolClient, commit: boolean): Promise<void> {
  try {
    await client.query(commit ? 'COMMIT' : 'ROLLBACK');
    client.release();
  } catch (error) {
    client.release(error as Error);
    if (commit) throw error;
  }
}
