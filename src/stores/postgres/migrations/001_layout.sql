-- Tenant layout, run with search_path = <schema>, public. Tables keep the original's source_id column so the
-- same statements serve both stores and a row always names its tenant, whatever schema it sits in.
-- Ordered text columns use the "C" collation so both stores sort byte-wise and the indexes serve the ORDER BYs.
CREATE TABLE IF NOT EXISTS videos (
  source_id          text    NOT NULL,
  id                 text    COLLATE "C" NOT NULL,
  platform           text,
  author_id          text,
  author_unique_id   text    COLLATE "C",
  author_name        text,
  followers          bigint,
  hearts             bigint,
  videos_count       bigint,
  signature          text,
  is_private         integer CHECK (is_private IN (0, 1)),
  caption            text,
  bookmarked         integer NOT NULL DEFAULT 0 CHECK (bookmarked IN (0, 1)),
  bookmark_timestamp text    COLLATE "C",
  video_path         text,
  cover_path         text,
  csv_row_hash       text,
  updated_at         text    COLLATE "C" NOT NULL,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE IF NOT EXISTS user_meta (
  source_id        text    NOT NULL,
  video_id         text    COLLATE "C" NOT NULL,
  rating           integer CHECK (rating BETWEEN 0 AND 5),
  status           text    COLLATE "C",
  statuses         text,
  tags             text,
  notes            text,
  product_link     text,
  author_links     text,
  platform_targets text,
  workflow_log     text,
  post_url         text,
  published_time   text,
  updated_at       text    NOT NULL,
  PRIMARY KEY (source_id, video_id),
  FOREIGN KEY (source_id, video_id) REFERENCES videos (source_id, id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS video_notes (
  source_id        text NOT NULL,
  video_id         text COLLATE "C" NOT NULL,
  markdown         text NOT NULL,
  template_version text NOT NULL,
  updated_at       text NOT NULL,
  PRIMARY KEY (source_id, video_id),
  FOREIGN KEY (source_id, video_id) REFERENCES videos (source_id, id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS csv_consolidated_raw (
  source_id    text  NOT NULL,
  video_id     text  COLLATE "C" NOT NULL,
  row_json     jsonb NOT NULL,
  csv_row_hash text,
  imported_at  text  NOT NULL,
  PRIMARY KEY (source_id, video_id)
);

CREATE TABLE IF NOT EXISTS csv_authors_raw (
  source_id   text  NOT NULL,
  author_id   text  COLLATE "C" NOT NULL,
  row_json    jsonb NOT NULL,
  imported_at text  NOT NULL,
  PRIMARY KEY (source_id, author_id)
);

CREATE TABLE IF NOT EXISTS csv_bookmarks_raw (
  source_id   text  NOT NULL,
  video_id    text  COLLATE "C" NOT NULL,
  row_json    jsonb NOT NULL,
  imported_at text  NOT NULL,
  PRIMARY KEY (source_id, video_id)
);

CREATE TABLE IF NOT EXISTS scheduling_artifacts (
  source_id    text NOT NULL,
  id           text NOT NULL,
  video_id     text,
  kind         text,
  payload_json jsonb,
  created_at   text NOT NULL,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE IF NOT EXISTS job_queue (
  id           bigserial PRIMARY KEY,
  source_id    text NOT NULL,
  kind         text NOT NULL,
  payload_json jsonb,
  status       text NOT NULL DEFAULT 'queued',
  created_at   text NOT NULL,
  updated_at   text NOT NULL
);

CREATE INDEX IF NOT EXISTS videos_updated_at_idx ON videos (source_id, updated_at DESC, id);
CREATE INDEX IF NOT EXISTS videos_author_unique_id_idx ON videos (source_id, author_unique_id, id);
CREATE INDEX IF NOT EXISTS videos_bookmarked_idx ON videos (source_id, bookmarked, bookmark_timestamp DESC);
CREATE INDEX IF NOT EXISTS user_meta_status_idx ON user_meta (source_id, status);
CREATE INDEX IF NOT EXISTS user_meta_statuses_idx ON user_meta (source_id, statuses);
CREATE INDEX IF NOT EXISTS csv_consolidated_raw_hash_idx ON csv_consolidated_raw (csv_row_hash);
