import type { UserDataKind } from '../../../queries/userData.js';
import { resetUserRows } from '../../../queries/userData.js';
import { commaList, statusList } from '../originShapes.js';
import { chooseSource, requireAdmin, type RestApp, type RestDeps } from '../restContext.js';
import { RestRefusal } from '../restErrors.js';
import { ResetAnswer, ResetBody, SourceQuery } from '../schemas.js';

/**
 * `POST /danger/reset` (4.19): counts, or with `apply` and `confirm: "RESET"` deletes, the user meta, user notes
 * and cached renders of the items the filters match, in one transaction (the resetUserData mutation's rows).
 */
export function resetRoutes(app: RestApp, deps: RestDeps): void {
  app.post(
    '/danger/reset',
    {
      schema: {
        tags: ['user data'],
        summary: 'Counts (dry run) or deletes the user data of the matched items; admin',
        security: [{ adminToken: [] }],
        querystring: SourceQuery,
        body: ResetBody,
        response: { 200: ResetAnswer },
      },
    },
    async (request) => {
      requireAdmin(request);
      const body = request.body;
      const sourceId = await chooseSource(deps, request);
      const kinds: UserDataKind[] = [];
      if (body.reset_user_meta) kinds.push('meta');
      if (body.reset_user_notes) kinds.push('notes');
      if (body.reset_cached_notes) kinds.push('cached');
      if (body.apply) {
        if (body.confirm.trim() !== 'RESET') throw new RestRefusal(400, "Missing confirmation. Set confirm='RESET' to apply.", 'BAD_USER_INPUT');
        if (kinds.length === 0) throw new RestRefusal(400, 'No reset operations selected', 'BAD_USER_INPUT');
      }
      const filters = body.filters ?? {};
      const blankIsNone = (value: string | null | undefined) => (value === null || value === undefined || value.trim() === '' ? undefined : value);
      const counts = await deps.store.withTenant(sourceId, (db) =>
        resetUserRows(
          db,
          {
            statuses: statusList(filters.status),
            items: {
              q: blankIsNone(filters.q)?.trim(),
              bookmarkedOnly: filters.bookmarked_only,
              authorUniqueIds: commaList(filters.author_unique_id),
              authorIds: commaList(filters.author_id),
              tag: blankIsNone(filters.tag),
              ratingMin: filters.rating_min,
              ratingMax: filters.rating_max,
              hasNotes: filters.has_notes,
            },
          },
          kinds,
          !body.apply,
        ),
      );
      const rows = { user_meta: counts.meta, user_notes: counts.notes, cached_notes: counts.cached };
      return body.apply
        ? { ok: true, apply: true, matched: counts.matched, deleted: rows }
        : { ok: true, apply: false, matched: counts.matched, would_delete: rows };
    },
  );
}
