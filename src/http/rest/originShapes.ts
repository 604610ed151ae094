import type { SourceRecord } from '../../interfaces.js';
import { relativeMediaPaths } from '../../notes/index.js';
import { mediaPathFields } from '../../notes/mediaFile.js';
import type { ItemMeta, ItemMetaInput } from '../../queries/itemMeta.js';
import { storedItemRow, type Item } from '../../queries/itemRows.js';
import type { ItemFilter, ItemOrder } from '../../queries/listItems.js';
import { queryBoolean, type ItemsQuery, type MetaPut } from './schemas.js';

/**
 * The original's JSON shapes made from the gateway's values, and its parameters turned into the gateway's
 * inputs. Nothing here reads a database: a route reads through the query modules the GraphQL fields use, and
 * maps what it got with these.
 */

const flag = (value: boolean) => (value ? 1 : 0);

/** Split on commas, parts trimmed, empty parts dropped (origin-rest.md section 1). */
export function commaList(value: string | undefined | null): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const parts = value.split(',').map((part) => part.trim()).filter(Boolean);
  return parts.length ? parts : undefined;
}

/** The status filter keeps its empty parts: `status=` asks for items without a status. */
export function statusList(value: string | undefined | null): string[] | undefined {
  return value === undefined || value === null ? undefined : value.split(',').map((part) => part.trim());
}

export function itemFilterOf(query: Omit<ItemsQuery, 'limit' | 'offset' | 'order'>): ItemFilter {
  const blankIsNone = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value);
  return {
    q: blankIsNone(query.q)?.trim(),
    captionQ: blankIsNone(query.caption_q),
    bookmarkedOnly: queryBoolean(query.bookmarked_only),
    bookmarkFrom: blankIsNone(query.bookmark_from),
    bookmarkTo: blankIsNone(query.bookmark_to),
    authorUniqueIds: commaList(query.author_unique_id),
    authorIds: commaList(query.author_id),
    statuses: statusList(query.status),
    ratingMin: query.rating_min,
    ratingMax: query.rating_max,
    tag: blankIsNone(query.tag),
    hasNotes: queryBoolean(query.has_notes),
  };
}

export function itemOrderOf(order: string | undefined): ItemOrder {
  return (order ?? 'recent').toUpperCase() as ItemOrder;
}

/** The meta object (3.3): `tags` is the text as stored, the lists are unpacked. */
export function metaShape(meta: ItemMeta) {
  return {
    rating: meta.rating,
    status: meta.status,
    statuses: meta.statuses,
    tags: meta.stored?.tags ?? null,
    notes: meta.notes,
    product_link: meta.productLink,
    author_links: meta.authorLinks,
    platform_targets: meta.platformTargets,
    workflow_log: meta.workflowLog,
    post_url: meta.postUrl,
    published_time: meta.publishedTime,
    updated_at: meta.updatedAt,
  };
}

export function metaWithIdShape(videoId: string, meta: ItemMeta) {
  return { video_id: videoId, ...metaShape(meta) };
}

/** An item of `GET /items` (4.4): paths stored, else canonical (3.2). */
export function listedItemShape(item: Item, meta: ItemMeta) {
  const paths = relativeMediaPaths(mediaPathFields(item));
  return {
    id: item.id,
    platform: item.platform,
    author_id: item.authorId,
    author_unique_id: item.authorUniqueId,
    author_name: item.authorName,
    caption: item.caption,
    bookmarked: flag(item.bookmarked),
    video_path: paths.video,
    cover_path: paths.cover,
    updated_at: item.updatedAt,
    meta: metaShape(meta),
  };
}

/** `GET /items/{id}` (section 7): the stored row, paths as stored. */
export function storedItemShape(sourceId: string, item: Item) {
  return { source_id: sourceId, ...storedItemRow(item) };
}

const SNIPPET_CHARACTERS = 160;

export function searchResultShape(item: Item) {
  return {
    id: item.id,
    author_unique_id: item.authorUniqueId,
    author_name: item.authorName,
    // Characters, not UTF-16 units, as the original's Python slice counts them.
    snippet: item.caption === null ? null : [...item.caption].slice(0, SNIPPET_CHARACTERS).join(''),
    bookmarked: flag(item.bookmarked),
  };
}

export function sourceShape(source: SourceRecord) {
  return {
    id: source.id,
    label: source.label,
    kind: source.kind,
    description: source.description,
    enabled: flag(source.enabled),
    is_default: flag(source.isDefault),
    created_at: source.createdAt,
    updated_at: source.updatedAt,
  };
}

/**
 * The body of `PUT /items/{id}/meta` as the setItemMeta input: a status list may come as comma text, links as
 * a list or text (the normaliser splits either), `author_links` left out keeps the stored links.
 */
export function metaInputOf(body: MetaPut): ItemMetaInput {
  const listOf = (value: string | string[] | null | undefined) =>
    value === undefined || value === null ? value : Array.isArray(value) ? value : value.split(',');
  const input: ItemMetaInput = {
    rating: body.rating ?? null,
    status: body.status ?? null,
    statuses: listOf(body.statuses) ?? null,
    // One element is stored as written ("nike, drop"), as the original stores the text.
    tags: body.tags === undefined || body.tags === null ? null : [body.tags],
    notes: body.notes ?? null,
    productLink: body.product_link ?? null,
    platformTargets: body.platform_targets ?? null,
    workflowLog: body.workflow_log ?? null,
    postUrl: body.post_url ?? null,
    publishedTime: body.published_time ?? null,
  };
  if ('author_links' in body) {
    const links = body.author_links;
    input.authorLinks = links === null || links === undefined ? null : Array.isArray(links) ? links : [links];
  }
  return input;
}
