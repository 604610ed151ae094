import sql from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';

export interface SourceStats {
  items: number;
  bookmarked: number;
  authors: number;
  lastUpdatedAt: string | null;
  searchIndex: { engine: string; indexedItems: number | null; ready: boolean };
}

export async function sourceStats(db: TenantDb): Promise<SourceStats> {
  const row = (await db.one<{ items: number; bookmarked: number; authors: number; last: string | null }>(sql`
    SELECT count(*) AS items,
           coalesce(sum(CASE WHEN v.bookmarked = 1 THEN 1 ELSE 0 END), 0) AS bookmarked,
           count(DISTINCT coalesce(v.author_unique_id, v.author_id)) AS authors,
           max(v.updated_at) AS last
      FROM videos v
     WHERE v.source_id = ${db.sourceId}`))!;
  const items = Number(row.items);
  let searchIndex: SourceStats['searchIndex'];
  if (db.dialect === 'sqlite') {
    // The FTS index is shared by all sources of the file; count this source's documents through the join.
    const fts = await db.one<{ n: number }>(sql`
      SELECT count(*) AS n FROM videos_fts_docsize d JOIN videos v ON v.rowid = d.id WHERE v.source_id = ${db.sourceId}`);
    const indexed = Number(fts?.n ?? 0);
    searchIndex = { engine: 'sqlite-fts5', indexedItems: indexed, ready: indexed === items };
  } else {
    const column = await db.one<{ n: number }>(sql`
      SELECT count(*) AS n FROM information_schema.columns
       WHERE table_schema = ${db.schemaName} AND table_name = 'videos' AND column_name = 'search_tsv'`);
    const ready = Number(column?.n ?? 0) > 0;
    searchIndex = { engine: 'postgres-tsvector', indexedItems: ready ? items : 0, ready };
  }
  return {
    items,
    bookmarked: Number(row.bookmarked),
    authors: Number(row.authors),
    lastUpdatedAt: row.last,
    searchIndex,
  };
}
