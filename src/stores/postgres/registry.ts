import type pg from 'pg';
import sql, { empty, type Sql } from 'sql-template-tag';
import { GatewayError } from '../../errors.js';
import type {
  MigrateOptions,
  MigrationTarget,
  SchemaMigrationReport,
  SchemaMigrationStatus,
  SourceInput,
  SourceRecord,
} from '../../interfaces.js';
import { ident, qualified, schemaNameFor } from '../../sources/identifiers.js';
import { lockSchemaForMigration, migrateSchemaIn, migrateSchemas, schemaMigrationStatus, schemasBehind } from './schemaMigrations.js';
import { checkMediaSettings, MEDIA_COLUMNS, mediaAssignments, mediaColumnList, mediaValueList } from '../../sources/mediaSettings.js';
import { assertSourceId } from '../../sources/sourceId.js';
import { sourceFromRow, type SourceRow } from '../../sources/sourceRecord.js';
import { inTransaction, runSql, type Queryable } from './transaction.js';

export interface RegistryOptions {
  /** Runtime pool: lookups. */
  pool: pg.Pool;
  /** Pool for DDL (SX_POSTGRES_ADMIN_DSN); may be the runtime pool. */
  adminPool: pg.Pool;
  schemaPrefix: string;
  registryTable: string;
  cacheTtlMs: number;
}


// Serialises bootstraps, deletes and global DDL across every gateway process sharing the database.
const REGISTRY_LOCK = sql`SELECT pg_advisory_xact_lock(hashtext('sx-gateway:registry'))`;
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;


/**
 * The only reader and writer of `public.sources` and the source→schema registry. Lookups are cached per
 * process for a short time; bootstrap and delete invalidate the cache of this process at once, other gateway
 * processes within the TTL (and at once when a query meets a dropped schema).
 */
export class PostgresRegistry {
  private readonly cache = new Map<string, { record: SourceRecord; expires: number }>();
  private readonly registry: Sql;

  constructor(private readonly options: RegistryOptions) {
    this.registry = qualified('public', options.registryTable);
  }

  private selectSources(where: Sql): Sql {
    return sql`
      SELECT s.id, s.label, s.kind, s.description, s.enabled, s.is_default, r.schema_name, r.migration_version,
             s.created_at, s.updated_at, s.vault_root, s.vault_root_windows, s.data_dir, s.path_style, s.group_prefix
        FROM public.sources s
        LEFT JOIN ${this.registry} r ON r.source_id = s.id
       ${where}
       ORDER BY s.is_default DESC, s.id`;
  }

  async ensureGlobals(client: pg.ClientBase): Promise<void> {
    await runSql(client, sql`
      CREATE TABLE IF NOT EXISTS public.sources (
        id          text PRIMARY KEY,
        label       text,
        kind        text,
        description text,
        enabled     integer NOT NULL DEFAULT 1,
        is_default  integer NOT NULL DEFAULT 0,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
    // Media settings came after the first databases: added when missing (NULL: the gateway's default). Asked
    // first, so a start of a current database takes no ACCESS EXCLUSIVE lock on the table.
    const present = await runSql(client, sql`
      SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'sources'`);
    const have = new Set(present.rows.map((row) => row.column_name as string));
    for (const column of Object.values(MEDIA_COLUMNS)) {
      if (have.has(column)) continue;
      const check = column === 'path_style' ? sql` CHECK (path_style IN ('linux', 'windows'))` : empty;
      await runSql(client, sql`ALTER TABLE public.sources ADD COLUMN ${ident(column)} text${check}`);
    }
    await runSql(client, sql`
      CREATE TABLE IF NOT EXISTS ${this.registry} (
        source_id         text PRIMARY KEY REFERENCES public.sources (id) ON DELETE CASCADE,
        schema_name       text NOT NULL UNIQUE CHECK (schema_name ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
        migration_version integer NOT NULL DEFAULT 0,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
      )`);
  }

  /** Creates the global tables when missing, under the registry lock so two first starts do not race. */
  async prepare(): Promise<void> {
    await inTransaction(this.options.adminPool, async (client) => {
      await runSql(client, REGISTRY_LOCK);
      await this.ensureGlobals(client);
    });
  }

  invalidate(sourceId?: string): void {
    if (sourceId === undefined) this.cache.clear();
    else this.cache.delete(sourceId);
  }

  /** Every source with its mapping; `via` reads them on a connection the caller holds (a backup's snapshot). */
  async list(via?: Queryable): Promise<SourceRecord[]> {
    const rows = (await runSql(via ?? this.options.pool, this.selectSources(sql``))).rows as SourceRow[];
    return rows.map(sourceFromRow);
  }

  /**
   * The mapping or SOURCE_NOT_MAPPED: never a fallback to another schema. `via` runs the lookup on a connection
   * the caller already holds, so it never waits for a second one while holding the first.
   */
  async resolve(sourceIdInput: string, via?: Queryable): Promise<SourceRecord> {
    const sourceId = assertSourceId(sourceIdInput);
    const cached = this.cache.get(sourceId);
    if (cached && cached.expires > Date.now()) return cached.record;
    const rows = (await runSql(via ?? this.options.pool, this.selectSources(sql`WHERE s.id = ${sourceId}`))).rows as SourceRow[];
    const row = rows[0];
    if (!row || !row.schema_name || !SCHEMA_NAME.test(row.schema_name)) {
      this.cache.delete(sourceId);
      throw new GatewayError('SOURCE_NOT_MAPPED', `Source schema mapping missing/invalid for source_id=${sourceId}`, {
        sourceId,
      });
    }
    const record = sourceFromRow(row);
    if (this.options.cacheTtlMs > 0) this.cache.set(sourceId, { record, expires: Date.now() + this.options.cacheTtlMs });
    return record;
  }

  /**
   * Schema, tables, indexes, migrations and registry rows in one transaction under the registry lock:
   * idempotent, and two bootstraps at once (even of the same source) serialise instead of colliding. The
   * layout comes from the migrator, so a new schema starts at the latest version with its record.
   * `targetVersion` (tests only) builds a schema as an older gateway would have.
   */
  async bootstrap(input: SourceInput, options: Pick<MigrateOptions, 'targetVersion'> = {}): Promise<SourceRecord> {
    const sourceId = assertSourceId(input.sourceId);
    const media = input.media ? checkMediaSettings(input.media) : undefined;
    const record = await inTransaction(this.options.adminPool, async (client) => {
      await runSql(client, REGISTRY_LOCK);
      await this.ensureGlobals(client);
      const existing = (await runSql(client, sql`SELECT schema_name, migration_version FROM ${this.registry} WHERE source_id = ${sourceId}`))
        .rows[0] as { schema_name: string; migration_version: number } | undefined;
      const schemaName = existing?.schema_name ?? schemaNameFor(sourceId, this.options.schemaPrefix);
      if (!existing) {
        const owner = (await runSql(client, sql`SELECT source_id FROM ${this.registry} WHERE schema_name = ${schemaName}`))
          .rows[0] as { source_id: string } | undefined;
        if (owner) {
          throw new GatewayError(
            'SCHEMA_NAME_TAKEN',
            `Schema ${schemaName} for source_id=${sourceId} already belongs to source_id=${owner.source_id}; choose another source id`,
            { sourceId, schemaName, owner: owner.source_id },
          );
        }
      }
      // Before any registry write, so every path takes the registry lock, then the schema's, then the registry
      // row (migrate takes the last two in that order too): no two of them can wait on each other in a circle.
      await lockSchemaForMigration(client, schemaName);
      const schemaExists =
        (await runSql(client, sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schemaName}`)).rowCount === 1;
      const isFirst = (await runSql(client, sql`SELECT count(*) AS n FROM public.sources`)).rows[0].n === 0;
      await runSql(client, sql`
        INSERT INTO public.sources (id, label, kind, description, enabled, is_default, ${mediaColumnList()})
        VALUES (${sourceId}, ${input.label ?? sourceId}, ${input.kind ?? null}, ${input.description ?? null},
                ${input.enabled === false ? 0 : 1}, ${isFirst ? 1 : 0}, ${mediaValueList(media)})
        ON CONFLICT (id) DO UPDATE SET
          label       = COALESCE(${input.label ?? null}, sources.label),
          kind        = COALESCE(${input.kind ?? null}, sources.kind),
          description = COALESCE(${input.description ?? null}, sources.description),
          enabled     = COALESCE(${input.enabled === undefined || input.enabled === null ? null : input.enabled ? 1 : 0}, sources.enabled),
          updated_at  = now()${mediaAssignments(media)}`);
      await runSql(client, sql`
        INSERT INTO ${this.registry} (source_id, schema_name, migration_version) VALUES (${sourceId}, ${schemaName}, 0)
        ON CONFLICT (source_id) DO NOTHING`);
      // The registry's version only counts while the schema exists (a restore or a manual drop can leave a
      // registry row behind): the migrator would take it for migrations a new, empty schema never ran.
      if (!schemaExists) {
        await runSql(client, sql`UPDATE ${this.registry} SET migration_version = 0 WHERE source_id = ${sourceId} AND migration_version <> 0`);
      }
      await runSql(client, sql`CREATE SCHEMA IF NOT EXISTS ${ident(schemaName)}`);
      await migrateSchemaIn(client, { sourceId, schemaName }, this.registry, { targetVersion: options.targetVersion });
      return (await runSql(client, this.selectSources(sql`WHERE s.id = ${sourceId}`))).rows[0] as SourceRow;
    });
    this.invalidate(sourceId);
    return sourceFromRow(record);
  }

  async activate(sourceIdInput: string): Promise<SourceRecord> {
    const source = await this.resolve(sourceIdInput);
    await inTransaction(this.options.adminPool, async (client) => {
      await runSql(client, REGISTRY_LOCK);
      await runSql(client, sql`UPDATE public.sources SET is_default = CASE WHEN id = ${source.id} THEN 1 ELSE 0 END,
                                    updated_at = CASE WHEN id = ${source.id} THEN now() ELSE updated_at END`);
    });
    this.invalidate();
    return this.resolve(source.id);
  }

  /** Drops the schema and both registry rows; refused for the default source and for one holding items. */
  async delete(sourceIdInput: string): Promise<void> {
    const source = await this.resolve(sourceIdInput);
    await inTransaction(this.options.adminPool, async (client) => {
      await runSql(client, REGISTRY_LOCK);
      const current = (await runSql(client, this.selectSources(sql`WHERE s.id = ${source.id}`))).rows[0] as SourceRow | undefined;
      if (!current?.schema_name) return;
      if (current.is_default === 1) {
        throw new GatewayError('SOURCE_IS_DEFAULT', `Refusing to delete source_id=${source.id}: it is the default source`);
      }
      const items = (await runSql(client, sql`SELECT count(*) AS n FROM ${qualified(current.schema_name, 'videos')}`)).rows[0].n;
      if (items > 0) {
        throw new GatewayError('SOURCE_HAS_DATA', `Refusing to delete source_id=${source.id}: it holds ${items} items`, { items });
      }
      // A migration running on the schema finishes first; one starting after finds the schema gone.
      await lockSchemaForMigration(client, current.schema_name);
      await runSql(client, sql`DROP SCHEMA IF EXISTS ${ident(current.schema_name)} CASCADE`);
      await runSql(client, sql`DELETE FROM ${this.registry} WHERE source_id = ${source.id}`);
      await runSql(client, sql`DELETE FROM public.sources WHERE id = ${source.id}`);
    });
    this.invalidate(source.id);
  }

  /** The schemas to migrate: every registered one, or those of the named sources (each must be registered). */
  async migrationTargets(sourceIds?: readonly string[]): Promise<MigrationTarget[]> {
    if (!sourceIds) {
      const { rows } = await runSql(this.options.pool, sql`SELECT source_id, schema_name FROM ${this.registry} ORDER BY source_id`);
      return rows.map((row) => ({ sourceId: row.source_id as string, schemaName: row.schema_name as string }));
    }
    const targets: MigrationTarget[] = [];
    for (const sourceId of new Set(sourceIds)) {
      const source = await this.resolve(sourceId);
      targets.push({ sourceId: source.id, schemaName: source.schemaName! });
    }
    return targets;
  }

  /**
   * Migrates the schemas of `sourceIds` (default: all) on `pool`, `concurrency` at a time, each in its own
   * transaction; a failed schema is in its report, the others go on.
   */
  async migrateAll(
    pool: pg.Pool,
    options: MigrateOptions & { sourceIds?: readonly string[]; concurrency: number; onSchema?: (report: SchemaMigrationReport) => void },
  ): Promise<SchemaMigrationReport[]> {
    const targets = await this.migrationTargets(options.sourceIds);
    const reports = await migrateSchemas(pool, targets, this.registry, options);
    for (const report of reports) if (report.applied.length > 0 && !options.dryRun) this.invalidate(report.sourceId);
    return reports;
  }

  /** Each schema's registry version against its record, and drifted files (for doctor). */
  migrationStatus(): Promise<SchemaMigrationStatus[]> {
    return schemaMigrationStatus(this.options.pool, this.registry);
  }

  /**
   * The schemas below the latest version, at most `limit` of them, and how many there are (for health). `via`
   * asks on another pool: a health probe must not queue behind imports holding the write pool.
   */
  schemasBehind(limit: number, via?: pg.Pool): ReturnType<typeof schemasBehind> {
    return schemasBehind(via ?? this.options.pool, this.registry, limit);
  }
}
