import { chooseNote, putUserNote, type ItemNote } from '../queries/itemNotes.js';
import { builder } from './builder.js';
import { ItemRef } from './item.js';

const NoteOriginRef = builder.enumType('NoteOrigin', {
  values: ['USER', 'CACHED', 'RENDERED'] as const,
  description: 'USER: written by the user, never replaced; CACHED: a fresh stored render; RENDERED: rendered now',
});

const ItemNoteRef = builder.objectRef<ItemNote>('ItemNote').implement({
  fields: (t) => ({
    markdown: t.exposeString('markdown'),
    templateVersion: t.exposeString('templateVersion'),
    origin: t.field({ type: NoteOriginRef, resolve: (note) => note.origin }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (note) => note.updatedAt }),
  }),
});

builder.objectFields(ItemRef, (t) => ({
  note: t.field({
    type: ItemNoteRef,
    args: { force: t.arg.boolean({ defaultValue: false, description: 'Render even when a fresh cached note exists' }) },
    resolve: async (item, args) => {
      const [meta, cached] = await Promise.all([item.scope.meta.load(item.id), item.scope.note.load(item.id)]);
      return chooseNote(item, meta, cached ?? undefined, args.force ?? false);
    },
  }),
}));

builder.mutationField('setItemNote', (t) =>
  t.field({
    type: ItemNoteRef,
    description: 'Stores a user-written note (template version "user"); empty markdown is refused.',
    args: {
      sourceId: t.arg.id({ required: true }),
      itemId: t.arg.id({ required: true }),
      markdown: t.arg.string({ required: true }),
    },
    resolve: (_root, args, context) =>
      context.store.withTenant(context.sources.checkSourceId(String(args.sourceId)), (db) =>
        putUserNote(db, String(args.itemId), args.markdown),
      ),
  }),
);
