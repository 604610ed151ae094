import sql, { raw, type Sql } from 'sql-template-tag';
import type { Dialect, TenantDb } from '../interfaces.js';
import { containsPattern } from './dialect.js';

export const AUTHOR_ORDERS = ['COUNT', 'BOOKMARKED', 'NAME'] as const;
export type AuthorOrder = (typeof AUTHOR_ORDERS)[number];

export interface AuthorSummary {
  authorId: string | null;
  authorUniqueId: string | null;
  authorName: string | null;
  itemsCount: number;
  bookmarkedCount: number;
}

// lower(author_name) is a computed value, so it does not inherit the "C" collation of the PostgreSQL columns;
// both stores sort it byte-wise only when told (BINARY is SQLite's name for it).
const ORDER_BY = (dialect: Dialect): Record<AuthorOrder, Sql> => ({
  COUNT: raw('items_count DESC, author_unique_id ASC NULLS LAST, author_id'),
  BOOKMARKED: raw('bookmarked_count DESC, items_count DESC, author_unique_id ASC NULLS LAST, author_id'),
  NAME: raw(
    `lower(author_name) COLLATE ${dialect === 'postgres' ? '"C"' : 'BINARY'} ASC NULLS LAST, author_unique_id ASC NULLS LAST, author_id`,
  ),
});

function authorConditions(db: TenantDb, filter: { q?: string | null; bookmarkedOnly?: boolean | null }): Sql {
  const parts: Sql[] = [sql`v.source_id = ${db.sourceId}`];
  const q = filter.q?.trim();
  if (q) {
    const p = containsPattern(q);
    // lower(author_id) like the other two: the pattern is lower-cased, and PostgreSQL's LIKE is case-sensitive,
    // so a mixed-case author id ("A9") was found by SQLite but never by PostgreSQL.
    parts.push(sql`(lower(v.author_unique_id) LIKE ${p} ESCAPE '\\' OR lower(v.author_name) LIKE ${p} ESCAPE '\\' OR lower(v.author_id) LIKE ${p} ESCAPE '\\')`);
  }
  if (filter.bookmarkedOnly) parts.push(sql`v.bookmarked = 1`);
  return parts.reduce((all, part) => sql`${all} AND ${part}`);
}

/** Items grouped by author (the original groups by handle, and by author id when an item has no handle). */
export async function listAuthors(
  db: TenantDb,
  filter: { q?: string | null; bookmarkedOnly?: boolean | null },
  order: AuthorOrder,
  page: { limit: number; offset: number },
): Promise<{ authors: AuthorSummary[]; totalCount: number }> {
  const rows = await db.all<{
    author_id: string | null;
    author_unique_id: string | null;
    author_name: string | null;
    items_count: number;
    bookmarked_count: number;
    total: number;
  }>(sql`
    SELECT author_id, author_unique_id, author_name, items_count, bookmarked_count, count(*) OVER () AS total
      FROM (SELECT max(v.author_id) AS author_id,
                   v.author_unique_id,
                   max(v.author_name) AS author_name,
                   count(*) AS items_count,
                   sum(CASE WHEN v.bookmarked = 1 THEN 1 ELSE 0 END) AS bookmarked_count
              FROM videos v
             WHERE ${authorConditions(db, filter)}
             GROUP BY v.author_unique_id, CASE WHEN v.author_unique_id IS NULL THEN v.author_id END) grouped
     ORDER BY ${ORDER_BY(db.dialect)[order]}
     LIMIT ${page.limit} OFFSET ${page.offset}`);
  return {
    authors: rows.map((r) => ({
      authorId: r.author_id,
      authorUniqueId: r.author_unique_id,
      authorName: r.author_name,
      itemsCount: Number(r.items_count),
      bookmarkedCount: Number(r.bookmarked_count),
    })),
    totalCount: rows.length ? Number(rows[0].total) : 0,
  };
}
