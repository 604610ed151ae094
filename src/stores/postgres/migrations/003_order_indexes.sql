-- The author filter pages in the default order, and the bookmarked order sorts by four columns. Indexes that
-- hold those orders let a page stop at its last row instead of sorting every match (EXPLAIN on 1M rows showed
-- the author filter walking the whole updated_at index for a rare author, and the bookmarked order sorting all).
CREATE INDEX IF NOT EXISTS videos_author_recent_idx ON videos (source_id, author_unique_id, updated_at DESC, id);
DROP INDEX IF EXISTS videos_author_unique_id_idx;
CREATE INDEX IF NOT EXISTS videos_bookmarked_order_idx
  ON videos (source_id, bookmarked DESC, bookmark_timestamp DESC NULLS LAST, updated_at DESC, id);
DROP INDEX IF EXISTS videos_bookmarked_idx;
