import sql from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';

/**
 * The newest item's updated_at, '' for a source without items: what a recorded count is checked against. One probe
 * of videos_updated_at_idx in both stores.
 */
const newestUpdatedAt = (db: TenantDb) => sql`(SELECT coalesce(max(n.updated_at), '') FROM videos n WHERE n.source_id = ${db.sourceId})`;

/** item_counts came with migration 006; SQLite's layout always has it. */
const ITEM_COUNTS_VERSION = 6;
const hasItemCounts = (db: TenantDb) => db.layoutVersion === undefined || (db.layoutVersion ?? 0) >= ITEM_COUNTS_VERSION;

const countAll = async (db: TenantDb) =>
  Number((await db.one<{ n: number }>(sql`SELECT count(*) AS n FROM videos v WHERE v.source_id = ${db.sourceId}`))?.n ?? 0);

/**
 * Counts the source's items and records the count (item_counts), in the caller's transaction. Whatever writes or
 * removes rows of `videos` calls it before it commits: the import at the end of its merge, a copy that replaces the
 * source's rows. It counts rather than adds up what was written, so it is exact whatever the writer did.
 */
export async function recordItemCount(db: TenantDb): Promise<number> {
  if (!hasItemCounts(db)) return countAll(db);
  const row = await db.one<{ items: number }>(sql`
    INSERT INTO item_counts (source_id, items, newest_updated_at)
    SELECT ${db.sourceId}, count(*), ${newestUpdatedAt(db)}
      FROM videos v
     WHERE v.source_id = ${db.sourceId}
    ON CONFLICT (source_id) DO UPDATE SET items = excluded.items, newest_updated_at = excluded.newest_updated_at
    RETURNING items`);
  return Number(row?.items ?? 0);
}

/**
 * Every item of the source: the recorded count while the newest item is still the one it was recorded with (every
 * import stamps the rows it writes with its own time), otherwise, or without a record, counted.
 */
export async function allItemsCount(db: TenantDb): Promise<number> {
  if (!hasItemCounts(db)) return countAll(db);
  const row = await db.one<{ n: number }>(sql`
    SELECT coalesce(
             (SELECT c.items FROM item_counts c WHERE c.source_id = ${db.sourceId} AND c.newest_updated_at = ${newestUpdatedAt(db)}),
             (SELECT count(*) FROM videos v WHERE v.source_id = ${db.sourceId})) AS n`);
  return Number(row?.n ?? 0);
}
