import { raw } from 'sql-template-tag';

/** The videos columns every item read selects, so one mapper serves items, search and item-by-id. */
export const ITEM_COLUMNS = raw(
  `v.id, v.platform, v.author_id, v.author_unique_id, v.author_name, v.followers, v.hearts, v.videos_count,
   v.signature, v.is_private, v.caption, v.bookmarked, v.bookmark_timestamp, v.video_path, v.cover_path,
   v.csv_row_hash, v.updated_at`,
);

export interface ItemRow {
  id: string;
  platform: string | null;
  author_id: string | null;
  author_unique_id: string | null;
  author_name: string | null;
  followers: number | null;
  hearts: number | null;
  videos_count: number | null;
  signature: string | null;
  is_private: number | null;
  caption: string | null;
  bookmarked: number;
  bookmark_timestamp: string | null;
  video_path: string | null;
  cover_path: string | null;
  csv_row_hash: string | null;
  updated_at: string;
}

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
