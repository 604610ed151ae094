import type { StoredMediaSettings } from '../sources/mediaSettings.js';
import { builder } from './builder.js';

export const PathStyleRef = builder.enumType('PathStyle', {
  description: 'How absolute paths and links are written: `/vault/data/…` (LINUX) or `D:\\Vault\\data\\…` (WINDOWS).',
  values: { LINUX: { value: 'linux' }, WINDOWS: { value: 'windows' } } as const,
});

export const MediaSettingsRef = builder.objectRef<StoredMediaSettings>('MediaSettings').implement({
  description:
    "Where a source's media live and how its notes and links write their paths. A source's own settings may leave fields null: the gateway's defaults fill them (effectiveMediaSettings).",
  fields: (t) => ({
    vaultRoot: t.exposeString('vaultRoot', { nullable: true, description: "The vault's absolute path on the gateway's machine: files are checked and served there" }),
    vaultRootWindows: t.exposeString('vaultRootWindows', { nullable: true, description: 'The vault as Windows writes it, for the WINDOWS path style' }),
    dataDir: t.exposeString('dataDir', { nullable: true, description: 'The folder under the vault that holds the media' }),
    pathStyle: t.field({ type: PathStyleRef, nullable: true, resolve: (settings) => settings.pathStyle }),
    groupPrefix: t.exposeString('groupPrefix', { nullable: true, description: 'PathLinker group: note paths are written `group:<prefix>/<path>`' }),
  }),
});

export const MediaSettingsInputRef = builder.inputType('MediaSettingsInput', {
  description: 'A field left out keeps its value; null or an empty string clears it back to the gateway default.',
  fields: (t) => ({
    vaultRoot: t.string({ description: 'Absolute path; a relative one is refused (MEDIA_SETTINGS_INVALID)' }),
    vaultRootWindows: t.string(),
    dataDir: t.string({ description: 'Relative to the vault, without ..' }),
    pathStyle: t.field({ type: PathStyleRef }),
    groupPrefix: t.string(),
  }),
});
