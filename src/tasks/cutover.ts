import sql, { raw } from 'sql-template-tag';
import { GatewayError } from '../errors.js';
import type { SourceInput, SourceRecord, Store, TenantDb } from '../interfaces.js';
import { openSqliteLibrary } from '../stores/openStore.js';
import { replaceSourceRows } from '../queries/sourceRows.js';
import { SOURCE_TABLES, tableChecksums, type TableChecksum } from '../queries/tableChecksums.js';
import { latestTenantVersion } from '../stores/postgres/migrationFiles.js';

/** What a run did, or for a dry run what a real run would do. */
export type CutoverAction = 'copy' | 'replace' | 'none' | 'refuse';

export interface CutoverTable {
  table: string;
  sqliteRows: number;
  sqliteChecksum: string;
  /** PostgreSQL before the run; null when the source has no schema there yet. */
  postgresRowsBefore: number | null;
  /** PostgreSQL as the run left it (a dry run or a refusal leaves it as it was). */
  postgresRows: number | null;
  postgresChecksum: string | null;
  /** Same count and same checksum on both sides, as the run left them. */
  equal: boolean;
}

export interface CutoverReport {
  sourceId: string;
  /** The source's PostgreSQL schema; null on a dry run for a source PostgreSQL does not know yet. */
  schemaName: string | null;
  dryRun: boolean;
  force: boolean;
  action: CutoverAction;
  /** Every table equal on both sides: checked inside the copy's transaction, or found so without a copy. */
  verified: boolean;
  /** The source (schema, tables, registry rows) was created or migrated in PostgreSQL by this run. */
  bootstrapped: boolean;
  /** The PostgreSQL source row took SQLite's label, kind, description or enabled flag. */
  metadataUpdated: boolean;
  copiedRows: number;
  tables: CutoverTable[];
  /** One line a person reads: what happened, or what a real run would do. */
  verdict: string;
  durationMs: number;
}

export type CutoverProgress =
  | { phase: 'checksum'; side: 'sqlite' | 'postgres'; table: string; rows: number }
  /** Before the first table is copied: the rows the copy will write, SQLite's count of every table. */
  | { phase: 'copying'; rows: number }
  | { phase: 'copy'; table: string; rows: number }
  | { phase: 'verify'; table: string; rows: number; equal: boolean };

/** A store that can read one instant of a source: what a cutover copies from. */
export type SnapshotStore = Store & Required<Pick<Store, 'withSnapshot'>>;

export interface CutoverOptions {
  /** The SQLite library (SX_DB_PATH), opened with `openSqliteLibrary`. */
  sqlite: SnapshotStore;
  /**
   * The PostgreSQL store (POSTGRES_PRIMARY). null only for a dry run against a database that holds no gateway
   * tables at all: opening a store would create them, and a dry run writes nothing.
   */
  postgres: Store | null;
  sourceId: string;
  dryRun?: boolean;
  /** Replace PostgreSQL's rows of the source when they differ from SQLite's; without it such a run is refused. */
  force?: boolean;
  onProgress?: (progress: CutoverProgress) => void;
}

// A writer of the source in PostgreSQL (a gateway already serving it) holds row locks; the cutover waits this
// long for them, then gives up rather than hang without a word.
const LOCK_TIMEOUT_MS = 30_000;

/** A cutover from the SQLite library file at `file`, opened for this run only and closed after it. */
export async function cutoverFromLibrary(file: string, options: Omit<CutoverOptions, 'sqlite'>): Promise<CutoverReport> {
  const sqlite = openSqliteLibrary(file);
  try {
    return await cutover({ ...options, sqlite });
  } finally {
    await sqlite.close();
  }
}

/**
 * Copies one source from the SQLite file into its PostgreSQL schema and proves the copy: the same count and the
 * same checksum for every table on both sides. SQLite is read from one snapshot for the whole run; PostgreSQL is
 * compared, replaced and verified in one transaction, so a failed or refused run leaves it as it was.
 * A second run finds both sides equal and changes nothing.
 */
export async function cutover(options: CutoverOptions): Promise<CutoverReport> {
  const started = performance.now();
  const { sqlite, postgres, dryRun = false, force = false, onProgress } = options;
  if (!postgres && !dryRun) throw new Error('cutover needs a PostgreSQL store unless it is a dry run');
  const source = await sqlite.resolveSource(options.sourceId).catch((error: { code?: string }) => {
    if (error.code !== 'SOURCE_NOT_MAPPED') throw error;
    throw new GatewayError('SOURCE_NOT_MAPPED', `source_id=${options.sourceId} does not exist in the SQLite file: nothing to cut over`, {
      sourceId: options.sourceId,
    });
  });
  const mapped = postgres ? await mappingOf(postgres, source.id) : null;

  return sqlite.withSnapshot(source.id, async (from) => {
    const sqliteSums = await tableChecksums(from);
    for (const sum of sqliteSums) onProgress?.({ phase: 'checksum', side: 'sqlite', table: sum.table, rows: sum.rows });
    const finish = (fields: Omit<CutoverReport, 'sourceId' | 'dryRun' | 'force' | 'durationMs'>): CutoverReport => ({
      sourceId: source.id,
      dryRun,
      force,
      ...fields,
      durationMs: Math.round(performance.now() - started),
    });

    if (dryRun) {
      const before = mapped ? await readChecksums(postgres!, source.id) : null;
      before?.forEach((sum) => onProgress?.({ phase: 'checksum', side: 'postgres', table: sum.table, rows: sum.rows }));
      const action = decide(sqliteSums, before, force);
      const tables = compare(sqliteSums, before, before);
      return finish({
        schemaName: mapped?.schemaName ?? null,
        action,
        verified: action === 'none',
        bootstrapped: false,
        metadataUpdated: false,
        copiedRows: 0,
        tables,
        verdict: dryRunVerdict(action, tables, mapped, metadataInput(source, mapped) !== null),
      });
    }

    const store = postgres!;
    let target = mapped;
    let bootstrapped = false;
    // Bootstrapping a source that already exists and is up to date would still touch its registry rows; it runs
    // only when something is missing, so a run that finds both sides equal writes nothing at all.
    if (!target || (target.migrationVersion ?? 0) < latestTenantVersion) {
      target = await store.bootstrapSource(metadataInput(source, null)!);
      bootstrapped = true;
    }
    const schemaName = target.schemaName;

    const outcome = await store.withImport(source.id, async (to) => {
      await lockSourceTables(to);
      const before = await tableChecksums(to);
      for (const sum of before) onProgress?.({ phase: 'checksum', side: 'postgres', table: sum.table, rows: sum.rows });
      const action = decide(sqliteSums, before, force);
      if (action === 'none') return { action, before, after: before, copiedRows: 0 };
      if (action === 'refuse') throw targetDiffers(source.id, schemaName, compare(sqliteSums, before, before));
      onProgress?.({ phase: 'copying', rows: sqliteSums.reduce((sum, table) => sum + table.rows, 0) });
      const copied = await replaceSourceRows(from, to, {
        jobIds: 'copy',
        onTable: (table) => onProgress?.({ phase: 'copy', table: table.table, rows: table.rows }),
      });
      // Statistics for the rows just loaded, committed with them: the first requests after the switch are planned
      // for the real table, not for the empty one autovacuum last saw.
      for (const table of SOURCE_TABLES) await to.run(sql`ANALYZE ${raw(table.table)}`);
      // Verified before COMMIT: a mismatch throws, the transaction rolls back, and PostgreSQL keeps what it had.
      const after = await tableChecksums(to);
      const tables = compare(sqliteSums, before, after);
      for (const table of tables) onProgress?.({ phase: 'verify', table: table.table, rows: table.postgresRows ?? 0, equal: table.equal });
      const mismatched = tables.filter((table) => !table.equal);
      if (mismatched.length > 0) {
        throw new GatewayError(
          'VERIFICATION_FAILED',
          `The copy of source_id=${source.id} does not match SQLite in ${mismatched.map(describeCounts).join(', ')}: ` +
            'rolled back, PostgreSQL is as it was',
          { sourceId: source.id, schemaName, tables },
        );
      }
      return { action, before, after, copiedRows: copied.reduce((sum, table) => sum + table.rows, 0) };
    });

    // Metadata follows the rows only once they are settled: a refused or failed run changes nothing.
    const metadata = bootstrapped ? null : metadataInput(source, mapped);
    if (metadata) await store.bootstrapSource(metadata);
    const tables = compare(sqliteSums, outcome.before, outcome.after);
    return finish({
      schemaName,
      action: outcome.action,
      verified: true,
      bootstrapped,
      metadataUpdated: metadata !== null,
      copiedRows: outcome.copiedRows,
      tables,
      verdict:
        outcome.action === 'none'
          ? `already identical, nothing copied (${totalRows(sqliteSums)} rows in ${tables.length} tables)`
          : `verified: ${outcome.action === 'replace' ? "discarded PostgreSQL's rows (--force) and " : ''}copied ` +
            `${outcome.copiedRows} rows into schema ${schemaName}; count and checksum equal in all ${tables.length} tables`,
    });
  });
}

/** The source's PostgreSQL mapping, or null when PostgreSQL does not know the source yet. */
async function mappingOf(postgres: Store, sourceId: string): Promise<SourceRecord | null> {
  try {
    return await postgres.resolveSource(sourceId);
  } catch (error) {
    if ((error as { code?: string }).code === 'SOURCE_NOT_MAPPED') return null;
    throw error;
  }
}

async function readChecksums(postgres: Store, sourceId: string): Promise<TableChecksum[]> {
  const session = await postgres.openTenant(sourceId);
  let ok = false;
  try {
    const sums = await tableChecksums(session.db);
    ok = true;
    return sums;
  } finally {
    await session.finish(ok);
  }
}

/**
 * Writers of the source wait until the copy commits, readers do not (EXCLUSIVE blocks every lock but ACCESS
 * SHARE): what the run compares is what it replaces, and nobody writes between the two.
 */
async function lockSourceTables(to: TenantDb): Promise<void> {
  // Names from the SOURCE_TABLES constant, resolved through the binding's search_path to the source's schema.
  const tables = raw(SOURCE_TABLES.map((source) => source.table).join(', '));
  await to.one(sql`SELECT set_config('lock_timeout', ${String(LOCK_TIMEOUT_MS)}, true)`);
  try {
    await to.run(sql`LOCK TABLE ${tables} IN EXCLUSIVE MODE`);
  } catch (error) {
    if ((error as { code?: string }).code !== '55P03') throw error;
    throw new GatewayError(
      'DATABASE_UNAVAILABLE',
      `source_id=${to.sourceId} is being written in PostgreSQL: its tables were not free within ${LOCK_TIMEOUT_MS / 1000} s; ` +
        'stop the writers (a gateway serving it in POSTGRES_PRIMARY) and run the cutover again',
      { sourceId: to.sourceId, reason: 'lock_timeout' },
    );
  }
}

function decide(sqliteSums: TableChecksum[], before: TableChecksum[] | null, force: boolean): CutoverAction {
  if (!before) return 'copy';
  if (compare(sqliteSums, before, before).every((table) => table.equal)) return 'none';
  if (totalRows(before) === 0) return 'copy';
  return force ? 'replace' : 'refuse';
}

function compare(sqliteSums: TableChecksum[], before: TableChecksum[] | null, after: TableChecksum[] | null): CutoverTable[] {
  return sqliteSums.map((sum, i) => {
    const previous = before?.[i] ?? null;
    const current = after?.[i] ?? null;
    return {
      table: sum.table,
      sqliteRows: sum.rows,
      sqliteChecksum: sum.checksum,
      postgresRowsBefore: previous?.rows ?? null,
      postgresRows: current?.rows ?? null,
      postgresChecksum: current?.checksum ?? null,
      equal: current !== null && current.table === sum.table && current.rows === sum.rows && current.checksum === sum.checksum,
    };
  });
}

function targetDiffers(sourceId: string, schemaName: string | null, tables: CutoverTable[]): GatewayError {
  const differing = tables.filter((table) => !table.equal);
  return new GatewayError(
    'CUTOVER_TARGET_DIFFERS',
    `PostgreSQL schema ${schemaName} already holds rows of source_id=${sourceId} that differ from the SQLite file in ` +
      `${differing.map(describeCounts).join(', ')}; nothing was changed. A forced cutover (--force) discards ` +
      "PostgreSQL's rows of this source and copies SQLite's",
    {
      sourceId,
      schemaName,
      differing: differing.map(({ table, sqliteRows, postgresRows }) => ({ table, sqliteRows, postgresRows })),
      tables,
    },
  );
}

function describeCounts(table: CutoverTable): string {
  return `${table.table} (SQLite ${table.sqliteRows} rows, PostgreSQL ${table.postgresRows ?? 0})`;
}

function dryRunVerdict(action: CutoverAction, tables: CutoverTable[], mapped: SourceRecord | null, metadataDiffers: boolean): string {
  const rows = tables.reduce((sum, table) => sum + table.sqliteRows, 0);
  const metadata = mapped && metadataDiffers ? "; it would also give PostgreSQL's source row SQLite's label, kind, description and enabled flag" : '';
  switch (action) {
    case 'none':
      return `dry run: already identical, a real run would copy nothing${metadata}`;
    case 'copy':
      return mapped
        ? `dry run: PostgreSQL schema ${mapped.schemaName} is empty; a real run would copy ${rows} rows and verify them${metadata}`
        : `dry run: PostgreSQL does not know the source; a real run would bootstrap it and copy ${rows} rows and verify them`;
    case 'replace':
      return `dry run: PostgreSQL holds differing rows in ${differingNames(tables)}; a real run with --force would discard them and copy ${rows} rows${metadata}`;
    case 'refuse':
      return `dry run: PostgreSQL holds differing rows in ${differingNames(tables)}; a real run would refuse (CUTOVER_TARGET_DIFFERS), one with --force would replace them`;
  }
}

function differingNames(tables: CutoverTable[]): string {
  return tables
    .filter((table) => !table.equal)
    .map((table) => table.table)
    .join(', ');
}

function totalRows(sums: TableChecksum[]): number {
  return sums.reduce((sum, table) => sum + table.rows, 0);
}

/**
 * The bootstrap input that gives PostgreSQL's source row SQLite's metadata, or null when it already has it.
 * Bootstrap keeps a stored value where the input is null, so a field SQLite leaves empty never counts as a
 * difference (it would otherwise make every run write).
 */
function metadataInput(source: SourceRecord, mapped: SourceRecord | null): SourceInput | null {
  const input: SourceInput = {
    sourceId: source.id,
    label: source.label,
    kind: source.kind,
    description: source.description,
    enabled: source.enabled,
  };
  if (!mapped) return input;
  const differs =
    (source.label !== null && source.label !== mapped.label) ||
    (source.kind !== null && source.kind !== mapped.kind) ||
    (source.description !== null && source.description !== mapped.description) ||
    source.enabled !== mapped.enabled;
  return differs ? input : null;
}
