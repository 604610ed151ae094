import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import type { SourceRecord, StoredMediaSettings } from '../interfaces.js';
import { effectiveMediaSettings } from '../sources/mediaSettings.js';
import { printResult, usageError, withStore } from './shared.js';

interface SourceSettingsOptions {
  source: string;
  vault?: string;
  vaultWindows?: string;
  dataDir?: string;
  pathStyle?: string;
  groupPrefix?: string;
  json?: boolean;
}

export function registerSourceSettingsCommand(program: Command): void {
  program
    .command('source-settings')
    .description("Show or change a source's media settings: where its vault is and how notes and links write paths")
    .requiredOption('--source <id>', 'an existing source')
    .option('--vault <path>', "the vault's absolute path on this machine (files are checked and served there)")
    .option('--vault-windows <path>', 'the vault as Windows writes it (D:\\Vaults\\main), for --path-style windows')
    .option('--data-dir <dir>', 'the folder under the vault holding the media (default: data)')
    .option('--path-style <style>', 'linux or windows: how absolute paths and sxopen/sxreveal links are written')
    .option('--group-prefix <name>', "PathLinker group ('' clears it): note paths become group:<name>/<path>")
    .option('--json', 'print the source as one JSON object')
    .addHelpText(
      'after',
      '\nAn option left out keeps its value; an empty value (--vault "") clears the setting back to the gateway\n' +
        'default (SX_VAULT_ROOT, SX_VAULT_ROOT_WINDOWS, SX_MEDIA_DATA_DIR, SX_PATH_STYLE, SX_PATHLINKER_GROUP).\n' +
        'With no setting given it prints the current ones. A relative vault root, a data dir leaving the vault or\n' +
        'an unknown path style is refused (MEDIA_SETTINGS_INVALID) and nothing changes. Stored notes rendered\n' +
        'with the old settings stay until a read renders them again with force.',
    )
    .action(async (options: SourceSettingsOptions) => {
      if (options.pathStyle !== undefined && !['linux', 'windows', ''].includes(options.pathStyle)) {
        throw usageError(`--path-style must be linux or windows, got ${JSON.stringify(options.pathStyle)}`);
      }
      const media: Partial<StoredMediaSettings> = {
        vaultRoot: options.vault,
        vaultRootWindows: options.vaultWindows,
        dataDir: options.dataDir,
        pathStyle: options.pathStyle as StoredMediaSettings['pathStyle'] | undefined,
        groupPrefix: options.groupPrefix,
      };
      const config = loadConfig();
      const source: SourceRecord = await withStore(config, async ({ store }) => {
        // Settings belong to a source that exists: a typo in --source must not create one.
        const existing = await store.resolveSource(options.source);
        const changes = Object.values(media).some((value) => value !== undefined);
        return changes ? store.bootstrapSource({ sourceId: existing.id, media }) : existing;
      });
      const effective = effectiveMediaSettings(source.media, config.media);
      printResult(options.json, { sourceId: source.id, media: source.media, effective }, () => [
        `source ${source.id}`,
        ...Object.entries(effective).map(([field, value]) => {
          const own = source.media[field as keyof StoredMediaSettings] !== null;
          return `  ${field}: ${value ?? '(none)'}${own ? '' : ' (default)'}`;
        }),
      ]);
    });
}
