-- What the last import merged for each item, as a digest: the row's JSON as staged, its csv_row_hash, and the
-- author and bookmark fields the import compares. A re-import whose row has the same digest would change nothing
-- (the verdict "skipped", the same raw row), so it skips that row with one join against this narrow table instead
-- of comparing it with `videos` and parsing its JSON for `csv_consolidated_raw`. A missing digest only means
-- "compare in full". Derived data: not one of the copied or checksummed tables, and absent from the SQLite layout.
-- Two 64-bit hashes with different seeds: a changed row passes for unchanged only if both collide.
CREATE TABLE IF NOT EXISTS import_row_digests (
  source_id text   NOT NULL,
  video_id  text   COLLATE "C" NOT NULL,
  digest_a  bigint NOT NULL,
  digest_b  bigint NOT NULL,
  PRIMARY KEY (source_id, video_id)
);
-- The foreign key is here for its cascade: a copy that replaces a source's rows (cutover, mirror) deletes them
-- from `videos`, and their digests go with them instead of describing rows that are no longer stored. NOT VALID
-- because the import writes a digest only for a row it has just written or compared, in the same transaction, so
-- checking the existing rows adds nothing; new rows are checked all the same. It also lets the first import of a
-- large source put the constraint back after loading without reading all of `videos` again (about 3.5 s of
-- CPU for a million rows).
ALTER TABLE import_row_digests DROP CONSTRAINT IF EXISTS import_row_digests_video_fkey;
ALTER TABLE import_row_digests ADD CONSTRAINT import_row_digests_video_fkey
  FOREIGN KEY (source_id, video_id) REFERENCES videos (source_id, id) ON DELETE CASCADE NOT VALID;
