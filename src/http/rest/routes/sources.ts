import { Type } from 'typebox';
import { GatewayError } from '../../../errors.js';
import type { SourceRecord } from '../../../interfaces.js';
import { assertSourceId } from '../../../sources/sourceId.js';
import { sourceShape } from '../originShapes.js';
import { requireAdmin, type RestApp, type RestDeps } from '../restContext.js';
import { RestRefusal } from '../restErrors.js';
import { BootstrapBody, NullableString, SourceParams, SourcePatch, SourcePost, SourcesAnswer } from '../schemas.js';

const ADMIN = [{ adminToken: [] }];

/** Default first, then enabled before disabled, then id, as the original lists them. */
function listed(sources: SourceRecord[]): SourceRecord[] {
  return [...sources].sort(
    (a, b) => Number(b.isDefault) - Number(a.isDefault) || Number(b.enabled) - Number(a.enabled) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** A source the route names must exist; the original's wording when it does not. */
async function existing(deps: RestDeps, sourceId: string): Promise<SourceRecord> {
  const found = (await deps.store.listSources()).find((source) => source.id === sourceId);
  if (!found) throw new RestRefusal(404, 'Source not found', 'SOURCE_NOT_MAPPED');
  return found;
}

export function sourceRoutes(app: RestApp, deps: RestDeps): void {
  const { store } = deps;
  const backend = store.backendContext(null).backend;

  app.get('/sources', { schema: { tags: ['sources'], summary: 'Every source, the default first', response: { 200: SourcesAnswer } } }, async () => {
    const sources = listed(await store.listSources());
    return { sources: sources.map(sourceShape), default_source_id: sources.find((source) => source.isDefault)?.id ?? null };
  });

  app.post(
    '/sources',
    {
      schema: {
        tags: ['sources'],
        summary: 'Creates or updates a source (in PostgreSQL with its schema); admin',
        security: ADMIN,
        body: SourcePost,
        response: { 200: Type.Object({ ok: Type.Boolean(), source_id: Type.String(), schema: Type.Optional(NullableString) }) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const body = request.body;
      const sourceId = assertSourceId(body.id);
      // The same write as the upsertSource mutation; the original sets the label to the id when none is given.
      let source = await store.bootstrapSource({
        sourceId,
        label: body.label ?? sourceId,
        kind: body.kind ?? undefined,
        description: body.description ?? undefined,
        enabled: body.enabled ?? true,
      });
      if (body.make_default) source = await store.activateSource(sourceId);
      return { ok: true, source_id: source.id, ...(source.schemaName ? { schema: source.schemaName } : {}) };
    },
  );

  app.patch(
    '/sources/:source_id',
    {
      schema: {
        tags: ['sources'],
        summary: "Updates a source's label, kind, description or enabled flag (null or omitted keeps it); admin",
        security: ADMIN,
        params: SourceParams,
        body: SourcePatch,
        response: { 200: Type.Object({ ok: Type.Boolean(), source_id: Type.String() }) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const sourceId = (await existing(deps, assertSourceId(request.params.source_id))).id;
      const body = request.body;
      await store.bootstrapSource({
        sourceId,
        label: body.label ?? undefined,
        kind: body.kind ?? undefined,
        description: body.description ?? undefined,
        enabled: body.enabled ?? undefined,
      });
      return { ok: true, source_id: sourceId };
    },
  );

  app.post(
    '/sources/:source_id/activate',
    {
      schema: {
        tags: ['sources'],
        summary: 'Makes the source the only default one (the one a request naming none is served from); admin',
        security: ADMIN,
        params: SourceParams,
        response: { 200: Type.Object({ ok: Type.Boolean(), default_source_id: Type.String() }) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const source = await store.activateSource((await existing(deps, assertSourceId(request.params.source_id))).id);
      return { ok: true, default_source_id: source.id };
    },
  );

  app.delete(
    '/sources/:source_id',
    {
      schema: {
        tags: ['sources'],
        summary: 'Deletes a source without items (in PostgreSQL its schema too); never the default one; admin',
        security: ADMIN,
        params: SourceParams,
        response: { 200: Type.Object({ ok: Type.Boolean(), deleted: Type.String() }) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const source = await existing(deps, assertSourceId(request.params.source_id));
      if (source.isDefault) throw new RestRefusal(400, 'Cannot delete active default source', 'SOURCE_IS_DEFAULT');
      try {
        await store.deleteSource(source.id);
      } catch (error) {
        // The original answers 400 with these words where the mutation answers 409.
        if (error instanceof GatewayError && error.code === 'SOURCE_HAS_DATA') {
          throw new RestRefusal(400, 'Source has data; delete rows first or disable it', 'SOURCE_HAS_DATA');
        }
        if (error instanceof GatewayError && error.code === 'SOURCE_IS_DEFAULT') {
          throw new RestRefusal(400, 'Cannot delete active default source', 'SOURCE_IS_DEFAULT');
        }
        throw error;
      }
      return { ok: true, deleted: source.id };
    },
  );

  app.post(
    '/admin/bootstrap/schema',
    {
      schema: {
        tags: ['sources'],
        summary: "Creates the source's schema (PostgreSQL) or its row (SQLite) when missing, as bootstrapSource; admin",
        security: ADMIN,
        body: BootstrapBody,
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            backend: Type.String(),
            source_id: Type.String(),
            schema: Type.Optional(NullableString),
            message: Type.Optional(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      requireAdmin(request);
      const source = await store.bootstrapSource({ sourceId: assertSourceId(request.body.source_id) });
      if (source.schemaName) return { ok: true, backend, source_id: source.id, schema: source.schemaName };
      return { ok: true, backend, source_id: source.id, message: 'Source registered; SQLite keeps every source in one file, so there is no schema to create' };
    },
  );
}
