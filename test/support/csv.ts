/** Builds small CSV exports for tests, quoting like a spreadsheet export does. */
export function csv(header: string[], rows: (string | number | null)[][], eol = '\n'): string {
  const cell = (value: string | number | null) => {
    const text = value === null ? '' : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(cell).join(',')).join(eol) + eol;
}

export const CONSOLIDATED_HEADER = ['c_videos_id', 'c_videos_authorid', 'c_authors_uniqueids', 'c_authors_nicknames', 'c_texts_text_content', 'csv_row_hash'];
export const AUTHORS_HEADER = ['authors_id', 'authors_uniqueids', 'authors_nicknames', 'authors_followercount', 'authors_heartcount', 'authors_videocount', 'authors_signature', 'authors_privateaccount'];
export const BOOKMARKS_HEADER = ['bookmarks_bookmark_id', 'bookmarks_timestamp'];

/** `count` videos with ids v1..vN for one source, captions naming the source so a foreign row is visible. */
export function libraryCsv(sourceTag: string, count: number, hash = 'h1'): string {
  const rows = Array.from({ length: count }, (_, i) => [
    `v${i + 1}`,
    `a${(i % 3) + 1}`,
    `author${(i % 3) + 1}`,
    `Author ${(i % 3) + 1}`,
    `caption of ${sourceTag} number ${i + 1}`,
    `${hash}-${i + 1}`,
  ]);
  return csv(CONSOLIDATED_HEADER, rows);
}
