import { createReadStream, existsSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import pino from 'pino';
import { ConfigError, loadConfig, type GatewayConfig } from './config.js';
import { importDemo } from './demo.js';
import { isGatewayError } from './errors.js';
import { importCsv, type ImportProgress } from './import/importCsv.js';
import { listen } from './server.js';
import { openStore, type OpenedStore } from './stores/openStore.js';
import { version } from './schema/version.js';

/** Exit codes: 0 success, 1 the command failed, 2 bad usage or configuration. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const logger = pino({ level: process.env.SX_LOG_LEVEL ?? 'info' }, pino.destination(2));

async function withStore<T>(config: GatewayConfig, fn: (opened: OpenedStore) => Promise<T>): Promise<T> {
  const opened = await openStore(config);
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

function progressPrinter(): (progress: ImportProgress) => void {
  let last = 0;
  return (progress) => {
    const now = Date.now();
    if (progress.file !== 'merge' && now - last < 1000) return;
    last = now;
    process.stderr.write(
      progress.file === 'merge'
        ? `merged ${progress.rows} consolidated rows\n`
        : `${progress.file}: ${progress.rows} rows, ${(progress.bytes / 1e6).toFixed(1)} MB read\n`,
    );
  };
}

function requireFile(path: string, option: string): string {
  if (!existsSync(path)) throw new CommanderError(EXIT_USAGE, 'sx.file', `${option}: no such file: ${path}`);
  return path;
}

const program = new Command()
  .name('sx-gateway')
  .description('GraphQL gateway over a media library: SQLite embedded, PostgreSQL primary with one schema per source')
  .version(version)
  .showHelpAfterError();

program
  .command('serve')
  .description('Serve GraphQL (and GraphiQL) at /graphql and a JSON probe at /health')
  .option('--host <host>', 'address to listen on (SX_API_HOST)')
  .option('--port <port>', 'port to listen on (SX_API_PORT)', (v) => Number(v))
  .action(async (options: { host?: string; port?: number }) => {
    const config = loadConfig();
    const opened = await openStore(config);
    if (opened.firstRun && config.demoImport) {
      const demo = await importDemo(opened.store);
      if (demo) logger.info({ inserted: demo.inserted }, 'new database: imported the sample export as source "demo"');
    }
    const gateway = await listen(opened.store, config, { host: options.host, port: options.port, logger });
    logger.info({ mode: config.mode, url: `${gateway.url}/graphql` }, 'sx-gateway serving');
    process.stdout.write(`sx-gateway ${version} (${config.mode}) serving GraphiQL at ${gateway.url}/graphql\n`);
    const stop = async () => {
      await gateway.close();
      await opened.close();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('pg-bootstrap')
  .description('Create a source: in PostgreSQL its schema, tables, indexes and registry rows (idempotent)')
  .requiredOption('--source <id>', 'source id, e.g. assets_1')
  .option('--label <label>', 'human-readable label')
  .action(async (options: { source: string; label?: string }) => {
    const config = loadConfig();
    const source = await withStore(config, ({ store }) =>
      store.bootstrapSource({ sourceId: options.source, label: options.label }),
    );
    process.stdout.write(
      `bootstrapped source ${source.id}${source.schemaName ? ` (schema ${source.schemaName}, migration ${source.migrationVersion})` : ''}\n`,
    );
  });

program
  .command('import')
  .description('Import a CSV export into a source (all or nothing); creates the source when missing')
  .requiredOption('--source <id>', 'source id')
  .requiredOption('--csv <file>', 'consolidated CSV (required)')
  .option('--authors <file>', 'authors CSV')
  .option('--bookmarks <file>', 'bookmarks CSV')
  .option('--json', 'print the summary as one JSON object (with the peak RSS of the process)')
  .action(async (options: { source: string; csv: string; authors?: string; bookmarks?: string; json?: boolean }) => {
    const config = loadConfig();
    const csv = requireFile(options.csv, '--csv');
    const authors = options.authors ? requireFile(options.authors, '--authors') : null;
    const bookmarks = options.bookmarks ? requireFile(options.bookmarks, '--bookmarks') : null;
    const summary = await withStore(config, ({ store }) =>
      importCsv(
        store,
        options.source,
        {
          consolidated: () => createReadStream(csv),
          authors: authors ? () => createReadStream(authors) : null,
          bookmarks: bookmarks ? () => createReadStream(bookmarks) : null,
        },
        options.json ? undefined : progressPrinter(),
      ),
    );
    if (options.json) {
      // maxRSS is in KiB: the figure the benchmark compares across file sizes.
      process.stdout.write(`${JSON.stringify({ ...summary, peakRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
      return;
    }
    process.stdout.write(
      `imported into ${summary.sourceId}: inserted=${summary.inserted} updated=${summary.updated} skipped=${summary.skipped} ` +
        `(rows: consolidated=${summary.rows.consolidated} authors=${summary.rows.authors} bookmarks=${summary.rows.bookmarks}; ` +
        `${(summary.durationMs / 1000).toFixed(2)} s)\n`,
    );
  });

program
  .command('sources')
  .description('List the sources, the default first')
  .action(async () => {
    const config = loadConfig();
    const sources = await withStore(config, ({ store }) => store.listSources());
    if (sources.length === 0) process.stdout.write('no sources\n');
    for (const s of sources) {
      process.stdout.write(
        `${s.isDefault ? '*' : ' '} ${s.id}\t${s.label ?? ''}\t${s.schemaName ?? '-'}\t${s.enabled ? 'enabled' : 'disabled'}\n`,
      );
    }
  });

program.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) process.exit(0);
    if (error.code === 'sx.file') process.stderr.write(`error: ${error.message}\n`);
    process.exit(EXIT_USAGE);
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(EXIT_USAGE);
  }
  if (isGatewayError(error)) {
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
    process.exit(EXIT_FAILED);
  }
  process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(EXIT_FAILED);
}
