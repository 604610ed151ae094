import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Sql } from 'sql-template-tag';
import type { SourceRecord, StatementObserver, TenantDb, TenantBinding } from '../../interfaces.js';
import { GatewayError } from '../../errors.js';
import { asStatementTimeout, asUnavailable, isSchemaGone } from './failures.js';
import { runBound } from './boundStatement.js';
import { bindSchema, endTransaction } from './transaction.js';

const { escapeLiteral } = pg;

export interface PgBindingOptions {
  pool: pg.Pool;
  source: SourceRecord;
  sourceId: string;
  schemaName: string;
  readOnly: boolean;
  /**
   * REPEATABLE READ: every statement of the transaction reads the snapshot its first one took (a copy read in
   * batches). Unset: PostgreSQL's READ COMMITTED.
   */
  isolation?: 'REPEATABLE READ';
  statementTimeoutMs: number;
  observer?: StatementObserver;
  /** Called when the schema turned out to be gone, so the registry cache forgets the mapping. */
  onSchemaGone?: () => void;
}

/** The handle library modules run statements on, over whatever runs one statement for the binding. */
function tenantDb(
  source: SourceRecord,
  sourceId: string,
  schemaName: string,
  query: (statement: Sql) => Promise<pg.QueryResult>,
  copyFrom?: TenantDb['copyFrom'],
): TenantDb {
  return {
    dialect: 'postgres',
    sourceId,
    schemaName,
    layoutVersion: source.migrationVersion,
    async all<Row>(statement: Sql): Promise<Row[]> {
      return (await query(statement)).rows as Row[];
    },
    async one<Row>(statement: Sql): Promise<Row | undefined> {
      return (await query(statement)).rows[0] as Row | undefined;
    },
    async run(statement: Sql): Promise<number> {
      return (await query(statement)).rowCount ?? 0;
    },
    copyFrom,
  };
}

/**
 * A read binding in which every statement carries the binding itself: the statement is written behind a setup that
 * sets the source's search_path, the statement timeout and read-only mode with `set_config(..., true)`, and the two
 * run as one implicit transaction (see boundStatement.ts). A client is taken from the pool for that one exchange and
 * handed back as soon as its answer is in, so between statements a binding holds no connection, no transaction and
 * no setting. That makes it safe on a pooled connection and behind PgBouncer in transaction mode, and no operation
 * ever waits for a second connection while holding a first, however many sources it names.
 *
 * Each statement reads the data committed when it starts, as statements of a READ COMMITTED transaction do. What
 * needs a transaction across statements (a cursor, one snapshot) takes a PostgresTenantBinding instead.
 */
export class PostgresReadBinding implements TenantBinding {
  readonly db: TenantDb;
  readonly source: SourceRecord;
  private readonly setup: string;
  private finished = false;

  constructor(private readonly options: Omit<PgBindingOptions, 'readOnly' | 'isolation'>) {
    this.source = options.source;
    this.setup = `SELECT ${bindSchema(options.schemaName)}, ${sessionLimits(options.statementTimeoutMs)}, set_config('transaction_read_only', 'on', true)`;
    this.db = tenantDb(options.source, options.sourceId, options.schemaName, (statement) => this.query(statement));
  }

  private async query(statement: Sql): Promise<pg.QueryResult> {
    const { pool, sourceId, statementTimeoutMs, observer } = this.options;
    if (this.finished) throw new Error(`Tenant binding for ${sourceId} is already closed`);
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw clientError(error, sourceId, statementTimeoutMs);
    }
    observer?.({ dialect: 'postgres', sourceId, text: this.setup });
    observer?.({ dialect: 'postgres', sourceId, text: statement.text });
    try {
      const result = await runBound(client, this.setup, statement);
      client.release();
      return result;
    } catch (error) {
      // A statement the server refused leaves its connection ready for the next one; any other failure may not.
      client.release(error instanceof pg.DatabaseError ? undefined : (error as Error));
      if (isSchemaGone(error)) this.options.onSchemaGone?.();
      throw clientError(error, sourceId, statementTimeoutMs);
    }
  }

  async finish(): Promise<void> {
    this.finished = true;
  }
}

interface Bound {
  client: pg.PoolClient;
}

/**
 * A pooled client inside one transaction whose search_path names the source's schema: writes, and reads that must
 * see one snapshot. The setting is transaction-local (`set_config(..., true)`): a session-level SET would outlive
 * the transaction on a pooled connection, and behind PgBouncer in transaction mode it would reach another client's
 * queries. The client is taken on the first statement, so a binding that never runs one costs no connection.
 */
export class PostgresTenantBinding implements TenantBinding {
  readonly db: TenantDb;
  readonly source: SourceRecord;
  private bound: Promise<Bound> | null = null;
  private finished = false;

  constructor(private readonly options: PgBindingOptions) {
    this.source = options.source;
    this.db = tenantDb(
      options.source,
      options.sourceId,
      options.schemaName,
      (statement) => this.query(statement),
      options.readOnly ? undefined : (statement, lines) => this.copy(statement, lines),
    );
  }

  private observe(text: string): void {
    this.options.observer?.({ dialect: 'postgres', sourceId: this.options.sourceId, text });
  }

  private async query(query: Sql): Promise<pg.QueryResult> {
    return this.guard(async () => {
      const { client } = await this.bind();
      this.observe(query.text);
      return client.query(query.text, query.values as unknown[]);
    });
  }

  private async copy(statement: Sql, lines: Readable): Promise<number> {
    return this.guard(async () => {
      const { client } = await this.bind();
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
      if (isSchemaGone(error)) this.options.onSchemaGone?.();
      throw clientError(error, this.options.sourceId, this.options.statementTimeoutMs);
    }
  }

  private bind(): Promise<Bound> {
    this.bound ??= (async () => {
      const client = await this.options.pool.connect();
      // One simple-protocol message carries BEGIN and the set_config that binds the schema: one write and one
      // reply instead of two. The values are the registry's schema name and a number, quoted as literals.
      const setup = transactionSetup(this.options.readOnly, this.options.schemaName, this.options.statementTimeoutMs, this.options.isolation);
      this.observe(setup);
      try {
        await client.query(setup);
      } catch (error) {
        client.release(error as Error);
        throw error;
      }
      return { client };
    })();
    return this.bound;
  }

  async finish(ok: boolean): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const bound = await this.bound?.catch(() => null);
    if (bound) await endTransaction(bound.client, ok);
  }
}

/** What a client hears about a failed statement: a code, never PostgreSQL's text. */
function clientError(error: unknown, sourceId: string, statementTimeoutMs: number): unknown {
  if (isSchemaGone(error)) {
    return new GatewayError('SOURCE_NOT_MAPPED', `Source schema mapping missing/invalid for source_id=${sourceId}`, { sourceId });
  }
  return asUnavailable(asStatementTimeout(error, statementTimeoutMs));
}

/** The request-time limit of every statement of a binding, as a select-list item beside its search_path. */
function sessionLimits(statementTimeoutMs: number): string {
  return `set_config('statement_timeout', ${escapeLiteral(String(statementTimeoutMs))}, true)`;
}

/** BEGIN and the search_path travel as one simple-protocol message; the values are quoted literals. */
function transactionSetup(readOnly: boolean, schemaName: string, statementTimeoutMs: number, isolation?: 'REPEATABLE READ'): string {
  const modes = [isolation ? `ISOLATION LEVEL ${isolation}` : '', readOnly ? 'READ ONLY' : ''].filter(Boolean).join(' ');
  return `${modes ? `BEGIN ${modes}` : 'BEGIN'}; SELECT ${bindSchema(schemaName)}, ${sessionLimits(statementTimeoutMs)}`;
}
