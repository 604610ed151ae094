import type { GatewayConfig } from '../config.js';
import type { StatementObserver, Store } from '../interfaces.js';
import { MirrorStore } from './mirror/mirrorStore.js';
import { reachableDsn } from './postgres/embeddedCluster.js';
import { PostgresStore } from './postgres/postgresStore.js';
import { SqliteStore } from './sqlite/sqliteStore.js';

/**
 * The SQLite library file as a store of its own, whatever the configured mode: what a cutover reads from. The
 * caller closes it.
 */
export function openSqliteLibrary(file: string): Store & Required<Pick<Store, 'withSnapshot'>> {
  return new SqliteStore({ file, mode: 'SQLITE' });
}

export interface OpenedStore {
  store: Store;
  /** The database was created by this start: a new SQLite file or a new embedded cluster. */
  firstRun: boolean;
  close(): Promise<void>;
}

/**
 * The store for the configured mode. POSTGRES_PRIMARY never falls back to SQLite; POSTGRES_MIRROR opens both and
 * serves from SQLite what it pulled from PostgreSQL (see MirrorStore).
 */
export async function openStore(config: GatewayConfig, observer?: StatementObserver): Promise<OpenedStore> {
  if (config.mode === 'SQLITE') {
    const store = new SqliteStore({ file: config.sqlitePath, mode: config.mode, observer });
    return { store, firstRun: store.created, close: () => store.close() };
  }
  const server = await reachableDsn(config.postgres.dsn!, config.postgres);
  const dsn = server.dsn;
  const adminDsn = config.postgres.adminDsn ?? (server.dsn === config.postgres.dsn ? null : server.dsn);
  const firstRun = server.created;
  const stopEmbedded = server.stop;
  const postgres = new PostgresStore({ dsn, adminDsn, config, observer });
  try {
    // MIRROR too: a gateway that starts without its truth would serve copies no one can tell are current.
    await postgres.prepare();
  } catch (error) {
    await postgres.close().catch(() => undefined);
    await stopEmbedded().catch(() => undefined);
    throw error;
  }
  let store: Store = postgres;
  if (config.mode === 'POSTGRES_MIRROR') {
    const sqlite = new SqliteStore({ file: config.sqlitePath, mode: config.mode, observer });
    // The demo import of a first run goes to PostgreSQL, so a first run is a new cluster, not a new SQLite file.
    store = new MirrorStore({ sqlite, postgres, syncTtlMs: config.mirrorSyncTtlMs });
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
