import { itemMediaPaths } from '../../../notes/index.js';
import { mediaPathFields } from '../../../notes/mediaFile.js';
import { putItemMeta } from '../../../queries/itemMeta.js';
import { countItems, listItemsWithMeta } from '../../../queries/listItems.js';
import { emptyMeta } from '../../../queries/itemMeta.js';
import { checkFilter } from '../../../schema/item.js';
import { itemFilterOf, itemOrderOf, listedItemShape, metaInputOf, metaWithIdShape, storedItemShape } from '../originShapes.js';
import { chooseSource, withBoundSource, type RestApp, type RestDeps } from '../restContext.js';
import { notFound } from '../restErrors.js';
import { ItemParams, ItemsPage, ItemsQuery, Links, MetaAnswer, MetaPut, RawAnswer, SourceQuery, StoredItem } from '../schemas.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function itemRoutes(app: RestApp, deps: RestDeps): void {
  app.get(
    '/items',
    {
      schema: {
        tags: ['items'],
        summary: 'A page of items with their meta, filtered and ordered; total counts every match',
        querystring: ItemsQuery,
        response: { 200: ItemsPage },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const { limit, offset, order, ...rest } = request.query;
        const filter = itemFilterOf(rest);
        // The original compares calendar dates: a date it cannot read matches nothing (not an error).
        if ([filter.bookmarkFrom, filter.bookmarkTo].some((date) => date && !DATE.test(date))) return { items: [], limit, offset, total: 0 };
        checkFilter(filter);
        const [page, total] = await Promise.all([
          listItemsWithMeta(scope.db, filter, itemOrderOf(order), { limit, offset }, true),
          countItems(scope.db, filter),
        ]);
        return {
          items: page.items.map((item) => listedItemShape(item, page.meta.get(item.id) ?? emptyMeta(item.id))),
          limit,
          offset,
          total,
        };
      }),
  );

  app.get(
    '/items/:item_id',
    { schema: { tags: ['items'], summary: 'The stored row of one item', params: ItemParams, querystring: SourceQuery, response: { 200: StoredItem } } },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const item = await scope.item.load(request.params.item_id);
        if (!item) throw notFound();
        return { item: storedItemShape(scope.sourceId, item) };
      }),
  );

  app.get(
    '/items/:item_id/meta',
    {
      schema: {
        tags: ['meta'],
        summary: "The item's user meta; an item without any answers nulls and empty lists",
        params: ItemParams,
        querystring: SourceQuery,
        response: { 200: MetaAnswer },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => ({
        meta: metaWithIdShape(request.params.item_id, await scope.meta.load(request.params.item_id)),
      })),
  );

  app.put(
    '/items/:item_id/meta',
    {
      schema: {
        tags: ['meta'],
        summary: "Replaces the item's user meta (omitted fields become null; author_links, when sent, goes to every item of the author)",
        params: ItemParams,
        querystring: SourceQuery,
        body: MetaPut,
        response: { 200: MetaAnswer },
      },
    },
    async (request) => {
      const sourceId = await chooseSource(deps, request);
      // The same write as the setItemMeta mutation.
      const meta = await deps.store.withTenant(sourceId, (db) => putItemMeta(db, request.params.item_id, metaInputOf(request.body)));
      return { meta: metaWithIdShape(request.params.item_id, meta) };
    },
  );

  app.get(
    '/items/:item_id/raw',
    {
      schema: {
        tags: ['items'],
        summary: 'The CSV rows the item was imported from, each as JSON text',
        params: ItemParams,
        querystring: SourceQuery,
        response: { 200: RawAnswer },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const item = await scope.item.load(request.params.item_id);
        if (!item) throw notFound();
        const raw = await scope.raw.load(item);
        const shape = (row: typeof raw.consolidated) => (row ? { row_json: JSON.stringify(row.row), imported_at: row.importedAt } : null);
        const consolidated = shape(raw.consolidated);
        return {
          id: item.id,
          raw: {
            consolidated: consolidated && { ...consolidated, csv_row_hash: item.csvRowHash },
            bookmark: shape(raw.bookmark),
            author: shape(raw.author),
          },
        };
      }),
  );

  app.get(
    '/items/:item_id/links',
    {
      schema: {
        tags: ['items'],
        summary: "The item's media paths, absolute paths and sxopen:/sxreveal: links (formatted, not checked)",
        params: ItemParams,
        querystring: SourceQuery,
        response: { 200: Links },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const item = await scope.item.load(request.params.item_id);
        if (!item) throw notFound();
        const { video, cover } = itemMediaPaths(mediaPathFields(item), scope.media);
        return {
          id: item.id,
          video_path: video.relative,
          cover_path: cover.relative,
          video_abs: video.absolute,
          cover_abs: cover.absolute,
          sxopen_video: video.sxopen,
          sxreveal_video: video.sxreveal,
          sxopen_cover: cover.sxopen,
          sxreveal_cover: cover.sxreveal,
        };
      }),
  );
}
