import sql, { empty, join } from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import type { TenantDb } from '../interfaces.js';
import { mediaPresence, NOTE_TEMPLATE_VERSION, relativeMediaPaths, renderNote as renderTemplate, type MediaSettings, type NoteItem } from '../notes/index.js';
import { sameValue } from './dialect.js';
import type { ItemMeta } from './itemMeta.js';
import { storedItemRow, type Item } from './itemRows.js';
import { VIDEO_NOTES, type RowOf } from '../tables/sourceTables.js';
import { columnList, insertRow, updateOnConflict } from './columnLists.js';

/** The original's template version: a stored render of another version is stale and rendered again. */
export { NOTE_TEMPLATE_VERSION };
/** A note the user wrote; only a forced render with its media present replaces it, as in the original. */
export const USER_TEMPLATE_VERSION = 'user';

export type NoteOrigin = 'USER' | 'CACHED' | 'RENDERED';

export interface ItemNote {
  videoId: string;
  markdown: string;
  templateVersion: string;
  origin: NoteOrigin;
  updatedAt: string | null;
  /** For a render: its video file, or its cover file, is missing (such a render is not stored). Null when served from the store. */
  mediaMissing: boolean | null;
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

/** The original's per-request note options (GET /items/{id}/note, GET /notes). */
export interface NoteRequest {
  /** Render even when a cached note exists, a user note included; a forced render with its media overwrites it. */
  force: boolean;
  /** A sanitised PathLinker group override, or null: a note rendered with one is never stored. */
  groupOverride: string | null;
}

/**
 * The original's first decision: a stored note served as it is. A user note unless forced; a template note unless
 * forced or rendered for a group override, when its version is the current one (or blank, as the original
 * accepts). Anything else is rendered again: an older template version is stale.
 */
export function servedFromCache(cached: NoteRow | null | undefined, request: NoteRequest): ItemNote | null {
  if (!cached || request.force) return null;
  if (cached.template_version === USER_TEMPLATE_VERSION) {
    return { videoId: cached.video_id, markdown: cached.markdown, templateVersion: USER_TEMPLATE_VERSION, origin: 'USER', updatedAt: cached.updated_at, mediaMissing: null };
  }
  const current = !cached.template_version || cached.template_version === NOTE_TEMPLATE_VERSION;
  if (request.groupOverride !== null || !current) return null;
  return { videoId: cached.video_id, markdown: cached.markdown, templateVersion: cached.template_version, origin: 'CACHED', updatedAt: cached.updated_at, mediaMissing: null };
}

/** The item and its meta as the note template reads them: the stored rows, under the original's column names. */
export function noteItemOf(item: Item, meta: ItemMeta): NoteItem {
  const stored = meta.stored;
  const { updated_at: _updatedAt, ...row } = storedItemRow(item);
  return {
    ...row,
    rating: stored?.rating ?? null,
    status: stored?.status ?? null,
    statuses: stored?.statuses ?? null,
    tags: stored?.tags ?? null,
    notes: stored?.notes ?? null,
    product_link: stored?.product_link ?? null,
    author_links: stored?.author_links ?? null,
    platform_targets: stored?.platform_targets ?? null,
    workflow_log: stored?.workflow_log ?? null,
    post_url: stored?.post_url ?? null,
    published_time: stored?.published_time ?? null,
  };
}

/** A fresh render, and whether the original would cache it: media present and no group override. */
export interface RenderedItemNote {
  note: ItemNote;
  cacheable: boolean;
}

/** Renders one item's note with the source's settings; the only I/O is the check of its two media files. */
export async function renderItemNote(item: Item, meta: ItemMeta, settings: MediaSettings, request: NoteRequest): Promise<RenderedItemNote> {
  const noteItem = noteItemOf(item, meta);
  const relative = relativeMediaPaths(noteItem);
  const present = await mediaPresence(settings, [relative.video, relative.cover]);
  const rendered = renderTemplate(noteItem, settings, present);
  return {
    note: { videoId: item.id, markdown: rendered.markdown, templateVersion: NOTE_TEMPLATE_VERSION, origin: 'RENDERED', updatedAt: null, mediaMissing: rendered.mediaMissing },
    cacheable: !rendered.mediaMissing && request.groupOverride === null,
  };
}

/**
 * Stores renders as the current template version, in one statement however many. A user note is kept unless
 * the render was forced, decided in the statement itself so a note the user pushes meanwhile is never lost to a
 * render that read the row before it. Returns how many rows were written.
 */
export async function storeRenderedNotes(db: TenantDb, notes: readonly { videoId: string; markdown: string }[], force: boolean): Promise<number> {
  if (notes.length === 0) return 0;
  const now = new Date().toISOString();
  const rows = notes.map((note) => sql`(${db.sourceId}, ${note.videoId}, ${note.markdown}, ${NOTE_TEMPLATE_VERSION}, ${now})`);
  const keepUserNote = force ? empty : sql`WHERE NOT ${sameValue(db.dialect, sql`video_notes.template_version`, sql`${USER_TEMPLATE_VERSION}`)}`;
  return db.run(sql`
    INSERT INTO video_notes (source_id, ${columnList(VIDEO_NOTES)}) VALUES ${join(rows, ', ')}
    ${updateOnConflict(VIDEO_NOTES)} ${keepUserNote}`);
}

export async function putUserNote(db: TenantDb, videoId: string, markdown: string): Promise<ItemNote> {
  if (markdown.trim() === '') throw new GatewayError('BAD_USER_INPUT', 'markdown must not be empty');
  const exists = await db.one(sql`SELECT 1 AS found FROM videos WHERE source_id = ${db.sourceId} AND id = ${videoId}`);
  if (!exists) throw new GatewayError('NOT_FOUND', `Item ${videoId} not found in source_id=${db.sourceId}`, { videoId });
  const now = new Date().toISOString();
  const row: NoteRow = { video_id: videoId, markdown, template_version: USER_TEMPLATE_VERSION, updated_at: now };
  await db.run(sql`${insertRow(VIDEO_NOTES, db.sourceId, row)} ${updateOnConflict(VIDEO_NOTES)}`);
  return { videoId, markdown, templateVersion: USER_TEMPLATE_VERSION, origin: 'USER', updatedAt: now, mediaMissing: null };
}
