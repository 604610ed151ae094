import type { ItemMeta } from '../queries/itemMeta.js';
import { putItemMeta } from '../queries/itemMeta.js';
import { builder } from './builder.js';
import { ItemRef } from './item.js';

const ItemMetaRef = builder.objectRef<ItemMeta>('ItemMeta').implement({
  description: "The user's own data about an item. Imports never touch it.",
  fields: (t) => ({
    rating: t.exposeInt('rating', { nullable: true }),
    status: t.exposeString('status', { nullable: true, description: 'The primary status' }),
    statuses: t.exposeStringList('statuses'),
    tags: t.exposeStringList('tags'),
    notes: t.exposeString('notes', { nullable: true }),
    productLink: t.exposeString('productLink', { nullable: true }),
    authorLinks: t.exposeStringList('authorLinks'),
    platformTargets: t.exposeString('platformTargets', { nullable: true }),
    workflowLog: t.exposeString('workflowLog', { nullable: true }),
    postUrl: t.exposeString('postUrl', { nullable: true }),
    publishedTime: t.exposeString('publishedTime', { nullable: true }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (m) => m.updatedAt }),
  }),
});

builder.objectField(ItemRef, 'meta', (t) =>
  t.field({
    type: ItemMetaRef,
    description: 'Never null: an item without meta answers nulls and empty lists.',
    resolve: (item) => item.meta ?? item.scope.meta.load(item.id),
  }),
);

const ItemMetaInputRef = builder.inputType('ItemMetaInput', {
  description:
    'Replaces the meta: an omitted field becomes null, except authorLinks, which keeps its stored value when omitted.',
  fields: (t) => ({
    rating: t.int({ description: '0 to 5' }),
    status: t.string({ description: 'A status, or a comma list of statuses' }),
    statuses: t.stringList(),
    tags: t.stringList({ description: 'Tags; an element may itself be a comma list' }),
    notes: t.string(),
    productLink: t.string(),
    authorLinks: t.stringList({
      description: 'Links, a JSON array or comma/newline text; copied to every item of the same author',
    }),
    platformTargets: t.string(),
    workflowLog: t.string(),
    postUrl: t.string(),
    publishedTime: t.string(),
  }),
});

builder.mutationField('setItemMeta', (t) =>
  t.field({
    type: ItemMetaRef,
    description: 'Writes the user meta of one item; an unknown item answers NOT_FOUND.',
    args: {
      sourceId: t.arg.id({ required: true }),
      itemId: t.arg.id({ required: true }),
      input: t.arg({ type: ItemMetaInputRef, required: true }),
    },
    resolve: (_root, args, context) =>
      context.store.withTenant(context.sources.checkSourceId(String(args.sourceId)), (db) =>
        putItemMeta(db, String(args.itemId), args.input),
      ),
  }),
);
