import { styleVaultRoot, type MediaSettings, type PathStyle } from './mediaSettings.js';
import { flagOrNull, nonBlankText, type NoteItem } from './noteItem.js';

/** One media file of an item, in every form the notes, `/items/{id}/links` and the media route use. */
export interface MediaPathForms {
  /** Stored path, else the canonical one; relative to `<vault>/<dataDir>`, never group-prefixed. */
  relative: string;
  /** What a note writes: `group:<prefix>/<relative>` with a PathLinker group, else `relative`. */
  written: string;
  /** `<style root>/<dataDir>/<relative>` in the path style; never group-prefixed. */
  absolute: string;
  sxopen: string;
  sxreveal: string;
}

export interface ItemMediaPaths {
  video: MediaPathForms;
  cover: MediaPathForms;
}

type PathFields = Pick<NoteItem, 'id' | 'bookmarked' | 'author_id' | 'video_path' | 'cover_path'>;

/**
 * The paths an item's media would have had the importer stored none: `Favorites` for bookmarked items,
 * else `Following/<author_id>`, else `Following`.
 */
export function canonicalMediaPaths(item: Omit<PathFields, 'video_path' | 'cover_path'>): { video: string; cover: string } {
  const authorId = nonBlankText(item.author_id);
  const base = flagOrNull(item.bookmarked) ? 'Favorites' : authorId === null ? 'Following' : `Following/${authorId}`;
  return { video: `${base}/videos/${item.id}.mp4`, cover: `${base}/covers/${item.id}.jpg` };
}

/** Stored paths where set, canonical ones where not; each of the two is decided on its own. */
export function relativeMediaPaths(item: PathFields): { video: string; cover: string } {
  const canonical = canonicalMediaPaths(item);
  return {
    video: nonBlankText(item.video_path) === null ? canonical.video : (item.video_path as string),
    cover: nonBlankText(item.cover_path) === null ? canonical.cover : (item.cover_path as string),
  };
}

export function itemMediaPaths(item: PathFields, settings: MediaSettings): ItemMediaPaths {
  const relative = relativeMediaPaths(item);
  return { video: pathForms(relative.video, settings), cover: pathForms(relative.cover, settings) };
}

function pathForms(relative: string, settings: MediaSettings): MediaPathForms {
  const absolute = absoluteMediaPath(settings, relative);
  return {
    relative,
    written: withGroupPrefix(settings.groupPrefix, relative),
    absolute,
    // The plugin's protocol handlers take the path verbatim, so it is not URL-encoded.
    sxopen: `sxopen:${absolute}`,
    sxreveal: `sxreveal:${absolute}`,
  };
}

export function withGroupPrefix(groupPrefix: string | null, relative: string): string {
  return groupPrefix ? `group:${groupPrefix}/${relative}` : relative;
}

/**
 * Style root, data dir and relative path joined in the path style. Absolute paths are formatted, not
 * checked, and carry no group prefix (PathLinker groups only mean something inside the vault).
 */
export function absoluteMediaPath(settings: MediaSettings, relative: string): string {
  return joinInStyle(settings.pathStyle, [styleVaultRoot(settings) ?? '', settings.dataDir, relative]);
}

function joinInStyle(style: PathStyle, parts: string[]): string {
  if (style === 'windows') {
    // Trimming every part's outer backslashes also turns a root `D:\` into `D:`, so no `D:\\` appears.
    return parts
      .map((part) => part.replace(/\//g, '\\').replace(/^\\+|\\+$/g, ''))
      .filter((part) => part !== '')
      .join('\\');
  }
  const joined = parts
    .map((part) => part.replace(/\\/g, '/').replace(/^\/+|\/+$/g, ''))
    .filter((part) => part !== '')
    .join('/');
  return parts[0].startsWith('/') ? `/${joined}` : joined;
}
