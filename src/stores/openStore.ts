import type { GatewayConfig } from '../config.js';
import type { StatementObserver, Store } from '../interfaces.js';
import { startEmbeddedPostgres } from './postgres/connect.js';
import { PostgresStore } from './postgres/postgresStore.js';
import { SqliteStore } from './sqlite/sqliteStore.js';

export interface OpenedStore {
  store: Store;
  /** The database was created by this start: a new SQLite file or a new embedded cluster. */
  firstRun: boolean;
  close(): Promise<void>;
}

/** The store for the configured mode. POSTGRES_PRIMARY never falls back to SQLite. */
export async function openStore(config: GatewayConfig, observer?: StatementObserver): Promise<OpenedStore> {
  if (config.mode !== 'POSTGRES_PRIMARY') {
    const store = new SqliteStore({ file: config.sqlitePath, mode: config.mode, observer });
    return { store, firstRun: store.created, close: () => store.close() };
  }
  let dsn = config.postgres.dsn!;
  let adminDsn = config.postgres.adminDsn;
  let firstRun = false;
  let stopEmbedded: () => Promise<void> = async () => undefined;
  if (dsn === 'embedded') {
    const embedded = await startEmbeddedPostgres({
      dataDir: config.postgres.embeddedDir,
      port: config.postgres.embeddedPort,
    });
    dsn = embedded.dsn;
    adminDsn = adminDsn ?? embedded.dsn;
    firstRun = embedded.created;
    stopEmbedded = embedded.stop;
  }
  const store = new PostgresStore({ dsn, adminDsn, config, observer });
  try {
    await store.prepare();
  } catch (error) {
    await store.close().catch(() => undefined);
    await stopEmbedded().catch(() => undefined);
    throw error;
  }
  return {
    store,
    firstRun,
    close: async () => {
      await store.close();
      await stopEmbedded();
    },
  };
}
