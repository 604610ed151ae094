import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { listBackups, dumpPathOf } from '../tasks/backupManifest.js';
import { openPostgresTarget, type PostgresTarget } from '../tasks/postgresTarget.js';
import { bootstrapMissingMappings, restoreBackup, type MissingMapping, type RestoreReport } from '../tasks/restore.js';
import { createProgress } from './progress.js';
import { EXIT_FAILED, inProcessGateway, printResult, usageError } from './shared.js';
import { maskDsn } from '../stores/postgres/pools.js';

function restoreLines(report: RestoreReport): string[] {
  const lines = [
    `restored ${report.backup.file} (${report.backup.kind} backup of ${report.backup.createdAt}, PostgreSQL ${report.backup.serverVersion}) into ${report.target}`,
    ...report.notes.map((note) => `note: ${note}`),
  ];
  for (const source of report.sources) {
    const migrated = source.migratedTo === null ? '' : `, migrated ${source.migratedFrom} → ${source.migratedTo}`;
    lines.push(`  ${source.id}: globals, then schema ${source.schemaName}${source.replaced ? ' (replaced)' : ''}${migrated}, ${(source.durationMs / 1000).toFixed(2)} s`);
  }
  lines.push('verification:');
  for (const v of report.verification) {
    lines.push(`  ${v.sourceId}: registry ${v.registryOk ? `ok (${v.schemaName})` : 'FAILED'}`);
    const restoredChecksums = report.sources.find((s) => s.id === v.sourceId)?.checksums ?? null;
    for (const t of v.tables) {
      if (restoredChecksums) {
        const checksum = restoredChecksums.find((c) => c.table === t.table)?.checksum ?? '';
        lines.push(`    ${t.table.padEnd(22)} ${String(t.rows).padStart(9)} rows  checksum ${checksum.slice(0, 16)} (restored; no manifest to compare with)`);
        continue;
      }
      const ok = t.rows === t.expectedRows && t.checksumOk;
      lines.push(`    ${t.table.padEnd(22)} ${String(t.rows).padStart(9)} rows  ${ok ? 'checksum ok' : `FAILED (expected ${t.expectedRows} rows, checksum ${t.checksumOk ? 'equal' : 'differs'})`}`);
    }
    const g = v.gateway;
    lines.push(`    gateway: health ${g.status}, stats.items ${g.items}, items.totalCount ${g.totalCount}, first page ${g.pageIds} ids  ${g.ok ? 'ok' : 'FAILED'}`);
    for (const problem of v.problems) lines.push(`    problem: ${problem}`);
  }
  lines.push(report.ok ? `restore verified: ${report.sources.length} source(s)` : 'restore NOT verified: see the problems above');
  return lines;
}

/**
 * Restores into --dsn (or the configured database), then hands the report and the still open target to
 * `finish`, which prints it (rollback adds its own steps first). Exit code 1 when verification failed.
 */
async function runRestore(
  file: string,
  options: { source?: string; dsn?: string; force?: boolean; json?: boolean },
  requireNewSource: boolean,
  finish: (report: RestoreReport, target: PostgresTarget) => Promise<void> = async (report) =>
    printResult(options.json, report, () => restoreLines(report)),
): Promise<void> {
  const config = loadConfig();
  const progress = createProgress({ json: options.json });
  let phase: 'restore' | 'verify' | null = null;
  const target = await openPostgresTarget(config, options.dsn);
  try {
    const report = await restoreBackup({
      config,
      target,
      file,
      sourceId: options.source,
      force: options.force,
      requireNewSource,
      gateway: inProcessGateway,
      onProgress: (line) => progress.note(line),
      // pg_restore says nothing while it runs: the bar moves a source at a time, by the manifest's row counts.
      onRows: (state) => {
        if (state.phase !== phase) progress.phase((phase = state.phase), { total: state.total, line: null });
        progress.update(state.rows);
      },
    });
    progress.stop();
    await finish(report, target);
    if (!report.ok) process.exitCode = EXIT_FAILED;
  } finally {
    progress.stop();
    await target.close();
  }
}

export function registerRestoreCommands(program: Command): void {
  program
    .command('restore')
    .description('Restore a backup: global rows first, then the schema(s), then a verification pass')
    .argument('<file>', 'the backup\'s .dump (with its .manifest.json beside it; a per-source dump also alone) or the manifest')
    .option('--source <id>', 'restore only this source of the backup')
    .option('--dsn <url>', 'restore into this database instead of the configured one')
    .option('--force', 'replace a schema that holds rows (its rows are lost)')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nEach source is restored in one transaction (psql --single-transaction fed by pg_restore): its rows of\n' +
        'public.sources and the registry, then its schema. Verification compares every table\'s rows and checksum\n' +
        'with the manifest and asks the gateway for health, stats and items of the source. Exit code 1 when a\n' +
        'check fails. A per-source dump without its manifest restores from the global rows it carries; its\n' +
        'SHA-256 and recorded checksums cannot be checked then, and the output says so.',
    )
    .action(async (file: string, options: { source?: string; dsn?: string; force?: boolean; json?: boolean }) => {
      await runRestore(file, options, false);
    });

  program
    .command('import-schema')
    .description('Bring in a source exported with `export` (or a per-source backup); the source must not exist there yet')
    .argument('<file>', 'the exported .dump or its .manifest.json')
    .option('--dsn <url>', 'import into this database instead of the configured one')
    .option('--force', 'replace the source if it exists')
    .option('--json', 'print the report as one JSON object')
    .action(async (file: string, options: { dsn?: string; force?: boolean; json?: boolean }) => {
      await runRestore(file, options, true);
    });

  program
    .command('rollback')
    .description('Controlled rollback: restore the newest whole-database backup into a database, then bootstrap missing mappings (no registry row, or its schema gone)')
    .requiredOption('--from <dir>', 'folder of `backup --all` backups')
    .requiredOption('--dsn <url>', 'the database to restore into (the app is then pointed at it)')
    .option('--force', 'replace schemas that hold rows')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nFast rollback needs no command: set SX_DB_BACKEND_MODE=SQLITE and restart; the SQLite file serves and\n' +
        'PostgreSQL is left as it is for forensic replay. See docs/RUNBOOK.md.',
    )
    .action(async (options: { from: string; dsn: string; force?: boolean; json?: boolean }) => {
      const newest = (await listBackups(options.from, 'all'))[0];
      if (!newest) throw usageError(`rollback: no whole-database backup (sx-all-*.manifest.json) in ${options.from}`);
      await runRestore(dumpPathOf(options.from, newest.base), options, false, async (report, target) => {
        // The seed's last step: sources of the target without a usable mapping (no registry row, or one whose
        // schema is gone) get one, and only those.
        const missing = await bootstrapMissingMappings(target);
        const bootstrapped = missing.map((m) => m.sourceId);
        const result = { ...report, bootstrapped, missingMappings: missing, repoint: `SX_POSTGRES_DSN=${maskDsn(target.dsn)}` };
        const why = (m: MissingMapping) => (m.reason === 'schema gone' ? `schema ${m.schemaName} was gone` : 'no mapping');
        printResult(options.json, result, () => [
          ...restoreLines(report),
          missing.length
            ? `bootstrapped missing mappings: ${missing.map((m) => `${m.sourceId} (${why(m)})`).join(', ')}`
            : 'no mapping was missing',
          `next: set ${result.repoint} (with its password) and restart the gateway`,
        ]);
      });
    });
}
