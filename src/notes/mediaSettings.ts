/**
 * Where a source's media live and how their paths are written into notes and links.
 *
 * `vaultRoot` is where files are checked on this machine. `vaultRootWindows` is how the vault is
 * written when `pathStyle` is `windows` (the Obsidian vault usually sits on a Windows drive while the
 * gateway reads it through `/mnt/<drive>`). `groupPrefix` is the PathLinker group: when set, every
 * relative path written into a note becomes `group:<prefix>/<path>`.
 */
export type PathStyle = 'linux' | 'windows';

export interface MediaSettings {
  vaultRoot: string | null;
  vaultRootWindows: string | null;
  dataDir: string;
  pathStyle: PathStyle;
  groupPrefix: string | null;
}

const MOUNTED_DRIVE = /^\/mnt\/([A-Za-z])(?:\/(.*))?$/;

/** `/mnt/d/Vaults/a` → `D:\Vaults\a`; null for any other path. */
export function windowsFormOfMountedPath(linuxPath: string): string | null {
  const match = MOUNTED_DRIVE.exec(linuxPath);
  if (!match) return null;
  const rest = (match[2] ?? '').split('/').filter((part) => part !== '').join('\\');
  return `${match[1].toUpperCase()}:\\${rest}`;
}

/**
 * The root absolute paths are written from: for `windows`, the Windows root, else the Linux root
 * converted when it is a `/mnt/<drive>` mount, else the Linux root as it is (the original falls back
 * the same way); for `linux`, the Linux root. Null when no root is configured, which makes absolute
 * paths relative (`data/...`), as the original does.
 */
export function styleVaultRoot(settings: MediaSettings): string | null {
  const linuxRoot = nonBlank(settings.vaultRoot);
  if (settings.pathStyle === 'linux') return linuxRoot;
  return nonBlank(settings.vaultRootWindows) ?? (linuxRoot && windowsFormOfMountedPath(linuxRoot)) ?? linuxRoot;
}

/**
 * The `pathlinker_group` request parameter as the original accepts it: trimmed, slashes stripped from
 * both ends, every character outside `[A-Za-z0-9._/-]` deleted. Null means "no override", which also
 * decides whether a rendered note may be cached.
 */
export function pathlinkerGroupOverride(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const cleaned = raw
    .trim()
    .replace(/^\/+|\/+$/g, '')
    .replace(/[^A-Za-z0-9._/-]/g, '');
  return cleaned === '' ? null : cleaned;
}

/** The settings for one request: a sanitised `pathlinker_group` override replaces the configured group. */
export function withGroupOverride(settings: MediaSettings, rawOverride: string | null | undefined): MediaSettings {
  const override = pathlinkerGroupOverride(rawOverride);
  return override === null ? settings : { ...settings, groupPrefix: override };
}

function nonBlank(value: string | null): string | null {
  return value != null && value.trim() !== '' ? value : null;
}
