-- One file holds every source; every table is keyed by source_id (the original's layout).
CREATE TABLE IF NOT EXISTS sources (
  id          TEXT PRIMARY KEY,
  label       TEXT,
  kind        TEXT,
  description TEXT,
  enabled     INTEGER NOT NULL DEFAULT 1,
  is_default  INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  -- Media settings (NULL: the gateway's default); a file from before them gets the columns at start.
  vault_root         TEXT,
  vault_root_windows TEXT,
  data_dir           TEXT,
  path_style         TEXT CHECK (path_style IN ('linux', 'windows')),
  group_prefix       TEXT
);

CREATE TABLE IF NOT EXISTS videos (
  source_id          TEXT    NOT NULL,
  id                 TEXT    NOT NULL,
  platform           TEXT,
  author_id          TEXT,
  author_unique_id   TEXT,
  author_name        TEXT,
  followers          INTEGER,
  hearts             INTEGER,
  videos_count       INTEGER,
  signature          TEXT,
  is_private         INTEGER,
  caption            TEXT,
  bookmarked         INTEGER NOT NULL DEFAULT 0,
  bookmark_timestamp TEXT,
  video_path         TEXT,
  cover_path         TEXT,
  csv_row_hash       TEXT,
  updated_at         TEXT    NOT NULL,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE IF NOT EXISTS user_meta (
  source_id        TEXT NOT NULL,
  video_id         TEXT NOT NULL,
  rating           INTEGER CHECK (rating BETWEEN 0 AND 5),
  status           TEXT,
  statuses         TEXT,
  tags             TEXT,
  notes            TEXT,
  product_link     TEXT,
  author_links     TEXT,
  platform_targets TEXT,
  workflow_log     TEXT,
  post_url         TEXT,
  published_time   TEXT,
  updated_at       TEXT NOT NULL,
  PRIMARY KEY (source_id, video_id),
  FOREIGN KEY (source_id, video_id) REFERENCES videos (source_id, id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS video_notes (
  source_id        TEXT NOT NULL,
  video_id         TEXT NOT NULL,
  markdown         TEXT NOT NULL,
  template_version TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  PRIMARY KEY (source_id, video_id),
  FOREIGN KEY (source_id, video_id) REFERENCES videos (source_id, id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS csv_consolidated_raw (
  source_id    TEXT NOT NULL,
  video_id     TEXT NOT NULL,
  row_json     TEXT NOT NULL,
  csv_row_hash TEXT,
  imported_at  TEXT NOT NULL,
  PRIMARY KEY (source_id, video_id)
);

CREATE TABLE IF NOT EXISTS csv_authors_raw (
  source_id   TEXT NOT NULL,
  author_id   TEXT NOT NULL,
  row_json    TEXT NOT NULL,
  imported_at TEXT NOT NULL,
  PRIMARY KEY (source_id, author_id)
);

CREATE TABLE IF NOT EXISTS csv_bookmarks_raw (
  source_id   TEXT NOT NULL,
  video_id    TEXT NOT NULL,
  row_json    TEXT NOT NULL,
  imported_at TEXT NOT NULL,
  PRIMARY KEY (source_id, video_id)
);

CREATE TABLE IF NOT EXISTS scheduling_artifacts (
  source_id    TEXT NOT NULL,
  id           TEXT NOT NULL,
  video_id     TEXT,
  kind         TEXT,
  payload_json TEXT,
  created_at   TEXT NOT NULL,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE IF NOT EXISTS job_queue (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  source_id    TEXT NOT NULL,
  kind         TEXT NOT NULL,
  payload_json TEXT,
  status       TEXT NOT NULL DEFAULT 'queued',
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);

-- PostgreSQL's migration 006: the exact item count of a source, recorded with the newest updated_at it saw.
CREATE TABLE IF NOT EXISTS item_counts (
  source_id         TEXT    PRIMARY KEY,
  items             INTEGER NOT NULL,
  newest_updated_at TEXT    NOT NULL
);

CREATE INDEX IF NOT EXISTS videos_updated_at_idx ON videos (source_id, updated_at DESC, id);
-- Same orders as PostgreSQL's migration 003: the author filter pages by recency, the bookmarked order by four columns.
CREATE INDEX IF NOT EXISTS videos_author_recent_idx ON videos (source_id, author_unique_id, updated_at DESC, id);
DROP INDEX IF EXISTS videos_author_unique_id_idx;
-- PostgreSQL's migration 004: the authorIds filter walked videos_updated_at_idx (161 ms for a page of one
-- author among 5,000 on 300k rows; 0.03 ms with this index).
CREATE INDEX IF NOT EXISTS videos_author_id_recent_idx ON videos (source_id, author_id, updated_at DESC, id);
-- SQLite sorts NULL lowest, so DESC already puts it last (and refuses NULLS LAST in an index).
CREATE INDEX IF NOT EXISTS videos_bookmarked_order_idx
  ON videos (source_id, bookmarked DESC, bookmark_timestamp DESC, updated_at DESC, id);
DROP INDEX IF EXISTS videos_bookmarked_idx;
CREATE INDEX IF NOT EXISTS user_meta_status_idx ON user_meta (source_id, status);
CREATE INDEX IF NOT EXISTS user_meta_statuses_idx ON user_meta (source_id, statuses);
CREATE INDEX IF NOT EXISTS csv_consolidated_raw_hash_idx ON csv_consolidated_raw (csv_row_hash);

-- The original declared a contentless FTS5 table and joined it on columns it did not store, so it never
-- matched. An external-content table over videos, kept in step by triggers, stores only the index and
-- reads the text back from videos by rowid.
CREATE VIRTUAL TABLE IF NOT EXISTS videos_fts USING fts5(
  caption, author_unique_id, author_name,
  content = 'videos', content_rowid = 'rowid',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS videos_fts_insert AFTER INSERT ON videos BEGIN
  INSERT INTO videos_fts (rowid, caption, author_unique_id, author_name)
  VALUES (new.rowid, new.caption, new.author_unique_id, new.author_name);
END;
CREATE TRIGGER IF NOT EXISTS videos_fts_delete AFTER DELETE ON videos BEGIN
  INSERT INTO videos_fts (videos_fts, rowid, caption, author_unique_id, author_name)
  VALUES ('delete', old.rowid, old.caption, old.author_unique_id, old.author_name);
END;
CREATE TRIGGER IF NOT EXISTS videos_fts_update AFTER UPDATE OF caption, author_unique_id, author_name ON videos BEGIN
  INSERT INTO videos_fts (videos_fts, rowid, caption, author_unique_id, author_name)
  VALUES ('delete', old.rowid, old.caption, old.author_unique_id, old.author_name);
  INSERT INTO videos_fts (rowid, caption, author_unique_id, author_name)
  VALUES (new.rowid, new.caption, new.author_unique_id, new.author_name);
END;
