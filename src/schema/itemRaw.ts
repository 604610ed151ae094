import type { ItemRaw, RawRow } from '../queries/itemRaw.js';
import { builder } from './builder.js';
import { ItemRef } from './item.js';

const RawRowRef = builder.objectRef<RawRow>('RawCsvRow').implement({
  fields: (t) => ({
    row: t.field({ type: 'JSONObject', resolve: (raw) => raw.row }),
    importedAt: t.field({ type: 'DateTime', resolve: (raw) => raw.importedAt }),
  }),
});

const ItemRawRef = builder.objectRef<ItemRaw>('ItemRaw').implement({
  description: 'The CSV rows this item was imported from, as they were.',
  fields: (t) => ({
    consolidated: t.field({ type: RawRowRef, nullable: true, resolve: (raw) => raw.consolidated }),
    bookmark: t.field({ type: RawRowRef, nullable: true, resolve: (raw) => raw.bookmark }),
    author: t.field({ type: RawRowRef, nullable: true, resolve: (raw) => raw.author }),
  }),
});

builder.objectFields(ItemRef, (t) => ({
  raw: t.field({
    type: ItemRawRef,
    resolve: (item) => item.scope.raw.load(item),
  }),
}));
