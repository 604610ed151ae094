-- The full-text search walks the newest items through videos_updated_at_idx and tests each one's search_tsv
-- until it has its window of 500 matches (searchItems.ts): for a word in 3% of 1M items that is about 18,000
-- items, each one a visit to the table for its vector. With search_tsv carried in the index (INCLUDE: not a key,
-- so the order is the same), the walk matches and ranks from the index alone and fetches whole rows for the page
-- only. Measured on 1M items, one word in 3% of captions, pgbench with 8 clients on 2 cores, table vacuumed:
--   the walk of 500 matches: 129 → 376 statements/s; the search page with its meta: 117 → 286 statements/s.
-- The index grows from 75 MB to 334 MB on 1M items and takes 3.9 s to build instead of 2.2 s; the items list
-- (RECENT order) uses it as before. The walk skips the table only for pages the visibility map marks all-visible
-- (after a vacuum: autovacuum follows a large import by itself); elsewhere it reads the table as before.
-- Rebuilt under the same name, so plans and documents that name it stay right.
DROP INDEX IF EXISTS videos_updated_at_idx;
CREATE INDEX videos_updated_at_idx ON videos (source_id, updated_at DESC, id) INCLUDE (search_tsv);
