import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupBaseName, dumpPathOf, manifestPathOf } from '../src/tasks/backupManifest.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { externalToolRequired, findExternalTool, missingToolBanner, type ExternalTool } from './support/externalTool.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { findTestPgTools } from './support/pgTools.js';

const SYSTEMD_ANALYZE: ExternalTool = {
  label: 'systemd-analyze',
  names: ['systemd-analyze'],
  override: 'SX_TEST_SYSTEMD_ANALYZE',
  install: 'Install systemd (Debian/Ubuntu: it comes with the systemd package)',
  requireVariable: 'SX_TEST_REQUIRE_SYSTEMD_ANALYZE',
};
const systemdAnalyze = findExternalTool(SYSTEMD_ANALYZE);
if (!systemdAnalyze) process.stderr.write(missingToolBanner(SYSTEMD_ANALYZE, 'the systemd-analyze verify check of the installed units'));
const itWithSystemdAnalyze = systemdAnalyze || externalToolRequired(SYSTEMD_ANALYZE) ? it : it.skip;

const pgTools = await findTestPgTools();
if (!pgTools.tools) process.stderr.write(`${pgTools.banner}\n`);
const itWithPgTools = pgTools.tools || process.env.SX_TEST_REQUIRE_PG_TOOLS === '1' ? it : it.skip;

const HOUR = 3_600_000;

/**
 * A full backup as the backup task leaves it, without pg_dump: a dump file of `bytes` bytes and its manifest, taken
 * `hoursAgo` hours ago. Only what the status reads has to be real; the rest is well-formed filler.
 */
async function writeBackup(dir: string, hoursAgo: number, options: { bytes?: number; durationMs?: number; withDump?: boolean } = {}): Promise<{ name: string; createdAt: Date }> {
  const createdAt = new Date(Date.now() - hoursAgo * HOUR);
  const base = backupBaseName('all', createdAt);
  const bytes = options.bytes ?? 4096;
  await mkdir(dir, { recursive: true });
  if (options.withDump !== false) await writeFile(dumpPathOf(dir, base), Buffer.alloc(bytes, 7));
  const manifest = {
    format: 'sx-gateway-backup',
    formatVersion: 1,
    kind: 'all',
    createdAt: createdAt.toISOString(),
    gatewayVersion: '0.1.0',
    server: { version: '16.0', versionNum: 160000, database: 'sx' },
    tool: { name: 'pg_dump', version: '16.0' },
    dump: { file: path.basename(dumpPathOf(dir, base)), bytes, sha256: '0'.repeat(64) },
    registryTable: 'sx_source_registry',
    latestMigration: 1,
    sources: [],
    durationMs: options.durationMs ?? 2500,
  };
  await writeFile(manifestPathOf(dir, base), `${JSON.stringify(manifest, null, 2)}\n`);
  return { name: path.basename(manifestPathOf(dir, base)), createdAt };
}

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, env);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** One sample of a metric from Prometheus' text format, or null when the series is absent. */
function sample(metrics: string, name: string, labels: string): number | null {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const HEALTH_QUERY = '{ health { status backup { status maxAgeHours ageHours message newest { name kind createdAt bytes durationMs } } } }';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'sx-backup-schedule-'));
});
afterAll(async () => {
  killStartedProcesses();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the newest verified backup in health, /health and /metrics (POSTGRES_PRIMARY)', () => {
  let gateway: TestGateway;
  let dir: string;

  beforeAll(async () => {
    dir = path.join(work, 'watched');
    await mkdir(dir);
    gateway = await startTestGateway('postgres', { SX_BACKUP_DIR: dir, SX_BACKUP_MAX_AGE_HOURS: '26' });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  async function probe(): Promise<{ graphql: any; json: any; httpStatus: number; metrics: string }> {
    const graphql = await gateway.gql(HEALTH_QUERY);
    expect(graphql.body.errors).toBeUndefined();
    const health = await fetch(`${gateway.url}/health`);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    return { graphql: graphql.body.data.health, json: await health.json(), httpStatus: health.status, metrics };
  }

  it('no backup at all: a warning, status still ok, and the timestamp series at 0 so an alert fires', async () => {
    const { graphql, json, httpStatus, metrics } = await probe();
    expect(graphql.status).toBe('ok');
    expect(graphql.backup).toMatchObject({ status: 'warn', maxAgeHours: 26, newest: null, ageHours: null });
    expect(graphql.backup.message).toMatch(/no verified full backup in SX_BACKUP_DIR/);
    expect(httpStatus).toBe(200);
    expect(json.status).toBe('ok');
    expect(json.backup).toMatchObject({ status: 'warn', newest: null });
    expect(sample(metrics, 'sx_backup_last_success_timestamp_seconds', 'kind="all"')).toBe(0);
    expect(sample(metrics, 'sx_backup_last_size_bytes', 'kind="all"')).toBeNull();
  });

  it('a backup older than SX_BACKUP_MAX_AGE_HOURS: warned in health and /health, its figures on /metrics', async () => {
    const stale = await writeBackup(dir, 30, { bytes: 5000, durationMs: 12_345 });
    // Newer, but not whole: its dump is missing, so it is no restore point and must not hide the stale one.
    await writeBackup(dir, 1, { withDump: false });
    const { graphql, json, httpStatus, metrics } = await probe();
    expect(graphql.status).toBe('ok');
    expect(graphql.backup.status).toBe('warn');
    expect(graphql.backup.newest).toMatchObject({ name: stale.name, kind: 'all', bytes: 5000, durationMs: 12_345 });
    expect(new Date(graphql.backup.newest.createdAt).getTime()).toBe(stale.createdAt.getTime());
    expect(graphql.backup.ageHours).toBeGreaterThan(29.9);
    expect(graphql.backup.message).toContain(`(${stale.name}) is 30.0 h old, older than SX_BACKUP_MAX_AGE_HOURS=26`);
    expect(httpStatus).toBe(200);
    expect(json.status).toBe('ok');
    expect(json.backup).toMatchObject({ status: 'warn', newest: { name: stale.name, bytes: 5000 } });
    expect(sample(metrics, 'sx_backup_last_success_timestamp_seconds', 'kind="all"')).toBeCloseTo(stale.createdAt.getTime() / 1000, 3);
    expect(sample(metrics, 'sx_backup_last_size_bytes', 'kind="all"')).toBe(5000);
    expect(sample(metrics, 'sx_backup_last_duration_seconds', 'kind="all"')).toBeCloseTo(12.345, 6);
  });

  it('a fresh backup: no warning, and the gauges move to it at once', async () => {
    const fresh = await writeBackup(dir, 2, { bytes: 6000, durationMs: 800 });
    const { graphql, json, metrics } = await probe();
    expect(graphql.backup).toMatchObject({ status: 'ok', message: null, newest: { name: fresh.name, bytes: 6000 } });
    expect(graphql.backup.ageHours).toBeGreaterThan(1.9);
    expect(graphql.backup.ageHours).toBeLessThan(2.1);
    expect(json.backup).toMatchObject({ status: 'ok', message: null });
    expect(sample(metrics, 'sx_backup_last_success_timestamp_seconds', 'kind="all"')).toBeCloseTo(fresh.createdAt.getTime() / 1000, 3);
    expect(sample(metrics, 'sx_backup_last_size_bytes', 'kind="all"')).toBe(6000);
  });
});

describe('outside POSTGRES_PRIMARY', () => {
  it('health says not applicable and /metrics carries no backup gauges', async () => {
    const dir = path.join(work, 'sqlite-backups');
    await writeBackup(dir, 100);
    const gateway = await startTestGateway('sqlite', { SX_BACKUP_DIR: dir });
    try {
      const response = await gateway.gql(HEALTH_QUERY);
      expect(response.body.data.health.backup).toMatchObject({ status: 'not_applicable', newest: null });
      expect(response.body.data.health.backup.message).toMatch(/^not applicable in SQLITE/);
      const json = await (await fetch(`${gateway.url}/health`)).json();
      expect(json.backup.status).toBe('not_applicable');
      expect(await (await fetch(`${gateway.url}/metrics`)).text()).not.toContain('sx_backup_last_');
    } finally {
      await gateway.close();
    }
  });
});

describe('doctor', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    // Only for its database: doctor runs as its own process against it.
    gateway = await startTestGateway('postgres');
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const doctor = async (backupDir: string) => {
    const env = { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: gateway.databaseUrl, SX_DB_PATH: path.join(work, 'none.db'), SX_BACKUP_DIR: backupDir };
    const [text, json] = await Promise.all([cli(['doctor'], env), cli(['doctor', '--json'], env)]);
    const report = JSON.parse(json.stdout);
    return { text, code: json.code, backup: report.checks.find((c: { check: string }) => c.check === 'backup') };
  };

  it('warns on a stale backup and on none, exiting 0 (a warning is no failure)', async () => {
    const staleDir = path.join(work, 'doctor-stale');
    await writeBackup(staleDir, 50);
    const stale = await doctor(staleDir);
    expect(stale.code).toBe(0);
    expect(stale.text.code).toBe(0);
    expect(stale.backup).toMatchObject({ status: 'warn', detail: expect.stringMatching(/is 50\.0 h old, older than SX_BACKUP_MAX_AGE_HOURS=26/) });
    expect(stale.backup.hint).toContain('sx-gateway-backup.timer');
    expect(stale.text.stdout).toMatch(/WARN backup {4} the newest verified full backup/);

    const none = await doctor(path.join(work, 'doctor-none'));
    expect(none.code).toBe(0);
    expect(none.backup).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^no verified full backup in SX_BACKUP_DIR/) });
  });

  it('is ok with a fresh backup', async () => {
    const freshDir = path.join(work, 'doctor-fresh');
    const fresh = await writeBackup(freshDir, 3, { bytes: 2_000_000, durationMs: 4200 });
    const { code, backup } = await doctor(freshDir);
    expect(code).toBe(0);
    expect(backup.status).toBe('ok');
    expect(backup.detail).toBe(`newest verified full backup ${fresh.name}: 3.0 h old (at most 26 h), 2.00 MB, took 4.2 s`);
  });
});

describe('backup-schedule install', () => {
  const env = () => ({ SX_BACKUP_DIR: path.join(work, 'unused-default') });

  async function install(name: string, extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string; unitDir: string; envFile: string; outDir: string }> {
    const unitDir = path.join(work, name, 'units');
    const outDir = path.join(work, name, 'backups');
    const envFile = path.join(work, name, 'sx-gateway.env');
    await mkdir(path.dirname(envFile), { recursive: true });
    await writeFile(envFile, `SX_DB_BACKEND_MODE=POSTGRES_PRIMARY\nSX_BACKUP_DIR=${outDir}\n`);
    const result = await cli(['backup-schedule', 'install', '--unit-dir', unitDir, '--environment-file', envFile, ...extra], env());
    return { ...result, unitDir, envFile, outDir };
  }

  it('writes a service and a timer with the nightly full backup, Persistent= and a randomized delay', async () => {
    const { code, stdout, stderr, unitDir, envFile, outDir } = await install('systemd', ['--on-calendar', '*-*-* 03:15']);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    expect((await readdir(unitDir)).sort()).toEqual(['sx-gateway-backup.service', 'sx-gateway-backup.timer']);
    expect(stdout).toContain('systemctl enable --now sx-gateway-backup.timer');
    const service = await readFile(path.join(unitDir, 'sx-gateway-backup.service'), 'utf8');
    const timer = await readFile(path.join(unitDir, 'sx-gateway-backup.timer'), 'utf8');
    for (const text of [service, timer]) expect(text).not.toMatch(/\{\{|\}\}/);
    expect(service).toContain(`EnvironmentFile=${envFile}\n`);
    expect(service).toMatch(new RegExp(`^ExecStart=/\\S+ \\S+ backup --all --out ${outDir.replace(/[.]/g, '\\.')} --keep 7$`, 'm'));
    expect(service).toContain('Type=oneshot\n');
    expect(timer).toContain('OnCalendar=*-*-* 03:15\n');
    expect(timer).toContain('Persistent=true\n');
    expect(timer).toMatch(/^RandomizedDelaySec=\S+$/m);
    expect(timer).toContain('Unit=sx-gateway-backup.service\n');
  });

  itWithSystemdAnalyze('writes units systemd-analyze verify accepts', async () => {
    expect(systemdAnalyze, missingToolBanner(SYSTEMD_ANALYZE, 'systemd-analyze verify')).not.toBeNull();
    const { code, unitDir } = await install('verify', []);
    expect(code).toBe(0);
    const units = ['sx-gateway-backup.service', 'sx-gateway-backup.timer'].map((name) => path.join(unitDir, name));
    const verify = spawnSync(systemdAnalyze!, ['verify', '--man=no', ...units], { encoding: 'utf8' });
    expect(verify.status, `${verify.stdout}${verify.stderr}`).toBe(0);
    // systemd-analyze complains on stderr about a unit file and still exits 0 for some problems: none allowed.
    expect(verify.stderr.split('\n').filter((line) => line.includes('sx-gateway-backup'))).toEqual([]);
  });

  it('--dry-run prints the files and writes nothing; --json names them', async () => {
    const dry = await install('dry', ['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`# ${path.join(dry.unitDir, 'sx-gateway-backup.timer')}`);
    expect(dry.stdout).toContain('Persistent=true');
    expect(await readdir(dry.unitDir).catch(() => 'missing')).toBe('missing');
    const json = await install('dry-json', ['--dry-run', '--json']);
    const report = JSON.parse(json.stdout);
    expect(report.written).toBe(false);
    expect(report.files.map((f: { name: string }) => f.name)).toEqual(['sx-gateway-backup.service', 'sx-gateway-backup.timer']);
  });

  it('--cron writes one cron.d line in the five-field format, with the user and the environment file', async () => {
    const { code, stderr, unitDir, envFile, outDir } = await install('cron', ['--cron', '--on-calendar', '*-*-* 02:30', '--user', 'sxbackup']);
    expect(code, stderr).toBe(0);
    expect(await readdir(unitDir)).toEqual(['sx-gateway-backup']);
    const lines = (await readFile(path.join(unitDir, 'sx-gateway-backup'), 'utf8')).split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(lines[0]).toBe('SHELL=/bin/sh');
    const job = lines.filter((l) => !/^[A-Z_]+=/.test(l));
    expect(job).toHaveLength(1);
    // minute hour day-of-month month day-of-week user command
    const fields = /^(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (.+)$/.exec(job[0]!);
    expect(fields).not.toBeNull();
    expect(fields!.slice(1, 7)).toEqual(['30', '2', '*', '*', '*', 'sxbackup']);
    expect(fields![7]).toContain(`. ${envFile} && set +a && exec `);
    expect(fields![7]).toMatch(new RegExp(` backup --all --out ${outDir.replace(/[.]/g, '\\.')} --keep 7$`));
    // `%` is a newline to cron: none may reach the line.
    expect(job[0]).not.toContain('%');
  });

  it('refuses what it cannot write faithfully: a calendar without a cron form, a path with a space, no --unit-dir', async () => {
    const weekly = await install('weekly', ['--cron', '--on-calendar', 'Mon *-*-* 02:00']);
    expect(weekly.code).toBe(2);
    expect(weekly.stderr).toMatch(/--on-calendar "Mon \*-\*-\* 02:00": has no cron form/);
    const spaced = await install('spaced', ['--out-dir', '/srv/my backups']);
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toContain('--out-dir "/srv/my backups"');
    const missing = await cli(['backup-schedule', 'install'], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('give --unit-dir');
  });

  it('warns when the environment file points serve at another folder, and on --keep below 7', async () => {
    const { code, stderr } = await install('mismatch', ['--out-dir', path.join(work, 'elsewhere'), '--keep', '3', '--dry-run']);
    expect(code).toBe(0);
    expect(stderr).toMatch(/warning: keep 3 is below the plan's minimum of 7 rolling backups/);
    expect(stderr).toMatch(/sets SX_BACKUP_DIR=.*, but the backups go to .*elsewhere: health and doctor would watch the wrong folder/);
  });
});

describe('backup --keep below the plan minimum', () => {
  let gateway: TestGateway;
  let dir: string;
  beforeAll(async () => {
    dir = path.join(work, 'keep');
    gateway = await startTestGateway('postgres', { SX_BACKUP_DIR: dir });
    await gateway.store.bootstrapSource({ sourceId: 'kept' });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const env = () => ({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: gateway.databaseUrl });

  it('warns on stderr before it starts, naming the plan minimum; --keep 7 says nothing', async () => {
    // With or without pg_dump: the warning comes before the dump starts.
    const low = await cli(['backup', '--all', '--out', path.join(work, 'keep-cli'), '--keep', '3'], env());
    expect(low.stderr).toContain(
      `warning: keep 3 is below the plan's minimum of 7 rolling backups (POSTGRES_PRIMARY_MIGRATION: "Keep at least 7 rolling backups")`,
    );
    const usual = await cli(['backup', '--all', '--out', path.join(work, 'keep-cli'), '--keep', '7'], env());
    expect(usual.stderr).not.toContain('warning:');
  });

  itWithPgTools('still backs up, with the warning in --json and a manifest the status reads (duration included)', async () => {
    const out = path.join(work, 'keep-json');
    const run = await cli(['backup', '--all', '--out', out, '--keep', '2', '--json'], env());
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.warnings).toEqual([expect.stringContaining("keep 2 is below the plan's minimum of 7 rolling backups")]);
    const manifest = JSON.parse(await readFile(report.manifestFile, 'utf8'));
    expect(manifest.durationMs).toBeGreaterThan(0);
    const usual = JSON.parse((await cli(['backup', '--all', '--out', out, '--json'], env())).stdout);
    expect(usual.warnings).toEqual([]);
  });

  itWithPgTools('createBackup returns the same warning, and health then reports that backup', async () => {
    const low = await gateway.gql('mutation { createBackup(keep: 2) { manifestFile warnings } }');
    expect(low.body.errors).toBeUndefined();
    expect(low.body.data.createBackup.warnings).toEqual([expect.stringContaining("keep 2 is below the plan's minimum of 7 rolling backups")]);
    const usual = await gateway.gql('mutation { createBackup { warnings } }');
    expect(usual.body.data.createBackup.warnings).toEqual([]);
    const health = await gateway.gql('{ health { backup { status newest { kind durationMs } } } }');
    expect(health.body.data.health.backup).toMatchObject({ status: 'ok', newest: { kind: 'all' } });
    expect(health.body.data.health.backup.newest.durationMs).toBeGreaterThan(0);
  });
});
