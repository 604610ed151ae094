-- The items filter `authorIds` (v.author_id IN (…)) had no index: it is how a client pages the items of an
-- author without a handle, the ones the authors list groups by author id. EXPLAIN ANALYZE on 1M items,
-- 5,000 authors, a page of 51 in the default order:
--   before: Parallel Index Scan using videos_updated_at_idx, Filter: (author_id = '7000123'),
--           Rows Removed by Filter: 171925 (× 3 workers), 232 ms; its totalCount a Parallel Seq Scan on videos, 90 ms
--   after:  Index Scan using videos_author_id_recent_idx, Index Cond: (author_id = '7000123'), 0.4 ms;
--           totalCount an Index Only Scan, 0.1 ms (two ids: 400 rows read and a top-N sort, 2.5 ms)
-- The columns after author_id hold the default order, as videos_author_recent_idx does for the handle (003).
CREATE INDEX IF NOT EXISTS videos_author_id_recent_idx ON videos (source_id, author_id, updated_at DESC, id);
