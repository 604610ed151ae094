import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import sql from 'sql-template-tag';
import type { BackendMode } from '../../config.js';
import { GatewayError } from '../../errors.js';
import type {
  BackendContext,
  DatabaseHealth,
  MigrationHealth,
  SourceInput,
  SourceRecord,
  StatementObserver,
  Store,
  TenantDb,
  TenantBinding,
} from '../../interfaces.js';
import { SOURCE_TABLES } from '../../tables/sourceTables.js';
import { ident } from '../../sources/identifiers.js';
import { checkMediaSettings, MEDIA_COLUMNS, mediaAssignments, mediaColumnList, mediaValueList } from '../../sources/mediaSettings.js';
import { assertSourceId } from '../../sources/sourceId.js';
import { sourceFromRow, type SourceRow } from '../../sources/sourceRecord.js';
import { StatementCache, sqliteBinding, sqliteTenantDb } from './sqliteBinding.js';

const layout = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'layout.sql'), 'utf8');

export function openSqliteConnection(file: string, options: { readonly?: boolean } = {}): Database.Database {
  let connection: Database.Database;
  if (options.readonly) {
    // The journal mode is the file's: a read-only connection finds WAL already set by the writers.
    connection = new Database(file, { readonly: true, fileMustExist: true });
    connection.pragma('busy_timeout = 5000');
  } else {
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    connection = new Database(file);
    // WAL lets the import connection merge while the serving connection keeps reading.
    connection.pragma('journal_mode = WAL');
    connection.pragma('foreign_keys = ON');
    connection.pragma('busy_timeout = 5000');
    connection.pragma('synchronous = NORMAL');
  }
  // SQLite's lower() folds ASCII only; PostgreSQL's folds every letter. Replacing it keeps the case-insensitive
  // filters of the shared SQL answering alike in both stores ("ÉCLAIR" finds "éclair").
  connection.function('lower', { deterministic: true }, (value: unknown) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  );
  return connection;
}

/**
 * A private temporary database with the layout (no file name: SQLite deletes it on close). POSTGRES_MIRROR
 * assembles a source's copy here while it waits on PostgreSQL, so the served file is written only by a copy
 * from SQLite to SQLite, which never yields (see runAtomically). Nothing searches it: the full-text triggers
 * would only cost time.
 */
export function openScratchDatabase(): Database.Database {
  const connection = new Database('');
  connection.pragma('foreign_keys = ON');
  applyLayout(connection);
  const triggers = connection.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").pluck().all() as string[];
  for (const name of triggers) connection.exec(`DROP TRIGGER "${name}"`);
  return connection;
}

/**
 * layout.sql creates what is missing (IF NOT EXISTS throughout); a column added to a table after a file was
 * made is added here, so a file from an older gateway opens as if it had been made now.
 */
function applyLayout(connection: Database.Database): void {
  connection.exec(layout);
  const present = new Set((connection.prepare("SELECT name FROM pragma_table_info('sources')").pluck().all() as string[]));
  for (const column of Object.values(MEDIA_COLUMNS)) {
    if (present.has(column)) continue;
    const check = column === 'path_style' ? " CHECK (path_style IN ('linux', 'windows'))" : '';
    connection.exec(`ALTER TABLE sources ADD COLUMN ${ident(column).sql} TEXT${check}`);
  }
}

export interface SqliteStoreOptions {
  file: string;
  mode?: Extract<BackendMode, 'SQLITE' | 'POSTGRES_MIRROR'>;
  observer?: StatementObserver;
}

export class SqliteStore implements Store {
  readonly mode: Extract<BackendMode, 'SQLITE' | 'POSTGRES_MIRROR'>;
  readonly dialect = 'sqlite' as const;
  /** True when this process created the database file (a first run). */
  readonly created: boolean;
  private readonly connection: Database.Database;
  private readonly statements: StatementCache;

  constructor(private readonly options: SqliteStoreOptions) {
    this.mode = options.mode ?? 'SQLITE';
    this.created = options.file === ':memory:' || !existsSync(options.file);
    this.connection = openSqliteConnection(options.file);
    applyLayout(this.connection);
    this.statements = new StatementCache(this.connection);
  }

  backendContext(source: SourceRecord | null): BackendContext {
    const mirror = this.mode === 'POSTGRES_MIRROR';
    return {
      backend: mirror ? 'postgres_mirror' : 'sqlite',
      mode: this.mode,
      sourceId: source?.id ?? null,
      schema: null,
      searchPath: null,
      deprecated: mirror,
      notice: mirror ? 'POSTGRES_MIRROR is transitional; migrate to POSTGRES_PRIMARY' : null,
    };
  }

  async health(): Promise<DatabaseHealth> {
    const started = performance.now();
    try {
      const { v } = this.connection.prepare('SELECT sqlite_version() AS v').get() as { v: string };
      return { reachable: true, latencyMs: performance.now() - started, serverVersion: v, error: null };
    } catch (error) {
      return { reachable: false, latencyMs: null, serverVersion: null, error: (error as Error).message };
    }
  }

  /** None behind: layout.sql (IF NOT EXISTS throughout) is applied at every start, so the file is never behind. */
  async migrationHealth(): Promise<MigrationHealth> {
    return { latestVersion: null, behindCount: 0, schemasBehind: [] };
  }

  private globals(): TenantDb {
    return sqliteTenantDb(this.statements, '', this.options.observer);
  }

  async listSources(): Promise<SourceRecord[]> {
    const rows = await this.globals().all<SourceRow>(sql`SELECT * FROM sources ORDER BY is_default DESC, id`);
    return rows.map(sourceFromRow);
  }

  /** Unknown sources are an error here too: a read never brings a source into being. */
  async resolveSource(sourceIdInput: string): Promise<SourceRecord> {
    const sourceId = assertSourceId(sourceIdInput);
    const row = await this.globals().one<SourceRow>(sql`SELECT * FROM sources WHERE id = ${sourceId}`);
    if (!row) {
      throw new GatewayError(
        'SOURCE_NOT_MAPPED',
        `Unknown source_id=${sourceId}: create it with a bootstrap or an import first`,
        { sourceId },
      );
    }
    return sourceFromRow(row);
  }

  async bootstrapSource(input: SourceInput): Promise<SourceRecord> {
    const sourceId = assertSourceId(input.sourceId);
    const media = input.media ? checkMediaSettings(input.media) : undefined;
    const now = new Date().toISOString();
    const enabled = input.enabled === undefined || input.enabled === null ? null : input.enabled ? 1 : 0;
    const write = this.connection.transaction(() => {
      const isFirst = (this.connection.prepare('SELECT count(*) AS n FROM sources').get() as { n: number }).n === 0;
      const upsert = sql`
        INSERT INTO sources (id, label, kind, description, enabled, is_default, created_at, updated_at, ${mediaColumnList()})
        VALUES (${sourceId}, ${input.label ?? sourceId}, ${input.kind ?? null}, ${input.description ?? null},
                ${enabled ?? 1}, ${isFirst ? 1 : 0}, ${now}, ${now}, ${mediaValueList(media)})
        ON CONFLICT (id) DO UPDATE SET
          label       = COALESCE(${input.label ?? null}, label),
          kind        = COALESCE(${input.kind ?? null}, kind),
          description = COALESCE(${input.description ?? null}, description),
          enabled     = COALESCE(${enabled}, enabled),
          updated_at  = ${now}${mediaAssignments(media)}`;
      this.connection.prepare(upsert.sql).run(...upsert.values);
    });
    write.immediate();
    return this.resolveSource(sourceId);
  }

  /**
   * POSTGRES_MIRROR: the `sources` row as PostgreSQL's registry holds it, its timestamps and default flag
   * included. One default at a time, as in PostgreSQL: a default copied in takes the flag from the others.
   */
  async copySourceRecord(record: SourceRecord): Promise<void> {
    const now = new Date().toISOString();
    const write = this.connection.transaction(() => {
      if (record.isDefault) this.connection.prepare('UPDATE sources SET is_default = 0 WHERE id <> ? AND is_default = 1').run(record.id);
      const upsert = sql`
        INSERT INTO sources (id, label, kind, description, enabled, is_default, created_at, updated_at, ${mediaColumnList()})
        VALUES (${record.id}, ${record.label}, ${record.kind}, ${record.description}, ${record.enabled ? 1 : 0},
                ${record.isDefault ? 1 : 0}, ${record.createdAt ?? now}, ${record.updatedAt ?? now}, ${mediaValueList(record.media)})
        ON CONFLICT (id) DO UPDATE SET
          label = excluded.label, kind = excluded.kind, description = excluded.description, enabled = excluded.enabled,
          is_default = excluded.is_default, created_at = excluded.created_at, updated_at = excluded.updated_at
          ${mediaAssignments(record.media)}`;
      this.connection.prepare(upsert.sql).run(...upsert.values);
    });
    write.immediate();
  }

  /**
   * POSTGRES_MIRROR, after PostgreSQL deleted the source: the copy goes too, rows and `sources` row, without
   * deleteSource's refusals, which PostgreSQL has already applied to the truth (a stale copy may still hold rows).
   */
  async dropSourceCopy(sourceIdInput: string): Promise<void> {
    const sourceId = assertSourceId(sourceIdInput);
    const remove = this.connection.transaction(() => {
      for (const { table } of [...SOURCE_TABLES].reverse()) {
        this.connection.prepare(`DELETE FROM ${table} WHERE source_id = ?`).run(sourceId);
      }
      this.connection.prepare('DELETE FROM item_counts WHERE source_id = ?').run(sourceId);
      this.connection.prepare('DELETE FROM sources WHERE id = ?').run(sourceId);
    });
    remove.immediate();
  }

  async activateSource(sourceIdInput: string): Promise<SourceRecord> {
    const source = await this.resolveSource(sourceIdInput);
    const now = new Date().toISOString();
    await this.globals().run(sql`
      UPDATE sources SET is_default = CASE WHEN id = ${source.id} THEN 1 ELSE 0 END,
                         updated_at = CASE WHEN id = ${source.id} THEN ${now} ELSE updated_at END`);
    return this.resolveSource(source.id);
  }

  async deleteSource(sourceIdInput: string): Promise<void> {
    const source = await this.resolveSource(sourceIdInput);
    if (source.isDefault) {
      throw new GatewayError('SOURCE_IS_DEFAULT', `Refusing to delete source_id=${source.id}: it is the default source`);
    }
    const db = sqliteTenantDb(this.statements, source.id, this.options.observer);
    const { n } = (await db.one<{ n: number }>(sql`SELECT count(*) AS n FROM videos WHERE source_id = ${source.id}`))!;
    if (n > 0) {
      throw new GatewayError('SOURCE_HAS_DATA', `Refusing to delete source_id=${source.id}: it holds ${n} items`, { items: n });
    }
    const remove = this.connection.transaction(() => {
      for (const table of ['csv_consolidated_raw', 'csv_authors_raw', 'csv_bookmarks_raw', 'scheduling_artifacts', 'job_queue', 'item_counts']) {
        this.connection.prepare(`DELETE FROM ${table} WHERE source_id = ?`).run(source.id);
      }
      this.connection.prepare('DELETE FROM sources WHERE id = ?').run(source.id);
    });
    remove.immediate();
  }

  async openTenant(sourceId: string): Promise<TenantBinding> {
    const source = await this.resolveSource(sourceId);
    return sqliteBinding(source, sqliteTenantDb(this.statements, source.id, this.options.observer));
  }

  async withTenant<T>(sourceId: string, fn: (db: TenantDb) => Promise<T>): Promise<T> {
    const source = await this.resolveSource(sourceId);
    const db = sqliteTenantDb(this.statements, source.id, this.options.observer);
    return runAtomically(this.connection, () => fn(db));
  }

  async withImport<T>(
    sourceId: string,
    fn: (db: TenantDb, runAtomically: <R>(merge: () => Promise<R>) => Promise<R>) => Promise<T>,
  ): Promise<T> {
    const source = await this.resolveSource(sourceId);
    if (this.options.file === ':memory:') {
      const db = sqliteTenantDb(this.statements, source.id, this.options.observer);
      return fn(db, (merge) => runAtomically(this.connection, merge));
    }
    // Staging streams into TEMP tables of a connection of its own: nothing it does is visible to, or locks,
    // the serving connection until the merge, which runs without yielding in one IMMEDIATE transaction.
    const importConnection = openSqliteConnection(this.options.file);
    try {
      const db = sqliteTenantDb(new StatementCache(importConnection), source.id, this.options.observer);
      return await fn(db, (merge) => runAtomically(importConnection, merge));
    } finally {
      importConnection.close();
    }
  }

  /**
   * A read binding on one instant of the file: writers (this process or another) go on committing, and the
   * binding sees none of it until fn settles. A connection of its own, so the shared one is never held in a
   * transaction across awaits; read-only, so nothing run through it can change the file.
   */
  async withSnapshot<T>(sourceId: string, fn: (db: TenantDb, source: SourceRecord) => Promise<T>): Promise<T> {
    const source = await this.resolveSource(sourceId);
    if (this.options.file === ':memory:') throw new Error('A snapshot needs a database file; :memory: has no second connection');
    const snapshot = openSqliteConnection(this.options.file, { readonly: true });
    try {
      // A deferred transaction takes its WAL snapshot at its first read, not at BEGIN.
      snapshot.exec('BEGIN');
      snapshot.prepare('SELECT count(*) FROM sources').get();
      return await fn(sqliteTenantDb(new StatementCache(snapshot), source.id, this.options.observer), source);
    } finally {
      if (snapshot.inTransaction) snapshot.exec('ROLLBACK');
      snapshot.close();
    }
  }

  async close(): Promise<void> {
    this.connection.close();
  }
}

/**
 * BEGIN IMMEDIATE … COMMIT around work whose statements are all synchronous underneath. The awaits inside
 * settle as microtasks, so no other request runs between BEGIN and COMMIT; a thrown error rolls back.
 */
async function runAtomically<R>(connection: Database.Database, work: () => Promise<R>): Promise<R> {
  connection.exec('BEGIN IMMEDIATE');
  try {
    const result = await work();
    connection.exec('COMMIT');
    return result;
  } catch (error) {
    if (connection.inTransaction) connection.exec('ROLLBACK');
    throw error;
  }
}
