import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { findExternalTool, missingToolBanner, type ExternalTool } from './externalTool.js';

/** A PgBouncer this process started, in front of one test database. */
export interface RunningPgBouncer {
  /** Connects as a client of the bouncer to the test database. */
  url: string;
  /** The bouncer's admin console (`SHOW POOLS`, `SHOW SERVERS`); simple protocol only. */
  adminUrl: string;
  /** The database name clients use at the bouncer, as its admin console lists it. */
  database: string;
  version: string;
  poolSize: number;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections the bouncer keeps for the database. */
  poolSize?: number;
  /** How long a client's query may wait for a server connection before the bouncer drops the client (its default: 120). */
  queryWaitTimeoutSeconds?: number;
}

/** The name clients use for the test database at the bouncer. */
const DATABASE_ALIAS = 'sx_isolation';
const CLIENT_USER = 'sx_bouncer_client';

const PGBOUNCER: ExternalTool = {
  label: 'PgBouncer',
  names: ['pgbouncer'],
  override: 'SX_PGBOUNCER_BIN',
  extraFolders: ['/usr/sbin', '/usr/local/sbin'],
  install: 'Install it (Debian/Ubuntu: sudo apt-get install pgbouncer)',
  requireVariable: 'SX_TEST_REQUIRE_PGBOUNCER',
};

export const findPgBouncer = (env: NodeJS.ProcessEnv = process.env) => findExternalTool(PGBOUNCER, env);
export const pgBouncerMissingBanner = (env: NodeJS.ProcessEnv = process.env) =>
  missingToolBanner(PGBOUNCER, 'the transaction-pooling isolation tests', env);

const versions = new Map<string, string>();

/** `PgBouncer 1.18.0`; printed once per test process, so a run's log says which bouncer it tested. */
function versionOf(binary: string): string {
  const known = versions.get(binary);
  if (known) return known;
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  const first = `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0]?.trim();
  if (result.status !== 0 || !first) throw new Error(`${binary} --version failed: ${result.error?.message ?? result.stderr}`);
  versions.set(binary, first);
  process.stderr.write(`[tests] PgBouncer: ${first} (${binary})\n`);
  return first;
}

/** A TCP port on the loopback interface that nothing listens on right now. */
async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * PgBouncer will not run as root. Run as root (a container, CI), it takes the identity of an ordinary user;
 * `postgres` exists wherever the server package is installed, `nobody` everywhere else.
 */
function unprivilegedUser(): string | null {
  if (process.getuid?.() !== 0) return null;
  const users = new Set(
    readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((entry) => entry.split(':')[0]),
  );
  for (const name of ['postgres', 'nobody']) if (users.has(name)) return name;
  throw new Error('PgBouncer refuses to run as root and neither a "postgres" nor a "nobody" user exists to run it as');
}

/** A value for the bouncer's connection strings; they are plain key=value pairs, so only simple values pass. */
function connValue(name: string, value: string): string {
  if (!/^[^\s'"\\]*$/.test(value)) throw new Error(`The test database's ${name} holds characters the PgBouncer config cannot take`);
  return `'${value}'`;
}

/** The server side of the [databases] entry, taken from the test database's URL. */
function serverTarget(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  // A URL may name a Unix socket folder in its query (`?host=/run/postgresql`); PgBouncer takes a folder as host too.
  const host = url.searchParams.get('host') ?? (url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1');
  const pairs = [
    `host=${connValue('host', host)}`,
    `port=${url.port || '5432'}`,
    `dbname=${connValue('database', decodeURIComponent(url.pathname.slice(1)))}`,
    `user=${connValue('user', decodeURIComponent(url.username || 'postgres'))}`,
  ];
  if (url.password) pairs.push(`password=${connValue('password', decodeURIComponent(url.password))}`);
  return pairs.join(' ');
}

async function waitUntilAccepting(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`pgbouncer exited (${child.exitCode ?? child.signalCode}) before accepting connections:\n${log()}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`pgbouncer did not accept connections within 15 s (${(lastError as Error)?.message}):\n${log()}`);
}

/**
 * Starts a PgBouncer in transaction pooling mode on a free loopback port, in front of the database the URL
 * names, with its config in a temporary folder. Clients log in with a password of this run; the bouncer logs
 * in to PostgreSQL with the URL's credentials.
 */
export async function startPgBouncer(databaseUrl: string, options: PgBouncerOptions = {}): Promise<RunningPgBouncer> {
  const binary = findPgBouncer();
  if (!binary) throw new Error(pgBouncerMissingBanner());
  const version = versionOf(binary);
  const poolSize = options.poolSize ?? 4;
  const runAs = unprivilegedUser();
  const dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-pgbouncer-'));
  // The user the bouncer switches to must read its config and password file.
  if (runAs) await chmod(dir, 0o755);
  const password = randomBytes(18).toString('hex');
  const authFile = path.join(dir, 'userlist.txt');
  const configFile = path.join(dir, 'pgbouncer.ini');
  await writeFile(authFile, `"${CLIENT_USER}" "${password}"\n`, { mode: runAs ? 0o644 : 0o600 });

  for (let attempt = 1; ; attempt += 1) {
    const port = await freeLoopbackPort();
    const config = [
      '[databases]',
      `${DATABASE_ALIAS} = ${serverTarget(databaseUrl)} pool_size=${poolSize}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 2000',
      ...(options.queryWaitTimeoutSeconds === undefined ? [] : [`query_wait_timeout = ${options.queryWaitTimeoutSeconds}`]),
      'auth_type = scram-sha-256',
      `auth_file = ${authFile}`,
      `admin_users = ${CLIENT_USER}`,
      // node-postgres sends none of these itself; other drivers and tools in a test may.
      'ignore_startup_parameters = extra_float_digits,options',
      'log_connections = 0',
      'log_disconnections = 0',
      'log_pooler_errors = 1',
      '',
    ].join('\n');
    await writeFile(configFile, config, { mode: 0o644 });
    // The bouncer logs to stderr; the tail is kept for the error that explains a failed start.
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8192));
    const started = spawn(binary, [...(runAs ? ['-u', runAs] : []), configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', keep);
    started.stderr?.on('data', keep);
    const url = `postgres://${CLIENT_USER}:${password}@127.0.0.1:${port}/${DATABASE_ALIAS}`;
    try {
      await waitUntilAccepting(url, started, () => output);
      const stop = async () => {
        if (started.exitCode === null && started.signalCode === null) {
          const exited = new Promise((resolve) => started.once('exit', resolve));
          // Immediate shutdown in PgBouncer up to 1.22; from 1.23 it waits for clients, which the tests have closed.
          started.kill('SIGTERM');
          const timer = setTimeout(() => started.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      };
      return {
        url,
        adminUrl: `postgres://${CLIENT_USER}:${password}@127.0.0.1:${port}/pgbouncer`,
        database: DATABASE_ALIAS,
        version,
        poolSize,
        stop,
      };
    } catch (error) {
      started.kill('SIGKILL');
      // Another process may have taken the port between the probe and the bouncer's bind.
      if (attempt < 3 && /Address already in use/i.test(output)) continue;
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }
}
