import { AUTHOR_ORDERS, listAuthors, type AuthorSummary } from '../queries/listAuthors.js';
import { builder } from './builder.js';
import { DEFAULT_PAGE_SIZE, pageCost, checkPageSize } from './paging.js';
import { SourceScopeRef } from './source.js';

const AuthorRef = builder.objectRef<AuthorSummary>('Author').implement({
  fields: (t) => ({
    authorId: t.exposeString('authorId', { nullable: true }),
    authorUniqueId: t.exposeString('authorUniqueId', { nullable: true }),
    authorName: t.exposeString('authorName', { nullable: true }),
    itemsCount: t.expose('itemsCount', { type: 'NonNegativeInt' }),
    bookmarkedCount: t.expose('bookmarkedCount', { type: 'NonNegativeInt' }),
  }),
});

const AuthorOrderRef = builder.enumType('AuthorOrder', { values: AUTHOR_ORDERS });

const AuthorPageRef = builder
  .objectRef<{ authors: AuthorSummary[]; totalCount: number; offset: number }>('AuthorPage')
  .implement({
    fields: (t) => ({
      nodes: t.field({ type: [AuthorRef], resolve: (page) => page.authors }),
      totalCount: t.expose('totalCount', { type: 'NonNegativeInt' }),
      hasNextPage: t.boolean({ resolve: (page) => page.offset + page.authors.length < page.totalCount }),
    }),
  });

builder.objectField(SourceScopeRef, 'authors', (t) =>
  t.field({
    type: AuthorPageRef,
    description: 'Items grouped by author, with item and bookmark counts.',
    args: {
      q: t.arg.string(),
      bookmarkedOnly: t.arg.boolean(),
      order: t.arg({ type: AuthorOrderRef, defaultValue: 'COUNT' }),
      first: t.arg.int({ defaultValue: DEFAULT_PAGE_SIZE }),
      offset: t.arg.int({ defaultValue: 0 }),
    },
    complexity: pageCost,
    resolve: async (scope, args) => {
      checkPageSize({ first: args.first });
      const offset = Math.max(0, args.offset ?? 0);
      const page = await listAuthors(scope.db, args, args.order ?? 'COUNT', {
        limit: args.first ?? DEFAULT_PAGE_SIZE,
        offset,
      });
      return { ...page, offset };
    },
  }),
);
