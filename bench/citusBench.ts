// `--only citus`: the page workload through a gateway whose DSN is a Citus coordinator, with two sources on two
// workers, beside the same workload on one plain PostgreSQL in the same run; then the time of a source move.
// Every node of the cluster runs on this machine, so with a few cores the figures are the coordinator's overhead
// (a second hop and Citus's planning per statement), not what spreading sources over machines gains.
import { cpus } from 'node:os';
import pg from 'pg';
import { SOURCE_TABLES } from '../src/tables/sourceTables.js';
import { moveSchema, schemaPlacements } from '../src/stores/postgres/citus.js';
import { findCitus, startCitusCluster, type CitusCluster } from '../test/support/citusCluster.js';
import type { DatasetFiles } from './dataset.js';
import { loadGraphql, type GraphqlWork, type LoadResult } from './load.js';
import { makeWorkloads } from './postgraphile/queries.js';
import { dropDatabase, recreateDatabase, type BenchServer } from './postgres.js';
import { runCli } from './processes.js';
import { startGateway, type LoadShape } from './queryBench.js';
import { withPgClient } from '../test/support/pgClient.js';

export interface CitusMove {
  from: string;
  to: string;
  /** The command's own duration of citus_schema_move, without the CLI's start-up. */
  ms: number;
  /** The CLI process, spawn to exit. */
  processMs: number;
}

export interface CitusFigures {
  cluster: string;
  cpus: number;
  videos: number;
  /** The plain server's shared_buffers, given to every node of the cluster too. */
  sharedBuffers: string;
  placements: { sourceId: string; node: string }[];
  imports: { citusMs: number[]; plainMs: number[] };
  page: { citus: LoadResult; plain: LoadResult };
  moved: { sourceId: string; rows: number; size: string; mode: string; moves: CitusMove[] };
}

export type CitusPart = CitusFigures | { missing: string };

const SOURCES = ['big_1', 'big_2'];
const PLAIN_DATABASE = 'sx_bench_citus_plain';

const postgresEnv = (dsn: string) => ({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: dsn, SX_LOG_LEVEL: 'warn' });


async function cliImport(dsn: string, sourceId: string, files: DatasetFiles): Promise<number> {
  const args = ['import', '--create', '--source', sourceId, '--csv', files.consolidated, '--authors', files.authors, '--bookmarks', files.bookmarks, '--json'];
  return (await runCli(args, postgresEnv(dsn))).ms;
}

/** The page workload over both sources, one request to each in turn, against a gateway serving `dsn`. */
async function pageLoad(dsn: string, shape: LoadShape, poolMax: number): Promise<LoadResult> {
  const gateway = await startGateway({ ...postgresEnv(dsn), SX_POSTGRES_POOL_MAX: String(poolMax) });
  try {
    const works: GraphqlWork[] = SOURCES.map((sourceId) => makeWorkloads(sourceId).page.gateway);
    for (const work of works) {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: work.query, variables: work.variables }),
      });
      const text = await response.text();
      if (response.status !== 200 || text.includes('"errors"')) throw new Error(`the page workload failed on ${dsn}: ${text.slice(0, 500)}`);
    }
    let turn = 0;
    const next = () => works[turn++ % works.length]!;
    await loadGraphql(gateway.url, next, { connections: shape.connections, seconds: shape.warmupSeconds });
    return await loadGraphql(gateway.url, next, { connections: shape.connections, seconds: shape.seconds });
  } finally {
    await gateway.stop();
  }
}

const nodeName = (node: { name: string; port: number }) => `${node.name}:${node.port}`;

async function placementOf(client: pg.Client, schemaName: string): Promise<{ name: string; port: number }> {
  const [placement] = await schemaPlacements(client, [schemaName]);
  if (!placement || placement.colocationId === null || placement.nodes.length !== 1) {
    throw new Error(`${schemaName} is not a distributed schema on one worker: ${JSON.stringify(placement)}`);
  }
  return placement.nodes[0]!;
}

/** Every row of the source over all its tables, and Citus's size of the schema on its worker. */
async function sourceSize(client: pg.Client, schemaName: string): Promise<{ rows: number; size: string }> {
  let rows = 0;
  for (const { table } of SOURCE_TABLES) {
    const { rows: counted } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${pg.escapeIdentifier(schemaName)}.${pg.escapeIdentifier(table)}`);
    rows += Number(counted[0]!.n);
  }
  const { rows: sized } = await client.query<{ size: string }>('SELECT schema_size AS size FROM citus_schemas WHERE schema_name = $1::regnamespace', [schemaName]);
  return { rows, size: sized[0]?.size ?? 'n/a' };
}

export async function benchCitus(
  server: BenchServer,
  files: DatasetFiles,
  videos: number,
  options: { shape: LoadShape; poolMax: number; log: (line: string) => void },
): Promise<CitusPart> {
  const installation = findCitus();
  if (!installation.installed) return { missing: `Citus is not installed (${installation.problem})` };
  const { log } = options;
  await recreateDatabase(server.adminUrl, PLAIN_DATABASE);
  const plainUrl = server.databaseUrl(PLAIN_DATABASE);
  let cluster: CitusCluster | null = null;
  try {
    const sharedBuffers = await withPgClient(plainUrl, async (client) => (await client.query<{ v: string }>("SELECT current_setting('shared_buffers') AS v")).rows[0]!.v);
    log(`citus: starting a coordinator and 2 workers (shared_buffers ${sharedBuffers}, as the plain server)`);
    cluster = await startCitusCluster({ database: 'sx_bench', settings: { shared_buffers: sharedBuffers } });
    const coordinatorUrl = cluster.coordinatorUrl;

    const imports = { citusMs: [] as number[], plainMs: [] as number[] };
    for (const sourceId of SOURCES) {
      log(`citus: import of ${videos} videos into ${sourceId}, through the coordinator and into plain PostgreSQL`);
      imports.citusMs.push(await cliImport(coordinatorUrl, sourceId, files));
      imports.plainMs.push(await cliImport(plainUrl, sourceId, files));
    }

    const placements = await withPgClient(coordinatorUrl, async (client) => {
      const first = await placementOf(client, 'sx_big_1');
      // New schemas alternate between the workers; should both have landed on one, spread them before measuring.
      if (nodeName(await placementOf(client, 'sx_big_2')) === nodeName(first)) {
        const other = cluster!.workers.find((w) => w.port !== first.port)!;
        await moveSchema(client, 'sx_big_2', other, 'force_logical');
      }
      const found: { sourceId: string; node: string }[] = [];
      for (const sourceId of SOURCES) found.push({ sourceId, node: nodeName(await placementOf(client, `sx_${sourceId}`)) });
      return found;
    });
    if (placements[0]!.node === placements[1]!.node) throw new Error(`both sources on ${placements[0]!.node}`);

    log(`citus: page workload through the coordinator (${placements.map((p) => `${p.sourceId} on ${p.node}`).join(', ')})`);
    const citus = await pageLoad(coordinatorUrl, options.shape, options.poolMax);
    log(`citus: page workload on plain PostgreSQL`);
    const plain = await pageLoad(plainUrl, options.shape, options.poolMax);
    log(`citus: ${citus.requestsPerSecond.toFixed(0)} req/s p50 ${citus.p50Ms} ms; plain ${plain.requestsPerSecond.toFixed(0)} req/s p50 ${plain.p50Ms} ms`);

    // The move goes there and back: two samples of the same source, each ending where the other began.
    const moving = 'big_2';
    const { rows, size } = await withPgClient(coordinatorUrl, (client) => sourceSize(client, `sx_${moving}`));
    const moves: CitusMove[] = [];
    for (const target of [placements[0]!.node, placements[1]!.node]) {
      log(`citus: move-source --source ${moving} --to ${target} --mode force_logical (${rows} rows, ${size})`);
      const { stdout, ms } = await runCli(
        ['move-source', '--source', moving, '--to', target, '--mode', 'force_logical', '--json'],
        postgresEnv(coordinatorUrl),
      );
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
        before: { nodes: { name: string; port: number }[] };
        after: { nodes: { name: string; port: number }[] };
        durationMs: number;
      };
      const after = result.after.nodes.map(nodeName).join(', ');
      if (after !== target) throw new Error(`move-source left ${moving} on ${after}, not ${target}`);
      moves.push({ from: result.before.nodes.map(nodeName).join(', '), to: after, ms: result.durationMs, processMs: ms });
    }
    return {
      cluster: cluster.version,
      cpus: cpus().length,
      videos,
      sharedBuffers,
      placements,
      imports,
      page: { citus, plain },
      moved: { sourceId: moving, rows, size, mode: 'force_logical', moves },
    };
  } finally {
    await cluster?.stop();
    await dropDatabase(server.adminUrl, PLAIN_DATABASE).catch(() => undefined);
  }
}
