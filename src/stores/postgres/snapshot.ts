import type pg from 'pg';
import type { Sql } from 'sql-template-tag';
import type { SourceRecord, TenantDb } from '../../interfaces.js';
import { bindSchema } from './transaction.js';

/**
 * One REPEATABLE READ, READ ONLY transaction whose snapshot is exported, so that pg_dump (`--snapshot`) and the
 * gateway's own reads (registry rows, checksums) see the database at the same instant: a backup's manifest then
 * describes exactly the rows its dump holds, whatever writers do meanwhile.
 *
 * Statements run one at a time on the one connection. Each source's statements are preceded, when the previous
 * statement was another source's, by a transaction-local set_config of that source's search_path: the same
 * binding the gateway's read transactions use, never a session-level SET.
 */
export class DatabaseSnapshot {
  private queue: Promise<unknown> = Promise.resolve();
  private boundSchema: string | null = null;
  private closed = false;

  private constructor(
    private readonly client: pg.ClientBase,
    readonly id: string,
  ) {}

  static async open(client: pg.ClientBase): Promise<DatabaseSnapshot> {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // A backup of a large database may read for a long time; the server's default timeout must not cut it.
    await client.query("SELECT set_config('statement_timeout', '0', true)");
    const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    return new DatabaseSnapshot(client, rows[0]!.id);
  }

  /** Statements that name their tables fully (the registry's), outside any source. */
  query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    return this.enqueue(null, text, values);
  }

  tenantDb(source: SourceRecord): TenantDb {
    const schemaName = source.schemaName;
    if (!schemaName) throw new Error(`source ${source.id} has no schema`);
    const run = (query: Sql) => this.enqueue(schemaName, query.text, query.values as unknown[]);
    return {
      dialect: 'postgres',
      sourceId: source.id,
      schemaName,
      layoutVersion: source.migrationVersion,
      all: async <Row>(query: Sql) => (await run(query)).rows as Row[],
      one: async <Row>(query: Sql) => (await run(query)).rows[0] as Row | undefined,
      run: async (query: Sql) => (await run(query)).rowCount ?? 0,
    };
  }

  private enqueue(schemaName: string | null, text: string, values: unknown[]): Promise<pg.QueryResult> {
    const next = this.queue.then(async () => {
      if (this.closed) throw new Error('the snapshot transaction has ended');
      if (schemaName !== null && schemaName !== this.boundSchema) {
        await this.client.query(`SELECT ${bindSchema(schemaName)}`);
        this.boundSchema = schemaName;
      }
      return this.client.query(text, values);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the transaction (nothing was written); the exported snapshot is gone from here on. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    await this.client.query('ROLLBACK');
  }
}
