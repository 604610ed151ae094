import sql, { empty, join, raw, type Sql } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';
import { containsPattern } from './dialect.js';
import { allItemsCount } from './itemCount.js';
import { JOINED_META_COLUMNS, joinedMeta, joinedMetaColumnsOf, type ItemMeta, type MetaField } from './itemMeta.js';
import { ITEM_COLUMNS, itemColumnsOf, itemFromRow, type Item, type ItemRow } from './itemRows.js';

export interface ItemFilter {
  q?: string | null;
  captionQ?: string | null;
  bookmarkedOnly?: boolean | null;
  bookmarkFrom?: string | null;
  bookmarkTo?: string | null;
  authorUniqueIds?: readonly string[] | null;
  authorIds?: readonly string[] | null;
  statuses?: readonly string[] | null;
  ratingMin?: number | null;
  ratingMax?: number | null;
  /** Tags, any of which matches (the original's comma list); `tag` may itself be a comma list. */
  tag?: string | null;
  tags?: readonly string[] | null;
  hasNotes?: boolean | null;
}

/** The wanted tags of a filter: `tag` split on commas and `tags`, trimmed, lower-cased, blanks dropped. */
export function wantedTags(filter: ItemFilter): string[] {
  const all = [...(filter.tag ?? '').split(','), ...(filter.tags ?? []).flatMap((tag) => tag.split(','))];
  return [...new Set(all.map((tag) => tag.trim().toLowerCase()).filter(Boolean))];
}

export const ITEM_ORDERS = ['RECENT', 'BOOKMARKED', 'AUTHOR', 'STATUS', 'RATING'] as const;
export type ItemOrder = (typeof ITEM_ORDERS)[number];

// Every order ends in v.id so pages are stable; NULLS LAST is spelled out because the stores disagree by default.
const ORDER_BY: Record<ItemOrder, Sql> = {
  RECENT: raw('v.updated_at DESC, v.id'),
  BOOKMARKED: raw('v.bookmarked DESC, v.bookmark_timestamp DESC NULLS LAST, v.updated_at DESC, v.id'),
  AUTHOR: raw('v.author_unique_id ASC NULLS LAST, v.id'),
  STATUS: raw('m.status ASC NULLS LAST, v.updated_at DESC, v.id'),
  RATING: raw('m.rating DESC NULLS LAST, v.updated_at DESC, v.id'),
};

const like = (column: string, pattern: string): Sql => sql`lower(${raw(column)}) LIKE ${pattern} ESCAPE '\\'`;

/**
 * The original's caption query: words or "quoted phrases", each required, `-word` or `-"a phrase"` excluded;
 * a term given twice counts once.
 */
export function captionTerms(query: string): { text: string; excluded: boolean }[] {
  const terms = new Map<string, { text: string; excluded: boolean }>();
  for (const [token] of query.matchAll(/-?"[^"]*"|\S+/g)) {
    const excluded = token.startsWith('-') && token.length > 1;
    const body = excluded ? token.slice(1) : token;
    const text = body.length >= 2 && body.startsWith('"') && body.endsWith('"') ? body.slice(1, -1) : body;
    if (text.trim() !== '') terms.set(`${excluded}:${text}`, { text, excluded });
  }
  return [...terms.values()];
}

/** The WHERE clause shared by the page and its count; always scoped to the bound source. */
export function itemConditions(db: TenantDb, filter: ItemFilter): Sql {
  return join(conditionList(db, filter), ' AND ');
}

/** The filter's conditions, the source's first: a filter that adds none leaves one. */
function conditionList(db: TenantDb, filter: ItemFilter): Sql[] {
  const where: Sql[] = [sql`v.source_id = ${db.sourceId}`];
  const q = filter.q?.trim();
  if (q) {
    const p = containsPattern(q);
    where.push(sql`(${like('v.caption', p)} OR ${like('v.author_unique_id', p)} OR ${like('v.author_name', p)} OR ${like('v.id', p)})`);
  }
  for (const { text, excluded } of captionTerms(filter.captionQ ?? '')) {
    const p = containsPattern(text);
    where.push(excluded ? sql`NOT ${like("coalesce(v.caption, '')", p)}` : like('v.caption', p));
  }
  if (filter.bookmarkedOnly) where.push(sql`v.bookmarked = 1`);
  if (filter.bookmarkFrom) where.push(sql`substr(v.bookmark_timestamp, 1, 10) >= ${filter.bookmarkFrom}`);
  if (filter.bookmarkTo) where.push(sql`substr(v.bookmark_timestamp, 1, 10) <= ${filter.bookmarkTo}`);
  if (filter.authorUniqueIds?.length) where.push(sql`v.author_unique_id IN (${join(filter.authorUniqueIds)})`);
  if (filter.authorIds?.length) where.push(sql`v.author_id IN (${join(filter.authorIds)})`);
  if (filter.statuses?.length) {
    // An empty value asks for items with no status; others match the primary status or the packed list.
    const wanted = filter.statuses.map((s) => s.trim());
    const either: Sql[] = [];
    if (wanted.includes('')) either.push(sql`(m.status IS NULL OR m.status = '')`);
    const named = wanted.filter(Boolean);
    if (named.length) {
      either.push(sql`m.status IN (${join(named)})`);
      // containsPattern lower-cases the term, so the column is lower-cased too: without it PostgreSQL's
      // case-sensitive LIKE missed mixed-case packed statuses ("Client-Review") that SQLite's LIKE found.
      for (const status of named) either.push(sql`lower(m.statuses) LIKE ${containsPattern(`|${status}|`)} ESCAPE '\\'`);
    }
    where.push(sql`(${join(either, ' OR ')})`);
  }
  // The bounds are numbers (4.5); the column is an integer, and PostgreSQL would type the parameter after it.
  // DOUBLE PRECISION is a type both spell the same way (REAL affinity in SQLite).
  if (filter.ratingMin !== null && filter.ratingMin !== undefined) where.push(sql`m.rating >= CAST(${filter.ratingMin} AS DOUBLE PRECISION)`);
  if (filter.ratingMax !== null && filter.ratingMax !== undefined) where.push(sql`m.rating <= CAST(${filter.ratingMax} AS DOUBLE PRECISION)`);
  const tags = wantedTags(filter);
  if (tags.length) {
    // Tags are stored as the user typed them (`nike, drop`): one space either side of a comma is not part of a
    // tag, so each stored tag is matched whole, case-insensitively. Any wanted tag matches (OR).
    const stored = sql`(',' || replace(replace(lower(m.tags), ', ', ','), ' ,', ',') || ',')`;
    where.push(sql`(${join(tags.map((tag) => sql`${stored} LIKE ${containsPattern(`,${tag},`)} ESCAPE '\\'`), ' OR ')})`);
  }
  if (filter.hasNotes === true) where.push(sql`(m.notes IS NOT NULL AND trim(m.notes) <> '')`);
  if (filter.hasNotes === false) where.push(sql`(m.notes IS NULL OR trim(m.notes) = '')`);
  return where;
}

function needsMeta(filter: ItemFilter, order?: ItemOrder): boolean {
  return Boolean(
    filter.statuses?.length ||
      filter.ratingMin != null ||
      filter.ratingMax != null ||
      wantedTags(filter).length > 0 ||
      filter.hasNotes != null ||
      order === 'STATUS' ||
      order === 'RATING',
  );
}

function metaJoin(filter: ItemFilter, order?: ItemOrder, always = false): Sql {
  return always || needsMeta(filter, order) ? sql`LEFT JOIN user_meta m ON m.source_id = v.source_id AND m.video_id = v.id` : empty;
}

export async function listItems(
  db: TenantDb,
  filter: ItemFilter,
  order: ItemOrder,
  page: { limit: number; offset: number },
): Promise<Item[]> {
  return (await listItemsWithMeta(db, filter, order, page, false)).items;
}

/**
 * The properties a reader of a page uses, when it uses only some: the page then reads only their columns, and its
 * items and meta hold nothing else. Unset, a page reads whole items and meta.
 */
export interface PageFields {
  item: readonly (keyof Item)[];
  meta?: readonly MetaField[];
}

/**
 * A page of items; with `withMeta`, their meta comes in the same statement (a LEFT JOIN on the primary key)
 * instead of a second one: a page that shows meta costs one round trip, not two.
 */
export async function listItemsWithMeta(
  db: TenantDb,
  filter: ItemFilter,
  order: ItemOrder,
  page: { limit: number; offset: number },
  withMeta: boolean,
  fields?: PageFields,
): Promise<{ items: Item[]; meta: Map<string, ItemMeta | null> }> {
  const itemColumns = fields ? itemColumnsOf(fields.item) : ITEM_COLUMNS;
  const metaColumns = fields?.meta ? joinedMetaColumnsOf(fields.meta) : JOINED_META_COLUMNS;
  const rows = await db.all<ItemRow & Record<string, unknown>>(sql`
    SELECT ${itemColumns}${withMeta ? sql`, ${metaColumns}` : empty}
      FROM videos v ${metaJoin(filter, order, withMeta)}
     WHERE ${itemConditions(db, filter)}
     ORDER BY ${ORDER_BY[order]}
     LIMIT ${page.limit} OFFSET ${page.offset}`);
  const meta = new Map<string, ItemMeta | null>();
  if (withMeta) for (const row of rows) meta.set(row.id, joinedMeta(row));
  return { items: rows.map(itemFromRow), meta };
}

/** The items the filter matches; without a condition, every item of the source (its recorded count, see itemCount.ts). */
export async function countItems(db: TenantDb, filter: ItemFilter): Promise<number> {
  const conditions = conditionList(db, filter);
  if (conditions.length === 1) return allItemsCount(db);
  const row = await db.one<{ n: number }>(sql`
    SELECT count(*) AS n FROM videos v ${metaJoin(filter)} WHERE ${join(conditions, ' AND ')}`);
  return Number(row?.n ?? 0);
}

export async function itemsByIds(db: TenantDb, ids: readonly string[]): Promise<Map<string, Item>> {
  const found = new Map<string, Item>();
  if (ids.length === 0) return found;
  const rows = await db.all<ItemRow>(sql`
    SELECT ${ITEM_COLUMNS} FROM videos v WHERE v.source_id = ${db.sourceId} AND v.id IN (${join(ids)})`);
  for (const row of rows) found.set(row.id, itemFromRow(row));
  return found;
}
