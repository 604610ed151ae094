import { Type } from 'typebox';
import type { MediaKind } from '../../../notes/mediaFile.js';
import { serveMedia } from '../../mediaFiles.js';
import { chooseSource, type RestApp, type RestDeps } from '../restContext.js';
import { ItemParams, SourceQuery } from '../schemas.js';

const MEDIA_KINDS: readonly MediaKind[] = ['cover', 'video'];

/**
 * `GET /media/cover/{id}` and `/media/video/{id}` (HEAD too): the file streamed from the source's vault, with
 * Range and conditional requests (serveMedia, over @fastify/send). The source comes only from `?source_id` in
 * the plugin's `<img>`/`<video>` tags; without one, the default source answers.
 */
export function mediaRoutes(app: RestApp, deps: RestDeps): void {
  for (const kind of MEDIA_KINDS) {
    app.route({
      method: ['GET', 'HEAD'],
      url: `/media/${kind}/:item_id`,
      // HEAD is its own route: the framework's automatic one would answer Content-Length 0.
      exposeHeadRoute: false,
      schema: {
        tags: ['media'],
        summary: `The item's ${kind} file; Range requests give 206`,
        params: ItemParams,
        querystring: SourceQuery,
        response: { 200: Type.Unsafe({ description: `The ${kind} file`, type: 'string', format: 'binary' }) },
      },
      handler: async (request, reply) => {
        // An unknown source is refused here, in the selection's shape, before the file lookup.
        const sourceId = (await deps.store.resolveSource(await chooseSource(deps, request))).id;
        const answer = await serveMedia(deps.store, deps.config, sourceId, request.params.item_id, kind, {
          method: request.method,
          headers: request.headers,
        });
        // 206, 304, 404 and 416 too; only the 200 is described, as a file.
        reply.status(answer.status as 200).headers(answer.headers);
        if (answer.error) {
          if (request.sx) request.sx.errorCode = answer.error.code;
          return reply.send(answer.error);
        }
        // No payload (HEAD, 304, 416): the headers of the answer stand as they are, Content-Length included.
        return reply.send(answer.stream ?? undefined);
      },
    });
  }
}
