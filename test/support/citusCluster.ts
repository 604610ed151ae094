import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/**
 * A Citus cluster for tests: a coordinator and workers, each its own PostgreSQL 15 instance on a free loopback
 * port, with trust authentication on loopback, in one temporary folder. Citus is not an npm package: the tests
 * that need it look for citus.so in the server's library folder, print a banner and are skipped where it is
 * missing, and fail instead with SX_TEST_REQUIRE_CITUS=1 (as CI sets).
 */

export interface CitusNode {
  /** As the coordinator's metadata names it (pg_dist_node.nodename): a loopback address. */
  name: string;
  port: number;
  /** Connects to the node's database directly (maintenance, inspection), not through the coordinator. */
  url: string;
}

export interface CitusCluster {
  /** The database on the coordinator: what the gateway's SX_POSTGRES_DSN names. */
  coordinatorUrl: string;
  coordinator: CitusNode;
  workers: CitusNode[];
  database: string;
  /** `Citus 13.2.2 on PostgreSQL 15.x`, for the test log. */
  version: string;
  /** Stops every node and removes the folder; safe to call twice. */
  stop(): Promise<void>;
}

export interface CitusClusterOptions {
  workers?: number;
  /** The database created on every node with the extension (default sx_citus). */
  database?: string;
  /** Extra postgresql.conf lines for every node, `name = value`. */
  settings?: Record<string, string>;
}

export interface CitusInstallation {
  installed: boolean;
  /** The PostgreSQL binaries used (initdb, pg_ctl, pg_config). */
  binDir: string;
  /** pg_config --pkglibdir, where citus.so must be; null when pg_config did not answer. */
  libDir: string | null;
  /** Why the tests cannot run, when they cannot. */
  problem: string | null;
}

export const CITUS_REQUIRE_VARIABLE = 'SX_TEST_REQUIRE_CITUS';
/** Overrides the folder of initdb, pg_ctl and pg_config (default: Debian's PostgreSQL 15). */
export const CITUS_BIN_VARIABLE = 'SX_CITUS_PG_BIN_DIR';
const DEFAULT_BIN_DIR = '/usr/lib/postgresql/15/bin';

export const citusRequired = (env: NodeJS.ProcessEnv = process.env) => env[CITUS_REQUIRE_VARIABLE] === '1';

/** Whether the server binaries are there and Citus is installed into them; never throws. */
export function findCitus(env: NodeJS.ProcessEnv = process.env): CitusInstallation {
  const binDir = env[CITUS_BIN_VARIABLE] || DEFAULT_BIN_DIR;
  for (const tool of ['initdb', 'pg_ctl', 'pg_config', 'postgres']) {
    if (!existsSync(path.join(binDir, tool))) {
      return { installed: false, binDir, libDir: null, problem: `no ${tool} in ${binDir} (PostgreSQL 15 server package)` };
    }
  }
  const libDir = spawnSync(path.join(binDir, 'pg_config'), ['--pkglibdir'], { encoding: 'utf8' }).stdout?.trim() || null;
  if (!libDir) return { installed: false, binDir, libDir, problem: `${binDir}/pg_config --pkglibdir did not answer` };
  if (!existsSync(path.join(libDir, 'citus.so'))) {
    return { installed: false, binDir, libDir, problem: `no citus.so in ${libDir}` };
  }
  return { installed: true, binDir, libDir, problem: null };
}

/** The stderr message for a machine without Citus: what did not run, what was looked for, how to get it. */
export function citusMissingBanner(installation: CitusInstallation, whatDidNotRun: string, env: NodeJS.ProcessEnv = process.env): string {
  const line = '!'.repeat(78);
  return [
    line,
    `!! Citus NOT INSTALLED: ${whatDidNotRun} DID NOT RUN.`,
    `!! ${installation.problem ?? 'unknown reason'}.`,
    `!! Build Citus 12+ into this PostgreSQL 15 (or point ${CITUS_BIN_VARIABLE} at a server with it).`,
    citusRequired(env)
      ? `!! ${CITUS_REQUIRE_VARIABLE}=1 (as CI sets): they FAIL.`
      : `!! They are reported as skipped; with ${CITUS_REQUIRE_VARIABLE}=1 (as CI sets) they fail instead.`,
    line,
    '',
  ].join('\n');
}

async function freeLoopbackPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: found } = server.address() as { port: number };
        server.close(() => resolve(found));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

/** PostgreSQL refuses to run as root; run as root, every server command runs as the `postgres` user. */
function serverUser(): { name: string; uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (!entry) throw new Error('Run as root, the Citus test cluster needs a "postgres" system user to run PostgreSQL as');
  return { name: 'postgres', uid: Number(entry[2]), gid: Number(entry[3]) };
}

async function runServerTool(
  user: ReturnType<typeof serverUser>,
  binary: string,
  args: string[],
): Promise<{ stdout: string; stderr: string }> {
  const [command, commandArgs] = user ? ['runuser', ['-u', user.name, '--', binary, ...args]] : [binary, args];
  try {
    return await run(command, commandArgs, { timeout: 120_000, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  } catch (error) {
    const failed = error as Error & { stderr?: string; stdout?: string };
    throw new Error(`${path.basename(binary)} ${args.join(' ')} failed: ${failed.stderr || failed.stdout || failed.message}`);
  }
}

async function query(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts a coordinator and `workers` workers (default 2), creates `database` with the citus extension on each,
 * registers the coordinator's host and the workers, and turns on schema-based sharding, so every CREATE SCHEMA
 * through the coordinator makes a distributed schema. wal_level is logical on every node, so schemas can move
 * between workers with logical replication (citus_schema_move).
 */
export async function startCitusCluster(options: CitusClusterOptions = {}): Promise<CitusCluster> {
  const installation = findCitus();
  if (!installation.installed) throw new Error(citusMissingBanner(installation, 'the Citus cluster'));
  const database = options.database ?? 'sx_citus';
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`Refusing database name ${database}`);
  const user = serverUser();
  const dir = await mkdtemp(path.join(tmpdir(), 'sx-citus-'));
  if (user) {
    // The server user must own the folder it creates the data folders in.
    await chmod(dir, 0o755);
    await chown(dir, user.uid, user.gid);
  }
  const pgCtl = path.join(installation.binDir, 'pg_ctl');
  const started: string[] = [];
  const stop = async () => {
    for (const dataDir of started.splice(0).reverse()) {
      await runServerTool(user, pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30']).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports = new Set<number>();
    const names = ['coordinator', ...Array.from({ length: options.workers ?? 2 }, (_, i) => `worker${i + 1}`)];
    const settings: Record<string, string> = {
      shared_preload_libraries: "'citus'",
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: "''",
      max_connections: '200',
      shared_buffers: '32MB',
      fsync: 'off',
      full_page_writes: 'off',
      // Not synchronous_commit = off: an online schema move waits for the target to reach the source's WAL write
      // position, which an acknowledged asynchronous commit may not have reached yet; such writes were lost in
      // moves under load (they stayed in the old placement only).
      synchronous_commit: 'on',
      wal_level: 'logical',
      max_replication_slots: '16',
      max_wal_senders: '16',
      max_worker_processes: '32',
      // Nodes talk over loopback without TLS (Citus asks for sslmode=require by default).
      'citus.node_conninfo': "'sslmode=disable'",
      'citus.log_distributed_deadlock_detection': 'off',
      ...options.settings,
    };
    const nodes: CitusNode[] = [];
    // initdb one after the other (two cores), start them all.
    for (const name of names) {
      const dataDir = path.join(dir, name);
      const port = await freeLoopbackPort(ports);
      await runServerTool(user, path.join(installation.binDir, 'initdb'), [
        '-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync',
      ]);
      const conf = { ...settings, port: String(port), ...(name === 'coordinator' ? { 'citus.enable_schema_based_sharding': 'on' } : {}) };
      const lines = Object.entries(conf).map(([key, value]) => `${key} = ${value}`);
      await appendFile(path.join(dataDir, 'postgresql.conf'), `\n# test cluster\n${lines.join('\n')}\n`);
      nodes.push({ name: '127.0.0.1', port, url: `postgres://postgres@127.0.0.1:${port}/${database}` });
    }
    for (const name of names) {
      const dataDir = path.join(dir, name);
      try {
        await runServerTool(user, pgCtl, ['start', '-D', dataDir, '-l', path.join(dir, `${name}.log`), '-w', '-t', '60']);
      } catch (error) {
        const log = await readFile(path.join(dir, `${name}.log`), 'utf8').catch(() => '');
        throw new Error(`${(error as Error).message}\n${log.slice(-2000)}`);
      }
      started.push(dataDir);
    }
    for (const node of nodes) {
      const maintenance = node.url.replace(/\/[^/]+$/, '/postgres');
      await query(maintenance, `CREATE DATABASE "${database}"`);
      await query(node.url, 'CREATE EXTENSION citus');
    }
    const [coordinator, ...workers] = nodes as [CitusNode, ...CitusNode[]];
    await query(coordinator.url, 'SELECT citus_set_coordinator_host($1, $2)', [coordinator.name, coordinator.port]);
    for (const worker of workers) await query(coordinator.url, 'SELECT citus_add_node($1, $2)', [worker.name, worker.port]);
    const { rows } = await query(
      coordinator.url,
      "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS citus, current_setting('server_version') AS pg",
    );
    return {
      coordinatorUrl: coordinator.url,
      coordinator,
      workers,
      database,
      version: `Citus ${rows[0].citus} on PostgreSQL ${String(rows[0].pg).split(' ')[0]}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
