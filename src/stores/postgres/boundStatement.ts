import pg from 'pg';
import type { Sql } from 'sql-template-tag';

/** The messages of the extended query protocol, as pg's connection writes them. */
interface ProtocolWriter {
  parse(message: { text: string; name: string; types: unknown[] }): void;
  bind(message: { portal: string; statement: string; values: unknown[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string; rows: number | undefined }): void;
}

// pg writes a query's Parse, Bind, Describe, Execute and Sync in this method of its Query, inside one cork of the
// socket; it is not in pg's type declarations.
const writeQuery = (pg.Query.prototype as unknown as { prepare(this: pg.Query, connection: ProtocolWriter): void }).prepare;

/**
 * A statement written behind the setup that binds its source: Parse, Bind, Describe and Execute of the setup, the
 * same of the statement, then one Sync, in one write. PostgreSQL runs everything before a Sync as one implicit
 * transaction, so the setup's transaction-local settings hold while the statement is parsed (its table names resolve
 * in the source's schema) and run, and end with it. If the setup fails, the server skips the statement.
 */
class BoundStatementQuery extends pg.Query {
  constructor(
    private readonly setupText: string,
    statement: Sql,
    callback: (error: Error | undefined, results: unknown) => void,
  ) {
    // Extended mode even without parameters: a statement sent as a simple query would leave the setup out.
    const config = { text: statement.text, values: statement.values as unknown[], queryMode: 'extended' };
    super(config as pg.QueryConfig, callback as never);
  }

  prepare(connection: ProtocolWriter): void {
    connection.parse({ text: this.setupText, name: '', types: [] });
    connection.bind({ portal: '', statement: '', values: [] });
    connection.describe({ type: 'P', name: '' });
    connection.execute({ portal: '', rows: undefined });
    writeQuery.call(this, connection);
  }
}

/** Runs `statement` behind `setupText` in one implicit transaction; the answer is the statement's. */
export function runBound(client: pg.ClientBase, setupText: string, statement: Sql): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    client.query(
      new BoundStatementQuery(setupText, statement, (error, results) => {
        if (error) return reject(error);
        // pg hands back one result per statement that completed: the setup's, then the statement's.
        if (!Array.isArray(results) || results.length !== 2) return reject(new Error('A bound statement answered without its own result'));
        resolve(results[1] as pg.QueryResult);
      }),
    );
  });
}
