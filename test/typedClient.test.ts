import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const root = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

// What the sample should import, counted without the gateway: distinct non-empty ids of consolidated.csv.
const rows: Record<string, string>[] = parse(readFileSync(path.join(root, 'samples/demo/consolidated.csv')), {
  columns: true,
  bom: true,
});
const expectedItems = new Set(rows.map((row) => row.c_videos_id?.trim()).filter(Boolean)).size;

/** Runs examples/typed-client.ts as a newcomer would, with a minimal environment; never rejects. */
async function runExample(gateway: TestGateway, args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'examples/typed-client.ts', '--url', `${gateway.url}/graphql`, ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function summary(stdout: string) {
  const number = (pattern: RegExp) => {
    const match = pattern.exec(stdout);
    expect(match, `${pattern} in:\n${stdout}`).not.toBeNull();
    return Number(match![1]);
  };
  return {
    imported: number(/^imported: (\d+) rows, inserted=(?:\d+)/m),
    paged: number(/^paged: (\d+) items in \d+ pages/m),
    pages: number(/^paged: \d+ items in (\d+) pages/m),
    stats: number(/^stats: (\d+) items/m),
  };
}

let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

describe('examples/typed-client.ts against a live gateway', () => {
  it('sanity: the sample has more than one page of items', () => {
    expect(expectedItems).toBeGreaterThan(50);
  });

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`${kind}: bootstraps, imports the sample, pages through every item and reads stats`, async () => {
      gateway = await startTestGateway(kind);
      const result = await runExample(gateway, ['--source', 'typed_client']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      const counts = summary(result.stdout);
      expect(counts).toEqual({
        imported: rows.length,
        paged: expectedItems,
        pages: Math.ceil(expectedItems / 50),
        stats: expectedItems,
      });
      expect(result.stdout).toMatch(kind === 'postgres' ? /^bootstrapped: typed_client \(schema sx_typed_client\)$/m : /^bootstrapped: typed_client \(SQLite\)$/m);

      // The gateway agrees, asked directly.
      const stats = await gateway.gql('query($s: ID!) { source(sourceId: $s) { stats { items } } }', { s: 'typed_client' });
      expect(stats.body.data.source.stats.items).toBe(expectedItems);

      // A second run finds the source and the rows in place: still every item, nothing inserted.
      const again = await runExample(gateway, ['--source', 'typed_client']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/^sources: .*typed_client/m);
      expect(again.stdout).toMatch(/inserted=0 /);
      expect(summary(again.stdout).paged).toBe(expectedItems);
    });
  }

  it('sends SX_ADMIN_TOKEN as a bearer token, and exits 1 with the error code without it', async () => {
    const token = 'typed-client-test-token-0123456789';
    gateway = await startTestGateway('sqlite', { SX_ADMIN_TOKEN: token });

    const refused = await runExample(gateway, ['--source', 'typed_client']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^typed-client: FORBIDDEN: /m);
    expect(refused.stdout).not.toMatch(/^bootstrapped:/m);

    const allowed = await runExample(gateway, ['--source', 'typed_client'], { SX_ADMIN_TOKEN: token });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(summary(allowed.stdout).stats).toBe(expectedItems);
  });

  it('exits 1 naming the code of an invalid source id', async () => {
    gateway = await startTestGateway('sqlite');
    const result = await runExample(gateway, ['--source', 'not valid']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^typed-client: SOURCE_ID_INVALID: /m);
  });
});
