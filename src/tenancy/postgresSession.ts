import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Sql } from 'sql-template-tag';
import type { SourceRecord, StatementObserver, TenantDb, TenantSession } from '../interfaces.js';
import { GatewayError } from '../errors.js';
import { asStatementTimeout, asUnavailable, isSchemaGone } from '../stores/postgres/failures.js';
import { searchPathFor } from './identifiers.js';

const { escapeLiteral } = pg;

export interface PgSessionOptions {
  pool: pg.Pool;
  /**
   * The pool's clients run in pipeline mode: the binding's BEGIN and set_config are written together with the
   * first statement instead of costing a round trip each. COPY cannot run on such a client.
   */
  pipelined: boolean;
  source: SourceRecord;
  sourceId: string;
  schemaName: string;
  readOnly: boolean;
  statementTimeoutMs: number;
  observer?: StatementObserver;
  /** Called when the schema turned out to be gone, so the registry cache forgets the mapping. */
  onSchemaGone?: () => void;
}

interface Bound {
  client: pg.PoolClient;
  /** Settles when BEGIN and set_config have run; in pipeline mode they are still in flight when bound. */
  ready: Promise<unknown>;
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
  private bound: Promise<Bound> | null = null;
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
      copyFrom: options.pipelined ? undefined : (statement, lines) => session.copy(statement, lines),
    };
  }

  private observe(text: string): void {
    this.options.observer?.({ dialect: 'postgres', sourceId: this.options.sourceId, text });
  }

  private async query(query: Sql): Promise<pg.QueryResult> {
    return this.guard(async () => {
      const { client, ready } = await this.bind();
      this.observe(query.text);
      // Both are awaited together so a failed setup and the statement queued behind it settle as one error.
      const [, result] = await Promise.all([ready, client.query(query.text, query.values as unknown[])]);
      return result;
    });
  }

  private async copy(statement: Sql, lines: Readable): Promise<number> {
    return this.guard(async () => {
      const { client, ready } = await this.bind();
      await ready;
      this.observe(statement.text);
      const sink = client.query(copyFromStdin(statement.text));
      await pipeline(lines, sink);
      return Number(sink.rowCount ?? 0);
    });
  }

  private async guard<T>(work: () => Promise<T>): Promise<T> {
    if (this.finished) throw new Error(`Tenant binding for ${this.options.sourceId} is already closed`);
    try {
      return await work();
    } catch (error) {
      if (isSchemaGone(error)) {
        this.options.onSchemaGone?.();
        throw new GatewayError('SOURCE_NOT_MAPPED', `Source schema mapping missing/invalid for source_id=${this.options.sourceId}`, {
          sourceId: this.options.sourceId,
        });
      }
      throw asUnavailable(asStatementTimeout(error, this.options.statementTimeoutMs));
    }
  }

  private bind(): Promise<Bound> {
    this.bound ??= (async () => {
      const client = await this.options.pool.connect();
      // One simple-protocol message carries BEGIN and the set_config that binds the schema: one write and one
      // reply instead of two. The values are the registry's schema name and a number, quoted as literals.
      const setup =
        `${this.options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN'}; ` +
        `SELECT set_config('search_path', ${escapeLiteral(searchPathFor(this.options.schemaName))}, true), ` +
        `set_config('statement_timeout', ${escapeLiteral(String(this.options.statementTimeoutMs))}, true)`;
      this.observe(setup);
      if (this.options.pipelined) {
        const ready = client.query(setup);
        // A setup failure surfaces with the first statement; finish() then destroys the client.
        ready.catch(() => undefined);
        return { client, ready };
      }
      try {
        await client.query(setup);
      } catch (error) {
        client.release(error as Error);
        throw error;
      }
      return { client, ready: Promise.resolve() };
    })();
    return this.bound;
  }

  async finish(ok: boolean): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (!this.bound) return;
    const bound = await this.bound.catch(() => null);
    if (!bound) return;
    const { client, ready } = bound;
    try {
      await ready;
      await client.query(ok ? 'COMMIT' : 'ROLLBACK');
      client.release();
    } catch (error) {
      // A client whose transaction state is unknown is destroyed rather than handed to another tenant.
      client.release(error as Error);
      if (ok) throw error;
    }
  }
}
