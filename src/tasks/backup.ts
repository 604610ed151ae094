import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import type { SourceRecord } from '../interfaces.js';
import { tableChecksums, type TableChecksum } from '../queries/tableChecksums.js';
import { version as gatewayVersion } from '../packageVersion.js';
import { latestTenantVersion } from '../stores/postgres/migrationFiles.js';
import { DatabaseSnapshot } from '../stores/postgres/snapshot.js';
import { assertSourceId } from '../sources/sourceId.js';
import {
  backupBaseName,
  dumpPathOf,
  manifestPathOf,
  pruneBackups,
  sha256OfFile,
  writeManifest,
  type BackupManifest,
} from './backupManifest.js';
import { keepWarnings, type TimedBackupManifest } from './backupStatus.js';
import { citusInfo, fenceWriters } from '../stores/postgres/citus.js';
import { DUMP_GLOBALS_TABLE, dumpGlobalsCurrent, writeDumpGlobals } from './dumpGlobals.js';
import { requirePgTools, runPgTool, toolConnection } from './pgTools.js';
import type { PostgresTarget } from './postgresTarget.js';

export interface BackupOptions {
  config: GatewayConfig;
  target: PostgresTarget;
  outDir: string;
  /**
   * One source: its schema, and its rows of the globals both in the manifest and in the dump (dumpGlobals.ts);
   * without it, the whole database.
   */
  sourceId?: string;
  /** Keep this many backups of the same kind (and source) in outDir, newest first; undefined keeps every one. */
  keep?: number;
  onProgress?: (line: string) => void;
  /** Sources checksummed so far and their rows, for a progress bar: once before the first source, then after each. */
  onChecksums?: (progress: { sources: number; total: number; rows: number }) => void;
}

export interface BackupReport {
  kind: 'all' | 'source';
  dumpFile: string;
  manifestFile: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  sources: { id: string; schemaName: string; migrationVersion: number | null; tables: TableChecksum[] }[];
  pruned: string[];
  /** Said but not refused: `keep` below the plan's minimum of rolling backups. */
  warnings: string[];
}

/**
 * pg_dump in custom format plus a manifest. The dump and the manifest's figures come from one exported snapshot:
 * pg_dump starts with `--snapshot` while this process holds the exporting transaction open and reads the
 * registry and every table's checksum in it, so the manifest describes exactly what the dump holds even while
 * imports run.
 */
/** How long a backup on Citus waits for the writers of its schemas (an import) before it gives up. */
const FENCE_LOCK_TIMEOUT_MS = 30_000;

export async function createBackup(options: BackupOptions): Promise<BackupReport> {
  const started = performance.now();
  const { target } = options;
  const tools = await requirePgTools(['pg_dump'], target.server.major);
  const kind = options.sourceId === undefined ? 'all' : 'source';
  const sourceId = options.sourceId === undefined ? undefined : assertSourceId(options.sourceId);
  await mkdir(options.outDir, { recursive: true });
  const createdAt = new Date();
  const base = backupBaseName(kind, createdAt, sourceId);
  const dumpFile = dumpPathOf(options.outDir, base);
  const partialDump = `${dumpFile}.partial`;

  const client = new pg.Client({ connectionString: target.dsn });
  await client.connect();
  let snapshot: DatabaseSnapshot | null = null;
  let fence: pg.Client | null = null;
  let releaseFence: (() => Promise<void>) | null = null;
  try {
    if ((await citusInfo(client)) !== null) {
      // A Citus coordinator exports a snapshot of itself only: each worker's rows are read as of that worker's own
      // moment (its first statement in the transaction). Writers of the dumped schemas wait from before the
      // snapshot until the dump and the checksums are done, so every moment holds the same rows. The globals table
      // the backup itself writes just before its snapshot is left out of the fence.
      const fenced = (await target.store.registry.list()).filter((s) => s.schemaName && (sourceId === undefined || s.id === sourceId));
      fence = new pg.Client({ connectionString: target.dsn });
      await fence.connect();
      releaseFence = await fenceWriters(fence, fenced.map((s) => s.schemaName!), FENCE_LOCK_TIMEOUT_MS, [DUMP_GLOBALS_TABLE]);
      options.onProgress?.(`Citus: writers of ${fenced.length} schema(s) wait until the backup is taken`);
    }
    snapshot = await openBackupSnapshot(client, target, options.config.postgres.registryTable, sourceId);
    const all = await target.store.registry.list(snapshot);
    const sources = sourceId === undefined ? all.filter((s) => s.schemaName) : all.filter((s) => s.id === sourceId && s.schemaName);
    if (sourceId !== undefined && sources.length === 0) {
      throw new GatewayError('SOURCE_NOT_MAPPED', `Source schema mapping missing/invalid for source_id=${sourceId}`, { sourceId });
    }
    const connection = toolConnection(target.dsn);
    const args = ['--format=custom', `--file=${partialDump}`, `--snapshot=${snapshot.id}`, '--no-password', `--dbname=${connection.dbname}`];
    // Quoted, the pattern matches the name exactly: pg_dump folds an unquoted pattern to lower case.
    if (kind === 'source') args.push(`--schema="${sources[0]!.schemaName}"`);
    options.onProgress?.(`pg_dump ${tools.pg_dump.version}: dumping ${kind === 'all' ? `database ${target.server.database}` : `schema ${sources[0]!.schemaName}`}`);
    const dumping = runPgTool(tools.pg_dump, args, { env: connection.env });
    // Checksums are read while pg_dump runs; both see the exported snapshot.
    const summed: BackupReport['sources'] = [];
    const checksumming = (async () => {
      let rows = 0;
      options.onChecksums?.({ sources: 0, total: sources.length, rows });
      for (const source of sources) {
        const tables = await tableChecksums(snapshot!.tenantDb(source));
        summed.push({ id: source.id, schemaName: source.schemaName!, migrationVersion: source.migrationVersion, tables });
        options.onProgress?.(`checksummed ${source.id}: ${tables.map((t) => `${t.table}=${t.rows}`).join(' ')}`);
        rows += tables.reduce((sum, t) => sum + t.rows, 0);
        options.onChecksums?.({ sources: summed.length, total: sources.length, rows });
      }
    })();
    const [dumped, checked] = await Promise.allSettled([dumping, checksumming]);
    if (dumped.status === 'rejected') throw dumped.reason;
    if (checked.status === 'rejected') throw checked.reason;
    await snapshot.close();

    const bytes = (await stat(partialDump)).size;
    const sha256 = await sha256OfFile(partialDump);
    await rename(partialDump, dumpFile);
    const manifest: BackupManifest = {
      format: 'sx-gateway-backup',
      formatVersion: 1,
      kind,
      createdAt: createdAt.toISOString(),
      gatewayVersion,
      server: { version: target.server.version, versionNum: target.server.versionNum, database: target.server.database },
      tool: { name: 'pg_dump', version: tools.pg_dump.version },
      dump: { file: path.basename(dumpFile), bytes, sha256 },
      registryTable: options.config.postgres.registryTable,
      latestMigration: latestTenantVersion,
      sources: sources.map((source) => manifestSource(source, summed.find((s) => s.id === source.id)!.tables)),
    };
    const manifestFile = manifestPathOf(options.outDir, base);
    // The duration lets health and /metrics show how long the nightly backup takes without keeping its output.
    const timed: TimedBackupManifest = { ...manifest, durationMs: Math.round(performance.now() - started) };
    await writeManifest(manifestFile, timed);
    const pruned = options.keep === undefined ? [] : await pruneBackups(options.outDir, options.keep, kind, sourceId);
    return {
      kind,
      dumpFile,
      manifestFile,
      bytes,
      sha256,
      durationMs: performance.now() - started,
      sources: summed,
      pruned,
      warnings: keepWarnings(options.keep),
    };
  } catch (error) {
    await rm(partialDump, { force: true });
    throw error;
  } finally {
    await snapshot?.close().catch(() => undefined);
    await releaseFence?.().catch(() => undefined);
    await fence?.end().catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * The snapshot a backup reads. A per-source backup first writes the source's global rows into its schema, so
 * that its dump restores without the manifest (see dumpGlobals.ts), and checks inside the snapshot that they are
 * still the current ones; a metadata change in between starts it over.
 */
async function openBackupSnapshot(client: pg.Client, target: PostgresTarget, registryTable: string, sourceId: string | undefined): Promise<DatabaseSnapshot> {
  if (sourceId === undefined) return DatabaseSnapshot.open(client);
  const ATTEMPTS = 3;
  for (let attempt = 1; ; attempt++) {
    target.store.registry.invalidate(sourceId);
    const source = await target.store.registry.resolve(sourceId).catch(() => null);
    // Unmapped: the snapshot's own registry read refuses it with SOURCE_NOT_MAPPED.
    if (!source?.schemaName) return DatabaseSnapshot.open(client);
    await writeDumpGlobals(target.store.writePool, registryTable, source.id, source.schemaName);
    const snapshot = await DatabaseSnapshot.open(client);
    if (await dumpGlobalsCurrent(snapshot, registryTable, source.id, source.schemaName)) return snapshot;
    await snapshot.close();
    if (attempt === ATTEMPTS) {
      throw new GatewayError('VERIFICATION_FAILED', `The global rows of source_id=${sourceId} changed during ${ATTEMPTS} attempts to back it up; try again`, {
        sourceId,
      });
    }
  }
}

function manifestSource(source: SourceRecord, tables: TableChecksum[]): BackupManifest['sources'][number] {
  return {
    id: source.id,
    label: source.label,
    kind: source.kind,
    description: source.description,
    enabled: source.enabled,
    isDefault: source.isDefault,
    schemaName: source.schemaName!,
    migrationVersion: source.migrationVersion,
    media: source.media,
    createdAt: source.createdAt,
    updatedAt: source.updatedAt,
    tables,
  };
}
