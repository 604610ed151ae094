import { putUserNote, servedFromCache, type ItemNote } from '../../../queries/itemNotes.js';
import { noteOf, noteRequest, notesPage } from '../../../schema/itemNote.js';
import { itemFilterOf, itemOrderOf } from '../originShapes.js';
import { chooseSource, withBoundSource, type RestApp, type RestDeps } from '../restContext.js';
import { notFound, RestRefusal } from '../restErrors.js';
import { ItemParams, NoteAnswer, NotePut, NotePutAnswer, NoteQuery, NotesPage, NotesQuery, SourceQuery } from '../schemas.js';
import { queryBoolean } from '../schemas.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** `{id, markdown, cached, template_version, stale}` (4.7): `cached` for a note served from the store. */
function noteAnswer(itemId: string, note: ItemNote) {
  return { id: itemId, markdown: note.markdown, cached: note.origin !== 'RENDERED', template_version: note.templateVersion, stale: false };
}

export function noteRoutes(app: RestApp, deps: RestDeps): void {
  app.get(
    '/notes',
    {
      schema: {
        tags: ['notes'],
        summary: "A page of notes as the plugin's sync pulls them: the items filters and order, at most 500",
        querystring: NotesQuery,
        response: { 200: NotesPage },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const { limit, offset, order, force, pathlinker_group: pathlinkerGroup, ...rest } = request.query;
        const filter = itemFilterOf(rest);
        if ([filter.bookmarkFrom, filter.bookmarkTo].some((date) => date && !DATE.test(date))) return { notes: [], limit, offset, total: 0 };
        const page = await notesPage(scope, { filter, order: itemOrderOf(order), limit, offset, force: queryBoolean(force), pathlinkerGroup });
        return {
          notes: page.nodes.map(({ item, note }) => ({
            id: item.id,
            bookmarked: item.bookmarked,
            author_unique_id: item.authorUniqueId,
            author_name: item.authorName,
            markdown: note.markdown,
          })),
          limit,
          offset,
          total: await page.count(),
        };
      }),
  );

  app.get(
    '/items/:item_id/note',
    {
      schema: {
        tags: ['notes'],
        summary: "The item's note (template v1.3): a stored one when it may be served, else rendered now",
        params: ItemParams,
        querystring: NoteQuery,
        response: { 200: NoteAnswer },
      },
    },
    (request) =>
      withBoundSource(deps, request, async (scope) => {
        const itemId = request.params.item_id;
        const options = noteRequest(queryBoolean(request.query.force), request.query.pathlinker_group);
        const item = await scope.item.load(itemId);
        if (!item) {
          // As the original: a stored note is served even when its item is no longer in the source.
          const stored = servedFromCache(await scope.note.load(itemId), options);
          if (!stored) throw notFound();
          return noteAnswer(itemId, stored);
        }
        return noteAnswer(itemId, await noteOf(scope, item, scope.meta.load(itemId), options));
      }),
  );

  app.put(
    '/items/:item_id/note-md',
    {
      schema: {
        tags: ['notes'],
        summary: 'Stores a note the user wrote (template version "user")',
        params: ItemParams,
        querystring: SourceQuery,
        body: NotePut,
        response: { 200: NotePutAnswer },
      },
    },
    async (request) => {
      const sourceId = await chooseSource(deps, request);
      // The original strips byte-order marks at either end, and nothing else.
      const markdown = request.body.markdown.replace(/^\uFEFF+|\uFEFF+$/g, '');
      if (markdown === '') throw new RestRefusal(400, 'Empty markdown', 'BAD_USER_INPUT');
      // The same write as the setItemNote mutation.
      const note = await deps.store.withTenant(sourceId, (db) => putUserNote(db, request.params.item_id, markdown));
      return { ok: true, id: request.params.item_id, template_version: note.templateVersion, updated_at: note.updatedAt };
    },
  );
}
