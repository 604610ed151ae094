// `npm run bench`: imports, queries, many sources and SQLite, measured side by side in one run and printed as
// ratios with the goals of the performance issue marked met / not met.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import { explainQueries } from './explainBench.js';
import { benchCitus } from './citusBench.js';
import { benchImport, benchRowByRow, datasetFor } from './importBench.js';
import { benchOperations } from './operationsBench.js';
import { findBenchServer, recreateDatabase } from './postgres.js';
import { benchQueries, type LoadShape } from './queryBench.js';
import { report, type Results } from './report.js';
import { benchSources } from './sourcesBench.js';
import { benchSqlite } from './sqliteBench.js';
import { benchNotes } from './notesBench.js';

const SIZES: Record<string, number> = { '10k': 10_000, '100k': 100_000, '1m': 1_000_000 };
const PARTS = ['import', 'explain', 'queries', 'sources', 'sqlite', 'notes', 'operations', 'citus'];

const program = new Command()
  .name('bench')
  .description('sx-gateway benchmark')
  .option('--sizes <list>', 'dataset sizes for the import figures, the last one also serves the queries', '100k,1m')
  .option('--seconds <n>', 'length of each measured load run', (v) => Number(v), 20)
  .option('--warmup <n>', 'unmeasured seconds before each load run', (v) => Number(v), 3)
  .option('--connections <n>', 'concurrent connections of each load run', (v) => Number(v), 32)
  .option('--pool <n>', 'pooled PostgreSQL connections of the gateway, PostGraphile and the raw loop', (v) => Number(v), 10)
  .option('--sources <n>', 'sources for the many-sources run', (v) => Number(v), 1000)
  .option('--row-by-row <n>', 'rows the row-by-row baseline imports (a prefix of the largest file)', (v) => Number(v), 20_000)
  .option('--search <term>', 'the search workload\'s query (a word in about 3% of captions)', 'porto')
  .option('--runs <n>', 'runs of each operations command, the median is reported', (v) => Number(v), 3)
  .option('--migrate-schemas <n>', 'schemas the operations part migrates from version 1 (0: none)', (v) => Number(v), 200)
  .option(
    '--only <parts>',
    'comma list of: import,explain,queries,sources,sqlite,notes,operations,citus (not in the default: operations, backup, restore, ' +
      'cutover and migrate beside pg_dump, pg_restore and import, 3 runs each on the largest size; citus, the page workload through ' +
      'a Citus coordinator with two sources on two workers beside plain PostgreSQL, and a source move, on the largest size)',
    'import,explain,queries,sources,sqlite,notes',
  )
  .option('--data <dir>', 'where generated datasets are kept between runs', 'bench/.data')
  .option('--out <file>', 'results as JSON', 'bench/.data/results.json');

async function main(): Promise<void> {
  const options = program.parse().opts<{
    sizes: string; seconds: number; warmup: number; connections: number; pool: number; sources: number;
    rowByRow: number; search: string; runs: number; migrateSchemas: number; only: string; data: string; out: string;
  }>();
  const parts = new Set(options.only.split(','));
  const unknown = [...parts].filter((part) => !PARTS.includes(part));
  if (unknown.length) throw new Error(`unknown part ${unknown.join(', ')} in --only (use ${PARTS.join(', ')})`);
  const sizes = options.sizes.split(',').map((s) => {
    const n = SIZES[s.toLowerCase()];
    if (!n) throw new Error(`unknown size ${s} (use ${Object.keys(SIZES).join(', ')})`);
    return n;
  });
  const largest = Math.max(...sizes);
  const shape: LoadShape = { connections: options.connections, seconds: options.seconds, warmupSeconds: options.warmup };
  await mkdir(options.data, { recursive: true });

  const server = await findBenchServer();
  const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
  log(`PostgreSQL: ${server.origin}`);
  const results: Results = { machine: {}, imports: [], shape, search: options.search };
  try {
    const database = 'sx_bench';
    await recreateDatabase(server.adminUrl, database);
    const databaseUrl = server.databaseUrl(database);
    results.machine = {
      date: new Date().toISOString(),
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      postgres: await serverVersion(databaseUrl),
      postgresOrigin: server.origin,
    };

    const bigSource = 'big';
    // Only these parts read the largest source in sx_bench; the others build their own databases.
    const needsBig = parts.has('import') || parts.has('explain') || parts.has('queries');
    for (const videos of sizes) {
      const files = await datasetFor(options.data, videos);
      if (parts.has('import') || (videos === largest && needsBig)) {
        log(`import of ${videos} videos`);
        const source = videos === largest ? bigSource : `import_${videos}`;
        // The floor is what the goals' ratios are read against, so only the largest size, whose ratios they are.
        const floorSchema = videos === largest && parts.has('import') ? 'sx_big' : undefined;
        results.imports.push(await benchImport(databaseUrl, files, videos, source, { floorSchema }));
      }
      if (videos === largest && parts.has('import')) {
        log(`row-by-row baseline on ${options.rowByRow} rows`);
        results.rowByRow = await benchRowByRow(databaseUrl, files, options.rowByRow);
      }
    }
    // Reads are measured on a settled database, as autovacuum and the checkpointer leave it minutes after an
    // import: without this the first load runs share the cores with the vacuum of a million fresh rows and the
    // checkpoint of their WAL, and the index walks of search visit the table until the visibility map is set.
    if (needsBig && (parts.has('explain') || parts.has('queries'))) await settle(databaseUrl, 'sx_big');
    const author = needsBig ? await busiestAuthor(databaseUrl, 'sx_big') : '';
    if (needsBig) results.author = author;
    if (parts.has('explain')) {
      log('EXPLAIN ANALYZE of the offered filters and orders');
      results.plans = await explainQueries(databaseUrl, bigSource, 'sx_big', author, options.search);
    }
    if (parts.has('queries')) {
      log(`queries: ${options.connections} connections, ${options.seconds} s each`);
      const measured = await benchQueries(databaseUrl, bigSource, 'sx_big', author, options.search, shape, options.pool);
      results.queries = measured.queries;
      results.rest = measured.rest;
    }
    if (parts.has('sources')) {
      const sourcesDb = 'sx_bench_sources';
      await recreateDatabase(server.adminUrl, sourcesDb);
      log(`${options.sources} sources`);
      results.sources = await benchSources(server.databaseUrl(sourcesDb), options.sources, shape, options.pool);
    }
    if (parts.has('sqlite')) {
      log(`SQLITE mode on ${largest} videos`);
      results.sqlite = await benchSqlite(options.data, await datasetFor(options.data, largest), largest, shape);
    }
    if (parts.has('notes')) {
      log('bulk notes: a page of 500 renders through the gateway vs a plain loop');
      results.notes = await benchNotes(options.seconds, options.warmup);
    }
    if (parts.has('operations')) {
      log(`operations on ${largest} videos, ${options.runs} runs each`);
      results.operations = await benchOperations(server, await datasetFor(options.data, largest), largest, {
        runs: options.runs,
        migrateSchemas: options.migrateSchemas,
        log,
      });
    }
    if (parts.has('citus')) {
      log(`citus: page workload and a source move on ${largest} videos`);
      results.citus = await benchCitus(server, await datasetFor(options.data, largest), largest, { shape, poolMax: options.pool, log });
    }
  } finally {
    await server.stop();
  }
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, JSON.stringify(results, null, 2));
  process.stdout.write(report(results));
}

async function serverVersion(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
  } finally {
    await client.end();
  }
}

/** VACUUM (ANALYZE) of the source's tables, then a CHECKPOINT where the bench's role may ask for one. */
async function settle(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`,
      [schema],
    );
    for (const { name } of rows) await client.query(`VACUUM (ANALYZE) ${name}`);
    await client.query('CHECKPOINT').catch((error: Error) => process.stderr.write(`[bench] no CHECKPOINT before the reads: ${error.message}\n`));
  } finally {
    await client.end();
  }
}

/** The author with the most items: the author filter's worst page. */
async function busiestAuthor(databaseUrl: string, schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ a: string }>(
      `SELECT author_unique_id AS a FROM ${pg.escapeIdentifier(schema)}.videos WHERE author_unique_id IS NOT NULL
        GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
    );
    return rows[0]!.a;
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
