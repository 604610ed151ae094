import { createHash } from 'node:crypto';

/** What `render_hash` covers: a note is re-rendered only when one of these changes. */
export interface RenderHashInput {
  template_version: string;
  csv_row_hash: string | null;
  /** As written in the frontmatter, i.e. group-prefixed. */
  video_path: string | null;
  cover_path: string | null;
  files_seen: string[];
  path_style: string;
  /** The style's vault root, `""` when none. */
  vault_root: string;
  data_dir: string;
}

/**
 * MD5 hex of the input as the original's `json.dumps(sort_keys=True, ensure_ascii=False)` writes it,
 * with its `", "` and `": "` separators, so hashes stored by the original stay comparable.
 */
export function renderHash(input: RenderHashInput): string {
  return createHash('md5').update(pythonJsonText(input), 'utf8').digest('hex');
}

type HashedValue = string | null | string[] | RenderHashInput;

function pythonJsonText(value: HashedValue): string {
  if (value === null) return 'null';
  // JSON.stringify escapes a string exactly as json.dumps with ensure_ascii off does.
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonText).join(', ')}]`;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}: ${pythonJsonText(entry as HashedValue)}`).join(', ')}}`;
}
