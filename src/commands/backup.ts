import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { createBackup, type BackupReport } from '../tasks/backup.js';
import { keepWarnings, PLAN_MINIMUM_KEEP } from '../tasks/backupStatus.js';
import { openPostgresTarget } from '../tasks/postgresTarget.js';
import { createProgress } from './progress.js';
import { positiveInteger, printResult, usageError } from './shared.js';

const DEFAULT_KEEP = PLAN_MINIMUM_KEEP;

function backupLines(report: BackupReport): string[] {
  const lines = [
    `backup written: ${report.dumpFile} (${(report.bytes / 1e6).toFixed(2)} MB, sha256 ${report.sha256.slice(0, 16)}…) in ${(report.durationMs / 1000).toFixed(2)} s`,
    `manifest: ${report.manifestFile}`,
  ];
  for (const source of report.sources) {
    lines.push(`  ${source.id}: schema ${source.schemaName}, migration ${source.migrationVersion ?? '-'}`);
    for (const t of source.tables) lines.push(`    ${t.table.padEnd(22)} ${String(t.rows).padStart(9)} rows  ${t.checksum.slice(0, 16)}`);
  }
  if (report.pruned.length) lines.push(`pruned ${report.pruned.length} older backup(s): ${report.pruned.join(', ')}`);
  return lines;
}

/**
 * pg_dump cannot say how far it is; the checksums of every table, read meanwhile from the same snapshot, can: the
 * bar counts sources checksummed and shows their rows. pg_dump may still be writing when it is full.
 */
async function runBackup(outDir: string, sourceId: string | undefined, keep: number | undefined, json: boolean | undefined): Promise<BackupReport> {
  const config = loadConfig();
  const progress = createProgress({ json });
  const target = await openPostgresTarget(config);
  try {
    return await createBackup({
      config,
      target,
      outDir,
      sourceId,
      keep,
      onProgress: (line) => progress.note(line),
      onChecksums: (state) => {
        if (state.sources === 0) progress.phase('checksum', { total: state.total, unit: 'rows', line: null });
        progress.update(state.sources, state.rows);
        if (state.sources === state.total) progress.endPhase();
      },
    });
  } finally {
    progress.stop();
    await target.close();
  }
}

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('pg_dump (custom format) of the whole database or of one source, with a manifest of its checksums')
    .option('--all', 'the whole database: every schema and the global tables')
    .option('--source <id>', "one source: its schema; its rows of public.sources and the registry go in the manifest")
    .requiredOption('--out <dir>', 'folder for the .dump and its .manifest.json (created when missing)')
    .option(
      '--keep <n>',
      `keep the n newest backups of this kind (and source) in the folder; below ${PLAN_MINIMUM_KEEP} (the plan's minimum) runs with a warning`,
      positiveInteger('--keep'),
      DEFAULT_KEEP,
    )
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nThe manifest records the time, the server version, every source with its schema and migration version, and\n' +
        'the row count and SHA-256 checksum of each of its tables, all read in the snapshot pg_dump dumps.\n' +
        'pg_dump comes from SX_PG_BIN_DIR when set, else PATH, and must be at least the server\'s major version.',
    )
    .action(async (options: { all?: boolean; source?: string; out: string; keep: number; json?: boolean }) => {
      if (Boolean(options.all) === (options.source !== undefined)) throw usageError('backup: give exactly one of --all and --source <id>');
      // Said before the dump starts, so an operator (or cron's mail) sees it even when the backup then fails;
      // --json also carries it in the report's `warnings`.
      for (const warning of keepWarnings(options.keep)) process.stderr.write(`warning: ${warning}\n`);
      const report = await runBackup(options.out, options.source, options.keep, options.json);
      printResult(options.json, report, () => backupLines(report));
    });

  program
    .command('export')
    .description('One source in the per-source backup format, to move it to another database (see import-schema)')
    .requiredOption('--source <id>', 'source id')
    .requiredOption('--out <dir>', 'folder for the .dump and its .manifest.json')
    .option('--json', 'print the report as one JSON object')
    .action(async (options: { source: string; out: string; json?: boolean }) => {
      const report = await runBackup(options.out, options.source, undefined, options.json);
      printResult(options.json, report, () => [...backupLines(report), `import it elsewhere with: sx-gateway import-schema ${report.dumpFile} --dsn <url>`]);
    });
}
