import pg from 'pg';
import type { Sql } from 'sql-template-tag';
import type { TenantDb } from '../src/interfaces.js';
import { listItems, type ItemFilter } from '../src/queries/listItems.js';
import { RANKED_MATCHES, searchItems } from '../src/queries/searchItems.js';

export interface PlanCheck {
  name: string;
  scans: string[];
  seqScanOnVideos: boolean;
  ms: number;
}

/** The first statement a library call would send, without running it. */
async function firstStatement(sourceId: string, schemaName: string, call: (db: TenantDb) => Promise<unknown>): Promise<Sql> {
  let captured: Sql | null = null;
  const record = async (query: Sql) => {
    captured ??= query;
    return [];
  };
  const db: TenantDb = {
    dialect: 'postgres',
    sourceId,
    schemaName,
    all: async <Row>(query: Sql) => (await record(query)) as Row[],
    one: async (query: Sql) => {
      await record(query);
      return undefined;
    },
    run: async (query: Sql) => (await record(query)).length,
  };
  await call(db);
  return captured!;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function scansOf(node: PlanNode, out: string[] = []): string[] {
  if (/Scan/.test(node['Node Type'])) {
    out.push(`${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`);
  }
  for (const child of node.Plans ?? []) scansOf(child, out);
  return out;
}

/** EXPLAIN ANALYZE of the filters and orders the API offers, on the benchmark's largest source. */
export async function explainQueries(databaseUrl: string, sourceId: string, schemaName: string, author: string, searchTerm: string): Promise<PlanCheck[]> {
  const page = { limit: 51, offset: 0 };
  const cases: [string, (db: TenantDb) => Promise<unknown>][] = [
    ['default order (RECENT)', (db) => listItems(db, {}, 'RECENT', page)],
    ['author filter', (db) => listItems(db, { authorUniqueIds: [author] } satisfies ItemFilter, 'RECENT', page)],
    ['bookmarked filter', (db) => listItems(db, { bookmarkedOnly: true }, 'RECENT', page)],
    ['bookmarked order', (db) => listItems(db, {}, 'BOOKMARKED', page)],
    ['author order', (db) => listItems(db, {}, 'AUTHOR', page)],
    [`search "${searchTerm}"`, (db) => searchItems(db, searchTerm, page)],
    // Past the ranked window the matches follow newest first: the page after the window's last.
    [`search "${searchTerm}", after the ${RANKED_MATCHES} ranked`, (db) => searchItems(db, searchTerm, { ...page, offset: RANKED_MATCHES })],
  ];
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`SET search_path = ${pg.escapeIdentifier(schemaName)}, public`);
    await client.query('ANALYZE');
    const checks: PlanCheck[] = [];
    for (const [name, call] of cases) {
      const statement = await firstStatement(sourceId, schemaName, call);
      const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`, statement.values as unknown[]);
      const plan = (rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] })['QUERY PLAN'][0];
      const scans = scansOf(plan.Plan);
      checks.push({ name, scans, seqScanOnVideos: scans.some((s) => s.startsWith('Seq Scan on videos')), ms: plan['Execution Time'] });
    }
    return checks;
  } finally {
    await client.end();
  }
}
