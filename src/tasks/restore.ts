import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { SOURCE_TABLES } from '../tables/sourceTables.js';
import { latestTenantVersion } from '../stores/postgres/migrationFiles.js';
import { ident, qualified } from '../sources/identifiers.js';
import { schemaRowCounts } from '../stores/postgres/schemaInventory.js';
import { assertSourceId } from '../sources/sourceId.js';
import { isDumpWithoutManifest, loadBackup, parseManifestSource, type BackupManifest, type LoadedBackup, type ManifestSource } from './backupManifest.js';
import { DUMP_GLOBALS_TABLE, listDump, readDumpGlobals } from './dumpGlobals.js';
import { tableChecksums, type TableChecksum } from '../queries/tableChecksums.js';
import { parseToolVersion, pipePgTools, requirePgTools, toolConnection } from './pgTools.js';
import type { PostgresTarget } from './postgresTarget.js';
import type { InProcessGateway } from '../interfaces.js';
import { verifyRestoredSource, type SourceVerification } from './verifyRestore.js';
import { maskDsn } from '../stores/postgres/pools.js';
import { runSql } from '../stores/postgres/transaction.js';
import sql from 'sql-template-tag';

export interface RestoreOptions {
  config: GatewayConfig;
  target: PostgresTarget;
  /** The backup's dump or its manifest. */
  file: string;
  /** Restore only this source of the backup. */
  sourceId?: string;
  /** Replace a schema that holds rows (and, with `requireNewSource`, a source that exists). */
  force?: boolean;
  /** import-schema: the source must not exist in the target at all. */
  requireNewSource?: boolean;
  /** Answers the verification's GraphQL requests as the gateway would (the commands pass the real endpoint). */
  gateway: InProcessGateway;
  onProgress?: (line: string) => void;
  /**
   * Rows of the manifest restored, then verified, so far (for a progress bar): once before the first source of
   * each phase, then after each source.
   */
  onRows?: (progress: { phase: 'restore' | 'verify'; rows: number; total: number }) => void;
}

export interface RestoredSource {
  id: string;
  schemaName: string;
  /** A dump restored without its manifest: the restored tables' checksums, to compare with the source by hand. */
  checksums: TableChecksum[] | null;
  /** The schema existed in the target and was replaced (empty, or with --force). */
  replaced: boolean;
  migratedFrom: number | null;
  migratedTo: number | null;
  durationMs: number;
}

export interface RestoreReport {
  /** `manifest`: null when the dump was restored alone, from the global rows it carries. */
  backup: { file: string; manifest: string | null; kind: BackupManifest['kind']; createdAt: string; serverVersion: string };
  /** What could not be checked, and why. */
  notes: string[];
  target: string;
  sources: RestoredSource[];
  verification: SourceVerification[];
  ok: boolean;
  durationMs: number;
}

/**
 * The seed's restore order for every source of the backup (or the one asked for): its rows of the global tables
 * first, then its schema, in one transaction per source, so a restore that fails leaves that source as it was;
 * then a verification pass through the gateway's own code.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreReport> {
  const started = performance.now();
  const { target } = options;
  const backup = (await isDumpWithoutManifest(options.file))
    ? await readDumpAlone(options.file, target.server.major)
    : withManifest(await loadBackup(options.file));
  const selected = selectSources(backup, options.sourceId, options.file);
  const tools = await requirePgTools(['pg_restore', 'psql'], target.server.major);
  const dumpedBy = backup.dumpedBy === null ? null : parseToolVersion(`(PostgreSQL) ${backup.dumpedBy}`);
  if (dumpedBy && dumpedBy.major > tools.pg_restore.major) {
    throw new GatewayError(
      'TOOL_TOO_OLD',
      `The backup was written by pg_dump ${backup.dumpedBy}; ${tools.pg_restore.path} is ${tools.pg_restore.version} and cannot read it`,
      { tool: 'pg_restore' },
    );
  }

  const client = new pg.Client({ connectionString: target.dsn });
  await client.connect();
  const work = await mkdtemp(path.join(tmpdir(), 'sx-restore-'));
  const restored: RestoredSource[] = [];
  try {
    // Every source is checked before the first is touched: a refusal changes nothing.
    const plans = [];
    for (const source of selected) plans.push(await planSource(client, options, source));
    const connection = toolConnection(target.dsn);
    const total = selected.reduce((sum, source) => sum + rowsOf(source), 0);
    let rows = 0;
    options.onRows?.({ phase: 'restore', rows, total });
    for (const plan of plans) {
      const sourceStarted = performance.now();
      options.onProgress?.(`restoring ${plan.source.id} into schema ${plan.source.schemaName}${plan.replaces ? ' (replacing it)' : ''}`);
      const globalsFile = path.join(work, `globals-${plan.source.schemaName}.sql`);
      await writeFile(globalsFile, globalsScript(options.config.postgres.registryTable, plan.source.schemaName));
      const analyzeFile = path.join(work, `analyze-${plan.source.schemaName}.sql`);
      await writeFile(analyzeFile, analyzeScript(plan.source.schemaName, backup.tablesOf(plan.source)));
      await pipePgTools(
        {
          tool: tools.pg_restore,
          // Owners and grants name roles of the server the dump came from, which the target may not have.
          args: ['--no-owner', '--no-acl', `--schema=${plan.source.schemaName}`, '--file=-', backup.dumpFile],
        },
        {
          tool: tools.psql,
          args: [
            '--no-psqlrc', '--quiet', '--no-password', '--single-transaction',
            '--set=ON_ERROR_STOP=1',
            `--set=source_row=${JSON.stringify(sourceRow(plan.source))}`,
            `--set=registry_row=${JSON.stringify(registryRow(plan.source))}`,
            `--file=${globalsFile}`, '--file=-', `--file=${analyzeFile}`,
            `--dbname=${connection.dbname}`,
          ],
          env: connection.env,
        },
      );
      target.store.registry.invalidate(plan.source.id);
      let migratedTo: number | null = null;
      if ((plan.source.migrationVersion ?? 0) < latestTenantVersion) {
        // A backup of an older layout: bootstrap brings the restored schema to the latest version, as the
        // gateway that will serve it expects, after the rows are in.
        migratedTo = (await target.store.bootstrapSource({ sourceId: plan.source.id })).migrationVersion;
      }
      restored.push({
        id: plan.source.id,
        schemaName: plan.source.schemaName,
        checksums: null,
        replaced: plan.replaces,
        migratedFrom: migratedTo === null ? null : plan.source.migrationVersion,
        migratedTo,
        durationMs: performance.now() - sourceStarted,
      });
      rows += rowsOf(plan.source);
      options.onRows?.({ phase: 'restore', rows, total });
    }
  } finally {
    await client.end().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }

  const verification: SourceVerification[] = [];
  const total = selected.reduce((sum, source) => sum + rowsOf(source), 0);
  let verified = 0;
  options.onRows?.({ phase: 'verify', rows: verified, total });
  for (const source of selected) {
    let expected = source;
    if (backup.manifestFile === null) {
      // Nothing recorded what the dump held: the restored tables stand in, so the registry and the gateway's
      // answers (stats and items against the restored rows) are still checked; the checksums are only reported.
      const restoredTables = await target.store.withTenant(source.id, (db) => tableChecksums(db)).catch(() => []);
      const entry = restored.find((r) => r.id === source.id);
      if (entry) entry.checksums = restoredTables;
      expected = { ...source, tables: restoredTables };
    }
    const result = await verifyRestoredSource(options.config, target.store, expected, options.gateway);
    options.onProgress?.(`verified ${source.id}: ${result.ok ? 'ok' : result.problems.join('; ')}`);
    verification.push(result);
    verified += rowsOf(source);
    options.onRows?.({ phase: 'verify', rows: verified, total });
  }
  return {
    backup: { file: backup.dumpFile, manifest: backup.manifestFile, kind: backup.kind, createdAt: backup.createdAt, serverVersion: backup.serverVersion },
    notes: backup.notes,
    target: maskDsn(target.dsn),
    sources: restored,
    verification,
    ok: verification.every((v) => v.ok),
    durationMs: performance.now() - started,
  };
}

const rowsOf = (source: ManifestSource) => source.tables.reduce((sum, table) => sum + table.rows, 0);

/** What a restore needs of a backup, whether its manifest describes it or the dump came alone. */
interface BackupToRestore {
  dumpFile: string;
  /** Null: the dump alone, restored from the global rows it carries. */
  manifestFile: string | null;
  kind: BackupManifest['kind'];
  createdAt: string;
  serverVersion: string;
  /** The pg_dump version that wrote it, when known. */
  dumpedBy: string | null;
  /** With the manifest: its rows and checksums per table. The dump alone: no tables (nothing recorded them). */
  sources: ManifestSource[];
  /** The tables of a source's schema in the dump, to ANALYZE after the load. */
  tablesOf(source: ManifestSource): string[];
  notes: string[];
}

function withManifest(loaded: LoadedBackup): BackupToRestore {
  const { manifest } = loaded;
  return {
    dumpFile: loaded.dumpFile,
    manifestFile: loaded.manifestFile,
    kind: manifest.kind,
    createdAt: manifest.createdAt,
    serverVersion: manifest.server.version,
    dumpedBy: manifest.tool.version,
    sources: manifest.sources,
    // The tables the backup checksummed, which its dump holds whatever layout version it was taken at.
    tablesOf: (source) => source.tables.map((table) => table.table),
    notes: [],
  };
}

/**
 * A per-source dump without its manifest: its table of contents names the one schema that carries the source's
 * global rows (dumpGlobals.ts), and those rows are read out of it, held to the manifest's rules. A whole-database
 * dump needs its manifest: its schemas may carry global rows of older per-source backups, not the ones it holds.
 */
async function readDumpAlone(file: string, serverMajor: number): Promise<BackupToRestore> {
  const { pg_restore: pgRestore } = await requirePgTools(['pg_restore'], serverMajor);
  const listing = await listDump(pgRestore, file);
  if (listing.tables.has('public')) {
    throw new GatewayError(
      'BACKUP_INVALID',
      `No manifest beside ${file}, which is a whole-database dump: restore it with its manifest (a per-source dump restores alone)`,
      { file },
    );
  }
  const schemas = [...listing.tables].filter(([, tables]) => tables.includes(DUMP_GLOBALS_TABLE)).map(([schema]) => schema);
  if (schemas.length !== 1) {
    throw new GatewayError(
      'BACKUP_INVALID',
      `No manifest beside ${file}, and the dump carries no source's global rows (${DUMP_GLOBALS_TABLE}: a dump taken before ` +
        'per-source dumps carried them, or not an sx-gateway backup); restore it with its manifest',
      { file },
    );
  }
  const schemaName = schemas[0]!;
  const globals = await readDumpGlobals(pgRestore, file, schemaName);
  const row = globals.sourceRow;
  const source = parseManifestSource(
    {
      id: row.id,
      label: row.label ?? null,
      kind: row.kind ?? null,
      description: row.description ?? null,
      enabled: row.enabled !== 0,
      isDefault: row.is_default === 1,
      schemaName: globals.registryRow.schema_name,
      migrationVersion: globals.registryRow.migration_version ?? null,
      media: {
        vaultRoot: row.vault_root ?? null,
        vaultRootWindows: row.vault_root_windows ?? null,
        dataDir: row.data_dir ?? null,
        pathStyle: row.path_style ?? null,
        groupPrefix: row.group_prefix ?? null,
      },
      createdAt: row.created_at ?? null,
      updatedAt: row.updated_at ?? null,
      tables: [],
    },
    file,
  );
  if (source.schemaName !== schemaName) {
    throw new GatewayError('BACKUP_INVALID', `${file}: the global rows name schema ${source.schemaName}, the dump holds ${schemaName}`, { file });
  }
  return {
    dumpFile: file,
    manifestFile: null,
    kind: 'source',
    createdAt: new Date(globals.writtenAt).toISOString(),
    serverVersion: listing.serverVersion ?? 'unknown',
    dumpedBy: listing.dumpedBy,
    sources: [source],
    tablesOf: () => listing.tables.get(schemaName) ?? [],
    notes: [
      `no manifest beside ${file}: the dump's SHA-256 and the checksums recorded at backup time cannot be checked`,
      `the source's global rows came from the dump itself (${schemaName}.${DUMP_GLOBALS_TABLE}, written ${globals.writtenAt})`,
      'verified: the mapping, and the gateway\'s answers against the restored rows; the checksums shown are the restored ones',
    ],
  };
}

function selectSources(backup: BackupToRestore, sourceIdOption: string | undefined, file: string): ManifestSource[] {
  if (sourceIdOption === undefined) return backup.sources;
  const sourceId = assertSourceId(sourceIdOption);
  const source = backup.sources.find((s) => s.id === sourceId);
  if (!source) {
    throw new GatewayError(
      'SOURCE_NOT_MAPPED',
      `The backup ${file} holds no source_id=${sourceId}; it holds ${backup.sources.map((s) => s.id).join(', ') || 'no source'}`,
      { sourceId },
    );
  }
  return [source];
}

interface SourcePlan {
  source: ManifestSource;
  replaces: boolean;
}

/** Refuses what a restore must not do: take another source's schema, or overwrite rows without --force. */
async function planSource(client: pg.Client, options: RestoreOptions, source: ManifestSource): Promise<SourcePlan> {
  const registry = qualified('public', options.config.postgres.registryTable);
  const mapped = await client.query<{ source_id: string; schema_name: string }>(
    `SELECT source_id, schema_name FROM ${registry.sql} WHERE source_id = $1 OR schema_name = $2`,
    [source.id, source.schemaName],
  );
  for (const row of mapped.rows) {
    if (row.source_id !== source.id) {
      throw new GatewayError(
        'SCHEMA_NAME_TAKEN',
        `Schema ${source.schemaName} of source_id=${source.id} belongs to source_id=${row.source_id} in the target; nothing was restored`,
        { sourceId: source.id, schemaName: source.schemaName, owner: row.source_id },
      );
    }
    if (row.schema_name !== source.schemaName) {
      throw new GatewayError(
        'SCHEMA_NAME_TAKEN',
        `source_id=${source.id} is mapped to schema ${row.schema_name} in the target but to ${source.schemaName} in the backup; nothing was restored`,
        { sourceId: source.id, schemaName: source.schemaName },
      );
    }
  }
  const exists = (await client.query('SELECT 1 FROM public.sources WHERE id = $1', [source.id])).rowCount === 1;
  if (options.requireNewSource && exists && !options.force) {
    throw new GatewayError('SOURCE_EXISTS', `source_id=${source.id} already exists in the target; pass --force to replace it`, {
      sourceId: source.id,
    });
  }
  const counts = await schemaRowCounts(client, source.schemaName);
  // The schema's own bookkeeping (its migration record) is not data: a freshly bootstrapped schema is empty.
  const holding = (counts ?? []).filter((c) => c.rows > 0 && SOURCE_TABLES.some((t) => t.table === c.table));
  if (holding.length > 0 && !options.force) {
    throw new GatewayError(
      'RESTORE_TARGET_NOT_EMPTY',
      `Schema ${source.schemaName} in the target holds rows (${holding.map((c) => `${c.table}: ${c.rows}`).join(', ')}); ` +
        'pass --force to replace it with the backup',
      { sourceId: source.id, schemaName: source.schemaName },
    );
  }
  return { source, replaces: counts !== null };
}

/**
 * Run by psql ahead of pg_restore's script, in the same transaction. The rows arrive as psql variables
 * (`:'source_row'`), which psql quotes as literals itself; the identifiers come from the quoting helper.
 * A restored source becomes the default only when the target has no other default.
 */
function globalsScript(registryTable: string, schemaName: string): string {
  const registry = qualified('public', registryTable).sql;
  const schema = ident(schemaName).sql;
  return `
INSERT INTO public.sources (id, label, kind, description, enabled, is_default, created_at, updated_at,
                            vault_root, vault_root_windows, data_dir, path_style, group_prefix)
SELECT r.id, r.label, r.kind, r.description, r.enabled,
       CASE WHEN EXISTS (SELECT 1 FROM public.sources s WHERE s.is_default = 1 AND s.id <> r.id) THEN 0 ELSE r.is_default END,
       r.created_at, r.updated_at, r.vault_root, r.vault_root_windows, r.data_dir, r.path_style, r.group_prefix
  FROM json_populate_record(NULL::public.sources, :'source_row') r
ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, kind = EXCLUDED.kind, description = EXCLUDED.description,
                               enabled = EXCLUDED.enabled, updated_at = EXCLUDED.updated_at,
                               vault_root = EXCLUDED.vault_root, vault_root_windows = EXCLUDED.vault_root_windows,
                               data_dir = EXCLUDED.data_dir, path_style = EXCLUDED.path_style,
                               group_prefix = EXCLUDED.group_prefix;
INSERT INTO ${registry} (source_id, schema_name, migration_version, created_at, updated_at)
SELECT r.source_id, r.schema_name, r.migration_version, r.created_at, r.updated_at
  FROM json_populate_record(NULL::${registry}, :'registry_row') r
ON CONFLICT (source_id) DO UPDATE SET schema_name = EXCLUDED.schema_name, migration_version = EXCLUDED.migration_version,
                                      updated_at = now();
DROP SCHEMA IF EXISTS ${schema} CASCADE;
CREATE SCHEMA ${schema};
`;
}

/**
 * pg_restore loads data without statistics (the dump holds none); until autovacuum gets to them, every query of
 * the restored source, the verification's included, would be planned for empty tables.
 */
function analyzeScript(schemaName: string, tables: string[]): string {
  return tables.map((table) => `ANALYZE ${qualified(schemaName, table).sql};\n`).join('');
}

function sourceRow(source: ManifestSource): Record<string, unknown> {
  return {
    id: source.id,
    label: source.label,
    kind: source.kind,
    description: source.description,
    enabled: source.enabled ? 1 : 0,
    is_default: source.isDefault ? 1 : 0,
    created_at: source.createdAt ?? new Date().toISOString(),
    updated_at: source.updatedAt ?? new Date().toISOString(),
    vault_root: source.media.vaultRoot,
    vault_root_windows: source.media.vaultRootWindows,
    data_dir: source.media.dataDir,
    path_style: source.media.pathStyle,
    group_prefix: source.media.groupPrefix,
  };
}

function registryRow(source: ManifestSource): Record<string, unknown> {
  return {
    source_id: source.id,
    schema_name: source.schemaName,
    migration_version: source.migrationVersion ?? 0,
    created_at: source.createdAt ?? new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
}

export interface MissingMapping {
  sourceId: string;
  /** `no mapping`: a source without a registry row; `schema gone`: its registry row names a schema that is not there. */
  reason: 'no mapping' | 'schema gone';
  schemaName: string | null;
}

/**
 * The seed's last step of a controlled rollback, "re-run schema bootstrap only for missing mappings". A mapping
 * is missing when a source has no registry row, and also when its registry row names a schema that no longer
 * exists (dropped by hand, or never restored): the gateway would answer SOURCE_NOT_MAPPED for it either way.
 * Bootstrap re-creates the schema under the same name, at the latest layout, empty; sources that resolve to a
 * schema that is there are left alone.
 */
export async function bootstrapMissingMappings(target: PostgresTarget): Promise<MissingMapping[]> {
  const sources = await target.store.listSources();
  const client = new pg.Client({ connectionString: target.dsn });
  await client.connect();
  let present: Set<string>;
  try {
    const named = sources.flatMap((source) => (source.schemaName ? [source.schemaName] : []));
    const { rows } = await runSql(client, sql`SELECT nspname FROM pg_namespace WHERE nspname = ANY(${named})`);
    present = new Set(rows.map((row) => row.nspname as string));
  } finally {
    await client.end().catch(() => undefined);
  }
  const missing: MissingMapping[] = [];
  for (const source of sources) {
    if (source.schemaName && present.has(source.schemaName)) continue;
    missing.push({ sourceId: source.id, reason: source.schemaName ? 'schema gone' : 'no mapping', schemaName: source.schemaName });
    await target.store.bootstrapSource({ sourceId: source.id });
  }
  return missing;
}
