import type { Command } from 'commander';
import { DEFAULT_MIGRATION_CONCURRENCY, loadConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import type { SchemaMigrationReport } from '../interfaces.js';
import { createProgress } from './progress.js';
import { positiveInteger, printResult, usageError, withStore } from './shared.js';

interface MigrateCommandOptions {
  all?: boolean;
  source: string[];
  concurrency: number;
  dryRun?: boolean;
  json?: boolean;
}

export interface MigrateResult {
  mode: string;
  latestVersion: number | null;
  dryRun: boolean;
  concurrency: number;
  durationMs: number;
  failed: number;
  schemas: SchemaMigrationReport[];
  notice: string | null;
}

const SQLITE_NOTICE =
  'SQLite has no versioned schemas: its layout (layout.sql, IF NOT EXISTS throughout) is applied at every start; nothing to migrate';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('Bring tenant schemas to the latest migration (POSTGRES_PRIMARY), each in its own transaction')
    .option('--all', 'every registered source')
    .option('--source <id>', 'this source (repeat for several)', (value: string, previous: string[]) => [...previous, value], [])
    .option('--concurrency <n>', 'schemas migrated at once', positiveInteger('--concurrency'), DEFAULT_MIGRATION_CONCURRENCY)
    .option('--dry-run', 'change nothing: print what each schema would run')
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      '\nEach schema runs its pending files (src/stores/postgres/migrations/NNN_name.sql) in order inside one\n' +
        'transaction holding an advisory lock on that schema, records them in <schema>.sx_schema_migrations and\n' +
        'sets the registry\'s migration_version. A recorded migration never runs again, so two runs at once (two\n' +
        'deploys) each wait for the other per schema and apply nothing twice. A failing schema is rolled back and\n' +
        'reported (MIGRATION_FAILED); the others go on. A schema from before the record takes its version from the\n' +
        'registry. In SQLITE and POSTGRES_MIRROR mode there is nothing to migrate: it says so and exits 0.\n\n' +
        'Exit code 0 when every schema is at the latest version (and for a dry run), 1 when a schema failed.',
    )
    .action(async (options: MigrateCommandOptions) => {
      if (Boolean(options.all) === options.source.length > 0) throw usageError('migrate needs exactly one of --all or --source <id>');
      const config = loadConfig();
      if (config.mode !== 'POSTGRES_PRIMARY') {
        // Exit 0: a deploy step that runs `migrate --all` before every start works in every mode.
        const result: MigrateResult = {
          mode: config.mode,
          latestVersion: null,
          dryRun: Boolean(options.dryRun),
          concurrency: options.concurrency,
          durationMs: 0,
          failed: 0,
          schemas: [],
          notice: SQLITE_NOTICE,
        };
        printResult(options.json, result, () => [`${config.mode}: ${SQLITE_NOTICE}`]);
        return;
      }
      const started = performance.now();
      const progress = createProgress({ json: options.json });
      let schemas: SchemaMigrationReport[];
      let latestVersion: number | null = null;
      try {
        schemas = await withStore(config, async ({ store }) => {
          const tenantSchemas = store.tenantSchemas;
          if (!tenantSchemas) throw new Error(`POSTGRES_PRIMARY opened a ${store.mode} store without tenant schemas`);
          latestVersion = tenantSchemas.latestVersion;
          // The total for the progress bar (migrateAll looks the targets up again: one registry query).
          const targets = await tenantSchemas.migrationTargets(options.all ? undefined : options.source);
          progress.phase('migrate', { total: targets.length, unit: 'schemas', line: (state) => `migrate: ${state.done} of ${state.total} schemas` });
          let done = 0;
          return tenantSchemas.migrateAll({
            sourceIds: options.all ? undefined : options.source,
            concurrency: options.concurrency,
            dryRun: options.dryRun,
            onSchema: () => progress.update(++done),
          });
        });
      } finally {
        progress.stop();
      }
      const result: MigrateResult = {
        mode: config.mode,
        latestVersion,
        dryRun: Boolean(options.dryRun),
        concurrency: options.concurrency,
        durationMs: Math.round(performance.now() - started),
        failed: schemas.filter((report) => report.error).length,
        schemas,
        notice: null,
      };
      printResult(options.json, result, () => resultLines(result));
      if (result.failed > 0) {
        const names = schemas.filter((report) => report.error).map((report) => report.schemaName);
        throw new GatewayError(
          'MIGRATION_FAILED',
          `${result.failed} of ${schemas.length} schemas failed to migrate and were rolled back: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}`,
        );
      }
    });
}

const versions = (list: number[]) => list.join(',');

function schemaLine(report: SchemaMigrationReport, dryRun: boolean): string {
  const name = `${report.schemaName} (${report.sourceId})`;
  const ms = `${Math.round(report.durationMs)} ms`;
  const notes = [
    report.inferred.length ? `inferred ${versions(report.inferred)} from the registry` : '',
    report.drifted.length ? `WARNING: the files of ${versions(report.drifted)} changed since they ran (not re-run)` : '',
  ].filter(Boolean);
  const tail = notes.length ? `; ${notes.join('; ')}` : '';
  if (report.error) {
    return `FAILED ${name}: at ${report.from}, ${report.error.code} ${report.error.message} (${ms}), rolled back${tail}`;
  }
  if (report.applied.length === 0) return `ok     ${name}: ${report.to}, up to date (${ms})${tail}`;
  const verb = dryRun ? 'would apply' : 'applied';
  return `ok     ${name}: ${report.from} → ${report.to}, ${verb} ${versions(report.applied)} (${ms})${tail}`;
}

function resultLines(result: MigrateResult): string[] {
  const changed = result.schemas.filter((report) => report.applied.length > 0 && !report.error).length;
  const current = result.schemas.length - changed - result.failed;
  const summary = result.dryRun
    ? `dry run: ${changed} of ${result.schemas.length} schemas would migrate to version ${result.latestVersion}, ${current} up to date; nothing changed`
    : `${result.failed > 0 ? 'migrate FAILED' : 'migrated'}: ${changed} schemas to version ${result.latestVersion}, ${current} up to date, ` +
      `${result.failed} failed`;
  return [
    ...result.schemas.map((report) => schemaLine(report, result.dryRun)),
    `${summary} (${result.schemas.length} schemas, concurrency ${result.concurrency}, ${(result.durationMs / 1000).toFixed(2)} s)`,
  ];
}
