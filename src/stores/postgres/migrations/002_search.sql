-- Full-text search: the original matched nothing in SQLite and was case-sensitive LIKE here. A generated
-- tsvector with the 'simple' configuration folds case without stemming, so handles and names match as typed.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS search_tsv tsvector GENERATED ALWAYS AS (
  to_tsvector('simple',
    coalesce(caption, '') || ' ' || coalesce(author_unique_id, '') || ' ' ||
    coalesce(replace(author_unique_id, '.', ' '), '') || ' ' || coalesce(author_name, ''))
) STORED;
CREATE INDEX IF NOT EXISTS videos_search_tsv_idx ON videos USING gin (search_tsv);
