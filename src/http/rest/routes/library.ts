import type { BackendContext, SourceRecord } from '../../../interfaces.js';
import { version } from '../../../packageVersion.js';
import { listAuthors, type AuthorOrder } from '../../../queries/listAuthors.js';
import { listItems } from '../../../queries/listItems.js';
import { sourceStats } from '../../../queries/sourceStats.js';
import { backupHealthOf, migrationHealthOf } from '../../../schema/health.js';
import { MAX_PAGE_SIZE } from '../../../schema/paging.js';
import { assertProfileMatches, assertSourceId, trailingProfileIndex } from '../../../sources/sourceId.js';
import { queryBoolean, AuthorsPage, AuthorsQuery, SearchPage, SearchQuery, SourceQuery, Stats } from '../schemas.js';
import { searchResultShape } from '../originShapes.js';
import { headerReader, withBoundSource, type RestApp, type RestDeps } from '../restContext.js';

/** The original's `api_version`, which the plugin's settings page shows. */
const ORIGIN_API_VERSION = '1.0.0';

/** The original's backend context (section 2 step 7), the gateway's own fields kept beside it. */
function originBackend(context: BackendContext) {
  return {
    backend: context.backend,
    active: context.backend !== 'sqlite',
    reason: context.backend === 'sqlite' ? `SX_DB_BACKEND_MODE=${context.mode}` : null,
    source_id: context.sourceId,
    schema: context.schema,
    search_path: context.searchPath === null ? (context.backend === 'sqlite' ? '' : null) : context.searchPath,
    mode: context.mode,
    deprecated: context.deprecated,
    notice: context.notice,
  };
}

export function libraryRoutes(app: RestApp, deps: RestDeps): void {
  const { store, config } = deps;

  /**
   * The gateway's probe and the original's health in one answer. A source is optional here: a load balancer names
   * none (the default source's, if any, is reported), the plugin names its own, which must then exist.
   */
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: "Probe: the gateway's status, database, migrations and backup, with the original's fields",
        querystring: SourceQuery,
      },
    },
    async (request, reply) => {
      const header = headerReader(request).get('x-sx-source-id')?.trim();
      const requested = header || request.query.source_id?.trim() || null;
      let source: SourceRecord | null = null;
      if (requested) {
        source = await store.resolveSource(assertSourceId(requested));
        assertProfileMatches(source.id, headerReader(request).get('x-sx-profile-index'));
      } else {
        source = (await store.listSources().catch(() => [])).find((candidate) => candidate.isDefault) ?? null;
      }
      request.sx.sourceId = source?.id ?? null;
      const [database, migrations, backup] = await Promise.all([store.health(), migrationHealthOf(store), backupHealthOf(config)]);
      const backend = store.backendContext(source);
      return reply.status(database.reachable ? 200 : 503).send({
        // The original's fields, which the plugin reads (origin-rest.md 4.1)...
        ok: database.reachable,
        source_id: source?.id ?? null,
        backend: originBackend(backend),
        profile_index: source ? trailingProfileIndex(source.id) : null,
        db_path: config.sqlitePath,
        api_version: ORIGIN_API_VERSION,
        env_hint: config.mode,
        // ...and the gateway's probe (Query.health): schemas behind and a stale backup leave the answer 200.
        status: database.reachable ? 'ok' : 'degraded',
        version,
        mode: config.mode,
        database,
        migrations,
        backup,
      });
    },
  );

  app.get('/', { schema: { tags: ['health'], summary: 'What this service is and where its routes are', querystring: SourceQuery } }, async () => ({
    service: 'sx-gateway',
    ok: true,
    version,
    backend: store.backendContext(null).backend,
    endpoints: {
      health: '/health',
      stats: '/stats',
      search: '/search?q=...',
      item: '/items/{id}',
      note: '/items/{id}/note',
      docs: '/docs',
      openapi: '/openapi.json',
      graphql: '/graphql',
    },
  }));

  app.get(
    '/stats',
    { schema: { tags: ['library'], summary: "Counts of the source's items, bookmarks and authors", querystring: SourceQuery, response: { 200: Stats } } },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const stats = await sourceStats(scope.db);
        return {
          db_path: config.sqlitePath,
          source_id: scope.sourceId,
          source_mode: 'single-db',
          backend: originBackend(store.backendContext(scope.source)),
          fts_enabled: true,
          has_fts_table: stats.searchIndex.ready,
          counts: { items: stats.items, bookmarked: stats.bookmarked, authors: stats.authors, fts_rows: stats.searchIndex.indexedItems },
          last_updated_at: stats.lastUpdatedAt,
        };
      }),
  );

  app.get(
    '/search',
    {
      schema: {
        tags: ['library'],
        summary: 'Items whose caption, handle, author name or id contains q; bookmarked first, then newest',
        querystring: SearchQuery,
        response: { 200: SearchPage },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const { q, limit, offset } = request.query;
        // The original's unbounded page: a negative limit means all, which here is the largest page.
        const page = { limit: limit < 0 ? MAX_PAGE_SIZE : Math.min(limit, MAX_PAGE_SIZE), offset: Math.max(offset, 0) };
        const items = page.limit === 0 ? [] : await listItems(scope.db, { q: q.trim() || undefined }, 'BOOKMARKED', page);
        return { results: items.map(searchResultShape), limit, offset };
      }),
  );

  app.get(
    '/authors',
    {
      schema: {
        tags: ['library'],
        summary: "The source's authors with their item counts",
        querystring: AuthorsQuery,
        response: { 200: AuthorsPage },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const { q, limit, offset, order } = request.query;
        const page = await listAuthors(
          scope.db,
          { q: q.trim() || undefined, bookmarkedOnly: queryBoolean(request.query.bookmarked_only) },
          String(order).toUpperCase() as AuthorOrder,
          { limit, offset },
        );
        return {
          authors: page.authors.map((author) => ({
            author_id: author.authorId,
            author_unique_id: author.authorUniqueId,
            author_name: author.authorName,
            items_count: author.itemsCount,
            bookmarked_count: author.bookmarkedCount,
          })),
          limit,
          offset,
          total: page.totalCount,
        };
      }),
  );
}
