import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { MediaSettings } from './mediaSettings.js';

/**
 * A relative media path that stays inside the data folder: no NUL byte, not absolute (POSIX, UNC or
 * drive letter), no `..` segment under either separator. Stored paths come from CSV exports and the
 * meta route, so they are untrusted.
 */
export function isContainedRelativePath(relative: string): boolean {
  if (relative === '' || relative.includes('\0')) return false;
  if (relative.startsWith('/') || relative.startsWith('\\') || /^[A-Za-z]:/.test(relative)) return false;
  return !relative.split(/[\\/]/).includes('..');
}

/**
 * Which of the given paths (relative to `<vaultRoot>/<dataDir>`) name an existing file there. Checked
 * only under the Linux vault root, as the original does for notes. Paths that could leave the data
 * folder are never looked up, and a symlink resolving outside it counts as absent (the rule of the
 * original's media route), so what this reports present is also safe to serve.
 */
export async function mediaPresence(settings: MediaSettings, relativePaths: Iterable<string>): Promise<Set<string>> {
  if (settings.vaultRoot == null || settings.vaultRoot.trim() === '') return new Set();
  const dataFolder = await realpath(path.resolve(settings.vaultRoot, settings.dataDir)).catch(() => null);
  if (dataFolder === null) return new Set();
  const candidates = [...new Set(relativePaths)].filter(isContainedRelativePath);
  const found = await Promise.all(
    candidates.map(async (relative) => {
      const resolved = await realpath(path.resolve(dataFolder, relative)).catch(() => null);
      if (resolved === null || !resolved.startsWith(dataFolder + path.sep)) return false;
      return (await stat(resolved).catch(() => null))?.isFile() ?? false;
    }),
  );
  return new Set(candidates.filter((_, index) => found[index]));
}
