import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { isContainedRelativePath } from './mediaPresence.js';
import type { MediaSettings } from './mediaSettings.js';
import type { NoteItem } from './noteItem.js';

export type MediaKind = 'video' | 'cover';
export const MEDIA_KINDS: readonly MediaKind[] = ['video', 'cover'];

/** Why a media file is not served; none of them tells a client what lies outside the data folder. */
export type MediaRefusal =
  /** The source has no vault root on this machine, and the gateway sets no default. */
  | 'VAULT_NOT_CONFIGURED'
  /** The stored path could leave the data folder by its text alone: `..`, absolute, drive letter, NUL. */
  | 'PATH_REFUSED'
  /** No regular file there, or its real path (symlinks followed) lies outside the data folder. */
  | 'FILE_MISSING';

export type MediaFileLookup =
  | { found: true; /** The real path, symlinks resolved, inside `dataFolder`. */ path: string; dataFolder: string; stat: Stats }
  | { found: false; refusal: MediaRefusal };

/**
 * The path as the original's media route reads it: Windows separators become `/`. Containment is judged on
 * this form, so `a\..\..\x` is refused like `a/../../x`.
 */
export function servedRelativePath(relative: string): string {
  return relative.replace(/\\/g, '/');
}

/** The item fields the media paths derive from, from a camelCase item as the queries return it. */
export function mediaPathFields(item: {
  id: string;
  bookmarked: boolean | null;
  authorId: string | null;
  videoPath: string | null;
  coverPath: string | null;
}): Pick<NoteItem, 'id' | 'bookmarked' | 'author_id' | 'video_path' | 'cover_path'> {
  return { id: item.id, bookmarked: item.bookmarked, author_id: item.authorId, video_path: item.videoPath, cover_path: item.coverPath };
}

/**
 * Finds the file a stored media path names under `<vaultRoot>/<dataDir>`, confined to the real path of that
 * folder: the stored path is untrusted (CSV exports, the meta route), so a path that could climb out is
 * refused before the file system is asked, and a symlink whose target lies outside the folder counts as
 * missing. Only the Linux vault root is used: it is where the gateway reads files; the Windows root only
 * formats links. What this finds is the real path, so a later open does not follow the symlink again.
 */
export async function findMediaFile(settings: Pick<MediaSettings, 'vaultRoot' | 'dataDir'>, relative: string): Promise<MediaFileLookup> {
  if (settings.vaultRoot == null || settings.vaultRoot.trim() === '') return { found: false, refusal: 'VAULT_NOT_CONFIGURED' };
  const served = servedRelativePath(relative);
  if (!isContainedRelativePath(served)) return { found: false, refusal: 'PATH_REFUSED' };
  const dataFolder = await realpath(path.resolve(settings.vaultRoot, settings.dataDir)).catch(() => null);
  if (dataFolder === null) return { found: false, refusal: 'FILE_MISSING' };
  const resolved = await realpath(path.resolve(dataFolder, served)).catch(() => null);
  if (resolved === null || !resolved.startsWith(dataFolder + path.sep)) return { found: false, refusal: 'FILE_MISSING' };
  const stats = await stat(resolved).catch(() => null);
  if (stats === null || !stats.isFile()) return { found: false, refusal: 'FILE_MISSING' };
  return { found: true, path: resolved, dataFolder, stat: stats };
}
