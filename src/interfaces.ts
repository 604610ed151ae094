import type { Readable } from 'node:stream';
import type { Sql } from 'sql-template-tag';
import type { BackendMode, GatewayConfig } from './config.js';
import type { StoredMediaSettings } from './sources/mediaSettings.js';

export type Dialect = 'sqlite' | 'postgres';

/** What a statement observer sees; tests count statements with it, logs may time them. */
export interface StatementEvent {
  dialect: Dialect;
  sourceId: string | null;
  text: string;
}
export type StatementObserver = (event: StatementEvent) => void;

/**
 * A handle bound to one source. In PostgreSQL it is a pooled client inside a transaction whose search_path
 * names the source's schema; in SQLite it is the shared connection, and every statement filters by source_id.
 * Library modules receive only this, never a pool or a raw connection.
 */
export interface TenantDb {
  readonly dialect: Dialect;
  readonly sourceId: string;
  readonly schemaName: string | null;
  /**
   * The migration version of the source's schema, as the registry recorded it: a schema behind the latest still
   * serves, so a statement on a table a later migration added asks first. Absent where the layout is always the
   * latest (SQLite applies its whole layout at every start).
   */
  readonly layoutVersion?: number | null;
  all<Row = Record<string, unknown>>(query: Sql): Promise<Row[]>;
  one<Row = Record<string, unknown>>(query: Sql): Promise<Row | undefined>;
  /** Returns the number of rows the statement changed. */
  run(query: Sql): Promise<number>;
  /**
   * PostgreSQL only: streams COPY text-format lines into a `COPY … FROM STDIN` statement, with backpressure
   * from the server back to the reader of the lines. Resolves with the number of rows copied.
   */
  copyFrom?(statement: Sql, lines: Readable): Promise<number>;
}

/** A binding that lives as long as one GraphQL operation (or one command). */
export interface TenantBinding {
  readonly source: SourceRecord;
  readonly db: TenantDb;
  /** Commits (ok) or rolls back, then hands the connection back. Safe to call more than once. */
  finish(ok: boolean): Promise<void>;
}

export type { StoredMediaSettings } from './sources/mediaSettings.js';

export interface SourceRecord {
  id: string;
  label: string | null;
  kind: string | null;
  description: string | null;
  enabled: boolean;
  isDefault: boolean;
  schemaName: string | null;
  migrationVersion: number | null;
  media: StoredMediaSettings;
  createdAt: string | null;
  updatedAt: string | null;
}

export interface SourceInput {
  sourceId: string;
  label?: string | null;
  kind?: string | null;
  description?: string | null;
  enabled?: boolean | null;
  /** A field left out keeps its stored value; null (or '' from the CLI) clears it back to the default. */
  media?: Partial<StoredMediaSettings>;
}

export interface BackendContext {
  backend: 'sqlite' | 'postgres_mirror' | 'postgres_primary';
  mode: BackendMode;
  sourceId: string | null;
  schema: string | null;
  searchPath: string | null;
  deprecated: boolean;
  notice: string | null;
}

export interface DatabaseHealth {
  reachable: boolean;
  latencyMs: number | null;
  serverVersion: string | null;
  /** The Citus extension's version when the database is a Citus coordinator; null or absent otherwise. */
  citus?: string | null;
  error: string | null;
}

/** Tenant schemas below the latest migration, as health reports them. */
export interface MigrationHealth {
  /** The highest tenant migration this build ships; null where schemas carry no version (SQLite: see layout.sql). */
  latestVersion: number | null;
  behindCount: number;
  /** The first of them, furthest behind first. */
  schemasBehind: { sourceId: string; schemaName: string; version: number }[];
}

export interface MigrationTarget {
  sourceId: string;
  schemaName: string;
}

export interface SchemaMigrationReport {
  sourceId: string;
  schemaName: string;
  /** The schema's version before the run. */
  from: number;
  /** Its version after the run (with dryRun: the one it would reach); `from` when it failed. */
  to: number;
  /** Versions run now, in order (with dryRun: the ones that would run). */
  applied: number[];
  /** Versions recorded now without running, from the registry's migration_version (a schema older than the record). */
  inferred: number[];
  /** Recorded versions whose file has changed since it ran; reported, never re-run. */
  drifted: number[];
  durationMs: number;
  error?: { code: 'MIGRATION_FAILED'; message: string; version: number | null };
}

export interface MigrateOptions {
  /** Stop at this version instead of the latest. Tests build old schemas with it; operators have no use for it. */
  targetVersion?: number;
  /** Read the record and say what would run, then roll back. */
  dryRun?: boolean;
}

export interface SchemaMigrationStatus extends MigrationTarget {
  registryVersion: number;
  /** Highest recorded version; null when the schema has no record yet (it is inferred at its next migration). */
  recordedVersion: number | null;
  behind: boolean;
  drifted: number[];
}

/**
 * What only a store with versioned tenant schemas (PostgreSQL) can do. The GraphQL layer and the commands ask a
 * store for this capability (`store.tenantSchemas`) instead of testing which class it is.
 */
export interface TenantSchemas {
  /** The highest tenant migration this build ships. */
  readonly latestVersion: number;
  /** The schemas `migrateAll` would work on: every registered one, or those of the named sources (each must exist). */
  migrationTargets(sourceIds?: readonly string[]): Promise<MigrationTarget[]>;
  /** Brings those schemas to the latest version, `concurrency` at a time, each in its own transaction. */
  migrateAll(
    options: MigrateOptions & { sourceIds?: readonly string[]; concurrency: number; onSchema?: (report: SchemaMigrationReport) => void },
  ): Promise<SchemaMigrationReport[]>;
  /** Every registered schema's version, record and drift: for doctor. */
  migrationStatus(): Promise<SchemaMigrationStatus[]>;
}

/**
 * The gateway's GraphQL endpoint answered in-process, as its HTTP route would answer: what a restore's verification
 * asks. The admin tasks get it from their caller, since the HTTP layer sits above them.
 */
export type InProcessGateway = (store: Store, config: GatewayConfig, request: Request) => Promise<Response>;

/** One connection pool's occupancy at the moment it is read. */
export interface PoolStats {
  /** `read`, `write`, or `admin` when SX_POSTGRES_ADMIN_DSN gives DDL a pool of its own. */
  pool: string;
  max: number;
  total: number;
  idle: number;
  /** Callers queued for a client: above 0 for long, the pool is too small for the load. */
  waiting: number;
}

/**
 * The two stores implement this; the GraphQL layer and the commands cannot tell which one they talk to.
 * Every method that touches a source's rows goes through `openTenant` / `withTenant`, the tenancy boundary.
 */
export interface Store {
  readonly mode: BackendMode;
  readonly dialect: Dialect;
  backendContext(source: SourceRecord | null): BackendContext;
  health(): Promise<DatabaseHealth>;

  listSources(): Promise<SourceRecord[]>;
  /** Validates the id and finds the source, or throws SOURCE_ID_INVALID / SOURCE_NOT_MAPPED. */
  resolveSource(sourceId: string): Promise<SourceRecord>;
  /** Creates the source (and in PostgreSQL its schema) if missing; updates the given metadata. Idempotent. */
  bootstrapSource(input: SourceInput): Promise<SourceRecord>;
  activateSource(sourceId: string): Promise<SourceRecord>;
  /** Refused for the default source and for a source that holds items. */
  deleteSource(sourceId: string): Promise<void>;

  /**
   * A lazily connected read binding for one operation; resolve errors are thrown here, before any query.
   * Bindings opened with the same `operation` key belong to one operation and may share its transaction.
   */
  openTenant(sourceId: string, operation?: object): Promise<TenantBinding>;
  /** One transaction for a write: committed when fn resolves, rolled back when it throws. */
  withTenant<T>(sourceId: string, fn: (db: TenantDb) => Promise<T>): Promise<T>;
  /**
   * For imports: staging may stream for a long time, the merge must be atomic. SQLite gives the import its own
   * connection so the shared one never waits on a write lock held across an await.
   */
  withImport<T>(sourceId: string, fn: (db: TenantDb, runAtomically: <R>(merge: () => Promise<R>) => Promise<R>) => Promise<T>): Promise<T>;

  /**
   * One read-only transaction over a source in which every statement reads the instant of the first: a copy or a
   * checksum read in batches is never half before and half after a write. fn also gets the source's record.
   * Optional: the mirror store serves copies and has no snapshot of its own to give.
   */
  withSnapshot?<T>(sourceId: string, fn: (db: TenantDb, source: SourceRecord) => Promise<T>): Promise<T>;
  /** Present only where tenant schemas carry migration versions (PostgreSQL). */
  readonly tenantSchemas?: TenantSchemas;

  /** Which tenant schemas are behind; optional, as a store without versioned schemas has none to report. */
  migrationHealth?(): Promise<MigrationHealth>;
  /**
   * The PostgreSQL pools' occupancy, read from the pools without a query, so a metrics scrape never waits on
   * the database or takes a connection. Optional: SQLite has no pool.
   */
  poolStats?(): PoolStats[];

  close(): Promise<void>;
}
