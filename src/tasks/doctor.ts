import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { GatewayConfig } from '../config.js';
import { reachableDsn } from '../stores/postgres/embeddedCluster.js';
import { maskDsn } from '../stores/postgres/pools.js';
import { latestTenantVersion } from '../stores/postgres/migrationFiles.js';
import { PostgresStore } from '../stores/postgres/postgresStore.js';
import { asyncCommitNodes, citusInfo, schemaPlacements } from '../stores/postgres/citus.js';
import { prefixedSchemas } from '../stores/postgres/schemaInventory.js';
import { backupFreshness } from './backupStatus.js';
import { findPgTool, type PgToolName } from './pgTools.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warning or a failure. */
  hint?: string;
}

export interface DoctorReport {
  mode: string;
  checks: DoctorCheck[];
  ok: boolean;
}

/**
 * What an operator checks before a cutover or after an incident, read-only: the mode, each store the mode uses,
 * whether the registry and the schemas agree, whether every schema is at the latest migration, and whether the
 * tools backups need are there. Creates nothing (not even the global tables a first start would).
 */
export async function runDoctor(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [{ check: 'mode', status: 'ok', detail: `SX_DB_BACKEND_MODE=${config.mode}` }];
  if (config.mode !== 'POSTGRES_PRIMARY' || existsSync(config.sqlitePath)) checks.push(sqliteCheck(config));
  let serverMajor: number | null = null;
  if (config.postgres.dsn) serverMajor = await postgresChecks(config, checks);
  checks.push(...(await toolChecks(serverMajor, env)));
  if (config.mode === 'POSTGRES_PRIMARY') checks.push(await backupCheck(config));
  return { mode: config.mode, checks, ok: checks.every((c) => c.status !== 'fail') };
}

function sqliteCheck(config: GatewayConfig): DoctorCheck {
  const needed = config.mode !== 'POSTGRES_PRIMARY';
  if (!existsSync(config.sqlitePath)) {
    return {
      check: 'sqlite',
      status: needed ? 'warn' : 'ok',
      detail: `${config.sqlitePath} does not exist yet`,
      hint: 'serve creates it (and imports the sample library unless SX_DEMO_IMPORT=0)',
    };
  }
  let connection: Database.Database | null = null;
  try {
    connection = new Database(config.sqlitePath, { readonly: true, fileMustExist: true });
    const integrity = (connection.pragma('quick_check', { simple: true }) as string) ?? 'unknown';
    const version = (connection.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    const sources = (connection.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'sources'").get() as { n: number }).n
      ? (connection.prepare('SELECT count(*) AS n FROM sources').get() as { n: number }).n
      : 0;
    return {
      check: 'sqlite',
      status: integrity === 'ok' ? 'ok' : 'fail',
      detail: `${config.sqlitePath}: SQLite ${version}, ${sources} source(s), quick_check ${integrity}`,
      hint: integrity === 'ok' ? undefined : 'restore the file from a copy; do not serve from it',
    };
  } catch (error) {
    return { check: 'sqlite', status: needed ? 'fail' : 'warn', detail: `${config.sqlitePath}: ${(error as Error).message}` };
  } finally {
    connection?.close();
  }
}

/** Reachability, registry against schemas, migrations. Returns the server's major version when reachable. */
async function postgresChecks(config: GatewayConfig, checks: DoctorCheck[]): Promise<number | null> {
  const { dsn, stop: stopEmbedded } = await reachableDsn(config.postgres.adminDsn ?? config.postgres.dsn!, config.postgres);
  const needed = config.mode !== 'SQLITE';
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 5000 });
  const started = performance.now();
  try {
    await client.connect();
  } catch (error) {
    checks.push({
      check: 'postgres',
      status: needed ? 'fail' : 'warn',
      detail: `${maskDsn(dsn)}: not reachable (${(error as Error).message})`,
      hint: 'check SX_POSTGRES_DSN, the server and the network; in SQLITE mode PostgreSQL is only needed for cutover',
    });
    await stopEmbedded().catch(() => undefined);
    return null;
  }
  const store = new PostgresStore({ dsn, adminDsn: dsn, config: { ...config, mode: 'POSTGRES_PRIMARY' } });
  try {
    const { rows } = await client.query<{ v: string; n: string; db: string }>(
      "SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n, current_database() AS db",
    );
    const major = Math.floor(Number(rows[0]!.n) / 10000);
    checks.push({
      check: 'postgres',
      status: 'ok',
      detail: `${maskDsn(dsn)}: PostgreSQL ${rows[0]!.v.split(' ')[0]}, database ${rows[0]!.db}, answered in ${Math.round(performance.now() - started)} ms`,
    });
    const globals = await client.query("SELECT to_regclass('public.sources') IS NOT NULL AS sources, to_regclass($1) IS NOT NULL AS registry", [
      `public.${config.postgres.registryTable}`,
    ]);
    if (!globals.rows[0].sources || !globals.rows[0].registry) {
      checks.push({
        check: 'registry',
        status: needed ? 'warn' : 'ok',
        detail: 'the global tables (public.sources and the registry) do not exist yet',
        hint: 'serve or pg-bootstrap creates them',
      });
      return major;
    }
    const sources = await store.registry.list();
    const schemas = await prefixedSchemas(client, config.postgres.schemaPrefix);
    const mapped = new Set(sources.map((s) => s.schemaName).filter((s): s is string => s !== null));
    const unmapped = sources.filter((s) => !s.schemaName).map((s) => s.id);
    const schemaGone = sources.filter((s) => s.schemaName && !schemas.includes(s.schemaName)).map((s) => `${s.id} → ${s.schemaName}`);
    const orphans = schemas.filter((s) => !mapped.has(s));
    checks.push({
      check: 'registry',
      status: schemaGone.length ? 'fail' : unmapped.length || orphans.length ? 'warn' : 'ok',
      detail:
        `${sources.length} source(s), ${mapped.size} mapped, ${schemas.length} schema(s) named ${config.postgres.schemaPrefix}_*` +
        (schemaGone.length ? `; mapped to a missing schema: ${schemaGone.join(', ')}` : '') +
        (unmapped.length ? `; without a mapping: ${unmapped.join(', ')}` : '') +
        (orphans.length ? `; schemas no source maps to: ${orphans.join(', ')}` : ''),
      hint: schemaGone.length
        ? 'restore those sources from a backup (restore FILE --source S), or pg-bootstrap them to start empty'
        : unmapped.length
          ? 'pg-bootstrap --source S creates the missing mappings'
          : orphans.length
            ? 'left by a delete or a restore elsewhere; inspect, back up and drop them by hand'
            : undefined,
    });
    const citus = await citusInfo(client);
    if (citus) checks.push(await citusCheck(client, citus, [...mapped]));
    const statuses = await store.migrationStatus();
    const behind = statuses.filter((s) => s.behind);
    const drifted = statuses.filter((s) => s.drifted.length > 0);
    checks.push({
      check: 'migrations',
      status: behind.length || drifted.length ? 'warn' : 'ok',
      detail:
        `latest ${latestTenantVersion}; ${statuses.length - behind.length} of ${statuses.length} schema(s) at it` +
        (behind.length ? `; behind: ${behind.map((s) => `${s.sourceId} (${s.recordedVersion ?? s.registryVersion})`).join(', ')}` : '') +
        (drifted.length ? `; changed since applied: ${drifted.map((s) => `${s.sourceId} ${s.drifted.join('/')}`).join(', ')}` : ''),
      hint: behind.length ? 'sx-gateway migrate --all' : drifted.length ? 'a migration file was edited after it ran; restore the file' : undefined,
    });
    return major;
  } catch (error) {
    checks.push({ check: 'registry', status: 'fail', detail: (error as Error).message });
    return null;
  } finally {
    await client.end().catch(() => undefined);
    await store.close().catch(() => undefined);
    await stopEmbedded().catch(() => undefined);
  }
}

/** A stale or missing nightly backup is a warning: the gateway serves, but the plan's safety net is gone. */
async function backupCheck(config: GatewayConfig): Promise<DoctorCheck> {
  const freshness = await backupFreshness(config);
  const newest = freshness.newest;
  if (freshness.status === 'ok' && newest) {
    return {
      check: 'backup',
      status: 'ok',
      detail:
        `newest verified full backup ${newest.name}: ${freshness.ageHours!.toFixed(1)} h old (at most ${freshness.maxAgeHours} h), ` +
        `${(newest.bytes / 1e6).toFixed(2)} MB${newest.durationMs === null ? '' : `, took ${(newest.durationMs / 1000).toFixed(1)} s`}`,
    };
  }
  return {
    check: 'backup',
    status: 'warn',
    detail: freshness.message ?? 'no verified full backup',
    hint:
      'check the backup timer (systemctl list-timers sx-gateway-backup.timer; journalctl -u sx-gateway-backup.service) and that ' +
      'it writes into SX_BACKUP_DIR; sx-gateway backup-schedule install sets one up',
  };
}

/**
 * On a Citus coordinator: the workers, and where each source's schema lives. A schema that is not distributed
 * (created before schema-based sharding was on) stays on the coordinator: it serves, but does not scale out.
 */
async function citusCheck(client: pg.Client, citus: NonNullable<Awaited<ReturnType<typeof citusInfo>>>, schemas: string[]): Promise<DoctorCheck> {
  const placements = await schemaPlacements(client, schemas);
  const local = placements.filter((p) => p.colocationId === null).map((p) => p.schemaName);
  const perNode = new Map<string, number>();
  for (const placement of placements) {
    for (const node of placement.nodes) perNode.set(`${node.name}:${node.port}`, (perNode.get(`${node.name}:${node.port}`) ?? 0) + 1);
  }
  const spread = [...perNode].map(([node, count]) => `${node} ${count}`).join(', ');
  const asyncCommit = await asyncCommitNodes(client);
  const warn = local.length > 0 || !citus.schemaSharding || citus.workers === 0 || asyncCommit.length > 0;
  return {
    check: 'citus',
    status: warn ? 'warn' : 'ok',
    detail:
      `Citus ${citus.version} coordinator, ${citus.workers} worker(s), schema-based sharding ${citus.schemaSharding ? 'on' : 'OFF'}; ` +
      `${placements.length - local.length} of ${placements.length} schema(s) distributed${spread ? ` (${spread})` : ''}` +
      (local.length ? `; on the coordinator only: ${local.join(', ')}` : '') +
      (asyncCommit.length ? `; synchronous_commit off on ${asyncCommit.join(', ')}` : ''),
    hint: asyncCommit.length
      ? 'online source moves can lose writes acknowledged with synchronous_commit off: turn it on (or move with block_writes)'
      : !citus.schemaSharding
      ? 'set citus.enable_schema_based_sharding = on on the coordinator, or new sources stay on it'
      : local.length
        ? "SELECT citus_schema_distribute('<schema>') distributes such a schema"
        : undefined,
  };
}

async function toolChecks(serverMajor: number | null, env: NodeJS.ProcessEnv): Promise<DoctorCheck[]> {
  const names: PgToolName[] = ['pg_dump', 'pg_restore', 'psql'];
  return Promise.all(
    names.map(async (name): Promise<DoctorCheck> => {
      try {
        const tool = await findPgTool(name, env);
        const tooOld = serverMajor !== null && tool.major < serverMajor;
        return {
          check: name,
          status: tooOld ? 'warn' : 'ok',
          detail: `${tool.path} ${tool.version}${tooOld ? `, older than the server's ${serverMajor}` : ''}`,
          hint: tooOld ? `backups need ${name} ${serverMajor} or newer (SX_PG_BIN_DIR)` : undefined,
        };
      } catch (error) {
        return { check: name, status: 'warn', detail: (error as Error).message, hint: 'backup, restore and export need it' };
      }
    }),
  );
}
