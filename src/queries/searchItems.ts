import sql, { type Sql } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';
import { ITEM_COLUMNS, itemFromRow, type Item, type ItemRow } from './itemRows.js';
import { countItems, listItems } from './listItems.js';

export type SearchMode = 'FULL_TEXT' | 'SUBSTRING' | 'BOOKMARKED_FIRST';

export interface SearchPage {
  mode: SearchMode;
  items: Item[];
  totalCount: number;
}

/** Words of the query, lower-cased, with every character the engines treat as syntax removed. */
export function searchTerms(query: string): string[] {
  return query
    .toLowerCase()
    .split(/[^\p{L}\p{N}_]+/u)
    .filter((term) => term.length > 0)
    .slice(0, 16);
}

/** FROM clause yielding `v` (videos) and `score` (lower is better), already scoped to the source. */
function matchSql(db: TenantDb, terms: string[]): Sql {
  if (db.dialect === 'sqlite') {
    // Each term as a quoted prefix: "cook"* matches cooking; the terms are ANDed. bm25() may only be called in
    // a plain query over the FTS table, hence the inner select.
    const match = terms.map((t) => `"${t}"*`).join(' ');
    return sql`(SELECT rowid AS match_rowid, bm25(videos_fts) AS score FROM videos_fts WHERE videos_fts MATCH ${match}) m
               JOIN videos v ON v.rowid = m.match_rowid AND v.source_id = ${db.sourceId}`;
  }
  const tsquery = terms.map((t) => `'${t}':*`).join(' & ');
  // ts_rank grows with relevance, bm25() shrinks with it; negate so both sort ascending.
  return sql`(SELECT v.*, -ts_rank(v.search_tsv, q.query) AS score
                FROM videos v, to_tsquery('simple', ${tsquery}) AS q(query)
               WHERE v.source_id = ${db.sourceId} AND v.search_tsv @@ q.query) v`;
}

/**
 * Ranked full text (FTS5 BM25 in SQLite, tsvector in PostgreSQL); when that finds nothing, a case-insensitive
 * substring match over caption, author handle, author name and id; an empty query lists bookmarked items first.
 */
export async function searchItems(db: TenantDb, query: string, page: { limit: number; offset: number }): Promise<SearchPage> {
  const terms = searchTerms(query);
  if (query.trim() === '') {
    const [items, totalCount] = await Promise.all([
      listItems(db, {}, 'BOOKMARKED', page),
      countItems(db, {}),
    ]);
    return { mode: 'BOOKMARKED_FIRST', items, totalCount };
  }
  if (terms.length > 0) {
    const from = matchSql(db, terms);
    const rows = await db.all<ItemRow & { total: number }>(sql`
      SELECT ${ITEM_COLUMNS}, count(*) OVER () AS total
        FROM ${from}
       ORDER BY score, v.id
       LIMIT ${page.limit} OFFSET ${page.offset}`);
    if (rows.length > 0) {
      return { mode: 'FULL_TEXT', items: rows.map(itemFromRow), totalCount: Number(rows[0].total) };
    }
    // An empty page past the first is FULL_TEXT only when the full text matches at all; otherwise the first
    // page was a substring fallback and later pages must be too (they used to come back empty, mode FULL_TEXT).
    if (page.offset > 0) {
      const totalCount = await countMatches(db, from);
      if (totalCount > 0) return { mode: 'FULL_TEXT', items: [], totalCount };
    }
  }
  const filter = { q: query };
  const [items, totalCount] = await Promise.all([listItems(db, filter, 'RECENT', page), countItems(db, filter)]);
  return { mode: 'SUBSTRING', items, totalCount };
}

async function countMatches(db: TenantDb, from: Sql): Promise<number> {
  const row = await db.one<{ n: number }>(sql`SELECT count(*) AS n FROM ${from}`);
  return Number(row?.n ?? 0);
}
