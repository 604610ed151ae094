import path from 'node:path';
import sql, { empty, join, type Sql } from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import { ident } from './identifiers.js';

/**
 * A source's media settings as stored with it: where its vault is and how paths are written into its notes and
 * links. A null field takes the gateway-wide default (SX_VAULT_ROOT, SX_VAULT_ROOT_WINDOWS, SX_MEDIA_DATA_DIR,
 * SX_PATH_STYLE, SX_PATHLINKER_GROUP).
 */
export interface StoredMediaSettings {
  /** Absolute path of the vault on this machine: where media files are checked and served from. */
  vaultRoot: string | null;
  /** The vault as Windows writes it (`D:\Vaults\a`), used for absolute paths when the path style is windows. */
  vaultRootWindows: string | null;
  /** The folder under the vault that holds the media (the original's `data`). */
  dataDir: string | null;
  pathStyle: 'linux' | 'windows' | null;
  /** PathLinker group: relative paths in notes are written `group:<prefix>/<path>`. */
  groupPrefix: string | null;
}

/** No source has settings of its own until it is given some: every field then takes the gateway's default. */
export const NO_MEDIA_SETTINGS: StoredMediaSettings = {
  vaultRoot: null,
  vaultRootWindows: null,
  dataDir: null,
  pathStyle: null,
  groupPrefix: null,
};

const WINDOWS_ROOT = /^(?:[A-Za-z]:\\|\\\\[^\\]+\\[^\\]+)/;
// The characters the original keeps of a PathLinker group; anything else is refused rather than dropped.
const GROUP = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

function invalid(field: string, message: string, value: unknown): GatewayError {
  return new GatewayError('MEDIA_SETTINGS_INVALID', `${field}: ${message}`, { field, value });
}

/**
 * Validates settings as given (to `source-settings`, `upsertSource`, or the gateway's defaults) and returns them
 * with an empty string turned into null, which clears the field. A relative vault root is refused, never taken
 * relative to the gateway's working directory; a data dir must stay inside the vault.
 */
export function checkMediaSettings(input: Partial<StoredMediaSettings>): Partial<StoredMediaSettings> {
  const out: Partial<StoredMediaSettings> = {};
  for (const [field, raw] of Object.entries(input) as [keyof StoredMediaSettings, string | null | undefined][]) {
    if (raw === undefined) continue;
    const value = raw === null || raw === '' ? null : raw;
    if (value !== null && value.includes('\0')) throw invalid(field, 'must not contain a NUL character', value);
    if (value !== null && value.length > 1024) throw invalid(field, 'must be at most 1024 characters', value.slice(0, 80));
    switch (field) {
      case 'vaultRoot':
        if (value !== null && !path.posix.isAbsolute(value)) {
          throw invalid(field, `must be an absolute path on the gateway's machine, got ${JSON.stringify(value)}`, value);
        }
        out.vaultRoot = value === null ? null : path.posix.normalize(value).replace(/(.)\/$/, '$1');
        break;
      case 'vaultRootWindows':
        if (value !== null && !WINDOWS_ROOT.test(value)) {
          throw invalid(field, `must be an absolute Windows path such as D:\\Vaults\\main, got ${JSON.stringify(value)}`, value);
        }
        out.vaultRootWindows = value;
        break;
      case 'dataDir':
        if (value !== null && (path.posix.isAbsolute(value) || WINDOWS_ROOT.test(value) || value.split(/[\\/]/).includes('..'))) {
          throw invalid(field, `must be a folder inside the vault (relative, without ..), got ${JSON.stringify(value)}`, value);
        }
        out.dataDir = value === null ? null : value.replace(/^\.\/+|\/+$/g, '') || null;
        break;
      case 'pathStyle':
        if (value !== null && value !== 'linux' && value !== 'windows') {
          throw invalid(field, `must be linux or windows, got ${JSON.stringify(value)}`, value);
        }
        out.pathStyle = value as StoredMediaSettings['pathStyle'];
        break;
      case 'groupPrefix': {
        const trimmed = value === null ? null : value.trim().replace(/^\/+|\/+$/g, '');
        if (trimmed !== null && trimmed !== '' && !GROUP.test(trimmed)) {
          throw invalid(field, `may hold only A-Z a-z 0-9 . _ - and inner slashes, got ${JSON.stringify(value)}`, value);
        }
        out.groupPrefix = trimmed === '' ? null : trimmed;
        break;
      }
      default:
        throw invalid(field, 'is not a media setting', value);
    }
  }
  return out;
}

/** Stored settings over the gateway's defaults: what a render, a link or a media route of the source uses. */
export function effectiveMediaSettings(
  stored: StoredMediaSettings,
  defaults: StoredMediaSettings,
): { vaultRoot: string | null; vaultRootWindows: string | null; dataDir: string; pathStyle: 'linux' | 'windows'; groupPrefix: string | null } {
  return {
    vaultRoot: stored.vaultRoot ?? defaults.vaultRoot,
    vaultRootWindows: stored.vaultRootWindows ?? defaults.vaultRootWindows,
    dataDir: stored.dataDir ?? defaults.dataDir ?? 'data',
    pathStyle: stored.pathStyle ?? defaults.pathStyle ?? 'linux',
    groupPrefix: stored.groupPrefix ?? defaults.groupPrefix,
  };
}

/** The `sources` column of each setting, the same in both stores. */
export const MEDIA_COLUMNS = {
  vaultRoot: 'vault_root',
  vaultRootWindows: 'vault_root_windows',
  dataDir: 'data_dir',
  pathStyle: 'path_style',
  groupPrefix: 'group_prefix',
} as const satisfies Record<keyof StoredMediaSettings, string>;

const MEDIA_FIELDS = Object.keys(MEDIA_COLUMNS) as (keyof StoredMediaSettings)[];

/** `vault_root, …` for an INSERT into `sources`. */
export function mediaColumnList(): Sql {
  return join(MEDIA_FIELDS.map((field) => ident(MEDIA_COLUMNS[field])), ', ');
}

/** The values of `mediaColumnList`: the given settings, null where a field is not given. */
export function mediaValueList(media: Partial<StoredMediaSettings> | undefined): Sql {
  return join(MEDIA_FIELDS.map((field) => media?.[field] ?? null), ', ');
}

/**
 * `, col = excluded.col` for the settings given (null included, which clears one), for the ON CONFLICT of an
 * upsert into `sources`: a setting left out keeps its stored value.
 */
export function mediaAssignments(media: Partial<StoredMediaSettings> | undefined): Sql {
  const given = MEDIA_FIELDS.filter((field) => media?.[field] !== undefined);
  if (given.length === 0) return empty;
  return sql`, ${join(given.map((field) => sql`${ident(MEDIA_COLUMNS[field])} = excluded.${ident(MEDIA_COLUMNS[field])}`), ', ')}`;
}

/** The settings of a `sources` row (either store). */
export function mediaFromRow(row: Partial<Record<(typeof MEDIA_COLUMNS)[keyof StoredMediaSettings], string | null>>): StoredMediaSettings {
  return {
    vaultRoot: row.vault_root ?? null,
    vaultRootWindows: row.vault_root_windows ?? null,
    dataDir: row.data_dir ?? null,
    pathStyle: (row.path_style as StoredMediaSettings['pathStyle']) ?? null,
    groupPrefix: row.group_prefix ?? null,
  };
}
