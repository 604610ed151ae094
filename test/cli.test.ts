import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csv, libraryCsv } from './support/csv.js';
import { createTestDatabase } from './support/gateway.js';

const root = path.resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>, untilLine?: RegExp): Promise<Run & { stop?: () => void }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SX_LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (untilLine?.test(stdout)) resolve({ code: null, stdout, stderr, stop: () => child.kill('SIGTERM') });
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('CLI', () => {
  let dir: string;
  let database: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sx-gateway-cli-'));
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses POSTGRES_PRIMARY without a DSN, naming the variable, and exits 2', async () => {
    const result = await run(['sources'], { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SX_POSTGRES_DSN');
  });

  it('bootstraps, imports with a summary and lists sources in POSTGRES_PRIMARY', async () => {
    const env = { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url };
    const bootstrap = await run(['pg-bootstrap', '--source', 'cli_1'], env);
    expect(bootstrap.code).toBe(0);
    expect(bootstrap.stdout).toContain('bootstrapped source cli_1 (schema sx_cli_1');
    const file = path.join(dir, 'library.csv');
    await writeFile(file, libraryCsv('cli_1', 5));
    const first = await run(['import', '--source', 'cli_1', '--csv', file], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('inserted=5 updated=0 skipped=0');
    expect(first.stderr).toContain('consolidated: 5 rows');
    const second = await run(['import', '--source', 'cli_1', '--csv', file], env);
    expect(second.stdout).toContain('inserted=0 updated=0 skipped=5');
    const sources = await run(['sources'], env);
    expect(sources.stdout).toMatch(/\* cli_1\s.*sx_cli_1/);
  });

  it('fails an import of a broken file with the error code and a non-zero exit', async () => {
    const file = path.join(dir, 'broken.csv');
    await writeFile(file, csv(['not_the_id_column'], [['1']]));
    const result = await run(['import', '--source', 'cli_sqlite', '--csv', file], { SX_DB_PATH: path.join(dir, 'cli.db') });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('CSV_MISSING_COLUMN');
    const missing = await run(['import', '--source', 'cli_sqlite', '--csv', path.join(dir, 'nope.csv')], { SX_DB_PATH: path.join(dir, 'cli.db') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  });

  it('serves the demo library on first start in SQLITE mode', async () => {
    const served = await run(['serve', '--port', '0'], { SX_DB_PATH: path.join(dir, 'first-run.db') }, /serving GraphiQL at (\S+)\/graphql/);
    try {
      const url = /serving GraphiQL at (\S+)\/graphql/.exec(served.stdout)![1];
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ source(sourceId: "demo") { items(first: 5) { totalCount nodes { id } } } }' }),
      });
      const body = (await response.json()) as any;
      expect(body.errors).toBeUndefined();
      expect(body.data.source.items.totalCount).toBe(120);
      const health = (await (await fetch(`${url}/health`)).json()) as any;
      expect(health).toMatchObject({ status: 'ok', backend: { backend: 'sqlite' }, database: { reachable: true } });
      const page = await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } });
      expect(await page.text()).toContain('GraphiQL');
    } finally {
      served.stop?.();
    }
  });
});
