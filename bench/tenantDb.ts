import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { Sql } from 'sql-template-tag';
import type { TenantDb } from '../src/interfaces.js';
import { StatementCache, sqliteTenantDb } from '../src/stores/sqlite/sqliteBinding.js';

/**
 * The library's statements on a bare pg client, without the gateway's binding (no transaction, no
 * set_config: the client's session search_path already names the schema). This is the "raw pg" limit.
 */
export function rawPgTenantDb(client: pg.ClientBase, sourceId: string, schemaName: string): TenantDb {
  const run = (query: Sql) => client.query(query.text, query.values as unknown[]);
  return {
    dialect: 'postgres',
    sourceId,
    schemaName,
    all: async <Row>(query: Sql) => (await run(query)).rows as Row[],
    one: async <Row>(query: Sql) => (await run(query)).rows[0] as Row | undefined,
    run: async (query: Sql) => (await run(query)).rowCount ?? 0,
  };
}

/** The library's statements on a bare better-sqlite3 connection: the "direct" SQLite limit. */
export function rawSqliteTenantDb(connection: Database.Database, sourceId: string): TenantDb {
  return sqliteTenantDb(new StatementCache(connection), sourceId);
}
