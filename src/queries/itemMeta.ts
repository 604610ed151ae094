import sql, { join, type Sql } from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import type { TenantDb } from '../interfaces.js';
import { columnNames, USER_META, type RowOf } from '../tables/sourceTables.js';
import { columnList, insertRow, prefixedColumnList, updateOnConflict } from './columnLists.js';
import {
  normaliseAuthorLinks,
  normaliseStatuses,
  normaliseTags,
  packStatuses,
  primaryStatus,
  unpackAuthorLinks,
  unpackStatuses,
  unpackTags,
} from './metaValues.js';

export interface ItemMeta {
  videoId: string;
  rating: number | null;
  status: string | null;
  statuses: string[];
  tags: string[];
  notes: string | null;
  productLink: string | null;
  authorLinks: string[];
  platformTargets: string | null;
  workflowLog: string | null;
  postUrl: string | null;
  publishedTime: string | null;
  updatedAt: string | null;
  /** The row as stored, which the note template reads in the original's own form; null without a row. */
  stored: MetaRow | null;
}

export interface ItemMetaInput {
  rating?: number | null;
  status?: string | null;
  statuses?: readonly string[] | null;
  tags?: readonly string[] | null;
  notes?: string | null;
  productLink?: string | null;
  authorLinks?: readonly string[] | null;
  platformTargets?: string | null;
  workflowLog?: string | null;
  postUrl?: string | null;
  publishedTime?: string | null;
}

export type MetaRow = RowOf<typeof USER_META>;

/** An item without meta answers nulls and empty lists, not an error. */
export function emptyMeta(videoId: string): ItemMeta {
  return {
    videoId,
    rating: null,
    status: null,
    statuses: [],
    tags: [],
    notes: null,
    productLink: null,
    authorLinks: [],
    platformTargets: null,
    workflowLog: null,
    postUrl: null,
    publishedTime: null,
    updatedAt: null,
    stored: null,
  };
}

export function metaFromRow(row: MetaRow): ItemMeta {
  return {
    videoId: row.video_id,
    rating: row.rating,
    status: row.status,
    statuses: unpackStatuses(row.statuses),
    tags: unpackTags(row.tags),
    notes: row.notes,
    productLink: row.product_link,
    authorLinks: unpackAuthorLinks(row.author_links),
    platformTargets: row.platform_targets,
    workflowLog: row.workflow_log,
    postUrl: row.post_url,
    publishedTime: row.published_time,
    updatedAt: row.updated_at,
    stored: row,
  };
}

const META_FIELDS = columnNames(USER_META);

/** The meta columns of `m` (user_meta) as `meta_<column>`, for reads that join meta in. */
export const JOINED_META_COLUMNS = prefixedColumnList(USER_META, 'm', 'meta_');

/** The user_meta column each ItemMeta property is read from (metaFromRow); `stored` is the whole row. */
const META_COLUMN_OF: { readonly [Field in Exclude<keyof ItemMeta, 'stored'>]: keyof MetaRow & string } = {
  videoId: 'video_id',
  rating: 'rating',
  status: 'status',
  statuses: 'statuses',
  tags: 'tags',
  notes: 'notes',
  productLink: 'product_link',
  authorLinks: 'author_links',
  platformTargets: 'platform_targets',
  workflowLog: 'workflow_log',
  postUrl: 'post_url',
  publishedTime: 'published_time',
  updatedAt: 'updated_at',
};

export type MetaField = keyof typeof META_COLUMN_OF;

export function isMetaField(name: string): name is MetaField {
  return Object.hasOwn(META_COLUMN_OF, name);
}

/**
 * JOINED_META_COLUMNS for some ItemMeta properties (the video id always among them). Meta read through them holds
 * those properties only, the others null or empty, and no whole stored row: for a reader that uses no other.
 */
export function joinedMetaColumnsOf(fields: Iterable<MetaField>): Sql {
  const columns = new Set<keyof MetaRow & string>(['video_id']);
  for (const field of fields) columns.add(META_COLUMN_OF[field]);
  return prefixedColumnList(USER_META, 'm', 'meta_', [...columns]);
}

/** The meta of a row read with JOINED_META_COLUMNS (or some of them), or null when the item has none. */
export function joinedMeta(row: Record<string, unknown>): ItemMeta | null {
  if (row.meta_video_id === null || row.meta_video_id === undefined) return null;
  const meta: Record<string, unknown> = {};
  for (const column of META_FIELDS) meta[column] = row[`meta_${column}`] ?? null;
  return metaFromRow(meta as unknown as MetaRow);
}

/** One statement for a whole page of items (the DataLoader batch). */
export async function metaByVideoIds(db: TenantDb, videoIds: readonly string[]): Promise<Map<string, ItemMeta>> {
  const found = new Map<string, ItemMeta>();
  if (videoIds.length === 0) return found;
  const rows = await db.all<MetaRow>(sql`
    SELECT ${columnList(USER_META)}
      FROM user_meta
     WHERE source_id = ${db.sourceId} AND video_id IN (${join(videoIds)})`);
  for (const row of rows) found.set(row.video_id, metaFromRow(row));
  return found;
}

/**
 * Replaces the item's meta: an omitted field becomes NULL, except author_links, which keeps its stored value.
 * Given author links are copied to every item of the same author (by handle, else by name).
 */
export async function putItemMeta(db: TenantDb, videoId: string, input: ItemMetaInput): Promise<ItemMeta> {
  const item = await db.one<{ author_unique_id: string | null; author_name: string | null }>(sql`
    SELECT author_unique_id, author_name FROM videos WHERE source_id = ${db.sourceId} AND id = ${videoId}`);
  if (!item) throw new GatewayError('NOT_FOUND', `Item ${videoId} not found in source_id=${db.sourceId}`, { videoId });
  if (input.rating !== null && input.rating !== undefined && !(Number.isInteger(input.rating) && input.rating >= 0 && input.rating <= 5)) {
    throw new GatewayError('BAD_USER_INPUT', `rating must be a whole number from 0 to 5, got ${input.rating}`);
  }
  const statuses = normaliseStatuses(input.status, input.statuses);
  // `|` separates the packed list; a status holding one would match as two.
  const piped = statuses.find((status) => status.includes('|'));
  if (piped) throw new GatewayError('BAD_USER_INPUT', `a status must not contain "|", got ${JSON.stringify(piped)}`);
  // Given (a list, or null to clear them), the links replace the item's and its author's; left out, they stay.
  const linksGiven = input.authorLinks !== undefined;
  const authorLinks = input.authorLinks ? normaliseAuthorLinks(input.authorLinks) : null;
  const now = new Date().toISOString();
  const row: MetaRow = {
    video_id: videoId,
    rating: input.rating ?? null,
    status: primaryStatus(statuses),
    statuses: packStatuses(statuses),
    tags: normaliseTags(input.tags),
    notes: input.notes ?? null,
    product_link: input.productLink ?? null,
    author_links: authorLinks,
    platform_targets: input.platformTargets ?? null,
    workflow_log: input.workflowLog ?? null,
    post_url: input.postUrl ?? null,
    published_time: input.publishedTime ?? null,
    updated_at: now,
  };
  await db.run(sql`
    ${insertRow(USER_META, db.sourceId, row)}
    ${updateOnConflict(USER_META, linksGiven ? {} : { author_links: sql`user_meta.author_links` })}`);
  const handle = item.author_unique_id?.trim() ? item.author_unique_id : null;
  const name = item.author_name?.trim() ?? '';
  if (linksGiven && (handle || name)) {
    // The original's notion of one author: the same handle, or, for items without one, the same trimmed name.
    const sameAuthor = handle
      ? sql`v.author_unique_id = ${handle}`
      : sql`(v.author_unique_id IS NULL OR trim(v.author_unique_id) = '') AND trim(v.author_name) = ${name}`;
    await db.run(sql`
      INSERT INTO user_meta (source_id, video_id, author_links, updated_at)
      SELECT v.source_id, v.id, ${authorLinks}, ${now}
        FROM videos v
       WHERE v.source_id = ${db.sourceId} AND v.id <> ${videoId} AND ${sameAuthor}
      ON CONFLICT (source_id, video_id) DO UPDATE SET author_links = excluded.author_links, updated_at = excluded.updated_at`);
  }
  return (await metaByVideoIds(db, [videoId])).get(videoId) ?? emptyMeta(videoId);
}
