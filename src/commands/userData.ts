import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { USER_DATA_KINDS, type UserDataKind } from '../queries/userData.js';
import {
  exportUserDataToFile,
  fileLines,
  importUserData,
  resetUserData,
  type UserDataResetReport,
} from '../tasks/userData.js';
import { printResult, requireFile, usageError, withStore } from './shared.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function kindOption(value: string, previous: UserDataKind[] = []): UserDataKind[] {
  if (!(USER_DATA_KINDS as readonly string[]).includes(value)) {
    throw usageError(`--only must be one of ${USER_DATA_KINDS.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return [...previous, value as UserDataKind];
}

function resetLines(report: UserDataResetReport): string[] {
  const verb = report.dryRun ? 'would delete' : 'deleted';
  return [
    `${report.dryRun ? 'dry run: ' : ''}reset of source ${report.sourceId} (${report.kinds.join(', ')}): ${report.matched} item(s) matched`,
    `${verb}: meta=${report.meta} notes=${report.notes} cached=${report.cached}`,
    ...(report.dryRun ? ['nothing was deleted; run again with --yes instead of --dry-run to delete'] : []),
  ];
}

export function registerUserDataCommands(program: Command): void {
  const userData = program
    .command('user-data')
    .description("A source's user data (meta and user-written notes): export, import, reset");

  userData
    .command('export')
    .description('Write the user meta and user-written notes of a source as JSON Lines')
    .requiredOption('--source <id>', 'source id')
    .requiredOption('--out <file>', 'the file to write (replaced when it exists; written whole or not at all)')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nLine 1 is a header: {"format":"sx-gateway-user-data","version":1,"source_id","exported_at","counts"}.\n' +
        'Then one line per meta row ({"kind":"meta", …the user_meta columns}) and per user-written note\n' +
        '({"kind":"note","video_id","markdown","updated_at"}), in item id order. Cached renders are not exported.',
    )
    .action(async (options: { source: string; out: string; json?: boolean }) => {
      const report = await withStore(loadConfig(), ({ store }) => exportUserDataToFile(store, options.source, options.out));
      printResult(options.json, report, () => [
        `exported source ${report.sourceId}: meta=${report.counts.meta} notes=${report.counts.notes} to ${report.file} (${report.bytes} bytes)`,
      ]);
    });

  userData
    .command('import')
    .description('Import a user-data file (from user-data export) into a source, in one transaction')
    .argument('<file>', 'the JSON Lines file')
    .requiredOption('--source <id>', 'the source to write into (the one exported from, or another)')
    .option('--skip-missing', 'leave out lines naming items the source does not have, and list them, instead of refusing the file')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nEvery line is checked before anything is written; a bad line stops the import (USER_DATA_INVALID, with its\n' +
        'line number). A file naming items the source does not have is refused, naming them, unless --skip-missing.\n' +
        "Rows replace the items' meta and notes as the file has them; other items are left as they are.",
    )
    .action(async (file: string, options: { source: string; skipMissing?: boolean; json?: boolean }) => {
      requireFile(file, 'FILE');
      const report = await withStore(loadConfig(), ({ store }) =>
        importUserData(store, options.source, fileLines(file), { skipMissing: options.skipMissing }),
      );
      printResult(options.json, report, () => [
        `imported into ${report.sourceId} (exported from ${report.fromSourceId}): meta=${report.meta} notes=${report.notes}`,
        ...(report.skipped.items > 0
          ? [`skipped ${report.skipped.lines} line(s) of ${report.skipped.items} item(s) not in the source: ${report.skipped.itemIds.join(', ')}${report.skipped.items > report.skipped.itemIds.length ? ', …' : ''}`]
          : []),
      ]);
    });

  userData
    .command('reset')
    .description("Delete user data of a source's items: meta, user-written notes, cached renders")
    .requiredOption('--source <id>', 'source id')
    .option('--item <id>', 'only this item (repeat for more)', collect)
    .option('--status <status>', "only items with this status (repeat for more; '' means items without a status)", collect)
    .option('--only <kind>', `what to delete: ${USER_DATA_KINDS.join(' | ')} (repeat for more; default all three)`, kindOption)
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .option('--yes', 'delete (required unless --dry-run)')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nFilters are ANDed; a status matches the primary status or any of the item\'s statuses (case-insensitive).\n' +
        'The counts and the deletes use the same statements, in one transaction: a dry run reports exactly what a\n' +
        'run would delete at that moment.',
    )
    .action(async (options: { source: string; item?: string[]; status?: string[]; only?: UserDataKind[]; dryRun?: boolean; yes?: boolean; json?: boolean }) => {
      if (!options.dryRun && !options.yes) throw usageError('reset deletes data: give --yes to delete, or --dry-run to see what it would delete');
      const report = await withStore(loadConfig(), ({ store }) =>
        resetUserData(store, options.source, {
          filter: { itemIds: options.item, statuses: options.status },
          kinds: options.only,
          dryRun: Boolean(options.dryRun),
        }),
      );
      printResult(options.json, report, () => resetLines(report));
    });
}
