import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig, type GatewayConfig } from '../config.js';
import { isGatewayError } from '../errors.js';
import { cutoverFromLibrary, type CutoverProgress, type CutoverReport, type CutoverTable } from '../tasks/cutover.js';
import { openStore, type OpenedStore } from '../stores/openStore.js';
import { asUnavailable } from '../stores/postgres/failures.js';
import { createProgress, type Progress } from './progress.js';
import { EXIT_FAILED, printResult, usageError } from './shared.js';

interface CutoverCommandOptions {
  source: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
}

export function registerCutoverCommand(program: Command): void {
  program
    .command('cutover')
    .description('Copy one source from the SQLite file into its PostgreSQL schema, then verify every table (idempotent)')
    .requiredOption('--source <id>', 'source id, as it exists in the SQLite file')
    .option('--dry-run', "change nothing: print both sides' counts and checksums and what a real run would do")
    .option('--force', "when PostgreSQL already holds other rows of the source: DISCARD them and copy SQLite's")
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nReads the SQLite file SX_DB_PATH and writes the PostgreSQL database SX_POSTGRES_DSN, whatever\n' +
        'SX_DB_BACKEND_MODE says: this is the step from SQLITE to POSTGRES_PRIMARY. The source is bootstrapped in\n' +
        'PostgreSQL with its SQLite label, kind, description and enabled flag when it is missing there.\n\n' +
        'Every table of the source (videos, user meta, notes, raw CSV rows, scheduling artifacts, jobs) is\n' +
        'compared by row count and checksum. Equal everywhere: nothing is written. PostgreSQL empty for the\n' +
        'source: its rows are copied in one transaction and checked before it commits; a mismatch rolls it back.\n' +
        'PostgreSQL holding other rows of the source: refused (CUTOVER_TARGET_DIFFERS) unless --force, which\n' +
        "discards PostgreSQL's rows of that source. SQLite is read from one snapshot and never written.\n\n" +
        'Exit code 0 when verified or already identical, 1 when refused or failed; a dry run exits as the real run\n' +
        'would. Progress goes to stderr: a line per table checksummed, copied and verified, and on a terminal a bar\n' +
        'over the rows copied.',
    )
    .action(async (options: CutoverCommandOptions) => {
      const config = cutoverConfig();
      let postgres: OpenedStore | null = null;
      const progress = createProgress({ json: options.json });
      try {
        postgres = options.dryRun && !(await holdsGatewayTables(config)) ? null : await openStore(config);
        const report = await cutoverFromLibrary(config.sqlitePath, {
          postgres: postgres?.store ?? null,
          sourceId: options.source,
          dryRun: options.dryRun,
          force: options.force,
          onProgress: cutoverProgress(progress),
        });
        progress.stop();
        printResult(options.json, report, () => reportLines(report));
        if (report.action === 'refuse') process.exitCode = EXIT_FAILED;
      } catch (error) {
        progress.stop();
        // A refusal or a failed verification still shows both sides, table by table; the error line follows.
        const tables = isGatewayError(error) ? (error.extensions.tables as CutoverTable[] | undefined) : undefined;
        if (tables && isGatewayError(error)) {
          printResult(options.json, { sourceId: options.source, error: { code: error.code, message: error.message }, tables }, () => [
            ...tableLines(tables),
            `${error.code === 'CUTOVER_TARGET_DIFFERS' ? 'refused' : 'failed'}: ${error.message}`,
          ]);
        }
        throw error;
      } finally {
        await postgres?.close();
      }
    });
}

/**
 * The configuration with POSTGRES_PRIMARY forced: the cutover needs both databases whatever mode the gateway
 * runs in. The SQLite file must exist; opening a missing one would create an empty library and copy nothing.
 */
function cutoverConfig(): GatewayConfig {
  if (!process.env.SX_POSTGRES_DSN) {
    throw usageError('cutover needs SX_POSTGRES_DSN, the PostgreSQL to copy into (a postgres:// URL or "embedded")');
  }
  const config = loadConfig({ ...process.env, SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY' });
  if (!existsSync(config.sqlitePath)) {
    throw usageError(`SX_DB_PATH: no such file: ${config.sqlitePath} (cutover reads an existing SQLite library, it never creates one)`);
  }
  return config;
}

/**
 * Whether the database already holds the gateway's global tables. Opening a store creates them, so a dry run
 * against a fresh database looks first and, finding none, opens nothing. An embedded cluster cannot be looked at
 * before it is started; it is opened as usual.
 */
async function holdsGatewayTables(config: GatewayConfig): Promise<boolean> {
  const dsn = config.postgres.dsn!;
  if (dsn === 'embedded') return true;
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('sources', $1)",
      [config.postgres.registryTable],
    );
    return rows[0]!.n === 2;
  } catch (error) {
    throw asUnavailable(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The checksum, copy and verify lines as before; on a terminal the copy also drives a bar over SQLite's row count. */
function cutoverProgress(progress: Progress): (update: CutoverProgress) => void {
  let copied = 0;
  return (update) => {
    switch (update.phase) {
      case 'checksum':
        progress.note(`${update.side} ${update.table}: ${update.rows} rows checksummed`);
        break;
      case 'copying':
        progress.phase('copy', { total: update.rows, line: null });
        break;
      case 'copy':
        copied += update.rows;
        progress.update(copied);
        progress.note(`copy ${update.table}: ${update.rows} rows`);
        break;
      case 'verify':
        progress.endPhase();
        progress.note(`verify ${update.table}: ${update.equal ? 'equal' : 'DIFFERS'}`);
        break;
    }
  };
}

const short = (checksum: string | null) => (checksum ? checksum.slice(0, 12) : '-');

function tableLines(tables: CutoverTable[]): string[] {
  const header = ['table', 'sqlite rows', 'postgres rows', 'sqlite checksum', 'postgres checksum', 'equal'];
  const rows = tables.map((table) => [
    table.table,
    String(table.sqliteRows),
    table.postgresRowsBefore === table.postgresRows || table.postgresRowsBefore === null
      ? String(table.postgresRows ?? '-')
      : `${table.postgresRowsBefore} -> ${table.postgresRows}`,
    short(table.sqliteChecksum),
    short(table.postgresChecksum),
    table.equal ? 'yes' : 'no',
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function reportLines(report: CutoverReport): string[] {
  const target = report.schemaName ? `schema ${report.schemaName}` : 'no schema yet';
  return [
    `cutover of source ${report.sourceId} (PostgreSQL ${target})${report.dryRun ? ', dry run' : ''}`,
    ...tableLines(report.tables),
    ...(report.bootstrapped ? ['bootstrapped the source in PostgreSQL'] : []),
    ...(report.metadataUpdated ? ["updated PostgreSQL's source row from SQLite (label, kind, description, enabled)"] : []),
    report.verdict,
    `duration ${(report.durationMs / 1000).toFixed(2)} s`,
  ];
}
