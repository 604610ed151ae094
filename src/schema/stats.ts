import { sourceStats, type SourceStats } from '../queries/sourceStats.js';
import { builder } from './builder.js';
import { SourceScopeRef } from './source.js';

const SearchIndexRef = builder.objectRef<SourceStats['searchIndex']>('SearchIndexState').implement({
  fields: (t) => ({
    engine: t.exposeString('engine'),
    indexedItems: t.exposeInt('indexedItems', { nullable: true }),
    ready: t.exposeBoolean('ready'),
  }),
});

const StatsRef = builder.objectRef<SourceStats>('Stats').implement({
  fields: (t) => ({
    items: t.expose('items', { type: 'NonNegativeInt' }),
    bookmarked: t.expose('bookmarked', { type: 'NonNegativeInt' }),
    authors: t.expose('authors', { type: 'NonNegativeInt' }),
    lastUpdatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.lastUpdatedAt }),
    searchIndex: t.field({ type: SearchIndexRef, resolve: (s) => s.searchIndex }),
  }),
});

builder.objectField(SourceScopeRef, 'stats', (t) =>
  t.field({ type: StatsRef, resolve: (scope) => sourceStats(scope.db) }),
);
