import type { BoundSource } from '../graphql/operationSources.js';
import { pathlinkerGroupOverride, withGroupOverride } from '../notes/index.js';
import type { ItemMeta } from '../queries/itemMeta.js';
import { putUserNote, renderItemNote, servedFromCache, type ItemNote, type NoteRequest } from '../queries/itemNotes.js';
import type { Item } from '../queries/itemRows.js';
import { builder } from './builder.js';
import { countItems, listItemsWithMeta, type ItemFilter, type ItemOrder } from '../queries/listItems.js';
import { GatewayError } from '../errors.js';
import { checkFilter, ItemFilterRef, ItemOrderRef, ItemRef, scoped, type ScopedItem } from './item.js';
import { SourceScopeRef } from './source.js';

const NoteOriginRef = builder.enumType('NoteOrigin', {
  values: ['USER', 'CACHED', 'RENDERED'] as const,
  description:
    'USER: written by the user (replaced only by a forced render whose media exist); CACHED: a stored render of the current template; RENDERED: rendered now',
});

const ItemNoteRef = builder.objectRef<ItemNote>('ItemNote').implement({
  fields: (t) => ({
    markdown: t.exposeString('markdown'),
    templateVersion: t.exposeString('templateVersion'),
    origin: t.field({ type: NoteOriginRef, resolve: (note) => note.origin }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (note) => note.updatedAt }),
    mediaMissing: t.exposeBoolean('mediaMissing', {
      nullable: true,
      description: "A render's video file, or its cover file, is missing from the vault: such a render is not stored. Null when served from the store.",
    }),
  }),
});

/**
 * The original's note decision for one item: a stored note when it may be served, else a render, with whether the
 * original would store it (its media exist and no group override was asked for). The caller stores it.
 */
async function chooseNote(scope: BoundSource, item: Item, meta: ItemMeta | Promise<ItemMeta>, request: NoteRequest): Promise<{ note: ItemNote; store: boolean }> {
  const served = servedFromCache(await scope.note.load(item.id), request);
  if (served) return { note: served, store: false };
  const settings = request.groupOverride === null ? scope.media : withGroupOverride(scope.media, request.groupOverride);
  const rendered = await renderItemNote(item, await meta, settings, request);
  return { note: rendered.note, store: rendered.cacheable };
}

/** One item's note, its render stored when the original would (batched with the operation's other renders). */
export async function noteOf(scope: BoundSource, item: Item, meta: ItemMeta | Promise<ItemMeta>, request: NoteRequest): Promise<ItemNote> {
  const { note, store } = await chooseNote(scope, item, meta, request);
  if (store) await scope.storedRenders.load({ videoId: item.id, markdown: note.markdown, force: request.force });
  return note;
}

/** The note options of a request: `pathlinkerGroup` sanitised as the original does (blank: no override). */
export function noteRequest(force: boolean | null | undefined, pathlinkerGroup: string | null | undefined): NoteRequest {
  return { force: force ?? false, groupOverride: pathlinkerGroupOverride(pathlinkerGroup) };
}

builder.objectFields(ItemRef, (t) => ({
  note: t.field({
    type: ItemNoteRef,
    description: "The item's note (template v1.3), from the store or rendered now; see NoteOrigin for when a render is stored.",
    args: {
      force: t.arg.boolean({ defaultValue: false, description: 'Render even when a note is stored, a user note included' }),
      pathlinkerGroup: t.arg.string({ description: 'PathLinker group for this render only; such a render is not stored' }),
    },
    resolve: (item, args) => noteOf(item.scope, item, item.meta ?? item.scope.meta.load(item.id), noteRequest(args.force, args.pathlinkerGroup)),
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

/** The original's bound for a page of notes (GET /notes): the plugin's sync asks for up to this many at once. */
export const MAX_NOTES_PAGE = 500;

export interface NoteOfItem {
  item: ScopedItem;
  note: ItemNote;
}

export interface NotePage {
  limit: number;
  offset: number;
  nodes: NoteOfItem[];
  count: () => Promise<number>;
}

export interface NotesPageArgs {
  filter: ItemFilter;
  order: ItemOrder;
  limit: number;
  offset: number;
  force?: boolean | null;
  pathlinkerGroup?: string | null;
}

/**
 * A page of notes as the plugin's sync pulls them (Source.notes, and GET /notes): each note chosen as Item.note
 * chooses it; the renders the original would store go in one write per page.
 */
export async function notesPage(scope: BoundSource, args: NotesPageArgs): Promise<NotePage> {
  const { limit, offset } = args;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_NOTES_PAGE) {
    throw new GatewayError('PAGE_SIZE_TOO_LARGE', `limit must be from 1 to ${MAX_NOTES_PAGE}, got ${limit}`, { max: MAX_NOTES_PAGE });
  }
  if (!Number.isSafeInteger(offset) || offset < 0) throw new GatewayError('BAD_USER_INPUT', `offset must not be negative, got ${offset}`);
  const filter = checkFilter(args.filter);
  // One statement for the page and its meta; the stored notes of the page come in one more (the loader).
  const page = await listItemsWithMeta(scope.db, filter, args.order, { limit, offset }, true);
  const items = scoped(scope, page.items, page.meta);
  const request = noteRequest(args.force, args.pathlinkerGroup);
  const chosen = await Promise.all(items.map((item) => chooseNote(scope, item, item.meta!, request)));
  // Every render of the page that the original would store, in one write.
  const renders = chosen.flatMap(({ note, store }) => (store ? [{ videoId: note.videoId, markdown: note.markdown, force: request.force }] : []));
  // loadMany answers a failure as an Error in its place rather than rejecting.
  const failed = (await scope.storedRenders.loadMany(renders)).find((result) => result instanceof Error);
  if (failed) throw failed;
  const nodes = items.map((item, index) => ({ item, note: chosen[index]!.note }));
  return { limit, offset, nodes, count: () => countItems(scope.db, filter) };
}

const NoteOfItemRef = builder.objectRef<NoteOfItem>('NoteOfItem').implement({
  description: 'One item of a page of notes, with the fields the plugin files the note under.',
  fields: (t) => ({
    id: t.id({ resolve: (entry) => entry.item.id }),
    bookmarked: t.boolean({ resolve: (entry) => entry.item.bookmarked }),
    authorUniqueId: t.string({ nullable: true, resolve: (entry) => entry.item.authorUniqueId }),
    authorName: t.string({ nullable: true, resolve: (entry) => entry.item.authorName }),
    item: t.field({ type: ItemRef, resolve: (entry) => entry.item }),
    note: t.field({ type: ItemNoteRef, resolve: (entry) => entry.note }),
  }),
});

const NotePageRef = builder.objectRef<NotePage>('NotePage').implement({
  fields: (t) => ({
    limit: t.exposeInt('limit'),
    offset: t.exposeInt('offset'),
    totalCount: t.int({ description: 'All matching items; counted only when asked for.', resolve: (page) => page.count() }),
    nodes: t.field({ type: [NoteOfItemRef], resolve: (page) => page.nodes }),
  }),
});

builder.objectFields(SourceScopeRef, (t) => ({
  notes: t.field({
    type: NotePageRef,
    description:
      `A page of notes, as the plugin's sync pulls them: the items filter and order, paged by offset, at most ${MAX_NOTES_PAGE}. ` +
      'Each note is chosen as Item.note chooses it; the renders that are stored go in one statement per page.',
    args: {
      filter: t.arg({ type: ItemFilterRef }),
      order: t.arg({ type: ItemOrderRef, defaultValue: 'RECENT' }),
      limit: t.arg.int({ defaultValue: 200 }),
      offset: t.arg.int({ defaultValue: 0 }),
      force: t.arg.boolean({ defaultValue: false, description: 'Render every note, user notes included' }),
      pathlinkerGroup: t.arg.string({ description: 'PathLinker group for these renders only; they are not stored' }),
    },
    complexity: (args) => ({ field: 1, multiplier: Math.max(1, Math.min(args.limit ?? 200, MAX_NOTES_PAGE)) }),
    resolve: (scope, args) =>
      notesPage(scope, {
        filter: args.filter ?? {},
        order: args.order ?? 'RECENT',
        limit: args.limit ?? 200,
        offset: args.offset ?? 0,
        force: args.force,
        pathlinkerGroup: args.pathlinkerGroup,
      }),
  }),
}));
