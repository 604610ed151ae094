import sql, { empty, type Sql } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';
import { JOINED_META_COLUMNS, joinedMeta, joinedMetaColumnsOf, type ItemMeta } from './itemMeta.js';
import { ITEM_COLUMNS, itemColumnsOf, itemFromRow, type Item, type ItemRow } from './itemRows.js';
import { countItems, listItemsWithMeta, type PageFields } from './listItems.js';

export type SearchMode = 'FULL_TEXT' | 'SUBSTRING' | 'BOOKMARKED_FIRST';

/**
 * How many matches the full text ranks by relevance: the newest this many, in the RECENT order of items
 * (updated_at descending, then id). Ranking every match cost 381 ms for a word in 3% of 1M items, all of it
 * spent scoring and sorting about 28,000 rows; finding the newest 500 walks the updated_at index and stops
 * (about 20 ms). With a window of 1,000, PostgreSQL chose to read every match instead for words it estimated at
 * under 1% of items (250–340 ms); see "Search, second round" in BENCHMARKS.md.
 */
export const RANKED_MATCHES = 500;

/**
 * How many of the newest items a search of several words looks at first (see fullTextPage): enough for a full
 * window when the words occur together in 2.5% of items or more, at about 13 ms on 1M items.
 */
const FIRST_LOOK_ITEMS = 40 * RANKED_MATCHES;

export interface SearchCount {
  totalCount: number;
  /** Only PostgreSQL estimates, and only past RANKED_MATCHES matches: counting them all read every match. */
  isEstimate: boolean;
}

export interface SearchPage {
  mode: SearchMode;
  items: Item[];
  /** The items' meta, read with them when asked for (see SearchRead). */
  meta: Map<string, ItemMeta | null>;
  /** Runs only when a client asks for the count; at most once. */
  count: () => Promise<SearchCount>;
}

/** Words of the query, lower-cased, with every character the engines treat as syntax removed. */
export function searchTerms(query: string): string[] {
  return query
    .toLowerCase()
    .split(/[^\p{L}\p{N}_]+/u)
    .filter((term) => term.length > 0)
    .slice(0, 16);
}

/** Each term as a prefix, all of them required: "cook" matches cooking in both engines. */
function matchQuery(db: TenantDb, terms: string[]): string {
  return db.dialect === 'sqlite' ? terms.map((t) => `"${t}"*`).join(' ') : terms.map((t) => `'${t}':*`).join(' & ');
}

/** The source's matching videos as `v`, without a score: a FROM clause (with its WHERE in PostgreSQL). */
function matchesSql(db: TenantDb, terms: string[]): Sql {
  const match = matchQuery(db, terms);
  if (db.dialect === 'sqlite') {
    return sql`(SELECT rowid AS match_rowid FROM videos_fts WHERE videos_fts MATCH ${match}) m
               JOIN videos v ON v.rowid = m.match_rowid AND v.source_id = ${db.sourceId}`;
  }
  return sql`videos v WHERE v.source_id = ${db.sourceId} AND v.search_tsv @@ to_tsquery('simple', ${match})`;
}

/** What a search page reads besides the items' ids and order: their meta, and only some columns (see PageFields). */
export interface SearchRead {
  withMeta: boolean;
  fields?: PageFields;
}

/**
 * The select list and meta join around a page's rows `v` (a subquery that keeps every videos column and its order
 * keys): the columns asked for, and the meta of the page's rows only, joined after its LIMIT.
 */
function pageOutput(read: SearchRead): { columns: Sql; metaJoin: Sql } {
  const items = read.fields ? itemColumnsOf(read.fields.item) : ITEM_COLUMNS;
  if (!read.withMeta) return { columns: items, metaJoin: empty };
  const meta = read.fields?.meta ? joinedMetaColumnsOf(read.fields.meta) : JOINED_META_COLUMNS;
  return {
    columns: sql`${items}, ${meta}`,
    metaJoin: sql`LEFT JOIN user_meta m ON m.source_id = v.source_id AND m.video_id = v.id`,
  };
}

/**
 * A page of the ranked window: the newest RANKED_MATCHES matches, most relevant first, ties newest first, each
 * row with `window_size` (how many matches the window holds: fewer than RANKED_MATCHES means all of them).
 */
function rankedWindowSql(db: TenantDb, terms: string[], page: { limit: number; offset: number }, read: SearchRead, amongNewest?: number): Sql {
  const match = matchQuery(db, terms);
  const { columns, metaJoin } = pageOutput(read);
  if (db.dialect === 'sqlite') {
    // bm25() may only be called in a plain query over the FTS table, hence the innermost select.
    return sql`
      SELECT ${columns}, v.window_size
        FROM (SELECT w.*, count(*) OVER () AS window_size
                FROM (SELECT v.*, m.score
                        FROM (SELECT rowid AS match_rowid, bm25(videos_fts) AS score FROM videos_fts WHERE videos_fts MATCH ${match}) m
                        JOIN videos v ON v.rowid = m.match_rowid AND v.source_id = ${db.sourceId}
                       ORDER BY v.updated_at DESC, v.id
                       LIMIT ${RANKED_MATCHES}) w
               ORDER BY w.score, w.updated_at DESC, w.id
               LIMIT ${page.limit} OFFSET ${page.offset}) v
        ${metaJoin}
       ORDER BY v.score, v.updated_at DESC, v.id`;
  }
  // The inner LIMIT lets PostgreSQL walk videos_updated_at_idx and stop at the window's last match when the
  // words are frequent, or collect the few matches from the GIN index when they are rare. ts_rank runs on the
  // window's rows only, outside it; it grows with relevance, bm25() shrinks with it, hence DESC here.
  // `amongNewest` looks only at that many of the newest items, always by walking the index.
  // The walk reads only what the index videos_updated_at_idx holds (its key and, since migration 007, search_tsv):
  // PostgreSQL can then match and rank without visiting the table, and fetches whole rows for the page alone.
  const candidates =
    amongNewest === undefined
      ? sql`videos v`
      : sql`(SELECT v.source_id, v.id, v.updated_at, v.search_tsv FROM videos v WHERE v.source_id = ${db.sourceId}
              ORDER BY v.updated_at DESC, v.id LIMIT ${amongNewest}) v`;
  return sql`
    SELECT ${columns}, p.window_size
      FROM (SELECT w.id, w.updated_at, count(*) OVER () AS window_size, ts_rank(w.search_tsv, to_tsquery('simple', ${match})) AS rank
              FROM (SELECT v.id, v.updated_at, v.search_tsv
                      FROM ${candidates}
                     WHERE v.source_id = ${db.sourceId} AND v.search_tsv @@ to_tsquery('simple', ${match})
                     ORDER BY v.updated_at DESC, v.id
                     LIMIT ${RANKED_MATCHES}) w
             ORDER BY rank DESC, w.updated_at DESC, w.id
             LIMIT ${page.limit} OFFSET ${page.offset}) p
      JOIN videos v ON v.source_id = ${db.sourceId} AND v.id = p.id
      ${metaJoin}
     ORDER BY p.rank DESC, p.updated_at DESC, p.id`;
}

/** Matches after the window, in the RECENT order; `offset` counts from the first match, so it is ≥ RANKED_MATCHES. */
function recentTailSql(db: TenantDb, terms: string[], page: { limit: number; offset: number }, read: SearchRead): Sql {
  const { columns, metaJoin } = pageOutput(read);
  if (db.dialect === 'sqlite') {
    return sql`
      SELECT ${columns}
        FROM (SELECT v.*
                FROM ${matchesSql(db, terms)}
               ORDER BY v.updated_at DESC, v.id
               LIMIT ${page.limit} OFFSET ${page.offset}) v
        ${metaJoin}
       ORDER BY v.updated_at DESC, v.id`;
  }
  // As the window: the walk stays in the index, whole rows are fetched for the page.
  return sql`
    SELECT ${columns}
      FROM (SELECT v.id, v.updated_at
              FROM ${matchesSql(db, terms)}
             ORDER BY v.updated_at DESC, v.id
             LIMIT ${page.limit} OFFSET ${page.offset}) p
      JOIN videos v ON v.source_id = ${db.sourceId} AND v.id = p.id
      ${metaJoin}
     ORDER BY p.updated_at DESC, p.id`;
}

/**
 * One page of the full-text order: the window's ranked rows first, then the rest of the matches newest first.
 * A page that crosses the window's end takes from both. Every match has one place in this order, so pages
 * follow on from each other; a later write can move an item into or out of the window, as it moves items of
 * the RECENT order.
 */
async function fullTextPage(
  db: TenantDb,
  terms: string[],
  page: { limit: number; offset: number },
  read: SearchRead,
): Promise<{ items: Item[]; meta: Map<string, ItemMeta | null>; windowSize: number | null }> {
  const fromWindow = Math.max(0, Math.min(page.limit, RANKED_MATCHES - page.offset));
  const fromTail = page.limit - fromWindow;
  const windowPage = { limit: fromWindow, offset: page.offset };
  type Row = ItemRow & Record<string, unknown>;
  const rankedRows = async () => {
    // PostgreSQL estimates words that occur together as if they were independent (13 times too few for
    // "porto car" on 1M items), then reads every match through the GIN index instead of walking the newest
    // items. So for several words, look among the newest items first: when they hold a full window, it is the
    // window; otherwise ask again over all items, having spent one walk of FIRST_LOOK_ITEMS index entries.
    if (db.dialect === 'postgres' && terms.length > 1) {
      const first = await db.all<Row & { window_size: number }>(rankedWindowSql(db, terms, windowPage, read, FIRST_LOOK_ITEMS));
      if (first.length > 0 && Number(first[0].window_size) === RANKED_MATCHES) return first;
    }
    return db.all<Row & { window_size: number }>(rankedWindowSql(db, terms, windowPage, read));
  };
  const [ranked, tail] = await Promise.all([
    fromWindow > 0 ? rankedRows() : [],
    fromTail > 0 ? db.all<Row>(recentTailSql(db, terms, { limit: fromTail, offset: Math.max(page.offset, RANKED_MATCHES) }, read)) : [],
  ]);
  const rows: Row[] = [...ranked, ...tail];
  const meta = new Map<string, ItemMeta | null>();
  if (read.withMeta) for (const row of rows) meta.set(row.id, joinedMeta(row));
  return {
    items: rows.map(itemFromRow),
    meta,
    windowSize: ranked.length > 0 ? Number(ranked[0].window_size) : null,
  };
}

/** How many matches there are, counting at most RANKED_MATCHES of them (the cost of one window). */
async function countUpToWindow(db: TenantDb, terms: string[]): Promise<number> {
  const row = await db.one<{ n: number }>(sql`
    SELECT count(*) AS n FROM (SELECT 1 AS found FROM ${matchesSql(db, terms)} LIMIT ${RANKED_MATCHES}) w`);
  return Number(row?.n ?? 0);
}

async function countAllMatches(db: TenantDb, terms: string[]): Promise<number> {
  const row = await db.one<{ n: number }>(sql`SELECT count(*) AS n FROM ${matchesSql(db, terms)}`);
  return Number(row?.n ?? 0);
}

interface PlanNode {
  'Plan Rows'?: unknown;
  'Distributed Query'?: { Job?: { Tasks?: { 'Remote Plan'?: [[{ Plan?: PlanNode }]] }[] } };
}

/**
 * PostgreSQL's own estimate of the matches (the planner's row estimate from the tsvector statistics, no row
 * read). Close for one word; low for words that occur together, since the planner takes words as independent.
 */
async function estimateMatches(db: TenantDb, terms: string[]): Promise<number | null> {
  const row = await db.one<{ 'QUERY PLAN': unknown }>(sql`EXPLAIN (FORMAT JSON) SELECT 1 AS found FROM ${matchesSql(db, terms)}`);
  const explained = typeof row?.['QUERY PLAN'] === 'string' ? JSON.parse(row['QUERY PLAN']) : row?.['QUERY PLAN'];
  let plan = (explained as [{ Plan?: PlanNode }] | undefined)?.[0]?.Plan;
  // Through a Citus coordinator the estimate is in the plan of the one worker task holding the source's shard;
  // the coordinator's own node carries a placeholder.
  const tasks = plan?.['Distributed Query']?.Job?.Tasks;
  if (tasks) plan = tasks.length === 1 ? tasks[0]['Remote Plan']?.[0]?.[0]?.Plan : undefined;
  const rows = plan?.['Plan Rows'];
  return typeof rows === 'number' && Number.isFinite(rows) ? Math.round(rows) : null;
}

/**
 * The count of a full-text search. Exact whenever the page itself shows it (a window that is not full holds
 * every match; a page that ends early ends at the last match); otherwise SQLite counts and PostgreSQL estimates,
 * unless the estimate contradicts what the page proved (at least RANKED_MATCHES, at least the rows up to this
 * page, at most the offset of an empty page past the end).
 */
async function fullTextCount(
  db: TenantDb,
  terms: string[],
  page: { limit: number; offset: number },
  found: { items: Item[]; windowSize: number | null; upToWindow?: number },
): Promise<SearchCount> {
  if (found.windowSize !== null && found.windowSize < RANKED_MATCHES) return { totalCount: found.windowSize, isEstimate: false };
  if (found.upToWindow !== undefined && found.upToWindow < RANKED_MATCHES) return { totalCount: found.upToWindow, isEstimate: false };
  if (found.items.length > 0 && found.items.length < page.limit) return { totalCount: page.offset + found.items.length, isEstimate: false };
  if (db.dialect === 'sqlite') return { totalCount: await countAllMatches(db, terms), isEstimate: false };
  // A full page proves the matches up to its end; an empty page past the end proves at most `offset` of them.
  const shown = found.items.length > 0;
  const atLeast = Math.max(RANKED_MATCHES, shown ? page.offset + found.items.length : 0);
  const atMost = shown ? Number.POSITIVE_INFINITY : page.offset;
  const estimate = await estimateMatches(db, terms);
  if (estimate !== null && estimate >= atLeast && estimate <= atMost) return { totalCount: estimate, isEstimate: true };
  // An estimate the pages contradict comes from statistics that do not describe the words (a source whose
  // vectors hold fewer than a hundred frequent lexemes gets a fixed 2% for a prefix): count instead.
  return { totalCount: await countAllMatches(db, terms), isEstimate: false };
}

function once<T>(compute: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | null = null;
  return () => (result ??= compute());
}

/**
 * Full text (FTS5 in SQLite, tsvector in PostgreSQL) ranks the newest RANKED_MATCHES matches by relevance
 * (BM25 in SQLite, ts_rank in PostgreSQL; ties newest first), then lists the other matches newest first. When
 * the full text finds nothing, a case-insensitive substring match over caption, author handle, author name and
 * id, newest first; an empty query lists bookmarked items first.
 */
export async function searchItems(
  db: TenantDb,
  query: string,
  page: { limit: number; offset: number },
  read: SearchRead = { withMeta: false },
): Promise<SearchPage> {
  const terms = searchTerms(query);
  if (query.trim() === '') {
    const found = await listItemsWithMeta(db, {}, 'BOOKMARKED', page, read.withMeta, read.fields);
    return { mode: 'BOOKMARKED_FIRST', ...found, count: once(async () => ({ totalCount: await countItems(db, {}), isEstimate: false })) };
  }
  if (terms.length > 0) {
    const found: { items: Item[]; meta: Map<string, ItemMeta | null>; windowSize: number | null; upToWindow?: number } = await fullTextPage(db, terms, page, read);
    const count = once(() => fullTextCount(db, terms, page, found));
    if (found.items.length > 0) return { mode: 'FULL_TEXT', items: found.items, meta: found.meta, count };
    // An empty page past the first is FULL_TEXT only when the full text matches at all; otherwise the first
    // page was a substring fallback and later pages must be too (they used to come back empty, mode FULL_TEXT).
    if (page.offset > 0) {
      found.upToWindow = await countUpToWindow(db, terms);
      if (found.upToWindow > 0) return { mode: 'FULL_TEXT', items: [], meta: found.meta, count };
    }
  }
  const filter = { q: query };
  const found = await listItemsWithMeta(db, filter, 'RECENT', page, read.withMeta, read.fields);
  return { mode: 'SUBSTRING', ...found, count: once(async () => ({ totalCount: await countItems(db, filter), isEstimate: false })) };
}
