import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killStartedProcesses, startCli, type CliProcess } from './support/cliProcess.js';
import { createTestDatabase } from './support/gateway.js';

/** pino's level number for warn. */
const WARN = 40;

async function serve(env: Record<string, string>): Promise<CliProcess> {
  const run = startCli(['serve', '--port', '0'], { SX_DEMO_IMPORT: '0', ...env });
  await run.waitFor('stdout', /serving GraphiQL at (\S+)\/graphql/).catch((error: unknown) => {
    run.child.kill('SIGKILL');
    throw error;
  });
  return run;
}

async function stop(run: CliProcess): Promise<void> {
  run.child.kill('SIGTERM');
  await run.exited;
}

/** The server's pino log lines, parsed. */
const logLines = (run: CliProcess) =>
  run
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string } & Record<string, unknown>);

const mirrorWarnings = (run: CliProcess) => logLines(run).filter((line) => line.msg.startsWith('POSTGRES_MIRROR is deprecated'));

afterEach(() => killStartedProcesses());

describe('serve warns at start in POSTGRES_MIRROR, naming the way out', () => {
  let dir: string;
  let database: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sx-mirror-warning-'));
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs one warning with cutover, then SX_DB_BACKEND_MODE=POSTGRES_PRIMARY', async () => {
    const run = await serve({
      SX_DB_BACKEND_MODE: 'POSTGRES_MIRROR',
      SX_DB_PATH: path.join(dir, 'mirror.db'),
      SX_POSTGRES_DSN: database.url,
    });
    await stop(run);
    const warnings = mirrorWarnings(run);
    expect(warnings, run.stderr()).toHaveLength(1);
    const [warning] = warnings;
    expect(warning).toMatchObject({ level: WARN, mode: 'POSTGRES_MIRROR' });
    const cutover = warning!.msg.indexOf('sx-gateway cutover --source S');
    const primary = warning!.msg.indexOf('SX_DB_BACKEND_MODE=POSTGRES_PRIMARY');
    expect(cutover).toBeGreaterThan(0);
    // The order is the way out: every source cut over first, then the mode switched.
    expect(primary).toBeGreaterThan(cutover);
  });

  it('says nothing of the kind in SQLITE', async () => {
    const run = await serve({ SX_DB_PATH: path.join(dir, 'sqlite.db') });
    await stop(run);
    expect(mirrorWarnings(run)).toEqual([]);
  });
});
