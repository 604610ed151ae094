import sql, { join } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';

export interface RawRow {
  row: Record<string, unknown>;
  importedAt: string;
}

export interface ItemRaw {
  consolidated: RawRow | null;
  bookmark: RawRow | null;
  author: RawRow | null;
}

// jsonb arrives parsed from PostgreSQL, TEXT from SQLite.
const parse = (value: unknown): Record<string, unknown> =>
  (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;

/**
 * The retained CSV rows of a page of items: one statement per raw table, whatever the page size.
 */
export async function rawByVideoIds(
  db: TenantDb,
  items: readonly { id: string; authorId: string | null }[],
): Promise<Map<string, ItemRaw>> {
  const result = new Map<string, ItemRaw>();
  if (items.length === 0) return result;
  const ids = items.map((i) => i.id);
  const authorIds = [...new Set(items.map((i) => i.authorId).filter((a): a is string => a !== null))];
  const [consolidated, bookmarks, authors] = await Promise.all([
    db.all<{ key: string; row_json: unknown; imported_at: string }>(sql`
      SELECT video_id AS key, row_json, imported_at FROM csv_consolidated_raw
       WHERE source_id = ${db.sourceId} AND video_id IN (${join(ids)})`),
    db.all<{ key: string; row_json: unknown; imported_at: string }>(sql`
      SELECT video_id AS key, row_json, imported_at FROM csv_bookmarks_raw
       WHERE source_id = ${db.sourceId} AND video_id IN (${join(ids)})`),
    authorIds.length
      ? db.all<{ key: string; row_json: unknown; imported_at: string }>(sql`
          SELECT author_id AS key, row_json, imported_at FROM csv_authors_raw
           WHERE source_id = ${db.sourceId} AND author_id IN (${join(authorIds)})`)
      : Promise.resolve([]),
  ]);
  const index = (rows: { key: string; row_json: unknown; imported_at: string }[]) =>
    new Map(rows.map((r) => [r.key, { row: parse(r.row_json), importedAt: r.imported_at }]));
  const byVideo = index(consolidated);
  const byBookmark = index(bookmarks);
  const byAuthor = index(authors);
  for (const item of items) {
    result.set(item.id, {
      consolidated: byVideo.get(item.id) ?? null,
      bookmark: byBookmark.get(item.id) ?? null,
      author: item.authorId ? (byAuthor.get(item.authorId) ?? null) : null,
    });
  }
  return result;
}
