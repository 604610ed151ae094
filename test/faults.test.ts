import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, createWriteStream, existsSync, openSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import type { Store } from '../src/interfaces.js';
import { tableChecksums } from '../src/queries/tableChecksums.js';
import { listen, type RunningGateway } from '../src/http/server.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/stores/postgres/embeddedCluster.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { SqliteStore } from '../src/stores/sqlite/sqliteStore.js';
import { killStartedProcesses, startCli, type CliProcess } from './support/cliProcess.js';
import { libraryCsv } from './support/csv.js';
import { createTestDatabase, STORE_KINDS, type StoreKind } from './support/gateway.js';

/** Polls `probe` until it returns a value other than undefined/false; fails after `timeoutMs`. */
async function until<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Each command-line process costs seconds of start-up (more on a loaded machine); the behaviour under test is
// bounded by the tighter limits inside the tests.
const TEST_LIMIT_MS = 180_000;

/** Every row of a table as text, the table summed up by row count and a digest of the sorted rows. */
interface TableContents {
  table: string;
  rows: number;
  checksum: string;
}

const digest = (rows: string[]) => createHash('sha256').update(rows.sort().join('\n')).digest('hex');

/** The whole SQLite file, every table, every source. */
function sqliteContents(file: string): TableContents[] {
  const db = new Database(file);
  try {
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[];
    return tables.map(({ name }) => {
      const rows = db.prepare(`SELECT * FROM "${name}"`).all().map((row) => JSON.stringify(row));
      return { table: name, rows: rows.length, checksum: digest(rows) };
    });
  } finally {
    db.close();
  }
}

/** The source's schema and the global tables in public. */
async function postgresContents(client: pg.Client, schemaName: string): Promise<TableContents[]> {
  const { rows: tables } = await client.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_schema IN ($1, 'public') AND table_type = 'BASE TABLE' ORDER BY 1, 2`,
    [schemaName],
  );
  const contents: TableContents[] = [];
  for (const { schema, name } of tables) {
    const { rows } = await client.query<{ row: string }>(`SELECT t::text AS row FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)} t`);
    contents.push({ table: `${schema}.${name}`, rows: rows.length, checksum: digest(rows.map((r) => r.row)) });
  }
  return contents;
}

/**
 * A writer for a FIFO the CLI reads its CSV from: the import sees a file that never ends until the test says so.
 * Opening the write end waits for the reader; `release` unblocks that wait when the reader never came.
 */
function fifoFeed(fifo: string) {
  const stream = createWriteStream(fifo);
  // The reader is killed on purpose: writes after that fail with EPIPE.
  stream.on('error', () => undefined);
  return {
    stream,
    release() {
      try {
        closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
      } catch {
        // Nothing waits on it.
      }
      stream.destroy();
    },
  };
}

const IMPORTED = /inserted=(\d+) updated=(\d+) skipped=(\d+)/;

afterAll(killStartedProcesses);

describe.concurrent.each(STORE_KINDS)('SIGKILL of an import half way (%s)', (kind: StoreKind) => {
  const sourceId = `killed_${kind}`;
  let dir: string;
  let env: Record<string, string>;
  let database: { url: string; drop: () => Promise<void> } | null = null;
  let admin: pg.Client | null = null;
  let schemaName = '';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-faults-'));
    if (kind === 'sqlite') {
      env = { SX_DB_PATH: path.join(dir, 'library.db') };
    } else {
      database = await createTestDatabase();
      env = { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url };
      admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
    }
  });
  afterAll(async () => {
    await admin?.end();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A store of this test's database, open for the length of `work`, as another process would open it. */
  async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
    const store = kind === 'sqlite' ? new SqliteStore({ file: env.SX_DB_PATH }) : new PostgresStore({ dsn: database!.url, config: loadConfig(env) });
    try {
      return await work(store);
    } finally {
      await store.close();
    }
  }

  /** The source's tables as the project sums them up. */
  const sourceChecksums = () => withStore((store) => store.withTenant(sourceId, (db) => tableChecksums(db)));

  /** Everything an import could have touched: every table, row by row, and the source's checksums. */
  const contents = async () => ({
    tables: kind === 'sqlite' ? sqliteContents(env.SX_DB_PATH) : await postgresContents(admin!, schemaName),
    checksums: await sourceChecksums(),
  });
  const videoRows = (snapshot: Awaited<ReturnType<typeof contents>>) => snapshot.checksums.find((t) => t.table === 'videos')?.rows;

  /** A complete import through the command line; its printed counts. */
  async function importFile(rows: number, hash: string): Promise<{ inserted: number; updated: number; skipped: number }> {
    const file = path.join(dir, `library-${rows}-${hash}.csv`);
    await writeFile(file, libraryCsv(sourceId, rows, hash));
    const run = startCli(['import', '--create', '--source', sourceId, '--csv', file], env);
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    const [, inserted, updated, skipped] = IMPORTED.exec(run.stdout())!.map(Number);
    return { inserted, updated, skipped };
  }

  async function killed(run: CliProcess): Promise<void> {
    run.child.kill('SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');
  }

  /** What a dead import may not leave: locks, open transactions, staging tables, a damaged file. */
  async function expectNoLeftovers(): Promise<void> {
    if (kind === 'sqlite') {
      const file = env.SX_DB_PATH;
      const db = new Database(file);
      try {
        db.pragma('busy_timeout = 0');
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(db.prepare(`SELECT name FROM sqlite_master WHERE name LIKE 'stage%'`).all()).toEqual([]);
        // A lock of the dead process would make either of these fail at once (busy_timeout 0).
        db.exec('BEGIN IMMEDIATE');
        db.exec('ROLLBACK');
        expect(db.pragma('wal_checkpoint(TRUNCATE)')).toMatchObject([{ busy: 0 }]);
      } finally {
        db.close();
      }
      // The last connection to close removes the WAL: no other process has the file open any more.
      expect(existsSync(`${file}-wal`)).toBe(false);
      expect(existsSync(`${file}-journal`)).toBe(false);
      return;
    }
    // The server notices the dead client at its next read; give it a moment to end the backends. None may stay,
    // idle in transaction or otherwise (autovacuum workers are not clients and may come and go).
    await until(async () => {
      const { rows } = await admin!.query<{ n: number }>(
        `SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      );
      return rows[0].n === 0;
    }, 10_000, 'the backends of the killed import to end');
    const { rows: staging } = await admin!.query(`SELECT relname FROM pg_class WHERE relname LIKE 'stage\\_%'`);
    expect(staging).toEqual([]);
    const { rows: locks } = await admin!.query(
      `SELECT l.locktype, l.mode, l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND l.pid <> pg_backend_pid()`,
    );
    expect(locks).toEqual([]);
    // The import lock of the source is free: a new import would not wait.
    await admin!.query('BEGIN');
    const { rows: lock } = await admin!.query<{ free: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS free', [`sx-import:${sourceId}`]);
    await admin!.query('ROLLBACK');
    expect(lock[0].free).toBe(true);
  }

  /** SIGKILL while the COPY (PostgreSQL) or the INSERTs (SQLite) into staging wait for the rest of the file. */
  async function killWhileStaging(): Promise<void> {
    const fifo = path.join(dir, 'incoming.csv');
    execFileSync('mkfifo', [fifo]);
    const run = startCli(['import', '--create', '--source', sourceId, '--csv', fifo], env);
    const feed = fifoFeed(fifo);
    try {
      // 1500 rows that would update all 100 and add 1400; the FIFO stays open, so the import can never finish.
      feed.stream.write(libraryCsv(sourceId, 1500, 'h2'));
      const progress = await run.waitFor('stderr', /consolidated: ([1-9]\d*) rows/);
      expect(Number(progress[1])).toBeGreaterThanOrEqual(500);
      if (kind === 'postgres') {
        // The COPY into staging runs inside the import transaction, which holds the import lock of the source.
        const copying = await until(async () => {
          const { rows } = await admin!.query<{ pid: number; in_transaction: boolean }>(
            `SELECT pid, xact_start IS NOT NULL AS in_transaction FROM pg_stat_activity
              WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY stage_consolidated%'`,
          );
          return rows[0];
        }, 10_000, 'the staging COPY');
        expect(copying.in_transaction).toBe(true);
        const { rows: held } = await admin!.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND granted`, [copying.pid]);
        expect(held).toHaveLength(1);
      }
      await killed(run);
    } finally {
      // Killed before the FIFO closes: the import must never see the end of its file.
      run.child.kill('SIGKILL');
      feed.release();
    }
    expect(run.stdout()).not.toMatch(IMPORTED);
  }

  /** PostgreSQL: SIGKILL while the merge waits half done, after it wrote the videos table. */
  async function killWhileMerging(): Promise<void> {
    // Holding this lock stops the merge at its second write, after the videos table was already written.
    const blocker = new pg.Client({ connectionString: database!.url });
    await blocker.connect();
    let run: CliProcess | null = null;
    try {
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${pg.escapeIdentifier(schemaName)}.csv_consolidated_raw IN EXCLUSIVE MODE`);
      const file = path.join(dir, 'merge.csv');
      await writeFile(file, libraryCsv(sourceId, 200, 'h3'));
      run = startCli(['import', '--create', '--source', sourceId, '--csv', file], env);
      const merging = await until(async () => {
        const { rows } = await admin!.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO csv_consolidated_raw%'`,
        );
        return rows[0];
      }, 60_000, 'the merge to wait at csv_consolidated_raw');
      const { rows: written } = await admin!.query(
        `SELECT 1 FROM pg_locks WHERE pid = $1 AND relation = $2::regclass AND mode = 'RowExclusiveLock' AND granted`,
        [merging.pid, `${pg.escapeIdentifier(schemaName)}.videos`],
      );
      expect(written).toHaveLength(1);
      await killed(run);
    } finally {
      run?.child.kill('SIGKILL');
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
  }

  it(`leaves nothing behind${kind === 'postgres' ? ' (staging and merge)' : ''}, and the next import succeeds`, async () => {
    expect(await importFile(100, 'h1')).toEqual({ inserted: 100, updated: 0, skipped: 0 });
    if (kind === 'postgres') {
      const { rows } = await admin!.query<{ schema_name: string }>('SELECT schema_name FROM public.sx_source_registry WHERE source_id = $1', [sourceId]);
      schemaName = rows[0].schema_name;
    }
    const before = await contents();
    expect(videoRows(before)).toBe(100);

    await killWhileStaging();
    await expectNoLeftovers();
    expect(await contents()).toEqual(before);

    if (kind === 'postgres') {
      await killWhileMerging();
      await expectNoLeftovers();
      expect(await contents()).toEqual(before);
    }

    // In-process: the command line already proved itself above, and each start of it costs seconds.
    const next = await withStore((store) => importCsv(store, sourceId, { consolidated: () => Readable.from([libraryCsv(sourceId, 150, 'h2')]) }, { create: true }));
    expect(next).toMatchObject({ inserted: 50, updated: 100, skipped: 0 });
    expect(videoRows(await contents())).toBe(150);
  }, TEST_LIMIT_MS);
});

/** A port nothing listens on right now (the kernel's choice), for a server started next. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe.concurrent('PostgreSQL stopped under load, then started', () => {
  const REQUEST_LIMIT_MS = 8000;
  const QUERY = '{ sources { id } source(sourceId: "steady") { items(first: 5) { totalCount nodes { id } } } }';
  type Phase = 'up' | 'stopping' | 'down' | 'starting' | 'recovered';
  interface Outcome {
    /** The phase when the request was sent, and when its answer came. */
    phase: Phase;
    answeredIn: Phase;
    status: number | 'no answer';
    code: string | undefined;
    ok: boolean;
    text: string;
    ms: number;
  }

  let dir: string;
  let options: Parameters<typeof startEmbeddedPostgres>[0];
  let server: EmbeddedServer | null = null;
  let store: PostgresStore | null = null;
  let gateway: RunningGateway | null = null;

  beforeAll(async () => {
    // A private cluster: the suite's server is never stopped. Run as root, PostgreSQL runs as the `postgres`
    // user, which must reach the data folder.
    dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-faults-pg-'));
    await chmod(dir, 0o755);
    options = { dataDir: path.join(dir, 'data'), port: await freePort(), persistent: true, database: 'sx_faults' };
    server = await startEmbeddedPostgres(options);
  });
  afterAll(async () => {
    await gateway?.close();
    await store?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function ask(url: string, phase: Phase, now: () => Phase): Promise<Outcome> {
    const started = performance.now();
    try {
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
        body: JSON.stringify({ query: QUERY }),
        signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
      });
      const text = await response.text();
      const body = JSON.parse(text) as { data?: any; errors?: { extensions?: { code?: string } }[] };
      return {
        phase,
        answeredIn: now(),
        status: response.status,
        code: body.errors?.[0]?.extensions?.code,
        ok: response.status === 200 && !body.errors && body.data?.source?.items?.totalCount === 30,
        text,
        ms: performance.now() - started,
      };
    } catch (error) {
      return { phase, answeredIn: now(), status: 'no answer', code: undefined, ok: false, text: String(error), ms: performance.now() - started };
    }
  }

  it('answers DATABASE_UNAVAILABLE meanwhile, recovers without a restart and leaks no pooled client', async () => {
    const config = loadConfig({
      SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
      SX_POSTGRES_DSN: server!.dsn,
      SX_POSTGRES_POOL_MAX: '4',
    });
    store = new PostgresStore({ dsn: server!.dsn, config });
    await store.prepare();
    await importCsv(store, 'steady', { consolidated: () => Readable.from([libraryCsv('steady', 30)]) }, { create: true });
    gateway = await listen(store, config, { host: '127.0.0.1', port: 0 });
    const url = gateway.url;

    let phase: Phase = 'up';
    let loading = true;
    const outcomes: Outcome[] = [];
    const worker = async () => {
      while (loading) {
        outcomes.push(await ask(url, phase, () => phase));
        await sleep(10);
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const count = (p: Phase, ok?: boolean) => outcomes.filter((o) => o.phase === p && (ok === undefined || o.ok === ok)).length;
    try {
      await until(() => count('up', true) >= 8, 10_000, 'answers before the stop');

      phase = 'stopping';
      const stopped = performance.now();
      await server!.stop();
      phase = 'down';
      await until(() => count('down') >= 8, 10_000, 'answers while PostgreSQL is down');
      const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(REQUEST_LIMIT_MS) });
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'degraded', database: { reachable: false } });
      const downMs = performance.now() - stopped;

      phase = 'starting';
      server = await startEmbeddedPostgres(options);
      phase = 'recovered';
      const started = performance.now();
      await until(() => count('recovered', true) >= 1, 10_000, 'a correct answer after the start');
      const recoveryMs = performance.now() - started;
      await until(() => count('recovered', true) >= 20, 10_000, 'steady answers after the start');
      loading = false;
      await Promise.all(workers);
      process.stderr.write(
        `[faults] ${outcomes.length} requests; down for ${Math.round(downMs)} ms; first correct answer ${Math.round(recoveryMs)} ms after the start\n`,
      );
    } finally {
      loading = false;
    }

    const unexpected = outcomes.filter((o) => !o.ok && !(o.status === 503 && o.code === 'DATABASE_UNAVAILABLE'));
    expect(unexpected, 'every answer is either correct or 503 DATABASE_UNAVAILABLE').toEqual([]);
    // Requests running while the server stops may fail (503); those entirely before or while it is down may not
    // succeed or fail otherwise.
    expect(outcomes.filter((o) => o.answeredIn === 'up' && !o.ok)).toEqual([]);
    expect(outcomes.filter((o) => o.phase === 'down' && o.answeredIn === 'down' && o.ok)).toEqual([]);
    for (const o of outcomes.filter((o) => !o.ok)) {
      expect(o.text).not.toMatch(/terminat|ECONN|administrator|starting up|shutting down|57P0|08006|pg_/i);
    }
    // Once one answer is right again, all are: no broken connection is handed out later.
    const firstRecovered = outcomes.findIndex((o) => o.phase === 'recovered' && o.ok);
    expect(outcomes.slice(firstRecovered).filter((o) => o.phase === 'recovered' && !o.ok)).toEqual([]);
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(REQUEST_LIMIT_MS);

    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);

    // No client is still checked out or waited for, and every pooled connection works.
    for (const pool of [store.pool, store.writePool]) {
      await until(() => pool.totalCount === pool.idleCount, 3000, 'every client back in its pool');
      expect(pool.waitingCount).toBe(0);
      const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
      try {
        for (const client of clients) expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        for (const client of clients) client.release();
      }
    }
    // The server sees exactly the pooled connections: none leaked outside the pools.
    const probe = new pg.Client({ connectionString: server!.dsn });
    await probe.connect();
    try {
      const { rows } = await probe.query<{ n: number }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sx-gateway'`,
      );
      expect(rows[0].n).toBe(store.pool.totalCount + store.writePool.totalCount);
    } finally {
      await probe.end();
    }
  }, TEST_LIMIT_MS);
});

describe.concurrent('SIGTERM', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-sigterm-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(env: Record<string, string>): Promise<{ run: CliProcess; url: string; port: number }> {
    const run = startCli(['serve', '--port', '0'], { SX_DEMO_IMPORT: '0', SX_LOG_LEVEL: 'info', ...env });
    const serving = await run.waitFor('stdout', /serving GraphiQL at (\S+)\/graphql/).catch((error: unknown) => {
      run.child.kill('SIGKILL');
      throw error;
    });
    return { run, url: serving[1], port: Number(new URL(serving[1]).port) };
  }

  /** The server's pino log lines, parsed. */
  const logLines = (run: CliProcess) =>
    run
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string } & Record<string, unknown>);

  /**
   * A GraphQL multipart importCsv whose body the test sends piece by piece: the request stays in flight until
   * `finish` is called.
   */
  function trickledUpload(url: string, sourceId: string) {
    const boundary = `sx-faults-${Date.now()}`;
    const query = `mutation Import($sourceId: ID!, $consolidated: File!) {
      importCsv(sourceId: $sourceId, consolidated: $consolidated, create: true) { sourceId inserted updated skipped }
    }`;
    const head = [
      `--${boundary}`, 'Content-Disposition: form-data; name="operations"', '', JSON.stringify({ query, variables: { sourceId, consolidated: null } }),
      `--${boundary}`, 'Content-Disposition: form-data; name="map"', '', JSON.stringify({ 0: ['variables.consolidated'] }),
      `--${boundary}`, 'Content-Disposition: form-data; name="0"; filename="consolidated.csv"', 'Content-Type: text/csv', '', '',
    ].join('\r\n');
    const request = http.request(`${url}/graphql`, {
      method: 'POST',
      agent: false,
      // The server answers 100 Continue once its request handler runs: proof that the request is in flight.
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'graphql-require-preflight': '1', expect: '100-continue' },
    });
    const running = new Promise<void>((resolve) => request.once('continue', resolve));
    const response = new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
      request.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        res.on('error', reject);
      });
      request.on('error', reject);
    });
    // Kept from an unhandled rejection when the test expects the request to be cut.
    response.catch(() => undefined);
    request.flushHeaders();
    return {
      running,
      response,
      start: (text: string) => request.write(head + text),
      send: (text: string) => request.write(text),
      finish: () => request.end(`\r\n--${boundary}--\r\n`),
    };
  }

  /** CSV text of rows `from`..`to` (1-based) of a library; the header only with the first rows. */
  function rowsOf(sourceId: string, from: number, to: number): string {
    const lines = libraryCsv(sourceId, to).split('\n');
    return [...(from === 1 ? [lines[0]] : []), ...lines.slice(from, to + 1)].join('\n') + '\n';
  }

  /** A socket that began a request but has not finished its headers: a kept-alive client mid-request. */
  async function halfSentRequest(port: number, body: string) {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`,
    );
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
    return { complete: () => socket.write(`\r\n${body}`), closed };
  }

  const connectOutcome = (port: number) =>
    new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });

  it('lets the running upload finish, refuses new work, closes the pools and exits 0', async () => {
    const file = path.join(dir, 'graceful.db');
    const { run, url, port } = await serve({ SX_DB_PATH: file, SX_SHUTDOWN_GRACE_SEC: '20' });
    try {
      const kept = await halfSentRequest(port, JSON.stringify({ query: '{ sources { id } }' }));
      const upload = trickledUpload(url, 'graceful');
      await upload.running;
      upload.start(rowsOf('graceful', 1, 600));

      run.child.kill('SIGTERM');
      await run.waitFor('stderr', /"msg":"shutting down/);
      expect(await connectOutcome(port)).toBe('ECONNREFUSED');
      kept.complete();
      const refused = await kept.closed;
      expect(refused).toMatch(/^HTTP\/1\.1 503 /);
      expect(refused).toMatch(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4))).toMatchObject({
        errors: [{ extensions: { code: 'SHUTTING_DOWN' } }],
      });

      for (let from = 601; from <= 1000; from += 100) {
        upload.send(rowsOf('graceful', from, from + 99));
        await sleep(50);
      }
      upload.finish();
      const answer = await upload.response;
      expect(answer.status).toBe(200);
      expect(answer.headers.connection).toBe('close');
      expect(JSON.parse(answer.text)).toEqual({
        data: { importCsv: { sourceId: 'graceful', inserted: 1000, updated: 0, skipped: 0 } },
      });

      expect(await run.exited).toEqual({ code: 0, signal: null });
      const log = logLines(run);
      expect(log.find((line) => line.msg === 'running requests finished')).toMatchObject({ inFlight: 1 });
      expect(log.some((line) => line.msg === 'database pools closed')).toBe(true);
    } finally {
      run.child.kill('SIGKILL');
    }
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare(`SELECT count(*) AS n FROM videos WHERE source_id = 'graceful'`).get()).toEqual({ n: 1000 });
    } finally {
      db.close();
    }
  }, TEST_LIMIT_MS);

  it('cuts what still runs after SX_SHUTDOWN_GRACE_SEC, keeps nothing of it, and exits 1', async () => {
    const file = path.join(dir, 'cut.db');
    const { run, url } = await serve({ SX_DB_PATH: file, SX_SHUTDOWN_GRACE_SEC: '1' });
    try {
      const upload = trickledUpload(url, 'cut');
      await upload.running;
      upload.start(rowsOf('cut', 1, 600));
      const signalled = performance.now();
      run.child.kill('SIGTERM');
      await expect(upload.response).rejects.toThrow();
      expect(await run.exited).toEqual({ code: 1, signal: null });
      expect(performance.now() - signalled).toBeLessThan(15_000);
      expect(logLines(run).find((line) => line.msg === 'grace period over: cut the connections still open')).toMatchObject({
        cutConnections: 1,
      });
    } finally {
      run.child.kill('SIGKILL');
    }
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare(`SELECT count(*) AS n FROM videos`).get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  }, TEST_LIMIT_MS);

  it('closes the PostgreSQL pools and exits 0, also when nobody reads its output any more', async () => {
    const database = await createTestDatabase();
    const probe = new pg.Client({ connectionString: database.url });
    await probe.connect();
    const gatewayConnections = async () =>
      (
        await probe.query<{ n: number }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sx-gateway'`,
        )
      ).rows[0].n;
    try {
      const { run, url } = await serve({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url });
      try {
        const answers = await Promise.all(
          Array.from({ length: 4 }, () =>
            fetch(`${url}/graphql`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ query: '{ sources { id } health { mode } }' }),
            }).then((response) => response.status),
          ),
        );
        expect(answers).toEqual([200, 200, 200, 200]);
        expect(await gatewayConnections()).toBeGreaterThan(0);
        // Its log collector died: from now on every write to stdout or stderr fails (EPIPE). Exit code 0 comes
        // only after the pools closed.
        run.child.stdout.destroy();
        run.child.stderr.destroy();
        run.child.kill('SIGTERM');
        const exited = await Promise.race([run.exited, sleep(15_000).then(() => 'still running')]);
        expect(exited).toEqual({ code: 0, signal: null });
      } finally {
        run.child.kill('SIGKILL');
      }
      await until(async () => (await gatewayConnections()) === 0, 3000, 'the gateway connections to end');
    } finally {
      await probe.end();
      await database.drop();
    }
  }, TEST_LIMIT_MS);
});
