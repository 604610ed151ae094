import type pg from 'pg';
import type { GatewayConfig } from '../../config.js';
import type {
  BackendContext,
  DatabaseHealth,
  MigrationHealth,
  PoolStats,
  SourceInput,
  SourceRecord,
  MigrateOptions,
  SchemaMigrationReport,
  SchemaMigrationStatus,
  MigrationTarget,
  StatementObserver,
  Store,
  TenantSchemas,
  TenantDb,
  TenantBinding,
} from '../../interfaces.js';
import { searchPathFor } from '../../sources/identifiers.js';
import { PostgresRegistry } from './registry.js';
import { PostgresReadBinding, PostgresTenantBinding } from './tenantBinding.js';
import { createPool } from './pools.js';
import { latestTenantVersion } from './migrationFiles.js';
import { asUnavailable } from './failures.js';

/** How many schemas behind a health answer names (the furthest first); its count covers them all. */
const HEALTH_SCHEMAS_BEHIND = 20;

export interface PostgresStoreOptions {
  dsn: string;
  adminDsn?: string | null;
  config: GatewayConfig;
  observer?: StatementObserver;
  statementTimeoutMs?: number;
}

export class PostgresStore implements Store, TenantSchemas {
  readonly mode = 'POSTGRES_PRIMARY' as const;
  readonly dialect = 'postgres' as const;
  readonly tenantSchemas: TenantSchemas = this;
  readonly latestVersion = latestTenantVersion;
  /** Reads: each statement takes a client for its one exchange (PostgresReadBinding), and snapshots. */
  readonly pool: pg.Pool;
  /** Writes, imports and the registry. */
  readonly writePool: pg.Pool;
  private readonly adminPool: pg.Pool;
  readonly registry: PostgresRegistry;
  private readonly statementTimeoutMs: number;

  constructor(private readonly options: PostgresStoreOptions) {
    const { config } = options;
    this.pool = createPool(options.dsn, config.postgres.poolMax);
    this.writePool = createPool(options.dsn, Math.max(2, Math.ceil(config.postgres.poolMax / 4)));
    this.adminPool =
      options.adminDsn && options.adminDsn !== options.dsn ? createPool(options.adminDsn, 2) : this.writePool;
    this.registry = new PostgresRegistry({
      pool: this.writePool,
      adminPool: this.adminPool,
      schemaPrefix: config.postgres.schemaPrefix,
      registryTable: config.postgres.registryTable,
      cacheTtlMs: config.registryCacheTtlMs,
    });
    this.statementTimeoutMs = options.statementTimeoutMs ?? config.limits.statementTimeoutMs;
  }

  async prepare(): Promise<void> {
    await this.registry.prepare().catch((error) => {
      throw asUnavailable(error);
    });
  }

  backendContext(source: SourceRecord | null): BackendContext {
    const schemaName = source?.schemaName ?? null;
    return {
      backend: 'postgres_primary',
      mode: 'POSTGRES_PRIMARY',
      sourceId: source?.id ?? null,
      schema: schemaName,
      searchPath: schemaName ? searchPathFor(schemaName) : null,
      deprecated: false,
      notice: null,
    };
  }

  async health(): Promise<DatabaseHealth> {
    const started = performance.now();
    try {
      const { rows } = await this.pool.query<{ v: string; citus: string | null }>(
        "SELECT current_setting('server_version') AS v, (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS citus",
      );
      const citus = rows[0].citus ? { citus: rows[0].citus } : {};
      return { reachable: true, latencyMs: performance.now() - started, serverVersion: rows[0].v, error: null, ...citus };
    } catch (error) {
      return { reachable: false, latencyMs: null, serverVersion: null, error: (asUnavailable(error) as Error).message };
    }
  }

  async migrationHealth(): Promise<MigrationHealth> {
    const behind = await this.guard(() => this.registry.schemasBehind(HEALTH_SCHEMAS_BEHIND, this.pool));
    return { latestVersion: latestTenantVersion, behindCount: behind.total, schemasBehind: behind.schemas };
  }

  poolStats(): PoolStats[] {
    const pools: [string, pg.Pool][] = [['read', this.pool], ['write', this.writePool]];
    if (this.adminPool !== this.writePool) pools.push(['admin', this.adminPool]);
    return pools.map(([name, pool]) => ({
      pool: name,
      max: pool.options.max ?? 0,
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }));
  }

  /**
   * Brings the schemas of `sourceIds` (default: every registered one) to the latest version. A pool of its own,
   * as large as the concurrency and on the admin DSN (DDL), so the serving pools are not taken from and the
   * concurrency is what actually runs.
   */
  async migrateAll(
    options: MigrateOptions & { sourceIds?: readonly string[]; concurrency: number; onSchema?: (report: SchemaMigrationReport) => void },
  ): Promise<SchemaMigrationReport[]> {
    const pool = createPool(this.options.adminDsn ?? this.options.dsn, options.concurrency);
    try {
      return await this.guard(() => this.registry.migrateAll(pool, options));
    } finally {
      await pool.end();
    }
  }

  migrationTargets(sourceIds?: readonly string[]): Promise<MigrationTarget[]> {
    return this.guard(() => this.registry.migrationTargets(sourceIds));
  }

  /** Every registered schema's version, record and drift: for doctor. */
  migrationStatus(): Promise<SchemaMigrationStatus[]> {
    return this.guard(() => this.registry.migrationStatus());
  }

  listSources(): Promise<SourceRecord[]> {
    return this.guard(() => this.registry.list());
  }

  resolveSource(sourceId: string): Promise<SourceRecord> {
    return this.guard(() => this.registry.resolve(sourceId));
  }

  bootstrapSource(input: SourceInput): Promise<SourceRecord> {
    return this.guard(() => this.registry.bootstrap(input));
  }

  activateSource(sourceId: string): Promise<SourceRecord> {
    return this.guard(() => this.registry.activate(sourceId));
  }

  deleteSource(sourceId: string): Promise<void> {
    return this.guard(() => this.registry.delete(sourceId));
  }

  /**
   * A read binding. An operation's (GraphQL, REST: `operation` given) binds each statement for itself
   * (PostgresReadBinding), so it holds nothing between statements and the bindings of one operation share nothing.
   * Without an operation, an admin task's: one READ ONLY transaction, in which a cursor can span statements.
   */
  async openTenant(sourceId: string, operation?: object): Promise<TenantBinding> {
    if (!operation) return this.openTransaction(sourceId, true, this.statementTimeoutMs);
    const source = await this.guard(() => this.registry.resolve(sourceId));
    return new PostgresReadBinding({
      pool: this.pool,
      source,
      sourceId: source.id,
      schemaName: source.schemaName!,
      statementTimeoutMs: this.statementTimeoutMs,
      observer: this.options.observer,
      onSchemaGone: () => this.registry.invalidate(source.id),
    });
  }

  /** A binding inside one transaction: a write (on the write pool), or a snapshot or an admin task's read (READ ONLY). */
  private async openTransaction(
    sourceId: string,
    readOnly: boolean,
    statementTimeoutMs: number,
    isolation?: 'REPEATABLE READ',
  ): Promise<TenantBinding> {
    const source = await this.guard(() => this.registry.resolve(sourceId));
    return new PostgresTenantBinding({
      pool: readOnly ? this.pool : this.writePool,
      source,
      sourceId: source.id,
      schemaName: source.schemaName!,
      readOnly,
      isolation,
      statementTimeoutMs,
      observer: this.options.observer,
      onSchemaGone: () => this.registry.invalidate(source.id),
    });
  }

  withTenant<T>(sourceId: string, fn: (db: TenantDb) => Promise<T>, statementTimeoutMs = this.statementTimeoutMs): Promise<T> {
    return this.inBinding(this.openTransaction(sourceId, false, statementTimeoutMs), (binding) => fn(binding.db));
  }

  /**
   * One REPEATABLE READ READ ONLY transaction over the source's schema: every statement of fn reads the instant of
   * the first, so a copy read in batches (POSTGRES_MIRROR's pull) is never half before and half after a write.
   * fn also gets the registry record the binding resolved, which is what the copy's `sources` row should say.
   */
  withSnapshot<T>(sourceId: string, fn: (db: TenantDb, source: SourceRecord) => Promise<T>): Promise<T> {
    const opened = this.openTransaction(sourceId, true, this.statementTimeoutMs, 'REPEATABLE READ');
    return this.inBinding(opened, (binding) => fn(binding.db, binding.source));
  }

  /** Committed when fn resolves, rolled back when it throws; either way the client goes back to its pool. */
  private async inBinding<T>(opened: Promise<TenantBinding>, fn: (binding: TenantBinding) => Promise<T>): Promise<T> {
    const binding = await opened;
    try {
      const result = await fn(binding);
      await binding.finish(true);
      return result;
    } catch (error) {
      await binding.finish(false).catch(() => undefined);
      throw asUnavailable(error);
    }
  }

  withImport<T>(
    sourceId: string,
    fn: (db: TenantDb, runAtomically: <R>(merge: () => Promise<R>) => Promise<R>) => Promise<T>,
  ): Promise<T> {
    // Staging and merge share one transaction: a failure anywhere leaves the schema as it was. The COPY lasts as
    // long as the file takes to arrive (an upload, a slow disk), so the per-request statement timeout would cut
    // a large import short: 0 turns it off for this transaction only.
    return this.withTenant(sourceId, (db) => fn(db, (merge) => merge()), 0);
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw asUnavailable(error);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.writePool.end()]);
    if (this.adminPool !== this.writePool) await this.adminPool.end();
  }
}
