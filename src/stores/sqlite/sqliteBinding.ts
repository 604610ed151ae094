import type Database from 'better-sqlite3';
import type { Sql } from 'sql-template-tag';
import type { SourceRecord, StatementObserver, TenantDb, TenantBinding } from '../../interfaces.js';

type Statement = Database.Statement<unknown[], unknown>;

/** better-sqlite3 binds numbers, strings, bigints, buffers and null; booleans and dates are converted here. */
function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** Prepared statements are cached per connection by their text; the text never embeds a value. */
export class StatementCache {
  private readonly statements = new Map<string, Statement>();
  constructor(readonly connection: Database.Database) {}
  get(text: string): Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.connection.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }
}

/**
 * The SQLite binding: one shared connection, and every statement of the library filters by the bound
 * source_id. better-sqlite3 is synchronous, so a chain of these calls never yields to other requests: a
 * write transaction opened by `withTenant` cannot interleave with another operation's statements.
 */
export function sqliteTenantDb(cache: StatementCache, sourceId: string, observer?: StatementObserver): TenantDb {
  const prepare = (query: Sql) => {
    observer?.({ dialect: 'sqlite', sourceId, text: query.sql });
    return { statement: cache.get(query.sql), values: query.values.map(bindable) };
  };
  return {
    dialect: 'sqlite',
    sourceId,
    schemaName: null,
    async all<Row>(query: Sql): Promise<Row[]> {
      const { statement, values } = prepare(query);
      if (!statement.reader) {
        statement.run(...values);
        return [];
      }
      return statement.all(...values) as Row[];
    },
    async one<Row>(query: Sql): Promise<Row | undefined> {
      const { statement, values } = prepare(query);
      return statement.get(...values) as Row | undefined;
    },
    async run(query: Sql): Promise<number> {
      const { statement, values } = prepare(query);
      return statement.run(...values).changes;
    },
  };
}

export function sqliteBinding(source: SourceRecord, db: TenantDb): TenantBinding {
  return { source, db, finish: async () => undefined };
}
