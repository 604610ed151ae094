import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/gateway.js';

const root = path.resolve(import.meta.dirname, '..');

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SX_LOG_LEVEL: 'warn', SX_DEMO_IMPORT: '0', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.each(['sqlite', 'postgres'] as const)('sx-gateway source-settings (%s)', (kind) => {
  let dir: string;
  let env: Record<string, string>;
  let drop: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sx-settings-'));
    if (kind === 'postgres') {
      const database = await createTestDatabase();
      drop = database.drop;
      env = { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url };
    } else {
      env = { SX_DB_PATH: path.join(dir, 'library.db') };
    }
    expect((await cli(['pg-bootstrap', '--source', 'assets_1'], env)).code).toBe(0);
  });
  afterAll(async () => {
    await drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sets, keeps, clears and prints the settings, defaults marked', async () => {
    const set = await cli(
      ['source-settings', '--source', 'assets_1', '--vault', '/srv/vaults/a1/', '--vault-windows', 'D:\\Vaults\\a1', '--path-style', 'windows', '--group-prefix', 'a1', '--json'],
      env,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({
      sourceId: 'assets_1',
      media: { vaultRoot: '/srv/vaults/a1', vaultRootWindows: 'D:\\Vaults\\a1', dataDir: null, pathStyle: 'windows', groupPrefix: 'a1' },
      effective: { vaultRoot: '/srv/vaults/a1', dataDir: 'data', pathStyle: 'windows', groupPrefix: 'a1' },
    });
    // An option left out keeps its value; an empty one clears it back to the default.
    const cleared = await cli(['source-settings', '--source', 'assets_1', '--group-prefix', '', '--json'], env);
    expect(JSON.parse(cleared.stdout).media).toMatchObject({ vaultRoot: '/srv/vaults/a1', pathStyle: 'windows', groupPrefix: null });
    const shown = await cli(['source-settings', '--source', 'assets_1'], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('vaultRoot: /srv/vaults/a1\n');
    expect(shown.stdout).toContain('dataDir: data (default)');
  });

  it('refuses a relative vault, a data dir leaving the vault and an unknown source, and changes nothing', async () => {
    for (const args of [['--vault', 'vaults/a1'], ['--data-dir', '../up'], ['--path-style', 'mac']]) {
      const refused = await cli(['source-settings', '--source', 'assets_1', ...args], env);
      expect(refused.code, args.join(' ')).not.toBe(0);
      expect(refused.stderr).toMatch(/MEDIA_SETTINGS_INVALID|--path-style/);
    }
    const unknown = await cli(['source-settings', '--source', 'typo_1', '--vault', '/srv/x'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('SOURCE_NOT_MAPPED');
    const after = JSON.parse((await cli(['source-settings', '--source', 'assets_1', '--json'], env)).stdout);
    expect(after.media).toMatchObject({ vaultRoot: '/srv/vaults/a1', dataDir: null });
    const sources = JSON.parse((await cli(['sources', '--json'], env)).stdout) as { id: string }[] | { sources: { id: string }[] };
    const ids = (Array.isArray(sources) ? sources : sources.sources).map((source) => source.id);
    expect(ids).toEqual(['assets_1']);
  });
});
