/**
 * The input of the note renderer: one stored item row joined with its user meta, under the original's
 * snake_case column names, with values exactly as stored (the renderer does every unpacking itself, so
 * a store hands rows over without interpreting them).
 */
export interface NoteItem {
  id: string;
  platform: string | null;
  author_id: string | null;
  author_unique_id: string | null;
  author_name: string | null;
  followers: number | string | null;
  hearts: number | string | null;
  videos_count: number | string | null;
  signature: string | null;
  /** 0/1 as stored; null when unknown. */
  is_private: number | string | boolean | null;
  caption: string | null;
  /** 0/1 as stored. */
  bookmarked: number | string | boolean | null;
  bookmark_timestamp: string | null;
  video_path: string | null;
  cover_path: string | null;
  csv_row_hash: string | null;
  rating: number | null;
  status: string | null;
  /** Packed `|a|b|` as stored; legacy comma text is accepted too. */
  statuses: string | null;
  /** Free text, comma separated, or a JSON array text. */
  tags: string | null;
  notes: string | null;
  product_link: string | null;
  /** JSON array text as stored; comma text is accepted too. */
  author_links: string | null;
  /** JSON array text or comma text. */
  platform_targets: string | null;
  /** JSON array text (items may be objects) or free text. */
  workflow_log: string | null;
  post_url: string | null;
  published_time: string | null;
}

/** A JSON value as the original's `json.loads` returns it, kept as-is in the frontmatter. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

// Python's str.split()/strip() whitespace; JavaScript's \s differs (it has U+FEFF, lacks U+001C–U+001F
// and U+0085), and the original collapses captions and trims handles with Python's rules.
const PYTHON_SPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const EDGE_SPACE = new RegExp(`^[${PYTHON_SPACE}]+|[${PYTHON_SPACE}]+$`, 'g');
const SPACE_RUN = new RegExp(`[${PYTHON_SPACE}]+`);

export function stripSpace(text: string): string {
  return text.replace(EDGE_SPACE, '');
}

/** Every whitespace run becomes one space, ends trimmed (Python's `" ".join(text.split())`). */
export function collapseSpace(text: string): string {
  return text.split(SPACE_RUN).filter((word) => word !== '').join(' ');
}

/** Trimmed text, or null when the value is null or blank. */
export function nonBlankText(value: string | number | null | undefined): string | null {
  if (value == null) return null;
  const text = stripSpace(String(value));
  return text === '' ? null : text;
}

/** The original's flag reading: null when unknown, `0`, `false`, `no`, `n` (any case) are false. */
export function flagOrNull(value: number | string | boolean | null | undefined): boolean | null {
  if (value == null) return null;
  if (typeof value === 'boolean') return value;
  const text = stripSpace(String(value)).toLowerCase();
  if (text === '') return null;
  return !['0', 'false', 'no', 'n'].includes(text);
}

/** Meta statuses: unpacked, trimmed, empties dropped, first occurrence kept; else `[status]`, else `["raw"]`. */
export function statusList(item: Pick<NoteItem, 'status' | 'statuses'>): string[] {
  const packed = item.statuses ?? '';
  const parts = packed.includes('|') ? packed.split('|') : packed.split(',');
  const unpacked = [...new Set(parts.map(stripSpace).filter((part) => part !== ''))];
  if (unpacked.length > 0) return unpacked;
  const single = nonBlankText(item.status);
  return single === null ? ['raw'] : [single];
}

/**
 * A list field (`tags`, `author_links`, `platform_targets`): a JSON array text, else comma-separated
 * text; items trimmed, empties dropped. Non-string JSON items are turned into text (the original's
 * handling of those is not observed; string arrays are what the plugin and meta route write).
 */
export function textList(value: string | null): string[] {
  if (value == null) return [];
  const parsed = parseJson(value);
  const items = Array.isArray(parsed)
    ? parsed.filter((entry) => entry !== null).map((entry) => (typeof entry === 'string' ? entry : JSON.stringify(entry)))
    : value.split(',');
  return items.map(stripSpace).filter((entry) => entry !== '');
}

/** `workflow_log`: the parsed JSON array (objects kept), else the text as a one-entry list, else `[]`. */
export function workflowEntries(value: string | null): JsonValue[] {
  if (value == null || stripSpace(value) === '') return [];
  const parsed = parseJson(value);
  return Array.isArray(parsed) ? parsed : [value];
}

function parseJson(text: string): JsonValue | undefined {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}
