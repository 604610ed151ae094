import pg from 'pg';
import type { GatewayConfig } from '../config.js';
import { reachableDsn } from '../stores/postgres/embeddedCluster.js';
import { asUnavailable } from '../stores/postgres/failures.js';
import { PostgresStore } from '../stores/postgres/postgresStore.js';

export interface PostgresTarget {
  /** The DSN the operation's tools and connections use (the admin DSN when one is configured). */
  dsn: string;
  store: PostgresStore;
  server: { version: string; versionNum: number; major: number; database: string };
  close(): Promise<void>;
}

/**
 * The PostgreSQL an operation works on: `--dsn` when given, else the configured one (SX_POSTGRES_ADMIN_DSN before
 * SX_POSTGRES_DSN: backups, restores and migrations create and drop schemas). "embedded" starts, or reuses, the
 * embedded cluster. The store is the gateway's own, so every read and write goes through its bindings.
 */
export async function openPostgresTarget(config: GatewayConfig, dsnOption?: string): Promise<PostgresTarget> {
  const configured = dsnOption ?? config.postgres.adminDsn ?? config.postgres.dsn;
  if (!configured) throw new Error('No PostgreSQL to work on: set SX_POSTGRES_DSN or pass --dsn');
  const { dsn, stop: stopEmbedded } = await reachableDsn(configured, config.postgres);
  const store = new PostgresStore({ dsn, adminDsn: dsn, config: { ...config, mode: 'POSTGRES_PRIMARY' } });
  try {
    await store.prepare();
    const client = new pg.Client({ connectionString: dsn });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: string; num: string; database: string }>(
        "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num, current_database() AS database",
      );
      const versionNum = Number(rows[0]!.num);
      const server = { version: rows[0]!.version.split(' ')[0]!, versionNum, major: Math.floor(versionNum / 10000), database: rows[0]!.database };
      return {
        dsn,
        store,
        server,
        close: async () => {
          await store.close();
          await stopEmbedded();
        },
      };
    } finally {
      await client.end();
    }
  } catch (error) {
    await store.close().catch(() => undefined);
    await stopEmbedded().catch(() => undefined);
    throw asUnavailable(error);
  }
}
