import type { Sql } from 'sql-template-tag';
import { VIDEOS, type RowOf } from '../tables/sourceTables.js';
import { columnList, someColumnList } from './columnLists.js';

/** The videos columns every item read selects, so one mapper serves items, search and item-by-id. */
export const ITEM_COLUMNS = columnList(VIDEOS, 'v');

/** A videos row; `bookmarked` and `updated_at` are NOT NULL in both layouts. */
export type ItemRow = RowOf<typeof VIDEOS> & { bookmarked: number; updated_at: string };

export interface Item {
  id: string;
  platform: string | null;
  authorId: string | null;
  authorUniqueId: string | null;
  authorName: string | null;
  followers: number | null;
  hearts: number | null;
  videosCount: number | null;
  signature: string | null;
  isPrivate: boolean | null;
  caption: string | null;
  bookmarked: boolean;
  bookmarkTimestamp: string | null;
  videoPath: string | null;
  coverPath: string | null;
  csvRowHash: string | null;
  updatedAt: string;
}

/** The videos column each Item property is read from (itemFromRow). */
const COLUMN_OF: { readonly [Field in keyof Item]: keyof ItemRow & string } = {
  id: 'id',
  platform: 'platform',
  authorId: 'author_id',
  authorUniqueId: 'author_unique_id',
  authorName: 'author_name',
  followers: 'followers',
  hearts: 'hearts',
  videosCount: 'videos_count',
  signature: 'signature',
  isPrivate: 'is_private',
  caption: 'caption',
  bookmarked: 'bookmarked',
  bookmarkTimestamp: 'bookmark_timestamp',
  videoPath: 'video_path',
  coverPath: 'cover_path',
  csvRowHash: 'csv_row_hash',
  updatedAt: 'updated_at',
};

export function isItemField(name: string): name is keyof Item {
  return Object.hasOwn(COLUMN_OF, name);
}

/**
 * The columns of some Item properties (`v.a, v.b`), the id always among them. An item read through them holds those
 * properties only: for a reader that uses no other.
 */
export function itemColumnsOf(fields: Iterable<keyof Item>): Sql {
  const columns = new Set<keyof ItemRow & string>(['id']);
  for (const field of fields) columns.add(COLUMN_OF[field]);
  return someColumnList(VIDEOS, 'v', [...columns]);
}

export function itemFromRow(row: ItemRow): Item {
  return {
    id: row.id,
    platform: row.platform,
    authorId: row.author_id,
    authorUniqueId: row.author_unique_id,
    authorName: row.author_name,
    followers: row.followers,
    hearts: row.hearts,
    videosCount: row.videos_count,
    signature: row.signature,
    isPrivate: row.is_private === null ? null : row.is_private === 1,
    caption: row.caption,
    bookmarked: row.bookmarked === 1,
    bookmarkTimestamp: row.bookmark_timestamp,
    videoPath: row.video_path,
    coverPath: row.cover_path,
    csvRowHash: row.csv_row_hash,
    updatedAt: row.updated_at,
  };
}

/** The item under the original's column names, as stored: what the note template and `GET /items/{id}` read. */
export function storedItemRow(item: Item): ItemRow {
  return {
    id: item.id,
    platform: item.platform,
    author_id: item.authorId,
    author_unique_id: item.authorUniqueId,
    author_name: item.authorName,
    followers: item.followers,
    hearts: item.hearts,
    videos_count: item.videosCount,
    signature: item.signature,
    is_private: item.isPrivate === null ? null : item.isPrivate ? 1 : 0,
    caption: item.caption,
    bookmarked: item.bookmarked ? 1 : 0,
    bookmark_timestamp: item.bookmarkTimestamp,
    video_path: item.videoPath,
    cover_path: item.coverPath,
    csv_row_hash: item.csvRowHash,
    updated_at: item.updatedAt,
  };
}
