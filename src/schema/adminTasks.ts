import { existsSync } from 'node:fs';
import { GatewayError } from '../errors.js';
import type { TableChecksum } from '../queries/tableChecksums.js';
import { createBackup, type BackupReport } from '../tasks/backup.js';
import { cutoverFromLibrary, type CutoverReport, type CutoverTable } from '../tasks/cutover.js';
import { openPostgresTarget } from '../tasks/postgresTarget.js';
import type { GatewayContext } from '../graphql/context.js';
import type { SchemaMigrationReport, TenantSchemas } from '../interfaces.js';
import { builder } from './builder.js';

/**
 * The operations commands that fit a running gateway, for an admin: a backup into the server's own folder
 * (SX_BACKUP_DIR; a client never names a path on the server), a cutover of one source, tenant migrations.
 * Restore is left to the command line: it replaces the schemas this very process is serving.
 */

/** The capability only PostgreSQL's store has; its absence is the client's mistake of mode, said as such. */
function requireTenantSchemas(context: GatewayContext, what: string): TenantSchemas {
  if (!context.store.tenantSchemas) {
    throw new GatewayError('BAD_USER_INPUT', `${what} needs SX_DB_BACKEND_MODE=POSTGRES_PRIMARY; this gateway runs ${context.store.mode}`);
  }
  return context.store.tenantSchemas;
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
    warnings: t.exposeStringList('warnings', {
      description: "Said, not refused: a `keep` below the plan's minimum of 7 rolling backups. The backup was written.",
    }),
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
      requireTenantSchemas(context, 'A backup');
      const sourceId = args.sourceId === null || args.sourceId === undefined ? undefined : context.sources.checkSourceId(String(args.sourceId));
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
      requireTenantSchemas(context, 'A cutover');
      const sourceId = context.sources.checkSourceId(String(args.sourceId));
      if (!existsSync(context.config.sqlitePath)) {
        throw new GatewayError('BAD_USER_INPUT', `No SQLite file at SX_DB_PATH=${context.config.sqlitePath}: nothing to cut over`);
      }
      return cutoverFromLibrary(context.config.sqlitePath, {
        postgres: context.store,
        sourceId,
        dryRun: args.dryRun ?? false,
        force: args.force ?? false,
      });
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
      const tenantSchemas = requireTenantSchemas(context, 'Migrating schemas');
      const concurrency = args.concurrency ?? 4;
      if (concurrency < 1 || concurrency > 32) throw new GatewayError('BAD_USER_INPUT', `concurrency must be 1..32, got ${concurrency}`);
      const sourceIds = args.sourceIds?.map((id) => context.sources.checkSourceId(String(id)));
      return tenantSchemas.migrateAll({ sourceIds, concurrency });
    },
  }),
}));
