import type { GatewayConfig } from '../config.js';
import type { BackendContext, DatabaseHealth, MigrationHealth, Store } from '../interfaces.js';
import { backupFreshness, cachedNewestBackups, type BackupFreshness, type VerifiedBackup } from '../tasks/backupStatus.js';
import { builder } from './builder.js';
import { version } from '../packageVersion.js';

export const BackendContextRef = builder.objectRef<BackendContext>('BackendContext').implement({
  description: 'Which store answers, and for a bound source which schema and search_path it uses.',
  fields: (t) => ({
    backend: t.exposeString('backend', { description: 'sqlite | postgres_mirror | postgres_primary' }),
    mode: t.exposeString('mode'),
    sourceId: t.exposeID('sourceId', { nullable: true }),
    schema: t.exposeString('schema', { nullable: true }),
    searchPath: t.exposeString('searchPath', { nullable: true }),
    deprecated: t.exposeBoolean('deprecated'),
    notice: t.exposeString('notice', { nullable: true }),
  }),
});

const DatabaseHealthRef = builder.objectRef<DatabaseHealth>('DatabaseHealth').implement({
  fields: (t) => ({
    reachable: t.exposeBoolean('reachable'),
    latencyMs: t.exposeFloat('latencyMs', { nullable: true }),
    serverVersion: t.exposeString('serverVersion', { nullable: true }),
    citus: t.string({
      nullable: true,
      description:
        "The Citus extension's version when the database is a Citus coordinator (each source's schema a distributed " +
        'schema on one worker); null on plain PostgreSQL and SQLite',
      resolve: (health) => health.citus ?? null,
    }),
    error: t.exposeString('error', { nullable: true }),
  }),
});

const SchemaBehindRef = builder
  .objectRef<MigrationHealth['schemasBehind'][number]>('SchemaBehind')
  .implement({
    fields: (t) => ({
      sourceId: t.exposeID('sourceId'),
      schemaName: t.exposeString('schemaName'),
      version: t.exposeInt('version', { description: 'the last migration the schema has run' }),
    }),
  });

const SchemaMigrationsRef = builder.objectRef<MigrationHealth>('SchemaMigrations').implement({
  description: 'Tenant schemas against the latest migration; `sx-gateway migrate --all` brings them up to date.',
  fields: (t) => ({
    latestVersion: t.exposeInt('latestVersion', {
      nullable: true,
      description: 'the highest migration this gateway ships; null in SQLite mode, whose layout is applied at every start',
    }),
    behindCount: t.exposeInt('behindCount'),
    schemasBehind: t.field({
      type: [SchemaBehindRef],
      description: 'the first 20 schemas below latestVersion, the furthest behind first',
      resolve: (migrations) => migrations.schemasBehind,
    }),
  }),
});

const VerifiedBackupRef = builder.objectRef<VerifiedBackup>('VerifiedBackup').implement({
  description: 'A backup whose manifest parses and whose dump lies beside it with the recorded size.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'the manifest file name in SX_BACKUP_DIR (never a full path)' }),
    kind: t.exposeString('kind', { description: 'all | source' }),
    createdAt: t.field({ type: 'DateTime', description: 'when the snapshot it holds was taken', resolve: (b) => b.createdAt }),
    bytes: t.exposeFloat('bytes'),
    durationMs: t.exposeFloat('durationMs', { nullable: true, description: 'null for backups written before durations were recorded' }),
  }),
});

const BackupHealthRef = builder.objectRef<BackupFreshness>('BackupHealth').implement({
  description:
    'The nightly full backup the plan asks for, read from the manifests in SX_BACKUP_DIR. A warning never changes ' +
    'Health.status: the gateway serves without a fresh backup, and an alert, not a load balancer, should act on it.',
  fields: (t) => ({
    status: t.exposeString('status', {
      description: 'ok | warn (none, or older than maxAgeHours) | not_applicable (only POSTGRES_PRIMARY is watched)',
    }),
    maxAgeHours: t.exposeFloat('maxAgeHours', { description: 'SX_BACKUP_MAX_AGE_HOURS' }),
    ageHours: t.exposeFloat('ageHours', { nullable: true }),
    newest: t.field({
      type: VerifiedBackupRef,
      nullable: true,
      description: 'the newest verified full backup (`backup --all`); per-source backups do not count',
      resolve: (b) => b.newest,
    }),
    message: t.exposeString('message', { nullable: true, description: 'why the status is warn or not_applicable' }),
  }),
});

interface HealthShape {
  backend: BackendContext;
  database: DatabaseHealth;
  migrations: MigrationHealth | null;
  backup: BackupFreshness;
}

const HealthRef = builder.objectRef<HealthShape>('Health').implement({
  fields: (t) => ({
    status: t.string({
      description: 'ok when the store answers, degraded otherwise; schemas behind leave it ok (see migrations)',
      resolve: (health) => (health.database.reachable ? 'ok' : 'degraded'),
    }),
    version: t.string({ resolve: () => version }),
    mode: t.string({ resolve: (health) => health.backend.mode }),
    backend: t.field({ type: BackendContextRef, resolve: (health) => health.backend }),
    database: t.field({ type: DatabaseHealthRef, resolve: (health) => health.database }),
    migrations: t.field({
      type: SchemaMigrationsRef,
      nullable: true,
      description:
        'Schemas behind the latest migration. They leave status "ok": a schema behind still serves, and pulling every ' +
        'gateway of a shared database out of a load balancer for it would turn a missing index into an outage. ' +
        'Null when the database does not answer or the store keeps no migration record.',
      resolve: (health) => health.migrations,
    }),
    backup: t.field({
      type: BackupHealthRef,
      description: 'The newest verified full backup against SX_BACKUP_MAX_AGE_HOURS; a warning leaves status "ok".',
      resolve: (health) => health.backup,
    }),
  }),
});

/** What health says about backups: the JSON probe and the GraphQL field give the same object. */
export function backupHealthOf(config: GatewayConfig): Promise<BackupFreshness> {
  return backupFreshness(config);
}

/** The values of the sx_backup_last_* gauges: the newest verified backup of each kind, from the cached folder read. */
export async function backupGaugesOf(config: GatewayConfig): Promise<{ kind: string; timestampSeconds: number; bytes: number; durationSeconds: number | null }[]> {
  const newest = await cachedNewestBackups(config.backupDir);
  return [newest.all, newest.source]
    .filter((b): b is VerifiedBackup => b !== null)
    .map((b) => ({ kind: b.kind, timestampSeconds: b.createdAt.getTime() / 1000, bytes: b.bytes, durationSeconds: b.durationMs === null ? null : b.durationMs / 1000 }));
}

/** What health says about migrations; null rather than an error when the database cannot be asked. */
export async function migrationHealthOf(store: Store): Promise<MigrationHealth | null> {
  if (!store.migrationHealth) return null;
  return store.migrationHealth().catch(() => null);
}

builder.queryField('health', (t) =>
  t.field({
    type: HealthRef,
    description: 'Mode, backend context, database reachability, schemas behind and the newest backup; needs no source.',
    resolve: async (_root, _args, context) => {
      const [database, migrations, backup] = await Promise.all([
        context.store.health(),
        migrationHealthOf(context.store),
        backupHealthOf(context.config),
      ]);
      return { backend: context.store.backendContext(null), database, migrations, backup };
    },
  }),
);
