/**
 * The original's normalisation of user meta, kept as pure functions so both stores and the tests share it.
 */

// The statuses the original recognises, in workflow order: the primary status is the one of these furthest along
// the workflow, or the item's first status when it carries none of them.
export const KNOWN_STATUSES = ['raw', 'reviewing', 'reviewed', 'scheduling', 'scheduled', 'published', 'archived'];

function splitList(values: readonly string[] | null | undefined, separators: RegExp): string[] {
  const out: string[] = [];
  for (const value of values ?? []) {
    for (const part of value.split(separators)) {
      const trimmed = part.trim();
      if (trimmed && !out.includes(trimmed)) out.push(trimmed);
    }
  }
  return out;
}

/** Statuses from `statuses` and a comma list in `status`: trimmed, de-duplicated, order kept. */
export function normaliseStatuses(status: string | null | undefined, statuses: readonly string[] | null | undefined): string[] {
  return splitList([...(statuses ?? []), ...(status ? [status] : [])], /,/);
}

export function primaryStatus(statuses: readonly string[]): string | null {
  if (statuses.length === 0) return null;
  const furthest = Math.max(...statuses.map((status) => KNOWN_STATUSES.indexOf(status)));
  return furthest >= 0 ? KNOWN_STATUSES[furthest]! : statuses[0]!;
}

/** `|a|b|`, so a status matches with LIKE '%|a|%' and never as a substring of another status. */
export function packStatuses(statuses: readonly string[]): string | null {
  return statuses.length ? `|${statuses.join('|')}|` : null;
}

export function unpackStatuses(packed: string | null): string[] {
  return packed ? packed.split('|').filter(Boolean) : [];
}

/**
 * Tags are free text, stored as sent (the original keeps `nike, drop` verbatim, and its tag filter and note read
 * that text). A list of several is stored as its tags joined by `, `; blank is no tags.
 */
export function normaliseTags(tags: readonly string[] | null | undefined): string | null {
  if (!tags || tags.length === 0) return null;
  if (tags.length === 1) return tags[0]!.trim() === '' ? null : tags[0]!;
  const list = splitList(tags, /,/);
  return list.length ? list.join(', ') : null;
}

export function unpackTags(tags: string | null): string[] {
  return tags ? tags.split(',').map((t) => t.trim()).filter(Boolean) : [];
}

/**
 * Accepts a list, a JSON array or comma/newline separated text (in any element); stores a JSON array, or NULL
 * when no link is left (as the original does).
 */
export function normaliseAuthorLinks(links: readonly string[]): string | null {
  const flat: string[] = [];
  for (const value of links) {
    const text = value.trim();
    if (text.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed)) {
          flat.push(...parsed.filter((v): v is string => typeof v === 'string'));
          continue;
        }
      } catch {
        // Not JSON after all: fall through and treat it as text.
      }
    }
    flat.push(text);
  }
  const list = splitList(flat, /[,\n\r]+/);
  return list.length ? pythonJsonList(list) : null;
}

/** A list of strings as the original stores it: Python's json.dumps, `", "` between items, non-ASCII kept. */
function pythonJsonList(values: readonly string[]): string {
  return `[${values.map((value) => JSON.stringify(value)).join(', ')}]`;
}

export function unpackAuthorLinks(stored: string | null): string[] {
  if (!stored) return [];
  try {
    const parsed: unknown = JSON.parse(stored);
    return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return splitList([stored], /[,\n\r]+/);
  }
}
