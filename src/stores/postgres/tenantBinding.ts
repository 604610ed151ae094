import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Sql } from 'sql-template-tag';
import type { SourceRecord, StatementObserver, TenantDb, TenantBinding } from '../../interfaces.js';
import { GatewayError } from '../../errors.js';
import { asStatementTimeout, asUnavailable, isSchemaGone } from './failures.js';
import { bindSchema, endTransaction } from './transaction.js';

const { escapeLiteral } = pg;

export interface PgBindingOptions {
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
  /**
   * REPEATABLE READ: every statement of the transaction reads the snapshot its first one took (a copy read in
   * batches). Unset: PostgreSQL's READ COMMITTED.
   */
  isolation?: 'REPEATABLE READ';
  statementTimeoutMs: number;
  observer?: StatementObserver;
  /** Called when the schema turned out to be gone, so the registry cache forgets the mapping. */
  onSchemaGone?: () => void;
  /** The operation's read transaction, shared with the other sources the same operation names. */
  shared?: SharedReadTransaction;
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
export class PostgresTenantBinding implements TenantBinding {
  readonly db: TenantDb;
  readonly source: SourceRecord;
  private bound: Promise<Bound> | null = null;
  private finished = false;

  constructor(private readonly options: PgBindingOptions) {
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
    const { shared } = this.options;
    if (shared) return this.guard(() => shared.query(this.options.sourceId, this.options.schemaName, query));
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
      if (error instanceof EarlierFailure) throw clientError(error.failure, error.sourceId, this.options.statementTimeoutMs);
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
    if (this.options.shared) return this.options.shared.leave(ok);
    if (this.bound) await endBinding(this.bound, ok);
  }
}

/** Ends a binding's transaction once its setup has settled; a setup that failed leaves nothing to commit. */
async function endBinding(binding: Promise<Bound>, commit: boolean): Promise<void> {
  const bound = await binding.catch(() => null);
  if (!bound) return;
  try {
    await bound.ready;
  } catch (error) {
    bound.client.release(error as Error);
    if (commit) throw error;
    return;
  }
  await endTransaction(bound.client, commit);
}

/** What a client hears about a failed statement: a code, never PostgreSQL's text. */
function clientError(error: unknown, sourceId: string, statementTimeoutMs: number): unknown {
  if (isSchemaGone(error)) {
    return new GatewayError('SOURCE_NOT_MAPPED', `Source schema mapping missing/invalid for source_id=${sourceId}`, { sourceId });
  }
  return asUnavailable(asStatementTimeout(error, statementTimeoutMs));
}

/** A statement refused because an earlier one of the same operation's transaction failed. */
class EarlierFailure extends Error {
  constructor(
    readonly failure: unknown,
    readonly sourceId: string,
  ) {
    super('An earlier statement of this operation failed');
  }
}

/** BEGIN and the first search_path travel as one simple-protocol message; the values are quoted literals. */
function transactionSetup(readOnly: boolean, schemaName: string, statementTimeoutMs: number, isolation?: 'REPEATABLE READ'): string {
  const modes = [isolation ? `ISOLATION LEVEL ${isolation}` : '', readOnly ? 'READ ONLY' : ''].filter(Boolean).join(' ');
  return (
    `${modes ? `BEGIN ${modes}` : 'BEGIN'}; ` +
    `SELECT ${bindSchema(schemaName)}, ` +
    `set_config('statement_timeout', ${escapeLiteral(String(statementTimeoutMs))}, true)`
  );
}

/**
 * One READ ONLY transaction on one pipelined client for every source an operation names. An operation that took
 * a client per source would hold the first while it waits for the second: with few connections left (a small
 * pool, or PgBouncer's server connections) operations end up each holding one and waiting for one, and none
 * finishes. With one client per operation nothing waits while holding.
 *
 * The search_path stays transaction-local: a statement for another source than the previous one is queued right
 * behind a transaction-local `bindSchema` of its own schema. Pipelining keeps the queue in the order
 * it was written and both are queued in the same tick, so no statement runs under another source's path.
 * The sources also read one snapshot, so aliased sources answer as of the same instant.
 */
export class SharedReadTransaction {
  private bound: Promise<Bound> | null = null;
  /** Schema of the last search_path queued on the client: what the next queued statement runs under. */
  private schemaName: string | null = null;
  private users = 0;
  private allOk = true;
  /** The first failure: later statements only see "transaction aborted", and should report what caused it. */
  private failure: { error: unknown; sourceId: string } | null = null;
  closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly statementTimeoutMs: number,
    private readonly observer?: StatementObserver,
  ) {}

  join(): void {
    this.users += 1;
  }

  /** Registry lookups of the operation's sources still in flight: the client is taken only when they are done. */
  private readonly lookups = new Set<Promise<unknown>>();

  /**
   * An operation's root fields all start resolving their sources in the same tick, before any of them reads.
   * Taking the client only after every lookup settled means no lookup ever waits for a connection while this
   * transaction holds one (behind PgBouncer, lookups and reads share the server connections).
   */
  lookingUp(lookup: Promise<unknown>): void {
    this.lookups.add(lookup);
    const forget = () => this.lookups.delete(lookup);
    lookup.then(forget, forget);
  }

  /** Whether the transaction has taken its client: later sources of the operation look themselves up on it. */
  get started(): boolean {
    return this.bound !== null && !this.closed && this.failure === null;
  }

  /**
   * Runs a schema-qualified statement (a registry lookup) in this transaction, under whatever search_path is
   * current: a second source of an operation is resolved on the connection the operation already holds.
   */
  async query(text: string, values: unknown[]): Promise<pg.QueryResult>;
  async query(sourceId: string, schemaName: string, query: Sql): Promise<pg.QueryResult>;
  async query(first: string, second: unknown, third?: Sql): Promise<pg.QueryResult> {
    if (third === undefined) {
      const { client, ready } = await this.bound!;
      const [, result] = await Promise.all([ready, client.query(first, second as unknown[])]);
      return result;
    }
    return this.statement(first, second as string, third);
  }

  private observe(sourceId: string, text: string): void {
    this.observer?.({ dialect: 'postgres', sourceId, text });
  }

  private bind(sourceId: string, schemaName: string) {
    this.bound ??= (async () => {
      while (this.lookups.size > 0) await Promise.allSettled([...this.lookups]);
      const client = await this.pool.connect();
      const setup = transactionSetup(true, schemaName, this.statementTimeoutMs);
      this.observe(sourceId, setup);
      this.schemaName = schemaName;
      const ready = client.query(setup);
      ready.catch(() => undefined);
      return { client, ready };
    })();
    return this.bound;
  }

  private async statement(sourceId: string, schemaName: string, query: Sql): Promise<pg.QueryResult> {
    if (this.closed) throw new Error(`The operation's read transaction has ended (source ${sourceId})`);
    const { client, ready } = await this.bind(sourceId, schemaName);
    // From here to the statement's client.query nothing awaits: the switch and the statement are queued together.
    let switched: Promise<unknown> = Promise.resolve();
    if (this.schemaName !== schemaName) {
      const text = `SELECT ${bindSchema(schemaName)}`;
      this.observe(sourceId, text);
      this.schemaName = schemaName;
      switched = client.query(text);
      switched.catch(() => undefined);
    }
    this.observe(sourceId, query.text);
    try {
      const [, , result] = await Promise.all([ready, switched, client.query(query.text, query.values as unknown[])]);
      return result;
    } catch (error) {
      if ((error as { code?: string }).code === '25P02' && this.failure) throw new EarlierFailure(this.failure.error, this.failure.sourceId);
      this.failure ??= { error, sourceId };
      throw error;
    }
  }

  /** Each session of the operation leaves once; the last one ends the transaction and returns the client. */
  async leave(ok: boolean): Promise<void> {
    this.users -= 1;
    this.allOk &&= ok;
    if (this.users > 0 || this.closed) return;
    this.closed = true;
    if (this.bound) await endBinding(this.bound, this.allOk && this.failure === null);
  }
}
