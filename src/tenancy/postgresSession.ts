import type pg from 'pg';
import sql, { type Sql } from 'sql-template-tag';
import type { SourceRecord, StatementObserver, TenantDb, TenantSession } from '../interfaces.js';
import { GatewayError } from '../errors.js';
import { asUnavailable, isSchemaGone } from '../stores/postgres/failures.js';
import { searchPathFor } from './identifiers.js';

export interface PgSessionOptions {
  pool: pg.Pool;
  source: SourceRecord;
  sourceId: string;
  schemaName: string;
  readOnly: boolean;
  statementTimeoutMs: number;
  observer?: StatementObserver;
  /** Called when the schema turned out to be gone, so the registry cache forgets the mapping. */
  onSchemaGone?: () => void;
}

/**
 * A pooled client inside one transaction whose search_path names the source's schema. The setting is
 * transaction-local (`set_config(..., true)`): a session-level SET would outlive the transaction on a pooled
 * connection, and behind PgBouncer in transaction mode it would reach another client's queries.
 * The client is taken on the first statement, so an operation that never reads costs no connection.
 */
export class PostgresTenantSession implements TenantSession {
  readonly db: TenantDb;
  readonly source: SourceRecord;
  private client: Promise<pg.PoolClient> | null = null;
  private finished = false;

  constructor(private readonly options: PgSessionOptions) {
    const session = this;
    this.source = options.source;
    this.db = {
      dialect: 'postgres',
      sourceId: options.sourceId,
      schemaName: options.schemaName,
      async all<Row>(query: Sql): Promise<Row[]> {
        return (await session.query(query)).rows as Row[];
      },
      async one<Row>(query: Sql): Promise<Row | undefined> {
        return (await session.query(query)).rows[0] as Row | undefined;
      },
      async run(query: Sql): Promise<number> {
        return (await session.query(query)).rowCount ?? 0;
      },
    };
  }

  private async query(query: Sql): Promise<pg.QueryResult> {
    if (this.finished) throw new Error(`Tenant binding for ${this.options.sourceId} is already closed`);
    try {
      const client = await this.connect();
      this.options.observer?.({ dialect: 'postgres', sourceId: this.options.sourceId, text: query.text });
      return await client.query(query.text, query.values as unknown[]);
    } catch (error) {
      if (isSchemaGone(error)) {
        this.options.onSchemaGone?.();
        throw new GatewayError('SOURCE_NOT_MAPPED', `Source schema mapping missing/invalid for source_id=${this.options.sourceId}`, {
          sourceId: this.options.sourceId,
        });
      }
      throw asUnavailable(error);
    }
  }

  private connect(): Promise<pg.PoolClient> {
    this.client ??= (async () => {
      const client = await this.options.pool.connect();
      try {
        await client.query(this.options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
        const setup = sql`SELECT set_config('search_path', ${searchPathFor(this.options.schemaName)}, true),
                                 set_config('statement_timeout', ${String(this.options.statementTimeoutMs)}, true)`;
        this.options.observer?.({ dialect: 'postgres', sourceId: this.options.sourceId, text: 'BEGIN' });
        this.options.observer?.({ dialect: 'postgres', sourceId: this.options.sourceId, text: setup.text });
        await client.query(setup.text, setup.values as unknown[]);
        return client;
      } catch (error) {
        client.release(error as Error);
        throw error;
      }
    })();
    return this.client;
  }

  async finish(ok: boolean): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (!this.client) return;
    const client = await this.client.catch(() => null);
    if (!client) return;
    try {
      await client.query(ok ? 'COMMIT' : 'ROLLBACK');
      client.release();
    } catch (error) {
      // A client whose transaction state is unknown is destroyed rather than handed to another tenant.
      client.release(error as Error);
      if (ok) throw error;
    }
  }
}
