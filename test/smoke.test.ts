import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { importCsv } from '../src/import/importCsv.js';
import type { Store } from '../src/interfaces.js';
import type { SmokeAllReport, SmokeReport } from '../src/tasks/smoke.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { libraryCsv } from './support/csv.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

async function smoke(args: string[]) {
  const cli = startCli(['smoke', ...args], {});
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

const line = (stdout: string, check: string) => stdout.split('\n').find((l) => new RegExp(`^(PASS|FAIL) ${check}\\s`).test(l)) ?? '';
const sourceLine = (stdout: string, sourceId: string) => line(stdout, `source ${sourceId}`);

/** A source with `items` items; bootstrapped first, so the import never has to create it. */
async function sourceWithItems(store: Store, sourceId: string, items: number): Promise<void> {
  await store.bootstrapSource({ sourceId });
  if (items > 0) await importCsv(store, sourceId, { consolidated: () => Readable.from([Buffer.from(libraryCsv(sourceId, items))]), authors: null, bookmarks: null });
}

const script = path.resolve(import.meta.dirname, '..', 'scripts', 'postgres_primary_smoke.sh');

/** The plan's smoke script, run by bash from another directory: it must find the CLI relative to itself. */
function runScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('bash', [script, ...args], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SX_LOG_LEVEL: 'warn' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

afterEach(() => killStartedProcesses());

describe('smoke', () => {
  let primary: TestGateway;
  let sqlite: TestGateway;
  beforeAll(async () => {
    [primary, sqlite] = await Promise.all([startTestGateway('postgres'), startTestGateway('sqlite')]);
    for (const gateway of [primary, sqlite]) await sourceWithItems(gateway.store, 'smoke_1', 4);
  });
  afterAll(async () => {
    await primary?.close();
    await sqlite?.close();
  });

  it('passes every check against a POSTGRES_PRIMARY gateway serving the source', async () => {
    const result = await smoke(['--url', primary.url, '--source', 'smoke_1']);
    expect(result.code, result.stdout).toBe(0);
    for (const check of ['health', 'backend', 'source', 'stats', 'items', 'rest', 'unmapped']) expect(line(result.stdout, check)).toMatch(/^PASS /);
    expect(line(result.stdout, 'source')).toContain('routes to schema sx_smoke_1 (search_path "sx_smoke_1", public)');
    expect(line(result.stdout, 'stats')).toMatch(/stats answer: 4 items, \d+ bookmarked, \d+ authors$/);
    expect(line(result.stdout, 'items')).toContain('4 in all');
    expect(line(result.stdout, 'rest')).toContain('GET /items answer: total 4');
    expect(line(result.stdout, 'unmapped')).toMatch(/source smoke-unmapped-[0-9a-f]+ answered 400 SOURCE_NOT_MAPPED/);
    expect(result.stdout).toMatch(/^smoke passed: 7 of 7 checks passed/m);
  });

  it('prints one JSON object with --json, and accepts the URL with /graphql', async () => {
    const result = await smoke(['--url', `${primary.url}/graphql`, '--source', 'smoke_1', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as SmokeReport;
    expect(report).toMatchObject({ url: primary.url, sourceId: 'smoke_1', expectBackend: 'postgres_primary', passed: true });
    expect(report.checks.map((check) => [check.name, check.passed])).toEqual([
      ['health', true], ['backend', true], ['source', true], ['stats', true], ['items', true], ['rest', true], ['unmapped', true],
    ]);
  });

  it('fails, naming the check, for a source the gateway does not map', async () => {
    const result = await smoke(['--url', primary.url, '--source', 'not_there']);
    expect(result.code).toBe(1);
    expect(line(result.stdout, 'source')).toMatch(/^FAIL source .*SOURCE_NOT_MAPPED/);
    expect(line(result.stdout, 'stats')).toMatch(/^FAIL stats/);
    expect(line(result.stdout, 'items')).toMatch(/^FAIL items/);
    expect(line(result.stdout, 'rest')).toMatch(/^FAIL rest .*HTTP 400/);
    expect(line(result.stdout, 'health')).toMatch(/^PASS /);
  });

  it('fails against a SQLITE gateway: the backend is sqlite, not postgres_primary', async () => {
    const result = await smoke(['--url', sqlite.url, '--source', 'smoke_1']);
    expect(result.code).toBe(1);
    expect(line(result.stdout, 'backend')).toMatch(/^FAIL backend +backend is sqlite \(mode SQLITE\), expected postgres_primary$/);
    expect(line(result.stdout, 'source')).toMatch(/^FAIL source .*without a schema/);
    expect(line(result.stdout, 'health')).toMatch(/^PASS /);
    expect(line(result.stdout, 'unmapped')).toMatch(/^PASS /);
    expect(result.stdout).toMatch(/^smoke FAILED: 5 of 7 checks passed/m);
  });

  it('passes against the SQLITE gateway when told to expect sqlite', async () => {
    const result = await smoke(['--url', sqlite.url, '--source', 'smoke_1', '--expect-backend', 'sqlite']);
    expect(result.code, result.stdout).toBe(0);
    expect(line(result.stdout, 'source')).toContain('backend sqlite, no schema');
  });

  it('fails on a closed port, saying the connection was refused', async () => {
    const port = await closedPort();
    const result = await smoke(['--url', `http://127.0.0.1:${port}`, '--source', 'smoke_1']);
    expect(result.code).toBe(1);
    expect(line(result.stdout, 'health')).toMatch(new RegExp(`^FAIL health +connection refused at http://127.0.0.1:${port}: is the gateway running there\\?$`));
    expect(line(result.stdout, 'unmapped')).toMatch(/^FAIL unmapped +not run: connection refused/);
  });

  it('fails a gateway that does not answer within --timeout-ms', async () => {
    // Accepts connections and never answers.
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const result = await smoke(['--url', `http://127.0.0.1:${port}`, '--source', 'smoke_1', '--timeout-ms', '300']);
      expect(result.code).toBe(1);
      expect(line(result.stdout, 'health')).toContain('no answer from');
      expect(line(result.stdout, 'health')).toContain('within 300 ms');
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      silent.close();
    }
  });

  it('refuses bad usage with exit code 2', async () => {
    expect((await smoke(['--source', 'smoke_1'])).code).toBe(2);
    expect((await smoke(['--url', 'not a url', '--source', 'smoke_1'])).code).toBe(2);
    const backend = await smoke(['--url', primary.url, '--source', 'smoke_1', '--expect-backend', 'mysql']);
    expect(backend.code).toBe(2);
    expect(backend.stderr).toContain('--expect-backend must be one of');
  });
});

describe('smoke over every source (--all, the default without --source)', () => {
  let healthy: TestGateway;
  let broken: TestGateway;
  beforeAll(async () => {
    [healthy, broken] = await Promise.all([startTestGateway('postgres'), startTestGateway('postgres')]);
    await Promise.all([sourceWithItems(healthy.store, 'lib_1', 3), sourceWithItems(healthy.store, 'lib_2', 0)]);
    await Promise.all([sourceWithItems(broken.store, 'good_1', 5), sourceWithItems(broken.store, 'good_2', 2), sourceWithItems(broken.store, 'gone_1', 2)]);
    // Broken behind the gateway's back: a schema dropped by hand, and a source row no registry row maps.
    const client = new pg.Client({ connectionString: broken.databaseUrl });
    await client.connect();
    try {
      await client.query('DROP SCHEMA sx_gone_1 CASCADE');
      await client.query("INSERT INTO public.sources (id, label) VALUES ('orphan_1', 'no mapping')");
    } finally {
      await client.end();
    }
  });
  afterAll(async () => {
    await healthy?.close();
    await broken?.close();
  });

  it('checks every source the gateway lists, one line each, and passes when all do', async () => {
    for (const args of [[], ['--all']]) {
      const result = await smoke(['--url', healthy.url, ...args]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      for (const check of ['health', 'backend', 'sources', 'unmapped']) expect(line(result.stdout, check)).toMatch(/^PASS /);
      expect(line(result.stdout, 'sources')).toContain('2 source(s) listed');
      expect(sourceLine(result.stdout, 'lib_1')).toMatch(/^PASS source lib_1 +source lib_1 routes to schema sx_lib_1 .*; stats answer: 3 items.*; items answer: 3 in all.*; GET \/items answer: total 3$/);
      expect(sourceLine(result.stdout, 'lib_2')).toMatch(/^PASS source lib_2 .*stats answer: 0 items.*items answer: the source holds none; GET \/items answer: total 0$/);
      expect(result.stdout).toMatch(/^smoke passed: 2 of 2 sources passed, 4 of 4 gateway checks passed against http:\/\/127\.0\.0\.1:\d+ \(/m);
    }
  });

  it('fails the broken sources on their own lines, passes the others, and exits 1', async () => {
    const result = await smoke(['--url', broken.url]);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    for (const check of ['health', 'backend', 'sources', 'unmapped']) expect(line(result.stdout, check)).toMatch(/^PASS /);
    expect(sourceLine(result.stdout, 'good_1')).toMatch(/^PASS .*stats answer: 5 items.*items answer: 5 in all/);
    expect(sourceLine(result.stdout, 'good_2')).toMatch(/^PASS .*items answer: 2 in all/);
    // The registry still maps gone_1, so it routes; its stats and items cannot be read.
    expect(sourceLine(result.stdout, 'gone_1')).toMatch(/^FAIL source gone_1 +stats: stats of gone_1 failed: .*; items: items of gone_1 failed: /);
    expect(sourceLine(result.stdout, 'orphan_1')).toMatch(/^FAIL source orphan_1 +source: source orphan_1 does not route: HTTP 400, SOURCE_NOT_MAPPED/);
    expect(result.stdout).toMatch(/^smoke FAILED: 2 of 4 sources passed, 4 of 4 gateway checks passed/m);
  });

  it('gives per-source results with --json', async () => {
    const result = await smoke(['--url', broken.url, '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as SmokeAllReport;
    expect(report).toMatchObject({ url: broken.url, expectBackend: 'postgres_primary', passed: false });
    expect(report.gateway.map((check) => [check.name, check.passed])).toEqual([
      ['health', true], ['backend', true], ['sources', true], ['unmapped', true],
    ]);
    const bySource = Object.fromEntries(report.sources.map((source) => [source.sourceId, source]));
    expect(Object.keys(bySource).sort()).toEqual(['gone_1', 'good_1', 'good_2', 'orphan_1']);
    expect(bySource.good_1).toMatchObject({ passed: true, schemaName: 'sx_good_1' });
    expect(bySource.good_1!.checks.map((check) => check.name)).toEqual(['source', 'stats', 'items', 'rest']);
    expect(bySource.gone_1!.checks.map((check) => [check.name, check.passed])).toEqual([['source', true], ['stats', false], ['items', false], ['rest', false]]);
    expect(bySource.orphan_1).toMatchObject({ passed: false, schemaName: null });
    expect(bySource.orphan_1!.checks[0]).toMatchObject({ name: 'source', passed: false });
  });

  it('passes a SQLITE gateway told to expect sqlite, and says so when nothing answers', async () => {
    const sqlite = await startTestGateway('sqlite');
    try {
      await sourceWithItems(sqlite.store, 'lite_1', 2);
      const result = await smoke(['--url', sqlite.url, '--expect-backend', 'sqlite']);
      expect(result.code, result.stdout).toBe(0);
      expect(sourceLine(result.stdout, 'lite_1')).toMatch(/^PASS .*backend sqlite, no schema.*items answer: 2 in all/);
    } finally {
      await sqlite.close();
    }
    const port = await closedPort();
    const down = await smoke(['--url', `http://127.0.0.1:${port}`]);
    expect(down.code).toBe(1);
    expect(line(down.stdout, 'sources')).toMatch(/^FAIL sources +not run: connection refused/);
    expect(down.stdout).toMatch(/^smoke FAILED: 0 of 0 sources passed, 0 of 4 gateway checks passed/m);
  });

  it('refuses --all together with --source', async () => {
    const result = await smoke(['--url', healthy.url, '--all', '--source', 'lib_1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--all and --source exclude each other');
  });

  describe('scripts/postgres_primary_smoke.sh', () => {
    it('runs the smoke from any directory and passes its exit code through', async () => {
      const passed = await runScript(['--url', healthy.url]);
      expect(passed.code, passed.stdout + passed.stderr).toBe(0);
      expect(passed.stdout).toMatch(/^smoke passed: 2 of 2 sources passed/m);

      const failed = await runScript(['--url', broken.url]);
      expect(failed.code, failed.stdout + failed.stderr).toBe(1);
      expect(sourceLine(failed.stdout, 'gone_1')).toMatch(/^FAIL /);

      const one = await runScript(['--url', broken.url, '--source', 'good_1', '--json']);
      expect(one.code).toBe(0);
      expect(JSON.parse(one.stdout)).toMatchObject({ sourceId: 'good_1', passed: true });

      const usage = await runScript(['--url', 'not a url']);
      expect(usage.code).toBe(2);
    });
  });
});
