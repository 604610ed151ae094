import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { RestDeps } from './restContext.js';
import { itemRoutes } from './routes/items.js';
import { libraryRoutes } from './routes/library.js';
import { mediaRoutes } from './routes/media.js';
import { noteRoutes } from './routes/notes.js';
import { pipelineRoutes } from './routes/pipeline.js';
import { profileRoutes } from './routes/profiles.js';
import { resetRoutes } from './routes/reset.js';
import { sourceRoutes } from './routes/sources.js';

/** The original's routes at its paths (origin-rest.md), a module per resource; each maps onto the shared code. */
export async function registerRestRoutes(app: FastifyInstance, deps: RestDeps): Promise<void> {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  for (const routes of [libraryRoutes, itemRoutes, noteRoutes, mediaRoutes, sourceRoutes, resetRoutes, profileRoutes, pipelineRoutes]) {
    routes(typed, deps);
  }
}
