import { Type } from 'typebox';
import { chooseSource, requireAdmin, type RestApp, type RestDeps } from '../restContext.js';
import { RestRefusal } from '../restErrors.js';
import { ItemParams, SourceQuery } from '../schemas.js';

/**
 * The original's scheduling and sync routes. None of their work is the gateway's (the original's own versions
 * do nothing, or fail with 500): each answers 501 NOT_SUPPORTED with a `detail` that says so, which the plugin
 * shows as it shows any error. `GET /jobs` answers an empty queue, which is what this gateway has.
 */
const NOT_HERE: Record<string, string> = {
  '/items/:item_id/schedule': 'Scheduling is not part of sx-gateway: schedule from the SchedulerX pipeline',
  '/admin/sync-vault': 'Vault sync is not part of sx-gateway: the plugin pulls notes with GET /notes',
  '/media/sync-all': 'Media sync is not part of sx-gateway: media are served from the source vault (GET /media/...)',
  '/scheduler/process-all': 'The scheduler is not part of sx-gateway',
  '/admin/audit/source-overlap': 'The source overlap audit is not part of sx-gateway',
};

export function pipelineRoutes(app: RestApp, deps: RestDeps): void {
  for (const [url, detail] of Object.entries(NOT_HERE)) {
    const method = url === '/admin/audit/source-overlap' ? 'GET' : 'POST';
    app.route({
      method,
      url,
      schema: {
        tags: ['not supported'],
        summary: `${detail} (501)`,
        ...(url.includes(':item_id') ? { params: ItemParams } : {}),
        querystring: SourceQuery,
      },
      handler: async (request) => {
        if (url.startsWith('/admin')) requireAdmin(request);
        await chooseSource(deps, request);
        throw new RestRefusal(501, detail, 'NOT_SUPPORTED');
      },
    });
  }

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['not supported'],
        summary: 'The scheduling queue, which is always empty here',
        querystring: Type.Object({
          source_id: Type.Optional(Type.String()),
          limit: Type.Integer({ default: 50 }),
          offset: Type.Integer({ default: 0 }),
        }),
      },
    },
    async (request) => {
      await chooseSource(deps, request);
      return { jobs: [], total: 0, limit: request.query.limit, offset: request.query.offset };
    },
  );
}
