import { existsSync } from 'node:fs';
import { GatewayError } from '../errors.js';
import type { TableChecksum } from '../library/tableChecksums.js';
import { createBackup, type BackupReport } from '../operations/backup.js';
import { cutover, type CutoverReport, type CutoverTable } from '../operations/cutover.js';
import { openPostgresTarget } from '../operations/postgresTarget.js';
import type { GatewayContext } from '../resolvers/context.js';
import { PostgresStore } from '../stores/postgres/postgresStore.js';
import { SqliteStore } from '../stores/sqlite/sqliteStore.js';
import type { SchemaMigrationReport } from '../tenancy/schemaMigrations.js';
import { builder } from './builder.js';

/**
 * The operations commands that fit a running gateway, for an admin: a backup into the server's own folder
 * (SX_BACKUP_DIR; a client never names a path on the server), a cutover of one source, tenant migrations.
 * Restore is left to the command line: it replaces the schemas this very process is serving.
 */

function requirePrimary(context: GatewayContext, what: string): PostgresStore {
  if (!(context.store instanceof PostgresStore)) {
    throw new GatewayError('BAD_USER_INPUT', `${what} needs SX_DB_BACKEND_MODE=POSTGRES_PRIMARY; this gateway runs ${context.store.mode}`);
  }
  return context.store;
}

const TableChecksumRef = builder.objectRef<TableChecksum>('TableChecksum').implement({
  fields: (t) => ({
    table: t.exposeString('table'),
    rows: t.expose('rows', { type: 'NonNegativeInt' }),
    checksum: t.exposeString('checksum', { description: 'SHA-256 over the rows in key order, the same in SQLite and PostgreSQL' }),
  }),
});

const BackupSourceRef = builder.objectRef<BackupReport['sources'][number]>('BackupSource').implement({
  fields: (t) => ({
    sourceId: t.exposeID('id'),
    schemaName: t.exposeString('schemaName'),
    migrationVersion: t.exposeInt('migrationVersion', { nullable: true }),
    tables: t.field({ type: [TableChecksumRef], resolve: (s) => s.tables }),
  }),
});

const BackupRef = builder.objectRef<BackupReport>('Backup').implement({
  description: 'A pg_dump (custom format) and its manifest, written into SX_BACKUP_DIR.',
  fields: (t) => ({
    kind: t.exposeString('kind', { description: 'all | source' }),
    dumpFile: t.exposeString('dumpFile'),
    manifestFile: t.exposeString('manifestFile'),
    bytes: t.exposeFloat('bytes'),
    sha256: t.exposeString('sha256'),
    durationMs: t.exposeFloat('durationMs'),
    sources: t.field({ type: [BackupSourceRef], resolve: (r) => r.sources }),
    pruned: t.exposeStringList('pruned', { description: 'Older backups removed to keep the newest `keep`' }),
  }),
});

const CutoverTableRef = builder.objectRef<CutoverTable>('CutoverTable').implement({
  fields: (t) => ({
    table: t.exposeString('table'),
    sqliteRows: t.expose('sqliteRows', { type: 'NonNegativeInt' }),
    sqliteChecksum: t.exposeString('sqliteChecksum'),
    postgresRowsBefore: t.expose('postgresRowsBefore', { type: 'NonNegativeInt', nullable: true }),
    postgresRows: t.expose('postgresRows', { type: 'NonNegativeInt', nullable: true }),
    postgresChecksum: t.exposeString('postgresChecksum', { nullable: true }),
    equal: t.exposeBoolean('equal'),
  }),
});

const CutoverRef = builder.objectRef<CutoverReport>('Cutover').implement({
  description: "One source copied from the SQLite file into its PostgreSQL schema, verified table by table.",
  fields: (t) => ({
    sourceId: t.exposeID('sourceId'),
    schemaName: t.exposeString('schemaName', { nullable: true }),
    dryRun: t.exposeBoolean('dryRun'),
    action: t.exposeString('action', { description: 'copy | replace | none | refuse' }),
    verified: t.exposeBoolean('verified'),
    bootstrapped: t.exposeBoolean('bootstrapped'),
    copiedRows: t.expose('copiedRows', { type: 'NonNegativeInt' }),
    tables: t.field({ type: [CutoverTableRef], resolve: (r) => r.tables }),
    verdict: t.exposeString('verdict'),
    durationMs: t.exposeFloat('durationMs'),
  }),
});

const SchemaMigrationRef = builder.objectRef<SchemaMigrationReport>('SchemaMigration').implement({
  fields: (t) => ({
    sourceId: t.exposeID('sourceId'),
    schemaName: t.exposeString('schemaName'),
    from: t.exposeInt('from'),
    to: t.exposeInt('to'),
    applied: t.exposeIntList('applied'),
    error: t.string({ nullable: true, resolve: (r) => r.error?.message ?? null }),
    durationMs: t.exposeFloat('durationMs'),
  }),
});

builder.mutationFields((t) => ({
  createBackup: t.field({
    type: BackupRef,
    authScopes: { admin: true },
    description: 'pg_dump of the whole database, or of one source, with its checksum manifest, into SX_BACKUP_DIR.',
    args: {
      sourceId: t.arg.id({ description: 'One source; omitted: the whole database' }),
      keep: t.arg.int({ description: 'Keep the newest n backups of this kind (and source)', defaultValue: 7 }),
    },
    resolve: async (_root, args, context) => {
      requirePrimary(context, 'A backup');
      const sourceId = args.sourceId === null || args.sourceId === undefined ? undefined : context.tenants.checkSourceId(String(args.sourceId));
      const keep = args.keep ?? 7;
      if (keep < 1) throw new GatewayError('BAD_USER_INPUT', `keep must be at least 1, got ${keep}`);
      // Its own short-lived pools: pg_dump's snapshot transaction must not take a connection requests need.
      const target = await openPostgresTarget(context.config);
      try {
        return await createBackup({ config: context.config, target, outDir: context.config.backupDir, sourceId, keep });
      } finally {
        await target.close();
      }
    },
  }),
  cutoverSource: t.field({
    type: CutoverRef,
    authScopes: { admin: true },
    description: 'Copies one source from the SQLite file (SX_DB_PATH) into its PostgreSQL schema and verifies it. Idempotent.',
    args: {
      sourceId: t.arg.id({ required: true }),
      dryRun: t.arg.boolean({ defaultValue: false }),
      force: t.arg.boolean({ defaultValue: false, description: "Discard PostgreSQL's differing rows of the source" }),
    },
    resolve: async (_root, args, context) => {
      const postgres = requirePrimary(context, 'A cutover');
      const sourceId = context.tenants.checkSourceId(String(args.sourceId));
      if (!existsSync(context.config.sqlitePath)) {
        throw new GatewayError('BAD_USER_INPUT', `No SQLite file at SX_DB_PATH=${context.config.sqlitePath}: nothing to cut over`);
      }
      const sqlite = new SqliteStore({ file: context.config.sqlitePath, mode: 'SQLITE' });
      try {
        return await cutover({ sqlite, postgres, sourceId, dryRun: args.dryRun ?? false, force: args.force ?? false });
      } finally {
        await sqlite.close();
      }
    },
  }),
  migrateSchemas: t.field({
    type: [SchemaMigrationRef],
    authScopes: { admin: true },
    description: 'Brings tenant schemas to the latest migration (all of them, or the sources named), as `migrate` does.',
    args: {
      sourceIds: t.arg.idList({ description: 'Omitted: every registered schema' }),
      concurrency: t.arg.int({ defaultValue: 4 }),
    },
    resolve: (_root, args, context) => {
      const postgres = requirePrimary(context, 'Migrating schemas');
      const concurrency = args.concurrency ?? 4;
      if (concurrency < 1 || concurrency > 32) throw new GatewayError('BAD_USER_INPUT', `concurrency must be 1..32, got ${concurrency}`);
      const sourceIds = args.sourceIds?.map((id) => context.tenants.checkSourceId(String(id)));
      return postgres.migrateAll({ sourceIds, concurrency });
    },
  }),
}));
