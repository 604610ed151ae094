// `--only operations`: the operator's commands (backup, restore, cutover, migrate) run as an operator runs them,
// one CLI process each, timed from spawn to exit beside the plain PostgreSQL tool or gateway command that does
// the nearest job. What the gateway adds (checksums in the dump's snapshot, a verification pass, a copy proven
// table by table) is the difference the ratios show.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { findPgTool, toolConnection } from '../src/tasks/pgTools.js';
import { openStore } from '../src/stores/openStore.js';
import { latestTenantVersion } from '../src/stores/postgres/migrationFiles.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import type { DatasetFiles } from './dataset.js';
import { dropDatabase, recreateDatabase, type BenchServer } from './postgres.js';
import { runCli, runProcess } from './processes.js';

/** The median of a command's runs, and every run, in ms. */
export interface Timed {
  ms: number;
  runs: number[];
}

export interface OperationsFigures {
  videos: number;
  runs: number;
  /** Rows the source holds in PostgreSQL over all its tables: what a backup, restore or cutover moves. */
  sourceRows: number;
  tables: number;
  /** The server's autovacuum setting: with it off, nothing analyzes the tables a command has just filled. */
  autovacuum: string;
  /** `sx-gateway --version`: the start-up every CLI figure below includes. */
  cliStart: Timed;
  backup: {
    gateway: Timed;
    /** The command's own durationMs: the time after start-up, checksums and pg_dump in parallel. */
    gatewayInside: Timed;
    pgDump: Timed;
    gatewayBytes: number;
    pgDumpBytes: number;
  };
  restore: {
    gateway: Timed;
    /** pg_restore | psql of the schema (globals included), per the command's report. */
    gatewayRestoreStep: Timed;
    /** The rest of the command's durationMs: checksums of every table and the gateway's own answers. */
    gatewayVerify: Timed;
    pgRestore: Timed;
  };
  cutover: {
    sqliteImportMs: number;
    cutover: Timed;
    cutoverInside: Timed;
    copiedRows: number;
    noop: Timed;
    import: Timed;
  };
  migrate?: {
    schemas: number;
    fromVersion: number;
    toVersion: number;
    serial: Timed;
    concurrent: Timed;
    concurrency: number;
  };
  totalMs: number;
}

export interface OperationsOptions {
  runs: number;
  /** Schemas built at version 1 for the migrate figures; 0 leaves them out. */
  migrateSchemas: number;
  log: (line: string) => void;
}

const SOURCE = 'library';
const PREFIX = 'sx_bench_ops';
const MIGRATE_FROM = 1;
const MIGRATE_CONCURRENCY = 4;

function timed(runs: number[]): Timed {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const ms = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { ms, runs };
}

/** The report the command printed with --json: the last line of its stdout. */
function jsonOf<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

interface BackupJson {
  dumpFile: string;
  bytes: number;
  durationMs: number;
  sources: { id: string; tables: { table: string; rows: number }[] }[];
}
interface RestoreJson {
  ok: boolean;
  durationMs: number;
  sources: { durationMs: number }[];
}
interface CutoverJson {
  action: string;
  verified: boolean;
  copiedRows: number;
  durationMs: number;
}
interface MigrateJson {
  failed: number;
  durationMs: number;
  schemas: { from: number; to: number }[];
}

export async function benchOperations(server: BenchServer, files: DatasetFiles, videos: number, options: OperationsOptions): Promise<OperationsFigures> {
  const started = performance.now();
  const { runs, log } = options;
  const [pgDump, pgRestore] = await Promise.all([findPgTool('pg_dump'), findPgTool('pg_restore')]);
  const work = await mkdtemp(path.join(tmpdir(), 'sx-gateway-bench-ops-'));
  const created = new Set<string>();
  const fresh = async (role: string, i: number) => {
    const name = `${PREFIX}_${role}_${i}`;
    created.add(name);
    await recreateDatabase(server.adminUrl, name);
    return { name, url: server.databaseUrl(name) };
  };
  const drop = async (name: string) => {
    await dropDatabase(server.adminUrl, name);
    created.delete(name);
  };
  // Both DSNs point at the target, so an SX_POSTGRES_ADMIN_DSN in the caller's environment cannot redirect the
  // commands (backup and migrate prefer it) to another database.
  const postgresEnv = (url: string) => ({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: url, SX_POSTGRES_ADMIN_DSN: url, SX_LOG_LEVEL: 'warn' });
  const csvArgs = ['--csv', files.consolidated, '--authors', files.authors, '--bookmarks', files.bookmarks];

  try {
    const cliStartRuns: number[] = [];
    for (let i = 0; i < runs; i++) cliStartRuns.push((await runCli(['--version'], {})).ms);

    // --- cutover vs import ----------------------------------------------------------------------------------
    log(`operations: SQLite file of ${videos} videos`);
    const sqliteFile = path.join(work, 'library.db');
    const sqliteEnv = { SX_DB_BACKEND_MODE: 'SQLITE', SX_DB_PATH: sqliteFile, SX_LOG_LEVEL: 'warn' };
    const sqliteImport = await runCli(['import', '--create', '--source', SOURCE, ...csvArgs, '--json'], sqliteEnv);

    const importRuns: number[] = [];
    const cutoverRuns: number[] = [];
    const cutoverInside: number[] = [];
    const noopRuns: number[] = [];
    let copiedRows = 0;
    // The first import's database stays: it is the library the backups dump.
    let library: { name: string; url: string } | null = null;
    for (let i = 0; i < runs; i++) {
      log(`operations: import vs cutover, run ${i + 1} of ${runs}`);
      const imported = await fresh('import', i);
      importRuns.push((await runCli(['import', '--create', '--source', SOURCE, ...csvArgs, '--json'], postgresEnv(imported.url))).ms);
      if (library) await drop(imported.name);
      else library = imported;

      const target = await fresh('cutover', i);
      const env = { ...postgresEnv(target.url), SX_DB_PATH: sqliteFile };
      const first = await runCli(['cutover', '--source', SOURCE, '--json'], env);
      const firstReport = jsonOf<CutoverJson>(first.stdout);
      if (firstReport.action !== 'copy' || !firstReport.verified) throw new Error(`cutover run ${i + 1}: ${first.stdout}`);
      const again = await runCli(['cutover', '--source', SOURCE, '--json'], env);
      const againReport = jsonOf<CutoverJson>(again.stdout);
      if (againReport.action !== 'none') throw new Error(`second cutover run ${i + 1} was not a no-op: ${again.stdout}`);
      cutoverRuns.push(first.ms);
      cutoverInside.push(firstReport.durationMs);
      noopRuns.push(again.ms);
      copiedRows = firstReport.copiedRows;
      await drop(target.name);
    }

    // --- backup vs pg_dump ----------------------------------------------------------------------------------
    const gatewayBackup: number[] = [];
    const gatewayBackupInside: number[] = [];
    const dumpRuns: number[] = [];
    let gatewayDump = '';
    let gatewayBytes = 0;
    let pgDumpBytes = 0;
    let sourceRows = 0;
    let tables = 0;
    const connection = toolConnection(library!.url);
    // A scheduled backup meets tables autovacuum has analyzed; right after a bulk load (or on a server with
    // autovacuum off) the checksum's keyset batches get a plan for empty tables and re-sort the whole table per
    // batch, which would make this figure measure that instead of the backup.
    await analyze(library!.url);
    for (let i = 0; i < runs; i++) {
      log(`operations: backup vs pg_dump, run ${i + 1} of ${runs}`);
      // A folder per run: --keep prunes within a folder, and each run must write, not find, its backup.
      const out = path.join(work, `backup-${i}`);
      const backup = await runCli(['backup', '--all', '--out', out, '--json'], postgresEnv(library!.url));
      const report = jsonOf<BackupJson>(backup.stdout);
      gatewayBackup.push(backup.ms);
      gatewayBackupInside.push(report.durationMs);
      if (i === 0) {
        gatewayDump = report.dumpFile;
        gatewayBytes = report.bytes;
        const source = report.sources.find((s) => s.id === SOURCE)!;
        sourceRows = source.tables.reduce((sum, t) => sum + t.rows, 0);
        tables = source.tables.length;
      } else {
        await rm(out, { recursive: true, force: true });
      }
      const file = path.join(work, `pg_dump-${i}.dump`);
      const dumped = await runProcess(pgDump.path, ['--format=custom', `--file=${file}`, '--no-password', `--dbname=${connection.dbname}`], connection.env);
      dumpRuns.push(dumped.ms);
      pgDumpBytes = (await stat(file)).size;
      await rm(file, { force: true });
    }
    await drop(library!.name);

    // --- restore vs pg_restore ------------------------------------------------------------------------------
    const restoreRuns: number[] = [];
    const restoreStep: number[] = [];
    const restoreVerify: number[] = [];
    const pgRestoreRuns: number[] = [];
    for (let i = 0; i < runs; i++) {
      log(`operations: restore vs pg_restore, run ${i + 1} of ${runs}`);
      const target = await fresh('restore', i);
      const restored = await runCli(['restore', gatewayDump, '--dsn', target.url, '--json'], postgresEnv(target.url));
      const report = jsonOf<RestoreJson>(restored.stdout);
      if (!report.ok) throw new Error(`restore run ${i + 1} not verified: ${restored.stdout}`);
      const step = report.sources.reduce((sum, s) => sum + s.durationMs, 0);
      restoreRuns.push(restored.ms);
      restoreStep.push(step);
      restoreVerify.push(report.durationMs - step);
      await drop(target.name);

      const plain = await fresh('pg_restore', i);
      const plainConnection = toolConnection(plain.url);
      pgRestoreRuns.push((await runProcess(pgRestore.path, ['--no-password', `--dbname=${plainConnection.dbname}`, gatewayDump], plainConnection.env)).ms);
      await drop(plain.name);
    }

    // --- migrate --all, concurrency 1 vs 4 ------------------------------------------------------------------
    let migrate: OperationsFigures['migrate'];
    if (options.migrateSchemas > 0) {
      log(`operations: ${options.migrateSchemas} schemas at version ${MIGRATE_FROM}`);
      const template = await fresh('migrate_template', 0);
      await buildOldSchemas(template.url, options.migrateSchemas);
      const serial: number[] = [];
      const concurrent: number[] = [];
      for (let i = 0; i < runs; i++) {
        for (const concurrency of [1, MIGRATE_CONCURRENCY]) {
          log(`operations: migrate --all --concurrency ${concurrency}, run ${i + 1} of ${runs}`);
          // A copy of the template is a fresh database at version 1 in about a second, where building the
          // schemas again would take longer than the migration measured.
          const target = { name: `${PREFIX}_migrate_${i}_${concurrency}`, url: '' };
          created.add(target.name);
          await createFromTemplate(server.adminUrl, target.name, template.name);
          target.url = server.databaseUrl(target.name);
          const run = await runCli(['migrate', '--all', '--concurrency', String(concurrency), '--json'], postgresEnv(target.url));
          const report = jsonOf<MigrateJson>(run.stdout);
          const moved = report.schemas.filter((s) => s.from === MIGRATE_FROM && s.to === latestTenantVersion).length;
          if (report.failed > 0 || moved !== options.migrateSchemas) throw new Error(`migrate run: ${moved} of ${options.migrateSchemas} schemas migrated, ${report.failed} failed`);
          (concurrency === 1 ? serial : concurrent).push(run.ms);
          await drop(target.name);
        }
      }
      migrate = {
        schemas: options.migrateSchemas,
        fromVersion: MIGRATE_FROM,
        toVersion: latestTenantVersion,
        serial: timed(serial),
        concurrent: timed(concurrent),
        concurrency: MIGRATE_CONCURRENCY,
      };
    }

    return {
      videos,
      runs,
      sourceRows,
      tables,
      autovacuum: await setting(server.adminUrl, 'autovacuum'),
      cliStart: timed(cliStartRuns),
      backup: { gateway: timed(gatewayBackup), gatewayInside: timed(gatewayBackupInside), pgDump: timed(dumpRuns), gatewayBytes, pgDumpBytes },
      restore: { gateway: timed(restoreRuns), gatewayRestoreStep: timed(restoreStep), gatewayVerify: timed(restoreVerify), pgRestore: timed(pgRestoreRuns) },
      cutover: {
        sqliteImportMs: sqliteImport.ms,
        cutover: timed(cutoverRuns),
        cutoverInside: timed(cutoverInside),
        copiedRows,
        noop: timed(noopRuns),
        import: timed(importRuns),
      },
      migrate,
      totalMs: performance.now() - started,
    };
  } finally {
    for (const name of created) await dropDatabase(server.adminUrl, name).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

async function analyze(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

async function setting(databaseUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name])).rows[0]!.v;
  } finally {
    await client.end();
  }
}

/** Sources bootstrapped as a gateway of migration `MIGRATE_FROM` would have left them, in-process (not measured). */
async function buildOldSchemas(databaseUrl: string, count: number): Promise<void> {
  const opened = await openStore(loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: databaseUrl, SX_LOG_LEVEL: 'warn' }));
  try {
    if (!(opened.store instanceof PostgresStore)) throw new Error(`POSTGRES_PRIMARY opened a ${opened.store.mode} store`);
    for (let i = 0; i < count; i++) {
      await opened.store.registry.bootstrap({ sourceId: `m${String(i).padStart(4, '0')}` }, { targetVersion: MIGRATE_FROM });
    }
  } finally {
    await opened.close();
  }
}

async function createFromTemplate(adminUrl: string, name: string, template: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`);
  } finally {
    await client.end();
  }
}
