import type { SourceRecord } from '../interfaces.js';
import type { BoundSource } from '../graphql/operationSources.js';
import { builder } from './builder.js';
import { effectiveMediaSettings } from '../sources/mediaSettings.js';
import { BackendContextRef } from './health.js';
import { MediaSettingsInputRef, MediaSettingsRef } from './mediaSettings.js';

export const SourceRef = builder.objectRef<SourceRecord>('Source').implement({
  description: 'A tenant: a profile such as assets_1, with its own items.',
  fields: (t) => ({
    id: t.exposeID('id'),
    label: t.exposeString('label', { nullable: true }),
    kind: t.exposeString('kind', { nullable: true }),
    description: t.exposeString('description', { nullable: true }),
    enabled: t.exposeBoolean('enabled'),
    isDefault: t.exposeBoolean('isDefault'),
    schemaName: t.exposeString('schemaName', { nullable: true, description: 'PostgreSQL schema; null in SQLite' }),
    migrationVersion: t.exposeInt('migrationVersion', { nullable: true }),
    mediaSettings: t.field({ type: MediaSettingsRef, description: "The source's own media settings (null fields: the gateway's defaults)", resolve: (s) => s.media }),
    effectiveMediaSettings: t.field({
      type: MediaSettingsRef,
      description: 'What renders, links and media routes of this source use: its own settings over the defaults',
      resolve: (s, _args, context) => effectiveMediaSettings(s.media, context.config.media),
    }),
    createdAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.createdAt }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.updatedAt }),
  }),
});

/** Everything under `source(sourceId:)` reads this one source through its binding. */
export const SourceScopeRef = builder.objectRef<BoundSource>('SourceScope').implement({
  description: 'One source, bound for the length of the operation. Items, search, stats and authors hang off it.',
  fields: (t) => ({
    sourceId: t.id({ resolve: (scope) => scope.sourceId }),
    source: t.field({ type: SourceRef, resolve: (scope) => scope.source }),
    backend: t.field({
      type: BackendContextRef,
      resolve: (scope, _args, context) => context.store.backendContext(scope.source),
    }),
  }),
});

builder.queryFields((t) => ({
  sources: t.field({
    type: [SourceRef],
    description: 'Every source, the default first.',
    resolve: (_root, _args, context) => context.store.listSources(),
  }),
  source: t.field({
    type: SourceScopeRef,
    description:
      'Binds one source for this operation. An invalid id answers SOURCE_ID_INVALID, an unknown or unmapped one SOURCE_NOT_MAPPED (HTTP 400).',
    args: { sourceId: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.sources.get(String(args.sourceId)),
  }),
}));

const SourceInputRef = builder.inputType('SourceInput', {
  fields: (t) => ({
    sourceId: t.id({ required: true }),
    label: t.string(),
    kind: t.string(),
    description: t.string(),
    enabled: t.boolean(),
    media: t.field({ type: MediaSettingsInputRef }),
  }),
});

const DeleteSourceResultRef = builder.objectRef<{ sourceId: string; deleted: boolean }>('DeleteSourceResult').implement({
  fields: (t) => ({
    sourceId: t.exposeID('sourceId'),
    deleted: t.exposeBoolean('deleted'),
  }),
});

builder.mutationFields((t) => ({
  bootstrapSource: t.field({
    type: SourceRef,
    authScopes: { admin: true },
    description: 'Creates the source (in PostgreSQL: schema, tables, indexes, registry rows) when missing. Idempotent.',
    args: { sourceId: t.arg.id({ required: true }), label: t.arg.string() },
    resolve: (_root, args, context) =>
      context.store.bootstrapSource({ sourceId: context.sources.checkSourceId(String(args.sourceId)), label: args.label }),
  }),
  upsertSource: t.field({
    type: SourceRef,
    authScopes: { admin: true },
    description: 'Creates or updates a source and its metadata; in PostgreSQL it bootstraps the schema.',
    args: { input: t.arg({ type: SourceInputRef, required: true }) },
    resolve: (_root, { input }, context) =>
      context.store.bootstrapSource({
        ...input,
        sourceId: context.sources.checkSourceId(String(input.sourceId)),
        media: input.media ?? undefined,
      }),
  }),
  activateSource: t.field({
    type: SourceRef,
    authScopes: { admin: true },
    description: 'Makes this source the only default one.',
    args: { sourceId: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.store.activateSource(context.sources.checkSourceId(String(args.sourceId))),
  }),
  deleteSource: t.field({
    type: DeleteSourceResultRef,
    authScopes: { admin: true },
    description: 'Refused for the default source and for a source holding items; in PostgreSQL it drops the schema.',
    args: { sourceId: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      await context.store.deleteSource(context.sources.checkSourceId(String(args.sourceId)));
      return { sourceId: String(args.sourceId), deleted: true };
    },
  }),
}));
