import type { BackendContext, DatabaseHealth } from '../interfaces.js';
import { builder } from './builder.js';
import { version } from './version.js';

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

interface HealthShape {
  backend: BackendContext;
  database: DatabaseHealth;
}

const HealthRef = builder.objectRef<HealthShape>('Health').implement({
  fields: (t) => ({
    status: t.string({
      description: 'ok when the store answers, degraded otherwise',
      resolve: (health) => (health.database.reachable ? 'ok' : 'degraded'),
    }),
    version: t.string({ resolve: () => version }),
    mode: t.string({ resolve: (health) => health.backend.mode }),
    backend: t.field({ type: BackendContextRef, resolve: (health) => health.backend }),
    database: t.field({ type: DatabaseHealthRef, resolve: (health) => health.database }),
  }),
});

builder.queryField('health', (t) =>
  t.field({
    type: HealthRef,
    description: 'Mode, backend context and database reachability; needs no source.',
    resolve: async (_root, _args, context) => ({
      backend: context.store.backendContext(null),
      database: await context.store.health(),
    }),
  }),
);
