import { Type } from 'typebox';
import type { SourceRecord } from '../../../interfaces.js';
import { effectiveMediaSettings, type StoredMediaSettings } from '../../../sources/mediaSettings.js';
import { assertSourceId, trailingProfileIndex } from '../../../sources/sourceId.js';
import { requireAdmin, type RestApp, type RestDeps } from '../restContext.js';
import { RestRefusal } from '../restErrors.js';
import { NullableString } from '../schemas.js';

/**
 * The original kept its "profiles" in a SchedulerX `.env` file (SRC_PATH_N, PATHLINKER_GROUP_N, …) beside the
 * server. The gateway has no such file: a source's own settings hold what a profile held (`source-settings`,
 * Source.mediaSettings). So a profile here is a source whose id carries a profile index (`assets_2` → #2), read
 * from and written to those settings. What has no equivalent (database aliases, vault names) is answered empty
 * and, when written, reported in `ignored_keys` rather than stored.
 */

const NO_DB_PROFILE = { alias: null, url_redacted: null, configured: false };

/** Body keys of PUT /config/profiles/{idx}, in the original's order, with the env key each wrote. */
const PROFILE_KEYS = {
  src_path: 'SRC_PATH_N',
  label: 'SRC_PATH_N_LABEL',
  source_id: 'SRC_PROFILE_N_ID',
  assets_path: 'ASSETS_PATH_N',
  pathlinker_group: 'PATHLINKER_GROUP_N',
  group_name: 'GROUP_NAME_N',
  vault_name: 'VAULT_NAME_N',
  vault_path: 'VAULT_PATH_N',
  db_local: 'SRC_PATH_N_DB_LOCAL',
  db_session: 'SRC_PATH_N_DB_SESSION',
  db_transaction: 'SRC_PATH_N_DB_TRANSACTION',
} as const;
type ProfileKey = keyof typeof PROFILE_KEYS;
/** Stored in the source's settings; the other keys have nothing to go to. */
const STORED_KEYS = new Set<ProfileKey>(['src_path', 'label', 'pathlinker_group']);

const ProfileBody = Type.Object(Object.fromEntries(Object.keys(PROFILE_KEYS).map((key) => [key, Type.Optional(NullableString)])) as Record<ProfileKey, ReturnType<typeof Type.Optional<typeof NullableString>>>);

function profileOf(source: SourceRecord, index: number, defaults: StoredMediaSettings) {
  const media = effectiveMediaSettings(source.media, defaults);
  return {
    index,
    label: source.label ?? `profile_${index}`,
    src_path: media.vaultRoot ?? '',
    source_id: source.id,
    pathlinker_group: media.groupPrefix ?? '',
    group_name: '',
    vault_name: '',
    vault_path: media.vaultRoot ?? '',
    assets_path: '',
  };
}

function profiled(sources: SourceRecord[]): { source: SourceRecord; index: number }[] {
  return sources
    .flatMap((source) => {
      const index = trailingProfileIndex(source.id);
      return index === null ? [] : [{ source, index }];
    })
    .sort((a, b) => a.index - b.index || (a.source.id < b.source.id ? -1 : 1));
}

export function profileRoutes(app: RestApp, deps: RestDeps): void {
  const { store, config } = deps;

  app.get(
    '/pipeline/profiles',
    { schema: { tags: ['profiles'], summary: "Sources whose id carries a profile index, as the original's profiles, from their own settings" } },
    async () => ({
      ok: true,
      env_path: '',
      served_from: 'source settings',
      profiles: profiled(await store.listSources()).map(({ source, index }) => ({
        ...profileOf(source, index, config.media),
        db_profiles: { local: NO_DB_PROFILE, session: NO_DB_PROFILE, transaction: NO_DB_PROFILE, sql: { db_path: null, configured: false } },
        available_modes: ['LOCAL', 'SESSION', 'TRANSACTION', 'SQL'],
      })),
    }),
  );

  app.put(
    '/config/profiles/:idx',
    {
      schema: {
        tags: ['profiles'],
        summary: "Writes a profile's path, label and PathLinker group into its source's settings; admin",
        security: [{ adminToken: [] }],
        params: Type.Object({ idx: Type.Integer() }),
        body: ProfileBody,
      },
    },
    async (request) => {
      requireAdmin(request);
      const index = request.params.idx;
      if (index < 1 || index > 99) throw new RestRefusal(400, 'Profile index must be 1–99', 'BAD_USER_INPUT');
      const body = request.body as Partial<Record<ProfileKey, string | null>>;
      const given = (Object.keys(PROFILE_KEYS) as ProfileKey[]).filter((key) => key in body);
      if (given.length === 0) throw new RestRefusal(400, 'No fields to update', 'BAD_USER_INPUT');
      const sources = await store.listSources();
      const named = body.source_id?.trim() ? assertSourceId(body.source_id.trim()) : null;
      const candidates = named ? sources.filter((source) => source.id === named) : profiled(sources).filter((p) => p.index === index).map((p) => p.source);
      if (candidates.length === 0) {
        throw new RestRefusal(404, `No source has profile index ${index}: create one whose id ends in _${index} (POST /sources), or name it in source_id`, 'SOURCE_NOT_MAPPED');
      }
      if (candidates.length > 1) {
        throw new RestRefusal(400, `Several sources have profile index ${index} (${candidates.map((s) => s.id).join(', ')}): name one in source_id`, 'BAD_USER_INPUT');
      }
      const source = candidates[0]!;
      const text = (value: string | null | undefined) => (value === null || value === undefined ? null : value.trim());
      const stored = given.filter((key) => STORED_KEYS.has(key));
      // The same write as `source-settings` and upsertSource: null or '' puts a setting back to the default.
      const updated = await store.bootstrapSource({
        sourceId: source.id,
        ...('label' in body ? { label: text(body.label) || source.id } : {}),
        media: {
          ...('src_path' in body ? { vaultRoot: text(body.src_path) || null } : {}),
          ...('pathlinker_group' in body ? { groupPrefix: text(body.pathlinker_group) || null } : {}),
        },
      });
      const envKey = (key: ProfileKey) => PROFILE_KEYS[key].replace(/_N(?=_|$)/, `_${index}`);
      return {
        ok: true,
        index,
        updated_keys: stored.map(envKey),
        ignored_keys: given.filter((key) => !STORED_KEYS.has(key) && key !== 'source_id').map(envKey),
        profile: profileOf(updated, index, config.media),
      };
    },
  );
}
