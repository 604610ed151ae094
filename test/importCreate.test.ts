import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv } from '../src/import/importCsv.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type GatewayKind, type TestGateway } from './support/gateway.js';

/**
 * An import never brings a source into being by accident: a mistyped --source / sourceId is refused with
 * SOURCE_NOT_MAPPED, and nothing is read or written, unless the caller asks for creation (--create / create: true).
 */

const ITEMS = 'query Items($sourceId: ID!) { source(sourceId: $sourceId) { items { totalCount } } }';

/** The mutation as a client that never heard of `create` sends it: the argument left out. */
async function uploadWithoutCreate(gateway: TestGateway, sourceId: string, consolidated: string) {
  const query = `mutation Import($sourceId: ID!, $consolidated: File!) {
    importCsv(sourceId: $sourceId, consolidated: $consolidated) { sourceId inserted }
  }`;
  const form = new FormData();
  form.set('operations', JSON.stringify({ query, variables: { sourceId, consolidated: null } }));
  form.set('map', JSON.stringify({ 0: ['variables.consolidated'] }));
  form.set('0', new File([consolidated], 'consolidated.csv', { type: 'text/csv' }));
  const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'graphql-require-preflight': '1' }, body: form });
  return (await response.json()) as { data?: { importCsv: unknown } | null; errors?: { extensions?: { code?: string } }[] };
}

async function schemaExists(gateway: TestGateway, schemaName: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: gateway.databaseUrl });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemaName])).rowCount === 1;
  } finally {
    await client.end();
  }
}

function cliEnv(gateway: TestGateway): Record<string, string> {
  return gateway.kind === 'sqlite'
    ? { SX_DB_PATH: gateway.databaseUrl }
    : { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: gateway.databaseUrl };
}

async function cli(args: string[], env: Record<string, string>) {
  const run = startCli(args, env);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

function creationCases(kind: GatewayKind, options: { cli: boolean }) {
  let gateway: TestGateway;
  let dir: string;
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    dir = await mkdtemp(path.join(tmpdir(), 'sx-import-create-'));
  });
  afterAll(async () => {
    killStartedProcesses();
    await gateway?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const sourceIds = async () => (await gateway.store.listSources()).map((source) => source.id).sort();

  it('importCsv refuses an unknown source with SOURCE_NOT_MAPPED and creates nothing; create: true creates it', async () => {
    const before = await sourceIds();
    const refused = await uploadCsv(gateway, 'typo_1', { consolidated: libraryCsv('typo_1', 3) }, {}, { create: false });
    expect(refused.body.data?.importCsv ?? null).toBeNull();
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('SOURCE_NOT_MAPPED');
    expect(refused.body.errors?.[0]?.message).toMatch(/Unknown source_id=typo_1: nothing was imported/);
    // Left out, the argument means false.
    const omitted = await uploadWithoutCreate(gateway, 'typo_1', libraryCsv('typo_1', 3));
    expect(omitted.errors?.[0]?.extensions?.code).toBe('SOURCE_NOT_MAPPED');
    expect(await sourceIds()).toEqual(before);
    expect((await gateway.gql(ITEMS, { sourceId: 'typo_1' })).body.errors?.[0]?.extensions?.code).toBe('SOURCE_NOT_MAPPED');
    if (kind !== 'sqlite') expect(await schemaExists(gateway, 'sx_typo_1')).toBe(false);

    const created = await uploadCsv(gateway, 'typo_1', { consolidated: libraryCsv('typo_1', 3) }, {}, { create: true });
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data.importCsv).toMatchObject({ sourceId: 'typo_1', inserted: 3 });
    expect(await sourceIds()).toEqual([...before, 'typo_1'].sort());
    expect((await gateway.gql(ITEMS, { sourceId: 'typo_1' })).body.data.source.items.totalCount).toBe(3);
    // A source that exists needs no flag.
    const again = await uploadCsv(gateway, 'typo_1', { consolidated: libraryCsv('typo_1', 4) }, {}, { create: false });
    expect(again.body.data.importCsv).toMatchObject({ inserted: 1, skipped: 3 });
  });

  it('refuses before a file is opened', async () => {
    let opened = 0;
    const files = {
      consolidated: () => {
        opened += 1;
        return Readable.from([libraryCsv('typo_2', 2)]);
      },
    };
    await expect(importCsv(gateway.store, 'typo_2', files)).rejects.toMatchObject({ code: 'SOURCE_NOT_MAPPED' });
    expect(opened).toBe(0);
    expect(await sourceIds()).not.toContain('typo_2');
    await expect(importCsv(gateway.store, 'typo_2', files, { create: true })).resolves.toMatchObject({ inserted: 2 });
    expect(opened).toBe(1);
  });

  // The mirror gateway's CLI import is the same command against the same code: its case is not repeated there.
  if (options.cli) it('CLI import refuses an unknown source (exit 1, SOURCE_NOT_MAPPED) unless --create', async () => {
    const file = path.join(dir, 'library.csv');
    await writeFile(file, libraryCsv('typo_3', 5));
    const before = await sourceIds();
    const refused = await cli(['import', '--source', 'typo_3', '--csv', file, '--json'], cliEnv(gateway));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error SOURCE_NOT_MAPPED: Unknown source_id=typo_3: nothing was imported');
    expect(refused.stderr).toContain('--create');
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'SOURCE_NOT_MAPPED' } });
    expect(await sourceIds()).toEqual(before);
    if (kind !== 'sqlite') expect(await schemaExists(gateway, 'sx_typo_3')).toBe(false);

    const created = await cli(['import', '--source', 'typo_3', '--create', '--csv', file], cliEnv(gateway));
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('imported into typo_3: inserted=5 updated=0 skipped=0');
    expect((await gateway.gql(ITEMS, { sourceId: 'typo_3' })).body.data.source.items.totalCount).toBe(5);
  });
}

describe.each(STORE_KINDS)('no silent tenant creation by an import (%s)', (kind) => creationCases(kind, { cli: true }));

// POSTGRES_MIRROR writes to PostgreSQL too: the same refusal. (Its command line is PostgreSQL's, tested above.)
describe('no silent tenant creation by an import (mirror)', () => creationCases('mirror', { cli: false }));
