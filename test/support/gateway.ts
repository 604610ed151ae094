import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { inject } from 'vitest';
import { loadConfig, type GatewayConfig } from '../../src/config.js';
import type { StatementEvent, Store } from '../../src/interfaces.js';
import { listen, type RunningGateway } from '../../src/http/server.js';
import { openStore } from '../../src/stores/openStore.js';
import { PostgresStore } from '../../src/stores/postgres/postgresStore.js';
import { SqliteStore } from '../../src/stores/sqlite/sqliteStore.js';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: StoreKind[] = ['sqlite', 'postgres'];
/** `mirror`: POSTGRES_MIRROR through openStore, a fresh SQLite file over a fresh database (or env's SX_POSTGRES_DSN). */
export type GatewayKind = StoreKind | 'mirror';

export interface GraphQLResponse<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: { message: string; path?: string[]; extensions?: { code?: string } & Record<string, unknown> }[] };
}

export interface TestGateway {
  kind: GatewayKind;
  url: string;
  store: Store;
  config: GatewayConfig;
  /** Every SQL statement the store ran, in order; tests clear it and count. */
  statements: StatementEvent[];
  /** The database this gateway uses (PostgreSQL) or the SQLite file. */
  databaseUrl: string;
  /** mirror: the SQLite file that serves. */
  sqlitePath?: string;
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

let counter = 0;

/** A fresh database on the suite's PostgreSQL; dropped by the returned function. */
/** A new database on the test server; `encoding` (from template0, "C" locale) for one that is not UTF-8. */
export async function createTestDatabase(options: { encoding?: 'SQL_ASCII' | 'LATIN1' } = {}): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `sx_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const encoding = options.encoding ? ` TEMPLATE template0 ENCODING '${options.encoding}' LC_COLLATE 'C' LC_CTYPE 'C'` : '';
  await admin.query(`CREATE DATABASE "${name}"${encoding}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function startTestGateway(
  kind: GatewayKind,
  env: Record<string, string> = {},
  options: { logger?: Logger; encoding?: 'SQL_ASCII' | 'LATIN1' } = {},
): Promise<TestGateway> {
  const statements: StatementEvent[] = [];
  const observer = (event: StatementEvent) => statements.push(event);
  let store: Store;
  let config: GatewayConfig;
  let databaseUrl: string;
  let sqlitePath: string | undefined;
  let cleanup: () => Promise<void>;
  if (kind === 'mirror') {
    const dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-test-'));
    sqlitePath = path.join(dir, 'library.db');
    // A DSN in env belongs to the caller (a relay in front of its own database); otherwise the gateway owns one.
    const database = env.SX_POSTGRES_DSN ? null : await createTestDatabase();
    databaseUrl = env.SX_POSTGRES_DSN ?? database!.url;
    config = loadConfig({
      SX_DB_BACKEND_MODE: 'POSTGRES_MIRROR',
      SX_DB_PATH: sqlitePath,
      SX_POSTGRES_DSN: databaseUrl,
      SX_POSTGRES_POOL_MAX: '8',
      ...env,
    });
    const removeAll = async () => {
      await database?.drop();
      await rm(dir, { recursive: true, force: true });
    };
    try {
      const opened = await openStore(config, observer);
      store = opened.store;
      cleanup = removeAll;
    } catch (error) {
      await removeAll();
      throw error;
    }
  } else if (kind === 'sqlite') {
    const dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-test-'));
    databaseUrl = path.join(dir, 'library.db');
    config = loadConfig({ SX_DB_PATH: databaseUrl, SX_REGISTRY_CACHE_TTL_SEC: '0', ...env });
    store = new SqliteStore({ file: databaseUrl, observer, mode: config.mode === 'POSTGRES_MIRROR' ? 'POSTGRES_MIRROR' : 'SQLITE' });
    cleanup = () => rm(dir, { recursive: true, force: true });
  } else {
    const database = await createTestDatabase({ encoding: options.encoding });
    databaseUrl = database.url;
    config = loadConfig({
      SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
      SX_POSTGRES_DSN: database.url,
      SX_POSTGRES_POOL_MAX: '8',
      ...env,
    });
    const postgres = new PostgresStore({ dsn: database.url, config, observer });
    await postgres.prepare();
    store = postgres;
    cleanup = database.drop;
  }
  let gateway: RunningGateway;
  try {
    gateway = await listen(store, config, { host: '127.0.0.1', port: 0, logger: options.logger });
  } catch (error) {
    await store.close();
    await cleanup();
    throw error;
  }
  const endpoint = `${gateway.url}/graphql`;
  return {
    kind,
    url: gateway.url,
    store,
    config,
    statements,
    databaseUrl,
    sqlitePath,
    async gql(query, variables, headers = {}) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
    },
    async close() {
      await gateway.close();
      await store.close();
      await cleanup();
    },
  };
}

/**
 * Sends a GraphQL multipart request (the upload spec) with the given files as variables. It asks for the source
 * to be created (`create: true`) unless told otherwise: most tests import into a source they have not made yet.
 */
export async function uploadCsv(
  gateway: TestGateway,
  sourceId: string,
  files: { consolidated: BlobPart; authors?: BlobPart; bookmarks?: BlobPart },
  headers: Record<string, string> = {},
  options: { create?: boolean } = {},
): Promise<GraphQLResponse> {
  const names = Object.keys(files) as (keyof typeof files)[];
  const variables: Record<string, unknown> = { sourceId, create: options.create ?? true };
  for (const name of names) variables[name] = null;
  const query = `mutation Import($sourceId: ID!, $consolidated: File!, $authors: File, $bookmarks: File, $create: Boolean) {
    importCsv(sourceId: $sourceId, consolidated: $consolidated, authors: $authors, bookmarks: $bookmarks, create: $create) {
      sourceId inserted updated skipped withoutId rows { consolidated authors bookmarks }
    }
  }`;
  const form = new FormData();
  form.set('operations', JSON.stringify({ query, variables }));
  form.set('map', JSON.stringify(Object.fromEntries(names.map((name, i) => [String(i), [`variables.${name}`]]))));
  names.forEach((name, i) => form.set(String(i), new File([files[name]!], `${name}.csv`, { type: 'text/csv' })));
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'graphql-require-preflight': '1', ...headers },
    body: form,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
}
