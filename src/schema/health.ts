import type { BackendContext, DatabaseHealth, MigrationHealth, Store } from '../interfaces.js';
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

interface HealthShape {
  backend: BackendContext;
  database: DatabaseHealth;
  migrations: MigrationHealth | null;
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
  }),
});

/** What health says about migrations; null rather than an error when the database cannot be asked. */
export async function migrationHealthOf(store: Store): Promise<MigrationHealth | null> {
  if (!store.migrationHealth) return null;
  return store.migrationHealth().catch(() => null);
}

builder.queryField('health', (t) =>
  t.field({
    type: HealthRef,
    description: 'Mode, backend context, database reachability and schemas behind; needs no source.',
    resolve: async (_root, _args, context) => {
      const [database, migrations] = await Promise.all([context.store.health(), migrationHealthOf(context.store)]);
      return { backend: context.store.backendContext(null), database, migrations };
    },
  }),
);
