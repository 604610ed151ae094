import pg from 'pg';

// COUNT(*) and bigint counters come back as int8; every such value here fits in a JS number. Set where the pools
// are made, since every connection of the gateway's comes from one of them.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

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
  // The pool listens for errors only while a client is idle. A checked-out client between two statements that
  // loses its server (a restart terminates every backend) emits 'error' too, and with no listener that ends
  // the process. Its next statement fails instead, and the binding destroys it rather than return it.
  pool.on('connect', (client) => client.on('error', () => undefined));
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
