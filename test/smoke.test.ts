import { createServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { importCsv } from '../src/import/importCsv.js';
import type { SmokeReport } from '../src/tasks/smoke.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { libraryCsv } from './support/csv.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

async function smoke(args: string[]) {
  const cli = startCli(['smoke', ...args], {});
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

const line = (stdout: string, check: string) => stdout.split('\n').find((l) => new RegExp(`^(PASS|FAIL) ${check}\\s`).test(l)) ?? '';

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
    for (const gateway of [primary, sqlite]) {
      await importCsv(gateway.store, 'smoke_1', { consolidated: () => Readable.from([Buffer.from(libraryCsv('smoke_1', 4))]) });
    }
  });
  afterAll(async () => {
    await primary?.close();
    await sqlite?.close();
  });

  it('passes every check against a POSTGRES_PRIMARY gateway serving the source', async () => {
    const result = await smoke(['--url', primary.url, '--source', 'smoke_1']);
    expect(result.code, result.stdout).toBe(0);
    for (const check of ['health', 'backend', 'source', 'items', 'unmapped']) expect(line(result.stdout, check)).toMatch(/^PASS /);
    expect(line(result.stdout, 'source')).toContain('routes to schema sx_smoke_1 (search_path "sx_smoke_1", public)');
    expect(line(result.stdout, 'items')).toContain('4 in all');
    expect(line(result.stdout, 'unmapped')).toMatch(/source smoke-unmapped-[0-9a-f]+ answered 400 SOURCE_NOT_MAPPED/);
    expect(result.stdout).toMatch(/^smoke passed: 5 of 5 checks passed/m);
  });

  it('prints one JSON object with --json, and accepts the URL with /graphql', async () => {
    const result = await smoke(['--url', `${primary.url}/graphql`, '--source', 'smoke_1', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as SmokeReport;
    expect(report).toMatchObject({ url: primary.url, sourceId: 'smoke_1', expectBackend: 'postgres_primary', passed: true });
    expect(report.checks.map((check) => [check.name, check.passed])).toEqual([
      ['health', true], ['backend', true], ['source', true], ['items', true], ['unmapped', true],
    ]);
  });

  it('fails, naming the check, for a source the gateway does not map', async () => {
    const result = await smoke(['--url', primary.url, '--source', 'not_there']);
    expect(result.code).toBe(1);
    expect(line(result.stdout, 'source')).toMatch(/^FAIL source .*SOURCE_NOT_MAPPED/);
    expect(line(result.stdout, 'items')).toMatch(/^FAIL items/);
    expect(line(result.stdout, 'health')).toMatch(/^PASS /);
  });

  it('fails against a SQLITE gateway: the backend is sqlite, not postgres_primary', async () => {
    const result = await smoke(['--url', sqlite.url, '--source', 'smoke_1']);
    expect(result.code).toBe(1);
    expect(line(result.stdout, 'backend')).toMatch(/^FAIL backend +backend is sqlite \(mode SQLITE\), expected postgres_primary$/);
    expect(line(result.stdout, 'source')).toMatch(/^FAIL source .*without a schema/);
    expect(line(result.stdout, 'health')).toMatch(/^PASS /);
    expect(line(result.stdout, 'unmapped')).toMatch(/^PASS /);
    expect(result.stdout).toMatch(/^smoke FAILED: 3 of 5 checks passed/m);
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
