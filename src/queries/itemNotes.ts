import sql, { join } from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import type { TenantDb } from '../interfaces.js';
import type { ItemMeta } from './itemMeta.js';
import type { Item } from './itemRows.js';
import { VIDEO_NOTES, type RowOf } from '../tables/sourceTables.js';
import { columnList, insertRow, updateOnConflict } from './columnLists.js';

/** Bump when the rendered layout changes: cached notes of an older version are then stale. */
export const NOTE_TEMPLATE_VERSION = 'v1';
/** A note the user wrote; a render never replaces it. */
export const USER_TEMPLATE_VERSION = 'user';

export type NoteOrigin = 'USER' | 'CACHED' | 'RENDERED';

export interface ItemNote {
  videoId: string;
  markdown: string;
  templateVersion: string;
  origin: NoteOrigin;
  updatedAt: string | null;
}

/** A stored note as the video_notes table holds it. */
export type NoteRow = RowOf<typeof VIDEO_NOTES> & { markdown: string; template_version: string; updated_at: string };

export async function notesByVideoIds(db: TenantDb, videoIds: readonly string[]): Promise<Map<string, NoteRow>> {
  const found = new Map<string, NoteRow>();
  if (videoIds.length === 0) return found;
  const rows = await db.all<NoteRow>(sql`
    SELECT ${columnList(VIDEO_NOTES)}
      FROM video_notes
     WHERE source_id = ${db.sourceId} AND video_id IN (${join(videoIds)})`);
  for (const row of rows) found.set(row.video_id, row);
  return found;
}

export function renderNote(item: Item, meta: ItemMeta): string {
  const lines = [
    '---',
    `id: "${item.id}"`,
    `platform: ${item.platform ?? ''}`,
    `author: "${item.authorUniqueId ?? ''}"`,
    `bookmarked: ${item.bookmarked}`,
    `status: ${meta.status ?? ''}`,
    `rating: ${meta.rating ?? ''}`,
    `tags: [${meta.tags.map((t) => JSON.stringify(t)).join(', ')}]`,
    '---',
    '',
    `# ${item.authorName ?? item.authorUniqueId ?? 'Unknown author'} — ${item.id}`,
    '',
    item.caption ?? '',
    '',
    `![[${item.coverPath ?? ''}]]`,
    `[video](${item.videoPath ?? ''})`,
  ];
  if (meta.notes) lines.push('', '## Notes', '', meta.notes);
  return `${lines.join('\n')}\n`;
}

/**
 * The cached note unless it is stale (older template, or older than the item or its meta); a user-written
 * note is always returned as it is. A stale or missing note is rendered for the answer but not written:
 * reads stay read-only (and run in READ ONLY transactions in PostgreSQL).
 */
export function chooseNote(item: Item, meta: ItemMeta, cached: NoteRow | undefined, force = false): ItemNote {
  if (cached?.template_version === USER_TEMPLATE_VERSION) {
    return { videoId: item.id, markdown: cached.markdown, templateVersion: USER_TEMPLATE_VERSION, origin: 'USER', updatedAt: cached.updated_at };
  }
  const fresh =
    cached &&
    !force &&
    cached.template_version === NOTE_TEMPLATE_VERSION &&
    cached.updated_at >= item.updatedAt &&
    (meta.updatedAt === null || cached.updated_at >= meta.updatedAt);
  if (fresh) {
    return { videoId: item.id, markdown: cached.markdown, templateVersion: cached.template_version, origin: 'CACHED', updatedAt: cached.updated_at };
  }
  return { videoId: item.id, markdown: renderNote(item, meta), templateVersion: NOTE_TEMPLATE_VERSION, origin: 'RENDERED', updatedAt: null };
}

export async function putUserNote(db: TenantDb, videoId: string, markdown: string): Promise<ItemNote> {
  if (markdown.trim() === '') throw new GatewayError('BAD_USER_INPUT', 'markdown must not be empty');
  const exists = await db.one(sql`SELECT 1 AS found FROM videos WHERE source_id = ${db.sourceId} AND id = ${videoId}`);
  if (!exists) throw new GatewayError('NOT_FOUND', `Item ${videoId} not found in source_id=${db.sourceId}`, { videoId });
  const now = new Date().toISOString();
  const row: NoteRow = { video_id: videoId, markdown, template_version: USER_TEMPLATE_VERSION, updated_at: now };
  await db.run(sql`${insertRow(VIDEO_NOTES, db.sourceId, row)} ${updateOnConflict(VIDEO_NOTES)}`);
  return { videoId, markdown, templateVersion: USER_TEMPLATE_VERSION, origin: 'USER', updatedAt: now };
}
