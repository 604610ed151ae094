import type { GatewayConfig } from '../config.js';
import type { InProcessGateway, Store } from '../interfaces.js';
import { tableChecksums } from '../queries/tableChecksums.js';
import type { ManifestSource } from './backupManifest.js';

export interface TableVerification {
  table: string;
  expectedRows: number;
  rows: number;
  checksumOk: boolean;
}

export interface SourceVerification {
  sourceId: string;
  schemaName: string;
  registryOk: boolean;
  tables: TableVerification[];
  /** What the gateway answered for health, stats and a page of items of the source. */
  gateway: { ok: boolean; status: string | null; items: number | null; totalCount: number | null; pageIds: number };
  ok: boolean;
  problems: string[];
}

const CHECK_QUERY = /* GraphQL */ `
  query RestoreCheck($sourceId: ID!) {
    health { status }
    source(sourceId: $sourceId) {
      backend { backend schema }
      stats { items }
      items(first: 5) { totalCount nodes { id } }
    }
  }
`;

/**
 * The seed's validation pass for one restored source, against what its backup recorded: the registry maps it to
 * its schema, every table has the recorded rows and checksum, and the gateway itself (its schema, resolvers and
 * tenancy, run in this process) answers health, stats and items for it with the recorded figures.
 */
export async function verifyRestoredSource(
  config: GatewayConfig,
  store: Store,
  expected: ManifestSource,
  gateway: InProcessGateway,
): Promise<SourceVerification> {
  const problems: string[] = [];
  let registryOk = false;
  try {
    const source = await store.resolveSource(expected.id);
    registryOk = source.schemaName === expected.schemaName;
    if (!registryOk) problems.push(`registry maps ${expected.id} to ${source.schemaName}, expected ${expected.schemaName}`);
  } catch (error) {
    problems.push(`registry: ${(error as Error).message}`);
  }
  const tables: TableVerification[] = [];
  if (registryOk) {
    const actual = await store.withTenant(expected.id, (db) => tableChecksums(db));
    for (const want of expected.tables) {
      const got = actual.find((t) => t.table === want.table);
      const entry = { table: want.table, expectedRows: want.rows, rows: got?.rows ?? 0, checksumOk: got?.checksum === want.checksum };
      if (entry.rows !== entry.expectedRows || !entry.checksumOk) {
        problems.push(`${want.table}: ${entry.rows} rows (expected ${entry.expectedRows}), checksum ${entry.checksumOk ? 'equal' : 'differs'}`);
      }
      tables.push(entry);
    }
  }
  const answered = await askGateway((request) => gateway(store, config, request), expected, problems);
  return { sourceId: expected.id, schemaName: expected.schemaName, registryOk, tables, gateway: answered, ok: problems.length === 0, problems };
}

async function askGateway(
  ask: (request: Request) => Promise<Response>,
  expected: ManifestSource,
  problems: string[],
): Promise<SourceVerification['gateway']> {
  const videos = expected.tables.find((t) => t.table === 'videos')?.rows ?? 0;
  const response = await ask(new Request('http://restore.check/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: CHECK_QUERY, variables: { sourceId: expected.id } }),
  }));

  const body = (await response.json()) as {
    data?: {
      health: { status: string };
      source: { backend: { schema: string | null }; stats: { items: number }; items: { totalCount: number; nodes: { id: string }[] } } | null;
    };
    errors?: { message: string }[];
  };
  const source = body.data?.source ?? null;
  const result = {
    ok: false,
    status: body.data?.health.status ?? null,
    items: source?.stats.items ?? null,
    totalCount: source?.items.totalCount ?? null,
    pageIds: source?.items.nodes.length ?? 0,
  };
  const before = problems.length;
  if (body.errors?.length) problems.push(`gateway answered errors: ${body.errors.map((e) => e.message).join('; ')}`);
  if (result.status !== 'ok') problems.push(`gateway health is ${result.status ?? 'missing'}`);
  if (source && source.backend.schema !== expected.schemaName) problems.push(`gateway bound ${expected.id} to ${source.backend.schema}`);
  if (result.items !== videos || result.totalCount !== videos) {
    problems.push(`gateway counts ${result.items} items (stats) and ${result.totalCount} (items), expected ${videos}`);
  }
  if (result.pageIds !== Math.min(5, videos)) problems.push(`gateway's first page has ${result.pageIds} items, expected ${Math.min(5, videos)}`);
  result.ok = problems.length === before;
  return result;
}
