import type { FieldNode, GraphQLResolveInfo } from 'graphql';
import { offsetToCursor } from '@pothos/plugin-relay';
import { GatewayError } from '../errors.js';
import { isItemField, type Item } from '../queries/itemRows.js';
import type { BoundSource } from '../graphql/operationSources.js';
import { ITEM_ORDERS, countItems, listItemsWithMeta, wantedTags, type ItemFilter, type PageFields } from '../queries/listItems.js';
import { emptyMeta, isMetaField, type ItemMeta } from '../queries/itemMeta.js';
import { RANKED_MATCHES, searchItems, type SearchCount, type SearchMode, type SearchPage } from '../queries/searchItems.js';
import { builder } from './builder.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, checkPageSize, nodeFields, pageCost, resolveOffsetPage, selectedFields } from './paging.js';
import { SourceScopeRef } from './source.js';

/** An item travels with the scope it was read through, so its meta and note load from the same source. */
export interface ScopedItem extends Item {
  scope: BoundSource;
  /** Meta read together with the item (a page that asked for it); otherwise it comes from the scope's loader. */
  meta?: ItemMeta;
}

/**
 * Tags the library's freshly built items in place: copying each into a new object cost more than the page's
 * SQL under load (the profile's top frame of the gateway itself). Both fields are always set, so every item
 * keeps one shape.
 */
export function scoped(scope: BoundSource, items: readonly Item[], meta?: Map<string, ItemMeta | null>, wholeMeta = true): ScopedItem[] {
  for (const item of items as ScopedItem[]) {
    item.scope = scope;
    item.meta = meta ? (meta.get(item.id) ?? emptyMeta(item.id)) : undefined;
    // Other fields of the item (its rendered note) ask the loader for the meta: it is already here, when whole.
    if (item.meta && wholeMeta) scope.meta.prime(item.id, item.meta);
  }
  return items as ScopedItem[];
}

/** What a page of `items` reads for the nodes an operation asks for. */
interface PageRead {
  withMeta: boolean;
  /** Set when every field asked for shows stored columns as they are: only those are read. */
  fields?: PageFields;
}

const isPlain = (name: string) => name === '__typename' || isItemField(name);

/**
 * The columns the nodes' fields need. When the nodes ask only for fields that show an item's columns (and meta fields
 * that show meta columns), the page reads those columns alone: a page of 50 with a few fields decoded and built all
 * thirty columns of each row before. Any other field (a note, media, raw rows) reads whole items, as it may use any
 * column. Cached per field of the operation: documents are cached, and the answer depends on the document alone.
 */
const pageReads = new WeakMap<FieldNode, PageRead>();

function pageReadOf(info: GraphQLResolveInfo): PageRead {
  const key = info.fieldNodes[0]!;
  let read = pageReads.get(key);
  if (read) return read;
  const fields = nodeFields(info);
  const withMeta = fields.has('meta');
  const names = [...fields.keys()];
  if (!names.every((name) => name === 'meta' || isPlain(name))) read = { withMeta };
  else {
    const item = names.filter(isItemField);
    const metaNames = withMeta ? [...selectedFields(fields.get('meta')!, info).keys()] : [];
    const metaPlain = metaNames.every((name) => name === '__typename' || isMetaField(name));
    read = { withMeta, fields: { item, meta: withMeta && metaPlain ? metaNames.filter(isMetaField) : undefined } };
  }
  pageReads.set(key, read);
  return read;
}

export const ItemRef = builder.objectRef<ScopedItem>('Item');

ItemRef.implement({
  description: 'One imported video with its author fields; meta, note and raw rows load in one batch per page.',
  fields: (t) => ({
    id: t.exposeID('id'),
    platform: t.exposeString('platform', { nullable: true }),
    authorId: t.exposeString('authorId', { nullable: true }),
    authorUniqueId: t.exposeString('authorUniqueId', { nullable: true }),
    authorName: t.exposeString('authorName', { nullable: true }),
    followers: t.exposeInt('followers', { nullable: true }),
    hearts: t.exposeInt('hearts', { nullable: true }),
    videosCount: t.exposeInt('videosCount', { nullable: true }),
    signature: t.exposeString('signature', { nullable: true }),
    isPrivate: t.exposeBoolean('isPrivate', { nullable: true }),
    caption: t.exposeString('caption', { nullable: true }),
    bookmarked: t.exposeBoolean('bookmarked'),
    bookmarkTimestamp: t.exposeString('bookmarkTimestamp', {
      nullable: true,
      description: 'As exported (usually ISO-8601)',
    }),
    videoPath: t.exposeString('videoPath', { nullable: true }),
    coverPath: t.exposeString('coverPath', { nullable: true }),
    csvRowHash: t.exposeString('csvRowHash', { nullable: true }),
    updatedAt: t.field({ type: 'DateTime', resolve: (item) => item.updatedAt }),
  }),
});

export const ItemOrderRef = builder.enumType('ItemOrder', {
  values: Object.fromEntries(ITEM_ORDERS.map((o) => [o, { value: o }])) as Record<(typeof ITEM_ORDERS)[number], { value: (typeof ITEM_ORDERS)[number] }>,
  description: 'RECENT: updated_at desc; BOOKMARKED: bookmarked first, newest bookmark first; AUTHOR: handle; STATUS; RATING: highest first',
});

export const ItemFilterRef = builder.inputType('ItemFilter', {
  fields: (t) => ({
    q: t.string({ description: 'Substring of caption, author handle, author name or id (case-insensitive)' }),
    captionQ: t.string({ description: 'Caption words or "quoted phrases", all required; -word or -"a phrase" excludes' }),
    bookmarkedOnly: t.boolean(),
    bookmarkFrom: t.string({ description: 'YYYY-MM-DD, inclusive' }),
    bookmarkTo: t.string({ description: 'YYYY-MM-DD, inclusive' }),
    authorUniqueIds: t.stringList(),
    authorIds: t.stringList(),
    statuses: t.stringList({ description: 'Matches the primary status or any packed status; "" matches items without one' }),
    ratingMin: t.float({ description: '0 to 5; items without a rating never match a bound' }),
    ratingMax: t.float({ description: '0 to 5' }),
    tag: t.string({ description: 'A whole tag, case-insensitive, or a comma list of tags, any of which matches' }),
    tags: t.stringList({ description: 'Tags, any of which matches (with tag: any of both)' }),
    hasNotes: t.boolean(),
  }),
});

/** What the search field hands its connection fields: the count runs once, when one of them is asked for. */
interface SearchConnectionCount {
  count: () => Promise<SearchCount>;
}

const SearchModeRef = builder.enumType('SearchMode', {
  values: ['FULL_TEXT', 'SUBSTRING', 'BOOKMARKED_FIRST'] as const satisfies readonly SearchMode[],
});

const DATE = /^\d{4}-\d{2}-\d{2}$/;
// The largest offset a cursor can carry (see paging.ts).
const MAX_OFFSET = 2 ** 31 - 1;

/** `offset` as the cursor paging it stands beside: `offset: n` is `after` the n-th item. */
function withOffset<Args extends { offset?: number | null; after?: string | null; before?: string | null; last?: number | null }>(args: Args): Args {
  if (args.offset === null || args.offset === undefined) return args;
  if (args.after || args.before || args.last != null) {
    throw new GatewayError('BAD_USER_INPUT', 'offset pages forward with first; it does not go with after, before or last', { argument: 'offset' });
  }
  if (!Number.isSafeInteger(args.offset) || args.offset < 0 || args.offset > MAX_OFFSET) {
    throw new GatewayError('BAD_USER_INPUT', `offset must be from 0 to ${MAX_OFFSET}, got ${args.offset}`, { argument: 'offset' });
  }
  return { ...args, after: args.offset > 0 ? offsetToCursor(args.offset - 1) : null };
}

/**
 * Each status or tag is one LIKE term in an OR chain; SQLite refuses an expression tree deeper than 1000, and no
 * client filters by more than a handful.
 */
export const MAX_FILTER_TERMS = 100;

export function checkFilter(filter: ItemFilter): ItemFilter {
  for (const [name, count] of [['statuses', filter.statuses?.length ?? 0], ['tags', wantedTags(filter).length]] as const) {
    if (count > MAX_FILTER_TERMS) throw new GatewayError('BAD_USER_INPUT', `${name}: at most ${MAX_FILTER_TERMS} values, got ${count}`, { argument: name });
  }
  for (const [name, value] of [['ratingMin', filter.ratingMin], ['ratingMax', filter.ratingMax]] as const) {
    if (value !== null && value !== undefined && !(value >= 0 && value <= 5)) {
      throw new GatewayError('BAD_USER_INPUT', `${name} must be from 0 to 5, got ${value}`, { argument: name });
    }
  }
  for (const [name, value] of [['bookmarkFrom', filter.bookmarkFrom], ['bookmarkTo', filter.bookmarkTo]] as const) {
    if (value && !DATE.test(value)) {
      throw new GatewayError('BAD_USER_INPUT', `${name} must be a date as YYYY-MM-DD, got ${JSON.stringify(value)}`);
    }
  }
  return filter;
}

builder.objectFields(SourceScopeRef, (t) => ({
  items: t.connection(
    {
      type: ItemRef,
      description: `Items of this source, filtered and ordered; pages of at most ${MAX_PAGE_SIZE}.`,
      args: {
        filter: t.arg({ type: ItemFilterRef }),
        order: t.arg({ type: ItemOrderRef, defaultValue: 'RECENT' }),
        offset: t.arg.int({ description: 'Skip this many items (the original paged by offset); instead of after/before' }),
      },
      complexity: pageCost,
      resolve: async (scope, pageArgs, _context, info) => {
        const args = withOffset(pageArgs);
        checkPageSize(args);
        const filter = checkFilter(args.filter ?? {});
        const { withMeta, fields } = pageReadOf(info);
        const connection = await resolveOffsetPage(
          { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE },
          async ({ limit, offset }) => {
            const page = await listItemsWithMeta(scope.db, filter, args.order ?? 'RECENT', { limit, offset }, withMeta, fields);
            return scoped(scope, page.items, withMeta ? page.meta : undefined, !fields?.meta);
          },
        );
        return { ...connection, count: () => countItems(scope.db, filter) };
      },
    },
    {
      name: 'ItemConnection',
      fields: (c) => ({
        totalCount: c.int({
          description: 'All matching items; counted only when asked for.',
          resolve: (connection) => (connection as unknown as { count: () => Promise<number> }).count(),
        }),
      }),
    },
  ),
  search: t.connection(
    {
      type: ItemRef,
      description:
        `Full text over caption, author handle and author name (each word a prefix, all required): the newest ${RANKED_MATCHES} ` +
        'matches (the RECENT order of items) ranked by relevance, ties newest first, then every other match newest first. ' +
        'When the full text finds nothing, a case-insensitive substring match, newest first; an empty query lists ' +
        'bookmarked items first.',
      args: { query: t.arg.string({ required: true }) },
      complexity: pageCost,
      resolve: async (scope, args, _context, info) => {
        checkPageSize(args);
        const read = pageReadOf(info);
        // The page callback always runs once; it keeps the search's count and mode for the connection fields.
        const found: { page: SearchPage | null } = { page: null };
        const connection = await resolveOffsetPage(
          { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE },
          async ({ limit, offset }) => {
            found.page = await searchItems(scope.db, args.query, { limit, offset }, read);
            return scoped(scope, found.page.items, read.withMeta ? found.page.meta : undefined, !read.fields?.meta);
          },
        );
        const page = found.page!;
        return { ...connection, mode: page.mode, count: page.count };
      },
    },
    {
      name: 'SearchConnection',
      fields: (c) => ({
        totalCount: c.int({
          description:
            'Every match, counted only when asked for. Exact, except for a full-text search in PostgreSQL past the ranked ' +
            'matches, which may be an estimate (see totalCountIsEstimate).',
          resolve: async (connection) => (await (connection as unknown as SearchConnectionCount).count()).totalCount,
        }),
        totalCountIsEstimate: c.boolean({
          description:
            `True when totalCount is PostgreSQL's estimate (from its statistics, no match read): a full-text search with ` +
            `${RANKED_MATCHES} matches or more whose page does not end at the last match, where an exact count would read ` +
            'every match. An estimate never contradicts the page: it is counted exactly instead.',
          resolve: async (connection) => (await (connection as unknown as SearchConnectionCount).count()).isEstimate,
        }),
        mode: c.field({
          type: SearchModeRef,
          resolve: (connection) => (connection as unknown as { mode: SearchMode }).mode,
        }),
      }),
    },
  ),
  item: t.field({
    type: ItemRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (scope, args) => {
      const item = await scope.item.load(String(args.id));
      return item ? { ...item, scope } : null;
    },
  }),
}));
