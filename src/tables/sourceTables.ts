/**
 * How a column's value is written into the checksum, so that the same data gives the same text in both stores:
 * - `text`: as stored. Timestamps (updated_at, imported_at, bookmark_timestamp …) are TEXT in both layouts and
 *   hold ISO-8601 strings the gateway wrote or the CSV carried; they are compared as that text, not reparsed.
 * - `integer`: decimal text. PostgreSQL's bigint arrives as a number (the pool's INT8 parser), SQLite's INTEGER as
 *   a number; the flags (bookmarked, is_private) are integers 0/1 in both, never booleans.
 * - `json`: canonical JSON (keys sorted at every level, no whitespace). PostgreSQL's jsonb arrives parsed and has
 *   already dropped duplicate keys and reordered the rest; SQLite's TEXT is parsed here the same way.
 */
export type ColumnKind = 'text' | 'integer' | 'json';

export interface SourceTable {
  readonly table: string;
  /** The primary key within a source (both layouts also key every table by source_id, which is left out). */
  readonly key: string;
  /** Every column but source_id, in the order they are hashed. */
  readonly columns: Readonly<Record<string, ColumnKind>>;
}

/** A table whose column names and kinds are known to the type checker. */
export interface DefinedTable<Columns extends Readonly<Record<string, ColumnKind>>, Key extends keyof Columns & string = keyof Columns & string>
  extends SourceTable {
  readonly key: Key;
  readonly columns: Columns;
}

/** The value a column holds when read: text and integer columns may be NULL, JSON arrives parsed (or as text). */
type ValueOf<Kind extends ColumnKind> = Kind extends 'integer' ? number | null : Kind extends 'json' ? unknown : string | null;

/** A row of the table as a driver returns it (snake_case names), its key never NULL. */
export type RowOf<Table extends SourceTable> = {
  -readonly [Name in keyof Table['columns']]: Name extends Table['key'] ? string : ValueOf<Table['columns'][Name]>;
};

/**
 * One table's columns, written once: the checksum, the copy, the row types and the column lists of the queries are
 * derived from it. The DDL stays in each layout's SQL files, which the migration tests compare with this.
 */
function defineTable<const Columns extends Readonly<Record<string, ColumnKind>>, const Key extends keyof Columns & string>(
  table: string,
  key: Key,
  columns: Columns,
): DefinedTable<Columns, Key> {
  return { table, key, columns };
}

/** The column names of a table, in definition order. */
export function columnNames<Table extends SourceTable>(table: Table): (keyof Table['columns'] & string)[] {
  return Object.keys(table.columns) as (keyof Table['columns'] & string)[];
}

export const VIDEOS = defineTable('videos', 'id', {
  id: 'text', platform: 'text', author_id: 'text', author_unique_id: 'text', author_name: 'text',
  followers: 'integer', hearts: 'integer', videos_count: 'integer', signature: 'text', is_private: 'integer',
  caption: 'text', bookmarked: 'integer', bookmark_timestamp: 'text', video_path: 'text', cover_path: 'text',
  csv_row_hash: 'text', updated_at: 'text',
});

export const USER_META = defineTable('user_meta', 'video_id', {
  video_id: 'text', rating: 'integer', status: 'text', statuses: 'text', tags: 'text', notes: 'text',
  product_link: 'text', author_links: 'text', platform_targets: 'text', workflow_log: 'text', post_url: 'text',
  published_time: 'text', updated_at: 'text',
});

export const VIDEO_NOTES = defineTable('video_notes', 'video_id', {
  video_id: 'text', markdown: 'text', template_version: 'text', updated_at: 'text',
});

/**
 * Every table that holds a source's rows, in both layouts (the PostgreSQL migrations and the SQLite layout).
 * Derived data is left out: PostgreSQL's generated `videos.search_tsv` and SQLite's `videos_fts` index are
 * rebuilt from the columns hashed here.
 */
export const SOURCE_TABLES: readonly SourceTable[] = [
  VIDEOS,
  USER_META,
  VIDEO_NOTES,
  {
    table: 'csv_consolidated_raw',
    key: 'video_id',
    columns: { video_id: 'text', row_json: 'json', csv_row_hash: 'text', imported_at: 'text' },
  },
  {
    table: 'csv_authors_raw',
    key: 'author_id',
    columns: { author_id: 'text', row_json: 'json', imported_at: 'text' },
  },
  {
    table: 'csv_bookmarks_raw',
    key: 'video_id',
    columns: { video_id: 'text', row_json: 'json', imported_at: 'text' },
  },
  {
    table: 'scheduling_artifacts',
    key: 'id',
    columns: { id: 'text', video_id: 'text', kind: 'text', payload_json: 'json', created_at: 'text' },
  },
  {
    // The one table whose rows the two stores cannot agree on by themselves: its id comes from PostgreSQL's
    // per-schema sequence, or from SQLite's AUTOINCREMENT counter, which all sources of the file share. Equal
    // checksums need the ids to have been copied, not generated (a cutover copies them).
    table: 'job_queue',
    key: 'id',
    columns: { id: 'integer', kind: 'text', payload_json: 'json', status: 'text', created_at: 'text', updated_at: 'text' },
  },
];

