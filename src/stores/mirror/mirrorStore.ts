import { GatewayError, isGatewayError } from '../../errors.js';
import type {
  BackendContext,
  DatabaseHealth,
  MigrationHealth,
  PoolStats,
  SourceInput,
  SourceRecord,
  Store,
  TenantDb,
  TenantBinding,
} from '../../interfaces.js';
import { replaceSourceRows } from '../../queries/sourceRows.js';
import { assertSourceId } from '../../sources/sourceId.js';
import { StatementCache, sqliteTenantDb } from '../sqlite/sqliteBinding.js';
import type { PostgresStore } from '../postgres/postgresStore.js';
import { openScratchDatabase, type SqliteStore } from '../sqlite/sqliteStore.js';

const DEPRECATION = 'POSTGRES_MIRROR is transitional; migrate to POSTGRES_PRIMARY';
/**
 * After a failed pull, reads serve the SQLite copy without trying PostgreSQL again for this long: a dead server
 * is not asked once per request (each try may wait for a connect timeout). Bounded by the TTL, so a short TTL
 * recovers as quickly as it syncs, but never below a second, so TTL 0 does not turn an outage into a retry storm.
 */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 5000;

export interface MirrorStoreOptions {
  /** Serves every read. */
  sqlite: SqliteStore;
  /** The truth: every write goes here, every read first pulls from here. */
  postgres: PostgresStore;
  /** How old a source's copy may be before a read pulls it again; 0 pulls before every operation. */
  syncTtlMs: number;
}

/**
 * What this process knows about one source's SQLite copy. Kept only for sources that were pulled or are being
 * pulled, so ids PostgreSQL does not know leave nothing behind.
 */
interface SourceSync {
  /** When the snapshot the copy holds was taken (by this process); null: never. */
  syncedAt: number | null;
  /** Whether syncedAt counts towards the TTL: not after a write, which the copy may not hold. */
  current: boolean;
  /** Bumped by every write through the mirror: a pull whose snapshot may predate the write is not current. */
  generation: number;
  /** The pull in flight, which every read of the source waits for (single flight per source). */
  pulling: { done: Promise<void>; generation: number } | null;
}

interface Outage {
  since: number;
  /** The last failed attempt, from which the retry backoff runs. */
  failedAt: number;
}

/**
 * POSTGRES_MIRROR: SQLite serves every read; PostgreSQL holds the truth. Before serving a source, a read pulls
 * the source's rows from its PostgreSQL schema into the SQLite file, at most once per TTL (SX_DB_BACKEND_SYNC_TTL_SEC).
 *
 * A pull has two halves. PostgreSQL → a private scratch SQLite database, in one REPEATABLE READ READ ONLY
 * transaction (one instant of the source, however many batches). Then scratch → the served file, in one IMMEDIATE
 * transaction on an import connection. The second half is SQLite to SQLite and never yields to the event loop:
 * a file write lock held across network waits would stall, for up to busy_timeout with the loop blocked, any other
 * pull of the process (which then cannot let the first one finish) and every other process writing the file.
 *
 * Writes go to PostgreSQL only; a write made in SQLite would be overwritten by the next pull. After a write the
 * source's copy is stale, so the next read pulls at once and sees it.
 *
 * When PostgreSQL is unreachable, reads serve what SQLite holds and every backend context says so; a source SQLite
 * has never held answers DATABASE_UNAVAILABLE. A source PostgreSQL does not know answers SOURCE_NOT_MAPPED even
 * when SQLite still holds a copy: PostgreSQL is the truth whenever it can be asked.
 *
 * `dialect` is sqlite: the bindings that serve reads, which are what this store exists for, are SQLite's. Nothing
 * branches on a store's dialect; library SQL branches on the TenantDb's, and write bindings are PostgreSQL's.
 */
export class MirrorStore implements Store {
  readonly mode = 'POSTGRES_MIRROR' as const;
  readonly dialect = 'sqlite' as const;
  private readonly sqlite: SqliteStore;
  private readonly postgres: PostgresStore;
  private readonly syncTtlMs: number;
  private readonly retryMs: number;
  private readonly sources = new Map<string, SourceSync>();
  private outage: Outage | null = null;

  constructor(options: MirrorStoreOptions) {
    this.sqlite = options.sqlite;
    this.postgres = options.postgres;
    this.syncTtlMs = options.syncTtlMs;
    this.retryMs = Math.min(Math.max(options.syncTtlMs, RETRY_MIN_MS), RETRY_MAX_MS);
  }

  backendContext(source: SourceRecord | null): BackendContext {
    let notice = DEPRECATION;
    if (this.outage) {
      notice += `. PostgreSQL unreachable (since ${new Date(this.outage.since).toISOString()}); serving the SQLite copy`;
      if (source) {
        const syncedAt = this.sources.get(source.id)?.syncedAt ?? null;
        notice += ` last synced at ${syncedAt === null ? 'never (by this process)' : new Date(syncedAt).toISOString()}`;
      }
    }
    return {
      backend: 'postgres_mirror',
      mode: this.mode,
      sourceId: source?.id ?? null,
      schema: null,
      searchPath: null,
      deprecated: true,
      notice,
    };
  }

  /** Reachable while SQLite serves; `error` names a PostgreSQL outage, which only makes the copies age. */
  async health(): Promise<DatabaseHealth> {
    const [served, truth] = await Promise.all([this.sqlite.health(), this.postgres.health()]);
    if (truth.reachable) this.outage = null;
    else this.noteOutage();
    if (!served.reachable || !this.outage) return served;
    const since = new Date(this.outage.since).toISOString();
    return { ...served, error: `PostgreSQL unreachable since ${since} (${truth.error}); SQLite serves the copies it holds` };
  }

  /** Only PostgreSQL's schemas carry migration versions; the SQLite file gets its layout at every start. */
  migrationHealth(): Promise<MigrationHealth> {
    return this.throughPostgres(() => this.postgres.migrationHealth());
  }

  /** The pools are PostgreSQL's; SQLite, which serves the reads, has none. */
  poolStats(): PoolStats[] {
    return this.postgres.poolStats();
  }

  async listSources(): Promise<SourceRecord[]> {
    try {
      return await this.throughPostgres(() => this.postgres.listSources());
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      return this.sqlite.listSources();
    }
  }

  async resolveSource(sourceId: string): Promise<SourceRecord> {
    try {
      return await this.throughPostgres(() => this.postgres.resolveSource(sourceId));
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      return this.fromCopy(sourceId);
    }
  }

  async bootstrapSource(input: SourceInput): Promise<SourceRecord> {
    const sourceId = assertSourceId(input.sourceId);
    const record = await this.write(sourceId, () => this.postgres.bootstrapSource(input));
    // The record now, the rows at the next read: the source is servable from SQLite even if PostgreSQL goes away.
    await this.sqlite.copySourceRecord(record);
    return record;
  }

  async activateSource(sourceId: string): Promise<SourceRecord> {
    const id = assertSourceId(sourceId);
    const record = await this.write(id, () => this.postgres.activateSource(id));
    // The default moved in PostgreSQL; the SQLite copies follow at once, for listSources during an outage.
    await this.sqlite.copySourceRecord(record);
    return record;
  }

  async deleteSource(sourceId: string): Promise<void> {
    const id = assertSourceId(sourceId);
    await this.write(id, () => this.postgres.deleteSource(id));
    // A pull in flight would land after the drop and bring the copy back.
    await this.sources.get(id)?.pulling?.done.catch(() => undefined);
    // Otherwise an outage would bring the deleted source back, served from its copy.
    await this.sqlite.dropSourceCopy(id);
    this.sources.delete(id);
  }

  async openTenant(sourceId: string): Promise<TenantBinding> {
    const id = assertSourceId(sourceId);
    await this.ensureSynced(id);
    return this.sqlite.openTenant(id);
  }

  withTenant<T>(sourceId: string, fn: (db: TenantDb) => Promise<T>): Promise<T> {
    return this.write(assertSourceId(sourceId), () => this.postgres.withTenant(sourceId, fn));
  }

  withImport<T>(
    sourceId: string,
    fn: (db: TenantDb, runAtomically: <R>(merge: () => Promise<R>) => Promise<R>) => Promise<T>,
  ): Promise<T> {
    return this.write(assertSourceId(sourceId), () => this.postgres.withImport(sourceId, fn));
  }

  async close(): Promise<void> {
    // A pull still in flight would write into a closed SQLite connection; let it end first.
    await Promise.allSettled([...this.sources.values()].map((sync) => sync.pulling?.done));
    const closed = await Promise.allSettled([this.sqlite.close(), this.postgres.close()]);
    const failed = closed.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private syncOf(sourceId: string): SourceSync {
    let sync = this.sources.get(sourceId);
    if (!sync) {
      sync = { syncedAt: null, current: false, generation: 0, pulling: null };
      this.sources.set(sourceId, sync);
    }
    return sync;
  }

  /** An entry that was never pulled and has no pull in flight says nothing that its absence does not. */
  private forgetIfEmpty(sourceId: string, sync: SourceSync): void {
    if (sync.syncedAt === null && sync.pulling === null && this.sources.get(sourceId) === sync) this.sources.delete(sourceId);
  }

  /**
   * A write to the truth; whatever its outcome, the copy is stale from here on (a write whose COMMIT was lost with
   * the connection may still have happened). A pull in flight no longer counts: its snapshot may predate the write.
   */
  private async write<T>(sourceId: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.throughPostgres(fn);
    } finally {
      const sync = this.sources.get(sourceId);
      if (sync) {
        sync.generation += 1;
        sync.current = false;
      }
    }
  }

  /** Every call to PostgreSQL goes through here, so the outage state follows what PostgreSQL last answered. */
  private async throughPostgres<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.outage = null;
      return result;
    } catch (error) {
      // Only a success ends an outage: other errors may not have come from PostgreSQL at all.
      if (isUnavailable(error)) this.noteOutage();
      throw error;
    }
  }

  private noteOutage(): void {
    const now = Date.now();
    this.outage = { since: this.outage?.since ?? now, failedAt: now };
  }

  /** Pulls the source unless its copy is younger than the TTL, or PostgreSQL failed moments ago. */
  private async ensureSynced(sourceId: string): Promise<void> {
    const sync = this.syncOf(sourceId);
    let flight = sync.pulling;
    if (!flight || flight.generation !== sync.generation) {
      if (sync.current && sync.syncedAt !== null && Date.now() - sync.syncedAt < this.syncTtlMs) return;
      if (this.outage && Date.now() - this.outage.failedAt < this.retryMs) {
        this.forgetIfEmpty(sourceId, sync);
        await this.fromCopy(sourceId);
        return;
      }
      // A pull of an older generation still in flight finishes first: it must not land after this one.
      const earlier = flight?.done;
      const generation = sync.generation;
      const done = (async () => {
        if (earlier) await earlier.catch(() => undefined);
        await this.pull(sourceId, sync, generation);
      })();
      const started = { done, generation };
      flight = started;
      sync.pulling = started;
      const settle = () => {
        if (sync.pulling === started) sync.pulling = null;
        this.forgetIfEmpty(sourceId, sync);
      };
      done.then(settle, settle);
    }
    try {
      await flight.done;
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      await this.fromCopy(sourceId);
    }
  }

  /**
   * PostgreSQL cannot be asked: the record SQLite holds. Without one the answer is DATABASE_UNAVAILABLE, not
   * SOURCE_NOT_MAPPED: PostgreSQL may well know the source.
   */
  private async fromCopy(sourceId: string): Promise<SourceRecord> {
    try {
      return await this.sqlite.resolveSource(sourceId);
    } catch (error) {
      if ((error as { code?: string }).code !== 'SOURCE_NOT_MAPPED') throw error;
      throw new GatewayError(
        'DATABASE_UNAVAILABLE',
        `PostgreSQL is not reachable and the SQLite copy holds no source_id=${sourceId}; try again shortly`,
        { sourceId },
      );
    }
  }

  private async pull(sourceId: string, sync: SourceSync, generation: number): Promise<void> {
    const started = Date.now();
    const scratch = openScratchDatabase();
    try {
      const scratchDb = sqliteTenantDb(new StatementCache(scratch), sourceId);
      const record = await this.throughPostgres(() =>
        this.postgres.withSnapshot(sourceId, async (db, source) => {
          // The scratch database is private; one transaction only spares it a commit per batch.
          scratch.exec('BEGIN');
          await replaceSourceRows(db, scratchDb, { jobIds: 'copy' });
          scratch.exec('COMMIT');
          return source;
        }),
      );
      // withImport resolves the source in SQLite: a source PostgreSQL alone knew gets its row first.
      await this.sqlite.copySourceRecord(record);
      await this.sqlite.withImport(sourceId, (db, runAtomically) =>
        // SQLite's job_queue ids are shared by every source of the file: the file numbers the copied jobs.
        runAtomically(() => replaceSourceRows(scratchDb, db, { jobIds: 'renumber' })),
      );
      sync.syncedAt = started;
      sync.current = sync.generation === generation;
    } finally {
      scratch.close();
    }
  }
}

function isUnavailable(error: unknown): boolean {
  return isGatewayError(error) && error.code === 'DATABASE_UNAVAILABLE';
}
