import type pg from 'pg';
import sql, { type Sql } from 'sql-template-tag';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { MigrateOptions, MigrationTarget, SchemaMigrationReport, SchemaMigrationStatus } from '../../interfaces.js';
import { latestTenantVersion, tenantMigrations } from './migrationFiles.js';
import { qualified } from '../../sources/identifiers.js';
import { bindSchema, inTransaction, runSql } from './transaction.js';

/** The per-schema record of applied migrations; it lives in the tenant schema, so a dump of one source carries it. */
export const MIGRATION_RECORD_TABLE = 'sx_schema_migrations';

/**
 * Serialises everything that changes one schema's layout (migrate, bootstrap) across processes. Transaction-level,
 * so it cannot outlive a failed run; keyed by the schema, so other schemas migrate meanwhile.
 */
export async function lockSchemaForMigration(client: pg.ClientBase, schemaName: string): Promise<void> {
  await runSql(client, sql`SELECT pg_advisory_xact_lock(hashtext(${`sx-gateway:migrate:${schemaName}`}))`);
}

async function recordExists(client: pg.ClientBase | pg.Pool, schemaName: string): Promise<boolean> {
  const found = await runSql(client, sql`
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ${schemaName} AND c.relname = ${MIGRATION_RECORD_TABLE}`);
  return found.rowCount === 1;
}

function driftOf(recorded: { version: number; checksum: string }[]): number[] {
  return recorded
    .filter((row) => {
      const file = tenantMigrations[row.version - 1];
      return file !== undefined && file.checksum !== row.checksum;
    })
    .map((row) => row.version);
}

/**
 * Brings one schema to `targetVersion` (default: the latest) inside the caller's transaction: lock, bind the
 * schema, read (or first infer) its record, run each pending file in order and record it, then put the result in
 * the registry. Throws MIGRATION_FAILED naming the schema and version; the caller's rollback undoes all of it.
 * Bootstrap calls this too, so a new schema and an old one end up with the same layout and the same record.
 */
export async function migrateSchemaIn(
  client: pg.ClientBase,
  target: MigrationTarget,
  registryTable: Sql,
  options: MigrateOptions = {},
): Promise<SchemaMigrationReport> {
  const started = performance.now();
  const { sourceId, schemaName } = target;
  const goal = options.targetVersion ?? latestTenantVersion;
  await lockSchemaForMigration(client, schemaName);
  // READ COMMITTED: every statement from here on sees what a run that held the lock before us committed.
  const schemaExists = (await runSql(client, sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schemaName}`)).rowCount === 1;
  if (!schemaExists) {
    throw new GatewayError(
      'MIGRATION_FAILED',
      `schema ${schemaName} of source_id=${sourceId} does not exist; pg-bootstrap --source ${sourceId} creates it`,
      { sourceId, schemaName, version: null },
    );
  }
  await client.query(`SELECT ${bindSchema(schemaName)}`);
  const record = qualified(schemaName, MIGRATION_RECORD_TABLE);
  const inferred: number[] = [];
  if (!(await recordExists(client, schemaName))) {
    await runSql(client, sql`
      CREATE TABLE ${record} (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        inferred   boolean NOT NULL DEFAULT false,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    // A schema from before the record: the registry's version says which files ran. They are recorded with the
    // checksum of today's file and marked inferred, since nobody saw which text actually ran.
    const registered = await registryVersion(client, registryTable, sourceId);
    for (const migration of tenantMigrations) {
      if (migration.version > registered) break;
      await runSql(client, sql`
        INSERT INTO ${record} (version, name, checksum, inferred)
        VALUES (${migration.version}, ${migration.name}, ${migration.checksum}, true)`);
      inferred.push(migration.version);
    }
  }
  const recorded = (await runSql(client, sql`SELECT version, checksum FROM ${record} ORDER BY version`)).rows as {
    version: number;
    checksum: string;
  }[];
  const from = recorded.at(-1)?.version ?? 0;
  const pending = tenantMigrations.filter((migration) => migration.version > from && migration.version <= goal);
  const applied: number[] = [];
  for (const migration of pending) {
    if (!options.dryRun) {
      try {
        for (const statement of migration.statements) await client.query(statement);
      } catch (error) {
        const reason = (error as Error).message;
        throw new GatewayError(
          'MIGRATION_FAILED',
          `schema ${schemaName} (source_id=${sourceId}): migration ${String(migration.version).padStart(3, '0')}_${migration.name} failed: ${reason}`,
          { sourceId, schemaName, version: migration.version, postgresCode: (error as { code?: string }).code ?? null },
        );
      }
      await runSql(client, sql`
        INSERT INTO ${record} (version, name, checksum) VALUES (${migration.version}, ${migration.name}, ${migration.checksum})`);
    }
    applied.push(migration.version);
  }
  const to = Math.max(from, ...applied);
  // The registry mirrors the record so that health can ask one table which schemas are behind.
  if (!options.dryRun) {
    await runSql(client, sql`
      UPDATE ${registryTable} SET migration_version = ${to}, updated_at = now()
       WHERE source_id = ${sourceId} AND migration_version IS DISTINCT FROM ${to}`);
  }
  return {
    sourceId,
    schemaName,
    from,
    to,
    applied,
    inferred,
    drifted: driftOf(recorded),
    durationMs: Math.round(performance.now() - started),
  };
}

/** One schema in a transaction of its own; a failure is rolled back and returned in the report, never thrown. */
async function migrateOne(pool: pg.Pool, target: MigrationTarget, registryTable: Sql, options: MigrateOptions): Promise<SchemaMigrationReport> {
  const started = performance.now();
  try {
    return await inTransaction(pool, (client) => migrateSchemaIn(client, target, registryTable, options), { rollbackOnly: options.dryRun });
  } catch (error) {
    const failure = isGatewayError(error)
      ? error
      : new GatewayError('MIGRATION_FAILED', `schema ${target.schemaName} (source_id=${target.sourceId}): ${(error as Error).message}`);
    const version = (failure.extensions.version as number | null | undefined) ?? null;
    // The rollback left the registry as it was, and the migrator keeps it equal to the record.
    const from = await registryVersion(pool, registryTable, target.sourceId).catch(() => 0);
    return {
      ...target,
      from,
      to: from,
      applied: [],
      inferred: [],
      drifted: [],
      durationMs: Math.round(performance.now() - started),
      error: { code: 'MIGRATION_FAILED', message: failure.message, version },
    };
  }
}

async function registryVersion(client: pg.ClientBase | pg.Pool, registryTable: Sql, sourceId: string): Promise<number> {
  const row = (await runSql(client, sql`SELECT migration_version FROM ${registryTable} WHERE source_id = ${sourceId}`)).rows[0] as
    | { migration_version: number }
    | undefined;
  return row?.migration_version ?? 0;
}

/**
 * Every target in its own transaction, at most `concurrency` at once. The advisory lock per schema makes a second
 * run (another process, another deploy) wait for each schema and then find its migrations recorded.
 */
export async function migrateSchemas(
  pool: pg.Pool,
  targets: readonly MigrationTarget[],
  registryTable: Sql,
  options: MigrateOptions & { concurrency: number; onSchema?: (report: SchemaMigrationReport) => void },
): Promise<SchemaMigrationReport[]> {
  const reports: SchemaMigrationReport[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const index = next++;
      reports[index] = await migrateOne(pool, targets[index], registryTable, options);
      options.onSchema?.(reports[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, targets.length) }, worker));
  return reports;
}

/**
 * Sources whose schema is below the latest version, the furthest behind first. One query on the registry, cheap
 * enough for every health probe: the migrator updates the registry in the same transaction as the record, so the
 * two agree except for a schema restored or edited by hand (doctor's `schemaMigrationStatus` reads the records).
 */
export async function schemasBehind(
  client: pg.Pool | pg.ClientBase,
  registryTable: Sql,
  limit: number,
): Promise<{ total: number; schemas: (MigrationTarget & { version: number })[] }> {
  const { rows } = await runSql(client, sql`
    SELECT source_id, schema_name, migration_version, count(*) OVER () AS total
      FROM ${registryTable}
     WHERE migration_version < ${latestTenantVersion}
     ORDER BY migration_version, source_id
     LIMIT ${limit}`);
  return {
    total: rows.length ? Number(rows[0].total) : 0,
    schemas: rows.map((row) => ({ sourceId: row.source_id, schemaName: row.schema_name, version: row.migration_version })),
  };
}

/** Each registered schema's registry version against its record, with drifted files: what doctor shows. */
export async function schemaMigrationStatus(pool: pg.Pool, registryTable: Sql): Promise<SchemaMigrationStatus[]> {
  const { rows } = await runSql(pool, sql`
    SELECT source_id, schema_name, migration_version FROM ${registryTable} ORDER BY source_id`);
  const statuses: SchemaMigrationStatus[] = [];
  for (const row of rows as { source_id: string; schema_name: string; migration_version: number }[]) {
    let recorded: { version: number; checksum: string }[] | null = null;
    if (await recordExists(pool, row.schema_name)) {
      recorded = (await runSql(pool, sql`SELECT version, checksum FROM ${qualified(row.schema_name, MIGRATION_RECORD_TABLE)} ORDER BY version`))
        .rows as { version: number; checksum: string }[];
    }
    const recordedVersion = recorded ? (recorded.at(-1)?.version ?? 0) : null;
    statuses.push({
      sourceId: row.source_id,
      schemaName: row.schema_name,
      registryVersion: row.migration_version,
      recordedVersion,
      behind: (recordedVersion ?? row.migration_version) < latestTenantVersion,
      drifted: recorded ? driftOf(recorded) : [],
    });
  }
  return statuses;
}
